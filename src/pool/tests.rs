use super::block::{header_of, read_stamp, release_chain, FreeBlock, Origin};
use super::counters::Counters;
use super::*;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

/// Tests that switch the process-wide backend, fill the depot or measure it
/// run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn with_backend<T>(backend: Backend, body: impl FnOnce() -> T) -> T {
    let _guard = serial();
    let before = super::backend();
    set_backend(backend);
    let result = body();
    set_backend(before);
    result
}

#[test]
fn blocks_are_sixteen_byte_aligned_and_remember_their_size() {
    for size in [0usize, 1, 15, 16, 33, 64, 1000, 65536, 262192, 1 << 20] {
        let p = alloc(size);
        assert!(!p.is_null());
        assert_eq!(p as usize % ALIGNMENT, 0, "size {size}");
        // SAFETY: p is live and from alloc.
        unsafe {
            assert_eq!(requested_size(p), size);
            assert!(usable_size(p) >= size);
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
fn a_freed_block_is_reused_by_the_same_thread() {
    with_backend(Backend::Pool, || {
        let a = alloc(1000);
        // SAFETY: a is live.
        unsafe { dealloc(a) };
        let b = alloc(1000);
        assert_eq!(a, b, "the thread's list hands back its last block");
        // SAFETY: b is live.
        unsafe { dealloc(b) };
    });
}

/// The calling thread's counters (its record's), read as plain numbers.
fn my_counter(pick: impl Fn(&Counters) -> &AtomicU64) -> u64 {
    let record = lookup::current().expect("a record for the test thread");
    pick(&record.counters).load(Ordering::Relaxed)
}

#[test]
fn blocks_under_every_backend_are_released_after_a_switch() {
    let class_40 = sizes::SizeClass::of(40).unwrap();
    let class_5000 = sizes::SizeClass::of(5000).unwrap();
    let expected = [
        (
            Backend::Pool,
            [
                Origin::Class(class_40),
                Origin::Class(class_5000),
                Origin::Mimalloc,
            ],
        ),
        (Backend::Mimalloc, [Origin::Mimalloc; 3]),
        (Backend::System, [Origin::System; 3]),
    ];
    std::thread::spawn(move || {
        let mut blocks = Vec::new();
        for (backend, origins) in expected {
            with_backend(backend, || {
                for (size, origin) in [40usize, 5000, 700_000].into_iter().zip(origins) {
                    let p = alloc(size);
                    assert!(!p.is_null());
                    // SAFETY: p is live with `size` bytes.
                    unsafe { core::ptr::write_bytes(p, 1, size) };
                    // SAFETY: p is live; its header was written by alloc.
                    let (recorded, requested, _) = unsafe { read_stamp(header_of(p)) };
                    assert_eq!(recorded, origin, "{backend:?}, {size} bytes");
                    assert_eq!(requested, size);
                    blocks.push(p as usize);
                }
            });
        }
        // Released under yet another backend: each goes back where it
        // came from (7 upstream blocks, 2 pooled), counted on this thread.
        let upstream = my_counter(|c| &c.upstream_frees);
        let pooled = my_counter(|c| &c.class_frees[class_40.0])
            + my_counter(|c| &c.class_frees[class_5000.0]);
        with_backend(Backend::Mimalloc, || {
            for p in blocks {
                // SAFETY: each is live and released once.
                unsafe { dealloc(p as *mut u8) };
            }
        });
        assert_eq!(my_counter(|c| &c.upstream_frees) - upstream, 7);
        let pooled_after = my_counter(|c| &c.class_frees[class_40.0])
            + my_counter(|c| &c.class_frees[class_5000.0]);
        assert_eq!(pooled_after - pooled, 2);
    })
    .join()
    .unwrap();
}

fn fill(p: *mut u8, size: usize, seed: u8) {
    // SAFETY: callers pass a live block of `size` bytes.
    unsafe { core::slice::from_raw_parts_mut(p, size) }
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = seed.wrapping_add(i as u8));
}

fn check(p: *const u8, size: usize, seed: u8) -> bool {
    // SAFETY: callers pass a live block of `size` bytes.
    unsafe { core::slice::from_raw_parts(p, size) }
        .iter()
        .enumerate()
        .all(|(i, &b)| b == seed.wrapping_add(i as u8))
}

/// Several threads allocate, fill, and pass blocks to each other in a ring;
/// each receiver checks the pattern and frees. A block freed twice or handed
/// out twice would break a pattern or crash.
#[test]
fn blocks_handed_between_threads_keep_their_contents() {
    let _serial = serial();
    const THREADS: usize = 4;
    const PER_THREAD: usize = 20_000;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<(usize, usize, u8)>())
        .unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(me, inbox)| {
            let next = senders[(me + 1) % THREADS].clone();
            std::thread::spawn(move || {
                let mut state = 0x9E37_79B9u32.wrapping_mul(me as u32 + 1);
                for i in 0..PER_THREAD {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let size = [24usize, 100, 1500, 9000, 70_000][state as usize % 5];
                    let p = alloc(size);
                    assert!(!p.is_null());
                    fill(p, size, i as u8);
                    next.send((p as usize, size, i as u8)).unwrap();
                    while let Ok((q, qsize, seed)) = inbox.try_recv() {
                        assert!(check(q as *const u8, qsize, seed));
                        // SAFETY: received ownership of a live block.
                        unsafe { dealloc(q as *mut u8) };
                    }
                }
                drop(next);
                inbox
            })
        })
        .collect();
    drop(senders);
    let inboxes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for inbox in inboxes {
        for (q, qsize, seed) in inbox.try_iter() {
            assert!(check(q as *const u8, qsize, seed));
            // SAFETY: received ownership of a live block.
            unsafe { dealloc(q as *mut u8) };
        }
    }
}

