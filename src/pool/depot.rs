//! The depot: per size class, a stack of batches of free blocks that any
//! thread may hand in or take out, under one lock per class.
//!
//! A batch is a chain of free blocks linked through their first word; the
//! first block of a batch also holds the link to the next batch and the
//! batch's length. Threads move whole batches, so the lock is taken once per
//! batch (up to 64 blocks or 1 MiB), not per block.
//!
//! Bound: the depot holds at most `ZMQPOOL_MAX_CACHED_BYTES` (default
//! 64 MiB) in total; a batch that would exceed it is returned upstream.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::lock::RawLock;
use super::size_class::{SizeClass, COUNT};
use super::Header;

/// The overlay of a free block: header words, then the first payload word
/// (every class has at least 16 payload bytes).
#[repr(C)]
pub(crate) struct FreeBlock {
    pub next: *mut FreeBlock,
    pub next_batch: *mut FreeBlock,
    pub batch_len: usize,
}
const _: () = assert!(core::mem::size_of::<FreeBlock>() <= super::HEADER_SIZE + 16);

/// One class's stack of batches.
pub struct Stack {
    top: *mut FreeBlock,
}

// SAFETY: the blocks in a stack are owned by the stack (no thread refers to
// them) and are only reached under the class's mutex.
unsafe impl Send for Stack {}

impl Default for Stack {
    fn default() -> Self {
        Stack::new()
    }
}

impl Stack {
    /// An empty stack.
    pub const fn new() -> Stack {
        Stack {
            top: core::ptr::null_mut(),
        }
    }

    /// Pushes a chain of `len` blocks (linked by `next`) as one batch.
    ///
    /// # Safety
    /// `head` starts a chain of exactly `len` free blocks the caller owns;
    /// ownership passes to the stack.
    pub(super) unsafe fn push_batch(&mut self, head: *mut FreeBlock, len: usize) {
        // SAFETY: the caller owns the chain's first block.
        unsafe {
            (*head).batch_len = len;
            (*head).next_batch = self.top;
        }
        self.top = head;
    }

    /// Pops one batch: its first block and length, or null and 0. Ownership
    /// of the chain passes to the caller.
    pub(super) fn pop_batch(&mut self) -> (*mut FreeBlock, usize) {
        let head = self.top;
        if head.is_null() {
            return (head, 0);
        }
        // SAFETY: a batch on the stack is live and owned by the stack.
        unsafe {
            self.top = (*head).next_batch;
            (head, (*head).batch_len)
        }
    }
}

static CLASSES: [RawLock<Stack>; COUNT] = [const { RawLock::new(Stack::new()) }; COUNT];
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);
static MAX_CACHED_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_CACHED_BYTES);

const DEFAULT_MAX_CACHED_BYTES: usize = 64 << 20;

/// The cap on bytes held in the depot (`ZMQPOOL_MAX_CACHED_BYTES`, read at
/// load, or `zmqpool_set_max_cached_bytes`).
pub fn max_cached_bytes() -> usize {
    // Relaxed: a standalone setting.
    MAX_CACHED_BYTES.load(Ordering::Relaxed)
}

/// Sets the cap; the depot is trimmed to it at the next hand-in.
pub fn set_max_cached_bytes(cap: usize) {
    MAX_CACHED_BYTES.store(cap, Ordering::Relaxed);
}

/// Bytes currently held in the depot.
pub fn cached_bytes() -> usize {
    CACHED_BYTES.load(Ordering::Relaxed)
}

/// Hands in a chain of `len` free blocks of `class` (linked by `next`).
///
/// # Safety
/// `head` starts a chain of exactly `len` live, free blocks of `class`,
/// owned by the caller and not referenced elsewhere.
pub(super) unsafe fn put(class: SizeClass, head: *mut FreeBlock, len: usize) {
    let bytes = len * (class.size() + super::HEADER_SIZE);
    // Relaxed: the counter is a bound, not a synchronisation point; the
    // blocks themselves are published by the mutex.
    let before = CACHED_BYTES.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > max_cached_bytes() {
        CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { release_chain(head) };
        return;
    }
    // SAFETY: forwarded from the caller; the stack is ours under the lock.
    CLASSES[class.0].with(|stack| unsafe { stack.push_batch(head, len) });
}

/// Takes every class's lock, in class order (before `fork()`).
pub(super) fn lock_all() {
    for class in &CLASSES {
        class.lock();
    }
}

/// Releases what [`lock_all`] took (after `fork()`, in parent and child).
///
/// # Safety
/// [`lock_all`] was called by this thread (or, in a forked child, by the
/// parent's forking thread) and not undone yet.
pub(super) unsafe fn unlock_all() {
    for class in CLASSES.iter().rev() {
        // SAFETY: locked by lock_all, by the contract.
        unsafe { class.unlock() };
    }
}

/// Takes one batch of `class`: its first block and length, or null and 0.
pub(super) fn take(class: SizeClass) -> (*mut FreeBlock, usize) {
    let (head, len) = CLASSES[class.0].with(|stack| stack.pop_batch());
    if head.is_null() {
        return (head, 0);
    }
    CACHED_BYTES.fetch_sub(len * (class.size() + super::HEADER_SIZE), Ordering::Relaxed);
    (head, len)
}

/// Returns every batch in the depot upstream.
pub fn drain() {
    for index in 0..COUNT {
        loop {
            let (head, _) = take(SizeClass(index));
            if head.is_null() {
                break;
            }
            // SAFETY: take() handed the batch's ownership to us.
            unsafe { release_chain(head) };
        }
    }
}

/// Frees a chain of blocks upstream.
///
/// # Safety
/// `head` starts a null-terminated chain of free pooled blocks the caller owns.
pub(super) unsafe fn release_chain(mut head: *mut FreeBlock) {
    while !head.is_null() {
        // SAFETY: each block in the chain is live and owned by the caller;
        // its link is read before it is freed. Pooled blocks are mimalloc's.
        unsafe {
            let next = (*head).next;
            super::upstream_free(head as *mut Header, false);
            head = next;
        }
    }
}
