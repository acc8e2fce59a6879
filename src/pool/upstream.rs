//! The embedded mimalloc's entry points the pool uses, and what stands in
//! for them under Miri, which cannot run C: the C library's allocator,
//! through Miri's own shims (so `cargo miri test` checks the pool's and the
//! message layer's Rust).

#[cfg(not(miri))]
pub(crate) use libmimalloc_sys::{
    mi_collect, mi_free, mi_malloc_aligned, mi_process_init, mi_thread_init, mi_zalloc_aligned,
};

/// cbindgen:ignore
/// (internal: c_src/mimalloc_fork.c, never exported)
#[cfg(not(miri))]
mod shim {
    extern "C" {
        // c_src/mimalloc_fork.c: the address space mimalloc holds.
        pub(super) fn zmqpool_mimalloc_reserved_bytes() -> core::ffi::c_longlong;
    }
}

/// The address space mimalloc holds: reserved from the OS, used or not
/// (0 under Miri).
pub(crate) fn reserved_bytes() -> u64 {
    #[cfg(not(miri))]
    {
        // SAFETY: reads one counter of mimalloc's, no precondition.
        let bytes = unsafe { shim::zmqpool_mimalloc_reserved_bytes() };
        bytes.max(0) as u64
    }
    #[cfg(miri)]
    0
}

#[cfg(miri)]
mod stand_in {
    use core::ffi::c_void;

    /// # Safety
    /// None beyond the C contract (`align` a power of two).
    pub(crate) unsafe fn mi_malloc_aligned(size: usize, align: usize) -> *mut c_void {
        let mut out = core::ptr::null_mut();
        // SAFETY: posix_memalign writes `out` on success only.
        match unsafe { libc::posix_memalign(&mut out, align.max(8), size) } {
            0 => out,
            _ => core::ptr::null_mut(),
        }
    }

    /// # Safety
    /// As for `mi_malloc_aligned`.
    pub(crate) unsafe fn mi_zalloc_aligned(size: usize, align: usize) -> *mut c_void {
        // SAFETY: the caller passes a power-of-two `align` (this function's
        // contract, forwarded to mi_malloc_aligned's).
        let block = unsafe { mi_malloc_aligned(size, align) };
        if !block.is_null() {
            // SAFETY: a fresh block of `size` bytes.
            unsafe { core::ptr::write_bytes(block as *mut u8, 0, size) };
        }
        block
    }

    /// # Safety
    /// `block` came from `mi_malloc_aligned` and is released once.
    pub(crate) unsafe fn mi_free(block: *mut c_void) {
        // SAFETY: `block` came from mi_malloc_aligned (posix_memalign) and is
        // released once (this function's contract).
        unsafe { libc::free(block) }
    }

    /// # Safety
    /// None.
    pub(crate) unsafe fn mi_collect(_force: bool) {}

    /// # Safety
    /// None.
    pub(crate) unsafe fn mi_thread_init() {}

    /// # Safety
    /// None.
    pub(crate) unsafe fn mi_process_init() {}
}

#[cfg(miri)]
pub(crate) use stand_in::{
    mi_collect, mi_free, mi_malloc_aligned, mi_process_init, mi_thread_init, mi_zalloc_aligned,
};

/// Has mimalloc return its free memory to the OS, including memory other
/// threads freed (`force`).
pub(crate) fn collect() {
    // SAFETY: mi_collect has no preconditions.
    unsafe { mi_collect(true) };
}
