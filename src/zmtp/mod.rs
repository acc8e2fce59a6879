//! ZMTP 3.0/3.1 framing: a batching encoder and a zero-copy decoder whose
//! buffers come from zmqpool's pool, with libzmq's `i_encoder` /
//! `i_decoder` semantics (`v2_encoder.cpp`, `v2_decoder.cpp`).
//!
//! A frame is a flags byte, a size, then the body:
//!
//! ```text
//!   flags: bit 0 MORE, bit 1 LONG, bit 2 COMMAND, bits 3-7 reserved (must be 0)
//!   size:  1 byte, or 8 bytes big-endian with LONG
//! ```
//!
//! Message flags map as in libzmq: `ZMQ_MORE` <-> MORE, the command flag
//! <-> COMMAND. libzmq's encoder sets LONG exactly when the body exceeds 255
//! bytes; the decoder accepts either form, as libzmq does.

mod decoder;
mod encoder;
mod read_buffer;

pub use decoder::{DecodeError, Decoder};
pub use encoder::Encoder;
pub use read_buffer::ReadBuffer;

/// Frame flag: another frame of the same message follows.
pub const FLAG_MORE: u8 = 1;
/// Frame flag: the size is 8 bytes.
pub const FLAG_LONG: u8 = 2;
/// Frame flag: a command frame.
pub const FLAG_COMMAND: u8 = 4;
/// Bits that must be zero.
pub const FLAGS_RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);

/// Default encoder batch and decoder buffer size (libzmq's `in_batch_size`
/// and `out_batch_size`).
pub const DEFAULT_BATCH: usize = 8192;

/// Writes the frame header for a body of `size` bytes with message flags
/// `msg_flags` into `out`; returns its length (2 or 9).
pub fn frame_header(msg_flags: u8, size: usize, out: &mut [u8; 9]) -> usize {
    use crate::msg::layout::flags;
    let mut frame_flags = 0;
    if msg_flags & flags::MORE != 0 {
        frame_flags |= FLAG_MORE;
    }
    if msg_flags & flags::COMMAND != 0 {
        frame_flags |= FLAG_COMMAND;
    }
    if size > u8::MAX as usize {
        out[0] = frame_flags | FLAG_LONG;
        out[1..9].copy_from_slice(&(size as u64).to_be_bytes());
        9
    } else {
        out[0] = frame_flags;
        out[1] = size as u8;
        2
    }
}

#[cfg(test)]
mod tests;
