//! Counters: per thread record, written only by the record's owner, summed
//! on demand.
//!
//! Each record's counters are updated with a relaxed load and store (no
//! read-modify-write: only the owner writes), so the hot path pays no atomic
//! RMW. Pooled blocks are counted per size class, one counter bump per
//! allocation and per release; hits, bytes in use and the totals are derived
//! when a snapshot is taken. Records are never freed and keep their counts
//! from owner to owner (see `record.rs`), so a snapshot walks them all and
//! never loses a count; a thread without a record counts into shared
//! totals with atomic additions.

use core::sync::atomic::{AtomicU64, Ordering};

use super::size_class::{SizeClass, COUNT};

/// What the message layer counts, one counter each: how messages were made
/// and which calls zmqpool served or handed to libzmq, so a user can see
/// whether a program reaches zmqpool at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Event {
    /// A message zmqpool built with its body inside the `zmq_msg_t` (33
    /// bytes or less: nothing to allocate).
    MessageInline,
    /// A message zmqpool built with a pool block as its body.
    MessagePooled,
    /// A `zmq_msg_init_data` message whose control block is a pool block.
    MessageUserData,
    /// A `zmq_send` call zmqpool served (built the message, handed it to
    /// libzmq's `zmq_msg_send`).
    Send,
    /// A message libzmq made (its own body or metadata) that zmqpool closed.
    LibzmqMessage,
    /// A call passed to libzmq's own function because its message layout
    /// (or version) is not the one zmqpool writes.
    PassedThroughLayout,
    /// A `zmq_send` handed to libzmq's own `zmq_send` because that libzmq
    /// has no `zmq_msg_send` to give a pooled message to.
    PassedThroughNoMsgSend,
    /// A socket call made with no libzmq in the process (ENOTSOCK).
    NoLibzmq,
}

/// Number of [`Event`]s.
pub const EVENTS: usize = Event::NoLibzmq as usize + 1;

/// One thread's counters.
pub struct Counters {
    /// Pooled blocks handed out, per class (cache hits and misses).
    pub class_allocations: [AtomicU64; COUNT],
    /// Pooled blocks released, per class.
    pub class_frees: [AtomicU64; COUNT],
    /// Pooled blocks released by a thread other than the one that
    /// allocated them, per class.
    pub class_foreign_frees: [AtomicU64; COUNT],
    /// Pooled allocations that went upstream (misses), per class.
    pub class_misses: [AtomicU64; COUNT],
    /// Releases of upstream blocks another thread allocated.
    pub upstream_foreign_frees: AtomicU64,
    /// Blocks straight from upstream (too large, or another backend).
    pub upstream_allocations: AtomicU64,
    pub upstream_frees: AtomicU64,
    pub upstream_bytes_allocated: AtomicU64,
    pub upstream_bytes_freed: AtomicU64,
    /// Frees that found the thread at its cap (the list went to the depot).
    pub thread_cap_hits: AtomicU64,
    /// Message-layer events, indexed by [`Event`].
    pub events: [AtomicU64; EVENTS],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

impl Counters {
    pub const fn new() -> Counters {
        Counters {
            class_allocations: [ZERO; COUNT],
            class_frees: [ZERO; COUNT],
            class_foreign_frees: [ZERO; COUNT],
            class_misses: [ZERO; COUNT],
            upstream_foreign_frees: ZERO,
            thread_cap_hits: ZERO,
            upstream_allocations: ZERO,
            upstream_frees: ZERO,
            upstream_bytes_allocated: ZERO,
            upstream_bytes_freed: ZERO,
            events: [ZERO; EVENTS],
        }
    }

