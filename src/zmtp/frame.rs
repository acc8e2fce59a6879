//! A ZMTP frame's header: the flags byte and the size (1 byte, or 8
//! big-endian with LONG), as libzmq's `v2_encoder` writes it.

use crate::msg::layout::flags;

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
