//! One libzmq's functions, looked up by name, and where it was found.

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::AtomicU64;

use crate::msg::layout::FreeFn;
use crate::sys::loader;

pub type MsgFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub type MsgSizeFn = unsafe extern "C" fn(*mut c_void, usize) -> c_int;
pub type MsgBufferFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int;
pub type MsgDataInitFn =
    unsafe extern "C" fn(*mut c_void, *mut c_void, usize, Option<FreeFn>, *mut c_void) -> c_int;
pub type MsgPairFn = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
pub type MsgDataFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
pub type MsgConstSizeFn = unsafe extern "C" fn(*const c_void) -> usize;
pub type MsgConstFn = unsafe extern "C" fn(*const c_void) -> c_int;
pub type MsgGetsFn = unsafe extern "C" fn(*const c_void, *const c_char) -> *const c_char;
pub type MsgGetFn = unsafe extern "C" fn(*const c_void, c_int) -> c_int;
pub type MsgSetFn = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int;
pub type MsgRoutingIdFn = unsafe extern "C" fn(*mut c_void) -> u32;
pub type MsgSetRoutingIdFn = unsafe extern "C" fn(*mut c_void, u32) -> c_int;
pub type MsgGroupFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
pub type MsgSetGroupFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
pub type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int, *mut c_int);
/// `zmq_msg_send(msg, socket, flags)`.
pub type MsgSendFn = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int;
/// `zmq_send(socket, buf, len, flags)`.
pub type SendFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int) -> c_int;
/// `zmq_getsockopt(socket, option, value, size)`.
pub type GetsockoptFn = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, *mut usize) -> c_int;

/// Bytes of a path kept for display; a longer one keeps its end, after
/// "...": the file name says most.
const NAME_BYTES: usize = 256;

/// A path or description, in fixed storage (for display only: lookups use
/// the loader's own name).
#[derive(Clone, Copy)]
pub struct Name {
    bytes: [u8; NAME_BYTES],
    len: usize,
}

impl Name {
    pub(super) fn new(text: &[u8]) -> Name {
        let mut bytes = [0; NAME_BYTES];
        if text.len() <= NAME_BYTES {
            bytes[..text.len()].copy_from_slice(text);
            return Name {
                bytes,
                len: text.len(),
            };
        }
        const MARK: &[u8] = b"...";
        let mut tail = &text[text.len() - (NAME_BYTES - MARK.len())..];
        // Never start inside a UTF-8 sequence.
        while tail.first().is_some_and(|byte| byte & 0xC0 == 0x80) {
            tail = &tail[1..];
        }
        bytes[..MARK.len()].copy_from_slice(MARK);
        bytes[MARK.len()..MARK.len() + tail.len()].copy_from_slice(tail);
        Name {
            bytes,
            len: MARK.len() + tail.len(),
        }
    }

    /// A name for what cannot be named.
    #[cfg_attr(not(feature = "capi"), allow(dead_code))]
    pub fn unknown() -> Name {
        Name::new(b"?")
    }

    /// The path (or how it was found), as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("(a path that is not UTF-8)")
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One libzmq's functions. The draft ones (`init_buffer`, routing id,
/// group) are absent from builds without the draft API; the socket ones
/// only from stand-ins that implement messages alone.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub struct RealLibzmq {
    pub init: MsgFn,
    pub init_size: MsgSizeFn,
    pub init_data: MsgDataInitFn,
    pub close: MsgFn,
    pub move_: MsgPairFn,
    pub copy: MsgPairFn,
    pub data: MsgDataFn,
    pub size: MsgConstSizeFn,
    pub more: MsgConstFn,
    pub get: MsgGetFn,
    pub set: MsgSetFn,
    pub gets: MsgGetsFn,
    pub version: VersionFn,
    pub init_buffer: Option<MsgBufferFn>,
    pub routing_id: Option<MsgRoutingIdFn>,
    pub set_routing_id: Option<MsgSetRoutingIdFn>,
    pub group: Option<MsgGroupFn>,
    pub set_group: Option<MsgSetGroupFn>,
    pub msg_send: Option<MsgSendFn>,
    pub send: Option<SendFn>,
    pub getsockopt: Option<GetsockoptFn>,
    /// Where it was found (for ZMQPOOL_VERBOSE).
    pub found_in: Name,
    /// The object's mapped address range (its code and data), to tell
    /// which copy a socket belongs to.
    pub(super) range: (usize, usize),
    /// zmq_send calls handed to this copy, counted for copies after the
    /// first only (the first's are the rest of the total: the common case
    /// pays no shared counter).
    pub(super) later_sends: AtomicU64,
}

