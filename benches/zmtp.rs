//! ZMTP encode and decode throughput against a plain memcpy of the same
//! bytes, measured in the same run (`make bench-zmtp`, or
//! `cargo bench --bench zmtp`).
//!
//! For each frame size a stream of frames (about 64 MiB of wire bytes,
//! at most 4 M frames) is
//! - decoded: copied chunk by chunk into the buffer `Decoder::buffer` names
//!   (standing in for `recv`), decoded, each message taken and closed;
//! - encoded: messages built beforehand (untimed, in cache-warm batches of
//!   about 256 KiB) are loaded and encoded, and closed by the encoder;
//! - copied: for decode, the same wire bytes memcpy'd chunk by chunk into
//!   a reused buffer of the decoder's chunk size; for encode, the same
//!   bodies memcpy'd out of the same warm messages into a batch buffer -
//!   the physical limit either way.
//!
//! Runs are interleaved, ROUNDS times; medians are reported. Ratios are
//! memcpy time / codec time: 1.0 is memcpy speed, above 1 is faster than
//! copying (zero copy).

use std::hint::black_box;
use std::time::Instant;

use zmqpool::zmtp::{Decoder, Encoder};
use zmqpool::Message;

const ROUNDS: usize = 7;
const WIRE_BYTES: usize = 64 << 20;
const CHUNK: usize = 8192;

fn wire_for(size: usize, frames: usize) -> Vec<u8> {
    let mut encoder = Encoder::new(0).unwrap();
    let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut wire = Vec::new();
    for _ in 0..frames {
        let mut m = Message::from_slice(&body).unwrap();
        encoder.load(&mut m).unwrap();
        loop {
            let bytes = encoder.encode();
            if bytes.is_empty() {
                break;
            }
            wire.extend_from_slice(bytes);
        }
    }
    wire
}

fn chunk_for(size: usize) -> usize {
    if size <= CHUNK {
        CHUNK
    } else {
        size + 9
    }
}

fn time_memcpy(wire: &[u8], size: usize) -> f64 {
    let chunk = chunk_for(size);
    let mut dst = vec![0u8; chunk];
    let start = Instant::now();
    for piece in wire.chunks(chunk) {
        dst[..piece.len()].copy_from_slice(piece);
        black_box(&mut dst);
    }
    start.elapsed().as_secs_f64()
}

fn time_decode(wire: &[u8], frames: usize) -> f64 {
    let mut decoder = Decoder::new(CHUNK, -1).unwrap();
    let mut out = Vec::with_capacity(CHUNK);
    let mut decoded = 0;
    let start = Instant::now();
    let mut at = 0;
    while at < wire.len() {
        let mut buffer = decoder.buffer().unwrap();
        let region = buffer.as_mut_slice();
        let n = region.len().min(wire.len() - at);
        region[..n].copy_from_slice(&wire[at..at + n]);
        at += n;
        buffer.commit(n, &mut out).unwrap();
        decoded += out.len();
        out.clear();
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(decoded, frames);
    elapsed
}

/// Encoding time, and the time to memcpy the same frames' bytes out of the
/// same (equally warm) messages into a batch buffer: the copy a copying
/// encoder cannot avoid.
fn time_encode(size: usize, frames: usize) -> (f64, f64) {
    let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut encoder = Encoder::new(CHUNK).unwrap();
    // Messages are built in batches of about 256 KiB outside the timed
    // part (cache-warm, as when an application builds and sends at once).
    let batch = frames.min(4096).min((256 << 10) / size.max(1)).max(1);
    let (mut total, mut copy_total) = (0.0, 0.0);
    let mut done = 0;
    let mut sent = 0usize;
    let mut messages: Vec<Message> = Vec::with_capacity(batch);
    let mut out = vec![0u8; CHUNK];
    while done < frames {
        let n = batch.min(frames - done);
        messages.clear();
        messages.extend((0..n).map(|_| Message::from_slice(&body).unwrap()));
        let start = Instant::now();
        let mut at = 0;
        for m in &messages {
            let mut bytes = m.as_slice();
            while !bytes.is_empty() {
                let k = bytes.len().min(CHUNK - at);
                out[at..at + k].copy_from_slice(&bytes[..k]);
                bytes = &bytes[k..];
                at = (at + k) % CHUNK;
            }
        }
        black_box(&mut out);
        copy_total += start.elapsed().as_secs_f64();
        let start = Instant::now();
        for m in &mut messages {
            encoder.load(m).unwrap();
            loop {
                let bytes = encoder.encode();
                if bytes.is_empty() {
                    break;
                }
                sent += black_box(bytes).len();
            }
        }
        total += start.elapsed().as_secs_f64();
        done += n;
    }
    black_box(sent);
    (total, copy_total)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects sizes.
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![8, 64, 1024, 65536, 1 << 20]
    } else {
        sizes
    };
    println!(
        "{:>8} {:>8} | {:>12} {:>8} {:>7} | {:>12} {:>8} {:>7} | {:>8}",
        "frame", "frames", "decode f/s", "GB/s", "x copy", "encode f/s", "GB/s", "x copy", "memcpy"
    );
    for size in sizes {
        let header = if size > 255 { 9 } else { 2 };
        let frames = (WIRE_BYTES / (size + header)).clamp(16, 4_000_000);
        let wire = wire_for(size, frames);
        let (mut copy, mut dec, mut enc, mut enc_copy) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            copy.push(time_memcpy(&wire, size));
            dec.push(time_decode(&wire, frames));
            let (e, c) = time_encode(size, frames);
            enc.push(e);
            enc_copy.push(c);
        }
        let (copy, dec, enc, enc_copy) = (median(copy), median(dec), median(enc), median(enc_copy));
        let gbs = |t: f64| wire.len() as f64 / t / 1e9;
        println!(
            "{:>8} {:>8} | {:>12.0} {:>8.2} {:>6.2}x | {:>12.0} {:>8.2} {:>6.2}x | {:>6.2} GB/s",
            size,
            frames,
            frames as f64 / dec,
            gbs(dec),
            copy / dec,
            frames as f64 / enc,
            gbs(enc),
            enc_copy / enc,
            gbs(copy)
        );
    }
    println!(
        "(medians of {ROUNDS} interleaved rounds; x copy = memcpy time / codec time; {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
