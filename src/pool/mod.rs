//! zmqpool's allocator: a size-header pool over the embedded mimalloc.
//!
//! ```text
//!   block:  [ Header: requested size | origin ][ payload ... ]
//!            ^ upstream pointer          ^ pointer handed out (16-aligned)
//! ```
//!
//! The header records what release needs, so `dealloc(ptr)` takes no size.
//! Requests up to 512 KiB are rounded to a size class ([`size_class`]) and
//! recycled; larger ones go straight to the upstream allocator.
//!
//! Recycling is magazine-style ([`thread_cache`], [`depot`]): blocks belong
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

mod buffer;
pub mod decay;
pub mod depot;
mod fork;
pub(crate) mod lock;
pub(crate) mod record;
pub mod report;
pub mod size_class;
pub mod stats;
pub mod thread_cache;
pub(crate) mod upstream;

use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

pub use buffer::PoolBuffer;
use size_class::SizeClass;

/// Bytes in front of every block; keeps the user pointer 16-byte aligned.
pub const HEADER_SIZE: usize = 16;
/// Alignment of every pointer handed out.
pub const ALIGNMENT: usize = 16;

/// Which allocator serves new blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Backend {
    /// Size classes recycled through thread caches, over mimalloc (default).
    Pool = 1,
    /// Every block straight from mimalloc.
    Mimalloc = 2,
    /// Every block straight from the C library's malloc (valgrind sees it).
    System = 3,
}

impl Backend {
    fn from_byte(byte: u8) -> Option<Backend> {
        match byte {
            1 => Some(Backend::Pool),
            2 => Some(Backend::Mimalloc),
            3 => Some(Backend::System),
            _ => None,
        }
    }

    /// Parses a `ZMQPOOL_BACKEND` value.
    pub fn from_name(name: &str) -> Option<Backend> {
        [
            ("pool", Backend::Pool),
            ("mimalloc", Backend::Mimalloc),
            ("system", Backend::System),
        ]
        .into_iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, backend)| backend)
    }
}

/// The backend for new blocks: pool until `ZMQPOOL_BACKEND` (read at load)
/// or `set_backend` says otherwise.
static BACKEND: AtomicU8 = AtomicU8::new(Backend::Pool as u8);

/// The backend for new blocks.
#[inline]
pub fn backend() -> Backend {
    // Relaxed: the value is a standalone setting; blocks record their own
    // origin, so a thread seeing an older choice for a moment is harmless.
    Backend::from_byte(BACKEND.load(Ordering::Relaxed)).unwrap_or(Backend::Pool)
}

/// Whether new blocks come from the pool, as one load and compare.
#[inline(always)]
fn backend_is_pool() -> bool {
    // Relaxed: as in backend().
    BACKEND.load(Ordering::Relaxed) == Backend::Pool as u8
}

/// Switches the backend for blocks allocated from now on; blocks already
/// out are still released to where they came from.
pub fn set_backend(backend: Backend) {
    BACKEND.store(backend as u8, Ordering::Relaxed);
}

/// Where a block came from, recorded in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A pooled block of a size class (memory from mimalloc).
    Class(SizeClass),
    Mimalloc,
    System,
}

/// Header layout: the requested size, then one word packing the origin
/// (low byte: class index, or one of the two markers) and the allocating
/// thread's tag (high 32 bits), which tells a foreign free from a local one.
#[repr(C)]
struct Header {
    requested: usize,
    stamp: u64,
}
const _: () = assert!(core::mem::size_of::<Header>() == HEADER_SIZE);
const _: () = assert!(size_class::COUNT < ORIGIN_SYSTEM as usize);

const ORIGIN_MIMALLOC: u64 = 0xFE;
const ORIGIN_SYSTEM: u64 = 0xFF;
/// Stamp bit: the block's user fills it whole (a copy: `zmq_send`,
/// `zmq_msg_init_buffer`); see `thread_cache::COPY_LIMITS`.
const STAMP_COPY: u64 = 1 << 8;

