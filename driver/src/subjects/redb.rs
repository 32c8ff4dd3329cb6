//! redb, an embedded B-tree key-value store, in one of two modes:
//!
//! * [`Redb::default`]: on its in-memory backend with every write
//!   transaction at `Durability::None` (its least durable mode: nothing is
//!   made persistent; on the in-memory backend nothing could be);
//! * [`Redb::on_file`]: on a file in a scratch directory with every write
//!   transaction at `Durability::Immediate` (`commit` returns once the
//!   transaction is on stable storage), for the durable experiment.
//!
//! Read-only transactions (every op a read, and scans) use `begin_read`, a
//! snapshot that never waits; every other transaction uses `begin_write`,
//! which holds redb's single writer lock until commit. Writers never
//! conflict, so this subject never aborts: it serialises them. Rows are
//! stored as bytes ([`encode`]): a read checksums the stored bytes in
//! place, an update copies them out, bumps and writes them back; every
//! transaction also opens the table, as redb requires.

use crate::scratch::Scratch;
use crate::subject::{
    bump_bytes, checksum_bytes, encode, fold_rows, initial_row, Conflict, Op, Subject,
};
use redb::backends::InMemoryBackend;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

/// The one table: `u64 -> bytes`.
const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("usertable");

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 100_000;

/// A redb database, in memory or on a file.
pub struct Redb {
    db: Database,
    /// The durability of every write transaction.
    durability: Durability,
    /// The directory of the file (after `db`: it is removed once `db` has
    /// closed the file).
    _dir: Option<Scratch>,
}

impl Default for Redb {
    fn default() -> Self {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("redb: an in-memory database");
        Redb {
            db,
            durability: Durability::None,
            _dir: None,
        }
    }
}

/// redb's errors are bugs here: nothing in this workload may fail.
fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("redb: {e}"))
}

impl Redb {
    /// A database on a file in a fresh scratch directory under `base`,
    /// every commit at `Durability::Immediate`.
    pub fn on_file(base: &std::path::Path) -> Self {
        let dir = ok(Scratch::new(base, "redb"));
        let db = ok(Database::create(dir.path().join("redb.db")));
        Redb {
            db,
            durability: Durability::Immediate,
            _dir: Some(dir),
        }
    }

    /// A write transaction at the subject's durability.
    fn write(&self) -> redb::WriteTransaction {
        let mut tx = ok(self.db.begin_write());
        ok(tx.set_durability(self.durability));
        tx
    }
}

impl Subject for Redb {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        let mut key = 0;
        while key < keys {
            let tx = self.write();
            {
                let mut table = tx.open_table(TABLE).map_err(|e| e.to_string())?;
                for k in key..keys.min(key + LOAD_BATCH) {
                    table
                        .insert(k, encode(&initial_row(k, attrs)).as_slice())
                        .map_err(|e| e.to_string())?;
                }
            }
            tx.commit().map_err(|e| e.to_string())?;
            key += LOAD_BATCH;
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        if ops.iter().all(|op| matches!(op, Op::Read(_))) {
            let tx = ok(self.db.begin_read());
            let table = ok(tx.open_table(TABLE));
            for op in ops {
                let (Op::Read(k) | Op::Update(k)) = *op;
                *sink ^= checksum_bytes(ok(table.get(k)).expect("loaded").value());
            }
            return Ok(());
        }
        let tx = self.write();
        {
            let mut table = ok(tx.open_table(TABLE));
            for op in ops {
                match *op {
                    Op::Read(k) => {
                        *sink ^= checksum_bytes(ok(table.get(k)).expect("loaded").value())
                    }
                    Op::Update(k) => {
                        let mut row = ok(table.get(k)).expect("loaded").value().to_vec();
                        *sink ^= checksum_bytes(&row);
                        bump_bytes(&mut row, modified);
                        ok(table.insert(k, row.as_slice()));
                    }
                }
            }
        }
        ok(tx.commit());
        Ok(())
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let tx = ok(self.db.begin_read());
        let table = ok(tx.open_table(TABLE));
        let rows = ok(table.iter()).map(|entry| checksum_bytes(ok(entry).1.value()));
        fold_rows(rows, sink)
    }
}
