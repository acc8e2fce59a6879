//! The ZMTP frame decoder's state machine.
//!
//! The caller reads bytes into the buffer [`Decoder::get_buffer`] names
//! and hands them to [`Decoder::decode`]. That buffer is a slot buffer
//! (`msg/slot_buffer.rs`): a frame whose body lies wholly in it becomes a
//! zero-copy message pointing into it, and the block is released when the
//! decoder and the last such message are done with it, on whatever thread
//! that happens.
//!
//! A frame too large for the buffer, or not wholly in it, is read into a
//! message from the pool; once the rest of its body is at least a buffer
//! long, `get_buffer` points straight into that body, so large bodies are
//! read with no extra copy. Bytes that do not come from the decoder's own
//! buffer ([`Decoder::decode_slice`]) are always copied: a message never
//! points into memory the decoder does not own.
//!
//! The safe Rust way in is [`Decoder::buffer`], whose guard
//! (`read_buffer.rs`) hands the region out and commits what was written.

use core::ffi::c_int;

use super::frame::{DEFAULT_BATCH, FLAGS_RESERVED, FLAG_COMMAND, FLAG_LONG, FLAG_MORE};
use crate::msg::layout::{Msg, MAX_VSM_SIZE};
use crate::msg::slot_buffer::SlotBuffer;
use crate::msg::{self, Errno, Message, Result, EMPTY};

/// Smallest buffer: larger than any inline body, so `get_buffer` only ever
/// points into heap memory.
const MIN_BUFFER: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum State {
    Flags,
    Size,
    /// The size is known but its message could not be made yet (ENOMEM,
    /// which is not a stream error): the next call tries again.
    Alloc,
    Body,
}

/// A decoding error, with how many bytes of the input were consumed before
/// it: EPROTO and EMSGSIZE mean a broken stream (every later call fails
/// the same way); ENOMEM means the next message could not be made, and the
/// caller may call again with the unconsumed rest once memory is back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub errno: Errno,
    pub consumed: usize,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ZMTP decode failed with errno {} after {} bytes",
            self.errno.0, self.consumed
        )
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for std::io::Error {
    fn from(error: DecodeError) -> Self {
        std::io::Error::from_raw_os_error(error.errno.0)
    }
}

/// A ZMTP frame decoder (see the module documentation).
pub struct Decoder {
    buf_size: usize,
    max_msg_size: i64,
    pub(super) shared: Option<SlotBuffer>,
    /// False while decoding bytes the decoder does not own
    /// ([`Decoder::decode_slice`]): no zero-copy message is made from them.
    input_is_own: bool,
    pub(super) state: State,
    frame_flags: u8,
    size_bytes: [u8; 8],
    size_have: usize,
    /// The message being filled (State::Body): a pool zclmsg.
    in_progress: Msg,
    pub(super) body_size: usize,
    pub(super) body_filled: usize,
    /// Bytes of the in-progress body known to be initialised (zeroed for
    /// ReadBuffer::as_mut_slice, or written).
    pub(super) body_zeroed: usize,
    /// Bytes of the shared buffer a commit could not decode for lack of
    /// memory (ENOMEM): decoded by `resume` before the buffer is reused.
    pending_at: *const u8,
    pub(super) pending_len: usize,
    ready: Msg,
    has_ready: bool,
    /// Sticky errno after malformed input (0: none).
    error: c_int,
}

// SAFETY: the decoder owns its buffer reference and messages; nothing in it
// is tied to a thread (shared buffers are released atomically).
unsafe impl Send for Decoder {}

impl Decoder {
    /// A decoder reading `buf_size` bytes at a time (0: 8192; at least 64),
    /// refusing messages above `max_msg_size` bytes (EMSGSIZE; negative: no
    /// limit).
    ///
    /// Set a limit when the peer is not trusted: without one, 9 bytes of
    /// frame header can announce a body of any size, and the decoder tries
    /// to allocate it (sizes beyond the machine's memory fail with ENOMEM,
    /// but anything below is reserved for the peer to fill, or not).
    pub fn new(buf_size: usize, max_msg_size: i64) -> Result<Decoder> {
        let buf_size = match buf_size {
            0 => DEFAULT_BATCH,
            n => n.max(MIN_BUFFER),
        };
        if buf_size > isize::MAX as usize / 2 {
            return Err(Errno(libc::EINVAL));
        }
        Ok(Decoder {
            buf_size,
            max_msg_size,
            shared: None,
            input_is_own: true,
            state: State::Flags,
            frame_flags: 0,
            size_bytes: [0; 8],
            size_have: 0,
            in_progress: EMPTY,
            body_size: 0,
            body_filled: 0,
            body_zeroed: 0,
            pending_at: core::ptr::null(),
            pending_len: 0,
            ready: EMPTY,
            has_ready: false,
            error: 0,
        })
    }

