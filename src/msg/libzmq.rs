//! The real libzmq (or libzmqs), for what only it can do, and the check
//! that its messages are laid out the way zmqpool writes them.
//!
//! Messages received over tcp/ipc carry a pointer to libzmq's C++
//! `metadata_t`; adding or dropping a reference to it, destroying it, or
//! looking up a property needs libzmq's own code, and `zmq_send` hands its
//! message to libzmq's `zmq_msg_send`. The libzmq in the process is found in
//! this order:
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
//! At load, every libzmq already present is checked: its version (4.3.3 or
//! later: 4.3.2 and earlier keep a 16-byte group name where 4.3.3 keeps a
//! type byte and a pointer) and its bytes (it makes a large and a small
//! message and a shared copy with its own functions; a libzmq built with
//! mutex-based atomic counters has a larger content block). When a copy
//! fails, every call is passed through ([`passthrough`]) to the libzmq the
//! program would have called without zmqpool: the one in the global scope.
//!
//! More than one libzmq (a binding's bundled copy beside the system one):
//! a socket belongs to the copy that made it, so `zmq_send` hands each
//! message to the copy whose code the socket's C++ vtable lies in
//! ([`for_socket`]). Metadata carries no such mark; it is handled by the
//! first copy, which is sound because every copy that passed the check is a
//! 4.3.x whose `metadata_t` (a reference count and a `std::map` of strings)
//! is the same on both sides, freed into the same C++ heap.
//!
//! Nothing here allocates from the Rust heap: names live in fixed buffers,
//! reasons are static strings, and the search walks the loaded objects in
//! fixed-size chunks, so finding libzmq cannot abort under memory pressure.

// Without the C exports (feature `capi` off) some operations have no
// caller: they exist for zmq_msg_*.
#![cfg_attr(not(feature = "capi"), allow(dead_code))]

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::layout::{flags, Kind, MAX_VSM_SIZE};
use crate::pool::lock::RawLock;

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

/// Longest object path kept (longer ones are skipped by the search).
const NAME_BYTES: usize = 256;

/// A path or description, in fixed storage.
#[derive(Clone, Copy)]
pub struct Name {
    bytes: [u8; NAME_BYTES],
    len: usize,
}

impl Name {
    fn new(text: &[u8]) -> Name {
        let len = text.len().min(NAME_BYTES);
        let mut bytes = [0; NAME_BYTES];
        bytes[..len].copy_from_slice(&text[..len]);
        Name { bytes, len }
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
    range: (usize, usize),
    /// zmq_send calls handed to this copy, counted for copies after the
    /// first only (the first's are the rest of the total: the common case
    /// pays no shared counter).
    later_sends: AtomicU64,
}

/// Copies of libzmq seen in the process; the first is "the" libzmq.
const MAX_COPIES: usize = 8;
static COPIES: [OnceLock<RealLibzmq>; MAX_COPIES] = [const { OnceLock::new() }; MAX_COPIES];
static COPY_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Serialises adding copies.
static ADDING: RawLock<()> = RawLock::new(());

/// Set at load when a libzmq in the process lays messages out differently:
/// every export then calls this libzmq's function instead.
static PASSTHROUGH: AtomicPtr<RealLibzmq> = AtomicPtr::new(core::ptr::null_mut());

fn copies() -> impl Iterator<Item = &'static RealLibzmq> {
    // Acquire: pairs with the Release in add(); those slots are set.
    let count = COPY_COUNT.load(Ordering::Acquire);
    COPIES[..count].iter().filter_map(OnceLock::get)
}

/// Adds a copy unless one with the same range is known; returns the known
/// or added one (None when the table is full).
fn add(copy: RealLibzmq) -> Option<&'static RealLibzmq> {
    install_fork_handlers();
    ADDING.with(|_| {
        if let Some(known) = copies().find(|known| known.range == copy.range) {
            return Some(known);
        }
        let count = COPY_COUNT.load(Ordering::Relaxed);
        if count == MAX_COPIES {
            return None;
        }
        let added = COPIES[count].get_or_init(|| copy);
        // Release: the slot's contents before the count that exposes it.
        COPY_COUNT.store(count + 1, Ordering::Release);
        report_late(added);
        Some(added)
    })
}

