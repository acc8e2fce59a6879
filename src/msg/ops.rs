//! The libzmq-exact message operations.
//!
//! Each function here does what the libzmq 4.3.x method of the same name
//! does to the same bytes, so a message may be created by one library and
//! copied, moved or closed by the other. Where the two differ it is because
//! libzmq would abort or touch freed memory; every such case is listed in
//! README.md ("Deviations from libzmq") and has a test in
//! `c_tests/test_msg.c`.
//!
//! The message invariants every `unsafe` block here relies on (cited as
//! M1..M6; the body kinds' own invariant B1 is in `body.rs`):
//!
//! - M1: the type byte names the kind (101..=107), or is anything else for
//!   a closed or never-initialised message, which carries no pointer that
//!   is followed (`check` refuses it with EFAULT).
//! - M2: an lmsg or zclmsg points (payload bytes 0..8) at a live content
//!   block until it is closed; a cmsg's data is the caller's and is never
//!   released; a vsm's body is inside the 64 bytes.
//! - M3: a message without the SHARED flag is the only holder of its
//!   content block (its reference count is not read); messages with SHARED
//!   count themselves in the block's reference count.
//! - M4: whoever drops the last reference releases the block as its kind
//!   says (B1 for zclmsg; lmsg: its free function, then `free()`), once.
//! - M5: a long group (group type 1) points at a live `malloc`ed
//!   `LongGroup` whose count holds every message that points at it; a
//!   closed message's group type is short.
//! - M6: a non-null metadata pointer is libzmq's C++ object; only libzmq's
//!   own functions touch it (see `libzmq/`).
//!
//! lmsg content and long groups are C `malloc` memory: libzmq frees them
//! with `free()`, and so do we. zmqpool never *creates* lmsg messages.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::AtomicU32;

use super::libzmq;
use crate::sync::refcount;

use super::body::{self, Body};
use super::layout::{
    self, flags, Content, FreeFn, Kind, LongGroup, Msg, GROUP_MAX_LENGTH, GROUP_TYPE_LONG,
    MAX_VSM_SIZE, SHORT_GROUP_MAX_LENGTH,
};

use super::events::{count, Event};
use crate::sys::errno::errno;

/// An errno value: every failure is reported the way libzmq reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type Result<T> = core::result::Result<T, Errno>;

/// `zmq_msg_get` / `zmq_msg_set` property names.
pub const ZMQ_MORE: c_int = 1;
pub const ZMQ_SRCFD: c_int = 2;
pub const ZMQ_SHARED: c_int = 3;

/// The empty message `zmq_msg_init` makes.
pub const EMPTY: Msg = Msg::EMPTY;

/// `zmq_msg_init`: an empty message.
pub(crate) fn init(msg: &mut Msg) {
    *msg = EMPTY;
}

/// `zmq_msg_init_size`: inline up to 33 bytes, otherwise one pool block
/// holding both the content block and the body (a zclmsg). The body is
/// left uninitialised, as in libzmq. On failure the message is left empty
/// (closable), whatever it held before: libzmq leaves a stale type byte.
#[inline(always)]
pub(crate) fn init_size(msg: &mut Msg, size: usize) -> Result<()> {
    init_size_with(msg, size, false)
}

/// [`init_size`]; `copy`: the caller fills the whole body.
#[inline(always)]
fn init_size_with(msg: &mut Msg, size: usize, copy: bool) -> Result<()> {
    // Only the fields libzmq's init_size sets are written (the inline
    // bytes are the caller's to fill): this is the hottest call there is.
    msg.metadata = core::ptr::null_mut();
    msg.flags = 0;
    msg.routing_id = 0;
    msg.group.clear_short();
    if size <= MAX_VSM_SIZE {
        msg.kind = Kind::Vsm as u8;
        msg.vsm_size = size as u8;
        count(Event::MessageInline);
        return Ok(());
    }
    let content = if copy {
        body::new_pool_message_for_copy(size)
    } else {
        body::new_pool_message(size)
    };
    if content.is_null() {
        *msg = EMPTY;
        return Err(Errno(libc::ENOMEM));
    }
    msg.kind = Kind::Zclmsg as u8;
    msg.set_content(content);
    Ok(())
}

