//! Delta, or rollback segment (Wu et al. 2017, §3.2; Oracle, InnoDB, HyPer,
//! NoisePage): the master version in the main table, and per update only the
//! before-images of the attributes it changed, newest first.
//!
//! An update of k attributes of an n-attribute tuple keeps a delta record of
//! O(k) bytes (a fixed header plus the k old values, from
//! [`Tuple::delta_to`]). An old snapshot clones the master and applies the
//! before-images backwards until it reaches its version, so reading an old
//! version costs one tuple copy plus the attributes along the chain — the
//! paper's finding that delta reads get dearer with chain length and with
//! the number of attributes read. See [`super::master`] for how the master
//! is kept sound under concurrent readers, and what that costs; for rows
//! whose attributes are all words the master is overwritten in place, as in
//! the paper, under a seqlock of atomics ([`super::words`], IP1).

use super::master::{HistoryKind, MasterStore};
use super::Storage;
use crate::header::{Header, View};
use crate::sync::Ordering;
use crate::Tuple;
use crossbeam_epoch::{Atomic, Guard, Shared};
use std::borrow::Cow;
use std::mem::size_of;

/// The delta store: a master with before-image history.
pub(crate) type Delta<T> = MasterStore<DeltaRecord<T>>;

/// What turns a newer version back into an older one.
enum BeforeImage<T: Tuple> {
    /// The old values of the changed attributes (both versions are rows).
    Attributes(T::Delta),
    /// The whole old version, when one side is a tombstone (insert over a
    /// deleted row, or a delete): boxed, so that the common case stays small.
    Whole(Option<Box<T>>),
}

/// One entry of the rollback segment: the header words of an older version
/// and the before-image that rebuilds it from the next newer one.
pub(crate) struct DeltaRecord<T: Tuple> {
    header: Header,
    before: BeforeImage<T>,
    older: Atomic<DeltaRecord<T>>,
}

impl<T: Tuple> HistoryKind<T> for DeltaRecord<T> {
    const STORAGE: Storage = Storage::Delta;
    const IN_PLACE: bool = true;

    fn preserve(header: Header, old: Option<&T>, new: Option<&T>) -> Self {
        let before = match (old, new) {
            (Some(old), Some(new)) => BeforeImage::Attributes(old.delta_to(new)),
            (old, _) => BeforeImage::Whole(old.map(|o| Box::new(o.clone()))),
        };
        DeltaRecord {
            header,
            before,
            older: Atomic::null(),
        }
    }

    fn header(&self) -> &Header {
        &self.header
    }

    fn older(&self) -> &Atomic<Self> {
        &self.older
    }

    fn undo(&self, newer: Option<T>) -> Option<T> {
        match &self.before {
            BeforeImage::Attributes(delta) => newer.map(|mut r| {
                r.apply(delta);
                r
            }),
            BeforeImage::Whole(old) => old.as_deref().cloned(),
        }
    }

    fn read_history<R>(
        first: Shared<'_, Self>,
        master: Option<Cow<'_, T>>,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        // One copy of the master (none if it is already a copy: an in-place
        // master's), then the before-images applied in place.
        let mut row: Option<T> = master.map(Cow::into_owned);
        let mut cur = first;
        // SAFETY: loaded under `guard`; history items are freed only through
        // the collector after being unlinked.
        while let Some(d) = unsafe { cur.as_ref() } {
            row = d.undo(row);
            if d.header.is_visible(view) {
                return f(row.as_ref());
            }
            // Acquire: pairs with the Release that published the master
            // whose history this is (items are linked before publication).
            cur = d.older.load(Ordering::Acquire, guard);
        }
        f(None)
    }

    fn size_bytes(&self) -> usize {
        size_of::<Self>()
            + match &self.before {
                BeforeImage::Attributes(d) => {
                    T::delta_bytes(d).saturating_sub(size_of::<T::Delta>())
                }
                BeforeImage::Whole(old) => old.as_ref().map_or(0, |t| t.size_bytes()),
            }
    }
}
