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
pub use crate::Storage;
use crate::{Error, Tuple};
use crossbeam_epoch::Guard;
use loom::alloc::Layout;
use loom::cell::UnsafeCell;
use std::mem::size_of;
use std::ptr::NonNull;
use std::sync::Arc;

/// The row type of the models: one value, whose memory loom watches.
///
/// A model only finds a use-after-free if something it can see is freed
/// under a thread that can still read it. So every read of a row goes
/// through a loom [`UnsafeCell`], and dropping a row *writes* that cell:
/// loom fails the model ("Causality violation") when a thread reads a row
/// that another thread frees without a happens-before edge between them,
/// which is exactly what the epoch collector must provide (M1). Each row
/// also owns a loom-tracked allocation: a row that is never dropped fails
/// the model as a leak at the end of the execution, one dropped twice fails
/// it as "pointer not tracked" (if the allocator does not abort on the
/// double free of its version first).
///
/// Every store reads the row through the user's [`Tuple`] code: a snapshot
/// read clones or passes it, the delta store's before-images are rows too,
/// and [`Rows::versions`] (the statistics walk, which `Database::stats`
/// runs concurrently with the collector) reads every version's row through
/// [`Tuple::size_bytes`] and [`Tuple::delta_bytes`].
pub struct Row {
    value: UnsafeCell<u64>,
    tracked: NonNull<u8>,
}

// SAFETY: `tracked` is a token that only `Drop` uses (to deallocate it
// once); `value` is written only by `Drop`, through `&mut self`, and read
// through `&self`, and loom checks every access to it.
unsafe impl Send for Row {}
// SAFETY: as for `Send`: shared access only reads `value`, and loom reports
// a read that is not ordered before the one write (the drop).
unsafe impl Sync for Row {}

impl Row {
    const TOKEN: Layout = Layout::new::<u8>();

    /// A row holding `v`.
    pub fn new(v: u64) -> Self {
        // SAFETY: a one-byte layout is nonzero in size.
        let tracked = unsafe { loom::alloc::alloc(Self::TOKEN) };
        Row {
            value: UnsafeCell::new(v),
            tracked: NonNull::new(tracked).expect("allocation failed"),
        }
    }

    /// The value (a read that loom checks against the drop).
    pub fn get(&self) -> u64 {
        // SAFETY: the cell is written only by `drop`, which has `&mut self`;
        // loom fails the model if that write is not ordered after this read.
        self.value.with(|v| unsafe { *v })
    }
}

impl Clone for Row {
    fn clone(&self) -> Self {
        Row::new(self.get())
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Row").field(&self.get()).finish()
    }
}

impl Drop for Row {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A model is failing already, and loom's state may be gone.
            return;
        }
        // SAFETY: `&mut self`: no other reference to the row is live, unless
        // the engine freed it under a reader, which is what loom checks here.
        self.value.with_mut(|v| unsafe { *v = u64::MAX });
        // SAFETY: allocated in `new` with this layout, deallocated once here
        // (a second drop of the same row panics in loom: "pointer not tracked").
        unsafe { loom::alloc::dealloc(self.tracked.as_ptr(), Self::TOKEN) }
    }
}

impl Tuple for Row {
    /// The whole older row when the value changed: a row, so loom watches
    /// the delta store's before-images as well.
    type Delta = Option<Row>;

    fn attributes(&self) -> usize {
        1
    }

    fn delta_to(&self, newer: &Self) -> Option<Row> {
        (self != newer).then(|| self.clone())
    }

    fn apply(&mut self, delta: &Option<Row>) {
        if let Some(old) = delta {
            *self = old.clone();
        }
    }

    fn delta_bytes(delta: &Option<Row>) -> usize {
        size_of::<Option<Row>>()
            + delta
                .as_ref()
                .map_or(0, |r| r.size_bytes() - size_of::<Row>())
    }

    fn size_bytes(&self) -> usize {
        // Reads the row, as a user's `size_bytes` of a `String` would.
        let _ = self.get();
        size_of::<Self>()
    }
}

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

/// A table's life (the transactional catalog, `table/life.rs`), for the
/// model of C1: a drop and a write of the table cannot both commit with
/// the write after the drop.
pub struct Life(crate::table::Lifecycle);

impl Default for Life {
    fn default() -> Self {
        Self::new()
    }
}

impl Life {
    /// A committed, live table.
    pub fn new() -> Self {
        Life(crate::table::Lifecycle::new(0))
    }

    /// Drops the table in a commit of its own, as the catalog's changes
    /// commit one: the mark before the timestamp, the drop's timestamp
    /// stamped in the ordered step. Returns that timestamp.
    pub fn drop_table(&self, engine: &Engine) -> u64 {
        self.0.mark_dropping();
        engine
            .manager
            .commit_ordered(|ts| self.0.stamp_dropped(ts), |_| {})
    }

