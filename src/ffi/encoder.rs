//! The C API of the ZMTP encoder (`crate::zmtp::Encoder`), with libzmq's
//! `i_encoder` semantics and libzmq's error convention.

use core::ffi::{c_int, c_uchar};

use super::boundary::{fail, into_pool_block, status, zmq_msg_t};
use crate::msg::Errno;
use crate::zmtp::Encoder;

/// A ZMTP frame encoder (opaque).
#[allow(non_camel_case_types)]
pub struct zmqpool_encoder_t(Encoder);

/// A new encoder whose batch buffer (from the pool) holds `batch_size`
/// bytes (0: 8192). NULL with ENOMEM when memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_encoder_new(batch_size: usize) -> *mut zmqpool_encoder_t {
    match Encoder::new(batch_size) {
        Ok(encoder) => into_pool_block(zmqpool_encoder_t(encoder)),
        Err(Errno(errno)) => fail(errno, core::ptr::null_mut()),
    }
}

/// Destroys an encoder, closing any message it still holds. NULL is ignored.
///
/// # Safety
/// `encoder` is NULL or from `zmqpool_encoder_new`, destroyed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_encoder_destroy(encoder: *mut zmqpool_encoder_t) {
    destroy!(encoder);
}

/// Takes `msg`'s content for encoding, leaving `msg` empty and initialised
/// (as `zmq_msg_send` does). Returns 0; -1 with EAGAIN while the previous
/// message is not fully encoded, EFAULT for a NULL encoder or an invalid
/// message.
///
/// # Safety
/// `encoder` is NULL or live; `msg` is NULL or a message initialised by
/// zmqpool or libzmq.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_encoder_load_msg(
    encoder: *mut zmqpool_encoder_t,
    msg: *mut zmq_msg_t,
) -> c_int {
    let encoder = try_mut!(encoder, -1);
    status(try_message!(msg, |m: &mut _| {
        // SAFETY: `m` holds a message (this function's contract): M1-M6,
        // load_msg's.
        unsafe { encoder.0.load_msg(m) }
    }))
}

/// Encodes the loaded message. With `*data` NULL the encoder supplies the
/// bytes - its batch buffer, or a pointer straight into a large body (zero
/// copy) - and sets `*data`; they stay valid until the next call on this
/// encoder. Otherwise it writes up to `size` bytes at `*data`. Returns the
/// bytes made available; 0 when nothing is loaded (or on a NULL argument,
/// with EFAULT).
///
/// # Safety
/// `encoder` is NULL or live; `data` is NULL or writable, and a non-NULL
/// `*data` is writable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_encoder_encode(
    encoder: *mut zmqpool_encoder_t,
    data: *mut *mut c_uchar,
    size: usize,
) -> usize {
    let encoder = try_mut!(encoder, 0);
    let data = try_mut!(data, 0);
    // SAFETY: `*data` is NULL or writable for `size` bytes (this function's
    // contract): encode_raw's.
    unsafe { encoder.0.encode_raw(data, size) }
}
