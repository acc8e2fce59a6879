//! Statistics a machine can read: one JSON object (`ZMQPOOL_SHOW_STATS=json`
//! at exit, `zmqpool_stats_json`, and every `ZMQPOOL_STATS_INTERVAL_MS` to
//! stderr or `ZMQPOOL_STATS_FILE`: `interval.rs`), written without
//! allocating. The `totals`, `messages` and `passed_through` objects are
//! the rows of the counter table (`counters.rs`); the rest is the pool's
//! settings, caps, decay and per-class figures. Field by field: docs/stats.md.
//!
//! ```text
//! {"zmqpool":"0.2.0","libzmq":"4.3.4",
//!  "libzmq_copies":[{"path":"the global scope (RTLD_NEXT)","version":"4.3.4","sends":..}],
//!  "pid":1234,"program":"app","backend":"pool",
//!  "settings":{"max_cached_bytes":..,"max_thread_cached_bytes":..,"decay_ms":1000},
//!  "totals":{"allocations":..,"frees":..,"foreign_frees":..,"cache_hits":..,
//!            "cache_misses":..,"bytes_in_use":..,"bytes_cached":..,"threads":..},
//!  "messages":{"pooled":..,"inline":..,"user_data":..,"sends":..,"libzmq_made":..},
//!  "passed_through":{"layout":..,"no_msg_send":..,"without_libzmq":..},
//!  "caps":{"depot_bytes":..,"depot_hits":..,"thread_bytes":..,"thread_hits":..},
//!  "memory":{"limit":"cgroup memory.max","limit_bytes":..,"address_space_bytes":..,
//!            "give_backs":..},
//!  "decay":{"decay_ms":..,"releases":..,"released_blocks":..,"released_bytes":..},
//!  "upstream":{"allocations":..,"frees":..,"foreign_frees":..,"bytes_in_use":..},
//!  "classes":[{"size":80,"allocations":..,"frees":..,"cross_thread_frees":..,
//!              "hits":..,"misses":..,"cached_bytes":..,"in_use_bytes":..,
//!              "peak_in_use_bytes":..}, ...]}
//! ```
//!
//! Only classes that were ever used appear in `classes`. The totals add up:
//! `allocations` is the classes' allocations plus the upstream ones, and so
//! on (`c_tests/check_stats_json.py` checks this against a known workload).

use core::fmt::{self, Write};

use super::counters::{snapshot_of, COUNTERS};
use super::output;
use crate::msg::events::Event;
use crate::msg::libzmq;
use crate::pool::stats::{self, Totals};
use crate::pool::{self, depot};
use crate::sys::log::program_name;

/// Writes the statistics as one JSON object to `out` (what
/// `ZMQPOOL_SHOW_STATS=json` prints; fields in docs/stats.md), without
/// allocating.
pub fn write_json(out: &mut impl Write) -> fmt::Result {
    let totals = stats::totals();
    write!(out, "{{\"zmqpool\":\"{}\",", env!("CARGO_PKG_VERSION"))?;
    write_libzmq(out, &totals)?;
    write!(out, "\"pid\":{},\"program\":", std::process::id())?;
    write_string(out, program_name())?;
    write!(out, ",\"backend\":\"{}\",", pool::backend().name())?;
    // Read once: both groups show the same decay time.
    let decay = pool::decay().to_c();
    write_settings(out, decay)?;
    write_counter_groups(out, &totals)?;
    write_caps(out, &totals)?;
    write_memory(out)?;
    write_decay(out, decay)?;
    write_upstream(out, &totals)?;
    write_classes(out, &totals)?;
    out.write_char('}')
}

