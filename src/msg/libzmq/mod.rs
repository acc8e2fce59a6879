//! The real libzmq (or libzmqs), for what only it can do, and the check
//! that its messages are laid out the way zmqpool writes them.
//!
//! Messages received over tcp/ipc carry a pointer to libzmq's C++
//! `metadata_t`; adding or dropping a reference to it, destroying it, or
//! looking up a property needs libzmq's own code, and `zmq_send` hands its
//! message to libzmq's `zmq_msg_send`. The libzmq in the process is found in
//! this order:
//!
//! 1. the next definition after zmqpool in the global search order
//!    (`dlsym(RTLD_NEXT)`: zmqpool linked or preloaded ahead of libzmq);
//! 2. a libzmq already loaded under its soname in any scope;
//! 3. every loaded object, walked with `dl_iterate_phdr`: a language binding
//!    (pyzmq) `dlopen`s its own, renamed copy of libzmq into a local scope,
//!    where neither of the above sees it.
//!
//! A message with metadata can only come from libzmq, so when no libzmq can
//! be found the message is reported as invalid (EFAULT) rather than guessed
//! at. A search that finds nothing is not remembered: libzmq may be loaded
//! later.
//!
//! At load, every libzmq already present is checked: its version (4.3.3 or
//! later: 4.3.2 and earlier keep a 16-byte group name where 4.3.3 keeps a
//! type byte and a pointer) and its bytes (it makes a large and a small
//! message and a shared copy with its own functions; a libzmq built with
//! mutex-based atomic counters has a larger content block). When a copy
//! fails, every call is passed through ([`passthrough`]) to the libzmq the
//! program would have called without zmqpool: the one in the global scope.
//!
//! More than one libzmq (a binding's bundled copy beside the system one):
//! a socket belongs to the copy that made it, so `zmq_send` hands each
//! message to the copy whose code the socket's C++ vtable lies in
//! ([`for_socket`]). Metadata carries no such mark; it is handled by the
//! first copy, which is sound because every copy that passed the check is a
//! 4.3.x whose `metadata_t` (a reference count and a `std::map` of strings)
//! is the same on both sides, freed into the same C++ heap.
//!
//! Nothing here allocates from the Rust heap: names live in fixed buffers,
//! reasons are static strings, and the walk over the loaded objects
//! (`sys::loader::for_each_object`) copies into stack storage, so finding
//! libzmq cannot abort under memory pressure.

mod discovery;
mod layout_check;
mod symbols;

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::sys::loader::for_each_object;
use crate::sys::lock::RawLock;
use discovery::{find_first, in_range, resolve_by_name};
use layout_check::check_layout;

pub(crate) use discovery::{binds_to_us, served_by_other_zmqpool};
pub(crate) use layout_check::Mismatch;
pub use symbols::*;

/// Copies of libzmq seen in the process; the first is "the" libzmq.
const MAX_COPIES: usize = 8;
static COPIES: [OnceLock<RealLibzmq>; MAX_COPIES] = [const { OnceLock::new() }; MAX_COPIES];
static COPY_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Serialises adding copies.
static ADDING: RawLock<()> = RawLock::new(());

/// Set at load when a libzmq in the process lays messages out differently:
/// every export then calls this libzmq's function instead.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
static PASSTHROUGH: AtomicPtr<RealLibzmq> = AtomicPtr::new(core::ptr::null_mut());

pub(crate) fn copies() -> impl Iterator<Item = &'static RealLibzmq> {
    // Acquire: pairs with the Release in add(); those slots are set.
    let count = COPY_COUNT.load(Ordering::Acquire);
    COPIES[..count].iter().filter_map(OnceLock::get)
}

/// Adds a copy unless one with the same range is known; returns the known
/// or added one (None when the table is full).
pub(super) fn add(copy: RealLibzmq) -> Option<&'static RealLibzmq> {
    install_fork_handlers();
    ADDING.with(|_| {
        if let Some(known) = copies().find(|known| known.range == copy.range) {
            return Some(known);
        }
        // Relaxed: ADDING is held, and only its holder stores the count.
        let count = COPY_COUNT.load(Ordering::Relaxed);
        if count == MAX_COPIES {
            return None;
        }
        let added = COPIES[count].get_or_init(|| copy);
        // Release: the slot's contents before the count that exposes it.
        COPY_COUNT.store(count + 1, Ordering::Release);
        report_late(added);
        Some(added)
    })
}

/// A fork() while another thread adds a copy must not leave the child
/// with ADDING held: the handlers take it around the fork (it nests no
/// other lock, so the order against the pool's handlers does not matter).
fn install_fork_handlers() {
    extern "C" fn prepare() {
        ADDING.lock();
    }
    extern "C" fn after() {
        // SAFETY: prepare() took it on this thread (in the child: the
        // parent's forking thread, which this thread is).
        unsafe { ADDING.unlock() };
    }
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers plain extern "C" functions without arguments.
        unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
    });
}

/// The real libzmq, if the process has one (searched again on every call
/// until found).
pub fn real() -> Option<&'static RealLibzmq> {
    if let Some(first) = copies().next() {
        return Some(first);
    }
    find_first().and_then(add)
}

