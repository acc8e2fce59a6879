use proptest::prelude::*;

use super::*;
use crate::msg::layout::{flags, Kind};
use crate::msg::{Errno, Message};

fn message(body: &[u8], more: bool, command: bool) -> Message {
    let mut m = Message::from_slice(body).unwrap();
    // SAFETY: a live message; only the flags byte changes.
    unsafe {
        let raw = &mut *m.as_raw_mut();
        if more {
            raw.flags |= flags::MORE;
        }
        if command {
            raw.flags |= flags::COMMAND;
        }
    }
    m
}

fn flags_of(m: &mut Message) -> u8 {
    // SAFETY: reading the flags byte of a live message.
    unsafe { (*m.as_raw_mut()).flags & (flags::MORE | flags::COMMAND) }
}

fn encode(messages: Vec<(Vec<u8>, bool, bool)>, batch: usize) -> Vec<u8> {
    let mut encoder = Encoder::new(batch).unwrap();
    let mut out = Vec::new();
    let mut loaded: Vec<Message> = messages
        .iter()
        .map(|(body, more, command)| message(body, *more, *command))
        .collect();
    encoder.encode_all(&mut loaded, &mut out).unwrap();
    assert!(
        loaded.iter().all(|m| m.is_empty()),
        "load leaves messages empty"
    );
    out
}

#[test]
fn frame_headers_are_libzmqs_bytes() {
    assert_eq!(encode(vec![(vec![], false, false)], 0), [0, 0]);
    assert_eq!(encode(vec![(vec![7], true, false)], 0), [1, 1, 7]);
    let body = vec![9u8; 255];
    let wire = encode(vec![(body.clone(), false, true)], 0);
    assert_eq!(&wire[..2], &[4, 255]);
    assert_eq!(&wire[2..], &body[..]);
    let body = vec![3u8; 256];
    let wire = encode(vec![(body.clone(), true, false)], 0);
    assert_eq!(&wire[..9], &[3, 0, 0, 0, 0, 0, 0, 1, 0]);
    assert_eq!(&wire[9..], &body[..]);
}

/// Feeds `wire` to a decoder in pieces of the given sizes (cycled),
/// alternating between its own buffer and outside slices.
fn decode(wire: &[u8], pieces: &[usize], buf_size: usize) -> Result<Vec<Message>, Errno> {
    let mut decoder = Decoder::new(buf_size, -1)?;
    let mut out = Vec::new();
    let mut at = 0;
    let mut turn = 0;
    while at < wire.len() {
        let want = pieces[turn % pieces.len()].max(1).min(wire.len() - at);
        if turn % 2 == 0 {
            let mut buffer = decoder.buffer()?;
            let region = buffer.as_mut_slice();
            let n = want.min(region.len());
            region[..n].copy_from_slice(&wire[at..at + n]);
            at += n;
            buffer.commit(n, &mut out).map_err(|e| e.errno)?;
        } else {
            decoder
                .decode_slice(&wire[at..at + want], &mut out)
                .map_err(|e| e.errno)?;
            at += want;
        }
        turn += 1;
    }
    Ok(out)
}

/// Writes `bytes` into the decoder's buffer and commits them.
fn feed(decoder: &mut Decoder, bytes: &[u8], out: &mut Vec<Message>) -> Result<(), DecodeError> {
    let mut buffer = decoder
        .buffer()
        .map_err(|errno| DecodeError { errno, consumed: 0 })?;
    buffer.as_mut_slice()[..bytes.len()].copy_from_slice(bytes);
    buffer.commit(bytes.len(), out)
}

/// The start of the decoder's next buffer.
fn next_buffer(decoder: &mut Decoder) -> *const u8 {
    decoder.buffer().unwrap().as_mut_slice().as_ptr()
}

fn frames() -> impl Strategy<Value = Vec<(Vec<u8>, bool, bool)>> {
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 200..300),
        proptest::collection::vec(any::<u8>(), 8000..9000),
        proptest::collection::vec(any::<u8>(), 30000..70000),
    ];
    proptest::collection::vec((body, any::<bool>(), any::<bool>()), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Encode then decode, at any batch size and any split of the stream:
    /// the same bodies and flags, in order.
    #[test]
    fn any_messages_at_any_split_round_trip(
        messages in frames(),
        batch in prop_oneof![Just(0usize), 1usize..100, 4000usize..9000],
        buf_size in prop_oneof![Just(0usize), 64usize..300, 8192usize..20000],
        pieces in proptest::collection::vec(1usize..20000, 1..6),
    ) {
        let wire = encode(messages.clone(), batch);
        let mut decoded = decode(&wire, &pieces, buf_size).unwrap();
        prop_assert_eq!(decoded.len(), messages.len());
        for (m, (body, more, command)) in decoded.iter_mut().zip(&messages) {
            prop_assert_eq!(m.as_slice(), &body[..]);
            let mut expected = 0;
            if *more { expected |= flags::MORE; }
            if *command { expected |= flags::COMMAND; }
            prop_assert_eq!(flags_of(m), expected);
        }
    }
}

