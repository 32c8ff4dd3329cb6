//! Scans take any `RangeBounds` and answer in key order, over the snapshot
//! plus the transaction's own writes; empty and reversed ranges are empty.

use crate::common::*;
use multiverse::{Database, Storage, Table};
use std::ops::Bound;

/// A table holding the keys 1, 3, 5, 7, 9 (inserted out of order), each
/// row's balance its key.
fn odd_keys(storage: Storage) -> (Database, Accounts) {
    let (db, t) = accounts(storage);
    load(&db, &t, [5, 1, 9, 3, 7].map(|k| (k, account(k as i64))));
    (db, t)
}

for_each_store! {
    /// Every form of range answers the keys in it, in key order.
    fn scans_take_every_form_of_range(storage: Storage) {
        let (db, t) = odd_keys(storage);
        let tx = db.begin();
        let scan = |r: (Bound<u64>, Bound<u64>)| keys(&tx.scan(&t, r).unwrap().collect::<Vec<_>>());
        assert_eq!(
            keys(&tx.scan(&t, ..).unwrap().collect::<Vec<_>>()),
            vec![1, 3, 5, 7, 9]
        );
        assert_eq!(
            keys(&tx.scan(&t, 3..7).unwrap().collect::<Vec<_>>()),
            vec![3, 5]
        );
        assert_eq!(
            keys(&tx.scan(&t, 3..=7).unwrap().collect::<Vec<_>>()),
            vec![3, 5, 7]
        );
        assert_eq!(
            keys(&tx.scan(&t, 2..8).unwrap().collect::<Vec<_>>()),
            vec![3, 5, 7]
        );
        assert_eq!(
            keys(&tx.scan(&t, 4..).unwrap().collect::<Vec<_>>()),
            vec![5, 7, 9]
        );
        assert_eq!(
            keys(&tx.scan(&t, ..5).unwrap().collect::<Vec<_>>()),
            vec![1, 3]
        );
        assert_eq!(
            keys(&tx.scan(&t, ..=5).unwrap().collect::<Vec<_>>()),
            vec![1, 3, 5]
        );
        assert_eq!(scan((Bound::Excluded(3), Bound::Included(7))), vec![5, 7]);
        assert_eq!(scan((Bound::Excluded(3), Bound::Excluded(9))), vec![5, 7]);
        assert_eq!(
            scan((Bound::Excluded(0), Bound::Unbounded)),
            vec![1, 3, 5, 7, 9]
        );
        assert_eq!(
            scan((Bound::Excluded(9), Bound::Unbounded)),
            Vec::<u64>::new()
        );
        assert_eq!(
            tx.scan(&t, 3..=5).unwrap().collect::<Vec<_>>(),
            vec![(3, account(3)), (5, account(5))]
        );
    }

    /// Empty and reversed ranges, and ranges past every key, answer no rows
    /// (and do not panic); so does any scan of an empty table.
    #[allow(clippy::reversed_empty_ranges)]
    fn empty_and_reversed_ranges_are_empty(storage: Storage) {
        let (db, t) = odd_keys(storage);
        let tx = db.begin();
        assert_eq!(tx.scan(&t, 5..5).unwrap().count(), 0);
        assert_eq!(tx.scan(&t, 4..5).unwrap().count(), 0);
        assert_eq!(tx.scan(&t, 8..2).unwrap().count(), 0);
        assert_eq!(tx.scan(&t, 8..=2).unwrap().count(), 0);
        assert_eq!(tx.scan(&t, 6..=5).unwrap().count(), 0);
        assert_eq!(
            tx.scan(&t, (Bound::Excluded(5), Bound::Excluded(5)))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            tx.scan(&t, (Bound::Excluded(5), Bound::Included(5)))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(tx.scan(&t, 10..).unwrap().count(), 0);
        assert_eq!(tx.scan(&t, ..1).unwrap().count(), 0);
        assert_eq!(tx.scan(&t, u64::MAX..=u64::MAX).unwrap().count(), 0);
        let empty: Accounts = db.create_table("empty").unwrap();
        assert_eq!(tx.scan(&empty, ..).unwrap().count(), 0);
        assert_eq!(tx.scan(&empty, 9..1).unwrap().count(), 0);
    }

    /// Scans see the transaction's own inserts, updates and deletes, in key
    /// order among the committed rows, and nothing of another's.
    fn scans_see_own_inserts_updates_and_deletes(storage: Storage) {
        let (db, t) = odd_keys(storage);
        let mut other = db.begin();
        other.insert(&t, 4, account(-4)).unwrap();
        other.delete(&t, &5).unwrap();
        let mut tx = db.begin();
        tx.insert(&t, 6, account(6)).unwrap();
        tx.insert(&t, 0, account(0)).unwrap();
        tx.insert(&t, 10, account(10)).unwrap();
        tx.delete(&t, &3).unwrap();
        tx.update(&t, &7, account(70)).unwrap();
        assert_eq!(
            rows(&tx, &t),
            vec![
                (0, account(0)),
                (1, account(1)),
                (5, account(5)),
                (6, account(6)),
                (7, account(70)),
                (9, account(9)),
                (10, account(10)),
            ]
        );
        assert_eq!(
            keys(&tx.scan(&t, 2..=7).unwrap().collect::<Vec<_>>()),
            vec![5, 6, 7]
        );
        assert_eq!(
            keys(&tx.scan(&t, 3..4).unwrap().collect::<Vec<_>>()),
            Vec::<u64>::new()
        );
        assert_eq!(keys(&rows(&other, &t)), vec![1, 3, 4, 7, 9]);
    }

    /// A scan over many more rows than one batch of the index answers every
    /// visible row once, in key order, skipping deleted rows.
    fn scans_over_many_rows_answer_each_visible_row_once(storage: Storage) {
        let (db, t) = accounts(storage);
        load(&db, &t, (0..500).rev().map(|k| (k, account(k as i64))));
        let mut tx = db.begin();
        for k in (0..500).filter(|k| k % 3 == 0) {
            tx.delete(&t, &k).unwrap();
        }
        tx.commit().unwrap();
        let expected: Vec<u64> = (0..500).filter(|k| k % 3 != 0).collect();
        let all = latest(&db, &t);
        assert_eq!(keys(&all), expected);
        assert!(all.iter().all(|(k, r)| r[0] == *k as i64));
        let part: Vec<u64> = (100..=400).filter(|k| k % 3 != 0).collect();
        assert_eq!(
            keys(&db.begin().scan(&t, 100..=400).unwrap().collect::<Vec<_>>()),
            part
        );
    }

    /// A scan left half consumed keeps its snapshot: rows committed, changed
    /// or deleted by others meanwhile are not seen in the rest of it.
    fn a_half_consumed_scan_keeps_its_snapshot(storage: Storage) {
        let (db, t) = accounts(storage);
        load(&db, &t, (0..300).map(|k| (k * 2, account(1))));
        let reader = db.begin();
        let mut scan = reader.scan(&t, ..).unwrap();
        let head: Vec<_> = scan.by_ref().take(100).collect();
        let mut w = db.begin();
        for k in (200..600).step_by(2) {
            if k % 4 == 0 {
                w.delete(&t, &k).unwrap();
            } else {
                w.update(&t, &k, account(2)).unwrap();
            }
            w.insert(&t, k + 1, account(3)).unwrap();
        }
        w.commit().unwrap();
        let tail: Vec<_> = scan.collect();
        assert_eq!(head.len() + tail.len(), 300);
        let all: Vec<_> = head.into_iter().chain(tail).collect();
        assert_eq!(keys(&all), (0..300).map(|k| k * 2).collect::<Vec<u64>>());
        assert!(all.iter().all(|(_, r)| *r == account(1)));
        assert_eq!(total(&reader, &t), 300);
    }

    /// Scans of string keys answer in byte order, and ranges of `String`
    /// work as of any key type.
    fn scans_of_string_keys_are_in_key_order(storage: Storage) {
        let db = Database::new(storage);
        let t: Table<String, [u8; 1]> = db.create_table("words").unwrap();
        load(
            &db,
            &t,
            ["pear", "apple", "Zebra", "banana", "applesauce"].map(|w| (w.to_string(), [0])),
        );
        assert_eq!(
            keys(&latest(&db, &t)),
            vec!["Zebra", "apple", "applesauce", "banana", "pear"]
        );
        let tx = db.begin();
        let range = "apple".to_string().."b".to_string();
        assert_eq!(
            keys(&tx.scan(&t, range).unwrap().collect::<Vec<_>>()),
            vec!["apple", "applesauce"]
        );
    }
}
