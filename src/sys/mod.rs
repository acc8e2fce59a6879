//! The leaf every other layer may use: thin, safe wrappers over the C
//! library and the kernel, with no knowledge of blocks, messages or
//! settings (mimalloc's `prim/`).
//!
//! - [`errno`]: the calling thread's errno, read and set.
//! - [`log`]: one line to stderr that can never abort the host program,
//!   the program's name, and the verbose switch.
//! - [`lock`]: a pthread mutex with explicit lock/unlock, for state that
//!   the fork handlers must hold across `fork()`.
//! - [`loader`]: the dynamic loader: which object holds an address, and a
//!   walk over every loaded object that allocates nothing.
//! - [`memory`]: the memory the process may use: resource limits, its
//!   control group's limits, physical memory.
//! - [`thread`]: the calling thread's identity (its thread pointer) and
//!   the membarrier system call.

pub(crate) mod errno;
pub(crate) mod loader;
pub(crate) mod lock;
pub(crate) mod log;
pub(crate) mod memory;
pub(crate) mod thread;
