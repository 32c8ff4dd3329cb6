//! The encoding of keys and rows in the log and in checkpoints.
//!
//! A durable database writes every key and row it logs as bytes, and reads
//! them back at recovery, possibly in another build of the program, by
//! another compiler, on another machine. So the encoding is defined here
//! byte by byte rather than left to the memory layout:
//!
//! - integers are little-endian at their fixed width; `usize` and `isize`
//!   travel as `u64` and `i64` (a value that does not fit the reading
//!   machine's word is a [`DecodeError`]); floats are their IEEE bit
//!   patterns, so every NaN comes back with its payload;
//! - `bool` is one byte, 0 or 1; `char` is its scalar value as a `u32`,
//!   checked on the way back; `()` is nothing;
//! - a length (of a `String`, `Vec`, `Box<[T]>`) is a LEB128 varint, and the
//!   elements follow; an array has no length, its type says it; `Option` is
//!   a tag byte (0 or 1) and the value; a tuple is its fields in order.
//!
//! Each type also has a name ([`Persist::type_name`]) that the log writes
//! with each table and compares on reopen, so that a table is never read
//! back as a type it was not written as.
//!
//! Decoding never trusts its input. It reads only within the bytes it is
//! given, and checks a length against the bytes left before it allocates
//! for it: a garbage length of 2⁶⁰ is an error, not an attempt to allocate
//! 2⁶⁰ elements. Elements that occupy no memory (`()`, `[T; 0]`) also
//! occupy no bytes, so their count cannot be checked against the bytes
//! left; it is capped at [`MAX_ZERO_SIZED_LEN`] instead, which bounds the
//! time a garbage length can cost.
//!
//! A key type has no trait bound the engine could dispatch on, so encodings
//! are found at run time: a [`Codecs`] maps `TypeId`s to type-erased
//! [`Codec`]s. Row types go through [`Tuple::codec`], which the crate's
//! sequence rows (`[A; N]`, `Vec<A>`, `Box<[A]>`) override to compose a
//! codec from their element's. A composed codec holds its element's
//! `Persist` functions as plain function pointers taken when the element was
//! registered, so a row of integers costs one indirect call for the whole
//! slice, not one per element.

use crate::Tuple;
use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::mem::size_of;
use std::sync::Arc;

/// The most elements a sequence of a zero-sized type may have on decode.
///
/// A zero-sized element (such as `()`) encodes to no bytes, so its count
/// cannot be checked against the bytes left; this cap bounds the work a
/// garbage count can cause. A longer sequence of a zero-sized type encodes
/// but does not decode.
pub(crate) const MAX_ZERO_SIZED_LEN: usize = 1 << 20;

