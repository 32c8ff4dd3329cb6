//! Hash-indexed tables (`Database::create_hash_table`): the same answers as
//! a skiplist-only table, on every store and GC policy, while records are
//! created, deleted, retired and created again (invariant H1).

#[macro_use]
mod common;

use multiverse::{Database, Error, GcPolicy, Storage, Table};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

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

/// One random operation applied to both tables in one transaction each;
/// both must give the same answer.
fn step(db: &Database, tables: &[Table<u64, [u64; 2]>; 2], rng: &mut Rng, i: u64) {
    let key = rng.below(64);
    let op = rng.below(6);
    let results: Vec<_> = tables
        .iter()
        .map(|t| {
            let mut tx = db.begin();
            let r = match op {
                0 => tx.insert(t, key, [key, i]).map(|_| None),
                1 => tx.update(t, &key, [key, i]).map(|_| None),
                2 => tx.modify(t, &key, |r| r[1] += 1).map(|_| None),
                3 => tx.delete(t, &key).map(|_| None),
                _ => tx.get(t, &key),
            };
            tx.commit().unwrap();
            r
        })
        .collect();
    assert_eq!(results[0], results[1], "op {op} on key {key} at step {i}");
}

for_each_store! {
    /// A random history of inserts, updates, deletes and reads over a few
    /// keys, with vacuums that retire deleted rows, gives the same answer at
    /// every step from a hash-indexed table as from a skiplist table, and
    /// both end with the same rows.
    fn a_hash_table_answers_like_a_skiplist_table(storage: Storage) {
        for gc in GcPolicy::ALL {
            let db = Database::builder().storage(storage).gc(gc).build();
            let tables = [
                db.create_hash_table::<u64, [u64; 2]>("hashed").unwrap(),
                db.create_table::<u64, [u64; 2]>("ordered").unwrap(),
            ];
            assert!(tables[0].hash_indexed() && !tables[1].hash_indexed());
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            for i in 0..5_000 {
                step(&db, &tables, &mut rng, i);
                if i % 500 == 0 {
                    db.vacuum();
                }
            }
            db.vacuum();
            let tx = db.begin();
            let rows: Vec<Vec<_>> =
                tables.iter().map(|t| tx.scan(t, ..).unwrap().collect()).collect();
            assert_eq!(rows[0], rows[1], "{gc}");
            let hashed = tables[0].stats();
            assert_eq!(hashed.records, rows[0].len(), "{gc}: deleted rows retired");
        }
    }

    /// A borrowed form of the key (`&str` for `String`) finds the same rows
    /// as the key itself, through the skiplist.
    fn borrowed_keys_find_rows_of_a_hash_table(storage: Storage) {
        let db = Database::new(storage);
        let t = db.create_hash_table::<String, [i32; 1]>("names").unwrap();
        let mut tx = db.begin();
        tx.insert(&t, "ada".to_string(), [1]).unwrap();
        tx.commit().unwrap();
        let mut tx = db.begin();
        assert_eq!(tx.get(&t, "ada").unwrap(), Some([1]));
        assert_eq!(tx.get(&t, &"ada".to_string()).unwrap(), Some([1]));
        tx.modify(&t, "ada", |r| r[0] = 2).unwrap();
        assert_eq!(tx.get(&t, &"ada".to_string()).unwrap(), Some([2]));
        assert!(matches!(tx.delete(&t, "bob"), Err(Error::NotFound)));
        tx.commit().unwrap();
        assert!(matches!(
            db.create_hash_table::<String, [i32; 1]>("names"),
            Err(Error::TableExists { .. })
        ));
        assert!(db.table::<String, [i32; 1]>("names").unwrap().hash_indexed());
    }

    /// Two threads delete and re-insert a few keys as fast as they can under
    /// transaction-level GC, which retires each deleted record and removes
    /// it from both indexes, while a reader reads the keys through the hash
    /// index: every read sees a whole row the writers wrote (key in the
    /// first attribute) or none, and the indexes end in agreement.
    fn churn_with_readers_keeps_the_indexes_in_step(storage: Storage) {
        let db = Database::new(storage);
        let t = db.create_hash_table::<u64, [u64; 2]>("churn").unwrap();
        let stop = AtomicBool::new(false);
        thread::scope(|s| {
            for w in 0..2u64 {
                let (db, t, stop) = (&db, &t, &stop);
                s.spawn(move || {
                    let mut rng = Rng(w + 1);
                    // Relaxed: only tells the thread when to stop.
                    while !stop.load(Ordering::Relaxed) {
                        let key = rng.below(8);
                        let mut tx = db.begin();
                        let r = match tx.get(t, &key).unwrap() {
                            Some(_) => tx.delete(t, &key),
                            None => tx.insert(t, key, [key, w]),
                        };
                        if r.is_ok() {
                            let _ = tx.commit();
                        }
                    }
                });
            }
            let mut rng = Rng(99);
            for _ in 0..200_000 {
                let key = rng.below(8);
                if let Some(row) = db.begin().get(&t, &key).unwrap() {
                    assert_eq!(row[0], key);
                }
            }
            // Relaxed: see the writers.
            stop.store(true, Ordering::Relaxed);
        });
        db.vacuum();
        let tx = db.begin();
        let rows: Vec<_> = tx.scan(&t, ..).unwrap().collect();
        for key in 0..8u64 {
            let scanned = rows.iter().find(|(k, _)| *k == key).map(|(_, r)| *r);
            assert_eq!(tx.get(&t, &key).unwrap(), scanned, "key {key}");
        }
        assert_eq!(t.stats().records, rows.len());
    }
}
