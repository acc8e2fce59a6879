//! Per-thread free lists, one per size class: the lock-free, atomic-free
//! fast path.
//!
//! A thread's lists hold blocks that thread freed (whoever allocated them)
//! or took from the depot. A list that reaches its class's limit goes to the
//! depot whole; an empty list refills with one batch from the depot. When the
//! thread exits its lists go to the depot, so a producer thread may keep
//! allocating what a finished consumer freed.
//!
//! The cache lives in Rust's `thread_local!`, which in a shared object uses
//! the dynamic TLS model: the library may be `dlopen`ed late, into a process
//! that already has threads. The cache has no destructor (so the hot path has
//! no liveness check); a separate exit guard's destructor retires it. After
//! that (late frees from other TLS destructors) blocks go upstream or to the
//! depot directly.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::depot::{self, FreeBlock};
use super::size_class::{SizeClass, COUNT};
use super::stats::{self, bump, Counters, Event};
use super::{read_stamp, stamp, upstream_alloc, upstream_free, Backend, Header, Origin};

/// Bytes a thread keeps per class before handing a batch to the depot: one
/// depot lock per this many bytes freed, so large messages, too, cross
/// between threads in batches rather than one lock per message.
const BATCH_BYTES: usize = 1 << 20;
const MAX_BATCH: usize = 64;
const MIN_BATCH: usize = 4;
/// A thread holding more than this across all classes hands the list it
/// frees into to the depot at once, whatever its length: the per-thread
/// bound (`ZMQPOOL_MAX_THREAD_CACHED_BYTES`, `zmqpool_set_max_thread_cached_bytes`).
/// Frees never take a thread past it; a batch taken from the depot to serve
/// allocations may, until it is used up.
static THREAD_CACHE_CAP: AtomicU64 = AtomicU64::new(DEFAULT_THREAD_CACHE_CAP);
const DEFAULT_THREAD_CACHE_CAP: u64 = 4 << 20;

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

#[derive(Clone, Copy)]
struct FreeList {
    head: *mut FreeBlock,
    len: usize,
}

const EMPTY_LIST: FreeList = FreeList {
    head: core::ptr::null_mut(),
    len: 0,
};

struct ThreadCache {
    lists: [FreeList; COUNT],
    /// FRESH until the thread's first allocation or free, LIVE while the
    /// thread runs, RETIRED once its exit guard has handed everything back.
    state: u8,
    /// This thread's tag in block headers (0 until registered).
    tag: u32,
    counters: Counters,
    /// Bytes (blocks and headers) on this thread's lists.
    cached_bytes: AtomicU64,
}

static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

const FRESH: u8 = 0;
const LIVE: u8 = 1;
const RETIRED: u8 = 2;

impl ThreadCache {
    /// Makes a FRESH cache LIVE, unless the thread is already exiting;
    /// returns whether the cache may be used.
    #[cold]
    fn activate(&mut self) -> bool {
        if self.state == RETIRED {
            return false;
        }
        // Touching the guard registers its destructor; it fails when the
        // thread's TLS is already being torn down.
        if EXIT_GUARD.try_with(|_| ()).is_err() {
            self.state = RETIRED;
            return false;
        }
        // Relaxed: tags only need to be distinct. 0 is skipped on wrap-around.
        let mut tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
        if tag == 0 {
            tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
        }
        self.tag = tag;
        // SAFETY: the cache lives in this thread's TLS for the thread's whole
        // life; the exit guard retires the counters before the thread ends.
        unsafe { stats::register(&self.counters, &self.cached_bytes) };
        self.state = LIVE;
        true
    }

    /// Hands everything back when the thread exits.
    fn retire(&mut self) {
        if self.state == LIVE {
            self.flush();
            // SAFETY: registered in activate() and still alive here.
            unsafe { stats::retire(&self.counters) };
        }
        self.state = RETIRED;
    }