/// A fork() while another thread adds a copy must not leave the child
/// with ADDING held: the handlers take it around the fork (it nests no
/// other lock, so the order against the pool's handlers does not matter).
fn install_fork_handlers() {
    extern "C" fn prepare() {
        ADDING.lock();
    }
    extern "C" fn after() {
        // SAFETY: prepare() took it on this thread (in the child: the
        // parent's forking thread, which this thread is).
        unsafe { ADDING.unlock() };
    }
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers plain extern "C" functions without arguments.
        unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
    });
}

/// The real libzmq, if the process has one (searched again on every call
/// until found).
pub fn real() -> Option<&'static RealLibzmq> {
    if let Some(first) = copies().next() {
        return Some(first);
    }
    find_first().and_then(add)
}

/// The version of the libzmq found so far (no search), for reports.
pub fn real_version() -> Option<(c_int, c_int, c_int)> {
    copies().next().map(version)
}

/// True once a libzmq has been found in the process.
pub fn seen() -> bool {
    copies().next().is_some()
}

/// Set once the load-time search has run: a libzmq found after it was
/// loaded later (a binding imported after start-up).
static LOADED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Reports a libzmq found after load (ZMQPOOL_VERBOSE=1); its layout is
/// not checked: zmqpool's messages may already be in flight.
#[cold]
fn report_late(copy: &RealLibzmq) {
    if LOADED.load(Ordering::Relaxed) && crate::config::verbose() {
        let (major, minor, patch) = version(copy);
        crate::config::to_stderr(format_args!(
            "zmqpool: found libzmq {major}.{minor}.{patch} in {} after load (a binding \
             loaded later); its layout is not checked",
            copy.found_in
        ));
    }
}

/// The libzmq every call must be passed to, when a layout is not ours.
#[inline(always)]
pub fn passthrough() -> Option<&'static RealLibzmq> {
    // Acquire: pairs with the Release store in detect_at_load, so the
    // function table is seen complete.
    let real = PASSTHROUGH.load(Ordering::Acquire);
    // SAFETY: non-null only when pointing at a 'static value in COPIES.
    unsafe { real.as_ref() }
}

/// The libzmq that made `socket`: the copy whose mapped range holds the
/// socket's C++ vtable pointer, else the first copy (whose own check then
/// rejects a pointer that is no socket).
///
/// # Safety
/// `socket` is non-null and readable for one pointer (libzmq itself reads
/// further into anything passed as a socket).
pub unsafe fn for_socket(socket: *mut c_void) -> Option<&'static RealLibzmq> {
    let first = real()?;
    // SAFETY: by the contract; unaligned, since the pointer is the caller's.
    let vtable = unsafe { (socket as *const usize).read_unaligned() };
    if in_range(first.range, vtable) {
        return Some(first);
    }
    if let Some(copy) = copies().find(|copy| in_range(copy.range, vtable)) {
        return Some(copy);
    }
    Some(copy_containing(vtable).unwrap_or(first))
}

