//! postcard's format, written fast: a `serde` serializer whose output is byte for byte what
//! `postcard::to_allocvec` gives (the tests check it), so postcard decodes it.
//!
//! postcard hands every integer to its output as a slice of a few bytes, and appending a
//! variable-length slice to a `Vec` costs a `memmove` call or a byte-by-byte loop with a
//! capacity check per byte; encoding a `Vec<u64>` took twice as long as this. Here the
//! writer keeps initialised room ahead of its position (zeroed when the buffer grows, which
//! doubles it), writes a varint's bytes straight into that room and moves its position; the
//! buffer is cut back to the position at the end. No `unsafe`.
//!
//! # The format (postcard 1)
//!
//! * `u8`, `i8`, `bool`: one byte. `f32`, `f64`: their little-endian bytes.
//! * Other integers: LEB128 varints, signed ones zigzag-encoded first; `usize` is a `u64`.
//! * `str`, bytes, `char` (as its UTF-8 string): the length as a varint, then the bytes.
//! * `Option`: 0, or 1 and the value. Unit, unit structs: nothing.
//! * A variant: its index as a varint, then its content.
//! * Sequences and maps: the length as a varint (an unknown length is an error), then the
//!   elements (a map's as key, value). Tuples and structs: the fields in order, no length.

use std::fmt;

use serde::ser::{self, Serialize};

/// A value that did not encode: the message of the value's own `Serialize` error, or why the
/// format cannot carry it.
#[derive(Debug)]
pub(crate) struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        EncodeError(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, EncodeError>;

/// Appends `value` to `out` in postcard's format. On error `out` may hold part of it.
///
/// # Errors
/// The value's own serialization error, or a sequence or map of unknown length.
pub(crate) fn append<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result {
    let pos = out.len();
    let mut writer = Writer { buf: out, pos };
    let outcome = value.serialize(&mut writer);
    let end = writer.pos;
    out.truncate(end);
    outcome
}

/// Writes at `pos` in `buf`; `buf[pos..]` is zeroed room, cut off at the end.
struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    pos: usize,
}

/// The longest varint: a `u128` in 7-bit groups.
const MAX_VARINT: usize = 19;

/// Writes `$v` as a LEB128 varint (7 bits a byte, low first, the top bit set on all but the
/// last) into the writer's room for `$max` bytes, and moves past it. A macro rather than a
/// function generic over the integer: `u64` is the hot path and stays in `u64` arithmetic.
macro_rules! leb128 {
    ($writer:expr, $v:expr, $max:expr) => {{
        let mut v = $v;
        let dst: &mut [u8; $max] = $writer.room($max).try_into().expect("room asked for");
        let mut i = 0;
        while v >= 0x80 {
            dst[i] = v as u8 | 0x80;
            v >>= 7;
            i += 1;
        }
        dst[i] = v as u8;
        $writer.pos += i + 1;
    }};
}

