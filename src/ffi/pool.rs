//! Blocks from zmqpool's pool for C callers, and zmqpool's version.

use core::ffi::{c_int, c_void};

use super::boundary::fail;

/// zmqpool's version, as `zmq_version` reports libzmq's. Any pointer may be NULL.
///
/// # Safety
/// Each pointer is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    let parts = [
        (major, env!("CARGO_PKG_VERSION_MAJOR")),
        (minor, env!("CARGO_PKG_VERSION_MINOR")),
        (patch, env!("CARGO_PKG_VERSION_PATCH")),
    ];
    for (out, text) in parts {
        if let Some(out) = opt_mut!(out) {
            *out = text.parse().unwrap_or(0);
        }
    }
}

/// Allocates `size` bytes from zmqpool, 16-byte aligned; `size` 0 gives a
/// unique pointer. NULL with errno ENOMEM when memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_alloc(size: usize) -> *mut c_void {
    let block = crate::pool::alloc(size);
    if block.is_null() {
        return fail(libc::ENOMEM, core::ptr::null_mut());
    }
    block as *mut c_void
}

/// Releases a block from `zmqpool_alloc`, on any thread. NULL is ignored.
///
/// # Safety
/// `ptr` is NULL or came from `zmqpool_alloc` and was not released yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_dealloc(ptr: *mut c_void) {
    // SAFETY: `ptr` is NULL or a live block from zmqpool_alloc (pool::alloc),
    // released once: this function's contract, pool::dealloc's.
    unsafe { crate::pool::dealloc(ptr as *mut u8) }
}

/// Bytes usable at a block from `zmqpool_alloc` (at least the size asked
/// for); 0 for NULL.
///
/// # Safety
/// `ptr` is NULL or a live block from `zmqpool_alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_usable_size(ptr: *const c_void) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: `ptr` is non-null here, a live block from zmqpool_alloc (this
    // function's contract): pool::usable_size's.
    unsafe { crate::pool::usable_size(ptr as *const u8) }
}

/// Returns the calling thread's cached blocks and the shared depot's to the
/// upstream allocator, after reading the process's memory limits again
/// (the default caps follow them).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_trim() {
    crate::pool::trim();
}
