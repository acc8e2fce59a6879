//! The helper thread, `zmqpool-decay`: it runs the pool's decay pass every
//! tick, writes the interval statistics, and trims glibc's heap after a
//! burst. It lives above the pool and calls into it; the pool starts no
//! thread (it runs [`ensure_started`] through its slow-path hook).
//!
//! Each tick (a quarter of the decay time, between 10 and 250 ms, and no
//! longer than the statistics interval) it advances the pool's decay
//! clock, runs the pass (depot batches and idle thread lists unused for the
//! decay time go back to mimalloc, and mimalloc's free pages to the OS),
//! and in `libzmqpool.so` (not the malloc variant) asks glibc to give back
//! free memory in the middle of its heaps (`malloc_trim(0)`) once a burst
//! is over (the process quiet, or libzmq's message rate below a quarter of
//! its peak, for the decay time): libzmq's own buffers (the tcp receive
//! path) live there, and glibc only returns the top of a heap by itself.
//!
//! The thread starts lazily, at the pool's first slow path (a thread's
//! first use, a depot hand-in, a miss) or when a setting wants it once
//! the pool has been used; never when decay is off and no interval is
//! set, never from a constructor or a fork handler. It blocks every signal
//! (a program's signals keep going to its own threads), is named
//! `zmqpool-decay` (visible to programs that count their threads: that
//! cannot be avoided), and after `fork()` a new one starts in the child at
//! its next slow-path pool operation.
//!
//! The helper never keeps a process alive: a process ends when its last
//! thread does (a `main` that calls `pthread_exit` while its workers finish
//! is a documented POSIX pattern), and the helper is not the program's
//! thread. Each tick it counts the process's threads; alone, it exits the
//! process with status 0, as the last thread's end would have (at-exit
//! handlers run, on the helper's thread).
//!
//! Start and stop (all SeqCst): a setter stores its setting, then reads the
//! state; the helper, about to end, stores STOPPED, then reads the
//! settings. One of the two sees the other, so a setting is never left
//! without a helper to apply it.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::msg::events::Event;
use crate::pool::{self, Decay};
use crate::report::{interval, output};

/// The helper's state.
static STATE: AtomicU32 = AtomicU32::new(STOPPED);
const STOPPED: u32 = 0;
const RUNNING: u32 = 1;

