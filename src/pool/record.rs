//! Per-thread records: each thread's cache and counters, on the heap, owned
//! by a process-wide registry (the way mimalloc keeps its thread data).
//!
//! ```text
//!   REGISTRY --> record --> record --> record --> null     (push-only list)
//!                  ^ owner: thread pointer of the thread using it, 0 = free
//!   slot (initial-exec TLS)      --> the calling thread's record: tried first
//!   TABLE[hash(thread pointer)] --> the same (a cache; the only way without
//!                                   the slot, cargo feature no-static-tls)
//!   FALLBACK (thread-local)      --> the same, when the table slot is taken
//! ```
//!
//! Invariants:
//! - A record is never freed. The registry only grows (by the number of
//!   threads alive at once), so anyone may walk it and read the counters of
//!   any record at any time: statistics never touch freed memory.
//! - A record has at most one user at a time: the thread whose thread
//!   pointer is in `owner`. Thread pointers are unique among live threads.
//! - A thread gives its record back when it exits (a pthread key destructor,
//!   which glibc runs after C++ `thread_local` destructors and runs again if
//!   a destructor makes the first call: see [`retire_current`]): its lists go
//!   to the depot and the record becomes free, to be adopted by the next new
//!   thread. A thread that dies without that (its first call came in the
//!   last destructor round) leaves its record owned by its thread pointer: a
//!   later thread that gets the same thread pointer (glibc reuses stacks)
//!   simply carries on with it, and the reclaimer takes its idle blocks.
//! - After `fork()` the child's only thread keeps its record; every other
//!   record is made free, with its lists handed to the depot unless its
//!   owner was inside a cache operation at the fork (then they are dropped).
//! - Only the owner touches the lists, except a reclaimer that has won them
//!   through the `active`/`steal` handshake below.
//!
//! Reclaiming (taking an idle thread's cached blocks from another thread):
//! the owner marks every cache operation with `active` = 1 ... 0 and checks
//! `steal` after raising `active`; a reclaimer raises `steal`, then issues
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` and checks `active`. The
//! membarrier acts as a full fence on every running thread of the process,
//! so (asymmetric Dekker) either the owner sees `steal` and waits, or the
//! reclaimer sees `active` and backs off: the owner's fast path pays two
//! plain stores and one load, never a fence or a read-modify-write. Where
//! membarrier is not available, nothing is reclaimed from live threads.

use core::cell::{Cell, UnsafeCell};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::size_class::COUNT;
use super::stats::Counters;
use super::thread_cache::Lists;
use crate::sync::handshake;

/// One thread's cache and counters.
#[repr(C, align(128))]
pub(crate) struct ThreadRecord {
    /// 1 while the owner is inside a cache operation.
    active: AtomicU32,
    /// 1 while a reclaimer holds the lists; the owner waits.
    steal: AtomicU32,
    /// The owner's thread pointer; 0 when the record is free.
    owner: AtomicUsize,
    /// The tag stamped into the headers of blocks allocated through this
    /// record (tells a foreign free from a local one).
    pub(crate) tag: u32,
    /// The free lists' heads: the owner's, or a reclaimer's that won `steal`.
    lists: UnsafeCell<Lists>,
    /// The free lists' lengths, written by whoever holds the lists, read by
    /// statistics.
    pub(crate) lens: [AtomicU32; COUNT],
    /// Bytes (blocks and headers) on this record's lists.
    pub(crate) cached_bytes: AtomicU64,
    /// Counters, written by the owner only (relaxed load + store).
    pub(crate) counters: Counters,
    /// What the decay thread saw last time: per class, allocations + frees
    /// (only the decay thread touches it).
    pub(crate) seen: UnsafeCell<[u64; COUNT]>,
    /// Per class, for how many decay ticks nothing happened (decay thread
    /// only).
    pub(crate) idle_ticks: UnsafeCell<[u32; COUNT]>,
    /// The next record in the registry (written once, before publication).
    next: *mut ThreadRecord,
}

// SAFETY: the fields other threads read are atomics; the lists and `seen`
// are reached only by the owner or the reclaimer that won `steal` (see the
// module documentation), never by two threads at once.
unsafe impl Sync for ThreadRecord {}

/// Every record ever made (push-only).
static REGISTRY: AtomicPtr<ThreadRecord> = AtomicPtr::new(core::ptr::null_mut());
/// The next tag; 0 is never handed out.
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

const TABLE_BITS: u32 = 10;
/// The calling thread's record, found from its thread pointer.
static TABLE: [AtomicPtr<ThreadRecord>; 1 << TABLE_BITS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 1 << TABLE_BITS];

/// A thread's record after it has given it back (its exit).
const RETIRED: *mut ThreadRecord = core::ptr::dangling_mut::<ThreadRecord>();

thread_local! {
    /// The record of a thread whose table slot another thread holds, or
    /// RETIRED. Const-initialised and without a destructor: reaching it
    /// registers nothing with the C library.
    static FALLBACK: Cell<*mut ThreadRecord> = const { Cell::new(core::ptr::null_mut()) };
}

/// The calling thread's thread pointer: unique among live threads, read
/// without a TLS lookup.
#[inline(always)]
fn thread_pointer() -> usize {
    #[cfg(miri)]
    {
        // Miri runs no assembly: a thread-local's address is as unique.
        thread_local!(static ANCHOR: u8 = const { 0 });
        ANCHOR.with(|anchor| anchor as *const u8 as usize)
    }
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let tp: usize;
        // SAFETY: on x86-64 Linux the TCB's first word (%fs:0) points to
        // itself: a plain read of the calling thread's own memory.
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                options(nostack, readonly, preserves_flags, pure));
        }
        tp
    }
    #[cfg(all(not(target_arch = "x86_64"), not(miri)))]
    {
        // SAFETY: pthread_self has no preconditions.
        unsafe { libc::pthread_self() as usize }
    }
}

#[inline(always)]
fn slot_of(tp: usize) -> &'static AtomicPtr<ThreadRecord> {
    let hash = (tp as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE_BITS);
    &TABLE[hash as usize]
}

/// The calling thread's record in an initial-exec TLS slot: two loads (the
/// slot's offset from the GOT, then the slot at the thread pointer), no
/// hash, no table, no owner check, on the path every message takes twice.
///
/// The slot holds a record only while this thread owns it: set in
/// [`current_slow`] when the thread gets its record, cleared in [`retire`]
/// (on this thread) before the record is given back; a fork child's one
/// thread keeps its record, and no other thread's slot exists there. Any
/// other thread whose record went away has exited, and its slot with it.
///
/// The cost, as for jemalloc and mimalloc, which use initial-exec TLS too:
/// the library's whole TLS block (80 bytes) becomes static, so a `dlopen`
/// after start-up is served from glibc's surplus for late-loaded libraries
/// and fails only where other such libraries used it all up. Cargo
/// feature `no-static-tls` builds without the slot (the thread-pointer
/// table alone, as before; about 7 more instructions per call).
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(feature = "no-static-tls")
))]
mod slot {
    use super::ThreadRecord;

    /// The slot's symbol, named after the crate's version so that two
    /// semver-incompatible copies of the crate linked into one program
    /// keep a slot each.
    macro_rules! symbol {
        () => {
            concat!(
                "zmqpool_thread_record_",
                env!("CARGO_PKG_VERSION_MAJOR"),
                "_",
                env!("CARGO_PKG_VERSION_MINOR")
            )
        };
    }

    core::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".p2align 3",
        // Global (every codegen unit of the crate refers to it), hidden
        // (never exported from the shared library).
        concat!(".globl ", symbol!()),
        concat!(".hidden ", symbol!()),
        concat!(".type ", symbol!(), ",@object"),
        concat!(".size ", symbol!(), ",8"),
        concat!(symbol!(), ":"),
        ".zero 8",
        ".popsection",
    );

    /// The calling thread's slot: its record, or null.
    #[inline(always)]
    pub(super) fn get() -> *mut ThreadRecord {
        let record: *mut ThreadRecord;
        // SAFETY: reads the calling thread's own 8-byte TLS slot (defined
        // above, zero in every new thread), at the offset the dynamic
        // linker resolved for this library.
        unsafe {
            core::arch::asm!(
                concat!("mov {r}, qword ptr [rip + ", symbol!(), "@GOTTPOFF]"),
                "mov {r}, qword ptr fs:[{r}]",
                r = out(reg) record,
                options(nostack, readonly, preserves_flags),
            );
        }
        record
    }

    /// Sets the calling thread's slot.
    ///
    /// # Safety
    /// `record` is null or the calling thread's own record, which it keeps
    /// until it sets the slot again (see the invariant above):
    /// [`ThreadRecord::current`] hands out what the slot holds.
    pub(super) unsafe fn set(record: *mut ThreadRecord) {
        // SAFETY: writes the calling thread's own TLS slot (see get).
        unsafe {
            core::arch::asm!(
                concat!("mov {t}, qword ptr [rip + ", symbol!(), "@GOTTPOFF]"),
                "mov qword ptr fs:[{t}], {r}",
                t = out(reg) _,
                r = in(reg) record,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// Without the initial-exec slot: always empty (the table serves).
#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(feature = "no-static-tls")
)))]
mod slot {
    use super::ThreadRecord;

    #[inline(always)]
    pub(super) fn get() -> *mut ThreadRecord {
        core::ptr::null_mut()
    }

    /// # Safety
    /// None (nothing is stored); the same contract as the real slot's.
    pub(super) unsafe fn set(_record: *mut ThreadRecord) {}
}

impl ThreadRecord {
    /// The calling thread's record, or None when it has none and cannot get
    /// one (exiting, or out of memory): then the caller goes without a cache.
    #[inline(always)]
    pub(crate) fn current() -> Option<&'static ThreadRecord> {
        let mine = slot::get();
        if !mine.is_null() {
            // SAFETY: records are never freed; the slot holds this
            // thread's own record (see `slot`).
            return Some(unsafe { &*mine });
        }
        let tp = thread_pointer();
        let record = slot_of(tp).load(Ordering::Relaxed);
        if !record.is_null() {
            // SAFETY: records are never freed.
            let record = unsafe { &*record };
            // Relaxed: only this thread stores its own thread pointer, and
            // a record it finds with that value can only be its own.
            if record.owner.load(Ordering::Relaxed) == tp {
                return Some(record);
            }
        }
        current_slow(tp)
    }

    /// Marks the start of a cache operation; false when a reclaimer holds
    /// the lists (call [`ThreadRecord::leave`], then [`ThreadRecord::wait`]).
    #[inline(always)]
    pub(crate) fn enter(&self) -> bool {
        handshake::enter(&self.active, &self.steal, handshake::owner_fence)
    }

    /// Marks the end of a cache operation.
    #[inline(always)]
    pub(crate) fn leave(&self) {
        handshake::leave(&self.active);
    }

    /// Waits until a reclaimer is done with the lists.
    #[cold]
    pub(crate) fn wait(&self) {
        while self.steal.load(Ordering::Acquire) != 0 {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }

    /// The lists. Call only between a successful [`ThreadRecord::enter`]
    /// and [`ThreadRecord::leave`] on the owner thread, or as a reclaimer
    /// holding them.
    ///
    /// # Safety
    /// The caller is the owner inside enter/leave, or holds `steal` (see
    /// the module documentation); no other reference to the lists is live.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(crate) unsafe fn lists(&self) -> &mut Lists {
        // SAFETY: exclusive by the contract.
        unsafe { &mut *self.lists.get() }
    }

    /// True while a thread uses this record.
    pub(crate) fn is_owned(&self) -> bool {
        self.owner.load(Ordering::Relaxed) != 0
    }

    /// Takes the lists from whoever owns the record, if the owner is not
    /// inside a cache operation: runs `body` with them and returns true, or
    /// returns false at once (also where membarrier is unavailable).
    pub(crate) fn reclaim(&self, body: impl FnOnce(&mut Lists)) -> bool {
        // One reclaim at a time, and none across a fork(): the fork
        // handlers take this lock first, so a child never inherits a
        // record with `steal` set (its owner would wait forever) or lists
        // half handed over.
        RECLAIM.with(|_| self.reclaim_locked(body))
    }

    fn reclaim_locked(&self, body: impl FnOnce(&mut Lists)) -> bool {
        // Acquire on success: the lists as the last holder left them.
        let claim = || {
            self.steal
                .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        };
        let mut claimed = false;
        // Without the membarrier the handshake proves nothing: back off.
        let won = handshake::try_take(
            &self.active,
            || {
                claimed = claim();
                claimed
            },
            membarrier,
        );
        if won {
            // SAFETY: `steal` is ours and the owner is outside every cache
            // operation; it waits for `steal` before it touches the lists.
            body(unsafe { self.lists() });
        }
        if claimed {
            handshake::release(&self.steal);
        }
        won
    }
}

/// Held by every reclaim (see [`ThreadRecord::reclaim`]).
static RECLAIM: super::lock::RawLock<()> = super::lock::RawLock::new(());

/// Takes the reclaim lock before a fork (after it: [`unlock_reclaim`]).
pub(super) fn lock_reclaim() {
    RECLAIM.lock();
}

/// Releases the reclaim lock after a fork, in parent and child.
///
/// # Safety
/// [`lock_reclaim`] was called by this thread (or, in a forked child, by
/// the parent's forking thread) and not undone yet.
pub(super) unsafe fn unlock_reclaim() {
    // SAFETY: by the contract.
    unsafe { RECLAIM.unlock() };
}

/// Every record, for statistics and reclaiming.
pub(crate) fn records() -> impl Iterator<Item = &'static ThreadRecord> {
    // Acquire: pairs with the Release publishing each record.
    let mut at = REGISTRY.load(Ordering::Acquire);
    core::iter::from_fn(move || {
        // SAFETY: records are never freed; `next` was written before the
        // record was published and never changes.
        let record = unsafe { at.as_ref()? };
        at = record.next;
        Some(record)
    })
}

/// The slow path of [`ThreadRecord::current`]: the thread-local fallback,
/// else a record for a thread that has none yet.
#[cold]
#[inline(never)]
fn current_slow(tp: usize) -> Option<&'static ThreadRecord> {
    // try_with: fails only while the thread's TLS is being torn down.
    let fallback = FALLBACK.try_with(Cell::get).unwrap_or(RETIRED);
    if fallback == RETIRED {
        return None;
    }
    if !fallback.is_null() {
        // SAFETY: records are never freed.
        let record = unsafe { &*fallback };
        if record.owner.load(Ordering::Relaxed) == tp {
            return Some(record);
        }
    }
    let record = adopt_or_create(tp)?;
    // The thread's exit hook: a pthread key whose destructor gives the
    // record back. If the key cannot be set the record simply stays with
    // this thread pointer (see the module documentation).
    if let Some(key) = exit_key() {
        // SAFETY: a key created by exit_key; the value is our record.
        unsafe {
            libc::pthread_setspecific(key, record as *const ThreadRecord as *const libc::c_void)
        };
    }
    let _ = FALLBACK.try_with(|cell| cell.set(record as *const ThreadRecord as *mut ThreadRecord));
    // SAFETY: the record adopt_or_create made this thread's (owner == tp).
    unsafe { slot::set(record as *const ThreadRecord as *mut ThreadRecord) };
    let slot = slot_of(tp);
    // Take the slot when it is free or its record is free; a live thread
    // holding it keeps it (this thread uses FALLBACK then).
    let held = slot.load(Ordering::Relaxed);
    // SAFETY: records are never freed.
    if held.is_null() || !unsafe { &*held }.is_owned() {
        slot.store(
            record as *const ThreadRecord as *mut ThreadRecord,
            Ordering::Relaxed,
        );
    }
    Some(record)
}

/// A free record made this thread's, or a new one; None when memory is
/// exhausted.
fn adopt_or_create(tp: usize) -> Option<&'static ThreadRecord> {
    for record in records() {
        // Acquire: the lists as the previous owner left them (Release).
        if record
            .owner
            .compare_exchange(0, tp, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Some(record);
        }
    }
    let size = core::mem::size_of::<ThreadRecord>();
    // SAFETY: mi_zalloc_aligned has no preconditions; it returns null or
    // zeroed memory of `size` bytes with the record's alignment.
    let memory =
        unsafe { super::upstream::mi_zalloc_aligned(size, core::mem::align_of::<ThreadRecord>()) }
            as *mut ThreadRecord;
    if memory.is_null() {
        return None;
    }
    // Relaxed: tags only need to be distinct; 0 is skipped on wrap-around.
    let mut tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
    if tag == 0 {
        tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: fresh, zeroed memory sized and aligned for a record; every
    // field's all-zero pattern is valid (empty lists, zero counters), and
    // the fields set here are written before the record is published.
    unsafe {
        core::ptr::addr_of_mut!((*memory).tag).write(tag);
        (*memory).owner.store(tp, Ordering::Relaxed);
    }
    let mut head = REGISTRY.load(Ordering::Relaxed);
    loop {
        // SAFETY: not yet published: only this thread sees the record.
        unsafe { (*memory).next = head };
        // Release: publishes the record's fields with it.
        match REGISTRY.compare_exchange_weak(head, memory, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    super::decay::ensure_started();
    // SAFETY: published and never freed.
    Some(unsafe { &*memory })
}

/// The exit hook's key, created at load ([`init`]); None if that failed.
static EXIT_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

fn exit_key() -> Option<libc::pthread_key_t> {
    match EXIT_KEY.load(Ordering::Relaxed) {
        u32::MAX => None,
        key => Some(key as libc::pthread_key_t),
    }
}

/// Creates the exit hook's key (at load, once).
pub(crate) fn init() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: creates a key with a plain extern "C" destructor.
    if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
        EXIT_KEY.store(key as u32, Ordering::Relaxed);
    }
}

/// The key destructor: the thread is exiting and gives its record back.
/// glibc runs key destructors after C++ `thread_local` destructors, so every
/// message those close is still counted here; a destructor of another key
/// that makes this thread's first call sets our key, and glibc runs another
/// round for it.
extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let record = value as *const ThreadRecord;
    if record.is_null() {
        return;
    }
    // SAFETY: the value set in current_slow: this thread's record.
    retire(unsafe { &*record });
    let _ = FALLBACK.try_with(|cell| cell.set(RETIRED));
}

/// Gives a record back: its lists to the depot, then free for adoption.
/// Runs on the record's own thread.
fn retire(record: &'static ThreadRecord) {
    // SAFETY: null: the thread gives its record back below.
    unsafe { slot::set(core::ptr::null_mut()) };
    while !record.enter() {
        record.leave();
        record.wait();
    }
    // SAFETY: inside enter/leave on the owner thread.
    super::thread_cache::flush(record, unsafe { record.lists() });
    record.leave();
    let slot = slot_of(record.owner.load(Ordering::Relaxed));
    let _ = slot.compare_exchange(
        record as *const ThreadRecord as *mut ThreadRecord,
        core::ptr::null_mut(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    // Release: the next owner (Acquire in adopt_or_create) sees the emptied
    // lists and counters as they are now.
    record.owner.store(0, Ordering::Release);
}

/// In a forked child: every record but the calling thread's is free again;
/// their lists go to the depot unless their owner was inside a cache
/// operation when the fork happened (then the lists may be half-updated and
/// are dropped: at most one thread cap of memory each).
pub(crate) fn after_fork_in_child() {
    super::decay::after_fork_in_child();
    let tp = thread_pointer();
    for slot in TABLE.iter() {
        slot.store(core::ptr::null_mut(), Ordering::Relaxed);
    }
    for record in records() {
        if record.owner.load(Ordering::Relaxed) == tp {
            slot_of(tp).store(
                record as *const ThreadRecord as *mut ThreadRecord,
                Ordering::Relaxed,
            );
            continue;
        }
        if record.active.load(Ordering::Relaxed) == 0 {
            // SAFETY: the child has one thread, and the record's owner was
            // outside every cache operation when its memory was copied.
            super::thread_cache::flush(record, unsafe { record.lists() });
        } else {
            // SAFETY: as above; the half-updated lists are abandoned.
            unsafe { *record.lists() = super::thread_cache::EMPTY_LISTS };
            for len in &record.lens {
                len.store(0, Ordering::Relaxed);
            }
            record.cached_bytes.store(0, Ordering::Relaxed);
        }
        record.active.store(0, Ordering::Relaxed);
        record.steal.store(0, Ordering::Relaxed);
        record.owner.store(0, Ordering::Release);
    }
}

// ---- membarrier ---------------------------------------------------------------

const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// 0 unknown, 1 ready, 2 unavailable.
static MEMBARRIER: AtomicU32 = AtomicU32::new(0);

/// Registers for expedited private membarrier (once); false where the
/// kernel has none (then live threads' caches are never reclaimed).
pub(crate) fn membarrier_ready() -> bool {
    if cfg!(miri) {
        return false;
    }
    match MEMBARRIER.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    // SAFETY: the membarrier system call with its documented commands.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
    let ok = supported >= 0
        && supported & i64::from(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0
        // SAFETY: as above.
        && unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) } == 0;
    MEMBARRIER.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
    ok
}

/// A full memory barrier on every running thread of the process; false if
/// the kernel refused (not registered, or not supported).
fn membarrier() -> bool {
    membarrier_ready()
        // SAFETY: the membarrier system call; registered by
        // membarrier_ready. It only orders memory.
        && unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) } == 0
}
