//! The copy-on-write master shared by the time-travel and delta stores.
//!
//! Both stores keep the newest version of a row, the *master*, in the main
//! table, and older versions elsewhere: whole copies in a history table
//! (time-travel) or before-images of the changed attributes (delta). In the
//! paper (and in Peloton, NoisePage, InnoDB) the master is then overwritten
//! in place. In Rust that is a data race whenever a reader may be copying the
//! master while a writer overwrites it, for any `T` that is not a bag of
//! atomics; a seqlock (optimistic version check) would still read a torn `T`
//! before discarding it, which is undefined behaviour for any `T` with a
//! pointer in it (a `Vec`, a `String`).
//!
//! So the master is replaced, not overwritten: an update allocates the new
//! master, links the history item that preserves the old one (a whole copy
//! or a before-image) behind it, and swings the record's pointer. The old
//! master object is retired through crossbeam-epoch when the update commits.
//! What the store *keeps* per update is exactly the paper's: one whole tuple
//! for time-travel, the before-images of the changed attributes for delta.
//! What it *allocates* per update is one tuple more than the paper's in-place
//! update (the new master); `benches/` and the closing notes measure that cost.
//!
//! Each master links to its own history chain (`older`), so a reader that
//! loaded a master that has since been replaced still walks a chain
//! consistent with it.
//!
//! The exception: a delta store of rows whose attributes are all words
//! (`Tuple::word_layout`) keeps its master in place, as the paper does, in
//! a [`WordMaster`] of atomics under a seqlock (`words.rs`, invariant IP1):
//! no allocation but the before-image per update. The record holds one
//! pointer for each layout; a table's row type uses one of them only.

use super::words::{with_buffer, WordMaster};
use super::{claim_empty, cut, retire_empty, Storage, VersionStore, WriteError};
use crate::header::{self, Header, Patience, View, INFINITY, RETIRED};
use crate::stats::TableStats;
use crate::sync::Ordering;
use crate::tuple::WordLayout;
use crate::{Error, Tuple};
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::mem::size_of;

/// What a master-based store keeps of superseded versions.
pub(crate) trait HistoryKind<T: Tuple>: Send + Sync + Sized + 'static {
    /// The store this kind of history makes.
    const STORAGE: Storage;

    /// Whether the store keeps a row with a word layout in place (IP1).
    const IN_PLACE: bool = false;

    /// The item that preserves a superseded master whose data is `old`, now
    /// that the new master's data is `new`. `header` is the old version's
    /// header (see [`Header::superseded_copy`]).
    fn preserve(header: Header, old: Option<&T>, new: Option<&T>) -> Self;

    /// The item's header words.
    fn header(&self) -> &Header;

    /// The link to the next older item.
    fn older(&self) -> &Atomic<Self>;

    /// The version this item preserves, from the next newer one (`newer`).
    fn undo(&self, newer: Option<T>) -> Option<T>;

    /// Calls `f` with the version visible to `view`, walking from `first`
    /// (the newest item of a master's history) backwards; `master` is that
    /// master's data, from which older versions may be rebuilt.
    fn read_history<R>(
        first: Shared<'_, Self>,
        master: Option<Cow<'_, T>>,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R;

    /// Bytes the item occupies (inline and on the heap).
    fn size_bytes(&self) -> usize;
}

/// The newest version of a row, in the main table.
pub(crate) struct Master<T, H> {
    header: Header,
    data: Option<T>,
    /// The history of this master, newest first.
    older: Atomic<H>,
}

impl<T: Tuple, H> Master<T, H> {
    fn size_bytes(&self) -> usize {
        size_of::<Self>()
            + self
                .data
                .as_ref()
                .map_or(0, |t| t.size_bytes().saturating_sub(size_of::<T>()))
    }
}

/// The record: the pointer to the master, copy-on-write or in place
/// (which one is fixed by the row type: [`in_place`]).
pub(crate) struct MasterRecord<T: Tuple, H: HistoryKind<T>> {
    master: Atomic<Master<T, H>>,
    words: Atomic<WordMaster<H>>,
}

impl<T: Tuple, H: HistoryKind<T>> Default for MasterRecord<T, H> {
    fn default() -> Self {
        MasterRecord {
            master: Atomic::null(),
            words: Atomic::null(),
        }
    }
}

