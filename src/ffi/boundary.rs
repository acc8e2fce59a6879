//! The boundary every exported function crosses: the `zmq_msg_t` type, a
//! message pointer turned into a reference (aligned in place, or through an
//! aligned copy), errors reported as libzmq does (-1 or NULL with errno),
//! and the pass-through to libzmq's own functions when its message layout
//! is not zmqpool's.
//!
//! # The pointer contract
//!
//! Every export's `# Safety` says, for each pointer argument, what it
//! points at when it is not NULL: a `zmq_msg_t` (64 bytes, writable unless
//! `const`, holding a message where the function reads one), an object
//! from the matching `_new` function, a C string, a buffer of the given
//! length, or a writable out-value. None is aliased by a live Rust
//! reference for the duration of the call (C cannot make one).
//!
//! An export turns such an argument into a Rust reference only through the
//! helpers below, one per kind of conversion, each relying on that
//! contract alone; their `// SAFETY:` comment, written once here, names
//! it. Each helper refuses NULL as libzmq would (EFAULT, or EINVAL for a
//! string or buffer), so no export dereferences a pointer it did not check.
//! (rustls-ffi's `try_ref_from_ptr!` family is the model.)
//!
//! The helpers are macros local to `ffi/`, and their unsafe block is the
//! caller's promise: use them only on a parameter of an `unsafe extern "C"
//! fn` whose `# Safety` states the contract for it (every use is), never on
//! a pointer made in Rust. Arguments other than the pointer (closures,
//! lengths, failure values) are evaluated outside the unsafe block.
//!
//! | argument | helper | gives |
//! | --- | --- | --- |
//! | `zmq_msg_t *` | [`try_message!`] (any alignment), [`aligned_message!`] (the hot paths) | `&mut Msg` (a copy when misaligned) |
//! | `const zmq_msg_t *` | [`read_message!`] | `&Msg` |
//! | `zmq_msg_t *` read in place | [`message_at!`] | a non-null `*mut Msg` |
//! | `T *` object or out-value | [`try_mut!`] / [`opt_mut!`] | `&mut T` / `Option<&mut T>` |
//! | object to destroy | [`destroy!`] | dropped and freed |
//! | `const char *` | [`c_string_prefix!`] | `&[u8]`, at most N bytes |
//! | `void *buf, size_t len` (written) | [`out_bytes!`] | `&mut [u8]` |

use core::ffi::c_int;

/// `$msg` (a `*mut zmq_msg_t` argument under the pointer contract) as
/// `&mut Msg`, passed to `$body` (built outside any unsafe block: its own
/// unsafe calls need their own); `Err(EFAULT)` for NULL.
macro_rules! try_message {
    ($msg:expr, $body:expr) => {{
        let message: *mut $crate::ffi::boundary::zmq_msg_t = $msg;
        let body = $body;
        // SAFETY: the pointer contract (boundary.rs): NULL or 64 writable
        // bytes no live reference aliases; with_message refuses NULL.
        unsafe { $crate::ffi::boundary::with_message(message, body) }
    }};
}

/// `$msg` as `&mut Msg` when it is non-null and aligned (None otherwise:
/// then [`try_message!`]), for the hottest calls: nothing stands between
/// them and their inlined body.
macro_rules! aligned_message {
    ($msg:expr) => {{
        let message: *mut $crate::ffi::boundary::zmq_msg_t = $msg;
        if !message.is_null() && message.is_aligned() {
            // SAFETY: the pointer contract (boundary.rs): 64 writable bytes
            // no live reference aliases; non-null and aligned (checked).
            Some(unsafe { &mut *(message as *mut $crate::msg::layout::Msg) })
        } else {
            None
        }
    }};
}

/// `$msg` (a `*const zmq_msg_t` argument under the pointer contract) as
/// `&Msg`, passed to `$body`; `Err(EFAULT)` for NULL.
macro_rules! read_message {
    ($msg:expr, $body:expr) => {{
        let message: *const $crate::ffi::boundary::zmq_msg_t = $msg;
        let body = $body;
        // SAFETY: the pointer contract (boundary.rs): NULL or 64 readable
        // bytes holding a message; with_message_read refuses NULL.
        unsafe { $crate::ffi::boundary::with_message_read(message, body) }
    }};
}

/// `$msg` as a non-null `*mut Msg` for functions that read a message in
/// place at any alignment (their results point into it); returns
/// `$failure` with EFAULT from the export for NULL.
macro_rules! message_at {
    ($msg:expr, $failure:expr) => {{
        let message = $msg;
        if message.is_null() {
            return $crate::ffi::boundary::fail(libc::EFAULT, $failure);
        }
        message as *mut $crate::msg::layout::Msg
    }};
}

/// `$ptr` (an object or out-value argument under the pointer contract) as
/// `&mut T`; returns `$failure` with EFAULT from the export for NULL.
macro_rules! try_mut {
    ($ptr:expr, $failure:expr) => {
        match opt_mut!($ptr) {
            Some(reference) => reference,
            None => return $crate::ffi::boundary::fail(libc::EFAULT, $failure),
        }
    };
}

