//! The library's constructor: the one place that wires the layers
//! together. It reads the environment once, on the loading thread (never
//! lazily from whichever thread comes first: a C program's `setenv` on
//! another thread would race the read), parses it into a settings value
//! (`settings.rs`), and pushes each setting into the layer it belongs to.
//! Nothing imports this module.
//!
//! Before it runs (another library's constructor may use messages first)
//! the defaults apply. In a privileged program (secure-execution mode:
//! set-user-ID, set-group-ID, file capabilities) the environment is not
//! read at all: the defaults apply for good.

use core::ffi::{c_char, CStr};

use crate::settings::{Problems, Settings, ShowStats, MAX_MALFORMED};
use crate::sys::log::{error_text, set_verbose, to_stderr};
use crate::{background, pool, report};

/// True in secure-execution mode: a set-user-ID or set-group-ID program,
/// or one with file capabilities (the kernel's AT_SECURE). Its environment
/// is its unprivileged caller's, so, as glibc does with `MALLOC_*`, every
/// `ZMQPOOL_*` setting is ignored there and the defaults apply.
fn secure_execution() -> bool {
    // SAFETY: getauxval has no precondition; it returns 0 for an entry the
    // kernel did not pass.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The variable's bytes, if set.
fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; getenv returns null or a C string
    // from the environment, which nothing changes while the constructor
    // runs on the loading thread before main (and which zmqpool never
    // reads again after it).
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: non-null, so a NUL-terminated string in the environment,
    // alive for as long as the environment is not changed (see above).
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value as *const c_char) }.to_bytes())
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

extern "C" fn print_text_at_exit() {
    report::text::print_text();
}

extern "C" fn print_json_at_exit() {
    report::json::print_json(2);
}

/// Runs when the library is loaded (linked, preloaded or dlopen'ed).
extern "C" fn on_load() {
    pool::init();
    background::install();
    let mut problems = Problems::NONE;
    // In secure-execution mode nothing of the environment is read: not
    // even ZMQPOOL_VERBOSE (a line on stderr is behaviour too).
    let settings = if secure_execution() {
        Settings::parse(|_| None, &pool::Backend::NAMES, &mut problems)
    } else {
        Settings::parse(getenv, &pool::Backend::NAMES, &mut problems)
    };
    set_verbose(settings.verbose);
    if let Some(backend) = settings
        .backend
        .and_then(|named| pool::Backend::from_name(named.value))
    {
        pool::set_backend(backend);
    }
    if let Some(cap) = settings.max_cached {
        pool::set_max_cached_bytes(cap);
    }
    if let Some(cap) = settings.thread_cached {
        pool::set_max_thread_cached_bytes(cap);
    }
    if let Some(decay) = settings.decay_ms.and_then(pool::Decay::from_c) {
        background::set_decay(decay);
    }
    // The stats file matters only with an interval (nothing is created
    // otherwise); it is checked now, and each line opens it again.
    let mut stats_file_error = None;
    if let (Some(path), Some(1..)) = (settings.stats_file, settings.stats_interval_ms) {
        static mut PATH: [u8; 4096] = [0; 4096];
        // SAFETY: on_load runs once, on the loading thread: the only user
        // of this storage, which is never written again.
        let storage = unsafe { &mut *core::ptr::addr_of_mut!(PATH) };
        stats_file_error = match c_path(path, storage) {
            None => Some((path, libc::ENAMETOOLONG)),
            Some(c_path) => report::output::set_stats_file(c_path)
                .err()
                .map(|errno| (path, errno)),
        };
    }
    if let Some(interval) = settings.stats_interval_ms {
        background::set_stats_interval_ms(interval);
    }
    pool::configure_upstream(pool::UpstreamOptions {
        eager_commit_set: settings.mimalloc_eager_commit_set,
        arena_reserve_set: settings.mimalloc_arena_reserve_set,
        disallow_arena_alloc_set: settings.mimalloc_disallow_arena_alloc_set,
    });
    // The libzmq search and layout check matter to the C exports only; a
    // Rust program without them looks libzmq up lazily, if ever.
    #[cfg(feature = "capi")]
    let detection = crate::msg::libzmq::detect_at_load();
    if settings.verbose {
        report::verbose::loaded();
        #[cfg(feature = "capi")]
        report::verbose::libzmq_found(&detection);
        report_problems(&problems, stats_file_error);
    }
    match settings.show_stats {
        // SAFETY: registers a plain extern "C" function with no arguments.
        ShowStats::Text => unsafe { libc::atexit(print_text_at_exit) },
        // SAFETY: registers a plain extern "C" function with no arguments.
        ShowStats::Json => unsafe { libc::atexit(print_json_at_exit) },
        ShowStats::Off => 0,
    };
}

/// The verbose lines about settings that did not take.
fn report_problems(problems: &Problems, stats_file_error: Option<(&[u8], libc::c_int)>) {
    for problem in problems.list.iter().flatten() {
        to_stderr(format_args!(
            "zmqpool: ignored malformed {}={} (the default is used)",
            problem.name,
            problem.value(),
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

// Not under Miri, which runs constructors but cannot run the C calls in
// this one (the tests it runs need none of it).
#[cfg(not(miri))]
#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;
