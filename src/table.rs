//! Tables: an index from key to record, over one version store.
//!
//! The index is a crossbeam-skiplist (the raw `base::SkipList`, so that reads
//! pass an explicit guard and bump no reference count). A key's record is
//! inserted once (`get_or_insert`) and every version of the row lives inside
//! it: an index entry is never replaced.

use crate::header::View;
use crate::stats::TableStats;
use crate::store::{Delta, NewestToOldest, OldestToNewest, Storage, TimeTravel, VersionStore};
use crate::{Error, Result, Tuple};
use crossbeam_epoch::{self as epoch};
use crossbeam_skiplist::base::SkipList;
use std::any::Any;
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

/// The bounds a key type must meet.
pub trait Key: Ord + Clone + Send + Sync + 'static {}
impl<K: Ord + Clone + Send + Sync + 'static> Key for K {}

/// One table over the version store `S`: what a [`Table`] handle points at.
pub(crate) struct TableCore<K, T: Tuple, S: VersionStore<T>> {
    /// Unique within the database: names the table in write logs.
    pub(crate) id: u64,
    /// The database this table belongs to.
    pub(crate) db: u64,
    pub(crate) name: Arc<str>,
    index: SkipList<K, S::Record>,
    store: S,
}

impl<K: Key, T: Tuple, S: VersionStore<T>> TableCore<K, T, S> {
    pub(crate) fn new(db: u64, id: u64, name: Arc<str>) -> Self {
        TableCore {
            id,
            db,
            name,
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
            Some(entry) => self.store.read(entry.value(), view, &guard, f),
            None => f(None),
        }
    }

    /// A write to a key that must have a visible row (update, modify,
    /// delete): `op` maps the visible row to the new version.
    pub(crate) fn write_existing<Q>(
        &self,
        view: View,
        key: &Q,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>>,
    ) -> Result<Write<T, S>>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let guard = epoch::pin();
        let entry = self.index.get(key, &guard).ok_or(Error::NotFound)?;
        let record = entry.value();
        let pending = self.store.write(record, view, &guard, op)?;
        Ok(Write { record, pending })
    }

    /// A write that may create the key's record (insert).
    pub(crate) fn write_new(
        &self,
        view: View,
        key: K,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>>,
    ) -> Result<Write<T, S>> {
        let guard = epoch::pin();
        if let Some(entry) = self.index.get(&key, &guard) {
            let record = entry.value();
            let pending = self.store.write(record, view, &guard, op)?;
            return Ok(Write { record, pending });
        }
        let entry = self
            .index
            .get_or_insert_with(key, S::Record::default, &guard);
        let record: *const S::Record = entry.value();
        // SAFETY: `entry` holds a reference count on the node, so the record
        // is allocated until `release` below.
        let result = self.store.write(unsafe { &*record }, view, &guard, op);
        entry.release(&guard);
        result.map(|pending| Write { record, pending })
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
            if let Some(row) = self.store.read(entry.value(), view, &guard, |r| r.cloned()) {
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
        TableLog {
            table: Arc::clone(self),
            writes: Vec::new(),
        }
    }
}

/// A write in flight: the record it went to and what the store needs to
/// finish it.
pub(crate) struct Write<T: Tuple, S: VersionStore<T>> {
    record: *const S::Record,
    pending: S::Pending,
}

/// A transaction's writes to one table, to stamp on commit or undo on abort.
pub(crate) struct TableLog<K, T: Tuple, S: VersionStore<T>> {
    table: Arc<TableCore<K, T, S>>,
    writes: Vec<Write<T, S>>,
}

// SAFETY: the record pointers are dereferenced only by the owning
// transaction, while the log's `Arc` keeps the table (and so its index and
// records) alive; records are never removed while a claim is held. The
// pending writes are `Send` themselves.
unsafe impl<K: Send + Sync, T: Tuple, S: VersionStore<T>> Send for TableLog<K, T, S> {}

/// The type-erased view of a [`TableLog`] that a transaction keeps.
pub(crate) trait WriteLog: Send {
    fn table_id(&self) -> u64;
    fn commit(&mut self, ts: u64);
    fn abort(&mut self);
    fn as_any(&mut self) -> &mut dyn Any;
}

