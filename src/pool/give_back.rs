//! Giving back before failing: when an allocation upstream fails, the pool
//! returns what it holds and no thread is using right now (every thread's
//! lists but those of one inside a cache operation, the depot) and asks
//! mimalloc to return its free memory to the OS; the allocation is then
//! tried once more, and only that failure is the caller's ENOMEM. Memory
//! the program freed into the pool is memory it can have again, whoever
//! asks (the malloc variant's `malloc` does too). `zmqpool_trim()` does
//! the same work.
//!
//! The caller holds no list: the calling thread's own lists are taken like
//! any other's, through the reclaim handshake, which refuses a thread
//! inside a cache operation (that thread's lists stay, and nothing is
//! nested).

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::depot;
use super::lists::flush;
use super::reclaim::reclaim;
use super::record::records;
use super::upstream;

/// Give-backs after a failed allocation.
static GIVE_BACKS: AtomicU64 = AtomicU64::new(0);
/// Set while the fork handlers hold the pool's and mimalloc's locks: a
/// give-back then would wait for them on the forking thread itself.
static SUSPENDED: AtomicBool = AtomicBool::new(false);

/// Suspends give-backs around fork() (or allows them again).
pub(crate) fn suspend(on: bool) {
    // Relaxed: the forking thread sets and clears it around the fork; any
    // other thread reading it late merely gives back (waiting for the locks
    // like any allocation) or skips one give-back.
    SUSPENDED.store(on, Ordering::Relaxed);
}

/// After an allocation upstream failed: gives back what the pool holds,
/// counted; the caller then tries once more.
/// Nothing is given back from inside a give-back (in the malloc variant a
/// failed `malloc` gives back; nothing the give-back calls allocates, and
/// this makes sure it never recurses).
#[cold]
#[inline(never)]
pub(crate) fn after_failure() {
    thread_local!(static GIVING_BACK: Cell<bool> = const { Cell::new(false) });
    // try_with: refused while the thread's TLS is torn down; then no
    // give-back (the retry simply fails as the first attempt did).
    // Relaxed: see suspend().
    if SUSPENDED.load(Ordering::Relaxed)
        || GIVING_BACK
            .try_with(|giving| giving.replace(true))
            .unwrap_or(true)
    {
        return;
    }
    // Relaxed: a statistic.
    GIVE_BACKS.fetch_add(1, Ordering::Relaxed);
    #[cfg(test)]
    let held = tests_support::held_bytes();
    release_held();
    #[cfg(test)]
    tests_support::given_back(held);
    let _ = GIVING_BACK.try_with(|giving| giving.set(false));
}

/// How many times an allocation failed and the pool gave back what it
/// held before trying again.
pub fn give_backs() -> u64 {
    // Relaxed: a statistic.
    GIVE_BACKS.load(Ordering::Relaxed)
}

/// Every list no thread is using, the depot, then mimalloc's free memory.
pub(crate) fn release_held() {
    for record in records() {
        reclaim(record, |lists| flush(record, lists));
    }
    depot::drain();
    upstream::collect();
}

/// Unit tests only: a give-back as the failures `block::test_upstream`
/// injects see it.
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::super::block::test_upstream::{fail_upstream_after, stop_failing};

    /// Bytes the calling thread's lists hold (what a test controls: other
    /// tests run in parallel and fill the depot as they please).
    pub(super) fn held_bytes() -> u64 {
        super::super::lookup::current().map_or(0, |record| {
            // Relaxed: the calling thread is the gauge's only writer.
            record
                .cached_bytes
                .load(core::sync::atomic::Ordering::Relaxed)
        })
    }

    /// A give-back happened: if this thread's lists held anything, memory
    /// came back and its upstream allocations succeed again.
    pub(super) fn given_back(held: u64) {
        if held > 0 {
            stop_failing();
        }
    }
}
