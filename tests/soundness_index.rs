//! The index holds what it should, whatever the user's code does.
//!
//! A hash-indexed table stays memory-safe whatever its key type's `Hash`
//! and `Eq` do (invariant H1): a key type whose `Eq` tells apart two keys
//! that its `Ord` calls equal, or whose `Hash` is not deterministic, may get
//! wrong answers from the hash index, never a record that retirement freed.
//! And an insert that rolls back leaves no record behind, under every GC
//! policy, without waiting for a vacuum.
//!
//! Each row is `[pair, pair ^ MAGIC]`, where `pair` is what the key type's
//! `Ord` compares: a read that returns any other row has read memory that
//! is not its key's record (a freed record, or one reused for another key).
//! Under a debug build, `valgrind` reports the freed reads that the row
//! check cannot see.

#[macro_use]
mod common;

use multiverse::{Database, GcPolicy, Key, Storage, Table};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{self, AtomicU64};
use std::thread;

const MAGIC: u64 = 0x5EED_F00D_CAFE_BEEF;

/// Keys of a pair, as the key type's `Ord` sees them.
const PAIRS: u64 = 8;
/// Insert-then-delete rounds per writer thread.
const ROUNDS: u64 = 1_500;
/// Point reads per reader thread.
const READS: u64 = 6_000;

/// Ordered by `self.0 / 2`, so that `2n` and `2n + 1` are one key to the
/// skiplist; compared and hashed by `self.0`, so that they are two keys to
/// the hash map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Twins(u64);

impl Ord for Twins {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0 / 2).cmp(&(other.0 / 2))
    }
}

impl PartialOrd for Twins {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Calls of [`Fickle`]'s `Hash` so far, in every test of this file.
static HASH_CALLS: AtomicU64 = AtomicU64::new(0);

/// Ordered and compared by `self.0`; hashed with the parity of a global
/// call counter mixed in, so that one key hashes two ways and the hash map
/// finds an entry about every other time it looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Fickle(u64);

impl Hash for Fickle {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        // Relaxed: a counter whose only use is to differ between calls.
        (HASH_CALLS.fetch_add(1, atomic::Ordering::Relaxed) % 2).hash(state);
    }
}

/// The row a key of `pair` holds.
fn row(pair: u64) -> [u64; 2] {
    [pair, pair ^ MAGIC]
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Asserts that what a read of `key` returned is absent or `key`'s row.
fn check<K: std::fmt::Debug>(key: &K, pair: u64, found: Option<[u64; 2]>, storage: Storage) {
    if let Some(r) = found {
        assert_eq!(r, row(pair), "{storage}: {key:?} read another record");
    }
}

/// Two threads insert and delete keys of `keys` pairs (`key(i)` is the
/// `i`-th key, `pair_of` its pair) in a hash table, under the default GC
/// policy (which retires each deleted record as soon as no snapshot needs
/// it) and with vacuums; two threads read them meanwhile. Every row read
/// must be its key's.
fn churn<K: Key + Hash + std::fmt::Debug>(
    storage: Storage,
    keys: u64,
    key: impl Fn(u64) -> K + Sync,
    pair_of: impl Fn(&K) -> u64 + Sync,
) {
    let db = Database::new(storage);
    let t = db.create_hash_table::<K, [u64; 2]>("t").unwrap();
    thread::scope(|s| {
        for w in 0..2u64 {
            let (db, t, key, pair_of) = (&db, &t, &key, &pair_of);
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 + w);
                for i in 0..ROUNDS {
                    let k = key(rng.below(keys));
                    let mut tx = db.begin();
                    if tx.insert(t, k.clone(), row(pair_of(&k))).is_ok() {
                        let _ = tx.commit();
                    }
                    let mut tx = db.begin();
                    check(&k, pair_of(&k), tx.get(t, &k).unwrap(), storage);
                    if tx.delete(t, &k).is_ok() {
                        let _ = tx.commit();
                    }
                    if i % 100 == 0 {
                        db.vacuum();
                    }
                }
            });
        }
        for r in 0..2u64 {
            let (db, t, key, pair_of) = (&db, &t, &key, &pair_of);
            s.spawn(move || {
                let mut rng = Rng(0x2545_F491_4F6C_DD1D + r);
                for _ in 0..READS {
                    let k = key(rng.below(keys));
                    let tx = db.begin();
                    check(&k, pair_of(&k), tx.get(t, &k).unwrap(), storage);
                }
            });
        }
    });
}

