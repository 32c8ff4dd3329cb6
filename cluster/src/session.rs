//! Proxy sessions (OceanBase ODP): one client session over the cluster,
//! whose statements run on backend sessions, one per partition, each
//! brought up to the client's state before a statement is routed to it.
//!
//! A client that talks to a sharded database through a proxy sees one
//! session: it sets autocommit and variables once, and expects every later
//! statement to obey them, whichever server the statement lands on. The
//! proxy holds a backend session per server it has routed to, and each of
//! them has a state of its own. ODP keeps the two in step by versions
//! (`ObSessionVarVersion`): every category of session state (here: the
//! system variables, autocommit and isolation; the user variables) carries
//! a version that every change bumps, and before a statement goes to a
//! backend the proxy copies from the client exactly the categories whose
//! version is ahead of the backend's. A backend seen a moment ago copies
//! nothing; a new one copies everything that was ever set.
//!
//! **How a statement runs.** The backend's own autocommit decides, as it
//! would on a real server. On, and no explicit transaction open: the
//! statement is a one-partition transaction of its own, committed before it
//! returns. Off (or in an explicit `begin`): the statement joins the
//! client's distributed transaction, a [`ClusterTransaction`] the session
//! holds, which `commit` ends (by two-phase commit when it wrote several
//! partitions) and `rollback`, or dropping the session, throws away.
//!
//! This is why the sync matters. ODP's own example: the client turns
//! autocommit off and writes on partition 1, then on partition 2, then
//! commits. Synced, partition 2's backend has autocommit off too, and both
//! writes commit together or not at all. Without the sync
//! ([`ClusterSession::without_context_sync`]) a `SET` reaches only the
//! backend the client's last statement went to, and partition 2's backend,
//! still in autocommit, commits its write at once, alone: a rollback, or a
//! crash before the commit, leaves half the client's transaction behind.
//!
//! The transaction rules are the engine's sessions' (MatrixOne's; see
//! `multiverse::Session`): with autocommit off an implicit transaction
//! starts at the first statement; a change of autocommit commits it first
//! (and keeps its value if that commit fails); `begin` commits any open
//! transaction and opens an explicit one, in which `set_autocommit` and
//! `set_var` fail with [`Error::NotAllowedInTransaction`] and the
//! transaction goes on; a write conflict rolls the whole transaction back
//! and leaves the session at a boundary.
//!
//! **Where the state lives.** The engine keeps a [`SessionContext`] only
//! inside a [`Session`]; so the client's state and every backend's are
//! held by sessions on a small private database that runs no statements:
//! `Session::set_autocommit`, `set_var` and `sync_from` version the state
//! exactly as the engine's sessions do. The rows themselves go through
//! the cluster's transactions.

use multiverse::{Database, Key, Persist, Session, SessionContext, Storage, Tuple, Value};

use crate::cluster::{Cluster, ClusterTable, ClusterTransaction, Committed};
use crate::error::{Error, Result};

/// How the client's open transaction began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// By `begin`: ends only with `commit` or `rollback`.
    Explicit,
    /// By a statement with autocommit off.
    Implicit,
}

/// A client session over the cluster, through a proxy that routes each
/// statement to a backend session on the partition that owns its key and
/// syncs that backend's state from the client's first (the module docs).
/// `Send`: it may move between threads, open transaction and all.
///
/// ```
/// use multiverse_cluster::Cluster;
///
/// let cluster = Cluster::builder().partitions(4).table::<u64, [i64; 1]>("t").build()?;
/// let t = cluster.table::<u64, [i64; 1]>("t")?;
/// let (a, b) = (0, 1);
/// assert_ne!(t.partition_of(&a), t.partition_of(&b));
///
/// let mut s = cluster.session();
/// s.set_autocommit(false)?;
/// s.insert(&t, a, [1])?; // backend of a's partition: synced, joins the transaction
/// s.insert(&t, b, [2])?; // backend of b's partition: synced too
/// assert_eq!(cluster.begin().get(&t, &b)?, None); // nothing committed yet
/// let committed = s.commit()?.expect("a transaction was open");
/// assert_eq!(committed.participants, 2); // one two-phase commit
/// assert_eq!(cluster.begin().get(&t, &a)?, Some([1]));
/// # Ok::<(), multiverse_cluster::Error>(())
/// ```
pub struct ClusterSession {
    cluster: Cluster,
    /// The private database whose sessions hold the client's and the
    /// backends' state (a backend's is made here at its first statement).
    home: Database,
    /// The client's state.
    client: Session,
    /// The backends' states, one per partition, created at the first
    /// statement routed there.
    backends: Vec<Option<Session>>,
    /// The client's open transaction.
    tx: Option<(ClusterTransaction, Kind)>,
    /// Whether backends are synced before each statement (ODP); off only
    /// for the experiment that shows what goes wrong without.
    sync: bool,
    /// Categories copied by syncs so far.
    syncs: usize,
    /// The partition the last statement went to: the backend a `SET`
    /// reaches when sync is off.
    current: Option<usize>,
}

impl Cluster {
    /// A client session: autocommit on, no variables, no transaction open,
    /// no backend yet.
    pub fn session(&self) -> ClusterSession {
        let home = Database::new(Storage::AppendOnlyN2O);
        ClusterSession {
            cluster: self.clone(),
            client: home.session(),
            home,
            backends: (0..self.partitions()).map(|_| None).collect(),
            tx: None,
            sync: true,
            syncs: 0,
            current: None,
        }
    }
}

impl ClusterSession {
    /// Turns the per-statement sync of backends off: a `SET` then reaches
    /// only the backend of the client's last statement, as through a proxy
    /// that forwards statements and keeps no session state. For the
    /// experiment that shows a distributed transaction torn without the
    /// sync; never in real use.
    #[doc(hidden)]
    pub fn without_context_sync(&mut self) {
        self.sync = false;
    }

