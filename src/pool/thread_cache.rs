//! Per-thread free lists, one per size class: the lock-free, atomic-free
//! fast path.
//!
//! A thread's lists (in its [`ThreadRecord`]) hold blocks that thread freed,
//! whoever allocated them, or took from the depot. A list that reaches its
//! class's limit goes to the depot whole; an empty list refills with one
//! batch from the depot. When the thread exits its lists go to the depot, so
//! a producer thread may keep allocating what a finished consumer freed.
//!
//! A thread without a record (exiting, or out of memory for one) allocates
//! and frees without a cache: straight through the depot or upstream,
//! counted in the process-wide totals.

use core::sync::atomic::Ordering;

use super::backend::{backend, backend_is_pool, Backend};
use super::block::{
    prefetch_for_write, read_stamp, stamp, upstream_alloc, upstream_free, FreeBlock, Header, Lists,
    Origin, BLOCK_BYTES, HEADER_SIZE, STAMP_COPY, STAMP_ORIGIN,
};
use super::caps::{thread_cache_cap, DEFAULT_THREAD_CACHE_CAP};
use super::counters::{self, bump, debit, EventSlot};
use super::depot;
use super::give_back;
use super::hooks;
use super::limits::beyond_memory;
use super::lists::flush;
use super::lookup;
use super::record::ThreadRecord;
use super::sizes::{SizeClass, COUNT};
use super::stats;

/// Bytes a thread keeps per class before handing a batch to the depot: one
/// depot lock per this many bytes freed, so large messages, too, cross
/// between threads in batches rather than one lock per message. As large
/// as the default per-thread bound: a 256 KiB class moves 15 blocks per
/// lock (at 1 MiB it moved 4, and a producer/consumer pair of 256 KiB
/// messages took the depot's lock on both sides every 4 messages, against
/// every 64 at 64 B).
const BATCH_BYTES: usize = DEFAULT_THREAD_CACHE_CAP as usize;
const MAX_BATCH: usize = 64;
const MIN_BATCH: usize = 4;
const fn batch_limit(index: usize) -> usize {
    let size = SizeClass(index).size_const() + HEADER_SIZE;
    let limit = BATCH_BYTES / size;
    if limit > MAX_BATCH {
        MAX_BATCH
    } else if limit < MIN_BATCH {
        MIN_BATCH
    } else {
        limit
    }
}

static LIMITS: [usize; COUNT] = {
    let mut limits = [0; COUNT];
    let mut index = 0;
    while index < COUNT {
        limits[index] = batch_limit(index);
        index += 1;
    }
    limits
};

/// List limits for blocks filled whole by a copy (`zmq_send`): batches of
/// at most 1 MiB. A sender copying into a block freed a batch or two ago
/// copies into memory still in its cache only when those batches are
/// small: measured on a 2 MiB L2, a 256 KiB copy costs 7 us into one of the
/// 4 blocks written last and 11.4 us into one of the last 12 or more, and a
/// zmq_send sender of 256 KiB ran 20-30% faster with 1 MiB batches than
/// with 4 MiB ones; messages built with zmq_msg_init_size keep the larger
/// batches (one depot lock per 15 blocks of 256 KiB instead of 4: hand-off
/// 74 ns against 104).
const COPY_BATCH_BYTES: usize = 1 << 20;
static COPY_LIMITS: [usize; COUNT] = {
    let mut limits = [0; COUNT];
    let mut index = 0;
    while index < COUNT {
        let size = SizeClass(index).size_const() + HEADER_SIZE;
        let copy = COPY_BATCH_BYTES / size;
        let limit = batch_limit(index);
        limits[index] = if copy < limit {
            if copy < MIN_BATCH {
                MIN_BATCH
            } else {
                copy
            }
        } else {
            limit
        };
        index += 1;
    }
    limits
};

