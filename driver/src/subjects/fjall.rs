//! fjall, an LSM-tree key-value store, on a scratch directory, with
//! optimistic (serializable) transactions whose commit syncs the journal:
//! every write transaction runs at `durability(Some(PersistMode::SyncData))`
//! (`fdatasync` of the journal before `commit` returns).
//!
//! Keys are big-endian `u64`s, rows bytes ([`encode`]). Read-only
//! transactions read a snapshot (`read_tx`); an update reads the row in
//! its write transaction (a tracked read), bumps and writes it back; a
//! transaction whose reads or writes were overwritten since its snapshot
//! fails at commit with `Conflict`, and the driver retries it.

use crate::scratch::Scratch;
use crate::subject::{
    bump_bytes, checksum_bytes, encode, fold_rows, initial_row, Conflict, Op, Subject,
};
use fjall::{
    KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, PersistMode, Readable,
};
use std::path::Path;

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 100_000;

/// A fjall database with one keyspace.
pub struct Fjall {
    db: OptimisticTxDatabase,
    keyspace: OptimisticTxKeyspace,
    /// The database's directory (last: removed once the database closed).
    _dir: Scratch,
}

/// fjall's errors are bugs here: nothing in this workload may fail.
fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("fjall: {e}"))
}

impl Fjall {
    /// A database in a fresh scratch directory under `base`.
    pub fn on_dir(base: &Path) -> Self {
        let dir = ok(Scratch::new(base, "fjall"));
        let db = ok(OptimisticTxDatabase::builder(dir.path()).open());
        let keyspace = ok(db.keyspace("usertable", KeyspaceCreateOptions::default));
        Fjall {
            db,
            keyspace,
            _dir: dir,
        }
    }

    /// A write transaction that syncs its commit.
    fn write(&self) -> fjall::OptimisticWriteTx {
        ok(self.db.write_tx()).durability(Some(PersistMode::SyncData))
    }
}

impl Subject for Fjall {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        let mut key = 0;
        while key < keys {
            let mut tx = self.write();
            for k in key..keys.min(key + LOAD_BATCH) {
                tx.insert(
                    &self.keyspace,
                    k.to_be_bytes(),
                    encode(&initial_row(k, attrs)),
                );
            }
            tx.commit()
                .map_err(|e| e.to_string())?
                .map_err(|_| "a conflict while loading".to_string())?;
            key += LOAD_BATCH;
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        if ops.iter().all(|op| matches!(op, Op::Read(_))) {
            let snapshot = self.db.read_tx();
            for op in ops {
                let (Op::Read(k) | Op::Update(k)) = *op;
                let row = ok(snapshot.get(&self.keyspace, k.to_be_bytes())).expect("loaded");
                *sink ^= checksum_bytes(&row);
            }
            return Ok(());
        }
        let mut tx = self.write();
        for op in ops {
            let (Op::Read(k) | Op::Update(k)) = *op;
            let row = ok(tx.get(&self.keyspace, k.to_be_bytes())).expect("loaded");
            *sink ^= checksum_bytes(&row);
            if let Op::Update(_) = op {
                let mut row = row.to_vec();
                bump_bytes(&mut row, modified);
                tx.insert(&self.keyspace, k.to_be_bytes(), row);
            }
        }
        ok(tx.commit()).map_err(|_| Conflict)
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let snapshot = self.db.read_tx();
        let rows = snapshot
            .iter(&self.keyspace)
            .map(|guard| checksum_bytes(&ok(guard.value())));
        fold_rows(rows, sink)
    }
}
