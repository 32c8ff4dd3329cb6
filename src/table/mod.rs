//! Tables: an index from key to record, over one version store.
//!
//! The index is a crossbeam-skiplist (the raw `base::SkipList`, so that reads
//! pass an explicit guard and bump no reference count). A key's record is
//! inserted once (`get_or_insert`) and every version of the row lives inside
//! it: an index entry is never replaced.

use crate::engine::Engine;
use crate::stats::TableStats;
use crate::store::{Delta, NewestToOldest, OldestToNewest, Storage, TimeTravel};
use crate::Tuple;
use std::fmt;
use std::sync::Arc;

mod core;
mod life;
mod log;
mod points;
mod reads;

pub(crate) use self::core::{ReadItem, TableCore};
pub(crate) use self::life::Lifecycle;
pub(crate) use self::log::{TableLog, Write, WriteLog};
pub(crate) use self::points::{HashPoints, PointIndex};
pub(crate) use self::reads::{ReadLog, TableReads};

/// The bounds a key type must meet.
pub trait Key: Ord + Clone + Send + Sync + 'static {}
impl<K: Ord + Clone + Send + Sync + 'static> Key for K {}

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
    pub(crate) fn new(
        storage: Storage,
        core: Arc<Engine>,
        id: u64,
        name: Arc<str>,
        points: Option<Box<dyn PointIndex<K>>>,
        codecs: Option<(crate::Codec<K>, crate::Codec<T>)>,
        creator: u64,
    ) -> Self {
        let c = (core, id, name, points, codecs, creator);
        let inner = match storage {
            Storage::AppendOnlyO2N => {
                TableRef::O2N(Arc::new(TableCore::new(c.0, c.1, c.2, c.3, c.4, c.5)))
            }
            Storage::AppendOnlyN2O => {
                TableRef::N2O(Arc::new(TableCore::new(c.0, c.1, c.2, c.3, c.4, c.5)))
            }
            Storage::TimeTravel => {
                TableRef::TimeTravel(Arc::new(TableCore::new(c.0, c.1, c.2, c.3, c.4, c.5)))
            }
            Storage::Delta => {
                TableRef::Delta(Arc::new(TableCore::new(c.0, c.1, c.2, c.3, c.4, c.5)))
            }
        };
        Table { inner }
    }

    /// Whether point reads and writes of this table go through a hash index
    /// (tables made by
    /// [`Database::create_hash_table`](crate::Database::create_hash_table)).
    pub fn hash_indexed(&self) -> bool {
        dispatch!(self, core => core.hash_indexed())
    }

    /// The table's id: unique in its database, never reused.
    pub(crate) fn id(&self) -> u64 {
        dispatch!(self, core => core.id)
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

    /// Whether [`Database::drop_table`](crate::Database::drop_table) (or a
    /// session's transaction) has dropped this table, or is committing the
    /// drop, or the transaction that created it rolled back. Transactions
    /// and snapshots that began before the drop's commit go on reading it;
    /// nobody writes it any more. A new table of the same name is another
    /// table.
    pub fn is_dropped(&self) -> bool {
        dispatch!(self, core => core.life.is_dropped())
    }

    /// Where the table is in its life (the transactional catalog).
    pub(crate) fn life(&self) -> &Lifecycle {
        dispatch!(self, core => &core.life)
    }

    /// `Err(NoSuchTable)` unless the view sees the table.
    #[inline]
    pub(crate) fn check_read(&self, view: crate::header::View) -> crate::Result<()> {
        if self.life().readable(view) {
            Ok(())
        } else {
            Err(crate::Error::no_such_table(self.name()))
        }
    }

    /// `Err(NoSuchTable)` unless the view's transaction may write the
    /// table.
    #[inline]
    pub(crate) fn check_write(&self, view: crate::header::View) -> crate::Result<()> {
        if self.life().writable(view) {
            Ok(())
        } else {
            Err(crate::Error::no_such_table(self.name()))
        }
    }

    /// The database this table belongs to.
    pub(crate) fn core(&self) -> &Arc<Engine> {
        dispatch!(self, core => &core.core)
    }

    /// One vacuum sweep of the table at `watermark`.
    pub(crate) fn sweep(&self, watermark: u64) {
        dispatch!(self, core => core.sweep(watermark))
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
