//! Settings: environment variables, read once when the library is loaded,
//! on the loading thread (never lazily from whichever thread comes first:
//! a C program's `setenv` on another thread would race the read), and
//! parsed without allocating. A malformed value is reported under
//! `ZMQPOOL_VERBOSE=1` and its default is used; nothing here can fail.
//!
//! | variable | `ZMQPOOL_CONF` key | effect |
//! | --- | --- | --- |
//! | `ZMQPOOL_BACKEND=pool\|mimalloc\|system` | `backend` | where blocks come from (default pool) |
//! | `ZMQPOOL_MAX_CACHED_BYTES=SIZE` | `max_cached` | cap on bytes kept for reuse in the depot |
//! | `ZMQPOOL_MAX_THREAD_CACHED_BYTES=SIZE` | `thread_cached` | cap on bytes one thread keeps |
//! | `ZMQPOOL_DECAY_MS=N\|0\|now` | `decay_ms` | give back blocks unused for N ms (default 1000; 0: never; now: at once) |
//! | `ZMQPOOL_SHOW_STATS=1\|json` | `show_stats` | print the statistics to stderr at exit (text or one JSON object) |
//! | `ZMQPOOL_STATS_INTERVAL_MS=N` | `stats_interval_ms` | write the JSON statistics every N ms (default 0: off) |
//! | `ZMQPOOL_STATS_FILE=PATH` | `stats_file` | where they go (appended; default stderr) |
//! | `ZMQPOOL_VERBOSE=1` | `verbose` | one line at load, and any malformed setting |
//!
//! SIZE is a number of bytes with an optional binary suffix: `512K`,
//! `64M`, `4MiB`, `1G` (K, KB, KiB: 1024; M: 1024^2; G: 1024^3; any case).
//! `ZMQPOOL_CONF="max_cached=64M,thread_cached=4M"` sets several at once,
//! in the style of `MALLOC_CONF`; a separate variable overrides its key.
//! Before the library's constructor runs (another library's constructor
//! may use messages first), the defaults apply.

use core::ffi::{c_char, CStr};

use crate::pool::{self, Backend};

/// How the statistics are printed at exit.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum ShowStats {
    #[default]
    Off,
    Text,
    Json,
}

/// What the environment asked for (None: the default).
#[derive(Default)]
struct Settings {
    backend: Option<Backend>,
    max_cached: Option<usize>,
    thread_cached: Option<usize>,
    /// Some(None): never; Some(Some(0)): at once.
    decay_ms: Option<Option<u64>>,
    stats_interval_ms: Option<u64>,
    stats_file: Option<&'static [u8]>,
    show_stats: ShowStats,
    verbose: bool,
}

/// A setting that could not be parsed: its name and (the start of) its
/// value, kept in fixed storage so reporting allocates nothing.
#[derive(Clone, Copy)]
struct Malformed {
    name: &'static str,
    value: [u8; 48],
    len: usize,
}

const MAX_MALFORMED: usize = 8;

struct Problems {
    list: [Option<Malformed>; MAX_MALFORMED],
    count: usize,
}

impl Problems {
    fn note(&mut self, name: &'static str, value: &[u8]) {
        if self.count < MAX_MALFORMED {
            let mut kept = Malformed {
                name,
                value: [0; 48],
                len: value.len().min(48),
            };
            kept.value[..kept.len].copy_from_slice(&value[..kept.len]);
            self.list[self.count] = Some(kept);
        }
        self.count += 1;
    }
}

/// The variable's bytes, if set.
fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; getenv returns null or a C string
    // from the environment, which lives until the environment is changed
    // (not while the library loads).
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: non-null, NUL-terminated (above).
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value as *const c_char) }.to_bytes())
}

fn trim(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |at| at + 1);
    &text[start..end]
}

/// A size: decimal digits and an optional binary suffix (see the module
/// documentation). None for anything else, or a value beyond `usize`.
pub(crate) fn parse_size(text: &[u8]) -> Option<usize> {
    let text = trim(text);
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: usize = 0;
    for &digit in &text[..digits] {
        value = value
            .checked_mul(10)?
            .checked_add(usize::from(digit - b'0'))?;
    }
    let suffix = trim(&text[digits..]);
    // Compared without lowering a copy (nothing here allocates).
    let is = |names: &[&[u8]]| names.iter().any(|name| suffix.eq_ignore_ascii_case(name));
    let unit: usize = if is(&[b"", b"b"]) {
        1
    } else if is(&[b"k", b"kb", b"kib"]) {
        1 << 10
    } else if is(&[b"m", b"mb", b"mib"]) {
        1 << 20
    } else if is(&[b"g", b"gb", b"gib"]) {
        1 << 30
    } else {
        return None;
    };
    value.checked_mul(unit)
}

