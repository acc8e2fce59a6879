//! The kinds of body a message can own, in one place: who makes each, what
//! its content block is, and how it is released. Everything else in the
//! crate asks [`Body::of`] instead of comparing release functions itself.
//!
//! | kind | made by | content block | released (last reference) by |
//! | --- | --- | --- | --- |
//! | [`Body::Pool`] | `init_size`, `init_buffer`, `zmq_send` (over 33 bytes) | the first 48 bytes of one pool block whose rest is the body | `release_pool_message`: the block back to the pool |
//! | [`Body::UserData`] | `init_data` with a free function | a pool block: content block, the user's free function and hint | `release_user_data`: the user's function once, then the block |
//! | [`Body::DecoderSlot`] | a slot buffer's reader (the ZMTP decoder) | a slot inside the shared buffer (`slot_buffer.rs`) | `release_slot`: one reference to the buffer |
//! | [`Body::Foreign`] | libzmq (lmsg: `malloc`; its decoder's zero-copy frames) or another library's `init_data` | theirs | their free function, and `free()` for an lmsg's block |
//!
//! Invariant (B1): a zclmsg's content block names, in `ffn`, the function
//! that releases that block (and the body, for the first three kinds); the
//! `hint` is what that function needs. Whoever drops the last reference
//! calls it exactly once, on any thread; zmqpool's own functions only
//! touch pool memory, so libzmq may run them too.

use core::ffi::c_void;
use core::sync::atomic::AtomicU32;

use super::events::Event;
use super::layout::{Content, FreeFn};
use crate::pool;

/// Bytes between the start of a pool block and a message body: the content
/// block, padded so the body is 16-byte aligned like the pool's blocks.
pub(crate) const BODY_OFFSET: usize = 48;
const _: () = assert!(BODY_OFFSET >= core::mem::size_of::<Content>());
const _: () = assert!(BODY_OFFSET % pool::ALIGNMENT == 0);

/// Who owns a zclmsg's body, told by its release function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Pool,
    UserData,
    DecoderSlot,
    Foreign,
}

impl Body {
    /// The kind of body behind a content block's release function.
    #[inline(always)]
    pub(crate) fn of(ffn: Option<FreeFn>) -> Body {
        match ffn {
            Some(ffn) if core::ptr::fn_addr_eq(ffn, release_pool_message as FreeFn) => Body::Pool,
            Some(ffn) if core::ptr::fn_addr_eq(ffn, release_user_data as FreeFn) => Body::UserData,
            Some(ffn) if core::ptr::fn_addr_eq(ffn, super::slot_buffer::release_slot as FreeFn) => {
                Body::DecoderSlot
            }
            _ => Body::Foreign,
        }
    }

    /// True for the bodies zmqpool made.
    pub(crate) fn is_zmqpool(self) -> bool {
        self != Body::Foreign
    }
}

/// A pool message's content block, with `size` body bytes after it; null
/// when memory is exhausted or the size cannot be represented.
#[inline(always)]
pub(crate) fn new_pool_message(size: usize) -> *mut Content {
    new_pool_message_with(size, false)
}

/// [`new_pool_message`] for a body the caller fills whole (`zmq_send`,
/// `zmq_msg_init_buffer`; see `pool::alloc_counted_copy`).
pub(crate) fn new_pool_message_for_copy(size: usize) -> *mut Content {
    new_pool_message_with(size, true)
}

#[inline(always)]
fn new_pool_message_with(size: usize, copy: bool) -> *mut Content {
    let Some(total) = size.checked_add(BODY_OFFSET) else {
        return core::ptr::null_mut();
    };
    let block = if copy {
        pool::alloc_counted_copy(total, Event::MessagePooled.slot())
    } else {
        pool::alloc_counted(total, Event::MessagePooled.slot())
    };
    if block.is_null() {
        return core::ptr::null_mut();
    }
    let content = block as *mut Content;
    // SAFETY: `block` is a fresh pool block of BODY_OFFSET + size bytes,
    // aligned for Content; the body starts BODY_OFFSET bytes in (B1).
    unsafe {
        content.write(Content {
            data: block.add(BODY_OFFSET) as *mut c_void,
            size,
            ffn: Some(release_pool_message),
            hint: block as *mut c_void,
            refcnt: AtomicU32::new(0),
        });
    }
    content
}

/// Releases a pool message's block directly (what its release function
/// does, without the call through the pointer).
///
/// # Safety
/// `content` is a [`Body::Pool`] content block whose last reference is
/// being dropped (B1).
#[inline(always)]
pub(crate) unsafe fn release_pool_block(content: *mut Content) {
    // SAFETY: the content block is the start of the pool block (B1).
    unsafe { pool::dealloc_inline(content as *mut u8) }
}

/// Content release function of [`Body::Pool`]: the hint is the pool block
/// holding content block and body.
unsafe extern "C" fn release_pool_message(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: only new_pool_message installs this function, with the block
    // as hint; it runs once, for the last reference (B1).
    unsafe { pool::dealloc(hint as *mut u8) }
}

/// The control block of a [`Body::UserData`] message: libzmq's content
/// block, plus the user's free function and hint, since the content block's
/// own `ffn`/`hint` must point back at zmqpool to return this block.
#[repr(C)]
struct UserDataBlock {
    content: Content,
    user_ffn: FreeFn,
    user_hint: *mut c_void,
}

/// A user-data message's content block over `size` bytes at `data`; null
/// when memory is exhausted.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn new_user_data(
    data: *mut c_void,
    size: usize,
    user_ffn: FreeFn,
    user_hint: *mut c_void,
) -> *mut Content {
    let block = pool::alloc_counted(
        core::mem::size_of::<UserDataBlock>(),
        Event::MessageUserData.slot(),
    ) as *mut UserDataBlock;
    if block.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `block` is a fresh pool block sized and aligned for
    // UserDataBlock (B1: ffn and hint name this block).
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
            user_hint,
        });
    }
    block as *mut Content
}

/// Content release function of [`Body::UserData`].
unsafe extern "C" fn release_user_data(data: *mut c_void, hint: *mut c_void) {
    let block = hint as *mut UserDataBlock;
    // SAFETY: only new_user_data installs this function, with its live
    // control block as hint; it runs once, for the last reference (B1), so
    // the block is read once and then returned.
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
