//! The transactional catalog (issue 13): creating and dropping tables are
//! writes of a transaction, visible by snapshot like rows; and the DDL rules
//! of sessions (MatrixOne's: DDL in a transaction takes effect at commit, a
//! DDL statement that would change the transaction's own DML is a
//! `DdlConflict`, DDL with autocommit on runs at once). Every test runs on
//! every store.

#[macro_use]
mod common;

use multiverse::{Database, Durability, Error, Storage, Table};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

type Rows = Table<u64, [i64; 1]>;

for_each_store! {
    /// A table created in a session's transaction exists for that
    /// transaction at once and for nobody else until it commits: another
    /// session cannot open it, list it, or use a handle on it.
    fn ddl_in_a_transaction_takes_effect_at_commit(storage: Storage) {
        let db = Database::new(storage);
        let mut s = db.session();
        let mut other = db.session();
        s.begin().unwrap();
        let t: Rows = s.create_table("u").unwrap();
        s.insert(&t, 1, [1]).unwrap();
        assert_eq!(s.get(&t, &1).unwrap(), Some([1]));
        assert_eq!(s.table::<u64, [i64; 1]>("u").unwrap().name(), "u");
        assert_err!(db.table::<u64, [i64; 1]>("u"), NoSuchTable);
        assert_err!(other.table::<u64, [i64; 1]>("u"), NoSuchTable);
        assert!(db.table_names().is_empty());
        assert_err!(other.get(&t, &1), NoSuchTable);
        assert_err!(other.insert(&t, 2, [2]), NoSuchTable);
        assert_err!(db.snapshot().get(&t, &1), NoSuchTable);
        s.commit().unwrap();
        assert_eq!(db.table_names(), vec!["u".to_string()]);
        let opened: Rows = other.table("u").unwrap();
        assert_eq!(other.get(&opened, &1).unwrap(), Some([1]));
        other.insert(&t, 2, [2]).unwrap();
        assert_eq!(db.snapshot().scan(&t, ..).unwrap().count(), 2);
    }

    /// A rolled-back `create_table` leaves nothing: the name is free, the
    /// handle answers `NoSuchTable`, and the table can be created again.
    /// So does an implicit transaction (autocommit off) that rolls back, and
    /// a session dropped with its transaction open.
    fn a_rolled_back_create_table_leaves_nothing(storage: Storage) {
        let db = Database::new(storage);
        let mut s = db.session();
        s.begin().unwrap();
        let t: Rows = s.create_table("u").unwrap();
        s.insert(&t, 1, [1]).unwrap();
        s.rollback().unwrap();
        assert!(db.table_names().is_empty());
        assert!(t.is_dropped());
        assert_err!(db.begin().get(&t, &1), NoSuchTable);
        assert_err!(s.get(&t, &1), NoSuchTable);

        s.set_autocommit(false).unwrap();
        let t: Rows = s.create_table("u").unwrap();
        s.rollback().unwrap();
        assert_err!(db.table::<u64, [i64; 1]>("u"), NoSuchTable);
        assert!(t.is_dropped());
        let _kept: Rows = s.create_table("u").unwrap();
        drop(s);
        assert!(db.table_names().is_empty(), "dropping the session rolls back");
        let again: Rows = db.create_table("u").unwrap();
        assert_eq!(db.snapshot().scan(&again, ..).unwrap().count(), 0);
    }

    /// Dropping a table the transaction wrote, or read, is a `DdlConflict`:
    /// the statement does nothing, and the rest of the transaction commits
    /// (or rolls back) as usual.
    fn dropping_a_table_the_transaction_used_is_a_ddl_conflict(storage: Storage) {
        let db = Database::new(storage);
        let (a, b): (Rows, Rows) = (db.create_table("a").unwrap(), db.create_table("b").unwrap());
        db.transact(|tx| tx.insert(&b, 1, [1])).unwrap();
        let mut s = db.session();
        s.begin().unwrap();
        s.insert(&a, 1, [10]).unwrap();
        assert_eq!(s.get(&b, &1).unwrap(), Some([1]));
        assert_err!(s.drop_table("a"), DdlConflict);
        assert_err!(s.drop_table("b"), DdlConflict);
        assert!(s.in_transaction(), "the transaction goes on");
        s.insert(&a, 2, [20]).unwrap();
        s.commit().unwrap();
        assert_eq!(db.table_names(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(db.snapshot().scan(&a, ..).unwrap().count(), 2);

        // A table it created and wrote, too; then it rolls back as usual.
        s.begin().unwrap();
        let c: Rows = s.create_table("c").unwrap();
        s.insert(&c, 1, [1]).unwrap();
        match s.drop_table("c") {
            Err(Error::DdlConflict { table, .. }) => assert_eq!(table, "c"),
            other => panic!("{other:?}"),
        }
        s.insert(&a, 3, [30]).unwrap();
        s.rollback().unwrap();
        assert_eq!(db.snapshot().scan(&a, ..).unwrap().count(), 2);
        assert_err!(db.table::<u64, [i64; 1]>("c"), NoSuchTable);

        // A table it did not touch drops, at commit.
        s.begin().unwrap();
        s.insert(&a, 4, [40]).unwrap();
        s.drop_table("b").unwrap();
        assert_err!(s.get(&b, &1), NoSuchTable);
        assert_err!(s.table::<u64, [i64; 1]>("b"), NoSuchTable);
        assert_eq!(db.snapshot().get(&b, &1).unwrap(), Some([1]), "not before commit");
        s.commit().unwrap();
        assert_err!(db.snapshot().get(&b, &1), NoSuchTable);
        assert_eq!(db.table_names(), vec!["a".to_string()]);
    }

    /// With autocommit on and no transaction open, DDL runs at once.
    fn ddl_with_autocommit_on_runs_at_once(storage: Storage) {
        let db = Database::new(storage);
        let mut s = db.session();
        let t: Rows = s.create_table("u").unwrap();
        assert!(s.at_boundary());
        assert_eq!(db.table_names(), vec!["u".to_string()]);
        s.insert(&t, 1, [1]).unwrap();
        s.drop_table("u").unwrap();
        assert!(s.at_boundary());
        assert!(db.table_names().is_empty());
        assert_err!(db.snapshot().get(&t, &1), NoSuchTable);
    }

    /// A transaction (or snapshot) that began before a drop keeps reading
    /// the table as it was; one that begins after gets `NoSuchTable`.
    fn a_transaction_that_began_before_a_drop_keeps_reading_the_table(storage: Storage) {
        let db = Database::new(storage);
        let t: Rows = db.create_table("t").unwrap();
        db.transact(|tx| (0..10).try_for_each(|k| tx.insert(&t, k, [k as i64]))).unwrap();
        let mut reader = db.session();
        reader.begin().unwrap();
        assert_eq!(reader.get(&t, &0).unwrap(), Some([0]));
        let mut dropper = db.session();
        dropper.drop_table("t").unwrap();
        assert!(t.is_dropped());
        assert_eq!(reader.scan(&t, ..).unwrap().len(), 10);
        assert_eq!(reader.get(&t, &9).unwrap(), Some([9]));
        reader.commit().unwrap();
        assert_err!(reader.get(&t, &9), NoSuchTable);
    }

    /// Two concurrent creates of one name: the first to create it holds
    /// the name; the second fails cleanly (`WriteConflict`, its transaction
    /// rolled back, the session at a boundary) and the first commits. Once
    /// it has, a create of the name is `TableExists`.
    fn two_concurrent_creates_of_one_name_one_commits_the_other_fails_cleanly(storage: Storage) {
        let db = Database::new(storage);
        let keep: Rows = db.create_table("keep").unwrap();
        let (mut a, mut b) = (db.session(), db.session());
        a.begin().unwrap();
        b.begin().unwrap();
        b.insert(&keep, 1, [1]).unwrap();
        let ta: Rows = a.create_table("u").unwrap();
        assert_err!(b.create_table::<u64, [i64; 1]>("u"), WriteConflict);
        assert!(b.at_boundary(), "the conflict rolled b back");
        assert_eq!(db.snapshot().get(&keep, &1).unwrap(), None);
        a.insert(&ta, 1, [1]).unwrap();
        a.commit().unwrap();
        assert_err!(b.create_table::<u64, [i64; 1]>("u"), TableExists);
        assert_err!(db.create_table::<u64, [i64; 1]>("u"), TableExists);
        assert_eq!(db.snapshot().get(&ta, &1).unwrap(), Some([1]));
    }

    /// A drop that commits while another transaction writes the table makes
    /// that transaction fail, at its next write of the table or at its
    /// commit, and roll back whole (its writes to other tables too).
    fn a_drop_that_commits_fails_a_transaction_writing_the_table(storage: Storage) {
        let db = Database::new(storage);
        let (t, other): (Rows, Rows) = (db.create_table("t").unwrap(), db.create_table("o").unwrap());
        let mut w = db.session();
        w.begin().unwrap();
        w.insert(&t, 1, [1]).unwrap();
        w.insert(&other, 1, [1]).unwrap();
        let mut d = db.session();
        d.begin().unwrap();
        d.drop_table("t").unwrap();
        w.insert(&t, 2, [2]).unwrap(); // the drop has not committed
        d.commit().unwrap();
        assert_err!(w.insert(&t, 3, [3]), NoSuchTable);
        assert!(w.in_transaction(), "a refused statement leaves the transaction");
        assert_err!(w.commit(), NoSuchTable);
        assert!(w.at_boundary());
        assert_eq!(db.snapshot().get(&other, &1).unwrap(), None, "rolled back whole");
    }

    /// A transaction that creates a table and writes one that a drop took
    /// away meanwhile fails at commit whole: its create is undone too.
    fn a_failed_commit_undoes_the_transactions_create(storage: Storage) {
        let db = Database::new(storage);
        let t: Rows = db.create_table("t").unwrap();
        let mut s = db.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        let u: Rows = s.create_table("u").unwrap();
        s.insert(&u, 1, [1]).unwrap();
        db.drop_table("t").unwrap();
        assert_err!(s.commit(), NoSuchTable);
        assert!(u.is_dropped());
        assert!(db.table_names().is_empty());
        assert_err!(db.table::<u64, [i64; 1]>("u"), NoSuchTable);
        let again: Rows = db.create_table("u").unwrap();
        assert_eq!(db.snapshot().scan(&again, ..).unwrap().count(), 0);
    }

    /// Two sessions drop one table: the second, while the first has not
    /// committed, conflicts; after it has, `NoSuchTable`. A drop that rolls
    /// back leaves the table as it was.
    fn a_drop_conflicts_with_a_drop_and_a_rolled_back_drop_leaves_the_table(storage: Storage) {
        let db = Database::new(storage);
        let t: Rows = db.create_table("t").unwrap();
        db.transact(|tx| tx.insert(&t, 1, [1])).unwrap();
        let (mut a, mut b) = (db.session(), db.session());
        a.begin().unwrap();
        a.drop_table("t").unwrap();
        assert_err!(a.drop_table("t"), NoSuchTable);
        b.begin().unwrap();
        assert_err!(b.drop_table("t"), WriteConflict);
        a.rollback().unwrap();
        assert!(!t.is_dropped());
        db.transact(|tx| tx.insert(&t, 2, [2])).unwrap();
        assert_eq!(db.snapshot().scan(&t, ..).unwrap().count(), 2);
        b.begin().unwrap();
        b.drop_table("t").unwrap();
        b.commit().unwrap();
        assert_err!(db.drop_table("t"), NoSuchTable);
    }

    /// A write conflict rolls the whole transaction back, its catalog
    /// changes with its rows: the table it created is gone, the one it
    /// dropped is back.
    fn a_write_conflict_rolls_back_the_transactions_ddl_too(storage: Storage) {
        let db = Database::new(storage);
        let (t, old): (Rows, Rows) = (db.create_table("t").unwrap(), db.create_table("old").unwrap());
        db.transact(|tx| tx.insert(&t, 1, [0])).unwrap();
        let (mut a, mut b) = (db.session(), db.session());
        a.begin().unwrap();
        b.begin().unwrap();
        let u: Rows = a.create_table("u").unwrap();
        a.drop_table("old").unwrap();
        b.update(&t, &1, [2]).unwrap();
        assert_err!(a.update(&t, &1, [1]), WriteConflict);
        assert!(a.at_boundary());
        assert!(u.is_dropped());
        assert!(!old.is_dropped());
        assert_eq!(db.table_names(), vec!["old".to_string(), "t".to_string()]);
        b.commit().unwrap();
        a.drop_table("old").unwrap();
        assert_eq!(db.table_names(), vec!["t".to_string()]);
    }

    /// Creating a table in a transaction and dropping it in the same one
    /// undoes the create; the name is free again within the transaction.
    fn a_table_created_and_dropped_in_one_transaction_never_exists(storage: Storage) {
        let db = Database::new(storage);
        let mut s = db.session();
        s.begin().unwrap();
        let t: Rows = s.create_table("u").unwrap();
        s.drop_table("u").unwrap();
        assert!(t.is_dropped());
        let u: Rows = s.create_table("u").unwrap();
        s.insert(&u, 1, [1]).unwrap();
        s.commit().unwrap();
        assert_eq!(db.snapshot().get(&u, &1).unwrap(), Some([1]));
        assert_err!(db.snapshot().get(&t, &1), NoSuchTable);
    }

    /// C1 under load: writers commit to a table while it is dropped. Every
    /// write that committed is in the table as the last snapshot before the
    /// drop sees it; every write that failed is nowhere. (A write that
    /// committed after the drop would be acknowledged and invisible.)
    fn no_write_of_a_table_commits_after_its_drop(storage: Storage) {
        for round in 0..20u64 {
            // History kept, so that every commit's snapshot can be read.
            let db = Database::builder().storage(storage).retain(Duration::from_secs(600)).build();
            let t: Rows = db.create_table("t").unwrap();
            let threads = 2;
            let barrier = Arc::new(Barrier::new(threads + 1));
            let commits = Arc::new(AtomicU64::new(0));
            let writers: Vec<_> = (0..threads as u64)
                .map(|w| {
                    let (db, t, barrier) = (db.clone(), t.clone(), Arc::clone(&barrier));
                    let commits = Arc::clone(&commits);
                    std::thread::spawn(move || {
                        barrier.wait();
                        let mut acknowledged = Vec::new();
                        for i in 0..2_000u64 {
                            let key = w << 32 | i;
                            let mut tx = db.begin();
                            if tx.insert(&t, key, [1]).is_err() {
                                break;
                            }
                            match tx.commit() {
                                Ok(ts) => {
                                    acknowledged.push((key, ts));
                                    commits.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(Error::NoSuchTable { .. }) => break,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        acknowledged
                    })
                })
                .collect();
            barrier.wait();
            // Drop while the writers are at it.
            while commits.load(Ordering::Relaxed) < 50 + round * 20 {
                std::thread::yield_now();
            }
            db.drop_table("t").unwrap();
            let acknowledged: Vec<_> = writers.into_iter().flat_map(|h| h.join().unwrap()).collect();
            // An acknowledged write is seen at its own timestamp: the table
            // was not dropped yet there.
            for (key, ts) in &acknowledged {
                let at = db.snapshot_at(*ts).unwrap();
                assert_eq!(at.get(&t, key).unwrap(), Some([1]), "round {round}: key {key}");
            }
            // A failed write is nowhere: the newest acknowledged commit sees
            // exactly the acknowledged rows.
            if let Some((_, newest)) = acknowledged.iter().max_by_key(|(_, ts)| *ts) {
                let rows = db.snapshot_at(*newest).unwrap().scan(&t, ..).unwrap().collect::<Vec<_>>();
                assert_eq!(rows.len(), acknowledged.len(), "round {round}");
            }
            assert_err!(db.snapshot().get(&t, &0), NoSuchTable);
        }
    }

    /// The catalog changes of a durable database's transaction are in its
    /// one redo record: a create and the rows written to it come back
    /// together, a rolled-back create leaves nothing, and a drop in a
    /// transaction is recovered.
    fn transactional_ddl_is_recovered_with_its_transaction(storage: Storage) {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::builder().storage(storage).durability(Durability::Sync).open(dir.path()).unwrap();
            let gone: Rows = db.create_table("gone").unwrap();
            db.transact(|tx| tx.insert(&gone, 1, [1])).unwrap();
            let mut s = db.session();
            s.begin().unwrap();
            let u: Rows = s.create_table("u").unwrap();
            s.insert(&u, 1, [11]).unwrap();
            s.drop_table("gone").unwrap();
            s.commit().unwrap();
            s.begin().unwrap();
            let never: Rows = s.create_table("never").unwrap();
            s.insert(&never, 1, [1]).unwrap();
            s.rollback().unwrap();
            s.create_table::<u64, [i64; 1]>("empty").unwrap();
        }
        let db = Database::builder().storage(storage).open(dir.path()).unwrap();
        assert_eq!(db.table_names(), vec!["empty".to_string(), "u".to_string()]);
        let u: Rows = db.table("u").unwrap();
        assert_eq!(db.snapshot().scan(&u, ..).unwrap().collect::<Vec<_>>(), vec![(1, [11])]);
        // And after a checkpoint.
        db.checkpoint().unwrap();
        drop(u);
        drop(db);
        let db = Database::builder().storage(storage).open(dir.path()).unwrap();
        assert_eq!(db.table_names(), vec!["empty".to_string(), "u".to_string()]);
    }
}
