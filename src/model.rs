//! Entry points for model checking (built only under `cfg(loom)` with the
//! `loom` feature): the record, chain, commit and GC layers of every store,
//! driven directly with explicit epoch guards, over a stand-in index (a
//! fixed vector of records) in place of the skiplist that loom cannot run.
//!
//! Nothing here is a second implementation: every call goes to the same
//! `VersionStore`, `TxnManager` and `Registry` code that the engine runs.
//! The `loom-tests` crate uses it; see its README.

use crate::engine::manager::TxnManager;
use crate::engine::watermark::Slot;
use crate::header::View;
use crate::stats::TableStats;
use crate::store::{Delta, NewestToOldest, OldestToNewest, TimeTravel, VersionStore, WriteError};
use crate::Error;
pub use crate::Storage;
use crossbeam_epoch::Guard;
use std::sync::Arc;

/// The row type of the models: one attribute.
pub type Row = [u64; 1];

/// The clock, the commit protocol and the registry of snapshots: a cheap
/// handle to clone into threads.
#[derive(Clone)]
pub struct Engine {
    manager: Arc<TxnManager>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// A fresh engine at timestamp 0.
    pub fn new() -> Self {
        Engine {
            manager: Arc::new(TxnManager::new()),
        }
    }

    /// Begins a transaction: registers its snapshot (G1).
    pub fn begin(&self) -> Txn {
        let (slot, snapshot) = self.manager.begin();
        Txn {
            manager: Arc::clone(&self.manager),
            _slot: slot,
            snapshot,
            me: 0,
            writes: Vec::new(),
        }
    }

    /// Registers the earlier snapshot `ts`, as `Database::snapshot_at`
    /// does: `None` if a watermark may have passed it (G1, the second
    /// handshake of `engine/watermark.rs`).
    pub fn begin_at(&self, ts: u64) -> Option<Txn> {
        let slot = self.manager.begin_at(ts).ok()?;
        Some(Txn {
            manager: Arc::clone(&self.manager),
            _slot: slot,
            snapshot: ts,
            me: 0,
            writes: Vec::new(),
        })
    }

    /// Computes the watermark (G1).
    pub fn watermark(&self) -> u64 {
        self.manager.watermark()
    }
}

/// A transaction of the models.
pub struct Txn {
    manager: Arc<TxnManager>,
    _slot: Slot,
    snapshot: u64,
    me: u64,
    writes: Vec<(usize, AnyPending)>,
}

impl Txn {
    /// The snapshot the transaction reads at.
    pub fn snapshot(&self) -> u64 {
        self.snapshot
    }

    fn view(&self) -> View {
        View {
            snapshot: self.snapshot,
            me: self.me,
        }
    }

    fn write_view(&mut self) -> View {
        if self.me == 0 {
            self.me = View::tag(self.manager.new_txn_id());
        }
        self.view()
    }
}

/// A write of the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Insert a row with this value (`DuplicateKey` if one is visible).
    Insert(u64),
    /// Replace the visible row (`NotFound` if none).
    Update(u64),
    /// Delete the visible row (`NotFound` if none).
    Delete,
}

struct Records<S: VersionStore<Row>> {
    store: S,
    records: Vec<S::Record>,
}

impl<S: VersionStore<Row>> Records<S> {
    fn new(n: usize) -> Self {
        Records {
            store: S::default(),
            records: (0..n).map(|_| S::Record::default()).collect(),
        }
    }
}

enum AnyRecords {
    O2N(Records<OldestToNewest>),
    N2O(Records<NewestToOldest>),
    TimeTravel(Records<TimeTravel<Row>>),
    Delta(Records<Delta<Row>>),
}

enum AnyPending {
    O2N(<OldestToNewest as VersionStore<Row>>::Pending),
    N2O(<NewestToOldest as VersionStore<Row>>::Pending),
    TimeTravel(<TimeTravel<Row> as VersionStore<Row>>::Pending),
    Delta(<Delta<Row> as VersionStore<Row>>::Pending),
}

/// Runs `$body` with `$r` bound to the typed records; `$wrap` is the
/// matching `AnyPending` constructor.
macro_rules! each {
    ($rows:expr, $r:ident, $wrap:ident => $body:expr) => {
        match &$rows.inner {
            AnyRecords::O2N($r) => {
                #[allow(unused)]
                let $wrap = AnyPending::O2N;
                $body
            }
            AnyRecords::N2O($r) => {
                #[allow(unused)]
                let $wrap = AnyPending::N2O;
                $body
            }
            AnyRecords::TimeTravel($r) => {
                #[allow(unused)]
                let $wrap = AnyPending::TimeTravel;
                $body
            }
            AnyRecords::Delta($r) => {
                #[allow(unused)]
                let $wrap = AnyPending::Delta;
                $body
            }
        }
    };
}

