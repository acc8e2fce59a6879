//! The statistics a user sees, declared once: the C struct
//! `zmqpool_stats_t` (what `zmqpool_stats_get` fills in), and beside it one
//! table row per field naming it in the text report and in the JSON
//! object. The text (`text.rs`) and the JSON (`json.rs`) are both written
//! by walking [`COUNTERS`]; adding a counter is a field, one row, and the
//! value in [`snapshot`].

use crate::msg::events::Event;
use crate::pool::stats::{totals, Totals};

/// Process-wide statistics: what `zmqpool_stats_get` fills in. The field
/// order is the ABI: new fields go at the end.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zmqpool_stats_t {
    /// Blocks handed out (message bodies, control blocks, zmqpool_alloc).
    pub allocations: u64,
    /// Blocks released.
    pub frees: u64,
    /// Blocks released on a thread other than the one that allocated them.
    pub foreign_frees: u64,
    /// Pooled allocations served from a thread cache or the depot.
    pub cache_hits: u64,
    /// Pooled allocations that had to go to the upstream allocator.
    pub cache_misses: u64,
    /// Bytes handed out and not yet released (block capacity).
    pub bytes_in_use: u64,
    /// Bytes held for reuse in thread caches and the depot.
    pub bytes_cached: u64,
    /// Threads currently holding a cache.
    pub threads: u64,
    /// Messages zmqpool built whose body is a pool block (`zmq_msg_init_size`,
    /// `zmq_msg_init_buffer`, `zmq_send` over 33 bytes). 0 in a program that
    /// uses libzmq under `LD_PRELOAD` means its messages never reached zmqpool.
    pub messages_pooled: u64,
    /// Messages zmqpool built with the body inside the `zmq_msg_t` (33 bytes
    /// or less; nothing to allocate).
    pub messages_inline: u64,
    /// `zmq_msg_init_data` messages with a free function (control block
    /// from the pool).
    pub messages_user_data: u64,
    /// `zmq_send` calls zmqpool served: message built by zmqpool and taken
    /// by libzmq's `zmq_msg_send` (a send libzmq refused is not counted; its
    /// message, if pooled, is).
    pub sends: u64,
    /// Closes of messages libzmq made that reached zmqpool: every close of a
    /// message received with metadata (each copy counts), and the release
    /// of a body libzmq allocated. Many of these and few pooled messages:
    /// the program builds its messages where zmqpool cannot see it.
    pub libzmq_messages: u64,
    /// Calls passed to libzmq's own function because its message layout or
    /// version is not the one zmqpool writes (pass-through mode).
    pub passed_through_layout: u64,
    /// `zmq_send` calls handed to libzmq's own `zmq_send` because that
    /// libzmq exports no `zmq_msg_send`.
    pub passed_through_no_msg_send: u64,
    /// Socket calls made when no libzmq was in the process (ENOTSOCK).
    pub calls_without_libzmq: u64,
}