/// The word layout of `T` if the store `H` keeps it in place (IP1).
#[inline]
fn in_place<T: Tuple, H: HistoryKind<T>>() -> Option<WordLayout<T>> {
    if H::IN_PLACE {
        T::word_layout()
    } else {
        None
    }
}

/// Frees a history chain from `cur` on.
///
/// # Safety
/// Nobody else can reach the chain (its record is being dropped).
unsafe fn drop_chain<'g, H: HistoryKind<T>, T: Tuple>(mut cur: Shared<'g, H>, guard: &'g Guard) {
    while !cur.is_null() {
        // SAFETY: the caller's promise; each item is owned by the chain
        // alone (see `MasterRecord::drop`).
        unsafe {
            let next = cur.deref().older().load(Ordering::Relaxed, guard);
            drop(cur.into_owned());
            cur = next;
        }
    }
}

impl<T: Tuple, H: HistoryKind<T>> Drop for MasterRecord<T, H> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread can reach the record. The
        // master and its history chain are owned by the record alone: a
        // replaced master, or an aborted master and its one history item, are
        // handed to the collector only after they are unlinked, and neither
        // `Master` nor a history item frees what it links to.
        // The same holds of an in-place master, which nothing else frees
        // while the record lives (only a rolled-back first insert unlinks
        // it, IP1).
        unsafe {
            let guard = epoch::unprotected();
            let m = self.master.load(Ordering::Relaxed, guard);
            if !m.is_null() {
                let older = m.deref().older.load(Ordering::Relaxed, guard);
                drop(m.into_owned());
                drop_chain::<H, T>(older, guard);
            }
            let w = self.words.load(Ordering::Relaxed, guard);
            if !w.is_null() {
                let older = w.deref().older.load(Ordering::Relaxed, guard);
                drop(w.into_owned());
                drop_chain::<H, T>(older, guard);
            }
        }
    }
}

/// A write in flight on a master-based store.
pub(crate) enum MasterWrite<T: Tuple, H: HistoryKind<T>> {
    /// A copy-on-write master replaced (or installed in an empty record).
    Replaced {
        /// The new master.
        new: *const Master<T, H>,
        /// The replaced master (null when the record was empty).
        prev: *const Master<T, H>,
    },
    /// The first in-place master of an empty record, installed.
    Installed(*const WordMaster<H>),
    /// An in-place master changed (IP1).
    InPlace {
        master: *const WordMaster<H>,
        /// The history item that preserves the version it replaced.
        item: *const H,
        /// That version's begin word, restored by a rollback.
        begin: u64,
    },
}

// SAFETY: addresses only, dereferenced by the writing transaction while the
// versions are guaranteed allocated (the trait's contract); `T` and `H` are
// shared between threads once linked, hence `Send + Sync`.
unsafe impl<T: Tuple, H: HistoryKind<T>> Send for MasterWrite<T, H> {}

/// A store whose newest version is a master with history `H`:
/// copy-on-write, or in place (IP1) for rows of words when the store keeps
/// masters in place (`H::IN_PLACE`) and the database asked for it.
pub(crate) struct MasterStore<H> {
    in_place: bool,
    _history: PhantomData<fn() -> H>,
}

impl<H> Default for MasterStore<H> {
    fn default() -> Self {
        MasterStore {
            in_place: false,
            _history: PhantomData,
        }
    }
}

impl<H> MasterStore<H> {
    /// The layout of this store's masters for `T`: in place if asked for
    /// and possible, else copy-on-write (`None`). Fixed for the store's
    /// life, so every record of a table has the same layout.
    #[inline]
    fn layout<T: Tuple>(&self) -> Option<WordLayout<T>>
    where
        H: HistoryKind<T>,
    {
        if self.in_place {
            in_place::<T, H>()
        } else {
            None
        }
    }
}

impl<T: Tuple, H: HistoryKind<T>> VersionStore<T> for MasterStore<H> {
    type Record = MasterRecord<T, H>;
    type Pending = MasterWrite<T, H>;
    const STORAGE: Storage = H::STORAGE;

    fn with_in_place(in_place: bool) -> Self {
        MasterStore {
            in_place,
            _history: PhantomData,
        }
    }

