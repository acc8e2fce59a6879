//! The safe way to read into the decoder: a guard over the region
//! [`Decoder::buffer`] names, borrowed from the decoder until
//! [`ReadBuffer::commit`].
//!
//! Invariant: `as_mut_slice` hands out `&mut [u8]` only over initialised
//! bytes. The decoder records what it knows to be initialised (its slot
//! buffer's flag, the in-progress body's `body_zeroed`); handing the region
//! out as `MaybeUninit` forgets it, so bytes a caller may have left
//! uninitialised are zeroed before they are ever seen as `u8`.

use super::decoder::{DecodeError, Decoder, State};
use crate::msg::{Errno, Message, Result};

impl Decoder {
    /// The buffer to read the next bytes into: write into it, then
    /// [`ReadBuffer::commit`] how many were written. While the guard lives
    /// the decoder cannot be used otherwise, so the region it names cannot
    /// be released under it.
    ///
    /// EAGAIN while bytes of an earlier commit wait for memory (that commit
    /// failed with ENOMEM): call [`Decoder::resume`] first.
    pub fn buffer(&mut self) -> Result<ReadBuffer<'_>> {
        if self.pending_len > 0 {
            return Err(Errno(libc::EAGAIN));
        }
        let (data, len) = self.get_buffer()?;
        let in_body =
            self.state == State::Body && data == self.body_ptr().wrapping_add(self.body_filled);
        Ok(ReadBuffer::new(self, data, len, in_body))
    }
}

/// The region [`Decoder::buffer`] named, borrowed from the decoder until
/// [`ReadBuffer::commit`] (or drop, which decodes nothing).
pub struct ReadBuffer<'a> {
    decoder: &'a mut Decoder,
    data: *mut u8,
    len: usize,
    /// The region is the unfilled rest of the in-progress body (else the
    /// shared buffer).
    in_body: bool,
    /// as_uninit_slice was called: only commit_written may follow.
    uninit_exposed: bool,
}

impl<'a> ReadBuffer<'a> {
    /// The guard over `len` bytes at `data`, which `get_buffer` of
    /// `decoder` just named (`in_body`: the unfilled rest of the body being
    /// read, else the decoder's slot buffer).
    pub(super) fn new(decoder: &'a mut Decoder, data: *mut u8, len: usize, in_body: bool) -> Self {
        ReadBuffer {
            decoder,
            data,
            len,
            in_body,
            uninit_exposed: false,
        }
    }

    /// The bytes to read into, initialised: memory the decoder has not
    /// handed out before is zeroed first (once per shared buffer, once per
    /// large message body). [`ReadBuffer::as_uninit_slice`] skips that.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let decoder = &mut *self.decoder;
        if self.in_body {
            let from = decoder.body_zeroed.max(decoder.body_filled);
            if from < decoder.body_size {
                // SAFETY: [from, body_size) lies inside the live body of
                // the in-progress message (body_filled <= from).
                unsafe {
                    decoder
                        .body_ptr()
                        .add(from)
                        .write_bytes(0, decoder.body_size - from)
                };
            }
            decoder.body_zeroed = decoder.body_size;
        } else if let Some(shared) = decoder.shared.as_mut() {
            // SAFETY: the region is the whole slot buffer, handed out only
            // while no message made from it is alive (get_buffer reuses a
            // buffer only once reset() found it idle, or takes a new one).
            unsafe { shared.initialise() };
        }
        // SAFETY: get_buffer named `len` writable bytes owned by the
        // decoder (its shared buffer, or the unfilled rest of a pool body),
        // all initialised (above), valid while the decoder is not otherwise
        // used: the guard holds its only borrow.
        unsafe { core::slice::from_raw_parts_mut(self.data, self.len) }
    }

    /// The bytes to read into, possibly uninitialised (no zeroing): for
    /// readers that take raw memory; then [`ReadBuffer::commit_written`].
    ///
    /// Whatever is written there may be uninitialised, so the decoder
    /// forgets that the region was initialised: a later
    /// [`ReadBuffer::as_mut_slice`] over the same memory zeroes it again.
    pub fn as_uninit_slice(&mut self) -> &mut [core::mem::MaybeUninit<u8>] {
        self.uninit_exposed = true;
        let decoder = &mut *self.decoder;
        if self.in_body {
            decoder.body_zeroed = decoder.body_filled;
        } else if let Some(shared) = decoder.shared.as_mut() {
            shared.forget_initialised();
        }
        // SAFETY: as in as_mut_slice; MaybeUninit<u8> asks nothing of the
        // bytes' contents.
        unsafe {
            core::slice::from_raw_parts_mut(self.data as *mut core::mem::MaybeUninit<u8>, self.len)
        }
    }

    /// Decodes the first `filled` bytes written into the region (EINVAL if
    /// more than it holds), appending every complete message to `out`. On
    /// ENOMEM the bytes not consumed wait in the decoder:
    /// [`Decoder::resume`] decodes them once memory is back.
    ///
    /// After [`ReadBuffer::as_uninit_slice`] this fails with EINVAL (and
    /// decodes nothing): what was written there is committed with
    /// `commit_written`.
    pub fn commit(
        mut self,
        filled: usize,
        out: &mut Vec<Message>,
    ) -> core::result::Result<(), DecodeError> {
        if self.uninit_exposed {
            return Err(DecodeError {
                errno: Errno(libc::EINVAL),
                consumed: 0,
            });
        }
        // Initialises what was never zeroed (a no-op after as_mut_slice;
        // without it the caller wrote nothing, so nothing is lost).
        self.as_mut_slice();
        // SAFETY: every byte of the region is initialised (just above).
        unsafe { self.commit_written(filled, out) }
    }

    /// As [`ReadBuffer::commit`], without initialising the region first.
    ///
    /// # Safety
    /// The first `filled` bytes of the region were written.
    pub unsafe fn commit_written(
        self,
        filled: usize,
        out: &mut Vec<Message>,
    ) -> core::result::Result<(), DecodeError> {
        if filled > self.len {
            return Err(DecodeError {
                errno: Errno(libc::EINVAL),
                consumed: 0,
            });
        }
        if self.in_body {
            let decoder = &mut *self.decoder;
            decoder.body_zeroed = decoder.body_zeroed.max(decoder.body_filled + filled);
        }
        // SAFETY: the region came from get_buffer and is still valid: the
        // decoder has been borrowed by this guard ever since; its first
        // `filled` bytes are initialised (the caller's promise).
        let result = unsafe { self.decoder.decode_all(self.data, filled, out) };
        if !self.in_body {
            self.decoder.keep_pending(self.data, filled, &result);
        }
        result
    }
}
