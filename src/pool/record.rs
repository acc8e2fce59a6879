//! Thread records: each thread's free lists and counters, on the heap,
//! owned by a process-wide registry (the way mimalloc keeps its thread
//! data), and the handshake that guards a record's lists.
//!
//! ```text
//!   REGISTRY --> record --> record --> record --> null     (push-only list)
//!                  ^ owner: thread pointer of the thread using it, 0 = free
//! ```
//!
//! Invariants:
//! - R1: a record is never freed. The registry only grows (by the number
//!   of threads alive at once), so anyone may walk it and read the
//!   counters of any record at any time: statistics never touch freed
//!   memory.
//! - R2: a record has at most one user at a time: the thread whose thread
//!   pointer is in `owner` (thread pointers are unique among live
//!   threads). `lookup.rs` finds it, `thread_exit.rs` gives it back, and
//!   `fork.rs` frees every other thread's in a forked child.
//! - R3: only the owner touches the lists, inside [`ThreadRecord::with_lists`]
//!   (the `active` mark), except a reclaimer that has won them through the
//!   handshake (`reclaim.rs`), or a forked child's only thread.
//!
//! The handshake (asymmetric Dekker): the owner marks every cache
//! operation with `active` = 1 ... 0 and checks `steal` after raising
//! `active`; a reclaimer raises `steal`, then issues a process-wide
//! membarrier and checks `active`. Either the owner sees `steal` and waits,
//! or the reclaimer sees `active` and backs off: the owner's fast path
//! pays two plain stores and one load, never a fence or a
//! read-modify-write (`sync::handshake`, checked by the loom models).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::block::{Lists, BLOCK_BYTES};
use super::counters::Counters;
use super::sizes::COUNT;
use super::upstream;
use crate::sync::handshake;

/// One thread's cache and counters.
#[repr(C, align(128))]
pub(crate) struct ThreadRecord {
    /// 1 while the owner is inside a cache operation.
    pub(super) active: AtomicU32,
    /// 1 while a reclaimer holds the lists; the owner waits.
    pub(super) steal: AtomicU32,
    /// The owner's thread pointer; 0 when the record is free.
    owner: AtomicUsize,
    /// The tag stamped into the headers of blocks allocated through this
    /// record (tells a foreign free from a local one).
    pub(crate) tag: u32,
    /// The free lists' heads: the owner's, or a reclaimer's that won `steal`.
    lists: UnsafeCell<Lists>,
    /// The free lists' lengths, written by whoever holds the lists, read by
    /// statistics.
    pub(crate) lens: [AtomicU32; COUNT],
    /// Bytes (blocks and headers) on this record's lists.
    pub(crate) cached_bytes: AtomicU64,
    /// Counters, written by the owner only (relaxed load + store).
    pub(crate) counters: Counters,
    /// What the decay pass saw last time: per class, allocations + frees
    /// (only the decay pass touches it, under its lock).
    pub(crate) seen: UnsafeCell<[u64; COUNT]>,
    /// Per class, for how many decay ticks nothing happened (decay pass
    /// only, as `seen`).
    pub(crate) idle_ticks: UnsafeCell<[u32; COUNT]>,
    /// The next record in the registry (written once, before publication).
    next: *mut ThreadRecord,
}

// SAFETY: the fields other threads read are atomics; the lists are reached
// only by their holder (R3), and `seen`/`idle_ticks` only by the decay
// pass under its lock, never by two threads at once.
unsafe impl Sync for ThreadRecord {}

/// Every record ever made (push-only).
static REGISTRY: AtomicPtr<ThreadRecord> = AtomicPtr::new(core::ptr::null_mut());
/// The next tag; 0 is never handed out.
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

impl ThreadRecord {
    /// Runs `body` with the lists, as their owner: marks the operation
    /// active, waits first if a reclaimer holds them. The only way the
    /// owner reaches its lists (R3).
    ///
    /// # Safety
    /// The calling thread owns this record (it came from
    /// `lookup::current()` on this thread), and no `with_lists` of it is
    /// running on this thread: `body` must not reach the thread cache (no
    /// allocation or release through the pool, no slow-path hook: the
    /// callers run [`hooks::slow_path`](super::hooks::slow_path) after
    /// this returns). A nested call would make a second `&mut Lists`.
    #[inline(always)]
    pub(crate) unsafe fn with_lists<R>(&self, body: impl FnOnce(&mut Lists) -> R) -> R {
        debug_assert_eq!(self.active.load(Ordering::Relaxed), 0, "with_lists nested");
        if !handshake::enter(&self.active, &self.steal, handshake::owner_fence) {
            self.enter_after_wait();
        }
        // SAFETY: the owner (this function's contract) inside its active
        // mark, with `steal` seen clear (R3): no reclaimer holds the lists
        // until `leave`, and no other reference to them is live (not
        // nested: this function's contract).
        let result = body(unsafe { self.lists() });
        handshake::leave(&self.active);
        result
    }

