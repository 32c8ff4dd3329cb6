//! The optional hash index for point lookups: the paper's index dimension
//! (Wu et al. 2017, §6: a hash map from key to record, beside the ordered
//! index), for tables made by
//! [`Database::create_hash_table`](crate::Database::create_hash_table).
//!
//! The skiplist stays the table's one home of records and serves scans; the
//! hash index lets a point read find a record with hash probes instead of a
//! descent through the skiplist's towers. It has two parts:
//!
//! * the *key map* (papaya), from a key to the addresses of its record and
//!   of the key as the skiplist holds it, both inside one skiplist node. It
//!   hashes and compares keys with the user's `Hash` and `Eq`, which may be
//!   wrong: disagree with `Ord` (two keys that are one to the skiplist), or
//!   change from call to call. So it is only a hint: an entry may be
//!   missing, or outlive its record;
//! * the *live set* (papaya), of the addresses of the records that are in
//!   the skiplist, hashed and compared as `usize`s by this module: nothing
//!   of the user's runs on it, so it is exact.
//!
//! # Invariant H1: the live set is in the skiplist
//!
//! An address is in the live set only while its record is in the skiplist
//! and its node has not been marked removed, so only while the epoch
//! collector cannot have it: both changes (a record entering the live set
//! after it entered the skiplist, leaving it before its node is removed)
//! are made under the record's *stripe* lock (chosen by its address, never
//! by the user's hash), and entering checks under that lock that the node
//! is not removed. So a reader that finds a key-map entry dereferences it
//! only after finding its record address in the live set, under a pinned
//! epoch guard: the record was then not yet removed, its node is handed to
//! the collector only after that, and the collector waits for the guard.
//! An entry whose address is not live is stale: the reader falls back to
//! the skiplist and drops the entry. A buggy `Hash` or `Eq` therefore costs
//! wrong answers (a key not found) or memory (stale entries nobody looks
//! up again), never a freed record; and a key map entry whose record is
//! live but whose key `Ord` does not call the looked-up key (an address
//! reused by another key's record) is not trusted either.
//!
//! With a sound key type, the key map and the live set agree: a record is
//! entered in both under its stripe lock and leaves the key map (by its
//! key as the skiplist holds it) before it leaves the live set.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Stripe locks per table: enough that two threads rarely create or remove
/// records under the same lock.
const STRIPES: usize = 64;

/// Where a record lives: the addresses of its key and of the record itself,
/// both inside one skiplist node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) key: usize,
    pub(crate) record: usize,
}

/// What the hash index knows of a key.
pub(crate) enum Probe {
    /// The key map has the key, and its record is in the live set.
    Live(Node),
    /// The key map has the key, but its record has left the live set: ask
    /// the skiplist.
    Stale,
    /// The key map does not have the key.
    Absent,
}

/// A point index from key to record address, object-safe so that a table's
/// key type need not be `Hash` unless the table has one.
pub(crate) trait PointIndex<K>: Send + Sync {
    /// Where `key`'s record lives, if the key map has it and it is live.
    fn get(&self, key: &K) -> Probe;
    /// The lock under which the record at `record` enters or leaves the
    /// index (H1).
    fn lock(&self, record: usize) -> MutexGuard<'_, ()>;
    /// Enters the record at `record`, whose key as the skiplist holds it is
    /// `key`. The caller holds `lock(record)` and has seen, under it, that
    /// the record's node is in the skiplist and not removed.
    fn insert(&self, key: &K, record: usize);
    /// Takes the record at `record` out of the index. The caller holds
    /// `lock(record)` and removes the record's node from the skiplist next.
    fn remove(&self, key: &K, record: usize);
}

/// Hashes a `usize` address by one multiply-xorshift (the murmur3
/// finaliser): addresses are this crate's own, so a fixed function is as
/// good as a keyed one, and much cheaper than SipHash.
#[derive(Clone, Copy, Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }
}

impl BuildHasher for AddressHasher {
    type Hasher = AddressHasher;

    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

/// [`PointIndex`] over a papaya key map and a papaya live set.
pub(crate) struct HashPoints<K> {
    keys: papaya::HashMap<K, Node>,
    live: papaya::HashSet<usize, AddressHasher>,
    stripes: Box<[Mutex<()>]>,
}

impl<K: Hash + Eq> HashPoints<K> {
    pub(crate) fn new() -> Self {
        HashPoints {
            keys: papaya::HashMap::with_hasher(RandomState::new()),
            live: papaya::HashSet::with_hasher(AddressHasher(0)),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync> PointIndex<K> for HashPoints<K> {
    #[inline]
    fn get(&self, key: &K) -> Probe {
        let keys = self.keys.pin();
        let Some(&node) = keys.get(key) else {
            return Probe::Absent;
        };
        if self.live.pin().contains(&node.record) {
            return Probe::Live(node);
        }
        // Stale: drop the entry, unless it has been replaced meanwhile.
        let _ = keys.remove_if(key, |_, v| *v == node);
        Probe::Stale
    }

    fn lock(&self, record: usize) -> MutexGuard<'_, ()> {
        let stripe = AddressHasher(0).hash_one(record) as usize % STRIPES;
        // The lock guards no data of its own: a panic under it leaves
        // nothing half-done that a later holder could see.
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, key: &K, record: usize) {
        // Live first: a reader that finds the key-map entry finds it live.
        self.live.pin().insert(record);
        let node = Node {
            key: key as *const K as usize,
            record,
        };
        self.keys.pin().insert(key.clone(), node);
    }

    fn remove(&self, key: &K, record: usize) {
        // The key map first (with a sound key type it then never holds a
        // record that is not live), then the live set: what H1 needs.
        let _ = self.keys.pin().remove_if(key, |_, v| v.record == record);
        self.live.pin().remove(&record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses of 16-byte-aligned records spread over the stripes (the
    /// low bits of an address are zero: the hasher must mix them in).
    #[test]
    fn aligned_addresses_spread_over_the_stripes() {
        let mut used = [false; STRIPES];
        for i in 0..(STRIPES * 4) {
            let h = AddressHasher(0).hash_one(0x7f00_0000_0000 + i * 16);
            used[h as usize % STRIPES] = true;
        }
        assert!(used.iter().filter(|&&u| u).count() > STRIPES / 2);
    }
}