/// Counts a zmq_send handed to `copy` (see `later_sends`).
#[inline]
pub fn count_send(copy: &RealLibzmq) {
    if !real().is_some_and(|first| core::ptr::eq(first, copy)) {
        // Relaxed: a statistic.
        copy.later_sends.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every copy found: its path, version and the zmq_send calls it took
/// (`total_sends`: all of them; the first copy is given the rest).
pub fn for_each_copy(total_sends: u64, mut visit: impl FnMut(&Name, (c_int, c_int, c_int), u64)) {
    let later: u64 = copies()
        .skip(1)
        .map(|c| c.later_sends.load(Ordering::Relaxed))
        .sum();
    for (index, copy) in copies().enumerate() {
        let sends = if index == 0 {
            total_sends.saturating_sub(later)
        } else {
            copy.later_sends.load(Ordering::Relaxed)
        };
        visit(&copy.found_in, version(copy), sends);
    }
}

fn in_range((start, end): (usize, usize), address: usize) -> bool {
    start <= address && address < end
}

/// A libzmq loaded after the search (a binding imported later): the object
/// holding `address`, if it is a libzmq.
#[cold]
fn copy_containing(address: usize) -> Option<&'static RealLibzmq> {
    let mut found = None;
    for_each_object(|name, range| {
        if !in_range(range, address) {
            return false;
        }
        found = resolve_by_name(name, range).and_then(add);
        true
    });
    found
}

/// What the load-time check found, for the ZMQPOOL_VERBOSE lines.
pub enum Detection {
    /// No libzmq in the process yet.
    Absent,
    /// Every libzmq present lays messages out as zmqpool does.
    Compatible,
    /// A libzmq with another layout or version: calls go to this one.
    PassThrough(&'static RealLibzmq, Mismatch),
}

/// Why a libzmq's messages are not zmqpool's layout (no allocation: a
/// static reason and, where it helps, the number measured).
#[derive(Clone, Copy, Debug)]
pub struct Mismatch {
    reason: &'static str,
    body_offset: Option<isize>,
}

impl Mismatch {
    const fn because(reason: &'static str) -> Mismatch {
        Mismatch {
            reason,
            body_offset: None,
        }
    }
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.body_offset {
            Some(offset) => write!(
                f,
                "the body of a large message is {offset} bytes after its content block, not 40"
            ),
            None => f.write_str(self.reason),
        }
    }
}

/// Looks for every libzmq at load and checks each; on a mismatch switches
/// every export to pass-through.
pub fn detect_at_load() -> Detection {
    let first = real();
    let Some(first) = first else {
        LOADED.store(true, Ordering::Relaxed);
        return Detection::Absent;
    };
    // Copies in local scopes too (a binding's bundled libzmq).
    for_each_object(|name, range| {
        if !copies().any(|copy| copy.range == range) {
            if let Some(copy) = resolve_by_name(name, range) {
                add(copy);
            }
        }
        false
    });
    // Copies found from here on were loaded after zmqpool (reported so).
    LOADED.store(true, Ordering::Relaxed);
    for copy in copies() {
        if let Err(why) = check_layout(copy) {
            // The libzmq the program would call without zmqpool: the one
            // in the global scope (found first), else this one.
            let target = if first.found_in.is_global_scope() {
                first
            } else {
                copy
            };
            PASSTHROUGH.store(
                target as *const RealLibzmq as *mut RealLibzmq,
                Ordering::Release,
            );
            return Detection::PassThrough(target, why);
        }
    }
    Detection::Compatible
}

impl Name {
    fn is_global_scope(&self) -> bool {
        self.bytes[..self.len] == *GLOBAL.as_bytes()
    }
}

const GLOBAL: &str = "the global scope (RTLD_NEXT)";

/// Prints what [`detect_at_load`] found (ZMQPOOL_VERBOSE=1).
pub fn report(detection: &Detection) {
    let say = crate::config::to_stderr;
    match detection {
        Detection::Absent => say(format_args!(
            "zmqpool: no libzmq loaded yet; looked for again when a message needs it"
        )),
        Detection::Compatible => {
            if let Some(other) = served_by_other_zmqpool() {
                say(format_args!(
                    "zmqpool: another copy of zmqpool ({}) serves this process's zmq_msg_* and \
                     zmq_send; this copy stays idle",
                    other.to_str().unwrap_or("?")
                ));
                return;
            }
            let interposed = binds_to_us(c"zmq_msg_init_size") && binds_to_us(c"zmq_send");
            for copy in copies() {
                let (major, minor, patch) = version(copy);
                if interposed {
                    say(format_args!(
                        "zmqpool: libzmq {major}.{minor}.{patch} in {}, layout checked: \
                         interposed (zmq_msg_* and zmq_send build zmqpool messages)",
                        copy.found_in
                    ));
                } else {
                    say(format_args!(
                        "zmqpool: libzmq {major}.{minor}.{patch} in {}, layout checked, but NOT \
                         interposed: the process's zmq_msg_* and zmq_send bind to libzmq \
                         (zmqpool was loaded after it); nothing will be pooled",
                        copy.found_in
                    ));
                }
            }
            let count = copies().count();
            if count > 1 {
                say(format_args!(
                    "zmqpool: {count} copies of libzmq: zmq_send goes to the copy that made each \
                     socket; metadata is handled by the first, {}",
                    real().map_or(Name::new(b"?"), |first| first.found_in)
                ));
            }
        }
        Detection::PassThrough(target, why) => {
            let (major, minor, patch) = version(target);
            say(format_args!(
                "zmqpool: a libzmq in this process has another message layout ({why}): passing \
                 every zmq_msg_* call through to libzmq {major}.{minor}.{patch} in {}",
                target.found_in
            ));
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

/// Checks a libzmq's version, then makes messages with its own functions
/// and compares their bytes with the layout zmqpool reads and writes (see
/// `layout.rs`).
fn check_layout(real: &RealLibzmq) -> Result<(), Mismatch> {
    if version(real) < (4, 3, 3) {
        return Err(Mismatch::because(
            "a version before 4.3.3, whose group field is a 16-byte name",
        ));
    }
    const LARGE: usize = 100;
    let mut large = RawMsg([0; 64]);
    let mut copy = RawMsg([0; 64]);
    let mut small = RawMsg([0; 64]);
    // SAFETY: libzmq's functions on 64-byte, 8-aligned buffers, each message
    // initialised before use and closed once below; the content block is
    // read only after init_size gave the message one.
    unsafe {
        if (real.init_size)(large.ptr(), LARGE) != 0 {
            return Err(Mismatch::because("zmq_msg_init_size failed"));
        }
        let data = (real.data)(large.ptr()) as usize;
        let content = large.word(8);
        let mut verdict = Ok(());
        if large.0[42] != Kind::Lmsg as u8 {
            verdict = Err(Mismatch::because(
                "an unexpected type byte for a large message",
            ));
        } else if content == 0 || data != content + 40 {
            verdict = Err(Mismatch {
                reason: "",
                body_offset: Some(data.wrapping_sub(content) as isize),
            });
        } else if (content as *const usize).add(1).read() != LARGE
            || (content as *const usize).add(2).read() != 0
        {
            verdict = Err(Mismatch::because(
                "content block fields are not where zmqpool expects them",
            ));
        }
        if verdict.is_ok() {
            (real.init)(copy.ptr());
            if (real.copy)(copy.ptr(), large.ptr()) != 0
                || large.0[43] & flags::SHARED == 0
                || ((content + 32) as *const u32).read() != 2
            {
                verdict = Err(Mismatch::because(
                    "a shared copy does not count references where zmqpool does",
                ));
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
                verdict = Err(Mismatch::because(
                    "small messages are not stored where zmqpool expects",
                ));
            }
            (real.close)(small.ptr());
        }
        verdict
    }
}

/// The first libzmq (see the module documentation for the order).
fn find_first() -> Option<RealLibzmq> {
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
fn resolve_by_name(name: &CStr, range: (usize, usize)) -> Option<RealLibzmq> {
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

/// Objects the search looks at per pass over the loader's list.
const CHUNK: usize = 16;

struct Chunk {
    skip: usize,
    seen: usize,
    names: [[u8; NAME_BYTES]; CHUNK],
    ranges: [(usize, usize); CHUNK],
    count: usize,
    own_base: usize,
}

/// Calls `visit` with the path and mapped range of every loaded object but
/// zmqpool's own, until it returns true. The loader's list is walked in
/// chunks copied into fixed storage (the loader must not be re-entered from
/// inside `dl_iterate_phdr`); paths longer than 255 bytes are skipped.
fn for_each_object(mut visit: impl FnMut(&CStr, (usize, usize)) -> bool) {
    unsafe extern "C" fn collect(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid record and our `data`, a
        // live Chunk owned by the caller; the callback only reads the
        // record and writes the chunk.
        unsafe {
            let chunk = &mut *(data as *mut Chunk);
            let info = &*info;
            let index = chunk.seen;
            chunk.seen += 1;
            if index < chunk.skip || info.dlpi_addr as usize == chunk.own_base {
                return 0;
            }
            if chunk.count == CHUNK {
                return 1;
            }
            let name = info.dlpi_name;
            if name.is_null() || *name == 0 {
                return 0;
            }
            let name = CStr::from_ptr(name).to_bytes_with_nul();
            if name.len() > NAME_BYTES {
                return 0;
            }
            let (mut start, mut end) = (usize::MAX, 0);
            for segment in 0..usize::from(info.dlpi_phnum) {
                let header = &*info.dlpi_phdr.add(segment);
                if header.p_type == libc::PT_LOAD {
                    let at = info.dlpi_addr as usize + header.p_vaddr as usize;
                    start = start.min(at);
                    end = end.max(at + header.p_memsz as usize);
                }
            }
            chunk.names[chunk.count][..name.len()].copy_from_slice(name);
            chunk.ranges[chunk.count] = (start, end);
            chunk.count += 1;
        }
        0
    }
    let own_base = own_base();
    let mut skip = 0;
    loop {
        let mut chunk = Chunk {
            skip,
            seen: 0,
            names: [[0; NAME_BYTES]; CHUNK],
            ranges: [(0, 0); CHUNK],
            count: 0,
            own_base,
        };
        // SAFETY: the callback above only reads the record and fills the
        // chunk; it calls no loader function.
        unsafe { libc::dl_iterate_phdr(Some(collect), &mut chunk as *mut Chunk as *mut c_void) };
        for index in 0..chunk.count {
            let Ok(name) = CStr::from_bytes_until_nul(&chunk.names[index]) else {
                continue;
            };
            if visit(name, chunk.ranges[index]) {
                return;
            }
        }
        if chunk.count < CHUNK {
            return;
        }
        skip = chunk.seen;
    }
}

/// The load address of zmqpool's own object.
fn own_base() -> usize {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only writes `info`; it accepts any address.
    if unsafe { libc::dladdr(own_base as *const c_void, info.as_mut_ptr()) } == 0 {
        return 0;
    }
    // SAFETY: filled by dladdr (which succeeded).
    unsafe { info.assume_init() }.dli_fbase as usize
}

fn resolve_in(handle: *mut c_void, found_in: Name, range: (usize, usize)) -> Option<RealLibzmq> {
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

/// True if the global scope's definition of `name` is zmqpool's own: the
/// program's calls reach zmqpool, not libzmq.
fn binds_to_us(name: &CStr) -> bool {
    // SAFETY: RTLD_DEFAULT and a NUL-terminated name.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    !symbol.is_null() && is_ours(symbol)
}

/// True if `symbol` lies in this zmqpool or in another copy of zmqpool (a
/// program linked with libzmqpool.so and run with libzmqpool-malloc.so
/// preloaded has two): neither is libzmq, whatever it exports.
fn is_zmqpool(symbol: *mut c_void) -> bool {
    is_ours(symbol) || other_zmqpool(symbol).is_some()
}

/// The path of the object holding `symbol` if that object is a copy of
/// zmqpool other than this one (it defines `zmqpool_version` itself).
fn other_zmqpool(symbol: *mut c_void) -> Option<&'static CStr> {
    let object = dl_object(symbol)?;
    if object.dli_fname.is_null() || is_ours(symbol) {
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
    let same =
        !version.is_null() && dl_object(version).is_some_and(|v| v.dli_fbase == object.dli_fbase);
    // SAFETY: the handle from the successful dlopen above, closed once.
    unsafe { libc::dlclose(handle) };
    // SAFETY: as above: the name lives as long as the loaded object.
    same.then(|| unsafe { CStr::from_ptr(object.dli_fname) })
}

/// dladdr's answer for `address`.
fn dl_object(address: *const c_void) -> Option<libc::Dl_info> {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only writes `info`; it accepts any address.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    // SAFETY: zero-initialised and possibly filled by dladdr; both are valid.
    (found != 0).then(|| unsafe { info.assume_init() })
}

/// The other zmqpool the process's `zmq_msg_init_size` binds to, if any
/// (then this copy is idle: every message call goes to that one).
pub fn served_by_other_zmqpool() -> Option<&'static CStr> {
    // SAFETY: RTLD_DEFAULT and a NUL-terminated name.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"zmq_msg_init_size".as_ptr()) };
    if symbol.is_null() {
        return None;
    }
    other_zmqpool(symbol)
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