impl<K: Key, T: Tuple, S: VersionStore<T>> TableLog<K, T, S> {
    pub(crate) fn push(&mut self, write: Write<T, S>) {
        self.writes.push(write);
    }
}

impl<K: Key, T: Tuple, S: VersionStore<T>> WriteLog for TableLog<K, T, S> {
    fn table_id(&self) -> u64 {
        self.table.id
    }

    fn commit(&mut self, ts: u64) {
        let guard = epoch::pin();
        for w in self.writes.drain(..) {
            // SAFETY: see `TableLog`'s `Send` impl: the record is alive.
            self.table
                .store
                .commit(unsafe { &*w.record }, w.pending, ts, &guard);
        }
    }

    fn abort(&mut self) {
        let guard = epoch::pin();
        for w in self.writes.drain(..).rev() {
            // SAFETY: as in `commit`.
            self.table
                .store
                .abort(unsafe { &*w.record }, w.pending, &guard);
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A typed handle on a table: a cheap `Clone + Send + Sync` pointer.
///
/// Made by [`Database::create_table`](crate::Database::create_table) or
/// [`Database::table`](crate::Database::table); read and written through a
/// [`Transaction`](crate::Transaction).
pub struct Table<K, T: Tuple> {
    pub(crate) inner: TableRef<K, T>,
}

/// The table's core, with its store as a type: the run-time choice of
/// [`Storage`] becomes static dispatch below this enum.
pub(crate) enum TableRef<K, T: Tuple> {
    O2N(Arc<TableCore<K, T, OldestToNewest>>),
    N2O(Arc<TableCore<K, T, NewestToOldest>>),
    TimeTravel(Arc<TableCore<K, T, TimeTravel<T>>>),
    Delta(Arc<TableCore<K, T, Delta<T>>>),
}

/// Runs `$body` with `$core` bound to the table's `Arc<TableCore<_, _, S>>`,
/// monomorphised once per store.
macro_rules! dispatch {
    ($table:expr, $core:ident => $body:expr) => {
        match &$table.inner {
            $crate::table::TableRef::O2N($core) => $body,
            $crate::table::TableRef::N2O($core) => $body,
            $crate::table::TableRef::TimeTravel($core) => $body,
            $crate::table::TableRef::Delta($core) => $body,
        }
    };
}
pub(crate) use dispatch;

impl<K: Key, T: Tuple> Table<K, T> {
    pub(crate) fn new(storage: Storage, db: u64, id: u64, name: Arc<str>) -> Self {
        let inner = match storage {
            Storage::AppendOnlyO2N => TableRef::O2N(Arc::new(TableCore::new(db, id, name))),
            Storage::AppendOnlyN2O => TableRef::N2O(Arc::new(TableCore::new(db, id, name))),
            Storage::TimeTravel => TableRef::TimeTravel(Arc::new(TableCore::new(db, id, name))),
            Storage::Delta => TableRef::Delta(Arc::new(TableCore::new(db, id, name))),
        };
        Table { inner }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        dispatch!(self, core => &core.name)
    }

    /// The version store of the table.
    pub fn storage(&self) -> Storage {
        dispatch!(self, core => core.storage())
    }

    /// What the table keeps: records, versions and the bytes they hold
    /// (a walk over every record; see [`TableStats`]).
    pub fn stats(&self) -> TableStats {
        dispatch!(self, core => core.stats())
    }

    pub(crate) fn db(&self) -> u64 {
        dispatch!(self, core => core.db)
    }
}

impl<K, T: Tuple> Clone for Table<K, T> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            TableRef::O2N(c) => TableRef::O2N(Arc::clone(c)),
            TableRef::N2O(c) => TableRef::N2O(Arc::clone(c)),
            TableRef::TimeTravel(c) => TableRef::TimeTravel(Arc::clone(c)),
            TableRef::Delta(c) => TableRef::Delta(Arc::clone(c)),
        };
        Table { inner }
    }
}

impl<K: Key, T: Tuple> fmt::Debug for Table<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.name())
            .field("storage", &self.storage())
            .finish()
    }
}
