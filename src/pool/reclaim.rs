//! Taking an idle thread's lists from another thread (the decay pass,
//! `zmqpool_trim`): the reclaimer's side of the record handshake (see
//! `record.rs`). Where membarrier is not available, nothing is reclaimed
//! from live threads.

use core::sync::atomic::Ordering;

use super::block::Lists;
use super::record::ThreadRecord;
use crate::sync::handshake;
use crate::sys::lock::RawLock;
use crate::sys::thread::membarrier;

/// Held by every reclaim: one at a time, and none across a fork() (the
/// fork handlers take it first), so a child never inherits a record with
/// `steal` set (its owner would wait forever) or lists half handed over.
static RECLAIM: RawLock<()> = RawLock::new(());

/// Takes `record`'s lists from whoever owns it, if the owner is not inside
/// a cache operation: runs `body` with them and returns true, or returns
/// false at once (also where membarrier is unavailable).
pub(crate) fn reclaim(record: &ThreadRecord, body: impl FnOnce(&mut Lists)) -> bool {
    RECLAIM.with(|_| reclaim_locked(record, body))
}

fn reclaim_locked(record: &ThreadRecord, body: impl FnOnce(&mut Lists)) -> bool {
    // Acquire on success: the lists as the last holder left them.
    let claim = || {
        record
            .steal
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    };
    let mut claimed = false;
    // Without the membarrier the handshake proves nothing: back off.
    let won = handshake::try_take(
        &record.active,
        || {
            claimed = claim();
            claimed
        },
        membarrier,
    );
    if won {
        // SAFETY: `steal` is ours and the owner is outside every cache
        // operation (the handshake); it waits for `steal` to clear before
        // it touches the lists again (R3).
        body(unsafe { record.lists() });
    }
    if claimed {
        handshake::release(&record.steal);
    }
    won
}

/// Takes the reclaim lock before a fork (after it: [`unlock_after_fork`]).
pub(super) fn lock_for_fork() {
    RECLAIM.lock();
}

/// Releases the reclaim lock after a fork, in parent and child.
///
/// # Safety
/// [`lock_for_fork`] was called by this thread (or, in a forked child, by
/// the parent's forking thread) and not undone yet.
pub(super) unsafe fn unlock_after_fork() {
    // SAFETY: the lock is held by this thread (the caller's contract).
    unsafe { RECLAIM.unlock() };
}