/// The encoding of a key or row type in the log and in checkpoints.
///
/// Implemented for the integers, `f32`, `f64`, `bool`, `char`, `()`,
/// `String`, and, from the encodings of their parts, `Option<T>`,
/// `Vec<T>`, `Box<[T]>`, `[T; N]` and tuples of two to four. For a type of
/// your own, encode its fields one after the other and decode them in the
/// same order; then register it (`Codecs::register`) so that a durable
/// database can write it.
///
/// ```
/// use multiverse::{Codec, DecodeError, Persist};
///
/// #[derive(Debug, PartialEq)]
/// struct Account { owner: String, balance: i64, frozen: bool }
///
/// impl Persist for Account {
///     // Stable across builds and versions of the program: change it
///     // when the encoding changes, and a reopen with the old log fails
///     // cleanly instead of misreading it.
///     fn type_name() -> String {
///         "myapp.Account.v1".into()
///     }
///     fn encode(&self, out: &mut Vec<u8>) {
///         self.owner.encode(out);
///         self.balance.encode(out);
///         self.frozen.encode(out);
///     }
///     fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
///         Ok(Account {
///             owner: String::decode(input)?,
///             balance: i64::decode(input)?,
///             frozen: bool::decode(input)?,
///         })
///     }
/// }
///
/// let codec = Codec::<Account>::of();
/// let ada = Account { owner: "ada".into(), balance: -7, frozen: false };
/// let mut bytes = Vec::new();
/// codec.encode(&ada, &mut bytes);
/// assert_eq!(codec.decode_all(&bytes)?, ada);
/// // Truncated or padded input is an error, never a panic.
/// assert!(codec.decode_all(&bytes[..bytes.len() - 1]).is_err());
/// bytes.push(0);
/// assert!(codec.decode_all(&bytes).is_err());
/// # Ok::<(), DecodeError>(())
/// ```
///
/// `decode` must never panic, whatever the bytes: return a [`DecodeError`]
/// ([`DecodeError::new`] makes one) for anything it cannot read. A value
/// whose type occupies memory must encode to at least one byte, or a
/// `Vec` of it will not decode (lengths are checked against the bytes
/// left); a sequence of a zero-sized type (`Vec<()>`) decodes up to 2²⁰
/// elements.
pub trait Persist: Sized + Send + Sync + 'static {
    /// A name for the type, stable across builds, compilers and crate
    /// versions (written with each table, compared on reopen): `"u64"`,
    /// `"string"`, `"[i64;4]"`, `"vec<u64>"`, `"(u64,string)"`, ... A user
    /// type chooses its own, e.g. `"myapp.Account.v1"`.
    fn type_name() -> String;

    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from the front of `input` and advances it past it.
    /// Never panics on any input (truncated, garbage): `Err`. After an
    /// `Err`, where `input` points is unspecified.
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError>;

    /// Appends the encodings of `items`, one after the other (no length).
    /// Overridden by the integers (`u8`: one copy) so that sequences of
    /// them encode without a call per element.
    fn encode_slice(items: &[Self], out: &mut Vec<u8>) {
        for item in items {
            item.encode(out);
        }
    }

    /// Reads `n` values from the front of `input` onto the end of `out`.
    /// Overridden by the integers, like [`encode_slice`](Persist::encode_slice).
    fn decode_into(n: usize, input: &mut &[u8], out: &mut Vec<Self>) -> Result<(), DecodeError> {
        // Never reserve more than the bytes left could hold (a caller's `n`
        // may come from the input); `push` grows the rest.
        out.reserve(n.min(input.len()));
        for _ in 0..n {
            out.push(Self::decode(input)?);
        }
        Ok(())
    }
}

/// Bytes that do not decode as the type asked for: truncated, garbage, or
/// written as another type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    what: Cow<'static, str>,
}

impl DecodeError {
    /// An error that says what could not be decoded, for a hand-written
    /// [`Persist::decode`].
    pub fn new(what: impl Into<Cow<'static, str>>) -> Self {
        DecodeError { what: what.into() }
    }

    /// What could not be decoded.
    pub fn what(&self) -> &str {
        &self.what
    }

    fn short(need: usize, left: usize) -> Self {
        DecodeError::new(format!("{need} bytes needed, {left} left"))
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode: {}", self.what)
    }
}

impl std::error::Error for DecodeError {}

// ---------------------------------------------------------------------------
// Primitive readers and writers.

/// The first `W` bytes of `input`, which advances past them.
#[inline]
fn take<const W: usize>(input: &mut &[u8]) -> Result<[u8; W], DecodeError> {
    match input.split_first_chunk::<W>() {
        Some((head, rest)) => {
            *input = rest;
            Ok(*head)
        }
        None => Err(DecodeError::short(W, input.len())),
    }
}

/// The first `n * width` bytes of `input`, which advances past them.
#[inline]
fn take_slice<'a>(input: &mut &'a [u8], n: usize, width: usize) -> Result<&'a [u8], DecodeError> {
    let left = input.len();
    match n.checked_mul(width) {
        Some(need) if need <= left => {
            let (head, rest) = input.split_at(need);
            *input = rest;
            Ok(head)
        }
        _ => Err(DecodeError::new(format!(
            "{n} values of {width} bytes needed, {left} bytes left"
        ))),
    }
}

