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
//! that already has threads. After a thread's cache is destroyed (late frees
//! from other TLS destructors) blocks go to and come from the depot directly.

use core::cell::UnsafeCell;

use super::depot::{self, FreeBlock};
use super::size_class::{SizeClass, COUNT};
use super::Header;

/// Bytes a thread keeps per class before handing a batch to the depot.
const BATCH_BYTES: usize = 128 * 1024;
const MAX_BATCH: usize = 32;
const MIN_BATCH: usize = 2;

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

struct ThreadCache {
    lists: [FreeList; COUNT],
}

impl ThreadCache {
    fn flush(&mut self) {
        for (index, list) in self.lists.iter_mut().enumerate() {
            if !list.head.is_null() {
                // SAFETY: the list is a chain of `len` free blocks of this
                // class owned by this cache; it is emptied right after.
                unsafe { depot::put(SizeClass(index), list.head, list.len) };
                *list = FreeList {
                    head: core::ptr::null_mut(),
                    len: 0,
                };
            }
        }
    }
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        self.flush();
    }
}

thread_local! {
    static CACHE: UnsafeCell<ThreadCache> = const {
        UnsafeCell::new(ThreadCache {
            lists: [FreeList { head: core::ptr::null_mut(), len: 0 }; COUNT],
        })
    };
}

/// A free block of `class` (its header), or null when the thread's list and
/// the depot are both empty.
#[inline]
pub(super) fn pop(class: SizeClass) -> *mut Header {
    let popped = CACHE.try_with(|cell| {
        // SAFETY: the cache is only touched by its own thread, and nothing
        // called while this reference lives re-enters the cache.
        let list = unsafe { &mut (*cell.get()).lists[class.0] };
        if list.head.is_null() {
            let (head, len) = depot::take(class);
            list.head = head;
            list.len = len;
            if head.is_null() {
                return core::ptr::null_mut();
            }
        }
        let block = list.head;
        // SAFETY: a block on the list is free and owned by this cache.
        list.head = unsafe { (*block).next };
        list.len -= 1;
        block as *mut Header
    });
    match popped {
        Ok(block) => block,
        // The cache is gone (thread exit): a batch of one from the depot
        // would strand the rest, so go upstream.
        Err(_) => core::ptr::null_mut(),
    }
}

/// Returns a block of `class` (its header) to the thread's list.
///
/// # Safety
/// `header` starts a live pooled block of `class`, released exactly once.
#[inline]
pub(super) unsafe fn push(class: SizeClass, header: *mut Header) {
    let block = header as *mut FreeBlock;
    let pushed = CACHE.try_with(|cell| {
        // SAFETY: as in pop.
        let list = unsafe { &mut (*cell.get()).lists[class.0] };
        if list.len >= LIMITS[class.0] {
            // SAFETY: the list is a chain of `len` free blocks of `class`
            // owned by this cache; it is emptied right after.
            unsafe { depot::put(class, list.head, list.len) };
            list.head = core::ptr::null_mut();
            list.len = 0;
        }
        // SAFETY: the caller hands over the block.
        unsafe { (*block).next = list.head };
        list.head = block;
        list.len += 1;
    });
    if pushed.is_err() {
        // SAFETY: the caller hands over the block: a chain of one.
        unsafe {
            (*block).next = core::ptr::null_mut();
            depot::put(class, block, 1);
        }
    }
}

/// Hands the calling thread's lists to the depot.
pub(super) fn flush_current_thread() {
    let _ = CACHE.try_with(|cell| {
        // SAFETY: as in pop.
        unsafe { (*cell.get()).flush() }
    });
}