/// `"libzmq"`: the first copy's version; `"libzmq_copies"`: every copy
/// found, and the zmq_send calls each took.
fn write_libzmq(out: &mut impl Write, totals: &Totals) -> fmt::Result {
    match libzmq::real_version() {
        Some((major, minor, patch)) => write!(out, "\"libzmq\":\"{major}.{minor}.{patch}\",")?,
        None => write!(out, "\"libzmq\":null,")?,
    }
    out.write_str("\"libzmq_copies\":[")?;
    let mut result = Ok(());
    let mut first = true;
    libzmq::for_each_copy(
        totals.event(Event::Send.slot()),
        |name, (major, minor, patch), sends| {
            if result.is_err() {
                return;
            }
            result = (|| {
                if !first {
                    out.write_char(',')?;
                }
                first = false;
                out.write_str("{\"path\":")?;
                write_string(out, name.as_str())?;
                write!(
                    out,
                    ",\"version\":\"{major}.{minor}.{patch}\",\"sends\":{sends}}}"
                )
            })();
        },
    );
    result?;
    out.write_str("],")
}

/// `"settings"`: the caps, decay and statistics interval in force.
fn write_settings(out: &mut impl Write, decay_ms: i64) -> fmt::Result {
    write!(
        out,
        "\"settings\":{{\"max_cached_bytes\":{},\"max_thread_cached_bytes\":{},\"decay_ms\":{}",
        pool::max_cached_bytes(),
        pool::max_thread_cached_bytes(),
        decay_ms
    )?;
    write!(out, ",\"stats_interval_ms\":{}}},", output::interval_ms())
}

/// `"totals"`, `"messages"`, `"passed_through"`: the counter table's rows,
/// group by group.
fn write_counter_groups(out: &mut impl Write, totals: &Totals) -> fmt::Result {
    let snapshot = snapshot_of(totals);
    let mut group = "";
    for counter in &COUNTERS {
        if counter.json_group != group {
            if !group.is_empty() {
                out.write_str("},")?;
            }
            group = counter.json_group;
            write!(out, "\"{group}\":{{")?;
        } else {
            out.write_char(',')?;
        }
        write!(out, "\"{}\":{}", counter.json_key, (counter.get)(&snapshot))?;
    }
    out.write_str("},")
}

/// `"caps"`: each cap and how often it was hit.
fn write_caps(out: &mut impl Write, totals: &Totals) -> fmt::Result {
    write!(
        out,
        "\"caps\":{{\"depot_bytes\":{},\"depot_hits\":{},\"thread_bytes\":{},\"thread_hits\":{}}},",
        pool::max_cached_bytes(),
        depot::cap_hits(),
        pool::max_thread_cached_bytes(),
        totals.thread_cap_hits
    )
}

/// `"memory"`: the budget the default caps follow and what sets it, and
/// how often a failed allocation made the pool give back what it held.
fn write_memory(out: &mut impl Write) -> fmt::Result {
    match pool::memory_limit() {
        Some((bytes, limit)) => write!(
            out,
            "\"memory\":{{\"limit\":\"{limit}\",\"limit_bytes\":{bytes},"
        )?,
        None => out.write_str("\"memory\":{\"limit\":null,\"limit_bytes\":null,")?,
    }
    write!(
        out,
        "\"address_space_bytes\":{},\"give_backs\":{}}},",
        pool::address_space_bytes(),
        pool::give_backs()
    )
}

/// `"decay"`: the decay time and what the passes gave back.
fn write_decay(out: &mut impl Write, decay_ms: i64) -> fmt::Result {
    let (releases, blocks, bytes) = pool::decay::released();
    write!(
        out,
        "\"decay\":{{\"decay_ms\":{decay_ms},\"releases\":{releases},\"released_blocks\":{blocks},\"released_bytes\":{bytes}}},"
    )
}

/// `"upstream"`: blocks outside the size classes.
fn write_upstream(out: &mut impl Write, totals: &Totals) -> fmt::Result {
    write!(
        out,
        "\"upstream\":{{\"allocations\":{},\"frees\":{},\"foreign_frees\":{},\"bytes_in_use\":{}}},",
        totals.upstream_allocations,
        totals.upstream_frees,
        totals.upstream_foreign,
        totals.upstream_bytes
    )
}

