//! The decoder fuzz target's body (`fuzz/decode_any.rs`) over arbitrary
//! bytes and over the stored corpus: what `make fuzz` found stays fixed,
//! and the check runs on every `cargo test` (CI too).

#[path = "../fuzz/decode_any.rs"]
mod decode_any;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary bytes never crash, leak or read out of bounds: they decode
    /// or fail with EPROTO/EMSGSIZE/ENOMEM.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        decode_any::decode_any(&data);
    }
}

#[test]
fn fuzz_corpus_replays_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decoder");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        decode_any::decode_any(&data);
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}
