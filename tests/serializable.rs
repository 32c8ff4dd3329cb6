//! `Isolation::Serializable` on every store: Hermitage's serializable
//! column (Kleppmann, <https://github.com/ept/hermitage>), each scenario run
//! under both isolations with its outcome under each; write skew under
//! threads; random histories against a serial execution in commit order;
//! and the API around it (`transact` retries, read-only transactions,
//! untracked reads, rollback of a failed transaction).
//!
//! The setup and the shape are `tests/hermitage.rs`'s: `test (id int
//! primary key, value int)` holding (1, 10) and (2, 20); a `select ...
//! where P` is a scan of the whole table filtered by `P`. Under
//! `Serializable` a transaction that wrote, and read something that a
//! transaction committed after its snapshot wrote, fails at commit with
//! `SerializationFailure` (PostgreSQL's "could not serialize access due to
//! read/write dependencies among transactions"); under `Snapshot` it
//! commits, as in `tests/hermitage.rs`.

#[macro_use]
mod common;

use common::hermitage::*;
use multiverse::{Database, Error, Isolation, Storage, Table, Timestamp, Transaction};
use std::sync::{Arc, Barrier};

use Isolation::{Serializable, Snapshot};

const BOTH: [Isolation; 2] = [Snapshot, Serializable];

/// The outcome of a commit, by variant: `Ok`, or the error.
fn outcome(r: Result<Timestamp, Error>) -> Result<(), Error> {
    r.map(drop)
}

