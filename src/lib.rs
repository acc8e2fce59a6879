//! zmqpool: libzmq's `zmq_msg_*` API, bit-compatible with libzmq >= 4.3.3,
//! with message memory from zmqpool's allocator.
//!
//! For Rust users:
//! - [`Message`]: an owned `zmq_msg_t` whose body comes from the pool;
//! - [`PoolBuffer`]: an owned block of the pool;
//! - [`zmtp::Encoder`], [`zmtp::Decoder`]: ZMTP 3.x framing over pool
//!   memory, interoperable with libzmq peers;
//! - the settings: [`pool::set_backend`], [`pool::set_max_cached_bytes`],
//!   [`pool::set_max_thread_cached_bytes`], [`set_decay`],
//!   [`set_stats_interval_ms`], and their getters in [`pool`];
//!   [`pool::trim`];
//! - the statistics: [`report::snapshot`] (the C struct's fields) and
//!   [`report::write_json`] (the JSON object).
//!
//! The layers, each importing only from those above it in this list
//! (docs/architecture.md draws them):
//!
//! | module | layer |
//! | --- | --- |
//! | `sys` | OS primitives: errno, stderr lines, a pthread lock, the loader, the thread pointer |
//! | `sync`, `settings` | the lock-free protocols (reference counts, the record handshake), loom-checked; the settings parser (a pure function of the environment) |
//! | [`pool`] | blocks: size classes, thread caches, depot, records, the decay pass |
//! | [`msg`] | the 64-byte message, every body kind, the hand-off to a real libzmq |
//! | [`zmtp`] | ZMTP frames: encoder, decoder |
//! | [`report`], `background` | statistics (text, JSON, interval), the verbose lines; the helper thread |
//! | `ffi` | the exported C functions (feature `capi`, on by default) |
//! | `load` | the constructor: parses the settings and wires every layer |

#![deny(unsafe_op_in_unsafe_fn)]

mod background;
/// The C ABI (feature `capi`, on by default): the exported functions.
#[cfg(feature = "capi")]
pub mod ffi;
mod load;
/// cbindgen:ignore
/// (only in libzmqpool-malloc.so; the functions are declared by <stdlib.h>)
#[cfg(feature = "malloc-override")]
mod malloc_override;
pub mod msg;
pub mod pool;
pub mod report;
mod settings;
mod sync;
mod sys;
pub mod zmtp;

pub use background::{set_decay, set_stats_interval_ms};
pub use msg::Message;
pub use pool::PoolBuffer;
