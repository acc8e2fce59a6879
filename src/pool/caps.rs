//! The bounds on what the pool keeps, and for how long: the per-thread
//! cap, the depot's cap, and the decay time. Each is a standalone setting
//! read with Relaxed loads on the paths that enforce it. The caps' defaults
//! follow the process's memory budget (`limits.rs`: its resource limits,
//! its control group's, the machine's memory; [`default_caps`] is the
//! rule), and the depot's also whether the decay helper runs (the layer
//! above says so through [`set_helper_running`]).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::limits::{budget, process_limited};

/// The per-thread bound's default where memory is plentiful.
pub(crate) const DEFAULT_THREAD_CACHE_CAP: u64 = 4 << 20;
/// The smallest default per-thread bound, however small the budget.
const MIN_THREAD_CACHE_CAP: u64 = 256 << 10;

/// A thread holding more than this across all classes hands the list it
/// frees into to the depot at once, whatever its length. Frees never take
/// a thread past it; a batch taken from the depot to serve allocations
/// may, until it is used up. The value in force: the user's, or the
/// default for the budget.
static THREAD_CACHE_CAP: AtomicU64 = AtomicU64::new(DEFAULT_THREAD_CACHE_CAP);
/// The per-thread bound the user set, or AUTO_THREAD (the default).
static USER_THREAD_CACHE_CAP: AtomicU64 = AtomicU64::new(AUTO_THREAD);
const AUTO_THREAD: u64 = u64::MAX;

/// Sets the per-thread bound on cached bytes (0: each freed block goes to
/// the depot at once, a batch of one).
pub fn set_max_thread_cached_bytes(cap: usize) {
    let cap = (cap as u64).min(AUTO_THREAD - 1);
    // SeqCst, the user's value first: see follow_budget.
    USER_THREAD_CACHE_CAP.store(cap, Ordering::SeqCst);
    THREAD_CACHE_CAP.store(cap, Ordering::SeqCst);
}

/// The default caps for a memory budget of `budget` bytes, which a limit
/// set on the process (`process_limited`) or the machine's memory sets.
///
/// - The depot: while decay runs, [`DEFAULT_MAX_CACHED_BYTES`]; without
///   decay, [`DEFAULT_MAX_CACHED_BYTES_NO_DECAY`]. Under a limit set on the
///   process, at most a 32nd of it: what the depot holds is memory the
///   rest of the program cannot have until decay returns it, and a burst
///   should leave at most 3% of the limit taken (a JVM's default heap is a
///   quarter of a container's limit, Go's automemlimit 90%: both bound the
///   program's own heap; this bounds a cache beside it). On a machine
///   without a limit, at most an eighth of memory plus swap (and never
///   below the no-decay default).
/// - A thread: [`DEFAULT_THREAD_CACHE_CAP`], or a 64th of the budget when
///   that is less, never below 256 KiB (a thread cap is paid once per
///   thread that frees messages).
pub(crate) fn default_caps(budget: usize, process_limited: bool) -> DefaultCaps {
    let depot_share = if process_limited {
        budget / 32
    } else {
        (budget / 8).max(DEFAULT_MAX_CACHED_BYTES_NO_DECAY)
    };
    DefaultCaps {
        depot_decaying: DEFAULT_MAX_CACHED_BYTES.min(depot_share),
        depot_not_decaying: DEFAULT_MAX_CACHED_BYTES_NO_DECAY.min(depot_share),
        thread: DEFAULT_THREAD_CACHE_CAP.min(((budget / 64) as u64).max(MIN_THREAD_CACHE_CAP)),
    }
}

/// The caps [`default_caps`] gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DefaultCaps {
    pub(crate) depot_decaying: usize,
    pub(crate) depot_not_decaying: usize,
    pub(crate) thread: u64,
}

/// The defaults for the budget as measured last.
fn defaults() -> DefaultCaps {
    default_caps(budget(), process_limited())
}

/// Makes the per-thread bound's default follow the budget as measured last
/// (a bound the user set stays). The depot's default is derived when read.
pub(crate) fn follow_budget() {
    // All SeqCst: a user's setter stores its value, then the cap; this
    // stores the default, then reads the user's value again. If that read
    // finds none, the setter's two stores come after it, and its cap wins;
    // if it finds one, it is put back here. A user's cap never stays
    // overwritten by a default.
    if USER_THREAD_CACHE_CAP.load(Ordering::SeqCst) != AUTO_THREAD {
        return;
    }
    THREAD_CACHE_CAP.store(defaults().thread, Ordering::SeqCst);
    let user = USER_THREAD_CACHE_CAP.load(Ordering::SeqCst);
    if user != AUTO_THREAD {
        THREAD_CACHE_CAP.store(user, Ordering::SeqCst);
    }
}

