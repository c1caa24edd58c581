//! Entry points for the fuzz targets (`fuzz/`, built by cargo-fuzz with `--cfg fuzzing`) and
//! for the proptests below, which check the same properties on stable with a bounded number
//! of cases. Not part of the API: compiled only for tests and under `cfg(fuzzing)`.
//!
//! # The properties
//!
//! Whatever bytes arrive, on either side of the wire:
//! 1. nothing panics;
//! 2. nothing allocates without bound: a decoder holds at most a large frame's payload (up to
//!    [`MAX_FRAME`], announced by its header) beyond twice the bytes given and one read; a
//!    `postcard` length prefix of 2^60 is an error, not an allocation;
//! 3. nothing hangs: every decoding step consumes bytes or ends.
//!
//! # What is not fuzzed
//!
//! A call's function identity ([`Entry`]) is never resolved from fuzzed bytes: an entry is a
//! code address, trusted because only the parent, after the handshake, sends one
//! (`identity.rs`). The worker side decodes the call's head, then runs the trampolines of
//! known functions on the fuzzed arguments, as the worker does once the entry is resolved.
//! Argument and value types are the callers' own: a sequence of values that encode in no
//! bytes (`Vec<()>`) with a length prefix of 2^60 takes 2^60 steps to decode, for any type
//! the caller picks (concurra's own chunk values are bounded: `MAX_CHUNK_VALUES`). The types
//! below encode in at least one byte per element.

use std::collections::HashMap;
use std::os::fd::AsFd;

use super::bootstrap::{CallHead, Ready};
use super::call::{private::Encode, ChunkReply, Chunked, RemoteError};
use super::identity::{Entry, Outcome};
use super::wire::{Decoder, Frame, FrameKind, MAX_FRAME};
use crate::chunk::Chunk;
use crate::executor::{Apply, Fallible};

fn double(x: u32) -> u32 {
    x.wrapping_mul(2)
}

fn words(s: String) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

fn table((key, bytes): (Option<u64>, Vec<u8>)) -> HashMap<String, Vec<i32>> {
    let mut m = HashMap::new();
    m.insert(
        format!("{key:?}"),
        bytes.iter().map(|&b| i32::from(b)).collect(),
    );
    m
}

fn parse(s: String) -> Result<i64, std::num::ParseIntError> {
    s.parse()
}

fn nothing(_: u8) {}

fn text() -> String {
    "text".into()
}

/// Room a decoder may hold after being given `input` bytes (see property 2).
fn bound(input: usize) -> usize {
    2 * (input + (128 << 10)) + MAX_FRAME
}

/// Two cut sizes from the first two bytes, and the stream after them.
fn cuts(data: &[u8]) -> ([usize; 2], &[u8]) {
    match data {
        [a, b, rest @ ..] => ([usize::from(*a) + 1, usize::from(*b) * 37 + 1], rest),
        _ => ([1, 1], data),
    }
}

/// The stream cut into pieces of the two sizes, in turn.
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let (sizes, mut stream) = cuts(data);
    let mut turn = 0;
    std::iter::from_fn(move || {
        if stream.is_empty() {
            return None;
        }
        let (piece, rest) = stream.split_at(sizes[turn % 2].min(stream.len()));
        stream = rest;
        turn += 1;
        Some(piece)
    })
}

