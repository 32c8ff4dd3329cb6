//! The optional hash index for point lookups: the paper's index dimension
//! (Wu et al. 2017, §6: a hash map from key to record, beside the ordered
//! index), for tables made by
//! [`Database::create_hash_table`](crate::Database::create_hash_table).
//!
//! The skiplist stays the table's one home of records and serves scans;
//! the hash map (papaya, lock-free reads) maps each key to the address of
//! its record inside the skiplist node, so that a point read costs one
//! hash probe instead of a descent through the skiplist's towers.
//!
//! # Invariant H1: the two indexes agree
//!
//! A key maps to a record in the hash map if and only if that record is in
//! the skiplist. Both changes (creating a record, removing a retired one)
//! are made by a thread holding the key's *stripe* lock, which only these
//! two rare operations take; reads take no lock. So a record is removed
//! from the hash map before it is unlinked from the skiplist, which is
//! before its node is handed to the epoch collector: a reader pinned before
//! that hand-over may still reach the record through the map and read it
//! safely, and one pinned after it cannot find it (the same reasoning as
//! for the skiplist's own unlinking).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Stripe locks per table: enough that two threads rarely create or remove
/// records of different keys under the same lock.
const STRIPES: usize = 64;

/// A point index from key to record address, object-safe so that a table's
/// key type need not be `Hash` unless the table has one.
pub(crate) trait PointIndex<K>: Send + Sync {
    /// The address of `key`'s record, as stored by `insert`.
    fn get(&self, key: &K) -> Option<usize>;
    /// The lock under which `key`'s record is created or removed (H1).
    fn lock(&self, key: &K) -> MutexGuard<'_, ()>;
    /// Records `key`'s record; the caller holds `lock(key)`.
    fn insert(&self, key: &K, record: usize);
    /// Forgets `key` if it maps to `record`; the caller holds `lock(key)`.
    fn remove(&self, key: &K, record: usize);
}

/// [`PointIndex`] over a papaya hash map.
pub(crate) struct HashPoints<K> {
    map: papaya::HashMap<K, usize>,
    stripes: Box<[Mutex<()>]>,
    /// Picks a key's stripe.
    stripe_hasher: RandomState,
}

impl<K: Hash + Eq> HashPoints<K> {
    pub(crate) fn new() -> Self {
        HashPoints {
            map: papaya::HashMap::new(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            stripe_hasher: RandomState::new(),
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync> PointIndex<K> for HashPoints<K> {
    #[inline]
    fn get(&self, key: &K) -> Option<usize> {
        self.map.pin().get(key).copied()
    }

    fn lock(&self, key: &K) -> MutexGuard<'_, ()> {
        let stripe = self.stripe_hasher.hash_one(key) as usize % STRIPES;
        // The lock guards no data of its own: a panic under it leaves
        // nothing half-done that a later holder could see.
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, key: &K, record: usize) {
        self.map.pin().insert(key.clone(), record);
    }

    fn remove(&self, key: &K, record: usize) {
        let map = self.map.pin();
        if map.get(key) == Some(&record) {
            map.remove(key);
        }
    }
}
