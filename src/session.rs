//! Sessions: statement-by-statement use of a database, with autocommit,
//! explicit and implicit transactions, and versioned session state.
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
//! * DDL (`create_table`, `drop_table`) inside a transaction takes effect
//!   when it commits, and not at all if it rolls back: the catalog is
//!   transactional (`Database::create_in`, `drop_in`; docs/design.md,
//!   "The transactional catalog"). Dropping a table that the transaction's
//!   statements read or wrote is a `DdlConflict`, and the transaction goes
//!   on. With autocommit on, DDL commits at once.
//!
//! A session lives in its database's registry (weakly), with its
//! transaction in a slot that a switchover can see: `Database::switchover`
//! drains sessions to a secure transaction boundary and moves them to
//! another database (the `switchover` module).

use crate::switchover::{lock, take_handoff, SessionShared, Slot};
use crate::table::Key;
use crate::{Database, Error, Isolation, Result, Table, Transaction, Tuple};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::panic::{self, AssertUnwindSafe};
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
    /// The isolation of the transactions the session begins.
    isolation: Isolation,
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
    fn new(isolation: Isolation) -> Self {
        SessionContext {
            system: Versioned::new(System {
                autocommit: true,
                isolation,
            }),
            user: Versioned::new(BTreeMap::new()),
        }
    }

    /// Whether autocommit is on.
    pub fn autocommit(&self) -> bool {
        self.system.value.autocommit
    }

    /// The isolation of the transactions the session begins.
    pub fn isolation(&self) -> Isolation {
        self.system.value.isolation
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
/// A session is what a program that drives the database statement by
/// statement holds (a SQL front end, a proxy, a REPL): it decides which
/// transaction each statement runs in, by MatrixOne's rules (the module
/// docs). Its state (autocommit, variables) is a [`SessionContext`] that
/// another session can copy with [`sync_from`](Self::sync_from), as a proxy
/// does for the backend sessions it routes a client's statements to.
///
/// ```
/// use multiverse::{Database, Error, Storage, Table, Value};
///
/// let db = Database::new(Storage::Delta);
/// let t: Table<u64, [i64; 2]> = db.create_table("t")?;
/// let mut s = db.session();
///
/// // Autocommit on (a new session's default): each statement is a
/// // transaction of its own, committed when it returns.
/// s.insert(&t, 1, [10, 0])?;
/// assert!(s.at_boundary());
/// assert_eq!(db.session().get(&t, &1)?, Some([10, 0]));
///
/// // An explicit transaction: unseen by others until commit; SET refused.
/// s.begin()?;
/// s.modify(&t, &1, |r| r[0] -= 5)?;
/// s.insert(&t, 2, [5, 0])?;
/// assert!(matches!(
///     s.set_var("batch", Value::Int(8)),
///     Err(Error::NotAllowedInTransaction)
/// ));
/// assert_eq!(db.session().get(&t, &2)?, None);
/// s.commit()?;
/// assert_eq!(db.session().get(&t, &2)?, Some([5, 0]));
///
/// // Autocommit off: statements accumulate in one implicit transaction.
/// s.set_autocommit(false)?;
/// s.set_var("batch", Value::Int(8))?; // allowed: not an explicit transaction
/// s.delete(&t, &2)?;
/// assert!(s.in_transaction());
/// s.rollback()?; // the delete is gone
/// s.update(&t, &2, [6, 0])?; // opens a new implicit transaction
/// s.set_autocommit(true)?; // a change of autocommit commits it
/// assert_eq!(db.session().get(&t, &2)?, Some([6, 0]));
///
/// // Context sync (OceanBase ODP): copy only the categories that changed.
/// let mut backend = db.session();
/// assert_eq!(backend.sync_from(&s.context())?, 2); // system and user variables
/// assert_eq!(backend.var("batch"), Some(Value::Int(8)));
/// assert_eq!(backend.sync_from(&s.context())?, 0); // nothing newer
///
/// // DDL in a transaction takes effect at its commit (the catalog is
/// // transactional); dropping a table the transaction used is refused.
/// s.begin()?;
/// let u: Table<u64, [i64; 2]> = s.create_table("u")?;
/// s.insert(&u, 1, [1, 1])?;
/// assert!(db.table::<u64, [i64; 2]>("u").is_err()); // not before commit
/// assert!(matches!(s.drop_table("t"), Ok(())));     // t unused so far
/// assert!(matches!(s.drop_table("u"), Err(Error::DdlConflict { .. })));
/// s.commit()?;
/// assert_eq!(db.table_names(), ["u"]);
/// # Ok::<(), Error>(())
/// ```
pub struct Session {
    db: Database,
    ctx: SessionContext,
    shared: Arc<SessionShared>,
    /// The tables the open transaction's statements read or wrote (their
    /// ids): dropping one of them in it is a `DdlConflict`.
    touched: Vec<u64>,
}

impl Database {
    /// A session with autocommit on and no transaction open.
    pub fn session(&self) -> Session {
        let shared = Arc::new(SessionShared::new());
        self.switch().register(Arc::downgrade(&shared));
        Session {
            db: self.clone(),
            ctx: SessionContext::new(self.shared_isolation()),
            shared,
            touched: Vec::new(),
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
    isolation: Isolation,
) -> Result<(MutexGuard<'s, Slot>, Option<Transaction>)> {
    loop {
        let slot = enter(shared, db)?;
        if slot.tx.is_some() {
            return Ok((slot, None));
        }
        if let Some(tx) = db.try_begin_ungated(isolation) {
            return Ok((slot, Some(tx)));
        }
        drop(slot);
        db.switch().wait_open(Some(shared));
    }
}

impl Session {
    /// Runs a statement: in the open transaction, or in a new implicit one
    /// (autocommit off), or in its own transaction, committed at once
    /// (autocommit on). `prepare` runs first, with the slot and the
    /// session's current database (a table handle is resolved there); `f`
    /// then runs in the transaction. A write conflict (or any error that
    /// leaves the transaction unusable) rolls the whole transaction back.
    /// `touch` names the table the statement used, for `DdlConflict`.
    fn run<P, V>(
        &mut self,
        prepare: impl FnOnce(&Slot, &Database) -> Result<P>,
        f: impl FnOnce(&mut Transaction, &P) -> Result<V>,
        touch: impl FnOnce(&P) -> Option<u64>,
    ) -> Result<V> {
        let autocommit = self.ctx.autocommit();
        let (mut slot, fresh) = open(&self.shared, &mut self.db, self.ctx.isolation())?;
        let prepared = prepare(&slot, &self.db)?;
        if fresh.is_some() {
            self.touched.clear();
        }
        let result = match fresh {
            Some(mut tx) if autocommit => {
                f(&mut tx, &prepared).and_then(|v| tx.commit().map(|_| v))
            }
            fresh => {
                if let Some(tx) = fresh {
                    slot.tx = Some((tx, Kind::Implicit));
                }
                let (tx, _) = slot.tx.as_mut().expect("a transaction is open");
                // A panic in user code (a `modify` closure) poisons the
                // transaction and unwinds through here: end the
                // transaction before passing the panic on, or the session
                // would keep a poisoned one, not at a boundary, that
                // answers `Aborted` to its next statement.
                let result = panic::catch_unwind(AssertUnwindSafe(|| f(tx, &prepared)));
                if !tx.is_active() {
                    // Rolled back by a conflict, or poisoned by a panic: the
                    // session is at a boundary again.
                    slot.tx = None;
                } else if let Some(id) = touch(&prepared) {
                    if !self.touched.contains(&id) {
                        self.touched.push(id);
                    }
                }
                match result {
                    Ok(result) => result,
                    Err(payload) => {
                        drop(slot);
                        self.db.switch().reached();
                        panic::resume_unwind(payload)
                    }
                }
            }
        };
        let boundary = slot.tx.is_none();
        drop(slot);
        if boundary {
            self.db.switch().reached();
        }
        result
    }

    /// Runs a statement on `table` (see `run`). A handle of a database the
    /// session was moved away from is resolved by name in the one it is on.
    fn statement<K: Key, T: Tuple, V>(
        &mut self,
        table: &Table<K, T>,
        f: impl FnOnce(&mut Transaction, &Table<K, T>) -> Result<V>,
    ) -> Result<V> {
        self.run(
            |slot, db| {
                Ok(if !db.owns(table) && slot.moved_from_has(table) {
                    // A handle of a database the session was moved from.
                    Some(db.table::<K, T>(table.name())?)
                } else {
                    // Ours, or foreign (the transaction says `ForeignTable`).
                    None
                })
            },
            |tx, resolved| f(tx, resolved.as_ref().unwrap_or(table)),
            |resolved| Some(resolved.as_ref().unwrap_or(table).id()),
        )
    }

    /// Creates a table (a DDL statement). With autocommit on and no
    /// transaction open it commits at once; inside a transaction (explicit,
    /// or implicit with autocommit off) it takes effect when that commits:
    /// until then only this session's transaction sees the table, and a
    /// rollback leaves nothing. `Err(TableExists)` if the name is taken;
    /// `Err(WriteConflict)`, and the transaction rolled back, if another
    /// transaction is creating a table of that name.
    pub fn create_table<K: Key, T: Tuple>(&mut self, name: &str) -> Result<Table<K, T>> {
        self.run(
            |_, db| Ok(db.clone()),
            |tx, db| db.create_in(tx, name, None),
            |_| None,
        )
    }

    /// Drops a table (a DDL statement), with the timing of
    /// [`create_table`](Self::create_table): transactions that began
    /// before the drop commits go on reading the table.
    /// `Err(DdlConflict)` if the open transaction read or wrote the table
    /// (the statement does nothing and the transaction goes on);
    /// `Err(NoSuchTable)` if there is none; `Err(WriteConflict)`, and the
    /// transaction rolled back, if another transaction is dropping it.
    pub fn drop_table(&mut self, name: &str) -> Result<()> {
        let touched = self.touched.clone();
        self.run(
            // What the open transaction used; nothing, if none is open.
            |slot, db| Ok((db.clone(), slot.tx.as_ref().map_or(Vec::new(), |_| touched))),
            |tx, (db, touched)| db.drop_in(tx, name, |id| touched.contains(&id)),
            |_| None,
        )
    }

    /// Opens a table as the session sees the catalog: with the tables its
    /// open transaction created, without those it dropped.
    pub fn table<K: Key, T: Tuple>(&mut self, name: &str) -> Result<Table<K, T>> {
        let mut slot = enter(&self.shared, &mut self.db)?;
        match &mut slot.tx {
            Some((tx, _)) => self.db.table_in(tx, name),
            None => self.db.table(name),
        }
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
        let (mut slot, fresh) = open(&self.shared, &mut self.db, self.ctx.isolation())?;
        let tx = match fresh {
            Some(tx) => tx,
            // Unreachable: `&mut self` and the commit above leave none
            // open, and a switchover never opens one.
            None => return Err(Error::NotAllowedInTransaction),
        };
        slot.tx = Some((tx, Kind::Explicit));
        self.touched.clear();
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
        let isolation = self.ctx.isolation();
        self.ctx.system.set(System {
            autocommit: on,
            isolation,
        });
        Ok(())
    }

    /// Sets the isolation of the transactions the session begins from now
    /// on (`SET TRANSACTION ISOLATION LEVEL`; the default is the
    /// database's, [`DatabaseBuilder::isolation`](crate::DatabaseBuilder::isolation)).
    /// A system variable, versioned with autocommit. A change commits the
    /// pending DML of an implicit transaction first; if that commit fails,
    /// the isolation keeps its value. `Err(NotAllowedInTransaction)` inside
    /// an explicit transaction.
    pub fn set_isolation(&mut self, isolation: Isolation) -> Result<()> {
        self.not_in_explicit()?;
        if isolation == self.ctx.isolation() {
            return Ok(());
        }
        self.commit()?;
        let autocommit = self.ctx.autocommit();
        self.ctx.system.set(System {
            autocommit,
            isolation,
        });
        Ok(())
    }

    /// The isolation of the transactions the session begins.
    pub fn isolation(&self) -> Isolation {
        self.ctx.isolation()
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
    /// session's (ODP's incremental sync), and returns how many it copied.
    /// A change of a system variable (autocommit, isolation) follows the
    /// rules of [`set_autocommit`](Self::set_autocommit).
    pub fn sync_from(&mut self, ctx: &SessionContext) -> Result<usize> {
        let mut copied = 0;
        if ctx.system.version > self.ctx.system.version {
            if ctx.system.value != self.ctx.system.value {
                self.not_in_explicit()?;
                self.commit()?;
            }
            self.ctx.system = ctx.system.clone();
            copied += 1;
        }
        if ctx.user.version > self.ctx.user.version {
            self.ctx.user = ctx.user.clone();
            copied += 1;
        }
        Ok(copied)
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
