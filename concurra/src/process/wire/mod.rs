//! The wire format between a parent and its worker processes: length-prefixed frames over one
//! persistent byte stream per worker, values encoded with `postcard`.
//!
//! # Frame layout
//!
//! ```text
//! offset  size  field
//! 0       4     length  (u32, little-endian): bytes after this field, 14 + payload
//! 4       1     version (VERSION)
//! 5       1     kind    (FrameKind)
//! 6       8     call id (u64, little-endian): pairs a reply with its call
//! 14      n     payload (postcard's format, written by `encode`, read by postcard)
//! ```
//!
//! # Decoding never panics
//!
//! 1. [`Decoder::push`] appends bytes as they arrive; [`Decoder::next_frame`] returns
//!    `Ok(None)` until a whole frame is buffered.
//! 2. A length below the header size, above [`MAX_FRAME`], an unknown version or an unknown
//!    kind is [`Error::Decode`]: the stream is out of step and the worker must be replaced.
//! 3. A payload that does not decode as the expected type is [`Error::Decode`] for that call
//!    only ([`Frame::decode`]); the stream stays usable.

mod encode;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use self::encode::EncodeError;

use crate::error::{Error, Result};

/// The protocol version this build speaks; checked on every frame.
pub const VERSION: u8 = 1;

/// The largest frame accepted (header and payload), 64 MiB.
pub const MAX_FRAME: usize = 64 << 20;

/// Bytes of a frame after the length field and before the payload.
const HEADER: usize = 1 + 1 + 8;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Worker → parent, first frame: its pid and the fingerprint of the file it runs.
    Ready = 2,
    /// Parent → worker: run a function on an argument.
    Call = 3,
    /// Worker → parent: a call's outcome.
    Reply = 4,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            2 => FrameKind::Ready,
            3 => FrameKind::Call,
            4 => FrameKind::Reply,
            _ => return None,
        })
    }
}

/// One decoded frame: its kind, call id and still-encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame carries.
    pub kind: FrameKind,
    /// The call it belongs to.
    pub id: u64,
    /// The postcard-encoded payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Decodes the payload as `T`.
    ///
    /// # Errors
    /// [`Error::Decode`] if the payload is not a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        postcard::from_bytes(&self.payload).map_err(|e| {
            Error::Decode(format!("payload of {:?} frame {}: {e}", self.kind, self.id))
        })
    }
}

/// Appends one frame carrying `value` to `out`.
///
/// # Errors
/// [`Error::Encode`] if `value` cannot be serialized or the frame would exceed [`MAX_FRAME`];
/// `out` is then unchanged.
pub fn encode<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    kind: FrameKind,
    id: u64,
    value: &T,
) -> Result<()> {
    frame_with(out, kind, id, |buf| {
        append(value, buf).map_err(|e| format!("{e}"))
    })
}

/// Appends one frame whose payload `fill` appends (already encoded bytes).
///
/// # Errors
/// [`Error::Encode`] if `fill` fails or the frame would exceed [`MAX_FRAME`]; `out` is then
/// unchanged.
pub(crate) fn frame_with(
    out: &mut Vec<u8>,
    kind: FrameKind,
    id: u64,
    fill: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), String>,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&id.to_le_bytes());
    if let Err(e) = fill(out) {
        out.truncate(start);
        return Err(Error::Encode(format!("{kind:?} frame {id}: {e}")));
    }
    let len = out.len() - start - 4;
    if len + 4 > MAX_FRAME {
        out.truncate(start);
        return Err(Error::Encode(format!(
            "{kind:?} frame {id} is {} bytes, over the {MAX_FRAME}-byte limit",
            len + 4
        )));
    }
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Appends `value`, in postcard's format, to `out` (on error `out` may hold part of it).
///
/// # Errors
/// The value's own serialization error, or a sequence of unknown length.
pub(crate) fn append<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> std::result::Result<(), EncodeError> {
    encode::append(value, out)
}

/// A payload at least this long is read straight into a buffer of its own, which becomes the
/// frame's payload (no copy); shorter frames are read in batches and copied out.
const LARGE: usize = 64 << 10;

/// Bytes asked for in one read, for frames that are not [`LARGE`].
const READ: usize = 64 << 10;

/// Cuts a byte stream into frames (see the module docs).
///
/// Bytes arrive either by [`push`](Decoder::push) or, read in place, by
/// [`read_from`](Decoder::read_from): small frames are read in batches into one buffer; once
/// the header of a frame of 64 KiB or more is in, the rest of it is read straight into its
/// payload buffer.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as frames.
    consumed: usize,
    /// A large frame being read: its header and its payload so far.
    large: Option<Large>,
}

