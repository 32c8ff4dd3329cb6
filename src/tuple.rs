//! The row type's contract.
//!
//! A tuple is a fixed sequence of attributes. The append-only and time-travel
//! stores copy it whole; the delta store records, per update, only the
//! before-images of the attributes that changed (a [`Tuple::Delta`]) and
//! rebuilds an old version by applying them backwards to a newer one.

use crate::{Codec, Codecs};
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

    #[test]
    fn boxed_slice_delta_round_trips() {
        let old: Box<[u8]> = vec![1, 2, 3].into();
        let new: Box<[u8]> = vec![1, 5].into();
        let mut back = new.clone();
        back.apply(&old.delta_to(&new));
        assert_eq!(back, old);
    }
}