/// Makes `out` an inline message holding a copy of `bytes` (at most 33),
/// the fields set as [`init_size`] sets them, for a reader of frames (the
/// decoder): not counted as a message zmqpool built. `out` is overwritten,
/// not closed.
pub(crate) fn init_inline_copy(bytes: &[u8], out: &mut Msg) {
    debug_assert!(bytes.len() <= MAX_VSM_SIZE);
    let len = bytes.len().min(MAX_VSM_SIZE);
    out.metadata = core::ptr::null_mut();
    out.kind = Kind::Vsm as u8;
    out.vsm_size = len as u8;
    out.flags = 0;
    out.routing_id = 0;
    out.group.clear_short();
    out.inline_mut()[..len].copy_from_slice(&bytes[..len]);
}

/// Marks a message as one frame of a multi-part message (`more`) and/or a
/// ZMTP command (`command`), as a decoder does from the frame's flags.
pub(crate) fn mark_frame(msg: &mut Msg, more: bool, command: bool) {
    if more {
        msg.flags |= flags::MORE;
    }
    if command {
        msg.flags |= flags::COMMAND;
    }
}

/// `zmq_msg_init_buffer`: a message holding a copy of `buf`.
///
/// # Safety
/// `buf` is readable for `size` bytes (it may be null when `size` is 0).
pub(crate) unsafe fn init_buffer(msg: &mut Msg, buf: *const c_void, size: usize) -> Result<()> {
    if buf.is_null() && size != 0 {
        *msg = EMPTY;
        return Err(Errno(libc::EINVAL));
    }
    init_size_with(msg, size, true)?;
    if size != 0 {
        // SAFETY: the caller vouches for `buf`; init_size gave `msg` a body
        // of exactly `size` writable bytes (M2) that cannot overlap caller
        // memory.
        unsafe { core::ptr::copy_nonoverlapping(buf as *const u8, data(msg) as *mut u8, size) };
    }
    Ok(())
}

/// `zmq_msg_init_data`: a message over caller memory. Without a free
/// function it is a constant message (cmsg); with one, a zclmsg whose control
/// block comes from the pool ([`Body::UserData`]), and `ffn(data, hint)`
/// runs exactly once when the last reference is closed. On failure the
/// message is left empty.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn init_data(
    msg: &mut Msg,
    data: *mut c_void,
    size: usize,
    ffn: Option<FreeFn>,
    hint: *mut c_void,
) -> Result<()> {
    *msg = EMPTY;
    if data.is_null() && size != 0 {
        return Err(Errno(libc::EINVAL));
    }
    let Some(user_ffn) = ffn else {
        msg.kind = Kind::Cmsg as u8;
        msg.set_cmsg(data, size);
        return Ok(());
    };
    let content = body::new_user_data(data, size, user_ffn, hint);
    if content.is_null() {
        return Err(Errno(libc::ENOMEM));
    }
    msg.kind = Kind::Zclmsg as u8;
    msg.set_content(content);
    Ok(())
}

fn kind(msg: &Msg) -> Result<Kind> {
    Kind::from_byte(msg.kind).ok_or(Errno(libc::EFAULT))
}

/// libzmq's `check()`: EFAULT unless the type byte names a message kind.
pub(crate) fn check(msg: &Msg) -> Result<()> {
    kind(msg).map(|_| ())
}

fn has_content(kind: Kind) -> bool {
    matches!(kind, Kind::Lmsg | Kind::Zclmsg)
}

/// True when `msg` alone may write its body: not constant caller memory
/// (a cmsg, possibly read-only), and not shared, or shared but every other
/// holder is gone (their reads happen before the caller's writes: the
/// count is read with Acquire).
///
/// # Safety
/// `msg` is a live message (M1-M6): a shared lmsg/zclmsg's content pointer
/// is read through.
pub(crate) unsafe fn is_exclusive(msg: &Msg) -> bool {
    match kind(msg) {
        Ok(Kind::Vsm) => true,
        Ok(Kind::Lmsg | Kind::Zclmsg) => {
            msg.flags & flags::SHARED == 0
                // SAFETY: a live lmsg/zclmsg (the caller's contract) has a
                // live content block (M2).
                || refcount::only(unsafe { &(*msg.content()).refcnt }, 1)
        }
        _ => false,
    }
}

