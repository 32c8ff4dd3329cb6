//! Transactions: a snapshot, a write set, and the API of reads and writes.
//!
//! A transaction reads the database as of its snapshot (taken at begin) plus
//! its own writes, which it installs in place in each row's record as
//! uncommitted versions, tagged with its id. Commit stamps them with one
//! timestamp ([`crate::engine::manager`]); rollback undoes them. A write that loses
//! a write-write conflict rolls the whole transaction back at once.

use crate::engine::watermark::Slot;
use crate::engine::Engine;
use crate::header::{Timestamp, View};
use crate::store::VersionStore;
use crate::table::{dispatch, Key, TableCore, TableLog, Write, WriteLog};
use crate::{Error, Result, Table, Tuple};
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Aborted,
}

/// A snapshot-isolation transaction.
///
/// Reads (`get`, `read`, `scan`) see the database as of [`begin`] plus this
/// transaction's own writes. Writes (`insert`, `update`, `modify`, `delete`)
/// are first-updater-wins: a write to a key that another transaction wrote
/// first (uncommitted, or committed after this snapshot) returns
/// [`Error::WriteConflict`] at once and rolls the transaction back.
/// [`commit`](Transaction::commit) and [`rollback`](Transaction::rollback)
/// consume it; dropping it uncommitted rolls it back.
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
}

impl Transaction {
    pub(crate) fn new(db: Arc<Engine>) -> Self {
        let (slot, snapshot) = db.manager.begin();
        Transaction {
            db,
            slot: Some(slot),
            snapshot,
            me: 0,
            state: State::Active,
            logs: Vec::new(),
        }
    }

    /// The snapshot this transaction reads: every commit at or below it.
    pub fn snapshot(&self) -> Timestamp {
        Timestamp(self.snapshot)
    }

    /// `false` once a write conflict has rolled the transaction back.
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
        if self.state == State::Aborted {
            return Err(Error::Aborted);
        }
        if !Arc::ptr_eq(table.core(), &self.db) {
            return Err(Error::ForeignTable);
        }
        table.check_live()
    }

    /// The view to write with: takes a transaction id at the first write.
    fn write_view<K: Key, T: Tuple>(&mut self, table: &Table<K, T>) -> Result<View> {
        self.check(table)?;
        if self.me == 0 {
            self.me = View::tag(self.db.manager.new_txn_id());
        }
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
        Ok(dispatch!(table, core => core.read(view, key, f)))
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
        Ok(Scan::new(self.view(), table, range))
    }

    /// Inserts a row. `Err(DuplicateKey)` if a row with this key is visible.
    pub fn insert<K: Key, T: Tuple>(&mut self, table: &Table<K, T>, key: K, row: T) -> Result<()> {
        let view = self.write_view(table)?;
        dispatch!(table, core => {
            let result = core.insert(view, key, row);
            self.finish(core, result)
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
            self.finish(core, result)
        })
    }

    /// Records a successful write; rolls back on a conflict.
    fn finish<K: Key, T: Tuple, S: VersionStore<T>>(
        &mut self,
        core: &Arc<TableCore<K, T, S>>,
        result: Result<Write<K, T, S>>,
    ) -> Result<()> {
        match result {
            Ok(write) => {
                self.log_for(core).push(write);
                Ok(())
            }
            Err(Error::WriteConflict) => {
                self.abort_writes();
                self.state = State::Aborted;
                Err(Error::WriteConflict)
            }
            Err(answer) => Err(answer),
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

    /// Was our snapshot at (or below) the cached watermark, with commits
    /// above it? Then it may be what held the watermark back, and our end
    /// lets it advance. (In a read-only steady state the watermark is the
    /// clock, and nobody recomputes it.)
    fn held_the_watermark(&self) -> bool {
        let m = &self.db.manager;
        self.db.gc.cooperative() && {
            let cached = m.cached_watermark();
            self.snapshot <= cached && cached < m.snapshot()
        }
    }

    fn abort_writes(&mut self) {
        for log in self.logs.iter_mut().rev() {
            log.abort();
        }
        self.logs.clear();
    }

    /// Commits: every write becomes visible, at once, to transactions that
    /// begin afterwards. `Err(Aborted)` if a conflict rolled the transaction
    /// back; `Err(NoSuchTable)` (and everything rolled back) if it wrote a
    /// table that [`Database::drop_table`](crate::Database::drop_table) has
    /// dropped meanwhile.
    ///
    /// Returns a commit timestamp, under one rule that logs and replicas can
    /// rely on: **a transaction that wrote gets a timestamp that no other
    /// commit has**, and every transaction that begins after `commit`
    /// returns sees it; **a transaction that wrote nothing returns the
    /// timestamp of the newest commit it saw** (its snapshot; 0 on a
    /// database nobody has written), which that commit (or another
    /// read-only one) returned too. To tell the two apart, use
    /// [`commit_write`](Transaction::commit_write).
    pub fn commit(mut self) -> Result<Timestamp> {
        if self.state == State::Aborted {
            return Err(Error::Aborted);
        }
        if let Some(name) = self.logs.iter().find_map(|l| l.dropped()) {
            let e = Error::no_such_table(name);
            self.abort_writes();
            self.state = State::Aborted;
            return Err(e);
        }
        if self.logs.is_empty() {
            return Ok(Timestamp(self.snapshot));
        }
        let logs = &mut self.logs;
        let mut batches = Vec::new();
        let ts = self.db.manager.commit(|ts| {
            batches.extend(logs.iter_mut().filter_map(|log| log.commit(ts)));
        });
        self.logs.clear();
        // We read no more: deregister first, so that the watermark we
        // compute can pass our own commit (our batch is then due at once).
        self.slot = None;
        let (manager, gc) = (&self.db.manager, &self.db.gc);
        if gc.transaction_level() {
            gc.commit_batches(ts, batches, || manager.watermark());
        } else if gc.refresh_due(ts) || self.held_the_watermark() {
            manager.watermark();
        }
        Ok(Timestamp(ts))
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
    pub fn rollback(mut self) {
        self.abort_writes();
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.abort_writes();
        if self.slot.take().is_some() {
            let (manager, gc) = (&self.db.manager, &self.db.gc);
            if gc.cooperative() {
                // Refresh the watermark the cooperative policy prunes with,
                // if ours may have been the snapshot holding it back.
                if self.held_the_watermark() {
                    manager.watermark();
                }
            } else {
                // Ours may have been the snapshot holding back
                // transaction-level batches.
                gc.collect_pending(|| manager.watermark());
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
            let (view, from, to) = (self.view, self.from.as_ref(), self.to.as_ref());
            let buffer = &mut self.front;
            let last =
                dispatch!(self.table, core => core.scan_batch(view, from, to, buffer, SCAN_BATCH));
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
            let (view, from, to) = (self.view, self.from.as_ref(), self.to.as_ref());
            let buffer = &mut self.back;
            let last = dispatch!(self.table, core => {
                core.scan_batch_back(view, from, to, buffer, SCAN_BATCH)
            });
            match last {
                Some(key) => self.to = Bound::Excluded(key),
                None => self.done = true,
            }
        }
    }
}