#[test]
fn blocks_outlive_the_thread_that_allocated_them() {
    let _serial = serial();
    let blocks: Vec<usize> = std::thread::spawn(|| {
        (0..1000)
            .map(|i| {
                let p = alloc(300);
                fill(p, 300, i as u8);
                p as usize
            })
            .collect()
    })
    .join()
    .unwrap();
    for (i, p) in blocks.into_iter().enumerate() {
        assert!(check(p as *const u8, 300, i as u8));
        // SAFETY: the exited thread handed these over.
        unsafe { dealloc(p as *mut u8) };
    }
}

#[test]
fn a_producer_reuses_what_a_consumer_freed() {
    with_backend(Backend::Pool, || {
        let (tx, rx) = mpsc::sync_channel::<usize>(64);
        let consumer = std::thread::spawn(move || {
            for p in rx {
                // SAFETY: received ownership of a live block.
                unsafe { dealloc(p as *mut u8) };
            }
        });
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50_000 {
            let p = alloc(65536);
            seen.insert(p as usize);
            tx.send(p as usize).unwrap();
        }
        drop(tx);
        consumer.join().unwrap();
        // Bounded reuse: far fewer distinct blocks than messages.
        assert!(seen.len() < 5_000, "{} distinct blocks", seen.len());
    });
}

#[test]
fn trim_empties_the_depot() {
    let _serial = serial();
    let blocks: Vec<usize> = (0..200).map(|_| alloc(4000) as usize).collect();
    for p in blocks {
        // SAFETY: live, released once.
        unsafe { dealloc(p as *mut u8) };
    }
    trim();
    // Other tests run concurrently and may hand in batches; trimming again
    // until quiet shows the depot can be emptied.
    let mut attempts = 0;
    while depot::cached_bytes() != 0 && attempts < 100 {
        trim();
        attempts += 1;
        std::thread::yield_now();
    }
    assert_eq!(depot::cached_bytes(), 0);
}