/// `$ptr` (an optional out-value under the pointer contract) as
/// `Option<&mut T>`: None for NULL.
macro_rules! opt_mut {
    ($ptr:expr) => {{
        let pointer = $ptr;
        // SAFETY: the pointer contract (boundary.rs): NULL or valid for its
        // type, aligned (C placed it) and aliased by no live reference;
        // as_mut checks NULL.
        unsafe { pointer.as_mut() }
    }};
}

/// Drops and frees `$ptr`, an object from `into_pool_block` (its `_new`
/// function) that the export's contract says is destroyed once; nothing for
/// NULL.
macro_rules! destroy {
    ($ptr:expr) => {{
        let pointer = $ptr;
        if !pointer.is_null() {
            // SAFETY: the pointer contract (boundary.rs): an object made by
            // its _new function through into_pool_block, destroyed once.
            unsafe { $crate::ffi::boundary::drop_pool_block(pointer) };
        }
    }};
}

/// The first bytes of the C string `$ptr`, at most `$max` (`strnlen`:
/// nothing past them is read); returns `$failure` with EINVAL from the
/// export for NULL.
macro_rules! c_string_prefix {
    ($ptr:expr, $max:expr, $failure:expr) => {{
        let string: *const core::ffi::c_char = $ptr;
        let max: usize = $max;
        if string.is_null() {
            return $crate::ffi::boundary::fail(libc::EINVAL, $failure);
        }
        // SAFETY: the pointer contract (boundary.rs): a C string; strnlen
        // reads at most `max` bytes of it, and those bytes are a slice.
        unsafe {
            let len = libc::strnlen(string, max);
            core::slice::from_raw_parts(string as *const u8, len)
        }
    }};
}

/// `$len` writable bytes at `$ptr` (an output buffer under the pointer
/// contract) as `&mut [u8]`; empty for NULL or 0.
macro_rules! out_bytes {
    ($ptr:expr, $len:expr) => {{
        let (pointer, len): (*mut u8, usize) = ($ptr.cast::<u8>(), $len);
        if pointer.is_null() || len == 0 {
            &mut [][..]
        } else {
            // SAFETY: the pointer contract (boundary.rs): writable for `len`
            // bytes, aliased by no live reference.
            unsafe { core::slice::from_raw_parts_mut(pointer, len) }
        }
    }};
}

use crate::msg::layout::Msg;
use crate::msg::Errno;
use crate::sys::errno::set_errno;

/// In pass-through mode (a libzmq with another message layout, see
/// `msg::libzmq`), calls libzmq's own function and returns its result.
/// The arguments are the export's own parameters, each maybe `.cast()`:
/// they are evaluated before, outside the unsafe block.
macro_rules! pass {
    ($function:ident ( $($arg:ident $(. $convert:ident ())?),* )) => {
        if let Some(real) = crate::msg::libzmq::passthrough() {
            $(let $arg = $arg $(. $convert ())?;)*
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
pub(super) fn passed_through<R>(call: impl FnOnce() -> R) -> R {
    crate::msg::events::count(crate::msg::events::Event::PassedThroughLayout);
    call()
}

/// [`pass!`] for the draft functions a libzmq may lack: without one, the
/// call fails with ENOTSUP.
macro_rules! pass_draft {
    ($function:ident ( $($arg:ident $(. $convert:ident ())?),* ), $failed:expr) => {
        if let Some(real) = crate::msg::libzmq::passthrough() {
            $(let $arg = $arg $(. $convert ())?;)*
            let failed = $failed;
            return passed_through(move || match real.$function {
                // SAFETY: libzmq's draft function with the caller's own arguments, under
                // the same contract as the exported function's (as in pass!).
                Some(function) => unsafe { function($($arg),*) },
                None => fail(libc::ENOTSUP, failed),
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
pub(super) unsafe fn with_message<R>(
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
pub(super) unsafe fn with_message_read<R>(
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
    // SAFETY: non-null, and the caller's 64 readable bytes (this
    // function's contract), read without assuming alignment.
    Ok(body(&unsafe { msg.read_unaligned() }))
}

pub(super) fn status(result: Result<(), Errno>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(Errno(errno)) => {
            set_errno(errno);
            -1
        }
    }
}

pub(super) fn fail<T>(errno: c_int, value: T) -> T {
    set_errno(errno);
    value
}

/// Moves `value` into a pool block: NULL with ENOMEM when memory is
/// exhausted (a `Box` would abort the host process instead).
pub(super) fn into_pool_block<T>(value: T) -> *mut T {
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
pub(super) unsafe fn drop_pool_block<T>(block: *mut T) {
    // SAFETY: `block` holds a live T written by into_pool_block into a
    // pool block (this function's contract), dropped and freed once.
    unsafe {
        core::ptr::drop_in_place(block);
        crate::pool::dealloc(block as *mut u8);
    }
}
