//! The row type's contract.
//!
//! A tuple is a fixed sequence of attributes. The append-only and time-travel
//! stores copy it whole; the delta store records, per update, only the
//! before-images of the attributes that changed (a [`Tuple::Delta`]) and
//! rebuilds an old version by applying them backwards to a newer one.

use crate::{Codec, Codecs};
use std::any::{Any, TypeId};
use std::mem::size_of;

/// A row that a version store can copy whole or record attribute by attribute.
///
/// Implemented for `[A; N]`, `Vec<A>` and `Box<[A]>` with
/// `A: Clone + PartialEq + Send + Sync + 'static`. For a struct of your own,
/// write the delta by hand: one `Option` per attribute is the simplest form.
///
/// ```
/// use multiverse::Tuple;
///
/// #[derive(Clone, PartialEq, Debug)]
/// struct Account { owner: String, balance: i64 }
///
/// /// Before-images of the attributes an update changed.
/// #[derive(Default)]
/// struct AccountDelta { owner: Option<String>, balance: Option<i64> }
///
/// impl Tuple for Account {
///     type Delta = AccountDelta;
///     fn attributes(&self) -> usize { 2 }
///     fn delta_to(&self, newer: &Self) -> AccountDelta {
///         AccountDelta {
///             owner: (self.owner != newer.owner).then(|| self.owner.clone()),
///             balance: (self.balance != newer.balance).then_some(self.balance),
///         }
///     }
///     fn apply(&mut self, d: &AccountDelta) {
///         if let Some(o) = &d.owner { self.owner = o.clone(); }
///         if let Some(b) = d.balance { self.balance = b; }
///     }
///     fn delta_bytes(d: &AccountDelta) -> usize {
///         std::mem::size_of::<AccountDelta>() + d.owner.as_ref().map_or(0, |o| o.capacity())
///     }
///     fn size_bytes(&self) -> usize { std::mem::size_of::<Self>() + self.owner.capacity() }
/// }
///
/// let old = Account { owner: "ada".into(), balance: 10 };
/// let mut new = Account { owner: "ada".into(), balance: 7 };
/// let d = old.delta_to(&new);
/// assert!(d.owner.is_none());
/// new.apply(&d);
/// assert_eq!(new, old);
/// ```
///
/// ## Durable rows
///
/// A durable database writes rows through [`Tuple::codec`]. The crate's
/// sequence rows need nothing more: `[A; N]`, `Vec<A>` and `Box<[A]>` are
/// encoded element by element with the codec of `A`, so `[i64; 4]`,
/// `Vec<u8>` or `[String; 3]` rows work as they are. A row type of your own
/// also implements [`Persist`](crate::Persist), and is registered with
/// [`Codecs::register`]:
///
/// ```
/// use multiverse::{Codecs, DecodeError, Persist, Tuple};
///
/// #[derive(Clone, PartialEq, Debug)]
/// struct Point { x: i32, y: i32 }
///
/// impl Tuple for Point {
///     type Delta = Point; // the whole old row: small enough
///     fn attributes(&self) -> usize { 2 }
///     fn delta_to(&self, _newer: &Self) -> Point { self.clone() }
///     fn apply(&mut self, d: &Point) { *self = d.clone(); }
///     fn delta_bytes(_: &Point) -> usize { std::mem::size_of::<Point>() }
/// }
///
/// impl Persist for Point {
///     fn type_name() -> String { "example.Point.v1".into() }
///     fn encode(&self, out: &mut Vec<u8>) {
///         self.x.encode(out);
///         self.y.encode(out);
///     }
///     fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
///         Ok(Point { x: i32::decode(input)?, y: i32::decode(input)? })
///     }
/// }
///
/// let mut codecs = Codecs::new();
/// assert!(codecs.row::<Point>().is_none()); // not durable yet
/// codecs.register::<Point>();
/// let codec = codecs.row::<Point>().unwrap();
/// assert_eq!(codec.name(), "example.Point.v1");
/// let mut bytes = Vec::new();
/// codec.encode(&Point { x: 3, y: -4 }, &mut bytes);
/// assert_eq!(codec.decode_all(&bytes)?, Point { x: 3, y: -4 });
///
/// // And a sequence of them, composed from the element's codec.
/// let path = codecs.row::<Vec<Point>>().unwrap();
/// assert_eq!(path.name(), "vec<example.Point.v1>");
/// # Ok::<(), DecodeError>(())
/// ```
pub trait Tuple: Clone + Send + Sync + 'static {
    /// Before-images of some of the attributes: what the delta store keeps
    /// for one update.
    type Delta: Send + Sync + 'static;

    /// The number of attributes.
    fn attributes(&self) -> usize;

    /// The before-image that turns `newer` back into `self`: the attributes
    /// of `self` that differ in `newer`, with their values in `self`.
    fn delta_to(&self, newer: &Self) -> Self::Delta;

    /// Applies a before-image made by [`delta_to`](Tuple::delta_to): turns
    /// the newer tuple back into the older one.
    fn apply(&mut self, delta: &Self::Delta);

    /// Bytes a delta occupies (inline and on the heap), for statistics.
    fn delta_bytes(delta: &Self::Delta) -> usize;

    /// Bytes this tuple occupies (inline and on the heap), for statistics.
    fn size_bytes(&self) -> usize {
        size_of::<Self>()
    }

    /// The encoding of this row type for a durable database, if it has one.
    /// The default finds `Self` among what `codecs` has registered; the
    /// crate's impls for `[A; N]`, `Vec<A>` and `Box<[A]>` build it from
    /// the codec of `A` (unless `Self` itself is registered, which wins).
    /// Override only to give a hand-made encoding.
    fn codec(codecs: &Codecs) -> Option<Codec<Self>> {
        codecs.get::<Self>()
    }
    /// How the delta store may keep this row as 64-bit words updated in
    /// place (the paper's in-place master), or `None` (the default): the
    /// store then replaces the master copy-on-write. Only the crate can make
    /// a [`WordLayout`]; it does for `[A; N]` with `A` one of `i64`, `u64`,
    /// `f64`. Not part of the stable interface: nothing to implement.
    #[doc(hidden)]
    fn word_layout() -> Option<WordLayout<Self>> {
        None
    }
}

