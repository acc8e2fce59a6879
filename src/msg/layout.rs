//! The 64-byte message, byte for byte as libzmq >= 4.3.3 lays out `msg_t`.
//!
//! libzmq's `msg_t` is a union of per-kind structs that all end in the same
//! tail (type, flags, routing id, group). Rust cannot express a union whose
//! members share a trailing layout without padding the 33-byte inline buffer,
//! so the message is one struct whose 33-byte payload is split where the
//! kinds keep a pointer (its first 8 bytes, pointer-typed, so a pointer kept
//! there survives copies of the message with its provenance) and the rest,
//! and each kind reads what it keeps there through typed accessors:
//!
//! ```text
//!  offset  0        8                                   41    42   43    44        48              64
//!         +--------+-----------------------------------+-----+----+-----+---------+----------------+
//!  vsm    |metadata| inline data (33 bytes)            |size |type|flags|routing  | group          |
//!  lmsg   |metadata| *content | unused                 |     |    |     | id (u32)| type | short or |
//!  zclmsg |metadata| *content | unused                 |     |    |     |         |  u8  | @56 *long|
//!  cmsg   |metadata| *data    | size (usize) | unused  |     |    |     |         |      |          |
//!         +--------+-----------------------------------+-----+----+-----+---------+----------------+
//! ```
//!
//! `content` points at a 40-byte [`Content`] block shared by every copy of the
//! message; `metadata` is a libzmq C++ object only libzmq may touch.

use core::ffi::c_void;
use core::mem::{align_of, offset_of, size_of};
use core::sync::atomic::AtomicU32;

/// Size of `zmq_msg_t`.
pub const MSG_SIZE: usize = 64;
/// Largest body stored inline (libzmq's `max_vsm_size`).
pub const MAX_VSM_SIZE: usize = 33;
/// Longest group name (`ZMQ_GROUP_MAX_LENGTH`).
pub const GROUP_MAX_LENGTH: usize = 255;
/// Longest group name kept inside the message; longer ones go to a [`LongGroup`].
pub const SHORT_GROUP_MAX_LENGTH: usize = 14;

/// libzmq's `msg_t::type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Very small message: the body lives inside the 64 bytes.
    Vsm = 101,
    /// Large message: `content` was allocated with C `malloc` (libzmq's own).
    Lmsg = 102,
    /// Pipe delimiter (libzmq internal, never carries data).
    Delimiter = 103,
    /// Constant message: points at caller memory that is never freed.
    Cmsg = 104,
    /// Zero-copy large message: `content` is released by `content.ffn`.
    Zclmsg = 105,
    /// RADIO/DISH join command.
    Join = 106,
    /// RADIO/DISH leave command.
    Leave = 107,
}

impl Kind {
    /// Decodes a type byte; `None` for anything libzmq's `check()` rejects.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            101 => Kind::Vsm,
            102 => Kind::Lmsg,
            103 => Kind::Delimiter,
            104 => Kind::Cmsg,
            105 => Kind::Zclmsg,
            106 => Kind::Join,
            107 => Kind::Leave,
            _ => return None,
        })
    }
}

/// Message flag bits (libzmq's `msg_t` flag enum).
pub mod flags {
    /// Another part of the same message follows.
    pub const MORE: u8 = 1;
    /// ZMTP command frame.
    pub const COMMAND: u8 = 2;
    /// Carries credentials (ZAP).
    pub const CREDENTIAL: u8 = 32;
    /// Carries a routing id.
    pub const ROUTING_ID: u8 = 64;
    /// `content` is shared: its reference count is live.
    pub const SHARED: u8 = 128;
}

/// Group storage kinds (libzmq's `group_type_t`).
pub const GROUP_TYPE_SHORT: u8 = 0;
/// See [`GROUP_TYPE_SHORT`].
pub const GROUP_TYPE_LONG: u8 = 1;

/// A content release function, `zmq_free_fn`.
pub type FreeFn = unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void);

/// libzmq's `msg_t::content_t`: the block behind lmsg and zclmsg messages.
#[repr(C)]
pub struct Content {
    pub data: *mut c_void,
    pub size: usize,
    pub ffn: Option<FreeFn>,
    pub hint: *mut c_void,
    pub refcnt: AtomicU32,
}

