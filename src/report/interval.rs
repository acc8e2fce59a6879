//! Interval statistics: one JSON line every `ZMQPOOL_STATS_INTERVAL_MS`,
//! to stderr or appended to `ZMQPOOL_STATS_FILE`, written by the helper
//! thread (`background/helper.rs`). A line is written whole with one
//! `write()` (lines from several processes appending to one file do not
//! interleave), or skipped: a full pipe on stderr must never stop the
//! helper.

use super::json::line;
use super::output::{open_append, stats_path};

/// One line of interval statistics (the helper thread).
pub(crate) fn write_interval() {
    let line = line();
    let path = stats_path();
    if path.is_null() {
        line.write_to(2, false);
    } else {
        let fd = open_append(path);
        if fd >= 0 {
            line.write_to(fd, false);
            // SAFETY: the descriptor opened just above, closed once.
            unsafe { libc::close(fd) };
        }
    }
}
