//! The Hermitage isolation anomalies (https://github.com/ept/hermitage),
//! each named after itself, on every store. Expected outcomes are
//! PostgreSQL's at REPEATABLE READ (snapshot isolation): all prevented except
//! G2-item and G2. Where PostgreSQL blocks the second writer and then aborts
//! it, multiverse's first-updater-wins answers `WriteConflict` at once.
//!
//! Setup as in Hermitage: `test` holds rows (1, 10) and (2, 20).

use multiverse::{Database, Error, Storage, Table};

type T = Table<u32, [i64; 1]>;

fn setup(storage: Storage) -> (Database, T) {
    let db = Database::new(storage);
    let t: T = db.create_table("test").unwrap();
    let mut tx = db.begin();
    tx.insert(&t, 1, [10]).unwrap();
    tx.insert(&t, 2, [20]).unwrap();
    tx.commit().unwrap();
    (db, t)
}

fn all(db: &Database, t: &T) -> Vec<(u32, [i64; 1])> {
    db.begin().scan(t, ..).unwrap().collect()
}

fn each(f: fn(Storage)) {
    for s in Storage::ALL {
        f(s);
    }
}

/// G0, write cycles: two transactions update the same rows; the second
/// writer conflicts at once and nothing interleaves.
#[test]
fn g0_write_cycles_are_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        t1.update(&t, &1, [11]).unwrap();
        assert_eq!(t2.update(&t, &1, [12]), Err(Error::WriteConflict), "{s}");
        t1.update(&t, &2, [21]).unwrap();
        t1.commit().unwrap();
        assert_eq!(t2.update(&t, &2, [22]), Err(Error::Aborted), "{s}");
        assert_eq!(t2.commit(), Err(Error::Aborted), "{s}");
        assert_eq!(all(&db, &t), vec![(1, [11]), (2, [21])], "{s}");
    });
}

/// G1a, aborted reads: nobody ever sees a value written by a transaction
/// that aborts.
#[test]
fn g1a_aborted_reads_are_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let t2 = db.begin();
        t1.update(&t, &1, [101]).unwrap();
        assert_eq!(
            t2.scan(&t, ..).unwrap().collect::<Vec<_>>(),
            vec![(1, [10]), (2, [20])],
            "{s}"
        );
        t1.rollback();
        assert_eq!(t2.get(&t, &1).unwrap(), Some([10]), "{s}");
        t2.commit().unwrap();
        assert_eq!(all(&db, &t), vec![(1, [10]), (2, [20])], "{s}");
    });
}

/// G1b, intermediate reads: nobody sees a value a transaction overwrote
/// before it committed.
#[test]
fn g1b_intermediate_reads_are_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let t2 = db.begin();
        t1.update(&t, &1, [101]).unwrap();
        assert_eq!(t2.get(&t, &1).unwrap(), Some([10]), "{s}");
        t1.update(&t, &1, [11]).unwrap();
        t1.commit().unwrap();
        assert_eq!(t2.get(&t, &1).unwrap(), Some([10]), "{s}: snapshot");
        assert_eq!(
            db.begin().get(&t, &1).unwrap(),
            Some([11]),
            "{s}: never 101"
        );
    });
}

/// G1c, circular information flow: each of two transactions reads what the
/// other wrote — impossible, each sees only the snapshot.
#[test]
fn g1c_circular_information_flow_is_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        t1.update(&t, &1, [11]).unwrap();
        t2.update(&t, &2, [22]).unwrap();
        assert_eq!(t1.get(&t, &2).unwrap(), Some([20]), "{s}");
        assert_eq!(t2.get(&t, &1).unwrap(), Some([10]), "{s}");
        t1.commit().unwrap();
        t2.commit().unwrap();
        assert_eq!(all(&db, &t), vec![(1, [11]), (2, [22])], "{s}");
    });
}

/// OTV, observed transaction vanishes: once a reader has seen a committed
/// transaction's writes, a later conflicting writer cannot make them vanish.
#[test]
fn otv_observed_transaction_vanishes_is_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        t1.update(&t, &1, [11]).unwrap();
        t1.update(&t, &2, [19]).unwrap();
        assert_eq!(t2.update(&t, &1, [12]), Err(Error::WriteConflict), "{s}");
        t1.commit().unwrap();
        let t3 = db.begin();
        assert_eq!(t3.get(&t, &1).unwrap(), Some([11]), "{s}");
        assert_eq!(t3.get(&t, &2).unwrap(), Some([19]), "{s}");
        assert_eq!(t2.commit(), Err(Error::Aborted), "{s}");
        assert_eq!(t3.get(&t, &2).unwrap(), Some([19]), "{s}");
    });
}

