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

use core::sync::atomic::{AtomicU64, Ordering};

use super::depot::{self, FreeBlock};
use super::record::ThreadRecord;
use super::size_class::{SizeClass, COUNT};
use super::stats::{self, bump, Event};
use super::{
    read_stamp, stamp, upstream_alloc, upstream_free, Backend, Header, Origin, STAMP_COPY,
};

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
/// A thread holding more than this across all classes hands the list it
/// frees into to the depot at once, whatever its length: the per-thread
/// bound (`ZMQPOOL_MAX_THREAD_CACHED_BYTES`, `zmqpool_set_max_thread_cached_bytes`).
/// Frees never take a thread past it; a batch taken from the depot to serve
/// allocations may, until it is used up.
static THREAD_CACHE_CAP: AtomicU64 = AtomicU64::new(DEFAULT_THREAD_CACHE_CAP);
pub(crate) const DEFAULT_THREAD_CACHE_CAP: u64 = 4 << 20;

/// Sets the per-thread bound on cached bytes (0: each freed block goes to
/// the depot at once, a batch of one).
pub fn set_max_thread_cached_bytes(cap: usize) {
    // Relaxed: a standalone setting.
    THREAD_CACHE_CAP.store(cap as u64, Ordering::Relaxed);
}

/// The per-thread bound on cached bytes.
pub fn max_thread_cached_bytes() -> usize {
    THREAD_CACHE_CAP.load(Ordering::Relaxed) as usize
}