/// The per-thread bound on cached bytes.
pub fn max_thread_cached_bytes() -> usize {
    thread_cache_cap() as usize
}

#[inline(always)]
pub(crate) fn thread_cache_cap() -> u64 {
    // Relaxed: a standalone setting.
    THREAD_CACHE_CAP.load(Ordering::Relaxed)
}

/// The depot's default cap while decay is on (less for a small budget:
/// [`default_caps`]): idle blocks go back upstream after the
/// decay time whatever the cap, so the cap only bounds what a busy process
/// keeps for reuse, and it must hold a busy process's working set. A pipe
/// of libzmq's default depth (1,000 messages each way) of 256 KiB messages
/// keeps 640 MiB in flight; a 64 MiB cap sent most of those blocks back to
/// mimalloc and took them again, at a page fault each (a 256-deep hand-off
/// of 256 KiB messages missed 20% of the time).
pub(crate) const DEFAULT_MAX_CACHED_BYTES: usize = 1 << 30;
/// The default cap with decay off: the depot is then the only bound on
/// what stays after a burst.
pub(crate) const DEFAULT_MAX_CACHED_BYTES_NO_DECAY: usize = 64 << 20;

/// The cap set by the user, or AUTO.
static MAX_CACHED_BYTES: AtomicUsize = AtomicUsize::new(AUTO);
const AUTO: usize = usize::MAX;

/// Sets the depot's cap without shrinking the depot
/// ([`depot::set_max_cached_bytes`](super::depot::set_max_cached_bytes)
/// does both). `usize::MAX` means no cap at all.
pub(crate) fn set_max_cached_bytes(cap: usize) {
    // Any cap the user sets holds as set; AUTO itself is one byte short of
    // no cap, which it then means in effect. Relaxed: a standalone setting.
    MAX_CACHED_BYTES.store(if cap == AUTO { AUTO - 1 } else { cap }, Ordering::Relaxed);
}

/// The cap on bytes held in the depot: as set, or by default the budget's
/// (`default_caps`): its decaying value while decay is on and its helper
/// runs, the other otherwise (decay off, or no helper thread could start).
pub fn max_cached_bytes() -> usize {
    cap_if(decay_ms().is_some() && helper_running())
}

/// The cap once the decay helper runs, as the settings make it (what
/// `ZMQPOOL_VERBOSE` reports at load, before any thread runs).
pub fn planned_max_cached_bytes() -> usize {
    cap_if(decay_ms().is_some())
}

fn cap_if(decaying: bool) -> usize {
    // Relaxed: a standalone setting.
    match MAX_CACHED_BYTES.load(Ordering::Relaxed) {
        AUTO if decaying => defaults().depot_decaying,
        AUTO => defaults().depot_not_decaying,
        cap => cap,
    }
}

/// How long a block may sit unused before it goes back upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decay {
    /// Never: what is cached stays (up to the caps).
    Never,
    /// At the next decay tick.
    AtOnce,
    /// After this many milliseconds unused (never 0).
    After(u64),
}

impl Decay {
    /// The value the C API and the JSON statistics use: 0 never, -1 at
    /// once, else the milliseconds (clamped to `i64::MAX`).
    pub fn to_c(self) -> i64 {
        match self {
            Decay::Never => 0,
            Decay::AtOnce => -1,
            Decay::After(ms) => ms.min(i64::MAX as u64) as i64,
        }
    }

    /// The inverse of [`Decay::to_c`]; None for other negative values.
    pub fn from_c(ms: i64) -> Option<Decay> {
        match ms {
            0 => Some(Decay::Never),
            -1 => Some(Decay::AtOnce),
            ms if ms > 0 => Some(Decay::After(ms as u64)),
            _ => None,
        }
    }

    /// The decay time in ms (None: never; Some(0): at once).
    pub fn ms(self) -> Option<u64> {
        match self {
            Decay::Never => None,
            Decay::AtOnce => Some(0),
            Decay::After(ms) => Some(ms),
        }
    }
}

impl core::fmt::Display for Decay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Decay::Never => f.write_str("off"),
            Decay::AtOnce => f.write_str("at once"),
            Decay::After(ms) => write!(f, "after {ms} ms unused"),
        }
    }
}

/// The decay time in ms: NEVER, or 0 for "give back at once".
static DECAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_DECAY_MS);
const NEVER: u64 = u64::MAX;
/// The default decay time.
pub(crate) const DEFAULT_DECAY_MS: u64 = 1000;

/// The decay time.
pub fn decay() -> Decay {
    // Relaxed: a standalone setting (the helper's start/stop protocol
    // reads it SeqCst through decay_seqcst).
    from_stored(DECAY_MS.load(Ordering::Relaxed))
}

