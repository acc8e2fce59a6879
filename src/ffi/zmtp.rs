//! The C API of the ZMTP encoder and decoder (`crate::zmtp`), with libzmq's
//! `i_encoder` / `i_decoder` semantics and libzmq's error convention.

use core::ffi::{c_int, c_uchar};

use super::{fail, with_message, zmq_msg_t};
use crate::msg::{self, Errno};
use crate::zmtp::{Decoder, Encoder};

/// Moves `value` into a pool block: NULL with ENOMEM when memory is
/// exhausted (a `Box` would abort the host process instead).
fn into_pool_block<T>(value: T) -> *mut T {
    const { assert!(core::mem::align_of::<T>() <= crate::pool::ALIGNMENT) };
    let block = crate::pool::alloc(core::mem::size_of::<T>()) as *mut T;
    if block.is_null() {
        // `value` is dropped here, releasing what it holds.
        return fail(libc::ENOMEM, core::ptr::null_mut());
    }
    // SAFETY: a fresh pool block, sized for T and aligned (at least 16).
    unsafe { block.write(value) };
    block
}

/// Drops what [`into_pool_block`] made and returns its block.
///
/// # Safety
/// `block` came from `into_pool_block` and is not used again.
unsafe fn drop_pool_block<T>(block: *mut T) {
    // SAFETY: by the contract, a live T in a pool block, dropped once.
    unsafe {
        core::ptr::drop_in_place(block);
        crate::pool::dealloc(block as *mut u8);
    }
}

/// A ZMTP frame encoder (opaque).
#[allow(non_camel_case_types)]
pub struct zmqpool_encoder_t(Encoder);

/// A ZMTP frame decoder (opaque).
#[allow(non_camel_case_types)]
pub struct zmqpool_decoder_t(Decoder);

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
    if !encoder.is_null() {
        // SAFETY: by the contract, from zmqpool_encoder_new, destroyed once.
        unsafe { drop_pool_block(encoder) };
    }
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
    // SAFETY: by the contract, NULL or live and not aliased.
    let Some(encoder) = (unsafe { encoder.as_mut() }) else {
        return fail(libc::EFAULT, -1);
    };
    // SAFETY: forwarded from the caller (a message as load_msg requires).
    super::status(unsafe { with_message(msg, |m| encoder.0.load_msg(m)) })
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
    // SAFETY: by the contract, NULL or live and not aliased.
    let (Some(encoder), Some(data)) = (unsafe { encoder.as_mut() }, unsafe { data.as_mut() })
    else {
        return fail(libc::EFAULT, 0);
    };
    // SAFETY: forwarded from the caller.
    unsafe { encoder.0.encode_raw(data, size) }
}

/// A new decoder reading `buf_size` bytes at a time (0: 8192; at least 64)
/// and refusing messages larger than `max_msg_size` bytes (-1: no limit).
/// NULL with ENOMEM or EINVAL.
///
/// Give a decoder that reads from an untrusted peer a limit (libzmq's
/// `ZMQ_MAXMSGSIZE`): without one, a 9-byte frame header can announce a
/// body of any size and the decoder tries to allocate it.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_decoder_new(
    buf_size: usize,
    max_msg_size: i64,
) -> *mut zmqpool_decoder_t {
    match Decoder::new(buf_size, max_msg_size) {
        Ok(decoder) => into_pool_block(zmqpool_decoder_t(decoder)),
        Err(Errno(errno)) => fail(errno, core::ptr::null_mut()),
    }
}

/// Destroys a decoder. Messages it produced stay valid: their buffer is
/// released when the last of them is closed. NULL is ignored.
///
/// # Safety
/// `decoder` is NULL or from `zmqpool_decoder_new`, destroyed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_decoder_destroy(decoder: *mut zmqpool_decoder_t) {
    if !decoder.is_null() {
        // SAFETY: by the contract, from zmqpool_decoder_new, destroyed once.
        unsafe { drop_pool_block(decoder) };
    }
}