#[test]
fn frames_in_the_buffer_are_zero_copy_and_outlive_the_decoder() {
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; 34 + i * 10]).collect();
    let wire = encode(
        bodies.iter().map(|b| (b.clone(), false, false)).collect(),
        0,
    );
    let mut decoder = Decoder::new(0, -1).unwrap();
    let mut buffer = decoder.buffer().unwrap();
    let slice = buffer.as_mut_slice();
    let region = slice.as_ptr() as usize..slice.as_ptr() as usize + slice.len();
    slice[..wire.len()].copy_from_slice(&wire);
    let mut out = Vec::new();
    buffer.commit(wire.len(), &mut out).unwrap();
    assert_eq!(out.len(), bodies.len());
    for (m, body) in out.iter_mut().zip(&bodies) {
        assert!(
            region.contains(&(m.as_slice().as_ptr() as usize)),
            "zero copy"
        );
        // SAFETY: reading the type byte of a live message.
        let kind = unsafe { (*m.as_raw_mut()).kind };
        assert_eq!(kind, Kind::Zclmsg as u8);
        assert_eq!(m.as_slice(), &body[..]);
    }
    // A copy shares the body; both stay valid after the decoder is gone,
    // and the last references are closed on other threads.
    let copies: Vec<Message> = out.iter().map(Message::clone).collect();
    drop(decoder);
    let handles: Vec<_> = out
        .into_iter()
        .zip(bodies.clone())
        .map(|(m, body)| std::thread::spawn(move || assert_eq!(m.as_slice(), &body[..])))
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    for (m, body) in copies.iter().zip(&bodies) {
        assert_eq!(m.as_slice(), &body[..]);
    }
    std::thread::spawn(move || drop(copies)).join().unwrap();
}

#[test]
fn the_buffer_is_reused_once_its_messages_are_closed() {
    let wire = encode(vec![(vec![5u8; 100], false, false)], 0);
    let mut decoder = Decoder::new(0, -1).unwrap();
    let first = next_buffer(&mut decoder);
    let mut out = Vec::new();
    feed(&mut decoder, &wire, &mut out).unwrap();
    // A message still refers to the buffer: the next one is new.
    let second = next_buffer(&mut decoder);
    assert_ne!(first, second);
    out.clear();
    // Nothing refers to `second` now: it is handed out again.
    assert_eq!(next_buffer(&mut decoder), second);
}

#[test]
fn large_bodies_are_read_straight_into_the_message() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let wire = encode(vec![(body.clone(), false, false)], 0);
    let mut decoder = Decoder::new(1024, -1).unwrap();
    let mut out = Vec::new();
    // Header and the start of the body through the buffer...
    feed(&mut decoder, &wire[..1024], &mut out).unwrap();
    // ...then the buffer is the body itself, sized to what is left.
    let mut direct = decoder.buffer().unwrap();
    assert_eq!(direct.as_mut_slice().len(), wire.len() - 1024);
    direct.as_mut_slice().copy_from_slice(&wire[1024..]);
    direct.commit(wire.len() - 1024, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].as_slice(), &body[..]);
}

#[test]
fn malformed_frames_fail_with_eproto_and_stay_failed() {
    for flags_byte in [8u8, 0x10, 0x80, 0xFF] {
        let mut decoder = Decoder::new(0, -1).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            decoder
                .decode_slice(&[flags_byte, 0], &mut out)
                .map_err(|e| e.errno),
            Err(Errno(libc::EPROTO))
        );
        assert_eq!(
            decoder.decode_slice(&[0, 0], &mut out).map_err(|e| e.errno),
            Err(Errno(libc::EPROTO))
        );
        assert!(out.is_empty());
    }
}

