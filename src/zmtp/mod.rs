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

pub use decoder::Decoder;
/// The release function of the decoder's zero-copy messages (the message
/// layer recognises zmqpool's own bodies by it).
pub(crate) const RELEASE_DECODER_SLOT: crate::msg::layout::FreeFn = decoder::release_shared;
pub use encoder::Encoder;

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

/// Runs the decoder over `data` fed in slices of the given lengths (cycled),
/// checking every invariant a malformed stream could break: the fuzz
/// target's body (`fuzz/`), also replayed over the stored corpus by
/// `cargo test`. Returns the messages decoded before the end or an error.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) -> usize {
    // The first two bytes choose the buffer size and the split pattern.
    let (config, stream) = data.split_at(data.len().min(2));
    let buf_size = 16 + usize::from(config.first().copied().unwrap_or(0)) * 64;
    let step = 1 + usize::from(config.get(1).copied().unwrap_or(0));
    let max = if step % 3 == 0 { 1 << 20 } else { -1 };
    let Ok(mut decoder) = Decoder::new(buf_size, max) else {
        return 0;
    };
    let mut messages = Vec::new();
    let mut at = 0;
    let mut turn = 0usize;
    while at < stream.len() {
        // Alternate between reading into the decoder's buffer (zero-copy
        // path) and handing it outside bytes (copy path).
        let want = (step * (turn % 5 + 1)).min(stream.len() - at);
        let result = if turn % 2 == 0 {
            let buffer = match decoder.buffer() {
                Ok(buffer) => buffer,
                Err(_) => return messages.len(),
            };
            let n = want.min(buffer.len());
            buffer[..n].copy_from_slice(&stream[at..at + n]);
            at += n;
            decoder.commit(n, &mut messages)
        } else {
            let chunk = &stream[at..at + want];
            at += want;
            decoder.decode_slice(chunk, &mut messages)
        };
        turn += 1;
        if let Err(errno) = result {
            assert!(
                errno.0 == libc::EPROTO || errno.0 == libc::EMSGSIZE || errno.0 == libc::ENOMEM,
                "unexpected errno {}",
                errno.0
            );
            break;
        }
    }
    // Every message is readable to its last byte, also after the decoder
    // is gone.
    drop(decoder);
    let mut sum = 0usize;
    for message in &messages {
        sum = sum.wrapping_add(
            message
                .as_slice()
                .iter()
                .map(|&b| b as usize)
                .sum::<usize>(),
        );
    }
    core::hint::black_box(sum);
    messages.len()
}

#[cfg(test)]
mod tests;