    /// A reclaimer held the lists: leave, wait until it is done, enter
    /// again (out of line: the fast path keeps no frame for it).
    #[cold]
    #[inline(never)]
    fn enter_after_wait(&self) {
        loop {
            handshake::leave(&self.active);
            // Acquire: the lists as the reclaimer left them.
            while self.steal.load(Ordering::Acquire) != 0 {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
            if handshake::enter(&self.active, &self.steal, handshake::owner_fence) {
                return;
            }
        }
    }

    /// The lists, without the handshake.
    ///
    /// # Safety
    /// The caller holds the lists (R3: the owner inside its active mark, a
    /// reclaimer holding `steal`, or a forked child's only thread), and no
    /// other reference to them is live.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(super) unsafe fn lists(&self) -> &mut Lists {
        // SAFETY: exclusive by the caller's contract (R3).
        unsafe { &mut *self.lists.get() }
    }

    /// The owner's thread pointer (0: free).
    #[inline(always)]
    pub(super) fn owner(&self) -> usize {
        // Relaxed: only the owner stores its own thread pointer, and a
        // thread comparing it with its own can only find its own record;
        // handing a record over uses owner_release / adopt.
        self.owner.load(Ordering::Relaxed)
    }

    /// True while a thread uses this record.
    pub(crate) fn is_owned(&self) -> bool {
        self.owner() != 0
    }

    /// Makes the record free for adoption. Release: the next owner
    /// (Acquire in [`adopt_or_create`]) sees the lists and counters as they
    /// are now.
    pub(super) fn release_owner(&self) {
        self.owner.store(0, Ordering::Release);
    }

    /// The lists' length of `class` (read by anyone; written by the holder).
    #[inline(always)]
    pub(crate) fn len(&self, class: usize) -> usize {
        // Relaxed: single writer, the holder of the lists (R3); readers
        // (statistics) only need some recent value.
        self.lens[class].load(Ordering::Relaxed) as usize
    }

    /// Sets the length of `class`; the caller holds the lists (R3).
    #[inline(always)]
    pub(crate) fn set_len(&self, class: usize, len: usize) {
        // Relaxed: as in len().
        self.lens[class].store(len as u32, Ordering::Relaxed);
    }

    /// Bytes cached on the lists, by the class lengths (for statistics).
    pub(crate) fn cached_bytes_of(&self, class: usize) -> u64 {
        self.len(class) as u64 * BLOCK_BYTES[class] as u64
    }
}

/// Every record, for statistics, reclaiming and the fork fix-up.
pub(crate) fn records() -> impl Iterator<Item = &'static ThreadRecord> {
    // Acquire: pairs with the Release publishing each record, so its
    // fields (tag, next) are seen as written.
    let mut at = REGISTRY.load(Ordering::Acquire);
    core::iter::from_fn(move || {
        // SAFETY: records are never freed (R1); `next` was written before
        // the record was published and never changes.
        let record = unsafe { at.as_ref()? };
        at = record.next;
        Some(record)
    })
}

/// True once any thread has used the pool (a record exists).
pub(crate) fn any() -> bool {
    records().next().is_some()
}

/// A free record made the calling thread's (`tp`), or a new one; None when
/// memory is exhausted.
pub(super) fn adopt_or_create(tp: usize) -> Option<&'static ThreadRecord> {
    for record in records() {
        // Acquire: the lists as the previous owner left them (Release in
        // release_owner).
        if record
            .owner
            .compare_exchange(0, tp, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Some(record);
        }
    }
    let size = core::mem::size_of::<ThreadRecord>();
    // SAFETY: mi_zalloc_aligned has no preconditions beyond a power-of-two
    // alignment; it returns null or zeroed memory of `size` bytes so aligned.
    let memory = unsafe { upstream::mi_zalloc_aligned(size, core::mem::align_of::<ThreadRecord>()) }
        as *mut ThreadRecord;
    if memory.is_null() {
        return None;
    }
    // Relaxed: tags only need to be distinct; 0 is skipped on wrap-around.
    let mut tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
    if tag == 0 {
        tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: fresh, zeroed memory sized and aligned for a record, not yet
    // published: every field's all-zero pattern is valid (empty lists,
    // zero counters), and the fields set here are written before the
    // Release below publishes the record.
    unsafe {
        core::ptr::addr_of_mut!((*memory).tag).write(tag);
        (*memory).owner.store(tp, Ordering::Relaxed);
    }
    // Relaxed: the CAS below re-reads it; its failure value is the new head.
    let mut head = REGISTRY.load(Ordering::Relaxed);
    loop {
        // SAFETY: not yet published (the CAS has not succeeded): only this
        // thread sees the record.
        unsafe { (*memory).next = head };
        // Release: publishes the record's fields with it (records()).
        match REGISTRY.compare_exchange_weak(head, memory, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    // SAFETY: published and never freed (R1).
    Some(unsafe { &*memory })
}