impl Origin {
    fn encode(self) -> u64 {
        match self {
            Origin::Class(class) => class.0 as u64,
            Origin::Mimalloc => ORIGIN_MIMALLOC,
            Origin::System => ORIGIN_SYSTEM,
        }
    }

    fn decode(byte: u64) -> Origin {
        match byte {
            ORIGIN_MIMALLOC => Origin::Mimalloc,
            ORIGIN_SYSTEM => Origin::System,
            class => Origin::Class(SizeClass(class as usize)),
        }
    }

    /// The payload capacity of a block of this origin for a request of `size`.
    fn capacity(self, size: usize) -> usize {
        match self {
            Origin::Class(class) => class.size(),
            _ => size,
        }
    }
}

/// Writes a block's header and returns its payload pointer.
///
/// # Safety
/// `header` starts a live block of at least HEADER_SIZE + `size` bytes that
/// nobody else references.
unsafe fn stamp(header: *mut Header, size: usize, origin: Origin, tag: u32) -> *mut u8 {
    // SAFETY: by the contract.
    unsafe {
        header.write(Header {
            requested: size,
            stamp: origin.encode() | (u64::from(tag) << 32),
        })
    };
    payload_of(header)
}

/// Reads a block's header: origin, requested size, allocating thread's tag.
///
/// # Safety
/// `header` starts a live block written by [`stamp`].
unsafe fn read_stamp(header: *const Header) -> (Origin, usize, u32) {
    // SAFETY: by the contract.
    let Header { requested, stamp } = unsafe { header.read() };
    (
        Origin::decode(stamp & 0xFF),
        requested,
        (stamp >> 32) as u32,
    )
}

/// The largest request memory could ever back: physical memory plus swap,
/// read at load. Larger ones fail at once (ENOMEM), as glibc's `malloc` does
/// under Linux's default overcommit heuristic, instead of reserving address
/// space that can never be filled (mimalloc maps without a reservation, so
/// it would hand out a terabyte and fail only when it is touched).
static BACKABLE: AtomicUsize = AtomicUsize::new(isize::MAX as usize);

