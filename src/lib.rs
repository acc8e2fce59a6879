//! zmqpool: libzmq's `zmq_msg_*` API, bit-compatible with libzmq >= 4.3.3,
//! with message memory from zmqpool's allocator.
//!
//! - [`msg`]: the 64-byte message and the libzmq-exact operations on it,
//!   plus [`msg::Message`], a safe owner for Rust users.
//! - [`pool`]: the allocator behind message bodies and control blocks, with
//!   [`pool::PoolBuffer`], a safe owner of one block.
//! - `ffi`: the exported C functions (see `include/zmqpool.h`), behind the
//!   default feature `capi`: a Rust program that only wants the pool or
//!   the codec builds without it and exports nothing.
//! - `config`: environment variables.

#![deny(unsafe_op_in_unsafe_fn)]

mod config;
/// The C ABI (feature `capi`, on by default): the exported functions.
#[cfg(feature = "capi")]
pub mod ffi;
/// cbindgen:ignore
/// (only in libzmqpool-malloc.so; the functions are declared by <stdlib.h>)
#[cfg(feature = "malloc-override")]
mod malloc_override;
pub mod msg;
pub mod pool;
mod sync;
pub mod zmtp;

pub use msg::Message;
pub use pool::PoolBuffer;