/// Allocates through the calling thread's cache.
#[inline(always)]
pub(crate) fn alloc(size: usize) -> *mut u8 {
    match lookup::current() {
        Some(record) => {
            // SAFETY: the calling thread's own record (lookup::current), and
            // no with_lists of it is running here: the pool's list bodies
            // never allocate or free through the cache.
            let block = unsafe { record.with_lists(|lists| alloc_in(record, lists, size)) };
            if !block.is_null() {
                return block;
            }
            alloc_slow(record, size)
        }
        None => alloc_without_cache(size),
    }
}

/// [`alloc`], counting the event in `slot` (when the allocation succeeds)
/// in the same visit to the thread's record.
#[inline(always)]
pub(crate) fn alloc_counted(size: usize, slot: EventSlot) -> *mut u8 {
    match lookup::current() {
        Some(record) => {
            // SAFETY: as in alloc.
            let mut block = unsafe { record.with_lists(|lists| alloc_in(record, lists, size)) };
            if block.is_null() {
                block = alloc_slow(record, size);
            }
            if !block.is_null() {
                bump(&record.counters.events[slot.index()], 1);
            }
            block
        }
        None => {
            let block = alloc_without_cache(size);
            if !block.is_null() {
                counters::count_unowned(slot);
            }
            block
        }
    }
}

/// Counts an event of the layer above on the calling thread.
#[inline(always)]
pub(crate) fn count(slot: EventSlot) {
    match lookup::current() {
        Some(record) => bump(&record.counters.events[slot.index()], 1),
        None => counters::count_unowned(slot),
    }
}

/// The fast path: pop from the thread's list for the class. Null for
/// anything else (list empty, large request, another backend): the caller
/// then takes [`alloc_slow`], once it has let go of the lists.
#[inline(always)]
fn alloc_in(record: &ThreadRecord, lists: &mut Lists, size: usize) -> *mut u8 {
    if let Some(class) = SizeClass::of(size) {
        if backend_is_pool() {
            let block = pop(record, lists, class);
            if !block.is_null() {
                bump(&record.counters.class_allocations[class.0], 1);
                // SAFETY: a block popped off this thread's list is free, at
                // least HEADER_SIZE + class size bytes, and now referenced
                // by nobody else.
                return unsafe {
                    stamp(block as *mut Header, size, Origin::Class(class), record.tag)
                };
            }
        }
    }
    core::ptr::null_mut()
}

/// The slow path of [`alloc`], outside the fast path's hold on the lists:
/// a batch from the depot or a block upstream, then (after a miss, with
/// the lists let go) the slow-path hook.
#[inline(never)]
fn alloc_slow(record: &ThreadRecord, size: usize) -> *mut u8 {
    let attempt = || {
        if SizeClass::of(size).is_some() && backend_is_pool() {
            // SAFETY: the calling thread's own record (alloc's caller found
            // it with lookup::current), and the fast path's with_lists has
            // ended (as has any attempt before this one).
            unsafe { record.with_lists(|lists| alloc_in_slow(record, Some(lists), size)) }
        } else {
            // Upstream: the lists are not needed.
            alloc_in_slow(record, None, size)
        }
    };
    let (mut block, missed) = attempt();
    if block.is_null() && !upstream_impossible(size) {
        // Upstream failed: give back what the pool holds, with the lists
        // let go, and try once more (give_back.rs).
        give_back::after_failure();
        block = attempt().0;
    }
    if missed {
        // A miss is a slow path: where a forked child's helper restarts.
        // Run with the lists let go (hooks.rs: a hook may allocate).
        hooks::slow_path();
    }
    block
}

