//! The Hermitage isolation tests (Kleppmann, <https://github.com/ept/hermitage>),
//! each named after the anomaly it probes, each run on every store.
//!
//! multiverse gives snapshot isolation, so the expected outcomes are
//! PostgreSQL's at REPEATABLE READ (`postgres.md` in Hermitage): every anomaly
//! prevented except G2-item (write skew) and G2 (anti-dependency cycles),
//! which snapshot isolation allows. Two adaptations:
//!
//! * **Writes never block.** Where PostgreSQL blocks the second writer of a
//!   row until the first ends and then fails it ("could not serialize access
//!   due to concurrent update"), multiverse's first-updater-wins answers the
//!   second write with `Err(WriteConflict)` at once; every later call of that
//!   transaction, `commit` included, answers `Err(Aborted)`.
//! * **The snapshot is taken at `begin`** (PostgreSQL takes it at the first
//!   statement). Every test below begins its transactions where Hermitage
//!   issues `begin`; where that changes what a transaction reads (OTV), the
//!   test says so.
//!
//! The setup, as in Hermitage: `create table test (id int primary key, value
//! int)` holding (1, 10) and (2, 20). SQL statements become the calls below:
//! `select ... where P` is a scan filtered by `P` (a predicate read), `update
//! ... where P` and `delete ... where P` are such a scan followed by writes of
//! the rows it found. Each step is commented with its Hermitage statement.

#[macro_use]
mod common;

use common::hermitage::*;

use multiverse::Storage;