    fn read<R>(
        &self,
        rec: &Self::Record,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        if let Some(layout) = self.layout::<T>() {
            return read_in_place(rec, layout, view, guard, f);
        }
        // Acquire: pairs with the Release that installed the master.
        let m = rec.master.load(Ordering::Acquire, guard);
        // SAFETY: loaded under `guard`; masters are freed only through the
        // collector after being replaced.
        match unsafe { m.as_ref() } {
            None => f(None),
            Some(m) if m.header.is_visible(view) => f(m.data.as_ref()),
            Some(m) => H::read_history(
                m.older.load(Ordering::Acquire, guard),
                m.data.as_ref().map(Cow::Borrowed),
                view,
                guard,
                f,
            ),
        }
    }

    fn write(
        &self,
        rec: &Self::Record,
        view: View,
        guard: &Guard,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>, Error>,
    ) -> Result<Self::Pending, WriteError<T>> {
        if let Some(layout) = self.layout::<T>() {
            return self.write_in_place(rec, layout, view, guard, op);
        }
        // Acquire: as in `read`.
        let mut head = rec.master.load(Ordering::Acquire, guard);
        // `op` runs once: the version visible to our snapshot cannot change
        // while we wait for a holder (only our own writes could change it),
        // so what it made stays right for every later claim (W3).
        let mut data = self.read(rec, view, guard, op)?;
        let mut patience = Patience::new();
        // The history item made for the master at this address, kept for
        // the next round if its claim fails (the address cannot name
        // another master while we are pinned: a master is freed only
        // through the collector).
        let mut made: Option<(*const Master<T, H>, H)> = None;
        loop {
            // SAFETY: loaded under `guard`, as in `read`.
            let e = match unsafe { head.as_ref() } {
                None => {
                    // An empty record: installing the first master is the claim.
                    let new = Owned::new(Master {
                        header: Header::uncommitted(view.me),
                        data,
                        older: Atomic::null(),
                    });
                    match claim_empty(&rec.master, new, |m| &m.header, view, guard) {
                        Ok(new) => {
                            return Ok(MasterWrite::Replaced {
                                new: new.as_raw(),
                                prev: std::ptr::null(),
                            })
                        }
                        Err((e, new)) => {
                            data = new.into_box().data;
                            e
                        }
                    }
                }
                Some(m) => 'claim: {
                    // A master we cannot claim needs no history item.
                    if let Err(e) = m.header.check(view) {
                        break 'claim e;
                    }
                    // The history item first: preserving runs user code
                    // (the row's `Clone`, `PartialEq`, `delta_to`), which
                    // must run before the claim, for a panic after it would
                    // leave the row claimed for ever. The header copied into
                    // the item is the one the claim then checks: a begin
                    // word changes only while it holds its creator's id, and
                    // if the creator committed at or below our snapshot we
                    // read its stamp (it was published before our snapshot,
                    // which we loaded with Acquire); any other id, and the
                    // begin of an aborted version, fails the claim. So if
                    // the claim succeeds, the copy is exact, whichever round
                    // made it.
                    let item = match made.take() {
                        Some((at, item)) if at == head.as_raw() => item,
                        _ => H::preserve(
                            m.header.superseded_copy(view),
                            m.data.as_ref(),
                            data.as_ref(),
                        ),
                    };
                    // The claim (W1) proves `m` is still the master, the
                    // version visible to us (begun for us, never ended),
                    // which `op` saw; and it excludes every other writer of
                    // `rec.master`. On failure the item, never shared, is
                    // kept for `m` or dropped, with nothing claimed.
                    if let Err(e) = m.header.claim(view) {
                        made = Some((head.as_raw(), item));
                        break 'claim e;
                    }
                    // From here to the return, no user code runs: the item
                    // and the data move into the new master.
                    // Relaxed: `item` is not shared yet; the Release below
                    // publishes it with the master.
                    item.older()
                        .store(m.older.load(Ordering::Acquire, guard), Ordering::Relaxed);
                    let new = Owned::new(Master {
                        header: Header::uncommitted(view.me),
                        data,
                        older: Atomic::from(Owned::new(item)),
                    })
                    .into_shared(guard);
                    // Release: publishes the new master, its data and history.
                    rec.master.store(new, Ordering::Release);
                    return Ok(MasterWrite::Replaced {
                        new: new.as_raw(),
                        prev: head.as_raw(),
                    });
                }
            };
            if !patience.wait(e, view) {
                return Err(WriteError::claim(e, data));
            }
            // Acquire: as in `read`. The holder may have rolled back and
            // restored the master it replaced.
            head = rec.master.load(Ordering::Acquire, guard);
        }
    }

    fn commit(&self, _rec: &Self::Record, p: Self::Pending, ts: u64, guard: &Guard) {
        let (new, prev) = match p {
            MasterWrite::Replaced { new, prev } => (new, prev),
            // SAFETY: not yet committed or aborted: the master is allocated
            // (the trait's contract).
            MasterWrite::Installed(m) => return unsafe { (*m).header.stamp_begin(ts) },
            MasterWrite::InPlace { master, item, .. } => {
                // SAFETY: not yet committed or aborted: the master and the
                // item this write made are allocated (the trait's contract;
                // an item whose end is not committed is never cut).
                // Stamping changes no version (the begin word goes from our
                // id to `ts`), so it needs no change of the seqlock.
                unsafe {
                    (*master).header.stamp_begin(ts);
                    (*item).header().stamp_end(ts);
                }
                return;
            }
        };
        // SAFETY: not yet committed or aborted: both masters and the new
        // master's first history item are allocated (the trait's contract).
        unsafe {
            let new = &*new;
            new.header.stamp_begin(ts);
            if let Some(prev_ref) = prev.as_ref() {
                let item = new.older.load(Ordering::Relaxed, guard).deref();
                item.header().stamp_end(ts);
                // For readers still on the replaced master.
                prev_ref.header.stamp_end(ts);
                // SAFETY: unlinked: the record points at `new`, and nothing
                // else points at a master. Readers still on it are pinned, and
                // may still walk its history, which the new master now links
                // to (dropping a master frees nothing it links to).
                guard.defer_destroy(Shared::from(prev));
            }
        }
    }

    fn abort(&self, rec: &Self::Record, p: Self::Pending, guard: &Guard) {
        let (new, prev) = match p {
            MasterWrite::Replaced { new, prev } => (new, prev),
            MasterWrite::Installed(m) => {
                // SAFETY: not yet committed or aborted (the trait's
                // contract). As for a copy-on-write first master below: the
                // record is empty again, and the master, unlinked, goes to
                // the collector (it has no history: a later write of ours
                // to it was rolled back first, restoring its link).
                unsafe {
                    (*m).header.mark_aborted();
                    // Release: nothing new to publish; a null.
                    rec.words.store(Shared::null(), Ordering::Release);
                    guard.defer_destroy(Shared::from(m));
                }
                return;
            }
            MasterWrite::InPlace {
                master,
                item,
                begin,
            } => {
                // SAFETY: not yet committed or aborted (the trait's contract).
                let (m, item) = unsafe { (&*master, &*item) };
                undo_in_place(m, item, begin, self.layout::<T>(), guard);
                // SAFETY: the item was linked only from the master, which
                // links the older item again; readers on it are pinned.
                unsafe { guard.defer_destroy(Shared::from(item as *const H)) };
                return;
            }
        };
        // SAFETY: not yet committed or aborted (the trait's contract).
        unsafe {
            let new = &*new;
            new.header.mark_aborted();
            // Release: the restored master was published before; nothing new.
            rec.master.store(Shared::from(prev), Ordering::Release);
            if let Some(prev) = prev.as_ref() {
                prev.header.release();
                // SAFETY: the new master's first history item was made by
                // this write and is linked only from the new master, which is
                // unlinked above. Readers on either are pinned. (The rest of
                // the chain belongs to `prev` again; nothing here frees it.)
                guard.defer_destroy(new.older.load(Ordering::Relaxed, guard));
            }
            // SAFETY: unlinked above (the record points at `prev` again).
            guard.defer_destroy(Shared::from(new as *const Master<T, H>));
        }
    }

    const PRUNE_ON_READ: bool = true;

    fn prune(&self, rec: &Self::Record, watermark: u64, guard: &Guard) -> usize {
        // The master's header and its history link, read together: a
        // master's `older` link and the version whose history it is change
        // together in place (IP1), and a header of one version with the
        // history of another could cut behind an item the first one needs.
        let (mut found, mut cur) = if self.layout::<T>().is_some() {
            // Acquire: as in `read`.
            let w = rec.words.load(Ordering::Acquire, guard);
            // SAFETY: as in `read`.
            let Some(w) = (unsafe { w.as_ref() }) else {
                return 0;
            };
            let seen = w.read(None, guard);
            let at = View {
                snapshot: watermark,
                me: 0,
            };
            (header::visible(seen.begin, seen.end, at), seen.older)
        } else {
            // Acquire: as in `read`.
            let m = rec.master.load(Ordering::Acquire, guard);
            // SAFETY: as in `read`.
            let Some(m) = (unsafe { m.as_ref() }) else {
                return 0;
            };
            (
                m.header.visible_at(watermark),
                m.older.load(Ordering::Acquire, guard),
            )
        };
        // Cut behind the version visible at the watermark, but only at a
        // link that every master that may still become current shares: the
        // `older` link of a history item whose end is committed. The
        // master's own link, and an item made by a pending write, are copied
        // into a pending write's new master or restored by its abort, so
        // cutting there could free what a restored master links to.
        // SAFETY: as in `read`, for every item of the chain.
        while let Some(item) = unsafe { cur.as_ref() } {
            found = found || item.header().visible_at(watermark);
            if found && item.header().end_committed() {
                return cut(item.older(), |i| i.older(), guard);
            }
            cur = item.older().load(Ordering::Acquire, guard);
        }
        0
    }

    fn retire(&self, rec: &Self::Record, watermark: u64, guard: &Guard) -> bool {
        if self.layout::<T>().is_some() {
            return retire_in_place(rec, watermark, guard);
        }
        // Acquire: as in `read`.
        let m = rec.master.load(Ordering::Acquire, guard);
        // SAFETY: as in `read`.
        match unsafe { m.as_ref() } {
            Some(m) => m.data.is_none() && m.header.retire(watermark),
            None => retire_empty(&rec.master, guard),
        }
    }

    fn retire_empty(&self, rec: &Self::Record, guard: &Guard) -> bool {
        if self.layout::<T>().is_some() {
            retire_empty(&rec.words, guard)
        } else {
            retire_empty(&rec.master, guard)
        }
    }

    fn stats(&self, rec: &Self::Record, guard: &Guard, stats: &mut TableStats) {
        let mut cur = if self.layout::<T>().is_some() {
            let w = rec.words.load(Ordering::Acquire, guard);
            // SAFETY: loaded under `guard`, as in `read`.
            let Some(w) = (unsafe { w.as_ref() }) else {
                return;
            };
            stats.count_newest(size_of::<WordMaster<H>>() + w.len() * size_of::<u64>());
            w.read(None, guard).older
        } else {
            let m = rec.master.load(Ordering::Acquire, guard);
            // SAFETY: loaded under `guard`, as in `read`.
            let Some(m) = (unsafe { m.as_ref() }) else {
                return;
            };
            stats.count_newest(m.size_bytes());
            m.older.load(Ordering::Acquire, guard)
        };
        // SAFETY: as above, for every item of the chain.
        while let Some(item) = unsafe { cur.as_ref() } {
            stats.count_history(item.size_bytes());
            cur = item.older().load(Ordering::Acquire, guard);
        }
    }
}