#[test]
fn oversized_frames_fail_with_emsgsize() {
    let mut decoder = Decoder::new(0, 100).unwrap();
    let mut out = Vec::new();
    decoder
        .decode_slice(&encode(vec![(vec![1; 100], false, false)], 0), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    let wire = encode(vec![(vec![1; 101], false, false)], 0);
    assert_eq!(
        decoder.decode_slice(&wire, &mut out).map_err(|e| e.errno),
        Err(Errno(libc::EMSGSIZE))
    );
    // A size no machine can hold, without a limit.
    let mut decoder = Decoder::new(0, -1).unwrap();
    let huge = [2u8, 0xFF, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        decoder.decode_slice(&huge, &mut out).map_err(|e| e.errno),
        Err(Errno(libc::EMSGSIZE))
    );
}

#[test]
fn a_ready_message_must_be_taken_before_more_is_decoded() {
    let wire = encode(vec![(vec![1], false, false), (vec![2], false, false)], 0);
    let mut decoder = Decoder::new(0, -1).unwrap();
    // SAFETY: the slice is readable for its length.
    let (used, ready) = unsafe { decoder.decode(wire.as_ptr(), wire.len()) };
    assert_eq!(ready, Ok(true));
    assert_eq!(used, 3);
    // SAFETY: as above.
    let again = unsafe { decoder.decode(wire[used..].as_ptr(), wire.len() - used) };
    assert_eq!(again, (0, Err(Errno(libc::EAGAIN))));
    let mut first = decoder.take().unwrap();
    // SAFETY: a live message from the decoder.
    unsafe { crate::msg::close(&mut first) }.unwrap();
    // SAFETY: as above.
    let (_, ready) = unsafe { decoder.decode(wire[used..].as_ptr(), wire.len() - used) };
    assert_eq!(ready, Ok(true));
}

#[test]
fn large_bodies_are_encoded_zero_copy() {
    let body = vec![42u8; 100_000];
    let mut m = Message::from_slice(&body).unwrap();
    let body_at = m.as_slice().as_ptr();
    let mut encoder = Encoder::new(8192).unwrap();
    encoder.load(&mut m).unwrap();
    // Header and the first part through the batch...
    let first = encoder.encode().len();
    assert_eq!(first, 8192);
    // ...the rest straight out of the body.
    let rest = encoder.encode();
    assert_eq!(rest.as_ptr(), body_at.wrapping_add(8192 - 9));
    assert_eq!(rest.len(), 100_000 - (8192 - 9));
    assert!(encoder.encode().is_empty());
}

#[test]
fn loading_while_busy_is_eagain() {
    let mut encoder = Encoder::new(16).unwrap();
    let mut a = Message::from_slice(&[1; 100]).unwrap();
    let mut b = Message::from_slice(&[2; 10]).unwrap();
    encoder.load(&mut a).unwrap();
    assert_eq!(encoder.encode().len(), 16);
    assert_eq!(encoder.load(&mut b), Err(Errno(libc::EAGAIN)));
    assert_eq!(b.as_slice(), &[2; 10]);
    // Dropping the encoder mid-message closes it.
}

#[test]
fn a_commit_that_runs_out_of_memory_keeps_the_rest_for_resume() {
    let mut decoder = Decoder::new(256, -1).unwrap();
    let mut out = Vec::new();
    // An inline frame (no allocation), then a long frame of 1000 bytes
    // (its message must be allocated) and the first 100 bytes of its body.
    let mut wire = vec![0u8, 5, b'h', b'e', b'l', b'l', b'o'];
    wire.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 0, 0x03, 0xE8]);
    wire.extend(std::iter::repeat_n(7u8, 100));
    let mut buffer = decoder.buffer().unwrap();
    buffer.as_mut_slice()[..wire.len()].copy_from_slice(&wire);
    crate::pool::test_faults::failing(true);
    let error = buffer.commit(wire.len(), &mut out).unwrap_err();
    crate::pool::test_faults::failing(false);
    assert_eq!(error.errno, Errno(libc::ENOMEM));
    assert_eq!(error.consumed, 7 + 9);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].as_slice(), b"hello");
    // The rest waits inside the decoder; its buffer is not handed out
    // again (that would overwrite it) until resume decoded it.
    assert_eq!(decoder.pending(), 100);
    assert_eq!(decoder.buffer().err(), Some(Errno(libc::EAGAIN)));
    crate::pool::test_faults::failing(true);
    assert_eq!(
        decoder.resume(&mut out).unwrap_err().errno,
        Errno(libc::ENOMEM)
    );
    crate::pool::test_faults::failing(false);
    assert_eq!(decoder.pending(), 100);
    decoder.resume(&mut out).unwrap();
    assert_eq!(decoder.pending(), 0);
    feed(&mut decoder, &[7u8; 200], &mut out).unwrap();
    let rest = vec![7u8; 700];
    for piece in rest.chunks(256) {
        feed(&mut decoder, piece, &mut out).unwrap();
    }
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].as_slice(), &[7u8; 1000][..]);
}

