//! Memory that comes back by itself.
//!
//! Blocks that sat unused for longer than the decay time (default 1 s;
//! `ZMQPOOL_DECAY_MS`, `zmqpool_set_decay_ms`) go back to mimalloc, and
//! mimalloc's free pages go back to the OS. "Unused" is seen without
//! touching the fast path: a depot batch carries the decay tick at which it
//! arrived (written on the depot's slow path), and a thread's list of a
//! class is idle when the thread's allocation and free counters for that
//! class did not move for the decay time.
//!
//! A helper thread does the work, so it happens when every thread has gone
//! quiet too, including threads blocked in `zmq_recv` forever: it wakes each
//! tick (a quarter of the decay time, between 10 and 250 ms), releases what
//! is older than the decay time from the depot, takes idle classes' lists
//! from idle threads (the record handshake: the owner is never interrupted
//! inside a cache operation), and then has mimalloc return free pages to the
//! OS (`mi_collect`: mimalloc v3 also returns pages of threads that went
//! idle, see Cargo.toml). In `libzmqpool.so` (not the malloc variant) it also
//! asks glibc to give back free memory in the middle of its heaps
//! (`malloc_trim(0)`) once a burst is over (the process quiet, or libzmq's
//! message rate below a quarter of its peak, for the decay time):
//! libzmq's own buffers (the tcp receive path) live there, and glibc only
//! returns the top of a heap by itself.
//!
//! The thread starts lazily, when the first thread record is made (or a
//! statistics interval is set), never when decay is off. It blocks every
//! signal (a program's signals keep going to its own threads), is named
//! `zmqpool-decay` (visible to programs that count their threads: that
//! cannot be avoided), and after `fork()` a new one starts in the child at
//! its next slow-path pool operation.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{depot, record, stats, thread_cache, upstream};

/// Decay ticks since the helper started: the clock of depot batches.
static TICK: AtomicU64 = AtomicU64::new(0);

/// The decay time in ms: NEVER, or 0 for "give back at once".
static DECAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_DECAY_MS);
const NEVER: u64 = u64::MAX;
pub(crate) const DEFAULT_DECAY_MS: u64 = 1000;

/// Statistics written every this many ms by the helper (0: never).
static STATS_INTERVAL_MS: AtomicU64 = AtomicU64::new(0);

/// The helper's state.
static STATE: AtomicU32 = AtomicU32::new(STOPPED);
const STOPPED: u32 = 0;
const RUNNING: u32 = 1;

/// Released by decay: runs that released something, blocks, bytes.
static RELEASES: AtomicU64 = AtomicU64::new(0);
static RELEASED_BLOCKS: AtomicU64 = AtomicU64::new(0);
static RELEASED_BYTES: AtomicU64 = AtomicU64::new(0);

/// The current decay tick (depot batches are stamped with it).
#[inline]
pub(crate) fn now() -> u64 {
    // Relaxed: a coarse clock; a batch stamped one tick early or late
    // decays one tick early or late.
    TICK.load(Ordering::Relaxed)
}

/// The decay time: None for never, Some(0) for at once.
pub fn decay_ms() -> Option<u64> {
    match DECAY_MS.load(Ordering::Relaxed) {
        NEVER => None,
        ms => Some(ms),
    }
}

/// Sets the decay time (None: never; Some(0): at once), starting the
/// helper if needed. Turned off, the depot's default cap falls back to
/// 64 MiB at once (see `depot::max_cached_bytes`).
pub fn set_decay_ms(ms: Option<u64>) {
    // SeqCst store, then SeqCst load of the state (in start_if_stopped):
    // with the helper's store of STOPPED followed by its load of the
    // settings, one of the two sides sees the other (see helper).
    DECAY_MS.store(ms.unwrap_or(NEVER), Ordering::SeqCst);
    start_if_stopped();
    depot::shrink_to_cap();
}

/// True while decay is on and its helper runs: then idle blocks go back
/// by themselves (the depot's default cap may be large).
pub(crate) fn decaying() -> bool {
    // Relaxed: a hint for a default cap; a stale answer for a moment keeps
    // or returns one batch more.
    DECAY_MS.load(Ordering::Relaxed) != NEVER && STATE.load(Ordering::Relaxed) == RUNNING
}