/// libzmq's `msg_t::long_group_t`; always allocated with C `malloc`, since
/// libzmq frees it with `free()` when it drops the last reference.
#[repr(C)]
pub struct LongGroup {
    pub group: [u8; GROUP_MAX_LENGTH + 1],
    pub refcnt: AtomicU32,
}

/// libzmq's `group_t`: a type byte, then a NUL-terminated short name of up
/// to 14 characters (15 bytes), or (at byte 8) a pointer to a
/// [`LongGroup`]. The last 8 bytes are pointer-typed for the same reason
/// as the message's payload head.
#[repr(C)]
pub struct Group {
    pub kind: u8,
    head: [u8; 7],
    tail: *mut LongGroup,
}

/// Bytes of a short group name, its terminating NUL included.
const SHORT_NAME_BYTES: usize = 15;

impl Group {
    /// An empty short group.
    pub const EMPTY: Group = Group {
        kind: GROUP_TYPE_SHORT,
        head: [0; 7],
        tail: core::ptr::null_mut(),
    };

    /// The short name's bytes (15, NUL-terminated).
    pub fn short_name(&self) -> &[u8; SHORT_NAME_BYTES] {
        // SAFETY: head and tail are 15 contiguous, initialised bytes after
        // the type byte (repr(C), asserted below); the pointer comes from
        // the whole struct, so it may cover both.
        unsafe { &*((self as *const Group as *const u8).add(1) as *const [u8; SHORT_NAME_BYTES]) }
    }

    /// Makes the group the short name `name`: its first 14 bytes at most
    /// ([`SHORT_GROUP_MAX_LENGTH`]), so the name always ends in a NUL
    /// inside the message (`zmq_msg_group` returns it as a C string).
    pub fn set_short(&mut self, name: &[u8]) {
        let name = &name[..name.len().min(SHORT_GROUP_MAX_LENGTH)];
        self.kind = GROUP_TYPE_SHORT;
        // SAFETY: as in short_name, for writing: `&mut self` is exclusive.
        let bytes = unsafe {
            &mut *((self as *mut Group as *mut u8).add(1) as *mut [u8; SHORT_NAME_BYTES])
        };
        *bytes = [0; SHORT_NAME_BYTES];
        bytes[..name.len()].copy_from_slice(name);
    }

    /// Empties the short name (what libzmq's inits do: a NUL first byte).
    pub fn clear_short(&mut self) {
        self.kind = GROUP_TYPE_SHORT;
        self.head[0] = 0;
    }
}

/// The message itself, layout-identical to libzmq's `msg_t`.
#[repr(C, align(8))]
pub struct Msg {
    pub metadata: *mut c_void,
    /// Payload bytes 0..8: the content or cmsg data pointer, or inline body.
    payload_head: *mut c_void,
    /// Payload bytes 8..33: the cmsg size, or inline body.
    payload_rest: [u8; MAX_VSM_SIZE - 8],
    pub vsm_size: u8,
    pub kind: u8,
    pub flags: u8,
    pub routing_id: u32,
    pub group: Group,
}

// Layout facts libzmq's bytes depend on; checked against a real libzmq by
// c_tests/test_layout.c as well.
const _: () = assert!(size_of::<Msg>() == MSG_SIZE);
const _: () = assert!(align_of::<Msg>() == align_of::<*mut c_void>());
const _: () = assert!(offset_of!(Msg, metadata) == 0);
const _: () = assert!(offset_of!(Msg, payload_head) == 8);
const _: () = assert!(offset_of!(Msg, payload_rest) == 16);
const _: () = assert!(offset_of!(Group, head) == 1);
const _: () = assert!(offset_of!(Group, tail) == 8);
const _: () = assert!(offset_of!(Msg, vsm_size) == 41);
const _: () = assert!(offset_of!(Msg, kind) == 42);
const _: () = assert!(offset_of!(Msg, flags) == 43);
const _: () = assert!(offset_of!(Msg, routing_id) == 44);
const _: () = assert!(offset_of!(Msg, group) == 48);
const _: () = assert!(size_of::<Group>() == 16);
const _: () = assert!(size_of::<Content>() == 40);
const _: () = assert!(offset_of!(Content, data) == 0);
const _: () = assert!(offset_of!(Content, size) == 8);
const _: () = assert!(offset_of!(Content, ffn) == 16);
const _: () = assert!(offset_of!(Content, hint) == 24);
const _: () = assert!(offset_of!(Content, refcnt) == 32);
const _: () = assert!(offset_of!(LongGroup, refcnt) == 256);
const _: () = assert!(size_of::<LongGroup>() == 260);