/// Drops one reference to a content block; true when it was the last one.
///
/// # Safety
/// `content` is the live content block of `msg`.
unsafe fn release_reference(msg: &Msg, content: *mut Content) -> bool {
    if msg.flags & flags::SHARED == 0 {
        return true;
    }
    // SAFETY: the caller guarantees `content` is live.
    refcount::release(unsafe { &(*content).refcnt }, 1)
}

/// `zmq_msg_close`. On success the message is left invalid (type 0), as in
/// libzmq; close it again and you get EFAULT.
///
/// # Safety
/// `msg` satisfies M1-M6 (initialised by zmqpool or libzmq, or closed or
/// invalid); its pointers are not otherwise in use.
#[inline(always)]
pub(crate) unsafe fn close(msg: &mut Msg) -> Result<()> {
    // The hot cases, checked first and inline, for messages without
    // metadata or a long group: a zmqpool body, then a message without a
    // content block. Everything else is out of line.
    const VSM: u8 = Kind::Vsm as u8;
    const DELIMITER: u8 = Kind::Delimiter as u8;
    const CMSG: u8 = Kind::Cmsg as u8;
    const JOIN: u8 = Kind::Join as u8;
    const LEAVE: u8 = Kind::Leave as u8;
    if msg.metadata.is_null() && msg.group.kind != GROUP_TYPE_LONG {
        if msg.kind == Kind::Zclmsg as u8 && msg.flags & flags::SHARED == 0 {
            let content = msg.content();
            // SAFETY: a zclmsg has a live content block (M2).
            if Body::of(unsafe { (*content).ffn }) == Body::Pool {
                // SAFETY: our own block, and this unshared message holds
                // its only reference (M3, B1).
                unsafe { body::release_pool_block(content) };
                msg.kind = 0;
                return Ok(());
            }
            // SAFETY: forwarded from the caller; an unshared zclmsg
            // without metadata or long group.
            return unsafe { close_unshared_zclmsg(msg) };
        }
        // Inline body, constant data, delimiter, join/leave: nothing to
        // release.
        if matches!(msg.kind, VSM | DELIMITER | CMSG | JOIN | LEAVE) {
            msg.kind = 0;
            return Ok(());
        }
    }
    // SAFETY: `msg` satisfies M1-M6 and its pointers are not otherwise in use
    // (close's contract): close_general's.
    unsafe { close_general(msg) }
}

/// [`close`] for an unshared zclmsg without metadata or long group whose
/// body is not a plain pool block (init_data, a decoder frame, libzmq's).
///
/// # Safety
/// As for [`close`], and `msg` is such a message.
#[inline(never)]
unsafe fn close_unshared_zclmsg(msg: &mut Msg) -> Result<()> {
    let content = msg.content();
    // SAFETY: a zclmsg has a live content block (M2), and this message
    // holds the only reference to it (M3).
    let (ffn, data, hint) = unsafe { ((*content).ffn, (*content).data, (*content).hint) };
    if !Body::of(ffn).is_zmqpool() {
        count(Event::LibzmqMessage);
    }
    if let Some(ffn) = ffn {
        // SAFETY: the last reference (M3): the release function runs once
        // and frees the content block too (M4, B1).
        unsafe { ffn(data, hint) }
    }
    msg.kind = 0;
    Ok(())
}