impl Name {
    /// True for the name of a libzmq found in the global scope.
    #[cfg_attr(not(feature = "capi"), allow(dead_code))]
    pub(super) fn is_global_scope(&self) -> bool {
        self.as_str() == GLOBAL
    }
}

/// How a libzmq found through `dlsym(RTLD_NEXT)` is named.
pub(super) const GLOBAL: &str = "the global scope (RTLD_NEXT)";

/// libzmq's version as (major, minor, patch).
pub fn version(real: &RealLibzmq) -> (c_int, c_int, c_int) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: zmq_version writes three ints through valid pointers.
    unsafe { (real.version)(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// The libzmq functions `handle` defines (none of them zmqpool's own).
pub(super) fn resolve_in(
    handle: *mut c_void,
    found_in: Name,
    range: (usize, usize),
) -> Option<RealLibzmq> {
    let lookup = |name: &CStr| {
        // SAFETY: `handle` is RTLD_NEXT or a live dlopen handle; `name` is
        // NUL-terminated.
        let symbol = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!symbol.is_null() && !is_zmqpool(symbol)).then_some(symbol)
    };
    macro_rules! function {
        ($name:literal, $ty:ty) => {
            // SAFETY: libzmq's exported function of this name has exactly
            // this C signature (zmq.h).
            lookup($name).map(|symbol| unsafe { core::mem::transmute::<*mut c_void, $ty>(symbol) })
        };
    }
    Some(RealLibzmq {
        init: function!(c"zmq_msg_init", MsgFn)?,
        init_size: function!(c"zmq_msg_init_size", MsgSizeFn)?,
        init_data: function!(c"zmq_msg_init_data", MsgDataInitFn)?,
        close: function!(c"zmq_msg_close", MsgFn)?,
        move_: function!(c"zmq_msg_move", MsgPairFn)?,
        copy: function!(c"zmq_msg_copy", MsgPairFn)?,
        data: function!(c"zmq_msg_data", MsgDataFn)?,
        size: function!(c"zmq_msg_size", MsgConstSizeFn)?,
        more: function!(c"zmq_msg_more", MsgConstFn)?,
        get: function!(c"zmq_msg_get", MsgGetFn)?,
        set: function!(c"zmq_msg_set", MsgSetFn)?,
        gets: function!(c"zmq_msg_gets", MsgGetsFn)?,
        version: function!(c"zmq_version", VersionFn)?,
        init_buffer: function!(c"zmq_msg_init_buffer", MsgBufferFn),
        routing_id: function!(c"zmq_msg_routing_id", MsgRoutingIdFn),
        set_routing_id: function!(c"zmq_msg_set_routing_id", MsgSetRoutingIdFn),
        group: function!(c"zmq_msg_group", MsgGroupFn),
        set_group: function!(c"zmq_msg_set_group", MsgSetGroupFn),
        msg_send: function!(c"zmq_msg_send", MsgSendFn),
        send: function!(c"zmq_send", SendFn),
        getsockopt: function!(c"zmq_getsockopt", GetsockoptFn),
        found_in,
        range,
        later_sends: AtomicU64::new(0),
    })
}

/// True if `symbol` lies in this zmqpool or in another copy of zmqpool (a
/// program linked with libzmqpool.so and run with libzmqpool-malloc.so
/// preloaded has two): neither is libzmq, whatever it exports.
fn is_zmqpool(symbol: *mut c_void) -> bool {
    loader::is_own(symbol) || other_zmqpool(symbol).is_some()
}

/// The path of the object holding `symbol` if that object is a copy of
/// zmqpool other than this one (it defines `zmqpool_version` itself).
pub(super) fn other_zmqpool(symbol: *mut c_void) -> Option<&'static CStr> {
    let object = loader::object_of(symbol)?;
    if object.dli_fname.is_null() || loader::is_own(symbol) {
        return None;
    }
    // SAFETY: dladdr's file name is NUL-terminated and lives as long as the
    // object, which stays loaded (-z nodelete for zmqpool's copies; a
    // libzmq found is never closed); RTLD_NOLOAD never loads anything.
    let handle = unsafe { libc::dlopen(object.dli_fname, libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return None;
    }
    // SAFETY: a live handle and a NUL-terminated name.
    let version = unsafe { libc::dlsym(handle, c"zmqpool_version".as_ptr()) };
    let same = !version.is_null()
        && loader::object_of(version).is_some_and(|v| v.dli_fbase == object.dli_fbase);
    // SAFETY: the handle from the successful dlopen above, closed once.
    unsafe { libc::dlclose(handle) };
    // SAFETY: as above: the name lives as long as the loaded object.
    same.then(|| unsafe { CStr::from_ptr(object.dli_fname) })
}
