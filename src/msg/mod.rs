//! libzmq-exact message operations.
//!
//! Each function here does what the libzmq 4.3.x method of the same name
//! does to the same bytes, so a message may be created by one library and
//! copied, moved or closed by the other. Where the two differ it is because
//! libzmq would abort or touch freed memory; every such case is listed in
//! README.md ("Deviations from libzmq").
//!
//! Ownership rules that make mixing safe:
//! - lmsg content and long groups are C `malloc` memory: libzmq frees them
//!   with `free()`, and so do we. zmqpool never *creates* lmsg messages.
//! - zmqpool's own memory leaves only inside zclmsg messages, whose content
//!   block names zmqpool's release function, so whichever library closes the
//!   message, on whichever thread, returns the block to zmqpool.
//! - metadata belongs to libzmq; operations that need it go to libzmq
//!   (see [`libzmq`]).

pub mod layout;
pub mod libzmq;
mod message;
pub mod socket;

pub use message::Message;

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicU32, Ordering};

use layout::{
    flags, Content, FreeFn, Group, Kind, LongGroup, Msg, GROUP_MAX_LENGTH, GROUP_TYPE_LONG,
    GROUP_TYPE_SHORT, MAX_VSM_SIZE, SHORT_GROUP_MAX_LENGTH,
};

use crate::pool;
use crate::pool::stats::Event;

/// An errno value: every failure is reported the way libzmq reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type Result<T> = core::result::Result<T, Errno>;

/// `zmq_msg_get` / `zmq_msg_set` property names.
pub const ZMQ_MORE: c_int = 1;
pub const ZMQ_SRCFD: c_int = 2;
pub const ZMQ_SHARED: c_int = 3;

/// Bytes between the start of a pool block and a message body: the content
/// block, padded so the body is 16-byte aligned like the pool's blocks.
const BODY_OFFSET: usize = 48;
const _: () = assert!(BODY_OFFSET >= core::mem::size_of::<Content>());
const _: () = assert!(BODY_OFFSET % pool::ALIGNMENT == 0);

/// The empty message `zmq_msg_init` makes.
pub const EMPTY: Msg = Msg {
    metadata: core::ptr::null_mut(),
    payload: [0; MAX_VSM_SIZE],
    vsm_size: 0,
    kind: Kind::Vsm as u8,
    flags: 0,
    routing_id: 0,
    group: Group {
        kind: GROUP_TYPE_SHORT,
        bytes: [0; 15],
    },
};

/// `zmq_msg_init`: an empty message.
pub fn init(msg: &mut Msg) {
    *msg = EMPTY;
}

/// `zmq_msg_init_size`: inline up to 33 bytes, otherwise one pool block
/// holding both the content block and the body (a zclmsg). The body is
/// left uninitialised, as in libzmq.
pub fn init_size(msg: &mut Msg, size: usize) -> Result<()> {
    // Only the fields libzmq's init_size sets are written (the inline
    // bytes are the caller's to fill): this is the hottest call there is.
    msg.metadata = core::ptr::null_mut();
    msg.flags = 0;
    msg.routing_id = 0;
    msg.group.kind = GROUP_TYPE_SHORT;
    msg.group.bytes[0] = 0;
    if size <= MAX_VSM_SIZE {
        msg.kind = Kind::Vsm as u8;
        msg.vsm_size = size as u8;
        pool::count(Event::MessageInline);
        return Ok(());
    }
    let total = size.checked_add(BODY_OFFSET).ok_or(Errno(libc::ENOMEM))?;
    let block = pool::alloc_counted(total, Event::MessagePooled);
    if block.is_null() {
        return Err(Errno(libc::ENOMEM));
    }
    let content = block as *mut Content;
    // SAFETY: `block` is a fresh pool block of BODY_OFFSET + size bytes,
    // aligned for Content; the body starts BODY_OFFSET bytes in.
    unsafe {
        content.write(Content {
            data: block.add(BODY_OFFSET) as *mut c_void,
            size,
            ffn: Some(release_pool_message),
            hint: block as *mut c_void,
            refcnt: AtomicU32::new(0),
        });
    }
    msg.kind = Kind::Zclmsg as u8;
    msg.set_content(content);
    Ok(())
}