/// The decay time read SeqCst, for the helper's start/stop protocol.
pub(crate) fn decay_seqcst() -> Decay {
    from_stored(DECAY_MS.load(Ordering::SeqCst))
}

fn from_stored(ms: u64) -> Decay {
    match ms {
        NEVER => Decay::Never,
        0 => Decay::AtOnce,
        ms => Decay::After(ms),
    }
}

/// The decay time in ms (None: never; Some(0): at once).
pub(crate) fn decay_ms() -> Option<u64> {
    decay().ms()
}

/// Sets the decay time. SeqCst: the helper's start/stop protocol pairs
/// this store with its own SeqCst store of its state (see
/// `background/helper.rs`).
pub(crate) fn set_decay(decay: Decay) {
    let stored = match decay {
        Decay::Never => NEVER,
        Decay::AtOnce => 0,
        Decay::After(ms) => ms.min(NEVER - 1),
    };
    DECAY_MS.store(stored, Ordering::SeqCst);
}

static HELPER_RUNNING: AtomicBool = AtomicBool::new(false);

/// Whether a decay helper runs (told by the layer that starts it).
///
/// The helper says so itself, at its start: until then (a thread being
/// created) the depot's default cap is the no-decay one.
pub(crate) fn set_helper_running(running: bool) {
    // Relaxed: a hint for a default cap; a stale answer for a moment keeps
    // or returns one batch more.
    HELPER_RUNNING.store(running, Ordering::Relaxed);
}

fn helper_running() -> bool {
    // Relaxed: as in set_helper_running.
    HELPER_RUNNING.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "1 GiB", "64 MiB", "4 MiB": how the user documentation writes a size.
    fn human(bytes: u64) -> String {
        match bytes {
            b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
            b if b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
            b => format!("{b} bytes"),
        }
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The defaults are declared here once; the README's settings table and
    /// the C header (from `ffi/settings.rs`) state them for users, and must
    /// state these (and the README's worked figures, the rule's results).
    /// The README's worked figures are what the rule gives.
    #[test]
    fn the_rule_gives_the_readme_figures() {
        let readme = read("README.md");
        let cases: [(&str, usize, bool); 4] = [
            (
                "on a 24 GiB machine (memory plus swap), no limit",
                24 << 30,
                false,
            ),
            ("under `ulimit -v 2G`", 2 << 30, true),
            ("in a 512 MiB container (`memory.max`)", 512 << 20, true),
            ("in a 128 MiB container", 128 << 20, true),
        ];
        for (case, budget, limited) in cases {
            let caps = default_caps(budget, limited);
            let row = format!(
                "| {case} | {} / {} | {} |",
                human(caps.depot_decaying as u64),
                human(caps.depot_not_decaying as u64),
                human(caps.thread)
            );
            assert!(readme.contains(&row), "README lacks the row {row:?}");
        }
        // The floor and the machine case's share.
        assert_eq!(default_caps(4 << 20, true).thread, MIN_THREAD_CACHE_CAP);
        assert_eq!(
            default_caps(1 << 30, false).depot_decaying,
            DEFAULT_MAX_CACHED_BYTES_NO_DECAY.max((1 << 30) / 8)
        );
    }

    #[test]
    fn the_user_documentation_states_the_defaults_declared_here() {
        let on = human(DEFAULT_MAX_CACHED_BYTES as u64);
        let off = human(DEFAULT_MAX_CACHED_BYTES_NO_DECAY as u64);
        let thread = human(DEFAULT_THREAD_CACHE_CAP);
        let readme = read("README.md");
        let row = |variable: &str| {
            readme
                .lines()
                .find(|line| line.starts_with(&format!("| `{variable}")))
                .unwrap_or_else(|| panic!("no README row for {variable}"))
                .to_owned()
        };
        let cached = row("ZMQPOOL_MAX_CACHED_BYTES");
        assert!(
            cached.contains(&format!("| {on} "))
                && cached.contains(&format!("{off} with decay off")),
            "{cached}"
        );
        assert!(row("ZMQPOOL_MAX_THREAD_CACHED_BYTES").contains(&format!("| {thread}; ")));
        assert!(row("ZMQPOOL_DECAY_MS").contains(&format!("| {DEFAULT_DECAY_MS} |")));
        let header = read("include/zmqpool.h").replace("\n *", "");
        for stated in [
            format!("default {on} while decay is on"),
            format!("and {off} with decay off"),
            format!("default {thread}, or a 64th"),
            format!("default {DEFAULT_DECAY_MS})"),
        ] {
            assert!(
                header.contains(&stated),
                "zmqpool.h does not say {stated:?}"
            );
        }
    }
}