/// Exact counts, whatever other tests do meanwhile: each thread's own
/// record counts only that thread's operations. 100 blocks allocated on one
/// thread and freed on another: +100 allocations there, +100 frees and
/// +100 foreign frees here, and nothing else on either side (the balance).
#[test]
fn stats_count_foreign_frees_and_balance() {
    // No other test switches the backend meanwhile (blocks would go upstream).
    let _serial = serial();
    let class = sizes::SizeClass::of(2000).unwrap().0;
    // The allocating thread stays alive until the frees are done: a thread
    // that exited gives its record (and its tag) to the next new thread.
    let (blocks_to, blocks_from) = mpsc::channel();
    let (done_to, done_from) = mpsc::channel::<()>();
    let allocator = std::thread::spawn(move || {
        let before = (
            my_counter(|c| &c.class_allocations[class]),
            my_counter(|c| &c.class_frees[class]),
        );
        let blocks: Vec<usize> = (0..100).map(|_| alloc(2000) as usize).collect();
        let after = (
            my_counter(|c| &c.class_allocations[class]),
            my_counter(|c| &c.class_frees[class]),
        );
        blocks_to.send(blocks).unwrap();
        done_from.recv().unwrap();
        (after.0 - before.0, after.1 - before.1)
    });
    let blocks = blocks_from.recv().unwrap();
    let freed = std::thread::spawn(move || {
        let before = (
            my_counter(|c| &c.class_allocations[class]),
            my_counter(|c| &c.class_frees[class]),
            my_counter(|c| &c.class_foreign_frees[class]),
        );
        for p in blocks {
            // SAFETY: ownership moved to this thread; each released once.
            unsafe { dealloc(p as *mut u8) };
        }
        let after = (
            my_counter(|c| &c.class_allocations[class]),
            my_counter(|c| &c.class_frees[class]),
            my_counter(|c| &c.class_foreign_frees[class]),
        );
        (after.0 - before.0, after.1 - before.1, after.2 - before.2)
    })
    .join()
    .unwrap();
    done_to.send(()).unwrap();
    let allocated = allocator.join().unwrap();
    assert_eq!(
        allocated,
        (100, 0),
        "allocations and frees on the allocating thread"
    );
    assert_eq!(
        freed,
        (0, 100, 100),
        "allocations, frees, foreign frees on the freeing thread"
    );
    // The process-wide sums see them too (lower bounds: other tests run).
    let totals = stats::totals();
    assert!(totals.classes[class].foreign_frees >= 100);
}

#[test]
fn a_thread_cache_counts_what_it_holds() {
    with_backend(Backend::Pool, || {
        std::thread::spawn(|| {
            let p = alloc(1000);
            // SAFETY: live, released once.
            unsafe { dealloc(p) };
            let class = sizes::SizeClass::of(1000).unwrap();
            assert_eq!(
                thread_cache::cached_in_current_thread(),
                (class.size() + HEADER_SIZE) as u64
            );
            trim();
            assert_eq!(thread_cache::cached_in_current_thread(), 0);
        })
        .join()
        .unwrap();
    });
}

/// The mimalloc option indices zmqpool sets name the options it means:
/// arena_reserve holds mimalloc's default (1 GiB) or zmqpool's (64 MiB), in
/// KiB, and arena_eager_commit its default (2) or zmqpool's (0).
#[test]
fn upstream_options_the_user_set_are_kept_and_others_tuned() {
    let _serial = serial();
    let get = |option| {
        // SAFETY: mi_option_get accepts any option index.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    };
    let set = |option, value| {
        // SAFETY: mi_option_set accepts any option index and value.
        unsafe { libmimalloc_sys::mi_option_set(option, value) }
    };
    let before = (
        get(MI_OPTION_ARENA_RESERVE),
        get(MI_OPTION_ARENA_EAGER_COMMIT),
    );
    // Options the user set are left alone...
    set(MI_OPTION_ARENA_RESERVE, 12345);
    set(MI_OPTION_ARENA_EAGER_COMMIT, 1);
    configure_upstream(UpstreamOptions {
        eager_commit_set: true,
        arena_reserve_set: true,
        disallow_arena_alloc_set: true,
    });
    assert_eq!(get(MI_OPTION_ARENA_RESERVE), 12345);
    assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 1);
    // Arenas stay allowed: this test process has no address-space limit.
    assert_eq!(get(MI_OPTION_DISALLOW_ARENA_ALLOC), 0);
    // ...and the others get zmqpool's values (the indices themselves are
    // checked against mimalloc's header at build time: c_src/mimalloc_fork.c).
    configure_upstream(UpstreamOptions::default());
    assert_eq!(get(MI_OPTION_ARENA_RESERVE), ARENA_RESERVE_KIB);
    assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 0);
    set(MI_OPTION_ARENA_RESERVE, before.0);
    set(MI_OPTION_ARENA_EAGER_COMMIT, before.1);
}

