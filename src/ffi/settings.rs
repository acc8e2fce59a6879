//! The pool's settings for C callers: decay, backend, caps (the same as
//! the environment variables, changed at run time).

use core::ffi::c_int;

use super::boundary::fail;
use crate::pool::{self, Backend, Decay};

// The header's ZMQPOOL_BACKEND_* values.
const _: () = assert!(Backend::Pool as u8 == 1);
const _: () = assert!(Backend::Mimalloc as u8 == 2);
const _: () = assert!(Backend::System as u8 == 3);

/// Sets the decay time: blocks unused for `ms` milliseconds go back to the
/// system (also `ZMQPOOL_DECAY_MS`; default 1000). 0: never; -1: at once.
/// Returns 0; -1 with EINVAL for other negative values.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_decay_ms(ms: i64) -> c_int {
    let Some(decay) = Decay::from_c(ms) else {
        return fail(libc::EINVAL, -1);
    };
    pool::refresh_limits();
    crate::background::set_decay(decay);
    0
}

/// The decay time in ms, as `zmqpool_set_decay_ms` takes it (0: never;
/// -1: at once).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_get_decay_ms() -> i64 {
    pool::decay().to_c()
}

/// Chooses where new blocks come from: ZMQPOOL_BACKEND_POOL (1),
/// ZMQPOOL_BACKEND_MIMALLOC (2) or ZMQPOOL_BACKEND_SYSTEM (3). Blocks already
/// handed out are still released correctly. Returns 0; -1 with EINVAL for
/// any other value.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_backend(backend: c_int) -> c_int {
    let Some(chosen) = Backend::from_c(backend) else {
        return fail(libc::EINVAL, -1);
    };
    pool::set_backend(chosen);
    0
}

/// The current backend (1 pool, 2 mimalloc, 3 system).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_get_backend() -> c_int {
    pool::backend() as c_int
}

/// Sets the cap on bytes kept for reuse in the shared depot (also
/// `ZMQPOOL_MAX_CACHED_BYTES`; default 1 GiB while decay is on, since idle
/// blocks go back after the decay time anyway, and 64 MiB with decay off,
/// either at most a 32nd of a memory limit set on the process: README,
/// "Memory limits"); 0 keeps nothing beyond the thread caches. Reads the
/// process's memory limits again.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_max_cached_bytes(bytes: usize) {
    pool::refresh_limits();
    pool::set_max_cached_bytes(bytes);
}

/// Sets the cap on bytes one thread keeps for reuse (also
/// `ZMQPOOL_MAX_THREAD_CACHED_BYTES`; default 4 MiB, or a 64th of a smaller
/// memory budget, at least 256 KiB). Beyond it, freed blocks go to the
/// shared depot at once. Reads the process's memory limits again.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_max_thread_cached_bytes(bytes: usize) {
    pool::refresh_limits();
    pool::set_max_thread_cached_bytes(bytes);
}
