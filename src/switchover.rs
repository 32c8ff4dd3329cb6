//! Switchover: draining a database's sessions to a secure transaction
//! boundary and moving them to another database (Huawei RDS ALT).
//!
//! Three pieces, each cheap when no switchover runs:
//!
//! * **The gate.** [`Database::begin`] reads one flag; while a switchover
//!   drains, the flag is set and new transactions wait (on a condition
//!   variable) until it opens again. Commits, rollbacks and the statements
//!   of transactions already open go on: they are what the drain waits for.
//! * **The registry.** Every session keeps its transaction in a slot shared
//!   with its database ([`SessionShared`]): a mutex the session holds only
//!   while a statement runs, so that a switchover can look at it (and roll
//!   it back) between statements. The database holds the slots weakly; a
//!   dropped session is skipped and pruned.
//! * **The handoff.** A switchover that finds a session at a boundary
//!   leaves the new database in the session's slot and raises the slot's
//!   `pending` flag; the session picks it up at the start of its next
//!   statement, under the slot's mutex it takes anyway, and runs that
//!   statement on the new database with the same context. A session still
//!   in a transaction at the timeout has that transaction rolled back (by
//!   the switchover's thread, under the slot's mutex) and is told
//!   `SessionLost` once.
//!
//! # Why sessions never wait at the gate holding their slot
//!
//! The switchover locks each session's slot to see whether it is at a
//! boundary. A session whose statement waited at the gate with its slot
//! locked would wait for the switchover, which would wait for the slot: a
//! deadlock. So a session begins its transactions with
//! [`Database::try_begin_ungated`]: if the gate is closed it unlocks its slot and
//! waits at the gate unlocked, until the gate opens or a switchover hands it
//! off (`pending`), then starts the statement again. Every other lock is
//! taken alone: the switchover never holds the registry's or the drain's
//! mutex while it locks a slot, and a session never holds its slot while
//! it takes the gate's or the drain's mutex.
//!
//! # How the switchover learns that a session reached a boundary
//!
//! Every scan locks every registered slot, so it sees each session between
//! statements. A session that ends a transaction (commit, rollback, the end
//! of an autocommit statement, a conflict) while the gate is closed bumps
//! the drain's generation counter and wakes the switchover, which scans
//! again; so does a session that registers during a drain. The switchover
//! reads the generation before it scans, so a wake-up between its scan and
//! its wait is not lost.
//!
//! # Limits
//!
//! * Statements are not interrupted: a statement running at the deadline
//!   (a long `modify` closure, a commit waiting for the disk) is waited for
//!   before its session is moved or lost, so the drain may overrun the
//!   timeout by that statement.
//! * A statement's closure that begins a transaction on the draining
//!   database (`db.begin()` inside `modify`) waits at the gate while its
//!   session's slot is locked, and the switchover waits for the slot: a
//!   deadlock, as with any lock a closure takes twice. Closures should not
//!   start transactions.
//! * Moves chain: a session moved to a database that drains too (a
//!   switchover of `to` running at the same time) is registered there and
//!   moves on with `to`'s switchover. Each switchover takes only its own
//!   database's locks, one at a time, so two switchovers towards each
//!   other do not deadlock.

use crate::engine::Engine;
use crate::session::Kind;
use crate::{Database, Error, Result, Transaction};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError, Weak};
use std::time::{Duration, Instant};

