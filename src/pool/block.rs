//! A block: the header in front of every pointer the pool hands out, the
//! overlay of a free block, and the upstream allocators blocks come from.
//!
//! ```text
//!   live block:  [ Header: requested size | stamp ][ payload ... ]
//!                ^ upstream pointer                ^ pointer handed out (16-aligned)
//!   free block:  [ next | next_batch | batch_len | since ][ batch index ... ]
//! ```
//!
//! The stamp packs the block's origin (low byte: its size class, or one of
//! two upstream markers), the copy bit (bit 8), and the allocating thread's
//! tag (high 32 bits), which tells a foreign free from a local one. A free
//! block belongs to exactly one holder at a time: a thread's list, a depot
//! batch, or whoever took it from either.

use core::ffi::c_void;

use super::limits::beyond_memory;
use super::sizes::{SizeClass, COUNT};
use super::upstream;

/// Bytes in front of every block; keeps the user pointer 16-byte aligned.
pub const HEADER_SIZE: usize = 16;
/// Alignment of every pointer handed out.
pub const ALIGNMENT: usize = 16;

/// Where a block came from, recorded in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A pooled block of a size class (memory from mimalloc).
    Class(SizeClass),
    Mimalloc,
    System,
}

/// The header of a live block.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) requested: usize,
    pub(crate) stamp: u64,
}
const _: () = assert!(core::mem::size_of::<Header>() == HEADER_SIZE);
const _: () = assert!(COUNT < ORIGIN_MIMALLOC as usize);

const ORIGIN_MIMALLOC: u64 = 0xFE;
const ORIGIN_SYSTEM: u64 = 0xFF;
/// The stamp's origin byte.
pub(crate) const STAMP_ORIGIN: u64 = 0xFF;
/// Stamp bit: the block's user fills it whole (a copy: `zmq_send`,
/// `zmq_msg_init_buffer`); see `thread_cache::COPY_LIMITS`.
pub(crate) const STAMP_COPY: u64 = 1 << 8;

impl Origin {
    fn encode(self) -> u64 {
        match self {
            Origin::Class(class) => class.index() as u64,
            Origin::Mimalloc => ORIGIN_MIMALLOC,
            Origin::System => ORIGIN_SYSTEM,
        }
    }

    fn decode(byte: u64) -> Origin {
        match byte {
            ORIGIN_MIMALLOC => Origin::Mimalloc,
            ORIGIN_SYSTEM => Origin::System,
            // Below COUNT: only encode() writes this byte (asserted above).
            class => Origin::Class(SizeClass::from_index(class as usize)),
        }
    }

    /// The payload capacity of a block of this origin for a request of `size`.
    pub(crate) fn capacity(self, size: usize) -> usize {
        match self {
            Origin::Class(class) => class.size(),
            _ => size,
        }
    }
}

/// The overlay of a free block: header words, then the first payload words
/// (every class has at least 16 payload bytes).
#[repr(C)]
pub(crate) struct FreeBlock {
    pub(crate) next: *mut FreeBlock,
    pub(crate) next_batch: *mut FreeBlock,
    pub(crate) batch_len: usize,
    /// The decay tick at which the batch entered the depot (first block).
    pub(crate) since: u64,
}
const _: () = assert!(core::mem::size_of::<FreeBlock>() <= HEADER_SIZE + 16);

/// The heads of a thread's free lists, one per class (all null: empty).
pub(crate) type Lists = [*mut FreeBlock; COUNT];
pub(crate) const EMPTY_LISTS: Lists = [core::ptr::null_mut(); COUNT];

/// Bytes a block of each class occupies, header included.
pub(crate) static BLOCK_BYTES: [usize; COUNT] = {
    let mut bytes = [0; COUNT];
    let mut index = 0;
    while index < COUNT {
        bytes[index] = SizeClass::from_index(index).size_const() + HEADER_SIZE;
        index += 1;
    }
    bytes
};