/// Sets the statistics interval (0: off).
pub fn set_stats_interval_ms(ms: u64) {
    STATS_INTERVAL_MS.store(ms, Ordering::SeqCst);
    start_if_stopped();
}

/// The statistics interval (0: off).
pub fn stats_interval_ms() -> u64 {
    STATS_INTERVAL_MS.load(Ordering::Relaxed)
}

/// What decay released so far: (runs that released something, blocks,
/// bytes).
pub fn released() -> (u64, u64, u64) {
    (
        RELEASES.load(Ordering::Relaxed),
        RELEASED_BLOCKS.load(Ordering::Relaxed),
        RELEASED_BYTES.load(Ordering::Relaxed),
    )
}

/// In a forked child: the parent's helper does not exist here.
pub(crate) fn after_fork_in_child() {
    STATE.store(STOPPED, Ordering::Relaxed);
}

/// Set while the fork child handler runs: no thread may start then (the
/// child must stay single-threaded while its records are put right, and
/// pthread_create is no fork-handler business).
static SUSPENDED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Suspends (or allows again) starting the helper.
pub(crate) fn suspend(on: bool) {
    SUSPENDED.store(on, Ordering::Relaxed);
}

/// Held by a decay pass while it takes batches out of the depot and frees
/// them, and by the fork handlers: a child never inherits batches that are
/// out of the depot but not yet freed.
static WORK: super::lock::RawLock<()> = super::lock::RawLock::new(());

/// Takes the decay pass lock before a fork.
pub(crate) fn lock_work() {
    WORK.lock();
}

/// Releases it after a fork, in parent and child.
///
/// # Safety
/// [`lock_work`] was called by this thread (or, in a forked child, by the
/// parent's forking thread) and not undone yet.
pub(crate) unsafe fn unlock_work() {
    // SAFETY: by the contract.
    unsafe { WORK.unlock() };
}

/// Starts the helper if decay or a statistics interval wants it and it
/// is not running. Cheap when it is (one load): called on slow paths
/// (a thread's first pool use, depot hand-ins, cache misses).
#[inline]
pub(crate) fn ensure_started() {
    if STATE.load(Ordering::Relaxed) == STOPPED {
        start();
    }
}

/// For the setters: as ensure_started, with the state read SeqCst, and
/// only once the pool has been used (a process that never makes a message
/// gets no thread, whatever its settings; the constructor, which applies
/// the environment's, runs before any).
fn start_if_stopped() {
    if STATE.load(Ordering::SeqCst) == STOPPED && super::record::records().next().is_some() {
        start();
    }
}

/// Failed thread creations: after one, only every 1024th call tries again
/// (thread limits, seccomp), so a slow path does not pay a failing
/// pthread_create each time.
static FAILURES: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// Whether a setting wants the helper (SeqCst loads: see helper).
fn wanted() -> bool {
    DECAY_MS.load(Ordering::SeqCst) != NEVER || STATS_INTERVAL_MS.load(Ordering::SeqCst) > 0
}

#[cold]
fn start() {
    if !wanted() || cfg!(miri) || SUSPENDED.load(Ordering::Relaxed) {
        return;
    }
    // Relaxed: a back-off heuristic.
    if FAILURES.load(Ordering::Relaxed) > 0 && RETRIES.fetch_add(1, Ordering::Relaxed) % 1024 != 0 {
        return;
    }
    if STATE
        .compare_exchange(STOPPED, RUNNING, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // Every signal blocked while creating it: the helper inherits the mask,
    // so none is ever delivered to it.
    // SAFETY: plain libc calls on local, initialised signal sets and a
    // thread handle; the thread function is a static extern "C" fn.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut previous: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let mut attributes: libc::pthread_attr_t = core::mem::zeroed();
        libc::pthread_attr_init(&mut attributes);
        libc::pthread_attr_setdetachstate(&mut attributes, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attributes, 256 << 10);
        let mut thread: libc::pthread_t = 0;
        let created = libc::pthread_create(&mut thread, &attributes, helper, core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attributes);
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, core::ptr::null_mut());
        if created != 0 {
            // No thread (out of memory or threads): try again later.
            FAILURES.fetch_add(1, Ordering::Relaxed);
            STATE.store(STOPPED, Ordering::Relaxed);
        } else {
            FAILURES.store(0, Ordering::Relaxed);
            libc::pthread_setname_np(thread, c"zmqpool-decay".as_ptr());
        }
    }
}

