//! Environment variables, read lazily (and once at load for the two that act
//! at load and exit), in the spirit of mimalloc's `MIMALLOC_*` options.
//!
//! | variable | effect |
//! | --- | --- |
//! | `ZMQPOOL_BACKEND=pool\|mimalloc\|system` | where blocks come from (default pool) |
//! | `ZMQPOOL_MAX_CACHED_BYTES=N` | cap on bytes kept for reuse in the depot (default 64 MiB) |
//! | `ZMQPOOL_MAX_THREAD_CACHED_BYTES=N` | cap on bytes one thread keeps (default 4 MiB) |
//! | `ZMQPOOL_SHOW_STATS=1` | print the pool's statistics to stderr at exit |
//! | `ZMQPOOL_VERBOSE=1` | print one line to stderr when the library loads |

use crate::pool;

/// True when the variable is set to something other than empty or "0".
fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Writes a line to stderr, ignoring failure: `eprintln!` panics (and so
/// aborts the host process) when stderr is closed, which a library loaded
/// into any program must never do.
pub fn to_stderr(args: core::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// Prints the pool statistics (also `zmqpool_print_stats`).
pub fn print_stats() {
    to_stderr(format_args!("{}", pool::stats::snapshot()));
}

extern "C" fn print_stats_at_exit() {
    print_stats();
}

/// Runs when the library is loaded (linked, preloaded or dlopen'ed).
extern "C" fn on_load() {
    pool::init();
    pool::configure_upstream();
    if let Some(cap) = std::env::var("ZMQPOOL_MAX_THREAD_CACHED_BYTES")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
    {
        pool::thread_cache::set_max_thread_cached_bytes(cap);
    }
    let detection = crate::msg::libzmq::detect_at_load();
    if flag("ZMQPOOL_VERBOSE") {
        use crate::msg::libzmq::{version, Detection};
        let libzmq = match &detection {
            Detection::Absent => "no libzmq loaded yet; looked for again when a message \
                                   needs it"
                .to_owned(),
            Detection::Compatible(real) => {
                let (major, minor, patch) = version(real);
                format!(
                    "libzmq {major}.{minor}.{patch} in {}, layout checked: interposed \
                     (zmq_msg_* and zmq_send build zmqpool messages)",
                    real.found_in
                )
            }
            Detection::PassThrough(real, why) => {
                let (major, minor, patch) = version(real);
                format!(
                    "libzmq {major}.{minor}.{patch} in {} has another message layout ({why}): \
                     passing every zmq_msg_* call through to it",
                    real.found_in
                )
            }
        };
        to_stderr(format_args!(
            "zmqpool {}: loaded into pid {} (backend {:?}, cache cap {} bytes; {libzmq})",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            pool::backend(),
            pool::depot::max_cached_bytes()
        ));
    }
    if flag("ZMQPOOL_SHOW_STATS") {
        // SAFETY: registers a plain extern "C" function with no arguments.
        unsafe { libc::atexit(print_stats_at_exit) };
    }
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;
