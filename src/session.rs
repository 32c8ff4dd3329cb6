//! Sessions: statement-by-statement use of a database, with autocommit,
//! explicit and implicit transactions, and versioned session state.
//!
//! WORK IN PROGRESS (issue 13, branch `sessions`): DML, `begin`, `commit`,
//! `rollback`, `set_autocommit`, variables and versioned contexts follow
//! MatrixOne's rules (shared/API.md, "Sessions"), and switchover drains and
//! moves sessions (the `switchover` module); DDL inside a transaction (the
//! transactional catalog) is not built yet.
//!
//! Plan for what is missing (next session):
//!
//! * **Transactional catalog.** The catalog becomes an MVCC table of the
//!   engine (name → id, types, handle), read through each transaction's
//!   snapshot: a transaction that began before a drop keeps seeing the table
//!   (its `TableCore` lives while handles do); `create_table` in a
//!   transaction is an insert of the name (two concurrent creates of one
//!   name meet at W1: one commits, the other gets a conflict); `drop_table`
//!   is a delete. A transaction that wrote a table checks at commit that the
//!   table's catalog row did not end after its snapshot: inside the ordered
//!   publish step, as a validation that can only publish an empty commit
//!   (the hook issue 14's serializable validation needs too), so that a drop
//!   and a write cannot both commit. DDL then logs inside the transaction's
//!   own redo record (atomic with its DML), replacing today's separate
//!   CREATE/DROP records and the replay rule for writes after a DROP.
//! * **DdlConflict.** A session keeps the ids of the tables its transaction
//!   read or wrote; dropping one of them in that transaction fails at the
//!   statement, and the transaction goes on.
//!
//! The rules, as MatrixOne's transaction documentation gives them:
//!
//! * With autocommit on, each DML statement is a transaction of its own,
//!   committed before the statement returns.
//! * With autocommit off, DML statements accumulate in one implicit
//!   transaction until `commit` or `rollback`; dropping the session rolls
//!   it back. Changing autocommit commits the pending DML first (and if that
//!   commit fails, autocommit keeps its value: MatrixOne PR #14258).
//! * `begin` starts an explicit transaction; one already open (explicit or
//!   implicit) is committed first.
//! * Inside an explicit transaction `set_var` and `set_autocommit` fail
//!   with `NotAllowedInTransaction`, and the transaction goes on.
//! * A write conflict rolls the whole transaction back; the session is at a
//!   boundary again and the next statement starts afresh.

use crate::switchover::{lock, take_handoff, SessionShared, Slot};
use crate::table::Key;
use crate::{Database, Error, Result, Table, Transaction, Tuple};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::{Arc, MutexGuard};

/// A session variable's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// No value.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

/// A value with the version of its last change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Versioned<T> {
    version: u64,
    value: T,
}

impl<T> Versioned<T> {
    fn new(value: T) -> Self {
        Versioned { version: 0, value }
    }

    fn set(&mut self, value: T) {
        self.value = value;
        self.version += 1;
    }
}

/// The system variables of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
struct System {
    autocommit: bool,
}

/// A session's state, each category with a version that every change of it
/// bumps (OceanBase ODP's `ObSessionVarVersion`): what a proxy copies from
/// a client session to the backend sessions it routes to, category by
/// category, only where the client's version is ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    system: Versioned<System>,
    user: Versioned<BTreeMap<String, Value>>,
}

impl SessionContext {
    fn new() -> Self {
        SessionContext {
            system: Versioned::new(System { autocommit: true }),
            user: Versioned::new(BTreeMap::new()),
        }
    }

    /// Whether autocommit is on.
    pub fn autocommit(&self) -> bool {
        self.system.value.autocommit
    }

    /// A user variable.
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.user.value.get(name)
    }

    /// The versions of the system and the user variables.
    pub fn versions(&self) -> (u64, u64) {
        (self.system.version, self.user.version)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Explicit,
    Implicit,
}

/// A session on a database: statements run in the session's transaction,
/// or each in a transaction of its own under autocommit.
///
/// The session's transaction lives in a slot its database can reach (see
/// [`Database::switchover`]): the session locks it for the length of each
/// statement, uncontended unless a switchover is looking. After a
/// switchover has moved the session, a table handle of the old database
/// names the table of the same name in the new one (a handle of any other
/// database is `ForeignTable`, as in a transaction).
pub struct Session {
    db: Database,
    ctx: SessionContext,
    shared: Arc<SessionShared>,
}