/// Content release function of messages made by [`init_size`]: the hint is
/// the pool block holding content block and body.
unsafe extern "C" fn release_pool_message(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: only init_size installs this function, with the block as hint;
    // libzmq and zmqpool call it once, when the last reference goes.
    unsafe { pool::dealloc(hint as *mut u8) }
}

/// `zmq_msg_init_buffer`: a message holding a copy of `buf`.
///
/// # Safety
/// `buf` is readable for `size` bytes (it may be null when `size` is 0).
pub unsafe fn init_buffer(msg: &mut Msg, buf: *const c_void, size: usize) -> Result<()> {
    if buf.is_null() && size != 0 {
        return Err(Errno(libc::EINVAL));
    }
    init_size(msg, size)?;
    if size != 0 {
        // SAFETY: the caller vouches for `buf`; init_size gave `msg` a body
        // of exactly `size` writable bytes that cannot overlap caller memory.
        unsafe { core::ptr::copy_nonoverlapping(buf as *const u8, data(msg) as *mut u8, size) };
    }
    Ok(())
}

/// The control block of a `zmq_msg_init_data` message with a free function:
/// libzmq's content block, plus the user's free function and hint, since the
/// content block's own `ffn`/`hint` must point back at zmqpool to return
/// this block to the pool.
#[repr(C)]
struct UserDataBlock {
    content: Content,
    user_ffn: FreeFn,
    user_hint: *mut c_void,
}

/// `zmq_msg_init_data`: a message over caller memory. Without a free
/// function it is a constant message (cmsg); with one, a zclmsg whose control
/// block comes from the pool, and `ffn(data, hint)` runs exactly once when
/// the last reference is closed.
pub fn init_data(
    msg: &mut Msg,
    data: *mut c_void,
    size: usize,
    ffn: Option<FreeFn>,
    hint: *mut c_void,
) -> Result<()> {
    if data.is_null() && size != 0 {
        return Err(Errno(libc::EINVAL));
    }
    *msg = EMPTY;
    let Some(user_ffn) = ffn else {
        msg.kind = Kind::Cmsg as u8;
        msg.set_cmsg(data, size);
        return Ok(());
    };
    let block = pool::alloc_counted(
        core::mem::size_of::<UserDataBlock>(),
        Event::MessageUserData,
    ) as *mut UserDataBlock;
    if block.is_null() {
        return Err(Errno(libc::ENOMEM));
    }
    // SAFETY: `block` is a fresh pool block sized and aligned for UserDataBlock.
    unsafe {
        block.write(UserDataBlock {
            content: Content {
                data,
                size,
                ffn: Some(release_user_data),
                hint: block as *mut c_void,
                refcnt: AtomicU32::new(0),
            },
            user_ffn,
            user_hint: hint,
        });
    }
    msg.kind = Kind::Zclmsg as u8;
    msg.set_content(block as *mut Content);
    Ok(())
}

/// Content release function of `zmq_msg_init_data` messages.
unsafe extern "C" fn release_user_data(data: *mut c_void, hint: *mut c_void) {
    let block = hint as *mut UserDataBlock;
    // SAFETY: only init_data installs this function, with its live control
    // block as hint; it runs once, when the last reference goes, so the
    // block is read once and then returned.
    unsafe {
        let UserDataBlock {
            user_ffn,
            user_hint,
            ..
        } = block.read();
        pool::dealloc(block as *mut u8);
        user_ffn(data, user_hint);
    }
}

/// True for the release functions of bodies zmqpool made (pool message,
/// init_data control block, ZMTP decoder slot); anything else is libzmq's
/// (or another library's) body.
fn is_zmqpool_release(ffn: FreeFn) -> bool {
    core::ptr::fn_addr_eq(ffn, release_pool_message as FreeFn)
        || core::ptr::fn_addr_eq(ffn, release_user_data as FreeFn)
        || core::ptr::fn_addr_eq(ffn, crate::zmtp::RELEASE_DECODER_SLOT)
}

