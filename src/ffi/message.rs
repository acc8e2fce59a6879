//! `zmq_msg_*`: libzmq's message functions, each over [`crate::msg`].

use core::ffi::{c_char, c_int, c_void};

use super::boundary::{fail, passed_through, status, with_message, with_message_read, zmq_msg_t};
use crate::msg::{self, layout::Msg, Errno};

/// Initialises an empty message. Returns 0; -1 with EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a `zmq_msg_t` not holding a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int {
    pass!(init(msg.cast()));
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    status(unsafe {
        with_message(msg, |m| {
            msg::init(m);
            Ok(())
        })
    })
}

/// Initialises a message with an uninitialised body of `size` bytes: inline
/// up to 33 bytes, otherwise one zmqpool block (content block and body
/// together). Returns 0; -1 with ENOMEM when memory is exhausted, EFAULT for
/// a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a `zmq_msg_t` not holding a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init_size(msg: *mut zmq_msg_t, size: usize) -> c_int {
    pass!(init_size(msg.cast(), size));
    if !msg.is_null() && msg.is_aligned() {
        // The hottest call there is, spelled out so nothing stands between
        // it and the inlined allocation.
        // SAFETY: non-null and aligned; the caller vouches for the rest.
        return status(msg::init_size(unsafe { &mut *(msg as *mut Msg) }, size));
    }
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    status(unsafe { with_message(msg, |m| msg::init_size(m, size)) })
}

/// Initialises a message holding a copy of `size` bytes at `buf`. Returns 0;
/// -1 with EINVAL if `buf` is NULL and `size` is not 0 (libzmq aborts),
/// ENOMEM, or EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` as for `zmq_msg_init`; `buf` is NULL or readable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init_buffer(
    msg: *mut zmq_msg_t,
    buf: *const c_void,
    size: usize,
) -> c_int {
    pass_draft!(init_buffer(msg.cast(), buf, size), -1);
    // SAFETY: forwarded from the caller (msg and buf).
    status(unsafe { with_message(msg, |m| msg::init_buffer(m, buf, size)) })
}

/// Initialises a message over caller memory, without copying. With `ffn`
/// NULL the memory is never released (a constant message); otherwise
/// `ffn(data, hint)` runs exactly once, on whichever thread closes the last
/// reference. Returns 0; -1 with EINVAL if `data` is NULL and `size` is not 0
/// (libzmq aborts), ENOMEM, or EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` as for `zmq_msg_init`; `data` stays valid for `size` bytes until
/// `ffn` runs (or forever, without `ffn`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init_data(
    msg: *mut zmq_msg_t,
    data: *mut c_void,
    size: usize,
    ffn: Option<unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void)>,
    hint: *mut c_void,
) -> c_int {
    pass!(init_data(msg.cast(), data, size, ffn, hint));
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    status(unsafe { with_message(msg, |m| msg::init_data(m, data, size, ffn, hint)) })
}

/// Releases a message; the body is freed when its last reference goes.
/// Returns 0; -1 with EFAULT if `msg` is NULL or not a valid message (for
/// example closed already).
///
/// # Safety
/// `msg` is NULL or points at a `zmq_msg_t` initialised by zmqpool or
/// libzmq, or closed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_close(msg: *mut zmq_msg_t) -> c_int {
    pass!(close(msg.cast()));
    if !msg.is_null() && msg.is_aligned() {
        // As in zmq_msg_init_size: the hot path spelled out.
        // SAFETY: non-null and aligned; the caller vouches for a message.
        return status(unsafe { msg::close(&mut *(msg as *mut Msg)) });
    }
    // SAFETY: forwarded from the caller (a message as close requires).
    status(unsafe { with_message(msg, |m| msg::close(m)) })
}

/// Moves `src` into `dest` (closing what `dest` held); `src` becomes empty.
/// Returns 0; -1 with EFAULT if either is NULL or not a valid message.
///
/// # Safety
/// Both are NULL or valid messages as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_move(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    pass!(move_(dest.cast(), src.cast()));
    if dest == src {
        // SAFETY: forwarded from the caller; one reference to one message.
        return status(unsafe { with_message(dest, |m| msg::move_onto_itself(m)) });
    }
    // SAFETY: forwarded from the caller; `dest != src`, and the caller's
    // two messages do not overlap (libzmq's move copies the 64 bytes whole
    // and requires the same), so the two exclusive borrows are disjoint.
    status(unsafe {
        with_message(dest, |dest| {
            with_message(src, |src| msg::move_to(dest, src))
        })
    })
}

/// Makes `dest` share `src`'s body (closing what `dest` held); no bytes are
/// copied. Copying a message onto itself does nothing. Returns 0; -1 with
/// EFAULT if either is NULL or not a valid message.
///
/// # Safety
/// Both are NULL or valid messages as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_copy(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    pass!(copy(dest.cast(), src.cast()));
    if dest == src {
        // libzmq would release the body and then use it; a no-op is the
        // meaning a caller can have intended.
        // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
        // says: with_message's contract (NULL is refused there).
        return status(unsafe { with_message(dest, |m| msg::check(m)) });
    }
    // SAFETY: forwarded from the caller; the two messages are distinct.
    status(unsafe {
        with_message(dest, |dest| {
            with_message(src, |src| msg::copy_to(dest, src))
        })
    })
}

/// The message body. NULL with EFAULT if `msg` is NULL or has no body
/// (delimiter, join/leave, closed or invalid: libzmq aborts).
///
/// # Safety
/// `msg` is NULL or points at a message as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void {
    pass!(data(msg.cast()));
    if msg.is_null() {
        return fail(libc::EFAULT, core::ptr::null_mut());
    }
    // SAFETY: non-null; the caller vouches for the rest (read in place,
    // at any alignment).
    let data = unsafe { msg::data(msg as *mut Msg) };
    if data.is_null() {
        return fail(libc::EFAULT, data);
    }
    data
}