/// [`close`] for every other kind of message.
///
/// # Safety
/// As for [`close`].
#[inline(never)]
unsafe fn close_general(msg: &mut Msg) -> Result<()> {
    let kind = kind(msg)?;
    if !msg.metadata.is_null() {
        let real = libzmq::real().ok_or(Errno(libc::EFAULT))?;
        count(Event::LibzmqMessage);
        // SAFETY: the message has libzmq metadata, so libzmq made it and its
        // own close is the authority; it takes a pointer to the 64 bytes.
        return match unsafe { (real.close)(msg as *mut Msg as *mut c_void) } {
            0 => {
                // libzmq released the long group (if any) but leaves its
                // pointer and type behind (M5: a closed message holds none).
                msg.group.clear_short();
                Ok(())
            }
            _ => Err(Errno(errno())),
        };
    }
    if has_content(kind) {
        let content = msg.content();
        // SAFETY: an lmsg/zclmsg has a live content block (M2).
        if unsafe { release_reference(msg, content) } {
            // SAFETY: the last reference (M3): nobody else reads the block,
            // so its fields can be taken and the block released (M4).
            unsafe {
                let Content {
                    data, ffn, hint, ..
                } = content.read();
                let owner = Body::of(ffn);
                if kind == Kind::Zclmsg && owner == Body::Pool {
                    body::release_pool_block(content);
                    return finish_close(msg);
                }
                if kind == Kind::Lmsg || !owner.is_zmqpool() {
                    count(Event::LibzmqMessage);
                }
                if kind == Kind::Lmsg {
                    if let Some(ffn) = ffn {
                        ffn(data, hint);
                    }
                    libc::free(content as *mut c_void);
                } else if let Some(ffn) = ffn {
                    // A zclmsg's free function releases the content block too.
                    ffn(data, hint);
                }
            }
        }
    }
    finish_close(msg)
}

/// The part of [`close`] after the content: group, then invalidation.
fn finish_close(msg: &mut Msg) -> Result<()> {
    if msg.group.kind == GROUP_TYPE_LONG {
        // SAFETY: a long group is live while the message holds it (M5).
        unsafe { release_long_group(msg.long_group()) };
        // M5: a closed message keeps no long group (a later set_group or
        // close must not release it again).
        msg.group.clear_short();
    }
    msg.kind = 0;
    Ok(())
}

/// Drops one reference to a long group; the last frees it.
///
/// # Safety
/// `group` is live and the caller's reference is one of its count (M5).
unsafe fn release_long_group(group: *mut LongGroup) {
    // SAFETY: by the contract; the block came from C malloc (ours or
    // libzmq's), and the last holder frees it.
    unsafe {
        if refcount::release(&(*group).refcnt, 1) {
            libc::free(group as *mut c_void);
        }
    }
}

/// `zmq_msg_move`: closes `dest`, moves `src` into it, re-initialises `src`.
///
/// # Safety
/// As for [`close`], for both messages.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) unsafe fn move_to(dest: &mut Msg, src: &mut Msg) -> Result<()> {
    kind(src)?;
    // SAFETY: `dest` satisfies M1-M6 and is not otherwise in use (this
    // function's contract, close's for each message).
    unsafe { close(dest)? };
    // SAFETY: both are valid 64-byte messages and distinct (&mut); the
    // pointers and references `src` held now belong to `dest` alone.
    unsafe { core::ptr::copy_nonoverlapping(src as *const Msg, dest as *mut Msg, 1) };
    init(src);
    Ok(())
}

/// `zmq_msg_move` where destination and source are the same message: what
/// libzmq's code does then (close, then re-initialise empty).
///
/// # Safety
/// As for [`close`].
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) unsafe fn move_onto_itself(msg: &mut Msg) -> Result<()> {
    kind(msg)?;
    // SAFETY: `dest` satisfies M1-M6 and is not otherwise in use (this
    // function's contract, close's for each message).
    unsafe { close(msg)? };
    init(msg);
    Ok(())
}

