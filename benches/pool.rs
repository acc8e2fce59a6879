//! Criterion benchmarks of the pool against its baselines, in one group per
//! size so criterion reports them side by side:
//! - `zmqpool`: `pool::alloc` + touch + `pool::dealloc` on one thread;
//! - `mimalloc+header`: the embedded mimalloc with the same 16-byte size header;
//! - `system`: glibc malloc/free (what libzmq uses).
//!   `handoff/*`: allocated on one thread, freed on another, through a
//!   bounded channel (the libzmq send path).
//!
//! `cargo bench --bench pool`, then `benches/criterion_ratios.sh` prints each
//! baseline's time divided by zmqpool's.

use std::hint::black_box;
use std::sync::mpsc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 7] = [64, 256, 1024, 8192, 65536, 131072, 262144];

fn touch(p: *mut u8, size: usize) {
    // SAFETY: callers pass a live block of `size` (> 0) bytes.
    unsafe {
        p.write_volatile(1);
        p.add(size - 1).write_volatile(2);
    }
}

fn zmqpool_cycle(size: usize) {
    let p = zmqpool::pool::alloc(size);
    touch(p, size);
    // SAFETY: live block from alloc, released once.
    unsafe { zmqpool::pool::dealloc(black_box(p)) };
}

fn mimalloc_cycle(size: usize) {
    // SAFETY: plain allocation; the block is released right after.
    unsafe {
        let base = libmimalloc_sys::mi_malloc(size + 16) as *mut u8;
        (base as *mut usize).write(size);
        touch(base.add(16), size);
        libmimalloc_sys::mi_free(black_box(base) as *mut _);
    }
}

fn system_cycle(size: usize) {
    // SAFETY: plain allocation; the block is released right after.
    unsafe {
        let base = libc::malloc(size) as *mut u8;
        touch(base, size);
        libc::free(black_box(base) as *mut _);
    }
}

fn same_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("same_thread");
    for size in SIZES {
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("zmqpool", size), &size, |b, &s| {
            b.iter(|| zmqpool_cycle(s))
        });
        group.bench_with_input(BenchmarkId::new("mimalloc+header", size), &size, |b, &s| {
            b.iter(|| mimalloc_cycle(s))
        });
        group.bench_with_input(BenchmarkId::new("system", size), &size, |b, &s| {
            b.iter(|| system_cycle(s))
        });
    }
    group.finish();
}

/// Allocates `iters` blocks here, frees them on a consumer thread.
fn handoff(
    iters: u64,
    size: usize,
    alloc: fn(usize) -> *mut u8,
    free: fn(*mut u8),
) -> std::time::Duration {
    let (tx, rx) = mpsc::sync_channel::<usize>(256);
    let consumer = std::thread::spawn(move || {
        for p in rx {
            free(p as *mut u8);
        }
    });
    let start = std::time::Instant::now();
    for _ in 0..iters {
        let p = alloc(size);
        touch(p, size);
        tx.send(p as usize).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    start.elapsed()
}

fn cross_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff");
    group.sample_size(20);
    for size in SIZES {
        group.bench_with_input(BenchmarkId::new("zmqpool", size), &size, |b, &s| {
            b.iter_custom(|n| {
                handoff(n, s, zmqpool::pool::alloc, |p| {
                    // SAFETY: live block from alloc, released once.
                    unsafe { zmqpool::pool::dealloc(p) }
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("system", size), &size, |b, &s| {
            b.iter_custom(|n| {
                handoff(
                    n,
                    s,
                    // SAFETY: plain allocation, freed by the consumer.
                    |s| unsafe { libc::malloc(s) as *mut u8 },
                    // SAFETY: a live malloc block, freed once.
                    |p| unsafe { libc::free(p as *mut _) },
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, same_thread, cross_thread);
criterion_main!(benches);