/// A block for `size` when the fast path had none, and whether the pool
/// missed (went upstream for a class block). `lists` is None for a request
/// that takes no class block (then they are not held).
fn alloc_in_slow(record: &ThreadRecord, lists: Option<&mut Lists>, size: usize) -> (*mut u8, bool) {
    let (header, origin, missed) = match (backend(), SizeClass::of(size), lists) {
        (Backend::Pool, Some(class), Some(lists)) => {
            let (header, missed) = refill_and_pop(record, lists, class);
            (header, Origin::Class(class), missed)
        }
        (Backend::System, _, _) => (upstream_alloc(size, true), Origin::System, false),
        // Another backend, a large request, or the backend switched to the
        // pool since the caller looked: straight upstream.
        _ => (upstream_alloc(size, false), Origin::Mimalloc, false),
    };
    if header.is_null() {
        return (core::ptr::null_mut(), missed);
    }
    match origin {
        Origin::Class(class) => bump(&record.counters.class_allocations[class.0], 1),
        _ => {
            bump(&record.counters.upstream_allocations, 1);
            bump(&record.counters.upstream_bytes_allocated, size as u64);
        }
    }
    // SAFETY: `header` starts a live block of at least HEADER_SIZE + size
    // bytes (a class block or a fresh upstream one) nobody else references.
    (unsafe { stamp(header, size, origin, record.tag) }, missed)
}

/// Takes the first block off the list for `class`; null when it is empty.
#[inline(always)]
fn pop(record: &ThreadRecord, lists: &mut Lists, class: SizeClass) -> *mut FreeBlock {
    let block = lists[class.0];
    if !block.is_null() {
        // SAFETY: a block on the caller's list is free and held by the
        // caller (R3), so its link is valid to read.
        let next = unsafe { (*block).next };
        lists[class.0] = next;
        prefetch_for_write(next as *const u8);
        record.set_len(class.0, record.len(class.0) - 1);
        debit(&record.cached_bytes, BLOCK_BYTES[class.0] as u64);
    }
    block
}

/// Every this many misses of a class a thread samples the class's peak
/// in-use bytes (a pass over every thread's counters: on every miss it
/// would cost O(threads) per message in a burst that misses throughout).
const PEAK_SAMPLE_MISSES: u64 = 16;

/// A block of `class` for a thread whose list is empty: a batch from the
/// depot, else a fresh block upstream (a miss: the second value is true).
fn refill_and_pop(
    record: &ThreadRecord,
    lists: &mut Lists,
    class: SizeClass,
) -> (*mut Header, bool) {
    let block = pop(record, lists, class);
    if !block.is_null() {
        return (block as *mut Header, false);
    }
    let (head, taken) = depot::take(class);
    if head.is_null() {
        // Relaxed: single writer, this thread (the owner).
        let misses = record.counters.class_misses[class.0].load(Ordering::Relaxed) + 1;
        bump(&record.counters.class_misses[class.0], 1);
        if misses % PEAK_SAMPLE_MISSES == 0 {
            stats::note_class_peak(class);
        }
        return (upstream_alloc(class.size(), false), true);
    }
    // SAFETY: a batch of `taken` blocks of `class` just taken from the
    // depot, now the caller's.
    unsafe { depot::prefetch_batch(class, head, taken) };
    lists[class.0] = head;
    record.set_len(class.0, taken);
    bump(&record.cached_bytes, (taken * BLOCK_BYTES[class.0]) as u64);
    (pop(record, lists, class) as *mut Header, false)
}

/// Releases through the calling thread's cache.
///
/// # Safety
/// `header` starts a live block from [`alloc`], released exactly once.
#[inline(always)]
pub(crate) unsafe fn dealloc(header: *mut Header) {
    match lookup::current() {
        Some(record) => {
            // SAFETY: the calling thread's own record, no with_lists of it
            // running here (as in alloc); the caller hands over a live
            // block, released once.
            let kept = unsafe { record.with_lists(|lists| dealloc_in(record, lists, header)) };
            if !kept {
                // SAFETY: the same block, not taken by the fast path.
                unsafe { dealloc_slow(record, header) };
            }
        }
        // SAFETY: the caller's live block from alloc, released once
        // (dealloc's contract).
        None => unsafe { dealloc_without_cache(header) },
    }
}

