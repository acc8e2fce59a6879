//! `zmq_msg_*`: libzmq's message functions, each over [`crate::msg`].

use core::ffi::{c_char, c_int, c_void};

use super::boundary::{fail, passed_through, status, zmq_msg_t};
use crate::msg::{self, Errno};

/// Initialises an empty message. Returns 0; -1 with EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a `zmq_msg_t` not holding a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int {
    pass!(init(msg.cast()));
    status(try_message!(msg, |m: &mut _| {
        msg::init(m);
        Ok(())
    }))
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
    // The hottest call there is: nothing between it and the allocation.
    if let Some(m) = aligned_message!(msg) {
        return status(msg::init_size(m, size));
    }
    status(try_message!(msg, |m: &mut _| msg::init_size(m, size)))
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
    status(try_message!(msg, |m: &mut _| {
        // SAFETY: `buf` is NULL or readable for `size` bytes (this
        // function's contract): init_buffer's.
        unsafe { msg::init_buffer(m, buf, size) }
    }))
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
    // Spelled out for cbindgen (an alias would reach the header as an
    // unknown type); passing it to msg::init_data checks it is FreeFn.
    ffn: Option<unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void)>,
    hint: *mut c_void,
) -> c_int {
    pass!(init_data(msg.cast(), data, size, ffn, hint));
    status(try_message!(msg, |m: &mut _| msg::init_data(
        m, data, size, ffn, hint
    )))
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
    // As in zmq_msg_init_size: the hot path.
    if let Some(m) = aligned_message!(msg) {
        // SAFETY: `m` holds a message or a closed one (this function's
        // contract): M1-M6, close's.
        return status(unsafe { msg::close(m) });
    }
    status(try_message!(msg, |m: &mut _| {
        // SAFETY: as above.
        unsafe { msg::close(m) }
    }))
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
        return status(try_message!(dest, |m: &mut _| {
            // SAFETY: `m` holds a message (this function's contract): M1-M6.
            unsafe { msg::move_onto_itself(m) }
        }));
    }
    // `dest != src`, and two messages do not overlap (libzmq's move copies
    // the 64 bytes whole and requires the same): two disjoint borrows.
    status(try_message!(dest, |dest: &mut _| {
        try_message!(src, |src: &mut _| {
            // SAFETY: both hold messages (this function's contract): M1-M6.
            unsafe { msg::move_to(dest, src) }
        })
    }))
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
        return status(try_message!(dest, |m: &mut _| msg::check(m)));
    }
    // Two distinct messages (as in zmq_msg_move): two disjoint borrows.
    status(try_message!(dest, |dest: &mut _| {
        try_message!(src, |src: &mut _| {
            // SAFETY: both hold messages (this function's contract): M1-M6.
            unsafe { msg::copy_to(dest, src) }
        })
    }))
}

/// The message body. NULL with EFAULT if `msg` is NULL or has no body
/// (delimiter, join/leave, closed or invalid: libzmq aborts).
///
/// # Safety
/// `msg` is NULL or points at a message as for `zmq_msg_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void {
    pass!(data(msg.cast()));
    let at = message_at!(msg, core::ptr::null_mut());
    // SAFETY: 64 bytes holding a message (this function's contract), read
    // in place at any alignment: data's.
    let data = unsafe { msg::data(at) };
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
    match read_message!(msg, |m: &_| {
        // SAFETY: `m` holds a message (this function's contract): M1-M6.
        unsafe { msg::size(m) }
    }) {
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
    match read_message!(msg, msg::more) {
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
    match read_message!(msg, |m: &_| {
        // SAFETY: `m` holds a message (this function's contract): M1-M6.
        unsafe { msg::get(m, property) }
    })
    .and_then(|r| r)
    {
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
    match read_message!(msg, |_: &_| ()) {
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
    match read_message!(msg, |m: &_| {
        // SAFETY: `m` holds a message and `property` is a C string (this
        // function's contract): gets's.
        unsafe { msg::gets(m, property) }
    })
    .and_then(|r| r)
    {
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
    match read_message!(msg, msg::routing_id) {
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
    status(try_message!(msg, |m: &mut _| msg::set_routing_id(
        m, routing_id
    )))
}

/// The group (RADIO/DISH), "" if none. NULL with EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_group(msg: *mut zmq_msg_t) -> *const c_char {
    pass_draft!(group(msg.cast()), core::ptr::null());
    let at = message_at!(msg, core::ptr::null());
    // SAFETY: 64 bytes holding a message (this function's contract), read
    // in place (a short name lives inside it, and its address is
    // returned): group's.
    unsafe { msg::group(at) }
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
    // libzmq 4.3.x reads at most ZMQ_GROUP_MAX_LENGTH characters (strnlen)
    // and takes that prefix of a longer name.
    let name = c_string_prefix!(group, crate::msg::layout::GROUP_MAX_LENGTH, -1);
    status(try_message!(msg, |m: &mut _| {
        // SAFETY: `m` holds a message (this function's contract): M1-M6.
        unsafe { msg::set_group(m, name) }
    }))
}
