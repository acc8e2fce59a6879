//! The statistics as text (`ZMQPOOL_SHOW_STATS=1`, `zmqpool_print_stats`),
//! one line per row of the counter table.

use core::fmt::{self, Write};

use super::counters::{snapshot, zmqpool_stats_t, Note, COUNTERS};
use crate::msg::libzmq;
use crate::pool;
use crate::sys::log::{program_name, to_stderr};

/// Headings before the first row of each group.
fn heading(group: &str) -> Option<&'static str> {
    match group {
        "messages" => Some("messages"),
        "passed_through" => Some("passed through"),
        _ => None,
    }
}

/// Writes the text report of `stats`.
pub(crate) fn write_text(out: &mut impl Write, stats: &zmqpool_stats_t) -> fmt::Result {
    write!(
        out,
        "zmqpool stats (pid {}, {}, backend {})",
        std::process::id(),
        program_name(),
        pool::backend().name()
    )?;
    let mut group = "totals";
    for counter in &COUNTERS {
        if counter.json_group != group {
            group = counter.json_group;
            if let Some(title) = heading(group) {
                write!(out, "\n{title}")?;
            }
        }
        let value = (counter.get)(stats);
        write!(out, "\n  {:<16}{:>16}", counter.label, value)?;
        match counter.note {
            Note::None => {}
            Note::Text(text) => write!(out, "  ({text})")?,
            Note::HitRate => {
                let all = stats.cache_hits + stats.cache_misses;
                let rate = if all == 0 {
                    0.0
                } else {
                    100.0 * stats.cache_hits as f64 / all as f64
                };
                write!(out, "  ({rate:.1}%)")?;
            }
            Note::DepotCap => write!(out, "  (cap {})", pool::max_cached_bytes())?,
        }
    }
    let passed = stats.passed_through_layout + stats.passed_through_no_msg_send;
    if stats.messages_pooled + stats.messages_inline + stats.messages_user_data + passed == 0 {
        if libzmq::seen() {
            write!(
                out,
                "\n  note: no message reached zmqpool; the program's zmq_msg_* and zmq_send \
                 calls are bound elsewhere (a static libzmq, zmqpool loaded after libzmq, or \
                 a binding that looks functions up on libzmq's own handle)"
            )?;
        } else {
            write!(out, "\n  note: no libzmq in this process")?;
        }
    }
    Ok(())
}

/// Prints the text report to stderr.
pub(crate) fn print_text() {
    struct Report(zmqpool_stats_t);
    impl fmt::Display for Report {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_text(f, &self.0)
        }
    }
    to_stderr(format_args!("{}", Report(snapshot())));
}