for_each_store! {
    /// **G0, write cycles: prevented under both.** The second writer of
    /// row 1 conflicts at once (first updater wins); T1's writes alone
    /// commit.
    fn g0_write_cycles_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            update(&mut t1, &t, 1, 11).unwrap();
            assert_err!(update(&mut t2, &t, 1, 12), WriteConflict, "{iso:?}");
            update(&mut t1, &t, 2, 21).unwrap();
            t1.commit().unwrap();
            assert_err!(t2.commit(), Aborted, "{iso:?}");
            assert_eq!(committed(&db, &t), vec![(1, 11), (2, 21)], "{iso:?}");
        }
    }

    /// **G1a, aborted reads: prevented under both.** T2 never sees T1's
    /// rolled-back write, and (read-only) commits.
    fn g1a_aborted_reads_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let t2 = db.begin_with(iso);
            update(&mut t1, &t, 1, 101).unwrap();
            assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)], "{iso:?}");
            t1.rollback();
            assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)], "{iso:?}");
            t2.commit().unwrap();
            assert_eq!(committed(&db, &t), vec![(1, 10), (2, 20)], "{iso:?}");
        }
    }

    /// **G1b, intermediate reads: prevented under both.** T2 never sees
    /// T1's intermediate 101, nor its final 11 (not in its snapshot); T2
    /// is read-only and commits.
    fn g1b_intermediate_reads_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let t2 = db.begin_with(iso);
            update(&mut t1, &t, 1, 101).unwrap();
            assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)], "{iso:?}");
            update(&mut t1, &t, 1, 11).unwrap();
            t1.commit().unwrap();
            assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)], "{iso:?}");
            t2.commit().unwrap();
            assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)], "{iso:?}");
        }
    }

    /// **G1c, circular information flow.** Each transaction updates one row
    /// and reads the other's (its snapshot's value: no dirty read under
    /// either). Under `Snapshot` both commit; under `Serializable` no
    /// serial order explains both reads, and T2, which read row 1 that T1
    /// committed after T2's snapshot, fails.
    fn g1c_circular_information_flow_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            update(&mut t1, &t, 1, 11).unwrap();
            update(&mut t2, &t, 2, 22).unwrap();
            assert_eq!(select_id(&t1, &t, 2), Some(20), "{iso:?}");
            assert_eq!(select_id(&t2, &t, 1), Some(10), "{iso:?}");
            t1.commit().unwrap();
            match iso {
                Snapshot => {
                    t2.commit().unwrap();
                    assert_eq!(committed(&db, &t), vec![(1, 11), (2, 22)]);
                }
                Serializable => {
                    assert_err!(t2.commit(), SerializationFailure);
                    assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)]);
                }
            }
        }
    }

    /// **OTV, observed transaction vanishes: prevented under both.** T2's
    /// overwrite of T1's row conflicts at once; T3 (begun with them) reads
    /// its snapshot throughout and, read-only, commits.
    fn otv_observed_transaction_vanishes_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            let t3 = db.begin_with(iso);
            update(&mut t1, &t, 1, 11).unwrap();
            update(&mut t1, &t, 2, 19).unwrap();
            assert_err!(update(&mut t2, &t, 1, 12), WriteConflict, "{iso:?}");
            t1.commit().unwrap();
            assert_eq!(select_id(&t3, &t, 1), Some(10), "{iso:?}");
            assert_err!(update(&mut t2, &t, 2, 18), Aborted, "{iso:?}");
            assert_eq!(select_id(&t3, &t, 2), Some(20), "{iso:?}");
            assert_err!(t2.commit(), Aborted, "{iso:?}");
            t3.commit().unwrap();
            assert_eq!(committed(&db, &t), vec![(1, 11), (2, 19)], "{iso:?}");
        }
    }

    /// **PMP, predicate-many-preceders, over an empty range.** T1 finds no
    /// row in ids 3..10 and, on that ground, writes row 1; T2 inserts id 5
    /// and commits first. Under `Snapshot` T1 commits; under
    /// `Serializable` it fails: the range it asked for counts, though it
    /// returned nothing (slatedb#1711 recorded only returned keys).
    fn pmp_empty_range_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_eq!(t1.scan(&t, 3..10).unwrap().count(), 0);
            t2.insert(&t, 5, [50]).unwrap();
            t2.commit().unwrap();
            update(&mut t1, &t, 1, 0).unwrap();
            match iso {
                Snapshot => outcome(t1.commit()).unwrap(),
                Serializable => assert_err!(t1.commit(), SerializationFailure),
            }
        }
    }

    /// **PMP over a partly deleted range.** Ids 3 and 4 existed; 4 was
    /// deleted before T1 began. T1's scan of 3..10 finds only 3; T2 inserts
    /// id 4 again (where the deleted row was) and commits. Under
    /// `Serializable` T1, which then writes, fails; under `Snapshot` it
    /// commits. The same holds if T2 deletes row 3 instead.
    fn pmp_partly_deleted_range_under_both(storage: Storage) {
        for iso in BOTH {
            for t2_deletes in [false, true] {
                let (db, t) = setup(storage);
                common::load(&db, &t, [(3, [30]), (4, [40])]);
                db.transact(|tx| tx.delete(&t, &4)).unwrap();
                let mut t1 = db.begin_with(iso);
                let mut t2 = db.begin_with(iso);
                let found: Vec<u32> = t1.scan(&t, 3..10).unwrap().map(|(k, _)| k).collect();
                assert_eq!(found, [3]);
                if t2_deletes {
                    t2.delete(&t, &3).unwrap();
                } else {
                    t2.insert(&t, 4, [44]).unwrap();
                }
                t2.commit().unwrap();
                t1.insert(&t, 100, [1]).unwrap();
                match iso {
                    Snapshot => outcome(t1.commit()).unwrap(),
                    Serializable => {
                        assert_err!(t1.commit(), SerializationFailure, "t2 deletes: {t2_deletes}")
                    }
                }
            }
        }
    }

    /// **PMP over a partly iterated range.** T1 asks for every row from id
    /// 1 on but takes only the first (1) before writing; T2 updates row 2,
    /// which T1's scan would have returned next, and commits. Under
    /// `Serializable` T1 fails: the whole range it asked for counts, also
    /// the part it did not iterate (from either end).
    fn pmp_partly_iterated_range_under_both(storage: Storage) {
        for iso in BOTH {
            for from_the_back in [false, true] {
                let (db, t) = setup(storage);
                common::load(&db, &t, [(3, [30])]);
                let mut t1 = db.begin_with(iso);
                let mut t2 = db.begin_with(iso);
                let mut scan = t1.scan(&t, 1..).unwrap();
                let first = if from_the_back {
                    scan.next_back()
                } else {
                    scan.next()
                };
                drop(scan);
                let first = first.unwrap().0;
                assert_eq!(first, if from_the_back { 3 } else { 1 });
                t2.modify(&t, &2, |[v]| *v += 1).unwrap();
                t2.commit().unwrap();
                t1.modify(&t, &first, |[v]| *v += 1).unwrap();
                match iso {
                    Snapshot => outcome(t1.commit()).unwrap(),
                    Serializable => assert_err!(t1.commit(), SerializationFailure),
                }
            }
        }
    }

    /// **PMP, Hermitage's own (read-only T1): prevented under both.** T1's
    /// predicate reads find no value 30 before and after T2 inserts one;
    /// T1 wrote nothing, so it commits under `Serializable` too: it reads a
    /// prefix of the serial order.
    fn pmp_read_only_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_eq!(select(&t1, &t, |v| v == 30), vec![]);
            t2.insert(&t, 3, [30]).unwrap();
            t2.commit().unwrap();
            assert_eq!(select(&t1, &t, |v| v % 3 == 0), vec![]);
            t1.commit().unwrap();
        }
    }

    /// **P4, lost update: prevented under both.** The second writer of row
    /// 1 conflicts at once.
    fn p4_lost_update_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_eq!(select_id(&t1, &t, 1), Some(10));
            assert_eq!(select_id(&t2, &t, 1), Some(10));
            update(&mut t1, &t, 1, 11).unwrap();
            assert_err!(update(&mut t2, &t, 1, 11), WriteConflict, "{iso:?}");
            t1.commit().unwrap();
            assert_err!(t2.commit(), Aborted, "{iso:?}");
            assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)], "{iso:?}");
        }
    }

    /// **G-single, read skew.** T1 reads row 1; T2 updates both rows and
    /// commits; T1 reads row 2 (its snapshot's 20, consistent with 10).
    /// Read-only, T1 commits under both; if T1 then writes row 1 on the
    /// ground of what it read, `Serializable` fails it (row 1 changed after
    /// its snapshot), while `Snapshot` commits it: a lost update in
    /// disguise, since T1's write overwrites T2's without having seen it.
    /// (First updater wins catches this one at the write under both; T1
    /// writes a third row here, so only validation can.)
    fn g_single_read_skew_under_both(storage: Storage) {
        for iso in BOTH {
            for t1_writes in [false, true] {
                let (db, t) = setup(storage);
                let mut t1 = db.begin_with(iso);
                let mut t2 = db.begin_with(iso);
                assert_eq!(select_id(&t1, &t, 1), Some(10));
                assert_eq!(select_id(&t2, &t, 1), Some(10));
                assert_eq!(select_id(&t2, &t, 2), Some(20));
                update(&mut t2, &t, 1, 12).unwrap();
                update(&mut t2, &t, 2, 18).unwrap();
                t2.commit().unwrap();
                assert_eq!(select_id(&t1, &t, 2), Some(20));
                if t1_writes {
                    t1.insert(&t, 3, [30]).unwrap();
                }
                match (iso, t1_writes) {
                    (Serializable, true) => assert_err!(t1.commit(), SerializationFailure),
                    _ => outcome(t1.commit()).unwrap(),
                }
            }
        }
    }

    /// **G2-item, write skew.** Each transaction reads both rows and updates
    /// a different one. `Snapshot` commits both (1 => 11, 2 => 21);
    /// `Serializable` fails the second to commit.
    fn g2_item_write_skew_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_eq!(select_all(&t1, &t), vec![(1, 10), (2, 20)]);
            assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]);
            update(&mut t1, &t, 1, 11).unwrap();
            update(&mut t2, &t, 2, 21).unwrap();
            t1.commit().unwrap();
            match iso {
                Snapshot => {
                    t2.commit().unwrap();
                    assert_eq!(committed(&db, &t), vec![(1, 11), (2, 21)]);
                }
                Serializable => {
                    assert_err!(t2.commit(), SerializationFailure);
                    assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)]);
                }
            }
        }
    }

    /// **G2-item with point reads.** As above, each reading the other's row
    /// by id (`get`), not by a scan; also through a hash index.
    fn g2_item_write_skew_with_point_reads_under_both(storage: Storage) {
        for (iso, hashed) in [(Snapshot, false), (Serializable, false), (Serializable, true)] {
            let (db, t) = if hashed {
                // Point reads through the hash index.
                let db = Database::new(storage);
                let t: Test = db.create_hash_table("test").unwrap();
                common::load(&db, &t, [(1, [10]), (2, [20])]);
                (db, t)
            } else {
                setup(storage)
            };
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_eq!(select_id(&t1, &t, 2), Some(20));
            assert_eq!(select_id(&t2, &t, 1), Some(10));
            update(&mut t1, &t, 1, 11).unwrap();
            update(&mut t2, &t, 2, 21).unwrap();
            t1.commit().unwrap();
            match iso {
                Snapshot => outcome(t2.commit()).unwrap(),
                Serializable => assert_err!(t2.commit(), SerializationFailure),
            }
        }
    }

    /// **G2, anti-dependency cycles over a predicate.** Both find no row
    /// with `value % 3 = 0`, then each inserts one (different ids).
    /// `Snapshot` commits both; `Serializable` fails the second.
    fn g2_anti_dependency_cycles_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_eq!(select(&t1, &t, |v| v % 3 == 0), vec![]);
            assert_eq!(select(&t2, &t, |v| v % 3 == 0), vec![]);
            t1.insert(&t, 3, [30]).unwrap();
            t2.insert(&t, 4, [42]).unwrap();
            t1.commit().unwrap();
            let expected = match iso {
                Snapshot => {
                    t2.commit().unwrap();
                    vec![(3, 30), (4, 42)]
                }
                Serializable => {
                    assert_err!(t2.commit(), SerializationFailure);
                    vec![(3, 30)]
                }
            };
            assert_eq!(select(&db.begin(), &t, |v| v % 3 == 0), expected);
        }
    }

    /// **G2 with two anti-dependency edges (Fekete et al.).** T1 reads
    /// both rows; T2 adds 5 to row 2 and commits; T3 reads 10 and 25 and
    /// commits; T1 updates row 1. `Snapshot` commits T1 (1 => 0, 2 => 25);
    /// `Serializable` fails it (T3, read-only, still commits).
    fn g2_two_edges_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            assert_eq!(select_all(&t1, &t), vec![(1, 10), (2, 20)]);
            let mut t2 = db.begin_with(iso);
            t2.modify(&t, &2, |[v]| *v += 5).unwrap();
            t2.commit().unwrap();
            let t3 = db.begin_with(iso);
            assert_eq!(select_all(&t3, &t), vec![(1, 10), (2, 25)]);
            t3.commit().unwrap();
            update(&mut t1, &t, 1, 0).unwrap();
            match iso {
                Snapshot => {
                    t1.commit().unwrap();
                    assert_eq!(committed(&db, &t), vec![(1, 0), (2, 25)]);
                }
                Serializable => {
                    assert_err!(t1.commit(), SerializationFailure);
                    assert_eq!(committed(&db, &t), vec![(1, 10), (2, 25)]);
                }
            }
        }
    }

    /// A failed answer is a read too: T1 tries to update id 7 (absent:
    /// `NotFound`) and so inserts it elsewhere; T2 inserts id 7 and
    /// commits. Under `Serializable` T1 fails; under `Snapshot` it commits.
    /// Likewise an insert answered `DuplicateKey` reads the row it found.
    fn answers_of_failed_writes_are_reads_under_both(storage: Storage) {
        for iso in BOTH {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_err!(update(&mut t1, &t, 7, 1), NotFound);
            t2.insert(&t, 7, [70]).unwrap();
            t2.commit().unwrap();
            t1.insert(&t, 8, [1]).unwrap();
            match iso {
                Snapshot => outcome(t1.commit()).unwrap(),
                Serializable => assert_err!(t1.commit(), SerializationFailure),
            }
            let mut t1 = db.begin_with(iso);
            let mut t2 = db.begin_with(iso);
            assert_err!(t1.insert(&t, 1, [1]), DuplicateKey);
            t2.delete(&t, &1).unwrap();
            t2.commit().unwrap();
            t1.insert(&t, 9, [1]).unwrap();
            match iso {
                Snapshot => outcome(t1.commit()).unwrap(),
                Serializable => assert_err!(t1.commit(), SerializationFailure),
            }
        }
    }

    /// A point read of a key through a borrowed form that is not the key
    /// type (`&str` for `String`) is recorded too, present or absent (an
    /// absent one as the gap between its neighbours in the index).
    fn point_reads_through_a_borrowed_form_are_recorded(storage: Storage) {
        for present in [true, false] {
            let db = Database::new(storage);
            let t = db.create_table::<String, [i64; 1]>("names").unwrap();
            common::load(&db, &t, [("a".into(), [1]), ("m".into(), [1]), ("z".into(), [1])]);
            let mut t1 = db.begin_with(Serializable);
            let key = if present { "m" } else { "k" };
            assert_eq!(t1.get(&t, key).unwrap().is_some(), present);
            let mut t2 = db.begin_with(Snapshot);
            if present {
                t2.delete(&t, "m").unwrap();
            } else {
                t2.insert(&t, "k".into(), [2]).unwrap();
            }
            t2.commit().unwrap();
            t1.insert(&t, "b".into(), [1]).unwrap();
            assert_err!(t1.commit(), SerializationFailure, "present: {present}");
            // A write elsewhere (outside the gap) does not fail it.
            let mut t1 = db.begin_with(Serializable);
            let _ = t1.get(&t, "c").unwrap();
            db.transact(|tx| tx.insert(&t, "y".into(), [3])).unwrap();
            t1.insert(&t, "d".into(), [1]).unwrap();
            t1.commit().unwrap();
        }
    }

    /// A serializable transaction fails only on what it read: writes of
    /// other keys and other ranges after its snapshot do not fail it.
    fn writes_outside_the_read_set_do_not_fail_a_serializable_commit(storage: Storage) {
        let (db, t) = setup(storage);
        common::load(&db, &t, [(10, [0]), (20, [0])]);
        let mut t1 = db.begin_with(Serializable);
        assert_eq!(select_id(&t1, &t, 1), Some(10));
        assert_eq!(t1.scan(&t, 5..=10).unwrap().count(), 1);
        db.transact(|tx| {
            tx.update(&t, &2, [0])?;
            tx.insert(&t, 11, [0])?;
            tx.insert(&t, 4, [0])?;
            tx.delete(&t, &20)
        })
        .unwrap();
        update(&mut t1, &t, 10, 1).unwrap();
        t1.commit().unwrap();
        assert_eq!(
            committed(&db, &t),
            vec![(1, 10), (2, 0), (4, 0), (10, 1), (11, 0)]
        );
    }

    /// A failed serializable transaction leaves no trace: its writes are
    /// rolled back (invisible, their keys free to write at once), and the
    /// database goes on committing.
    fn a_serialization_failure_rolls_everything_back(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin_with(Serializable);
        assert_eq!(select_id(&t1, &t, 1), Some(10));
        t1.insert(&t, 5, [5]).unwrap();
        update(&mut t1, &t, 2, 0).unwrap();
        db.transact(|tx| tx.update(&t, &1, [11])).unwrap();
        assert_err!(t1.commit(), SerializationFailure);
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)]);
        db.transact(|tx| {
            tx.insert(&t, 5, [6])?;
            tx.update(&t, &2, [21])
        })
        .unwrap();
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 21), (5, 6)]);
    }

    /// `transact` retries a `SerializationFailure` like a write conflict:
    /// the first attempt's read is overtaken by a commit made inside it, the
    /// second attempt reads the new value and commits.
    fn transact_retries_a_serialization_failure(storage: Storage) {
        let db = Database::builder()
            .storage(storage)
            .isolation(Serializable)
            .build();
        let t: Test = db.create_table("test").unwrap();
        common::load(&db, &t, [(1, [10]), (2, [20])]);
        let mut attempts = 0;
        let seen = db
            .transact(|tx| {
                attempts += 1;
                assert_eq!(tx.isolation(), Serializable);
                let [v] = tx.get(&t, &1)?.unwrap();
                if attempts == 1 {
                    let mut other = db.begin_with(Snapshot);
                    other.update(&t, &1, [11])?;
                    other.commit()?;
                }
                tx.update(&t, &2, [v])?;
                Ok(v)
            })
            .unwrap();
        assert_eq!((attempts, seen), (2, 11));
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 11)]);
        assert!(Error::SerializationFailure.is_retryable());
    }

    /// A serializable transaction that wrote nothing never fails, whatever
    /// committed after its snapshot over what it read (points, ranges,
    /// absent keys), and it commits at its snapshot.
    fn a_read_only_serializable_transaction_never_fails(storage: Storage) {
        let (db, t) = setup(storage);
        let t1 = db.begin_with(Serializable);
        let snapshot = t1.snapshot();
        assert_eq!(select_all(&t1, &t), vec![(1, 10), (2, 20)]);
        assert_eq!(select_id(&t1, &t, 3), None);
        for v in 0..5 {
            db.transact(|tx| {
                tx.update(&t, &1, [v])?;
                tx.upsert(&t, 3, [v])
            })
            .unwrap();
        }
        assert_eq!(select_all(&t1, &t), vec![(1, 10), (2, 20)]);
        assert_eq!(t1.commit().unwrap(), snapshot);
    }

    /// Untracked reads are not validated: a serializable transaction that
    /// read row 1 with `get_untracked` and the range with
    /// `scan_untracked` commits although both changed after its snapshot
    /// (the same reads tracked fail it, the control).
    fn untracked_reads_are_not_validated(storage: Storage) {
        for tracked in [false, true] {
            let (db, t) = setup(storage);
            let mut t1 = db.begin_with(Serializable);
            if tracked {
                assert_eq!(select_id(&t1, &t, 1), Some(10));
                assert_eq!(t1.scan(&t, 3..).unwrap().count(), 0);
            } else {
                assert_eq!(t1.get_untracked(&t, &1).unwrap(), Some([10]));
                assert_eq!(t1.scan_untracked(&t, 3..).unwrap().count(), 0);
            }
            db.transact(|tx| {
                tx.update(&t, &1, [11])?;
                tx.insert(&t, 3, [30])
            })
            .unwrap();
            update(&mut t1, &t, 2, 0).unwrap();
            if tracked {
                assert_err!(t1.commit(), SerializationFailure);
            } else {
                t1.commit().unwrap();
                assert_eq!(committed(&db, &t), vec![(1, 11), (2, 0), (3, 30)]);
            }
        }
    }

    /// A drop of a table that a serializable transaction read, committed
    /// after its snapshot, fails it: the drop wrote every key it read.
    fn a_drop_of_a_read_table_fails_a_serializable_writer(storage: Storage) {
        let (db, t) = setup(storage);
        let other: Test = db.create_table("other").unwrap();
        let mut t1 = db.begin_with(Serializable);
        assert_eq!(select_id(&t1, &t, 1), Some(10));
        db.drop_table("test").unwrap();
        t1.insert(&other, 1, [1]).unwrap();
        assert_err!(t1.commit(), SerializationFailure);
    }

    /// The isolation per database, per transaction and per session: the
    /// builder's default is what `begin`, `transact` and sessions use;
    /// `begin_with` and `Session::set_isolation` choose otherwise.
    fn isolation_is_chosen_per_database_transaction_and_session(storage: Storage) {
        let db = Database::new(storage);
        assert_eq!(db.begin().isolation(), Snapshot);
        assert_eq!(db.begin_with(Serializable).isolation(), Serializable);
        let db = Database::builder().storage(storage).isolation(Serializable).build();
        assert_eq!(db.begin().isolation(), Serializable);
        let t: Test = db.create_table("test").unwrap();
        let mut s = db.session();
        assert_eq!(s.isolation(), Serializable);
        s.set_isolation(Snapshot).unwrap();
        s.begin().unwrap();
        assert_err!(s.set_isolation(Serializable), NotAllowedInTransaction);
        s.insert(&t, 1, [1]).unwrap();
        s.commit().unwrap();
        // A session's serializable transaction fails like any other.
        s.set_isolation(Serializable).unwrap();
        s.begin().unwrap();
        assert_eq!(s.get(&t, &1).unwrap(), Some([1]));
        db.transact(|tx| tx.update(&t, &1, [2])).unwrap();
        s.insert(&t, 2, [2]).unwrap();
        assert_err!(s.commit(), SerializationFailure);
    }
}

