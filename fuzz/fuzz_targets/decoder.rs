//! Any byte stream, fed to the decoder in any pattern of pieces through its
//! own buffer and from outside, decodes or fails with EPROTO/EMSGSIZE/ENOMEM:
//! never a crash, an out-of-bounds access (AddressSanitizer) or a leak
//! (LeakSanitizer). The body is `fuzz/decode_any.rs`, which the main
//! crate's tests also replay over the stored corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../decode_any.rs"]
mod decode_any;

fuzz_target!(|data: &[u8]| {
    decode_any::decode_any(data);
});