/// `zmq_msg_copy`: closes `dest`, then makes it share `src`'s content
/// (both become `shared`; nothing is copied).
///
/// # Safety
/// As for [`close`], for both messages.
pub(crate) unsafe fn copy_to(dest: &mut Msg, src: &mut Msg) -> Result<()> {
    let kind = kind(src)?;
    if !src.metadata.is_null() {
        let real = libzmq::real().ok_or(Errno(libc::EFAULT))?;
        // SAFETY: `src` carries libzmq metadata (M6), whose reference count
        // only libzmq may change; its zmq_msg_copy does the whole job,
        // closing `dest` (any kind, ours included) as we would.
        return match unsafe {
            (real.copy)(
                dest as *mut Msg as *mut c_void,
                src as *mut Msg as *mut c_void,
            )
        } {
            0 => Ok(()),
            _ => Err(Errno(errno())),
        };
    }
    // SAFETY: `dest` satisfies M1-M6 and is not otherwise in use (this
    // function's contract, close's for each message).
    unsafe { close(dest)? };
    if has_content(kind) {
        // SAFETY: an lmsg/zclmsg has a live content block (M2).
        let count = unsafe { &(*src.content()).refcnt };
        if src.flags & flags::SHARED != 0 {
            refcount::acquire(count, 1);
        } else {
            // A message becoming shared starts the count at its two
            // holders (M3).
            src.flags |= flags::SHARED;
            refcount::share(count, 2);
        }
    }
    if src.group.kind == GROUP_TYPE_LONG {
        // SAFETY: the long group is live while `src` holds it (M5).
        refcount::acquire(unsafe { &(*src.long_group()).refcnt }, 1);
    }
    // SAFETY: both are valid, distinct 64-byte messages; the references
    // taken above are `dest`'s.
    unsafe { core::ptr::copy_nonoverlapping(src as *const Msg, dest as *mut Msg, 1) };
    Ok(())
}

/// `zmq_msg_data`. libzmq aborts for kinds without a body (delimiter, join,
/// leave, invalid); zmqpool returns null.
///
/// Takes a raw pointer, read without assuming alignment (libzmq works on a
/// `zmq_msg_t` at any address on x86-64), because the C caller writes
/// through the result: an inline body's address is derived from `msg`.
///
/// # Safety
/// `msg` points at 64 readable bytes holding a message (M1-M6).
pub(crate) unsafe fn data(msg: *mut Msg) -> *mut c_void {
    let at = msg as *mut u8;
    // SAFETY: the caller vouches for the 64 bytes; every field is read at
    // its offset without assuming alignment.
    unsafe {
        // Read as a pointer (not an integer), keeping its provenance.
        let pointer = || (at.add(layout::PAYLOAD_AT) as *const *mut c_void).read_unaligned();
        match Kind::from_byte(at.add(layout::KIND_AT).read()) {
            Some(Kind::Vsm) => at.add(layout::PAYLOAD_AT) as *mut c_void,
            // A live content block (M2); its first field is the data.
            Some(Kind::Lmsg | Kind::Zclmsg) => (*(pointer() as *const Content)).data,
            Some(Kind::Cmsg) => pointer(),
            _ => core::ptr::null_mut(),
        }
    }
}

/// `zmq_msg_size`; `None` where libzmq aborts (see [`data`]).
///
/// # Safety
/// `msg` satisfies M1-M6.
pub(crate) unsafe fn size(msg: &Msg) -> Option<usize> {
    match Kind::from_byte(msg.kind)? {
        Kind::Vsm => Some(msg.vsm_size as usize),
        // SAFETY: an lmsg/zclmsg has a live content block (M2).
        Kind::Lmsg | Kind::Zclmsg => Some(unsafe { (*msg.content()).size }),
        Kind::Cmsg => Some(msg.cmsg_size()),
        _ => None,
    }
}

/// `zmq_msg_more`.
pub(crate) fn more(msg: &Msg) -> bool {
    msg.flags & flags::MORE != 0
}

/// `zmq_msg_get`.
///
/// # Safety
/// `msg` satisfies M1-M6.
pub(crate) unsafe fn get(msg: &Msg, property: c_int) -> Result<c_int> {
    match property {
        ZMQ_MORE => Ok(more(msg) as c_int),
        ZMQ_SHARED => Ok((msg.kind == Kind::Cmsg as u8 || msg.flags & flags::SHARED != 0) as c_int),
        ZMQ_SRCFD => {
            if msg.metadata.is_null() {
                return Err(Errno(libc::EINVAL));
            }
            let real = libzmq::real().ok_or(Errno(libc::EINVAL))?;
            // SAFETY: the message carries libzmq metadata (M6); libzmq reads it.
            match unsafe { (real.get)(msg as *const Msg as *const c_void, property) } {
                -1 => Err(Errno(errno())),
                fd => Ok(fd),
            }
        }
        _ => Err(Errno(libc::EINVAL)),
    }
}