/// A flag: empty, "0", "off", "false" or "no" (any case) is off; anything
/// else on.
fn parse_flag(text: &[u8]) -> bool {
    let text = trim(text);
    !(text.is_empty()
        || [&b"0"[..], b"off", b"false", b"no"]
            .iter()
            .any(|off| text.eq_ignore_ascii_case(off)))
}

/// A decay time: milliseconds, 0 for never, `now` for at once.
fn parse_decay(text: &[u8]) -> Option<Option<u64>> {
    let text = trim(text);
    if text.eq_ignore_ascii_case(b"now") {
        return Some(Some(0));
    }
    match parse_count(text)? {
        0 => Some(None),
        ms => Some(Some(ms)),
    }
}

/// A plain decimal count.
fn parse_count(text: &[u8]) -> Option<u64> {
    let text = trim(text);
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(text).ok()?.parse().ok()
}

fn parse_show_stats(text: &[u8]) -> ShowStats {
    if trim(text).eq_ignore_ascii_case(b"json") {
        ShowStats::Json
    } else if parse_flag(text) {
        ShowStats::Text
    } else {
        ShowStats::Off
    }
}

fn parse_backend(text: &[u8]) -> Option<Backend> {
    core::str::from_utf8(trim(text))
        .ok()
        .and_then(Backend::from_name)
}

impl Settings {
    /// Applies one `key=value` (from ZMQPOOL_CONF, or a variable's value
    /// under its key); `name` is what a report calls it.
    /// `shown` is what a report of a malformed value quotes (the value, or
    /// ZMQPOOL_CONF's whole `key=value` item).
    fn set(
        &mut self,
        key: &[u8],
        value: &'static [u8],
        name: &'static str,
        shown: &[u8],
        problems: &mut Problems,
    ) {
        let ok = match key {
            b"decay_ms" => parse_decay(value)
                .map(|d| self.decay_ms = Some(d))
                .is_some(),
            b"stats_interval_ms" => parse_count(value)
                .map(|ms| self.stats_interval_ms = Some(ms))
                .is_some(),
            b"stats_file" => {
                let path = trim(value);
                if !path.is_empty() {
                    self.stats_file = Some(path);
                }
                !path.is_empty()
            }
            b"backend" => parse_backend(value)
                .map(|b| self.backend = Some(b))
                .is_some(),
            b"max_cached" => parse_size(value)
                .map(|n| self.max_cached = Some(n))
                .is_some(),
            b"thread_cached" => parse_size(value)
                .map(|n| self.thread_cached = Some(n))
                .is_some(),
            b"show_stats" => {
                self.show_stats = parse_show_stats(value);
                true
            }
            b"verbose" => {
                self.verbose = parse_flag(value);
                true
            }
            _ => false,
        };
        if !ok {
            problems.note(name, shown);
        }
    }

