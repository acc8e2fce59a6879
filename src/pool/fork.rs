//! `fork()` safety. A child must not inherit a lock that another parent
//! thread held at the moment of the fork (it would wait forever), nor caches
//! of threads it does not have. Before a fork the forking thread takes the reclaim lock
//! (no other thread's lists are being taken) and every depot lock (in class
//! order); after it, the parent releases them, and the
//! child releases them and frees every other thread's record (see
//! `record.rs`). mimalloc's process-wide locks are held around the fork too
//! (c_src/mimalloc_fork.c): it registers no handlers of its own. The
//! handlers allocate nothing and start no thread, so a fork under memory
//! pressure behaves like any other, and the child has only its one thread.

use std::sync::Once;

use super::{depot, record};

extern "C" {
    // c_src/mimalloc_fork.c: mimalloc's process-wide locks.
    fn zmqpool_mimalloc_fork_prepare();
    fn zmqpool_mimalloc_fork_release();
}

extern "C" fn prepare() {
    // Ours first, in the order they nest (a decay pass holds its lock
    // while it reclaims; a reclaim takes depot locks inside it), then
    // mimalloc's: a thread holding one of ours may call into mimalloc,
    // mimalloc never calls us.
    super::decay::lock_work();
    record::lock_reclaim();
    depot::lock_all();
    if !cfg!(miri) {
        // SAFETY: no preconditions; released in in_parent / in_child.
        unsafe { zmqpool_mimalloc_fork_prepare() };
    }
}

/// Releases what prepare() took, in the reverse order.
///
/// # Safety
/// prepare() took the locks on the calling thread (in a forked child: on
/// the parent's forking thread, which the child's one thread is).
unsafe fn release_locks() {
    // SAFETY: by the contract, each lock is held by this thread.
    unsafe {
        if !cfg!(miri) {
            zmqpool_mimalloc_fork_release();
        }
        depot::unlock_all();
        record::unlock_reclaim();
        super::decay::unlock_work();
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
    // No thread may start while the child's state is being put right
    // (the decay helper restarts at the child's next slow-path call).
    super::decay::suspend(true);
    record::after_fork_in_child();
    super::decay::suspend(false);
}

static INSTALL: Once = Once::new();

/// Installs the fork handlers (once per process).
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: registers plain extern "C" functions without arguments.
        unsafe { libc::pthread_atfork(Some(prepare), Some(in_parent), Some(in_child)) };
    });
}

#[cfg(all(test, not(miri)))]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// The shim reaches mimalloc's real locks: while the fork handler holds
    /// them, making a heap (which takes the subprocess's heaps lock) waits,
    /// and goes on once they are released.
    #[test]
    fn the_fork_handler_holds_mimallocs_locks() {
        // SAFETY: no preconditions; released below.
        unsafe { super::zmqpool_mimalloc_fork_prepare() };
        let done = Arc::new(AtomicBool::new(false));
        let seen = done.clone();
        let thread = std::thread::spawn(move || {
            // SAFETY: plain mimalloc calls: a new heap, deleted at once.
            unsafe {
                let heap = libmimalloc_sys::mi_heap_new();
                libmimalloc_sys::mi_heap_delete(heap);
            }
            seen.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(300));
        let waited = !done.load(Ordering::SeqCst);
        // SAFETY: taken above, on this thread.
        unsafe { super::zmqpool_mimalloc_fork_release() };
        thread.join().unwrap();
        assert!(
            waited,
            "mi_heap_new did not wait for the fork handler's locks"
        );
        assert!(done.load(Ordering::SeqCst));
    }
}
