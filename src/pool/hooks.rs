//! The one call the pool makes upward, without importing anything above
//! it: on its slow paths (a thread's first use, a depot hand-in, a cache
//! miss) it runs the hook the layer above installed at load. That layer
//! starts the decay helper there, lazily, and after a `fork()` again in
//! the child; the pool itself starts no thread.

use std::sync::OnceLock;

use core::sync::atomic::{AtomicBool, Ordering};

static SLOW_PATH: OnceLock<fn()> = OnceLock::new();
/// Set while the fork child handler puts the pool right: no hook runs then
/// (the child must stay single-threaded, and starting a thread is no fork
/// handler's business).
static SUSPENDED: AtomicBool = AtomicBool::new(false);

/// Installs the slow-path hook (once; later calls are ignored).
pub(crate) fn set_slow_path_hook(hook: fn()) {
    let _ = SLOW_PATH.set(hook);
}

/// Runs the slow-path hook, if one is installed and hooks are not
/// suspended.
#[inline]
pub(crate) fn slow_path() {
    // Relaxed: the flag is only set and cleared by the fork child handler
    // on the child's one thread, which is also the only reader then.
    if SUSPENDED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(hook) = SLOW_PATH.get() {
        hook();
    }
}

/// Suspends (or allows again) the hook.
pub(crate) fn suspend(on: bool) {
    // Relaxed: as in slow_path().
    SUSPENDED.store(on, Ordering::Relaxed);
}