    /// The fast path: pop from this thread's list for the class. Anything
    /// else (list empty, large request, another backend) takes the slow path.
    #[inline(always)]
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if let Some(class) = SizeClass::of(size) {
            if super::backend_is_pool() {
                let block = self.pop(class);
                if !block.is_null() {
                    bump(&self.counters.class_allocations[class.0], 1);
                    // SAFETY: the block is ours now, nobody else references it.
                    return unsafe {
                        stamp(block as *mut Header, size, Origin::Class(class), self.tag)
                    };
                }
            }
        }
        self.alloc_slow(size)
    }

    #[inline(never)]
    fn alloc_slow(&mut self, size: usize) -> *mut u8 {
        let tag = self.tag;
        let (header, origin) = match (super::backend(), SizeClass::of(size)) {
            (Backend::Pool, Some(class)) => (self.refill_and_pop(class), Origin::Class(class)),
            (Backend::System, _) => (upstream_alloc(size, true), Origin::System),
            _ => (upstream_alloc(size, false), Origin::Mimalloc),
        };
        if header.is_null() {
            return core::ptr::null_mut();
        }
        match origin {
            Origin::Class(class) => bump(&self.counters.class_allocations[class.0], 1),
            _ => {
                bump(&self.counters.upstream_allocations, 1);
                bump(&self.counters.upstream_bytes_allocated, size as u64);
            }
        }
        // SAFETY: `header` starts a live block nobody else references.
        unsafe { stamp(header, size, origin, tag) }
    }

    /// Takes the first block off this thread's list for `class`; null when
    /// the list is empty.
    #[inline(always)]
    fn pop(&mut self, class: SizeClass) -> *mut FreeBlock {
        let list = &mut self.lists[class.0];
        let block = list.head;
        if !block.is_null() {
            // SAFETY: a block on the list is free and owned by this cache.
            list.head = unsafe { (*block).next };
            list.len -= 1;
            debit(&self.cached_bytes, BLOCK_BYTES[class.0]);
        }
        block
    }

    /// A block of `class` for a thread whose list is empty: a batch from the
    /// depot, else a fresh block upstream (a miss).
    fn refill_and_pop(&mut self, class: SizeClass) -> *mut Header {
        let block = self.pop(class);
        if !block.is_null() {
            return block as *mut Header;
        }
        let (head, len) = depot::take(class);
        if head.is_null() {
            bump(&self.counters.cache_misses, 1);
            return upstream_alloc(class.size(), false);
        }
        let list = &mut self.lists[class.0];
        list.head = head;
        list.len = len;
        bump(&self.cached_bytes, (len * BLOCK_BYTES[class.0]) as u64);
        self.pop(class) as *mut Header
    }

    /// The fast path: push onto this thread's list for the class while the
    /// list and the thread stay under their bounds.
    ///
    /// # Safety
    /// `header` starts a live block from `alloc`, released exactly once.
    #[inline(always)]
    unsafe fn dealloc(&mut self, header: *mut Header) {
        // SAFETY: by the contract, a live header.
        let stamp = unsafe { (*header).stamp };
        let index = (stamp & 0xFF) as usize;
        if index < COUNT {
            bump(&self.counters.class_frees[index], 1);
            if (stamp >> 32) as u32 != self.tag {
                bump(&self.counters.foreign_frees, 1);
            }
            let bytes = BLOCK_BYTES[index];
            // Relaxed: single writer (this thread) for the gauge; the cap is
            // a standalone setting.
            let cached = self.cached_bytes.load(Ordering::Relaxed) + bytes as u64;
            let list = &mut self.lists[index];
            let block = header as *mut FreeBlock;
            if list.len < LIMITS[index] && cached <= THREAD_CACHE_CAP.load(Ordering::Relaxed) {
                // SAFETY: the caller hands over the block.
                unsafe { (*block).next = list.head };
                list.head = block;
                list.len += 1;
                self.cached_bytes.store(cached, Ordering::Relaxed);
                return;
            }
            // SAFETY: a live pooled block of this class, handed over.
            return unsafe { self.push_slow(SizeClass(index), block) };
        }
        // SAFETY: a live upstream block, released once.
        unsafe { self.dealloc_upstream(header) }
    }

    /// # Safety
    /// `header` starts a live block from upstream, released exactly once.
    #[inline(never)]
    unsafe fn dealloc_upstream(&mut self, header: *mut Header) {
        // SAFETY: by the contract, a live header.
        let (origin, size, tag) = unsafe { read_stamp(header) };
        bump(&self.counters.upstream_frees, 1);
        bump(&self.counters.upstream_bytes_freed, size as u64);
        if tag != self.tag {
            bump(&self.counters.foreign_frees, 1);
        }
        // SAFETY: a live block from that upstream, released once.
        unsafe { upstream_free(header, origin == Origin::System) }
    }

    /// A release that would take the list past its length limit or the
    /// thread past its byte cap: the list goes to the depot first, and if
    /// the thread is still over its cap the block follows it alone.
    ///
    /// # Safety
    /// `block` is a live pooled block of `class`, handed over by the caller.
    #[inline(never)]
    unsafe fn push_slow(&mut self, class: SizeClass, block: *mut FreeBlock) {
        let bytes = BLOCK_BYTES[class.0];
        let cap = THREAD_CACHE_CAP.load(Ordering::Relaxed);
        let list = &mut self.lists[class.0];
        if list.len > 0 {
            // SAFETY: the list is a chain of `len` free blocks of `class`
            // owned by this cache; it is emptied right after.
            unsafe { depot::put(class, list.head, list.len) };
            debit(&self.cached_bytes, list.len * bytes);
            *list = EMPTY_LIST;
        }
        if self.cached_bytes.load(Ordering::Relaxed) + bytes as u64 > cap {
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
        list.head = block;
        list.len = 1;
        bump(&self.cached_bytes, bytes as u64);
    }

    fn flush(&mut self) {
        for (index, list) in self.lists.iter_mut().enumerate() {
            if !list.head.is_null() {
                // SAFETY: the list is a chain of `len` free blocks of this
                // class owned by this cache; it is emptied right after.
                unsafe { depot::put(SizeClass(index), list.head, list.len) };
                *list = EMPTY_LIST;
            }
        }
        // Relaxed: single writer (this thread).
        self.cached_bytes.store(0, Ordering::Relaxed);
    }
}