    pub(super) fn body_ptr(&mut self) -> *mut u8 {
        // SAFETY: in State::Body, in_progress is a live message.
        unsafe { msg::data(&mut self.in_progress) as *mut u8 }
    }

    /// Where the caller should read the next bytes, and how many. The
    /// region stays valid until the next call that takes `&mut self`.
    pub(crate) fn get_buffer(&mut self) -> Result<(*mut u8, usize)> {
        if self.state == State::Body && self.body_size - self.body_filled >= self.buf_size {
            // Straight into the body of a large message: no copy later.
            let at = self.body_ptr().wrapping_add(self.body_filled);
            return Ok((at, self.body_size - self.body_filled));
        }
        let shared = match self.shared.take() {
            // Reused only when no message made from it is alive.
            Some(mut shared) => {
                if shared.reset() {
                    shared
                } else {
                    shared.release();
                    SlotBuffer::new(self.buf_size).ok_or(Errno(libc::ENOMEM))?
                }
            }
            None => SlotBuffer::new(self.buf_size).ok_or(Errno(libc::ENOMEM))?,
        };
        let region = (shared.data(), shared.capacity());
        self.shared = Some(shared);
        Ok(region)
    }

    fn fail(&mut self, errno: c_int) -> Errno {
        if self.state == State::Body {
            // SAFETY: the in-progress message is live in State::Body.
            let _ = unsafe { msg::close(&mut self.in_progress) };
        }
        self.state = State::Flags;
        self.error = errno;
        Errno(errno)
    }

    fn make_ready(&mut self, m: Msg) {
        self.ready = m;
        self.mark_ready();
    }

    /// Sets the ready message's flags from the frame's and marks it ready.
    #[inline(always)]
    fn mark_ready(&mut self) {
        msg::mark_frame(
            &mut self.ready,
            self.frame_flags & FLAG_MORE != 0,
            self.frame_flags & FLAG_COMMAND != 0,
        );
        self.has_ready = true;
        self.state = State::Flags;
    }

    /// Decodes `size` bytes at `data`: how many were consumed, and whether a
    /// message is ready (then call again with the rest, after
    /// [`Decoder::take`]), or the error after how many were consumed.
    ///
    /// # Safety
    /// `data` is readable for `size` bytes and, if it lies in the buffer
    /// `get_buffer` named, those bytes were written there by the caller.
    pub(crate) unsafe fn decode(&mut self, data: *const u8, size: usize) -> (usize, Result<bool>) {
        if self.error != 0 {
            return (0, Err(Errno(self.error)));
        }
        if self.has_ready {
            // The previous message has not been taken yet.
            return (0, Err(Errno(libc::EAGAIN)));
        }
        let mut pos = 0;
        if let Some(filled) = self.filled_in_place(data, size) {
            pos = filled;
            if self.has_ready {
                return (pos, Ok(true));
            }
        }
        while pos < size || self.state == State::Alloc {
            if self.state == State::Flags && size - pos >= 2 {
                // SAFETY: pos + 2 <= size: in bounds by the contract.
                if let Some(used) = unsafe { self.short_frame(data.add(pos), size - pos) } {
                    return (pos + used, Ok(true));
                }
            }
            // SAFETY: pos <= size: the rest is in bounds by the contract.
            match unsafe { self.step(data.add(pos), size - pos) } {
                Ok(used) => pos += used,
                Err(errno) => return (pos, Err(errno)),
            }
            if self.has_ready {
                return (pos, Ok(true));
            }
        }
        (pos, Ok(false))
    }

    /// The caller read straight into the body being filled (`get_buffer`
    /// named it): counts the bytes in; None if `data` is not that spot.
    fn filled_in_place(&mut self, data: *const u8, size: usize) -> Option<usize> {
        if self.state != State::Body
            || size == 0
            || !core::ptr::eq(data, self.body_ptr().wrapping_add(self.body_filled))
        {
            return None;
        }
        let n = size.min(self.body_size - self.body_filled);
        self.body_filled += n;
        if self.body_filled == self.body_size {
            let done = core::mem::replace(&mut self.in_progress, EMPTY);
            self.make_ready(done);
        }
        Some(n)
    }

