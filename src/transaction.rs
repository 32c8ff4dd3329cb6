//! Transactions: a snapshot, a write set, and the API of reads and writes.
//!
//! A transaction reads the database as of its snapshot (taken at begin) plus
//! its own writes, which it installs in place in each row's record as
//! uncommitted versions, tagged with its id. Commit stamps them with one
//! timestamp ([`crate::engine::manager`]); rollback undoes them. A write that loses
//! a write-write conflict rolls the whole transaction back at once.
//!
//! # User code
//!
//! A write runs user code: the closure of `modify`, the row's `Clone`,
//! `PartialEq` and `delta_to`, the key's `Clone`, and any `Drop` that the
//! epoch collector runs when the write pins. The stores and tables run it
//! before they claim a row, never while a claim is held and not yet in the
//! write log, so a panic never leaves a row claimed. What a panic leaves is
//! the transaction: a write marks it poisoned before it enters the table and
//! records its outcome after, so a transaction that a panic interrupted
//! answers `Aborted` from then on, and its earlier writes are undone when it
//! is dropped. Commit runs no user code between taking its timestamp and
//! publishing it (see [`crate::engine::manager`]).

use crate::engine::manager::TxnManager;
use crate::engine::watermark::Slot;
use crate::engine::Engine;
use crate::header::{Timestamp, View};
use crate::store::VersionStore;
use crate::table::{
    dispatch, Key, ReadItem, ReadLog, TableCore, TableLog, TableReads, Write, WriteLog,
};
use crate::{Error, Result, Table, Tuple};
use crossbeam_epoch::{self as epoch, Guard};
use std::any::Any;
use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// How a transaction is isolated from concurrent ones: chosen per
/// transaction ([`Database::begin_with`](crate::Database::begin_with)), per
/// session ([`Session::set_isolation`](crate::Session::set_isolation)) or
/// as a database's default
/// ([`DatabaseBuilder::isolation`](crate::DatabaseBuilder::isolation)).
///
/// Both levels read a snapshot taken at begin and are first-updater-wins
/// for write-write conflicts. They differ in what a transaction that
/// *read* something another transaction then changed may do:
///
/// * [`Snapshot`](Isolation::Snapshot) commits it. Every Hermitage anomaly
///   but write skew (G2-item) and predicate anti-dependency cycles (G2) is
///   prevented; those two are allowed: two transactions may each read what
///   the other writes, and both commit.
/// * [`Serializable`](Isolation::Serializable) fails it: a transaction that
///   wrote, and read a key (or a range of keys, empty or not) that a
///   transaction committed after its snapshot wrote, fails at commit with
///   [`Error::SerializationFailure`] and is rolled back;
///   [`Database::transact`](crate::Database::transact) retries it. Every
///   committed transaction is then equivalent to running alone at its
///   commit timestamp. A transaction that wrote nothing never fails: it
///   read a prefix of that serial order. The price is the read set (a
///   clone of each key read, two bounds per scan, kept until commit) and,
///   while any serializable transaction is live, a clone of every
///   committing transaction's written keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Isolation {
    /// Snapshot isolation: the default.
    #[default]
    Snapshot,
    /// Serializability, validated at commit in commit order.
    Serializable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    /// Rolled back by a write conflict.
    Aborted,
    /// A write is in progress, or a panic in user code interrupted one: the
    /// transaction answers `Aborted` and is rolled back when dropped.
    Poisoned,
}

/// A transaction, of snapshot isolation or serializable ([`Isolation`]).
///
/// Reads (`get`, `read`, `scan`) see the database as of [`begin`] plus this
/// transaction's own writes; a serializable transaction also records them,
/// for its commit to validate. Writes (`insert`, `update`, `modify`, `delete`)
/// are first-updater-wins: a write to a key that another transaction wrote
/// first (uncommitted, or committed after this snapshot) returns
/// [`Error::WriteConflict`] and rolls the transaction back: at once, or
/// after a short bounded wait for an older holder that may still roll back
/// (docs/design.md, W3).
/// [`commit`](Transaction::commit) and [`rollback`](Transaction::rollback)
/// consume it; dropping it uncommitted rolls it back.
///
/// Forgetting a transaction (`std::mem::forget`) is safe but leaks, like a
/// forgotten `MutexGuard`: its claims stay (every later write of a key it
/// wrote is a `WriteConflict`), its snapshot holds garbage collection back
/// for as long as the database lives (a serializable one also makes every
/// later commit record its write set), and the database's engine is never
/// freed. Everything else goes on.
///
/// [`begin`]: crate::Database::begin
#[must_use = "a transaction rolls back when dropped; call commit() to keep its writes"]
pub struct Transaction {
    db: Arc<Engine>,
    /// Keeps the snapshot registered (G1) until the transaction ends.
    slot: Option<Slot>,
    snapshot: u64,
    /// The tagged id once the transaction has written, else 0.
    me: u64,
    state: State,
    logs: Vec<Box<dyn WriteLog>>,
    /// The catalog changes (creates and drops) this transaction made, if
    /// any: they take effect at its commit.
    ddl: Option<Box<dyn Ddl>>,
    /// What a serializable transaction read, per table (SR2,
    /// `engine/serial.rs`); `None` for snapshot isolation. Written through
    /// `&self` by the reads (a `Transaction` is not `Sync`).
    /// Boxed: a snapshot-isolation transaction (the common one) stays
    /// small, cheap to move.
    reads: Option<ReadSet>,
    /// Serializable: counted live (SR1) until dropped.
    serializable: bool,
}

/// What a serializable transaction read, per table.
type ReadSet = Box<RefCell<Vec<Box<dyn ReadLog>>>>;