/// A [`LARGE`] frame whose payload is still arriving.
#[derive(Debug)]
struct Large {
    kind: FrameKind,
    id: u64,
    /// The payload so far (its capacity is the whole payload's length).
    payload: Vec<u8>,
    /// The payload's length.
    len: usize,
}

impl Large {
    fn missing(&self) -> usize {
        self.len - self.payload.len()
    }
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if let Some(large) = &mut self.large {
            let n = large.missing().min(bytes.len());
            large.payload.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Reads once from `fd` (blocking as `fd` does) into the decoder, in place: 0 at end of
    /// file.
    ///
    /// # Errors
    /// The read's error (an interrupted read is retried).
    pub fn read_from(&mut self, fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<usize> {
        if let Some(large) = &mut self.large {
            // Its capacity, set when the header came in, is the whole payload.
            let n = crate::sys::read_appending(fd, &mut large.payload)?;
            if large.payload.len() > large.len {
                // The allocator gave more room than asked: what follows the frame goes back
                // to the shared buffer.
                let rest = large.payload.split_off(large.len);
                self.compact();
                self.buf.extend_from_slice(&rest);
            }
            return Ok(n);
        }
        self.compact();
        self.buf.reserve(READ);
        crate::sys::read_appending(fd, &mut self.buf)
    }

    /// The bytes the decoder holds room for (its buffer's and a large frame's capacity).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn held(&self) -> usize {
        self.buf.capacity() + self.large.as_ref().map_or(0, |l| l.payload.capacity())
    }

    /// Drops what was consumed before the buffer grows: a stream that always ends mid-frame
    /// would otherwise keep every byte it ever carried. Only the unfinished frame is moved.
    fn compact(&mut self) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// [`Error::Decode`] for a malformed header: the stream cannot be trusted any more.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if let Some(large) = &self.large {
            if large.missing() > 0 {
                return Ok(None);
            }
            let large = self.large.take().expect("checked above");
            return Ok(Some(Frame {
                kind: large.kind,
                id: large.id,
                payload: large.payload,
            }));
        }
        let rest = &self.buf[self.consumed..];
        let Some(len_bytes) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(len_bytes.try_into().expect("4 bytes")) as usize;
        if len < HEADER || len + 4 > MAX_FRAME {
            return Err(Error::Decode(format!(
                "frame length {len} is outside {HEADER}..={}",
                MAX_FRAME - 4
            )));
        }
        let Some(header) = rest.get(4..4 + HEADER) else {
            return Ok(None);
        };
        if header[0] != VERSION {
            return Err(Error::Decode(format!(
                "frame version {} (this build speaks {VERSION})",
                header[0]
            )));
        }
        let kind = FrameKind::from_byte(header[1])
            .ok_or_else(|| Error::Decode(format!("unknown frame kind {}", header[1])))?;
        let id = u64::from_le_bytes(header[2..10].try_into().expect("8 bytes"));
        let body = &rest[4 + HEADER..];
        let payload_len = len - HEADER;
        if body.len() < payload_len {
            if payload_len >= LARGE {
                // The rest is read straight into the payload's own buffer.
                let mut payload = Vec::with_capacity(payload_len);
                payload.extend_from_slice(body);
                self.large = Some(Large {
                    kind,
                    id,
                    payload,
                    len: payload_len,
                });
                self.buf.clear();
                self.consumed = 0;
            }
            return Ok(None);
        }
        let payload = body[..payload_len].to_vec();
        self.consumed += 4 + len;
        if self.consumed == self.buf.len() {
            self.buf.clear();
            self.consumed = 0;
        }
        Ok(Some(Frame { kind, id, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame_of<T: Serialize>(kind: FrameKind, id: u64, v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, kind, id, v).unwrap();
        out
    }

    #[test]
    fn a_stream_always_ending_mid_frame_keeps_only_the_unfinished_frame() {
        let bytes = frame_of(FrameKind::Reply, 1, &[9u64; 16]);
        let stream: Vec<u8> = bytes
            .iter()
            .copied()
            .cycle()
            .take(bytes.len() * 1000)
            .collect();
        let mut d = Decoder::new();
        let mut frames = 0;
        // Reads of 1.5 frames: every read but the last ends inside a frame.
        for read in stream.chunks(bytes.len() * 3 / 2) {
            d.push(read);
            while let Some(f) = d.next_frame().unwrap() {
                assert_eq!(f.id, 1);
                frames += 1;
            }
            assert!(d.buf.len() <= bytes.len() * 3, "{} bytes kept", d.buf.len());
        }
        assert_eq!(frames, 1000);
    }

    #[test]
    fn round_trip_and_partial_reads() {
        let bytes = frame_of(FrameKind::Call, 7, &("hello", 42u32));
        let mut d = Decoder::new();
        for b in &bytes[..bytes.len() - 1] {
            d.push(std::slice::from_ref(b));
            assert_eq!(d.next_frame().unwrap(), None);
        }
        d.push(&bytes[bytes.len() - 1..]);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!((f.kind, f.id), (FrameKind::Call, 7));
        assert_eq!(f.decode::<(String, u32)>().unwrap(), ("hello".into(), 42));
        assert!(f
            .decode::<[u64; 8]>()
            .unwrap_err()
            .to_string()
            .contains("frame 7"));
        assert_eq!(d.next_frame().unwrap(), None);
    }

    /// Frames with payloads around and far above [`LARGE`], between small ones.
    fn mixed_stream() -> (Vec<u8>, Vec<Vec<u8>>) {
        let sizes = [
            10,
            70_000,
            5,
            LARGE - 1,
            LARGE,
            LARGE + 1,
            200_000,
            0,
            3 * READ,
        ];
        let payloads: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            frame_with(&mut stream, FrameKind::Reply, i as u64, |out| {
                out.extend_from_slice(p);
                Ok(())
            })
            .unwrap();
        }
        (stream, payloads)
    }

    fn check_frames(got: &[Frame], payloads: &[Vec<u8>]) {
        assert_eq!(got.len(), payloads.len());
        for (i, (f, p)) in got.iter().zip(payloads).enumerate() {
            assert_eq!((f.kind, f.id), (FrameKind::Reply, i as u64));
            assert!(f.payload == *p, "payload of frame {i}");
        }
    }

    #[test]
    fn large_frames_survive_any_split_when_pushed() {
        let (stream, payloads) = mixed_stream();
        for cut in [1, 7, 4096, LARGE - 3, LARGE + 5, stream.len()] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(cut) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            check_frames(&got, &payloads);
        }
    }