/// Reads physical memory and swap ([`BACKABLE`]).
fn measure_backable_memory() {
    let mut info = core::mem::MaybeUninit::<libc::sysinfo>::zeroed();
    // SAFETY: sysinfo only writes the struct.
    if unsafe { libc::sysinfo(info.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: filled by sysinfo (which succeeded).
    let info = unsafe { info.assume_init() };
    let unit = u64::from(info.mem_unit.max(1));
    // The fields are c_ulong: u64 on the 64-bit Linux targets built.
    let bytes = info
        .totalram
        .saturating_add(info.totalswap)
        .saturating_mul(unit);
    if bytes > 0 {
        // Relaxed: a standalone setting, written once at load.
        BACKABLE.store(bytes.min(isize::MAX as u64) as usize, Ordering::Relaxed);
    }
}

/// Physical memory plus swap, as read at load.
pub(crate) fn backable_memory() -> usize {
    // Relaxed: as above.
    BACKABLE.load(Ordering::Relaxed)
}

/// True for requests no memory of this machine could back.
pub(crate) fn beyond_memory(size: usize) -> bool {
    // Relaxed: as above.
    size > BACKABLE.load(Ordering::Relaxed)
}

/// A fresh upstream block with room for `payload` bytes after the header;
/// returns the header pointer, or null.
fn upstream_alloc(payload: usize, system: bool) -> *mut Header {
    let Some(total) = payload.checked_add(HEADER_SIZE) else {
        return core::ptr::null_mut();
    };
    if beyond_memory(total) {
        return core::ptr::null_mut();
    }
    let base = if system {
        // SAFETY: malloc has no preconditions; glibc's malloc on 64-bit
        // targets aligns to 16 (asserted in debug builds below).
        unsafe { libc::malloc(total) }
    } else {
        // SAFETY: mi_malloc_aligned has no preconditions; it returns null or
        // a block of at least `total` bytes aligned to ALIGNMENT.
        unsafe { upstream::mi_malloc_aligned(total, ALIGNMENT) }
    } as *mut Header;
    debug_assert_eq!(base as usize % ALIGNMENT, 0);
    base
}

/// Returns an upstream block (header pointer) to the allocator it came from.
///
/// # Safety
/// `header` came from [`upstream_alloc`] with the same `system` flag and is
/// not used again.
unsafe fn upstream_free(header: *mut Header, system: bool) {
    if system {
        // SAFETY: by the contract, a live malloc block.
        unsafe { libc::free(header as *mut c_void) }
    } else {
        // SAFETY: by the contract, a live mimalloc block.
        unsafe { upstream::mi_free(header as *mut c_void) }
    }
}

/// Asks for the cache line at `block` (a free block a thread will hand out
/// soon: its header is written, and its link read, when it does) ahead of
/// time, with intent to write. Blocks usually come back from another
/// thread (libzmq's I/O thread, a consumer), which wrote their first line
/// last; blocks of small classes sit side by side and the hardware
/// prefetchers bring them in, but large ones are hundreds of KiB apart, and
/// without this every pop of a large block waited for that line to cross
/// cores (perf: 92% of the allocation's time on that load in a 256 KiB
/// hand-off). A prefetch never faults, whatever the address (null too).
#[inline(always)]
pub(crate) fn prefetch_for_write(block: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: PREFETCHW only hints the cache: it reads and writes no
    // architectural state, never faults, and executes as a no-op on CPUs
    // without it (its opcode is a NOP hint there).
    unsafe {
        core::arch::asm!("prefetchw byte ptr [{0}]", in(reg) block,
            options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = block;
}

fn payload_of(header: *mut Header) -> *mut u8 {
    // HEADER_SIZE bytes past the start of a block at least that large.
    header.wrapping_byte_add(HEADER_SIZE) as *mut u8
}

fn header_of(ptr: *mut u8) -> *mut Header {
    ptr.wrapping_sub(HEADER_SIZE) as *mut Header
}

/// Allocates `size` bytes, 16-byte aligned. Returns null when memory is
/// exhausted or `size` is too large to represent (the caller reports ENOMEM).
/// `size == 0` gives a unique pointer.
#[inline]
pub fn alloc(size: usize) -> *mut u8 {
    #[cfg(test)]
    if test_faults::fail_now() {
        return core::ptr::null_mut();
    }
    thread_cache::alloc(size)
}

/// [`alloc`], counting a message-layer `event` on the way (one visit to the
/// thread's cache for both).
#[inline(always)]
pub(crate) fn alloc_counted(size: usize, event: stats::Event) -> *mut u8 {
    #[cfg(test)]
    if test_faults::fail_now() {
        return core::ptr::null_mut();
    }
    thread_cache::alloc_counted(size, event)
}

/// [`alloc_counted`] for a body its caller fills whole (a copy): marked so,
/// its block goes round in short batches when it is freed, and comes back
/// while the copy it held is still in the writer's cache (see
/// `thread_cache::COPY_LIMITS`).
#[inline(always)]
pub(crate) fn alloc_counted_copy(size: usize, event: stats::Event) -> *mut u8 {
    let ptr = alloc_counted(size, event);
    if !ptr.is_null() {
        let header = header_of(ptr);
        // SAFETY: a live block from alloc, whose header we own until it is
        // handed out; only the spare stamp bit changes.
        unsafe { (*header).stamp |= STAMP_COPY };
    }
    ptr
}

/// Unit tests only: the calling thread's next allocations fail (ENOMEM).
#[cfg(test)]
pub(crate) mod test_faults {
    use std::cell::Cell;

    thread_local! {
        static FAILING: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes every allocation of this thread fail until `failing(false)`.
    pub(crate) fn failing(on: bool) {
        FAILING.with(|f| f.set(on));
    }

    pub(super) fn fail_now() -> bool {
        let fail = FAILING.with(|f| f.get());
        if fail {
            crate::msg::set_errno(libc::ENOMEM);
        }
        fail
    }
}

/// Counts a message-layer event on the calling thread.
#[inline]
pub(crate) fn count(event: stats::Event) {
    thread_cache::count(event)
}

/// Releases a block from [`alloc`], on any thread. Null is ignored.
///
/// # Safety
/// `ptr` is null or came from [`alloc`] and has not been released yet.
#[inline]
pub unsafe fn dealloc(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: by the contract, a live header precedes `ptr`.
    unsafe { thread_cache::dealloc(header_of(ptr)) }
}

/// [`dealloc`] of a non-null block, inlined into its caller (the message
/// layer's close, the hottest release there is).
///
/// # Safety
/// `ptr` came from [`alloc`] and has not been released yet.
#[inline(always)]
pub(crate) unsafe fn dealloc_inline(ptr: *mut u8) {
    // SAFETY: by the contract, a live header precedes `ptr`.
    unsafe { thread_cache::dealloc(header_of(ptr)) }
}

/// The size requested for a block from [`alloc`].
///
/// # Safety
/// `ptr` came from [`alloc`] and is still live.
pub unsafe fn requested_size(ptr: *const u8) -> usize {
    // SAFETY: by the contract, a live header precedes `ptr`.
    unsafe { (*header_of(ptr as *mut u8)).requested }
}

/// Bytes usable at a block from [`alloc`] (at least the requested size).
///
/// # Safety
/// `ptr` came from [`alloc`] and is still live.
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    // SAFETY: by the contract, a live header precedes `ptr`.
    let (origin, requested, _) = unsafe { read_stamp(header_of(ptr as *mut u8)) };
    origin.capacity(requested)
}

/// mimalloc options (`mi_option_e` indices in the vendored mimalloc v2;
/// `upstream_options_have_their_defaults` checks them against the library).
pub(crate) const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
pub(crate) const MI_OPTION_ARENA_RESERVE: libmimalloc_sys::mi_option_t = 23;

/// The arena mimalloc reserves at a time (KiB): 64 MiB rather than its
/// 1 GiB default, so a process under an address-space limit
/// (`ulimit -v`, batch and HPC schedulers) with little headroom can still
/// allocate; more arenas follow as the workload needs them.
const ARENA_RESERVE_KIB: core::ffi::c_long = 64 << 10;

/// Tunes the embedded mimalloc, unless the user set the option: arenas are
/// reserved 64 MiB at a time (see ARENA_RESERVE_KIB) and committed on
/// demand, so memory that messages never touch never becomes resident
/// (eager commit made a burst of 64 KiB messages, touched at both ends,
/// cost 1.5x its size in RSS instead of a fraction).
pub fn configure_upstream() {
    if cfg!(miri) {
        return;
    }
    let unset = |name: &core::ffi::CStr| {
        // SAFETY: a NUL-terminated name; getenv only reads the environment
        // (at load, on the loading thread).
        unsafe { libc::getenv(name.as_ptr()) }.is_null()
    };
    if unset(c"MIMALLOC_ARENA_EAGER_COMMIT") {
        // SAFETY: mi_option_set accepts any option index and value.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    }
    if unset(c"MIMALLOC_ARENA_RESERVE") {
        // SAFETY: as above.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_RESERVE, ARENA_RESERVE_KIB) };
    }
}

/// Sets up what the pool needs before any thread uses it (done at load):
/// the thread-exit key and the fork handlers.
pub fn init() {
    record::init();
    fork::install();
    measure_backable_memory();
}

/// Gives cached blocks back upstream: the calling thread's, every other
/// thread's that is not inside a cache operation right now (see
/// `record.rs`; needs membarrier), and the depot's.
pub fn trim() {
    thread_cache::flush_current_thread();
    for record in record::records() {
        record.reclaim(|lists| thread_cache::flush(record, lists));
    }
    depot::drain();
    // SAFETY: mi_collect has no preconditions; `force` also returns memory
    // freed by other threads and gives unused segments back to the OS.
    unsafe { upstream::mi_collect(true) };
}

#[cfg(test)]
mod tests;
