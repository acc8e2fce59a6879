//! A thread gives its record back when it exits: a pthread key destructor,
//! which glibc runs after C++ `thread_local` destructors (every message
//! those close is still cached and counted here) and runs again if another
//! key's destructor makes the thread's first pool call. Its lists go to
//! the depot, and the record becomes free for the next new thread.

use super::lists::flush;
use super::lookup;
use super::record::ThreadRecord;

/// Creates the exit hook's key (at load, once).
pub(crate) fn init() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: creates a key whose destructor is a plain extern "C" fn.
    if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
        lookup::set_exit_key(key);
    }
}

/// The key destructor: the thread is exiting and gives its record back.
extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let record = value as *const ThreadRecord;
    if record.is_null() {
        return;
    }
    // SAFETY: the value lookup set for this key: the exiting thread's own
    // record, never freed (R1).
    retire(unsafe { &*record });
}

/// Gives a record back: its lists to the depot, then free for adoption.
/// Runs on the record's own thread.
fn retire(record: &'static ThreadRecord) {
    let tp = record.owner();
    lookup::detach_current();
    // SAFETY: runs on the record's own thread (its exit destructor), its
    // lists not held here; no hook runs after it (the thread is ending).
    unsafe { record.with_lists(|lists| flush(record, lists)) };
    lookup::retire_current(record, tp);
    record.release_owner();
}
