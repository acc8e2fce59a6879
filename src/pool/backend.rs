//! Which allocator serves new blocks: one name per backend, used by the
//! settings, the C API and every report.

use core::sync::atomic::{AtomicU8, Ordering};

/// Which allocator serves new blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Backend {
    /// Size classes recycled through thread caches, over mimalloc (default).
    Pool = 1,
    /// Every block straight from mimalloc.
    Mimalloc = 2,
    /// Every block straight from the C library's malloc (valgrind sees it).
    System = 3,
}

/// Every backend with its name (`ZMQPOOL_BACKEND`, the statistics).
const TABLE: [(Backend, &str); 3] = [
    (Backend::Pool, "pool"),
    (Backend::Mimalloc, "mimalloc"),
    (Backend::System, "system"),
];

impl Backend {
    /// Every backend's name, in the table's order.
    pub const NAMES: [&'static str; 3] = [TABLE[0].1, TABLE[1].1, TABLE[2].1];

    /// The backend with this C value (`ZMQPOOL_BACKEND_*`).
    pub fn from_c(value: i32) -> Option<Backend> {
        TABLE
            .iter()
            .map(|&(backend, _)| backend)
            .find(|&backend| backend as i32 == value)
    }

    /// Parses a `ZMQPOOL_BACKEND` value (any case).
    pub fn from_name(name: &str) -> Option<Backend> {
        TABLE
            .iter()
            .find(|(_, known)| name.eq_ignore_ascii_case(known))
            .map(|&(backend, _)| backend)
    }

    /// The backend's name, as the settings take it and the reports print it.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|&&(backend, _)| backend == self)
            .map_or("?", |&(_, name)| name)
    }
}

/// The backend for new blocks: pool until the settings or `set_backend`
/// say otherwise.
static BACKEND: AtomicU8 = AtomicU8::new(Backend::Pool as u8);

/// The backend for new blocks.
#[inline]
pub fn backend() -> Backend {
    // Relaxed: the value is a standalone setting; blocks record their own
    // origin, so a thread seeing an older choice for a moment is harmless.
    Backend::from_c(i32::from(BACKEND.load(Ordering::Relaxed))).unwrap_or(Backend::Pool)
}

/// Whether new blocks come from the pool, as one load and compare.
#[inline(always)]
pub(crate) fn backend_is_pool() -> bool {
    // Relaxed: as in backend().
    BACKEND.load(Ordering::Relaxed) == Backend::Pool as u8
}

/// Switches the backend for blocks allocated from now on; blocks already
/// out are still released to where they came from.
pub fn set_backend(backend: Backend) {
    // Relaxed: as in backend().
    BACKEND.store(backend as u8, Ordering::Relaxed);
}