/// Byte offsets in the message, for reads that cannot assume alignment.
pub(crate) const PAYLOAD_AT: usize = 8;
pub(crate) const KIND_AT: usize = 42;
pub(crate) const GROUP_AT: usize = 48;
/// Offset of the inline body's length byte.
pub(crate) const VSM_SIZE_AT: usize = 41;
/// Offset of the flags byte.
pub(crate) const FLAGS_AT: usize = 43;
/// Offsets inside a content block: size, reference count; and where the
/// body of a large libzmq message (lmsg) starts after its content block.
pub(crate) const CONTENT_SIZE_AT: usize = 8;
pub(crate) const CONTENT_FFN_AT: usize = 16;
pub(crate) const CONTENT_REFCNT_AT: usize = 32;
pub(crate) const LMSG_BODY_AT: usize = 40;
const _: () = assert!(offset_of!(Msg, vsm_size) == VSM_SIZE_AT);
const _: () = assert!(offset_of!(Msg, flags) == FLAGS_AT);
const _: () = assert!(offset_of!(Content, size) == CONTENT_SIZE_AT);
const _: () = assert!(offset_of!(Content, ffn) == CONTENT_FFN_AT);
const _: () = assert!(offset_of!(Content, refcnt) == CONTENT_REFCNT_AT);
const _: () = assert!(size_of::<Content>() == LMSG_BODY_AT);
pub(crate) const LONG_GROUP_AT: usize = 56;
const _: () = assert!(offset_of!(Msg, payload_head) == PAYLOAD_AT);
const _: () = assert!(offset_of!(Msg, kind) == KIND_AT);
const _: () = assert!(offset_of!(Msg, group) == GROUP_AT);
const _: () = assert!(GROUP_AT + offset_of!(Group, tail) == LONG_GROUP_AT);

impl Msg {
    /// The empty message `zmq_msg_init` makes.
    pub const EMPTY: Msg = Msg {
        metadata: core::ptr::null_mut(),
        payload_head: core::ptr::null_mut(),
        payload_rest: [0; MAX_VSM_SIZE - 8],
        vsm_size: 0,
        kind: Kind::Vsm as u8,
        flags: 0,
        routing_id: 0,
        group: Group::EMPTY,
    };

    /// The content-block pointer of an lmsg/zclmsg (payload bytes 0..8).
    pub fn content(&self) -> *mut Content {
        self.payload_head as *mut Content
    }

    pub fn set_content(&mut self, content: *mut Content) {
        self.payload_head = content as *mut c_void;
    }

    /// The data pointer of a cmsg (payload bytes 0..8).
    pub fn cmsg_data(&self) -> *mut c_void {
        self.payload_head
    }

    /// The size of a cmsg (payload bytes 8..16).
    pub fn cmsg_size(&self) -> usize {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.payload_rest[..8]);
        usize::from_ne_bytes(word)
    }

    pub fn set_cmsg(&mut self, data: *mut c_void, size: usize) {
        self.payload_head = data;
        self.payload_rest[..8].copy_from_slice(&size.to_ne_bytes());
    }

    /// The inline body of a vsm (all 33 payload bytes), writable.
    pub fn inline_mut(&mut self) -> &mut [u8; MAX_VSM_SIZE] {
        // SAFETY: payload_head and payload_rest are 33 contiguous,
        // initialised bytes (repr(C), asserted above); the pointer comes
        // from the whole message, and `&mut self` is exclusive.
        unsafe { &mut *((self as *mut Msg as *mut u8).add(PAYLOAD_AT) as *mut [u8; MAX_VSM_SIZE]) }
    }

    /// The [`LongGroup`] pointer (message bytes 56..64).
    pub fn long_group(&self) -> *mut LongGroup {
        self.group.tail
    }

    pub fn set_long_group(&mut self, group: *mut LongGroup) {
        self.group.kind = GROUP_TYPE_LONG;
        self.group.tail = group;
    }
}