/// How a row of word-sized attributes converts to and from 64-bit words,
/// for the delta store's in-place master (`store/words.rs`, invariant **IP1**
/// of `docs/design.md`). Opaque: only the crate makes one, for the arrays of
/// `i64`, `u64` and `f64`; conversions go through `as` and
/// `to_bits`/`from_bits`, never a transmute, so every word pattern is a valid
/// attribute and a row built from words read in the middle of an update (and
/// then discarded) is merely a wrong row, never undefined behaviour.
#[doc(hidden)]
pub struct WordLayout<T> {
    /// Words per row.
    pub(crate) len: usize,
    /// Writes the row's words into a slice of `len` words.
    pub(crate) to_words: fn(&T, &mut [u64]),
    /// Builds a row from a slice of `len` words.
    pub(crate) from_words: fn(&[u64]) -> T,
}

impl<T> Clone for WordLayout<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for WordLayout<T> {}

impl<T> std::fmt::Debug for WordLayout<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordLayout")
            .field("len", &self.len)
            .finish()
    }
}

/// Is `A` a word-sized attribute that converts losslessly to a `u64` and
/// back (`i64`, `u64`, `f64`)?
fn is_word<A: 'static>() -> bool {
    let a = TypeId::of::<A>();
    a == TypeId::of::<i64>() || a == TypeId::of::<u64>() || a == TypeId::of::<f64>()
}

/// The words of an array of word attributes, one downcast for the whole
/// row (then a plain loop the compiler can vectorise).
fn array_to_words<A: 'static, const N: usize>(row: &[A; N], words: &mut [u64]) {
    let row: &dyn Any = row;
    if let Some(r) = row.downcast_ref::<[i64; N]>() {
        words.iter_mut().zip(r).for_each(|(w, &a)| *w = a as u64);
    } else if let Some(r) = row.downcast_ref::<[u64; N]>() {
        words.copy_from_slice(r);
    } else if let Some(r) = row.downcast_ref::<[f64; N]>() {
        words.iter_mut().zip(r).for_each(|(w, a)| *w = a.to_bits());
    } else {
        unreachable!("only arrays of word attributes have a word layout")
    }
}

/// The array of word attributes that `words` hold, as [`array_to_words`].
fn array_from_words<A: 'static, const N: usize>(words: &[u64]) -> [A; N] {
    let words: &[u64; N] = words.try_into().expect("a row of N words");
    let mut out: Option<[A; N]> = None;
    let slot: &mut dyn Any = &mut out;
    if let Some(s) = slot.downcast_mut::<Option<[i64; N]>>() {
        *s = Some(std::array::from_fn(|i| words[i] as i64));
    } else if let Some(s) = slot.downcast_mut::<Option<[u64; N]>>() {
        *s = Some(std::array::from_fn(|i| words[i]));
    } else if let Some(s) = slot.downcast_mut::<Option<[f64; N]>>() {
        *s = Some(std::array::from_fn(|i| f64::from_bits(words[i])));
    }
    out.expect("only arrays of word attributes have a word layout")
}

