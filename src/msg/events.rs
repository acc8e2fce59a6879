//! What the message layer counts: how messages were made and which calls
//! zmqpool served or handed to libzmq, so a user can see whether a program
//! reaches zmqpool at all. Each event is one of the pool's anonymous
//! per-thread event slots (counting it touches the record the message's
//! allocation touched); this enum names them.

use crate::pool::{self, EventSlot, EVENT_SLOTS};

/// A message-layer event, one counter each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Event {
    /// A message zmqpool built with its body inside the `zmq_msg_t` (33
    /// bytes or less: nothing to allocate).
    MessageInline,
    /// A message zmqpool built with a pool block as its body.
    MessagePooled,
    /// A `zmq_msg_init_data` message whose control block is a pool block.
    MessageUserData,
    /// A `zmq_send` call zmqpool served (built the message, handed it to
    /// libzmq's `zmq_msg_send`).
    Send,
    /// A message libzmq made (its own body or metadata) that zmqpool closed.
    LibzmqMessage,
    /// A call passed to libzmq's own function because its message layout
    /// (or version) is not the one zmqpool writes.
    PassedThroughLayout,
    /// A `zmq_send` handed to libzmq's own `zmq_send` because that libzmq
    /// has no `zmq_msg_send` to give a pooled message to.
    PassedThroughNoMsgSend,
    /// A socket call made with no libzmq in the process (ENOTSOCK).
    NoLibzmq,
}

/// Every event, in slot order.
pub(crate) const EVENTS: [Event; 8] = [
    Event::MessageInline,
    Event::MessagePooled,
    Event::MessageUserData,
    Event::Send,
    Event::LibzmqMessage,
    Event::PassedThroughLayout,
    Event::PassedThroughNoMsgSend,
    Event::NoLibzmq,
];
const _: () = assert!(EVENTS.len() <= EVENT_SLOTS);

impl Event {
    /// The pool's slot that counts this event.
    #[inline(always)]
    pub(crate) const fn slot(self) -> EventSlot {
        EventSlot::new(self as usize)
    }
}

/// Counts `event` on the calling thread.
#[inline]
pub(crate) fn count(event: Event) {
    pool::count(event.slot());
}
