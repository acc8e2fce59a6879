//! The lines `ZMQPOOL_VERBOSE=1` prints at load: what zmqpool is set to,
//! which libzmq it found and whether the program's calls reach zmqpool.

use crate::msg::libzmq::{self, binds_to_us, served_by_other_zmqpool, Detection};
use crate::pool;
use crate::sys::log::{program_name, to_stderr};

/// The first line: version, process, backend and bounds.
pub(crate) fn loaded() {
    to_stderr(format_args!(
        "zmqpool {}: loaded into pid {} ({}; backend {}, depot cap {} bytes, thread cap {} bytes, \
         decay {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        program_name(),
        pool::backend().name(),
        pool::planned_max_cached_bytes(),
        pool::max_thread_cached_bytes(),
        pool::decay(),
    ));
    match pool::memory_limit() {
        Some((bytes, limit)) => to_stderr(format_args!(
            "zmqpool: memory budget {bytes} bytes ({limit}); the default caps follow it; \
             mimalloc {}",
            if pool::pages_mapped_one_by_one() {
                "maps its pages one by one (address space comes back)"
            } else {
                "carves its pages from arenas"
            }
        )),
        None => to_stderr(format_args!("zmqpool: no memory limit found")),
    }
}

/// Prints what the load-time libzmq check found (ZMQPOOL_VERBOSE=1).
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn libzmq_found(detection: &Detection) {
    let say = to_stderr;
    match detection {
        Detection::Absent => say(format_args!(
            "zmqpool: no libzmq loaded yet; looked for again when a message needs it"
        )),
        Detection::Compatible => {
            if let Some(other) = served_by_other_zmqpool() {
                say(format_args!(
                    "zmqpool: another copy of zmqpool ({}) serves this process's zmq_msg_* and \
                     zmq_send; this copy stays idle",
                    other.to_str().unwrap_or("?")
                ));
                return;
            }
            let interposed = binds_to_us(c"zmq_msg_init_size") && binds_to_us(c"zmq_send");
            for copy in libzmq::copies() {
                let (major, minor, patch) = libzmq::version(copy);
                if interposed {
                    say(format_args!(
                        "zmqpool: libzmq {major}.{minor}.{patch} in {}, layout checked: \
                         interposed (zmq_msg_* and zmq_send build zmqpool messages)",
                        copy.found_in
                    ));
                } else {
                    say(format_args!(
                        "zmqpool: libzmq {major}.{minor}.{patch} in {}, layout checked, but NOT \
                         interposed: the process's zmq_msg_* and zmq_send bind to libzmq \
                         (zmqpool was loaded after it); nothing will be pooled",
                        copy.found_in
                    ));
                }
            }
            let count = libzmq::copies().count();
            if count > 1 {
                say(format_args!(
                    "zmqpool: {count} copies of libzmq: zmq_send goes to the copy that made each \
                     socket; metadata is handled by the first, {}",
                    libzmq::real().map_or(libzmq::Name::unknown(), |first| first.found_in)
                ));
            }
        }
        Detection::PassThrough(target, why) => {
            let (major, minor, patch) = libzmq::version(target);
            say(format_args!(
                "zmqpool: a libzmq in this process has another message layout ({why}): passing \
                 every zmq_msg_* call through to libzmq {major}.{minor}.{patch} in {}",
                target.found_in
            ));
        }
    }
}