/// The tick length: a quarter of the decay time, 10 to 250 ms, and no
/// longer than the statistics interval (at least 10 ms).
fn tick_length(decay: Option<u64>, interval: u64) -> u64 {
    let tick = match decay {
        Some(ms) => (ms / 4).clamp(10, 250),
        None => 250,
    };
    if interval > 0 {
        tick.min(interval.max(10))
    } else {
        tick
    }
}

extern "C" fn helper(_: *mut libc::c_void) -> *mut libc::c_void {
    // mimalloc sets a thread up at its first allocation; this one may never
    // allocate, and mi_collect does nothing on a thread mimalloc does not
    // know (measured: nothing came back until this call was added).
    // SAFETY: no preconditions.
    unsafe { upstream::mi_thread_init() };
    let mut work = Work::default();
    let mut since_stats = 0u64;
    let mut idle_ticks = 0u32;
    loop {
        if !wanted() {
            // Nothing to do: the thread ends (a setter starts a new one).
            // The settings are read again after STOPPED is stored, all
            // SeqCst: a setter that stored its setting and then saw
            // RUNNING (and so started nothing) is seen here, and this
            // thread carries on; otherwise the setter sees STOPPED.
            STATE.store(STOPPED, Ordering::SeqCst);
            if wanted()
                && STATE
                    .compare_exchange(STOPPED, RUNNING, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                continue;
            }
            return core::ptr::null_mut();
        }
        let tick = tick_length(decay_ms(), stats_interval_ms());
        // Nothing cached anywhere for a while, nothing to trim, no
        // statistics to write: wake less often (a burst is then seen up to
        // 0.75 s later, still released well within 3 s at the default).
        let quiet = idle_ticks >= 4 && stats_interval_ms() == 0;
        let sleep = if quiet {
            tick.max(decay_ms().unwrap_or(0).min(750))
        } else {
            tick
        };
        sleep_ms(sleep);
        TICK.fetch_add(1, Ordering::Relaxed);
        // Read again after the sleep: a setting changed meanwhile (decay
        // turned off, say) applies from this tick on.
        let interval = stats_interval_ms();
        if let Some(ms) = decay_ms() {
            work.tick(ms.div_ceil(tick));
        }
        let totals = stats::totals(); // also samples the per-class peaks
        let cached: u64 = totals.classes.iter().map(|class| class.cached_bytes).sum();
        if cached == 0 && !work.trim_due {
            idle_ticks = idle_ticks.saturating_add(1);
        } else {
            idle_ticks = 0;
        }
        if interval > 0 {
            since_stats += tick;
            if since_stats >= interval {
                since_stats = 0;
                super::report::write_interval();
            }
        }
    }
}

fn sleep_ms(ms: u64) {
    let time = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: a valid timespec; an early wake-up (a signal) only shortens
    // one tick.
    unsafe { libc::nanosleep(&time, core::ptr::null_mut()) };
}

/// What the helper remembers between ticks.
#[derive(Default)]
struct Work {
    /// All records' operations at the last tick, and for how many ticks
    /// they did not move (the whole process quiet).
    process_ops: u64,
    quiet_ticks: u64,
    /// Whether anything was released (or libzmq closed messages of its own)
    /// since glibc was last asked to trim.
    trim_due: bool,
    libzmq_messages: u64,
    /// The most libzmq messages seen in one tick since the last trim, and
    /// for how many ticks the rate has stayed below a quarter of it.
    peak_rate: u64,
    low_ticks: u64,
}

