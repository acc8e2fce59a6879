//! A safe owner of one pool block, for Rust users.

use super::api::{alloc, dealloc, usable_size};

use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

/// A fixed-size byte buffer from zmqpool's pool. It may be dropped on any
/// thread; the block goes to that thread's cache.
pub struct PoolBuffer {
    block: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer owns its block exclusively; the pool accepts a release
// from any thread, and shared access is read-only.
unsafe impl Send for PoolBuffer {}
// SAFETY: `&PoolBuffer` only reads the block, which no other owner can
// write (the buffer owns it exclusively).
unsafe impl Sync for PoolBuffer {}

impl PoolBuffer {
    /// A zeroed buffer of `len` bytes; `None` when memory is exhausted.
    pub fn zeroed(len: usize) -> Option<PoolBuffer> {
        let block = NonNull::new(alloc(len))?;
        // SAFETY: a fresh block of at least `len` writable bytes.
        unsafe { core::ptr::write_bytes(block.as_ptr(), 0, len) };
        Some(PoolBuffer { block, len })
    }

    /// A buffer holding a copy of `bytes`; `None` when memory is exhausted.
    pub fn from_slice(bytes: &[u8]) -> Option<PoolBuffer> {
        let block = NonNull::new(alloc(bytes.len()))?;
        // SAFETY: a fresh block of at least `bytes.len()` bytes, disjoint
        // from `bytes`.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), block.as_ptr(), bytes.len()) };
        Some(PoolBuffer {
            block,
            len: bytes.len(),
        })
    }

    /// Bytes the block could hold (its size class), at least `len()`.
    pub fn capacity(&self) -> usize {
        // SAFETY: the block came from alloc and stays live until drop.
        unsafe { usable_size(self.block.as_ptr()) }
    }
}

impl Deref for PoolBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes, alive as long as self.
        unsafe { core::slice::from_raw_parts(self.block.as_ptr(), self.len) }
    }
}

impl DerefMut for PoolBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: `len` initialised bytes (zeroed or copied in at creation),
        // alive as long as self, and `&mut self` makes the borrow exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.block.as_ptr(), self.len) }
    }
}

impl Drop for PoolBuffer {
    fn drop(&mut self) {
        // SAFETY: the block came from alloc and is released once, here.
        unsafe { dealloc(self.block.as_ptr()) }
    }
}

impl core::fmt::Debug for PoolBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolBuffer")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_hold_their_bytes_and_drop_on_other_threads() {
        let mut buffer = PoolBuffer::zeroed(5000).unwrap();
        assert!(buffer.iter().all(|&b| b == 0));
        assert!(buffer.capacity() >= 5000);
        buffer[4999] = 9;
        let copy = PoolBuffer::from_slice(&buffer).unwrap();
        std::thread::spawn(move || {
            assert_eq!(copy[4999], 9);
            drop(copy);
            drop(buffer);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn empty_buffers_are_fine() {
        let buffer = PoolBuffer::from_slice(&[]).unwrap();
        assert!(buffer.is_empty());
    }
}