/// Takes every whole frame out of `decoder` and decodes it as its side would; false once the
/// stream is out of step (the reader then stops, as the engine does).
fn drain(decoder: &mut Decoder) -> bool {
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => payload(&frame),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// A frame's payload decoded as its kind says.
fn payload(frame: &Frame) {
    match frame.kind {
        FrameKind::Ready => {
            let _ = frame.decode::<Ready>();
        }
        FrameKind::Call => worker_call(&frame.payload),
        FrameKind::Reply => parent_reply(&frame.payload),
    }
}

/// A stream given to [`Decoder::push`] in pieces (the first two bytes choose their sizes);
/// each frame is decoded as its side would.
pub fn frames_pushed(data: &[u8]) {
    let mut decoder = Decoder::new();
    for piece in pieces(data) {
        decoder.push(piece);
        assert!(decoder.held() <= bound(data.len()), "{}", decoder.held());
        if !drain(&mut decoder) {
            return;
        }
    }
}

/// A stream read by [`Decoder::read_from`] from a socket, written in pieces (the first two
/// bytes choose their sizes): one read after each piece (and more while the socket is full),
/// then reads to end of file; each frame is decoded as its side would.
///
/// One thread: a writer thread per input made LeakSanitizer report glibc's thread-local
/// destructor list (`__cxa_thread_atexit_impl`) as leaked.
pub fn frames_read(data: &[u8]) {
    use std::io::Write;
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    writer.set_nonblocking(true).expect("a non-blocking socket");
    let mut decoder = Decoder::new();
    // False at end of file or out of step (the reader then stops, as the engine does).
    let read = |decoder: &mut Decoder| {
        let more = decoder.read_from(reader.as_fd()).is_ok_and(|n| n > 0);
        assert!(decoder.held() <= bound(data.len()), "{}", decoder.held());
        more && drain(decoder)
    };
    for piece in pieces(data) {
        let mut rest = piece;
        while !rest.is_empty() {
            match writer.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !read(&mut decoder) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        if !read(&mut decoder) {
            return;
        }
    }
    drop(writer);
    while read(&mut decoder) {}
}

/// Runs `entry`'s trampoline on `args`, as the worker does, and checks that the parent's side
/// reads the reply (a value, or the argument's decoding error) as `W`.
fn run<W: Encode>(entry: Entry, _: &W, args: &[u8]) {
    let mut out = Vec::new();
    entry.resolve()(args, &mut out);
    if let Err(e) = W::decode(&out) {
        // The argument's decoding error, or the function's own `Err`: never the reply's.
        assert!(!e.is_decode() || e.to_string().contains("argument"), "{e}");
    }
}

/// A call payload as the worker decodes it: the head, then the argument of each known
/// function (see the module docs: the entry itself is not resolved).
pub fn worker_call(payload: &[u8]) {
    let Ok((head, args)) = postcard::take_from_bytes::<CallHead>(payload) else {
        return;
    };
    let _ = head;
    run(Entry::of(double), &Apply(double, 0), args);
    run(Entry::of(words), &Apply(words, String::new()), args);
    run(Entry::of(table), &Apply(table, (None, Vec::new())), args);
    run(Entry::of(nothing), &Apply(nothing, 0), args);
    let fallible = |s: String| parse(s).map_err(|e| RemoteError::of(&e));
    run(
        Entry::of(fallible),
        &Fallible(Apply(parse, String::new())),
        args,
    );
    let chunk = |items: Vec<u32>| ChunkReply::from(Chunk::run(&double, items));
    run(Entry::of(chunk), &Apply(Chunked(double), Vec::new()), args);
    let chunk = |items: Vec<String>| ChunkReply::from(Chunk::run(&words, items));
    run(Entry::of(chunk), &Apply(Chunked(words), Vec::new()), args);
}

/// The parent's decoding of `payload` as a reply to `W`.
fn reply<W: Encode>(_: &W, payload: &[u8]) -> crate::Result<W::Output> {
    W::decode(payload)
}

/// Every item of a decoded chunk, as a map's caller takes them.
fn items<T>(chunk: crate::Result<Chunk<T>>) {
    if let Ok(chunk) = chunk {
        chunk.into_outcomes().for_each(drop);
    }
}

/// A reply payload as the parent decodes it, for each kind of work: a function's value, a
/// fallible function's `Result`, a chunk, the initializer's reply.
pub fn parent_reply(payload: &[u8]) {
    let _ = reply(&Apply(double, 0), payload);
    let _ = reply(&Apply(words, String::new()), payload);
    let _ = reply(&Apply(table, (None, Vec::new())), payload);
    let _ = reply(&Apply(nothing, 0), payload);
    let _ = reply(&text, payload);
    let _ = reply(&Fallible(Apply(parse, String::new())), payload);
    let _ = reply(&Fallible(|| parse(text())), payload);
    items(reply(&Apply(Chunked(double), Vec::new()), payload));
    items(reply(&Apply(Chunked(words), Vec::new()), payload));
    items(reply(&Apply(Chunked(nothing), Vec::new()), payload));
    // The initializer's reply (`supervisor::run_initializer`).
    let _ = postcard::take_from_bytes::<u32>(payload);
    let _ = postcard::from_bytes::<Outcome<()>>(payload);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::process::wire;

    /// postcard's varint of `n`.
    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// A reply frame around `payload`.
    fn reply_frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        wire::frame_with(&mut out, FrameKind::Reply, 1, |b| {
            b.extend_from_slice(payload);
            Ok(())
        })
        .unwrap();
        out
    }

    fn encoded<T: serde::Serialize>(value: &T) -> Vec<u8> {
        postcard::to_allocvec(value).unwrap()
    }

    #[test]
    fn a_length_prefix_of_2_60_is_an_error_not_an_allocation() {
        for n in [1 << 60, 1 << 63, u64::MAX] {
            // Outcome::Value (tag 0), then a sequence or string of n elements.
            let payload = [vec![0], varint(n)].concat();
            let words = reply(&Apply(words, String::new()), &payload);
            assert!(words.unwrap_err().is_decode());
            let table = reply(&Apply(table, (None, Vec::new())), &payload);
            assert!(table.unwrap_err().is_decode());
            let text = reply(&text, &payload);
            assert!(text.unwrap_err().is_decode());
            let chunk = reply(&Apply(Chunked(double), Vec::new()), &payload);
            assert!(chunk.unwrap_err().is_decode());
            parent_reply(&payload);
            frames_pushed(&[[0, 0].as_slice(), &reply_frame(&payload)].concat());
        }
    }

    #[test]
    fn a_chunk_of_2_60_unit_values_is_refused_at_the_bound() {
        // Value(ChunkReply { values: [(); 2^60], .. }): each () takes no bytes.
        let payload = [vec![0], varint(1 << 60)].concat();
        let chunk = reply(&Apply(Chunked(nothing), Vec::new()), &payload);
        // (postcard keeps no custom message: "Serde Deserialization Error".)
        assert!(chunk.unwrap_err().is_decode());
        // The bound is the limit, not below it.
        let at_limit = [
            vec![0],
            varint(super::super::call::MAX_CHUNK_VALUES as u64),
            vec![0],
        ]
        .concat();
        let chunk = reply(&Apply(Chunked(nothing), Vec::new()), &at_limit).unwrap();
        assert_eq!(chunk.values().len(), super::super::call::MAX_CHUNK_VALUES);
    }

    #[test]
    fn a_chunk_whose_errors_do_not_fit_it_is_a_decode_error() {
        let errors = |positions: &[usize]| {
            let reply = ChunkReply::<u32>::from(Chunk::from_parts(
                vec![1, 2],
                positions
                    .iter()
                    .map(|&at| (at, crate::Error::Cancelled))
                    .collect(),
            ));
            encoded(&Outcome::Value(reply))
        };
        let decode = |payload: &[u8]| reply(&Apply(Chunked(double), Vec::new()), payload);
        let fine = decode(&errors(&[0, 3])).unwrap();
        assert_eq!(fine.into_outcomes().filter(Result::is_ok).count(), 2);
        for bad in [&[4][..], &[1, 1], &[2, 0], &[usize::MAX]] {
            let error = decode(&errors(bad)).unwrap_err();
            assert!(error.is_decode(), "{bad:?}: {error}");
        }
    }

    #[test]
    fn a_header_announcing_the_largest_frame_holds_only_that_frame() {
        let len = (MAX_FRAME - 4) as u32;
        let header = [&len.to_le_bytes()[..], &[wire::VERSION, 4], &[0; 8]].concat();
        let mut decoder = Decoder::new();
        decoder.push(&header);
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert!(decoder.held() <= bound(header.len()));
        frames_pushed(&[[0, 0].as_slice(), &header].concat());
        frames_read(&[[0, 0].as_slice(), &header].concat());
    }

    /// Found by the `frames_read` target (a LeakSanitizer report from the writer thread the
    /// target then had, not from the library): a frame whose length is refused after a
    /// first, well-formed one, cut in pieces of 1 and 1740 bytes.
    #[test]
    fn fuzz_frames_read_leak_49523f2c() {
        let input = [
            0x00, 0x2f, 0x1b, 0x00, 0x00, 0x00, 0x06, 0x04, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00,
            0x01, 0xfc, 0xff, 0xc2, 0xd5, 0xf8, 0x00, 0xfc, 0xff, 0xff, 0x00, 0x23, 0x3d, 0x00,
            0x0b, 0x00, 0x00, 0x00, 0x01,
        ];
        frames_read(&input);
        frames_pushed(&input);
    }

    #[test]
    fn the_trampolines_reply_always_reads_back() {
        for args in [
            encoded(&7u32),
            encoded(&"a b"),
            encoded(&(Some(3u64), vec![1u8, 2])),
            encoded(&vec![1u32, 2, 3]),
            encoded(&vec!["x y".to_string()]),
            vec![0xff; 12],
            Vec::new(),
        ] {
            let head = encoded(&CallHead {
                entry: Entry::of(double),
            });
            worker_call(&[head, args].concat());
        }
    }

    /// A valid reply to each kind of work, to mutate.
    fn valid_replies() -> Vec<Vec<u8>> {
        let chunk = ChunkReply::from(Chunk::run(
            &|x: u32| {
                assert!(x != 2, "item {x}");
                x
            },
            vec![1, 2, 3],
        ));
        vec![
            encoded(&Outcome::Value(41u32)),
            encoded(&Outcome::Value(vec!["a".to_string(), "bc".into()])),
            encoded(&Outcome::Value(table((Some(9), vec![1, 2])))),
            encoded(&Outcome::<()>::Panicked {
                message: "boom".into(),
                location: Some("here".into()),
            }),
            encoded(&Outcome::<Result<i64, RemoteError>>::Value(Err(
                RemoteError::of(&"bad"),
            ))),
            encoded(&Outcome::Value(chunk)),
            encoded(&Outcome::<()>::Decode("no".into())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Property 1–3 for any bytes given to the decoder in pieces.
        #[test]
        fn any_stream_pushed(data in prop::collection::vec(any::<u8>(), 0..512)) {
            frames_pushed(&data);
        }

        /// A stream of valid frames, mutated: the decoder gets past the headers.
        #[test]
        fn valid_frames_mutated(
            which in prop::collection::vec(0usize..7, 1..6),
            cuts in any::<[u8; 2]>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let replies = valid_replies();
            let mut stream = cuts.to_vec();
            for w in which {
                stream.extend_from_slice(&reply_frame(&replies[w]));
            }
            for (at, byte) in flips {
                let at = at.index(stream.len() - 2) + 2;
                stream[at] ^= byte;
            }
            frames_pushed(&stream);
        }

        /// Any reply payload, and valid ones mutated, decoded as the parent does.
        #[test]
        fn any_reply(data in prop::collection::vec(any::<u8>(), 0..256)) {
            parent_reply(&data);
        }

        #[test]
        fn valid_replies_mutated(
            which in 0usize..7,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut payload = valid_replies().swap_remove(which);
            for (at, byte) in flips {
                let at = at.index(payload.len());
                payload[at] ^= byte;
            }
            parent_reply(&payload);
            parent_reply(&payload[..cut.index(payload.len() + 1)]);
        }

        /// Any call payload decoded as the worker does.
        #[test]
        fn any_call(data in prop::collection::vec(any::<u8>(), 0..256)) {
            worker_call(&data);
            // With a well-formed head, so that the arguments are reached.
            let head = encoded(&CallHead { entry: Entry::of(double) });
            worker_call(&[head, data].concat());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Property 1–3 for any bytes read from a socket (more than its buffer holds, too).
        #[test]
        fn any_stream_read(data in prop::collection::vec(any::<u8>(), 0..300_000)) {
            frames_read(&data);
        }
    }
}
