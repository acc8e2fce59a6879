//! `fork()` safety. A child must not inherit a lock that another parent
//! thread held at the moment of the fork (it would wait forever), nor caches
//! of threads it does not have. Before a fork the forking thread takes the reclaim lock
//! (no other thread's lists are being taken) and every depot lock (in class
//! order); after it, the parent releases them, and the
//! child releases them and frees every other thread's record (see
//! `record.rs`). The handlers allocate nothing, so a fork under memory
//! pressure behaves like any other.

use std::sync::Once;

use super::{depot, record};

extern "C" fn prepare() {
    // Reclaim first (a reclaim takes depot locks inside it), then the depot.
    record::lock_reclaim();
    depot::lock_all();
}

extern "C" fn in_parent() {
    // SAFETY: prepare() took the locks on this thread.
    unsafe {
        depot::unlock_all();
        record::unlock_reclaim();
    }
}

extern "C" fn in_child() {
    // SAFETY: the parent's forking thread took the locks in prepare(); this
    // is that thread in the child (the locks do not check the owner).
    unsafe {
        depot::unlock_all();
        record::unlock_reclaim();
    }
    record::after_fork_in_child();
}

static INSTALL: Once = Once::new();

/// Installs the fork handlers (once per process).
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: registers plain extern "C" functions without arguments.
        unsafe { libc::pthread_atfork(Some(prepare), Some(in_parent), Some(in_child)) };
    });
}
