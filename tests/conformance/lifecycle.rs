//! A transaction's end: commit and its timestamp, rollback and drop; the
//! answers that are not failures; rows deleted and inserted again across
//! transactions.

use crate::common::*;
use multiverse::Storage;
use std::panic::{catch_unwind, AssertUnwindSafe};

for_each_store! {
    /// Commit timestamps increase in commit order (not begin order), and a
    /// transaction that begins after a commit has a snapshot at or above it.
    fn commit_returns_increasing_timestamps(storage: Storage) {
        let (db, t) = accounts(storage);
        let other: Accounts = db.create_table("other").unwrap();
        let mut last = db.begin().snapshot();
        for k in 0..10 {
            let mut tx = db.begin();
            tx.insert(if k % 2 == 0 { &t } else { &other }, k, account(0))
                .unwrap();
            let ts = tx.commit().unwrap();
            assert!(ts > last, "{ts:?} after {last:?}");
            assert!(db.begin().snapshot() >= ts);
            last = ts;
        }
        // Begun in one order, committed in the other.
        let mut first = db.begin();
        let mut second = db.begin();
        first.insert(&t, 100, account(0)).unwrap();
        second.insert(&t, 101, account(0)).unwrap();
        let ts_second = second.commit().unwrap();
        let ts_first = first.commit().unwrap();
        assert!(last < ts_second && ts_second < ts_first);
        // A transaction that wrote nothing commits too, and takes no
        // timestamp beyond what it saw.
        let ro = db.begin();
        assert_eq!(rows(&ro, &t).len(), 7);
        let ts_ro = ro.commit().unwrap();
        assert!(ts_ro >= ts_first);
        let mut w = db.begin();
        w.insert(&t, 102, account(0)).unwrap();
        assert!(w.commit().unwrap() > ts_ro);
    }

    /// `rollback` discards every write (inserts, updates, modifies,
    /// deletes, in several tables), and leaves no claim behind.
    fn rollback_discards_every_write(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
        let u: Accounts = db.create_table("u").unwrap();
        let before = latest(&db, &t);
        let mut tx = db.begin();
        tx.update(&t, &1, account(11)).unwrap();
        tx.modify(&t, &2, |r| r[1] = 1).unwrap();
        tx.delete(&t, &3).unwrap();
        tx.insert(&t, 4, account(40)).unwrap();
        tx.insert(&u, 1, account(1)).unwrap();
        tx.rollback();
        assert_eq!(latest(&db, &t), before);
        assert_eq!(latest(&db, &u), vec![]);
        // No claim is left behind: every key takes writes again.
        let mut tx = db.begin();
        tx.update(&t, &1, account(12)).unwrap();
        tx.modify(&t, &2, |r| r[1] = 2).unwrap();
        tx.delete(&t, &3).unwrap();
        tx.insert(&t, 4, account(41)).unwrap();
        tx.insert(&u, 1, account(2)).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            latest(&db, &t),
            vec![(1, account(12)), (2, [20, 2, 0, 0]), (4, account(41))]
        );
        assert_eq!(latest(&db, &u), vec![(1, account(2))]);
    }

    /// Dropping an uncommitted transaction rolls it back, with no claim
    /// left behind.
    fn dropping_an_uncommitted_transaction_discards_its_writes(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        {
            let mut tx = db.begin();
            tx.update(&t, &1, account(11)).unwrap();
            tx.delete(&t, &2).unwrap();
            tx.insert(&t, 3, account(30)).unwrap();
        }
        assert_eq!(latest(&db, &t), vec![(1, account(10)), (2, account(20))]);
        let mut tx = db.begin();
        tx.update(&t, &1, account(12)).unwrap();
        tx.delete(&t, &2).unwrap();
        tx.insert(&t, 3, account(31)).unwrap();
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(12)), (3, account(31))]);
    }

    /// Rolling back many writes to one key restores the committed row, for
    /// readers old and new.
    fn rollback_of_repeated_writes_restores_the_committed_row(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let old = db.begin();
        let mut tx = db.begin();
        for i in 0..10 {
            tx.modify(&t, &1, |r| r[i % 4] += 1).unwrap();
        }
        tx.delete(&t, &1).unwrap();
        tx.insert(&t, 1, account(-1)).unwrap();
        tx.rollback();
        assert_eq!(old.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);
    }

    /// `NotFound` and `DuplicateKey` are answers: the transaction goes on,
    /// keeps its earlier writes, and commits.
    fn not_found_and_duplicate_key_are_answers_not_failures(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut tx = db.begin();
        tx.insert(&t, 2, account(20)).unwrap();
        assert_err!(tx.insert(&t, 1, account(0)), DuplicateKey);
        assert_err!(tx.insert(&t, 2, account(0)), DuplicateKey, "own insert");
        assert_err!(tx.update(&t, &3, account(0)), NotFound);
        assert_err!(tx.modify(&t, &3, |r| r[0] = 0), NotFound);
        assert_err!(tx.delete(&t, &3), NotFound);
        tx.delete(&t, &1).unwrap();
        assert_err!(tx.update(&t, &1, account(0)), NotFound, "own delete");
        assert_err!(tx.modify(&t, &1, |r| r[0] = 0), NotFound, "own delete");
        assert_err!(tx.delete(&t, &1), NotFound, "own delete");
        assert!(tx.is_active());
        assert_eq!(rows(&tx, &t), vec![(2, account(20))]);
        tx.insert(&t, 3, account(30)).unwrap();
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(2, account(20)), (3, account(30))]);
    }

    /// A row deleted by one transaction can be inserted again by a later
    /// one; each snapshot sees the row, no row, or the new row.
    fn delete_then_insert_across_transactions(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let with_old = db.begin();
        let mut tx = db.begin();
        tx.delete(&t, &1).unwrap();
        tx.commit().unwrap();
        let without = db.begin();
        let mut tx = db.begin();
        assert_err!(tx.update(&t, &1, account(0)), NotFound);
        tx.insert(&t, 1, account(11)).unwrap();
        tx.commit().unwrap();
        assert_eq!(with_old.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(without.get(&t, &1).unwrap(), None);
        assert_eq!(latest(&db, &t), vec![(1, account(11))]);
        // And round again.
        for v in 12..16 {
            let mut tx = db.begin();
            tx.delete(&t, &1).unwrap();
            tx.commit().unwrap();
            let mut tx = db.begin();
            tx.insert(&t, 1, account(v)).unwrap();
            tx.commit().unwrap();
            assert_eq!(latest(&db, &t), vec![(1, account(v))]);
        }
        assert_eq!(with_old.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(without.get(&t, &1).unwrap(), None);
    }

    /// An insert over a row deleted long ago works whether or not the
    /// garbage collector has since removed the deleted row, and a snapshot
    /// taken between the delete and the insert keeps seeing no row.
    fn insert_over_a_deleted_row(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        let mut tx = db.begin();
        tx.delete(&t, &1).unwrap();
        tx.delete(&t, &2).unwrap();
        tx.commit().unwrap();
        // Key 1 is inserted over the deleted row as it is; key 2 after a
        // vacuum, which may take the deleted row out of the index.
        let mut tx = db.begin();
        tx.insert(&t, 1, account(11)).unwrap();
        tx.commit().unwrap();
        let between = db.begin();
        db.vacuum();
        assert_eq!(between.get(&t, &2).unwrap(), None);
        let mut tx = db.begin();
        assert_eq!(tx.get(&t, &2).unwrap(), None);
        tx.insert(&t, 2, account(21)).unwrap();
        tx.commit().unwrap();
        assert_eq!(between.get(&t, &2).unwrap(), None);
        assert_eq!(rows(&between, &t), vec![(1, account(11))]);
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(21))]);
        db.vacuum();
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(21))]);
    }

    /// A `modify` whose closure panics leaves no claim behind: once the
    /// transaction is dropped, the row is as committed and takes writes.
    fn a_panicking_modify_closure_leaves_the_row_writable(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        let mut tx = db.begin();
        tx.update(&t, &2, account(21)).unwrap();
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let _ = tx.modify(&t, &1, |_| panic!("a panic in user code"));
        }));
        assert!(panicked.is_err());
        drop(tx);
        assert_eq!(latest(&db, &t), vec![(1, account(10)), (2, account(20))]);
        let mut tx = db.begin();
        tx.update(&t, &1, account(11)).unwrap();
        tx.update(&t, &2, account(22)).unwrap();
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(22))]);
    }
}