/// `"classes"`: every size class ever used.
fn write_classes(out: &mut impl Write, totals: &Totals) -> fmt::Result {
    write!(out, "\"classes\":[")?;
    let mut first = true;
    for (class, per) in totals.classes.iter().enumerate() {
        let peak = stats::peak_in_use_bytes(class);
        if per.allocations == 0 && per.frees == 0 && per.cached_bytes == 0 && peak == 0 {
            continue;
        }
        if !first {
            out.write_char(',')?;
        }
        first = false;
        write!(
            out,
            "{{\"size\":{},\"allocations\":{},\"frees\":{},\"cross_thread_frees\":{},\"hits\":{},\
             \"misses\":{},\"cached_bytes\":{},\"in_use_bytes\":{},\"peak_in_use_bytes\":{}}}",
            pool::sizes::SizeClass(class).size(),
            per.allocations,
            per.frees,
            per.foreign_frees,
            per.allocations.saturating_sub(per.misses),
            per.misses,
            per.cached_bytes,
            per.in_use_bytes(class),
            peak
        )?;
    }
    out.write_char(']')
}

/// A JSON string (the program name, a path: escape what JSON requires).
fn write_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Writes into a caller's buffer as much as fits (keeping one byte for the
/// NUL), counting what the whole would take: `snprintf`'s contract.
#[cfg(feature = "capi")]
pub(crate) struct BufferWriter<'a> {
    buffer: &'a mut [u8],
    written: usize,
    needed: usize,
}

#[cfg(feature = "capi")]
impl<'a> BufferWriter<'a> {
    pub(crate) fn new(buffer: &'a mut [u8]) -> BufferWriter<'a> {
        BufferWriter {
            buffer,
            written: 0,
            needed: 0,
        }
    }

    /// Terminates the text with a NUL (if there is any room) and returns
    /// the length the whole text needs, without the NUL.
    pub(crate) fn finish(self) -> usize {
        if let Some(end) = self.buffer.get_mut(self.written) {
            *end = 0;
        }
        self.needed
    }
}

#[cfg(feature = "capi")]
impl Write for BufferWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = self
            .buffer
            .len()
            .saturating_sub(1)
            .saturating_sub(self.written);
        let take = text.len().min(room);
        self.buffer[self.written..self.written + take].copy_from_slice(&text.as_bytes()[..take]);
        self.written += take;
        self.needed += text.len();
        Ok(())
    }
}

/// Collects one whole object (one line) in a fixed buffer, written with
/// one `write()`: lines from several writers appending to one file do not
/// interleave. No allocation; 32 KiB holds every class's entry.
pub(crate) struct LineWriter {
    buffer: [u8; LINE_BYTES],
    len: usize,
    overflow: bool,
}

const LINE_BYTES: usize = 32 << 10;

impl LineWriter {
    pub(crate) fn new() -> LineWriter {
        LineWriter {
            buffer: [0; LINE_BYTES],
            len: 0,
            overflow: false,
        }
    }

    /// Writes the line to `fd` if it is writable now (never waits: a full
    /// pipe on stderr must not stop the decay helper) and fit; false if
    /// it was not written.
    pub(crate) fn write_to(&self, fd: libc::c_int, wait: bool) -> bool {
        if self.overflow {
            return false;
        }
        if !wait {
            let mut poll = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a zero timeout never blocks.
            if unsafe { libc::poll(&mut poll, 1, 0) } != 1 || poll.revents & libc::POLLOUT == 0 {
                return false;
            }
        }
        let mut at = 0;
        while at < self.len {
            // SAFETY: writes initialised bytes of our own buffer.
            let done = unsafe {
                libc::write(
                    fd,
                    self.buffer[at..].as_ptr() as *const libc::c_void,
                    self.len - at,
                )
            };
            if done <= 0 {
                return false; // a closed or failing descriptor: give up quietly
            }
            at += done as usize;
        }
        true
    }
}

impl Write for LineWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.len + text.len() > self.buffer.len() {
            self.overflow = true;
            return Ok(());
        }
        self.buffer[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
        self.len += text.len();
        Ok(())
    }
}

/// The object and a newline, as one line.
pub(crate) fn line() -> LineWriter {
    let mut out = LineWriter::new();
    let _ = write_json(&mut out);
    let _ = out.write_char('\n');
    out
}

/// Prints the object and a newline to `fd` (at exit, or on request: waits
/// for the descriptor if it must).
pub(crate) fn print_json(fd: libc::c_int) {
    line().write_to(fd, true);
}