const fn batch_limit(index: usize) -> usize {
    let size = SizeClass(index).size_const() + super::HEADER_SIZE;
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
        let size = SizeClass(index).size_const() + super::HEADER_SIZE;
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

/// Bytes a block of each class occupies, header included.
pub(crate) static BLOCK_BYTES: [usize; COUNT] = {
    let mut bytes = [0; COUNT];
    let mut index = 0;
    while index < COUNT {
        bytes[index] = SizeClass(index).size_const() + super::HEADER_SIZE;
        index += 1;
    }
    bytes
};

/// The heads of a thread's free lists, one per class (all null: empty).
/// Their lengths are atomics in the record (`ThreadRecord::lens`), written
/// only by whoever holds the lists, so statistics can read them.
pub(crate) type Lists = [*mut FreeBlock; COUNT];
pub(crate) const EMPTY_LISTS: Lists = [core::ptr::null_mut(); COUNT];

/// A list's length (the holder of the lists is its only writer).
#[inline(always)]
fn len(record: &ThreadRecord, class: usize) -> usize {
    // Relaxed: single writer, the caller.
    record.lens[class].load(Ordering::Relaxed) as usize
}

#[inline(always)]
fn set_len(record: &ThreadRecord, class: usize, len: usize) {
    // Relaxed: as above; readers (statistics) only need some recent value.
    record.lens[class].store(len as u32, Ordering::Relaxed);
}

/// Allocates through the calling thread's cache.
#[inline(always)]
pub(super) fn alloc(size: usize) -> *mut u8 {
    match ThreadRecord::current() {
        Some(record) if record.enter() => {
            // SAFETY: inside enter/leave on the owner thread.
            let block = alloc_in(record, unsafe { record.lists() }, size);
            record.leave();
            block
        }
        Some(record) => {
            record.leave();
            alloc_after_wait(record, size)
        }
        None => alloc_without_cache(size),
    }
}

/// [`alloc`], counting `event` (when the allocation succeeds) in the same
/// visit to the thread's record.
#[inline(always)]
pub(crate) fn alloc_counted(size: usize, event: Event) -> *mut u8 {
    match ThreadRecord::current() {
        Some(record) => {
            let block = if record.enter() {
                // SAFETY: inside enter/leave on the owner thread.
                let block = alloc_in(record, unsafe { record.lists() }, size);
                record.leave();
                block
            } else {
                record.leave();
                alloc_after_wait(record, size)
            };
            if !block.is_null() {
                bump(&record.counters.events[event as usize], 1);
            }
            block
        }
        None => {
            let block = alloc_without_cache(size);
            if !block.is_null() {
                stats::count_unowned(event);
            }
            block
        }
    }
}

/// Counts a message-layer event on the calling thread.
#[inline(always)]
pub(crate) fn count(event: Event) {
    match ThreadRecord::current() {
        Some(record) => bump(&record.counters.events[event as usize], 1),
        None => stats::count_unowned(event),
    }
}

/// A reclaimer held the lists: wait for it, then allocate.
#[cold]
#[inline(never)]
fn alloc_after_wait(record: &ThreadRecord, size: usize) -> *mut u8 {
    loop {
        record.wait();
        if record.enter() {
            // SAFETY: inside enter/leave on the owner thread.
            let block = alloc_in(record, unsafe { record.lists() }, size);
            record.leave();
            return block;
        }
        record.leave();
    }
}

/// The fast path: pop from the thread's list for the class. Anything else
/// (list empty, large request, another backend) takes the slow path.
#[inline(always)]
fn alloc_in(record: &ThreadRecord, lists: &mut Lists, size: usize) -> *mut u8 {
    if let Some(class) = SizeClass::of(size) {
        if super::backend_is_pool() {
            let block = pop(record, lists, class);
            if !block.is_null() {
                bump(&record.counters.class_allocations[class.0], 1);
                // SAFETY: the block is ours now, nobody else references it.
                return unsafe {
                    stamp(block as *mut Header, size, Origin::Class(class), record.tag)
                };
            }
        }
    }
    alloc_slow(record, lists, size)
}

#[inline(never)]
fn alloc_slow(record: &ThreadRecord, lists: &mut Lists, size: usize) -> *mut u8 {
    let (header, origin) = match (super::backend(), SizeClass::of(size)) {
        (Backend::Pool, Some(class)) => {
            (refill_and_pop(record, lists, class), Origin::Class(class))
        }
        (Backend::System, _) => (upstream_alloc(size, true), Origin::System),
        _ => (upstream_alloc(size, false), Origin::Mimalloc),
    };
    if header.is_null() {
        return core::ptr::null_mut();
    }
    match origin {
        Origin::Class(class) => bump(&record.counters.class_allocations[class.0], 1),
        _ => {
            bump(&record.counters.upstream_allocations, 1);
            bump(&record.counters.upstream_bytes_allocated, size as u64);
        }
    }
    // SAFETY: `header` starts a live block nobody else references.
    unsafe { stamp(header, size, origin, record.tag) }
}

/// Takes the first block off the list for `class`; null when it is empty.
#[inline(always)]
fn pop(record: &ThreadRecord, lists: &mut Lists, class: SizeClass) -> *mut FreeBlock {
    let block = lists[class.0];
    if !block.is_null() {
        // SAFETY: a block on the list is free and owned by this cache.
        let next = unsafe { (*block).next };
        lists[class.0] = next;
        super::prefetch_for_write(next as *const u8);
        set_len(record, class.0, len(record, class.0) - 1);
        debit(&record.cached_bytes, BLOCK_BYTES[class.0]);
    }
    block
}

/// Every this many misses of a class a thread samples the class's peak
/// in-use bytes (a pass over every thread's counters: on every miss it
/// would cost O(threads) per message in a burst that misses throughout).
const PEAK_SAMPLE_MISSES: u64 = 16;

/// A block of `class` for a thread whose list is empty: a batch from the
/// depot, else a fresh block upstream (a miss).
fn refill_and_pop(record: &ThreadRecord, lists: &mut Lists, class: SizeClass) -> *mut Header {
    let block = pop(record, lists, class);
    if !block.is_null() {
        return block as *mut Header;
    }
    let (head, taken) = depot::take(class);
    if head.is_null() {
        let misses = record.counters.class_misses[class.0].load(Ordering::Relaxed) + 1;
        bump(&record.counters.class_misses[class.0], 1);
        if misses % PEAK_SAMPLE_MISSES == 0 {
            stats::note_class_peak(class);
        }
        // A miss is a slow path: where a forked child's helper restarts.
        super::decay::ensure_started();
        return upstream_alloc(class.size(), false);
    }
    // SAFETY: a batch of `taken` blocks of `class` just taken, ours.
    unsafe { depot::prefetch_batch(class, head, taken) };
    lists[class.0] = head;
    set_len(record, class.0, taken);
    bump(&record.cached_bytes, (taken * BLOCK_BYTES[class.0]) as u64);
    pop(record, lists, class) as *mut Header
}

/// Releases through the calling thread's cache.
///
/// # Safety
/// `header` starts a live block from [`alloc`], released exactly once.
#[inline(always)]
pub(super) unsafe fn dealloc(header: *mut Header) {
    match ThreadRecord::current() {
        Some(record) if record.enter() => {
            // SAFETY: inside enter/leave on the owner thread; the caller
            // hands over the block.
            unsafe { dealloc_in(record, record.lists(), header) };
            record.leave();
        }
        Some(record) => {
            record.leave();
            // SAFETY: forwarded from the caller.
            unsafe { dealloc_after_wait(record, header) }
        }
        // SAFETY: forwarded from the caller.
        None => unsafe { dealloc_without_cache(header) },
    }
}

/// # Safety
/// As for [`dealloc`].
#[cold]
#[inline(never)]
unsafe fn dealloc_after_wait(record: &ThreadRecord, header: *mut Header) {
    loop {
        record.wait();
        if record.enter() {
            // SAFETY: inside enter/leave on the owner thread; forwarded.
            unsafe { dealloc_in(record, record.lists(), header) };
            record.leave();
            return;
        }
        record.leave();
    }
}

/// The fast path: push onto the thread's list for the class while the list
/// and the thread stay under their bounds.
///
/// # Safety
/// `header` starts a live block from `alloc`, released exactly once.
#[inline(always)]
unsafe fn dealloc_in(record: &ThreadRecord, lists: &mut Lists, header: *mut Header) {
    // SAFETY: by the contract, a live header.
    let stamp = unsafe { (*header).stamp };
    let index = (stamp & 0xFF) as usize;
    if index < COUNT {
        bump(&record.counters.class_frees[index], 1);
        if (stamp >> 32) as u32 != record.tag {
            bump(&record.counters.class_foreign_frees[index], 1);
        }
        let bytes = BLOCK_BYTES[index];
        // Relaxed: single writer (the owner) for the gauge; the cap is a
        // standalone setting.
        let cached = record.cached_bytes.load(Ordering::Relaxed) + bytes as u64;
        let block = header as *mut FreeBlock;
        let length = len(record, index);
        let limit = if stamp & STAMP_COPY == 0 {
            LIMITS[index]
        } else {
            COPY_LIMITS[index]
        };
        if length < limit && cached <= THREAD_CACHE_CAP.load(Ordering::Relaxed) {
            // SAFETY: the caller hands over the block.
            unsafe { (*block).next = lists[index] };
            lists[index] = block;
            set_len(record, index, length + 1);
            record.cached_bytes.store(cached, Ordering::Relaxed);
            return;
        }
        // SAFETY: a live pooled block of this class, handed over.
        return unsafe { push_slow(record, lists, SizeClass(index), block, limit) };
    }
    // SAFETY: a live upstream block, released once.
    unsafe { dealloc_upstream(record, header) }
}

/// # Safety
/// `header` starts a live block from upstream, released exactly once.
#[inline(never)]
unsafe fn dealloc_upstream(record: &ThreadRecord, header: *mut Header) {
    // SAFETY: by the contract, a live header.
    let (origin, size, tag) = unsafe { read_stamp(header) };
    bump(&record.counters.upstream_frees, 1);
    bump(&record.counters.upstream_bytes_freed, size as u64);
    if tag != record.tag {
        bump(&record.counters.upstream_foreign_frees, 1);
    }
    // SAFETY: a live block from that upstream, released once.
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
    let cap = THREAD_CACHE_CAP.load(Ordering::Relaxed);
    let length = len(record, class.0);
    if length < limit {
        // Not the list's limit: the thread's cap.
        bump(&record.counters.thread_cap_hits, 1);
    }
    if length > 0 {
        // SAFETY: the list is a chain of `length` free blocks of `class`
        // owned by this cache; it is emptied right after.
        unsafe { depot::put(class, lists[class.0], length) };
        debit(&record.cached_bytes, length * bytes);
        lists[class.0] = core::ptr::null_mut();
        set_len(record, class.0, 0);
    }
    if record.cached_bytes.load(Ordering::Relaxed) + bytes as u64 > cap {
        // Still over the per-thread bound: the block goes on alone.
        // SAFETY: the caller hands over the block: a chain of one.
        unsafe {
            (*block).next = core::ptr::null_mut();
            depot::put(class, block, 1);
        }
        return;
    }
    // SAFETY: the caller hands over the block.
    unsafe { (*block).next = core::ptr::null_mut() };
    lists[class.0] = block;
    set_len(record, class.0, 1);
    bump(&record.cached_bytes, bytes as u64);
}

/// Hands every list of `record` to the depot. The caller holds the lists
/// (owner inside enter/leave, a reclaimer, or a forked child's only thread).
pub(crate) fn flush(record: &ThreadRecord, lists: &mut Lists) {
    for (index, head) in lists.iter_mut().enumerate() {
        if !head.is_null() {
            // SAFETY: the list is a chain of `len` free blocks of this class
            // held by the caller; it is emptied right after.
            unsafe { depot::put(SizeClass(index), *head, len(record, index)) };
            *head = core::ptr::null_mut();
            set_len(record, index, 0);
        }
    }
    // Relaxed: the caller holds the lists, and with them the gauge.
    record.cached_bytes.store(0, Ordering::Relaxed);
}

/// Takes the lists of the classes `which` selects out of `lists` (the
/// caller holds them), returning each as a chain with its length, for the
/// caller to release.
pub(crate) fn take_lists(
    record: &ThreadRecord,
    lists: &mut Lists,
    mut which: impl FnMut(usize) -> bool,
    mut each: impl FnMut(SizeClass, *mut FreeBlock, usize),
) {
    for (index, head) in lists.iter_mut().enumerate() {
        if !head.is_null() && which(index) {
            let length = len(record, index);
            each(SizeClass(index), *head, length);
            *head = core::ptr::null_mut();
            set_len(record, index, 0);
            debit(&record.cached_bytes, length * BLOCK_BYTES[index]);
        }
    }
}

fn debit(counter: &AtomicU64, by: usize) {
    // Relaxed: single writer (whoever holds the lists).
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_sub(by as u64),
        Ordering::Relaxed,
    );
}

