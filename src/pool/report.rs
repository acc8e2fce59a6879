//! Statistics a machine can read: one JSON object (`ZMQPOOL_SHOW_STATS=json`
//! at exit, `zmqpool_stats_json`, and every `ZMQPOOL_STATS_INTERVAL_MS` to
//! stderr or `ZMQPOOL_STATS_FILE`), written without allocating.
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
use core::sync::atomic::Ordering;

use super::size_class::{SizeClass, COUNT};
use super::stats::{self, Event};
use super::{decay, depot, thread_cache};

/// Writes the statistics object to `out`.
pub fn write_json(out: &mut impl Write) -> fmt::Result {
    let totals = stats::totals();
    let snapshot = stats::snapshot_of(&totals);
    write!(out, "{{\"zmqpool\":\"{}\",", env!("CARGO_PKG_VERSION"))?;
    match crate::msg::libzmq::real_version() {
        Some((major, minor, patch)) => write!(out, "\"libzmq\":\"{major}.{minor}.{patch}\",")?,
        None => write!(out, "\"libzmq\":null,")?,
    }
    // Every copy of libzmq found, and the zmq_send calls each took.
    out.write_str("\"libzmq_copies\":[")?;
    let mut result = Ok(());
    let mut first = true;
    crate::msg::libzmq::for_each_copy(
        totals.events[Event::Send as usize],
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
    out.write_str("],")?;
    write!(out, "\"pid\":{},\"program\":", std::process::id())?;
    write_string(out, crate::config::program_name())?;
    let backend = match super::backend() {
        super::Backend::Pool => "pool",
        super::Backend::Mimalloc => "mimalloc",
        super::Backend::System => "system",
    };
    write!(out, ",\"backend\":\"{backend}\",")?;
    let decay = decay::decay_ms();
    write!(
        out,
        "\"settings\":{{\"max_cached_bytes\":{},\"max_thread_cached_bytes\":{},\"decay_ms\":",
        depot::max_cached_bytes(),
        thread_cache::max_thread_cached_bytes()
    )?;
    write_decay(out, decay)?;
    write!(
        out,
        ",\"stats_interval_ms\":{}}},",
        decay::stats_interval_ms()
    )?;
    write!(
        out,
        "\"totals\":{{\"allocations\":{},\"frees\":{},\"foreign_frees\":{},\"cache_hits\":{},\
         \"cache_misses\":{},\"bytes_in_use\":{},\"bytes_cached\":{},\"threads\":{}}},",
        snapshot.allocations,
        snapshot.frees,
        snapshot.foreign_frees,
        snapshot.cache_hits,
        snapshot.cache_misses,
        snapshot.bytes_in_use,
        snapshot.bytes_cached,
        snapshot.threads
    )?;
    let events = &totals.events;
    write!(
        out,
        "\"messages\":{{\"pooled\":{},\"inline\":{},\"user_data\":{},\"sends\":{},\"libzmq_made\":{}}},",
        events[Event::MessagePooled as usize],
        events[Event::MessageInline as usize],
        events[Event::MessageUserData as usize],
        events[Event::Send as usize],
        events[Event::LibzmqMessage as usize]
    )?;
    write!(
        out,
        "\"passed_through\":{{\"layout\":{},\"no_msg_send\":{},\"without_libzmq\":{}}},",
        events[Event::PassedThroughLayout as usize],
        events[Event::PassedThroughNoMsgSend as usize],
        events[Event::NoLibzmq as usize]
    )?;
    write!(
        out,
        "\"caps\":{{\"depot_bytes\":{},\"depot_hits\":{},\"thread_bytes\":{},\"thread_hits\":{}}},",
        depot::max_cached_bytes(),
        stats::depot_cap_hits(),
        thread_cache::max_thread_cached_bytes(),
        totals.thread_cap_hits
    )?;
    let (releases, blocks, bytes) = decay::released();
    write!(out, "\"decay\":{{\"decay_ms\":")?;
    write_decay(out, decay)?;
    write!(
        out,
        ",\"releases\":{releases},\"released_blocks\":{blocks},\"released_bytes\":{bytes}}},"
    )?;
    write!(
        out,
        "\"upstream\":{{\"allocations\":{},\"frees\":{},\"foreign_frees\":{},\"bytes_in_use\":{}}},",
        totals.upstream_allocations,
        totals.upstream_frees,
        totals.upstream_foreign,
        totals.upstream_bytes
    )?;
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
            SizeClass(class).size(),
            per.allocations,
            per.frees,
            per.foreign_frees,
            per.allocations.saturating_sub(per.misses),
            per.misses,
            per.cached_bytes,
            stats::in_use_bytes(class, per),
            peak
        )?;
    }
    let _ = COUNT;
    write!(out, "]}}")
}