/// Appends `v` as a LEB128 varint (7 bits a byte, low first; the high bit
/// says another byte follows): 1 byte below 128, at most 10.
#[inline]
pub(crate) fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint; more than 64 bits is an error.
#[inline]
pub(crate) fn read_varint(input: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut v = 0u64;
    for i in 0..10 {
        let Some((&b, rest)) = input.split_first() else {
            return Err(DecodeError::new("a varint is cut short"));
        };
        *input = rest;
        // The tenth byte holds bit 63 only.
        if i == 9 && b > 1 {
            break;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::new("a varint exceeds 64 bits"))
}

#[inline]
fn write_len(n: usize, out: &mut Vec<u8>) {
    write_varint(n as u64, out);
}

/// Reads the length of a sequence of `T` and checks it against the bytes
/// left (every element of a type that occupies memory takes at least one
/// byte), or against [`MAX_ZERO_SIZED_LEN`] for a zero-sized `T`. So the
/// caller may allocate for it.
#[inline]
fn read_seq_len<T>(input: &mut &[u8]) -> Result<usize, DecodeError> {
    let n = read_varint(input)?;
    let limit = if size_of::<T>() == 0 {
        MAX_ZERO_SIZED_LEN
    } else {
        input.len()
    };
    match usize::try_from(n) {
        Ok(n) if n <= limit => Ok(n),
        _ => Err(DecodeError::new(format!(
            "a length of {n} exceeds the {} bytes left",
            input.len()
        ))),
    }
}

// ---------------------------------------------------------------------------
// Scalars.

impl Persist for u8 {
    fn type_name() -> String {
        "u8".to_owned()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        take::<1>(input).map(|[b]| b)
    }
    #[inline]
    fn encode_slice(items: &[Self], out: &mut Vec<u8>) {
        out.extend_from_slice(items);
    }
    #[inline]
    fn decode_into(n: usize, input: &mut &[u8], out: &mut Vec<Self>) -> Result<(), DecodeError> {
        out.extend_from_slice(take_slice(input, n, 1)?);
        Ok(())
    }
}

macro_rules! fixed_width_int {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Persist for $t {
            fn type_name() -> String {
                $name.to_owned()
            }
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                take(input).map(<$t>::from_le_bytes)
            }
            #[inline]
            fn encode_slice(items: &[Self], out: &mut Vec<u8>) {
                // Grown once, then filled word by word: no capacity check
                // per element (a copy, on a little-endian machine).
                const W: usize = size_of::<$t>();
                let start = out.len();
                out.resize(start + std::mem::size_of_val(items), 0);
                let (words, _) = out[start..].as_chunks_mut::<W>();
                for (w, x) in words.iter_mut().zip(items) {
                    *w = x.to_le_bytes();
                }
            }
            #[inline]
            fn decode_into(
                n: usize,
                input: &mut &[u8],
                out: &mut Vec<Self>,
            ) -> Result<(), DecodeError> {
                const W: usize = size_of::<$t>();
                let bytes = take_slice(input, n, W)?;
                let (words, _) = bytes.as_chunks::<W>();
                out.extend(words.iter().map(|w| <$t>::from_le_bytes(*w)));
                Ok(())
            }
        }
    )*};
}

fixed_width_int!(
    u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128",
);

/// `usize` and `isize` travel as their 64-bit forms.
macro_rules! word_int {
    ($($t:ty as $wire:ty => $name:literal),* $(,)?) => {$(
        impl Persist for $t {
            fn type_name() -> String {
                $name.to_owned()
            }
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                // Lossless: no supported target has words above 64 bits.
                (*self as $wire).encode(out);
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                let w = <$wire>::decode(input)?;
                <$t>::try_from(w).map_err(|_| {
                    DecodeError::new(format!(concat!("{} does not fit a ", $name), w))
                })
            }
        }
    )*};
}

word_int!(usize as u64 => "usize", isize as i64 => "isize");

macro_rules! float {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Persist for $t {
            fn type_name() -> String {
                $name.to_owned()
            }
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                self.to_bits().encode(out);
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                take(input).map(<$t>::from_le_bytes)
            }
        }
    )*};
}

float!(f32 => "f32", f64 => "f64");

impl Persist for bool {
    fn type_name() -> String {
        "bool".to_owned()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take::<1>(input)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(DecodeError::new(format!("{b} is not a bool"))),
        }
    }
}

impl Persist for char {
    fn type_name() -> String {
        "char".to_owned()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        u32::from(*self).encode(out);
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let c = u32::decode(input)?;
        char::from_u32(c).ok_or_else(|| DecodeError::new(format!("{c:#x} is not a char")))
    }
}

impl Persist for () {
    fn type_name() -> String {
        "()".to_owned()
    }
    #[inline]
    fn encode(&self, _: &mut Vec<u8>) {}
    #[inline]
    fn decode(_: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(())
    }
}

