//! `zmq_send`: the message is built by zmqpool and handed to libzmq's
//! `zmq_msg_send` (`msg/socket.rs`).

use core::ffi::{c_int, c_void};

use super::boundary::fail;
use crate::msg::{self, Errno};

/// Sends `len` bytes from `buf` as one message part on `socket`, exactly as
/// libzmq's `zmq_send` does, but with the message built by zmqpool (a body
/// over 33 bytes is a pool block) and handed to libzmq's `zmq_msg_send`.
/// Returns the number of bytes sent (truncated to `INT_MAX`); -1 with
/// libzmq's errno (EAGAIN, ENOTSOCK, EFSM, ETERM, EINTR, EHOSTUNREACH, ...),
/// the message released. A NULL `buf` with `len` > 0 is EINVAL (libzmq
/// aborts). With a libzmq of another layout, or without `zmq_msg_send`, the
/// call goes to libzmq's own `zmq_send`; with no libzmq loaded: ENOTSOCK.
///
/// # Safety
/// `buf` is NULL or readable for `len` bytes; `socket` is NULL or what
/// libzmq's `zmq_send` accepts.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_send(
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: `buf` is NULL or readable for `len` bytes and `socket` what
    // libzmq's zmq_send accepts (this function's contract): socket::send's.
    match unsafe { msg::socket::send(socket, buf, len, flags) } {
        Ok(sent) => sent,
        Err(Errno(errno)) => fail(errno, -1),
    }
}
