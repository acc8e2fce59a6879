//! The C allocator, replaced by the embedded mimalloc: only in the opt-in
//! `libzmqpool-malloc.so` (cargo feature `malloc-override`; `make` builds
//! it next to the plain library, which never replaces malloc).
//!
//! libzmq's tcp/ipc receive path allocates large message bodies with
//! `malloc` inside libzmq, where no `zmq_msg_*` call is involved. One
//! preload of this library covers that path (through mimalloc) and the
//! message path (through zmqpool's pool). These are the functions glibc's
//! manual lists for replacing malloc; each forwards to mimalloc's
//! POSIX-exact counterpart (errno ENOMEM/EINVAL as glibc sets them).
//!
//! An allocation that fails is tried once more after the pool gave back
//! what it holds (idle threads' lists, the depot, mimalloc's free pages):
//! memory the program freed, into the pool or to `free`, is memory anything
//! in the process can have again, a thread stack or a libzmq context.

use core::ffi::{c_int, c_void};

unsafe extern "C" {
    fn mi_malloc(size: usize) -> *mut c_void;
    fn mi_calloc(count: usize, size: usize) -> *mut c_void;
    fn mi_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn mi_reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void;
    fn mi_free(p: *mut c_void);
    fn mi_posix_memalign(out: *mut *mut c_void, alignment: usize, size: usize) -> c_int;
    fn mi_aligned_alloc(alignment: usize, size: usize) -> *mut c_void;
    fn mi_memalign(alignment: usize, size: usize) -> *mut c_void;
    fn mi_valloc(size: usize) -> *mut c_void;
    fn mi_pvalloc(size: usize) -> *mut c_void;
    fn mi_usable_size(p: *const c_void) -> usize;
}

/// glibc's contract: a NULL result for a non-zero request sets ENOMEM
/// (mimalloc leaves errno alone for requests it refuses outright, such as
/// sizes above PTRDIFF_MAX).
fn or_enomem(p: *mut c_void, requested: bool) -> *mut c_void {
    if p.is_null() && requested {
        crate::sys::errno::set_errno(libc::ENOMEM);
    }
    p
}

/// Runs `allocate`; when it fails for a request of `bytes` (None: nothing
/// was asked, or count * size overflowed) that the process's memory could
/// back, the pool gives back what it holds and `allocate` runs once more.
#[inline(always)]
fn or_give_back(bytes: Option<usize>, allocate: impl Fn() -> *mut c_void) -> *mut c_void {
    let p = allocate();
    match bytes {
        Some(bytes) if p.is_null() && bytes != 0 && crate::pool::give_back_for(bytes) => allocate(),
        _ => p,
    }
}

/// `malloc`: mimalloc's, NULL with ENOMEM on failure.
///
/// # Safety
/// None beyond the C contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: mi_malloc has the C malloc contract.
    let p = or_give_back(Some(size), || unsafe { mi_malloc(size) });
    or_enomem(p, size != 0)
}

/// `calloc`: zeroed, NULL with ENOMEM on failure or overflow.
///
/// # Safety
/// None beyond the C contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: mi_calloc has the C calloc contract (overflow checked).
    let p = or_give_back(count.checked_mul(size), || unsafe {
        mi_calloc(count, size)
    });
    or_enomem(p, count != 0 && size != 0)
}

/// `realloc`.
///
/// # Safety
/// `p` is NULL or a live block from this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: `p` is NULL or a live block of this allocator (this function's
    // contract), which is what mi_realloc takes; a failed mi_realloc leaves
    // `p` as it was, so it may be tried again.
    let q = or_give_back(Some(size), || unsafe { mi_realloc(p, size) });
    or_enomem(q, size != 0)
}

/// `reallocarray`: realloc with an overflow-checked count * size.
///
/// # Safety
/// As for [`realloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    // SAFETY: as in realloc: `p` is NULL or a live block of this allocator,
    // left as it was by a failure; mi_reallocarray checks count * size for
    // overflow.
    let q = or_give_back(count.checked_mul(size), || unsafe {
        mi_reallocarray(p, count, size)
    });
    or_enomem(q, count != 0 && size != 0)
}

/// `free`.
///
/// # Safety
/// `p` is NULL or a live block from this allocator, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: `p` is NULL or a live block of this allocator, not used again
    // (this function's contract): mi_free's precondition.
    unsafe { mi_free(p) }
}

/// `cfree` (obsolete alias of free, still exported by glibc).
///
/// # Safety
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: as in free: `p` is NULL or a live block, not used again.
    unsafe { mi_free(p) }
}

/// `posix_memalign`: EINVAL for an alignment that is not a power of two
/// multiple of `sizeof(void *)`, ENOMEM when out of memory.
///
/// # Safety
/// `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    alignment: usize,
    size: usize,
) -> c_int {
    // SAFETY: `out` is writable (this function's contract); mi_posix_memalign
    // checks the alignment and writes `out` only on success.
    let status = unsafe { mi_posix_memalign(out, alignment, size) };
    if status == libc::ENOMEM && size != 0 && crate::pool::give_back_for(size) {
        // SAFETY: as above.
        return unsafe { mi_posix_memalign(out, alignment, size) };
    }
    status
}

/// `aligned_alloc`.
///
/// # Safety
/// None beyond the C contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    // SAFETY: the C11 contract, checked by mimalloc.
    let p = or_give_back(alignment.is_power_of_two().then_some(size), || unsafe {
        mi_aligned_alloc(alignment, size)
    });
    or_enomem(p, size != 0 && alignment.is_power_of_two())
}

/// `memalign`.
///
/// # Safety
/// None beyond the C contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(alignment: usize, size: usize) -> *mut c_void {
    // SAFETY: no precondition: mimalloc checks the alignment (NULL otherwise).
    let p = or_give_back(alignment.is_power_of_two().then_some(size), || unsafe {
        mi_memalign(alignment, size)
    });
    or_enomem(p, size != 0 && alignment.is_power_of_two())
}

/// `valloc`: page-aligned.
///
/// # Safety
/// None beyond the C contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: mi_valloc has no precondition; it returns NULL or a block.
    let p = or_give_back(Some(size), || unsafe { mi_valloc(size) });
    or_enomem(p, size != 0)
}

/// `pvalloc`: page-aligned, size rounded up to whole pages.
///
/// # Safety
/// None beyond the C contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: mi_pvalloc has no precondition; it returns NULL or a block.
    let p = or_give_back(Some(size.max(1)), || unsafe { mi_pvalloc(size) });
    or_enomem(p, true)
}

/// `malloc_usable_size`: 0 for NULL.
///
/// # Safety
/// `p` is NULL or a live block from this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: a live mimalloc block by the contract.
    unsafe { mi_usable_size(p) }
}