impl Persist for String {
    fn type_name() -> String {
        "string".to_owned()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = read_seq_len::<u8>(input)?;
        let bytes = take_slice(input, n, 1)?;
        // Validated before anything is allocated.
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(DecodeError::new(format!("a string is not UTF-8: {e}"))),
        }
    }
}

// ---------------------------------------------------------------------------
// Compounds.

impl<T: Persist> Persist for Option<T> {
    fn type_name() -> String {
        format!("option<{}>", T::type_name())
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                x.encode(out);
            }
        }
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take::<1>(input)? {
            [0] => Ok(None),
            [1] => T::decode(input).map(Some),
            [b] => Err(DecodeError::new(format!("{b} is not an option tag"))),
        }
    }
}

impl<T: Persist> Persist for Vec<T> {
    fn type_name() -> String {
        format!("vec<{}>", T::type_name())
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(self.len(), out);
        T::encode_slice(self, out);
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = read_seq_len::<T>(input)?;
        let mut v = Vec::with_capacity(n);
        T::decode_into(n, input, &mut v)?;
        Ok(v)
    }
}

impl<T: Persist> Persist for Box<[T]> {
    fn type_name() -> String {
        format!("box<[{}]>", T::type_name())
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(self.len(), out);
        T::encode_slice(self, out);
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Vec::<T>::decode(input).map(Vec::into_boxed_slice)
    }
}

/// Turns the `N` decoded elements into an array. A `decode_into` that
/// pushed another count (a user's override) is an error, not a panic.
#[inline]
fn into_array<T, const N: usize>(v: Vec<T>) -> Result<[T; N], DecodeError> {
    <[T; N]>::try_from(v)
        .map_err(|v| DecodeError::new(format!("{} elements decoded for an array of {N}", v.len())))
}

impl<T: Persist, const N: usize> Persist for [T; N] {
    fn type_name() -> String {
        format!("[{};{N}]", T::type_name())
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        T::encode_slice(self, out);
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        // N comes from the type, not the input: allocating for it is safe.
        let mut v = Vec::with_capacity(N);
        T::decode_into(N, input, &mut v)?;
        into_array(v)
    }
}

macro_rules! tuple {
    ($($t:ident),+) => {
        impl<$($t: Persist),+> Persist for ($($t,)+) {
            fn type_name() -> String {
                let names = [$($t::type_name()),+];
                format!("({})", names.join(","))
            }
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                #[allow(non_snake_case)]
                let ($($t,)+) = self;
                $($t.encode(out);)+
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok(($($t::decode(input)?,)+))
            }
        }
    };
}

tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);

// ---------------------------------------------------------------------------
// Codec: one type's encoding, type-erased.

type EncodeFn<X> = fn(&X, &mut Vec<u8>);
type DecodeFn<X> = fn(&mut &[u8]) -> Result<X, DecodeError>;
type EncodeSliceFn<X> = fn(&[X], &mut Vec<u8>);
type DecodeIntoFn<X> = fn(usize, &mut &[u8], &mut Vec<X>) -> Result<(), DecodeError>;
type DynEncode<X> = Box<dyn Fn(&X, &mut Vec<u8>) + Send + Sync>;
type DynDecode<X> = Box<dyn Fn(&mut &[u8]) -> Result<X, DecodeError> + Send + Sync>;

enum Imp<X> {
    /// A [`Persist`] type's own functions, taken at registration.
    Persist {
        encode: EncodeFn<X>,
        decode: DecodeFn<X>,
        encode_slice: EncodeSliceFn<X>,
        decode_into: DecodeIntoFn<X>,
    },
    /// Composed at run time (a sequence of a registered element) or from
    /// serde.
    Dyn {
        encode: DynEncode<X>,
        decode: DynDecode<X>,
    },
}

struct Inner<X> {
    name: String,
    imp: Imp<X>,
}

/// How one type is encoded, found at run time (a key type has no bound to
/// dispatch on). Cheap to clone: one shared allocation.
///
/// Made from a [`Persist`] type with [`Codec::of`], found in a [`Codecs`]
/// by type with [`Codecs::get`], or, for a row type, built by
/// [`Codecs::row`] from the codec of its elements.
pub struct Codec<X> {
    inner: Arc<Inner<X>>,
}

