//! zmqpool's allocator: a size-header allocator over the embedded mimalloc.
//!
//! Every block carries a 16-byte header in front of the pointer handed out,
//! recording the requested size, so release needs no size (`dealloc(ptr)`),
//! and results stay 16-byte aligned. mimalloc is thread-safe and accepts a
//! free from any thread, which is what libzmq does when its I/O thread closes
//! a message an application thread built.
//!
//! The upstream is chosen once per process by `ZMQPOOL_BACKEND`
//! (`mimalloc`, the default, or `system` for glibc malloc, which lets
//! valgrind see every block). Each header records which upstream made the
//! block, so a block is always returned to the allocator it came from.
//!
//! Invariant: a pointer from [`alloc`] is released with [`dealloc`] exactly
//! once, on any thread. Nothing here touches the C `malloc` heap, so blocks
//! from here must never reach `free()`: they travel inside zclmsg messages
//! whose free function brings them back here.

use core::ffi::c_void;

/// Bytes in front of every block; keeps the user pointer 16-byte aligned.
pub const HEADER_SIZE: usize = 16;
/// Alignment of every pointer handed out.
pub const ALIGNMENT: usize = 16;

#[repr(C)]
struct Header {
    requested: usize,
    upstream: usize,
}

/// Where a block's memory came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Upstream {
    /// The embedded mimalloc.
    Mimalloc = 1,
    /// The C library's malloc (visible to valgrind and malloc hooks).
    System = 2,
}

const UPSTREAM_UNSET: u8 = 0;
static UPSTREAM: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(UPSTREAM_UNSET);

/// The upstream new blocks come from: `ZMQPOOL_BACKEND`, read on first use.
pub fn upstream() -> Upstream {
    use core::sync::atomic::Ordering::Relaxed;
    // Relaxed: the value is derived from the environment, the same on every
    // thread; a race only reads the environment twice.
    match UPSTREAM.load(Relaxed) {
        1 => Upstream::Mimalloc,
        2 => Upstream::System,
        _ => {
            let chosen = match std::env::var_os("ZMQPOOL_BACKEND") {
                Some(name) if name == "system" => Upstream::System,
                _ => Upstream::Mimalloc,
            };
            UPSTREAM.store(chosen as u8, Relaxed);
            chosen
        }
    }
}
const _: () = assert!(core::mem::size_of::<Header>() == HEADER_SIZE);

/// Allocates `size` bytes, 16-byte aligned. Returns null when memory is
/// exhausted or `size` is too large to represent (the caller reports ENOMEM).
/// `size == 0` gives a unique pointer.
pub fn alloc(size: usize) -> *mut u8 {
    let Some(total) = size.checked_add(HEADER_SIZE) else {
        return core::ptr::null_mut();
    };
    if total > isize::MAX as usize {
        return core::ptr::null_mut();
    }
    let upstream = upstream();
    let base = match upstream {
        // SAFETY: mi_malloc_aligned has no preconditions; it returns null or
        // a block of at least `total` bytes aligned to ALIGNMENT.
        Upstream::Mimalloc => unsafe { libmimalloc_sys::mi_malloc_aligned(total, ALIGNMENT) },
        // SAFETY: malloc has no preconditions; glibc's x86_64/aarch64 malloc
        // aligns to 16 (checked below in debug builds and tests).
        Upstream::System => unsafe { libc::malloc(total) },
    } as *mut Header;
    if base.is_null() {
        return core::ptr::null_mut();
    }
    debug_assert_eq!(base as usize % ALIGNMENT, 0);
    // SAFETY: `base` is a fresh, aligned block of at least HEADER_SIZE bytes;
    // the user pointer is HEADER_SIZE past it, still inside the block.
    unsafe {
        base.write(Header {
            requested: size,
            upstream: upstream as usize,
        });
        (base as *mut u8).add(HEADER_SIZE)
    }
}

/// Releases a block from [`alloc`]. Null is ignored.
///
/// # Safety
/// `ptr` is null or came from [`alloc`] and has not been released yet.
pub unsafe fn dealloc(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: by the contract, the header sits HEADER_SIZE before `ptr` at
    // the start of a live block, made by the upstream it names.
    unsafe {
        let base = ptr.sub(HEADER_SIZE) as *mut Header;
        if (*base).upstream == Upstream::System as usize {
            libc::free(base as *mut c_void);
        } else {
            libmimalloc_sys::mi_free(base as *mut c_void);
        }
    }
}

/// The size requested for a block from [`alloc`].
///
/// # Safety
/// `ptr` came from [`alloc`] and is still live.
pub unsafe fn requested_size(ptr: *const u8) -> usize {
    // SAFETY: by the contract, a live header precedes `ptr`.
    unsafe { (*(ptr.sub(HEADER_SIZE) as *const Header)).requested }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_sixteen_byte_aligned_and_remember_their_size() {
        for size in [0usize, 1, 15, 16, 33, 64, 1000, 65536, 1 << 20] {
            let p = alloc(size);
            assert!(!p.is_null());
            assert_eq!(p as usize % ALIGNMENT, 0, "size {size}");
            // SAFETY: p is live and from alloc.
            unsafe {
                assert_eq!(requested_size(p), size);
                core::ptr::write_bytes(p, 0xAB, size);
                dealloc(p);
            }
        }
    }

    #[test]
    fn zero_size_blocks_are_unique() {
        let a = alloc(0);
        let b = alloc(0);
        assert_ne!(a, b);
        // SAFETY: both live and from alloc.
        unsafe {
            dealloc(a);
            dealloc(b);
        }
    }

    #[test]
    fn impossible_sizes_give_null() {
        assert!(alloc(usize::MAX).is_null());
        assert!(alloc(usize::MAX - HEADER_SIZE + 1).is_null());
        assert!(alloc(isize::MAX as usize).is_null());
    }

    #[test]
    fn a_block_may_be_freed_on_another_thread() {
        let p = alloc(4096) as usize;
        std::thread::spawn(move || {
            // SAFETY: the block is live and owned by nobody else now.
            unsafe { dealloc(p as *mut u8) }
        })
        .join()
        .unwrap();
    }
}
