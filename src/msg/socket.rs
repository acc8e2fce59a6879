//! `zmq_send`: the one socket call zmqpool serves itself.
//!
//! libzmq's `zmq_send` builds its message with an internal, non-exported
//! `init_buffer` that calls `malloc`, so a program that sends with it never
//! reaches an interposed `zmq_msg_init_*`. zmqpool's `zmq_send` does what
//! libzmq's does, step for step, with a zmqpool message: build the message
//! from the caller's bytes, hand it to the real libzmq's `zmq_msg_send`, and
//! on failure close it and report libzmq's errno. Return values (the size,
//! truncated to `INT_MAX`), errno and flags are therefore libzmq's own.
//! With several copies of libzmq in the process, the message goes to the
//! copy that made the socket (`libzmq::for_socket`).

use core::ffi::{c_int, c_void};

use super::events::{count, Event};
use super::libzmq::{self, RealLibzmq};
use super::ops::{close, init_buffer, Errno, Result, EMPTY};
use crate::sys::errno::{errno, set_errno};

/// libzmq's `ZMQ_TYPE` socket option.
const ZMQ_TYPE: c_int = 16;

/// `zmq_send`.
///
/// # Safety
/// `buf` is null or readable for `len` bytes; `socket` is what the caller
/// would pass to libzmq's `zmq_send` (libzmq validates it).
pub unsafe fn send(
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> Result<c_int> {
    if socket.is_null() {
        // libzmq checks the socket before anything else.
        return Err(Errno(libc::ENOTSOCK));
    }
    // SAFETY: non-null; libzmq reads further into anything passed to it as
    // a socket.
    let Some(real) = (unsafe { libzmq::for_socket(socket) }) else {
        // No libzmq in the process: nothing can be a socket.
        count(Event::NoLibzmq);
        return Err(Errno(libc::ENOTSOCK));
    };
    if libzmq::passthrough().is_some() {
        count(Event::PassedThroughLayout);
        // SAFETY: `buf` is NULL or readable for `len` bytes and `socket` is
        // non-null (checked above) and what libzmq accepts: forward's contract.
        return unsafe { forward(real, socket, buf, len, flags) };
    }
    let Some(msg_send) = real.msg_send else {
        count(Event::PassedThroughNoMsgSend);
        // SAFETY: `buf` is NULL or readable for `len` bytes and `socket` is
        // non-null (checked above) and what libzmq accepts: forward's contract.
        return unsafe { forward(real, socket, buf, len, flags) };
    };
    let mut msg = EMPTY;
    // SAFETY: `buf` is NULL or readable for `len` bytes (send's contract):
    // init_buffer's.
    if let Err(failure) = unsafe { init_buffer(&mut msg, buf, len) } {
        // libzmq would have refused an invalid socket before building the
        // message: report that first, as it does.
        // SAFETY: `socket` is non-null; libzmq validates it.
        return Err(unsafe { socket_error(real, socket) }.unwrap_or(failure));
    }
    // SAFETY: a live message zmqpool built, and the caller's socket, which
    // the copy of libzmq that made it validates; it takes the message on
    // success.
    let sent = unsafe { msg_send(&mut msg as *mut _ as *mut c_void, socket, flags) };
    if sent < 0 {
        let failure = errno();
        // SAFETY: libzmq did not take the message; it is still ours.
        let _ = unsafe { close(&mut msg) };
        return Err(Errno(failure));
    }
    count(Event::Send);
    libzmq::count_send(real);
    Ok(sent)
}

/// libzmq's own `zmq_send` (pass-through), with its result and errno.
///
/// # Safety
/// As for [`send`].
unsafe fn forward(
    real: &RealLibzmq,
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> Result<c_int> {
    let Some(send) = real.send else {
        return Err(Errno(libc::ENOTSUP));
    };
    // SAFETY: libzmq's zmq_send with the caller's arguments.
    match unsafe { send(socket, buf, len, flags) } {
        -1 => Err(Errno(errno())),
        sent => Ok(sent),
    }
}

/// ENOTSOCK when libzmq does not recognise `socket` as a socket; errno is
/// left as it was.
///
/// # Safety
/// `socket` is what the caller would pass to libzmq's `zmq_send`: libzmq's
/// `getsockopt` reads it exactly as its `zmq_send` would.
unsafe fn socket_error(real: &RealLibzmq, socket: *mut c_void) -> Option<Errno> {
    let getsockopt = real.getsockopt?;
    let saved = errno();
    let mut kind: c_int = 0;
    let mut size = core::mem::size_of::<c_int>();
    // SAFETY: libzmq validates the socket; the value buffer is an int.
    let rc = unsafe {
        getsockopt(
            socket,
            ZMQ_TYPE,
            &mut kind as *mut c_int as *mut c_void,
            &mut size,
        )
    };
    let invalid = rc == -1 && errno() == libc::ENOTSOCK;
    set_errno(saved);
    invalid.then_some(Errno(libc::ENOTSOCK))
}