    /// The common case in one step: a short frame whose body is all in the
    /// `available` bytes at `data`, built straight into the ready slot.
    /// None when the frame needs the general path (long, reserved bits,
    /// over the limit, not all here, or no zero-copy slot free).
    ///
    /// # Safety
    /// `data` is readable for `available` >= 2 bytes.
    #[inline(always)]
    unsafe fn short_frame(&mut self, data: *const u8, available: usize) -> Option<usize> {
        // SAFETY: two bytes are in bounds by the contract.
        let (byte, len) = unsafe { (*data, usize::from(*data.add(1))) };
        if byte & (FLAGS_RESERVED | FLAG_LONG) != 0
            || len > available - 2
            || (self.max_msg_size >= 0 && len as u64 > self.max_msg_size as u64)
        {
            return None;
        }
        // SAFETY: the body's len bytes are in bounds (checked above).
        let at = unsafe { data.add(2) };
        if len <= MAX_VSM_SIZE {
            // Inline body, written straight into the ready slot.
            // SAFETY: len <= 33 bytes in bounds of the input (checked above).
            let body = unsafe { core::slice::from_raw_parts(at, len) };
            msg::init_inline_copy(body, &mut self.ready);
        } else if !self.zero_copy(at, len, len) {
            return None;
        }
        self.frame_flags = byte;
        self.mark_ready();
        Some(2 + len)
    }

    /// One step of the general state machine over `available` bytes at
    /// `data`: how many it consumed.
    ///
    /// # Safety
    /// `data` is readable for `available` bytes (which may be 0 only in
    /// State::Alloc).
    unsafe fn step(&mut self, data: *const u8, available: usize) -> Result<usize> {
        match self.state {
            State::Flags => {
                // SAFETY: available >= 1 outside State::Alloc.
                let byte = unsafe { *data };
                if byte & FLAGS_RESERVED != 0 {
                    return Err(self.fail(libc::EPROTO));
                }
                self.frame_flags = byte;
                self.size_have = 0;
                self.state = State::Size;
                Ok(1)
            }
            // SAFETY: `data` is readable for `available` bytes (step's contract):
            // what read_size and start_body require.
            State::Size => unsafe { self.read_size(data, available) },
            // SAFETY: `data` is readable for `available` bytes (step's contract):
            // what read_size and start_body require.
            State::Alloc => unsafe { self.start_body(data, available) },
            State::Body => {
                let n = (self.body_size - self.body_filled).min(available);
                let target = self.body_ptr();
                // SAFETY: n bytes are in bounds of the input; the body has
                // body_size - body_filled >= n bytes left, and a fresh pool
                // body cannot overlap the input.
                unsafe { core::ptr::copy_nonoverlapping(data, target.add(self.body_filled), n) };
                self.body_filled += n;
                if self.body_filled == self.body_size {
                    let done = core::mem::replace(&mut self.in_progress, EMPTY);
                    self.make_ready(done);
                }
                Ok(n)
            }
        }
    }

    /// Reads (the rest of) a frame's size, then starts its body.
    ///
    /// # Safety
    /// `data` is readable for `available` bytes.
    unsafe fn read_size(&mut self, data: *const u8, available: usize) -> Result<usize> {
        let need = if self.frame_flags & FLAG_LONG != 0 {
            8
        } else {
            1
        };
        let n = (need - self.size_have).min(available);
        // SAFETY: n bytes are in bounds; the target range lies inside
        // size_bytes (size_have + n <= 8).
        unsafe {
            core::ptr::copy_nonoverlapping(
                data,
                self.size_bytes.as_mut_ptr().add(self.size_have),
                n,
            )
        };
        self.size_have += n;
        if self.size_have < need {
            return Ok(n);
        }
        let body_size = if need == 8 {
            u64::from_be_bytes(self.size_bytes)
        } else {
            u64::from(self.size_bytes[0])
        };
        if body_size > isize::MAX as u64
            || (self.max_msg_size >= 0 && body_size > self.max_msg_size as u64)
        {
            return Err(self.fail(libc::EMSGSIZE));
        }
        self.body_size = body_size as usize;
        // The header is consumed: the next step makes the message (and,
        // if that fails, the consumed bytes are still reported).
        self.state = State::Alloc;
        Ok(n)
    }

    /// Makes the message for a body of `body_size` bytes: ready at once if
    /// empty, zero-copy if all of it is in the shared buffer, else a pool
    /// message to fill. ENOMEM leaves the decoder in State::Alloc to try
    /// again on the next call. Returns the bytes consumed.
    ///
    /// # Safety
    /// `data` is readable for `available` bytes.
    unsafe fn start_body(&mut self, data: *const u8, available: usize) -> Result<usize> {
        let body_size = self.body_size;
        if body_size == 0 {
            self.make_ready(EMPTY);
            return Ok(0);
        }
        if self.zero_copy(data, body_size, available) {
            self.mark_ready();
            return Ok(body_size);
        }
        let mut m = EMPTY;
        msg::init_size(&mut m, body_size)?;
        self.in_progress = m;
        self.body_filled = 0;
        self.body_zeroed = 0;
        self.state = State::Body;
        Ok(0)
    }

