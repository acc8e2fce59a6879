//! The ZMTP frame encoder.
//!
//! One message at a time, as libzmq's `encoder_base_t`: `load_msg` takes a
//! message's content (leaving the caller's message empty, as `zmq_msg_send`
//! does); `encode` writes its frame header and body either into the
//! caller's buffer or into the encoder's own batch buffer (from the pool).
//! Small frames are copied, so a caller that keeps loading messages and
//! encoding into the rest of the batch (libzmq's stream engine loop) sends
//! many frames per write. When the batch is empty and what is left of a
//! body fills it, the encoder hands out a pointer into the body itself:
//! large bodies go out with no copy. That pointer stays valid until the
//! next call on the encoder.

use super::frame::{frame_header, DEFAULT_BATCH};
use crate::msg::layout::Msg;
use crate::msg::{self, Errno, Message, Result, EMPTY};
use crate::pool;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Idle,
    Header,
    Body,
}

/// A ZMTP frame encoder (see the module documentation).
pub struct Encoder {
    batch: *mut u8,
    batch_size: usize,
    msg: Msg,
    stage: Stage,
    header: [u8; 9],
    header_len: usize,
    header_pos: usize,
    body_len: usize,
    body_pos: usize,
    /// A message whose body was last handed out zero-copy: closed on the
    /// next call.
    held: Msg,
    holding: bool,
}

// SAFETY: the encoder owns its batch block and messages; nothing in it is
// tied to a thread.
unsafe impl Send for Encoder {}

impl Encoder {
    /// An encoder with a batch buffer of `batch_size` bytes (0: 8192).
    pub fn new(batch_size: usize) -> Result<Encoder> {
        let batch_size = if batch_size == 0 {
            DEFAULT_BATCH
        } else {
            batch_size
        };
        let batch = pool::alloc(batch_size);
        if batch.is_null() {
            return Err(Errno(libc::ENOMEM));
        }
        Ok(Encoder {
            batch,
            batch_size,
            msg: EMPTY,
            stage: Stage::Idle,
            header: [0; 9],
            header_len: 0,
            header_pos: 0,
            body_len: 0,
            body_pos: 0,
            held: EMPTY,
            holding: false,
        })
    }

    fn release_held(&mut self) {
        if self.holding {
            self.holding = false;
            // SAFETY: a message this encoder took, closed once.
            let _ = unsafe { msg::close(&mut self.held) };
        }
    }

    /// True when no message is loaded (or the last one is fully encoded).
    pub fn is_idle(&self) -> bool {
        self.stage == Stage::Idle
    }

    /// Takes `m`'s content for encoding, leaving `m` empty and initialised.
    /// EAGAIN while the previous message is not fully encoded; EFAULT for
    /// an invalid message.
    ///
    /// # Safety
    /// `m` satisfies M1-M6 (a message initialised by zmqpool or libzmq, or
    /// invalid bytes, which check refuses).
    pub(crate) unsafe fn load_msg(&mut self, m: &mut Msg) -> Result<()> {
        if self.stage != Stage::Idle {
            return Err(Errno(libc::EAGAIN));
        }
        msg::check(m)?;
        self.release_held();
        self.msg = core::mem::replace(m, EMPTY);
        msg::init(m);
        // SAFETY: a valid message (checked above, M1-M6), now ours.
        self.body_len = unsafe { msg::size(&self.msg) }.unwrap_or(0);
        self.header_len = frame_header(self.msg.flags, self.body_len, &mut self.header);
        self.header_pos = 0;
        self.body_pos = 0;
        self.stage = Stage::Header;
        Ok(())
    }

    fn finish(&mut self) {
        // SAFETY: the loaded message is live until here, closed once.
        let _ = unsafe { msg::close(&mut self.msg) };
        self.stage = Stage::Idle;
    }