/// The fast path: push onto the thread's list for the class while the list
/// and the thread stay under their bounds. False (the block untouched) for
/// anything else: the caller then takes [`dealloc_slow`], once it has let
/// go of the lists.
///
/// # Safety
/// `header` starts a live block from `alloc`, released exactly once.
#[inline(always)]
unsafe fn dealloc_in(record: &ThreadRecord, lists: &mut Lists, header: *mut Header) -> bool {
    // SAFETY: the caller's block is live, so its header is initialised.
    let stamp = unsafe { (*header).stamp };
    let index = (stamp & STAMP_ORIGIN) as usize;
    if index >= COUNT {
        return false;
    }
    let bytes = BLOCK_BYTES[index];
    // Relaxed: single writer (the holder of the lists) for the gauge.
    let cached = record.cached_bytes.load(Ordering::Relaxed) + bytes as u64;
    let length = record.len(index);
    if length >= limit_of(index, stamp) || cached > thread_cache_cap() {
        return false;
    }
    count_class_free(record, index, stamp);
    let block = header as *mut FreeBlock;
    // SAFETY: the caller hands over the block: it is free now and at least
    // a FreeBlock long, so its link may be written.
    unsafe { (*block).next = lists[index] };
    lists[index] = block;
    record.set_len(index, length + 1);
    // Relaxed: as above.
    record.cached_bytes.store(cached, Ordering::Relaxed);
    true
}

/// A class's list limit for a block with this stamp (blocks filled whole
/// by a copy go round in shorter batches).
#[inline(always)]
fn limit_of(index: usize, stamp: u64) -> usize {
    if stamp & STAMP_COPY == 0 {
        LIMITS[index]
    } else {
        COPY_LIMITS[index]
    }
}

/// Counts the release of a class block (and whether another thread made it).
#[inline(always)]
fn count_class_free(record: &ThreadRecord, index: usize, stamp: u64) {
    bump(&record.counters.class_frees[index], 1);
    if (stamp >> 32) as u32 != record.tag {
        bump(&record.counters.class_foreign_frees[index], 1);
    }
}

/// The slow path of [`dealloc`], outside the fast path's hold on the
/// lists: an upstream block goes back upstream; a class block past a bound
/// sends the list to the depot, then (with the lists let go) the slow-path
/// hook runs.
///
/// # Safety
/// `header` starts a live block from `alloc`, released exactly once, and
/// `record` is the calling thread's own, its lists not held here.
#[inline(never)]
unsafe fn dealloc_slow(record: &ThreadRecord, header: *mut Header) {
    // SAFETY: the caller's block is live, so its header is initialised.
    let stamp = unsafe { (*header).stamp };
    let index = (stamp & STAMP_ORIGIN) as usize;
    if index >= COUNT {
        // SAFETY: the origin byte is an upstream marker: a live upstream
        // block, released once.
        return unsafe { dealloc_upstream(record, header) };
    }
    // SAFETY: the caller's own record with its lists not held (this
    // function's contract); the block is live, of class `index`, handed
    // over. A reclaimer may have taken the lists since the fast path looked:
    // the push is tried again before the list goes to the depot.
    unsafe {
        record.with_lists(|lists| {
            if !dealloc_in(record, lists, header) {
                count_class_free(record, index, stamp);
                push_slow(
                    record,
                    lists,
                    SizeClass(index),
                    header as *mut FreeBlock,
                    limit_of(index, stamp),
                )
            }
        })
    };
    // A depot hand-in is a slow path: where a forked child's helper
    // restarts. Run with the lists let go (hooks.rs).
    hooks::slow_path();
}

/// # Safety
/// `header` starts a live block from upstream, released exactly once.
#[inline(never)]
unsafe fn dealloc_upstream(record: &ThreadRecord, header: *mut Header) {
    // SAFETY: the caller's block is live, its header written by stamp().
    let (origin, size, tag) = unsafe { read_stamp(header) };
    bump(&record.counters.upstream_frees, 1);
    bump(&record.counters.upstream_bytes_freed, size as u64);
    if tag != record.tag {
        bump(&record.counters.upstream_foreign_frees, 1);
    }
    // SAFETY: a live block from the upstream its origin names, released once.
    unsafe { upstream_free(header, origin == Origin::System) }
}

