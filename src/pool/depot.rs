//! The depot: per size class, a stack of batches of free blocks that any
//! thread may hand in or take out, under one lock per class.
//!
//! A batch is a chain of free blocks linked through their first word; the
//! first block of a batch also holds the link to the next batch and the
//! batch's length. Threads move whole batches, so the lock is taken once per
//! batch (up to 64 blocks or 4 MiB), not per block.
//!
//! Bound: the depot holds at most its cap ([`caps::max_cached_bytes`],
//! `ZMQPOOL_MAX_CACHED_BYTES`) in total; a batch that would exceed it is
//! returned upstream.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::block::{prefetch_for_write, release_chain, FreeBlock, BLOCK_BYTES};
use super::caps::{self, max_cached_bytes};
use super::clock;
use super::sizes::{SizeClass, COUNT};
use crate::sys::lock::RawLock;

/// One class's stack of batches.
pub(crate) struct Stack {
    top: *mut FreeBlock,
}

// SAFETY: the blocks in a stack are owned by the stack (no thread refers to
// them) and are only reached under the class's mutex.
unsafe impl Send for Stack {}

impl Stack {
    /// An empty stack.
    pub(crate) const fn new() -> Stack {
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
            (*head).since = clock::now();
        }
        self.top = head;
    }

    /// Unlinks up to `limit` batches that entered the depot at or before
    /// tick `before`, handing each (first block, length) to `each`, and
    /// returns how many. Ownership of each passes to `each`.
    pub(super) fn take_older(
        &mut self,
        before: u64,
        limit: usize,
        mut each: impl FnMut(*mut FreeBlock, usize),
    ) -> usize {
        let mut taken = 0;
        let mut link: *mut *mut FreeBlock = &mut self.top;
        // SAFETY: every batch on the stack is live and owned by the stack;
        // `link` always points at the stack's top or at a batch's
        // next_batch field, both live while the stack is borrowed.
        unsafe {
            while !(*link).is_null() && taken < limit {
                let batch = *link;
                if (*batch).since <= before {
                    *link = (*batch).next_batch;
                    each(batch, (*batch).batch_len);
                    taken += 1;
                } else {
                    link = &mut (*batch).next_batch;
                }
            }
        }
        taken
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
/// Hand-ins refused by the cap (statistics).
static CAP_HITS: AtomicU64 = AtomicU64::new(0);
/// Bytes held per class (statistics).
static CLASS_BYTES: [AtomicUsize; COUNT] = [const { AtomicUsize::new(0) }; COUNT];

/// Bytes the depot holds of one class.
pub(crate) fn class_cached_bytes(class: SizeClass) -> usize {
    CLASS_BYTES[class.0].load(Ordering::Relaxed)
}
/// Returns batches upstream until the depot is within its cap (after the
/// cap fell: a smaller setting, or decay turned off).
pub(crate) fn shrink_to_cap() {
    let cap = max_cached_bytes();
    'classes: for index in (0..COUNT).rev() {
        // Relaxed: the gauge is a bound; the batches are published by their locks.
        while CACHED_BYTES.load(Ordering::Relaxed) > cap {
            let (head, _) = take(SizeClass(index));
            if head.is_null() {
                continue 'classes;
            }
            // SAFETY: take() handed the batch's ownership to us.
            unsafe { release_chain(head) };
        }
        break;
    }
}

/// Sets the cap; what the depot holds beyond it goes upstream at once.
/// `usize::MAX` means no cap at all.
pub fn set_max_cached_bytes(cap: usize) {
    caps::set_max_cached_bytes(cap);
    shrink_to_cap();
}

/// Bytes currently held in the depot.
#[cfg(test)]
pub(crate) fn cached_bytes() -> usize {
    // Relaxed: a gauge read for a test.
    CACHED_BYTES.load(Ordering::Relaxed)
}

/// Hands in a chain of `len` free blocks of `class` (linked by `next`).
///
/// # Safety
/// `head` starts a chain of exactly `len` live, free blocks of `class`,
/// owned by the caller and not referenced elsewhere.
pub(crate) unsafe fn put(class: SizeClass, head: *mut FreeBlock, len: usize) {
    let bytes = len * BLOCK_BYTES[class.0];
    // Relaxed: the counter is a bound, not a synchronisation point; the
    // blocks themselves are published by the mutex.
    let before = CACHED_BYTES.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > max_cached_bytes() {
        CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        // Relaxed: a statistic (slow path).
        CAP_HITS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller hands over a chain of `len` free pooled blocks it
        // owns (put's contract): release_chain's.
        unsafe { release_chain(head) };
        return;
    }
    CLASS_BYTES[class.0].fetch_add(bytes, Ordering::Relaxed);
    // SAFETY: forwarded from the caller: a chain of `len` blocks we own.
    unsafe { write_batch_index(class, head, len) };
    // SAFETY: forwarded from the caller; the stack is ours under the lock.
    CLASSES[class.0].with(|stack| unsafe { stack.push_batch(head, len) });
}

/// Takes every class's lock, in class order (before `fork()`).
pub(crate) fn lock_all() {
    for class in &CLASSES {
        class.lock();
    }
}

