//! The pool's front door: allocate and release blocks, count the layers'
//! events, query a block. Invariant: a pointer from [`alloc`] is released
//! with [`dealloc`] exactly once, on any thread.

use super::block::{header_of, read_stamp, STAMP_COPY};
use super::counters::EventSlot;
use super::thread_cache;

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

/// [`alloc`], counting the event in `slot` on the way (one visit to the
/// thread's cache for both).
#[inline(always)]
pub(crate) fn alloc_counted(size: usize, slot: EventSlot) -> *mut u8 {
    #[cfg(test)]
    if test_faults::fail_now() {
        return core::ptr::null_mut();
    }
    thread_cache::alloc_counted(size, slot)
}

/// [`alloc_counted`] for a block its caller fills whole (a copy): marked
/// so, it goes round in short batches when it is freed, and comes back
/// while the copy it held is still in the writer's cache (see
/// `thread_cache::COPY_LIMITS`).
#[inline(always)]
pub(crate) fn alloc_counted_copy(size: usize, slot: EventSlot) -> *mut u8 {
    let ptr = alloc_counted(size, slot);
    if !ptr.is_null() {
        let header = header_of(ptr);
        // SAFETY: a live block just allocated, whose header nobody else
        // reads until it is released; only the spare stamp bit changes.
        unsafe { (*header).stamp |= STAMP_COPY };
    }
    ptr
}

/// Counts the event in `slot` on the calling thread.
#[inline]
pub(crate) fn count(slot: EventSlot) {
    thread_cache::count(slot)
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
    // SAFETY: the caller's live block: its header precedes `ptr`.
    unsafe { thread_cache::dealloc(header_of(ptr)) }
}

/// [`dealloc`] of a non-null block, inlined into its caller (the message
/// layer's close, the hottest release there is).
///
/// # Safety
/// `ptr` came from [`alloc`] and has not been released yet.
#[inline(always)]
pub(crate) unsafe fn dealloc_inline(ptr: *mut u8) {
    // SAFETY: the caller's live block: its header precedes `ptr`.
    unsafe { thread_cache::dealloc(header_of(ptr)) }
}

/// The size requested for a block from [`alloc`].
///
/// # Safety
/// `ptr` came from [`alloc`] and is still live.
pub unsafe fn requested_size(ptr: *const u8) -> usize {
    // SAFETY: the caller's live block: its header precedes `ptr`.
    unsafe { read_stamp(header_of(ptr as *mut u8)) }.1
}

/// Bytes usable at a block from [`alloc`] (at least the requested size).
///
/// # Safety
/// `ptr` came from [`alloc`] and is still live.
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    // SAFETY: the caller's live block: its header precedes `ptr`.
    let (origin, requested, _) = unsafe { read_stamp(header_of(ptr as *mut u8)) };
    origin.capacity(requested)
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
            crate::sys::errno::set_errno(libc::ENOMEM);
        }
        fail
    }
}