    /// Makes the ready slot a zero-copy message for a body of `len` bytes at
    /// `at`, if it lies wholly inside the current shared buffer, is too
    /// large to be inline, and a slot is free.
    #[inline(always)]
    fn zero_copy(&mut self, at: *const u8, len: usize, available: usize) -> bool {
        if len <= MAX_VSM_SIZE || available < len || !self.input_is_own {
            return false;
        }
        match self.shared.as_mut() {
            // SAFETY: the body lies inside the buffer's data (checked) and
            // was read into it by the caller (the decoder's own input).
            Some(shared) if shared.contains(at, len) => unsafe {
                shared.message_into(at, len, &mut self.ready)
            },
            _ => false,
        }
    }

    /// True when a decoded message waits to be taken.
    pub fn is_ready(&self) -> bool {
        self.has_ready
    }

    /// The ready message, if any.
    pub(crate) fn take(&mut self) -> Option<Msg> {
        if !self.has_ready {
            return None;
        }
        self.has_ready = false;
        // SAFETY: the ready message moves out; has_ready (now false) keeps
        // the stale bytes left behind from being used or closed again.
        Some(unsafe { core::ptr::read(&self.ready) })
    }

    // ---- the safe Rust API ------------------------------------------------

    /// Bytes of the last commit still waiting (it failed with ENOMEM after
    /// consuming the rest).
    pub fn pending(&self) -> usize {
        self.pending_len
    }

    /// Decodes what an earlier commit left for lack of memory, appending
    /// every complete message to `out`; Ok at once if nothing waits. On
    /// ENOMEM again, the rest keeps waiting.
    pub fn resume(&mut self, out: &mut Vec<Message>) -> core::result::Result<(), DecodeError> {
        if self.pending_len == 0 {
            return Ok(());
        }
        let (at, len) = (self.pending_at, self.pending_len);
        self.pending_len = 0;
        // SAFETY: the pending bytes lie in the shared buffer, which stays
        // allocated (the decoder holds it) and unchanged (buffer() refuses
        // to hand it out again while bytes are pending).
        let result = unsafe { self.decode_all(at, len, out) };
        self.keep_pending(at, len, &result);
        result
    }

    /// After decoding `len` bytes at `at` from the decoder's own buffer:
    /// keeps the unconsumed rest when the failure was ENOMEM.
    pub(super) fn keep_pending(
        &mut self,
        at: *const u8,
        len: usize,
        result: &core::result::Result<(), DecodeError>,
    ) {
        if let Err(error) = result {
            if error.errno.0 == libc::ENOMEM && error.consumed < len {
                self.pending_at = at.wrapping_add(error.consumed);
                self.pending_len = len - error.consumed;
            }
        }
    }

    /// Decodes bytes held elsewhere, appending every complete message to
    /// `out`. Every body is copied into a message of its own, whatever the
    /// slice is (even the body of a message this decoder made): messages
    /// made here never alias the caller's memory.
    pub fn decode_slice(
        &mut self,
        data: &[u8],
        out: &mut Vec<Message>,
    ) -> core::result::Result<(), DecodeError> {
        self.input_is_own = false;
        // SAFETY: a slice is readable for its length; with input_is_own
        // false no message is made over its bytes (they are copied), so
        // decode's condition on the decoder's own buffer does not arise.
        let result = unsafe { self.decode_all(data.as_ptr(), data.len(), out) };
        self.input_is_own = true;
        result
    }

    /// # Safety
    /// As for [`Decoder::decode`].
    pub(super) unsafe fn decode_all(
        &mut self,
        data: *const u8,
        size: usize,
        out: &mut Vec<Message>,
    ) -> core::result::Result<(), DecodeError> {
        let mut pos = 0;
        loop {
            // SAFETY: pos <= size, so the rest is in bounds.
            let (used, result) = unsafe { self.decode(data.add(pos), size - pos) };
            pos += used;
            match result {
                Ok(true) => {
                    if let Some(m) = self.take() {
                        // SAFETY: a live message this decoder made, handed over.
                        out.push(unsafe { Message::from_raw(m) });
                    }
                }
                Ok(false) => {}
                Err(errno) => {
                    return Err(DecodeError {
                        errno,
                        consumed: pos,
                    })
                }
            }
            if pos == size && self.state != State::Alloc {
                return Ok(());
            }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if self.state == State::Body {
            // SAFETY: the in-progress message is live in State::Body.
            let _ = unsafe { msg::close(&mut self.in_progress) };
        }
        if self.has_ready {
            // SAFETY: a ready message not taken is still ours.
            let _ = unsafe { msg::close(&mut self.ready) };
        }
        if let Some(shared) = self.shared.take() {
            shared.release();
        }
    }
}