for_each_store! {
    /// On a durable database, under both durable modes: serializable
    /// transactions begin while commits wait for the log (under `Sync` a
    /// serializable begin waits for the durable horizon to reach every
    /// timestamp handed out, and raises it), write skew fails, and a
    /// serializable commit is logged like any other and survives a reopen.
    fn serializable_transactions_on_a_durable_database(storage: Storage) {
        use multiverse::Durability;
        for durability in [Durability::Sync, Durability::Buffered] {
            let dir = tempfile::tempdir().unwrap();
            let open = || {
                Database::builder()
                    .storage(storage)
                    .durability(durability)
                    .open(dir.path())
                    .unwrap()
            };
            {
                let db = open();
                let t: Test = db.create_table("test").unwrap();
                common::load(&db, &t, [(1, [10]), (2, [20])]);
                std::thread::scope(|s| {
                    s.spawn(|| {
                        for v in 0..20 {
                            db.transact(|tx| tx.upsert(&t, 100, [v])).unwrap();
                        }
                    });
                    // Each snapshot sees a prefix of the commits: never
                    // an older value than the one before.
                    let mut last = -1;
                    for _ in 0..20 {
                        let tx = db.begin_with(Serializable);
                        let v = tx.get(&t, &100).unwrap().map_or(-1, |[v]| v);
                        assert!(v >= last, "{v} after {last}");
                        last = v;
                    }
                });
                let mut t1 = db.begin_with(Serializable);
                let mut t2 = db.begin_with(Serializable);
                assert_eq!(select_id(&t1, &t, 2), Some(20));
                assert_eq!(select_id(&t2, &t, 1), Some(10));
                update(&mut t1, &t, 1, 11).unwrap();
                update(&mut t2, &t, 2, 21).unwrap();
                t1.commit().unwrap();
                assert_err!(t2.commit(), SerializationFailure, "{durability:?}");
            }
            let db = open();
            let t: Test = db.table("test").unwrap();
            assert_eq!(
                select_all(&db.begin(), &t),
                vec![(1, 11), (2, 20), (100, 19)],
                "{durability:?}"
            );
        }
    }
}