/// `read` of an in-place master (IP1): the version is copied out of the
/// words whole (or the read retried), then read or rolled back like a
/// copy-on-write master's data.
fn read_in_place<T: Tuple, H: HistoryKind<T>, R>(
    rec: &MasterRecord<T, H>,
    layout: WordLayout<T>,
    view: View,
    guard: &Guard,
    f: impl FnOnce(Option<&T>) -> R,
) -> R {
    // Acquire: pairs with the Release that installed the master.
    let w = rec.words.load(Ordering::Acquire, guard);
    // SAFETY: loaded under `guard`; an in-place master is freed only with
    // its record, or through the collector once a rolled-back first insert
    // unlinked it.
    let Some(w) = (unsafe { w.as_ref() }) else {
        return f(None);
    };
    with_buffer(layout.len, |buf| {
        let seen = w.read(Some(&mut *buf), guard);
        let row = seen.present.then(|| (layout.from_words)(buf));
        if header::visible(seen.begin, seen.end, view) {
            f(row.as_ref())
        } else {
            // The history of exactly the version copied: `older` was read
            // at the same sequence value.
            H::read_history(seen.older, row.map(Cow::Owned), view, guard, f)
        }
    })
}

/// The in-place master's version whole, and its row (`None`: a tombstone).
fn read_row<'g, T: Tuple, H>(
    m: &WordMaster<H>,
    layout: WordLayout<T>,
    guard: &'g Guard,
) -> (super::words::Seen<'g, H>, Option<T>) {
    with_buffer(layout.len, |buf| {
        let seen = m.read(Some(&mut *buf), guard);
        let row = seen.present.then(|| (layout.from_words)(buf));
        (seen, row)
    })
}

