//! The statistics: the struct (`zmqpool_stats_get`, and 0.1's
//! `zmqpool_stats`), the JSON object, the text.

use core::ffi::{c_char, c_int};

use super::boundary::fail;
use crate::report::{self, zmqpool_stats_t};

/// The bytes of a statistics struct.
fn bytes_of(stats: &zmqpool_stats_t) -> &[u8] {
    const SIZE: usize = core::mem::size_of::<zmqpool_stats_t>();
    // Only u64 fields: no padding, every byte initialised.
    const _: () = assert!(SIZE % 8 == 0 && core::mem::align_of::<zmqpool_stats_t>() == 8);
    // SAFETY: a live struct of SIZE initialised bytes (repr(C), u64 fields
    // only), borrowed for the slice's lifetime.
    unsafe { core::slice::from_raw_parts(stats as *const zmqpool_stats_t as *const u8, SIZE) }
}

/// Size of `zmqpool_stats_t` in zmqpool 0.1 (eight `uint64_t`).
const STATS_0_1_SIZE: usize = 64;
const _: () = assert!(core::mem::offset_of!(zmqpool_stats_t, threads) + 8 == STATS_0_1_SIZE);

/// Fills `*out` with process-wide statistics, as far as `size` bytes (pass
/// `sizeof *out`): a program built against an older, smaller
/// `zmqpool_stats_t` gets the fields it knows, one built against a newer,
/// larger one gets zeros past the fields this library has. The header's
/// `zmqpool_stats(out)` macro passes the size for you (so `out` must be a
/// typed pointer there: `zmqpool_stats(NULL)` does not compile, and
/// `&zmqpool_stats` or `(zmqpool_stats)(out)` is the 0.1 function, which
/// fills 64 bytes). Returns 0; -1 with EFAULT for a NULL `out`.
///
/// # Safety
/// `out` is NULL or writable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_stats_get(out: *mut zmqpool_stats_t, size: usize) -> c_int {
    if out.is_null() {
        return fail(libc::EFAULT, -1);
    }
    let out = out_bytes!(out, size);
    let snapshot = report::snapshot();
    let ours = bytes_of(&snapshot);
    let common = ours.len().min(out.len());
    out[..common].copy_from_slice(&ours[..common]);
    out[common..].fill(0);
    0
}

/// The statistics of zmqpool 0.1: fills only the first eight fields
/// (`allocations` to `threads`, 64 bytes), the struct as that version
/// defined it, so programs built against it keep working. New code gets
/// `zmqpool_stats_get` through the header's `zmqpool_stats(out)` macro.
///
/// # Safety
/// `out` is NULL or writable for 64 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_stats(out: *mut zmqpool_stats_t) -> c_int {
    // SAFETY: `out` is NULL or writable for 64 (STATS_0_1_SIZE) bytes, this
    // function's contract: what zmqpool_stats_get needs for that size.
    unsafe { zmqpool_stats_get(out, STATS_0_1_SIZE) }
}

/// Writes the statistics as one JSON object (what `ZMQPOOL_SHOW_STATS=json`
/// prints at exit; fields in docs/stats.md) into `buf`, as much as fits in
/// `len` bytes with a terminating NUL, like `snprintf`: returns the length
/// of the whole object (without the NUL), so a return value >= `len` means
/// it was cut short. `buf` may be NULL when `len` is 0 (to ask the length).
/// Allocates nothing.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmqpool_stats_json(buf: *mut c_char, len: usize) -> usize {
    let buffer = out_bytes!(buf, len);
    let mut writer = report::json::BufferWriter::new(buffer);
    let _ = report::json::write_json(&mut writer);
    writer.finish()
}

/// Prints the statistics, human-readable, to stderr (what
/// `ZMQPOOL_SHOW_STATS=1` prints at exit).
#[unsafe(no_mangle)]
pub extern "C" fn zmqpool_print_stats() {
    report::text::print_text();
}
