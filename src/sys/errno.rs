//! The calling thread's `errno`: every failure zmqpool reports to C is
//! reported the way libzmq reports it, through this slot.

use core::ffi::c_int;

/// The calling thread's errno.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's own errno
    // slot, valid for the whole life of the thread.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as in errno(): the calling thread's own slot.
    unsafe { *libc::__errno_location() = value }
}
