//! Reporting: what zmqpool tells a user, above both the pool (its totals)
//! and the message layer (its events, the libzmq copies it found).
//!
//! - `counters.rs`: the user-facing counters, declared once (the C struct
//!   and a table naming each field in the text and the JSON);
//! - `text.rs`, `json.rs`: the two renderings; `output.rs`: where and how
//!   often the JSON goes, `interval.rs` writes it; `verbose.rs`: the lines
//!   printed at load.

pub(crate) mod counters;
pub(crate) mod interval;
pub(crate) mod json;
pub(crate) mod output;
pub(crate) mod text;
pub(crate) mod verbose;

pub use counters::{snapshot, zmqpool_stats_t};
pub use json::write_json;
