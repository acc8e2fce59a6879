//! A process-wide lock with explicit `lock`/`unlock` (a pthread mutex), for
//! data that must stay consistent across `fork()`: the fork handlers take
//! every such lock before the fork and release them in both processes,
//! which needs no guard objects (and so no allocation) to carry between the
//! handlers.

use core::cell::UnsafeCell;

/// A lock around a `T`, reached through [`RawLock::with`].
pub(crate) struct RawLock<T> {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached with the mutex held (`with`), and
// T: Send lets it be handed between the threads that take turns.
unsafe impl<T: Send> Sync for RawLock<T> {}
// SAFETY: as for Sync: the value is reached only under the mutex, and T: Send
// lets the RawLock, and the value with it, move to another thread.
unsafe impl<T: Send> Send for RawLock<T> {}

impl<T> RawLock<T> {
    pub(crate) const fn new(value: T) -> RawLock<T> {
        RawLock {
            mutex: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `body` with the lock held. `body` must not take this lock again
    /// (a normal mutex deadlocks); nothing in the pool does.
    #[inline]
    pub(crate) fn with<R>(&self, body: impl FnOnce(&mut T) -> R) -> R {
        self.lock();
        // SAFETY: the mutex is held: no other reference to `value` exists
        // until unlock below, and `body` cannot re-enter (see above).
        let result = body(unsafe { &mut *self.value.get() });
        // SAFETY: locked just above by this thread.
        unsafe { self.unlock() };
        result
    }

    /// Takes the lock (for the fork handlers; everything else uses `with`).
    pub(crate) fn lock(&self) {
        // SAFETY: an initialised, never-moved static mutex; a normal mutex
        // only fails on misuse (EDEADLK is not checked for normal mutexes).
        unsafe { libc::pthread_mutex_lock(self.mutex.get()) };
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The lock is held by this thread, or this is a forked child releasing
    /// what its parent's forking thread took in the prepare handler (a
    /// normal mutex does not check the owner).
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: by the contract, the mutex is locked.
        unsafe { libc::pthread_mutex_unlock(self.mutex.get()) };
    }
}