impl Database {
    /// A session with autocommit on and no transaction open.
    pub fn session(&self) -> Session {
        let shared = Arc::new(SessionShared::new());
        self.switch().register(Arc::downgrade(&shared));
        Session {
            db: self.clone(),
            ctx: SessionContext::new(),
            shared,
        }
    }
}

/// Locks a session's slot and takes what a switchover left in it (a move
/// to another database, `SessionLost`). A free function over the session's
/// fields, so that the guard borrows the slot alone.
fn enter<'s>(shared: &'s SessionShared, db: &mut Database) -> Result<MutexGuard<'s, Slot>> {
    let mut slot = lock(&shared.slot);
    take_handoff(shared, &mut slot, db)?;
    Ok(slot)
}

/// The slot, locked, with a transaction open in it, or a fresh
/// transaction to run a statement in (none is open). A fresh transaction
/// waits at the switchover's gate with the slot unlocked.
fn open<'s>(
    shared: &'s SessionShared,
    db: &mut Database,
) -> Result<(MutexGuard<'s, Slot>, Option<Transaction>)> {
    loop {
        let slot = enter(shared, db)?;
        if slot.tx.is_some() {
            return Ok((slot, None));
        }
        if let Some(tx) = db.try_begin_ungated() {
            return Ok((slot, Some(tx)));
        }
        drop(slot);
        db.switch().wait_open(Some(shared));
    }
}