/// The default drain timeout of a switchover (like ALT's
/// `rds_tac_drain_timeout`): 5 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest drain timeout a switchover accepts: 1 s.
pub const MIN_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest drain timeout a switchover accepts: 60 s.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a [`Database::switchover`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwitchoverReport {
    /// Sessions moved to the new database: their next statement runs there.
    pub moved: usize,
    /// Sessions still in a transaction at the timeout: rolled back, left on
    /// the old database, and told [`Error::SessionLost`].
    pub lost: usize,
    /// From the closing of the gate to the last session moved or lost.
    pub drain: Duration,
}

/// Locks `m`, whatever a panic left in it: every value behind these
/// mutexes is consistent between statements (a transaction that a panic
/// interrupted answers `Aborted` on its own).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The part of a session that its database (and a switchover) can reach.
pub(crate) struct SessionShared {
    pub(crate) slot: Mutex<Slot>,
    /// A handoff waits in the slot: lets a session waiting at the gate
    /// (without the slot's mutex) know that it should look.
    pub(crate) pending: AtomicBool,
}

/// A session's transaction and what a switchover left for it.
pub(crate) struct Slot {
    pub(crate) tx: Option<(Transaction, Kind)>,
    /// The database the session's next statement runs on.
    pub(crate) moved_to: Option<Database>,
    /// A switchover rolled the session's transaction back.
    pub(crate) lost: bool,
    /// The session is being dropped: nothing to move.
    pub(crate) dropped: bool,
    /// The engines of the databases the session was moved from: a table
    /// handle of one of them names the table of the same name in the
    /// session's database (any other database's handle stays foreign).
    /// Weak, so that a moved session does not keep an old database alive;
    /// the allocation stays while the `Weak` does, so no other engine can
    /// take its address.
    pub(crate) moved_from: Vec<Weak<Engine>>,
}

impl Slot {
    /// Whether `table` belongs to a database the session was moved from.
    pub(crate) fn moved_from_has<K: crate::Key, T: crate::Tuple>(
        &self,
        table: &crate::Table<K, T>,
    ) -> bool {
        let core = Arc::as_ptr(table.core());
        self.moved_from
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), core))
    }
}

impl SessionShared {
    pub(crate) fn new() -> Self {
        SessionShared {
            slot: Mutex::new(Slot {
                tx: None,
                moved_to: None,
                lost: false,
                dropped: false,
                moved_from: Vec::new(),
            }),
            pending: AtomicBool::new(false),
        }
    }

    /// Whether a handoff waits. Relaxed: only a hint; the handoff itself is
    /// read under the slot's mutex, which the switchover held when it raised
    /// the flag, and a session waiting at the gate re-reads it under the
    /// gate's mutex, which the switchover takes after raising it (so the
    /// waiter either sees the flag or is woken by the notification).
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }
}

/// Takes a handoff left in `slot` (if `pending` says there is one): moves
/// `db` to the new database, and answers `SessionLost` if the session's
/// transaction was rolled back.
pub(crate) fn take_handoff(
    shared: &SessionShared,
    slot: &mut Slot,
    db: &mut Database,
) -> Result<()> {
    if !shared.is_pending() {
        return Ok(());
    }
    // Relaxed: written and read under the slot's mutex (see `is_pending`).
    shared.pending.store(false, Ordering::Relaxed);
    if let Some(to) = slot.moved_to.take() {
        let from = db.engine_weak();
        if !slot.moved_from.iter().any(|w| w.ptr_eq(&from)) {
            slot.moved_from.push(from);
        }
        *db = to;
    }
    if std::mem::take(&mut slot.lost) {
        return Err(Error::SessionLost);
    }
    Ok(())
}

/// The switchover state of a database: the gate, the session registry, the
/// drain's wake-ups.
pub(crate) struct Switch {
    /// Mirrors `gate` for the fast path of `begin`.
    closed: AtomicBool,
    /// Whether the gate is closed (the truth; `closed` follows it).
    gate: Mutex<bool>,
    opened: Condvar,
    sessions: Mutex<Registry>,
    /// Bumped by every session that reaches a boundary during a drain.
    generation: Mutex<u64>,
    reached: Condvar,
    /// One switchover at a time.
    running: Mutex<()>,
}

#[derive(Default)]
struct Registry {
    slots: Vec<Weak<SessionShared>>,
    /// Prune the dropped sessions' entries when `slots` grows this long.
    prune_at: usize,
}

const MIN_PRUNE_AT: usize = 64;

impl Switch {
    pub(crate) fn new() -> Self {
        Switch {
            closed: AtomicBool::new(false),
            gate: Mutex::new(false),
            opened: Condvar::new(),
            sessions: Mutex::new(Registry {
                slots: Vec::new(),
                prune_at: MIN_PRUNE_AT,
            }),
            generation: Mutex::new(0),
            reached: Condvar::new(),
            running: Mutex::new(()),
        }
    }

    /// Whether the gate is closed: one load.
    ///
    /// Relaxed: the flag carries no data, and the slow path re-reads the
    /// truth under the gate's mutex. A `begin` that happens after the
    /// closing (through any synchronization: the slot mutex a switchover
    /// took, a channel, a join) reads `true` by write-read coherence; a
    /// `begin` concurrent with the closing may read either, and is then
    /// ordered before it (the switchover sees its transaction in the slot
    /// if it is a session's, and does not wait for a bare `Transaction`).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The gate of [`Database::begin`]: returns at once unless a switchover
    /// drains; then waits until it is over.
    #[inline]
    pub(crate) fn pass(&self) {
        if self.is_closed() {
            self.wait_open(None);
        }
    }

