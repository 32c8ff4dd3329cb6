//! The behaviours of the API contract (shared/API.md) on every store: own
//! writes, snapshots, first updater wins, rollback, and every error variant.

use multiverse::{Database, Error, Storage, Table, Transaction};

fn each(f: fn(Storage)) {
    for s in Storage::ALL {
        f(s);
    }
}

type T = Table<u64, [i64; 4]>;

fn accounts(storage: Storage) -> (Database, T) {
    let db = Database::new(storage);
    let t = db.create_table("accounts").unwrap();
    (db, t)
}

#[test]
fn handles_are_cheap_clone_send_sync() {
    fn check<X: Clone + Send + Sync + 'static>() {}
    check::<Database>();
    check::<T>();
    fn send<X: Send>() {}
    send::<Transaction>();
    let all = Storage::ALL;
    for (i, a) in all.iter().enumerate() {
        assert!(
            all[i + 1..].iter().all(|b| a != b),
            "Storage::ALL lists each store once"
        );
    }
}

#[test]
fn a_transaction_reads_its_own_writes() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut tx = db.begin();
        tx.insert(&t, 1, [100, 0, 0, 0]).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), Some([100, 0, 0, 0]), "{s}");
        tx.modify(&t, &1, |r| r[0] -= 10).unwrap();
        tx.update(&t, &1, [80, 1, 0, 0]).unwrap();
        tx.insert(&t, 2, [5; 4]).unwrap();
        tx.delete(&t, &2).unwrap();
        assert_eq!(
            tx.scan(&t, ..).unwrap().collect::<Vec<_>>(),
            vec![(1, [80, 1, 0, 0])],
            "{s}"
        );
        assert_eq!(
            tx.read(&t, &1, |r| r.map(|r| r[0])).unwrap(),
            Some(80),
            "{s}"
        );
        assert_eq!(
            db.begin().get(&t, &1).unwrap(),
            None,
            "{s}: invisible to others until commit"
        );
        let ts = tx.commit().unwrap();
        let after = db.begin();
        assert!(after.snapshot() >= ts, "{s}: begin after commit sees it");
        assert_eq!(after.get(&t, &1).unwrap(), Some([80, 1, 0, 0]), "{s}");
        assert_eq!(after.get(&t, &2).unwrap(), None, "{s}");
    });
}

#[test]
fn reads_are_stable_within_a_snapshot() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut tx = db.begin();
        for k in 0..10 {
            tx.insert(&t, k, [k as i64; 4]).unwrap();
        }
        tx.commit().unwrap();
        let reader = db.begin();
        let first: Vec<_> = reader.scan(&t, 2..8).unwrap().collect();
        let mut w = db.begin();
        w.update(&t, &3, [-1; 4]).unwrap();
        w.delete(&t, &4).unwrap();
        w.insert(&t, 20, [20; 4]).unwrap();
        w.commit().unwrap();
        assert_eq!(
            reader.scan(&t, 2..8).unwrap().collect::<Vec<_>>(),
            first,
            "{s}"
        );
        assert_eq!(reader.get(&t, &3).unwrap(), Some([3; 4]), "{s}");
        assert_eq!(reader.scan(&t, ..).unwrap().count(), 10, "{s}");
    });
}

#[test]
fn scans_take_any_range_in_key_order() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut tx = db.begin();
        for k in [5, 1, 9, 3, 7] {
            tx.insert(&t, k, [k as i64; 4]).unwrap();
        }
        tx.commit().unwrap();
        let tx = db.begin();
        let keys = |v: Vec<(u64, [i64; 4])>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(tx.scan(&t, ..).unwrap().collect()),
            vec![1, 3, 5, 7, 9]
        );
        assert_eq!(keys(tx.scan(&t, 3..7).unwrap().collect()), vec![3, 5]);
        assert_eq!(keys(tx.scan(&t, 3..=7).unwrap().collect()), vec![3, 5, 7]);
        assert_eq!(
            keys(tx.scan(&t, 4..4).unwrap().collect()),
            Vec::<u64>::new()
        );
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = tx.scan(&t, 8..2).unwrap().count();
        assert_eq!(reversed, 0, "{s}: a reversed range is empty, not a panic");
    });
}

#[test]
fn first_updater_wins_and_the_loser_is_aborted() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut tx = db.begin();
        tx.insert(&t, 1, [0; 4]).unwrap();
        tx.insert(&t, 2, [0; 4]).unwrap();
        tx.commit().unwrap();
        let mut a = db.begin();
        let mut b = db.begin();
        b.update(&t, &2, [9; 4]).unwrap();
        a.modify(&t, &1, |r| r[0] = 1).unwrap();
        assert_eq!(b.delete(&t, &1), Err(Error::WriteConflict), "{s}");
        assert!(!b.is_active());
        assert_eq!(b.get(&t, &2), Err(Error::Aborted), "{s}");
        assert_eq!(b.insert(&t, 3, [0; 4]), Err(Error::Aborted), "{s}");
        assert_eq!(b.commit(), Err(Error::Aborted), "{s}");
        a.commit().unwrap();
        assert_eq!(
            db.begin().get(&t, &2).unwrap(),
            Some([0; 4]),
            "{s}: nothing of b is visible"
        );
        // A write to a row committed after the snapshot conflicts too.
        let mut late = db.begin();
        let mut c = db.begin();
        c.update(&t, &2, [5; 4]).unwrap();
        c.commit().unwrap();
        assert_eq!(
            late.update(&t, &2, [6; 4]),
            Err(Error::WriteConflict),
            "{s}"
        );
    });
}