    /// Commits a write of the table as `Transaction::commit` does: the
    /// check after the timestamp is taken, which publishes nothing if it
    /// finds the drop's mark (`None`).
    pub fn commit_write(&self, engine: &Engine) -> Option<u64> {
        let lost = std::cell::Cell::new(false);
        let ts = engine.manager.commit_ordered(
            |_| {
                if self.0.dropping() {
                    lost.set(true);
                }
            },
            |_| {},
        );
        (!lost.get()).then_some(ts)
    }

    /// Whether a snapshot at `snapshot` (of no writer) sees the table.
    pub fn readable_at(&self, snapshot: u64) -> bool {
        self.0.readable(View { snapshot, me: 0 })
    }
}

/// One table's recent write sets (`engine/serial.rs`), with the commit
/// paths of `Transaction::commit` around them, for the models of SR1 and
/// SR2. Keys are `u64`s.
#[derive(Clone, Default)]
pub struct Recents(Arc<crate::engine::serial::RecentWrites<u64>>);

/// A serializable transaction of the models: counted live until dropped.
pub struct SerialTxn {
    _slot: Slot,
    manager: Arc<TxnManager>,
    snapshot: u64,
}

impl SerialTxn {
    /// The snapshot the transaction reads at.
    pub fn snapshot(&self) -> u64 {
        self.snapshot
    }
}

impl Drop for SerialTxn {
    fn drop(&mut self) {
        self.manager.end_serializable();
    }
}

impl Engine {
    /// Begins a serializable transaction as `Database::begin_with` does
    /// (SR1: counted, a read-modify-write of the clock, a wait for it).
    pub fn begin_serializable(&self) -> SerialTxn {
        let manager = &self.manager;
        let (slot, snapshot) = manager.begin_serializable(|n| manager.wait_published(n));
        SerialTxn {
            _slot: slot,
            manager: Arc::clone(manager),
            snapshot,
        }
    }
}

impl Recents {
    /// A fresh, empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Commits a snapshot-isolation write of `key` as `Transaction::commit`
    /// does: records the key (unstamped) if a serializable transaction may
    /// be live, stamps it in the ordered step, or there pushes a wildcard
    /// if one has become live since. Returns the commit timestamp.
    pub fn commit_write(&self, engine: &Engine, key: u64) -> u64 {
        let manager = &engine.manager;
        let recorded = manager.serializable_live();
        let entry = recorded.then(|| self.0.push(vec![key].into(), 0));
        manager.commit_ordered(
            |ts| match &entry {
                Some(entry) => entry.stamp(ts),
                None if manager.serializable_live() => self.0.push_wildcard(ts),
                None => {}
            },
            |_| {},
        )
    }

    /// Commits the write of `write` by the serializable transaction `tx`,
    /// which read `read` in the table of `reads`, as `Transaction::commit`
    /// does (SR2): its entry pushed before validation, validation against
    /// `reads` in commit order, the entry stamped in the ordered step or
    /// taken off the list on failure. `None`: a serialization failure.
    pub fn commit_serializable(
        &self,
        engine: &Engine,
        tx: SerialTxn,
        read: u64,
        reads: &Recents,
        write: u64,
    ) -> Option<u64> {
        let entry = self.0.push(vec![write].into(), 0);
        let valid = |from, to| {
            !reads
                .0
                .stamped_in(from, to, 0)
                .iter()
                .any(|e| e.meets(&[read], &[]))
        };
        let ts = engine
            .manager
            .commit_validated(tx.snapshot, valid, |ts| entry.stamp(ts), |_| {});
        if ts.is_none() {
            self.0.remove(&entry);
        }
        drop(tx);
        ts
    }

    /// Whether the list holds an entry stamped `ts` that meets a read of
    /// `key`: the commit at `ts` wrote it, or a wildcard.
    pub fn covers(&self, ts: u64, key: u64) -> bool {
        self.0
            .stamped_in(ts - 1, ts, 0)
            .iter()
            .any(|e| e.meets(&[key], &[]))
    }
}

/// A transaction of the models.
pub struct Txn {
    /// Declared (so dropped) before `manager`: the slot points into the
    /// manager's registry, which the last `Txn` of an engine keeps alive.
    _slot: Slot,
    manager: Arc<TxnManager>,
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

/// Why a write of the models installed nothing.
#[derive(Debug)]
pub enum Refused {
    /// An answer (`NotFound`, `DuplicateKey`) or a `WriteConflict`.
    Error(Error),
    /// The record was retired (G2); the engine would look the key up again
    /// and insert into a fresh record, which the stand-in index cannot.
    Retired,
}

impl Refused {
    /// Is this a `WriteConflict` (W1)?
    pub fn is_conflict(&self) -> bool {
        matches!(self, Refused::Error(Error::WriteConflict))
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
    Words(<Delta<WordRow> as VersionStore<WordRow>>::Pending),
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
        each!(self, r, _w => r.store.read(&r.records[i], view, guard, |row| row.map(Row::get)))
    }

