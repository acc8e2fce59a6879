//! The message layer: libzmq's 64-byte `zmq_msg_t`, every kind of body
//! a message can own and the function that releases it, and the hand-off
//! to a real libzmq for what only it can do.
//!
//! | file | job |
//! | --- | --- |
//! | `layout.rs` | the 64 bytes, field by field, checked at compile time |
//! | `ops.rs` | the libzmq-exact operations (init, close, copy, move, ...) and the message invariants M1-M6 |
//! | `body.rs` | the body kinds and their release functions (invariant B1) |
//! | `slot_buffer.rs` | the shared, reference-counted buffer zero-copy messages point into |
//! | `events.rs` | what the message layer counts |
//! | `message.rs` | [`Message`], the safe Rust owner of one message |
//! | `libzmq/` | finding the real libzmq, checking its layout, calling it |
//! | `socket.rs` | `zmq_send` over a zmqpool message |

pub(crate) mod body;
pub(crate) mod events;
pub mod layout;
pub(crate) mod libzmq;
mod message;
pub(crate) mod slot_buffer;
#[cfg(feature = "capi")]
pub(crate) mod socket;

mod ops;

pub use message::Message;
pub(crate) use ops::*;
pub use ops::{Errno, Result, EMPTY, ZMQ_MORE, ZMQ_SHARED, ZMQ_SRCFD};

#[cfg(test)]
mod tests;