/// Doctors on call (Cahill's example of write skew), on `DOCTORS` threads
/// at once: each doctor, in a transaction, counts the doctors on call (a
/// scan) and goes off call if at least two are. All of them read before
/// any writes (a barrier, not a timing), so under `Snapshot` every one sees
/// all on call and all go off: the invariant (someone is on call) breaks in
/// every round. Under `Serializable` all but the first to commit fail, and
/// retried (without the barrier) they see the writes committed before: the
/// outcome is a serial one, every round, with exactly one doctor left on
/// call. Returns the doctors left on call after each round.
fn doctors_on_call(storage: Storage, isolation: Isolation) -> Vec<usize> {
    const DOCTORS: u32 = 3;
    const ROUNDS: usize = 20;
    let db = Database::new(storage);
    let t: Test = db.create_table("on_call").unwrap();
    common::load(&db, &t, (0..DOCTORS).map(|d| (d, [1])));
    let mut left = Vec::new();
    for _ in 0..ROUNDS {
        db.transact(|tx| (0..DOCTORS).try_for_each(|d| tx.update(&t, &d, [1])))
            .unwrap();
        let barrier = Arc::new(Barrier::new(DOCTORS as usize));
        std::thread::scope(|s| {
            for d in 0..DOCTORS {
                let (db, t, barrier) = (&db, &t, Arc::clone(&barrier));
                s.spawn(move || {
                    for attempt in 0..DOCTORS {
                        let mut tx = db.begin_with(isolation);
                        let on: i64 = tx.scan(t, ..).unwrap().map(|(_, [v])| v).sum();
                        if attempt == 0 {
                            barrier.wait();
                        }
                        if on >= 2 {
                            tx.update(t, &d, [0]).unwrap();
                        }
                        match tx.commit() {
                            Ok(_) => return,
                            Err(Error::SerializationFailure) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    panic!("doctor {d}: every attempt failed");
                });
            }
        });
        let on = db
            .begin()
            .scan(&t, ..)
            .unwrap()
            .filter(|(_, [v])| *v == 1)
            .count();
        left.push(on);
    }
    left
}

#[test]
fn doctors_on_call_write_skew_breaks_snapshot_and_not_serializable() {
    common::for_each_store(|storage| {
        let si = doctors_on_call(storage, Snapshot);
        assert!(si.iter().all(|&on| on == 0), "snapshot isolation: {si:?}");
        let ser = doctors_on_call(storage, Serializable);
        assert!(ser.iter().all(|&on| on == 1), "serializable: {ser:?}");
    });
}

/// Accounts in pairs whose sum must stay at or above zero; each thread
/// withdraws from one account of a pair if the pair's sum (a range read)
/// allows it, under `Serializable` with `transact`, free-running. Every
/// snapshot a reader takes meanwhile, and the end state, keeps every
/// pair's sum at or above zero; and the withdrawals that committed are
/// exactly what the balances lost.
#[test]
fn pair_sums_stay_non_negative_under_serializable_withdrawals() {
    common::for_each_store(|storage| {
        const PAIRS: u32 = 3;
        const WITHDRAWALS: u32 = 60;
        const THREADS: u32 = 2;
        let db = Database::builder()
            .storage(storage)
            .isolation(Serializable)
            .transact_attempts(1000)
            .build();
        let t: Test = db.create_table("accounts").unwrap();
        common::load(&db, &t, (0..PAIRS * 2).map(|k| (k, [5])));
        let withdrawn: i64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|th| {
                    let (db, t) = (&db, &t);
                    s.spawn(move || {
                        let mut total = 0;
                        for i in 0..WITHDRAWALS {
                            let pair = (i + th) % PAIRS;
                            let account = pair * 2 + (i / PAIRS + th) % 2;
                            total += db
                                .transact(|tx| {
                                    let sum: i64 =
                                        tx.scan(t, pair * 2..pair * 2 + 2)?.map(|(_, [v])| v).sum();
                                    if sum < 3 {
                                        return Ok(0);
                                    }
                                    tx.modify(t, &account, |[v]| *v -= 3)?;
                                    Ok(3)
                                })
                                .unwrap();
                        }
                        total
                    })
                })
                .collect();
            for _ in 0..WITHDRAWALS {
                let snap = db.begin();
                for pair in 0..PAIRS {
                    let sum: i64 = snap
                        .scan(&t, pair * 2..pair * 2 + 2)
                        .unwrap()
                        .map(|(_, [v])| v)
                        .sum();
                    assert!(sum >= 0, "pair {pair}: {sum}");
                }
            }
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        let end: Vec<i64> = db.begin().scan(&t, ..).unwrap().map(|(_, [v])| v).collect();
        for pair in end.chunks(2) {
            assert!(pair[0] + pair[1] >= 0, "{end:?}");
        }
        assert_eq!(end.iter().sum::<i64>(), 5 * 2 * PAIRS as i64 - withdrawn);
    });
}

/// Random histories of serializable transactions, checked against a serial
/// execution: every transaction that committed, replayed alone in commit
/// order (a transaction that wrote at its commit timestamp; one that wrote
/// nothing at its snapshot, after the commit of that timestamp) on a
/// `BTreeMap`, must read exactly what it read in the history, and the
/// replay must end in the database's state.
mod histories {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::collections::BTreeMap;

    const SLOTS: usize = 3;
    const KEYS: u8 = 6;

    #[derive(Debug, Clone)]
    enum Op {
        Get(usize, u8),
        Scan(usize, u8, u8),
        Put(usize, u8, i64),
        Delete(usize, u8),
        Commit(usize),
    }

    /// A call and what it answered.
    #[derive(Debug, Clone, PartialEq)]
    enum Step {
        Get(u8, Option<i64>),
        Scan(u8, u8, Vec<(u8, i64)>),
        Put(u8, i64, Option<i64>),
        Delete(u8, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let slot = || 0..SLOTS;
        let key = || 0..KEYS;
        prop_oneof![
            3 => (slot(), key()).prop_map(|(s, k)| Op::Get(s, k)),
            2 => (slot(), key(), key()).prop_map(|(s, a, b)| Op::Scan(s, a.min(b), a.max(b))),
            3 => (slot(), key(), 0i64..100).prop_map(|(s, k, v)| Op::Put(s, k, v)),
            1 => (slot(), key()).prop_map(|(s, k)| Op::Delete(s, k)),
            2 => slot().prop_map(Op::Commit),
        ]
    }

    /// A committed transaction: its place in the serial order (its
    /// timestamp, and whether it wrote nothing) and its steps.
    type Committed = ((u64, bool), Vec<Step>);

    struct Open {
        tx: Transaction,
        steps: Vec<Step>,
        wrote: bool,
    }

    /// Runs `ops` on the database; returns the committed transactions as
    /// (order key, steps), and how many failed to serialize.
    fn run(db: &Database, t: &Table<u8, [i64; 1]>, ops: &[Op]) -> (Vec<Committed>, usize) {
        let mut open: Vec<Option<Open>> = (0..SLOTS).map(|_| None).collect();
        let mut done = Vec::new();
        let mut failed = 0;
        let commit = |o: Open, done: &mut Vec<_>, failed: &mut usize| match o.tx.commit() {
            Ok(ts) => done.push(((ts.get(), !o.wrote), o.steps)),
            Err(Error::SerializationFailure) => *failed += 1,
            Err(Error::Aborted) => {}
            Err(e) => panic!("{e}"),
        };
        for op in ops {
            let slot = match *op {
                Op::Get(s, _)
                | Op::Scan(s, ..)
                | Op::Put(s, ..)
                | Op::Delete(s, _)
                | Op::Commit(s) => s,
            };
            if let Op::Commit(_) = op {
                if let Some(o) = open[slot].take() {
                    commit(o, &mut done, &mut failed);
                }
                continue;
            }
            let o = open[slot].get_or_insert_with(|| Open {
                tx: db.begin_with(Serializable),
                steps: Vec::new(),
                wrote: false,
            });
            let step = match *op {
                Op::Get(_, k) => o.tx.get(t, &k).map(|r| Step::Get(k, r.map(|[v]| v))),
                Op::Scan(_, a, b) => {
                    o.tx.scan(t, a..=b)
                        .map(|s| Step::Scan(a, b, s.map(|(k, [v])| (k, v)).collect()))
                }
                Op::Put(_, k, v) => {
                    o.tx.upsert(t, k, [v])
                        .map(|r| Step::Put(k, v, r.map(|[v]| v)))
                }
                Op::Delete(_, k) => match o.tx.delete(t, &k) {
                    Ok(()) => Ok(Step::Delete(k, true)),
                    Err(Error::NotFound) => Ok(Step::Delete(k, false)),
                    Err(e) => Err(e),
                },
                Op::Commit(_) => unreachable!(),
            };
            match step {
                Ok(step) => {
                    o.wrote |= matches!(step, Step::Put(..) | Step::Delete(_, true));
                    o.steps.push(step);
                }
                Err(Error::WriteConflict) => open[slot] = None,
                Err(e) => panic!("{e}"),
            }
        }
        for o in open.into_iter().flatten() {
            commit(o, &mut done, &mut failed);
        }
        (done, failed)
    }

    /// Replays `steps` alone on `state`, checking each answer.
    fn replay(state: &mut BTreeMap<u8, i64>, steps: &[Step]) -> Result<(), String> {
        for step in steps {
            let again = match *step {
                Step::Get(k, _) => Step::Get(k, state.get(&k).copied()),
                Step::Scan(a, b, _) => {
                    Step::Scan(a, b, state.range(a..=b).map(|(&k, &v)| (k, v)).collect())
                }
                Step::Put(k, v, _) => Step::Put(k, v, state.insert(k, v)),
                Step::Delete(k, _) => Step::Delete(k, state.remove(&k).is_some()),
            };
            if &again != step {
                return Err(format!("history {step:?}, serial {again:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn random_serializable_histories_equal_a_serial_execution_in_commit_order() {
        common::for_each_store(|storage| {
            let mut runner = TestRunner::new(Config {
                cases: 200,
                failure_persistence: None,
                ..Config::default()
            });
            let failures = std::cell::Cell::new(0);
            runner
                .run(&prop::collection::vec(op(), 1..40), |ops| {
                    let db = Database::new(storage);
                    let t = db.create_table::<u8, [i64; 1]>("t").unwrap();
                    let (mut done, failed) = run(&db, &t, &ops);
                    failures.set(failures.get() + failed);
                    done.sort_by_key(|(order, _)| *order);
                    let mut state = BTreeMap::new();
                    for (order, steps) in &done {
                        replay(&mut state, steps)
                            .map_err(|e| TestCaseError::fail(format!("at {order:?}: {e}")))?;
                    }
                    let end: BTreeMap<u8, i64> = db
                        .begin()
                        .scan(&t, ..)
                        .unwrap()
                        .map(|(k, [v])| (k, v))
                        .collect();
                    prop_assert_eq!(end, state);
                    Ok(())
                })
                .unwrap();
            // The histories do exercise validation.
            assert!(
                failures.get() > 0,
                "no serialization failure in 200 histories"
            );
        });
    }
}