/// A table of `n` rows, by index, over one store.
pub struct Rows {
    inner: AnyRecords,
}

impl Rows {
    /// `n` empty records over `storage`.
    pub fn new(storage: Storage, n: usize) -> Self {
        let inner = match storage {
            Storage::AppendOnlyO2N => AnyRecords::O2N(Records::new(n)),
            Storage::AppendOnlyN2O => AnyRecords::N2O(Records::new(n)),
            Storage::TimeTravel => AnyRecords::TimeTravel(Records::new(n)),
            Storage::Delta => AnyRecords::Delta(Records::new(n)),
        };
        Rows { inner }
    }

    /// The value of row `i` visible to `txn`.
    pub fn read(&self, txn: &Txn, i: usize, guard: &Guard) -> Option<u64> {
        let view = txn.view();
        each!(self, r, _w => r.store.read(&r.records[i], view, guard, |row| row.map(|v| v[0])))
    }

    /// A write of row `i` by `txn`. On `WriteConflict` the caller aborts.
    pub fn write(&self, txn: &mut Txn, i: usize, op: Op, guard: &Guard) -> Result<(), Error> {
        let view = txn.write_view();
        let make = move |old: Option<&Row>| match (op, old) {
            (Op::Insert(_), Some(_)) => Err(Error::DuplicateKey),
            (Op::Insert(v), None) => Ok(Some([v])),
            (_, None) => Err(Error::NotFound),
            (Op::Update(v), Some(_)) => Ok(Some([v])),
            (Op::Delete, Some(_)) => Ok(None),
        };
        let result =
            each!(self, r, wrap => r.store.write(&r.records[i], view, guard, make).map(wrap));
        match result {
            Ok(p) => {
                txn.writes.push((i, p));
                Ok(())
            }
            Err(WriteError::Error(e)) => Err(e),
            // The stand-in index never removes records; a retired record's
            // row is deleted for every snapshot in use.
            Err(WriteError::Retired(_)) => Err(Error::NotFound),
        }
    }

    /// Commits `txn`; returns its commit timestamp.
    pub fn commit(&self, txn: Txn, guard: &Guard) -> u64 {
        let Txn {
            manager, writes, ..
        } = txn;
        manager.commit(|ts| {
            for (i, p) in writes {
                match (&self.inner, p) {
                    (AnyRecords::O2N(r), AnyPending::O2N(p)) => {
                        r.store.commit(&r.records[i], p, ts, guard)
                    }
                    (AnyRecords::N2O(r), AnyPending::N2O(p)) => {
                        r.store.commit(&r.records[i], p, ts, guard)
                    }
                    (AnyRecords::TimeTravel(r), AnyPending::TimeTravel(p)) => {
                        r.store.commit(&r.records[i], p, ts, guard)
                    }
                    (AnyRecords::Delta(r), AnyPending::Delta(p)) => {
                        r.store.commit(&r.records[i], p, ts, guard)
                    }
                    _ => unreachable!("a transaction writes to one `Rows`"),
                }
            }
        })
    }

    /// Rolls `txn` back.
    pub fn abort(&self, txn: Txn, guard: &Guard) {
        let Txn { writes, .. } = txn;
        for (i, p) in writes.into_iter().rev() {
            match (&self.inner, p) {
                (AnyRecords::O2N(r), AnyPending::O2N(p)) => r.store.abort(&r.records[i], p, guard),
                (AnyRecords::N2O(r), AnyPending::N2O(p)) => r.store.abort(&r.records[i], p, guard),
                (AnyRecords::TimeTravel(r), AnyPending::TimeTravel(p)) => {
                    r.store.abort(&r.records[i], p, guard)
                }
                (AnyRecords::Delta(r), AnyPending::Delta(p)) => {
                    r.store.abort(&r.records[i], p, guard)
                }
                _ => unreachable!("a transaction writes to one `Rows`"),
            }
        }
    }

    /// Prunes row `i` at `watermark` (G1); returns the versions freed.
    pub fn prune(&self, i: usize, watermark: u64, guard: &Guard) -> usize {
        each!(self, r, _w => r.store.prune(&r.records[i], watermark, guard))
    }

    /// Retires row `i` if its delete has reached `watermark` (G2).
    pub fn retire(&self, i: usize, watermark: u64, guard: &Guard) -> bool {
        each!(self, r, _w => r.store.retire(&r.records[i], watermark, guard))
    }

    /// The versions row `i` holds (newest and history).
    pub fn versions(&self, i: usize, guard: &Guard) -> usize {
        let mut stats = TableStats::default();
        each!(self, r, _w => r.store.stats(&r.records[i], guard, &mut stats));
        stats.versions
    }
}
