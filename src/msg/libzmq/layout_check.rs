//! The layout check: a libzmq's version, then messages it makes with its
//! own functions, compared byte by byte with the layout zmqpool reads and
//! writes (`msg/layout.rs`).

use core::ffi::c_void;

use super::symbols::{version, RealLibzmq};
use crate::msg::layout::{self, flags, Kind, MAX_VSM_SIZE};

/// Why a libzmq's messages are not zmqpool's layout (no allocation: a
/// static reason and, where it helps, the number measured).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) struct Mismatch {
    reason: &'static str,
    body_offset: Option<isize>,
}

impl Mismatch {
    #[cfg_attr(not(feature = "capi"), allow(dead_code))]
    const fn because(reason: &'static str) -> Mismatch {
        Mismatch {
            reason,
            body_offset: None,
        }
    }
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.body_offset {
            Some(offset) => write!(
                f,
                "the body of a large message is {offset} bytes after its content block, not {}",
                layout::LMSG_BODY_AT
            ),
            None => f.write_str(self.reason),
        }
    }
}

/// A 64-byte message buffer, aligned as `zmq_msg_t`.
#[repr(C, align(8))]
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
struct RawMsg([u8; 64]);

impl RawMsg {
    #[cfg_attr(not(feature = "capi"), allow(dead_code))]
    fn ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr() as *mut c_void
    }

    fn word(&self, offset: usize) -> usize {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.0[offset..offset + 8]);
        usize::from_ne_bytes(bytes)
    }
}

/// Checks a libzmq's version, then makes messages with its own functions
/// and compares their bytes with the layout zmqpool reads and writes (see
/// `layout.rs`).
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(super) fn check_layout(real: &RealLibzmq) -> Result<(), Mismatch> {
    if version(real) < (4, 3, 3) {
        return Err(Mismatch::because(
            "a version before 4.3.3, whose group field is a 16-byte name",
        ));
    }
    const LARGE: usize = 100;
    let mut large = RawMsg([0; 64]);
    let mut copy = RawMsg([0; 64]);
    let mut small = RawMsg([0; 64]);
    // SAFETY: libzmq's functions on 64-byte, 8-aligned buffers, each message
    // initialised before use and closed once below; the content block is
    // read only after init_size gave the message one.
    unsafe {
        if (real.init_size)(large.ptr(), LARGE) != 0 {
            return Err(Mismatch::because("zmq_msg_init_size failed"));
        }
        let data = (real.data)(large.ptr()) as usize;
        let content = large.word(layout::PAYLOAD_AT);
        let mut verdict = Ok(());
        if large.0[layout::KIND_AT] != Kind::Lmsg as u8 {
            verdict = Err(Mismatch::because(
                "an unexpected type byte for a large message",
            ));
        } else if content == 0 || data != content + layout::LMSG_BODY_AT {
            verdict = Err(Mismatch {
                reason: "",
                body_offset: Some(data.wrapping_sub(content) as isize),
            });
        } else if ((content + layout::CONTENT_SIZE_AT) as *const usize).read() != LARGE
            || ((content + layout::CONTENT_FFN_AT) as *const usize).read() != 0
        {
            verdict = Err(Mismatch::because(
                "content block fields are not where zmqpool expects them",
            ));
        }
        if verdict.is_ok() {
            (real.init)(copy.ptr());
            if (real.copy)(copy.ptr(), large.ptr()) != 0
                || large.0[layout::FLAGS_AT] & flags::SHARED == 0
                || ((content + layout::CONTENT_REFCNT_AT) as *const u32).read() != 2
            {
                verdict = Err(Mismatch::because(
                    "a shared copy does not count references where zmqpool does",
                ));
            }
            (real.close)(copy.ptr());
        }
        (real.close)(large.ptr());
        if verdict.is_ok() {
            let size = MAX_VSM_SIZE - 13;
            (real.init_size)(small.ptr(), size);
            if small.0[layout::KIND_AT] != Kind::Vsm as u8
                || usize::from(small.0[layout::VSM_SIZE_AT]) != size
                || (real.data)(small.ptr()) as usize != small.ptr() as usize + layout::PAYLOAD_AT
            {
                verdict = Err(Mismatch::because(
                    "small messages are not stored where zmqpool expects",
                ));
            }
            (real.close)(small.ptr());
        }
        verdict
    }
}