impl Work {
    /// One tick: release what has been unused for `ticks` ticks.
    fn tick(&mut self, ticks: u64) {
        let now = now();
        let mut blocks = 0u64;
        let mut bytes = 0u64;
        if now >= ticks {
            let (b, n) = WORK.with(|_| {
                depot::release_older(now - ticks, |_, head| {
                    // SAFETY: a chain the depot handed over.
                    unsafe { depot::release_chain(head) }
                })
            });
            blocks += b;
            bytes += n;
        }
        let mut ops = 0u64;
        for record in record::records() {
            let (b, n, o) = decay_record(record, ticks.clamp(1, u64::from(u32::MAX)) as u32);
            blocks += b;
            bytes += n;
            ops = ops.wrapping_add(o);
        }
        if ops == self.process_ops {
            self.quiet_ticks += 1;
        } else {
            self.quiet_ticks = 0;
            self.process_ops = ops;
        }
        let libzmq = stats::libzmq_messages();
        let rate = libzmq.wrapping_sub(self.libzmq_messages);
        if rate != 0 {
            self.libzmq_messages = libzmq;
            self.trim_due = true;
        }
        self.peak_rate = self.peak_rate.max(rate);
        if rate.saturating_mul(4) <= self.peak_rate {
            self.low_ticks += 1;
        } else {
            self.low_ticks = 0;
        }
        if blocks > 0 {
            RELEASES.fetch_add(1, Ordering::Relaxed);
            RELEASED_BLOCKS.fetch_add(blocks, Ordering::Relaxed);
            RELEASED_BYTES.fetch_add(bytes, Ordering::Relaxed);
            self.trim_due = true;
            // SAFETY: no preconditions: returns free pages to the OS.
            unsafe { upstream::mi_collect(true) };
        }
        // glibc is trimmed once a burst is over: when the process has gone
        // quiet, or when libzmq's message rate has stayed below a quarter
        // of its peak for the decay time (a burst followed by a trickle).
        // A steady load, fast or slow, is never trimmed again: its rate
        // does not fall.
        if self.trim_due && (self.quiet_ticks >= ticks || self.low_ticks >= ticks) {
            self.trim_due = false;
            self.peak_rate = rate;
            self.low_ticks = 0;
            // SAFETY: no preconditions.
            unsafe { upstream::mi_collect(true) };
            if !cfg!(feature = "malloc-override") {
                // SAFETY: glibc's malloc_trim has no preconditions.
                unsafe { libc::malloc_trim(0) };
            }
        }
    }
}

/// Releases the lists of `record`'s classes idle for `ticks` ticks; returns
/// (blocks, bytes released, the record's operations so far).
fn decay_record(record: &record::ThreadRecord, ticks: u32) -> (u64, u64, u64) {
    // SAFETY: only the helper thread touches seen and idle_ticks.
    let (seen, idle) = unsafe { (&mut *record.seen.get(), &mut *record.idle_ticks.get()) };
    let mut due = [false; super::size_class::COUNT];
    let mut any = false;
    let mut ops_total = 0u64;
    for class in 0..super::size_class::COUNT {
        // Relaxed: counters, compared with the last tick's.
        let ops = record.counters.class_allocations[class]
            .load(Ordering::Relaxed)
            .wrapping_add(record.counters.class_frees[class].load(Ordering::Relaxed));
        ops_total = ops_total.wrapping_add(ops);
        if ops == seen[class] {
            idle[class] = idle[class].saturating_add(1);
        } else {
            seen[class] = ops;
            idle[class] = 0;
        }
        if idle[class] >= ticks && record.lens[class].load(Ordering::Relaxed) > 0 {
            due[class] = true;
            any = true;
        }
    }
    let (mut blocks, mut bytes) = (0u64, 0u64);
    if any {
        record.reclaim(|lists| {
            thread_cache::take_lists(
                record,
                lists,
                |class| due[class],
                |class, head, len| {
                    blocks += len as u64;
                    bytes += (len * thread_cache::BLOCK_BYTES[class.0]) as u64;
                    // SAFETY: a chain taken from the lists, now ours.
                    unsafe { depot::release_chain(head) };
                },
            );
        });
    }
    (blocks, bytes, ops_total)
}