impl<X> Clone for Codec<X> {
    fn clone(&self) -> Self {
        Codec {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<X> fmt::Debug for Codec<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Codec").field(&self.inner.name).finish()
    }
}

impl<X: 'static> Codec<X> {
    /// The encoding that `X` implements.
    pub fn of() -> Self
    where
        X: Persist,
    {
        Codec {
            inner: Arc::new(Inner {
                name: X::type_name(),
                imp: Imp::Persist {
                    encode: X::encode,
                    decode: X::decode,
                    encode_slice: X::encode_slice,
                    decode_into: X::decode_into,
                },
            }),
        }
    }

    fn from_closures(
        name: String,
        encode: impl Fn(&X, &mut Vec<u8>) + Send + Sync + 'static,
        decode: impl Fn(&mut &[u8]) -> Result<X, DecodeError> + Send + Sync + 'static,
    ) -> Self {
        Codec {
            inner: Arc::new(Inner {
                name,
                imp: Imp::Dyn {
                    encode: Box::new(encode),
                    decode: Box::new(decode),
                },
            }),
        }
    }

    /// The type's stable name ([`Persist::type_name`]).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Appends the encoding of `x` to `out`.
    #[inline]
    pub fn encode(&self, x: &X, out: &mut Vec<u8>) {
        match &self.inner.imp {
            Imp::Persist { encode, .. } => encode(x, out),
            Imp::Dyn { encode, .. } => encode(x, out),
        }
    }

    /// Reads one value from the front of `input` and advances it past it.
    /// Never panics: bytes that are not an `X` are a [`DecodeError`].
    #[inline]
    pub fn decode(&self, input: &mut &[u8]) -> Result<X, DecodeError> {
        match &self.inner.imp {
            Imp::Persist { decode, .. } => decode(input),
            Imp::Dyn { decode, .. } => decode(input),
        }
    }

    /// Decodes a whole buffer: Err if bytes are left over.
    pub fn decode_all(&self, bytes: &[u8]) -> Result<X, DecodeError> {
        let mut input = bytes;
        let x = self.decode(&mut input)?;
        if input.is_empty() {
            Ok(x)
        } else {
            Err(DecodeError::new(format!(
                "{} bytes left after a {}",
                input.len(),
                self.name()
            )))
        }
    }

    /// Appends the encodings of `xs`: one call for a `Persist` type.
    #[inline]
    fn encode_slice(&self, xs: &[X], out: &mut Vec<u8>) {
        match &self.inner.imp {
            Imp::Persist { encode_slice, .. } => encode_slice(xs, out),
            Imp::Dyn { encode, .. } => xs.iter().for_each(|x| encode(x, out)),
        }
    }

    /// Reads `n` values onto `out`: one call for a `Persist` type.
    #[inline]
    fn decode_into(
        &self,
        n: usize,
        input: &mut &[u8],
        out: &mut Vec<X>,
    ) -> Result<(), DecodeError> {
        match &self.inner.imp {
            Imp::Persist { decode_into, .. } => decode_into(n, input, out),
            Imp::Dyn { decode, .. } => {
                out.reserve(n.min(input.len()));
                for _ in 0..n {
                    out.push(decode(input)?);
                }
                Ok(())
            }
        }
    }

    /// The codec of `[X; N]`, named `"[<elem>;N]"`: the same bytes as
    /// `<[X; N] as Persist>` when `X: Persist`.
    pub(crate) fn array<const N: usize>(self) -> Codec<[X; N]> {
        let name = format!("[{};{N}]", self.name());
        let elem = self.clone();
        Codec::from_closures(
            name,
            move |x: &[X; N], out| elem.encode_slice(x, out),
            move |input| {
                let mut v = Vec::with_capacity(N);
                self.decode_into(N, input, &mut v)?;
                into_array(v)
            },
        )
    }

    /// The codec of `Vec<X>`, named `"vec<<elem>>"`: the same bytes as
    /// `<Vec<X> as Persist>` when `X: Persist`.
    pub(crate) fn vec(self) -> Codec<Vec<X>> {
        let name = format!("vec<{}>", self.name());
        let elem = self.clone();
        Codec::from_closures(
            name,
            move |x: &Vec<X>, out| {
                write_len(x.len(), out);
                elem.encode_slice(x, out);
            },
            move |input| self.decode_vec(input),
        )
    }

