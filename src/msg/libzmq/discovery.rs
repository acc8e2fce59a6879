//! Finding libzmq in the process: through the global scope first, then
//! by name among the loaded objects (a binding's own copy in a local
//! scope), never mistaking a copy of zmqpool for it.

use core::ffi::{c_void, CStr};

use super::symbols::{other_zmqpool, resolve_in, Name, RealLibzmq, GLOBAL};
use crate::sys::loader::{self, for_each_object};

/// The first libzmq (see the module documentation for the order).
pub(super) fn find_first() -> Option<RealLibzmq> {
    if let Some(real) = resolve_in(libc::RTLD_NEXT, Name::new(GLOBAL.as_bytes()), (0, 0)) {
        let range = range_of(real.init as *const c_void);
        return Some(RealLibzmq { range, ..real });
    }
    let mut found = None;
    for_each_object(|name, range| {
        found = resolve_by_name(name, range);
        found.is_some()
    });
    found
}

/// An object already loaded under `name`: its libzmq functions, or None
/// (and the reference dlopen took is dropped again).
pub(super) fn resolve_by_name(name: &CStr, range: (usize, usize)) -> Option<RealLibzmq> {
    // SAFETY: `name` is NUL-terminated; RTLD_NOLOAD only returns a handle to
    // an object already loaded and never runs its initialisers again.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return None;
    }
    let found = resolve_in(handle, Name::new(name.to_bytes()), range)
        // Only the object itself: dlsym on a handle also searches its
        // dependencies, and an object that merely links libzmq is not one.
        .filter(|real| in_range(range, real.init as usize));
    if found.is_none() {
        // SAFETY: a handle from the successful dlopen above, closed once.
        unsafe { libc::dlclose(handle) };
    }
    // Otherwise the reference is kept: libzmq must outlive every message
    // it made, and it was loaded before us anyway.
    found
}

/// The mapped range of the object holding `address` ((0, 0) if none).
fn range_of(address: *const c_void) -> (usize, usize) {
    let mut range = (0, 0);
    for_each_object(|_, object| {
        if in_range(object, address as usize) {
            range = object;
            return true;
        }
        false
    });
    range
}

/// True if the global scope's definition of `name` is zmqpool's own: the
/// program's calls reach zmqpool, not libzmq.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn binds_to_us(name: &CStr) -> bool {
    // SAFETY: RTLD_DEFAULT and a NUL-terminated name.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    !symbol.is_null() && loader::is_own(symbol)
}

/// The other zmqpool the process's `zmq_msg_init_size` binds to, if any
/// (then this copy is idle: every message call goes to that one).
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn served_by_other_zmqpool() -> Option<&'static CStr> {
    // SAFETY: RTLD_DEFAULT and a NUL-terminated name.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"zmq_msg_init_size".as_ptr()) };
    if symbol.is_null() {
        return None;
    }
    other_zmqpool(symbol)
}

pub(super) fn in_range((start, end): (usize, usize), address: usize) -> bool {
    start <= address && address < end
}
