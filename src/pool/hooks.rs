//! The one call the pool makes upward, without importing anything above
//! it: on its slow paths (a thread's first use, a depot hand-in, a cache
//! miss) it runs the hook the layer above installed at load. That layer
//! starts the decay helper there, lazily, and after a `fork()` again in
//! the child; the pool itself starts no thread.
//!
//! The pool runs the hook only where it holds nothing: never inside a
//! thread's `with_lists`, never under the depot's or the registry's lock
//! (the thread cache calls [`slow_path`] after the lists are let go). So a
//! hook may do anything a program may: create a thread, call `malloc`
//! (which may be zmqpool's own in the malloc variant), even allocate
//! through the pool (`pool::tests` proves it with a hook that does; such
//! a hook is run again by its own allocation's slow path, and must stop
//! that recursion itself).

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The hook, as the address of a `fn()` (0: none).
static SLOW_PATH: AtomicUsize = AtomicUsize::new(0);
/// Set while the fork child handler puts the pool right: no hook runs then
/// (the child must stay single-threaded, and starting a thread is no fork
/// handler's business).
static SUSPENDED: AtomicBool = AtomicBool::new(false);

/// Installs the slow-path hook (the layer above, at load), returning the
/// one it replaces.
pub(crate) fn set_slow_path_hook(hook: fn()) -> Option<fn()> {
    // Relaxed: a code address; the hook reads whatever it needs itself.
    from_address(SLOW_PATH.swap(hook as usize, Ordering::Relaxed))
}

fn from_address(address: usize) -> Option<fn()> {
    // SAFETY: every non-zero value stored in SLOW_PATH is a `fn()` cast to
    // usize (set_slow_path_hook is the only writer), and a fn pointer
    // round-trips through usize unchanged.
    (address != 0).then(|| unsafe { core::mem::transmute::<usize, fn()>(address) })
}

/// Runs the slow-path hook, if one is installed and hooks are not
/// suspended. The caller holds no list or lock of the pool (module
/// documentation).
#[inline]
pub(crate) fn slow_path() {
    // Relaxed: the flag is only set and cleared by the fork child handler
    // on the child's one thread, which is also the only reader then.
    if SUSPENDED.load(Ordering::Relaxed) {
        return;
    }
    // Relaxed: as in set_slow_path_hook.
    if let Some(hook) = from_address(SLOW_PATH.load(Ordering::Relaxed)) {
        hook();
    }
}

/// Suspends (or allows again) the hook.
pub(crate) fn suspend(on: bool) {
    // Relaxed: as in slow_path().
    SUSPENDED.store(on, Ordering::Relaxed);
}