    /// The codec of `Box<[X]>`, named `"box<[<elem>]>"`: the same bytes as
    /// `<Box<[X]> as Persist>` when `X: Persist`.
    pub(crate) fn boxed(self) -> Codec<Box<[X]>> {
        let name = format!("box<[{}]>", self.name());
        let elem = self.clone();
        Codec::<Box<[X]>>::from_closures(
            name,
            move |x, out| {
                write_len(x.len(), out);
                elem.encode_slice(x, out);
            },
            move |input| self.decode_vec(input).map(Vec::into_boxed_slice),
        )
    }

    fn decode_vec(&self, input: &mut &[u8]) -> Result<Vec<X>, DecodeError> {
        let n = read_seq_len::<X>(input)?;
        let mut v = Vec::with_capacity(n);
        self.decode_into(n, input, &mut v)?;
        Ok(v)
    }
}

#[cfg(feature = "serde")]
mod serde_codec {
    use super::{Codec, DecodeError};

    /// A postcard output that appends to a borrowed buffer.
    struct Append<'a>(&'a mut Vec<u8>);

    impl postcard::ser_flavors::Flavor for Append<'_> {
        type Output = ();
        fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
            self.0.extend_from_slice(data);
            Ok(())
        }
        fn try_push(&mut self, data: u8) -> postcard::Result<()> {
            self.0.push(data);
            Ok(())
        }
        fn finalize(self) -> postcard::Result<()> {
            Ok(())
        }
    }

    impl<X> Codec<X>
    where
        X: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        /// `X` in postcard's encoding, under the name `name`.
        ///
        /// Encoding panics if `X`'s `Serialize` fails, which postcard
        /// reports only for a sequence or map of unknown length or an error
        /// the implementation raises itself.
        pub(crate) fn serde(name: &str) -> Self {
            let type_name = name.to_owned();
            Codec::from_closures(
                name.to_owned(),
                move |x: &X, out| {
                    let start = out.len();
                    if let Err(e) = postcard::serialize_with_flavor(x, Append(out)) {
                        out.truncate(start);
                        panic!("multiverse: postcard cannot encode a {type_name}: {e}");
                    }
                },
                |input| match postcard::take_from_bytes::<X>(input) {
                    Ok((x, rest)) => {
                        *input = rest;
                        Ok(x)
                    }
                    Err(e) => Err(DecodeError::new(format!("postcard: {e}"))),
                },
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Codecs: the registry.

#[derive(Clone)]
struct Entry {
    name: String,
    /// A `Codec<X>` for the entry's `TypeId`.
    codec: Arc<dyn Any + Send + Sync>,
}

/// The types a database can encode: every scalar built in, plus what the
/// builder registers.
///
/// Built in: `u8` to `u128`, `usize`, `i8` to `i128`, `isize`, `f32`,
/// `f64`, `bool`, `char`, `()`, `String`, `Vec<u8>` and `Box<[u8]>`. A key
/// type must be registered itself ([`get`](Codecs::get) finds it by
/// `TypeId` alone); a row type `[A; N]`, `Vec<A>` or `Box<[A]>` needs only
/// its element registered ([`row`](Codecs::row)). A later registration of a
/// type replaces the earlier one.
///
/// ```
/// use multiverse::{Codecs, DecodeError};
///
/// let codecs = Codecs::new();
/// // A key: registered, found by type.
/// let key = codecs.get::<u64>().unwrap();
/// assert_eq!(key.name(), "u64");
/// // A row: composed from its element's codec.
/// let row = codecs.row::<[i64; 4]>().unwrap();
/// assert_eq!(row.name(), "[i64;4]");
/// let mut bytes = Vec::new();
/// row.encode(&[1, -2, 3, -4], &mut bytes);
/// assert_eq!(bytes.len(), 32);
/// assert_eq!(row.decode_all(&bytes)?, [1, -2, 3, -4]);
/// // Neither registered nor composed from a registered element.
/// assert!(codecs.get::<(u64, u64)>().is_none());
/// assert!(codecs.row::<Vec<(u64, u64)>>().is_none());
///
/// let mut codecs = codecs;
/// codecs.register::<(u64, u64)>();
/// let row = codecs.row::<Vec<(u64, u64)>>().unwrap();
/// assert_eq!(row.name(), "vec<(u64,u64)>");
/// # Ok::<(), DecodeError>(())
/// ```
#[derive(Clone)]
pub struct Codecs {
    map: HashMap<TypeId, Entry>,
}

impl Codecs {
    /// The built-in codecs.
    pub fn new() -> Self {
        let mut c = Codecs {
            map: HashMap::new(),
        };
        c.register::<u8>();
        c.register::<u16>();
        c.register::<u32>();
        c.register::<u64>();
        c.register::<u128>();
        c.register::<usize>();
        c.register::<i8>();
        c.register::<i16>();
        c.register::<i32>();
        c.register::<i64>();
        c.register::<i128>();
        c.register::<isize>();
        c.register::<f32>();
        c.register::<f64>();
        c.register::<bool>();
        c.register::<char>();
        c.register::<()>();
        c.register::<String>();
        c.register::<Vec<u8>>();
        c.register::<Box<[u8]>>();
        c
    }

    fn insert<X: 'static>(&mut self, codec: Codec<X>) {
        let name = codec.name().to_owned();
        self.map.insert(
            TypeId::of::<X>(),
            Entry {
                name,
                codec: Arc::new(codec),
            },
        );
    }

    /// Registers `X`'s own encoding.
    pub fn register<X: Persist>(&mut self) {
        self.insert(Codec::<X>::of());
    }

    /// Registers `X` encoded by serde in postcard's format, under the
    /// stable name `name` (choose one as for [`Persist::type_name`]).
    ///
    /// # Panics
    ///
    /// Encoding a value panics if its `Serialize` fails: postcard fails only
    /// for a sequence or map of unknown length, or an error the `Serialize`
    /// implementation raises itself. Decoding never panics.
    #[cfg(feature = "serde")]
    pub fn register_serde<X>(&mut self, name: &str)
    where
        X: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        self.insert(Codec::<X>::serde(name));
    }

    /// The codec registered for `X`, by `TypeId` alone (used for keys: `K`
    /// has no trait to dispatch on).
    pub fn get<X: 'static>(&self) -> Option<Codec<X>> {
        let entry = self.map.get(&TypeId::of::<X>())?;
        entry.codec.downcast_ref::<Codec<X>>().cloned()
    }

    /// The codec of a row type: [`T::codec(self)`](Tuple::codec), so a
    /// sequence row is composed from its element's codec.
    pub fn row<T: Tuple>(&self) -> Option<Codec<T>> {
        T::codec(self)
    }
}

