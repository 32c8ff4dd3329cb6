//! The database: a catalog of typed tables over one version store, and the
//! transaction manager they share.

use crate::engine::gc::GcPolicy;
use crate::engine::{Engine, Sweep};
use crate::table::{HashPoints, Key, PointIndex};
use crate::{
    DatabaseStats, Error, GcStats, Result, Snapshot, Storage, Table, TableStats, Timestamp,
    Transaction, Tuple,
};
use crossbeam_epoch as epoch;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// What every handle on a database shares.
pub(crate) struct Shared {
    pub(crate) core: Arc<Engine>,
    storage: Storage,
    catalog: RwLock<Catalog>,
    /// How many times `transact` runs its closure at most.
    attempts: u32,
    #[cfg(not(loom))]
    vacuum: Option<crate::engine::vacuum::Vacuum>,
}

impl Shared {
    /// Every table, cloned out of the catalog (so that no lock is held
    /// while they are walked).
    fn tables(&self) -> Vec<(String, Box<dyn CatalogTable>)> {
        let catalog = self.catalog.read().unwrap_or_else(PoisonError::into_inner);
        let mut tables: Vec<_> = catalog
            .tables
            .iter()
            .map(|(name, e)| (name.clone(), e.handle.clone_box()))
            .collect();
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        tables
    }
}

impl Sweep for Shared {
    /// One vacuum sweep of every table; tables are swept in parallel (rayon).
    fn sweep(&self, watermark: u64) {
        let tables = self.tables();
        #[cfg(not(loom))]
        {
            use rayon::prelude::*;
            tables.par_iter().for_each(|(_, t)| t.sweep(watermark));
        }
        #[cfg(loom)]
        tables.iter().for_each(|(_, t)| t.sweep(watermark));
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Push this thread's deferred garbage to the collector and collect:
        // a dropped database leaves nothing behind in this thread's bag.
        for _ in 0..3 {
            epoch::pin().flush();
        }
    }
}

#[derive(Default)]
struct Catalog {
    tables: HashMap<String, CatalogEntry>,
    next_id: u64,
}

struct CatalogEntry {
    types: (TypeId, TypeId),
    /// The types as `Table<K, T>`, for `SchemaMismatch`.
    type_names: String,
    /// A `Table<K, T>` of the types above.
    handle: Box<dyn CatalogTable>,
}

/// What the catalog needs of a `Table<K, T>` without knowing `K` and `T`.
trait CatalogTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn CatalogTable>;
    fn stats(&self) -> TableStats;
    fn sweep(&self, watermark: u64);
    fn mark_dropped(&self);
}

impl<K: Key, T: Tuple> CatalogTable for Table<K, T> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn CatalogTable> {
        Box::new(self.clone())
    }
    fn stats(&self) -> TableStats {
        Table::stats(self)
    }
    fn sweep(&self, watermark: u64) {
        Table::sweep(self, watermark)
    }
    fn mark_dropped(&self) {
        Table::mark_dropped(self)
    }
}

/// `Table<K, T>` with the types' names, as `SchemaMismatch` reports them.
fn type_names<K, T>() -> String {
    format!(
        "Table<{}, {}>",
        std::any::type_name::<K>(),
        std::any::type_name::<T>()
    )
}

/// The default of [`DatabaseBuilder::transact_attempts`].
pub const DEFAULT_TRANSACT_ATTEMPTS: u32 = 10;

/// The first backoff of `transact`, doubled after every conflict up to
/// [`MAX_BACKOFF`]; each wait is uniformly random below its bound.
const FIRST_BACKOFF: Duration = Duration::from_micros(10);
/// The longest backoff bound of `transact`.
const MAX_BACKOFF: Duration = Duration::from_millis(2);

