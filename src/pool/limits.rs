//! What memory this process may use (its budget): the tightest of its
//! resource limits, its control group's limits and the machine's memory
//! plus swap (`sys::memory`), read at load and again on request
//! ([`measure`]: `zmqpool_trim()` and the setters call it). Requests beyond
//! the budget fail at once; the default caps follow it (`caps.rs`).

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use crate::sys::memory::{read_limits, Source};

/// RLIMIT_AS or RLIMIT_DATA is finite.
static ADDRESS_SPACE_LIMITED: AtomicBool = AtomicBool::new(false);
/// The budget in bytes (no limit known: isize::MAX).
static BUDGET: AtomicUsize = AtomicUsize::new(isize::MAX as usize);
/// What sets the budget: an index into SOURCES plus one (0: nothing known).
static SOURCE: AtomicU8 = AtomicU8::new(0);

const SOURCES: [Source; 6] = [
    Source::Machine,
    Source::AddressSpace,
    Source::Data,
    Source::CgroupMax,
    Source::CgroupHigh,
    Source::CgroupV1,
];

/// Reads the process's limits and sets the budget from them (allocates
/// nothing: safe at load).
pub(crate) fn measure() {
    let limits = read_limits();
    ADDRESS_SPACE_LIMITED.store(
        limits.address_space.is_some() || limits.data.is_some(),
        Ordering::Relaxed,
    );
    // Relaxed: standalone values; a reader that sees an older budget for a
    // moment derives the caps it had a moment ago.
    match limits.tightest() {
        Some((bytes, source)) => {
            BUDGET.store(bytes.min(isize::MAX as u64) as usize, Ordering::Relaxed);
            let index = SOURCES.iter().position(|&s| s == source).unwrap_or(0);
            SOURCE.store(index as u8 + 1, Ordering::Relaxed);
        }
        None => {
            BUDGET.store(isize::MAX as usize, Ordering::Relaxed);
            SOURCE.store(0, Ordering::Relaxed);
        }
    }
}

/// The memory this process may use, in bytes.
pub(crate) fn budget() -> usize {
    // Relaxed: as in measure().
    BUDGET.load(Ordering::Relaxed)
}

/// The budget and what sets it, by name (None: no limit was found).
pub fn memory_limit() -> Option<(usize, &'static str)> {
    // Relaxed: as in measure().
    match SOURCE.load(Ordering::Relaxed) {
        0 => None,
        index => Some((budget(), SOURCES[index as usize - 1].name())),
    }
}

/// True when the budget is a limit set on this process (a resource limit
/// or its control group's), not the machine's memory: then what the pool
/// holds is memory the rest of the program cannot have.
pub(crate) fn process_limited() -> bool {
    // Relaxed: as in measure().
    !matches!(SOURCE.load(Ordering::Relaxed), 0 | 1)
}

/// True when the process's address space is limited (`RLIMIT_AS`,
/// `RLIMIT_DATA`): then address space reserved and not used is memory the
/// program cannot have.
pub(crate) fn address_space_limited() -> bool {
    // Relaxed: as in measure().
    ADDRESS_SPACE_LIMITED.load(Ordering::Relaxed)
}

/// True for requests the budget could never back. They fail at once
/// (ENOMEM), as glibc's `malloc` does for more than memory plus swap under
/// Linux's default overcommit heuristic, instead of reserving address space
/// that can never be filled (mimalloc maps without a reservation, so it
/// would hand out a terabyte and fail only when it is touched).
pub(crate) fn beyond_memory(size: usize) -> bool {
    size > budget()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sources_table_names_every_limit_once() {
        for (index, source) in SOURCES.iter().enumerate() {
            assert_eq!(SOURCES.iter().position(|s| s == source), Some(index));
        }
        assert_eq!(
            SOURCES[0],
            Source::Machine,
            "process_limited() reads index 1 as the machine"
        );
    }
}
