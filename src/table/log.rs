//! A transaction's writes to one table: stamped on commit, undone on abort,
//! and (under transaction-level GC) handed to the collector as a batch.

use crate::engine::gc::{Batch, Gc};
use crate::engine::serial::Recent;
use crate::header::View;
use crate::store::VersionStore;
use crate::table::core::TableCore;
use crate::table::Key;
use crate::Tuple;
use crossbeam_epoch::Guard;
use std::any::Any;
use std::sync::{Arc, Weak};

/// A write in flight: the record it went to and its key as the skiplist
/// holds it (both in one skiplist node), what the store needs to finish it,
/// and a copy of its key when transaction-level GC will want it.
pub(crate) struct Write<K, T: Tuple, S: VersionStore<T>> {
    at: *const K,
    record: *const S::Record,
    pending: S::Pending,
    key: Option<K>,
}

impl<K, T: Tuple, S: VersionStore<T>> Write<K, T, S> {
    pub(crate) fn new(at: &K, record: &S::Record, pending: S::Pending, key: Option<K>) -> Self {
        Write {
            at,
            record,
            pending,
            key,
        }
    }
}

/// A transaction's writes to one table.
pub(crate) struct TableLog<K, T: Tuple, S: VersionStore<T>> {
    table: Arc<TableCore<K, T, S>>,
    writes: Vec<Write<K, T, S>>,
    /// This commit's entry in the table's recent write sets, once
    /// recorded (SR1, `engine/serial.rs`).
    recent: Option<Arc<Recent<K>>>,
}

// SAFETY: the record and key pointers are dereferenced only by the owning
// transaction, while the log's `Arc` keeps the table (and so its index and
// records) alive, and records are never retired while a claim is held (M2);
// a write's key lives in its record's skiplist node. Keys and pending writes
// are `Send` themselves (and `K: Sync` for the shared `&K`).
unsafe impl<K: Send + Sync, T: Tuple, S: VersionStore<T>> Send for TableLog<K, T, S> {}

/// The type-erased view of a [`TableLog`] that a transaction keeps.
pub(crate) trait WriteLog: Send {
    fn table_id(&self) -> u64;
    /// The table's name, if a drop of it has committed or is committing:
    /// its writes cannot commit (C1, `life.rs`). Runs no user code and
    /// cannot panic: the ordered step of a commit calls it.
    fn dropped(&self) -> Option<&str>;
    /// Stamps every write; returns the keys to collect later, under
    /// transaction-level GC. Runs inside the ordered publish step: runs no
    /// user code (no pin of its own, no clone, no drop of a key or a row)
    /// and cannot panic.
    fn commit(&mut self, ts: u64, guard: &Guard) -> Option<Box<dyn Batch>>;
    /// Records the written keys (cloned, sorted, distinct) in the table's
    /// recent write sets, unstamped, for serializable transactions (SR1).
    /// Runs user code (`Clone`, `Ord`, `Drop` of trimmed keys): before the
    /// timestamp. [`commit`](WriteLog::commit) stamps the entry;
    /// [`abort`](WriteLog::abort) takes it off the list.
    fn record(&mut self, watermark: u64);
    /// Pushes a wildcard stamped `ts` onto the table's recent write sets:
    /// a commit that recorded no keys, in its ordered step (SR1). Runs no
    /// user code and cannot panic.
    fn wildcard(&self, ts: u64);
    /// Appends the redo entries of every write (a durable table's; nothing
    /// for others). Runs user code (the encoders): before the timestamp.
    fn redo(&self, view: View, out: &mut Vec<u8>, guard: &Guard);
    /// Undoes every write, newest first. Runs no user code either (no pin
    /// of its own), so a rollback completes whatever user code does.
    fn abort(&mut self, guard: &Guard);
    fn as_any(&mut self) -> &mut dyn Any;
}

impl<K: Key, T: Tuple, S: VersionStore<T>> TableLog<K, T, S> {
    pub(crate) fn new(table: Arc<TableCore<K, T, S>>) -> Self {
        TableLog {
            table,
            writes: Vec::new(),
            recent: None,
        }
    }

    pub(crate) fn push(&mut self, write: Write<K, T, S>) {
        self.writes.push(write);
    }
}

impl<K: Key, T: Tuple, S: VersionStore<T>> WriteLog for TableLog<K, T, S> {
    fn table_id(&self) -> u64 {
        self.table.id
    }

    fn dropped(&self) -> Option<&str> {
        self.table.life.dropping().then_some(&*self.table.name)
    }

    fn commit(&mut self, ts: u64, guard: &Guard) -> Option<Box<dyn Batch>> {
        let mut keys = Vec::new();
        // Each write is taken apart: its key moves into the batch, its
        // pending write into the store; nothing of it is dropped here.
        for w in self.writes.drain(..) {
            // SAFETY: see `TableLog`'s `Send` impl: the record is alive.
            self.table
                .store
                .commit(unsafe { &*w.record }, w.pending, ts, guard);
            keys.extend(w.key);
        }
        if let Some(recent) = &self.recent {
            recent.stamp(ts);
        }
        (!keys.is_empty()).then(|| {
            Box::new(KeyBatch {
                table: Arc::downgrade(&self.table),
                keys,
            }) as Box<dyn Batch>
        })
    }

    fn record(&mut self, watermark: u64) {
        let mut keys: Vec<K> = self
            .writes
            .iter()
            // SAFETY: as in `commit`: the key lives in the record's node.
            .map(|w| unsafe { &*w.at }.clone())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        self.recent = Some(self.table.recent.push(keys.into(), watermark));
    }

    fn wildcard(&self, ts: u64) {
        self.table.recent.push_wildcard(ts);
    }

    fn redo(&self, view: View, out: &mut Vec<u8>, guard: &Guard) {
        for w in &self.writes {
            // SAFETY: as in `commit`, and the key lives in the record's node.
            let (key, record) = unsafe { (&*w.at, &*w.record) };
            self.table.redo(view, key, record, out, guard);
        }
    }

    fn abort(&mut self, guard: &Guard) {
        // Off the list; the entry itself (its keys) drops with the log.
        if let Some(recent) = &self.recent {
            self.table.recent.remove(recent);
        }
        // The caller's one pin covers every write: when it was taken, each
        // record still held this transaction's pending version, so none had
        // left the index, and none is freed before the guard goes (whoever
        // retires one after its write is undone below).
        for w in self.writes.drain(..).rev() {
            // SAFETY: as in `commit`, and the key lives in the record's node.
            let (key, record) = unsafe { (&*w.at, &*w.record) };
            self.table.store.abort(record, w.pending, guard);
            // A rolled-back insert leaves an empty record: retire it now,
            // not at the next vacuum.
            self.table.retire_empty(key, record, guard);
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// The keys one commit wrote in one table: transaction-level GC. Holds the
/// table weakly, so that queued batches never keep a dropped table alive.
struct KeyBatch<K, T: Tuple, S: VersionStore<T>> {
    table: Weak<TableCore<K, T, S>>,
    keys: Vec<K>,
}

impl<K: Key, T: Tuple, S: VersionStore<T>> Batch for KeyBatch<K, T, S> {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn collect(&self, watermark: u64, _gc: &Gc) {
        if let Some(table) = self.table.upgrade() {
            table.collect_keys(&self.keys, watermark);
        }
    }
}
