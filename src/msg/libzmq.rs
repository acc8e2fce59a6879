//! The real libzmq, for what only it can do, and the check that its
//! messages are laid out the way zmqpool writes them.
//!
//! Messages received over tcp/ipc carry a pointer to libzmq's C++
//! `metadata_t`; adding or dropping a reference to it, destroying it, or
//! looking up a property needs libzmq's own code. Those operations are handed
//! to the libzmq in the process, found in this order:
//!
//! 1. the next definition after zmqpool in the global search order
//!    (`dlsym(RTLD_NEXT)`: zmqpool linked or preloaded ahead of libzmq);
//! 2. a libzmq already loaded under its soname in any scope;
//! 3. every loaded object, walked with `dl_iterate_phdr`: a language binding
//!    (pyzmq) `dlopen`s its own, renamed copy of libzmq into a local scope,
//!    where neither of the above sees it.
//!
//! A message with metadata can only come from libzmq, so when no libzmq can
//! be found the message is reported as invalid (EFAULT) rather than guessed
//! at. A search that finds nothing is not remembered: libzmq may be loaded
//! later.
//!
//! At load, a libzmq that is already present is also checked: it makes a
//! large and a small message and a shared copy with its own functions, and
//! zmqpool compares the bytes with the layout it writes. A libzmq built
//! differently (mutex-based atomic counters make its content block larger)
//! fails the check; then every `zmq_msg_*` call is passed through to it
//! ([`passthrough`]) and `ZMQPOOL_VERBOSE=1` says so.

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicPtr, Ordering};
use std::ffi::CString;
use std::sync::OnceLock;

use super::layout::{flags, Kind, MAX_VSM_SIZE};

pub type MsgFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub type MsgSizeFn = unsafe extern "C" fn(*mut c_void, usize) -> c_int;
pub type MsgBufferFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int;
pub type FreeFn = unsafe extern "C" fn(*mut c_void, *mut c_void);
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

/// libzmq's message functions. The draft ones (`init_buffer`, routing id,
/// group) are absent from builds without the draft API.
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
    /// Socket functions `zmq_send` needs (absent only from stand-ins that
    /// implement messages alone).
    pub msg_send: Option<MsgSendFn>,
    pub send: Option<SendFn>,
    pub getsockopt: Option<GetsockoptFn>,
    /// Where it was found (for ZMQPOOL_VERBOSE).
    pub found_in: String,
}

static REAL: OnceLock<RealLibzmq> = OnceLock::new();

/// Set at load when the process's libzmq lays messages out differently:
/// every export then calls libzmq's function instead.
static PASSTHROUGH: AtomicPtr<RealLibzmq> = AtomicPtr::new(core::ptr::null_mut());

/// The real libzmq, if the process has one (searched again on every call
/// until found).
pub fn real() -> Option<&'static RealLibzmq> {
    if let Some(real) = REAL.get() {
        return Some(real);
    }
    let found = find()?;
    Some(REAL.get_or_init(|| found))
}

/// The libzmq every call must be passed to, when its layout is not ours.
#[inline(always)]
pub fn passthrough() -> Option<&'static RealLibzmq> {
    // Acquire: pairs with the Release store in detect_at_load, so the
    // function table is seen complete.
    let real = PASSTHROUGH.load(Ordering::Acquire);
    // SAFETY: non-null only when pointing at the 'static value in REAL.
    unsafe { real.as_ref() }
}

