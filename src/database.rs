//! The database: a catalog of typed tables over one version store, and the
//! transaction manager they share.

use crate::engine::gc::GcPolicy;
use crate::engine::{Engine, Sweep};
use crate::table::{HashPoints, Key, PointIndex};
use crate::{
    DatabaseStats, Error, GcStats, Result, Storage, Table, TableStats, Transaction, Tuple,
};
use crossbeam_epoch as epoch;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

/// What every handle on a database shares.
pub(crate) struct Shared {
    pub(crate) core: Arc<Engine>,
    storage: Storage,
    catalog: RwLock<Catalog>,
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
    /// A `Table<K, T>` of the types above.
    handle: Box<dyn CatalogTable>,
}

/// What the catalog needs of a `Table<K, T>` without knowing `K` and `T`.
trait CatalogTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn CatalogTable>;
    fn stats(&self) -> TableStats;
    fn sweep(&self, watermark: u64);
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
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct DatabaseBuilder {
    storage: Storage,
    gc: GcPolicy,
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
            core: Arc::new(Engine::new(policy)),
            storage: self.storage,
            catalog: RwLock::new(Catalog::default()),
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
            return Err(Error::TableExists);
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
        let entry = catalog.tables.get(name).ok_or(Error::NoSuchTable)?;
        if entry.types != (TypeId::of::<K>(), TypeId::of::<T>()) {
            return Err(Error::SchemaMismatch);
        }
        entry
            .handle
            .as_any()
            .downcast_ref::<Table<K, T>>()
            .cloned()
            .ok_or(Error::SchemaMismatch)
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
