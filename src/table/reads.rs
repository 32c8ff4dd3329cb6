//! A serializable transaction's reads of one table, checked at its commit
//! against the write sets of the commits after its snapshot (SR2,
//! `engine/serial.rs`).

use crate::store::VersionStore;
use crate::table::core::{ReadItem, TableCore};
use crate::table::Key;
use crate::Tuple;
use std::any::Any;
use std::ops::Bound;
use std::sync::Arc;

/// What a serializable transaction read of one table: the keys of its
/// point reads, and the ranges its scans asked for (not the rows they
/// returned: an empty range, a range over deleted keys and the part of a
/// scan nobody iterated all count).
pub(crate) struct TableReads<K, T: Tuple, S: VersionStore<T>> {
    table: Arc<TableCore<K, T, S>>,
    points: Vec<K>,
    ranges: Vec<(Bound<K>, Bound<K>)>,
}

/// The type-erased view of a [`TableReads`] that a transaction keeps.
pub(crate) trait ReadLog: Send {
    fn table_id(&self) -> u64;
    /// Whether a commit stamped in `(from, to]` wrote a key this log read
    /// (or a wildcard of the table), or dropped the table. The caller has
    /// seen `to` published. Runs user code (`Ord`, `Drop` of trimmed
    /// keys): before the commit takes a timestamp.
    fn conflicts(&self, from: u64, to: u64) -> bool;
    fn as_any(&mut self) -> &mut dyn Any;
}

impl<K: Key, T: Tuple, S: VersionStore<T>> TableReads<K, T, S> {
    pub(crate) fn new(table: Arc<TableCore<K, T, S>>) -> Self {
        TableReads {
            table,
            points: Vec::new(),
            ranges: Vec::new(),
        }
    }

    pub(crate) fn point(&mut self, item: ReadItem<K>) {
        match item {
            ReadItem::Point(key) => self.points.push(key),
            ReadItem::Gap(from, to) => self.ranges.push((from, to)),
        }
    }

    pub(crate) fn range(&mut self, from: Bound<K>, to: Bound<K>) {
        self.ranges.push((from, to));
    }
}

impl<K: Key, T: Tuple, S: VersionStore<T>> ReadLog for TableReads<K, T, S> {
    fn table_id(&self) -> u64 {
        self.table.id
    }

    fn conflicts(&self, from: u64, to: u64) -> bool {
        let dropped = self.table.life.dropped_at();
        if dropped > from && dropped <= to {
            return true;
        }
        let watermark = self.table.core.manager.cached_watermark();
        self.table
            .recent
            .stamped_in(from, to, watermark)
            .iter()
            .any(|e| e.meets(&self.points, &self.ranges))
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
