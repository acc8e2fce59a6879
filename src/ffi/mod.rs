//! The C ABI: the only place with exported symbols.
//!
//! Each function checks its pointers, calls the safe(r) operation in
//! [`crate::msg`], and reports failure the libzmq way: -1 (or NULL) with
//! errno set. Nothing here panics: the release build aborts on panic, and no
//! code path below has one.

use core::ffi::{c_char, c_int, c_void};

use crate::msg::{self, layout::Msg, Errno};

mod zmtp;
pub use zmtp::*;

/// In pass-through mode (a libzmq with another message layout, see
/// `msg::libzmq`), calls libzmq's own function and returns its result.
macro_rules! pass {
    ($function:ident ( $($arg:expr),* )) => {
        if let Some(real) = crate::msg::libzmq::passthrough() {
            // SAFETY: libzmq's function with the caller's own arguments,
            // under the same contract as this function's.
            return passed_through(move || unsafe { (real.$function)($($arg),*) });
        }
    };
}

/// Counts a call passed through to libzmq and makes it, out of line: the
/// function that passes keeps no stack frame for this cold path.
#[cold]
#[inline(never)]
fn passed_through<R>(call: impl FnOnce() -> R) -> R {
    crate::pool::count(crate::pool::stats::Event::PassedThroughLayout);
    call()
}

/// [`pass!`] for the draft functions a libzmq may lack: without one, the
/// call fails with ENOTSUP.
macro_rules! pass_draft {
    ($function:ident ( $($arg:expr),* ), $failed:expr) => {
        if let Some(real) = crate::msg::libzmq::passthrough() {
            return passed_through(move || match real.$function {
                // SAFETY: as in pass!.
                Some(function) => unsafe { function($($arg),*) },
                None => fail(libc::ENOTSUP, $failed),
            });
        }
    };
}

/// libzmq's `zmq_msg_t`: 64 opaque bytes, pointer-aligned. The header takes
/// its definition from `<zmq.h>` when that is available.
#[repr(C, align(8))]
#[allow(non_camel_case_types)]
pub struct zmq_msg_t {
    _opaque: [u8; 64],
}
const _: () = assert!(core::mem::size_of::<zmq_msg_t>() == core::mem::size_of::<Msg>());
const _: () = assert!(core::mem::align_of::<zmq_msg_t>() == core::mem::align_of::<Msg>());

/// Runs `body` on the message at `msg`: in place when the pointer is
/// 8-aligned (always, for a `zmq_msg_t` the compiler placed), otherwise on
/// an aligned copy that is written back afterwards, since libzmq works on a
/// message at any address on x86-64 and a Rust reference may not. EFAULT
/// for NULL.
///
/// # Safety
/// A non-null `msg` points at 64 writable bytes not aliased by any live
/// Rust reference.
#[inline(always)]
unsafe fn with_message<R>(
    msg: *mut zmq_msg_t,
    body: impl FnOnce(&mut Msg) -> Result<R, Errno>,
) -> Result<R, Errno> {
    if msg.is_null() {
        return Err(Errno(libc::EFAULT));
    }
    let msg = msg as *mut Msg;
    if msg.is_aligned() {
        // SAFETY: non-null and aligned; the caller vouches for the rest.
        return body(unsafe { &mut *msg });
    }
    // SAFETY: forwarded from the caller; non-null.
    unsafe { with_unaligned_message(msg, body) }
}

/// [`with_message`] for a misaligned pointer, out of line: the aligned case
/// then inlines `body` once, with no 64-byte copy around it.
///
/// # Safety
/// As for [`with_message`]; `msg` is non-null.
#[cold]
#[inline(never)]
unsafe fn with_unaligned_message<R>(
    msg: *mut Msg,
    body: impl FnOnce(&mut Msg) -> Result<R, Errno>,
) -> Result<R, Errno> {
    // SAFETY: the caller vouches for the 64 bytes; read and written back
    // without assuming alignment. The copy holds the same pointers, which
    // stay valid wherever the 64 bytes live (a message has no pointer into
    // itself).
    unsafe {
        let mut copy = msg.read_unaligned();
        let result = body(&mut copy);
        msg.write_unaligned(copy);
        result
    }
}

/// [`with_message`] for functions that only read the message (a `const`
/// pointer in C): `body` gets a shared reference, or a copy when `msg` is
/// not aligned, and nothing is written back.
///
/// # Safety
/// A non-null `msg` points at 64 readable bytes holding a message.
#[inline(always)]
unsafe fn with_message_read<R>(
    msg: *const zmq_msg_t,
    body: impl FnOnce(&Msg) -> R,
) -> Result<R, Errno> {
    if msg.is_null() {
        return Err(Errno(libc::EFAULT));
    }
    let msg = msg as *const Msg;
    if msg.is_aligned() {
        // SAFETY: non-null and aligned; the caller vouches for the rest.
        return Ok(body(unsafe { &*msg }));
    }
    // SAFETY: as above, read without assuming alignment.
    Ok(body(&unsafe { msg.read_unaligned() }))
}

