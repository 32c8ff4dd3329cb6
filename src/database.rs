//! The database: a catalog of typed tables over one version store, and the
//! transaction manager they share.

use crate::durable::device::{Dir, FsDir};
use crate::durable::wal::{Until, Wal};
use crate::durable::{self, Durability, Staged, TableMeta};
use crate::engine::gc::GcPolicy;
use crate::engine::{Engine, Sweep};
use crate::table::{HashPoints, Key, PointIndex};
use crate::{
    Codecs, DatabaseStats, Error, GcStats, Isolation, Result, Snapshot, Storage, Table, TableStats,
    Timestamp, Transaction, Tuple,
};
use crossbeam_epoch as epoch;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// What every handle on a database shares.
pub(crate) struct Shared {
    pub(crate) core: Arc<Engine>,
    storage: Storage,
    catalog: RwLock<Catalog>,
    /// How many times `transact` runs its closure at most.
    attempts: u32,
    /// The isolation of `begin` and `transact`.
    isolation: Isolation,
    #[cfg(not(loom))]
    vacuum: Option<crate::engine::vacuum::Vacuum>,
    /// The directory and the options of a durable database.
    durable: Option<DurableState>,
    /// The gate and the session registry of a switchover.
    switch: crate::switchover::Switch,
}

/// What a durable database keeps beside its engine's log (and lock).
struct DurableState {
    path: PathBuf,
    dir: Arc<dyn Dir>,
    codecs: Codecs,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// The timestamp recovered rows are stamped with.
    recovered: u64,
}