/// Waits before the `retry`th retry (from 1) of `transact`: a uniformly
/// random time below `FIRST_BACKOFF · 2^(retry - 1)` (at most
/// `MAX_BACKOFF`). Random, so that two transactions that conflicted do not
/// retry in lockstep and conflict again; growing, so that a hot key's
/// contenders spread out.
fn backoff(retry: u32, rng: &mut u64) {
    let bound = FIRST_BACKOFF
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    // xorshift64: enough to decorrelate threads; no cryptography here.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let nanos = *rng % (bound.as_nanos() as u64).max(1);
    std::thread::sleep(Duration::from_nanos(nanos));
}

/// A nonzero seed for `backoff`, different per thread and per call.
fn backoff_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    std::thread::current().id().hash(&mut h);
    h.finish() | 1
}

/// An in-memory multi-version database: a cheap `Clone + Send + Sync` handle.
///
/// Every table of a database uses the database's [`Storage`].
///
/// ```
/// use multiverse::{Database, Storage};
///
/// let db = Database::new(Storage::AppendOnlyN2O);
/// let t = db.create_table::<u32, [i64; 2]>("t")?;
/// let mut tx = db.begin();
/// tx.insert(&t, 7, [1, 2])?;
/// tx.commit()?;
/// assert_eq!(db.begin().get(&t, &7)?, Some([1, 2]));
/// # Ok::<(), multiverse::Error>(())
/// ```
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
}

/// Options for a [`Database`]: `Database::builder().storage(..).build()`.
#[derive(Debug, Clone)]
#[must_use]
pub struct DatabaseBuilder {
    storage: Storage,
    gc: GcPolicy,
    retain: Option<Duration>,
    attempts: u32,
}

impl Default for DatabaseBuilder {
    fn default() -> Self {
        DatabaseBuilder {
            storage: Storage::default(),
            gc: GcPolicy::default(),
            retain: None,
            attempts: DEFAULT_TRANSACT_ATTEMPTS,
        }
    }
}

impl DatabaseBuilder {
    /// The version store of every table (default: [`Storage::default`]).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// The garbage collection policy (default: [`GcPolicy::default`]).
    pub fn gc(mut self, policy: GcPolicy) -> Self {
        self.gc = policy;
        self
    }

    /// A history window: garbage collection keeps every version that a
    /// snapshot taken up to `window` ago could read, so that
    /// [`Database::snapshot_at`] reaches any commit of the last `window`
    /// (default: none; a zero window is none). The watermark never passes
    /// the newest commit of `now - window`; it may stay behind that by up
    /// to `window / 64`, or by the time between two watermark computations
    /// if that is longer (the clock is sampled when a watermark is
    /// computed: at every commit under transaction-level GC, every eighth
    /// under the cooperative policy, at each vacuum otherwise).
    ///
    /// ```
    /// use multiverse::{Database, GcPolicy};
    /// use std::time::Duration;
    ///
    /// let db = Database::builder()
    ///     .gc(GcPolicy::TransactionLevel)
    ///     .retain(Duration::from_secs(60))
    ///     .build();
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// let then = db.transact(|tx| tx.insert(&t, 1, [0]))
    ///     .map(|()| db.snapshot().timestamp())?;
    /// for i in 1..=100 {
    ///     db.transact(|tx| tx.update(&t, &1, [i]))?;
    /// }
    /// db.vacuum();
    /// assert_eq!(db.snapshot_at(then)?.get(&t, &1)?, Some([0]));
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn retain(mut self, window: Duration) -> Self {
        self.retain = Some(window);
        self
    }

