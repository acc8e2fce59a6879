//! Work zmqpool does on a thread of its own, above the pool, the message
//! layer and reporting: the decay helper (`helper.rs`).

mod helper;

pub(crate) use helper::install;
pub use helper::{set_decay, set_stats_interval_ms};