/// What a text line adds after the number.
#[derive(Clone, Copy)]
pub(crate) enum Note {
    None,
    Text(&'static str),
    /// The cache hit rate, from the hits and misses.
    HitRate,
    /// The depot's cap.
    DepotCap,
}

/// One counter: where it is in the C struct, how the text and the JSON
/// name it.
pub(crate) struct Counter {
    /// The JSON object it sits in, and its key there.
    pub(crate) json_group: &'static str,
    pub(crate) json_key: &'static str,
    /// The text report's label, and what follows the number.
    pub(crate) label: &'static str,
    pub(crate) note: Note,
    /// Its field of [`zmqpool_stats_t`].
    pub(crate) get: fn(&zmqpool_stats_t) -> u64,
}

/// Every field of [`zmqpool_stats_t`], in the struct's order.
pub(crate) const COUNTERS: [Counter; 16] = [
    Counter {
        json_group: "totals",
        json_key: "allocations",
        label: "allocations",
        note: Note::None,
        get: |s| s.allocations,
    },
    Counter {
        json_group: "totals",
        json_key: "frees",
        label: "frees",
        note: Note::None,
        get: |s| s.frees,
    },
    Counter {
        json_group: "totals",
        json_key: "foreign_frees",
        label: "foreign frees",
        note: Note::Text("released on another thread"),
        get: |s| s.foreign_frees,
    },
    Counter {
        json_group: "totals",
        json_key: "cache_hits",
        label: "cache hits",
        note: Note::HitRate,
        get: |s| s.cache_hits,
    },
    Counter {
        json_group: "totals",
        json_key: "cache_misses",
        label: "cache misses",
        note: Note::None,
        get: |s| s.cache_misses,
    },
    Counter {
        json_group: "totals",
        json_key: "bytes_in_use",
        label: "bytes in use",
        note: Note::None,
        get: |s| s.bytes_in_use,
    },
    Counter {
        json_group: "totals",
        json_key: "bytes_cached",
        label: "bytes cached",
        note: Note::DepotCap,
        get: |s| s.bytes_cached,
    },
    Counter {
        json_group: "totals",
        json_key: "threads",
        label: "live threads",
        note: Note::None,
        get: |s| s.threads,
    },
    Counter {
        json_group: "messages",
        json_key: "pooled",
        label: "pooled",
        note: Note::Text("body from the pool"),
        get: |s| s.messages_pooled,
    },
    Counter {
        json_group: "messages",
        json_key: "inline",
        label: "inline",
        note: Note::Text("33 bytes or less, inside zmq_msg_t"),
        get: |s| s.messages_inline,
    },
    Counter {
        json_group: "messages",
        json_key: "user_data",
        label: "user data",
        note: Note::Text("zmq_msg_init_data with a free function"),
        get: |s| s.messages_user_data,
    },
    Counter {
        json_group: "messages",
        json_key: "sends",
        label: "zmq_send",
        note: Note::Text("served by zmqpool"),
        get: |s| s.sends,
    },
    Counter {
        json_group: "messages",
        json_key: "libzmq_made",
        label: "libzmq-made",
        note: Note::Text("made by libzmq, closed by zmqpool"),
        get: |s| s.libzmq_messages,
    },
    Counter {
        json_group: "passed_through",
        json_key: "layout",
        label: "other layout",
        note: Note::Text("calls passed to a libzmq with another message layout"),
        get: |s| s.passed_through_layout,
    },
    Counter {
        json_group: "passed_through",
        json_key: "no_msg_send",
        label: "no zmq_msg_send",
        note: Note::Text("zmq_send passed to a libzmq without zmq_msg_send"),
        get: |s| s.passed_through_no_msg_send,
    },
    Counter {
        json_group: "passed_through",
        json_key: "without_libzmq",
        label: "without libzmq",
        note: Note::Text("socket calls with no libzmq loaded"),
        get: |s| s.calls_without_libzmq,
    },
];
const _: () = assert!(COUNTERS.len() * 8 == core::mem::size_of::<zmqpool_stats_t>());

/// The process-wide statistics (`zmqpool_stats_get`).
pub fn snapshot() -> zmqpool_stats_t {
    snapshot_of(&totals())
}

/// The [`zmqpool_stats_t`] view of the pool's summed totals.
pub(crate) fn snapshot_of(totals: &Totals) -> zmqpool_stats_t {
    let mut pooled_bytes = 0u64;
    let mut misses = 0u64;
    let mut pooled_allocations = 0u64;
    let mut pooled_frees = 0u64;
    let mut foreign = totals.upstream_foreign;
    let mut cached = 0u64;
    for (class, per) in totals.classes.iter().enumerate() {
        pooled_allocations = pooled_allocations.wrapping_add(per.allocations);
        pooled_frees = pooled_frees.wrapping_add(per.frees);
        foreign = foreign.wrapping_add(per.foreign_frees);
        misses = misses.wrapping_add(per.misses);
        pooled_bytes = pooled_bytes.wrapping_add(per.in_use_bytes(class));
        cached += per.cached_bytes;
    }
    let bytes = pooled_bytes.wrapping_add(totals.upstream_bytes);
    let event = |event: Event| totals.event(event.slot());
    zmqpool_stats_t {
        allocations: pooled_allocations.wrapping_add(totals.upstream_allocations),
        frees: pooled_frees.wrapping_add(totals.upstream_frees),
        foreign_frees: foreign,
        cache_hits: pooled_allocations.saturating_sub(misses),
        cache_misses: misses,
        bytes_in_use: if (bytes as i64) < 0 { 0 } else { bytes },
        bytes_cached: cached,
        threads: totals.threads,
        messages_pooled: event(Event::MessagePooled),
        messages_inline: event(Event::MessageInline),
        messages_user_data: event(Event::MessageUserData),
        sends: event(Event::Send),
        libzmq_messages: event(Event::LibzmqMessage),
        passed_through_layout: event(Event::PassedThroughLayout),
        passed_through_no_msg_send: event(Event::PassedThroughNoMsgSend),
        calls_without_libzmq: event(Event::NoLibzmq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table names every field, in the struct's order: a struct whose
    /// fields hold 1, 2, 3... reads back 1, 2, 3... through the rows.
    #[test]
    fn every_field_has_one_row_in_struct_order() {
        let mut values = [0u64; COUNTERS.len()];
        for (index, value) in values.iter_mut().enumerate() {
            *value = index as u64 + 1;
        }
        // SAFETY: zmqpool_stats_t is repr(C) with exactly COUNTERS.len()
        // u64 fields (asserted at compile time), so it has the layout of
        // this array, and every bit pattern is a valid u64.
        let stats: zmqpool_stats_t = unsafe { core::mem::transmute(values) };
        for (index, counter) in COUNTERS.iter().enumerate() {
            assert_eq!((counter.get)(&stats), index as u64 + 1, "{}", counter.label);
        }
        let mut keys: Vec<_> = COUNTERS
            .iter()
            .map(|c| (c.json_group, c.json_key))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), COUNTERS.len(), "two rows share a JSON key");
    }
}
