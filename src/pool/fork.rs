//! `fork()` safety: a child must not inherit a lock some other parent
//! thread held at the moment of the fork (it would wait forever). Before a
//! fork the forking thread takes every pool lock (registry, then each depot
//! class, always in that order); after it, parent and child release them.
//! The child's copies of other threads' caches are simply never used again.

use std::cell::RefCell;
use std::sync::{MutexGuard, Once};

use super::{depot, stats};

thread_local! {
    static HELD: RefCell<Option<(stats::RegistryGuard, Vec<MutexGuard<'static, depot::Stack>>)>> =
        const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let registry = stats::lock_registry();
    let classes = depot::lock_all();
    HELD.with(|held| *held.borrow_mut() = Some((registry, classes)));
}

extern "C" fn release() {
    // Dropping the guards unlocks; in the child the forking thread is the
    // only thread and owns these same guards.
    HELD.with(|held| drop(held.borrow_mut().take()));
}

static INSTALL: Once = Once::new();

/// Installs the fork handlers (once per process).
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: registers plain extern "C" functions without arguments.
        unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
    });
}