for_each_store! {
    /// A forgotten transaction (`mem::forget`) leaks, as documented, and
    /// breaks nothing else: its claimed key conflicts for ever, every other
    /// key takes writes, commits go on, and its snapshot holds garbage
    /// collection back.
    fn a_forgotten_transaction_leaks_its_claims_and_nothing_else(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut tx = db.begin();
        tx.insert(&t, 1, account(1)).unwrap();
        tx.commit().unwrap();
        let mut forgotten = db.begin();
        forgotten.modify(&t, &1, |r| r[0] += 1).unwrap();
        std::mem::forget(forgotten);
        for i in 0..100 {
            let mut tx = db.begin();
            tx.insert(&t, 100 + i, account(0)).unwrap();
            tx.commit().unwrap();
            let mut tx = db.begin();
            tx.modify(&t, &(100 + i), |r| r[0] += 1).unwrap();
            tx.commit().unwrap();
        }
        let mut tx = db.begin();
        assert!(matches!(
            tx.modify(&t, &1, |r| r[0] += 1),
            Err(multiverse::Error::WriteConflict)
        ));
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some(account(1)));
        // Its snapshot holds the watermark below every commit made since.
        db.vacuum();
        let gc = db.stats().gc;
        assert!(gc.watermark < gc.snapshot, "{gc:?}");
    }
}
