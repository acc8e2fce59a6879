//! Where and how often the JSON statistics go: the interval, and the file
//! they are appended to (stderr when none). Settings only; the writing is
//! `interval.rs`.

use core::ffi::{c_char, CStr};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::sys::errno::errno;

/// Statistics every this many ms (0: never).
static INTERVAL_MS: AtomicU64 = AtomicU64::new(0);

/// The statistics interval in ms (0: off).
pub(crate) fn interval_ms() -> u64 {
    // Relaxed: a standalone setting (the helper's start/stop protocol
    // reads it SeqCst through interval_ms_seqcst).
    INTERVAL_MS.load(Ordering::Relaxed)
}

/// The interval read SeqCst, for the helper's start/stop protocol.
pub(crate) fn interval_ms_seqcst() -> u64 {
    INTERVAL_MS.load(Ordering::SeqCst)
}

/// Sets the interval (0: off). SeqCst: the helper's start/stop protocol
/// pairs this store with its own SeqCst store of its state.
pub(crate) fn set_interval_ms(ms: u64) {
    INTERVAL_MS.store(ms, Ordering::SeqCst);
}

/// Where interval statistics go: a path, opened for each line (append,
/// then closed: a descriptor kept open could be closed by the program and
/// its number reused for the program's own file), or stderr when unset.
static STATS_PATH: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

/// Sends interval statistics to `path` (appended to). Checks now that it
/// can be opened; Err(errno) if not (stderr is used then).
pub(crate) fn set_stats_file(path: &'static CStr) -> Result<(), libc::c_int> {
    let fd = open_append(path.as_ptr());
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a descriptor we just opened, closed once.
    unsafe { libc::close(fd) };
    // Release: the path's bytes before the pointer that exposes them.
    STATS_PATH.store(path.as_ptr() as *mut c_char, Ordering::Release);
    Ok(())
}

pub(super) fn open_append(path: *const c_char) -> libc::c_int {
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // An existing file (or a symbolic link to one) is appended to; a path
    // that does not exist yet is created only as a new regular file:
    // O_EXCL refuses to follow a symbolic link there, so a dangling link
    // planted in a shared directory never makes zmqpool create the file it
    // points at. Mode 0644 (less the umask): never group- or
    // world-writable.
    // SAFETY: a NUL-terminated path that lives forever ('static); open has
    // no other precondition.
    let fd = unsafe { libc::open(path, flags) };
    if fd >= 0 || errno() != libc::ENOENT {
        return fd;
    }
    // SAFETY: as for the open above: a NUL-terminated, 'static path.
    unsafe {
        libc::open(
            path,
            flags | libc::O_CREAT | libc::O_EXCL,
            0o644 as libc::c_uint,
        )
    }
}

/// The stats file's path, if one was set.
pub(super) fn stats_path() -> *const c_char {
    // Acquire: pairs with the Release in set_stats_file.
    STATS_PATH.load(Ordering::Acquire)
}
