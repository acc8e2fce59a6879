//! The lock-free protocols, written once over a small atomic trait so the
//! very same functions run on the real atomics and, in the loom models
//! (`tests/loom_*.rs`-style models under `#[cfg(test)]`), on loom's, which
//! explore every interleaving and memory ordering they allow:
//!
//! - [`refcount`]: a shared body's reference count (message content blocks,
//!   long groups, the ZMTP decoder's buffer);
//! - [`handshake`]: a thread record's owner against a reclaimer.
//!
//! Each ordering says why it is enough; they follow `Arc` (Relaxed to add a
//! reference the adder already holds, AcqRel to drop one, so the last
//! holder sees every other holder's accesses before it frees).

use core::sync::atomic::Ordering;

/// The atomic operations the protocols use.
pub(crate) trait Atomic {
    type Value: Copy + PartialEq + core::ops::Add<Output = Self::Value>;
    fn load(&self, order: Ordering) -> Self::Value;
    fn store(&self, value: Self::Value, order: Ordering);
    fn fetch_add(&self, value: Self::Value, order: Ordering) -> Self::Value;
    fn fetch_sub(&self, value: Self::Value, order: Ordering) -> Self::Value;
}

macro_rules! atomic {
    ($atomic:ty, $value:ty) => {
        impl Atomic for $atomic {
            type Value = $value;
            #[inline(always)]
            fn load(&self, order: Ordering) -> $value {
                <$atomic>::load(self, order)
            }
            #[inline(always)]
            fn store(&self, value: $value, order: Ordering) {
                <$atomic>::store(self, value, order)
            }
            #[inline(always)]
            fn fetch_add(&self, value: $value, order: Ordering) -> $value {
                <$atomic>::fetch_add(self, value, order)
            }
            #[inline(always)]
            fn fetch_sub(&self, value: $value, order: Ordering) -> $value {
                <$atomic>::fetch_sub(self, value, order)
            }
        }
    };
}

atomic!(core::sync::atomic::AtomicU32, u32);
atomic!(core::sync::atomic::AtomicUsize, usize);
#[cfg(test)]
atomic!(loom::sync::atomic::AtomicU32, u32);
#[cfg(test)]
atomic!(loom::sync::atomic::AtomicUsize, usize);

/// Reference counts of shared bodies.
pub(crate) mod refcount {
    use super::{Atomic, Ordering};

    /// A body becomes shared: its only holder (no other thread can reach
    /// the count yet: M3) and the new copy. Relaxed: the new holder is
    /// handed over by the caller, which publishes it.
    #[inline(always)]
    pub(crate) fn share<A: Atomic>(count: &A, two: A::Value) {
        count.store(two, Ordering::Relaxed);
    }

    /// One more holder of a body already shared. Relaxed, as in
    /// `Arc::clone`: the new holder is made from one that already has
    /// access, and publishing it is the caller's business.
    #[inline(always)]
    pub(crate) fn acquire<A: Atomic>(count: &A, one: A::Value) {
        count.fetch_add(one, Ordering::Relaxed);
    }

    /// Drops `ours` references; true for whoever dropped the last, who may
    /// now free the body. AcqRel, as in `Arc::drop`: every holder's accesses
    /// happen before the free.
    #[inline(always)]
    pub(crate) fn release<A: Atomic>(count: &A, ours: A::Value) -> bool {
        count.fetch_sub(ours, Ordering::AcqRel) == ours
    }

    /// True when only `ours` references remain (the caller's): nobody else
    /// reads the body any more. Acquire: pairs with the others' releases,
    /// so their reads happen before the caller writes the body again.
    #[inline(always)]
    pub(crate) fn only<A: Atomic>(count: &A, ours: A::Value) -> bool {
        count.load(Ordering::Acquire) == ours
    }

    /// Makes the count `value` again after [`only`] said the caller is the
    /// only holder. Relaxed: nobody else can read it until the caller hands
    /// out references again, which publishes it.
    #[inline(always)]
    pub(crate) fn reset<A: Atomic>(count: &A, value: A::Value) {
        count.store(value, Ordering::Relaxed);
    }
}

/// A thread record's owner against a reclaimer that wants its lists (see
/// `pool/record.rs`): the owner raises `active` around each cache
/// operation and checks `steal`; the reclaimer raises `steal`, fences every
/// running thread (membarrier), and checks `active`. Either the owner sees
/// `steal` and waits, or the reclaimer sees `active` and backs off.
pub(crate) mod handshake {
    use super::{Atomic, Ordering};
    use core::sync::atomic::compiler_fence;

    /// The owner starts a cache operation; false when a reclaimer holds the
    /// lists (then [`leave`], wait for `steal` to clear, and start again).
    /// Relaxed store, `fence`, Acquire load. The real fence is only a
    /// compiler fence: the CPU may still let the load pass the store, which
    /// the reclaimer's membarrier covers by running a full fence on this
    /// thread's CPU (the loom model passes a full fence here, which is what
    /// membarrier makes of it). Acquire pairs with the reclaimer's Release
    /// of `steal`.
    #[inline(always)]
    pub(crate) fn enter<A: Atomic<Value = u32>>(
        active: &A,
        steal: &A,
        fence: impl FnOnce(),
    ) -> bool {
        active.store(1, Ordering::Relaxed);
        fence();
        steal.load(Ordering::Acquire) == 0
    }

    /// The owner's fence between raising `active` and reading `steal`.
    #[inline(always)]
    pub(crate) fn owner_fence() {
        compiler_fence(Ordering::SeqCst);
    }

    /// The owner ends a cache operation. Release: a reclaimer that sees 0
    /// sees every change to the lists before it.
    #[inline(always)]
    pub(crate) fn leave<A: Atomic<Value = u32>>(active: &A) {
        compiler_fence(Ordering::SeqCst);
        active.store(0, Ordering::Release);
    }

    /// The reclaimer's side: `claim` raises `steal` (false: another
    /// reclaimer has it), `fence` is the full fence on every running thread
    /// (false: unavailable, back off); returns whether the lists are the
    /// reclaimer's until [`release`].
    #[inline(always)]
    pub(crate) fn try_take<A: Atomic<Value = u32>>(
        active: &A,
        claim: impl FnOnce() -> bool,
        fence: impl FnOnce() -> bool,
    ) -> bool {
        // Acquire: pairs with the owner's Release in leave().
        claim() && fence() && active.load(Ordering::Acquire) == 0
    }

    /// The reclaimer is done (whether it took the lists or not). Release:
    /// the owner's next `enter` sees the lists as left here.
    #[inline(always)]
    pub(crate) fn release<A: Atomic<Value = u32>>(steal: &A) {
        steal.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod loom_models;
