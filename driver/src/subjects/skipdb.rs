//! skipdb: optimistic MVCC over a crossbeam skip list, with badger's
//! transaction manager (the `txn` crate), in its two databases.
//!
//! * `skipdb-optimistic` is an `OptimisticDb` with its `write` transactions:
//!   the keys a transaction reads are kept as hashes, and commit fails if a
//!   transaction that committed after this one began wrote one of them.
//! * `skipdb-serializable` is a `SerializableDb` with its `serializable_write`
//!   transactions: the same check over the keys themselves (a `BTreeSet`),
//!   plus the ranges a transaction iterates, which catches the write skews
//!   through predicates that `OptimisticDb` misses. This driver's write
//!   transactions read points only, so both detect exactly the same
//!   conflicts here and differ only in the cost of tracking them.
//!
//! A transaction whose operations are all reads, and `scan_all`, run in the
//! database's read transaction (`read`), which tracks nothing and never
//! conflicts.
//!
//! Conflicts show up only at commit: writes are buffered in the transaction,
//! so nothing waits for a lock held by another transaction and nothing
//! deadlocks. The adapter rolls the loser back and drops it. skipdb does not
//! export its error types (they live in the `txn` crate), so the adapter
//! recognises a conflict by its `Debug` form, `Transaction(Conflict)`, which
//! the pinned versions fix.
//!
//! What makes the comparison uneven:
//!
//! * Rows are stored as `Vec<u64>` directly, no serialisation (like
//!   multiverse; unlike surrealmx or redb). An update clones the row it reads,
//!   bumps the copy and inserts it.
//! * Every transaction, read-only ones included, takes the oracle's one mutex
//!   to get its read timestamp and sends a mark to a background watermark
//!   thread (a bounded channel) when it begins and again when it ends;
//!   commit takes a second global mutex and checks the transaction against
//!   every transaction committed since the oldest one still running began.
//!   Each database runs two such watermark threads.
//! * skipdb never reclaims old versions by itself: `compact` has to be
//!   called, and walks every key. The adapter calls it on the committing
//!   thread each time as many updates as there are rows have committed, so
//!   that the version chains stay short and memory bounded; that thread pays
//!   the whole walk, and every other transaction waits for it (next point).
//! * skipdb's `compact` is unsound beside live transactions, so the adapter
//!   runs it only when none is live. It discards below `d`, the read
//!   watermark (`discard_hint`: no live transaction reads below it), but
//!   when a key also has a version at or above `d` it removes *every*
//!   version below `d` (skipdb-core 0.2.0, `SkipCore::compact`), among them
//!   the newest one below `d`: the version that a transaction reading at a
//!   timestamp from `d` up to the key's next version still has to see. That
//!   reader then finds no row at all (a point read returns `None`, a scan
//!   skips the key), or panics in skipdb if the version goes between its
//!   `get` and `value`. Versions committed during the walk do the same to
//!   transactions that begin during it, so compaction needs the database to
//!   itself from start to end. Each transaction therefore holds a read lock
//!   for its whole life, and compaction takes the write locks. The locks are
//!   sharded by thread (one cache line each), so a transaction's lock is
//!   uncontended and costs two atomic operations on a line its thread owns;
//!   compaction stops the world, and waits for the transactions in flight,
//!   a long scan's included. With nothing live, skipdb's `compact` keeps
//!   each key's newest version, which is all that a later transaction reads.

use crate::subject::{bump, checksum, fold_rows, initial_row, Conflict, Key, Op, Subject};
use skipdb::{optimistic::OptimisticDb, serializable::SerializableDb};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 10_000;

/// A row, stored as it is.
type Row = Vec<u64>;

/// `skipdb-optimistic`.
pub type SkipdbOptimistic = Skipdb<OptimisticDb<Key, Row>>;

/// `skipdb-serializable`.
pub type SkipdbSerializable = Skipdb<SerializableDb<Key, Row>>;

/// Shards of the [`Gate`]: more than the threads a run uses, so that two
/// threads rarely share one.
const SLOTS: usize = 64;

/// One shard of the [`Gate`], on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Slot(RwLock<()>);

/// Keeps compaction apart from every transaction: a transaction holds its
/// thread's slot shared, compaction holds every slot exclusively (see the
/// module's doc for why skipdb needs it).
struct Gate {
    slots: Box<[Slot]>,
}

/// Hands each thread its slot, round robin.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Relaxed: the counter only spreads threads over slots; any value is correct.
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Relaxed) % SLOTS;
}

