//! The decoder fuzz target's body, shared by the fuzz target
//! (`fuzz/fuzz_targets/decoder.rs`, `make fuzz`) and by the main crate's
//! tests (`tests/zmtp_fuzz_corpus.rs`: proptest, and a replay of the stored
//! corpus on every `cargo test`). It uses the public API only, so nothing
//! test-only ships in the library.
//!
//! Runs the decoder over `data` fed in slices of varying lengths, through
//! its own buffer and from outside, checking every invariant a malformed
//! stream could break. Returns the messages decoded before the end or an
//! error.

use zmqpool::zmtp::Decoder;

pub fn decode_any(data: &[u8]) -> usize {
    // The first two bytes choose the buffer size and the split pattern.
    let (config, stream) = data.split_at(data.len().min(2));
    let buf_size = 16 + usize::from(config.first().copied().unwrap_or(0)) * 64;
    let step = 1 + usize::from(config.get(1).copied().unwrap_or(0));
    let max = if step % 3 == 0 { 1 << 20 } else { -1 };
    let Ok(mut decoder) = Decoder::new(buf_size, max) else {
        return 0;
    };
    let mut messages = Vec::new();
    let mut at = 0;
    let mut turn = 0usize;
    while at < stream.len() {
        // Alternate between reading into the decoder's buffer (zero-copy
        // path) and handing it outside bytes (copy path).
        let want = (step * (turn % 5 + 1)).min(stream.len() - at);
        let result = if turn % 2 == 0 {
            let mut buffer = match decoder.buffer() {
                Ok(buffer) => buffer,
                Err(_) => return messages.len(),
            };
            let region = buffer.as_mut_slice();
            let n = want.min(region.len());
            region[..n].copy_from_slice(&stream[at..at + n]);
            at += n;
            buffer.commit(n, &mut messages)
        } else {
            let chunk = &stream[at..at + want];
            at += want;
            decoder.decode_slice(chunk, &mut messages)
        };
        turn += 1;
        if let Err(error) = result {
            let errno = error.errno.0;
            assert!(
                errno == libc::EPROTO || errno == libc::EMSGSIZE || errno == libc::ENOMEM,
                "unexpected errno {errno}"
            );
            break;
        }
    }
    // Every message is readable to its last byte, also after the decoder
    // is gone.
    drop(decoder);
    let mut sum = 0usize;
    for message in &messages {
        sum = sum.wrapping_add(
            message
                .as_slice()
                .iter()
                .map(|&b| b as usize)
                .sum::<usize>(),
        );
    }
    core::hint::black_box(sum);
    messages.len()
}