/// Its destructor retires the thread's cache. The cache itself has no
/// destructor, so reaching it costs no liveness check on the hot path.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        CACHE.with(|cell| {
            // SAFETY: the cache is only touched by its own thread, and
            // retire() calls nothing that re-enters it.
            unsafe { (*cell.get()).retire() }
        });
    }
}

/// Bytes a block of each class occupies, header included.
static BLOCK_BYTES: [usize; COUNT] = {
    let mut bytes = [0; COUNT];
    let mut index = 0;
    while index < COUNT {
        bytes[index] = SizeClass(index).size_const() + super::HEADER_SIZE;
        index += 1;
    }
    bytes
};

fn debit(counter: &AtomicU64, by: usize) {
    // Relaxed: single writer (the owning thread).
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_sub(by as u64),
        Ordering::Relaxed,
    );
}

thread_local! {
    static EXIT_GUARD: ExitGuard = const { ExitGuard };
    static CACHE: UnsafeCell<ThreadCache> = const {
        UnsafeCell::new(ThreadCache {
            lists: [EMPTY_LIST; COUNT],
            state: FRESH,
            tag: 0,
            counters: Counters::new(),
            cached_bytes: AtomicU64::new(0),
        })
    };
}

/// Allocates through the calling thread's cache.
#[inline]
pub(super) fn alloc(size: usize) -> *mut u8 {
    CACHE.with(|cell| {
        // SAFETY: the cache is only touched by its own thread, and nothing
        // called while this reference lives re-enters the cache.
        let cache = unsafe { &mut *cell.get() };
        if cache.state == LIVE || cache.activate() {
            cache.alloc(size)
        } else {
            alloc_without_cache(size)
        }
    })
}

/// [`alloc`], counting `event` in the same visit to the thread's cache.
#[inline]
pub(crate) fn alloc_counted(size: usize, event: Event) -> *mut u8 {
    CACHE.with(|cell| {
        // SAFETY: as in alloc.
        let cache = unsafe { &mut *cell.get() };
        if cache.state == LIVE || cache.activate() {
            bump(&cache.counters.events[event as usize], 1);
            cache.alloc(size)
        } else {
            stats::count_retired(event);
            alloc_without_cache(size)
        }
    })
}

/// Counts a message-layer event on the calling thread.
#[inline]
pub(crate) fn count(event: Event) {
    CACHE.with(|cell| {
        // SAFETY: as in alloc.
        let cache = unsafe { &mut *cell.get() };
        if cache.state == LIVE || cache.activate() {
            bump(&cache.counters.events[event as usize], 1);
        } else {
            stats::count_retired(event);
        }
    })
}

/// Releases through the calling thread's cache.
///
/// # Safety
/// `header` starts a live block from [`alloc`], released exactly once.
#[inline]
pub(super) unsafe fn dealloc(header: *mut Header) {
    CACHE.with(|cell| {
        // SAFETY: as in alloc.
        let cache = unsafe { &mut *cell.get() };
        if cache.state == LIVE || cache.activate() {
            // SAFETY: the caller's contract is forwarded.
            unsafe { cache.dealloc(header) }
        } else {
            // SAFETY: forwarded from the caller.
            unsafe { dealloc_without_cache(header) }
        }
    })
}

/// The path for a thread whose cache is already destroyed (a free from a
/// later TLS destructor): straight upstream, uncounted.
#[cold]
fn alloc_without_cache(size: usize) -> *mut u8 {
    let system = super::backend() == Backend::System;
    let header = upstream_alloc(size, system);
    if header.is_null() {
        return core::ptr::null_mut();
    }
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
    let (origin, _, _) = unsafe { read_stamp(header) };
    match origin {
        Origin::Class(class) => {
            let block = header as *mut FreeBlock;
            // SAFETY: the caller hands over the block: a chain of one.
            unsafe {
                (*block).next = core::ptr::null_mut();
                depot::put(class, block, 1);
            }
        }
        // SAFETY: a live block from that upstream, released once.
        Origin::Mimalloc => unsafe { upstream_free(header, false) },
        // SAFETY: as above.
        Origin::System => unsafe { upstream_free(header, true) },
    }
}

/// Hands the calling thread's lists to the depot.
pub(super) fn flush_current_thread() {
    CACHE.with(|cell| {
        // SAFETY: as in alloc.
        unsafe { (*cell.get()).flush() }
    });
}

/// The calling thread's cached bytes (for tests).
#[cfg(test)]
pub(super) fn cached_in_current_thread() -> u64 {
    CACHE.with(|cell| {
        // SAFETY: as in alloc.
        unsafe { (*cell.get()).cached_bytes.load(Ordering::Relaxed) }
    })
}
