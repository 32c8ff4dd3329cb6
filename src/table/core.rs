//! One table over one version store: the index and the operations on it.

use crate::engine::serial::RecentWrites;
use crate::engine::Engine;
use crate::header::View;
use crate::stats::TableStats;
use crate::store::{Storage, VersionStore, WriteError};
use crate::table::log::{TableLog, Write};
use crate::table::points::{PointIndex, Probe};
use crate::table::Key;
use crate::{Codec, Error, Result, Tuple};
use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_skiplist::base::{RefEntry, SkipList};
use std::any::TypeId;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// One table over the version store `S`: what a [`Table`](crate::Table)
/// handle points at.
pub(crate) struct TableCore<K, T: Tuple, S: VersionStore<T>> {
    /// Unique within the database: names the table in write logs.
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    /// The database's transaction manager and garbage collector.
    pub(crate) core: Arc<Engine>,
    index: SkipList<K, S::Record>,
    /// The optional hash index for point lookups, whose live set never
    /// holds a record that left the skiplist (invariant H1, `points.rs`).
    points: Option<Box<dyn PointIndex<K>>>,
    pub(crate) store: S,
    /// Where the table is between its creation and its drop, as
    /// transactions see it (the transactional catalog).
    pub(crate) life: super::Lifecycle,
    /// The encodings of keys and rows, in a durable database.
    pub(crate) codecs: Option<(Codec<K>, Codec<T>)>,
    /// The write sets of recent commits, while serializable transactions
    /// are live (SR1, `engine/serial.rs`).
    pub(crate) recent: RecentWrites<K>,
}

/// What a serializable transaction records of a point read: the key, or,
/// when the caller's borrowed form of it is not a `K` and no index entry
/// holds it, the gap between the index entries around it (which any key
/// equal to it falls into).
pub(crate) enum ReadItem<K> {
    Point(K),
    Gap(Bound<K>, Bound<K>),
}

/// `key` as a `&K`, when the caller's borrowed form is `K` itself: the hash
/// index can only hash a `K` (a `Q` need not be `Hash`).
#[inline]
fn as_key<K: 'static, Q: ?Sized + 'static>(key: &Q) -> Option<&K> {
    if TypeId::of::<Q>() == TypeId::of::<K>() {
        // SAFETY: equal `TypeId`s mean `Q` is `K`, a sized type: the
        // pointer has no metadata to drop and points at a live `K`,
        // borrowed for as long as `key` is.
        Some(unsafe { &*(key as *const Q).cast::<K>() })
    } else {
        None
    }
}

/// A record's address, as the hash index keeps it.
#[inline]
fn address<R>(record: &R) -> usize {
    record as *const R as usize
}

impl<K: Key, T: Tuple, S: VersionStore<T>> TableCore<K, T, S> {
    pub(crate) fn new(
        core: Arc<Engine>,
        id: u64,
        name: Arc<str>,
        points: Option<Box<dyn PointIndex<K>>>,
        codecs: Option<(Codec<K>, Codec<T>)>,
        creator: u64,
    ) -> Self {
        let store = S::with_in_place(core.in_place_master);
        TableCore {
            id,
            name,
            core,
            index: SkipList::new(epoch::default_collector().clone()),
            points,
            store,
            life: super::Lifecycle::new(creator),
            codecs,
            recent: RecentWrites::default(),
        }
    }

    /// Appends the redo entry of a write to `record` (the key `key`) by the
    /// transaction of `view`: the row its own write left, or a delete.
    /// Runs user code (the encoders), so only before the commit takes a
    /// timestamp.
    pub(crate) fn redo(
        &self,
        view: View,
        key: &K,
        record: &S::Record,
        out: &mut Vec<u8>,
        guard: &Guard,
    ) {
        let Some((kc, tc)) = &self.codecs else {
            return;
        };
        self.store.read(record, view, guard, |row| {
            crate::durable::write_entry(
                out,
                self.id,
                |o| kc.encode(key, o),
                row.map(|row| move |o: &mut Vec<u8>| tc.encode(row, o)),
            )
        });
    }

    /// Whether the table has a hash index beside the skiplist.
    pub(crate) fn hash_indexed(&self) -> bool {
        self.points.is_some()
    }

