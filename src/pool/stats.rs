//! The pool's totals: every record's counters summed on demand (records
//! are never freed and keep their counts from owner to owner, so a sum
//! walks them all and never loses a count), the unowned counters, what the
//! thread lists and the depot hold, and the sampled peaks. What the totals
//! mean to a user (the C struct, the text, the JSON) is `report/`'s job.

use core::sync::atomic::{AtomicU64, Ordering};

use super::counters::{Counters, EventSlot, EVENT_SLOTS, UNOWNED};
use super::depot;
use super::record::records;
use super::sizes::{SizeClass, COUNT};

/// One size class's numbers, summed over every thread.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct ClassTotals {
    pub(crate) allocations: u64,
    pub(crate) frees: u64,
    pub(crate) foreign_frees: u64,
    pub(crate) misses: u64,
    /// Bytes (blocks and headers) held for reuse: thread lists and depot.
    pub(crate) cached_bytes: u64,
}

impl ClassTotals {
    /// In-use bytes (block capacity) of `class` by these totals.
    pub(crate) fn in_use_bytes(&self, class: usize) -> u64 {
        let blocks = self.allocations.wrapping_sub(self.frees);
        // A reader racing the owners may see a free before its allocation.
        if (blocks as i64) < 0 {
            0
        } else {
            blocks.wrapping_mul(SizeClass(class).size() as u64)
        }
    }
}

/// Every counter of the pool, summed.
pub(crate) struct Totals {
    pub(crate) classes: [ClassTotals; COUNT],
    pub(crate) upstream_foreign: u64,
    pub(crate) upstream_allocations: u64,
    pub(crate) upstream_frees: u64,
    /// Upstream bytes allocated and not yet freed.
    pub(crate) upstream_bytes: u64,
    pub(crate) thread_cap_hits: u64,
    pub(crate) events: [u64; EVENT_SLOTS],
    /// Threads currently holding a record.
    pub(crate) threads: u64,
}

impl Totals {
    /// The sum of event `slot` over every thread.
    pub(crate) fn event(&self, slot: EventSlot) -> u64 {
        self.events[slot.index()]
    }
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            classes: [ClassTotals::default(); COUNT],
            upstream_foreign: 0,
            upstream_allocations: 0,
            upstream_frees: 0,
            upstream_bytes: 0,
            thread_cap_hits: 0,
            events: [0; EVENT_SLOTS],
            threads: 0,
        }
    }
}

/// Adds one set of counters into `totals`. Wrapping: a thread may free
/// more of a class than it allocated; only the sum over all threads means
/// something.
fn add_into(counters: &Counters, totals: &mut Totals) {
    // Relaxed: counters, read for a report.
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    for class in 0..COUNT {
        let per = &mut totals.classes[class];
        per.allocations = per
            .allocations
            .wrapping_add(load(&counters.class_allocations[class]));
        per.frees = per.frees.wrapping_add(load(&counters.class_frees[class]));
        per.foreign_frees = per
            .foreign_frees
            .wrapping_add(load(&counters.class_foreign_frees[class]));
        per.misses = per.misses.wrapping_add(load(&counters.class_misses[class]));
    }
    totals.upstream_foreign = totals
        .upstream_foreign
        .wrapping_add(load(&counters.upstream_foreign_frees));
    totals.upstream_allocations = totals
        .upstream_allocations
        .wrapping_add(load(&counters.upstream_allocations));
    totals.upstream_frees = totals
        .upstream_frees
        .wrapping_add(load(&counters.upstream_frees));
    totals.upstream_bytes = totals
        .upstream_bytes
        .wrapping_add(load(&counters.upstream_bytes_allocated))
        .wrapping_sub(load(&counters.upstream_bytes_freed));
    totals.thread_cap_hits = totals
        .thread_cap_hits
        .wrapping_add(load(&counters.thread_cap_hits));
    for (total, mine) in totals.events.iter_mut().zip(&counters.events) {
        *total = total.wrapping_add(load(mine));
    }
}

/// Sums every record's counters, the unowned totals, the thread lists' and
/// the depot's cached blocks; samples the peaks on the way.
pub(crate) fn totals() -> Totals {
    let mut totals = Totals::default();
    for record in records() {
        add_into(&record.counters, &mut totals);
        for class in 0..COUNT {
            totals.classes[class].cached_bytes += record.cached_bytes_of(class);
        }
        totals.threads += u64::from(record.is_owned());
    }
    add_into(&UNOWNED, &mut totals);
    for (class, per) in totals.classes.iter_mut().enumerate() {
        per.cached_bytes += depot::class_cached_bytes(SizeClass(class)) as u64;
    }
    for (class, per) in totals.classes.iter().enumerate() {
        // Relaxed: a statistic.
        PEAKS[class].fetch_max(per.in_use_bytes(class), Ordering::Relaxed);
    }
    totals
}

/// The sum of one event slot over every thread (cheaper than [`totals`]).
pub(crate) fn event_total(slot: EventSlot) -> u64 {
    // Relaxed: counters, read for a report or a heuristic.
    let mut sum = UNOWNED.events[slot.index()].load(Ordering::Relaxed);
    for record in records() {
        sum = sum.wrapping_add(record.counters.events[slot.index()].load(Ordering::Relaxed));
    }
    sum
}

/// The highest in-use bytes seen per class, sampled at every 16th cache
/// miss of a class on a thread (in-use bytes grow past what the thread
/// lists hold only through misses), every [`totals`] and so every decay
/// tick: a peak is missed by at most what the lists held at the time plus
/// 15 blocks per thread. An exact peak would cost an atomic maximum per
/// allocation.
static PEAKS: [AtomicU64; COUNT] = [const { AtomicU64::new(0) }; COUNT];

/// Samples the in-use bytes of one class (on a cache miss: a slow path,
/// one pass over the records).
#[cold]
pub(crate) fn note_class_peak(class: SizeClass) {
    // Relaxed: counters, read for a statistic.
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let mut per = ClassTotals::default();
    for counters in records()
        .map(|record| &record.counters)
        .chain(core::iter::once(&UNOWNED))
    {
        per.allocations = per
            .allocations
            .wrapping_add(load(&counters.class_allocations[class.0]));
        per.frees = per.frees.wrapping_add(load(&counters.class_frees[class.0]));
    }
    // Relaxed: a statistic.
    PEAKS[class.0].fetch_max(per.in_use_bytes(class.0), Ordering::Relaxed);
}

/// The sampled peak of a class's in-use bytes.
pub(crate) fn peak_in_use_bytes(class: usize) -> u64 {
    // Relaxed: a statistic.
    PEAKS[class].load(Ordering::Relaxed)
}