fn write_decay(out: &mut impl Write, decay: Option<u64>) -> fmt::Result {
    match decay {
        // As zmqpool_get_decay_ms: 0 never, -1 at once.
        None => out.write_str("0"),
        Some(0) => out.write_str("-1"),
        Some(ms) => write!(out, "{ms}"),
    }
}

/// A JSON string (the program name: escape what JSON requires).
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
pub struct BufferWriter<'a> {
    buffer: &'a mut [u8],
    written: usize,
    needed: usize,
}

impl<'a> BufferWriter<'a> {
    pub fn new(buffer: &'a mut [u8]) -> BufferWriter<'a> {
        BufferWriter {
            buffer,
            written: 0,
            needed: 0,
        }
    }

    /// Terminates the text with a NUL (if there is any room) and returns
    /// the length the whole text needs, without the NUL.
    pub fn finish(self) -> usize {
        if let Some(end) = self.buffer.get_mut(self.written) {
            *end = 0;
        }
        self.needed
    }
}

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
pub struct LineWriter {
    buffer: [u8; LINE_BYTES],
    len: usize,
    overflow: bool,
}

const LINE_BYTES: usize = 32 << 10;

impl LineWriter {
    pub fn new() -> LineWriter {
        LineWriter {
            buffer: [0; LINE_BYTES],
            len: 0,
            overflow: false,
        }
    }

    /// Writes the line to `fd` if it is writable now (never waits: a full
    /// pipe on stderr must not stop the decay helper) and fit; false if
    /// it was not written.
    pub fn write_to(&self, fd: libc::c_int, wait: bool) -> bool {
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

impl Default for LineWriter {
    fn default() -> Self {
        LineWriter::new()
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
fn line() -> LineWriter {
    let mut out = LineWriter::new();
    let _ = write_json(&mut out);
    let _ = out.write_char('\n');
    out
}

/// Prints the object and a newline to `fd` (at exit, or on request: waits
/// for the descriptor if it must).
pub fn print_json(fd: libc::c_int) {
    line().write_to(fd, true);
}

/// Where interval statistics go: a path, opened for each line (append,
/// then closed: a descriptor kept open could be closed by the program and
/// its number reused for the program's own file), or stderr when unset.
static STATS_PATH: core::sync::atomic::AtomicPtr<core::ffi::c_char> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// Sends interval statistics to `path` (appended to). Checks now that it
/// can be opened; Err(errno) if not (stderr is used then).
pub fn set_stats_file(path: &'static core::ffi::CStr) -> Result<(), libc::c_int> {
    let fd = open_append(path.as_ptr());
    if fd < 0 {
        return Err(crate::msg::errno());
    }
    // SAFETY: a descriptor we just opened.
    unsafe { libc::close(fd) };
    STATS_PATH.store(path.as_ptr() as *mut core::ffi::c_char, Ordering::Release);
    Ok(())
}

fn open_append(path: *const core::ffi::c_char) -> libc::c_int {
    // SAFETY: a NUL-terminated path that lives forever; open has no other
    // preconditions.
    unsafe {
        libc::open(
            path,
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NONBLOCK,
            0o644,
        )
    }
}

/// Interval lines written and skipped (stderr not writable, or the file
/// could not be opened).
static SKIPPED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Interval lines skipped so far.
pub fn skipped_lines() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

/// One line of interval statistics (the decay thread).
pub(crate) fn write_interval() {
    let line = line();
    let path = STATS_PATH.load(Ordering::Acquire);
    let written = if path.is_null() {
        line.write_to(2, false)
    } else {
        let fd = open_append(path);
        let done = fd >= 0 && line.write_to(fd, false);
        if fd >= 0 {
            // SAFETY: the descriptor opened just above.
            unsafe { libc::close(fd) };
        }
        done
    };
    if !written {
        SKIPPED.fetch_add(1, Ordering::Relaxed);
    }
}
