//! The slot buffer: a reference-counted pool block that a reader (the
//! ZMTP decoder) fills with bytes, and messages that point into it without
//! a copy ([`crate::msg::body::Body::DecoderSlot`]; libzmq's
//! `shared_message_memory_allocator`).
//!
//! ```text
//!   pool block: [ refs | pad ][ data: capacity bytes ][ content slots ... ]
//! ```
//!
//! Every zero-copy message needs a 40-byte content block; the block carries
//! one slot for each frame that could fit in its data, so making such a
//! message allocates nothing. Reference counting costs one atomic decrement
//! per message, when it is closed: the buffer's holder charges the count
//! for every slot up front and gives back the unused ones when it lets the
//! block go.
//!
//! Invariants:
//! - S1: `refs` = 1 (the holder) + the unused slots' charge + one per live
//!   message made from the buffer; whoever drops it to zero frees the block.
//! - S2: a slot is handed out once per [`SlotBuffer::reset`], which happens
//!   only while no message made from the buffer is alive ([`SlotBuffer::idle`]).
//! - S3: `initialised` is true only when every data byte has been written
//!   since the block was allocated; anything that may let a caller write
//!   uninitialised bytes there clears it.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, AtomicUsize};

use super::layout::{Content, Kind, Msg, MAX_VSM_SIZE};
use crate::pool;
use crate::sync::refcount;

/// The front of a shared buffer block: the reference count, padded so
/// the data that follows is 16-byte aligned.
#[repr(C)]
struct BufferHeader {
    refs: AtomicUsize,
    _pad: [usize; 3],
}
const HEADER_BYTES: usize = core::mem::size_of::<BufferHeader>();
const _: () = assert!(HEADER_BYTES == 32);
const CONTENT_BYTES: usize = core::mem::size_of::<Content>();
/// The smallest frame that is decoded zero-copy: a 2-byte header and a
/// body too large to be stored inline.
const MIN_ZERO_COPY_FRAME: usize = 2 + MAX_VSM_SIZE + 1;

/// A slot buffer, held by its reader (see the module documentation).
pub(crate) struct SlotBuffer {
    header: *mut BufferHeader,
    data: *mut u8,
    capacity: usize,
    slots: *mut Content,
    slot_count: usize,
    used: usize,
    /// S3.
    initialised: bool,
}

impl SlotBuffer {
    /// A buffer of `capacity` data bytes; None when memory is exhausted or
    /// the size cannot be represented.
    pub(crate) fn new(capacity: usize) -> Option<SlotBuffer> {
        let slot_count = capacity / MIN_ZERO_COPY_FRAME + 1;
        let data_bytes = capacity.checked_next_multiple_of(8)?;
        let total = HEADER_BYTES
            .checked_add(data_bytes)?
            .checked_add(slot_count.checked_mul(CONTENT_BYTES)?)?;
        let block = pool::alloc(total);
        if block.is_null() {
            return None;
        }
        let header = block as *mut BufferHeader;
        // SAFETY: a fresh pool block of `total` bytes, 16-aligned: room for
        // the header, the data and the slots (8-aligned after the data).
        unsafe {
            header.write(BufferHeader {
                refs: AtomicUsize::new(1 + slot_count),
                _pad: [0; 3],
            });
            Some(SlotBuffer {
                header,
                data: block.add(HEADER_BYTES),
                capacity,
                slots: block.add(HEADER_BYTES + data_bytes) as *mut Content,
                slot_count,
                used: 0,
                initialised: false,
            })
        }
    }

    /// The data bytes: where the reader writes.
    pub(crate) fn data(&self) -> *mut u8 {
        self.data
    }