/// Releases what [`lock_all`] took (after `fork()`, in parent and child).
///
/// # Safety
/// [`lock_all`] was called by this thread (or, in a forked child, by the
/// parent's forking thread) and not undone yet.
pub(crate) unsafe fn unlock_all() {
    for class in CLASSES.iter().rev() {
        // SAFETY: locked by lock_all, by the contract.
        unsafe { class.unlock() };
    }
}

/// Classes from this size on get a batch index (see [`write_batch_index`]):
/// their blocks lie at least this far apart, where the hardware prefetchers
/// no longer bring the next block in.
const INDEXED_FROM: usize = 4096;
/// Blocks a batch index lists (the first ones of the batch).
const INDEXED_BLOCKS: usize = 64;
/// Words of a batch head before its index: the FreeBlock fields.
pub(crate) const INDEX_AT_WORD: usize = core::mem::size_of::<FreeBlock>() / 8;
const _: () = assert!((INDEX_AT_WORD + INDEXED_BLOCKS) * 8 <= INDEXED_FROM);

/// Writes the addresses of the first blocks of a batch into its head
/// block, after the FreeBlock fields, for [`prefetch_batch`]. The thread
/// handing the batch in freed these blocks itself, so walking the chain
/// here costs little; the thread that takes the batch can then ask for all
/// of them at once instead of waiting for each block's link in turn.
///
/// # Safety
/// `head` starts a chain of `len` free blocks of `class`, owned by the caller.
pub(crate) unsafe fn write_batch_index(class: SizeClass, head: *mut FreeBlock, len: usize) {
    if class.size() < INDEXED_FROM {
        return;
    }
    let index = (head as *mut *mut FreeBlock).wrapping_add(INDEX_AT_WORD);
    let mut block = head;
    for slot in 0..len.min(INDEXED_BLOCKS) {
        // SAFETY: the head block has class.size() >= INDEXED_FROM payload
        // bytes, which hold the FreeBlock fields and INDEXED_BLOCKS words
        // (asserted above); `block` walks the caller's chain of `len`.
        unsafe {
            index.add(slot).write(block);
            block = (*block).next;
        }
    }
}

/// Prefetches (for writing) the first blocks of a batch just taken, from
/// the index [`write_batch_index`] left in its head: a list of large blocks
/// then arrives at the allocating thread's cache together rather than one
/// cross-core miss per allocation. The head's own line is needed anyway;
/// the addresses are only hints (a prefetch never faults).
///
/// # Safety
/// `head` is null or the first block of a batch of `len` blocks of `class`
/// just taken with [`take`] and still owned by the caller.
pub(crate) unsafe fn prefetch_batch(class: SizeClass, head: *mut FreeBlock, len: usize) {
    if class.size() < INDEXED_FROM || head.is_null() {
        return;
    }
    let index = (head as *const *const u8).wrapping_add(INDEX_AT_WORD);
    for slot in 1..len.min(INDEXED_BLOCKS) {
        // SAFETY: by the contract, `head` is a live block of `class`
        // (payload at least INDEXED_FROM bytes, so the slot is inside it);
        // put() wrote this slot for every batch of an indexed class with
        // more than `slot` blocks.
        prefetch_for_write(unsafe { index.add(slot).read() });
    }
}

/// Takes one batch of `class`: its first block and length, or null and 0.
pub(crate) fn take(class: SizeClass) -> (*mut FreeBlock, usize) {
    let (head, len) = CLASSES[class.0].with(|stack| stack.pop_batch());
    if head.is_null() {
        return (head, 0);
    }
    let bytes = len * BLOCK_BYTES[class.0];
    // Relaxed: gauges (see put); the batch itself came out under its lock.
    CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
    CLASS_BYTES[class.0].fetch_sub(bytes, Ordering::Relaxed);
    (head, len)
}

/// Returns upstream every batch that entered the depot at or before tick
/// `before` (the decay thread), with `release` doing the returning; the
/// number of blocks and bytes released.
pub(crate) fn release_older(
    before: u64,
    mut release: impl FnMut(SizeClass, *mut FreeBlock),
) -> (u64, u64) {
    let (mut blocks, mut total) = (0u64, 0u64);
    for index in 0..COUNT {
        let class = SizeClass(index);
        let mut chains: [(*mut FreeBlock, usize); 64] = [(core::ptr::null_mut(), 0); 64];
        loop {
            // Unlinked under the lock (at most 64 batches a turn), released
            // after it: the lock is never held across a free.
            let mut count = 0;
            CLASSES[index].with(|stack| {
                stack.take_older(before, chains.len(), |head, len| {
                    chains[count] = (head, len);
                    count += 1;
                })
            });
            for &(head, len) in &chains[..count] {
                let bytes = len * BLOCK_BYTES[class.0];
                // Relaxed: gauges (see put); the batches came out under their lock.
                CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
                CLASS_BYTES[index].fetch_sub(bytes, Ordering::Relaxed);
                blocks += len as u64;
                total += bytes as u64;
                release(class, head);
            }
            if count < chains.len() {
                break;
            }
        }
    }
    (blocks, total)
}

/// Returns every batch in the depot upstream.
pub(crate) fn drain() {
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

/// Depot hand-ins refused by its cap.
pub(crate) fn cap_hits() -> u64 {
    // Relaxed: a statistic.
    CAP_HITS.load(Ordering::Relaxed)
}