/// Installs the pool's slow-path hook and the fork handler (at load).
pub(crate) fn install() {
    pool::hooks::set_slow_path_hook(ensure_started);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers a plain extern "C" function without arguments
        // as the child handler.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

/// In a forked child: the parent's helper does not exist here.
extern "C" fn after_fork_in_child() {
    // Relaxed: the child has one thread.
    STATE.store(STOPPED, Ordering::Relaxed);
    pool::set_helper_running(false);
}

/// Sets the decay time (`ZMQPOOL_DECAY_MS`, `zmqpool_set_decay_ms`):
/// blocks unused for that long go back upstream, by the helper thread,
/// started if needed. Turned off, the depot's default cap falls back to
/// 64 MiB at once.
pub fn set_decay(decay: Decay) {
    pool::set_decay(decay);
    start_if_stopped();
}

/// Sets the statistics interval (`ZMQPOOL_STATS_INTERVAL_MS`; 0: off): one
/// JSON line every `ms` milliseconds to stderr or the statistics file,
/// written by the helper thread, started if needed.
pub fn set_stats_interval_ms(ms: u64) {
    output::set_interval_ms(ms);
    start_if_stopped();
}

/// Starts the helper if decay or a statistics interval wants it and it
/// is not running. Cheap when it is (one load): the pool's slow-path hook.
#[inline]
fn ensure_started() {
    // Relaxed: a hint; start() decides with a CAS.
    if STATE.load(Ordering::Relaxed) == STOPPED {
        start();
    }
}

/// For the setters: as ensure_started, with the state read SeqCst, and
/// only once the pool has been used (a process that never makes a message
/// gets no thread, whatever its settings; the constructor, which applies
/// the environment's, runs before any).
fn start_if_stopped() {
    if STATE.load(Ordering::SeqCst) == STOPPED && pool::record::any() {
        start();
    }
}

/// Failed thread creations: after one, only every 1024th call tries again
/// (thread limits, seccomp), so a slow path does not pay a failing
/// pthread_create each time.
static FAILURES: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// Whether a setting wants the helper (SeqCst loads: see the module
/// documentation).
fn wanted() -> bool {
    pool::decay_seqcst() != Decay::Never || output::interval_ms_seqcst() > 0
}

#[cold]
fn start() {
    if !wanted() || cfg!(miri) {
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
    // SAFETY: libc calls on local signal sets, attributes and a thread
    // handle, each initialised (zeroed, then by its init call) before use
    // and destroyed once; the thread function is a static extern "C" fn
    // that takes no argument.
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
            // Relaxed: a back-off count, and STOPPED only undoes our own CAS.
            FAILURES.fetch_add(1, Ordering::Relaxed);
            STATE.store(STOPPED, Ordering::Relaxed);
        } else {
            // Relaxed: a back-off count.
            FAILURES.store(0, Ordering::Relaxed);
            // The thread names itself and says it runs: it is detached,
            // so `thread` may already name nothing (or a newer thread).
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
    pool::init_helper_thread();
    // SAFETY: names the calling thread (the handle of a live thread: its
    // own); the name is a NUL-terminated string of 13 bytes (at most 15).
    unsafe { libc::pthread_setname_np(libc::pthread_self(), c"zmqpool-decay".as_ptr()) };
    // Set here, not by the creator: this thread's own later `false` (when
    // it stops) can then never be overtaken by a stale `true`.
    pool::set_helper_running(true);
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
            pool::set_helper_running(false);
            if wanted()
                && STATE
                    .compare_exchange(STOPPED, RUNNING, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                pool::set_helper_running(true);
                continue;
            }
            return core::ptr::null_mut();
        }
        let tick = tick_length(pool::decay().ms(), output::interval_ms());
        // Nothing cached anywhere for a while, nothing to trim, no
        // statistics to write: wake less often (a burst is then seen up to
        // 0.75 s later, still released well within 3 s at the default).
        let quiet = idle_ticks >= 4 && output::interval_ms() == 0;
        let sleep = if quiet {
            tick.max(pool::decay().ms().unwrap_or(0).min(750))
        } else {
            tick
        };
        sleep_ms(sleep);
        if crate::sys::thread::alone_in_process() {
            // Every other thread has ended (main with pthread_exit, then its
            // workers): without zmqpool the process would have exited as if
            // its last thread had called exit(0). It does so now, on this
            // thread, with the at-exit handlers the program registered.
            last_thread_exit();
        }
        pool::advance_clock();
        // Read again after the sleep: a setting changed meanwhile (decay
        // turned off, say) applies from this tick on.
        let interval = output::interval_ms();
        if let Some(ms) = pool::decay().ms() {
            work.tick(ms.div_ceil(tick));
        }
        let totals = pool::stats::totals(); // also samples the per-class peaks
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
                interval::write_interval();
            }
        }
    }
}

/// Ends the process as its last thread would have: `exit(0)` (POSIX:
/// "as if the implementation called exit() with a zero argument").
#[cold]
fn last_thread_exit() -> ! {
    // SAFETY: exit has no precondition; the at-exit handlers and
    // destructors run on this thread, as they would on the last thread.
    unsafe { libc::exit(0) }
}

fn sleep_ms(ms: u64) {
    let time = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: a valid timespec, and no remainder pointer; an early wake-up
    // (a signal) only shortens one tick.
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
    /// One tick: the pool's decay pass over what has been unused for
    /// `ticks` ticks, then the glibc trim heuristic.
    fn tick(&mut self, ticks: u64) {
        let pass = pool::decay::pass(ticks);
        let ops = pass.operations;
        if ops == self.process_ops {
            self.quiet_ticks += 1;
        } else {
            self.quiet_ticks = 0;
            self.process_ops = ops;
        }
        let libzmq = pool::stats::event_total(Event::LibzmqMessage.slot());
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
        if pass.blocks > 0 {
            self.trim_due = true;
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
            pool::collect_upstream();
            if !cfg!(feature = "malloc-override") {
                // SAFETY: glibc's malloc_trim has no preconditions.
                unsafe { libc::malloc_trim(0) };
            }
        }
    }
}
