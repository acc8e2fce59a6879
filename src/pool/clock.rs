//! The decay clock: ticks counted by whoever runs the decay pass. Depot
//! batches are stamped with the tick at which they arrived, so "unused for
//! the decay time" is seen without a clock read on any fast path.

use core::sync::atomic::{AtomicU64, Ordering};

/// Decay ticks so far.
static TICK: AtomicU64 = AtomicU64::new(0);

/// The current decay tick.
#[inline]
pub(crate) fn now() -> u64 {
    // Relaxed: a coarse clock; a batch stamped one tick early or late
    // decays one tick early or late.
    TICK.load(Ordering::Relaxed)
}

/// Advances the clock by one tick (the decay helper, once per tick).
pub(crate) fn advance() -> u64 {
    // Relaxed: as in now().
    TICK.fetch_add(1, Ordering::Relaxed) + 1
}