    fn read(problems: &mut Problems) -> Settings {
        let mut settings = Settings::default();
        if let Some(conf) = getenv(c"ZMQPOOL_CONF") {
            for item in conf
                .split(|&b| b == b',')
                .map(trim)
                .filter(|i| !i.is_empty())
            {
                match item.iter().position(|&b| b == b'=') {
                    Some(at) => settings.set(
                        trim(&item[..at]),
                        &item[at + 1..],
                        "ZMQPOOL_CONF",
                        item,
                        problems,
                    ),
                    None => problems.note("ZMQPOOL_CONF", item),
                }
            }
        }
        let variables: [(&CStr, &[u8], &'static str); 8] = [
            (c"ZMQPOOL_BACKEND", b"backend", "ZMQPOOL_BACKEND"),
            (c"ZMQPOOL_DECAY_MS", b"decay_ms", "ZMQPOOL_DECAY_MS"),
            (
                c"ZMQPOOL_STATS_INTERVAL_MS",
                b"stats_interval_ms",
                "ZMQPOOL_STATS_INTERVAL_MS",
            ),
            (c"ZMQPOOL_STATS_FILE", b"stats_file", "ZMQPOOL_STATS_FILE"),
            (
                c"ZMQPOOL_MAX_CACHED_BYTES",
                b"max_cached",
                "ZMQPOOL_MAX_CACHED_BYTES",
            ),
            (
                c"ZMQPOOL_MAX_THREAD_CACHED_BYTES",
                b"thread_cached",
                "ZMQPOOL_MAX_THREAD_CACHED_BYTES",
            ),
            (c"ZMQPOOL_SHOW_STATS", b"show_stats", "ZMQPOOL_SHOW_STATS"),
            (c"ZMQPOOL_VERBOSE", b"verbose", "ZMQPOOL_VERBOSE"),
        ];
        for (variable, key, name) in variables {
            if let Some(value) = getenv(variable) {
                settings.set(key, value, name, value, problems);
            }
        }
        settings
    }
}

/// A decay setting as the verbose line shows it.
struct DecayText(Option<u64>);

impl core::fmt::Display for DecayText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(0) => f.write_str("at once"),
            Some(ms) => write!(f, "after {ms} ms unused"),
        }
    }
}

/// Writes a line to stderr, ignoring failure: `eprintln!` panics (and so
/// aborts the host process) when stderr is closed, which a library loaded
/// into any program must never do. Allocates nothing.
pub fn to_stderr(args: core::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// The running program's short name (glibc's `program_invocation_short_name`).
pub fn program_name() -> &'static str {
    extern "C" {
        static program_invocation_short_name: *const c_char;
    }
    // SAFETY: glibc sets this pointer before any constructor runs and never
    // frees it; it is null or a C string.
    let name = unsafe { program_invocation_short_name };
    if name.is_null() {
        return "?";
    }
    // SAFETY: non-null, NUL-terminated, lives as long as the process.
    core::str::from_utf8(unsafe { CStr::from_ptr(name) }.to_bytes()).unwrap_or("?")
}

/// True when ZMQPOOL_VERBOSE (or ZMQPOOL_CONF's verbose) was set at load.
pub fn verbose() -> bool {
    VERBOSE.load(core::sync::atomic::Ordering::Relaxed)
}

static VERBOSE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Prints the pool statistics (also `zmqpool_print_stats`).
pub fn print_stats() {
    to_stderr(format_args!("{}", pool::stats::snapshot()));
}

extern "C" fn print_stats_at_exit() {
    print_stats();
}

extern "C" fn print_json_stats_at_exit() {
    pool::report::print_json(2);
}

/// strerror without allocating (std's error text allocates a String).
fn error_text(errno: libc::c_int, buffer: &mut [u8; 128]) -> &str {
    // SAFETY: a writable buffer of the given length; the XSI strerror_r
    // (libc's binding) writes a NUL-terminated message into it.
    let status =
        unsafe { libc::strerror_r(errno, buffer.as_mut_ptr() as *mut c_char, buffer.len()) };
    if status != 0 {
        return "unknown error";
    }
    CStr::from_bytes_until_nul(&buffer[..])
        .ok()
        .and_then(|text| text.to_str().ok())
        .unwrap_or("unknown error")
}