/// A batch of a large class carries the addresses of its blocks in its
/// head (the index the taking thread prefetches from), in chain order.
#[test]
fn a_large_batch_indexes_its_blocks_in_its_head() {
    let size = 45_000;
    let class = sizes::SizeClass::of(size).expect("a class");
    let blocks: Vec<*mut u8> = (0..5).map(|_| alloc(size)).collect();
    assert!(blocks.iter().all(|b| !b.is_null()));
    // Chain the blocks by hand (as a thread's list holds them) and hand the
    // chain in as one batch.
    let headers: Vec<*mut FreeBlock> = blocks
        .iter()
        .map(|&b| header_of(b) as *mut FreeBlock)
        .collect();
    for (i, &h) in headers.iter().enumerate() {
        let next = headers.get(i + 1).copied().unwrap_or(core::ptr::null_mut());
        // SAFETY: each block is live and ours; as freed blocks they are
        // chained through their first word.
        unsafe { (*h).next = next };
    }
    // What put() does to every batch it takes in (not through the depot
    // itself: another test's thread could take the batch in between).
    // SAFETY: a chain of 5 live blocks of `class` we own.
    unsafe { depot::write_batch_index(class, headers[0], headers.len()) };
    let head = headers[0];
    let index = (head as *const *mut FreeBlock).wrapping_add(depot::INDEX_AT_WORD);
    for (slot, &h) in headers.iter().enumerate() {
        // SAFETY: the head is a live block of over 4 KiB we own; the index
        // lies within its first 544 bytes.
        assert_eq!(unsafe { index.add(slot).read() }, h, "slot {slot}");
    }
    // SAFETY: we own the chain.
    unsafe { release_chain(head) };
}

/// Blocks filled whole by a copy go to the depot in batches of at most
/// 1 MiB; blocks from a plain allocation of the same class stay in the
/// thread's list up to 4 MiB.
#[test]
fn copied_blocks_go_round_in_short_batches() {
    with_backend(Backend::Pool, || {
        // A class no other test uses, emptied first: every allocation below
        // is then fresh, and the thread's list holds only what it frees.
        let size = 200_000;
        let class = sizes::SizeClass::of(size).unwrap();
        let held_after = |make: &dyn Fn() -> *mut u8| {
            thread_cache::flush_current_thread();
            loop {
                let (head, _) = depot::take(class);
                if head.is_null() {
                    break;
                }
                // SAFETY: take handed the batch to us.
                unsafe { release_chain(head) };
            }
            let blocks: Vec<*mut u8> = (0..8).map(|_| make()).collect();
            assert_eq!(thread_cache::cached_in_current_thread(), 0);
            for &b in &blocks {
                // SAFETY: live blocks from alloc, released once.
                unsafe { dealloc(b) };
            }
            let held = thread_cache::cached_in_current_thread();
            thread_cache::flush_current_thread();
            held
        };
        let held_plain = held_after(&|| alloc(size));
        let held_copies = held_after(&|| alloc_counted_copy(size, EventSlot::new(1)));
        let block = (class.size() + HEADER_SIZE) as u64;
        assert_eq!(
            held_plain,
            8 * block,
            "8 plain blocks stay in the thread's list"
        );
        assert!(
            held_copies <= (1 << 20),
            "copies held {held_copies} bytes, over 1 MiB"
        );
    });
}