    /// The record of `key`, with the key as the index holds it: through the
    /// hash index when the table has one and `key` is a `K`, else through
    /// the skiplist.
    #[inline]
    fn find<'a, Q>(&'a self, key: &'a Q, guard: &'a Guard) -> Option<(&'a K, &'a S::Record)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        if let Some(points) = &self.points {
            if let Some(k) = as_key::<K, Q>(key) {
                match points.get(k) {
                    Probe::Absent => return None,
                    Probe::Live(node) => {
                        // SAFETY: `node.record` was in the live set after
                        // `guard` was pinned, so its record was in the
                        // skiplist, its node not yet removed (H1); the node
                        // (the record and the key beside it) is handed to
                        // the epoch collector only after its removal, and
                        // the collector waits for `guard`.
                        let (found, record) = unsafe {
                            (
                                &*(node.key as *const K),
                                &*(node.record as *const S::Record),
                            )
                        };
                        // A live record under another key (its address
                        // reused since a buggy `Hash` or `Eq` left the entry
                        // behind) is not this key's: ask the skiplist.
                        if k.cmp(found) == Ordering::Equal {
                            return Some((found, record));
                        }
                    }
                    Probe::Stale => {}
                }
            }
        }
        self.index.get(key, guard).map(|e| (e.key(), e.value()))
    }

    /// Enters the skiplist's fresh (or found) record in the hash index, if
    /// the table has one, unless it has been removed meanwhile (H1).
    fn register(&self, entry: &RefEntry<'_, K, S::Record>) {
        if let Some(points) = &self.points {
            let record = address(entry.value());
            let _stripe = points.lock(record);
            if !entry.is_removed() {
                points.insert(entry.key(), record);
            }
        }
    }

    /// Removes the retired `record` of `key` (the key as the skiplist holds
    /// it) from the hash index and then from the skiplist, under the
    /// record's stripe lock (H1).
    fn unlink(&self, key: &K, record: &S::Record, guard: &Guard) {
        let Some(entry) = self.index.get(key, guard) else {
            return;
        };
        if !std::ptr::eq(entry.value(), record) {
            return;
        }
        let _stripe = self.points.as_ref().map(|points| {
            let stripe = points.lock(address(record));
            points.remove(key, address(record));
            stripe
        });
        entry.remove();
    }

    /// What a serializable transaction records of a point read of `key`
    /// (see [`ReadItem`]). Runs user code (`Clone`, `Ord`).
    pub(crate) fn read_item<Q>(&self, key: &Q) -> ReadItem<K>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        if let Some(k) = as_key::<K, Q>(key) {
            return ReadItem::Point(k.clone());
        }
        let guard = epoch::pin();
        if let Some(entry) = self.index.get(key, &guard) {
            return ReadItem::Point(entry.key().clone());
        }
        let below = self
            .index
            .upper_bound(Bound::Excluded(key), &guard)
            .map_or(Bound::Unbounded, |e| Bound::Excluded(e.key().clone()));
        let above = self
            .index
            .lower_bound(Bound::Excluded(key), &guard)
            .map_or(Bound::Unbounded, |e| Bound::Excluded(e.key().clone()));
        ReadItem::Gap(below, above)
    }

    /// The store of this table.
    pub(crate) fn storage(&self) -> Storage {
        S::STORAGE
    }

    /// Calls `f` with the row of `key` visible to `view`.
    pub(crate) fn read<Q, R>(&self, view: View, key: &Q, f: impl FnOnce(Option<&T>) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        let guard = epoch::pin();
        match self.find(key, &guard) {
            Some((key, record)) => {
                let mut absent = false;
                let r = self.store.read(record, view, &guard, |row| {
                    absent = row.is_none();
                    f(row)
                });
                self.after_read(key, record, absent, &guard);
                r
            }
            None => f(None),
        }
    }

    /// Cooperative GC on the read path: O2N readers prune what they walked
    /// past; a reader that found no row retires a deleted record.
    #[inline]
    fn after_read(&self, key: &K, record: &S::Record, absent: bool, guard: &Guard) {
        if self.core.gc.cooperative() && (S::PRUNE_ON_READ || absent) {
            let w = self.core.manager.cached_watermark();
            let reclaimed = if S::PRUNE_ON_READ {
                self.store.prune(record, w, guard)
            } else {
                0
            };
            let retired = absent && self.retire(key, record, w, guard);
            self.core.gc.count(reclaimed, usize::from(retired));
        }
    }

    /// Cooperative GC on the write path: the writer prunes the record.
    #[inline]
    fn after_write(&self, record: &S::Record, guard: &Guard) {
        if self.core.gc.cooperative() {
            let w = self.core.manager.cached_watermark();
            self.core.gc.count(self.store.prune(record, w, guard), 0);
        }
    }

    /// G2: retires the record and removes it from the index.
    fn retire(&self, key: &K, record: &S::Record, watermark: u64, guard: &Guard) -> bool {
        if self.store.retire(record, watermark, guard) {
            self.unlink(key, record, guard);
            true
        } else {
            false
        }
    }

    /// A write to a key that must have a visible row (update, modify,
    /// delete): `op` maps the visible row to the new version.
    pub(crate) fn write_existing<Q>(
        &self,
        view: View,
        key: &Q,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>>,
    ) -> Result<Write<K, T, S>>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        let guard = epoch::pin();
        let (key, record) = self.find(key, &guard).ok_or(Error::NotFound)?;
        // Before the write: `K::clone` is user code, and a panic between
        // the claim and the write log would leave the row claimed for ever.
        let kept = self.keep_key(key);
        match self.store.write(record, view, &guard, op) {
            Ok(pending) => {
                self.after_write(record, &guard);
                Ok(Write::new(key, record, pending, kept))
            }
            Err(WriteError::Error(e)) => Err(e),
            // A retired record's row is deleted for every snapshot in use.
            Err(WriteError::Retired(_)) => Err(Error::NotFound),
        }
    }

    /// An insert: the only write that may create the key's record.
    /// `Err(DuplicateKey)` if a row is visible to `view`.
    pub(crate) fn insert(&self, view: View, key: K, row: T) -> Result<Write<K, T, S>> {
        let guard = epoch::pin();
        let mut row = Some(row);
        loop {
            let (found_key, record) = match self.find(&key, &guard) {
                Some(found) => found,
                None => {
                    // Insert the record once (I1); a rival inserter of the
                    // same key gets the same record. A hash-indexed table
                    // enters it in its hash index before writing to it.
                    let fresh =
                        self.index
                            .get_or_insert_with(key.clone(), S::Record::default, &guard);
                    self.register(&fresh);
                    // Borrow the entry under our guard instead of holding a
                    // reference count: `get` finds it unless it was removed
                    // already, and then we start over.
                    let found = self.index.get(fresh.key(), &guard);
                    fresh.release(&guard);
                    match found {
                        Some(entry) => (entry.key(), entry.value()),
                        None => continue,
                    }
                }
            };
            let op = |old: Option<&T>| match old {
                Some(_) => Err(Error::DuplicateKey),
                None => Ok(row.take()),
            };
            // Before the write, as in `write_existing`.
            let kept = self.keep_key(found_key);
            match self.store.write(record, view, &guard, op) {
                Ok(pending) => {
                    self.after_write(record, &guard);
                    return Ok(Write::new(found_key, record, pending, kept));
                }
                Err(WriteError::Error(e)) => return Err(e),
                Err(WriteError::Retired(data)) => {
                    // G2: the record is leaving the index (its row is
                    // deleted for every snapshot in use). Help it out and
                    // insert into a fresh record.
                    self.unlink(found_key, record, &guard);
                    row = data;
                    crate::sync::spin_hint();
                }
            }
        }
    }

    /// Retires `record` if a rolled-back write left it empty (its first
    /// version unlinked), and removes it from the index: an insert that
    /// rolls back leaves nothing behind, under every GC policy. `key` is the
    /// key as the skiplist holds it. A rival inserter that has found the
    /// record meanwhile either installs its version first (the record is
    /// not empty, nothing happens) or meets the retired record and inserts
    /// into a fresh one (G2).
    pub(crate) fn retire_empty(&self, key: &K, record: &S::Record, guard: &Guard) {
        if self.store.retire_empty(record, guard) {
            self.unlink(key, record, guard);
            self.core.gc.count(0, 1);
        }
    }

    /// The key to keep for transaction-level GC, if that is the policy.
    /// Called before the write it is for: the clone is user code.
    fn keep_key(&self, key: &K) -> Option<K> {
        self.core.gc.transaction_level().then(|| key.clone())
    }

    /// Adds to `out` the visible rows of up to `max` index entries between
    /// `from` and `to`: from the front, appended (`back == false`), or from
    /// the back, prepended, for reverse scans; `out` stays in key order.
    /// Returns the last key examined, or `None` when the range is
    /// exhausted. One pin per batch: a long scan never holds back
    /// reclamation for longer than a batch.
    pub(crate) fn scan_batch(
        &self,
        view: View,
        (from, to): (Bound<&K>, Bound<&K>),
        back: bool,
        out: &mut VecDeque<(K, T)>,
        max: usize,
    ) -> Option<K> {
        let guard = epoch::pin();
        let mut cur = if back {
            self.index.upper_bound(to, &guard)
        } else {
            self.index.lower_bound(from, &guard)
        };
        let mut examined = 0;
        while let Some(entry) = cur {
            let key = entry.key();
            if !(from, to).contains(key) {
                return None;
            }
            let row = self.store.read(entry.value(), view, &guard, |r| r.cloned());
            self.after_read(key, entry.value(), row.is_none(), &guard);
            if let Some(row) = row {
                let row = (key.clone(), row);
                if back {
                    out.push_front(row);
                } else {
                    out.push_back(row);
                }
            }
            examined += 1;
            if examined == max {
                return Some(key.clone());
            }
            cur = if back { entry.prev() } else { entry.next() };
        }
        None
    }

    /// Prunes (and retires) the records of `keys` at `watermark`:
    /// transaction-level GC.
    pub(crate) fn collect_keys(&self, keys: &[K], watermark: u64) {
        // One pin and one count for the batch: the collection runs on a
        // committer's path.
        let guard = epoch::pin();
        let (mut reclaimed, mut retired) = (0, 0);
        for key in keys {
            if let Some((key, record)) = self.find(key, &guard) {
                reclaimed += self.store.prune(record, watermark, &guard);
                retired += usize::from(self.retire(key, record, watermark, &guard));
            }
        }
        self.core.gc.count(reclaimed, retired);
    }

    /// Prunes and retires every record at `watermark`: one vacuum sweep.
    /// Pins per batch of records, never for the whole sweep.
    pub(crate) fn sweep(&self, watermark: u64) {
        const BATCH: usize = 256;
        let mut from: Option<K> = None;
        loop {
            let mut guard = epoch::pin();
            let mut cur = match &from {
                Some(k) => self.index.lower_bound(Bound::Excluded(k), &guard),
                None => self.index.front(&guard),
            };
            let (mut reclaimed, mut retired, mut n) = (0, 0, 0);
            while let Some(entry) = cur {
                reclaimed += self.store.prune(entry.value(), watermark, &guard);
                retired += usize::from(self.retire(entry.key(), entry.value(), watermark, &guard));
                n += 1;
                if n == BATCH {
                    from = Some(entry.key().clone());
                    break;
                }
                cur = entry.next();
            }
            self.core.gc.count(reclaimed, retired);
            let more = n == BATCH;
            // Push what we deferred to the global queue and collect what
            // is due: reclamation happens now, not whenever this thread
            // next fills its local bag.
            guard.flush();
            guard.repin();
            if !more {
                return;
            }
        }
    }

    /// What the table's records keep.
    pub(crate) fn stats(&self) -> TableStats {
        let guard = epoch::pin();
        let mut stats = TableStats::default();
        for entry in self.index.iter(&guard) {
            stats.records += 1;
            self.store.stats(entry.value(), &guard, &mut stats);
        }
        stats
    }

    /// A fresh, empty write log for this table.
    pub(crate) fn log(self: &Arc<Self>) -> TableLog<K, T, S> {
        TableLog::new(Arc::clone(self))
    }
}