impl Gate {
    fn new() -> Self {
        Gate {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    /// Admits a transaction, until the guard is dropped; waits while a
    /// compaction runs.
    fn enter(&self) -> RwLockReadGuard<'_, ()> {
        let slot = SLOT.with(|&slot| slot);
        // Nothing is guarded but exclusion, so a poisoned lock (a panic
        // during compaction) is as good as any other.
        self.slots[slot]
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no transaction is live and keeps new ones out until the
    /// guards are dropped. Every caller takes the slots in the same order, so
    /// two of them cannot deadlock; a transaction holds one slot and takes no
    /// other, so it cannot either.
    fn exclusive(&self) -> Vec<RwLockWriteGuard<'_, ()>> {
        self.slots
            .iter()
            .map(|slot| slot.0.write().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}

/// A skipdb database `u64 -> Vec<u64>` and when to compact it.
pub struct Skipdb<D> {
    db: D,
    /// Keeps compaction apart from transactions.
    gate: Gate,
    /// Updates committed so far.
    updates: AtomicU64,
    /// Compact each time this many more updates have committed: the number of
    /// rows loaded.
    every: AtomicU64,
}

impl<D: Default> Skipdb<D> {
    /// A fresh, empty database.
    pub fn new() -> Self {
        Skipdb {
            db: D::default(),
            gate: Gate::new(),
            updates: AtomicU64::new(0),
            every: AtomicU64::new(u64::MAX),
        }
    }
}

impl<D: Default> Default for Skipdb<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> Skipdb<D> {
    /// Counts `updates` more committed updates, and runs `compact` with no
    /// transaction live if they complete another round of `every`. The caller
    /// must not be inside the [`Gate`].
    fn committed(&self, updates: u64, compact: impl FnOnce()) {
        let every = self.every.load(Relaxed);
        let before = self.updates.fetch_add(updates, Relaxed);
        if before / every != (before + updates) / every {
            let _alone = self.gate.exclusive();
            compact();
        }
    }
}

/// The error of a failed commit: a conflict, or a bug.
#[cold]
fn conflict(e: &dyn Debug) -> Conflict {
    let e = format!("{e:?}");
    if e == "Transaction(Conflict)" {
        Conflict
    } else {
        panic!("skipdb: unexpected error {e}")
    }
}

/// A key that was never loaded is a bug in the driver.
#[cold]
fn missing(k: Key) -> ! {
    panic!("skipdb: key {k} was never loaded")
}

/// Implements [`Subject`] for [`Skipdb`] over one of skipdb's databases. The
/// two share every method name but the one that begins a write transaction,
/// and no trait: their transaction types name the `txn` crate's conflict
/// managers, which skipdb does not export.
macro_rules! subject {
    ($db:ty, $begin:ident) => {
        impl Subject for Skipdb<$db> {
            fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
                let mut start = 0;
                while start < keys {
                    let mut tx = self.db.$begin();
                    for k in start..keys.min(start + LOAD_BATCH) {
                        tx.insert(k, initial_row(k, attrs))
                            .map_err(|e| format!("insert {k}: {e}"))?;
                    }
                    tx.commit().map_err(|e| format!("commit: {e}"))?;
                    start += LOAD_BATCH;
                }
                self.every.store(keys.max(1), Relaxed);
                Ok(())
            }

            fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
                let updates = {
                    let _live = self.gate.enter();
                    self.attempt(ops, modified, sink)?
                };
                self.committed(updates, || self.db.compact());
                Ok(())
            }

            fn scan_all(&self, sink: &mut u64) -> u64 {
                let _live = self.gate.enter();
                let tx = self.db.read();
                fold_rows(tx.iter().map(|ent| checksum(&ent.value())), sink)
            }
        }

        impl Skipdb<$db> {
            /// Runs `ops` in one transaction, inside the [`Gate`]: the number
            /// of updates it committed, or the conflict it lost.
            fn attempt(
                &self,
                ops: &[Op],
                modified: usize,
                sink: &mut u64,
            ) -> Result<u64, Conflict> {
                if ops.iter().all(|op| matches!(op, Op::Read(_))) {
                    let tx = self.db.read();
                    for op in ops {
                        let &Op::Read(k) = op else { unreachable!() };
                        *sink ^= checksum(&tx.get(&k).unwrap_or_else(|| missing(k)).value());
                    }
                    return Ok(0);
                }
                let mut tx = self.db.$begin();
                let mut updates = 0;
                for op in ops {
                    let (k, update) = match *op {
                        Op::Read(k) => (k, false),
                        Op::Update(k) => (k, true),
                    };
                    let mut row = {
                        let got = tx
                            .get(&k)
                            .unwrap_or_else(|e| panic!("skipdb: get {k}: {e}"));
                        let row = got.unwrap_or_else(|| missing(k));
                        *sink ^= checksum(&row.value());
                        if !update {
                            continue;
                        }
                        // Bound first: the temporary `ValueRef` borrows `row`.
                        let copy = Row::clone(&row.value());
                        copy
                    };
                    bump(&mut row, modified);
                    tx.insert(k, row)
                        .unwrap_or_else(|e| panic!("skipdb: insert {k}: {e}"));
                    updates += 1;
                }
                match tx.commit() {
                    Ok(()) => Ok(updates),
                    Err(e) => {
                        let lost = conflict(&e);
                        tx.rollback()
                            .unwrap_or_else(|e| panic!("skipdb: rollback: {e}"));
                        Err(lost)
                    }
                }
            }
        }
    };
}

subject!(OptimisticDb<Key, Row>, write);
subject!(SerializableDb<Key, Row>, serializable_write);