fn status(result: Result<(), Errno>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(Errno(errno)) => {
            msg::set_errno(errno);
            -1
        }
    }
}

fn fail<T>(errno: c_int, value: T) -> T {
    msg::set_errno(errno);
    value
}

/// Initialises an empty message. Returns 0; -1 with EFAULT for a NULL `msg`.
///
/// # Safety
/// `msg` is NULL or points at a `zmq_msg_t` not holding a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int {
    pass!(init(msg.cast()));
    // SAFETY: forwarded from the caller.
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
    // SAFETY: forwarded from the caller.
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
    // SAFETY: forwarded from the caller.
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
        // SAFETY: forwarded from the caller.
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
    // SAFETY: forwarded from the caller.
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
    // SAFETY: forwarded from the caller.
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
    // SAFETY: forwarded from the caller.
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
    // SAFETY: forwarded from the caller.
    status(unsafe { with_message(msg, |m| msg::set_group(m, name)) })
}

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
    // SAFETY: forwarded from the caller.
    match unsafe { msg::socket::send(socket, buf, len, flags) } {
        Ok(sent) => sent,
        Err(Errno(errno)) => fail(errno, -1),
    }
}

/// zmqpool's version, as `zmq_version` reports libzmq's. Any pointer may be NULL.
///
/// # Safety
/// Each pointer is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    let parts = [
        (major, env!("CARGO_PKG_VERSION_MAJOR")),
        (minor, env!("CARGO_PKG_VERSION_MINOR")),
        (patch, env!("CARGO_PKG_VERSION_PATCH")),
    ];
    for (out, text) in parts {
        if !out.is_null() {
            // SAFETY: non-null and writable by the contract.
            unsafe { *out = text.parse().unwrap_or(0) };
        }
    }
}

// The header's ZMQPOOL_BACKEND_* values.
const _: () = assert!(crate::pool::Backend::Pool as u8 == 1);
const _: () = assert!(crate::pool::Backend::Mimalloc as u8 == 2);
const _: () = assert!(crate::pool::Backend::System as u8 == 3);

pub use crate::pool::stats::zmqpool_stats_t;

/// Allocates `size` bytes from zmqpool, 16-byte aligned; `size` 0 gives a
/// unique pointer. NULL with errno ENOMEM when memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_alloc(size: usize) -> *mut c_void {
    let block = crate::pool::alloc(size);
    if block.is_null() {
        return fail(libc::ENOMEM, core::ptr::null_mut());
    }
    block as *mut c_void
}

/// Releases a block from `zmqpool_alloc`, on any thread. NULL is ignored.
///
/// # Safety
/// `ptr` is NULL or came from `zmqpool_alloc` and was not released yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_dealloc(ptr: *mut c_void) {
    // SAFETY: forwarded from the caller.
    unsafe { crate::pool::dealloc(ptr as *mut u8) }
}

/// Bytes usable at a block from `zmqpool_alloc` (at least the size asked
/// for); 0 for NULL.
///
/// # Safety
/// `ptr` is NULL or a live block from `zmqpool_alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_usable_size(ptr: *const c_void) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: forwarded from the caller.
    unsafe { crate::pool::usable_size(ptr as *const u8) }
}

/// Returns the calling thread's cached blocks and the shared depot's to the
/// upstream allocator.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_trim() {
    crate::pool::trim();
}

/// Fills `*out` with process-wide statistics, as far as `size` bytes (pass
/// `sizeof *out`): a program built against an older, smaller
/// `zmqpool_stats_t` gets the fields it knows, one built against a newer,
/// larger one gets zeros past the fields this library has. The header's
/// `zmqpool_stats(out)` macro passes the size for you (so `out` must be a
/// typed pointer there: `zmqpool_stats(NULL)` does not compile, and
/// `&zmqpool_stats` or `(zmqpool_stats)(out)` is the 0.1 function, which
/// fills 64 bytes). Returns 0; -1 with EFAULT for a NULL `out`.
///
/// # Safety
/// `out` is NULL or writable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_stats_get(out: *mut zmqpool_stats_t, size: usize) -> c_int {
    if out.is_null() {
        return fail(libc::EFAULT, -1);
    }
    let snapshot = crate::pool::stats::snapshot();
    let ours = core::mem::size_of::<zmqpool_stats_t>();
    // SAFETY: `out` is writable for `size` bytes by the contract; the copy
    // reads at most `ours` bytes of the local snapshot.
    unsafe {
        core::ptr::copy_nonoverlapping(
            &snapshot as *const zmqpool_stats_t as *const u8,
            out as *mut u8,
            size.min(ours),
        );
        if size > ours {
            core::ptr::write_bytes((out as *mut u8).add(ours), 0, size - ours);
        }
    }
    0
}

