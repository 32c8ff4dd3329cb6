//! concread's `BptreeMap`: a copy-on-write B+tree with one writer at a time
//! and snapshot readers.
//!
//! Read-only transactions (every op a read, and scans) take `read()`, a
//! snapshot that never waits; every other transaction takes `write()`, which
//! holds the map's writer lock until `commit()`. Writers never conflict, so
//! this subject never aborts: it serialises them instead. Rows are
//! `Vec<u64>` values, updated in the write transaction's copy-on-write
//! nodes (a write copies each B+tree node it touches once per transaction).

use crate::subject::{bump, checksum, fold_rows, initial_row, Conflict, Key, Op, Subject};
use concread::bptree::BptreeMap;

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 100_000;

/// A `BptreeMap<u64, Vec<u64>>`.
#[derive(Default)]
pub struct Concread {
    map: BptreeMap<Key, Vec<u64>>,
}

impl Subject for Concread {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        let mut key = 0;
        while key < keys {
            let mut tx = self.map.write();
            for k in key..keys.min(key + LOAD_BATCH) {
                tx.insert(k, initial_row(k, attrs));
            }
            tx.commit();
            key += LOAD_BATCH;
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        if ops.iter().all(|op| matches!(op, Op::Read(_))) {
            let tx = self.map.read();
            for op in ops {
                if let Op::Read(k) = *op {
                    *sink ^= checksum(tx.get(&k).expect("loaded"));
                }
            }
            return Ok(());
        }
        let mut tx = self.map.write();
        for op in ops {
            match *op {
                Op::Read(k) => *sink ^= checksum(tx.get(&k).expect("loaded")),
                Op::Update(k) => {
                    let row = tx.get_mut(&k).expect("loaded");
                    *sink ^= checksum(row);
                    bump(row, modified);
                }
            }
        }
        tx.commit();
        Ok(())
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let tx = self.map.read();
        fold_rows(tx.iter().map(|(_, row)| checksum(row)), sink)
    }
}
