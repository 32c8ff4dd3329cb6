//! Snapshot isolation's reads: a transaction reads the state as of its begin
//! (plus its own writes), the same twice, and a commit is seen wholly or not
//! at all.

use crate::common::*;
use multiverse::{Error, Storage};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

for_each_store! {
    /// The same key read twice gives the same answer while others update,
    /// delete and re-insert it and commit.
    fn get_is_stable_while_others_commit(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        let reader = db.begin();
        assert_eq!(reader.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(reader.get(&t, &3).unwrap(), None);
        let mut w = db.begin();
        w.update(&t, &1, account(11)).unwrap();
        w.insert(&t, 3, account(30)).unwrap();
        w.commit().unwrap();
        assert_eq!(reader.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(reader.get(&t, &3).unwrap(), None);
        let mut w = db.begin();
        w.delete(&t, &1).unwrap();
        w.commit().unwrap();
        assert_eq!(reader.get(&t, &1).unwrap(), Some(account(10)));
        let mut w = db.begin();
        w.insert(&t, 1, account(12)).unwrap();
        w.commit().unwrap();
        assert_eq!(reader.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(reader.read(&t, &1, |r| r.map(|r| r[0])).unwrap(), Some(10));
        assert_eq!(
            latest(&db, &t),
            vec![(1, account(12)), (2, account(20)), (3, account(30))]
        );
    }

    /// The same range scanned twice gives the same rows while others
    /// update, delete and insert inside it and commit.
    fn scan_is_stable_while_others_commit(storage: Storage) {
        let (db, t) = accounts(storage);
        load(&db, &t, (0..10).map(|k| (k, account(k as i64))));
        let reader = db.begin();
        let first: Vec<_> = reader.scan(&t, 2..8).unwrap().collect();
        assert_eq!(keys(&first), vec![2, 3, 4, 5, 6, 7]);
        let mut w = db.begin();
        w.update(&t, &3, account(-3)).unwrap();
        w.delete(&t, &4).unwrap();
        w.insert(&t, 20, account(20)).unwrap();
        w.commit().unwrap();
        let mut w = db.begin();
        w.delete(&t, &5).unwrap();
        w.insert(&t, 5, account(-5)).unwrap();
        w.commit().unwrap();
        assert_eq!(reader.scan(&t, 2..8).unwrap().collect::<Vec<_>>(), first);
        assert_eq!(rows(&reader, &t).len(), 10);
        assert_eq!(keys(&latest(&db, &t)), vec![0, 1, 2, 3, 5, 6, 7, 8, 9, 20]);
    }

    /// The snapshot is taken at begin, not at the first read: commits between
    /// begin and the first read are not seen.
    fn the_snapshot_is_taken_at_begin(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let reader = db.begin();
        let mut w = db.begin();
        w.update(&t, &1, account(11)).unwrap();
        w.insert(&t, 2, account(20)).unwrap();
        w.commit().unwrap();
        assert_eq!(rows(&reader, &t), vec![(1, account(10))]);
    }

    /// Every snapshot keeps reading its own version of a row however many
    /// versions come after it, including the row's deletion.
    fn every_snapshot_reads_its_own_version(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 0)]);
        let mut readers = vec![(db.begin(), Some(account(0)))];
        for i in 1..=12 {
            let mut w = db.begin();
            w.update(&t, &1, [i, i * 2, 0, 0]).unwrap();
            w.commit().unwrap();
            readers.push((db.begin(), Some([i, i * 2, 0, 0])));
        }
        let mut w = db.begin();
        w.delete(&t, &1).unwrap();
        w.commit().unwrap();
        readers.push((db.begin(), None));
        for (i, (tx, expected)) in readers.iter().enumerate().rev() {
            assert_eq!(tx.get(&t, &1).unwrap(), *expected, "reader {i}");
            assert_eq!(
                rows(tx, &t),
                expected.iter().map(|r| (1, *r)).collect::<Vec<_>>()
            );
        }
    }

    /// Atomic visibility: a commit of two keys (in two tables) is seen by
    /// a reader wholly or not at all, whenever the reader reads each key.
    fn a_two_key_commit_is_seen_wholly_or_not_at_all(storage: Storage) {
        let (db, a) = accounts_with(storage, &[(1, 100)]);
        let b: Accounts = db.create_table("b").unwrap();
        load(&db, &b, [(2, account(0))]);
        let before = db.begin();
        assert_eq!(before.get(&a, &1).unwrap(), Some(account(100)));
        let mut w = db.begin();
        w.modify(&a, &1, |r| r[0] -= 30).unwrap();
        w.modify(&b, &2, |r| r[0] += 30).unwrap();
        let during = db.begin();
        let ts = w.commit().unwrap();
        let after = db.begin();
        assert!(after.snapshot() >= ts);
        // `before` read key 1 before the commit and reads key 2 after it.
        assert_eq!(before.get(&b, &2).unwrap(), Some(account(0)));
        assert_eq!(during.get(&a, &1).unwrap(), Some(account(100)));
        assert_eq!(during.get(&b, &2).unwrap(), Some(account(0)));
        assert_eq!(after.get(&a, &1).unwrap(), Some(account(70)));
        assert_eq!(after.get(&b, &2).unwrap(), Some(account(30)));
    }

    /// Begin after commit sees it: a transaction that begins after
    /// `commit` returned sees all of that transaction's writes.
    fn begin_after_commit_sees_it(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        for i in 0..10 {
            let mut w = db.begin();
            w.modify(&t, &1, |r| r[0] += 1).unwrap();
            w.delete(&t, &2).unwrap();
            w.insert(&t, 2, account(20 + i + 1)).unwrap();
            let ts = w.commit().unwrap();
            let r = db.begin();
            assert!(r.snapshot() >= ts);
            assert_eq!(
                rows(&r, &t),
                vec![(1, account(11 + i)), (2, account(21 + i))]
            );
        }
    }

    /// Atomic visibility under real concurrency: writers move money between
    /// two accounts while readers check, on every snapshot, that the total
    /// holds and that reading twice gives the same answer.
    fn concurrent_readers_never_see_half_a_transfer(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 500), (2, 500)]);
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            let writers: Vec<_> = (0..2)
                .map(|w| {
                    let (db, t) = (&db, &t);
                    s.spawn(move || {
                        let mut committed = 0;
                        while committed < 300 {
                            let (from, to) = if (committed + w) % 2 == 0 {
                                (1, 2)
                            } else {
                                (2, 1)
                            };
                            let mut tx = db.begin();
                            let moved = tx
                                .modify(t, &from, |r| r[0] -= 7)
                                .and_then(|()| tx.modify(t, &to, |r| r[0] += 7));
                            match moved {
                                Ok(()) => {
                                    tx.commit().unwrap();
                                    committed += 1;
                                }
                                Err(Error::WriteConflict) => {
                                    assert_err!(tx.commit(), Aborted);
                                }
                                Err(e) => panic!("unexpected {e:?}"),
                            }
                        }
                    })
                })
                .collect();
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        while !done.load(Ordering::Relaxed) {
                            let tx = db.begin();
                            let a = tx.get(&t, &1).unwrap().unwrap()[0];
                            let b = tx.get(&t, &2).unwrap().unwrap()[0];
                            assert_eq!(a + b, 1000, "a snapshot holds half a transfer");
                            assert_eq!(total(&tx, &t), 1000);
                            assert_eq!(tx.get(&t, &1).unwrap().unwrap()[0], a, "read twice");
                        }
                    })
                })
                .collect();
            // Stop the readers before any panic propagates, then raise the
            // first panic with its own message.
            let writers: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            done.store(true, Ordering::Relaxed);
            let readers: Vec<_> = readers.into_iter().map(|r| r.join()).collect();
            if let Some(Err(panic)) = writers.into_iter().chain(readers).find(Result::is_err) {
                std::panic::resume_unwind(panic);
            }
        });
        assert_eq!(total(&db.begin(), &t), 1000);
    }
}