for_each_store! {
    /// **G0, write cycles (dirty writes): prevented.** Two transactions
    /// update the same two rows. The second writer of row 1 gets
    /// `WriteConflict` (after a bounded wait at most; PostgreSQL blocks it,
    /// then fails it), so the final state is wholly T1's: 1 => 11, 2 => 21.
    fn g0_write_cycles(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        update(&mut t1, &t, 1, 11).unwrap(); // T1: update test set value = 11 where id = 1
        assert_err!(update(&mut t2, &t, 1, 12), WriteConflict); // T2: update ... 12 where id = 1
        update(&mut t1, &t, 2, 21).unwrap(); // T1: update test set value = 21 where id = 2
        assert_eq!(select_all(&t1, &t), vec![(1, 11), (2, 21)]); // T1: select * from test
        t1.commit().unwrap(); // T1: commit
        assert_err!(update(&mut t2, &t, 2, 22), Aborted); // T2: update ... 22 where id = 2
        assert_err!(t2.commit(), Aborted); // T2: commit
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 21)]); // either: select * from test
    }

    /// **G1a, aborted reads (dirty reads): prevented.** T2 never sees the
    /// value written by T1, which aborts: 1 => 10 before and after.
    fn g1a_aborted_reads(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let t2 = db.begin();
        update(&mut t1, &t, 1, 101).unwrap(); // T1: update test set value = 101 where id = 1
        assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]); // T2: select * from test
        t1.rollback(); // T1: abort
        assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]); // T2: select * from test
        t2.commit().unwrap(); // T2: commit
        assert_eq!(committed(&db, &t), vec![(1, 10), (2, 20)]);
    }

    /// **G1b, intermediate reads (dirty reads): prevented.** T2 never sees
    /// 101, the value T1 overwrote before committing 11; at REPEATABLE READ
    /// T2 keeps reading its snapshot (10) even after T1 commits.
    fn g1b_intermediate_reads(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let t2 = db.begin();
        update(&mut t1, &t, 1, 101).unwrap(); // T1: update test set value = 101 where id = 1
        assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]); // T2: select * from test
        update(&mut t1, &t, 1, 11).unwrap(); // T1: update test set value = 11 where id = 1
        t1.commit().unwrap(); // T1: commit
        assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]); // T2: select * from test
        t2.commit().unwrap(); // T2: commit
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)]);
    }

    /// **G1c, circular information flow (dirty reads): prevented.** Each
    /// transaction updates one row and reads the other's: neither sees the
    /// other's uncommitted write, and both commit: 1 => 11, 2 => 22.
    fn g1c_circular_information_flow(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        update(&mut t1, &t, 1, 11).unwrap(); // T1: update test set value = 11 where id = 1
        update(&mut t2, &t, 2, 22).unwrap(); // T2: update test set value = 22 where id = 2
        assert_eq!(select_id(&t1, &t, 2), Some(20)); // T1: select * from test where id = 2
        assert_eq!(select_id(&t2, &t, 1), Some(10)); // T2: select * from test where id = 1
        t1.commit().unwrap(); // T1: commit
        t2.commit().unwrap(); // T2: commit
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 22)]);
    }

    /// **OTV, observed transaction vanishes: prevented.** T1 writes both
    /// rows and commits; T2's write of row 1 conflicts at once and T2 is
    /// aborted, so it can never overwrite part of what T1 wrote. T3, begun
    /// with T1 and T2, reads its snapshot throughout (1 => 10, 2 => 20);
    /// T4, begun after T1's commit, sees all of T1 (1 => 11, 2 => 19), and
    /// keeps seeing it: nothing of T1 vanishes.
    fn otv_observed_transaction_vanishes(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        let t3 = db.begin();
        update(&mut t1, &t, 1, 11).unwrap(); // T1: update test set value = 11 where id = 1
        update(&mut t1, &t, 2, 19).unwrap(); // T1: update test set value = 19 where id = 2
        assert_err!(update(&mut t2, &t, 1, 12), WriteConflict); // T2: update ... 12 where id = 1
        t1.commit().unwrap(); // T1: commit
        let t4 = db.begin();
        assert_eq!(select_id(&t3, &t, 1), Some(10)); // T3: select * from test where id = 1
        assert_eq!(select_id(&t4, &t, 1), Some(11));
        assert_err!(update(&mut t2, &t, 2, 18), Aborted); // T2: update ... 18 where id = 2
        assert_eq!(select_id(&t3, &t, 2), Some(20)); // T3: select * from test where id = 2
        assert_eq!(select_id(&t4, &t, 2), Some(19));
        assert_err!(t2.commit(), Aborted); // T2: commit
        assert_eq!(select_id(&t3, &t, 2), Some(20)); // T3: select * from test where id = 2
        assert_eq!(select_id(&t3, &t, 1), Some(10)); // T3: select * from test where id = 1
        assert_eq!(select_all(&t4, &t), vec![(1, 11), (2, 19)]);
        t3.commit().unwrap(); // T3: commit
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 19)]);
    }

    /// **PMP, predicate-many-preceders: prevented.** T1's predicate read (a
    /// scan) finds no row with value 30; T2 inserts one and commits; T1's
    /// second predicate read still finds nothing.
    fn pmp_predicate_many_preceders(storage: Storage) {
        let (db, t) = setup(storage);
        let t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select(&t1, &t, |v| v == 30), vec![]); // T1: select * from test where value = 30
        t2.insert(&t, 3, [30]).unwrap(); // T2: insert into test (id, value) values (3, 30)
        t2.commit().unwrap(); // T2: commit
        assert_eq!(select(&t1, &t, |v| v % 3 == 0), vec![]); // T1: ... where value % 3 = 0
        assert_eq!(t1.scan(&t, 3..).unwrap().count(), 0, "nor in a key range");
        t1.commit().unwrap(); // T1: commit
        assert_eq!(committed(&db, &t), vec![(1, 10), (2, 20), (3, 30)]);
    }

    /// **PMP for write predicates: prevented.** T1 adds 10 to every row;
    /// T2's `delete where value = 20` reads its snapshot, finds row 2 (which
    /// T1 holds) and conflicts at once (PostgreSQL blocks it until T1
    /// commits, then fails it). The final state is T1's: 1 => 20, 2 => 30.
    fn pmp_write_predicate_many_preceders(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        // T1: update test set value = value + 10
        update_where(&mut t1, &t, |_| true, |v| v + 10).unwrap();
        // T2: delete from test where value = 20 (a predicate read of its
        // snapshot, then a delete of what it found)
        assert_eq!(select(&t2, &t, |v| v == 20), vec![(2, 20)]);
        assert_err!(delete_where(&mut t2, &t, |v| v == 20), WriteConflict);
        t1.commit().unwrap(); // T1: commit
        assert_err!(t2.commit(), Aborted); // T2: abort
        assert_eq!(committed(&db, &t), vec![(1, 20), (2, 30)]);
    }

    /// **P4, lost update: prevented.** Both transactions read row 1 and
    /// write it; the second write conflicts at once, so T1's update is not
    /// overwritten: 1 => 11, written once.
    fn p4_lost_update(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select_id(&t1, &t, 1), Some(10)); // T1: select * from test where id = 1
        assert_eq!(select_id(&t2, &t, 1), Some(10)); // T2: select * from test where id = 1
        update(&mut t1, &t, 1, 11).unwrap(); // T1: update test set value = 11 where id = 1
        assert_err!(update(&mut t2, &t, 1, 11), WriteConflict); // T2: update ... 11 where id = 1
        t1.commit().unwrap(); // T1: commit
        assert_err!(t2.commit(), Aborted); // T2: abort
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 20)]);
    }

    /// **P4, lost update, with read-modify-writes that do not overlap: prevented.**
    /// Two increments of row 1 from one snapshot; T1 commits before T2
    /// writes. T2's increment (of a stale 10) conflicts with the version
    /// committed after its snapshot; retried in a new transaction it makes
    /// 12: no increment is lost.
    fn p4_lost_update_after_the_first_commits(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select_id(&t2, &t, 1), Some(10));
        t1.modify(&t, &1, |[v]| *v += 1).unwrap();
        t1.commit().unwrap();
        assert_err!(t2.modify(&t, &1, |[v]| *v += 1), WriteConflict);
        assert_err!(t2.commit(), Aborted);
        let mut retry = db.begin();
        retry.modify(&t, &1, |[v]| *v += 1).unwrap();
        retry.commit().unwrap();
        assert_eq!(committed(&db, &t), vec![(1, 12), (2, 20)]);
    }

    /// **G-single, single anti-dependency cycle (read skew): prevented.**
    /// T1 reads row 1, T2 updates both rows and commits, T1 reads row 2: it
    /// sees 20, consistent with the 10 it read, not T2's 18.
    fn g_single_read_skew(storage: Storage) {
        let (db, t) = setup(storage);
        let t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select_id(&t1, &t, 1), Some(10)); // T1: select * from test where id = 1
        assert_eq!(select_id(&t2, &t, 1), Some(10)); // T2: select * from test where id = 1
        assert_eq!(select_id(&t2, &t, 2), Some(20)); // T2: select * from test where id = 2
        update(&mut t2, &t, 1, 12).unwrap(); // T2: update test set value = 12 where id = 1
        update(&mut t2, &t, 2, 18).unwrap(); // T2: update test set value = 18 where id = 2
        t2.commit().unwrap(); // T2: commit
        assert_eq!(select_id(&t1, &t, 2), Some(20)); // T1: select * from test where id = 2
        t1.commit().unwrap(); // T1: commit
        assert_eq!(committed(&db, &t), vec![(1, 12), (2, 18)]);
    }

    /// **G-single with predicate dependencies: prevented.** T1's predicate
    /// read finds 10 and 20; T2 turns 10 into 12 and commits; T1's second
    /// predicate read (`value % 3 = 0`) finds nothing: it does not see 12.
    fn g_single_dependencies(storage: Storage) {
        let (db, t) = setup(storage);
        let t1 = db.begin();
        let mut t2 = db.begin();
        // T1: ... where value % 5 = 0
        assert_eq!(select(&t1, &t, |v| v % 5 == 0), vec![(1, 10), (2, 20)]);
        // T2: update ... 12 where value = 10
        update_where(&mut t2, &t, |v| v == 10, |_| 12).unwrap();
        t2.commit().unwrap(); // T2: commit
        assert_eq!(select(&t1, &t, |v| v % 3 == 0), vec![]); // T1: ... where value % 3 = 0
        t1.commit().unwrap(); // T1: commit
        assert_eq!(committed(&db, &t), vec![(1, 12), (2, 20)]);
    }

    /// **G-single with a write predicate (g-single-write-1): prevented.**
    /// T1 reads row 1; T2 updates both rows and commits; T1's `delete where
    /// value = 20` finds row 2 in its snapshot, whose newest version T2
    /// committed after it: write conflict, T1 aborted. Final: T2's 12, 18.
    fn g_single_write_1(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select_id(&t1, &t, 1), Some(10)); // T1: select * from test where id = 1
        assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]); // T2: select * from test
        update(&mut t2, &t, 1, 12).unwrap(); // T2: update test set value = 12 where id = 1
        update(&mut t2, &t, 2, 18).unwrap(); // T2: update test set value = 18 where id = 2
        t2.commit().unwrap(); // T2: commit
                              // T1: delete ... where value = 20
        assert_err!(delete_where(&mut t1, &t, |v| v == 20), WriteConflict);
        assert_err!(t1.commit(), Aborted); // T1: abort
        assert_eq!(committed(&db, &t), vec![(1, 12), (2, 18)]);
    }

    /// **G-single with interleaved writes (g-single-write-2): prevented.**
    /// T2 updates row 1; T1 deletes row 2 (`where value = 20`) first; T2's
    /// update of row 2 then conflicts at once. (A blocking engine would make
    /// T2 wait for T1; here the first updater wins at write time, so T2 is
    /// aborted even though T1 then rolls back.) Neither commits: 1 => 10,
    /// 2 => 20.
    fn g_single_write_2(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select_id(&t1, &t, 1), Some(10)); // T1: select * from test where id = 1
        assert_eq!(select_all(&t2, &t), vec![(1, 10), (2, 20)]); // T2: select * from test
        update(&mut t2, &t, 1, 12).unwrap(); // T2: update test set value = 12 where id = 1
        delete_where(&mut t1, &t, |v| v == 20).unwrap(); // T1: delete from test where value = 20
        assert_err!(update(&mut t2, &t, 2, 18), WriteConflict); // T2: update ... 18 where id = 2
        assert_eq!(select_all(&t1, &t), vec![(1, 10)]);
        t1.rollback(); // T1: rollback
        assert_err!(t2.commit(), Aborted); // T2: commit
        assert_eq!(committed(&db, &t), vec![(1, 10), (2, 20)]);
    }

    /// **G2-item, item anti-dependency cycle (write skew): ALLOWED** under
    /// snapshot isolation. Each transaction reads both rows and updates a
    /// different one; no row is written twice, so both commit: 1 => 11,
    /// 2 => 21 (a serializable engine would abort one).
    fn g2_item_write_skew(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select(&t1, &t, |_| true), vec![(1, 10), (2, 20)]); // T1: ... where id in (1, 2)
        assert_eq!(select(&t2, &t, |_| true), vec![(1, 10), (2, 20)]); // T2: ... where id in (1, 2)
        update(&mut t1, &t, 1, 11).unwrap(); // T1: update test set value = 11 where id = 1
        update(&mut t2, &t, 2, 21).unwrap(); // T2: update test set value = 21 where id = 2
        t1.commit().unwrap(); // T1: commit
        t2.commit().unwrap(); // T2: commit
        assert_eq!(committed(&db, &t), vec![(1, 11), (2, 21)]);
    }

    /// **G2, anti-dependency cycle with predicate reads: ALLOWED** under
    /// snapshot isolation. Both transactions find no row with `value % 3 =
    /// 0`, then each inserts one (different keys); both commit, and the
    /// predicate then finds both rows.
    fn g2_anti_dependency_cycles(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(select(&t1, &t, |v| v % 3 == 0), vec![]); // T1: ... where value % 3 = 0
        assert_eq!(select(&t2, &t, |v| v % 3 == 0), vec![]); // T2: ... where value % 3 = 0
        t1.insert(&t, 3, [30]).unwrap(); // T1: insert into test (id, value) values (3, 30)
        t2.insert(&t, 4, [42]).unwrap(); // T2: insert into test (id, value) values (4, 42)
        t1.commit().unwrap(); // T1: commit
        t2.commit().unwrap(); // T2: commit
        assert_eq!(
            select(&db.begin(), &t, |v| v % 3 == 0),
            vec![(3, 30), (4, 42)]
        ); // either
    }

    /// **G2 with two anti-dependency edges (Fekete et al.): ALLOWED** under
    /// snapshot isolation. T1 reads both rows; T2 adds 5 to row 2 and
    /// commits; T3 begins, reads 10 and 25, commits; T1 then updates row 1,
    /// which nobody else wrote, and commits (a serializable engine would
    /// abort T1). Final: 1 => 0, 2 => 25.
    fn g2_two_edges(storage: Storage) {
        let (db, t) = setup(storage);
        let mut t1 = db.begin();
        assert_eq!(select_all(&t1, &t), vec![(1, 10), (2, 20)]); // T1: select * from test
        let mut t2 = db.begin();
        t2.modify(&t, &2, |[v]| *v += 5).unwrap(); // T2: update ... value + 5 where id = 2
        t2.commit().unwrap(); // T2: commit
        let t3 = db.begin();
        assert_eq!(select_all(&t3, &t), vec![(1, 10), (2, 25)]); // T3: select * from test
        t3.commit().unwrap(); // T3: commit
        update(&mut t1, &t, 1, 0).unwrap(); // T1: update test set value = 0 where id = 1
        t1.commit().unwrap(); // T1: commit
        assert_eq!(committed(&db, &t), vec![(1, 0), (2, 25)]);
    }
}
