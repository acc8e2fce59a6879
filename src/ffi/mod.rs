//! The C ABI: the only place with exported symbols, one file per C object
//! over one boundary helper.
//!
//! Each function checks its pointers, calls the safe(r) operation in
//! [`crate::msg`], [`crate::pool`] or [`crate::zmtp`], and reports failure
//! the libzmq way: -1 (or NULL) with errno set (`boundary.rs`). Nothing
//! here panics: the release build aborts on panic, and no code path below
//! has one.
//!
//! | file | C object |
//! | --- | --- |
//! | `message.rs` | `zmq_msg_t`: the `zmq_msg_*` functions |
//! | `send.rs` | `zmq_send` |
//! | `pool.rs` | pool blocks (`zmqpool_alloc`...), the version |
//! | `stats.rs` | `zmqpool_stats_t`, the JSON and text statistics |
//! | `settings.rs` | decay, backend and caps at run time |
//! | `encoder.rs`, `decoder.rs` | `zmqpool_encoder_t`, `zmqpool_decoder_t` |

// Declared in the order the header lists them (cbindgen follows it).
#[macro_use]
mod boundary;

mod message;

mod send;

mod pool;

mod stats;

mod settings;

mod encoder;

mod decoder;

pub use boundary::zmq_msg_t;
pub use decoder::*;
pub use encoder::*;
pub use message::*;
pub use pool::*;
pub use send::*;
pub use settings::*;
pub use stats::*;