impl Shared {
    /// Every table, cloned out of the catalog (so that no lock is held
    /// while they are walked).
    fn tables(&self) -> Vec<(String, Box<dyn CatalogTable>)> {
        let catalog = self.catalog.read().unwrap_or_else(PoisonError::into_inner);
        let mut tables: Vec<_> = catalog
            .tables
            .iter()
            .filter(|(_, e)| e.creator == 0)
            .filter_map(|(name, e)| Some((name.clone(), e.handle.as_ref()?.clone_box())))
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

impl crate::engine::Checkpoint for Shared {
    fn checkpoint(&self) -> Result<Timestamp> {
        checkpoint(self)
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
    /// The table's id: unique in the database, never reused.
    id: u64,
    /// The tag of the transaction whose create this is, until it commits;
    /// 0 once committed. Other transactions do not see the name meanwhile,
    /// and a second create of it conflicts.
    creator: u64,
    /// The tag of a transaction that has dropped the table and not yet
    /// committed (0: none); a second drop conflicts.
    dropper: u64,
    types: (TypeId, TypeId),
    /// The types as `Table<K, T>`, for `SchemaMismatch`.
    type_names: String,
    /// A `Table<K, T>` of the types above; `None` for a table recovered
    /// from disk whose types the program has not named yet.
    handle: Option<Box<dyn CatalogTable>>,
    /// What the log knows of the table (a durable database's).
    meta: Option<TableMeta>,
    /// The rows of a recovered table, until its types are named (shared,
    /// so that a checkpoint takes them without a copy).
    staged: Option<Arc<Staged>>,
}

/// What the catalog needs of a `Table<K, T>` without knowing `K` and `T`.
trait CatalogTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn CatalogTable>;
    fn stats(&self) -> TableStats;
    fn sweep(&self, watermark: u64);
    fn life(&self) -> &crate::table::Lifecycle;
    /// Writes the rows visible at `ts` into a checkpoint.
    fn checkpoint(&self, ts: u64, w: &mut durable::CheckpointWriter<'_>) -> Result<()>;
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
    fn life(&self) -> &crate::table::Lifecycle {
        Table::life(self)
    }
    fn checkpoint(&self, ts: u64, w: &mut durable::CheckpointWriter<'_>) -> Result<()> {
        let codecs = crate::table::dispatch!(self, core => core.codecs.clone());
        let Some((kc, tc)) = codecs else {
            return Ok(());
        };
        // The checkpoint's snapshot keeps these versions (it is registered
        // for as long as the checkpoint runs); a table dropped after `ts`
        // is still read, as it was at `ts`.
        let view = crate::header::View {
            snapshot: ts,
            me: 0,
        };
        for (k, row) in crate::Scan::new(view, self, ..) {
            let out = w.row_buffer();
            durable::encode_framed(out, |o| kc.encode(&k, o));
            durable::encode_framed(out, |o| tc.encode(&row, o));
            w.row_done()?;
        }
        Ok(())
    }
}

/// One catalog change of a transaction.
struct Change {
    name: String,
    /// A create, else a drop.
    create: bool,
    /// Its part of the redo record (a durable database's).
    part: Option<Vec<u8>>,
}

/// The catalog changes of one transaction (the transactional catalog): the
/// catalog holds them as reservations (an entry's `creator`, `dropper`)
/// until the transaction commits or rolls back.
struct Changes {
    shared: Arc<Shared>,
    /// The transaction's tag.
    me: u64,
    list: Vec<Change>,
}

impl crate::transaction::Ddl for Changes {
    fn redo(&self, out: &mut Vec<u8>) -> u64 {
        let mut n = 0;
        for part in self.list.iter().filter_map(|c| c.part.as_ref()) {
            out.extend_from_slice(part);
            n += 1;
        }
        n
    }

    fn commit(&mut self, commit: &mut crate::transaction::CommitStep<'_>) -> Option<u64> {
        // The write lock from before the timestamp until the catalog says
        // what the commit did: a checkpoint, which reads the catalog and
        // takes its snapshot under the read lock, sees the catalog as of
        // its snapshot. Nothing that holds this lock waits for a commit.
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let ts = {
            let lives: Vec<(&crate::table::Lifecycle, bool)> = self
                .list
                .iter()
                .filter_map(|c| {
                    let entry = catalog.tables.get(&c.name)?;
                    Some((entry.handle.as_ref()?.life(), c.create))
                })
                .collect();
            for (life, create) in &lives {
                if !create {
                    // Before the timestamp (C1).
                    life.mark_dropping();
                }
            }
            let ts = commit(&mut |ts| {
                for (life, create) in &lives {
                    if *create {
                        life.stamp_created();
                    } else {
                        life.stamp_dropped(ts);
                    }
                }
            });
            if ts.is_none() {
                for (life, create) in &lives {
                    if !create {
                        life.unmark_dropping();
                    }
                }
            }
            ts
        };
        if let Some(ts) = ts {
            // Under `Sync`, durable before the catalog lock goes: a
            // checkpoint's snapshot is at the durable horizon, and must
            // not list a table whose create (or miss one whose drop) lies
            // above it. (A failure poisons the log; the commit then
            // reports it.)
            let core = &self.shared.core;
            if let Some(wal) = &core.wal {
                if wal.wait(ts).is_ok() {
                    core.manager.advance_readable(ts);
                }
            }
            for c in self.list.drain(..) {
                if c.create {
                    if let Some(entry) = catalog.tables.get_mut(&c.name) {
                        entry.creator = 0;
                    }
                } else {
                    catalog.tables.remove(&c.name);
                }
            }
        }
        ts
    }

    fn abort(&mut self) {
        if self.list.is_empty() {
            return;
        }
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for c in self.list.drain(..) {
            let mine = |e: &CatalogEntry| {
                if c.create {
                    e.creator == self.me
                } else {
                    e.dropper == self.me
                }
            };
            if !catalog.tables.get(&c.name).is_some_and(mine) {
                continue;
            }
            if c.create {
                let entry = catalog.tables.remove(&c.name).expect("found above");
                if let Some(handle) = &entry.handle {
                    handle.life().abandon();
                }
            } else {
                let entry = catalog.tables.get_mut(&c.name).expect("found above");
                entry.dropper = 0;
                if let Some(handle) = &entry.handle {
                    handle.life().clear_dropper();
                }
            }
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
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
    durability: Durability,
    sync_interval: Duration,
    checkpoint_after: u64,
    codecs: Codecs,
    in_place_master: bool,
    isolation: Isolation,
}

impl Default for DatabaseBuilder {
    fn default() -> Self {
        DatabaseBuilder {
            storage: Storage::default(),
            gc: GcPolicy::default(),
            retain: None,
            attempts: DEFAULT_TRANSACT_ATTEMPTS,
            durability: Durability::None,
            sync_interval: durable::DEFAULT_SYNC_INTERVAL,
            checkpoint_after: durable::DEFAULT_CHECKPOINT_AFTER,
            codecs: Codecs::new(),
            in_place_master: false,
            isolation: Isolation::Snapshot,
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

    /// The isolation of the transactions that [`Database::begin`] and
    /// [`Database::transact`] (and sessions) begin (default:
    /// [`Isolation::Snapshot`]); [`Database::begin_with`] chooses per
    /// transaction.
    ///
    /// ```
    /// use multiverse::{Database, Isolation};
    ///
    /// let db = Database::builder().isolation(Isolation::Serializable).build();
    /// assert_eq!(db.begin().isolation(), Isolation::Serializable);
    /// assert_eq!(db.begin_with(Isolation::Snapshot).isolation(), Isolation::Snapshot);
    /// ```
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// How many times [`Database::transact`] runs its closure at most
    /// before it returns the conflict (default:
    /// [`DEFAULT_TRANSACT_ATTEMPTS`], 10; at least 1).
    pub fn transact_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Keeps the delta store's masters of word rows (`[i64; N]`, `[u64; N]`,
    /// `[f64; N]`) in place, as the paper's engine does (IP1 in
    /// docs/design.md): an update overwrites the changed words under a
    /// sequence lock instead of allocating a new master; readers copy the
    /// words out and retry if a writer was at work. Default: off, the
    /// copy-on-write master, which measured as fast or faster on updates
    /// and up to 1.65× faster on reads of the newest version
    /// (`results/inplace-master.md`). Other stores and other row types are
    /// unaffected.
    pub fn in_place_master(mut self, on: bool) -> Self {
        self.in_place_master = on;
        self
    }

    /// How commits of a database made by [`open`](Self::open) reach stable
    /// storage (see [`Durability`]; `open` with the default, `None`, logs
    /// under `Sync`). [`build`](Self::build) ignores it: its database lives
    /// in memory.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Under [`Durability::Buffered`], how often a background thread syncs
    /// the log (default [`DEFAULT_SYNC_INTERVAL`](crate::DEFAULT_SYNC_INTERVAL),
    /// 50 ms; at least 1 ms): the most a power cut can lose.
    pub fn sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Writes a checkpoint automatically once the log has grown by `bytes`
    /// since the last one (default
    /// [`DEFAULT_CHECKPOINT_AFTER`](crate::DEFAULT_CHECKPOINT_AFTER),
    /// 64 MiB; `u64::MAX`: never).
    pub fn checkpoint_after(mut self, bytes: u64) -> Self {
        self.checkpoint_after = bytes;
        self
    }

    /// Makes the type `X` durable as a key, a row or an attribute of an
    /// array or vector row (with the encoding its [`Persist`](crate::Persist)
    /// impl gives). Integers, floats, `bool`, `char`, `String` and
    /// `Vec<u8>` are registered already.
    pub fn persist<X: crate::Persist>(mut self) -> Self {
        self.codecs.register::<X>();
        self
    }

    /// Makes the serde type `X` durable like [`persist`](Self::persist),
    /// encoded with postcard; `name` is its stable type name (kept in the
    /// log and compared on reopen, e.g. `"myapp.Account.v1"`). Needs the
    /// `serde` feature.
    #[cfg(feature = "serde")]
    pub fn persist_serde<X>(mut self, name: &str) -> Self
    where
        X: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        self.codecs.register_serde::<X>(name);
        self
    }

    /// Opens the durable database in the directory `path`, creating it if
    /// need be, and recovers what it holds: the newest checkpoint, then
    /// every log record after it (a torn last record is cut off). Its
    /// tables come back when the program names their types again
    /// ([`Database::table`]).
    ///
    /// Errors: `Locked` if another open database (in this process or
    /// another) holds the directory; `Corrupt` if a checkpoint or a log
    /// segment is damaged anywhere but at the log's end; `Io` if the
    /// directory cannot be created, read or written.
    ///
    /// ```
    /// use multiverse::{Database, Durability, Table};
    ///
    /// let dir = std::env::temp_dir().join(format!("multiverse-doc-open-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// {
    ///     let db = Database::builder().durability(Durability::Sync).open(&dir)?;
    ///     let accounts: Table<u64, [i64; 4]> = db.create_table("accounts")?;
    ///     db.transact(|tx| tx.insert(&accounts, 1, [100, 0, 0, 0]))?;
    /// } // dropped: the directory's lock goes with it
    /// let db = Database::builder().durability(Durability::Sync).open(&dir)?;
    /// let accounts = db.table::<u64, [i64; 4]>("accounts")?;
    /// assert_eq!(db.snapshot().get(&accounts, &1)?, Some([100, 0, 0, 0]));
    /// # drop(db); std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn open(self, path: impl AsRef<Path>) -> Result<Database> {
        let path = path.as_ref().to_path_buf();
        let fs =
            FsDir::open(&path).map_err(|e| Error::io(e, format!("creating {}", path.display())))?;
        let lock = lock_dir(&path)?;
        self.open_in(path, Arc::new(fs), Some(lock))
    }

    /// Opens a durable database on the file operations `dir` (a simulated
    /// device in tests), with no directory lock.
    #[cfg(test)]
    pub(crate) fn open_dir(self, dir: Arc<dyn Dir>) -> Result<Database> {
        self.open_in(PathBuf::from("simulated"), dir, None)
    }

    fn open_in(
        self,
        path: PathBuf,
        dir: Arc<dyn Dir>,
        lock: Option<std::fs::File>,
    ) -> Result<Database> {
        let (recovered, replayed) = durable::recover(&*dir)?;
        let last = recovered.last;
        let writer =
            durable::log::LogWriter::open(Arc::clone(&dir), replayed.last_segment, last + 1)
                .map_err(|e| Error::io(e, "opening the log"))?;
        let durability = match self.durability {
            Durability::None => Durability::Sync,
            d => d,
        };
        let until = match durability {
            Durability::Buffered => Until::Written,
            _ => Until::Synced,
        };
        let wal = Arc::new(Wal::new(writer, until, last));
        let mut engine = Engine::durable(
            self.gc,
            self.retain,
            Arc::clone(&wal),
            until == Until::Synced,
            lock,
            self.checkpoint_after,
        );
        engine.manager.start_at(last);
        let mut catalog = Catalog {
            tables: HashMap::new(),
            next_id: recovered.next_id,
        };
        for (_, staged) in recovered.tables {
            catalog.tables.insert(
                staged.meta.name.clone(),
                CatalogEntry {
                    id: staged.meta.id,
                    creator: 0,
                    dropper: 0,
                    types: (TypeId::of::<()>(), TypeId::of::<()>()),
                    type_names: format!(
                        "Table<{}, {}>",
                        staged.meta.key_type, staged.meta.row_type
                    ),
                    handle: None,
                    meta: Some(staged.meta.clone()),
                    staged: Some(Arc::new(staged)),
                },
            );
        }
        let db = self.finish(
            engine,
            catalog,
            Some(DurableState {
                path,
                dir,
                codecs: self.codecs.clone(),
                checkpointing: Mutex::new(()),
                recovered: last,
            }),
        );
        let by: std::sync::Weak<dyn crate::engine::Checkpoint> = Arc::downgrade(&db.shared) as _;
        db.shared.core.attach_checkpointer(by);
        if durability == Durability::Buffered {
            sync_thread(wal, self.sync_interval);
        }
        Ok(db)
    }

    /// The database. Under [`GcPolicy::Vacuum`] this starts its vacuum
    /// thread, which stops when the last handle on the database drops; an
    /// interval below 1 ms is raised to 1 ms. If the OS refuses the thread,
    /// the database falls back to [`GcPolicy::TransactionLevel`] (which
    /// needs no thread), and [`Database::gc_policy`] says so.
    pub fn build(self) -> Database {
        let engine = Engine::new(self.gc, self.retain);
        self.finish(engine, Catalog::default(), None)
    }

    fn finish(
        &self,
        mut engine: Engine,
        catalog: Catalog,
        durable: Option<DurableState>,
    ) -> Database {
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
        engine.gc.policy = policy;
        engine.in_place_master = self.in_place_master;
        let shared = Arc::new(Shared {
            core: Arc::new(engine),
            storage: self.storage,
            catalog: RwLock::new(catalog),
            attempts: self.attempts,
            isolation: self.isolation,
            #[cfg(not(loom))]
            vacuum,
            durable,
            switch: crate::switchover::Switch::new(),
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
    /// The engine's log (tests rotate it by hand).
    #[cfg(test)]
    pub(crate) fn wal(&self) -> &crate::durable::wal::Wal {
        self.shared.core.wal.as_deref().expect("a durable database")
    }

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
        let mut tx = self.begin_with(Isolation::Snapshot);
        let table = self.create_in(&mut tx, name, points)?;
        tx.commit()?;
        Ok(table)
    }

    /// Creates a table inside `tx`: it exists for `tx` at once, and for
    /// everyone else from `tx`'s commit (the transactional catalog). A name
    /// that another transaction is creating is a `WriteConflict`, which
    /// rolls `tx` back; a name taken is `TableExists`.
    pub(crate) fn create_in<K: Key, T: Tuple>(
        &self,
        tx: &mut Transaction,
        name: &str,
        points: Option<Box<dyn PointIndex<K>>>,
    ) -> Result<Table<K, T>> {
        tx.check_active()?;
        let codecs = self.codecs_of::<K, T>(name)?;
        let me = tx.tag();
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = catalog.tables.get(name) {
            if entry.creator != 0 && entry.creator != me {
                // Rolling back takes the catalog's lock.
                drop(catalog);
                return Err(tx.conflict());
            }
            return Err(Error::TableExists { name: name.into() });
        }
        let id = catalog.next_id + 1;
        let meta = codecs.as_ref().map(|(k, t)| TableMeta {
            id,
            name: name.to_owned(),
            key_type: k.name().to_owned(),
            row_type: t.name().to_owned(),
            hash: points.is_some(),
        });
        catalog.next_id = id;
        let table = Table::<K, T>::new(
            self.shared.storage,
            Arc::clone(&self.shared.core),
            id,
            name.into(),
            points,
            codecs,
            me,
        );
        let part = meta.as_ref().map(durable::create_record);
        catalog.tables.insert(
            name.to_owned(),
            CatalogEntry {
                id,
                creator: me,
                dropper: 0,
                types: (TypeId::of::<K>(), TypeId::of::<T>()),
                type_names: type_names::<K, T>(),
                handle: Some(Box::new(table.clone())),
                meta,
                staged: None,
            },
        );
        drop(catalog);
        self.changes(tx).push(Change {
            name: name.to_owned(),
            create: true,
            part,
        });
        Ok(table)
    }

    /// The catalog changes of `tx`.
    fn changes<'t>(&self, tx: &'t mut Transaction) -> &'t mut Vec<Change> {
        let me = tx.tag();
        let shared = Arc::clone(&self.shared);
        &mut tx
            .ddl_mut(|| Changes {
                shared,
                me,
                list: Vec::new(),
            })
            .list
    }

    /// The encodings of `K` and `T` in a durable database (`None` in
    /// memory); `NotDurable` if either has none.
    #[allow(clippy::type_complexity)]
    fn codecs_of<K: Key, T: Tuple>(
        &self,
        table: &str,
    ) -> Result<Option<(crate::Codec<K>, crate::Codec<T>)>> {
        let Some(d) = &self.shared.durable else {
            return Ok(None);
        };
        let not_durable = |type_name: &str| Error::NotDurable {
            table: table.into(),
            type_name: type_name.into(),
        };
        let k = d
            .codecs
            .get::<K>()
            .ok_or_else(|| not_durable(std::any::type_name::<K>()))?;
        let t = d
            .codecs
            .row::<T>()
            .ok_or_else(|| not_durable(std::any::type_name::<T>()))?;
        Ok(Some((k, t)))
    }

    /// Opens an existing table. `Err(NoSuchTable)` if there is none of that
    /// name, `Err(SchemaMismatch)` if it has other key or row types.
    ///
    /// In a database made by [`open`](DatabaseBuilder::open), the first
    /// call for a recovered table decodes and loads its rows; the types
    /// must be the ones it was created with, as their [`Persist`]
    /// names say (else `SchemaMismatch`). A recovered hash-indexed table
    /// opened here is served by its skiplist alone; open it with
    /// [`hash_table`](Self::hash_table) to keep its hash index.
    ///
    /// [`Persist`]: crate::Persist
    pub fn table<K: Key, T: Tuple>(&self, name: &str) -> Result<Table<K, T>> {
        self.open_table(name, None, 0)
    }

    /// Opens a table as the transaction `tx` sees the catalog: with the
    /// tables it created and without those it dropped.
    pub(crate) fn table_in<K: Key, T: Tuple>(
        &self,
        tx: &mut Transaction,
        name: &str,
    ) -> Result<Table<K, T>> {
        let me = tx.tag();
        self.open_table(name, None, me)
    }

    /// Opens an existing table like [`table`](Self::table), and gives a
    /// recovered hash-indexed table its hash index back.
    pub fn hash_table<K: Key + Hash, T: Tuple>(&self, name: &str) -> Result<Table<K, T>> {
        self.open_table(name, Some(&|| Box::new(HashPoints::<K>::new())), 0)
    }

    #[allow(clippy::type_complexity)]
    fn open_table<K: Key, T: Tuple>(
        &self,
        name: &str,
        points: Option<&dyn Fn() -> Box<dyn PointIndex<K>>>,
        me: u64,
    ) -> Result<Table<K, T>> {
        // The name as the transaction tagged `me` sees it (0: as committed).
        let seen = |e: &&CatalogEntry| {
            (e.creator == 0 || e.creator == me) && (e.dropper == 0 || e.dropper != me)
        };
        {
            let catalog = self
                .shared
                .catalog
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let entry = catalog
                .tables
                .get(name)
                .filter(seen)
                .ok_or_else(|| Error::no_such_table(name))?;
            if let Some(handle) = &entry.handle {
                let mismatch = || Error::SchemaMismatch {
                    table: name.into(),
                    expected: type_names::<K, T>(),
                    found: entry.type_names.clone(),
                };
                if entry.types != (TypeId::of::<K>(), TypeId::of::<T>()) {
                    return Err(mismatch());
                }
                return handle
                    .as_any()
                    .downcast_ref::<Table<K, T>>()
                    .cloned()
                    .ok_or_else(mismatch);
            }
        }
        // A recovered table, named for the first time: load it under the
        // write lock (another caller may have done so meanwhile).
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = catalog
            .tables
            .get_mut(name)
            .filter(|e| seen(&&**e))
            .ok_or_else(|| Error::no_such_table(name))?;
        if entry.handle.is_some() {
            drop(catalog);
            return self.open_table(name, points, me);
        }
        let meta = entry.meta.clone().expect("a staged table has its meta");
        let codecs = self.codecs_of::<K, T>(name)?;
        let (kc, tc) = codecs.clone().expect("a staged table is durable");
        if (kc.name(), tc.name()) != (&*meta.key_type, &*meta.row_type) {
            return Err(Error::SchemaMismatch {
                table: name.into(),
                expected: format!("Table<{}, {}>", kc.name(), tc.name()),
                found: entry.type_names.clone(),
            });
        }
        let staged = entry.staged.as_ref().expect("a staged table has its rows");
        let table = Table::<K, T>::new(
            self.shared.storage,
            Arc::clone(&self.shared.core),
            meta.id,
            name.into(),
            points.filter(|_| meta.hash).map(|make| make()),
            codecs,
            0,
        );
        self.load(&table, staged, &kc, &tc)?;
        if entry.dropper != 0 {
            // A transaction that dropped it (not yet committed) does not
            // see it through this handle either.
            table.life().set_dropper(entry.dropper);
        }
        entry.types = (TypeId::of::<K>(), TypeId::of::<T>());
        entry.type_names = type_names::<K, T>();
        entry.handle = Some(Box::new(table.clone()));
        entry.staged = None;
        Ok(table)
    }

    /// Decodes a recovered table's rows into `table`, stamped with the
    /// recovered timestamp (so that every snapshot taken since the database
    /// opened sees them). Nobody else can reach `table` yet.
    fn load<K: Key, T: Tuple>(
        &self,
        table: &Table<K, T>,
        staged: &Staged,
        kc: &crate::Codec<K>,
        tc: &crate::Codec<T>,
    ) -> Result<()> {
        let recovered = self.shared.durable.as_ref().map_or(0, |d| d.recovered);
        let corrupt = |what: &str, e: crate::DecodeError| Error::Corrupt {
            file: format!("table {:?}", staged.meta.name),
            offset: 0,
            reason: format!("a recovered {what} does not decode: {e}"),
        };
        // In chunks, so that no one transaction holds millions of writes.
        let mut rows = staged.rows.iter().peekable();
        while rows.peek().is_some() {
            // Not a user's transaction: a switchover's gate does not hold it
            // (a moved session may open a recovered table of `to` while it
            // holds its slot; see the `switchover` module), and loading is
            // not validated.
            let mut tx = self.begin_ungated(Isolation::Snapshot);
            for (k, row) in rows.by_ref().take(4096) {
                let k = kc.decode_all(k).map_err(|e| corrupt("key", e))?;
                let row = tc.decode_all(row).map_err(|e| corrupt("row", e))?;
                tx.insert(table, k, row)?;
            }
            tx.commit_loaded(recovered)?;
        }
        Ok(())
    }

    /// Drops the table `name`, in a transaction of its own.
    /// `Err(NoSuchTable)` if there is none; `Err(WriteConflict)` if another
    /// transaction is dropping it (or creating it) and has not committed.
    ///
    /// The drop takes effect at its commit timestamp, like a write: a
    /// transaction or snapshot that began before it goes on reading the
    /// table as it was; one that begins after gets `Err(NoSuchTable)`. No
    /// write of the table commits after the drop: a transaction that wrote
    /// it gets `Err(NoSuchTable)` at its next write of it or at its
    /// `commit` (which then rolls back whole). Nothing dangles: the rows
    /// stay in memory while a handle or a transaction refers to the table,
    /// and are freed with the last one. A table of the same name may be
    /// created again at once; it is a new, empty table.
    ///
    /// ```
    /// use multiverse::{Database, Error, Storage};
    ///
    /// let db = Database::new(Storage::Delta);
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// db.transact(|tx| tx.insert(&t, 1, [10]))?;
    /// let before = db.snapshot();
    /// db.drop_table("t")?;
    /// assert_eq!(before.get(&t, &1)?, Some([10])); // began before the drop
    /// assert!(matches!(db.begin().get(&t, &1), Err(Error::NoSuchTable { .. })));
    /// assert!(matches!(db.drop_table("t"), Err(Error::NoSuchTable { .. })));
    /// let t = db.create_table::<String, Vec<u8>>("t")?; // a new table
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn drop_table(&self, name: &str) -> Result<()> {
        let mut tx = self.begin_with(Isolation::Snapshot);
        self.drop_in(&mut tx, name, |_| false)?;
        tx.commit().map(drop)
    }

    /// Drops the table `name` inside `tx`: it is gone for `tx` at once,
    /// and for transactions that begin after `tx` commits. `DdlConflict`
    /// (and `tx` goes on) if `tx` wrote the table or `touched` says it read
    /// it; `WriteConflict` (and `tx` rolls back) if another transaction is
    /// dropping it. Dropping a table that `tx` itself created undoes the
    /// create.
    pub(crate) fn drop_in(
        &self,
        tx: &mut Transaction,
        name: &str,
        touched: impl Fn(u64) -> bool,
    ) -> Result<()> {
        tx.check_active()?;
        let me = tx.tag();
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let missing = || Error::no_such_table(name);
        let entry = catalog.tables.get_mut(name).ok_or_else(missing)?;
        let conflict = |id| tx.wrote(id) || touched(id);
        if entry.creator != 0 {
            if entry.creator != me {
                return Err(missing());
            }
            // This transaction's own create: undone.
            if conflict(entry.id) {
                return Err(Error::DdlConflict { table: name.into() });
            }
            let entry = catalog.tables.remove(name).expect("found above");
            if let Some(handle) = &entry.handle {
                handle.life().abandon();
            }
            drop(catalog);
            self.changes(tx).retain(|c| !(c.create && c.name == name));
            return Ok(());
        }
        if entry.dropper == me {
            return Err(missing());
        }
        if entry.dropper != 0 {
            drop(catalog);
            return Err(tx.conflict());
        }
        if conflict(entry.id) {
            return Err(Error::DdlConflict { table: name.into() });
        }
        entry.dropper = me;
        if let Some(handle) = &entry.handle {
            handle.life().set_dropper(me);
        }
        let part = entry.meta.as_ref().map(|m| durable::drop_record(m.id));
        drop(catalog);
        self.changes(tx).push(Change {
            name: name.to_owned(),
            create: false,
            part,
        });
        Ok(())
    }

    /// Writes a checkpoint of a durable database: every table as of one
    /// snapshot, to a new file that is synced and renamed into place; then
    /// the log segments it covers are removed, so that recovery reads the
    /// checkpoint and only the log after it. Returns the checkpoint's
    /// timestamp. Transactions go on meanwhile (the checkpoint reads a
    /// snapshot; it holds back garbage collection while it runs). One
    /// checkpoint runs at a time; in a database made by
    /// [`build`](DatabaseBuilder::build) this does nothing and returns the
    /// newest commit.
    ///
    /// Checkpoints are also written automatically once the log has grown by
    /// [`checkpoint_after`](DatabaseBuilder::checkpoint_after) bytes.
    pub fn checkpoint(&self) -> Result<Timestamp> {
        checkpoint(&self.shared)
    }

    /// The directory of a database made by
    /// [`open`](DatabaseBuilder::open).
    pub fn path(&self) -> Option<&Path> {
        self.shared.durable.as_ref().map(|d| d.path.as_path())
    }

    /// How commits reach stable storage: `None` for a database made by
    /// [`build`](DatabaseBuilder::build).
    pub fn durability(&self) -> Durability {
        match &self.shared.core.wal {
            None => Durability::None,
            Some(wal) if wal.synced_commits() => Durability::Sync,
            Some(_) => Durability::Buffered,
        }
    }

    /// The names of all tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let catalog = self
            .shared
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = catalog
            .tables
            .iter()
            .filter(|(_, e)| e.creator == 0)
            .map(|(name, _)| name.clone())
            .collect();
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
    /// Its isolation is the database's default
    /// ([`DatabaseBuilder::isolation`], [`Isolation::Snapshot`] unless set).
    /// While a [`switchover`](Self::switchover) drains this database, waits
    /// until it is over.
    #[inline]
    pub fn begin(&self) -> Transaction {
        self.begin_with(self.shared.isolation)
    }

    /// The isolation of `begin` and `transact`.
    pub(crate) fn shared_isolation(&self) -> Isolation {
        self.shared.isolation
    }

    /// `begin_with` without the switchover's gate.
    #[inline]
    pub(crate) fn begin_ungated(&self, isolation: Isolation) -> Transaction {
        Transaction::new(Arc::clone(&self.shared.core), isolation)
    }

    /// Begins a transaction for a session, or `None` while a switchover
    /// drains (the session then waits at the gate without its slot's lock:
    /// see the `switchover` module).
    pub(crate) fn try_begin_ungated(&self, isolation: Isolation) -> Option<Transaction> {
        (!self.shared.switch.is_closed()).then(|| self.begin_ungated(isolation))
    }

    /// The switchover state: gate, session registry.
    pub(crate) fn switch(&self) -> &crate::switchover::Switch {
        &self.shared.switch
    }

    /// Whether `self` and `other` are handles on one database.
    pub(crate) fn same_database(&self, other: &Database) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether `table` is a table of this database.
    pub(crate) fn owns<K: Key, T: Tuple>(&self, table: &Table<K, T>) -> bool {
        Arc::ptr_eq(table.core(), &self.shared.core)
    }

    /// This database's engine, weakly: what a moved session remembers to
    /// know the table handles of the databases it was moved from.
    pub(crate) fn engine_weak(&self) -> std::sync::Weak<Engine> {
        Arc::downgrade(&self.shared.core)
    }

    /// Begins a transaction with the given isolation (see [`Isolation`]).
    ///
    /// ```
    /// use multiverse::{Database, Error, Isolation, Storage};
    ///
    /// let db = Database::new(Storage::Delta);
    /// let doctors = db.create_table::<u32, [i64; 1]>("on_call")?;
    /// db.transact(|tx| {
    ///     tx.insert(&doctors, 1, [1])?;
    ///     tx.insert(&doctors, 2, [1])
    /// })?;
    /// // Each of two doctors checks that the other is on call, then leaves.
    /// let mut alice = db.begin_with(Isolation::Serializable);
    /// let mut bob = db.begin_with(Isolation::Serializable);
    /// assert_eq!(alice.get(&doctors, &2)?, Some([1]));
    /// assert_eq!(bob.get(&doctors, &1)?, Some([1]));
    /// alice.update(&doctors, &1, [0])?;
    /// bob.update(&doctors, &2, [0])?;
    /// alice.commit()?;
    /// // Bob read Alice's row, which changed after his snapshot: write skew.
    /// assert_eq!(bob.commit(), Err(Error::SerializationFailure));
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    ///
    /// While a [`switchover`](Self::switchover) drains this database, waits
    /// until it is over.
    #[inline]
    pub fn begin_with(&self, isolation: Isolation) -> Transaction {
        self.shared.switch.pass();
        self.begin_ungated(isolation)
    }

    /// Runs `f` in a fresh transaction (of the database's default
    /// isolation) and commits it; on a conflict ([`Error::is_retryable`]: a
    /// `WriteConflict`, from `f` or from the commit, or a
    /// `SerializationFailure` from the commit) runs the whole closure again in a new transaction, after a
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

    /// Begins a snapshot-isolation transaction that reads at `ts`, an
    /// earlier snapshot — the one a timestamp service chose for a
    /// transaction over several databases (`multiverse-cluster`). It
    /// writes as any transaction does (W1: a key committed above `ts` is a
    /// `WriteConflict`); commit it with [`Transaction::commit_at`] to keep
    /// the databases' timestamps in step. The errors of
    /// [`snapshot_at`](Self::snapshot_at): `SnapshotTooOld`,
    /// `SnapshotInFuture`.
    ///
    /// ```
    /// use multiverse::{Database, Error, Storage};
    ///
    /// let db = Database::new(Storage::TimeTravel);
    /// let t = db.create_table::<u64, [i64; 1]>("t")?;
    /// let mut tx = db.begin();
    /// let then = tx.snapshot(); // held: the collector keeps what it reads
    /// db.transact(|tx| tx.insert(&t, 1, [1]))?;
    /// let mut old = db.begin_at(then)?;
    /// assert_eq!(old.get(&t, &1)?, None);
    /// assert!(matches!(old.insert(&t, 1, [2]), Err(Error::WriteConflict { .. })));
    /// # tx.rollback();
    /// # Ok::<(), multiverse::Error>(())
    /// ```
    pub fn begin_at(&self, ts: Timestamp) -> Result<Transaction> {
        use crate::engine::manager::BeginAtError;
        let core = &self.shared.core;
        self.shared.switch.pass();
        match core.manager.begin_at(ts.0) {
            Ok(slot) => Ok(Transaction::new_at(Arc::clone(core), slot, ts.0)),
            Err(BeginAtError::TooOld { oldest }) => Err(Error::SnapshotTooOld {
                requested: ts,
                oldest: Timestamp(oldest),
            }),
            Err(BeginAtError::InFuture { newest }) => Err(Error::SnapshotInFuture {
                requested: ts,
                newest: Timestamp(newest),
            }),
        }
    }

    /// The newest commit's timestamp: what a snapshot taken now reads at,
    /// without registering one.
    pub fn newest_commit(&self) -> Timestamp {
        Timestamp(self.shared.core.manager.snapshot())
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

/// [`Database::checkpoint`], for the database and for the automatic
/// checkpoint of a committer (through [`crate::engine::Checkpoint`]).
fn checkpoint(shared: &Shared) -> Result<Timestamp> {
    let core = &shared.core;
    let (Some(d), Some(wal)) = (&shared.durable, &core.wal) else {
        return Ok(Timestamp(core.manager.snapshot()));
    };
    let _one = d
        .checkpointing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Every record after what is buffered now goes to a new segment,
    // so that the old ones can go once the checkpoint covers them.
    let rotated = wal.rotate()?;
    // Those records are synced: once published, new snapshots may see
    // them, and the checkpoint's does, so that it covers the old segments.
    core.manager.wait_published(rotated);
    core.manager.advance_readable(rotated);
    // The snapshot and the list of tables under the catalog's lock:
    // DDL commits under its write lock, so the list is the catalog as
    // of the snapshot. Staged tables' rows are copied out with it.
    let (snapshot, next_id, tables) = {
        let catalog = shared
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let snapshot = Snapshot::new(Arc::clone(&shared.core));
        let mut tables: Vec<_> = catalog
            .tables
            .values()
            // An uncommitted create is not in the snapshot (a commit that
            // changes the catalog holds its write lock until published).
            .filter(|e| e.creator == 0)
            .filter_map(|e| {
                let meta = e.meta.clone()?;
                Some(match &e.handle {
                    Some(h) => (meta, Ok(h.clone_box())),
                    None => (meta, Err(e.staged.clone())),
                })
            })
            .collect();
        tables.sort_by_key(|(meta, _)| meta.id);
        (snapshot, catalog.next_id, tables)
    };
    let ts = snapshot.timestamp().get();
    let name = durable::checkpoint_name(ts);
    durable::log::write_atomically(&*d.dir, &name, |file| {
        let mut w = durable::CheckpointWriter::new(file, ts, next_id)?;
        for (meta, rows) in &tables {
            w.table(meta)?;
            match rows {
                Ok(handle) => handle.checkpoint(ts, &mut w)?,
                Err(rows) => {
                    for (k, row) in rows.iter().flat_map(|s| &s.rows) {
                        durable::put_entry(w.row_buffer(), k, row);
                        w.row_done()?;
                    }
                }
            }
        }
        w.finish()
    })?;
    drop(snapshot);
    // The checkpoint is in place: what it covers can go.
    for old in d
        .dir
        .list()
        .map_err(|e| Error::io(e, "listing the database directory"))?
    {
        if durable::parse_checkpoint_name(&old).is_some_and(|t| t < ts) {
            d.dir
                .remove(&old)
                .map_err(|e| Error::io(e, format!("removing {old}")))?;
        }
    }
    wal.remove_through(ts)?;
    Ok(Timestamp(ts))
}

/// Takes the lock of a database directory: an OS file lock on `LOCK`,
/// which the OS releases when the file is closed or the process dies.
fn lock_dir(path: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(durable::LOCK_FILE))
        .map_err(|e| {
            Error::io(
                e,
                format!("opening {}", path.join(durable::LOCK_FILE).display()),
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path: path.into() }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::io(e, format!("locking {}", path.display())))
        }
    }
}

/// Starts the thread that syncs a `Buffered` log every `interval`. It
/// holds the log alone (not the database, whose lock goes with the
/// engine), and stops once nothing else does, or the log fails.
fn sync_thread(wal: Arc<Wal>, interval: Duration) {
    let spawned = std::thread::Builder::new()
        .name("multiverse-sync".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            if Arc::strong_count(&wal) == 1 || wal.sync_now().is_err() {
                return;
            }
        });
    // Without the thread a `Buffered` log is synced at checkpoints and when
    // the database is dropped: weaker, still correct, and rare (the OS
    // refused a thread).
    drop(spawned);
}
