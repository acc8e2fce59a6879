//! The C API of the ZMTP decoder (`crate::zmtp::Decoder`), with libzmq's
//! `i_decoder` semantics and libzmq's error convention.

use core::ffi::{c_int, c_uchar};

use super::boundary::{fail, into_pool_block, status, zmq_msg_t};
use crate::msg::{self, Errno};
use crate::sys::errno::set_errno;
use crate::zmtp::Decoder;

/// A ZMTP frame decoder (opaque).
#[allow(non_camel_case_types)]
pub struct zmqpool_decoder_t(Decoder);

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
    destroy!(decoder);
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
    let (Some(decoder), Some(data), Some(size)) =
        (opt_mut!(decoder), opt_mut!(data), opt_mut!(size))
    else {
        set_errno(libc::EFAULT);
        return;
    };
    match decoder.0.get_buffer() {
        Ok((at, len)) => (*data, *size) = (at, len),
        Err(Errno(errno)) => {
            (*data, *size) = (core::ptr::null_mut(), 0);
            set_errno(errno);
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
    let decoder = try_mut!(decoder, -1);
    let processed = try_mut!(processed, -1);
    *processed = 0;
    if data.is_null() && size != 0 {
        return fail(libc::EINVAL, -1);
    }
    // SAFETY: `data` is readable for `size` bytes and, inside the decoder's
    // buffer, written by the caller: this function's contract, Decoder::decode's.
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
    let decoder = try_mut!(decoder, -1);
    status(try_message!(msg, |target: &mut _| {
        if !decoder.0.is_ready() {
            return Err(Errno(libc::EAGAIN));
        }
        // What `msg` held is closed first: if that fails, the ready
        // message stays in the decoder rather than being lost.
        // SAFETY: `target` holds a message (this function's contract):
        // M1-M6, close's.
        unsafe { msg::close(target) }?;
        *target = decoder.0.take().ok_or(Errno(libc::EAGAIN))?;
        Ok(())
    }))
}
