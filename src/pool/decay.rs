//! The decay pass: what has sat unused for the decay time goes back
//! upstream. "Unused" is seen without touching the fast path: a depot
//! batch carries the decay tick at which it arrived (`clock.rs`, written on
//! the depot's slow path), and a thread's list of a class is idle when the
//! thread's allocation and free counters for that class did not move for
//! the decay time. Idle lists are taken through the record handshake
//! (`reclaim.rs`): the owner is never interrupted inside a cache operation.
//!
//! The pool runs no thread: the layer above calls [`pass`] once per tick
//! (`background/helper.rs`).

use core::sync::atomic::{AtomicU64, Ordering};

use super::block::{release_chain, BLOCK_BYTES};
use super::clock;
use super::depot;
use super::lists::take_lists;
use super::reclaim::reclaim;
use super::record::{records, ThreadRecord};
use super::sizes::COUNT;
use super::upstream;
use crate::sys::lock::RawLock;

/// Released by decay: passes that released something, blocks, bytes.
static RELEASES: AtomicU64 = AtomicU64::new(0);
static RELEASED_BLOCKS: AtomicU64 = AtomicU64::new(0);
static RELEASED_BYTES: AtomicU64 = AtomicU64::new(0);

/// What decay released so far: (passes that released something, blocks,
/// bytes).
pub(crate) fn released() -> (u64, u64, u64) {
    // Relaxed: statistics.
    (
        RELEASES.load(Ordering::Relaxed),
        RELEASED_BLOCKS.load(Ordering::Relaxed),
        RELEASED_BYTES.load(Ordering::Relaxed),
    )
}

/// Held by a pass while it takes batches out of the depot and frees them,
/// and by the fork handlers: a child never inherits batches that are out
/// of the depot but not yet freed. It also makes `seen`/`idle_ticks` of
/// every record the pass's alone.
static WORK: RawLock<()> = RawLock::new(());

/// Takes the pass lock before a fork.
pub(crate) fn lock_for_fork() {
    WORK.lock();
}

/// Releases it after a fork, in parent and child.
///
/// # Safety
/// [`lock_for_fork`] was called by this thread (or, in a forked child, by
/// the parent's forking thread) and not undone yet.
pub(crate) unsafe fn unlock_after_fork() {
    // SAFETY: the lock is held by this thread (the caller's contract).
    unsafe { WORK.unlock() };
}

/// What one pass saw.
pub(crate) struct Pass {
    /// Blocks and bytes released upstream.
    pub(crate) blocks: u64,
    pub(crate) bytes: u64,
    /// Every record's allocations + frees so far (unchanged between two
    /// passes: the whole process was quiet).
    pub(crate) operations: u64,
}

/// One pass at the current tick: releases what has been unused for
/// `ticks` ticks (the depot's old batches, idle threads' idle lists) and
/// has mimalloc return free pages when anything was released.
pub(crate) fn pass(ticks: u64) -> Pass {
    WORK.with(|_| {
        let now = clock::now();
        let mut pass = Pass {
            blocks: 0,
            bytes: 0,
            operations: 0,
        };
        if now >= ticks {
            let (blocks, bytes) = depot::release_older(now - ticks, |_, head| {
                // SAFETY: a chain the depot handed over to us.
                unsafe { release_chain(head) }
            });
            pass.blocks += blocks;
            pass.bytes += bytes;
        }
        for record in records() {
            let (blocks, bytes, operations) =
                decay_record(record, ticks.clamp(1, u64::from(u32::MAX)) as u32);
            pass.blocks += blocks;
            pass.bytes += bytes;
            pass.operations = pass.operations.wrapping_add(operations);
        }
        if pass.blocks > 0 {
            // Relaxed: statistics.
            RELEASES.fetch_add(1, Ordering::Relaxed);
            RELEASED_BLOCKS.fetch_add(pass.blocks, Ordering::Relaxed);
            RELEASED_BYTES.fetch_add(pass.bytes, Ordering::Relaxed);
            upstream::collect();
        }
        pass
    })
}

/// Releases the lists of `record`'s classes idle for `ticks` ticks; returns
/// (blocks, bytes released, the record's operations so far).
fn decay_record(record: &ThreadRecord, ticks: u32) -> (u64, u64, u64) {
    // SAFETY: only the decay pass touches seen and idle_ticks, and it holds
    // WORK (one pass at a time): no other reference to them exists.
    let (seen, idle) = unsafe { (&mut *record.seen.get(), &mut *record.idle_ticks.get()) };
    let mut due = [false; COUNT];
    let mut any = false;
    let mut operations = 0u64;
    for class in 0..COUNT {
        // Relaxed: counters, compared with the last tick's.
        let ops = record.counters.class_allocations[class]
            .load(Ordering::Relaxed)
            .wrapping_add(record.counters.class_frees[class].load(Ordering::Relaxed));
        operations = operations.wrapping_add(ops);
        if ops == seen[class] {
            idle[class] = idle[class].saturating_add(1);
        } else {
            seen[class] = ops;
            idle[class] = 0;
        }
        if idle[class] >= ticks && record.len(class) > 0 {
            due[class] = true;
            any = true;
        }
    }
    let (mut blocks, mut bytes) = (0u64, 0u64);
    if any {
        reclaim(record, |lists| {
            take_lists(
                record,
                lists,
                |class| due[class],
                |class, head, len| {
                    blocks += len as u64;
                    bytes += (len * BLOCK_BYTES[class.0]) as u64;
                    // SAFETY: a chain taken from the lists, now ours.
                    unsafe { release_chain(head) };
                },
            );
        });
    }
    (blocks, bytes, operations)
}