    /// Encodes into `*data` (up to `size` bytes), or, when `*data` is null,
    /// into the batch buffer or straight out of a large body, setting
    /// `*data`. Returns the bytes made available (0 when nothing is loaded).
    ///
    /// # Safety
    /// A non-null `*data` is writable for `size` bytes.
    pub(crate) unsafe fn encode_raw(&mut self, data: &mut *mut u8, size: usize) -> usize {
        self.release_held();
        if self.stage == Stage::Idle {
            return 0;
        }
        let own = data.is_null();
        let (buffer, capacity) = if own {
            (self.batch, self.batch_size)
        } else {
            (*data, size)
        };
        let mut pos = 0;
        while pos < capacity && self.stage != Stage::Idle {
            if self.stage == Stage::Header {
                let n = (self.header_len - self.header_pos).min(capacity - pos);
                // SAFETY: n bytes fit in the buffer from pos and are in the
                // header from header_pos.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        self.header.as_ptr().add(self.header_pos),
                        buffer.add(pos),
                        n,
                    )
                };
                self.header_pos += n;
                pos += n;
                if self.header_pos == self.header_len {
                    if self.body_len == 0 {
                        self.finish();
                    } else {
                        self.stage = Stage::Body;
                    }
                }
                continue;
            }
            // SAFETY: the loaded message is live.
            let body = unsafe { msg::data(&mut self.msg) } as *mut u8;
            let remaining = self.body_len - self.body_pos;
            if own && pos == 0 && remaining >= capacity {
                // Zero copy: the rest of the body is the output; the message
                // lives until the next call.
                self.held = core::mem::replace(&mut self.msg, EMPTY);
                self.holding = true;
                // The body's address is taken after the move: an inline
                // body lives inside the message itself.
                // SAFETY: the held message is live; body_pos < body_len.
                *data = unsafe { (msg::data(&mut self.held) as *mut u8).add(self.body_pos) };
                self.body_pos = self.body_len;
                self.stage = Stage::Idle;
                return remaining;
            }
            let n = remaining.min(capacity - pos);
            // SAFETY: n bytes are left in the body from body_pos and fit in
            // the buffer from pos; a message body never overlaps the
            // caller's buffer or the batch.
            unsafe { core::ptr::copy_nonoverlapping(body.add(self.body_pos), buffer.add(pos), n) };
            self.body_pos += n;
            pos += n;
            if self.body_pos == self.body_len {
                self.finish();
            }
        }
        if own {
            *data = self.batch;
        }
        pos
    }

    // ---- the safe Rust API ------------------------------------------------

    /// Takes `message` for encoding, leaving it empty. EAGAIN while the
    /// previous one is not fully encoded.
    pub fn load(&mut self, message: &mut Message) -> Result<()> {
        // SAFETY: a Message always holds an initialised message.
        unsafe { self.load_msg(&mut *message.as_raw_mut()) }
    }

    /// The next bytes to send: from the batch buffer, or a large body
    /// itself; empty when the loaded message is done. Valid until the next
    /// call on the encoder.
    pub fn encode(&mut self) -> &[u8] {
        let mut data = core::ptr::null_mut();
        // SAFETY: null data: the encoder uses its own memory.
        let n = unsafe { self.encode_raw(&mut data, 0) };
        if n == 0 {
            return &[];
        }
        // SAFETY: `n` bytes at `data` are the batch buffer or the held
        // message's body, both alive until the next &mut call.
        unsafe { core::slice::from_raw_parts(data, n) }
    }

    /// Encodes into `out`; returns how many bytes were written.
    pub fn encode_into(&mut self, out: &mut [u8]) -> usize {
        if out.is_empty() {
            return 0;
        }
        let mut data = out.as_mut_ptr();
        // SAFETY: non-null data, writable for out.len() bytes.
        unsafe { self.encode_raw(&mut data, out.len()) }
    }

    /// Appends the frames of `messages` to `out` (taking their contents).
    pub fn encode_all(&mut self, messages: &mut [Message], out: &mut Vec<u8>) -> Result<()> {
        for message in messages {
            self.load(message)?;
            loop {
                let bytes = self.encode();
                if bytes.is_empty() {
                    break;
                }
                out.extend_from_slice(bytes);
            }
        }
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        self.release_held();
        if self.stage != Stage::Idle {
            // SAFETY: the loaded message is live until encoded.
            let _ = unsafe { msg::close(&mut self.msg) };
        }
        // SAFETY: the batch block came from pool::alloc and is freed once.
        unsafe { pool::dealloc(self.batch) };
    }
}