impl Default for Codecs {
    fn default() -> Self {
        Codecs::new()
    }
}

impl fmt::Debug for Codecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.map.values().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        f.debug_set().entries(names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(v, &mut out);
        out
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for bits in 0..64 {
            for v in [1u64 << bits, (1u64 << bits) - 1, (1u64 << bits) + 1] {
                let bytes = varint(v);
                assert_eq!(
                    bytes.len(),
                    (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
                );
                let mut input = &bytes[..];
                assert_eq!(read_varint(&mut input), Ok(v));
                assert!(input.is_empty());
            }
        }
        assert_eq!(varint(u64::MAX).len(), 10);
    }

    #[test]
    fn a_varint_past_64_bits_is_an_error() {
        // Ten bytes whose last carries more than bit 63.
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        assert!(read_varint(&mut &bytes[..]).is_err());
        // Eleven bytes.
        let bytes = [0x80u8; 11];
        assert!(read_varint(&mut &bytes[..]).is_err());
        // Cut short.
        assert!(read_varint(&mut &[0x80u8][..]).is_err());
    }

    #[test]
    fn a_sequence_length_is_checked_against_the_bytes_left() {
        let mut bytes = varint(3);
        bytes.extend([1, 2]);
        assert!(read_seq_len::<u8>(&mut &bytes[..]).is_err());
        bytes.push(3);
        assert_eq!(read_seq_len::<u8>(&mut &bytes[..]), Ok(3));
        // Zero-sized elements take no bytes: capped by count instead.
        let bytes = varint(MAX_ZERO_SIZED_LEN as u64);
        assert_eq!(read_seq_len::<()>(&mut &bytes[..]), Ok(MAX_ZERO_SIZED_LEN));
        let bytes = varint(MAX_ZERO_SIZED_LEN as u64 + 1);
        assert!(read_seq_len::<()>(&mut &bytes[..]).is_err());
    }
}