    /// How many times [`Database::transact`] runs its closure at most
    /// before it returns the conflict (default:
    /// [`DEFAULT_TRANSACT_ATTEMPTS`], 10; at least 1).
    pub fn transact_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The database. Under [`GcPolicy::Vacuum`] this starts its vacuum
    /// thread, which stops when the last handle on the database drops; an
    /// interval below 1 ms is raised to 1 ms. If the OS refuses the thread,
    /// the database falls back to [`GcPolicy::TransactionLevel`] (which
    /// needs no thread), and [`Database::gc_policy`] says so.
    pub fn build(self) -> Database {
        #[cfg(not(loom))]
        let (policy, vacuum) = match self.gc {
            GcPolicy::Vacuum { interval } => match crate::engine::vacuum::Vacuum::start(interval) {
                Ok(vacuum) => (
                    GcPolicy::Vacuum {
                        interval: interval.max(crate::engine::vacuum::MIN_INTERVAL),
                    },
                    Some(vacuum),
                ),
                Err(_) => (GcPolicy::TransactionLevel, None),
            },
            policy => (policy, None),
        };
        #[cfg(loom)]
        let policy = self.gc;
        let shared = Arc::new(Shared {
            core: Arc::new(Engine::new(policy, self.retain)),
            storage: self.storage,
            catalog: RwLock::new(Catalog::default()),
            attempts: self.attempts,
            #[cfg(not(loom))]
            vacuum,
        });
        #[cfg(not(loom))]
        if let Some(vacuum) = &shared.vacuum {
            let db: std::sync::Weak<dyn Sweep> = Arc::downgrade(&shared) as _;
            vacuum.attach(db, Arc::downgrade(&shared.core));
        }
        Database { shared }
    }
}

impl Database {
    /// An empty database over `storage`.
    pub fn new(storage: Storage) -> Self {
        Self::builder().storage(storage).build()
    }

    /// Options for a new database.
    pub fn builder() -> DatabaseBuilder {
        DatabaseBuilder::default()
    }

    /// The version store of this database's tables.
    pub fn storage(&self) -> Storage {
        self.shared.storage
    }

    /// Creates a table with key type `K` and row type `T`, indexed by a
    /// skiplist. `Err(TableExists)` if the name is taken.
    pub fn create_table<K: Key, T: Tuple>(&self, name: &str) -> Result<Table<K, T>> {
        self.create(name, None)
    }

    /// Creates a table whose point reads and writes go through a hash index
    /// from key to record, beside the skiplist that keeps serving scans
    /// (the paper's index dimension: one hash probe instead of a skiplist
    /// descent). `Err(TableExists)` if the name is taken.
    ///
    /// The hash index serves `get`, `read`, `update`, `modify` and `delete`
    /// called with a `&K`; a borrowed form of the key (a `&str` for a
    /// `String` key) goes through the skiplist.
    ///
    /// ```
    /// use multiverse::{Database, Storage};
    ///
    /// let db = Database::new(Storage::Delta);
    /// let users = db.create_hash_table::<u64, [i64; 2]>("users")?;
    /// assert!(users.hash_indexed());
    /// let mut tx = db.begin();
    /// tx.insert(&users, 7, [1, 2])?;
    /// tx.commit()?;
    /// assert_eq!(db.begin().get(&users, &7)?, Some([1, 2]));
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn create_hash_table<K: Key + Hash, T: Tuple>(&self, name: &str) -> Result<Table<K, T>> {
        self.create(name, Some(Box::new(HashPoints::<K>::new())))
    }

    fn create<K: Key, T: Tuple>(
        &self,
        name: &str,
        points: Option<Box<dyn PointIndex<K>>>,
    ) -> Result<Table<K, T>> {
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if catalog.tables.contains_key(name) {
            return Err(Error::TableExists { name: name.into() });
        }
        catalog.next_id += 1;
        let table = Table::<K, T>::new(
            self.shared.storage,
            Arc::clone(&self.shared.core),
            catalog.next_id,
            name.into(),
            points,
        );
        catalog.tables.insert(
            name.to_owned(),
            CatalogEntry {
                types: (TypeId::of::<K>(), TypeId::of::<T>()),
                type_names: type_names::<K, T>(),
                handle: Box::new(table.clone()),
            },
        );
        Ok(table)
    }

    /// Opens an existing table. `Err(NoSuchTable)` if there is none of that
    /// name, `Err(SchemaMismatch)` if it has other key or row types.
    pub fn table<K: Key, T: Tuple>(&self, name: &str) -> Result<Table<K, T>> {
        let catalog = self
            .shared
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = catalog
            .tables
            .get(name)
            .ok_or_else(|| Error::no_such_table(name))?;
        let mismatch = || Error::SchemaMismatch {
            table: name.into(),
            expected: type_names::<K, T>(),
            found: entry.type_names.clone(),
        };
        if entry.types != (TypeId::of::<K>(), TypeId::of::<T>()) {
            return Err(mismatch());
        }
        entry
            .handle
            .as_any()
            .downcast_ref::<Table<K, T>>()
            .cloned()
            .ok_or_else(mismatch)
    }

