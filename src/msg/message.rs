//! A safe Rust owner of one `zmq_msg_t`.

use core::cell::UnsafeCell;
use core::ffi::c_void;

use super::layout::Msg;
use super::ops::{self, Errno, Result};

/// An owned message, layout-identical to `zmq_msg_t`: `as_raw_mut` hands it
/// to libzmq (`zmq_msg_send`), `from_raw` adopts one libzmq produced.
/// Clones share the body by reference count, as `zmq_msg_copy` does.
///
/// The message sits in an `UnsafeCell` because cloning through `&self` marks
/// the source shared (its flags byte changes), exactly as libzmq does.
///
/// Invariant: `raw` always holds a message satisfying M1-M6 (see `msg`)
/// that this `Message` alone owns; every constructor makes one, and only
/// `Drop` closes it.
#[repr(transparent)]
pub struct Message {
    raw: UnsafeCell<Msg>,
}

// SAFETY: a message may be sent to and closed on another thread; libzmq
// does that to every message it sends. Shared bodies are reference counted
// atomically, and nothing in a message is tied to the creating thread.
// Message is not Sync: `clone` writes the flags byte through `&self`.
unsafe impl Send for Message {}

impl Message {
    /// An empty message.
    pub fn new() -> Message {
        Message {
            raw: UnsafeCell::new(ops::EMPTY),
        }
    }

    /// A message with a zeroed body of `size` bytes.
    pub fn with_size(size: usize) -> Result<Message> {
        let mut message = Message::new();
        ops::init_size(message.raw.get_mut(), size)?;
        // Zeroed through the raw pointer: a `&mut [u8]` is never made over
        // the uninitialised body init_size leaves.
        // SAFETY: a live message this Message alone owns; data() only reads it.
        let body = unsafe { ops::data(message.raw.get()) } as *mut u8;
        if size != 0 && !body.is_null() {
            // SAFETY: init_size gave the message a body of exactly `size`
            // writable bytes (inline or a fresh pool block, M2).
            unsafe { body.write_bytes(0, size) };
        }
        Ok(message)
    }

    /// A message holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Result<Message> {
        let mut message = Message::new();
        // SAFETY: a slice is readable for its length.
        unsafe {
            ops::init_buffer(
                message.raw.get_mut(),
                bytes.as_ptr() as *const c_void,
                bytes.len(),
            )?
        };
        Ok(message)
    }

    /// Adopts a message initialised by libzmq or zmqpool; the caller's copy
    /// must not be used or closed afterwards.
    ///
    /// # Safety
    /// `raw` holds an initialised message.
    pub unsafe fn from_raw(raw: Msg) -> Message {
        Message {
            raw: UnsafeCell::new(raw),
        }
    }

    /// The underlying `zmq_msg_t`, for passing to libzmq.
    pub fn as_raw_mut(&mut self) -> *mut Msg {
        self.raw.get()
    }

    /// The body.
    pub fn as_slice(&self) -> &[u8] {
        let len = self.len();
        // SAFETY: `raw` is a live message; data() only reads it.
        let data = unsafe { ops::data(self.raw.get()) } as *const u8;
        if len == 0 || data.is_null() {
            return &[];
        }
        // SAFETY: the body of a live message is `len` readable bytes that
        // live as long as the message (an inline body lives inside it).
        unsafe { core::slice::from_raw_parts(data, len) }
    }

    /// The body, writable, when this message alone holds it: None while a
    /// clone shares it (another thread may be reading it) and for constant
    /// bodies (`zmq_msg_init_data` without a free function, adopted with
    /// [`Message::from_raw`]: the memory may be read-only). For a private
    /// copy, `Message::from_slice(message.as_slice())`.
    pub fn as_mut_slice(&mut self) -> Option<&mut [u8]> {
        // SAFETY: a Message always holds a live message (its invariant).
        if !unsafe { ops::is_exclusive(self.raw()) } {
            return None;
        }
        let len = self.len();
        // SAFETY: `raw` is a live message; data() only reads it.
        let data = unsafe { ops::data(self.raw.get()) } as *mut u8;
        if len == 0 || data.is_null() {
            return Some(&mut []);
        }
        // SAFETY: as in as_slice; `&mut self` and is_exclusive (no other
        // message holds the body, and it is not constant memory) make the
        // borrow exclusive.
        Some(unsafe { core::slice::from_raw_parts_mut(data, len) })
    }

    fn raw(&self) -> &Msg {
        // SAFETY: the only writes through `&self` (in clone) touch the flags
        // byte via a raw pointer while no `&Msg` from here is alive.
        unsafe { &*self.raw.get() }
    }

    /// Body length in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: a live message (the type's invariant).
        unsafe { ops::size(self.raw()) }.unwrap_or(0)
    }

    /// True when the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when another part of the same message follows (`ZMQ_MORE`).
    pub fn more(&self) -> bool {
        ops::more(self.raw())
    }

    /// True when the body is shared with other messages (`ZMQ_SHARED`).
    pub fn is_shared(&self) -> bool {
        // SAFETY: a live message (the type's invariant).
        (unsafe { ops::get(self.raw(), ops::ZMQ_SHARED) }) == Ok(1)
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl Clone for Message {
    fn clone(&self) -> Message {
        let mut copy = Message::new();
        let source = self.raw.get();
        // SAFETY: `source` is a live message. copy_to works on a bitwise
        // snapshot: it changes only the snapshot's flags (shared) and the
        // reference counts behind its pointers, which are shared anyway; the
        // new flags are written back in place, through the cell's pointer.
        unsafe {
            let mut snapshot = core::ptr::read(source);
            let result = ops::copy_to(copy.raw.get_mut(), &mut snapshot);
            if result.is_err() {
                // Only a message without a libzmq to manage its metadata can
                // fail here; an empty message is the honest clone then.
                return Message::new();
            }
            (*source).flags = snapshot.flags;
        }
        copy
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: `raw` is an initialised message owned by self.
        let _ = unsafe { ops::close(self.raw.get_mut()) };
    }
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("len", &self.len())
            .field("more", &self.more())
            .field("shared", &self.is_shared())
            .finish()
    }
}

impl From<Errno> for std::io::Error {
    fn from(errno: Errno) -> Self {
        std::io::Error::from_raw_os_error(errno.0)
    }
}