#[test]
fn concurrent_inserts_of_one_key_commit_at_most_once() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut a = db.begin();
        let mut b = db.begin();
        a.insert(&t, 7, [1; 4]).unwrap();
        assert_eq!(b.insert(&t, 7, [2; 4]), Err(Error::WriteConflict), "{s}");
        a.commit().unwrap();
        let mut c = db.begin();
        assert_eq!(c.insert(&t, 7, [3; 4]), Err(Error::DuplicateKey), "{s}");
        assert_eq!(c.update(&t, &8, [3; 4]), Err(Error::NotFound), "{s}");
        assert_eq!(c.delete(&t, &8), Err(Error::NotFound), "{s}");
        assert_eq!(c.modify(&t, &8, |r| r[0] = 1), Err(Error::NotFound), "{s}");
        // Answers, not failures: the transaction goes on.
        c.insert(&t, 8, [8; 4]).unwrap();
        c.commit().unwrap();
        assert_eq!(db.begin().scan(&t, ..).unwrap().count(), 2, "{s}");
    });
}

#[test]
fn delete_then_insert_in_one_and_in_two_transactions() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut tx = db.begin();
        tx.insert(&t, 1, [1; 4]).unwrap();
        tx.commit().unwrap();
        let mut tx = db.begin();
        tx.delete(&t, &1).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), None);
        tx.insert(&t, 1, [2; 4]).unwrap();
        tx.commit().unwrap();
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some([2; 4]), "{s}");
        let mut tx = db.begin();
        tx.delete(&t, &1).unwrap();
        tx.commit().unwrap();
        let mut tx = db.begin();
        tx.insert(&t, 1, [3; 4]).unwrap();
        tx.commit().unwrap();
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some([3; 4]), "{s}");
    });
}

#[test]
fn rollback_and_drop_discard_every_write() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut tx = db.begin();
        tx.insert(&t, 1, [1; 4]).unwrap();
        tx.commit().unwrap();
        let mut tx = db.begin();
        tx.update(&t, &1, [2; 4]).unwrap();
        tx.insert(&t, 2, [2; 4]).unwrap();
        tx.rollback();
        {
            let mut tx = db.begin();
            tx.delete(&t, &1).unwrap();
            tx.insert(&t, 3, [3; 4]).unwrap();
        }
        assert_eq!(
            db.begin().scan(&t, ..).unwrap().collect::<Vec<_>>(),
            vec![(1, [1; 4])],
            "{s}"
        );
        // The rows are writable again: no claim was left behind.
        let mut tx = db.begin();
        tx.update(&t, &1, [4; 4]).unwrap();
        tx.insert(&t, 2, [4; 4]).unwrap();
        tx.commit().unwrap();
    });
}

#[test]
fn catalog_errors_are_clear() {
    let db = Database::new(Storage::default());
    let _t: T = db.create_table("a").unwrap();
    assert_eq!(
        db.create_table::<u64, [i64; 4]>("a").unwrap_err(),
        Error::TableExists
    );
    assert_eq!(
        db.table::<u64, [i64; 4]>("b").unwrap_err(),
        Error::NoSuchTable
    );
    assert_eq!(
        db.table::<u32, [i64; 4]>("a").unwrap_err(),
        Error::SchemaMismatch
    );
    assert_eq!(
        db.table::<u64, Vec<i64>>("a").unwrap_err(),
        Error::SchemaMismatch
    );
    assert!(db.table::<u64, [i64; 4]>("a").is_ok());
    let other = Database::new(Storage::default());
    let foreign: T = other.create_table("a").unwrap();
    let mut tx = db.begin();
    assert_eq!(tx.get(&foreign, &1), Err(Error::ForeignTable));
    assert_eq!(tx.insert(&foreign, 1, [0; 4]), Err(Error::ForeignTable));
    let e: Box<dyn std::error::Error> = Box::new(Error::WriteConflict);
    assert!(e.to_string().contains("conflict"));
}

#[test]
fn vec_and_boxed_slice_rows_work_on_every_store() {
    each(|s| {
        let db = Database::new(s);
        let v: Table<String, Vec<u8>> = db.create_table("v").unwrap();
        let b: Table<u32, Box<[u16]>> = db.create_table("b").unwrap();
        let mut tx = db.begin();
        tx.insert(&v, "k".to_string(), vec![1, 2, 3]).unwrap();
        tx.insert(&b, 1, vec![7u16; 3].into()).unwrap();
        tx.commit().unwrap();
        let old = db.begin();
        let mut tx = db.begin();
        tx.modify(&v, "k", |r| r.push(4)).unwrap();
        tx.modify(&b, &1, |r| r[0] = 8).unwrap();
        tx.commit().unwrap();
        assert_eq!(old.get(&v, "k").unwrap(), Some(vec![1, 2, 3]), "{s}");
        assert_eq!(
            db.begin().get(&v, "k").unwrap(),
            Some(vec![1, 2, 3, 4]),
            "{s}"
        );
        assert_eq!(
            old.get(&b, &1).unwrap().as_deref(),
            Some(&[7u16, 7, 7][..]),
            "{s}"
        );
    });
}

#[test]
fn commit_timestamps_increase() {
    each(|s| {
        let (db, t) = accounts(s);
        let mut last = db.begin().snapshot();
        for k in 0..5 {
            let mut tx = db.begin();
            tx.insert(&t, k, [0; 4]).unwrap();
            let ts = tx.commit().unwrap();
            assert!(ts > last, "{s}");
            last = ts;
        }
    });
}