for_each_store! {
    /// `Twins(0)` creates the pair's record; `Twins(1)`, which the hash map
    /// tells apart but the skiplist does not, meets that record when it
    /// tries to insert; `Twins(0)` is deleted and its record retired and
    /// freed. A read of `Twins(1)` must not reach the freed record (before
    /// H1 kept the live records apart from the key map, it did: the map
    /// still held `Twins(1)` → the freed record), and both keys can be
    /// inserted and read again.
    fn a_twin_key_never_reaches_the_record_its_twin_retired(storage: Storage) {
        let db = Database::new(storage);
        let t = db.create_hash_table::<Twins, [u64; 2]>("t").unwrap();
        let (a, b) = (Twins(0), Twins(1));
        let mut tx = db.begin();
        tx.insert(&t, a, row(0)).unwrap();
        tx.commit().unwrap();
        let mut tx = db.begin();
        assert_err!(tx.insert(&t, b, row(0)), DuplicateKey, "{storage}: Ord says b is a");
        drop(tx);
        let mut tx = db.begin();
        tx.delete(&t, &a).unwrap();
        tx.commit().unwrap();
        // Retire the record and let the epoch collector free it.
        for _ in 0..8 {
            db.vacuum();
        }
        assert_eq!(t.stats().records, 0, "{storage}: a's record is retired");
        for key in [b, a] {
            check(&key, 0, db.begin().get(&t, &key).unwrap(), storage);
        }
        let mut tx = db.begin();
        tx.insert(&t, b, row(0)).unwrap();
        tx.commit().unwrap();
        assert_eq!(db.begin().get(&t, &b).unwrap(), Some(row(0)), "{storage}");
        check(&a, 0, db.begin().get(&t, &a).unwrap(), storage);
    }

    /// Insert/delete churn over keys whose `Eq` tells apart what their
    /// `Ord` calls equal, with concurrent readers: no read returns a row
    /// that is not its key's, and nothing crashes.
    fn keys_whose_eq_disagrees_with_ord_read_only_their_own_records(storage: Storage) {
        churn(storage, 2 * PAIRS, Twins, |k: &Twins| k.0 / 2);
    }

    /// Insert/delete churn over keys whose `Hash` is not deterministic (the
    /// hash map misses entries when it removes them, and finds stale ones
    /// later), with concurrent readers: no read returns a row that is not
    /// its key's, and nothing crashes.
    fn keys_with_a_nondeterministic_hash_read_only_their_own_records(storage: Storage) {
        churn(storage, PAIRS, Fickle, |k: &Fickle| k.0);
    }
}

/// Distinct keys inserted by rolled-back transactions.
const ROLLED_BACK: u64 = 200;

/// Inserts of keys `0..ROLLED_BACK` that never commit, in every way a
/// transaction can end without committing: `rollback`, a drop, a write
/// conflict with a rival inserter (both roll back), and an insert deleted
/// again by the same transaction.
fn roll_back_inserts(db: &Database, t: &Table<u64, [u64; 2]>) {
    let mut tx = db.begin();
    for k in 0..ROLLED_BACK / 2 {
        tx.insert(t, k, row(k)).unwrap();
    }
    tx.rollback();
    let mut tx = db.begin();
    for k in ROLLED_BACK / 2..ROLLED_BACK {
        tx.insert(t, k, row(k)).unwrap();
        if k % 2 == 0 {
            tx.delete(t, &k).unwrap();
        }
    }
    drop(tx);
    for k in 0..ROLLED_BACK / 4 {
        let mut first = db.begin();
        first.insert(t, k, row(k)).unwrap();
        let mut rival = db.begin();
        assert_err!(rival.insert(t, k, row(k)), WriteConflict, "key {k}");
        drop(rival);
        first.rollback();
    }
}

for_each_store! {
    /// Rolled-back inserts of distinct keys leave no record in the index
    /// (the skiplist and the hash index), on every GC policy, with no
    /// vacuum; the keys can then be inserted and read as if never touched.
    fn rolled_back_inserts_leave_no_record(storage: Storage) {
        for policy in GcPolicy::ALL {
            let db = Database::builder().storage(storage).gc(policy).build();
            let tables = [
                db.create_table::<u64, [u64; 2]>("ordered").unwrap(),
                db.create_hash_table::<u64, [u64; 2]>("hashed").unwrap(),
            ];
            for t in &tables {
                roll_back_inserts(&db, t);
                assert_eq!(t.stats().records, 0, "{policy}, {}: records left", t.name());
                let tx = db.begin();
                for k in 0..ROLLED_BACK {
                    assert_eq!(tx.get(t, &k).unwrap(), None, "{policy}: key {k}");
                }
                drop(tx);
                let mut tx = db.begin();
                for k in 0..ROLLED_BACK {
                    tx.insert(t, k, row(k)).unwrap();
                }
                tx.commit().unwrap();
                let tx = db.begin();
                for k in 0..ROLLED_BACK {
                    assert_eq!(tx.get(t, &k).unwrap(), Some(row(k)), "{policy}: key {k}");
                }
                assert_eq!(t.stats().records, ROLLED_BACK as usize, "{policy}");
            }
        }
    }
}