impl Session {
    /// Runs a statement: in the open transaction, or in a new implicit one
    /// (autocommit off), or in its own transaction, committed at once
    /// (autocommit on). A write conflict (or any error that leaves the
    /// transaction unusable) rolls the whole transaction back.
    fn statement<K: Key, T: Tuple, V>(
        &mut self,
        table: &Table<K, T>,
        f: impl FnOnce(&mut Transaction, &Table<K, T>) -> Result<V>,
    ) -> Result<V> {
        let autocommit = self.ctx.autocommit();
        let (mut slot, fresh) = open(&self.shared, &mut self.db)?;
        let resolved;
        let table = if !self.db.owns(table) && slot.moved_from_has(table) {
            // A handle of a database the session was moved from.
            resolved = self.db.table::<K, T>(table.name())?;
            &resolved
        } else {
            // Ours, or foreign (the transaction says `ForeignTable`).
            table
        };
        let result = match fresh {
            Some(mut tx) if autocommit => f(&mut tx, table).and_then(|v| tx.commit().map(|_| v)),
            fresh => {
                if let Some(tx) = fresh {
                    slot.tx = Some((tx, Kind::Implicit));
                }
                let (tx, _) = slot.tx.as_mut().expect("a transaction is open");
                let result = f(tx, table);
                if !tx.is_active() {
                    // Rolled back by the conflict (or a panic in user code):
                    // the session is at a boundary again.
                    slot.tx = None;
                }
                result
            }
        };
        let boundary = slot.tx.is_none();
        drop(slot);
        if boundary {
            self.db.switch().reached();
        }
        result
    }
    /// The row of `key`.
    pub fn get<K, T: Tuple, Q>(&mut self, table: &Table<K, T>, key: &Q) -> Result<Option<T>>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.statement(table, |tx, t| tx.get(t, key))
    }

    /// The rows in `range`, in key order.
    pub fn scan<K: Key, T: Tuple, R: RangeBounds<K>>(
        &mut self,
        table: &Table<K, T>,
        range: R,
    ) -> Result<Vec<(K, T)>> {
        self.statement(table, |tx, t| Ok(tx.scan(t, range)?.collect()))
    }

    /// Inserts a row (see [`Transaction::insert`]).
    pub fn insert<K: Key, T: Tuple>(&mut self, table: &Table<K, T>, key: K, row: T) -> Result<()> {
        self.statement(table, |tx, t| tx.insert(t, key, row))
    }

    /// Replaces a row (see [`Transaction::update`]).
    pub fn update<K, T: Tuple, Q>(&mut self, table: &Table<K, T>, key: &Q, row: T) -> Result<()>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.statement(table, |tx, t| tx.update(t, key, row))
    }

    /// Read-modify-write of a row (see [`Transaction::modify`]).
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
        self.statement(table, |tx, t| tx.modify(t, key, f))
    }

    /// Deletes a row (see [`Transaction::delete`]).
    pub fn delete<K, T: Tuple, Q>(&mut self, table: &Table<K, T>, key: &Q) -> Result<()>
    where
        K: Key + Borrow<Q>,
        Q: Ord + ?Sized + 'static,
    {
        self.statement(table, |tx, t| tx.delete(t, key))
    }

    /// Inserts or replaces a row (see [`Transaction::upsert`]).
    pub fn upsert<K: Key, T: Tuple>(
        &mut self,
        table: &Table<K, T>,
        key: K,
        row: T,
    ) -> Result<Option<T>> {
        self.statement(table, |tx, t| tx.upsert(t, key, row))
    }

    /// `START TRANSACTION`: commits an open transaction first (explicit or
    /// implicit, whatever autocommit is), then opens an explicit one.
    pub fn begin(&mut self) -> Result<()> {
        self.commit()?;
        let (mut slot, fresh) = open(&self.shared, &mut self.db)?;
        let tx = match fresh {
            Some(tx) => tx,
            // Unreachable: `&mut self` and the commit above leave none
            // open, and a switchover never opens one.
            None => return Err(Error::NotAllowedInTransaction),
        };
        slot.tx = Some((tx, Kind::Explicit));
        Ok(())
    }

    /// Ends the open transaction (committed or rolled back); `Ok(())` with
    /// none open.
    fn end(&mut self, commit: bool) -> Result<()> {
        let mut slot = enter(&self.shared, &mut self.db)?;
        let Some((tx, _)) = slot.tx.take() else {
            return Ok(());
        };
        let result = if commit {
            tx.commit().map(drop)
        } else {
            tx.rollback();
            Ok(())
        };
        drop(slot);
        self.db.switch().reached();
        result
    }

    /// Commits the open transaction; `Ok(())` with none open.
    pub fn commit(&mut self) -> Result<()> {
        self.end(true)
    }

    /// Rolls the open transaction back; `Ok(())` with none open.
    pub fn rollback(&mut self) -> Result<()> {
        self.end(false)
    }

    fn not_in_explicit(&mut self) -> Result<()> {
        match enter(&self.shared, &mut self.db)?.tx {
            Some((_, Kind::Explicit)) => Err(Error::NotAllowedInTransaction),
            _ => Ok(()),
        }
    }

    /// Turns autocommit on or off. A change commits the pending DML of an
    /// implicit transaction first; if that commit fails, autocommit keeps
    /// its value. Setting the value it has changes nothing.
    /// `Err(NotAllowedInTransaction)` inside an explicit transaction.
    pub fn set_autocommit(&mut self, on: bool) -> Result<()> {
        self.not_in_explicit()?;
        if on == self.ctx.autocommit() {
            return Ok(());
        }
        self.commit()?;
        self.ctx.system.set(System { autocommit: on });
        Ok(())
    }

    /// Whether autocommit is on.
    pub fn autocommit(&self) -> bool {
        self.ctx.autocommit()
    }

    /// Sets a user variable. `Err(NotAllowedInTransaction)` inside an
    /// explicit transaction (which goes on).
    pub fn set_var(&mut self, name: &str, value: Value) -> Result<()> {
        self.not_in_explicit()?;
        let mut vars = self.ctx.user.value.clone();
        vars.insert(name.to_owned(), value);
        self.ctx.user.set(vars);
        Ok(())
    }

    /// A user variable.
    pub fn var(&self, name: &str) -> Option<Value> {
        self.ctx.var(name).cloned()
    }

    /// Whether a transaction (explicit or implicit) is open.
    pub fn in_transaction(&self) -> bool {
        lock(&self.shared.slot).tx.is_some()
    }

    /// A secure transaction boundary: no transaction open.
    pub fn at_boundary(&self) -> bool {
        !self.in_transaction()
    }

    /// The session's state, versioned by category.
    pub fn context(&self) -> SessionContext {
        self.ctx.clone()
    }

    /// Copies from `ctx` every category whose version is ahead of this
    /// session's (ODP's incremental sync). A change of autocommit follows
    /// the rules of [`set_autocommit`](Self::set_autocommit).
    pub fn sync_from(&mut self, ctx: &SessionContext) -> Result<()> {
        if ctx.system.version > self.ctx.system.version {
            if ctx.system.value.autocommit != self.ctx.autocommit() {
                self.not_in_explicit()?;
                self.commit()?;
            }
            self.ctx.system = ctx.system.clone();
        }
        if ctx.user.version > self.ctx.user.version {
            self.ctx.user = ctx.user.clone();
        }
        Ok(())
    }
}

