//! Counters: one set per thread record, written only by the record's
//! owner (a relaxed load and store: no read-modify-write on the fast
//! path), and one shared set for threads without a record (atomic
//! additions, on rare paths). Summing them is `stats.rs`'s job.
//!
//! Besides its own counts the pool keeps [`EVENT_SLOTS`] anonymous event
//! counters per thread for the layer above (the message layer names them),
//! so counting a message event touches the record the allocation touched.

use core::sync::atomic::{AtomicU64, Ordering};

use super::sizes::{SizeClass, COUNT};

/// Anonymous per-thread event counters the pool keeps for the layers above.
pub(crate) const EVENT_SLOTS: usize = 8;

/// One of the [`EVENT_SLOTS`] event counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventSlot(usize);

impl EventSlot {
    /// The slot with this index; fails to compile (in a constant) or
    /// panics at the boundary for an index past [`EVENT_SLOTS`].
    pub(crate) const fn new(index: usize) -> EventSlot {
        assert!(index < EVENT_SLOTS);
        EventSlot(index)
    }

    pub(crate) const fn index(self) -> usize {
        self.0
    }
}

/// One thread's counters.
pub(crate) struct Counters {
    /// Pooled blocks handed out, per class (cache hits and misses).
    pub(crate) class_allocations: [AtomicU64; COUNT],
    /// Pooled blocks released, per class.
    pub(crate) class_frees: [AtomicU64; COUNT],
    /// Pooled blocks released by a thread other than the one that
    /// allocated them, per class.
    pub(crate) class_foreign_frees: [AtomicU64; COUNT],
    /// Pooled allocations that went upstream (misses), per class.
    pub(crate) class_misses: [AtomicU64; COUNT],
    /// Releases of upstream blocks another thread allocated.
    pub(crate) upstream_foreign_frees: AtomicU64,
    /// Blocks straight from upstream (too large, or another backend).
    pub(crate) upstream_allocations: AtomicU64,
    pub(crate) upstream_frees: AtomicU64,
    pub(crate) upstream_bytes_allocated: AtomicU64,
    pub(crate) upstream_bytes_freed: AtomicU64,
    /// Frees that found the thread at its cap (the list went to the depot).
    pub(crate) thread_cap_hits: AtomicU64,
    /// The layers' events, indexed by [`EventSlot`].
    pub(crate) events: [AtomicU64; EVENT_SLOTS],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            class_allocations: [ZERO; COUNT],
            class_frees: [ZERO; COUNT],
            class_foreign_frees: [ZERO; COUNT],
            class_misses: [ZERO; COUNT],
            upstream_foreign_frees: ZERO,
            thread_cap_hits: ZERO,
            upstream_allocations: ZERO,
            upstream_frees: ZERO,
            upstream_bytes_allocated: ZERO,
            upstream_bytes_freed: ZERO,
            events: [ZERO; EVENT_SLOTS],
        }
    }
}

/// Adds to a counter only its owner thread writes: a plain load and store.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    // Relaxed: single writer; readers only need some recent value.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// Subtracts from a counter or gauge only its holder writes.
#[inline]
pub(crate) fn debit(counter: &AtomicU64, by: u64) {
    // Relaxed: as in bump.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_sub(by),
        Ordering::Relaxed,
    );
}

/// Counters of threads without a record (exiting, or out of memory for
/// one): shared, so updated with atomic read-modify-writes (rare paths).
pub(crate) static UNOWNED: Counters = Counters::new();

fn add_unowned(counter: &AtomicU64, by: u64) {
    // Relaxed: a counter, read only for reports.
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Counts an event of a thread without a record.
#[cold]
pub(crate) fn count_unowned(slot: EventSlot) {
    add_unowned(&UNOWNED.events[slot.index()], 1);
}

/// Counts an upstream allocation of a thread without a record.
#[cold]
pub(crate) fn count_unowned_upstream_allocation(size: usize) {
    add_unowned(&UNOWNED.upstream_allocations, 1);
    add_unowned(&UNOWNED.upstream_bytes_allocated, size as u64);
}

/// Counts an upstream release of a thread without a record.
#[cold]
pub(crate) fn count_unowned_upstream_free(size: usize) {
    add_unowned(&UNOWNED.upstream_frees, 1);
    add_unowned(&UNOWNED.upstream_bytes_freed, size as u64);
}

/// Counts a pooled release of a thread without a record (always foreign:
/// such a thread allocates nothing pooled).
#[cold]
pub(crate) fn count_unowned_class_free(class: SizeClass) {
    add_unowned(&UNOWNED.class_frees[class.index()], 1);
    add_unowned(&UNOWNED.class_foreign_frees[class.index()], 1);
}