    /// Waits until the gate is open, or (for a session) until a switchover
    /// has left it a handoff.
    pub(crate) fn wait_open(&self, pending: Option<&SessionShared>) {
        let mut closed = lock(&self.gate);
        while *closed && !pending.is_some_and(SessionShared::is_pending) {
            closed = self
                .opened
                .wait(closed)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn set_gate(&self, close: bool) {
        let mut closed = lock(&self.gate);
        *closed = close;
        self.closed.store(close, Ordering::SeqCst);
        drop(closed);
        if !close {
            self.opened.notify_all();
        }
    }

    /// Wakes the sessions waiting at the gate to look at their handoffs.
    fn wake_waiters(&self) {
        drop(lock(&self.gate));
        self.opened.notify_all();
    }

    /// Adds a session to the registry.
    pub(crate) fn register(&self, session: Weak<SessionShared>) {
        let mut registry = lock(&self.sessions);
        if registry.slots.len() >= registry.prune_at {
            registry.slots.retain(|s| s.strong_count() > 0);
            registry.prune_at = (registry.slots.len() * 2).max(MIN_PRUNE_AT);
        }
        registry.slots.push(session);
        drop(registry);
        // A session that registers during a drain is at a boundary: move it.
        self.reached();
    }

    /// Called by a session at a boundary (outside its slot's mutex): if a
    /// switchover drains, wakes it to scan again.
    #[inline]
    pub(crate) fn reached(&self) {
        if self.is_closed() {
            *lock(&self.generation) += 1;
            self.reached.notify_all();
        }
    }

    fn generation(&self) -> u64 {
        *lock(&self.generation)
    }

    /// Waits until a session reaches a boundary after `seen`, or until
    /// `deadline`.
    fn wait_reached(&self, seen: u64, deadline: Instant) {
        let mut generation = lock(&self.generation);
        while *generation == seen {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            generation = self
                .reached
                .wait_timeout(generation, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Takes every live session out of the registry.
    fn take_sessions(&self) -> Vec<Arc<SessionShared>> {
        let slots = std::mem::take(&mut lock(&self.sessions).slots);
        slots.iter().filter_map(Weak::upgrade).collect()
    }

    /// Puts sessions back into the registry.
    fn put_sessions(&self, sessions: impl IntoIterator<Item = Arc<SessionShared>>) {
        let mut registry = lock(&self.sessions);
        registry
            .slots
            .extend(sessions.into_iter().map(|s| Arc::downgrade(&s)));
        registry.prune_at = registry.prune_at.max(registry.slots.len() * 2);
    }
}

impl Database {
    /// Switches this database's sessions over to `to` at a secure
    /// transaction boundary (Huawei RDS ALT): drains, moves, and reports.
    ///
    /// While it runs, new transactions on this database wait: a
    /// [`begin`](Database::begin) (or [`transact`](Database::transact), or
    /// a session's statement that needs a new transaction) blocks until the
    /// switchover is over. Every [`Session`](crate::Session) of this
    /// database with a transaction open gets until `drain_timeout` to reach
    /// a boundary: its statements, `commit` and `rollback` go on meanwhile.
    /// Each session at a boundary is moved as soon as it is seen there: its
    /// next statement runs on `to`, with the same context (variables,
    /// autocommit), and a table handle of this database names the table of
    /// the same name in `to`. A session waiting at the gate is at a
    /// boundary, and moves too. A session still in a transaction at the
    /// timeout is not moved: its transaction is rolled back at once, its
    /// next statement answers [`Error::SessionLost`], and it goes on working
    /// on this database. Then the gate opens again: the database still
    /// works for whoever uses it directly.
    ///
    /// A bare [`Transaction`] that began before the switchover is not a
    /// session's: it is not waited for, and it commits or rolls back here
    /// as usual. Snapshots are not transactions: they do not wait.
    ///
    /// Keeping `to`'s data in step with this database is the caller's job
    /// for now: the switchover moves sessions, not rows (replication comes
    /// later).
    ///
    /// `drain_timeout` must lie within [`MIN_DRAIN_TIMEOUT`]..=
    /// [`MAX_DRAIN_TIMEOUT`] (1–60 s, like `rds_tac_drain_timeout`;
    /// [`DEFAULT_DRAIN_TIMEOUT`] is 5 s), and `to` must be another
    /// database: else `Err(InvalidArgument)`. One switchover of a database
    /// runs at a time: a second one started while the first drains returns
    /// `Err(InvalidArgument)` at once (rather than wait for sessions that
    /// the first is moving away).
    ///
    /// ```
    /// use multiverse::{Database, Storage, DEFAULT_DRAIN_TIMEOUT};
    ///
    /// let old = Database::new(Storage::Delta);
    /// let new = Database::new(Storage::Delta);
    /// let t = old.create_table::<u64, [i64; 1]>("t")?;
    /// new.create_table::<u64, [i64; 1]>("t")?; // keeping `new` in step is ours to do
    ///
    /// let mut s = old.session();
    /// s.set_autocommit(false)?;
    /// s.insert(&t, 1, [1])?;
    /// s.commit()?; // at a boundary
    /// let report = old.switchover(&new, DEFAULT_DRAIN_TIMEOUT)?;
    /// assert_eq!((report.moved, report.lost), (1, 0));
    ///
    /// s.insert(&t, 2, [2])?; // runs on `new`, autocommit still off
    /// s.commit()?;
    /// let t2 = new.table::<u64, [i64; 1]>("t")?;
    /// assert_eq!(new.snapshot().get(&t2, &2)?, Some([2]));
    /// assert_eq!(old.snapshot().get(&t, &2)?, None);
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn switchover(&self, to: &Database, drain_timeout: Duration) -> Result<SwitchoverReport> {
        if !(MIN_DRAIN_TIMEOUT..=MAX_DRAIN_TIMEOUT).contains(&drain_timeout) {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "drain timeout {drain_timeout:?} is outside {MIN_DRAIN_TIMEOUT:?}..={MAX_DRAIN_TIMEOUT:?}"
                ),
            });
        }
        if self.same_database(to) {
            return Err(Error::InvalidArgument {
                reason: "a database cannot switch over to itself".into(),
            });
        }
        let switch = &self.switch();
        let _one = match switch.running.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(Error::InvalidArgument {
                    reason: "a switchover of this database is already running".into(),
                })
            }
        };
        let start = Instant::now();
        let deadline = start + drain_timeout;
        switch.set_gate(true);
        let (mut moved, mut lost) = (0, 0);
        loop {
            let seen = switch.generation();
            let timed_out = Instant::now() >= deadline;
            let mut stay = Vec::new();
            let mut gone = Vec::new();
            for session in switch.take_sessions() {
                let mut slot = lock(&session.slot);
                if slot.dropped {
                    continue;
                }
                if slot.tx.is_none() {
                    slot.moved_to = Some(to.clone());
                    // Relaxed: under the slot's mutex (see `is_pending`).
                    session.pending.store(true, Ordering::Relaxed);
                    drop(slot);
                    moved += 1;
                    gone.push(session);
                } else if timed_out {
                    // Rolled back under the slot's mutex, so that the
                    // session's next statement finds its keys released.
                    drop(slot.tx.take());
                    slot.lost = true;
                    // Relaxed: under the slot's mutex (see `is_pending`).
                    session.pending.store(true, Ordering::Relaxed);
                    drop(slot);
                    lost += 1;
                    stay.push(session);
                } else {
                    drop(slot);
                    stay.push(session);
                }
            }
            let open = stay.len();
            switch.put_sessions(stay);
            if !gone.is_empty() {
                let target = to.switch();
                target.put_sessions(gone);
                // If `to` drains too, its switchover should see them.
                target.reached();
                switch.wake_waiters();
            }
            if timed_out || open == 0 {
                break;
            }
            switch.wait_reached(seen, deadline);
        }
        let drain = start.elapsed();
        switch.set_gate(false);
        Ok(SwitchoverReport { moved, lost, drain })
    }

    /// Whether a [`switchover`](Self::switchover) of this database is
    /// draining it (new transactions wait).
    pub fn draining(&self) -> bool {
        self.switch().is_closed()
    }
}

/// A switchover rolls a session's transaction back on its own thread, so
/// the transaction must be `Send`; sessions move between threads too.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<Transaction>();
    send::<crate::Session>();
    send_sync::<SessionShared>();
    send_sync::<Database>();
};