/// `zmq_msg_gets`: metadata properties; EINVAL when there is none.
///
/// # Safety
/// `msg` satisfies M1-M6; `property` is a NUL-terminated string.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) unsafe fn gets(msg: &Msg, property: *const c_char) -> Result<*const c_char> {
    if msg.metadata.is_null() {
        return Err(Errno(libc::EINVAL));
    }
    let real = libzmq::real().ok_or(Errno(libc::EINVAL))?;
    // SAFETY: the message carries libzmq metadata (M6), which only libzmq
    // reads; the caller vouches for `property`.
    let value = unsafe { (real.gets)(msg as *const Msg as *const c_void, property) };
    if value.is_null() {
        Err(Errno(errno()))
    } else {
        Ok(value)
    }
}

/// `zmq_msg_routing_id`.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn routing_id(msg: &Msg) -> u32 {
    msg.routing_id
}

/// `zmq_msg_set_routing_id`: 0 is not a routing id (EINVAL).
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn set_routing_id(msg: &mut Msg, routing_id: u32) -> Result<()> {
    if routing_id == 0 {
        return Err(Errno(libc::EINVAL));
    }
    msg.routing_id = routing_id;
    Ok(())
}

/// `zmq_msg_group`: the group name; `msg` is read in place, without
/// assuming alignment, because a short name lives inside it.
///
/// # Safety
/// `msg` points at 64 readable bytes holding a message (M1-M6).
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) unsafe fn group(msg: *const Msg) -> *const c_char {
    let at = msg as *const u8;
    // SAFETY: the caller vouches for the 64 bytes; a long group is live
    // while the message holds it (M5).
    unsafe {
        if at.add(layout::GROUP_AT).read() == GROUP_TYPE_LONG {
            let group = (at.add(layout::LONG_GROUP_AT) as *const *const LongGroup).read_unaligned();
            (*group).group.as_ptr() as *const c_char
        } else {
            at.add(layout::GROUP_AT + 1) as *const c_char
        }
    }
}

/// `zmq_msg_set_group` with the name's bytes: libzmq 4.3.x reads at most
/// 255 characters of the name (`strnlen`), so the caller passes at most
/// that; names over 14 bytes go to a malloc'd, reference-counted block as
/// in libzmq. Unlike libzmq, a group the message already had is released
/// first (libzmq leaks it, and corrupts the message when a long group is
/// replaced by a short one).
///
/// A closed or invalid message is refused (EFAULT, as libzmq's other
/// operations do; libzmq writes into it).
///
/// # Safety
/// `msg` satisfies M1-M6.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) unsafe fn set_group(msg: &mut Msg, name: &[u8]) -> Result<()> {
    check(msg)?;
    let name = &name[..name.len().min(GROUP_MAX_LENGTH)];
    let new_long = if name.len() > SHORT_GROUP_MAX_LENGTH {
        // SAFETY: plain C allocation; libzmq may free it with free().
        let block = unsafe { libc::malloc(core::mem::size_of::<LongGroup>()) } as *mut LongGroup;
        if block.is_null() {
            return Err(Errno(libc::ENOMEM));
        }
        let mut bytes = [0u8; GROUP_MAX_LENGTH + 1];
        bytes[..name.len()].copy_from_slice(name);
        // SAFETY: fresh allocation, sized and (malloc) aligned for LongGroup.
        unsafe {
            block.write(LongGroup {
                group: bytes,
                refcnt: AtomicU32::new(1),
            })
        };
        Some(block)
    } else {
        None
    };
    if msg.group.kind == GROUP_TYPE_LONG {
        // SAFETY: the old long group is live while the message holds it (M5).
        unsafe { release_long_group(msg.long_group()) };
    }
    match new_long {
        Some(block) => msg.set_long_group(block),
        None => msg.group.set_short(name),
    }
    Ok(())
}