impl Writer<'_> {
    /// The next `n` bytes of room (not yet counted as written).
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() - self.pos < n {
            self.grow(n);
        }
        &mut self.buf[self.pos..self.pos + n]
    }

    /// Makes room for at least `n` more bytes, doubling what the buffer holds.
    #[cold]
    fn grow(&mut self, n: usize) {
        let want = (self.pos + n).max(self.buf.len() * 2).max(256);
        self.buf.resize(want, 0);
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.room(1)[0] = b;
        self.pos += 1;
    }

    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    #[inline(always)]
    fn varint(&mut self, v: u64) {
        leb128!(self, v, 10);
    }

    fn varint_u128(&mut self, v: u128) {
        leb128!(self, v, MAX_VARINT);
    }

    fn len(&mut self, len: Option<usize>) -> Result {
        let len = len.ok_or_else(|| {
            EncodeError("a sequence or map of unknown length (the format needs it first)".into())
        })?;
        self.varint(len as u64);
        Ok(())
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

impl ser::Serializer for &mut Writer<'_> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result {
        self.byte(u8::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result {
        self.byte(v as u8);
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result {
        self.varint(zigzag(v.into()));
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result {
        self.varint(zigzag(v.into()));
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result {
        self.varint(zigzag(v));
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result {
        self.varint_u128(((v << 1) ^ (v >> 127)) as u128);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result {
        self.byte(v);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result {
        self.varint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result {
        self.varint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result {
        self.varint(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result {
        self.varint_u128(v);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result {
        self.bytes(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result {
        self.bytes(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result {
        self.serialize_bytes(v.as_bytes())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.varint(v.len() as u64);
        self.bytes(v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result {
        self.byte(0);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        self.byte(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result {
        self.varint(index.into());
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result {
        self.varint(index.into());
        value.serialize(self)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self> {
        self.len(len)?;
        Ok(self)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self> {
        self.varint(index.into());
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self> {
        self.len(len)?;
        Ok(self)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self> {
        self.varint(index.into());
        Ok(self)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result {
        self.serialize_str(&value.to_string())
    }
}

/// The compound parts: every element or field in order, nothing at the end.
macro_rules! elements {
    ($($trait:ident :: $method:ident ($($key:ty)?)),* $(,)?) => {$(
        impl ser::$trait for &mut Writer<'_> {
            type Ok = ();
            type Error = EncodeError;

            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $key,)? value: &T) -> Result {
                value.serialize(&mut **self)
            }

            fn end(self) -> Result {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(&'static str),
    SerializeStructVariant::serialize_field(&'static str),
);

impl ser::SerializeMap for &mut Writer<'_> {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// Our bytes, appended after a prefix, are the prefix and postcard's bytes.
    fn same_as_postcard<T: Serialize + ?Sized>(value: &T) {
        let mut ours = vec![0xAB, 0xCD];
        let got = append(value, &mut ours);
        match postcard::to_allocvec(value) {
            Ok(theirs) => {
                got.unwrap();
                assert_eq!(&ours[..2], &[0xAB, 0xCD]);
                assert_eq!(&ours[2..], &theirs[..]);
            }
            Err(_) => assert!(got.is_err(), "postcard refused it, we did not"),
        }
    }

    #[derive(Serialize, Debug, Clone)]
    struct Unit;

    #[derive(Serialize, Debug, Clone)]
    struct Newtype(i32);

    #[derive(Serialize, Debug, Clone)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u16, i16),
        Named {
            label: String,
            corner: Option<(i8, u8)>,
        },
    }

    #[derive(Serialize, Debug, Clone)]
    struct Everything {
        b: bool,
        small: (i8, u8, i16, u16),
        mid: (i32, u32, f32),
        big: (i64, u64, f64),
        huge: (i128, u128),
        c: char,
        s: String,
        v: Vec<u64>,
        nested: Vec<Vec<i32>>,
        map: BTreeMap<String, Option<u32>>,
        shapes: Vec<Shape>,
        unit: Unit,
        newtype: Newtype,
        nothing: (),
    }

    /// Bytes through `serialize_bytes` (serde's `Vec<u8>` goes as a sequence).
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    /// A value serialized through `collect_str`.
    struct Shown(f64, String);

    impl Serialize for Shown {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_str(&format_args!("{} and {}", self.0, self.1))
        }
    }

    /// A sequence that does not say its length.
    struct Unsized;

    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_seq((0..3).filter(|_| true))
        }
    }

    /// A value whose own serialization fails.
    struct Refuses;

    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not today"))
        }
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Empty),
            any::<f64>().prop_map(Shape::Circle),
            any::<(u16, i16)>().prop_map(|(a, b)| Shape::Rect(a, b)),
            (".{0,8}", any::<Option<(i8, u8)>>())
                .prop_map(|(label, corner)| Shape::Named { label, corner }),
        ]
    }

    prop_compose! {
        fn everything()(
            b in any::<bool>(),
            small in any::<(i8, u8, i16, u16)>(),
            mid in any::<(i32, u32, f32)>(),
            big in any::<(i64, u64, f64)>(),
            huge in any::<(i128, u128)>(),
            c in any::<char>(),
            s in ".{0,40}",
            v in prop::collection::vec(any::<u64>(), 0..50),
            nested in prop::collection::vec(prop::collection::vec(any::<i32>(), 0..5), 0..5),
            map in prop::collection::btree_map(".{0,6}", any::<Option<u32>>(), 0..6),
            shapes in prop::collection::vec(shape(), 0..6),
            newtype in any::<i32>(),
        ) -> Everything {
            Everything { b, small, mid, big, huge, c, s, v, nested, map, shapes, unit: Unit, newtype: Newtype(newtype), nothing: () }
        }
    }

    proptest! {
        #[test]
        fn every_kind_of_value_matches_postcard(value in everything()) {
            same_as_postcard(&value);
        }

        #[test]
        fn integers_at_every_width_match_postcard(x in any::<u64>(), shift in 0u32..64) {
            let v = x >> shift;
            same_as_postcard(&(v, v as u32, v as u16, v as i64, -(v as i64), v as u128 * 3));
        }

        #[test]
        fn bytes_and_shown_values_match_postcard(bytes in prop::collection::vec(any::<u8>(), 0..300), f in any::<f64>(), s in ".{0,10}") {
            same_as_postcard(&Bytes(bytes));
            same_as_postcard(&Shown(f, s));
        }
    }

    #[test]
    fn extremes_match_postcard() {
        same_as_postcard(&(
            u64::MAX,
            i64::MIN,
            i64::MAX,
            u128::MAX,
            i128::MIN,
            i128::MAX,
        ));
        same_as_postcard(&(f64::NAN, f32::NEG_INFINITY, -0.0f64, char::MAX, '\0'));
        same_as_postcard(&vec![0u64; 1 << 12]);
        same_as_postcard(&"x".repeat(100_000));
    }

    #[test]
    fn unknown_lengths_and_refusals_are_errors() {
        let mut out = Vec::new();
        let e = append(&Unsized, &mut out).unwrap_err();
        assert!(e.to_string().contains("unknown length"), "{e}");
        let e = append(&(1u8, Refuses), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "not today");
        assert!(postcard::to_allocvec(&Unsized).is_err());
    }

    #[test]
    fn a_long_value_grows_the_buffer_past_any_reuse() {
        // The buffer is reused with room to spare, then outgrown.
        let mut out = Vec::with_capacity(1 << 10);
        out.extend_from_slice(&[7; 100]);
        let value: Vec<u64> = (0..10_000).map(|i| i * 1_000_003).collect();
        append(&value, &mut out).unwrap();
        assert_eq!(&out[..100], &[7; 100]);
        assert_eq!(
            postcard::from_bytes::<Vec<u64>>(&out[100..]).unwrap(),
            value
        );
    }
}
