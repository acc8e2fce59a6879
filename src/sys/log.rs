//! Lines to stderr from a library loaded into any program: never a panic
//! (`eprintln!` panics, and so aborts the host, when stderr is closed),
//! never an allocation (a line may be written under memory pressure or
//! from a fork handler's neighbourhood).

use core::ffi::{c_char, c_int, CStr};
use core::sync::atomic::{AtomicBool, Ordering};

/// Writes a line to stderr, ignoring failure.
pub(crate) fn to_stderr(args: core::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// The running program's short name (glibc's `program_invocation_short_name`).
pub(crate) fn program_name() -> &'static str {
    extern "C" {
        static program_invocation_short_name: *const c_char;
    }
    // SAFETY: glibc sets this pointer before any constructor runs and never
    // frees or changes it afterwards: reading it races nothing.
    let name = unsafe { program_invocation_short_name };
    if name.is_null() {
        return "?";
    }
    // SAFETY: non-null, so it points at glibc's copy of argv[0]'s last
    // component: NUL-terminated and alive as long as the process.
    core::str::from_utf8(unsafe { CStr::from_ptr(name) }.to_bytes()).unwrap_or("?")
}

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// True when verbose lines are wanted (`ZMQPOOL_VERBOSE`, set at load).
pub(crate) fn verbose() -> bool {
    // Relaxed: a standalone switch, written once at load.
    VERBOSE.load(Ordering::Relaxed)
}

/// Turns verbose lines on or off.
pub(crate) fn set_verbose(on: bool) {
    // Relaxed: as in verbose().
    VERBOSE.store(on, Ordering::Relaxed);
}

/// strerror without allocating (std's error text allocates a String).
pub(crate) fn error_text(errno: c_int, buffer: &mut [u8; 128]) -> &str {
    // SAFETY: a writable buffer of the length passed; the XSI strerror_r
    // (libc's binding) writes at most that many bytes, NUL included.
    let status =
        unsafe { libc::strerror_r(errno, buffer.as_mut_ptr() as *mut c_char, buffer.len()) };
    if status != 0 {
        return "unknown error";
    }
    CStr::from_bytes_until_nul(&buffer[..])
        .ok()
        .and_then(|text| text.to_str().ok())
        .unwrap_or("unknown error")
}