/// The path for a thread without a cache (exiting, or no memory for a
/// record): straight upstream, counted in the process-wide totals.
#[cold]
fn alloc_without_cache(size: usize) -> *mut u8 {
    let system = super::backend() == Backend::System;
    let header = upstream_alloc(size, system);
    if header.is_null() {
        return core::ptr::null_mut();
    }
    stats::count_unowned_upstream_allocation(size);
    let origin = if system {
        Origin::System
    } else {
        Origin::Mimalloc
    };
    // SAFETY: a fresh block.
    unsafe { stamp(header, size, origin, 0) }
}

/// # Safety
/// As for [`dealloc`].
#[cold]
unsafe fn dealloc_without_cache(header: *mut Header) {
    // SAFETY: forwarded from the caller.
    let (origin, size, _) = unsafe { read_stamp(header) };
    match origin {
        Origin::Class(class) => {
            stats::count_unowned_class_free(class);
            let block = header as *mut FreeBlock;
            // SAFETY: the caller hands over the block: a chain of one.
            unsafe {
                (*block).next = core::ptr::null_mut();
                depot::put(class, block, 1);
            }
        }
        _ => {
            stats::count_unowned_upstream_free(size);
            // SAFETY: a live block from that upstream, released once.
            unsafe { upstream_free(header, origin == Origin::System) }
        }
    }
}

/// Hands the calling thread's lists to the depot.
pub(super) fn flush_current_thread() {
    if let Some(record) = ThreadRecord::current() {
        while !record.enter() {
            record.leave();
            record.wait();
        }
        // SAFETY: inside enter/leave on the owner thread.
        flush(record, unsafe { record.lists() });
        record.leave();
    }
}

/// The calling thread's cached bytes (for tests).
#[cfg(test)]
pub(super) fn cached_in_current_thread() -> u64 {
    ThreadRecord::current().map_or(0, |record| record.cached_bytes.load(Ordering::Relaxed))
}
