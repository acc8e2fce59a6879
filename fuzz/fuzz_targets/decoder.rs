//! Any byte stream, fed to the decoder in any pattern of pieces through its
//! own buffer and from outside, decodes or fails with EPROTO/EMSGSIZE:
//! never a crash, an out-of-bounds access (AddressSanitizer) or a leak
//! (LeakSanitizer). The body is `zmqpool::zmtp::fuzz_decode`, which the
//! main crate's tests also replay over the stored corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zmqpool::zmtp::fuzz_decode(data);
});