/// The before-image of the changed attributes of a sequence tuple: their
/// positions and old values, or the whole old sequence when that is smaller
/// (most attributes changed) or when positions do not fit in 32 bits; plus
/// the old length when it changed.
///
/// So a before-image never costs more than a whole copy of the old
/// attributes (plus a fixed header): k changed attributes of n cost
/// `min(k · size_of::<(u32, A)>(), n · size_of::<A>())` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceDelta<A> {
    len: usize,
    image: Image<A>,
}

#[derive(Debug, Clone, PartialEq)]
enum Image<A> {
    /// The changed attributes, by position (positions below 2³²).
    Changed(Box<[(u32, A)]>),
    /// Every attribute of the old sequence.
    Whole(Box<[A]>),
}

impl<A> SliceDelta<A> {
    /// The number of attributes this before-image holds.
    pub fn changed(&self) -> usize {
        match &self.image {
            Image::Changed(c) => c.len(),
            Image::Whole(w) => w.len(),
        }
    }

    /// Whether it holds the whole old sequence rather than the changed
    /// attributes.
    pub fn is_whole(&self) -> bool {
        matches!(self.image, Image::Whole(_))
    }
}

fn slice_delta<A: Clone + PartialEq>(old: &[A], new: &[A]) -> SliceDelta<A> {
    let differs = |(i, a): &(usize, &A)| new.get(*i) != Some(*a);
    // Positions are kept as u32: a longer sequence is recorded whole rather
    // than with truncated positions.
    let whole = old.len() > u32::MAX as usize || {
        let k = old.iter().enumerate().filter(differs).count();
        k * size_of::<(u32, A)>() >= std::mem::size_of_val(old)
    };
    let image = if whole {
        Image::Whole(old.into())
    } else {
        Image::Changed(
            old.iter()
                .enumerate()
                .filter(differs)
                .map(|(i, a)| (i as u32, a.clone()))
                .collect(),
        )
    };
    SliceDelta {
        len: old.len(),
        image,
    }
}

fn slice_delta_bytes<A>(d: &SliceDelta<A>) -> usize {
    size_of::<SliceDelta<A>>()
        + match &d.image {
            Image::Changed(c) => c.len() * size_of::<(u32, A)>(),
            Image::Whole(w) => w.len() * size_of::<A>(),
        }
}

/// Applies `d` to a slice of the old length.
fn apply_same_len<A: Clone>(row: &mut [A], d: &SliceDelta<A>) {
    match &d.image {
        Image::Changed(c) => {
            for (i, a) in c.iter() {
                row[*i as usize] = a.clone();
            }
        }
        Image::Whole(w) => row.clone_from_slice(w),
    }
}

impl<A: Clone + PartialEq + Send + Sync + 'static, const N: usize> Tuple for [A; N] {
    type Delta = SliceDelta<A>;
    fn attributes(&self) -> usize {
        N
    }
    fn delta_to(&self, newer: &Self) -> Self::Delta {
        slice_delta(self, newer)
    }
    fn apply(&mut self, delta: &Self::Delta) {
        apply_same_len(self, delta);
    }
    fn delta_bytes(delta: &Self::Delta) -> usize {
        slice_delta_bytes(delta)
    }
    fn codec(codecs: &Codecs) -> Option<Codec<Self>> {
        codecs
            .get::<Self>()
            .or_else(|| codecs.get::<A>().map(Codec::array))
    }
    fn word_layout() -> Option<WordLayout<Self>> {
        is_word::<A>().then_some(WordLayout {
            len: N,
            to_words: array_to_words,
            from_words: array_from_words,
        })
    }
}

impl<A: Clone + PartialEq + Send + Sync + 'static> Tuple for Vec<A> {
    type Delta = SliceDelta<A>;
    fn attributes(&self) -> usize {
        self.len()
    }
    fn delta_to(&self, newer: &Self) -> Self::Delta {
        slice_delta(self, newer)
    }
    fn apply(&mut self, delta: &Self::Delta) {
        match &delta.image {
            Image::Whole(w) => self.clone_from(&w.to_vec()),
            Image::Changed(c) => {
                // Attributes past the newer length are all recorded, in order.
                self.truncate(delta.len);
                for (i, a) in c.iter() {
                    let i = *i as usize;
                    if i < self.len() {
                        self[i] = a.clone();
                    } else {
                        self.push(a.clone());
                    }
                }
            }
        }
    }
    fn delta_bytes(delta: &Self::Delta) -> usize {
        slice_delta_bytes(delta)
    }
    fn codec(codecs: &Codecs) -> Option<Codec<Self>> {
        codecs
            .get::<Self>()
            .or_else(|| codecs.get::<A>().map(Codec::vec))
    }
    fn size_bytes(&self) -> usize {
        size_of::<Self>() + self.capacity() * size_of::<A>()
    }
}