/// Writes a block's header and returns its payload pointer.
///
/// # Safety
/// `header` starts a live block of at least HEADER_SIZE + `size` bytes that
/// nobody else references.
pub(crate) unsafe fn stamp(header: *mut Header, size: usize, origin: Origin, tag: u32) -> *mut u8 {
    // SAFETY: the caller's block is live, large enough for a Header,
    // 16-aligned (upstream alignment), and referenced by nobody else.
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
pub(crate) unsafe fn read_stamp(header: *const Header) -> (Origin, usize, u32) {
    // SAFETY: the caller's block is live and its header was written by
    // stamp(), so both words are initialised.
    let Header { requested, stamp } = unsafe { header.read() };
    (
        Origin::decode(stamp & STAMP_ORIGIN),
        requested,
        (stamp >> 32) as u32,
    )
}

pub(crate) fn payload_of(header: *mut Header) -> *mut u8 {
    // HEADER_SIZE bytes past the start of a block at least that large.
    header.wrapping_byte_add(HEADER_SIZE) as *mut u8
}

pub(crate) fn header_of(ptr: *mut u8) -> *mut Header {
    ptr.wrapping_sub(HEADER_SIZE) as *mut Header
}

/// A fresh upstream block with room for `payload` bytes after the header;
/// returns the header pointer, or null.
pub(crate) fn upstream_alloc(payload: usize, system: bool) -> *mut Header {
    let Some(total) = payload.checked_add(HEADER_SIZE) else {
        return core::ptr::null_mut();
    };
    if beyond_memory(total) {
        return core::ptr::null_mut();
    }
    #[cfg(test)]
    if test_upstream::fails() {
        return core::ptr::null_mut();
    }
    let base = if system {
        // SAFETY: malloc has no preconditions; glibc's malloc on 64-bit
        // targets aligns to 16 (asserted in debug builds below).
        unsafe { libc::malloc(total) }
    } else {
        // SAFETY: mi_malloc_aligned has no preconditions beyond a power-of-
        // two alignment; it returns null or `total` bytes so aligned.
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
pub(crate) unsafe fn upstream_free(header: *mut Header, system: bool) {
    if system {
        // SAFETY: the caller's block is a live malloc block, freed once.
        unsafe { libc::free(header as *mut c_void) }
    } else {
        // SAFETY: the caller's block is a live mimalloc block, freed once.
        unsafe { upstream::mi_free(header as *mut c_void) }
    }
}

/// Frees a chain of pooled blocks upstream.
///
/// # Safety
/// `head` starts a null-terminated chain of free pooled blocks the caller
/// owns (linked by `next`), none of them referenced elsewhere.
pub(crate) unsafe fn release_chain(mut head: *mut FreeBlock) {
    while !head.is_null() {
        // SAFETY: each block in the caller's chain is live and owned by
        // the caller; its link is read before it is freed, and pooled
        // blocks come from mimalloc (upstream_alloc with system = false).
        unsafe {
            let next = (*head).next;
            upstream_free(head as *mut Header, false);
            head = next;
        }
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

/// Unit tests only: upstream allocations of the calling thread that fail
/// after a number of successes, until a give-back returns something the
/// thread held (as under a memory limit, where only memory the pool gives
/// back lets an allocation succeed; `give_back.rs` ends them).
#[cfg(test)]
pub(crate) mod test_upstream {
    use std::cell::Cell;

    thread_local! {
        /// Upstream allocations still allowed before they fail (None: no
        /// failure injected).
        static ALLOWED: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// After `allowed` more upstream allocations on this thread, they fail.
    pub(crate) fn fail_upstream_after(allowed: u64) {
        ALLOWED.with(|a| a.set(Some(allowed)));
    }

    /// Stops injecting failures.
    pub(crate) fn stop_failing() {
        ALLOWED.with(|a| a.set(None));
    }

    /// Whether this upstream allocation fails.
    pub(super) fn fails() -> bool {
        ALLOWED.with(|a| match a.get() {
            None => false,
            Some(0) => true,
            Some(n) => {
                a.set(Some(n - 1));
                false
            }
        })
    }
}
