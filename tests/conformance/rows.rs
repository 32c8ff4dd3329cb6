//! Rows: the zero-copy `read`, the tuple types the crate implements
//! (`[T; N]`, `Vec<T>`, `Box<[T]>`), a tuple written by hand, and keys
//! looked up by a borrowed form.

use crate::common::*;
use multiverse::{Database, Storage, Table, Tuple};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An attribute that counts how often it, or any of its clones, is cloned.
#[derive(Debug)]
struct Counted {
    value: i64,
    clones: Arc<AtomicUsize>,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Counted {
            value: self.value,
            clones: Arc::clone(&self.clones),
        }
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// A struct row with its `Tuple` written by hand, as the crate docs show.
#[derive(Clone, Debug, PartialEq)]
struct Customer {
    name: String,
    balance: i64,
}

/// Before-images of the attributes an update changed.
#[derive(Default)]
struct CustomerDelta {
    name: Option<String>,
    balance: Option<i64>,
}

impl Tuple for Customer {
    type Delta = CustomerDelta;
    fn attributes(&self) -> usize {
        2
    }
    fn delta_to(&self, newer: &Self) -> CustomerDelta {
        CustomerDelta {
            name: (self.name != newer.name).then(|| self.name.clone()),
            balance: (self.balance != newer.balance).then_some(self.balance),
        }
    }
    fn apply(&mut self, d: &CustomerDelta) {
        if let Some(n) = &d.name {
            self.name = n.clone();
        }
        if let Some(b) = d.balance {
            self.balance = b;
        }
    }
    fn delta_bytes(d: &CustomerDelta) -> usize {
        std::mem::size_of::<CustomerDelta>() + d.name.as_ref().map_or(0, |n| n.capacity())
    }
}

fn customer(name: &str, balance: i64) -> Customer {
    Customer {
        name: name.to_string(),
        balance,
    }
}

for_each_store! {
    /// `read` hands the closure the newest committed row borrowed from the
    /// store, without cloning it (while `get` does clone); it answers `None`
    /// for a missing key and returns what the closure returns.
    fn read_borrows_the_row_without_cloning_it(storage: Storage) {
        let db = Database::new(storage);
        let t: Table<u64, Vec<Counted>> = db.create_table("counted").unwrap();
        let clones = Arc::new(AtomicUsize::new(0));
        let row: Vec<Counted> = (1..=3)
            .map(|value| Counted {
                value,
                clones: Arc::clone(&clones),
            })
            .collect();
        load(&db, &t, [(1, row)]);
        let tx = db.begin();
        let before = clones.load(Ordering::SeqCst);
        let sum = tx
            .read(&t, &1, |r| {
                r.map(|r| r.iter().map(|c| c.value).sum::<i64>())
            })
            .unwrap();
        assert_eq!(sum, Some(6));
        assert!(tx.read(&t, &2, |r| r.is_none()).unwrap());
        assert_eq!(clones.load(Ordering::SeqCst), before, "read cloned the row");
        let got = tx.get(&t, &1).unwrap().unwrap();
        assert_eq!(
            got.iter().map(|c| c.value).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(clones.load(Ordering::SeqCst) > before, "the counter counts");
    }

    /// `read` sees what `get` sees: the snapshot, and own writes.
    fn read_sees_the_snapshot_and_own_writes(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let old = db.begin();
        let mut tx = db.begin();
        tx.modify(&t, &1, |r| r[0] += 1).unwrap();
        tx.insert(&t, 2, account(20)).unwrap();
        assert_eq!(tx.read(&t, &1, |r| r.copied()).unwrap(), Some(account(11)));
        assert_eq!(tx.read(&t, &2, |r| r.copied()).unwrap(), Some(account(20)));
        tx.commit().unwrap();
        assert_eq!(old.read(&t, &1, |r| r.copied()).unwrap(), Some(account(10)));
        assert_eq!(old.read(&t, &2, |r| r.copied()).unwrap(), None);
    }

    /// `Vec` rows whose length changes from version to version: every
    /// snapshot reads its own version, the empty row included.
    fn vec_rows_of_changing_length_keep_every_version(storage: Storage) {
        let db = Database::new(storage);
        let t: Table<u32, Vec<i64>> = db.create_table("v").unwrap();
        load(&db, &t, [(1, vec![1, 2, 3])]);
        let versions: Vec<Vec<i64>> = vec![
            vec![1, 2, 3, 4, 5],
            vec![1, 2],
            vec![],
            vec![9],
            vec![9, 2, 3],
        ];
        let mut readers = vec![(db.begin(), vec![1, 2, 3])];
        for v in &versions {
            let mut tx = db.begin();
            tx.update(&t, &1, v.clone()).unwrap();
            tx.commit().unwrap();
            readers.push((db.begin(), v.clone()));
        }
        let mut tx = db.begin();
        tx.modify(&t, &1, |r| r.push(4)).unwrap();
        tx.commit().unwrap();
        readers.push((db.begin(), vec![9, 2, 3, 4]));
        for (tx, expected) in &readers {
            assert_eq!(tx.get(&t, &1).unwrap().as_ref(), Some(expected));
        }
    }

    /// `Box<[T]>` rows, with heap attributes: updates keep every version.
    fn boxed_slice_rows_keep_every_version(storage: Storage) {
        let db = Database::new(storage);
        let t: Table<u32, Box<[String]>> = db.create_table("b").unwrap();
        let row = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Box<[String]>>();
        load(&db, &t, [(1, row(&["a", "b", "c"]))]);
        let old = db.begin();
        let mut tx = db.begin();
        tx.modify(&t, &1, |r| r[1] = "B".into()).unwrap();
        tx.commit().unwrap();
        let mid = db.begin();
        let mut tx = db.begin();
        tx.update(&t, &1, row(&["x"])).unwrap();
        tx.commit().unwrap();
        assert_eq!(old.get(&t, &1).unwrap(), Some(row(&["a", "b", "c"])));
        assert_eq!(mid.get(&t, &1).unwrap(), Some(row(&["a", "B", "c"])));
        assert_eq!(latest(&db, &t), vec![(1, row(&["x"]))]);
    }

    /// A struct row with a hand-written `Tuple`: updates of one attribute,
    /// of both, and of none keep every version.
    fn hand_written_tuples_keep_every_version(storage: Storage) {
        let db = Database::new(storage);
        let t: Table<u32, Customer> = db.create_table("customers").unwrap();
        load(&db, &t, [(1, customer("ada", 10))]);
        let expected = [
            customer("ada", 10),
            customer("ada", 7),
            customer("ada lovelace", 7),
            customer("ada lovelace", 7),
            customer("countess", 1),
        ];
        let mut readers = vec![db.begin()];
        for row in &expected[1..] {
            let mut tx = db.begin();
            tx.update(&t, &1, row.clone()).unwrap();
            tx.commit().unwrap();
            readers.push(db.begin());
        }
        for (tx, row) in readers.iter().zip(&expected) {
            assert_eq!(tx.get(&t, &1).unwrap().as_ref(), Some(row));
        }
    }

    /// Keys are looked up by a borrowed form: `&str` for `String` keys.
    fn string_keys_are_looked_up_by_str(storage: Storage) {
        let db = Database::new(storage);
        let t: Table<String, [i64; 1]> = db.create_table("s").unwrap();
        let mut tx = db.begin();
        tx.insert(&t, "k".to_string(), [1]).unwrap();
        tx.modify(&t, "k", |r| r[0] += 1).unwrap();
        assert_eq!(tx.get(&t, "k").unwrap(), Some([2]));
        tx.commit().unwrap();
        let mut tx = db.begin();
        assert_eq!(tx.read(&t, "k", |r| r.copied()).unwrap(), Some([2]));
        tx.update(&t, "k", [3]).unwrap();
        tx.delete(&t, "k").unwrap();
        assert_err!(tx.delete(&t, "k"), NotFound);
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![]);
    }
}
