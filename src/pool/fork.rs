//! `fork()` safety. A child must not inherit a lock that another parent
//! thread held at the moment of the fork (it would wait forever), nor caches
//! of threads it does not have. Before a fork the forking thread takes the
//! decay pass lock, the reclaim lock (no other thread's lists are being
//! taken) and every depot lock (in class order); after it, the parent
//! releases them, and the child releases them and frees every other
//! thread's record ([`after_fork_in_child`]). mimalloc's process-wide locks are held around the fork too
//! (c_src/mimalloc_fork.c): it registers no handlers of its own. The
//! handlers allocate nothing and start no thread, so a fork under memory
//! pressure behaves like any other, and the child has only its one thread.

use std::sync::Once;

use core::sync::atomic::Ordering;

use super::block::EMPTY_LISTS;
use super::lists::flush;
use super::record::records;
use super::{decay, depot, give_back, hooks, lookup, reclaim};
use crate::sys::thread::thread_pointer;

/// cbindgen:ignore
/// (internal: c_src/mimalloc_fork.c, never exported)
mod mimalloc_locks {
    extern "C" {
        // c_src/mimalloc_fork.c: mimalloc's process-wide locks.
        pub(super) fn zmqpool_mimalloc_fork_prepare();
        pub(super) fn zmqpool_mimalloc_fork_release();
        // For tests: how many of the locks a try-lock finds taken.
        #[cfg(test)]
        pub(super) fn zmqpool_mimalloc_fork_locks_held() -> core::ffi::c_int;
    }
}
use mimalloc_locks::{zmqpool_mimalloc_fork_prepare, zmqpool_mimalloc_fork_release};

extern "C" fn prepare() {
    // Ours first, in the order they nest (a decay pass holds its lock
    // while it reclaims; a reclaim takes depot locks inside it), then
    // mimalloc's: a thread holding one of ours may call into mimalloc,
    // mimalloc never calls us.
    decay::lock_for_fork();
    reclaim::lock_for_fork();
    depot::lock_all();
    if !cfg!(miri) {
        // SAFETY: no preconditions; released in in_parent / in_child.
        unsafe { zmqpool_mimalloc_fork_prepare() };
    }
    // A malloc that fails in a fork handler run after this one (the
    // malloc variant) must not give back: that takes the locks held now.
    give_back::suspend(true);
}

/// Releases what prepare() took, in the reverse order.
///
/// # Safety
/// prepare() took the locks on the calling thread (in a forked child: on
/// the parent's forking thread, which the child's one thread is).
unsafe fn release_locks() {
    give_back::suspend(false);
    // SAFETY: each lock was taken by prepare() on this thread (the
    // caller's contract), and is released once, in reverse order.
    unsafe {
        if !cfg!(miri) {
            zmqpool_mimalloc_fork_release();
        }
        depot::unlock_all();
        reclaim::unlock_after_fork();
        decay::unlock_after_fork();
    }
}

extern "C" fn in_parent() {
    // SAFETY: prepare() took the locks on this thread.
    unsafe { release_locks() };
}

extern "C" fn in_child() {
    // SAFETY: the parent's forking thread took the locks in prepare(); this
    // is that thread in the child (the locks do not check the owner).
    unsafe { release_locks() };
    // No hook may run (and start a thread) while the child's state is
    // being put right; the layer above restarts its helper at the child's
    // next slow-path call.
    hooks::suspend(true);
    after_fork_in_child();
    hooks::suspend(false);
}

/// In a forked child: every record but the calling thread's is free again;
/// their lists go to the depot unless their owner was inside a cache
/// operation when the fork happened (then the lists may be half-updated and
/// are dropped: at most one thread cap of memory each).
fn after_fork_in_child() {
    let tp = thread_pointer();
    let own = records().find(|record| record.owner() == tp);
    lookup::reset_after_fork(own, tp);
    for record in records().filter(|record| record.owner() != tp) {
        // Relaxed: the child has one thread; the parent's stores are in
        // its copied memory as they were at the fork.
        if record.active.load(Ordering::Relaxed) == 0 {
            // SAFETY: the child has one thread (R3), and the record's owner
            // was outside every cache operation when its memory was copied.
            flush(record, unsafe { record.lists() });
        } else {
            // SAFETY: as above, one thread; the half-updated lists are
            // abandoned, not followed.
            unsafe { *record.lists() = EMPTY_LISTS };
            for class in 0..record.lens.len() {
                record.set_len(class, 0);
            }
            record.cached_bytes.store(0, Ordering::Relaxed);
        }
        // Relaxed: the child has one thread.
        record.active.store(0, Ordering::Relaxed);
        record.steal.store(0, Ordering::Relaxed);
        record.release_owner();
    }
}

static INSTALL: Once = Once::new();

/// Installs the fork handlers (once per process).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // SAFETY: registers plain extern "C" functions without arguments.
        unsafe { libc::pthread_atfork(Some(prepare), Some(in_parent), Some(in_child)) };
    });
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::mimalloc_locks::zmqpool_mimalloc_fork_locks_held;

    fn held_seen_from_another_thread() -> core::ffi::c_int {
        // SAFETY: the shim only try-locks (and releases what it got).
        std::thread::spawn(|| unsafe { zmqpool_mimalloc_fork_locks_held() })
            .join()
            .unwrap()
    }

    /// The shim reaches mimalloc's five process-wide locks: while the fork
    /// handler holds them, another thread finds every one of them taken
    /// (try-lock fails), and none once they are released.
    #[test]
    fn the_fork_handler_holds_mimallocs_locks() {
        // Other tests' threads take these locks for a moment (a thread
        // starting or exiting): free at some point is all that is asked.
        let free_at_some_point = || (0..1000).any(|_| held_seen_from_another_thread() == 0);
        assert!(free_at_some_point(), "taken before prepare");
        // SAFETY: no preconditions; released below, on this thread.
        unsafe { super::zmqpool_mimalloc_fork_prepare() };
        let held = held_seen_from_another_thread();
        // SAFETY: taken above, on this thread.
        unsafe { super::zmqpool_mimalloc_fork_release() };
        assert_eq!(held, 5, "locks held by the fork handler");
        assert!(free_at_some_point(), "left taken after release");
    }
}
