//! What memory this process may use (its budget): the tightest of its
//! resource limits, its control group's limits and the machine's memory
//! plus swap (`sys::memory`), read at load and again on request
//! ([`measure`]: `zmqpool_trim()` and the setters call it). Requests beyond
//! the budget fail at once; the default caps follow it (`caps.rs`).

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use crate::sys::memory::{max_map_count, read_limits, Source};

/// Mapping mimalloc's pages one by one fits the kernel's map limit.
static PAGE_MAPPING_FITS: AtomicBool = AtomicBool::new(false);
/// The tightest hard limit (`Limits::hard`): larger requests fail at once.
static HARD_LIMIT: AtomicUsize = AtomicUsize::new(isize::MAX as usize);
/// Set while a measure() runs: a second one at the same time returns at
/// once (the first stores a fresh reading), so the stored values always
/// come from one reading.
static MEASURING: AtomicBool = AtomicBool::new(false);
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
    if MEASURING.swap(true, Ordering::Acquire) {
        return;
    }
    let limits = read_limits();
    HARD_LIMIT.store(
        limits.hard().map_or(isize::MAX as usize, |bytes| {
            bytes.min(isize::MAX as u64) as usize
        }),
        Ordering::Relaxed,
    );
    let address_space = limits.address_space_limit();
    PAGE_MAPPING_FITS.store(
        address_space.is_some_and(|bytes| page_mapping_fits(bytes, max_map_count())),
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
    // Release: the values above before the next measure's Acquire.
    MEASURING.store(false, Ordering::Release);
}

/// The size of the pages mimalloc maps one by one without arenas (its
/// small pages; larger ones take fewer mappings).
const MIMALLOC_PAGE_BYTES: u64 = 64 << 10;

/// Whether an address-space limit of `limit` bytes can be filled with
/// mimalloc pages mapped one by one while the process stays under three
/// quarters of the kernel's map limit (the rest is left for its libraries,
/// thread stacks and the other mappings it makes): 65,530 by default, so up
/// to about 3 GiB. Above, arenas stay (one mapping per 64 MiB).
pub(crate) fn page_mapping_fits(limit: u64, max_map_count: Option<u64>) -> bool {
    let mappings = max_map_count.unwrap_or(65_530);
    limit / MIMALLOC_PAGE_BYTES <= mappings / 4 * 3
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

/// True when mimalloc should map its pages one by one: the address space
/// is limited, and small enough that doing so cannot exhaust the kernel's
/// map limit ([`page_mapping_fits`]).
pub(crate) fn map_pages_one_by_one() -> bool {
    // Relaxed: as in measure().
    PAGE_MAPPING_FITS.load(Ordering::Relaxed)
}

/// True for requests no hard limit lets through (memory plus swap, an
/// address-space limit, a cgroup's `memory.max`; not `memory.high`, which
/// only throttles). They fail at once (ENOMEM), as glibc's `malloc` does
/// for more than memory plus swap under Linux's default overcommit
/// heuristic, instead of reserving address space
/// that can never be filled (mimalloc maps without a reservation, so it
/// would hand out a terabyte and fail only when it is touched).
pub(crate) fn beyond_memory(size: usize) -> bool {
    // Relaxed: as in measure().
    size > HARD_LIMIT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_mapped_one_by_one_only_where_the_map_limit_allows() {
        // 65,530 mappings: three quarters of them hold 3 GiB of 64 KiB pages.
        assert!(page_mapping_fits(2 << 30, Some(65_530)));
        assert!(page_mapping_fits(5 << 29, Some(65_530)));
        assert!(!page_mapping_fits(7 << 29, Some(65_530)));
        assert!(page_mapping_fits(16 << 30, Some(1 << 20)));
        assert!(!page_mapping_fits(4 << 30, None));
    }

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
