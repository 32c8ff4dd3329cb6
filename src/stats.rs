//! Statistics: how many versions the stores keep, and the bytes they hold.
//!
//! Computed on demand by walking every record (no counter is touched on the
//! hot path), so a figure is exact for a quiescent table and approximate
//! while writers run.

use std::ops::AddAssign;

/// What one table (or, summed, one database) keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableStats {
    /// Index entries (keys ever written and not yet removed).
    pub records: usize,
    /// Version records of every kind: newest versions (masters, chain
    /// heads) and history (old whole versions, copies or deltas).
    pub versions: usize,
    /// Bytes held by all version records, inline and on the heap.
    pub version_bytes: usize,
    /// Version records other than the newest of each row.
    pub history_versions: usize,
    /// Bytes held by those history records.
    pub history_bytes: usize,
}

impl TableStats {
    /// Counts the newest version of a record.
    pub(crate) fn count_newest(&mut self, bytes: usize) {
        self.versions += 1;
        self.version_bytes += bytes;
    }

    /// Counts an older version (or delta) of a record.
    pub(crate) fn count_history(&mut self, bytes: usize) {
        self.versions += 1;
        self.version_bytes += bytes;
        self.history_versions += 1;
        self.history_bytes += bytes;
    }
}

impl AddAssign for TableStats {
    fn add_assign(&mut self, o: TableStats) {
        self.records += o.records;
        self.versions += o.versions;
        self.version_bytes += o.version_bytes;
        self.history_versions += o.history_versions;
        self.history_bytes += o.history_bytes;
    }
}

/// Statistics of a whole database: per table, and the total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseStats {
    /// Per table, by name, sorted by name.
    pub tables: Vec<(String, TableStats)>,
    /// The sum over all tables.
    pub total: TableStats,
    /// What the garbage collector has done.
    pub gc: GcStats,
}

/// What the garbage collector has done, and how far behind it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcStats {
    /// Versions (and history items) unlinked and handed to the epoch
    /// collector, since the database was built.
    pub reclaimed_versions: u64,
    /// Deleted rows removed from the index.
    pub retired_records: u64,
    /// Sweeps of every table completed (by the vacuum thread or
    /// [`Database::vacuum`](crate::Database::vacuum)), each followed by
    /// driving the epoch collector to free what it unlinked.
    pub sweeps: u64,
    /// The snapshot a transaction beginning now would read.
    pub snapshot: u64,
    /// The last computed watermark: versions that ended at or below it are
    /// garbage.
    pub watermark: u64,
    /// `snapshot - watermark`: how many commits the oldest snapshot in use
    /// (or the last computation) lags behind.
    pub watermark_lag: u64,
}