/// The commit that [`Ddl::commit`] runs: takes the timestamp, stamps and
/// publishes, running the stamp it is given in the ordered step; `None` if
/// nothing was committed.
pub(crate) type CommitStep<'a> = dyn FnMut(&mut dyn FnMut(u64)) -> Option<u64> + 'a;

/// Catalog changes made inside a transaction (the transactional catalog,
/// implemented by `database.rs`): they commit with the transaction, at its
/// timestamp, or roll back with it.
pub(crate) trait Ddl: Send {
    /// Appends the changes' parts of the redo record; returns how many.
    fn redo(&self, out: &mut Vec<u8>) -> u64;
    /// Commits the changes around `commit`, which takes the timestamp,
    /// stamps and publishes, and runs the `stamp` it is given in the
    /// ordered step, after the transaction's own stamps, if the commit
    /// goes through (`Some(ts)`; `None`: nothing was committed).
    fn commit(&mut self, commit: &mut CommitStep<'_>) -> Option<u64>;
    /// Undoes the changes: the transaction rolled back, or committed
    /// nothing.
    fn abort(&mut self);
    fn as_any(&mut self) -> &mut dyn Any;
}

impl Transaction {
    /// A snapshot-isolation transaction reading at `ts`, an earlier
    /// snapshot registered in `slot` (`Database::begin_at`).
    pub(crate) fn new_at(db: Arc<Engine>, slot: Slot, ts: u64) -> Self {
        Transaction {
            db,
            slot: Some(slot),
            snapshot: ts,
            me: 0,
            state: State::Active,
            logs: Vec::new(),
            ddl: None,
            serializable: false,
            reads: None,
        }
    }

    #[inline]
    pub(crate) fn new(db: Arc<Engine>, isolation: Isolation) -> Self {
        let (slot, snapshot, reads) = match isolation {
            Isolation::Snapshot => {
                let (slot, snapshot) = db.manager.begin();
                (slot, snapshot, None)
            }
            Isolation::Serializable => Self::begin_serializable(&db),
        };
        Transaction {
            db,
            slot: Some(slot),
            snapshot,
            me: 0,
            state: State::Active,
            logs: Vec::new(),
            ddl: None,
            serializable: reads.is_some(),
            reads,
        }
    }

    /// The snapshot and read set of a serializable transaction (SR1).
    #[cold]
    #[inline(never)]
    fn begin_serializable(db: &Arc<Engine>) -> (Slot, u64, Option<ReadSet>) {
        let (slot, snapshot) = db.manager.begin_serializable(|n| db.wait_readable(n));
        (slot, snapshot, Some(Box::new(RefCell::new(Vec::new()))))
    }

    /// How this transaction is isolated (see [`Isolation`]).
    pub fn isolation(&self) -> Isolation {
        if self.serializable {
            Isolation::Serializable
        } else {
            Isolation::Snapshot
        }
    }

    /// Adds `note` to the read set of `core`'s table: a serializable
    /// transaction's read (SR2). The caller ran the user code (the clones)
    /// before, so that nothing runs while the set is borrowed.
    fn note_read<K: Key, T: Tuple, S: VersionStore<T>>(
        &self,
        core: &Arc<TableCore<K, T, S>>,
        note: impl FnOnce(&mut TableReads<K, T, S>),
    ) {
        let Some(reads) = &self.reads else {
            return;
        };
        let mut reads = reads.borrow_mut();
        let i = match reads.iter().position(|l| l.table_id() == core.id) {
            Some(i) => i,
            None => {
                reads.push(Box::new(TableReads::new(Arc::clone(core))));
                reads.len() - 1
            }
        };
        if let Some(log) = reads[i].as_any().downcast_mut() {
            note(log);
        }
    }

    /// The transaction's tag, taken now if it has none (a transaction
    /// takes one at its first write, or its first catalog change).
    pub(crate) fn tag(&mut self) -> u64 {
        if self.me == 0 {
            self.me = View::tag(self.db.manager.new_txn_id());
        }
        self.me
    }

    /// The catalog changes of this transaction, made by `make` at the
    /// first (`Database`'s DDL statements).
    pub(crate) fn ddl_mut<D: Ddl + 'static>(&mut self, make: impl FnOnce() -> D) -> &mut D {
        self.ddl
            .get_or_insert_with(|| Box::new(make()))
            .as_any()
            .downcast_mut()
            .expect("one kind of catalog change")
    }

    /// Whether the transaction wrote `table` (its id).
    pub(crate) fn wrote(&self, table: u64) -> bool {
        self.logs.iter().any(|l| l.table_id() == table)
    }

    /// Rolls the whole transaction back after a conflict (a write's, or
    /// one found in the catalog: two creates of one name):
    /// `WriteConflict`.
    pub(crate) fn conflict(&mut self) -> Error {
        self.state = State::Aborted;
        let (guard, caught) = pin_catching();
        self.abort_writes(&guard);
        drop(guard);
        if let Some(payload) = caught {
            std::panic::resume_unwind(payload);
        }
        Error::WriteConflict
    }

    /// `Err(Aborted)` unless the transaction can go on.
    pub(crate) fn check_active(&self) -> Result<()> {
        if self.state == State::Active {
            Ok(())
        } else {
            Err(Error::Aborted)
        }
    }

    /// The snapshot this transaction reads: every commit at or below it.
    pub fn snapshot(&self) -> Timestamp {
        Timestamp(self.snapshot)
    }

    /// `false` once a write conflict has rolled the transaction back, or a
    /// panic in user code (a closure, a `Clone`, a `Drop`) has interrupted
    /// one of its writes.
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    fn view(&self) -> View {
        View {
            snapshot: self.snapshot,
            me: self.me,
        }
    }

