//! The database: a catalog of typed tables over one version store, and the
//! transaction manager they share.

use crate::manager::TxnManager;
use crate::table::Key;
use crate::{DatabaseStats, Error, Result, Storage, Table, TableStats, Transaction, Tuple};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::{Arc, PoisonError, RwLock};

/// Database ids, to tell a table of one database from another's. Not part of
/// any concurrency protocol, so a plain std atomic outside the loom shim.
static NEXT_DATABASE: StdAtomicU64 = StdAtomicU64::new(1);

/// What every handle on a database shares.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) storage: Storage,
    pub(crate) manager: TxnManager,
    catalog: RwLock<Catalog>,
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
    fn stats(&self) -> TableStats;
}

impl<K: Key, T: Tuple> CatalogTable for Table<K, T> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn stats(&self) -> TableStats {
        Table::stats(self)
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
}

impl DatabaseBuilder {
    /// The version store of every table (default: [`Storage::default`]).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// The database.
    pub fn build(self) -> Database {
        Database {
            shared: Arc::new(Shared {
                id: NEXT_DATABASE.fetch_add(1, StdOrdering::Relaxed),
                storage: self.storage,
                manager: TxnManager::new(),
                catalog: RwLock::new(Catalog::default()),
            }),
        }
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

    /// Creates a table with key type `K` and row type `T`.
    /// `Err(TableExists)` if the name is taken.
    pub fn create_table<K: Key, T: Tuple>(&self, name: &str) -> Result<Table<K, T>> {
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
            self.shared.id,
            catalog.next_id,
            name.into(),
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

    /// What every table keeps: records, versions and the bytes they hold.
    /// A walk over every record of every table; see [`TableStats`].
    pub fn stats(&self) -> DatabaseStats {
        let mut stats = DatabaseStats::default();
        let catalog = self
            .shared
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&String> = catalog.tables.keys().collect();
        names.sort();
        for name in names {
            let t = catalog.tables[name].handle.stats();
            stats.total += t;
            stats.tables.push((name.clone(), t));
        }
        stats
    }

    /// Begins a transaction: its snapshot is every commit that has returned.
    pub fn begin(&self) -> Transaction {
        Transaction::new(Arc::clone(&self.shared))
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("storage", &self.shared.storage)
            .field("tables", &self.table_names())
            .finish()
    }
}
