//! The real libzmq, for what only it can do.
//!
//! Messages received over tcp/ipc carry a pointer to libzmq's C++
//! `metadata_t`; adding or dropping a reference to it, destroying it, or
//! looking up a property needs libzmq's own code. Those operations are handed
//! to the libzmq in the process, found lazily: first the next definition after
//! zmqpool in the symbol search order (zmqpool linked or preloaded ahead of
//! libzmq), then a libzmq already loaded under its soname in any scope.
//! A message with metadata can only come from libzmq, so when no libzmq can
//! be found the message is reported as invalid (EFAULT) rather than guessed at.

use core::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

pub type MsgFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub type MsgPairFn = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
pub type MsgGetsFn = unsafe extern "C" fn(*const c_void, *const c_char) -> *const c_char;
pub type MsgGetFn = unsafe extern "C" fn(*const c_void, c_int) -> c_int;

/// libzmq's message functions that zmqpool defers to.
pub struct RealLibzmq {
    pub close: MsgFn,
    pub copy: MsgPairFn,
    pub gets: MsgGetsFn,
    pub get: MsgGetFn,
}

static REAL: OnceLock<Option<RealLibzmq>> = OnceLock::new();

/// The real libzmq, if the process has one.
pub fn real() -> Option<&'static RealLibzmq> {
    REAL.get_or_init(resolve).as_ref()
}

fn resolve() -> Option<RealLibzmq> {
    resolve_in(libc::RTLD_NEXT).or_else(|| {
        // SAFETY: the name is a NUL-terminated literal; RTLD_NOLOAD only
        // returns a handle to an object already loaded and never runs its
        // initialisers again.
        let handle =
            unsafe { libc::dlopen(c"libzmq.so.5".as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
        if handle.is_null() {
            return None;
        }
        // The reference taken by dlopen is kept: libzmq must outlive every
        // message it made, and it was loaded before us anyway.
        resolve_in(handle)
    })
}

fn resolve_in(handle: *mut c_void) -> Option<RealLibzmq> {
    let lookup = |name: &core::ffi::CStr| {
        // SAFETY: `handle` is RTLD_NEXT or a live dlopen handle; `name` is
        // NUL-terminated.
        let symbol = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!symbol.is_null() && !is_ours(symbol)).then_some(symbol)
    };
    let close = lookup(c"zmq_msg_close")?;
    let copy = lookup(c"zmq_msg_copy")?;
    let gets = lookup(c"zmq_msg_gets")?;
    let get = lookup(c"zmq_msg_get")?;
    // SAFETY: these are libzmq's exported functions, whose C signatures
    // (zmq.h) are exactly the function types they are cast to.
    unsafe {
        Some(RealLibzmq {
            close: core::mem::transmute::<*mut c_void, MsgFn>(close),
            copy: core::mem::transmute::<*mut c_void, MsgPairFn>(copy),
            gets: core::mem::transmute::<*mut c_void, MsgGetsFn>(gets),
            get: core::mem::transmute::<*mut c_void, MsgGetFn>(get),
        })
    }
}

/// True if `symbol` lies in the object that contains zmqpool's own code, so
/// a lookup that found our own export is not mistaken for libzmq.
fn is_ours(symbol: *mut c_void) -> bool {
    let object_of = |address: *const c_void| {
        let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
        // SAFETY: dladdr only writes `info`; it accepts any address.
        let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
        // SAFETY: zero-initialised and possibly filled by dladdr; both are valid.
        (found != 0).then(|| unsafe { info.assume_init() }.dli_fbase)
    };
    let ours = object_of(is_ours as *const c_void);
    ours.is_some() && ours == object_of(symbol)
}