    fn check<K: Key, T: Tuple>(&self, table: &Table<K, T>) -> Result<()> {
        self.check_ours(table)?;
        table.check_read(self.view())
    }

    /// `Err(Aborted)` unless active, `Err(ForeignTable)` unless the table
    /// is this database's.
    #[inline]
    fn check_ours<K: Key, T: Tuple>(&self, table: &Table<K, T>) -> Result<()> {
        if self.state != State::Active {
            return Err(Error::Aborted);
        }
        if !Arc::ptr_eq(table.core(), &self.db) {
            return Err(Error::ForeignTable);
        }
        Ok(())
    }

    /// The view to write with: takes a transaction id at the first write.
    ///
    /// Marks the transaction poisoned until [`finish`](Self::finish) records
    /// the write's outcome: if user code panics in between, the transaction
    /// stays poisoned (unusable, rolled back when dropped). Every write goes
    /// from here to `finish`.
    fn write_view<K: Key, T: Tuple>(&mut self, table: &Table<K, T>) -> Result<View> {
        self.check_ours(table)?;
        self.tag();
        table.check_write(self.view())?;
        self.state = State::Poisoned;
        Ok(self.view())
    }

    /// The row of `key`, as this transaction sees it.
    pub fn get<K, T: Tuple, Q>(&self, table: &Table<K, T>, key: &Q) -> Result<Option<T>>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.read(table, key, |row| row.cloned())
    }

    /// Zero-copy read: calls `f` with the row of `key` as this transaction
    /// sees it, borrowed from the version store (no clone of the tuple).
    ///
    /// `f` runs while the calling thread is pinned to the epoch collector:
    /// keep it short.
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
        Ok(dispatch!(table, core => {
            if self.reads.is_some() {
                let item = core.read_item(key);
                self.note_read(core, |log| log.point(item));
            }
            core.read(view, key, f)
        }))
    }

    /// [`get`](Self::get) without recording the read: a serializable
    /// transaction gives up serializability for this read. A key that
    /// another transaction writes and commits after this transaction's
    /// snapshot does not make it fail, so the value read may be stale when
    /// it commits (as it may under [`Isolation::Snapshot`]). Use it for
    /// reads whose staleness the transaction tolerates (a statistic, a
    /// hint), to save the read set and spurious failures. The same as
    /// `get` under snapshot isolation.
    pub fn get_untracked<K, T: Tuple, Q>(&self, table: &Table<K, T>, key: &Q) -> Result<Option<T>>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.check(table)?;
        let view = self.view();
        Ok(dispatch!(table, core => core.read(view, key, |row| row.cloned())))
    }

    /// [`scan`](Self::scan) without recording the range: as
    /// [`get_untracked`](Self::get_untracked), a serializable transaction
    /// gives up serializability for this read (rows that other transactions
    /// insert, change or delete in the range after its snapshot do not make
    /// it fail).
    pub fn scan_untracked<K: Key, T: Tuple, R: RangeBounds<K>>(
        &self,
        table: &Table<K, T>,
        range: R,
    ) -> Result<Scan<'_, K, T>> {
        self.check(table)?;
        Ok(Scan::new(self.view(), table, range))
    }

    /// The rows with keys in `range`, in key order, as this transaction sees
    /// them (its snapshot plus its own writes). The scan is double-ended:
    /// `.rev()` gives them in descending key order, and both ends may be consumed
    /// in turn.
    ///
    /// ```
    /// use multiverse::{Database, Storage};
    ///
    /// let db = Database::new(Storage::TimeTravel);
    /// let t = db.create_table::<u32, [i64; 1]>("t")?;
    /// let mut tx = db.begin();
    /// for k in 1..=5 {
    ///     tx.insert(&t, k, [k.into()])?;
    /// }
    /// let down: Vec<u32> = tx.scan(&t, 2..)?.rev().map(|(k, _)| k).collect();
    /// assert_eq!(down, [5, 4, 3, 2]);
    /// let mut both = tx.scan(&t, ..)?;
    /// assert_eq!(both.next().map(|(k, _)| k), Some(1));
    /// assert_eq!(both.next_back().map(|(k, _)| k), Some(5));
    /// assert_eq!(both.map(|(k, _)| k).collect::<Vec<_>>(), [2, 3, 4]);
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn scan<K: Key, T: Tuple, R: RangeBounds<K>>(
        &self,
        table: &Table<K, T>,
        range: R,
    ) -> Result<Scan<'_, K, T>> {
        self.check(table)?;
        if self.reads.is_some() {
            // The range asked for, not the rows returned (module docs of
            // `engine/serial.rs`).
            let (from, to) = (range.start_bound().cloned(), range.end_bound().cloned());
            dispatch!(table, core => self.note_read(core, |log| log.range(from, to)));
        }
        Ok(Scan::new(self.view(), table, range))
    }

    /// Inserts a row. `Err(DuplicateKey)` if a row with this key is visible.
    pub fn insert<K: Key, T: Tuple>(&mut self, table: &Table<K, T>, key: K, row: T) -> Result<()> {
        let view = self.write_view(table)?;
        // A serializable transaction that meets `DuplicateKey` has read the
        // key (SR2): keep a copy to record it.
        let probe = self.reads.is_some().then(|| key.clone());
        dispatch!(table, core => {
            let result = core.insert(view, key, row);
            let answer = self.finish(core, result);
            if let (Some(key), Err(Error::DuplicateKey)) = (probe, &answer) {
                self.note_read(core, |log| log.point(ReadItem::Point(key)));
            }
            answer
        })
    }

    /// Inserts the row, or replaces the visible row of `key`: returns the row
    /// it replaced (`None` for an insert). Conflicts as any write does.
    ///
    /// ```
    /// use multiverse::{Database, Storage};
    ///
    /// let db = Database::new(Storage::Delta);
    /// let t = db.create_table::<u64, [i64; 2]>("t")?;
    /// let mut tx = db.begin();
    /// assert_eq!(tx.upsert(&t, 3, [1, 0])?, None);
    /// assert_eq!(tx.upsert(&t, 3, [2, 0])?, Some([1, 0]));
    /// tx.commit()?;
    /// assert_eq!(db.begin().get(&t, &3)?, Some([2, 0]));
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn upsert<K: Key, T: Tuple>(
        &mut self,
        table: &Table<K, T>,
        key: K,
        row: T,
    ) -> Result<Option<T>> {
        // Replace the visible row under one claim, or, with none visible,
        // insert. Nothing can make a row visible to our snapshot between
        // the two steps (only our own writes could), so the insert cannot
        // meet `DuplicateKey`; a rival's newer row is a `WriteConflict`
        // at its claim, as for any insert.
        let mut row = Some(row);
        let mut replaced = None;
        let replace = self.modify_with(table, &key, |old| match old {
            Some(old) => {
                replaced = Some(old.clone());
                Ok(row.take())
            }
            None => Err(Error::NotFound),
        });
        match replace {
            Ok(()) => Ok(replaced),
            Err(Error::NotFound) => {
                let row = row.expect("the row is taken only by a replace");
                self.insert(table, key, row).map(|()| None)
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the row of `key`. `Err(NotFound)` if no row is visible.
    pub fn update<K, T: Tuple, Q>(&mut self, table: &Table<K, T>, key: &Q, row: T) -> Result<()>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.modify_with(table, key, |old| {
            old.map(|_| Some(row)).ok_or(Error::NotFound)
        })
    }

    /// Read-modify-write of the row of `key` in one step, under one claim.
    /// `Err(NotFound)` if no row is visible.
    pub fn modify<K, T: Tuple, Q>(
        &mut self,
        table: &Table<K, T>,
        key: &Q,
        f: impl FnOnce(&mut T),
    ) -> Result<()>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.modify_with(table, key, |old| {
            let mut row = old.ok_or(Error::NotFound)?.clone();
            f(&mut row);
            Ok(Some(row))
        })
    }

    /// Deletes the row of `key`. `Err(NotFound)` if no row is visible.
    pub fn delete<K, T: Tuple, Q>(&mut self, table: &Table<K, T>, key: &Q) -> Result<()>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.modify_with(table, key, |old| old.map(|_| None).ok_or(Error::NotFound))
    }

    fn modify_with<K, T: Tuple, Q>(
        &mut self,
        table: &Table<K, T>,
        key: &Q,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>>,
    ) -> Result<()>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        let view = self.write_view(table)?;
        dispatch!(table, core => {
            let result = core.write_existing(view, key, op);
            let answer = self.finish(core, result);
            // A serializable transaction that meets `NotFound` has read the
            // key's absence (SR2).
            if self.reads.is_some() && matches!(answer, Err(Error::NotFound)) {
                let item = core.read_item(key);
                self.note_read(core, |log| log.point(item));
            }
            answer
        })
    }

    /// Records the outcome of a write that [`write_view`](Self::write_view)
    /// began: logs a successful write, rolls back on a conflict, and makes
    /// the transaction active again otherwise.
    fn finish<K: Key, T: Tuple, S: VersionStore<T>>(
        &mut self,
        core: &Arc<TableCore<K, T, S>>,
        result: Result<Write<K, T, S>>,
    ) -> Result<()> {
        match result {
            Ok(write) => {
                self.log_for(core).push(write);
                self.state = State::Active;
                Ok(())
            }
            Err(Error::WriteConflict) => Err(self.conflict()),
            Err(answer) => {
                self.state = State::Active;
                Err(answer)
            }
        }
    }

    fn log_for<K: Key, T: Tuple, S: VersionStore<T>>(
        &mut self,
        core: &Arc<TableCore<K, T, S>>,
    ) -> &mut TableLog<K, T, S> {
        let i = match self.logs.iter().position(|l| l.table_id() == core.id) {
            Some(i) => i,
            None => {
                self.logs.push(Box::new(core.log()));
                self.logs.len() - 1
            }
        };
        self.logs[i]
            .as_any()
            .downcast_mut()
            .expect("a table id names one table, of one type")
    }

    /// Undoes every write, newest first. Runs no user code under `guard`
    /// (the caller pinned it, see [`pin_catching`]).
    fn abort_writes(&mut self, guard: &Guard) {
        for log in self.logs.iter_mut().rev() {
            log.abort(guard);
        }
        self.logs.clear();
        if let Some(mut ddl) = self.ddl.take() {
            ddl.abort();
        }
    }

    /// Commits: every write becomes visible, at once, to transactions that
    /// begin afterwards. `Err(Aborted)` if a conflict rolled the transaction
    /// back; `Err(NoSuchTable)` (and everything rolled back) if it wrote a
    /// table that [`Database::drop_table`](crate::Database::drop_table) has
    /// dropped meanwhile; `Err(SerializationFailure)` (and everything rolled
    /// back) if it is serializable, wrote, and read something that a
    /// transaction committed after its snapshot wrote ([`Isolation`]).
    ///
    /// Returns a commit timestamp, under one rule that logs and replicas can
    /// rely on: **a transaction that wrote gets a timestamp that no other
    /// commit has**, and every transaction that begins after `commit`
    /// returns sees it; **a transaction that wrote nothing returns the
    /// timestamp of the newest commit it saw** (its snapshot; 0 on a
    /// database nobody has written), which that commit (or another
    /// read-only one) returned too. To tell the two apart, use
    /// [`commit_write`](Transaction::commit_write).
    ///
    /// If a `Drop` that the epoch collector runs when the commit pins
    /// panics, the panic propagates before the commit takes a timestamp:
    /// nothing is committed, and the writes are rolled back.
    pub fn commit(mut self) -> Result<Timestamp> {
        let reads = self.reads.take().map(|r| r.into_inner());
        match reads.filter(|r| !r.is_empty()) {
            // A local commit always gets a timestamp: the `None` arm is
            // never taken.
            None => self
                .commit_with(|manager, stamp, ordered| Some(manager.commit_ordered(stamp, ordered)))
                .and_then(|ts| ts.ok_or(Error::Aborted)),
            // A serializable transaction that read: validated in commit
            // order (SR2, `engine/serial.rs`). It wrote, or `commit_with`
            // returns before it takes a timestamp.
            Some(reads) => {
                let snapshot = self.snapshot;
                let failed = Cell::new(false);
                let ts = self.commit_with(|manager, stamp, ordered| {
                    let valid = |from, to| !reads.iter().any(|r| r.conflicts(from, to));
                    let ts = manager.commit_validated(snapshot, valid, stamp, ordered);
                    failed.set(ts.is_none());
                    ts
                })?;
                match ts {
                    Some(ts) => Ok(ts),
                    None if failed.get() => Err(Error::SerializationFailure),
                    None => Err(Error::Aborted),
                }
            }
        }
    }

    /// Commits at `ts`, a commit timestamp decided elsewhere (a replayed
    /// log record, a two-phase commit's coordinator — `multiverse-cluster`
    /// calls it): the seam of docs/design.md, "Seams for committed
    /// versions from outside". The writes went through the ordinary write
    /// path (claims, W1); they are stamped with `ts` and published in
    /// timestamp order, indistinguishable from a local commit, and the
    /// database's clock jumps to `ts` (the timestamps it skips were handed
    /// to nobody). Whoever calls it keeps every commit of the database in
    /// one timestamp order: `Ok(None)`, and everything rolled back, if `ts`
    /// is not above every timestamp handed out so far. A transaction that
    /// wrote nothing returns `Ok(Some(snapshot))` and moves no clock.
    ///
    /// A serializable transaction that read is not validated here (its
    /// validation is atomic with taking a timestamp of this database's
    /// own clock, SR2): `Err(InvalidArgument)`, and everything rolled back.
    ///
    /// ```
    /// use multiverse::{Database, Storage, Timestamp};
    ///
    /// let db = Database::new(Storage::AppendOnlyN2O);
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// let mut tx = db.begin();
    /// tx.insert(&t, 1, [7])?;
    /// assert_eq!(tx.commit_at(Timestamp::new(100))?, Some(Timestamp::new(100)));
    /// assert_eq!(db.newest_commit(), Timestamp::new(100));
    /// let mut late = db.begin();
    /// late.insert(&t, 2, [8])?;
    /// assert_eq!(late.commit_at(Timestamp::new(50))?, None); // rolled back
    /// assert_eq!(db.snapshot().get(&t, &2)?, None);
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn commit_at(mut self, ts: Timestamp) -> Result<Option<Timestamp>> {
        let refused = if ts > Timestamp::MAX {
            Some("a commit timestamp above Timestamp::MAX")
        } else if self
            .reads
            .as_ref()
            .is_some_and(|r| !RefCell::borrow(r).is_empty())
        {
            Some("commit_at does not validate a serializable transaction's reads")
        } else {
            None
        };
        if let Some(reason) = refused {
            // Dropping `self` rolls the writes back.
            self.state = State::Aborted;
            return Err(Error::InvalidArgument {
                reason: reason.into(),
            });
        }
        self.commit_with(|manager, stamp, ordered| manager.commit_at(ts.0, stamp, ordered))
    }

    /// The commit protocol, with the timestamp taken by `take_ts` (which
    /// hands `stamp` to the manager; `None`: no timestamp, roll back).
    fn commit_with(
        mut self,
        take_ts: impl FnOnce(&TxnManager, &mut dyn FnMut(u64), &mut dyn FnMut(u64)) -> Option<u64>,
    ) -> Result<Option<Timestamp>> {
        if self.state != State::Active {
            return Err(Error::Aborted);
        }
        if let Some(name) = self.logs.iter().find_map(|l| l.dropped()) {
            let e = Error::no_such_table(name);
            // Dropping `self` below rolls the writes back.
            self.state = State::Aborted;
            return Err(e);
        }
        if self.logs.is_empty() && self.ddl.is_none() {
            return Ok(Some(Timestamp(self.snapshot)));
        }
        // Pin once, before taking a timestamp: this pin may run deferred
        // destructors (user `Drop`s, which may panic, or commit on this
        // database and so wait for every earlier timestamp to publish). The
        // ordered publish step below takes no pin (it uses this guard), and
        // the pins after it are nested in this one, which never collect
        // (crossbeam-epoch's `Local::pin` collects only when the thread's
        // guard count goes from 0 to 1): no deferred destructor runs in this
        // commit from here on, so a commit that has taken its timestamp
        // publishes it and returns.
        let guard = epoch::pin();
        // A durable database's redo record, encoded before the timestamp is
        // taken: the encoders are user code, and the log is poisoned for
        // good after a failed write (then nothing commits).
        let redo = match &self.db.wal {
            Some(wal) => {
                if let Some(e) = wal.failure() {
                    self.state = State::Aborted;
                    return Err(e);
                }
                let mut out = Vec::new();
                if let Some(ddl) = &self.ddl {
                    // The catalog changes first: replay creates a table
                    // before it applies the writes to it.
                    out.push(crate::durable::TXN);
                    let mut parts = Vec::new();
                    let n = ddl.redo(&mut parts);
                    crate::durable::codec::write_varint(n, &mut out);
                    out.extend_from_slice(&parts);
                } else {
                    out.push(crate::durable::WRITES);
                }
                let view = self.view();
                for log in &self.logs {
                    log.redo(view, &mut out, &guard);
                }
                Some(out)
            }
            None => None,
        };
        // Serializable transactions may be live: record the written keys,
        // unstamped, for them to validate against (SR1; user code, so
        // before the timestamp). Otherwise check again once the timestamp
        // is taken, and leave a wildcard if one began meanwhile.
        let manager = &self.db.manager;
        let recorded = self.serializable || manager.serializable_live();
        if recorded {
            let watermark = manager.cached_watermark();
            for log in self.logs.iter_mut() {
                log.record(watermark);
            }
        }
        let wal = self.db.wal.as_ref();
        let logs = &mut self.logs;
        // Sized here, so that the window below does not reallocate it.
        let mut batches = Vec::with_capacity(logs.len());
        // A table dropped by a commit ordered before ours (C1): we publish
        // nothing and roll back.
        let lost: std::cell::Cell<Option<usize>> = std::cell::Cell::new(None);
        // Stamps the rows; `false` (nothing stamped) if a table written was
        // dropped by a commit ordered before ours. After the timestamp's
        // `AcqRel` read-modify-write, so it sees the mark of every such
        // drop (C1), and the count of serializable transactions that began
        // meanwhile (SR1: then a wildcard, ids and an allocation). Runs no
        // user code and cannot panic.
        let mut stamp_rows = |ts: u64| {
            if let Some(i) = logs.iter().position(|l| l.dropped().is_some()) {
                lost.set(Some(i));
                return false;
            }
            let wildcard = !recorded && manager.serializable_live();
            for log in logs.iter_mut() {
                if wildcard {
                    log.wildcard(ts);
                }
                if let Some(batch) = log.commit(ts, &guard) {
                    batches.push(batch);
                }
            }
            true
        };
        // In commit order: the log is in the order snapshots see.
        let mut ordered = |ts| {
            if let (Some(wal), Some(redo), None) = (wal, &redo, lost.get()) {
                wal.append(ts, redo);
            }
        };
        let ts = match self.ddl.as_mut() {
            None => take_ts(
                manager,
                &mut |ts| {
                    stamp_rows(ts);
                },
                &mut ordered,
            ),
            Some(ddl) => {
                // The catalog's changes run the commit once, under their
                // lock, and stamp themselves after the rows.
                let mut take_ts = Some(take_ts);
                ddl.commit(&mut |stamp_ddl| {
                    take_ts.take()?(
                        manager,
                        &mut |ts| {
                            if stamp_rows(ts) {
                                stamp_ddl(ts);
                            }
                        },
                        &mut ordered,
                    )
                    // Nothing committed if the rows were not stamped.
                    .filter(|_| lost.get().is_none())
                })
            }
        }
        .filter(|_| lost.get().is_none());
        let Some(ts) = ts else {
            // Nothing stamped: dropping `self` rolls the writes (and the
            // catalog changes) back.
            drop(guard);
            if let Some(i) = lost.get() {
                let e = Error::no_such_table(self.logs[i].dropped().unwrap_or_default());
                self.state = State::Aborted;
                return Err(e);
            }
            return Ok(None);
        };
        self.ddl = None;
        self.logs.clear();
        // Published: from here on user code may run (the collector's pins
        // may drop old rows), and the garbage collection below must be able
        // to advance the epoch, which our own pin would hold back.
        drop(guard);
        // We read no more: deregister first, so that the watermark we
        // compute can pass our own commit (our batch is then due at once).
        self.slot = None;
        let (manager, gc) = (&self.db.manager, &self.db.gc);
        if gc.transaction_level() {
            let cached = manager.cached_watermark();
            gc.commit_batches(ts, batches, cached, || manager.watermark());
        } else if gc.refresh_due(ts)
            || (gc.cooperative() && self.db.held_the_watermark(self.snapshot))
        {
            manager.watermark();
        }
        if let Some(wal) = &self.db.wal {
            // Acknowledged only once written (Buffered) or synced (Sync);
            // then new snapshots may see it (the durable horizon).
            wal.wait(ts)?;
            manager.advance_readable(ts);
            self.db.maybe_checkpoint();
        }
        Ok(Some(Timestamp(ts)))
    }

    /// Stamps every write with `ts`, an earlier timestamp, without
    /// publishing or logging anything: rows loaded from a durable
    /// database's directory into a table that nobody else can reach yet
    /// (the catalog hands it out only afterwards, under its lock, which
    /// orders these stamps before any read of them). Every snapshot at or
    /// above `ts` sees them.
    pub(crate) fn commit_loaded(mut self, ts: u64) -> Result<()> {
        if self.state != State::Active {
            return Err(Error::Aborted);
        }
        let guard = epoch::pin();
        for log in self.logs.iter_mut() {
            // Nothing to collect: these are the rows' only versions.
            drop(log.commit(ts, &guard));
        }
        self.logs.clear();
        Ok(())
    }

    /// Commits, like [`commit`](Transaction::commit), and says whether the
    /// transaction wrote: `Some(ts)` with its own, unique commit timestamp,
    /// or `None` for a transaction that wrote nothing (which had nothing to
    /// commit). A redo log or a replica that records one entry per
    /// timestamp wants this form.
    ///
    /// ```
    /// use multiverse::{Database, Storage};
    ///
    /// let db = Database::new(Storage::AppendOnlyO2N);
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// let mut w = db.begin();
    /// w.insert(&t, 1, [1])?;
    /// let ts = w.commit_write()?.expect("it wrote");
    /// let r = db.begin();
    /// assert_eq!(r.get(&t, &1)?, Some([1]));
    /// assert_eq!(r.commit_write()?, None);
    /// assert_eq!(db.begin().commit()?, ts); // the plain form: the newest commit seen
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn commit_write(self) -> Result<Option<Timestamp>> {
        let wrote = !self.logs.is_empty();
        self.commit().map(|ts| wrote.then_some(ts))
    }

    /// Rolls back: nothing this transaction wrote ever becomes visible.
    ///
    /// If a `Drop` that the epoch collector runs when the rollback pins
    /// panics, the panic propagates once the writes are undone.
    pub fn rollback(self) {
        drop(self);
    }
}

