//! Exhaustive interleavings (loom) of the protocols in `sync`, run on the
//! very functions the library uses, with loom's atomics. A body is a
//! `loom::cell::UnsafeCell`: loom reports any access to it that is not
//! ordered after a conflicting one, which is what a wrong memory ordering
//! would allow; "freeing" is a write, which must come after every read.

use super::{handshake, refcount};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A shared body: a count and bytes.
struct Body {
    count: AtomicU32,
    bytes: UnsafeCell<u8>,
    freed: AtomicU32,
}

impl Body {
    fn read(&self) -> u8 {
        self.bytes.with(|byte| {
            // SAFETY: loom checks this read against every write.
            unsafe { *byte }
        })
    }

    /// The last holder "frees" the body: a write, counted.
    fn free(&self) {
        self.bytes.with_mut(|byte| {
            // SAFETY: loom checks this write against every access.
            unsafe { *byte = 0 }
        });
        self.freed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A message copied to another thread (`zmq_msg_copy`: the unshared body
/// becomes shared with a count of 2), then both holders read it and close
/// it at once: the body is freed exactly once, after both reads.
#[test]
fn a_shared_body_is_freed_once_after_every_holder_read_it() {
    loom::model(|| {
        let body = Arc::new(Body {
            count: AtomicU32::new(0),
            bytes: UnsafeCell::new(7),
            freed: AtomicU32::new(0),
        });
        refcount::share(&body.count, 2);
        let copy = body.clone();
        let other = thread::spawn(move || {
            assert_eq!(copy.read(), 7);
            if refcount::release(&copy.count, 1) {
                copy.free();
            }
        });
        assert_eq!(body.read(), 7);
        if refcount::release(&body.count, 1) {
            body.free();
        }
        other.join().unwrap();
        assert_eq!(body.freed.load(Ordering::Relaxed), 1);
    });
}

/// A third holder made from a shared one (`acquire`) while another drops
/// its reference: still freed exactly once, after every read.
#[test]
fn adding_a_holder_while_another_leaves_keeps_the_body_alive() {
    loom::model(|| {
        let body = Arc::new(Body {
            count: AtomicU32::new(0),
            bytes: UnsafeCell::new(9),
            freed: AtomicU32::new(0),
        });
        refcount::share(&body.count, 2);
        let leaving = body.clone();
        let other = thread::spawn(move || {
            assert_eq!(leaving.read(), 9);
            if refcount::release(&leaving.count, 1) {
                leaving.free();
            }
        });
        refcount::acquire(&body.count, 1);
        for _ in 0..2 {
            assert_eq!(body.read(), 9);
            if refcount::release(&body.count, 1) {
                body.free();
            }
        }
        other.join().unwrap();
        assert_eq!(body.freed.load(Ordering::Relaxed), 1);
    });
}

/// The ZMTP decoder's shared buffer: charged up front for its slots, it
/// hands one message to another thread, then either writes the buffer
/// again once it is idle (reset) or lets it go (release). The buffer is
/// never written while the message still reads it, and freed exactly once.
#[test]
fn the_decoder_buffer_is_reused_or_freed_only_after_its_messages() {
    loom::model(|| {
        const SLOTS: usize = 2;
        let refs = Arc::new(AtomicUsize::new(1 + SLOTS));
        let data = Arc::new(UnsafeCell::new(5u8));
        let freed = Arc::new(AtomicUsize::new(0));
        // One slot used: its message goes to another thread.
        let used = 1;
        let (message_refs, message_data, message_freed) =
            (refs.clone(), data.clone(), freed.clone());
        let reader = thread::spawn(move || {
            message_data.with(|byte| {
                // SAFETY: loom checks this read against every write.
                assert_eq!(unsafe { *byte }, 5)
            });
            if refcount::release(&*message_refs, 1) {
                message_data.with_mut(|byte| {
                    // SAFETY: as above: the free.
                    unsafe { *byte = 0 }
                });
                message_freed.fetch_add(1, Ordering::Relaxed);
            }
        });
        if refcount::only(&*refs, 1 + (SLOTS - used)) {
            // Idle: reset and read into it again.
            refcount::reset(&*refs, 1 + SLOTS);
            data.with_mut(|byte| {
                // SAFETY: as above: the next read into the buffer.
                unsafe { *byte = 6 }
            });
            // The decoder goes away: its own reference and every slot's.
            if refcount::release(&*refs, 1 + SLOTS) {
                freed.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            // Busy: the decoder lets it go (its reference, unused slots).
            if refcount::release(&*refs, 1 + (SLOTS - used)) {
                data.with_mut(|byte| {
                    // SAFETY: as above: the free.
                    unsafe { *byte = 0 }
                });
                freed.fetch_add(1, Ordering::Relaxed);
            }
        }
        reader.join().unwrap();
        assert_eq!(freed.load(Ordering::Relaxed), 1);
    });
}

/// A thread record's owner doing cache operations against a reclaimer
/// taking its lists: the lists are never touched by both at once. The
/// owner's fence is a full fence here: what membarrier makes of the
/// owner's compiler fence at the moment the reclaimer runs it.
#[test]
fn owner_and_reclaimer_never_hold_the_lists_at_once() {
    loom::model(|| {
        let active = Arc::new(AtomicU32::new(0));
        let steal = Arc::new(AtomicU32::new(0));
        let lists = Arc::new(UnsafeCell::new(0u32));
        let (r_active, r_steal, r_lists) = (active.clone(), steal.clone(), lists.clone());
        let reclaimer = thread::spawn(move || {
            let claim = || {
                r_steal
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            };
            let membarrier = || {
                fence(Ordering::SeqCst);
                true
            };
            if handshake::try_take(&*r_active, claim, membarrier) {
                r_lists.with_mut(|lists| {
                    // SAFETY: loom checks this access against the owner's.
                    unsafe { *lists = 0 }
                });
            }
            handshake::release(&*r_steal);
        });
        for _ in 0..2 {
            loop {
                if handshake::enter(&*active, &*steal, || fence(Ordering::SeqCst)) {
                    lists.with_mut(|lists| {
                        // SAFETY: the owner inside its active mark with
                        // `steal` seen clear: the handshake makes this the
                        // only access (what the model checks).
                        unsafe { *lists += 1 }
                    });
                    handshake::leave(&*active);
                    break;
                }
                handshake::leave(&*active);
                while steal.load(Ordering::Acquire) != 0 {
                    thread::yield_now();
                }
            }
        }
        reclaimer.join().unwrap();
    });
}
