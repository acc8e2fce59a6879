//! The calling thread's identity, and a full fence on every thread of the
//! process (membarrier).

use core::sync::atomic::{AtomicU32, Ordering};

/// The calling thread's thread pointer: unique among live threads, read
/// without a TLS lookup.
#[inline(always)]
pub(crate) fn thread_pointer() -> usize {
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
        // itself (the x86-64 TLS ABI): a plain read of the calling thread's
        // own memory, which lives as long as the thread.
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

const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// 0 unknown, 1 ready, 2 unavailable.
static MEMBARRIER: AtomicU32 = AtomicU32::new(0);

/// Registers for expedited private membarrier (once); false where the
/// kernel has none.
pub(crate) fn membarrier_ready() -> bool {
    if cfg!(miri) {
        return false;
    }
    // Relaxed: the state only caches what the kernel answers; two threads
    // racing here both ask it, and registering twice is harmless.
    match MEMBARRIER.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    // SAFETY: the membarrier system call with its documented QUERY command,
    // which only reads the kernel's capabilities.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
    let ok = supported >= 0
        && supported & i64::from(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0
        // SAFETY: the documented REGISTER command: it changes no memory,
        // it only allows this process's later PRIVATE_EXPEDITED calls.
        && unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) } == 0;
    // Relaxed: as above.
    MEMBARRIER.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
    ok
}

/// A full memory barrier on every running thread of the process; false if
/// the kernel refused (not registered, or not supported).
pub(crate) fn membarrier() -> bool {
    membarrier_ready()
        // SAFETY: the PRIVATE_EXPEDITED command, registered by
        // membarrier_ready; it only orders memory.
        && unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) } == 0
}

/// One pointer per thread in an initial-exec TLS slot: two loads (the
/// slot's offset from the GOT, then the slot at the thread pointer), no
/// hash, no table. The pool keeps the calling thread's record here; what
/// the pointer means, and when it may be followed, is its user's invariant
/// (see `pool/lookup.rs`).
///
/// The cost, as for jemalloc and mimalloc, which use initial-exec TLS too:
/// the library's whole TLS block (80 bytes) becomes static, so a `dlopen`
/// after start-up is served from glibc's surplus for late-loaded libraries
/// and fails only where other such libraries used it all up. Cargo
/// feature `no-static-tls` builds without the slot (`get` always null).
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(feature = "no-static-tls")
))]
pub(crate) mod slot {
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

    /// The calling thread's slot: what it last set, or null.
    #[inline(always)]
    pub(crate) fn get() -> *mut () {
        let value: *mut ();
        // SAFETY: reads the calling thread's own 8-byte TLS slot (defined
        // above in .tbss, so zero in every new thread), at the offset the
        // dynamic linker resolved for this library.
        unsafe {
            core::arch::asm!(
                concat!("mov {r}, qword ptr [rip + ", symbol!(), "@GOTTPOFF]"),
                "mov {r}, qword ptr fs:[{r}]",
                r = out(reg) value,
                options(nostack, readonly, preserves_flags),
            );
        }
        value
    }

    /// Sets the calling thread's slot.
    ///
    /// # Safety
    /// Whatever [`get`]'s callers assume of the pointer holds for `value`
    /// until the slot is set again on this thread.
    pub(crate) unsafe fn set(value: *mut ()) {
        // SAFETY: writes the calling thread's own TLS slot (see get); a
        // plain 8-byte store that no other thread can observe.
        unsafe {
            core::arch::asm!(
                concat!("mov {t}, qword ptr [rip + ", symbol!(), "@GOTTPOFF]"),
                "mov qword ptr fs:[{t}], {r}",
                t = out(reg) _,
                r = in(reg) value,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// Without the initial-exec slot: always empty.
#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(feature = "no-static-tls")
)))]
pub(crate) mod slot {
    #[inline(always)]
    pub(crate) fn get() -> *mut () {
        core::ptr::null_mut()
    }

    /// # Safety
    /// None (nothing is stored); the same contract as the real slot's.
    pub(crate) unsafe fn set(_value: *mut ()) {}
}

/// True when the calling thread is the only one of the process still
/// running: `/proc/self/stat` counts one thread, or two of which the main
/// thread (whose state the file reports) has ended and waits as a zombie
/// for the rest (`pthread_exit` from `main`). False when it cannot tell.
/// Allocates nothing.
pub(crate) fn alone_in_process() -> bool {
    let mut buffer = [0u8; 1024];
    // SAFETY: a NUL-terminated path; open has no other precondition.
    let fd = unsafe {
        libc::open(
            c"/proc/self/stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: reads at most buffer.len() bytes into our own buffer from the
    // descriptor opened above, which is closed once right after.
    let read = unsafe { libc::read(fd, buffer.as_mut_ptr() as *mut libc::c_void, buffer.len()) };
    // SAFETY: the descriptor opened above, closed once.
    unsafe { libc::close(fd) };
    let Some(text) = usize::try_from(read).ok().and_then(|n| buffer.get(..n)) else {
        return false;
    };
    // The command name (field 2) is in parentheses and may hold spaces:
    // fields are counted from the last ')', which ends field 2.
    let Some(after) = text.iter().rposition(|&b| b == b')') else {
        return false;
    };
    let mut fields = text[after + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let state = fields.next(); // field 3: the main thread's state
    let threads = fields
        .nth(20 - 4) // field 20: the number of threads
        .and_then(|f| core::str::from_utf8(f).ok())
        .and_then(|f| f.parse::<u64>().ok());
    match (state, threads) {
        (_, Some(1)) => true,
        (Some(b"Z"), Some(2)) => !is_main_thread(),
        _ => false,
    }
}

/// True on the process's main thread (its thread id is the process id).
fn is_main_thread() -> bool {
    // SAFETY: gettid and getpid have no preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}
