//! Read-only snapshots: a registered timestamp that many threads read at.
//!
//! A [`Snapshot`] is the read side of a transaction without the write side:
//! one view (its timestamp, and no transaction id, so it sees committed
//! versions only), registered in the engine's registry of snapshots (G1) so
//! that garbage collection keeps every version it can read. Clones share
//! one registration through an `Arc`; the slot is freed when the last clone
//! drops. [`Database::snapshot`] takes the newest timestamp, exactly as a
//! transaction's begin does; [`Database::snapshot_at`] registers an earlier
//! one through the second handshake of `engine/watermark.rs`.
//!
//! [`Database::snapshot`]: crate::Database::snapshot
//! [`Database::snapshot_at`]: crate::Database::snapshot_at

use crate::engine::watermark::Slot;
use crate::engine::Engine;
use crate::header::{Timestamp, View};
use crate::table::{dispatch, Key};
use crate::{Error, Result, Scan, Table, Tuple};
use std::borrow::Borrow;
use std::fmt;
use std::ops::RangeBounds;
use std::sync::Arc;

/// A read-only view of the database at one commit timestamp:
/// `Clone + Send + Sync`, readable from many threads at once.
///
/// It reads exactly what a transaction that began at its
/// [`timestamp`](Snapshot::timestamp) would read, with the same calls
/// (`get`, `read`, `scan`), and like a transaction it holds back garbage
/// collection while it (or any clone of it) lives: keep it no longer than
/// needed. Made by [`Database::snapshot`](crate::Database::snapshot) (now)
/// or [`Database::snapshot_at`](crate::Database::snapshot_at) (earlier).
///
/// ```
/// use multiverse::{Database, Storage};
///
/// let db = Database::new(Storage::AppendOnlyN2O);
/// let t = db.create_table::<u64, [i64; 1]>("t")?;
/// db.transact(|tx| tx.insert(&t, 1, [10]))?;
/// let snap = db.snapshot();
/// db.transact(|tx| tx.update(&t, &1, [20]))?;
/// let readers: Vec<_> = (0..4)
///     .map(|_| {
///         let (snap, t) = (snap.clone(), t.clone());
///         std::thread::spawn(move || snap.get(&t, &1))
///     })
///     .collect();
/// for r in readers {
///     assert_eq!(r.join().unwrap()?, Some([10]));
/// }
/// assert_eq!(db.snapshot().get(&t, &1)?, Some([20]));
/// # Ok::<(), multiverse::Error>(())
/// ```
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Registered>,
}

/// One registration, shared by every clone of a snapshot.
struct Registered {
    /// Keeps the timestamp registered (G1) until the last clone drops.
    /// Declared before `db`, and taken first in `drop`: the slot points
    /// into the registry that `db` keeps alive.
    slot: Option<Slot>,
    db: Arc<Engine>,
    ts: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.slot = None;
        self.db.reader_ended(self.ts);
    }
}

impl Snapshot {
    /// The newest snapshot: every commit that has returned.
    pub(crate) fn new(db: Arc<Engine>) -> Self {
        let (slot, ts) = db.manager.begin();
        Self::registered(db, slot, ts)
    }

    /// The snapshot at `ts`, if garbage collection has not passed it.
    pub(crate) fn at(db: Arc<Engine>, ts: Timestamp) -> Result<Self> {
        use crate::engine::manager::BeginAtError;
        match db.manager.begin_at(ts.0) {
            Ok(slot) => Ok(Self::registered(db, slot, ts.0)),
            Err(BeginAtError::TooOld { oldest }) => Err(Error::SnapshotTooOld {
                requested: ts,
                oldest: Timestamp(oldest),
            }),
            Err(BeginAtError::InFuture { newest }) => Err(Error::SnapshotInFuture {
                requested: ts,
                newest: Timestamp(newest),
            }),
        }
    }

    fn registered(db: Arc<Engine>, slot: Slot, ts: u64) -> Self {
        Snapshot {
            inner: Arc::new(Registered {
                slot: Some(slot),
                db,
                ts,
            }),
        }
    }

    /// The commit timestamp this snapshot reads at: it sees every commit at
    /// or below it, nothing above.
    pub fn timestamp(&self) -> Timestamp {
        Timestamp(self.inner.ts)
    }

    fn view(&self) -> View {
        View {
            snapshot: self.inner.ts,
            me: 0,
        }
    }

    fn check<K: Key, T: Tuple>(&self, table: &Table<K, T>) -> Result<()> {
        if !Arc::ptr_eq(table.core(), &self.inner.db) {
            return Err(Error::ForeignTable);
        }
        table.check_read(self.view())
    }

    /// The row of `key` at this snapshot.
    pub fn get<K, T: Tuple, Q>(&self, table: &Table<K, T>, key: &Q) -> Result<Option<T>>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.read(table, key, |row| row.cloned())
    }

    /// Zero-copy read: calls `f` with the row of `key` at this snapshot,
    /// borrowed from the version store. As for
    /// [`Transaction::read`](crate::Transaction::read), `f` runs pinned to
    /// the epoch collector: keep it short.
    pub fn read<K, T: Tuple, Q, R>(
        &self,
        table: &Table<K, T>,
        key: &Q,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> Result<R>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.check(table)?;
        let view = self.view();
        Ok(dispatch!(table, core => core.read(view, key, f)))
    }

    /// The rows with keys in `range` at this snapshot, in key order (and
    /// double-ended, as a transaction's [`scan`](crate::Transaction::scan)).
    pub fn scan<K: Key, T: Tuple, R: RangeBounds<K>>(
        &self,
        table: &Table<K, T>,
        range: R,
    ) -> Result<Scan<'_, K, T>> {
        self.check(table)?;
        Ok(Scan::new(self.view(), table, range))
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("timestamp", &self.inner.ts)
            .finish()
    }
}