/// What the load-time check found, for the ZMQPOOL_VERBOSE line.
pub enum Detection {
    /// No libzmq in the process yet.
    Absent,
    /// A libzmq whose messages match zmqpool's layout.
    Compatible(&'static RealLibzmq),
    /// A libzmq with another layout: calls are passed through to it.
    PassThrough(&'static RealLibzmq, String),
}

/// Looks for libzmq at load and checks its layout; on a mismatch switches
/// every export to pass-through.
pub fn detect_at_load() -> Detection {
    let Some(real) = real() else {
        return Detection::Absent;
    };
    match check_layout(real) {
        Ok(()) => Detection::Compatible(real),
        Err(why) => {
            PASSTHROUGH.store(
                real as *const RealLibzmq as *mut RealLibzmq,
                Ordering::Release,
            );
            Detection::PassThrough(real, why)
        }
    }
}

/// libzmq's version as (major, minor, patch).
pub fn version(real: &RealLibzmq) -> (c_int, c_int, c_int) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: zmq_version writes three ints through valid pointers.
    unsafe { (real.version)(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// A 64-byte message buffer, aligned as `zmq_msg_t`.
#[repr(C, align(8))]
struct RawMsg([u8; 64]);

impl RawMsg {
    fn ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr() as *mut c_void
    }

    fn word(&self, offset: usize) -> usize {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.0[offset..offset + 8]);
        usize::from_ne_bytes(bytes)
    }
}

/// Makes messages with libzmq's own functions and compares their bytes with
/// the layout zmqpool reads and writes (see `layout.rs`).
pub fn check_layout(real: &RealLibzmq) -> Result<(), String> {
    let (major, minor, patch) = version(real);
    if (major, minor, patch) < (4, 3, 0) {
        return Err(format!(
            "libzmq {major}.{minor}.{patch} predates the 4.3 message layout"
        ));
    }
    const LARGE: usize = 100;
    let mut large = RawMsg([0; 64]);
    let mut copy = RawMsg([0; 64]);
    let mut small = RawMsg([0; 64]);
    // SAFETY: libzmq's functions on 64-byte, 8-aligned buffers, each message
    // initialised before use and closed once below.
    let verdict = unsafe {
        if (real.init_size)(large.ptr(), LARGE) != 0 {
            return Err("zmq_msg_init_size failed".into());
        }
        let data = (real.data)(large.ptr()) as usize;
        let content = large.word(8);
        let mut verdict = Ok(());
        if large.0[42] != Kind::Lmsg as u8 {
            verdict = Err(format!("type byte {} for a large message", large.0[42]));
        } else if content == 0 || data != content + 40 {
            verdict = Err(format!(
                "the body of a large message is {} bytes after its content block, not 40",
                data.wrapping_sub(content) as isize
            ));
        } else if (content as *const usize).add(1).read() != LARGE
            || (content as *const usize).add(2).read() != 0
        {
            verdict = Err("content block fields are not where zmqpool expects them".into());
        }
        if verdict.is_ok() {
            (real.init)(copy.ptr());
            if (real.copy)(copy.ptr(), large.ptr()) != 0
                || large.0[43] & flags::SHARED == 0
                || ((content + 32) as *const u32).read() != 2
            {
                verdict = Err("a shared copy does not count references where zmqpool does".into());
            }
            (real.close)(copy.ptr());
        }
        (real.close)(large.ptr());
        if verdict.is_ok() {
            let size = MAX_VSM_SIZE - 13;
            (real.init_size)(small.ptr(), size);
            if small.0[42] != Kind::Vsm as u8
                || usize::from(small.0[41]) != size
                || (real.data)(small.ptr()) as usize != small.ptr() as usize + 8
            {
                verdict = Err("small messages are not stored where zmqpool expects".into());
            }
            (real.close)(small.ptr());
        }
        verdict
    };
    verdict
}

/// Searches the process for libzmq (see the module documentation).
fn find() -> Option<RealLibzmq> {
    if let Some(real) = resolve_in(libc::RTLD_NEXT, "the global scope (RTLD_NEXT)") {
        return Some(real);
    }
    if let Some(real) = resolve_by_name(c"libzmq.so.5") {
        return Some(real);
    }
    loaded_objects()
        .into_iter()
        .find_map(|name| resolve_by_name(&name))
}

/// An object already loaded under `name`: its libzmq functions, or None
/// (and the reference dlopen took is dropped again).
fn resolve_by_name(name: &CStr) -> Option<RealLibzmq> {
    // SAFETY: `name` is NUL-terminated; RTLD_NOLOAD only returns a handle to
    // an object already loaded and never runs its initialisers again.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return None;
    }
    let found = resolve_in(handle, &name.to_string_lossy());
    if found.is_none() {
        // SAFETY: a handle from the successful dlopen above, closed once.
        unsafe { libc::dlclose(handle) };
    }
    // Otherwise the reference is kept: libzmq must outlive every message
    // it made, and it was loaded before us anyway.
    found
}

/// The file names of every loaded object, but zmqpool's own.
fn loaded_objects() -> Vec<CString> {
    unsafe extern "C" fn collect(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info record and our `data`,
        // a live Vec<CString> owned by the caller below.
        unsafe {
            let names = &mut *(data as *mut Vec<CString>);
            let name = (*info).dlpi_name;
            if !name.is_null() && *name != 0 {
                names.push(CStr::from_ptr(name).to_owned());
            }
        }
        0
    }
    let mut names: Vec<CString> = Vec::new();
    // SAFETY: the callback only reads the record and appends to `names`;
    // it calls no loader function (dlopen there would deadlock).
    unsafe {
        libc::dl_iterate_phdr(
            Some(collect),
            &mut names as *mut Vec<CString> as *mut c_void,
        )
    };
    let own = own_object_name();
    names.retain(|name| Some(name) != own.as_ref());
    names
}

fn own_object_name() -> Option<CString> {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only writes `info`; it accepts any address.
    if unsafe { libc::dladdr(own_object_name as *const c_void, info.as_mut_ptr()) } == 0 {
        return None;
    }
    // SAFETY: filled by dladdr (which succeeded).
    let info = unsafe { info.assume_init() };
    // SAFETY: dli_fname is null or a NUL-terminated string owned by the loader.
    (!info.dli_fname.is_null()).then(|| unsafe { CStr::from_ptr(info.dli_fname) }.to_owned())
}

fn resolve_in(handle: *mut c_void, found_in: &str) -> Option<RealLibzmq> {
    let lookup = |name: &CStr| {
        // SAFETY: `handle` is RTLD_NEXT or a live dlopen handle; `name` is
        // NUL-terminated.
        let symbol = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!symbol.is_null() && !is_ours(symbol)).then_some(symbol)
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
        found_in: found_in.to_owned(),
    })
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