/// A release that would take the list past its length limit or the thread
/// past its byte cap: the list goes to the depot first, and if the thread
/// is still over its cap the block follows it alone.
///
/// # Safety
/// `block` is a live pooled block of `class`, handed over by the caller.
#[inline(never)]
unsafe fn push_slow(
    record: &ThreadRecord,
    lists: &mut Lists,
    class: SizeClass,
    block: *mut FreeBlock,
    limit: usize,
) {
    let bytes = BLOCK_BYTES[class.0];
    let cap = thread_cache_cap();
    let length = record.len(class.0);
    if length < limit {
        // Not the list's limit: the thread's cap.
        bump(&record.counters.thread_cap_hits, 1);
    }
    if length > 0 {
        // SAFETY: the list is a chain of `length` free blocks of `class`
        // held by the caller; it is emptied right after.
        unsafe { depot::put(class, lists[class.0], length) };
        debit(&record.cached_bytes, (length * bytes) as u64);
        lists[class.0] = core::ptr::null_mut();
        record.set_len(class.0, 0);
    }
    // Relaxed: single writer, the holder of the lists.
    if record.cached_bytes.load(Ordering::Relaxed) + bytes as u64 > cap {
        // Still over the per-thread bound: the block goes on alone.
        // SAFETY: the caller hands over the block: a chain of one.
        unsafe {
            (*block).next = core::ptr::null_mut();
            depot::put(class, block, 1);
        }
        return;
    }
    // SAFETY: the caller hands over the block; it starts a list of one.
    unsafe { (*block).next = core::ptr::null_mut() };
    lists[class.0] = block;
    record.set_len(class.0, 1);
    bump(&record.cached_bytes, bytes as u64);
}

/// The path for a thread without a cache (exiting, or no memory for a
/// record): straight upstream, counted in the process-wide totals.
#[cold]
fn alloc_without_cache(size: usize) -> *mut u8 {
    let system = backend() == Backend::System;
    let mut header = upstream_alloc(size, system);
    if header.is_null() && !upstream_impossible(size) {
        give_back::after_failure();
        header = upstream_alloc(size, system);
    }
    if header.is_null() {
        return core::ptr::null_mut();
    }
    counters::count_unowned_upstream_allocation(size);
    let origin = if system {
        Origin::System
    } else {
        Origin::Mimalloc
    };
    // SAFETY: a fresh upstream block of HEADER_SIZE + size bytes.
    unsafe { stamp(header, size, origin, 0) }
}

/// # Safety
/// As for [`dealloc`].
#[cold]
unsafe fn dealloc_without_cache(header: *mut Header) {
    // SAFETY: the caller's block is live, its header written by stamp().
    let (origin, size, _) = unsafe { read_stamp(header) };
    match origin {
        Origin::Class(class) => {
            counters::count_unowned_class_free(class);
            let block = header as *mut FreeBlock;
            // SAFETY: the caller hands over the block: a chain of one.
            unsafe {
                (*block).next = core::ptr::null_mut();
                depot::put(class, block, 1);
            }
            // A depot hand-in (no lists are held here).
            hooks::slow_path();
        }
        _ => {
            counters::count_unowned_upstream_free(size);
            // SAFETY: a live block from the upstream its origin names,
            // released once.
            unsafe { upstream_free(header, origin == Origin::System) }
        }
    }
}

/// True for a request no give-back can help: its size overflows, or it is
/// larger than the process's memory budget (it failed at once).
fn upstream_impossible(size: usize) -> bool {
    size.checked_add(HEADER_SIZE).is_none_or(beyond_memory)
}

/// Hands the calling thread's lists to the depot.
pub(crate) fn flush_current_thread() {
    if let Some(record) = lookup::current() {
        // SAFETY: the calling thread's own record, its lists not held here
        // (no pool body calls this).
        unsafe { record.with_lists(|lists| flush(record, lists)) };
        // A depot hand-in, with the lists let go (hooks.rs).
        hooks::slow_path();
    }
}

/// The calling thread's cached bytes (for tests).
#[cfg(test)]
pub(crate) fn cached_in_current_thread() -> u64 {
    // Relaxed: the calling thread is the gauge's only writer.
    lookup::current().map_or(0, |record| record.cached_bytes.load(Ordering::Relaxed))
}