impl<A: Clone + PartialEq + Send + Sync + 'static> Tuple for Box<[A]> {
    type Delta = SliceDelta<A>;
    fn attributes(&self) -> usize {
        self.len()
    }
    fn delta_to(&self, newer: &Self) -> Self::Delta {
        slice_delta(self, newer)
    }
    fn apply(&mut self, delta: &Self::Delta) {
        if delta.len == self.len() {
            apply_same_len(self, delta);
        } else {
            let mut v = std::mem::take(self).into_vec();
            v.apply(delta);
            *self = v.into_boxed_slice();
        }
    }
    fn delta_bytes(delta: &Self::Delta) -> usize {
        slice_delta_bytes(delta)
    }
    fn codec(codecs: &Codecs) -> Option<Codec<Self>> {
        codecs
            .get::<Self>()
            .or_else(|| codecs.get::<A>().map(Codec::boxed))
    }
    fn size_bytes(&self) -> usize {
        size_of::<Self>() + self.len() * size_of::<A>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_delta_holds_only_changed_attributes() {
        let old = [1i64; 100];
        let mut new = old;
        new[42] = 7;
        let d = old.delta_to(&new);
        assert_eq!(d.changed(), 1);
        assert!(<[i64; 100]>::delta_bytes(&d) < 64);
        new.apply(&d);
        assert_eq!(new, old);
    }

    #[test]
    fn vec_delta_restores_a_different_length() {
        let old = vec![1, 2, 3, 4];
        for new in [vec![1, 9], vec![1, 2, 3, 4, 5, 6], vec![], vec![4, 3, 2, 1]] {
            let d = old.delta_to(&new);
            let mut back = new.clone();
            back.apply(&d);
            assert_eq!(back, old, "from {new:?}");
        }
    }

    #[test]
    fn a_delta_of_most_attributes_is_a_whole_copy_and_never_larger() {
        let old: Vec<i64> = (0..100).collect();
        for k in [0, 1, 10, 33, 34, 50, 99, 100] {
            let mut new = old.clone();
            new.iter_mut().take(k).for_each(|a| *a += 1000);
            let d = old.delta_to(&new);
            let whole = size_of::<SliceDelta<i64>>() + 100 * size_of::<i64>();
            let pairs = size_of::<SliceDelta<i64>>() + k * size_of::<(u32, i64)>();
            assert_eq!(Vec::<i64>::delta_bytes(&d), pairs.min(whole), "k = {k}");
            assert_eq!(d.is_whole(), pairs >= whole, "k = {k}");
            let mut back = new.clone();
            back.apply(&d);
            assert_eq!(back, old, "k = {k}");
        }
    }

    #[test]
    fn positions_past_u32_are_never_truncated() {
        // 2^32 + 2 zero-sized attributes: positions do not fit in a u32, so
        // the before-image is whole (a truncated position would restore
        // the wrong attribute).
        let n = u32::MAX as usize + 2;
        let old = vec![(); n];
        let d = slice_delta(&old, &old[..1]);
        assert!(d.is_whole());
        assert_eq!(d.changed(), n);
    }

    /// Arrays of `i64`, `u64` and `f64` have a word layout that round-trips
    /// every bit pattern (a NaN's payload, `-0.0`, `i64::MIN`); other rows
    /// have none.
    #[test]
    fn only_arrays_of_word_attributes_have_a_word_layout() {
        fn round_trip<T: Tuple + PartialEq + std::fmt::Debug>(row: T) {
            let l = T::word_layout().expect("a word layout");
            let mut words = vec![0; l.len];
            (l.to_words)(&row, &mut words);
            assert_eq!((l.from_words)(&words), row);
        }
        round_trip([i64::MIN, -1, 0, i64::MAX]);
        round_trip([u64::MAX, 0, 7]);
        round_trip::<[u64; 0]>([]);
        let nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let l = <[f64; 3]>::word_layout().unwrap();
        let mut words = [0; 3];
        (l.to_words)(&[nan, -0.0, 1.5], &mut words);
        let back = (l.from_words)(&words);
        assert_eq!(back.map(f64::to_bits), [nan, -0.0, 1.5].map(f64::to_bits));
        assert!(<[i32; 4]>::word_layout().is_none());
        assert!(<[u8; 8]>::word_layout().is_none());
        assert!(<Vec<i64>>::word_layout().is_none());
        assert!(<Box<[u64]>>::word_layout().is_none());
    }

    #[test]
    fn boxed_slice_delta_round_trips() {
        let old: Box<[u8]> = vec![1, 2, 3].into();
        let new: Box<[u8]> = vec![1, 5].into();
        let mut back = new.clone();
        back.apply(&old.delta_to(&new));
        assert_eq!(back, old);
    }
}