impl Drop for Session {
    /// Rolls back whatever is pending; a switchover that still holds the
    /// session's slot skips it.
    fn drop(&mut self) {
        let mut slot = lock(&self.shared.slot);
        slot.dropped = true;
        let tx = slot.tx.take();
        drop(slot);
        drop(tx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Storage;

    fn db() -> (Database, Table<u64, [i64; 1]>) {
        let db = Database::new(Storage::default());
        let t = db.create_table("t").unwrap();
        (db, t)
    }

    #[test]
    fn autocommit_on_each_dml_statement_is_its_own_transaction() {
        let (db, t) = db();
        let mut s = db.session();
        s.insert(&t, 1, [1]).unwrap();
        assert!(s.at_boundary());
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([1]));
    }

    #[test]
    fn autocommit_off_statements_accumulate_until_commit_or_rollback() {
        let (db, t) = db();
        let mut s = db.session();
        s.set_autocommit(false).unwrap();
        s.insert(&t, 1, [1]).unwrap();
        s.insert(&t, 2, [2]).unwrap();
        assert!(s.in_transaction());
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), None);
        s.commit().unwrap();
        assert_eq!(db.snapshot().scan(&t, ..).unwrap().count(), 2);
        s.insert(&t, 3, [3]).unwrap();
        s.rollback().unwrap();
        s.insert(&t, 4, [4]).unwrap();
        drop(s);
        assert_eq!(db.snapshot().get(&t, &3).unwrap(), None);
        assert_eq!(db.snapshot().get(&t, &4).unwrap(), None);
    }

    #[test]
    fn changing_autocommit_commits_pending_dml_and_setting_the_same_value_does_nothing() {
        let (db, t) = db();
        let mut s = db.session();
        s.set_autocommit(false).unwrap();
        s.insert(&t, 1, [1]).unwrap();
        s.set_autocommit(false).unwrap();
        assert!(s.in_transaction());
        let (sys, _) = s.context().versions();
        s.set_autocommit(true).unwrap();
        assert!(s.at_boundary());
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([1]));
        assert_eq!(s.context().versions().0, sys + 1);
    }

    #[test]
    fn begin_inside_an_open_transaction_commits_it_first() {
        let (db, t) = db();
        let mut s = db.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        s.begin().unwrap();
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([1]));
        s.rollback().unwrap();
        s.set_autocommit(false).unwrap();
        s.insert(&t, 2, [2]).unwrap();
        s.begin().unwrap();
        assert_eq!(db.snapshot().get(&t, &2).unwrap(), Some([2]));
    }

    #[test]
    fn set_var_and_set_autocommit_fail_inside_an_explicit_transaction_which_goes_on() {
        let (db, t) = db();
        let mut s = db.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        assert!(matches!(
            s.set_var("x", Value::Int(1)),
            Err(Error::NotAllowedInTransaction)
        ));
        assert!(matches!(
            s.set_autocommit(false),
            Err(Error::NotAllowedInTransaction)
        ));
        assert!(s.in_transaction());
        s.commit().unwrap();
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([1]));
        s.set_var("x", Value::Int(1)).unwrap();
        assert_eq!(s.var("x"), Some(Value::Int(1)));
    }

    #[test]
    fn a_write_conflict_rolls_the_whole_transaction_back_to_a_boundary() {
        let (db, t) = db();
        db.transact(|tx| tx.insert(&t, 1, [0])).unwrap();
        let mut a = db.session();
        let mut b = db.session();
        a.begin().unwrap();
        b.begin().unwrap();
        a.insert(&t, 2, [2]).unwrap();
        b.update(&t, &1, [1]).unwrap();
        assert!(matches!(a.update(&t, &1, [9]), Err(Error::WriteConflict)));
        assert!(a.at_boundary());
        b.commit().unwrap();
        assert_eq!(db.snapshot().get(&t, &2).unwrap(), None);
        a.update(&t, &1, [3]).unwrap();
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([3]));
    }

    /// ODP's example: a client session sets autocommit off; an insert runs
    /// on backend session 1, the next on backend session 2. Synced, session
    /// 2 is not in autocommit and commits nothing alone; without the sync,
    /// session 2 commits its insert at once (the anomaly).
    #[test]
    fn odp_sync_keeps_a_backend_session_out_of_autocommit() {
        for sync in [true, false] {
            let (db, t) = db();
            let mut client = db.session();
            client.set_autocommit(false).unwrap();
            let (mut b1, mut b2) = (db.session(), db.session());
            if sync {
                b1.sync_from(&client.context()).unwrap();
            }
            b1.insert(&t, 1, [1]).unwrap();
            if sync {
                b2.sync_from(&client.context()).unwrap();
            }
            b2.insert(&t, 2, [2]).unwrap();
            let committed = db.snapshot().scan(&t, ..).unwrap().count();
            assert_eq!(committed, if sync { 0 } else { 2 }, "sync={sync}");
        }
    }
}
