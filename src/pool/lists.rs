//! A thread's lists as a whole, by whoever holds them (R3: the owner inside
//! `with_lists`, a reclaimer, or a forked child's only thread): all handed
//! to the depot, or some taken out as chains.

use core::sync::atomic::Ordering;

use super::block::{FreeBlock, Lists, BLOCK_BYTES};
use super::counters::debit;
use super::depot;
use super::record::ThreadRecord;
use super::sizes::SizeClass;

/// Hands every list of `record` to the depot. The caller holds the lists
/// (R3: owner inside with_lists, a reclaimer, or a forked child's only
/// thread).
pub(crate) fn flush(record: &ThreadRecord, lists: &mut Lists) {
    for (index, head) in lists.iter_mut().enumerate() {
        if !head.is_null() {
            // SAFETY: the list is a chain of `len` free blocks of this class
            // held by the caller; it is emptied right after.
            unsafe { depot::put(SizeClass(index), *head, record.len(index)) };
            *head = core::ptr::null_mut();
            record.set_len(index, 0);
        }
    }
    // Relaxed: the caller holds the lists, and with them the gauge.
    record.cached_bytes.store(0, Ordering::Relaxed);
}

/// Takes the lists of the classes `which` selects out of `lists` (the
/// caller holds them), returning each as a chain with its length, for the
/// caller to release.
pub(crate) fn take_lists(
    record: &ThreadRecord,
    lists: &mut Lists,
    mut which: impl FnMut(usize) -> bool,
    mut each: impl FnMut(SizeClass, *mut FreeBlock, usize),
) {
    for (index, head) in lists.iter_mut().enumerate() {
        if !head.is_null() && which(index) {
            let length = record.len(index);
            each(SizeClass(index), *head, length);
            *head = core::ptr::null_mut();
            record.set_len(index, 0);
            debit(&record.cached_bytes, (length * BLOCK_BYTES[index]) as u64);
        }
    }
}