/// Where the caller should read the next bytes (`*data`, up to `*size`).
/// Sets NULL and 0 (errno ENOMEM, or EFAULT for NULL arguments) on failure.
///
/// # Safety
/// `decoder` is NULL or live; `data` and `size` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_decoder_get_buffer(
    decoder: *mut zmqpool_decoder_t,
    data: *mut *mut c_uchar,
    size: *mut usize,
) {
    // SAFETY: by the contract, each NULL or valid and not aliased.
    let (decoder, data, size) = unsafe { (decoder.as_mut(), data.as_mut(), size.as_mut()) };
    let (Some(decoder), Some(data), Some(size)) = (decoder, data, size) else {
        msg::set_errno(libc::EFAULT);
        return;
    };
    match decoder.0.get_buffer() {
        Ok((at, len)) => (*data, *size) = (at, len),
        Err(Errno(errno)) => {
            (*data, *size) = (core::ptr::null_mut(), 0);
            msg::set_errno(errno);
        }
    }
}

/// Decodes `size` bytes at `data`. Returns 1 when a message is ready
/// (`*processed` bytes were consumed: take it, then call again with the
/// rest), 0 when everything was consumed and more is needed, -1 on error:
/// EPROTO (malformed frame), EMSGSIZE (over max_msg_size), ENOMEM, EAGAIN
/// (the ready message was not taken), EFAULT/EINVAL (bad arguments).
/// `*processed` is always the number of bytes consumed, also on failure.
/// After EPROTO or EMSGSIZE the decoder stays failed (a broken stream);
/// ENOMEM is not sticky: call again with the unconsumed rest (or none) once
/// memory is available, and the message is made then. A size the machine
/// can never hold fails with ENOMEM every time: a decoder with a
/// max_msg_size turns such a peer into EMSGSIZE instead.
///
/// # Safety
/// `decoder` is NULL or live; `data` is NULL or readable for `size` bytes;
/// `processed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_decoder_decode(
    decoder: *mut zmqpool_decoder_t,
    data: *const c_uchar,
    size: usize,
    processed: *mut usize,
) -> c_int {
    // SAFETY: by the contract, each NULL or valid and not aliased.
    let (Some(decoder), Some(processed)) =
        (unsafe { decoder.as_mut() }, unsafe { processed.as_mut() })
    else {
        return fail(libc::EFAULT, -1);
    };
    *processed = 0;
    if data.is_null() && size != 0 {
        return fail(libc::EINVAL, -1);
    }
    // SAFETY: forwarded from the caller.
    let (used, result) = unsafe { decoder.0.decode(data, size) };
    *processed = used;
    match result {
        Ok(ready) => c_int::from(ready),
        Err(Errno(errno)) => fail(errno, -1),
    }
}

/// Moves the ready message into `msg` (closing what `msg` held, as
/// `zmq_msg_move`). Returns 0; -1 with EAGAIN when no message is ready,
/// EFAULT for NULL arguments or an invalid `msg`.
///
/// # Safety
/// `decoder` is NULL or live; `msg` is NULL or an initialised message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_decoder_take_msg(
    decoder: *mut zmqpool_decoder_t,
    msg: *mut zmq_msg_t,
) -> c_int {
    // SAFETY: by the contract, NULL or live and not aliased.
    let Some(decoder) = (unsafe { decoder.as_mut() }) else {
        return fail(libc::EFAULT, -1);
    };
    // SAFETY: forwarded from the caller.
    let result = unsafe {
        with_message(msg, |target| {
            if !decoder.0.is_ready() {
                return Err(Errno(libc::EAGAIN));
            }
            // What `msg` held is closed first: if that fails, the ready
            // message stays in the decoder rather than being lost.
            // SAFETY: the caller vouches `msg` is a message (M1-M6).
            msg::close(target)?;
            *target = decoder.0.take().ok_or(Errno(libc::EAGAIN))?;
            Ok(())
        })
    };
    super::status(result)
}