fn kind(msg: &Msg) -> Result<Kind> {
    Kind::from_byte(msg.kind).ok_or(Errno(libc::EFAULT))
}

/// libzmq's `check()`: EFAULT unless the type byte names a message kind.
pub fn check(msg: &Msg) -> Result<()> {
    kind(msg).map(|_| ())
}

fn has_content(kind: Kind) -> bool {
    matches!(kind, Kind::Lmsg | Kind::Zclmsg)
}

/// Drops one reference to a content block; true when it was the last one.
///
/// # Safety
/// `content` is the live content block of `msg`.
unsafe fn release_reference(msg: &Msg, content: *mut Content) -> bool {
    if msg.flags & flags::SHARED == 0 {
        return true;
    }
    // AcqRel: the thread dropping the last reference must see every write
    // other holders made to the body before it frees it (as in Arc::drop).
    // SAFETY: the caller guarantees `content` is live.
    unsafe { (*content).refcnt.fetch_sub(1, Ordering::AcqRel) == 1 }
}

/// `zmq_msg_close`. On success the message is left invalid (type 0), as in
/// libzmq; close it again and you get EFAULT.
///
/// # Safety
/// `msg` was initialised by zmqpool or libzmq, or is invalid (type byte
/// outside 101..=107); its pointers are not otherwise in use.
#[inline(always)]
pub unsafe fn close(msg: &mut Msg) -> Result<()> {
    // The hottest case, checked first and inline: an unshared zclmsg (a
    // zmqpool body, an init_data block, a decoder frame) with no metadata
    // and no long group.
    if msg.kind == Kind::Zclmsg as u8
        && msg.metadata.is_null()
        && msg.flags & flags::SHARED == 0
        && msg.group.kind != GROUP_TYPE_LONG
    {
        let content = msg.content();
        // SAFETY: a zclmsg always has a live content block, and this
        // message holds the only reference to it.
        let (ffn, data, hint) = unsafe { ((*content).ffn, (*content).data, (*content).hint) };
        match ffn {
            Some(ffn) if core::ptr::fn_addr_eq(ffn, release_pool_message as FreeFn) => {
                // SAFETY: our own block (content and body), released once.
                unsafe { pool::dealloc(content as *mut u8) };
            }
            // SAFETY: the last reference: the free function runs once, and
            // releases the content block with the data (zclmsg).
            Some(ffn) => unsafe {
                if !is_zmqpool_release(ffn) {
                    pool::count(Event::LibzmqMessage);
                }
                ffn(data, hint)
            },
            None => pool::count(Event::LibzmqMessage),
        }
        msg.kind = 0;
        return Ok(());
    }
    // SAFETY: forwarded from the caller.
    unsafe { close_general(msg) }
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
        pool::count(Event::LibzmqMessage);
        // SAFETY: the message has libzmq metadata, so libzmq made it and its
        // own close is the authority; it takes a pointer to the 64 bytes.
        return match unsafe { (real.close)(msg as *mut Msg as *mut c_void) } {
            0 => Ok(()),
            _ => Err(Errno(errno())),
        };
    }
    if has_content(kind) {
        let content = msg.content();
        // SAFETY: an lmsg/zclmsg always has a live content block.
        if unsafe { release_reference(msg, content) } {
            // Fast path for zmqpool's own message blocks: release directly
            // rather than through the function pointer.
            // SAFETY: the last reference: the block is ours to release.
            unsafe {
                if (*content)
                    .ffn
                    .is_some_and(|ffn| core::ptr::fn_addr_eq(ffn, release_pool_message as FreeFn))
                {
                    pool::dealloc(content as *mut u8);
                    return finish_close(msg);
                }
            }
            // SAFETY: this was the last reference: nobody else reads the
            // block, so its fields can be taken and the block released.
            unsafe {
                let Content {
                    data, ffn, hint, ..
                } = content.read();
                if kind == Kind::Lmsg || !ffn.is_some_and(is_zmqpool_release) {
                    pool::count(Event::LibzmqMessage);
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
        let group = msg.long_group();
        // AcqRel as for content: the last holder frees the block.
        // SAFETY: a long group pointer is live while the message holds it;
        // the block came from C malloc (ours or libzmq's).
        unsafe {
            if (*group).refcnt.fetch_sub(1, Ordering::AcqRel) == 1 {
                libc::free(group as *mut c_void);
            }
        }
    }
    msg.kind = 0;
    Ok(())
}

/// `zmq_msg_move`: closes `dest`, moves `src` into it, re-initialises `src`.
///
/// # Safety
/// As for [`close`], for both messages.
pub unsafe fn move_to(dest: &mut Msg, src: &mut Msg) -> Result<()> {
    kind(src)?;
    // SAFETY: forwarded from the caller.
    unsafe { close(dest)? };
    // SAFETY: both are valid 64-byte messages and distinct (&mut).
    unsafe { core::ptr::copy_nonoverlapping(src as *const Msg, dest as *mut Msg, 1) };
    init(src);
    Ok(())
}

/// `zmq_msg_move` where destination and source are the same message: what
/// libzmq's code does then (close, then re-initialise empty).
///
/// # Safety
/// As for [`close`].
pub unsafe fn move_onto_itself(msg: &mut Msg) -> Result<()> {
    kind(msg)?;
    // SAFETY: forwarded from the caller.
    unsafe { close(msg)? };
    init(msg);
    Ok(())
}

/// `zmq_msg_copy`: closes `dest`, then makes it share `src`'s content
/// (both become `shared`; nothing is copied).
///
/// # Safety
/// As for [`close`], for both messages.
pub unsafe fn copy_to(dest: &mut Msg, src: &mut Msg) -> Result<()> {
    let kind = kind(src)?;
    if !src.metadata.is_null() {
        let real = libzmq::real().ok_or(Errno(libc::EFAULT))?;
        // SAFETY: `src` carries libzmq metadata, whose reference count only
        // libzmq may change; its zmq_msg_copy does the whole job, closing
        // `dest` (any kind, ours included) as we would.
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
    // SAFETY: forwarded from the caller.
    unsafe { close(dest)? };
    if has_content(kind) {
        let content = src.content();
        // Relaxed suffices for adding a reference, as in Arc::clone: the new
        // holder already has access through `src`.
        // SAFETY: an lmsg/zclmsg always has a live content block.
        unsafe {
            if src.flags & flags::SHARED != 0 {
                (*content).refcnt.fetch_add(1, Ordering::Relaxed);
            } else {
                src.flags |= flags::SHARED;
                (*content).refcnt.store(2, Ordering::Relaxed);
            }
        }
    }
    if src.group.kind == GROUP_TYPE_LONG {
        // SAFETY: the long group is live while `src` holds it.
        unsafe { (*src.long_group()).refcnt.fetch_add(1, Ordering::Relaxed) };
    }
    // SAFETY: both are valid, distinct 64-byte messages.
    unsafe { core::ptr::copy_nonoverlapping(src as *const Msg, dest as *mut Msg, 1) };
    Ok(())
}

/// `zmq_msg_data`. libzmq aborts for kinds without a body (delimiter, join,
/// leave, invalid); zmqpool returns null.
///
/// Takes a raw pointer because the C caller writes through the result: an
/// inline body must be derived from a pointer that may write to the message.
///
/// # Safety
/// `msg` points at a readable message (valid or with an invalid type byte).
pub unsafe fn data(msg: *mut Msg) -> *mut c_void {
    // SAFETY: the caller vouches for `msg`; fields are read in place.
    unsafe {
        match Kind::from_byte((*msg).kind) {
            Some(Kind::Vsm) => core::ptr::addr_of_mut!((*msg).payload) as *mut c_void,
            // An lmsg/zclmsg always has a live content block.
            Some(Kind::Lmsg | Kind::Zclmsg) => (*(*msg).content()).data,
            Some(Kind::Cmsg) => (*msg).cmsg_data(),
            _ => core::ptr::null_mut(),
        }
    }
}

/// `zmq_msg_size`; `None` where libzmq aborts (see [`data`]).
pub fn size(msg: &Msg) -> Option<usize> {
    match Kind::from_byte(msg.kind)? {
        Kind::Vsm => Some(msg.vsm_size as usize),
        // SAFETY: an lmsg/zclmsg always has a live content block.
        Kind::Lmsg | Kind::Zclmsg => Some(unsafe { (*msg.content()).size }),
        Kind::Cmsg => Some(msg.cmsg_size()),
        _ => None,
    }
}

/// `zmq_msg_more`.
pub fn more(msg: &Msg) -> bool {
    msg.flags & flags::MORE != 0
}

/// `zmq_msg_get`.
pub fn get(msg: &Msg, property: c_int) -> Result<c_int> {
    match property {
        ZMQ_MORE => Ok(more(msg) as c_int),
        ZMQ_SHARED => Ok((msg.kind == Kind::Cmsg as u8 || msg.flags & flags::SHARED != 0) as c_int),
        ZMQ_SRCFD => {
            if msg.metadata.is_null() {
                return Err(Errno(libc::EINVAL));
            }
            let real = libzmq::real().ok_or(Errno(libc::EINVAL))?;
            // SAFETY: the message carries libzmq metadata; libzmq reads it.
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
/// `property` is a NUL-terminated string.
pub unsafe fn gets(msg: &Msg, property: *const c_char) -> Result<*const c_char> {
    if msg.metadata.is_null() {
        return Err(Errno(libc::EINVAL));
    }
    let real = libzmq::real().ok_or(Errno(libc::EINVAL))?;
    // SAFETY: the message carries libzmq metadata, which only libzmq reads;
    // the caller vouches for `property`.
    let value = unsafe { (real.gets)(msg as *const Msg as *const c_void, property) };
    if value.is_null() {
        Err(Errno(errno()))
    } else {
        Ok(value)
    }
}

/// `zmq_msg_routing_id`.
pub fn routing_id(msg: &Msg) -> u32 {
    msg.routing_id
}

/// `zmq_msg_set_routing_id`: 0 is not a routing id (EINVAL).
pub fn set_routing_id(msg: &mut Msg, routing_id: u32) -> Result<()> {
    if routing_id == 0 {
        return Err(Errno(libc::EINVAL));
    }
    msg.routing_id = routing_id;
    Ok(())
}

/// `zmq_msg_group`.
pub fn group(msg: &Msg) -> *const c_char {
    if msg.group.kind == GROUP_TYPE_LONG {
        // SAFETY: the long group is live while the message holds it.
        unsafe { (*msg.long_group()).group.as_ptr() as *const c_char }
    } else {
        msg.group.bytes.as_ptr() as *const c_char
    }
}

/// `zmq_msg_set_group`: names longer than 255 bytes give EINVAL; names over
/// 14 bytes go to a malloc'd, reference-counted block as in libzmq. Unlike
/// libzmq, a group the message already had is released first (libzmq leaks
/// it, and corrupts the message when a long group is replaced by a short one).
pub fn set_group(msg: &mut Msg, name: &CStr) -> Result<()> {
    let name = name.to_bytes();
    if name.len() > GROUP_MAX_LENGTH {
        return Err(Errno(libc::EINVAL));
    }
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
        let old = msg.long_group();
        // SAFETY: the old long group is live while the message holds it.
        unsafe {
            if (*old).refcnt.fetch_sub(1, Ordering::AcqRel) == 1 {
                libc::free(old as *mut c_void);
            }
        }
    }
    match new_long {
        Some(block) => msg.set_long_group(block),
        None => {
            msg.group.kind = GROUP_TYPE_SHORT;
            msg.group.bytes = [0; 15];
            msg.group.bytes[..name.len()].copy_from_slice(name);
        }
    }
    Ok(())
}

/// The calling thread's errno.
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
pub fn set_errno(value: c_int) {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() = value }
}

#[cfg(test)]
mod tests;
