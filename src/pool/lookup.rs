//! Finding the calling thread's record, on the path every message takes
//! twice.
//!
//! ```text
//!   slot (initial-exec TLS)      --> the calling thread's record: tried first
//!   TABLE[hash(thread pointer)] --> the same (a cache; the only way without
//!                                   the slot, cargo feature no-static-tls)
//!   FALLBACK (thread-local)      --> the same, when the table slot is taken
//! ```
//!
//! Invariant (L1): the TLS slot holds a record only while the calling
//! thread owns it: set in [`current_slow`] when the thread gets its record,
//! cleared by [`detach_current`] before the thread gives it back; a fork
//! child's one thread keeps its record, and no other thread's slot exists
//! there. The table and the fallback are only caches: what they hold is
//! followed only after its `owner` is checked against the caller.

use core::cell::Cell;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::hooks;
use super::record::{adopt_or_create, ThreadRecord};
use crate::sys::thread::{slot, thread_pointer};

const TABLE_BITS: u32 = 10;
/// The calling thread's record, found from its thread pointer.
static TABLE: [AtomicPtr<ThreadRecord>; 1 << TABLE_BITS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 1 << TABLE_BITS];

/// A thread's record after it has given it back (its exit).
const RETIRED: *mut ThreadRecord = core::ptr::dangling_mut::<ThreadRecord>();

thread_local! {
    /// The record of a thread whose table slot another thread holds, or
    /// RETIRED. Const-initialised and without a destructor: reaching it
    /// registers nothing with the C library.
    static FALLBACK: Cell<*mut ThreadRecord> = const { Cell::new(core::ptr::null_mut()) };
}

#[inline(always)]
fn slot_of(tp: usize) -> &'static AtomicPtr<ThreadRecord> {
    let hash = (tp as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE_BITS);
    &TABLE[hash as usize]
}

/// The calling thread's record, or None when it has none and cannot get
/// one (exiting, or out of memory): then the caller goes without a cache.
#[inline(always)]
pub(crate) fn current() -> Option<&'static ThreadRecord> {
    let mine = slot::get() as *mut ThreadRecord;
    if !mine.is_null() {
        // SAFETY: records are never freed (R1), and the slot holds the
        // calling thread's own record while it owns it (L1).
        return Some(unsafe { &*mine });
    }
    let tp = thread_pointer();
    // Acquire: pairs with the Release that stored the pointer, so the
    // record's memory (made by whichever thread created it) is seen as
    // initialised before it is read; its owner is then checked (a mov on
    // x86-64, as Relaxed would be).
    let record = slot_of(tp).load(Ordering::Acquire);
    if !record.is_null() {
        // SAFETY: records are never freed (R1): any pointer ever stored in
        // the table points at a live record.
        let record = unsafe { &*record };
        if record.owner() == tp {
            return Some(record);
        }
    }
    current_slow(tp)
}

/// The slow path of [`current`]: the thread-local fallback, else a record
/// for a thread that has none yet.
#[cold]
#[inline(never)]
fn current_slow(tp: usize) -> Option<&'static ThreadRecord> {
    // try_with: fails only while the thread's TLS is being torn down.
    let fallback = FALLBACK.try_with(Cell::get).unwrap_or(RETIRED);
    if fallback == RETIRED {
        return None;
    }
    if !fallback.is_null() {
        // SAFETY: records are never freed (R1).
        let record = unsafe { &*fallback };
        if record.owner() == tp {
            return Some(record);
        }
    }
    let record = adopt_or_create(tp)?;
    // The thread's exit hook: a pthread key whose destructor gives the
    // record back. If the key cannot be set the record simply stays with
    // this thread pointer (a later thread with the same pointer carries on
    // with it, and the reclaimer takes its idle blocks).
    if let Some(key) = exit_key() {
        // SAFETY: a key created by thread_exit::init; the value is our
        // record, which the destructor receives back.
        unsafe {
            libc::pthread_setspecific(key, record as *const ThreadRecord as *const libc::c_void)
        };
    }
    let pointer = record as *const ThreadRecord as *mut ThreadRecord;
    let _ = FALLBACK.try_with(|cell| cell.set(pointer));
    // SAFETY: the record adopt_or_create made this thread's (owner == tp),
    // which it keeps until detach_current (L1).
    unsafe { slot::set(pointer as *mut ()) };
    let slot = slot_of(tp);
    // Take the slot when it is free or its record is free; a live thread
    // holding it keeps it (this thread uses FALLBACK then). Acquire and
    // Release: as in current(), for the record's memory.
    let held = slot.load(Ordering::Acquire);
    // SAFETY: records are never freed (R1).
    if held.is_null() || !unsafe { &*held }.is_owned() {
        slot.store(pointer, Ordering::Release);
    }
    // A new record is a slow path of the pool: where the layer above
    // starts its helper. Run once the record is this thread's everywhere
    // (key, fallback, slot): a hook that allocates finds it (hooks.rs).
    hooks::slow_path();
    Some(record)
}

/// Forgets the calling thread's record before it gives it back (L1).
pub(super) fn detach_current() {
    // SAFETY: null: the thread gives its record back next.
    unsafe { slot::set(core::ptr::null_mut()) };
}

/// After the calling thread gave `record` back: its table entry is
/// cleared, and the thread gets no record again (its TLS is going away).
pub(super) fn retire_current(record: &'static ThreadRecord, tp: usize) {
    let pointer = record as *const ThreadRecord as *mut ThreadRecord;
    // Relaxed: a cache; only a stale entry pointing at this record is cleared.
    let _ = slot_of(tp).compare_exchange(
        pointer,
        core::ptr::null_mut(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let _ = FALLBACK.try_with(|cell| cell.set(RETIRED));
}

/// In a forked child: the table holds the child's one thread's record only.
pub(super) fn reset_after_fork(own: Option<&'static ThreadRecord>, tp: usize) {
    for entry in TABLE.iter() {
        // Relaxed: the child has one thread.
        entry.store(core::ptr::null_mut(), Ordering::Relaxed);
    }
    if let Some(record) = own {
        // Release: as in current_slow.
        slot_of(tp).store(
            record as *const ThreadRecord as *mut ThreadRecord,
            Ordering::Release,
        );
    }
}

/// The exit hook's key (set at load by `thread_exit::init`); u32::MAX: none.
static EXIT_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

fn exit_key() -> Option<libc::pthread_key_t> {
    // Relaxed: written once at load, before any thread has a record.
    match EXIT_KEY.load(Ordering::Relaxed) {
        u32::MAX => None,
        key => Some(key),
    }
}

/// Records the exit hook's key.
pub(super) fn set_exit_key(key: libc::pthread_key_t) {
    // Relaxed: as in exit_key().
    EXIT_KEY.store(key, Ordering::Relaxed);
}