/// Pins the epoch for a rollback: the pin may run deferred destructors (user
/// `Drop`s), and one that panics must not stop the rollback, which may be
/// running while the thread unwinds from another panic. Returns the guard
/// and the first panic caught, for the caller to resume once its state is
/// consistent.
///
/// The loop ends: a panic leaves `pin` only from dropping a bag of garbage
/// that the collector has taken off its queue, and the thread's next pin
/// collects only 128 pins later. (In a thread-local destructor, after the
/// thread's epoch handle is gone, every pin registers afresh and may
/// collect; each panic still used up a bag of garbage.)
fn pin_catching() -> (Guard, Option<Box<dyn Any + Send>>) {
    let mut caught = None;
    loop {
        match std::panic::catch_unwind(epoch::pin) {
            Ok(guard) => return (guard, caught),
            Err(payload) => {
                caught.get_or_insert(payload);
            }
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if std::mem::take(&mut self.serializable) {
            self.db.manager.end_serializable();
        }
        if let Some(mut ddl) = self.ddl.take() {
            ddl.abort();
        }
        if self.logs.is_empty() && self.slot.is_none() {
            // Committed: nothing left to do, and no pin to run user code.
            return;
        }
        if self.logs.is_empty() && !self.db.held_the_watermark(self.snapshot) {
            // A reader that held nothing back (the common end of a
            // read-only transaction): free the slot, pin nothing, write
            // nothing shared.
            self.slot = None;
            return;
        }
        // One pin for the whole rollback: the pins nested in it (the
        // watermark's, the collector's) run no destructors.
        let (guard, caught) = pin_catching();
        self.abort_writes(&guard);
        if self.slot.take().is_some() {
            self.db.reader_ended(self.snapshot);
        }
        drop(guard);
        if let Some(payload) = caught {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("snapshot", &self.snapshot)
            .field("state", &self.state)
            .field("tables_written", &self.logs.len())
            .finish()
    }
}

/// The iterator of [`Transaction::scan`] and [`Snapshot::scan`]: rows in key
/// order, from either end ([`DoubleEndedIterator`]: `.rev()` for descending
/// keys, and `next`/`next_back` in any interleaving, each row once).
///
/// It reads the index in batches, each under its own epoch pin, so a scan
/// left half-consumed holds back no garbage collection. Each end keeps its
/// own batch; a batch from one end never reads past what the other end has
/// read.
///
/// [`Snapshot::scan`]: crate::Snapshot::scan
pub struct Scan<'a, K, T: Tuple> {
    view: View,
    table: Table<K, T>,
    /// Everything up to `from` has been read by the front end.
    from: Bound<K>,
    /// Everything from `to` on has been read by the back end.
    to: Bound<K>,
    /// Rows read by the front end and not yet returned, in key order.
    front: VecDeque<(K, T)>,
    /// Rows read by the back end and not yet returned, in key order.
    back: VecDeque<(K, T)>,
    /// No index entry is left between `from` and `to`.
    done: bool,
    /// Borrows the transaction or snapshot whose registration keeps the
    /// view's versions from garbage collection.
    _reader: std::marker::PhantomData<&'a ()>,
}

/// Index entries examined per epoch pin.
const SCAN_BATCH: usize = 64;

impl<K: Key, T: Tuple> Scan<'_, K, T> {
    pub(crate) fn new(view: View, table: &Table<K, T>, range: impl RangeBounds<K>) -> Self {
        Scan {
            view,
            table: table.clone(),
            from: range.start_bound().cloned(),
            to: range.end_bound().cloned(),
            front: VecDeque::new(),
            back: VecDeque::new(),
            done: false,
            _reader: std::marker::PhantomData,
        }
    }
}

