//! What memory this machine can back: requests beyond it fail at once.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The largest request memory could ever back: physical memory plus swap,
/// read at load. Larger ones fail at once (ENOMEM), as glibc's `malloc` does
/// under Linux's default overcommit heuristic, instead of reserving address
/// space that can never be filled (mimalloc maps without a reservation, so
/// it would hand out a terabyte and fail only when it is touched).
static BACKABLE: AtomicUsize = AtomicUsize::new(isize::MAX as usize);

/// Reads physical memory and swap ([`BACKABLE`]).
pub(crate) fn measure_backable_memory() {
    let mut info = core::mem::MaybeUninit::<libc::sysinfo>::zeroed();
    // SAFETY: sysinfo only writes the struct it is given, which is ours.
    if unsafe { libc::sysinfo(info.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: zero-initialised and filled by sysinfo (which succeeded);
    // every field is an integer, valid whatever its value.
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
    size > backable_memory()
}