/// Rolls back the in-place change that made `item` (IP1, W2): the master
/// becomes the version `item` preserves, whose begin word was `begin`, in
/// one change of the seqlock, and links `item`'s older items again.
fn undo_in_place<T: Tuple, H: HistoryKind<T>>(
    m: &WordMaster<H>,
    item: &H,
    begin: u64,
    layout: Option<WordLayout<T>>,
    guard: &Guard,
) {
    let layout = layout.expect("only a row with a word layout is changed in place");
    with_buffer(layout.len, |buf| {
        // The row before our change, rebuilt outside the change (the
        // before-image is the crate's `SliceDelta` of an array: no user
        // code, no allocation). Nobody else changes the master meanwhile:
        // its version is begun by us and uncommitted, so every claim of it
        // fails (IP1), and G2 retires only committed versions.
        let newer = m.own_row(buf).then(|| (layout.from_words)(buf));
        let older = item.undo(newer);
        if let Some(row) = &older {
            (layout.to_words)(row, buf);
        }
        let seq = m.seq_of_creator();
        let opened = m.open(seq);
        debug_assert!(opened, "the creator of the version changes it alone");
        m.header.overwrite_begin(begin);
        m.overwrite(older.as_ref().map(|_| &*buf));
        // Acquire: as for every load of a history link. Release: the item
        // was published before (this restores an earlier link).
        m.older.store(
            item.older().load(Ordering::Acquire, guard),
            Ordering::Release,
        );
        m.close(seq);
    });
}

