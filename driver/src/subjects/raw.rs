//! Two ceilings without transactions: what the index alone costs.
//!
//! * `skipmap`: a bare `crossbeam_skiplist::SkipMap`, the ordered index
//!   multiverse is built on, through its ordinary API (`get` bumps a
//!   reference count on the entry: a shared write per read that multiverse
//!   avoids by using the raw `base::SkipList` with explicit guards). Rows
//!   are updated in place, attribute by attribute, with atomic adds: an
//!   entry is never replaced, because `SkipMap::insert` over an existing key
//!   is not atomic for concurrent readers (a `get` can miss the key).
//! * `dashmap`: a sharded `RwLock<HashMap>`; reads under the shard's read
//!   lock, updates in place under its write lock.
//!
//! Neither gives isolation: a "transaction" here is its operations run one
//! by one, and a reader can see half of another's updates. They bound from
//! above what an ordered index or a hash map can do on this machine, not
//! what a transactional store can.

use crate::subject::{
    bump, checksum, checksum_iter, fold_rows, initial_row, Conflict, Key, Op, Subject,
};
use crossbeam_skiplist::SkipMap;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A bare `SkipMap` of rows of atomic attributes.
#[derive(Default)]
pub struct Skipmap {
    map: SkipMap<Key, Box<[AtomicU64]>>,
}

/// The row's checksum, loading each attribute. Relaxed: a ceiling promises
/// no consistency across attributes, and each attribute is a single word.
fn checksum_atomic(row: &[AtomicU64]) -> u64 {
    checksum_iter(row.iter().map(|a| a.load(Ordering::Relaxed)))
}

impl Subject for Skipmap {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        for k in 0..keys {
            let row = initial_row(k, attrs)
                .into_iter()
                .map(AtomicU64::new)
                .collect();
            self.map.insert(k, row);
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        for op in ops {
            let (Op::Read(k) | Op::Update(k)) = *op;
            let entry = self.map.get(&k).expect("loaded");
            let row = entry.value();
            *sink ^= checksum_atomic(row);
            if let Op::Update(_) = op {
                for a in row.iter().take(modified) {
                    // Relaxed: see `checksum_atomic`; the add itself is
                    // atomic, so no update is lost.
                    a.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        fold_rows(self.map.iter().map(|e| checksum_atomic(e.value())), sink)
    }
}

/// A `DashMap<u64, Vec<u64>>`.
#[derive(Default)]
pub struct Dashmap {
    map: DashMap<Key, Vec<u64>>,
}

impl Subject for Dashmap {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        for k in 0..keys {
            self.map.insert(k, initial_row(k, attrs));
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        for op in ops {
            match *op {
                Op::Read(k) => *sink ^= checksum(&self.map.get(&k).expect("loaded")),
                Op::Update(k) => {
                    let mut row = self.map.get_mut(&k).expect("loaded");
                    *sink ^= checksum(&row);
                    bump(&mut row, modified);
                }
            }
        }
        Ok(())
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        fold_rows(self.map.iter().map(|e| checksum(e.value())), sink)
    }
}