impl<K: Key, T: Tuple> Iterator for Scan<'_, K, T> {
    type Item = (K, T);

    fn next(&mut self) -> Option<(K, T)> {
        loop {
            if let Some(row) = self.front.pop_front() {
                return Some(row);
            }
            if self.done {
                // What is left was read by the back end.
                return self.back.pop_front();
            }
            let (view, range) = (self.view, (self.from.as_ref(), self.to.as_ref()));
            let buffer = &mut self.front;
            let last = dispatch!(self.table, core => {
                core.scan_batch(view, range, false, buffer, SCAN_BATCH)
            });
            match last {
                Some(key) => self.from = Bound::Excluded(key),
                None => self.done = true,
            }
        }
    }
}

impl<K: Key, T: Tuple> DoubleEndedIterator for Scan<'_, K, T> {
    fn next_back(&mut self) -> Option<(K, T)> {
        loop {
            if let Some(row) = self.back.pop_back() {
                return Some(row);
            }
            if self.done {
                // What is left was read by the front end.
                return self.front.pop_back();
            }
            let (view, range) = (self.view, (self.from.as_ref(), self.to.as_ref()));
            let buffer = &mut self.back;
            let last = dispatch!(self.table, core => {
                core.scan_batch(view, range, true, buffer, SCAN_BATCH)
            });
            match last {
                Some(key) => self.to = Bound::Excluded(key),
                None => self.done = true,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Database, Error, Isolation, Storage, Timestamp};

    /// Snapshot-isolation commits record their write sets only while a
    /// serializable transaction is live (SR1): none before, one per commit
    /// during, none after; and a serializable commit trims what the
    /// watermark has passed.
    #[test]
    fn commits_record_write_sets_only_while_a_serializable_transaction_lives() {
        use crate::table::dispatch;
        use crate::Isolation::Serializable;
        for storage in Storage::ALL {
            let db = Database::new(storage);
            let t = db.create_table::<u64, [i64; 1]>("t").unwrap();
            let listed = || dispatch!(t, core => core.recent.len());
            db.transact(|tx| tx.insert(&t, 1, [1])).unwrap();
            assert_eq!(listed(), 0, "{storage}");
            let mut s = db.begin_with(Serializable);
            db.transact(|tx| tx.insert(&t, 2, [2])).unwrap();
            db.transact(|tx| tx.insert(&t, 3, [3])).unwrap();
            assert_eq!(listed(), 2, "{storage}");
            s.insert(&t, 4, [4]).unwrap();
            s.commit().unwrap();
            assert_eq!(listed(), 3, "{storage}: the serializable commit's own");
            db.transact(|tx| tx.insert(&t, 5, [5])).unwrap();
            assert_eq!(listed(), 3, "{storage}: none live");
            // Nobody reads below the newest commit now: a validating
            // commit trims every entry.
            db.vacuum();
            let mut s = db.begin_with(Serializable);
            assert_eq!(s.get(&t, &1).unwrap(), Some([1]));
            s.insert(&t, 6, [6]).unwrap();
            db.transact(|tx| tx.insert(&t, 7, [7])).unwrap();
            s.commit().unwrap();
            assert_eq!(listed(), 2, "{storage}: the last two commits'");
        }
    }

    /// The seam for committed versions from outside: a transaction's writes
    /// committed at a timestamp decided elsewhere are seen exactly from that
    /// timestamp on, on every store; a timestamp that is not above the clock
    /// is refused and the writes are rolled back.
    #[test]
    fn commit_at_refuses_unvalidated_serializable_reads_and_timestamps_above_max() {
        for storage in Storage::ALL {
            let db = Database::new(storage);
            let t = db.create_table::<u64, [i64; 1]>("t").unwrap();
            let mut tx = db.begin_with(Isolation::Serializable);
            tx.get(&t, &1).unwrap();
            tx.insert(&t, 2, [2]).unwrap();
            assert!(matches!(
                tx.commit_at(Timestamp(10)),
                Err(Error::InvalidArgument { .. })
            ));
            let mut tx = db.begin();
            tx.insert(&t, 2, [2]).unwrap();
            assert!(matches!(
                tx.commit_at(Timestamp(Timestamp::MAX.0 + 1)),
                Err(Error::InvalidArgument { .. })
            ));
            // Both rolled back: the key is free, the clock did not move.
            assert_eq!(db.newest_commit(), Timestamp(1), "{storage}");
            db.transact(|tx| tx.insert(&t, 2, [3])).unwrap();
        }
    }

    #[test]
    fn commit_at_installs_committed_versions_at_a_given_timestamp() {
        for storage in Storage::ALL {
            let db = Database::new(storage);
            let t = db.create_table::<u64, [i64; 1]>("t").unwrap();
            db.transact(|tx| tx.insert(&t, 1, [1])).unwrap();
            let before = db.snapshot();
            let mut tx = db.begin();
            tx.update(&t, &1, [2]).unwrap();
            tx.insert(&t, 2, [2]).unwrap();
            assert_eq!(
                tx.commit_at(Timestamp(100)).unwrap(),
                Some(Timestamp(100)),
                "{storage}"
            );
            let now = db.snapshot();
            assert_eq!(now.timestamp(), Timestamp(100), "{storage}");
            assert_eq!(now.get(&t, &1).unwrap(), Some([2]), "{storage}");
            assert_eq!(now.get(&t, &2).unwrap(), Some([2]), "{storage}");
            assert_eq!(before.get(&t, &1).unwrap(), Some([1]), "{storage}");
            assert_eq!(before.get(&t, &2).unwrap(), None, "{storage}");
            // Local commits go on above it.
            let mut tx = db.begin();
            tx.update(&t, &1, [3]).unwrap();
            assert_eq!(tx.commit().unwrap(), Timestamp(101), "{storage}");
            // Not above the clock: refused, rolled back, the keys free.
            let mut tx = db.begin();
            tx.update(&t, &1, [4]).unwrap();
            tx.insert(&t, 3, [4]).unwrap();
            assert_eq!(tx.commit_at(Timestamp(101)).unwrap(), None, "{storage}");
            let tx = db.begin();
            assert_eq!(tx.get(&t, &1).unwrap(), Some([3]), "{storage}");
            assert_eq!(tx.get(&t, &3).unwrap(), None, "{storage}");
            drop(tx);
            db.transact(|tx| tx.update(&t, &1, [5])).unwrap();
            db.transact(|tx| tx.insert(&t, 3, [5])).unwrap();
        }
    }
}
