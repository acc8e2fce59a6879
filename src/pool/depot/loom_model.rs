//! Exhaustive interleavings (loom) of the cross-thread hand-off: a consumer
//! thread frees blocks into its own list and hands full lists to a depot
//! stack as batches, under the stack's lock, while a producer takes batches
//! and pops blocks from them, exactly as `thread_cache` and `depot` do (the
//! model drives the real `Stack::push_batch`/`pop_batch`). Every
//! interleaving must hand each block to exactly one owner: none lost, none
//! twice.

use super::{FreeBlock, Stack};
use loom::sync::{Arc, Mutex};

/// Blocks cross loom threads as addresses; ownership is what is modelled.
fn block(id: usize) -> usize {
    Box::into_raw(Box::new(FreeBlock {
        next: core::ptr::null_mut(),
        next_batch: core::ptr::null_mut(),
        batch_len: id,
    })) as usize
}

/// Pops every block of a batch chain, returning their addresses.
fn unchain(mut head: *mut FreeBlock, len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for _ in 0..len {
        assert!(!head.is_null(), "a batch is shorter than its length");
        out.push(head as usize);
        // SAFETY: the chain is owned by the caller after pop_batch.
        head = unsafe { (*head).next };
    }
    assert!(head.is_null(), "a batch is longer than its length");
    out
}

#[test]
fn hand_off_gives_every_block_to_exactly_one_owner() {
    loom::model(|| {
        let depot = Arc::new(Mutex::new(Stack::new()));
        // The consumer "frees" four blocks: its list holds two, then goes
        // to the depot as one batch (the thread cache's limit, shrunk).
        let blocks: Vec<usize> = (0..4).map(block).collect();
        let consumer = {
            let depot = Arc::clone(&depot);
            let blocks = blocks.clone();
            loom::thread::spawn(move || {
                for pair in blocks.chunks(2) {
                    let (first, second) = (pair[0] as *mut FreeBlock, pair[1] as *mut FreeBlock);
                    // SAFETY: the consumer owns both blocks; it links them
                    // into a list of two as push() does.
                    unsafe {
                        (*second).next = core::ptr::null_mut();
                        (*first).next = second;
                        depot.lock().unwrap().push_batch(first, 2);
                    }
                }
            })
        };
        // The producer takes a batch when its list is empty, twice.
        let mut taken = Vec::new();
        for _ in 0..2 {
            let (head, len) = depot.lock().unwrap().pop_batch();
            taken.extend(unchain(head, len));
            loom::thread::yield_now();
        }
        consumer.join().unwrap();
        // Whatever the producer did not get is still in the depot.
        loop {
            let (head, len) = depot.lock().unwrap().pop_batch();
            if head.is_null() {
                break;
            }
            taken.extend(unchain(head, len));
        }
        let mut expected = blocks.clone();
        expected.sort_unstable();
        taken.sort_unstable();
        assert_eq!(taken, expected, "every block exactly once");
        for address in blocks {
            // SAFETY: each block was boxed above and is freed once here.
            drop(unsafe { Box::from_raw(address as *mut FreeBlock) });
        }
    });
}