/// The version of the libzmq found so far (no search), for reports.
pub fn real_version() -> Option<(c_int, c_int, c_int)> {
    copies().next().map(version)
}

/// True once a libzmq has been found in the process.
pub fn seen() -> bool {
    copies().next().is_some()
}

/// Set once the load-time search has run: a libzmq found after it was
/// loaded later (a binding imported after start-up).
static LOADED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Reports a libzmq found after load (ZMQPOOL_VERBOSE=1); its layout is
/// not checked: zmqpool's messages may already be in flight.
#[cold]
fn report_late(copy: &RealLibzmq) {
    // Relaxed: a flag that only chooses whether a line is printed.
    if LOADED.load(Ordering::Relaxed) && crate::sys::log::verbose() {
        let (major, minor, patch) = version(copy);
        crate::sys::log::to_stderr(format_args!(
            "zmqpool: found libzmq {major}.{minor}.{patch} in {} after load (a binding \
             loaded later); its layout is not checked",
            copy.found_in
        ));
    }
}

/// The libzmq every call must be passed to, when a layout is not ours.
#[inline(always)]
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub fn passthrough() -> Option<&'static RealLibzmq> {
    // Acquire: pairs with the Release store in detect_at_load, so the
    // function table is seen complete.
    let real = PASSTHROUGH.load(Ordering::Acquire);
    // SAFETY: non-null only when pointing at a 'static value in COPIES.
    unsafe { real.as_ref() }
}

/// The libzmq that made `socket`: the copy whose mapped range holds the
/// socket's C++ vtable pointer, else the first copy (whose own check then
/// rejects a pointer that is no socket).
///
/// # Safety
/// `socket` is non-null and readable for one pointer (libzmq itself reads
/// further into anything passed as a socket).
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub unsafe fn for_socket(socket: *mut c_void) -> Option<&'static RealLibzmq> {
    let first = real()?;
    // SAFETY: by the contract; unaligned, since the pointer is the caller's.
    let vtable = unsafe { (socket as *const usize).read_unaligned() };
    if in_range(first.range, vtable) {
        return Some(first);
    }
    if let Some(copy) = copies().find(|copy| in_range(copy.range, vtable)) {
        return Some(copy);
    }
    Some(copy_containing(vtable).unwrap_or(first))
}

/// Counts a zmq_send handed to `copy` (see `later_sends`).
#[inline]
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub fn count_send(copy: &RealLibzmq) {
    if !real().is_some_and(|first| core::ptr::eq(first, copy)) {
        // Relaxed: a statistic.
        copy.later_sends.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every copy found: its path, version and the zmq_send calls it took
/// (`total_sends`: all of them; the first copy is given the rest).
pub fn for_each_copy(total_sends: u64, mut visit: impl FnMut(&Name, (c_int, c_int, c_int), u64)) {
    let later: u64 = copies()
        .skip(1)
        // Relaxed: statistics.
        .map(|c| c.later_sends.load(Ordering::Relaxed))
        .sum();
    for (index, copy) in copies().enumerate() {
        let sends = if index == 0 {
            total_sends.saturating_sub(later)
        } else {
            // Relaxed: statistics.
            copy.later_sends.load(Ordering::Relaxed)
        };
        visit(&copy.found_in, version(copy), sends);
    }
}

/// A libzmq loaded after the search (a binding imported later): the object
/// holding `address`, if it is a libzmq.
#[cold]
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
fn copy_containing(address: usize) -> Option<&'static RealLibzmq> {
    let mut found = None;
    for_each_object(|name, range| {
        if !in_range(range, address) {
            return false;
        }
        found = resolve_by_name(name, range).and_then(add);
        true
    });
    found
}

/// What the load-time check found, for the ZMQPOOL_VERBOSE lines.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) enum Detection {
    /// No libzmq in the process yet.
    Absent,
    /// Every libzmq present lays messages out as zmqpool does.
    Compatible,
    /// A libzmq with another layout or version: calls go to this one.
    PassThrough(&'static RealLibzmq, Mismatch),
}

/// Looks for every libzmq at load and checks each; on a mismatch switches
/// every export to pass-through.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn detect_at_load() -> Detection {
    let first = real();
    let Some(first) = first else {
        // Relaxed: see report_late; written at load only.
        LOADED.store(true, Ordering::Relaxed);
        return Detection::Absent;
    };
    // Copies in local scopes too (a binding's bundled libzmq).
    for_each_object(|name, range| {
        if !copies().any(|copy| copy.range == range) {
            if let Some(copy) = resolve_by_name(name, range) {
                add(copy);
            }
        }
        false
    });
    // Copies found from here on were loaded after zmqpool (reported so).
    // Relaxed: see report_late; written at load only.
    LOADED.store(true, Ordering::Relaxed);
    for copy in copies() {
        if let Err(why) = check_layout(copy) {
            // The libzmq the program would call without zmqpool: the one
            // in the global scope (found first), else this one.
            let target = if first.found_in.is_global_scope() {
                first
            } else {
                copy
            };
            // Release: the copy's function table before the pointer (Acquire in passthrough()).
            PASSTHROUGH.store(
                target as *const RealLibzmq as *mut RealLibzmq,
                Ordering::Release,
            );
            return Detection::PassThrough(target, why);
        }
    }
    Detection::Compatible
}