#[test]
fn read_buffers_are_initialised_or_explicitly_not() {
    let mut decoder = Decoder::new(256, -1).unwrap();
    let mut out = Vec::new();
    // A fresh buffer reads as zeros (never uninitialised memory).
    let mut buffer = decoder.buffer().unwrap();
    assert!(buffer.as_mut_slice().iter().all(|&b| b == 0));
    buffer.commit(0, &mut out).unwrap();
    // A large body read in place: zeroed too, past what was written.
    feed(
        &mut decoder,
        &[0x02, 0, 0, 0, 0, 0, 0, 0x04, 0x00],
        &mut out,
    )
    .unwrap();
    let mut buffer = decoder.buffer().unwrap();
    assert_eq!(buffer.as_mut_slice().len(), 1024);
    assert!(buffer.as_mut_slice().iter().all(|&b| b == 0));
    buffer.as_mut_slice()[..10].fill(9);
    buffer.commit(10, &mut out).unwrap();
    let mut buffer = decoder.buffer().unwrap();
    assert_eq!(buffer.as_mut_slice().len(), 1014);
    // Raw memory for readers that fill it: then only commit_written.
    let region = buffer.as_uninit_slice();
    for byte in region.iter_mut() {
        byte.write(9);
    }
    let len = region.len();
    assert_eq!(
        buffer.commit(len, &mut out).unwrap_err().errno,
        Errno(libc::EINVAL)
    );
    let mut buffer = decoder.buffer().unwrap();
    let region = buffer.as_uninit_slice();
    for byte in region.iter_mut() {
        byte.write(9);
    }
    let len = region.len();
    // SAFETY: every byte of the region was written just above.
    unsafe { buffer.commit_written(len, &mut out) }.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].as_slice(), &[9u8; 1024][..]);
}

/// Bytes handed out as `MaybeUninit` may have been left uninitialised by
/// the caller: the next `as_mut_slice` over that memory zeroes it again
/// instead of trusting what the decoder recorded before (the caller here
/// writes 0xAA, which a stale record would hand back as initialised).
#[test]
fn memory_exposed_uninitialised_is_zeroed_before_it_is_read() {
    let mut decoder = Decoder::new(256, -1).unwrap();
    let mut out = Vec::new();
    // The slot buffer: initialised once, then exposed raw.
    let mut buffer = decoder.buffer().unwrap();
    assert!(buffer.as_mut_slice().iter().all(|&b| b == 0));
    for byte in buffer.as_uninit_slice() {
        byte.write(0xAA);
    }
    // The guard ends here (its last use), nothing committed.
    let mut buffer = decoder.buffer().unwrap();
    assert!(
        buffer.as_mut_slice().iter().all(|&b| b == 0),
        "the slot buffer was handed out as initialised after a raw exposure"
    );
    buffer.commit(0, &mut out).unwrap();
    // The rest of a large body read in place: the same.
    feed(
        &mut decoder,
        &[0x02, 0, 0, 0, 0, 0, 0, 0x04, 0x00],
        &mut out,
    )
    .unwrap();
    let mut buffer = decoder.buffer().unwrap();
    assert_eq!(buffer.as_mut_slice().len(), 1024);
    for byte in buffer.as_uninit_slice() {
        byte.write(0xAA);
    }
    // The guard ends here (its last use), nothing committed.
    let mut buffer = decoder.buffer().unwrap();
    assert!(
        buffer.as_mut_slice().iter().all(|&b| b == 0),
        "the body was handed out as initialised after a raw exposure"
    );
}

/// Under Miri: bytes really left uninitialised through `as_uninit_slice`
/// are never read as `u8` afterwards (Miri reports such a read as UB).
#[test]
fn uninitialised_writes_are_never_read_back() {
    let mut decoder = Decoder::new(64, -1).unwrap();
    let mut buffer = decoder.buffer().unwrap();
    buffer.as_mut_slice();
    for byte in buffer.as_uninit_slice() {
        *byte = core::mem::MaybeUninit::uninit();
    }
    // The guard ends here (its last use), nothing committed.
    let mut buffer = decoder.buffer().unwrap();
    let sum: u32 = buffer.as_mut_slice().iter().map(|&b| u32::from(b)).sum();
    assert_eq!(sum, 0);
}

/// `decode_slice` over the body of a zero-copy message from the decoder's
/// own buffer (a body that is itself a frame) copies: the new message does
/// not alias the old one, so writing through it leaves the old one intact.
#[test]
fn decoding_a_slice_of_the_decoders_own_buffer_copies() {
    let inner = encode(vec![(vec![7u8; 40], false, false)], 0);
    assert_eq!(inner.len(), 42);
    let outer = encode(vec![(inner.clone(), false, false)], 0);
    let mut decoder = Decoder::new(0, -1).unwrap();
    let mut out = Vec::new();
    feed(&mut decoder, &outer, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    let first = out.pop().unwrap();
    assert_eq!(first.as_slice(), &inner[..]);
    let mut again = Vec::new();
    decoder.decode_slice(first.as_slice(), &mut again).unwrap();
    assert_eq!(again.len(), 1);
    let mut second = again.pop().unwrap();
    let body = first.as_slice().as_ptr_range();
    assert!(
        !body.contains(&second.as_slice().as_ptr()),
        "a message made by decode_slice points into another message's body"
    );
    second.as_mut_slice().expect("exclusive").fill(1);
    assert_eq!(
        first.as_slice(),
        &inner[..],
        "writing one message changed another"
    );
}