/// The statistics of zmqpool 0.1: fills only the first eight fields
/// (`allocations` to `threads`, 64 bytes), the struct as that version
/// defined it, so programs built against it keep working. New code gets
/// `zmqpool_stats_get` through the header's `zmqpool_stats(out)` macro.
///
/// # Safety
/// `out` is NULL or writable for 64 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_stats(out: *mut zmqpool_stats_t) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { zmqpool_stats_get(out, STATS_0_1_SIZE) }
}

/// Size of `zmqpool_stats_t` in zmqpool 0.1 (eight `uint64_t`).
const STATS_0_1_SIZE: usize = 64;
const _: () = assert!(core::mem::offset_of!(zmqpool_stats_t, threads) + 8 == STATS_0_1_SIZE);

/// Writes the statistics as one JSON object (what `ZMQPOOL_SHOW_STATS=json`
/// prints at exit; fields in README.md) into `buf`, as much as fits in
/// `len` bytes with a terminating NUL, like `snprintf`: returns the length
/// of the whole object (without the NUL), so a return value >= `len` means
/// it was cut short. `buf` may be NULL when `len` is 0 (to ask the length).
/// Allocates nothing.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_stats_json(buf: *mut c_char, len: usize) -> usize {
    let mut nothing = [0u8; 0];
    let buffer: &mut [u8] = if buf.is_null() || len == 0 {
        &mut nothing
    } else {
        // SAFETY: writable for `len` bytes by the contract.
        unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, len) }
    };
    let mut writer = crate::pool::report::BufferWriter::new(buffer);
    let _ = crate::pool::report::write_json(&mut writer);
    writer.finish()
}

/// Sets the decay time: blocks unused for `ms` milliseconds go back to the
/// system (also `ZMQPOOL_DECAY_MS`; default 1000). 0: never; -1: at once.
/// Returns 0; -1 with EINVAL for other negative values.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_decay_ms(ms: i64) -> c_int {
    let decay = match ms {
        0 => None,
        -1 => Some(0),
        ms if ms > 0 => Some(ms as u64),
        _ => return fail(libc::EINVAL, -1),
    };
    crate::pool::decay::set_decay_ms(decay);
    0
}

/// The decay time in ms, as `zmqpool_set_decay_ms` takes it (0: never;
/// -1: at once).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_get_decay_ms() -> i64 {
    match crate::pool::decay::decay_ms() {
        None => 0,
        Some(0) => -1,
        Some(ms) => ms.min(i64::MAX as u64) as i64,
    }
}

/// Prints the statistics, human-readable, to stderr (what
/// `ZMQPOOL_SHOW_STATS=1` prints at exit).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_print_stats() {
    crate::config::print_stats();
}

/// Chooses where new blocks come from: ZMQPOOL_BACKEND_POOL (1),
/// ZMQPOOL_BACKEND_MIMALLOC (2) or ZMQPOOL_BACKEND_SYSTEM (3). Blocks already
/// handed out are still released correctly. Returns 0; -1 with EINVAL for
/// any other value.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_backend(backend: c_int) -> c_int {
    use crate::pool::Backend;
    let chosen = match backend {
        1 => Backend::Pool,
        2 => Backend::Mimalloc,
        3 => Backend::System,
        _ => return fail(libc::EINVAL, -1),
    };
    crate::pool::set_backend(chosen);
    0
}

/// The current backend (1 pool, 2 mimalloc, 3 system).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_get_backend() -> c_int {
    crate::pool::backend() as c_int
}

/// Sets the cap on bytes kept for reuse in the shared depot (also
/// `ZMQPOOL_MAX_CACHED_BYTES`; default 1 GiB while decay is on, since idle
/// blocks go back after the decay time anyway, and 64 MiB with decay off);
/// 0 keeps nothing beyond the thread caches.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_max_cached_bytes(bytes: usize) {
    crate::pool::depot::set_max_cached_bytes(bytes);
}

/// Sets the cap on bytes one thread keeps for reuse (also
/// `ZMQPOOL_MAX_THREAD_CACHED_BYTES`; default 4 MiB). Beyond it, freed
/// blocks go to the shared depot at once.
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_set_max_thread_cached_bytes(bytes: usize) {
    crate::pool::thread_cache::set_max_thread_cached_bytes(bytes);
}