/// G2 for an in-place master: as `Header::retire`, and in a change of the
/// seqlock, so that no claim made at an earlier sequence value can change
/// the master afterwards (IP1).
fn retire_in_place<T: Tuple, H: HistoryKind<T>>(
    rec: &MasterRecord<T, H>,
    watermark: u64,
    guard: &Guard,
) -> bool {
    // Acquire: as in `read`.
    let w = rec.words.load(Ordering::Acquire, guard);
    // SAFETY: as in `read_in_place`.
    let Some(w) = (unsafe { w.as_ref() }) else {
        return retire_empty(&rec.words, guard);
    };
    let seen = w.read(None, guard);
    let retirable = !seen.present
        && seen.begin & header::TXN_BIT == 0
        && seen.begin <= watermark
        && seen.end == INFINITY;
    if !retirable || !w.open(seen.seq) {
        return false;
    }
    w.header.overwrite_end(RETIRED);
    w.close(seen.seq);
    true
}

impl<H> MasterStore<H> {
    /// `write` of an in-place master (IP1).
    fn write_in_place<T: Tuple>(
        &self,
        rec: &MasterRecord<T, H>,
        layout: WordLayout<T>,
        view: View,
        guard: &Guard,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>, Error>,
    ) -> Result<MasterWrite<T, H>, WriteError<T>>
    where
        H: HistoryKind<T>,
        Self: VersionStore<T, Record = MasterRecord<T, H>>,
    {
        // `op` runs once, on the version visible to us, as in `write`. If
        // that is the master, what we read of it serves the first claim
        // too (the claim fails if the master changed since).
        let mut first = None;
        // Acquire: as in `read_in_place`.
        let head = rec.words.load(Ordering::Acquire, guard);
        // SAFETY: as in `read_in_place`.
        let data = match unsafe { head.as_ref() } {
            None => op(None)?,
            Some(m) => {
                let (seen, old) = read_row(m, layout, guard);
                if header::visible(seen.begin, seen.end, view) {
                    let data = op(old.as_ref())?;
                    first = Some((head.as_raw(), seen, old));
                    data
                } else {
                    H::read_history(seen.older, old.map(Cow::Owned), view, guard, op)?
                }
            }
        };
        let mut patience = Patience::new();
        // The history item made for the master, kept for the next round if
        // the claim fails: every item is made of a version begun for us
        // and not ended, and the one such version that can be the newest
        // is the one visible to our snapshot (as in `write`).
        let mut made: Option<H> = None;
        'round: loop {
            // Acquire: as in `read_in_place`.
            let head = rec.words.load(Ordering::Acquire, guard);
            // SAFETY: as in `read_in_place`.
            let e = match unsafe { head.as_ref() } {
                None => {
                    // An empty record: installing the first master is the claim.
                    let new = Owned::new(WordMaster::new(view.me, data.as_ref(), layout));
                    match claim_empty(&rec.words, new, |m| &m.header, view, guard) {
                        Ok(new) => return Ok(MasterWrite::Installed(new.as_raw())),
                        Err((e, _)) => e,
                    }
                }
                Some(m) => 'claim: {
                    let (seen, old) = match first.take() {
                        Some((at, seen, old)) if at == head.as_raw() => (seen, old),
                        _ => read_row(m, layout, guard),
                    };
                    if let Err(e) = header::check_words(seen.begin, seen.end, view) {
                        break 'claim e;
                    }
                    // The item first, and allocated, before the claim: no
                    // allocation and no conversion inside the change.
                    let item = made.take().unwrap_or_else(|| {
                        H::preserve(
                            Header::superseding(seen.begin, view),
                            old.as_ref(),
                            data.as_ref(),
                        )
                    });
                    // Relaxed: not shared yet; the change publishes it.
                    item.older().store(seen.older, Ordering::Relaxed);
                    let item = Owned::new(item);
                    let claimed = with_buffer(layout.len, |buf| {
                        if let Some(row) = &data {
                            (layout.to_words)(row, buf);
                        }
                        // The claim (W1, IP1): nothing changed since `seen`,
                        // which was begun for us and not ended.
                        if !m.open(seen.seq) {
                            return Err(item);
                        }
                        let item = item.into_shared(guard);
                        m.header.overwrite_begin(view.me);
                        m.overwrite(data.as_ref().map(|_| &*buf));
                        // Release: publishes the item (the Release of
                        // `close` does too; this keeps the rule that a
                        // link to an item is stored with Release).
                        m.older.store(item, Ordering::Release);
                        m.close(seen.seq);
                        Ok(MasterWrite::InPlace {
                            master: head.as_raw(),
                            item: item.as_raw(),
                            begin: seen.begin,
                        })
                    });
                    match claimed {
                        Ok(w) => return Ok(w),
                        Err(item) => {
                            // The master changed since we read it: read it
                            // again (no wait: someone made progress).
                            made = Some(*item.into_box());
                            crate::sync::spin_hint();
                            continue 'round;
                        }
                    }
                }
            };
            if !patience.wait(e, view) {
                return Err(WriteError::claim(e, data));
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::store::Delta;

    fn view(snapshot: u64, id: u64) -> View {
        View {
            snapshot,
            me: if id == 0 { 0 } else { View::tag(id) },
        }
    }

    fn get<T: Tuple, S: VersionStore<T>>(s: &S, rec: &S::Record, snapshot: u64) -> Option<T> {
        s.read(rec, view(snapshot, 0), &epoch::pin(), |r| r.cloned())
    }

    /// Writes `row` as transaction `id` at `snapshot`, and commits at `ts`
    /// (or rolls back when `ts` is `None`).
    fn put<T: Tuple, S: VersionStore<T>>(
        s: &S,
        rec: &S::Record,
        snapshot: u64,
        id: u64,
        row: Option<T>,
        ts: Option<u64>,
    ) {
        let guard = epoch::pin();
        let p = s
            .write(rec, view(snapshot, id), &guard, |_| Ok(row))
            .unwrap_or_else(|_| panic!("the write of transaction {id} failed"));
        match ts {
            Some(ts) => s.commit(rec, p, ts, &guard),
            None => s.abort(rec, p, &guard),
        }
    }

    /// IP1: the delta store keeps a row of words (`[i64; 4]`, `[f64; 2]`) in
    /// one in-place master for its whole life, updates, deletes, re-inserts
    /// and rollbacks included, with every snapshot still reading its own
    /// version; a row of bytes (`Vec<u8>`) keeps the copy-on-write master;
    /// and time-travel never changes a master in place.
    #[test]
    fn the_delta_store_updates_word_rows_in_place_and_no_other() {
        let s = Delta::<[i64; 4]>::with_in_place(true);
        let rec = MasterRecord::default();
        put(&s, &rec, 0, 1, Some([1, 2, 3, 4]), Some(1));
        let g = epoch::pin();
        let at = rec.words.load(Ordering::Acquire, &g).as_raw();
        assert!(!at.is_null() && rec.master.load(Ordering::Acquire, &g).is_null());
        put(&s, &rec, 1, 2, Some([1, 9, 3, 4]), Some(2));
        put(&s, &rec, 2, 3, Some([0, 0, 0, 0]), None);
        put(&s, &rec, 2, 4, None, Some(3));
        put(&s, &rec, 3, 5, Some([5, 5, 5, 5]), None);
        put(&s, &rec, 3, 6, Some([7, 7, 7, 7]), Some(4));
        assert_eq!(rec.words.load(Ordering::Acquire, &g).as_raw(), at);
        assert!(rec.master.load(Ordering::Acquire, &g).is_null());
        let expected = [
            None,
            Some([1, 2, 3, 4]),
            Some([1, 9, 3, 4]),
            None,
            Some([7, 7, 7, 7]),
        ];
        for (snapshot, row) in expected.into_iter().enumerate() {
            assert_eq!(get(&s, &rec, snapshot as u64), row, "snapshot {snapshot}");
        }

        let f = Delta::<[f64; 2]>::with_in_place(true);
        let rec_f = MasterRecord::default();
        put(&f, &rec_f, 0, 1, Some([0.5, -0.0]), Some(1));
        put(&f, &rec_f, 1, 2, Some([f64::NAN, 1.0]), Some(2));
        assert!(!rec_f.words.load(Ordering::Acquire, &g).is_null());
        assert_eq!(
            get(&f, &rec_f, 1).map(|r| r.map(f64::to_bits)),
            Some([0.5f64, -0.0].map(f64::to_bits))
        );
        assert!(get(&f, &rec_f, 2).unwrap()[0].is_nan());

        let b = Delta::<Vec<u8>>::with_in_place(true);
        let rec_b = MasterRecord::default();
        put(&b, &rec_b, 0, 1, Some(vec![1, 2]), Some(1));
        put(&b, &rec_b, 1, 2, Some(vec![3]), Some(2));
        assert!(rec_b.words.load(Ordering::Acquire, &g).is_null());
        assert!(!rec_b.master.load(Ordering::Acquire, &g).is_null());
        assert_eq!(get(&b, &rec_b, 1), Some(vec![1, 2]));

        let t = crate::store::TimeTravel::<[i64; 4]>::with_in_place(true);
        let rec_t = MasterRecord::default();
        put(&t, &rec_t, 0, 1, Some([1; 4]), Some(1));
        assert!(rec_t.words.load(Ordering::Acquire, &g).is_null());

        // Not asked for (the builder's default): copy-on-write.
        let c = Delta::<[i64; 4]>::default();
        let rec_c = MasterRecord::default();
        put(&c, &rec_c, 0, 1, Some([1; 4]), Some(1));
        put(&c, &rec_c, 1, 2, Some([2; 4]), Some(2));
        assert!(rec_c.words.load(Ordering::Acquire, &g).is_null());
        assert_eq!(get(&c, &rec_c, 1), Some([1; 4]));
    }

    /// IP1 and W1: a claim made at a sequence value the master has since
    /// left fails, and a rollback leaves the master claimable again.
    #[test]
    fn an_in_place_claim_fails_once_the_master_has_changed() {
        let s = Delta::<[u64; 2]>::with_in_place(true);
        let rec = MasterRecord::default();
        put(&s, &rec, 0, 1, Some([1, 1]), Some(1));
        let g = epoch::pin();
        // SAFETY: loaded under `g`; the record holds the master.
        let m = unsafe { rec.words.load(Ordering::Acquire, &g).deref() };
        let seen = m.read(None, &g);
        let p = s.write(&rec, view(1, 2), &g, |_| Ok(Some([2, 2]))).unwrap();
        assert!(!m.open(seen.seq), "a stale claim must fail");
        let held = s.write(&rec, view(1, 3), &g, |_| Ok(Some([3, 3])));
        assert!(matches!(held, Err(WriteError::Error(Error::WriteConflict))));
        s.abort(&rec, p, &g);
        assert_eq!(get(&s, &rec, 1), Some([1, 1]));
        put(&s, &rec, 1, 4, Some([4, 4]), Some(2));
        assert_eq!(get(&s, &rec, 2), Some([4, 4]));
        assert_eq!(get(&s, &rec, 1), Some([1, 1]));
    }
}