/// The body size in bytes. 0 with errno EFAULT if `msg` is NULL or has no
/// body (libzmq aborts).
///
/// # Safety
/// `msg` is NULL or points at a message as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_size(msg: *const zmq_msg_t) -> usize {
    pass!(size(msg.cast()));
    // SAFETY: forwarded from the caller; only read.
    match unsafe { with_message_read(msg, |m| msg::size(m)) } {
        Ok(Some(size)) => size,
        _ => fail(libc::EFAULT, 0),
    }
}

/// 1 if more parts of the same message follow, else 0; -1 with EFAULT for
/// a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a message as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_more(msg: *const zmq_msg_t) -> c_int {
    pass!(more(msg.cast()));
    // SAFETY: forwarded from the caller; only read.
    match unsafe { with_message_read(msg, msg::more) } {
        Ok(more) => more as c_int,
        Err(Errno(errno)) => fail(errno, -1),
    }
}

/// An integer property: ZMQ_MORE (1), ZMQ_SRCFD (2, the socket a received
/// message came from, or -1 with EINVAL), ZMQ_SHARED (3). Other properties:
/// -1 with EINVAL; NULL `msg`: -1 with EFAULT.
///
/// # Safety
/// `msg` is NULL or points at a message as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_get(msg: *const zmq_msg_t, property: c_int) -> c_int {
    pass!(get(msg.cast(), property));
    // SAFETY: forwarded from the caller; only read.
    match unsafe { with_message_read(msg, |m| msg::get(m, property)) }.and_then(|r| r) {
        Ok(value) => value,
        Err(Errno(errno)) => fail(errno, -1),
    }
}

/// Sets an integer property. No property is settable (as in libzmq):
/// always -1 with EINVAL (EFAULT for a NULL `msg`).
///
/// # Safety
/// `msg` is NULL or points at a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_set(msg: *mut zmq_msg_t, property: c_int, value: c_int) -> c_int {
    pass!(set(msg.cast(), property, value));
    let _ = (property, value);
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    match unsafe { with_message_read(msg, |_| ()) } {
        Ok(()) => fail(libc::EINVAL, -1),
        Err(Errno(errno)) => fail(errno, -1),
    }
}

/// A metadata property of a received message ("Socket-Type",
/// "Peer-Address", "Routing-Id", "User-Id", application metadata), answered
/// by libzmq. NULL with EINVAL if the message has no such property or no
/// metadata, or `property` is NULL; EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` as for `zmq_msg_close`; `property` is NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_gets(
    msg: *const zmq_msg_t,
    property: *const c_char,
) -> *const c_char {
    pass!(gets(msg.cast(), property));
    if property.is_null() {
        return fail(libc::EINVAL, core::ptr::null());
    }
    // SAFETY: forwarded from the caller (message and property); only read.
    match unsafe { with_message_read(msg, |m| msg::gets(m, property)) }.and_then(|r| r) {
        Ok(value) => value,
        Err(Errno(errno)) => fail(errno, core::ptr::null()),
    }
}

/// The routing id (SERVER sockets), 0 if none. 0 with EFAULT for NULL.
///
/// # Safety
/// `msg` is NULL or points at a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_routing_id(msg: *mut zmq_msg_t) -> u32 {
    pass_draft!(routing_id(msg.cast()), 0);
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    match unsafe { with_message_read(msg, msg::routing_id) } {
        Ok(id) => id,
        Err(Errno(errno)) => fail(errno, 0),
    }
}

/// Sets the routing id. Returns 0; -1 with EINVAL for 0, EFAULT for NULL.
///
/// # Safety
/// `msg` is NULL or points at a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_set_routing_id(msg: *mut zmq_msg_t, routing_id: u32) -> c_int {
    pass_draft!(set_routing_id(msg.cast(), routing_id), -1);
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    status(unsafe { with_message(msg, |m| msg::set_routing_id(m, routing_id)) })
}

/// The group (RADIO/DISH), "" if none. NULL with EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_group(msg: *mut zmq_msg_t) -> *const c_char {
    pass_draft!(group(msg.cast()), core::ptr::null());
    if msg.is_null() {
        return fail(libc::EFAULT, core::ptr::null());
    }
    // SAFETY: non-null; the caller vouches for the rest (read in place: a
    // short name lives inside the message, and its address is returned).
    unsafe { msg::group(msg as *const Msg) }
}

/// Sets the group: the first 255 bytes of `group` (libzmq 4.3.x reads no
/// more). Returns 0; -1 with EINVAL if `group` is NULL, ENOMEM, EFAULT for
/// a NULL, closed or invalid `msg`.
///
/// # Safety
/// `msg` is NULL or points at a message; `group` is NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_set_group(msg: *mut zmq_msg_t, group: *const c_char) -> c_int {
    pass_draft!(set_group(msg.cast(), group), -1);
    if group.is_null() {
        return fail(libc::EINVAL, -1);
    }
    // libzmq 4.3.x reads at most ZMQ_GROUP_MAX_LENGTH characters (strnlen)
    // and takes that prefix of a longer name.
    // SAFETY: non-null; the caller vouches for a C string, of which strnlen
    // reads at most 255 bytes, as libzmq does.
    let name = unsafe {
        let len = libc::strnlen(group, crate::msg::layout::GROUP_MAX_LENGTH);
        core::slice::from_raw_parts(group as *const u8, len)
    };
    // SAFETY: `msg` is NULL or a `zmq_msg_t` as this function's `# Safety`
    // says: with_message's contract (NULL is refused there).
    status(unsafe { with_message(msg, |m| msg::set_group(m, name)) })
}