    /// How many state categories the syncs have copied to backends so far
    /// (a category copied to two backends counts twice).
    pub fn syncs(&self) -> usize {
        self.syncs
    }

    /// The client's state, versioned by category.
    pub fn context(&self) -> SessionContext {
        self.client.context()
    }

    /// The state of partition `p`'s backend session, if a statement has
    /// been routed there.
    pub fn backend(&self, p: usize) -> Option<SessionContext> {
        self.backends.get(p)?.as_ref().map(Session::context)
    }

    /// Whether autocommit is on (the client's).
    pub fn autocommit(&self) -> bool {
        self.client.autocommit()
    }

    /// A user variable (the client's).
    pub fn var(&self, name: &str) -> Option<Value> {
        self.client.var(name)
    }

    /// Whether a transaction (explicit or implicit) is open.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    fn not_in_explicit(&self) -> Result<()> {
        match self.tx {
            Some((_, Kind::Explicit)) => Err(Error::NotAllowedInTransaction),
            _ => Ok(()),
        }
    }

    /// The backend the client's last statement went to, for a `SET` to
    /// reach when sync is off.
    fn forward(&mut self) -> Option<&mut Session> {
        if self.sync {
            return None;
        }
        self.backends[self.current?].as_mut()
    }

    /// `SET autocommit`. A change commits the open implicit transaction
    /// first; if that commit fails, autocommit keeps its value. Setting the
    /// value it has changes nothing (no version bump).
    /// `Err(NotAllowedInTransaction)` inside an explicit transaction, which
    /// goes on.
    pub fn set_autocommit(&mut self, on: bool) -> Result<()> {
        self.not_in_explicit()?;
        if on == self.client.autocommit() {
            return Ok(());
        }
        self.commit()?;
        self.client.set_autocommit(on)?;
        if let Some(backend) = self.forward() {
            backend.set_autocommit(on)?;
        }
        Ok(())
    }

    /// `SET @name = value`. `Err(NotAllowedInTransaction)` inside an
    /// explicit transaction, which goes on.
    pub fn set_var(&mut self, name: &str, value: Value) -> Result<()> {
        self.not_in_explicit()?;
        if let Some(backend) = self.forward() {
            backend.set_var(name, value.clone())?;
        }
        self.client.set_var(name, value)?;
        Ok(())
    }

    /// `START TRANSACTION`: commits an open transaction first (explicit or
    /// implicit), then opens an explicit one, which every statement joins
    /// until `commit` or `rollback`, whatever the backends' autocommit.
    pub fn begin(&mut self) -> Result<()> {
        self.commit()?;
        self.tx = Some((self.cluster.begin(), Kind::Explicit));
        Ok(())
    }

    /// Commits the open transaction: on one partition if it wrote one, by
    /// two-phase commit if it wrote several. `Ok(None)` with none open.
    /// Whatever the outcome, the session is at a boundary afterwards.
    pub fn commit(&mut self) -> Result<Option<Committed>> {
        match self.tx.take() {
            Some((tx, _)) => tx.commit().map(Some),
            None => Ok(None),
        }
    }

    /// Rolls the open transaction back (nothing of it is visible
    /// anywhere); nothing happens with none open.
    pub fn rollback(&mut self) {
        self.tx = None;
    }

    /// Routes a statement to partition `p`: syncs its backend from the
    /// client's state, then runs `f` in the client's transaction (the
    /// backend's autocommit off, or an explicit transaction open; an
    /// implicit one begins here if none is) or in a transaction of its own,
    /// committed at once. A failure that ends the client's transaction (a
    /// write conflict) rolls all of it back.
    fn statement<R>(
        &mut self,
        p: usize,
        f: impl FnOnce(&mut ClusterTransaction) -> Result<R>,
    ) -> Result<R> {
        let backend = self.backends[p].get_or_insert_with(|| self.home.session());
        if self.sync {
            self.syncs += backend.sync_from(&self.client.context())?;
        }
        self.current = Some(p);
        let explicit = matches!(self.tx, Some((_, Kind::Explicit)));
        if backend.autocommit() && !explicit {
            let mut tx = self.cluster.begin();
            let r = f(&mut tx)?;
            tx.commit()?;
            return Ok(r);
        }
        let (tx, _) = self
            .tx
            .get_or_insert_with(|| (self.cluster.begin(), Kind::Implicit));
        let r = f(tx);
        if r.is_err() && tx.is_failed() {
            self.tx = None;
        }
        r
    }

    /// The row of `key`.
    pub fn get<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: &K,
    ) -> Result<Option<T>> {
        self.statement(table.partition_of(key), |tx| tx.get(table, key))
    }

    /// Inserts a row (`DuplicateKey` if one is visible).
    pub fn insert<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: K,
        row: T,
    ) -> Result<()> {
        self.statement(table.partition_of(&key), |tx| tx.insert(table, key, row))
    }

    /// Replaces a row (`NotFound` if none is visible).
    pub fn update<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: &K,
        row: T,
    ) -> Result<()> {
        self.statement(table.partition_of(key), |tx| tx.update(table, key, row))
    }

    /// Inserts or replaces a row.
    pub fn upsert<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: K,
        row: T,
    ) -> Result<()> {
        self.statement(table.partition_of(&key), |tx| tx.upsert(table, key, row))
    }

    /// Deletes a row (`NotFound` if none is visible).
    pub fn delete<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: &K,
    ) -> Result<()> {
        self.statement(table.partition_of(key), |tx| tx.delete(table, key))
    }
}