    /// How many data bytes there are.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn refs(&self) -> &AtomicUsize {
        // SAFETY: the holder's own reference keeps the block, and so its
        // header, alive (S1).
        unsafe { &(*self.header).refs }
    }

    /// True when no message made from this buffer is alive: the count is
    /// exactly the holder's own reference plus the unused slots' charge.
    pub(crate) fn idle(&self) -> bool {
        // Every closed message's reads of the buffer happen before it is
        // written again (sync::refcount::only).
        refcount::only(self.refs(), 1 + (self.slot_count - self.used))
    }

    /// Makes an idle buffer new again; false (nothing changed) while a
    /// message made from it is alive (S2: its slot must not be reused).
    pub(crate) fn reset(&mut self) -> bool {
        if !self.idle() {
            return false;
        }
        self.used = 0;
        refcount::reset(self.refs(), 1 + self.slot_count);
        true
    }

    /// True when `len` bytes at `ptr` lie inside the data.
    pub(crate) fn contains(&self, ptr: *const u8, len: usize) -> bool {
        let start = self.data as usize;
        let at = ptr as usize;
        at >= start && at <= start + self.capacity && len <= start + self.capacity - at
    }

    /// Zeroes the data unless every byte is already initialised (S3):
    /// after this, the whole region may be handed out as `&mut [u8]`.
    ///
    /// # Safety
    /// No message made from the buffer is alive (it is new, or was
    /// [`reset`](Self::reset) since): otherwise the zeroing would write
    /// bytes a message still reads.
    pub(crate) unsafe fn initialise(&mut self) {
        if !self.initialised {
            // SAFETY: the data is `capacity` writable bytes of the holder's
            // live block, and no message made from the buffer is alive
            // (this function's contract).
            unsafe { self.data.write_bytes(0, self.capacity) };
            self.initialised = true;
        }
    }

    /// The data may be written with uninitialised bytes from now on (it
    /// was handed out as `MaybeUninit`): forget that it was initialised (S3).
    pub(crate) fn forget_initialised(&mut self) {
        self.initialised = false;
    }

    /// Makes `out` a zero-copy message over `len` bytes at `ptr`; false
    /// when every slot is taken. `out` is overwritten, not closed.
    ///
    /// # Safety
    /// The `len` bytes at `ptr` lie inside the data ([`contains`](Self::contains))
    /// and were written by the reader: the message reads them until it is
    /// closed.
    #[inline(always)]
    pub(crate) unsafe fn message_into(
        &mut self,
        ptr: *const u8,
        len: usize,
        out: &mut Msg,
    ) -> bool {
        debug_assert!(self.contains(ptr, len));
        if self.used == self.slot_count {
            return false;
        }
        // SAFETY: `used < slot_count`: the slot lies inside the block and no
        // live message uses it (S2).
        let slot = unsafe { self.slots.add(self.used) };
        self.used += 1;
        // SAFETY: as above; the slot's charge passes to the message (S1).
        unsafe {
            slot.write(Content {
                data: ptr as *mut c_void,
                size: len,
                ffn: Some(release_slot),
                hint: self.header as *mut c_void,
                refcnt: AtomicU32::new(0),
            });
        }
        out.metadata = core::ptr::null_mut();
        out.kind = Kind::Zclmsg as u8;
        out.flags = 0;
        out.routing_id = 0;
        out.group.clear_short();
        out.set_content(slot);
        true
    }

    /// Drops the holder's reference and the unused slots' charge (S1).
    pub(crate) fn release(self) {
        let ours = 1 + (self.slot_count - self.used);
        // Whoever drops the last reference frees the block after every
        // other holder is done.
        if refcount::release(self.refs(), ours) {
            // SAFETY: the last reference (S1): the block is ours to free.
            unsafe { pool::dealloc(self.header as *mut u8) };
        }
    }
}

/// Content release function of zero-copy messages: the hint is the
/// buffer's header.
pub(crate) unsafe extern "C" fn release_slot(_data: *mut c_void, hint: *mut c_void) {
    let header = hint as *mut BufferHeader;
    // SAFETY: only SlotBuffer::message_into installs this function, with
    // the live block's header as hint; the message's charge keeps the block
    // alive until now (S1), and it runs once, for the last reference (B1).
    unsafe {
        if refcount::release(&(*header).refs, 1) {
            pool::dealloc(header as *mut u8);
        }
    }
}