/// PMP, predicate-many-preceders: a predicate read (a scan) repeated in one
/// transaction does not see a row inserted and committed meanwhile.
#[test]
fn pmp_predicate_many_preceders_is_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let t1 = db.begin();
        let count = |tx: &multiverse::Transaction| {
            tx.scan(&t, ..).unwrap().filter(|(_, r)| r[0] == 30).count()
        };
        assert_eq!(count(&t1), 0, "{s}");
        let mut t2 = db.begin();
        t2.insert(&t, 3, [30]).unwrap();
        t2.commit().unwrap();
        assert_eq!(count(&t1), 0, "{s}: the snapshot holds");
        assert_eq!(count(&db.begin()), 1, "{s}");
    });
}

/// PMP for write predicates: a transaction that updates every row of its
/// snapshot does not touch a row deleted by a concurrent commit; it
/// conflicts on it instead of silently losing the delete.
#[test]
fn pmp_write_predicates_are_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        for (k, r) in t1.scan(&t, ..).unwrap().collect::<Vec<_>>() {
            t1.update(&t, &k, [r[0] + 10]).unwrap();
        }
        let keys: Vec<u32> = t2
            .scan(&t, ..)
            .unwrap()
            .filter(|(_, r)| r[0] == 20)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![2], "{s}: t2 reads its snapshot");
        assert_eq!(t2.delete(&t, &2), Err(Error::WriteConflict), "{s}");
        t1.commit().unwrap();
        assert_eq!(all(&db, &t), vec![(1, [20]), (2, [30])], "{s}");
    });
}

/// P4, lost update: two read-modify-writes of one row; the second conflicts.
#[test]
fn p4_lost_update_is_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(t1.get(&t, &1).unwrap(), Some([10]));
        assert_eq!(t2.get(&t, &1).unwrap(), Some([10]));
        t1.update(&t, &1, [11]).unwrap();
        assert_eq!(t2.update(&t, &1, [11]), Err(Error::WriteConflict), "{s}");
        t1.commit().unwrap();
        assert_eq!(t2.commit(), Err(Error::Aborted), "{s}");
    });
}

/// G-single, read skew: a transaction reads row 1, another updates both
/// rows and commits, the first reads row 2 — it sees the old row 2.
#[test]
fn g_single_read_skew_is_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(t1.get(&t, &1).unwrap(), Some([10]));
        assert_eq!(t2.get(&t, &1).unwrap(), Some([10]));
        assert_eq!(t2.get(&t, &2).unwrap(), Some([20]));
        t2.update(&t, &1, [12]).unwrap();
        t2.update(&t, &2, [18]).unwrap();
        t2.commit().unwrap();
        assert_eq!(t1.get(&t, &2).unwrap(), Some([20]), "{s}");
    });
}

/// G-single with a dependent write: the skewed reader's write to a row the
/// other transaction wrote conflicts.
#[test]
fn g_single_write_skew_on_a_written_row_is_prevented() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        assert_eq!(t1.get(&t, &1).unwrap(), Some([10]));
        t2.update(&t, &1, [12]).unwrap();
        t2.update(&t, &2, [18]).unwrap();
        t2.commit().unwrap();
        assert_eq!(t1.delete(&t, &2), Err(Error::WriteConflict), "{s}");
        assert_eq!(t1.commit(), Err(Error::Aborted), "{s}");
        assert_eq!(all(&db, &t), vec![(1, [12]), (2, [18])], "{s}");
    });
}

/// G2-item, write skew: each transaction reads both rows and updates a
/// different one. Snapshot isolation ALLOWS it: both commit.
#[test]
fn g2_item_write_skew_is_allowed() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        for tx in [&t1, &t2] {
            assert_eq!(tx.get(&t, &1).unwrap(), Some([10]));
            assert_eq!(tx.get(&t, &2).unwrap(), Some([20]));
        }
        t1.update(&t, &1, [11]).unwrap();
        t2.update(&t, &2, [21]).unwrap();
        t1.commit().unwrap();
        t2.commit().unwrap();
        assert_eq!(
            all(&db, &t),
            vec![(1, [11]), (2, [21])],
            "{s}: write skew, as SI allows"
        );
    });
}

/// G2, anti-dependency cycles with predicate reads: each transaction scans
/// for rows with value 30 (none), then inserts one. Snapshot isolation
/// ALLOWS it: both commit.
#[test]
fn g2_anti_dependency_cycles_are_allowed() {
    each(|s| {
        let (db, t) = setup(s);
        let mut t1 = db.begin();
        let mut t2 = db.begin();
        for tx in [&t1, &t2] {
            assert_eq!(
                tx.scan(&t, ..)
                    .unwrap()
                    .filter(|(_, r)| r[0] % 3 == 0)
                    .count(),
                0
            );
        }
        t1.insert(&t, 3, [30]).unwrap();
        t2.insert(&t, 4, [42]).unwrap();
        t1.commit().unwrap();
        t2.commit().unwrap();
        assert_eq!(all(&db, &t).len(), 4, "{s}: both commit, as SI allows");
    });
}
