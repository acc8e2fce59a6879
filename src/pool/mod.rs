//! zmqpool's allocator: a size-header pool over the embedded mimalloc.
//!
//! ```text
//!   block:  [ Header: requested size | origin ][ payload ... ]
//!            ^ upstream pointer          ^ pointer handed out (16-aligned)
//! ```
//!
//! The header records what release needs, so `dealloc(ptr)` takes no size.
//! Requests up to 512 KiB are rounded to a size class and
//! recycled (`sizes.rs`); larger ones go straight to the upstream
//! allocator.
//!
//! Recycling is magazine-style (`thread_cache.rs`, `depot.rs`): blocks belong
//! to no thread. A freed block goes onto the freeing thread's own list for
//! its class (no lock, no atomic); when that list is full it moves, as one
//! batch, to the process-wide depot; a thread whose list is empty takes a
//! whole batch back. In the producer/consumer pattern libzmq creates (an
//! application thread allocates, the I/O thread frees) blocks flow from the
//! consumer to the producer one batch at a time, one lock per batch.
//!
//! Invariant: a pointer from [`alloc`] is released with [`dealloc`] exactly
//! once, on any thread. Nothing here touches the C `malloc` heap unless the
//! backend is `system`, and then only through the header's record, so
//! blocks never reach a foreign `free()`: they travel inside zclmsg messages
//! whose free function brings them back here.

//! The files, each importing only the ones above it in this list:
//!
//! | file | job |
//! | --- | --- |
//! | `sizes.rs` | the class table |
//! | `upstream.rs`, `limits.rs`, `backend.rs` | mimalloc's entry points, the process's memory budget, the backend switch |
//! | `block.rs` | the header, the free-block overlay, upstream alloc/free |
//! | `clock.rs`, `caps.rs`, `hooks.rs` | the decay tick, the caps and decay time, the slow-path hook |
//! | `counters.rs` | per-thread counters and the layers' event slots |
//! | `record.rs` | thread records, the registry, the lists' handshake |
//! | `lookup.rs` | finding the calling thread's record |
//! | `depot.rs` | the shared stacks of batches |
//! | `stats.rs` | totals and peaks, summed on demand |
//! | `thread_cache.rs` | the alloc/free paths over a thread's lists |
//! | `lists.rs`, `give_back.rs` | a thread's lists as a whole; giving back what the pool holds before an allocation fails |
//! | `thread_exit.rs`, `reclaim.rs`, `decay.rs`, `fork.rs` | a record given back at thread exit, taken from an idle thread, decayed, fixed up after fork |
//! | `api.rs`, `buffer.rs` | the front door and [`PoolBuffer`] |

mod api;
mod backend;
mod block;
mod buffer;
mod caps;
mod clock;
pub(crate) mod counters;
pub(crate) mod decay;
pub(crate) mod depot;
mod fork;
mod give_back;
pub(crate) mod hooks;
mod limits;
mod lists;
mod lookup;
mod reclaim;
pub(crate) mod record;
pub(crate) mod sizes;
pub(crate) mod stats;
mod thread_cache;
mod thread_exit;
pub(crate) mod upstream;

#[cfg(test)]
pub(crate) use api::test_faults;
pub use api::{alloc, dealloc, requested_size, usable_size};
pub(crate) use api::{alloc_counted, alloc_counted_copy, count, dealloc_inline};
pub use backend::{backend, set_backend, Backend};
pub use block::{ALIGNMENT, HEADER_SIZE};
pub use buffer::PoolBuffer;
pub use caps::{
    decay, max_cached_bytes, max_thread_cached_bytes, planned_max_cached_bytes,
    set_max_thread_cached_bytes, Decay,
};
pub(crate) use caps::{decay_seqcst, set_helper_running};
pub(crate) use counters::{EventSlot, EVENT_SLOTS};
pub use depot::set_max_cached_bytes;
pub use give_back::give_backs;

/// The address space the pool's upstream (mimalloc) holds, in bytes.
pub fn address_space_bytes() -> u64 {
    upstream::reserved_bytes()
}
pub use limits::memory_limit;

/// mimalloc options (`mi_option_e` indices in the vendored mimalloc;
/// `c_src/mimalloc_fork.c` checks them against its header at build time).
pub(crate) const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
pub(crate) const MI_OPTION_ARENA_RESERVE: libmimalloc_sys::mi_option_t = 23;
pub(crate) const MI_OPTION_DISALLOW_ARENA_ALLOC: libmimalloc_sys::mi_option_t = 26;

/// The arena mimalloc reserves at a time (KiB): 64 MiB rather than its
/// 1 GiB default, so a process under an address-space limit
/// (`ulimit -v`, batch and HPC schedulers) with little headroom can still
/// allocate; more arenas follow as the workload needs them.
pub(crate) const ARENA_RESERVE_KIB: core::ffi::c_long = 64 << 10;

/// What the load-time wiring tells the pool about mimalloc's options the
/// user set themselves (`MIMALLOC_ARENA_EAGER_COMMIT`,
/// `MIMALLOC_ARENA_RESERVE`, `MIMALLOC_DISALLOW_ARENA_ALLOC`): those are
/// left alone.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UpstreamOptions {
    pub(crate) eager_commit_set: bool,
    pub(crate) arena_reserve_set: bool,
    pub(crate) disallow_arena_alloc_set: bool,
}