    /// Drops the table `name` from the catalog. `Err(NoSuchTable)` if there
    /// is none.
    ///
    /// Every handle on the dropped table answers every later call with
    /// `Err(NoSuchTable)`: a transaction's next `get`, `scan` or write of
    /// it, a snapshot's read, and the `commit` of a transaction that wrote
    /// it (which then rolls back whole). A scan already under way goes on
    /// over the table's last state. Nothing dangles: the rows stay in
    /// memory while a handle or a transaction's writes refer to the table,
    /// and are freed with the last one. A table of the same name may be
    /// created again at once; it is a new, empty table.
    ///
    /// ```
    /// use multiverse::{Database, Error, Storage};
    ///
    /// let db = Database::new(Storage::Delta);
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// db.drop_table("t")?;
    /// assert!(matches!(db.begin().get(&t, &1), Err(Error::NoSuchTable { .. })));
    /// assert!(matches!(db.drop_table("t"), Err(Error::NoSuchTable { .. })));
    /// let t = db.create_table::<String, Vec<u8>>("t")?; // a new table
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn drop_table(&self, name: &str) -> Result<()> {
        let entry = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .tables
            .remove(name)
            .ok_or_else(|| Error::no_such_table(name))?;
        entry.handle.mark_dropped();
        Ok(())
    }

