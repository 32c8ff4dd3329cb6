//! One table over one version store: the index and the operations on it.

use crate::database::Core;
use crate::header::View;
use crate::stats::TableStats;
use crate::store::{Storage, VersionStore, WriteError};
use crate::table::log::{TableLog, Write};
use crate::table::Key;
use crate::{Error, Result, Tuple};
use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_skiplist::base::{Entry, SkipList};
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

/// One table over the version store `S`: what a [`Table`](crate::Table)
/// handle points at.
pub(crate) struct TableCore<K, T: Tuple, S: VersionStore<T>> {
    /// Unique within the database: names the table in write logs.
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    /// The database's transaction manager and garbage collector.
    pub(crate) core: Arc<Core>,
    index: SkipList<K, S::Record>,
    pub(crate) store: S,
}

/// An index entry, borrowed under a guard.
type IndexEntry<'a, 'g, K, T, S> = Entry<'a, 'g, K, <S as VersionStore<T>>::Record>;

impl<K: Key, T: Tuple, S: VersionStore<T>> TableCore<K, T, S> {
    pub(crate) fn new(core: Arc<Core>, id: u64, name: Arc<str>) -> Self {
        TableCore {
            id,
            name,
            core,
            index: SkipList::new(epoch::default_collector().clone()),
            store: S::default(),
        }
    }

    /// The store of this table.
    pub(crate) fn storage(&self) -> Storage {
        S::STORAGE
    }

    /// Calls `f` with the row of `key` visible to `view`.
    pub(crate) fn read<Q, R>(&self, view: View, key: &Q, f: impl FnOnce(Option<&T>) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let guard = epoch::pin();
        match self.index.get(key, &guard) {
            Some(entry) => {
                let mut absent = false;
                let r = self.store.read(entry.value(), view, &guard, |row| {
                    absent = row.is_none();
                    f(row)
                });
                self.after_read(&entry, absent, &guard);
                r
            }
            None => f(None),
        }
    }

    /// Cooperative GC on the read path: O2N readers prune what they walked
    /// past; a reader that found no row retires a deleted record.
    #[inline]
    fn after_read(&self, entry: &IndexEntry<'_, '_, K, T, S>, absent: bool, guard: &Guard) {
        if self.core.gc.cooperative() && (S::PRUNE_ON_READ || absent) {
            let w = self.core.manager.cached_watermark();
            let reclaimed = if S::PRUNE_ON_READ {
                self.store.prune(entry.value(), w, guard)
            } else {
                0
            };
            let retired = absent && self.retire(entry, w, guard);
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
    fn retire(&self, entry: &IndexEntry<'_, '_, K, T, S>, watermark: u64, guard: &Guard) -> bool {
        if self.store.retire(entry.value(), watermark, guard) {
            entry.remove();
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
        Q: Ord + ?Sized,
    {
        let guard = epoch::pin();
        let entry = self.index.get(key, &guard).ok_or(Error::NotFound)?;
        let record = entry.value();
        match self.store.write(record, view, &guard, op) {
            Ok(pending) => {
                self.after_write(record, &guard);
                Ok(Write::new(record, pending, self.keep_key(entry.key())))
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
            let entry = match self.index.get(&key, &guard) {
                Some(entry) => entry,
                None => {
                    // Insert the record once (I1); a rival inserter of the
                    // same key gets the same record.
                    let fresh =
                        self.index
                            .get_or_insert_with(key.clone(), S::Record::default, &guard);
                    // Borrow the entry under our guard instead of holding a
                    // reference count: `get` finds it unless it was removed
                    // already, and then we start over.
                    let found = self.index.get(fresh.key(), &guard);
                    fresh.release(&guard);
                    match found {
                        Some(entry) => entry,
                        None => continue,
                    }
                }
            };
            let record = entry.value();
            let op = |old: Option<&T>| match old {
                Some(_) => Err(Error::DuplicateKey),
                None => Ok(row.take()),
            };
            match self.store.write(record, view, &guard, op) {
                Ok(pending) => {
                    self.after_write(record, &guard);
                    return Ok(Write::new(record, pending, self.keep_key(entry.key())));
                }
                Err(WriteError::Error(e)) => return Err(e),
                Err(WriteError::Retired(data)) => {
                    // G2: the record is leaving the index (its row is
                    // deleted for every snapshot in use). Help it out and
                    // insert into a fresh record.
                    entry.remove();
                    row = data;
                    crate::sync::spin_hint();
                }
            }
        }
    }

    /// The key to keep for transaction-level GC, if that is the policy.
    fn keep_key(&self, key: &K) -> Option<K> {
        self.core.gc.transaction_level().then(|| key.clone())
    }

    /// Appends to `out` the visible rows of up to `max` index entries from
    /// `from` to `to`. Returns the last key examined, or `None` when the
    /// range is exhausted. One pin per batch: a long scan never holds back
    /// reclamation for longer than a batch.
    pub(crate) fn scan_batch(
        &self,
        view: View,
        from: Bound<&K>,
        to: Bound<&K>,
        out: &mut VecDeque<(K, T)>,
        max: usize,
    ) -> Option<K> {
        let guard = epoch::pin();
        let mut cur = self.index.lower_bound(from, &guard);
        let mut examined = 0;
        while let Some(entry) = cur {
            let key = entry.key();
            let in_range = match to {
                Bound::Included(end) => key <= end,
                Bound::Excluded(end) => key < end,
                Bound::Unbounded => true,
            };
            if !in_range {
                return None;
            }
            let row = self.store.read(entry.value(), view, &guard, |r| r.cloned());
            self.after_read(&entry, row.is_none(), &guard);
            if let Some(row) = row {
                out.push_back((key.clone(), row));
            }
            examined += 1;
            if examined == max {
                return Some(key.clone());
            }
            cur = entry.next();
        }
        None
    }

    /// Prunes (and retires) the record of `key` at `watermark`:
    /// transaction-level GC.
    pub(crate) fn collect_key(&self, key: &K, watermark: u64) {
        let guard = epoch::pin();
        if let Some(entry) = self.index.get(key, &guard) {
            let reclaimed = self.store.prune(entry.value(), watermark, &guard);
            let retired = self.retire(&entry, watermark, &guard);
            self.core.gc.count(reclaimed, usize::from(retired));
        }
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
                retired += usize::from(self.retire(&entry, watermark, &guard));
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