/// Tunes the embedded mimalloc, unless the user set the option: arenas are
/// reserved 64 MiB at a time (see ARENA_RESERVE_KIB) and committed on
/// demand, so memory that messages never touch never becomes resident
/// (eager commit made a burst of 64 KiB messages, touched at both ends,
/// cost 1.5x its size in RSS instead of a fraction). Under an address-space
/// limit (`RLIMIT_AS`, `RLIMIT_DATA`, read at load) mimalloc maps what it
/// uses from the OS instead of carving it from arenas, and unmaps it when
/// it is free: it never unmaps an arena, so the address space a burst
/// reserved would stay taken for good.
pub(crate) fn configure_upstream(user: UpstreamOptions) {
    if cfg!(miri) {
        return;
    }
    if !user.eager_commit_set {
        // SAFETY: mi_option_set accepts any option index and value.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    }
    if !user.arena_reserve_set {
        // SAFETY: mi_option_set accepts any option index and value.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_RESERVE, ARENA_RESERVE_KIB) };
    }
    // Relaxed: written at load, before any other thread runs zmqpool code.
    USER_SET_DISALLOW_ARENA_ALLOC.store(
        user.disallow_arena_alloc_set,
        core::sync::atomic::Ordering::Relaxed,
    );
    follow_address_space_limit();
}

/// Whether mimalloc maps its pages one by one now (no arenas).
pub fn pages_mapped_one_by_one() -> bool {
    // SAFETY: mi_option_get accepts any option index.
    !cfg!(miri) && unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_DISALLOW_ARENA_ALLOC) } != 0
}

/// The user set `MIMALLOC_DISALLOW_ARENA_ALLOC`: zmqpool leaves it alone.
static USER_SET_DISALLOW_ARENA_ALLOC: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Maps mimalloc's pages one by one while the address space is limited
/// (and the kernel's map limit allows it: `limits::page_mapping_fits`),
/// from arenas otherwise; applied at load and whenever the limits are read
/// again. Arenas reserved before a limit appeared stay reserved.
fn follow_address_space_limit() {
    // Relaxed: as where it is stored.
    if cfg!(miri) || USER_SET_DISALLOW_ARENA_ALLOC.load(core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let one_by_one = core::ffi::c_long::from(limits::map_pages_one_by_one());
    // SAFETY: mi_option_set accepts any option index and value.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_DISALLOW_ARENA_ALLOC, one_by_one) };
}

/// Sets up what the pool needs before any thread uses it (done at load):
/// mimalloc, the thread-exit key, the fork handlers, the memory limit.
pub(crate) fn init() {
    // mimalloc first: its own constructor may run after this one, and
    // whichever thread first initialises it is taken for the main thread
    // (a helper thread started before it corrupted its heap).
    // SAFETY: mi_process_init has no preconditions and is idempotent.
    unsafe { upstream::mi_process_init() };
    thread_exit::init();
    fork::install();
    // The limits and the caps; mimalloc's mapping follows them once the
    // user's mimalloc options are known (configure_upstream).
    limits::measure();
    caps::follow_budget();
}

/// Reads the process's memory limits again and makes the default caps
/// follow them (at load; `trim` and the setters call it too: a limit can
/// change while the process runs, `prlimit` or a container resized).
pub fn refresh_limits() {
    limits::measure();
    caps::follow_budget();
    follow_address_space_limit();
}

/// Sets the decay time; turned off, the depot's default cap falls back to
/// its no-decay value (`caps::DEFAULT_MAX_CACHED_BYTES_NO_DECAY`), and what
/// it holds beyond its cap goes upstream at once.
/// (Starting the helper that runs the decay passes is the caller's job:
/// `background::set_decay`.)
pub(crate) fn set_decay(decay: Decay) {
    caps::set_decay(decay);
    depot::shrink_to_cap();
}

/// Sets up mimalloc on the decay helper's thread, which may never allocate
/// (mi_collect does nothing on a thread mimalloc does not know).
pub(crate) fn init_helper_thread() {
    // SAFETY: mi_thread_init has no preconditions.
    unsafe { upstream::mi_thread_init() };
}

/// Advances the decay clock by one tick (the decay helper).
pub(crate) fn advance_clock() {
    clock::advance();
}

/// Has mimalloc return its free pages to the OS.
pub(crate) fn collect_upstream() {
    upstream::collect();
}

/// For an allocation outside the pool that failed (the malloc variant's
/// `malloc`): gives back what the pool holds (`give_back.rs`) and says
/// whether trying again is worth it (false for a request larger than the
/// process's memory budget: nothing can make room for it).
#[cfg_attr(not(feature = "malloc-override"), allow(dead_code))]
pub(crate) fn give_back_for(size: usize) -> bool {
    if limits::beyond_memory(size) {
        return false;
    }
    give_back::after_failure();
    true
}

/// Gives cached blocks back upstream: the calling thread's, every other
/// thread's that is not inside a cache operation right now (needs
/// membarrier), and the depot's; then mimalloc's free pages.
pub fn trim() {
    refresh_limits();
    thread_cache::flush_current_thread();
    give_back::release_held();
}

#[cfg(test)]
mod tests;