thread_local! {
    /// Slow-path hook calls on this thread (the hook is process-wide, and
    /// other tests run in parallel: each test counts only its own thread's).
    static HOOK_CALLS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    /// Set while the test hook runs (its own allocation may miss and run it
    /// again: it goes one level deep).
    static INSIDE_HOOK: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    /// The record `lookup::current()` gave inside the hook.
    static RECORD_IN_HOOK: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// A hook that allocates and frees through the pool on the calling thread:
/// legal only because the pool runs hooks with nothing held (hooks.rs).
/// Were it run inside `with_lists`, the nested call would trip its check.
fn allocating_hook() {
    if INSIDE_HOOK.with(|inside| inside.replace(true)) {
        return;
    }
    HOOK_CALLS.with(|calls| calls.set(calls.get() + 1));
    let block = alloc(300);
    assert!(!block.is_null());
    // The first call's answer (a later miss runs the hook again).
    RECORD_IN_HOOK.with(|at| {
        if at.get() == 0 {
            at.set(lookup::current().map_or(0, |record| record as *const _ as usize));
        }
    });
    // SAFETY: a live block from alloc, released once.
    unsafe { dealloc(block) };
    INSIDE_HOOK.with(|inside| inside.set(false));
}

fn hook_calls() -> u64 {
    HOOK_CALLS.with(|calls| calls.get())
}

#[test]
fn a_slow_path_hook_may_allocate_through_the_pool() {
    with_backend(Backend::Pool, || {
        let before = hooks::set_slow_path_hook(allocating_hook);
        // A new thread's first allocation runs the hook once its record is
        // in place: the hook's own allocation finds that record.
        let (first_use_calls, same_record) = std::thread::spawn(|| {
            let block = alloc(100);
            // SAFETY: a live block from alloc, released once.
            unsafe { dealloc(block) };
            let mine = lookup::current().expect("a record");
            let owner = mine.owner();
            let records_of_this_thread = record::records()
                .filter(|record| record.owner() == owner)
                .count();
            (
                hook_calls(),
                RECORD_IN_HOOK.with(|at| at.get()) == mine as *const _ as usize
                    && records_of_this_thread == 1,
            )
        })
        .join()
        .unwrap();
        trim();
        // A miss (the depot is empty after trim), then hand-ins: more
        // blocks of one class freed than a list keeps.
        let calls = hook_calls();
        let blocks: Vec<*mut u8> = (0..600).map(|_| alloc(40_000)).collect();
        let misses = hook_calls() - calls;
        for &block in &blocks {
            // SAFETY: each a live block from alloc, released once.
            unsafe { dealloc(block) };
        }
        let hand_ins = hook_calls() - calls - misses;
        match before {
            Some(hook) => hooks::set_slow_path_hook(hook),
            None => hooks::set_slow_path_hook(|| {}),
        };
        assert!(first_use_calls > 0, "a thread's first use ran no hook");
        assert!(
            same_record,
            "the hook's allocation made a second record for its thread"
        );
        assert!(misses > 0, "no miss ran the hook");
        assert!(hand_ins > 0, "no hand-in ran the hook");
    });
}

#[test]
fn a_failed_allocation_gives_back_what_the_pool_holds_then_succeeds() {
    use super::give_back::tests_support::{fail_upstream_after, stop_failing};
    with_backend(Backend::Pool, || {
        trim();
        // 20 blocks of 40 KB freed: they stay in this thread's lists.
        let blocks: Vec<*mut u8> = (0..20).map(|_| alloc(40_000)).collect();
        for &block in &blocks {
            // SAFETY: each a live block from alloc, released once.
            unsafe { dealloc(block) };
        }
        assert!(thread_cache::cached_in_current_thread() >= 20 * 40_000);
        let give_backs_before = give_backs();
        // From now on upstream fails until a give-back returns something.
        // (A size no other test uses: the depot, which tests running in
        // parallel share, has none to hand out.)
        fail_upstream_after(0);
        let block = alloc(470_000);
        stop_failing();
        assert!(!block.is_null(), "the retry after the give-back failed");
        assert!(give_backs() > give_backs_before);
        assert_eq!(
            thread_cache::cached_in_current_thread(),
            0,
            "the lists went back"
        );
        // SAFETY: a live block from alloc, released once.
        unsafe { dealloc(block) };
    });
}

#[test]
fn enomem_only_when_nothing_can_be_given_back() {
    use super::give_back::tests_support::{fail_upstream_after, stop_failing};
    with_backend(Backend::Pool, || {
        trim();
        assert_eq!(thread_cache::cached_in_current_thread(), 0);
        let give_backs_before = give_backs();
        // Two upstream allocations succeed (the class blocks below), then
        // every one fails: this thread's lists hold nothing to give back.
        fail_upstream_after(2);
        let first = alloc(430_000);
        let second = alloc(380_000);
        let refused = alloc(330_000);
        stop_failing();
        assert!(!first.is_null() && !second.is_null());
        assert!(
            refused.is_null(),
            "nothing was given back, yet it succeeded"
        );
        assert!(
            give_backs() > give_backs_before,
            "it gave up without a give-back"
        );
        for block in [first, second] {
            // SAFETY: live blocks from alloc, released once.
            unsafe { dealloc(block) };
        }
    });
}
