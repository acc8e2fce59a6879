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
mod frame;
mod read_buffer;

pub use decoder::{DecodeError, Decoder};
pub use encoder::Encoder;
pub use frame::{frame_header, DEFAULT_BATCH, FLAGS_RESERVED, FLAG_COMMAND, FLAG_LONG, FLAG_MORE};
pub use read_buffer::ReadBuffer;

#[cfg(test)]
mod tests;
