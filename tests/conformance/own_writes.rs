//! A transaction reads its snapshot plus its own writes: with `get`, `read`
//! and `scan`, after every kind of write, and nobody else sees them before
//! it commits.

use crate::common::*;
use multiverse::Storage;

for_each_store! {
    /// `get` answers with the transaction's own insert, update, modify and
    /// delete, each at once.
    fn get_reads_own_insert_update_modify_and_delete(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut tx = db.begin();
        assert_eq!(tx.get(&t, &1).unwrap(), None);
        tx.insert(&t, 1, [100, 1, 2, 3]).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), Some([100, 1, 2, 3]));
        tx.update(&t, &1, [90, 1, 2, 3]).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), Some([90, 1, 2, 3]));
        tx.modify(&t, &1, |r| r[3] = 30).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), Some([90, 1, 2, 30]));
        tx.delete(&t, &1).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), None);
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![]);
    }

    /// Own writes over committed rows: updates, modifies and deletes of rows
    /// the snapshot holds are read back by `get`, `read` and `scan`.
    fn own_writes_over_committed_rows_are_read_back(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
        let mut tx = db.begin();
        tx.update(&t, &1, account(11)).unwrap();
        tx.modify(&t, &2, |r| r[0] += 2).unwrap();
        tx.delete(&t, &3).unwrap();
        tx.insert(&t, 4, account(40)).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), Some(account(11)));
        assert_eq!(tx.get(&t, &2).unwrap(), Some(account(22)));
        assert_eq!(tx.get(&t, &3).unwrap(), None);
        assert_eq!(tx.read(&t, &2, |r| r.map(|r| r[0])).unwrap(), Some(22));
        assert!(!tx.read(&t, &3, |r| r.is_some()).unwrap());
        assert_eq!(
            rows(&tx, &t),
            vec![(1, account(11)), (2, account(22)), (4, account(40))]
        );
        tx.commit().unwrap();
        assert_eq!(
            latest(&db, &t),
            vec![(1, account(11)), (2, account(22)), (4, account(40))]
        );
    }

    /// Until commit, nobody else sees a transaction's writes: neither a
    /// transaction that began before them nor one that began after.
    fn own_writes_are_invisible_to_others_until_commit(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        let before = db.begin();
        let mut tx = db.begin();
        tx.update(&t, &1, account(11)).unwrap();
        tx.delete(&t, &2).unwrap();
        tx.insert(&t, 3, account(30)).unwrap();
        let after = db.begin();
        for other in [&before, &after] {
            assert_eq!(other.get(&t, &1).unwrap(), Some(account(10)));
            assert_eq!(other.get(&t, &2).unwrap(), Some(account(20)));
            assert_eq!(other.get(&t, &3).unwrap(), None);
            assert_eq!(rows(other, &t), vec![(1, account(10)), (2, account(20))]);
        }
        tx.commit().unwrap();
        assert_eq!(rows(&after, &t), vec![(1, account(10)), (2, account(20))]);
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (3, account(30))]);
    }

    /// Many writes to one key in one transaction: each read answers with the
    /// last, others keep the committed row, and commit keeps only the last.
    fn repeated_writes_to_one_key_keep_the_last(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 0)]);
        let old = db.begin();
        let mut tx = db.begin();
        for i in 1..=20 {
            tx.update(&t, &1, [i, i % 3, 7, -i]).unwrap();
            tx.modify(&t, &1, |r| r[2] += 1).unwrap();
            assert_eq!(tx.get(&t, &1).unwrap(), Some([i, i % 3, 8, -i]));
            assert_eq!(old.get(&t, &1).unwrap(), Some(account(0)));
        }
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, [20, 2, 8, -20])]);
        assert_eq!(
            old.get(&t, &1).unwrap(),
            Some(account(0)),
            "the old snapshot holds"
        );
        // And the row takes further writes from later transactions.
        let mut tx = db.begin();
        tx.modify(&t, &1, |r| r[0] += 1).unwrap();
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, [21, 2, 8, -20])]);
    }

    /// Deleting a committed row and inserting its key again, in one
    /// transaction, replaces the row; others see the old row until commit.
    fn delete_then_insert_in_one_transaction_replaces_the_row(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let old = db.begin();
        let mut tx = db.begin();
        tx.delete(&t, &1).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), None);
        assert_eq!(rows(&tx, &t), vec![]);
        tx.insert(&t, 1, account(11)).unwrap();
        assert_eq!(tx.get(&t, &1).unwrap(), Some(account(11)));
        tx.delete(&t, &1).unwrap();
        tx.insert(&t, 1, account(12)).unwrap();
        assert_eq!(rows(&tx, &t), vec![(1, account(12))]);
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some(account(10)));
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(12))]);
        assert_eq!(old.get(&t, &1).unwrap(), Some(account(10)));
    }

    /// Inserting a new key and deleting it in one transaction leaves nothing
    /// behind, and the key can be inserted afresh later.
    fn insert_then_delete_in_one_transaction_leaves_nothing(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut tx = db.begin();
        tx.insert(&t, 2, account(20)).unwrap();
        tx.delete(&t, &2).unwrap();
        assert_eq!(tx.get(&t, &2).unwrap(), None);
        assert_err!(tx.delete(&t, &2), NotFound);
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);
        let mut tx = db.begin();
        tx.insert(&t, 2, account(21)).unwrap();
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(10)), (2, account(21))]);
    }

    /// One transaction writing two tables reads its own writes in both, and
    /// commits both.
    fn own_writes_span_tables(storage: Storage) {
        let (db, a) = accounts(storage);
        let b: Accounts = db.create_table("b").unwrap();
        let mut tx = db.begin();
        tx.insert(&a, 1, account(1)).unwrap();
        tx.insert(&b, 1, account(2)).unwrap();
        assert_eq!(tx.get(&a, &1).unwrap(), Some(account(1)));
        assert_eq!(tx.get(&b, &1).unwrap(), Some(account(2)));
        tx.commit().unwrap();
        assert_eq!(latest(&db, &a), vec![(1, account(1))]);
        assert_eq!(latest(&db, &b), vec![(1, account(2))]);
    }
}