    /// A write of row `i` by `txn`. On `WriteConflict` the caller aborts.
    pub fn write(&self, txn: &mut Txn, i: usize, op: Op, guard: &Guard) -> Result<(), Refused> {
        let view = txn.write_view();
        let make = move |old: Option<&Row>| match (op, old) {
            (Op::Insert(_), Some(_)) => Err(Error::DuplicateKey),
            (Op::Insert(v), None) => Ok(Some(Row::new(v))),
            (_, None) => Err(Error::NotFound),
            (Op::Update(v), Some(_)) => Ok(Some(Row::new(v))),
            (Op::Delete, Some(_)) => Ok(None),
        };
        let result =
            each!(self, r, wrap => r.store.write(&r.records[i], view, guard, make).map(wrap));
        match result {
            Ok(p) => {
                txn.writes.push((i, p));
                Ok(())
            }
            Err(WriteError::Error(e)) => Err(Refused::Error(e)),
            // The tuple the operation made is dropped here (a leak otherwise).
            Err(WriteError::Retired(_)) => Err(Refused::Retired),
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

    /// The versions row `i` holds (newest and history): the statistics
    /// walk, which reads every version's row (see [`Row`]).
    pub fn versions(&self, i: usize, guard: &Guard) -> usize {
        let mut stats = TableStats::default();
        each!(self, r, _w => r.store.stats(&r.records[i], guard, &mut stats));
        stats.versions
    }
}

/// The row of [`WordRows`]: two words, which the delta store keeps in place.
pub type WordRow = [u64; 2];

/// A table of `n` rows of two words over the delta store, whose master is
/// then the in-place one (IP1, `store/words.rs`): the rows a seqlock model
/// writes and reads. A torn read shows as a row whose two words belong to
/// different versions.
pub struct WordRows {
    store: Delta<WordRow>,
    records: Vec<<Delta<WordRow> as VersionStore<WordRow>>::Record>,
}

impl WordRows {
    /// `n` empty records.
    pub fn new(n: usize) -> Self {
        WordRows {
            store: Delta::with_in_place(true),
            records: (0..n).map(|_| Default::default()).collect(),
        }
    }

    /// Row `i` as `txn` sees it.
    pub fn read(&self, txn: &Txn, i: usize, guard: &Guard) -> Option<WordRow> {
        self.store
            .read(&self.records[i], txn.view(), guard, |r| r.copied())
    }

    /// Makes row `i` `row` (`None`: deletes it), for `txn`. On
    /// `WriteConflict` the caller aborts.
    pub fn write(
        &self,
        txn: &mut Txn,
        i: usize,
        row: Option<WordRow>,
        guard: &Guard,
    ) -> Result<(), Refused> {
        let view = txn.write_view();
        match self.store.write(&self.records[i], view, guard, |_| Ok(row)) {
            Ok(p) => {
                txn.writes.push((i, AnyPending::Words(p)));
                Ok(())
            }
            Err(WriteError::Error(e)) => Err(Refused::Error(e)),
            Err(WriteError::Retired(_)) => Err(Refused::Retired),
        }
    }

    /// Commits `txn`; returns its commit timestamp.
    pub fn commit(&self, txn: Txn, guard: &Guard) -> u64 {
        let Txn {
            manager, writes, ..
        } = txn;
        manager.commit(|ts| {
            for (i, p) in writes {
                let AnyPending::Words(p) = p else {
                    unreachable!("a transaction writes to one table")
                };
                self.store.commit(&self.records[i], p, ts, guard);
            }
        })
    }

    /// Rolls `txn` back.
    pub fn abort(&self, txn: Txn, guard: &Guard) {
        for (i, p) in txn.writes.into_iter().rev() {
            let AnyPending::Words(p) = p else {
                unreachable!("a transaction writes to one table")
            };
            self.store.abort(&self.records[i], p, guard);
        }
    }

    /// Prunes row `i` at `watermark` (G1); returns the versions freed.
    pub fn prune(&self, i: usize, watermark: u64, guard: &Guard) -> usize {
        self.store.prune(&self.records[i], watermark, guard)
    }

    /// The versions row `i` holds (newest and history).
    pub fn versions(&self, i: usize, guard: &Guard) -> usize {
        let mut stats = TableStats::default();
        self.store.stats(&self.records[i], guard, &mut stats);
        stats.versions
    }
}
