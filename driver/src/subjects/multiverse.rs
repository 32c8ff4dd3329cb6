//! multiverse: one version store under one GC policy, with the skiplist
//! index alone or with a hash index for point operations beside it
//! (`Database::create_hash_table`), its transactions under one isolation
//! level.
//!
//! A snapshot-isolation subject and its serializable twin (`-ser`) are the
//! same adapter with a different [`Isolation`]: every transaction of the
//! workload, read-only or not, begins in it, and a serializable commit that
//! fails validation (`SerializationFailure`) is a conflict like a
//! `WriteConflict`, counted as an abort and retried by the driver. Loading
//! runs under snapshot isolation in both: nothing runs beside it.

use crate::subject::{bump, checksum, fold_rows, initial_row, Conflict, Key, Op, Subject};
use multiverse::{Database, Error, GcPolicy, Isolation, Storage, Table};

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 10_000;

/// A multiverse database with one table `u64 -> Vec<u64>`.
pub struct Multiverse {
    db: Database,
    table: Table<Key, Vec<u64>>,
}

impl Multiverse {
    /// A fresh database with `storage` and `gc` whose transactions begin
    /// under `isolation`; its table has a hash index if `hash`.
    pub fn new(storage: Storage, gc: GcPolicy, hash: bool, isolation: Isolation) -> Self {
        let db = Database::builder()
            .storage(storage)
            .gc(gc)
            .isolation(isolation)
            .build();
        let table = if hash {
            db.create_hash_table("usertable")
        } else {
            db.create_table("usertable")
        }
        .expect("a fresh database");
        Multiverse { db, table }
    }
}

/// A write error other than a conflict is a bug in the driver or the engine.
fn conflict(e: Error) -> Conflict {
    match e {
        Error::WriteConflict | Error::SerializationFailure | Error::Aborted => Conflict,
        other => panic!("multiverse: unexpected error {other}"),
    }
}

impl Subject for Multiverse {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        let mut key = 0;
        while key < keys {
            let mut tx = self.db.begin_with(Isolation::Snapshot);
            for k in key..keys.min(key + LOAD_BATCH) {
                tx.insert(&self.table, k, initial_row(k, attrs))
                    .map_err(|e| format!("insert {k}: {e}"))?;
            }
            tx.commit().map_err(|e| format!("commit: {e}"))?;
            key += LOAD_BATCH;
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        let mut tx = self.db.begin();
        for op in ops {
            match *op {
                Op::Read(k) => {
                    let sum = tx.read(&self.table, &k, |row| checksum(row.expect("loaded")));
                    *sink ^= sum.map_err(conflict)?;
                }
                Op::Update(k) => tx
                    .modify(&self.table, &k, |row| {
                        *sink ^= checksum(row);
                        bump(row, modified);
                    })
                    .map_err(conflict)?,
            }
        }
        tx.commit().map(drop).map_err(conflict)
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let tx = self.db.begin();
        let rows = tx.scan(&self.table, ..).expect("own table");
        fold_rows(rows.map(|(_, row)| checksum(&row)), sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write skew on a serializable twin, on every store: the second commit
    /// fails validation, and the adapter reports it as a conflict to retry
    /// rather than a bug; the twin's transactions begin serializable and
    /// its snapshot-isolation sibling's do not.
    #[test]
    fn serializable_twin_reports_a_serialization_failure_as_a_conflict() {
        for storage in Storage::ALL {
            let si = Multiverse::new(storage, GcPolicy::default(), false, Isolation::Snapshot);
            assert_eq!(si.db.begin().isolation(), Isolation::Snapshot);
            let s = Multiverse::new(storage, GcPolicy::default(), true, Isolation::Serializable);
            s.load(2, 1).unwrap();
            let (mut a, mut b) = (s.db.begin(), s.db.begin());
            assert_eq!(a.isolation(), Isolation::Serializable);
            a.read(&s.table, &1, |r| r.is_some()).unwrap();
            b.read(&s.table, &0, |r| r.is_some()).unwrap();
            a.modify(&s.table, &0, |r| bump(r, 1)).unwrap();
            b.modify(&s.table, &1, |r| bump(r, 1)).unwrap();
            a.commit().unwrap();
            let e = b.commit().unwrap_err();
            assert_eq!(e, Error::SerializationFailure, "{}", storage.name());
            assert_eq!(conflict(e), Conflict);
        }
    }
}