    #[test]
    fn large_frames_are_read_in_place_from_a_pipe() {
        use std::io::Write;
        let (stream, payloads) = mixed_stream();
        for cut in [997, 5000, LARGE + 7, stream.len()] {
            let (read, write) = crate::sys::pipe().unwrap();
            let bytes = stream.clone();
            let writer = std::thread::spawn(move || {
                let mut write = std::fs::File::from(write);
                for piece in bytes.chunks(cut) {
                    write.write_all(piece).unwrap();
                }
            });
            let mut d = Decoder::new();
            let mut got = Vec::new();
            while d.read_from(std::os::fd::AsFd::as_fd(&read)).unwrap() > 0 {
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            writer.join().unwrap();
            check_frames(&got, &payloads);
            assert!(
                d.large.is_none() && d.buf.len() == d.consumed,
                "nothing left over"
            );
        }
    }

    #[test]
    fn malformed_headers_are_errors() {
        let mut d = Decoder::new();
        d.push(&3u32.to_le_bytes());
        assert!(matches!(d.next_frame(), Err(Error::Decode(_))));
        let mut d = Decoder::new();
        d.push(&u32::MAX.to_le_bytes());
        assert!(matches!(d.next_frame(), Err(Error::Decode(_))));
        let mut bytes = frame_of(FrameKind::Reply, 1, &1u8);
        bytes[4] = VERSION + 1;
        let mut d = Decoder::new();
        d.push(&bytes);
        assert!(d.next_frame().unwrap_err().to_string().contains("version"));
        let mut bytes = frame_of(FrameKind::Reply, 1, &1u8);
        bytes[5] = 99;
        let mut d = Decoder::new();
        d.push(&bytes);
        assert!(d.next_frame().unwrap_err().to_string().contains("kind"));
    }

    #[test]
    fn oversized_frames_are_refused_at_encode() {
        let mut out = vec![9u8];
        let big = vec![0u8; MAX_FRAME];
        assert!(matches!(
            encode(&mut out, FrameKind::Call, 1, &big),
            Err(Error::Encode(_))
        ));
        assert_eq!(out, [9u8], "a refused frame leaves the buffer as it was");
    }

    proptest! {
        /// Any bytes at all: the decoder returns frames, needs more, or errs; never panics.
        #[test]
        fn arbitrary_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut d = Decoder::new();
            for c in &chunks {
                d.push(c);
                while let Ok(Some(f)) = d.next_frame() {
                    let _ = f.decode::<(u64, String)>();
                }
            }
        }

        /// Frames survive any split of the stream.
        #[test]
        fn frames_survive_any_split(values in prop::collection::vec((any::<u64>(), ".{0,20}"), 1..8), cut in 1usize..40) {
            let mut stream = Vec::new();
            for (i, v) in values.iter().enumerate() {
                encode(&mut stream, FrameKind::Call, i as u64, v).unwrap();
            }
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(cut) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f.decode::<(u64, String)>().unwrap());
                }
            }
            prop_assert_eq!(got, values);
        }
    }
}