    /// The names of all tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let catalog = self
            .shared
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = catalog.tables.keys().cloned().collect();
        names.sort();
        names
    }

    /// The garbage collection policy.
    pub fn gc_policy(&self) -> GcPolicy {
        self.shared.core.gc.policy
    }

    /// What every table keeps (records, versions and the bytes they hold;
    /// a walk over every record of every table, see [`TableStats`]) and what
    /// the garbage collector has done.
    pub fn stats(&self) -> DatabaseStats {
        let mut stats = DatabaseStats::default();
        for (name, table) in self.shared.tables() {
            let t = table.stats();
            stats.total += t;
            stats.tables.push((name, t));
        }
        let core = &self.shared.core;
        let (reclaimed, retired) = core.gc.counts();
        let snapshot = core.manager.snapshot();
        let watermark = core.manager.cached_watermark();
        stats.gc = GcStats {
            reclaimed_versions: reclaimed,
            retired_records: retired,
            sweeps: core.gc.sweeps(),
            snapshot,
            watermark,
            watermark_lag: snapshot.saturating_sub(watermark),
        };
        stats
    }

    /// Sweeps every table now, at a fresh watermark, whatever the policy:
    /// prunes every version no live snapshot can read and removes deleted
    /// rows from the index. Returns the number of versions freed.
    pub fn vacuum(&self) -> u64 {
        let core = &self.shared.core;
        core.gc
            .sweep(core.manager.watermark(), |w| self.shared.sweep(w))
    }

    /// Begins a transaction: its snapshot is every commit that has returned.
    pub fn begin(&self) -> Transaction {
        Transaction::new(Arc::clone(&self.shared.core))
    }

    /// Runs `f` in a fresh transaction and commits it; on a conflict
    /// ([`Error::is_retryable`]: a `WriteConflict`, from `f` or from the
    /// commit) runs the whole closure again in a new transaction, after a
    /// short random backoff that doubles with each attempt (below 10 µs,
    /// 20 µs, ... up to 2 ms). At most
    /// [`transact_attempts`](DatabaseBuilder::transact_attempts) attempts
    /// (default 10): then the last conflict is returned. Any other error of
    /// `f` or of the commit is returned at once, and the transaction is
    /// rolled back.
    ///
    /// `f` may run several times, so it should have no effects outside the
    /// transaction (or effects it is fine to repeat). A closure that ignores
    /// a `WriteConflict` finds every later call answered `Aborted`, which is
    /// not retried.
    ///
    /// ```
    /// use multiverse::{Database, Storage};
    ///
    /// let db = Database::new(Storage::AppendOnlyN2O);
    /// let accounts = db.create_table::<u64, [i64; 4]>("accounts")?;
    /// db.transact(|tx| {
    ///     tx.insert(&accounts, 1, [100, 0, 0, 0])?;
    ///     tx.insert(&accounts, 2, [0, 0, 0, 0])
    /// })?;
    /// let moved: i64 = db.transact(|tx| {
    ///     tx.modify(&accounts, &1, |r| r[0] -= 10)?;
    ///     tx.modify(&accounts, &2, |r| r[0] += 10)?;
    ///     Ok(10)
    /// })?;
    /// assert_eq!(moved, 10);
    /// assert_eq!(db.snapshot().get(&accounts, &2)?, Some([10, 0, 0, 0]));
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn transact<V>(&self, mut f: impl FnMut(&mut Transaction) -> Result<V>) -> Result<V> {
        let mut rng = 0;
        let mut attempt = 1;
        loop {
            let mut tx = self.begin();
            let result = f(&mut tx).and_then(|v| tx.commit().map(|_| v));
            match result {
                Err(e) if e.is_retryable() && attempt < self.shared.attempts => {
                    if rng == 0 {
                        rng = backoff_seed();
                    }
                    backoff(attempt, &mut rng);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// A read-only snapshot of every commit that has returned: `Clone +
    /// Send + Sync`, readable from many threads at once (see [`Snapshot`]).
    /// It holds back garbage collection while any clone of it lives.
    ///
    /// ```
    /// use multiverse::{Database, Storage};
    ///
    /// let db = Database::new(Storage::Delta);
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// db.transact(|tx| tx.insert(&t, 1, [1]))?;
    /// let snap = db.snapshot();
    /// db.transact(|tx| tx.delete(&t, &1))?;
    /// assert_eq!(snap.get(&t, &1)?, Some([1]));
    /// assert_eq!(snap.scan(&t, ..)?.count(), 1);
    /// assert_eq!(db.snapshot().get(&t, &1)?, None);
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(Arc::clone(&self.shared.core))
    }

    /// Time travel: a read-only snapshot as of the earlier commit timestamp
    /// `ts` (a [`Transaction::commit`] result, or a snapshot's
    /// [`timestamp`](Snapshot::timestamp)); it sees every commit at or below
    /// `ts` and nothing above.
    ///
    /// `Err(SnapshotTooOld)` once garbage collection may have passed `ts`
    /// (a watermark above it has been computed: the versions it would read
    /// may be gone). A watermark stays at or below a live transaction's or
    /// snapshot's timestamp, and with the builder's
    /// [`retain`](DatabaseBuilder::retain) window at or below the newest
    /// commit of that long ago. `Err(SnapshotInFuture)` if `ts` is above the
    /// newest commit (what [`snapshot`](Database::snapshot) would read):
    /// a timestamp no commit has reached is an error, not a wait.
    ///
    /// ```
    /// use multiverse::{Database, Error, GcPolicy, Storage};
    ///
    /// let db = Database::builder().storage(Storage::TimeTravel).gc(GcPolicy::Off).build();
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// let mut tx = db.begin();
    /// tx.insert(&t, 1, [1])?;
    /// let first = tx.commit()?;
    /// db.transact(|tx| tx.update(&t, &1, [2]))?;
    /// assert_eq!(db.snapshot_at(first)?.get(&t, &1)?, Some([1]));
    /// db.vacuum(); // no snapshot holds `first` now: the sweep passes it
    /// assert!(matches!(db.snapshot_at(first), Err(Error::SnapshotTooOld { .. })));
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn snapshot_at(&self, ts: Timestamp) -> Result<Snapshot> {
        Snapshot::at(Arc::clone(&self.shared.core), ts)
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("storage", &self.shared.storage)
            .field("gc", &self.shared.core.gc.policy)
            .field("tables", &self.table_names())
            .finish()
    }
}