    /// Adds this set's numbers into `totals`.
    fn add_into(&self, totals: &mut Totals) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        for class in 0..COUNT {
            let per = &mut totals.classes[class];
            // Wrapping: a thread may free more of a class than it
            // allocated; the sum over all threads is what is meaningful.
            per.allocations = per
                .allocations
                .wrapping_add(load(&self.class_allocations[class]));
            per.frees = per.frees.wrapping_add(load(&self.class_frees[class]));
            per.foreign_frees = per
                .foreign_frees
                .wrapping_add(load(&self.class_foreign_frees[class]));
            per.misses = per.misses.wrapping_add(load(&self.class_misses[class]));
        }
        totals.upstream_foreign = totals
            .upstream_foreign
            .wrapping_add(load(&self.upstream_foreign_frees));
        totals.upstream_allocations = totals
            .upstream_allocations
            .wrapping_add(load(&self.upstream_allocations));
        totals.upstream_frees = totals
            .upstream_frees
            .wrapping_add(load(&self.upstream_frees));
        totals.upstream_bytes = totals
            .upstream_bytes
            .wrapping_add(load(&self.upstream_bytes_allocated))
            .wrapping_sub(load(&self.upstream_bytes_freed));
        totals.thread_cap_hits = totals
            .thread_cap_hits
            .wrapping_add(load(&self.thread_cap_hits));
        for (total, mine) in totals.events.iter_mut().zip(&self.events) {
            *total = total.wrapping_add(load(mine));
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// One size class's numbers, summed over every thread.
#[derive(Clone, Copy, Default, Debug)]
pub struct ClassTotals {
    pub allocations: u64,
    pub frees: u64,
    pub foreign_frees: u64,
    pub misses: u64,
    /// Bytes (blocks and headers) held for reuse: thread lists and depot.
    pub cached_bytes: u64,
}

pub struct Totals {
    pub classes: [ClassTotals; COUNT],
    pub upstream_foreign: u64,
    pub upstream_allocations: u64,
    pub upstream_frees: u64,
    /// Upstream bytes allocated and not yet freed.
    pub upstream_bytes: u64,
    pub thread_cap_hits: u64,
    pub events: [u64; EVENTS],
    pub threads: u64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            classes: [ClassTotals::default(); COUNT],
            upstream_foreign: 0,
            upstream_allocations: 0,
            upstream_frees: 0,
            upstream_bytes: 0,
            thread_cap_hits: 0,
            events: [0; EVENTS],
            threads: 0,
        }
    }
}

/// Adds to a counter only its owner thread writes: a plain load and store.
#[inline]
pub fn bump(counter: &AtomicU64, by: u64) {
    // Relaxed: single writer; readers only need some recent value.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// Process-wide pool statistics: what `zmqpool_stats` fills in (the C
/// name, since this very struct crosses the C ABI) and [`snapshot`] returns.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default)]
pub struct zmqpool_stats_t {
    /// Blocks handed out (message bodies, control blocks, zmqpool_alloc).
    pub allocations: u64,
    /// Blocks released.
    pub frees: u64,
    /// Blocks released on a thread other than the one that allocated them.
    pub foreign_frees: u64,
    /// Pooled allocations served from a thread cache or the depot.
    pub cache_hits: u64,
    /// Pooled allocations that had to go to the upstream allocator.
    pub cache_misses: u64,
    /// Bytes handed out and not yet released (block capacity).
    pub bytes_in_use: u64,
    /// Bytes held for reuse in thread caches and the depot.
    pub bytes_cached: u64,
    /// Threads currently holding a cache.
    pub threads: u64,
    /// Messages zmqpool built whose body is a pool block (`zmq_msg_init_size`,
    /// `zmq_msg_init_buffer`, `zmq_send` over 33 bytes). 0 in a program that
    /// uses libzmq under `LD_PRELOAD` means its messages never reached zmqpool.
    pub messages_pooled: u64,
    /// Messages zmqpool built with the body inside the `zmq_msg_t` (33 bytes
    /// or less; nothing to allocate).
    pub messages_inline: u64,
    /// `zmq_msg_init_data` messages with a free function (control block
    /// from the pool).
    pub messages_user_data: u64,
    /// `zmq_send` calls zmqpool served: message built by zmqpool and taken
    /// by libzmq's `zmq_msg_send` (a send libzmq refused is not counted; its
    /// message, if pooled, is).
    pub sends: u64,
    /// Closes of messages libzmq made that reached zmqpool: every close of a
    /// message received with metadata (each copy counts), and the release
    /// of a body libzmq allocated. Many of these and few pooled messages:
    /// the program builds its messages where zmqpool cannot see it.
    pub libzmq_messages: u64,
    /// Calls passed to libzmq's own function because its message layout or
    /// version is not the one zmqpool writes (pass-through mode).
    pub passed_through_layout: u64,
    /// `zmq_send` calls handed to libzmq's own `zmq_send` because that
    /// libzmq exports no `zmq_msg_send`.
    pub passed_through_no_msg_send: u64,
    /// Socket calls made when no libzmq was in the process (ENOTSOCK).
    pub calls_without_libzmq: u64,
}

/// The Rust name of [`zmqpool_stats_t`].
pub type Snapshot = zmqpool_stats_t;

/// Counters of threads without a record (exiting, or out of memory for
/// one): shared, so updated with atomic read-modify-writes (rare paths).
static UNOWNED: Counters = Counters::new();

fn add_unowned(counter: &AtomicU64, by: u64) {
    // Relaxed: a counter, read only for reports.
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Counts an event of a thread without a record.
#[cold]
pub fn count_unowned(event: Event) {
    add_unowned(&UNOWNED.events[event as usize], 1);
}

/// Counts an upstream allocation of a thread without a record.
#[cold]
pub fn count_unowned_upstream_allocation(size: usize) {
    add_unowned(&UNOWNED.upstream_allocations, 1);
    add_unowned(&UNOWNED.upstream_bytes_allocated, size as u64);
}

/// Counts an upstream release of a thread without a record.
#[cold]
pub fn count_unowned_upstream_free(size: usize) {
    add_unowned(&UNOWNED.upstream_frees, 1);
    add_unowned(&UNOWNED.upstream_bytes_freed, size as u64);
}

/// Counts a pooled release of a thread without a record.
#[cold]
pub fn count_unowned_class_free(class: SizeClass) {
    add_unowned(&UNOWNED.class_frees[class.0], 1);
    add_unowned(&UNOWNED.class_foreign_frees[class.0], 1);
}

/// Sums every record's counters (records are never freed, so this reads
/// no freed memory whatever threads come and go), the unowned totals, the
/// thread lists' and the depot's cached blocks.
pub fn totals() -> Totals {
    let mut totals = Totals::default();
    for record in super::record::records() {
        record.counters.add_into(&mut totals);
        for (class, len) in record.lens.iter().enumerate() {
            totals.classes[class].cached_bytes += u64::from(len.load(Ordering::Relaxed))
                * super::thread_cache::BLOCK_BYTES[class] as u64;
        }
        totals.threads += u64::from(record.is_owned());
    }
    UNOWNED.add_into(&mut totals);
    for (class, per) in totals.classes.iter_mut().enumerate() {
        per.cached_bytes += super::depot::class_cached_bytes(SizeClass(class)) as u64;
    }
    note_peaks(&totals);
    totals
}

/// In-use bytes of a class (block capacity), from its totals.
pub fn in_use_bytes(class: usize, per: &ClassTotals) -> u64 {
    let blocks = per.allocations.wrapping_sub(per.frees);
    // A reader racing the owners may see a free before its allocation.
    if (blocks as i64) < 0 {
        0
    } else {
        blocks.wrapping_mul(SizeClass(class).size() as u64)
    }
}

/// The highest in-use bytes seen per class, sampled at every 16th cache
/// miss of a class on a thread (in-use bytes grow past what the thread
/// lists hold only through misses), every snapshot and every tick of the
/// decay thread: a peak is missed by at most what the lists held at the
/// time plus 15 blocks per thread. An exact peak would cost an atomic
/// maximum per allocation.
static PEAKS: [AtomicU64; COUNT] = [const { AtomicU64::new(0) }; COUNT];

/// Samples the in-use bytes of one class (on a cache miss: a slow path,
/// one pass over the records).
#[cold]
pub fn note_class_peak(class: SizeClass) {
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let mut per = ClassTotals::default();
    for counters in super::record::records()
        .map(|record| &record.counters)
        .chain(core::iter::once(&UNOWNED))
    {
        per.allocations = per
            .allocations
            .wrapping_add(load(&counters.class_allocations[class.0]));
        per.frees = per.frees.wrapping_add(load(&counters.class_frees[class.0]));
    }
    // Relaxed: a statistic.
    PEAKS[class.0].fetch_max(in_use_bytes(class.0, &per), Ordering::Relaxed);
}

fn note_peaks(totals: &Totals) {
    for (class, per) in totals.classes.iter().enumerate() {
        // Relaxed: a statistic.
        PEAKS[class].fetch_max(in_use_bytes(class, per), Ordering::Relaxed);
    }
}

/// The sampled peak of a class's in-use bytes.
pub fn peak_in_use_bytes(class: usize) -> u64 {
    PEAKS[class].load(Ordering::Relaxed)
}

/// Counts one depot hand-in refused by the depot's cap.
pub fn count_depot_cap_hit() {
    // Relaxed: a statistic (slow path).
    DEPOT_CAP_HITS.fetch_add(1, Ordering::Relaxed);
}

static DEPOT_CAP_HITS: AtomicU64 = AtomicU64::new(0);

/// Depot hand-ins refused by its cap.
pub fn depot_cap_hits() -> u64 {
    DEPOT_CAP_HITS.load(Ordering::Relaxed)
}

/// The process-wide statistics (`zmqpool_stats`).
pub fn snapshot() -> Snapshot {
    snapshot_of(&totals())
}

/// Closes of libzmq-made messages so far, over every thread.
pub fn libzmq_messages() -> u64 {
    let index = Event::LibzmqMessage as usize;
    let mut sum = UNOWNED.events[index].load(Ordering::Relaxed);
    for record in super::record::records() {
        sum = sum.wrapping_add(record.counters.events[index].load(Ordering::Relaxed));
    }
    sum
}

/// The `zmqpool_stats_t` view of summed totals.
pub fn snapshot_of(totals: &Totals) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let mut pooled_bytes = 0u64;
    let mut misses = 0u64;
    let mut pooled_allocations = 0u64;
    let mut pooled_frees = 0u64;
    let mut foreign = totals.upstream_foreign;
    let mut cached = 0u64;
    for (class, per) in totals.classes.iter().enumerate() {
        pooled_allocations = pooled_allocations.wrapping_add(per.allocations);
        pooled_frees = pooled_frees.wrapping_add(per.frees);
        foreign = foreign.wrapping_add(per.foreign_frees);
        misses = misses.wrapping_add(per.misses);
        pooled_bytes = pooled_bytes.wrapping_add(in_use_bytes(class, per));
        cached += per.cached_bytes;
    }
    let bytes = pooled_bytes.wrapping_add(totals.upstream_bytes);
    snapshot.allocations = pooled_allocations.wrapping_add(totals.upstream_allocations);
    snapshot.frees = pooled_frees.wrapping_add(totals.upstream_frees);
    snapshot.foreign_frees = foreign;
    snapshot.cache_hits = pooled_allocations.saturating_sub(misses);
    snapshot.cache_misses = misses;
    snapshot.bytes_in_use = if (bytes as i64) < 0 { 0 } else { bytes };
    snapshot.bytes_cached = cached;
    snapshot.threads = totals.threads;
    let events = &totals.events;
    snapshot.messages_pooled = events[Event::MessagePooled as usize];
    snapshot.messages_inline = events[Event::MessageInline as usize];
    snapshot.messages_user_data = events[Event::MessageUserData as usize];
    snapshot.sends = events[Event::Send as usize];
    snapshot.libzmq_messages = events[Event::LibzmqMessage as usize];
    snapshot.passed_through_layout = events[Event::PassedThroughLayout as usize];
    snapshot.passed_through_no_msg_send = events[Event::PassedThroughNoMsgSend as usize];
    snapshot.calls_without_libzmq = events[Event::NoLibzmq as usize];
    snapshot
}

impl core::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let hit_rate = if self.cache_hits + self.cache_misses == 0 {
            0.0
        } else {
            100.0 * self.cache_hits as f64 / (self.cache_hits + self.cache_misses) as f64
        };
        writeln!(
            f,
            "zmqpool stats (pid {}, {}, backend {:?})",
            std::process::id(),
            crate::config::program_name(),
            super::backend()
        )?;
        writeln!(f, "  allocations     {:>16}", self.allocations)?;
        writeln!(f, "  frees           {:>16}", self.frees)?;
        writeln!(
            f,
            "  foreign frees   {:>16}  (released on another thread)",
            self.foreign_frees
        )?;
        writeln!(
            f,
            "  cache hits      {:>16}  ({hit_rate:.1}%)",
            self.cache_hits
        )?;
        writeln!(f, "  cache misses    {:>16}", self.cache_misses)?;
        writeln!(f, "  bytes in use    {:>16}", self.bytes_in_use)?;
        writeln!(
            f,
            "  bytes cached    {:>16}  (cap {})",
            self.bytes_cached,
            super::depot::max_cached_bytes()
        )?;
        writeln!(f, "  live threads    {:>16}", self.threads)?;
        writeln!(f, "messages")?;
        writeln!(
            f,
            "  pooled          {:>16}  (body from the pool)",
            self.messages_pooled
        )?;
        writeln!(
            f,
            "  inline          {:>16}  (33 bytes or less, inside zmq_msg_t)",
            self.messages_inline
        )?;
        writeln!(
            f,
            "  user data       {:>16}  (zmq_msg_init_data with a free function)",
            self.messages_user_data
        )?;
        writeln!(
            f,
            "  zmq_send        {:>16}  (served by zmqpool)",
            self.sends
        )?;
        writeln!(
            f,
            "  libzmq-made     {:>16}  (made by libzmq, closed by zmqpool)",
            self.libzmq_messages
        )?;
        let passed = self.passed_through_layout + self.passed_through_no_msg_send;
        writeln!(
            f,
            "  passed through  {:>16}  (to libzmq: {} other layout, {} no zmq_msg_send)",
            passed, self.passed_through_layout, self.passed_through_no_msg_send
        )?;
        write!(
            f,
            "  without libzmq  {:>16}  (socket calls with no libzmq loaded)",
            self.calls_without_libzmq
        )?;
        if self.messages_pooled + self.messages_inline + self.messages_user_data + passed == 0 {
            if crate::msg::libzmq::seen() {
                write!(
                    f,
                    "\n  note: no message reached zmqpool; the program's zmq_msg_* and zmq_send \
                     calls are bound elsewhere (a static libzmq, zmqpool loaded after libzmq, or \
                     a binding that looks functions up on libzmq's own handle)"
                )?;
            } else {
                write!(f, "\n  note: no libzmq in this process")?;
            }
        }
        Ok(())
    }
}
