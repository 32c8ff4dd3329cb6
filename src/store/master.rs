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

use super::{claim_empty, cut, retire_empty, Storage, VersionStore, WriteError};
use crate::header::{Header, Patience, View};
use crate::stats::TableStats;
use crate::sync::Ordering;
use crate::{Error, Tuple};
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use std::marker::PhantomData;
use std::mem::size_of;

/// What a master-based store keeps of superseded versions.
pub(crate) trait HistoryKind<T: Tuple>: Send + Sync + Sized + 'static {
    /// The store this kind of history makes.
    const STORAGE: Storage;

    /// The item that preserves a superseded master whose data is `old`, now
    /// that the new master's data is `new`. `header` is the old version's
    /// header (see [`Header::superseded_copy`]).
    fn preserve(header: Header, old: Option<&T>, new: Option<&T>) -> Self;

    /// The item's header words.
    fn header(&self) -> &Header;

    /// The link to the next older item.
    fn older(&self) -> &Atomic<Self>;

    /// Calls `f` with the version visible to `view`, walking from `first`
    /// (the newest item of a master's history) backwards; `master` is that
    /// master's data, from which older versions may be rebuilt.
    fn read_history<R>(
        first: Shared<'_, Self>,
        master: Option<&T>,
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

/// The record: the pointer to the master.
pub(crate) struct MasterRecord<T: Tuple, H: HistoryKind<T>> {
    master: Atomic<Master<T, H>>,
}

impl<T: Tuple, H: HistoryKind<T>> Default for MasterRecord<T, H> {
    fn default() -> Self {
        MasterRecord {
            master: Atomic::null(),
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
        unsafe {
            let guard = epoch::unprotected();
            let m = self.master.load(Ordering::Relaxed, guard);
            if m.is_null() {
                return;
            }
            let mut cur = m.deref().older.load(Ordering::Relaxed, guard);
            drop(m.into_owned());
            while !cur.is_null() {
                let next = cur.deref().older().load(Ordering::Relaxed, guard);
                drop(cur.into_owned());
                cur = next;
            }
        }
    }
}

/// A write in flight on a master-based store.
pub(crate) struct MasterWrite<T: Tuple, H: HistoryKind<T>> {
    /// The new master.
    new: *const Master<T, H>,
    /// The replaced master (null when the record was empty).
    prev: *const Master<T, H>,
}

// SAFETY: addresses only, dereferenced by the writing transaction while the
// versions are guaranteed allocated (the trait's contract); `T` and `H` are
// shared between threads once linked, hence `Send + Sync`.
unsafe impl<T: Tuple, H: HistoryKind<T>> Send for MasterWrite<T, H> {}

/// A store whose newest version is a copy-on-write master with history `H`.
pub(crate) struct MasterStore<H>(PhantomData<fn() -> H>);

impl<H> Default for MasterStore<H> {
    fn default() -> Self {
        MasterStore(PhantomData)
    }
}

impl<T: Tuple, H: HistoryKind<T>> VersionStore<T> for MasterStore<H> {
    type Record = MasterRecord<T, H>;
    type Pending = MasterWrite<T, H>;
    const STORAGE: Storage = H::STORAGE;

    fn read<R>(
        &self,
        rec: &Self::Record,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        // Acquire: pairs with the Release that installed the master.
        let m = rec.master.load(Ordering::Acquire, guard);
        // SAFETY: loaded under `guard`; masters are freed only through the
        // collector after being replaced.
        match unsafe { m.as_ref() } {
            None => f(None),
            Some(m) if m.header.is_visible(view) => f(m.data.as_ref()),
            Some(m) => H::read_history(
                m.older.load(Ordering::Acquire, guard),
                m.data.as_ref(),
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
                            return Ok(MasterWrite {
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
                    return Ok(MasterWrite {
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
        // SAFETY: not yet committed or aborted: both masters and the new
        // master's first history item are allocated (the trait's contract).
        unsafe {
            let new = &*p.new;
            new.header.stamp_begin(ts);
            if let Some(prev) = p.prev.as_ref() {
                let item = new.older.load(Ordering::Relaxed, guard).deref();
                item.header().stamp_end(ts);
                // For readers still on the replaced master.
                prev.header.stamp_end(ts);
                // SAFETY: unlinked: the record points at `new`, and nothing
                // else points at a master. Readers still on it are pinned, and
                // may still walk its history, which the new master now links
                // to (dropping a master frees nothing it links to).
                guard.defer_destroy(Shared::from(p.prev));
            }
        }
    }

    fn abort(&self, rec: &Self::Record, p: Self::Pending, guard: &Guard) {
        // SAFETY: not yet committed or aborted (the trait's contract).
        unsafe {
            let new = &*p.new;
            new.header.mark_aborted();
            // Release: the restored master was published before; nothing new.
            rec.master.store(Shared::from(p.prev), Ordering::Release);
            if let Some(prev) = p.prev.as_ref() {
                prev.header.release();
                // SAFETY: the new master's first history item was made by
                // this write and is linked only from the new master, which is
                // unlinked above. Readers on either are pinned. (The rest of
                // the chain belongs to `prev` again; nothing here frees it.)
                guard.defer_destroy(new.older.load(Ordering::Relaxed, guard));
            }
            // SAFETY: unlinked above (the record points at `prev` again).
            guard.defer_destroy(Shared::from(p.new));
        }
    }

    const PRUNE_ON_READ: bool = true;

    fn prune(&self, rec: &Self::Record, watermark: u64, guard: &Guard) -> usize {
        // Acquire: as in `read`.
        let m = rec.master.load(Ordering::Acquire, guard);
        // SAFETY: as in `read`.
        let Some(m) = (unsafe { m.as_ref() }) else {
            return 0;
        };
        // Cut behind the version visible at the watermark, but only at a
        // link that every master that may still become current shares: the
        // `older` link of a history item whose end is committed. The
        // master's own link, and an item made by a pending write, are copied
        // into a pending write's new master or restored by its abort, so
        // cutting there could free what a restored master links to.
        let mut found = m.header.visible_at(watermark);
        let mut cur = m.older.load(Ordering::Acquire, guard);
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
        // Acquire: as in `read`.
        let m = rec.master.load(Ordering::Acquire, guard);
        // SAFETY: as in `read`.
        match unsafe { m.as_ref() } {
            Some(m) => m.data.is_none() && m.header.retire(watermark),
            None => retire_empty(&rec.master, guard),
        }
    }

    fn retire_empty(&self, rec: &Self::Record, guard: &Guard) -> bool {
        retire_empty(&rec.master, guard)
    }

    fn stats(&self, rec: &Self::Record, guard: &Guard, stats: &mut TableStats) {
        let m = rec.master.load(Ordering::Acquire, guard);
        // SAFETY: loaded under `guard`, as in `read`.
        if let Some(m) = unsafe { m.as_ref() } {
            stats.count_newest(m.size_bytes());
            let mut cur = m.older.load(Ordering::Acquire, guard);
            // SAFETY: as above, for every item of the chain.
            while let Some(item) = unsafe { cur.as_ref() } {
                stats.count_history(item.size_bytes());
                cur = item.older().load(Ordering::Acquire, guard);
            }
        }
    }
}