/// A settings path as a C string, in fixed storage (a path longer than the
/// storage is refused).
fn c_path(path: &[u8], storage: &'static mut [u8; 4096]) -> Option<&'static CStr> {
    if path.len() >= storage.len() || path.contains(&0) {
        return None;
    }
    storage[..path.len()].copy_from_slice(path);
    storage[path.len()] = 0;
    CStr::from_bytes_until_nul(&storage[..]).ok()
}

/// Runs when the library is loaded (linked, preloaded or dlopen'ed).
extern "C" fn on_load() {
    // mimalloc first: its own constructor may run after this one, and
    // whichever thread first initialises it is taken for the main thread
    // (a helper thread started before it corrupted its heap).
    // SAFETY: no preconditions; idempotent.
    unsafe { pool::upstream::mi_process_init() };
    pool::init();
    let mut problems = Problems {
        list: [None; MAX_MALFORMED],
        count: 0,
    };
    let settings = Settings::read(&mut problems);
    VERBOSE.store(settings.verbose, core::sync::atomic::Ordering::Relaxed);
    if let Some(backend) = settings.backend {
        pool::set_backend(backend);
    }
    if let Some(cap) = settings.max_cached {
        pool::depot::set_max_cached_bytes(cap);
    }
    if let Some(cap) = settings.thread_cached {
        pool::thread_cache::set_max_thread_cached_bytes(cap);
    }
    if let Some(decay) = settings.decay_ms {
        pool::decay::set_decay_ms(decay);
    }
    // The stats file matters only with an interval (nothing is created
    // otherwise); it is checked now, and each line opens it again.
    let mut stats_file_error = None;
    if let (Some(path), Some(1..)) = (settings.stats_file, settings.stats_interval_ms) {
        static mut PATH: [u8; 4096] = [0; 4096];
        // SAFETY: on_load runs once, on the loading thread: the only user
        // of this storage.
        let storage = unsafe { &mut *core::ptr::addr_of_mut!(PATH) };
        stats_file_error = match c_path(path, storage) {
            None => Some((path, libc::ENAMETOOLONG)),
            Some(c_path) => pool::report::set_stats_file(c_path)
                .err()
                .map(|errno| (path, errno)),
        };
    }
    if let Some(interval) = settings.stats_interval_ms {
        pool::decay::set_stats_interval_ms(interval);
    }
    pool::configure_upstream();
    // The libzmq search and layout check matter to the C exports only; a
    // Rust program without them looks libzmq up lazily, if ever.
    #[cfg(feature = "capi")]
    let detection = crate::msg::libzmq::detect_at_load();
    if settings.verbose {
        to_stderr(format_args!(
            "zmqpool {}: loaded into pid {} ({}; backend {:?}, depot cap {} bytes, thread cap {} bytes, \
             decay {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            program_name(),
            pool::backend(),
            pool::depot::planned_max_cached_bytes(),
            pool::thread_cache::max_thread_cached_bytes(),
            DecayText(pool::decay::decay_ms()),
        ));
        #[cfg(feature = "capi")]
        crate::msg::libzmq::report(&detection);
        for problem in problems.list.iter().flatten() {
            to_stderr(format_args!(
                "zmqpool: ignored malformed {}={} (the default is used)",
                problem.name,
                core::str::from_utf8(&problem.value[..problem.len]).unwrap_or("(not UTF-8)"),
            ));
        }
        if let Some((path, errno)) = stats_file_error {
            let mut text = [0u8; 128];
            to_stderr(format_args!(
                "zmqpool: cannot open ZMQPOOL_STATS_FILE={}: {} (statistics go to stderr)",
                core::str::from_utf8(path).unwrap_or("(not UTF-8)"),
                error_text(errno, &mut text)
            ));
        }
        if problems.count > MAX_MALFORMED {
            to_stderr(format_args!(
                "zmqpool: and {} more malformed settings (defaults used)",
                problems.count - MAX_MALFORMED
            ));
        }
    }
    match settings.show_stats {
        // SAFETY: registers a plain extern "C" function with no arguments.
        ShowStats::Text => unsafe { libc::atexit(print_stats_at_exit) },
        // SAFETY: as above.
        ShowStats::Json => unsafe { libc::atexit(print_json_stats_at_exit) },
        ShowStats::Off => 0,
    };
}

// Not under Miri, which runs constructors but cannot run the C calls in
// this one (the tests it runs need none of it).
#[cfg(not(miri))]
#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes_in_any_case() {
        assert_eq!(parse_size(b"123"), Some(123));
        assert_eq!(parse_size(b" 512K "), Some(512 << 10));
        assert_eq!(parse_size(b"64M"), Some(64 << 20));
        assert_eq!(parse_size(b"4MiB"), Some(4 << 20));
        assert_eq!(parse_size(b"4mib"), Some(4 << 20));
        assert_eq!(parse_size(b"2 GB"), Some(2 << 30));
        assert_eq!(parse_size(b"7b"), Some(7));
    }

    #[test]
    fn malformed_sizes_are_refused() {
        for text in [
            &b""[..],
            b"M",
            b"-1",
            b"12X",
            b"1.5M",
            b"99999999999999999999",
            b"16777216T",
        ] {
            assert_eq!(
                parse_size(text),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(parse_size(b"17179869184G"), None);
    }
}
