//! Proxy sessions (OceanBase ODP): a client session whose statements run on
//! per-partition backend sessions, synced by category versions before each
//! statement. ODP's own example, with and without the sync, in memory and
//! across a crash; the sync's counts; the transaction rules.

use multiverse::{Storage, Value};
use multiverse_cluster::{Cluster, ClusterSession, ClusterTable, Error};

type Rows = ClusterTable<u64, [i64; 1]>;

/// A cluster of three partitions with table `t`, and a key on partition 1
/// and one on partition 2 (ODP's example writes on two servers).
fn cluster(storage: Storage) -> (Cluster, Rows, u64, u64) {
    let cluster = Cluster::builder()
        .partitions(3)
        .storage(storage)
        .table::<u64, [i64; 1]>("t")
        .build()
        .unwrap();
    let t = cluster.table::<u64, [i64; 1]>("t").unwrap();
    let (a, b) = keys(&t);
    (cluster, t, a, b)
}

/// The first key on partition 1 and the first on partition 2.
fn keys(t: &Rows) -> (u64, u64) {
    let on = |p| (0..1000u64).find(|k| t.partition_of(k) == p).unwrap();
    (on(1), on(2))
}

/// The committed row of `key`, read by a fresh transaction.
fn committed(cluster: &Cluster, t: &Rows, key: u64) -> Option<[i64; 1]> {
    cluster.begin().get(t, &key).unwrap()
}

fn prepares(cluster: &Cluster) -> u64 {
    cluster.stats().iter().map(|s| s.prepares).sum()
}

fn for_each_store(f: impl Fn(Storage)) {
    for storage in Storage::ALL {
        f(storage);
    }
}

/// ODP's example up to the commit: the client's connection first lands on
/// `a`'s partition (a read), the client turns autocommit off, writes `a`
/// (partition 1), then `b` (partition 2).
fn odp_example(s: &mut ClusterSession, t: &Rows, a: u64, b: u64) {
    assert_eq!(s.get(t, &a).unwrap(), None);
    s.set_autocommit(false).unwrap();
    s.insert(t, a, [1]).unwrap();
    s.insert(t, b, [2]).unwrap();
}

#[test]
fn odp_example_commits_both_rows_together_by_one_two_phase_commit() {
    for_each_store(|storage| {
        let (cluster, t, a, b) = cluster(storage);
        let mut s = cluster.session();
        odp_example(&mut s, &t, a, b);
        assert!(s.in_transaction());
        assert_eq!(committed(&cluster, &t, a), None, "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), None, "{storage:?}");
        let done = s.commit().unwrap().expect("a transaction was open");
        assert_eq!(done.participants, 2, "{storage:?}");
        assert_eq!(prepares(&cluster), 2, "{storage:?}: one 2PC, two prepares");
        assert!(!s.in_transaction());
        assert_eq!(committed(&cluster, &t, a), Some([1]), "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), Some([2]), "{storage:?}");
    });
}

#[test]
fn odp_example_without_the_commit_leaves_neither_row() {
    for_each_store(|storage| {
        // Rolled back.
        let (cluster, t, a, b) = cluster(storage);
        let mut s = cluster.session();
        odp_example(&mut s, &t, a, b);
        s.rollback();
        assert!(!s.in_transaction());
        assert_eq!(committed(&cluster, &t, a), None, "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), None, "{storage:?}");
        // The commit never arrives: the session goes away.
        let mut s = cluster.session();
        odp_example(&mut s, &t, a, b);
        drop(s);
        assert_eq!(committed(&cluster, &t, a), None, "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), None, "{storage:?}");
        assert_eq!(prepares(&cluster), 0, "{storage:?}");
    });
}

#[test]
fn without_context_sync_the_second_partition_commits_alone() {
    for_each_store(|storage| {
        let (cluster, t, a, b) = cluster(storage);
        let mut s = cluster.session();
        s.without_context_sync();
        odp_example(&mut s, &t, a, b);
        // Partition 2's backend never learned that autocommit is off: its
        // insert committed at once, outside the client's transaction.
        assert_eq!(s.backend(2).map(|c| c.autocommit()), Some(true));
        assert_eq!(committed(&cluster, &t, b), Some([2]), "{storage:?}");
        s.rollback();
        assert_eq!(committed(&cluster, &t, a), None, "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), Some([2]), "{storage:?}");
        assert_eq!(s.syncs(), 0);
    });
}

/// ODP's example on a durable cluster, crashed before the commit: the
/// session is forgotten (nothing it holds is rolled back or written
/// later), the cluster reopened from its logs. Returns what survived.
fn crash_before_commit(sync: bool) -> (Option<[i64; 1]>, Option<[i64; 1]>) {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Cluster::builder()
            .partitions(3)
            .durable(dir.path())
            .table::<u64, [i64; 1]>("t")
            .build()
            .unwrap()
    };
    let cluster = open();
    let t = cluster.table::<u64, [i64; 1]>("t").unwrap();
    let (a, b) = keys(&t);
    let mut s = cluster.session();
    if !sync {
        s.without_context_sync();
    }
    odp_example(&mut s, &t, a, b);
    std::mem::forget(s);
    drop(cluster);
    let cluster = open();
    let t = cluster.table::<u64, [i64; 1]>("t").unwrap();
    (committed(&cluster, &t, a), committed(&cluster, &t, b))
}

#[test]
fn odp_example_crashed_before_the_commit_recovers_neither_row() {
    assert_eq!(crash_before_commit(true), (None, None));
}

#[test]
fn without_context_sync_a_crash_before_the_commit_recovers_the_second_row_alone() {
    assert_eq!(crash_before_commit(false), (None, Some([2])));
}

#[test]
fn a_sync_copies_only_the_stale_categories() {
    let (cluster, t, a, b) = cluster(Storage::Delta);
    let mut s = cluster.session();
    assert_eq!(s.backend(1), None, "no backend before a statement");
    // Nothing set yet: a new backend has the client's state already.
    s.get(&t, &a).unwrap();
    assert_eq!(s.syncs(), 0);
    s.set_autocommit(false).unwrap();
    s.set_var("batch", Value::Int(8)).unwrap();
    // First statement on partition 1 since: both categories.
    s.insert(&t, a, [1]).unwrap();
    assert_eq!(s.syncs(), 2);
    assert_eq!(s.backend(1), Some(s.context()));
    // The second statement there copies nothing.
    s.get(&t, &a).unwrap();
    assert_eq!(s.syncs(), 2);
    // Partition 2's backend is new: both categories.
    s.insert(&t, b, [2]).unwrap();
    assert_eq!(s.syncs(), 4);
    assert_eq!(s.backend(2), Some(s.context()));
    // A variable changes: partition 1 copies the user variables alone;
    // partition 2's backend stays stale until a statement goes there.
    s.set_var("batch", Value::Int(9)).unwrap();
    s.get(&t, &a).unwrap();
    assert_eq!(s.syncs(), 5);
    assert_eq!(s.backend(1), Some(s.context()));
    assert_eq!(
        s.backend(2).unwrap().var("batch"),
        Some(&Value::Int(8)),
        "stale until routed to"
    );
    // Setting the value autocommit has bumps nothing.
    s.set_autocommit(false).unwrap();
    s.get(&t, &b).unwrap();
    assert_eq!(s.syncs(), 6);
    assert_eq!(s.backend(2), Some(s.context()));
    assert_eq!(s.var("batch"), Some(Value::Int(9)));
    // A change of autocommit commits the implicit transaction, then is
    // copied to each backend at its next statement: the system category.
    s.set_autocommit(true).unwrap();
    assert!(!s.in_transaction());
    assert_eq!(committed(&cluster, &t, a), Some([1]));
    assert_eq!(committed(&cluster, &t, b), Some([2]));
    s.get(&t, &a).unwrap();
    s.get(&t, &b).unwrap();
    assert_eq!(s.syncs(), 8);
}

#[test]
fn set_inside_an_explicit_transaction_is_refused_and_the_transaction_goes_on() {
    for_each_store(|storage| {
        let (cluster, t, a, b) = cluster(storage);
        let mut s = cluster.session();
        // Autocommit on, an explicit transaction: statements join it.
        s.begin().unwrap();
        s.insert(&t, a, [1]).unwrap();
        let versions = s.context().versions();
        assert!(matches!(
            s.set_var("x", Value::Int(1)),
            Err(Error::NotAllowedInTransaction)
        ));
        assert!(matches!(
            s.set_autocommit(false),
            Err(Error::NotAllowedInTransaction)
        ));
        assert_eq!(s.context().versions(), versions, "{storage:?}");
        assert_eq!(s.var("x"), None);
        assert!(s.autocommit());
        assert!(s.in_transaction());
        s.insert(&t, b, [2]).unwrap();
        assert_eq!(committed(&cluster, &t, a), None, "{storage:?}");
        assert_eq!(s.commit().unwrap().unwrap().participants, 2);
        assert_eq!(committed(&cluster, &t, a), Some([1]), "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), Some([2]), "{storage:?}");
        // In an implicit transaction a SET is allowed.
        s.set_autocommit(false).unwrap();
        s.update(&t, &a, [3]).unwrap();
        s.set_var("x", Value::Int(1)).unwrap();
        assert!(s.in_transaction());
        assert_eq!(s.var("x"), Some(Value::Int(1)));
        // `begin` commits the implicit transaction first.
        s.begin().unwrap();
        assert_eq!(committed(&cluster, &t, a), Some([3]), "{storage:?}");
        s.rollback();
        assert!(!s.in_transaction());
    });
}

#[test]
fn autocommit_on_commits_each_statement_at_once() {
    for_each_store(|storage| {
        let (cluster, t, a, b) = cluster(storage);
        let mut s = cluster.session();
        s.insert(&t, a, [1]).unwrap();
        assert!(!s.in_transaction());
        assert_eq!(committed(&cluster, &t, a), Some([1]), "{storage:?}");
        s.insert(&t, b, [2]).unwrap();
        assert_eq!(committed(&cluster, &t, b), Some([2]), "{storage:?}");
        s.delete(&t, &a).unwrap();
        assert_eq!(committed(&cluster, &t, a), None, "{storage:?}");
        s.upsert(&t, b, [3]).unwrap();
        assert_eq!(committed(&cluster, &t, b), Some([3]), "{storage:?}");
        // A rollback has nothing to undo, a commit nothing to commit.
        s.rollback();
        assert_eq!(s.commit().unwrap(), None);
        assert_eq!(committed(&cluster, &t, b), Some([3]), "{storage:?}");
        let stats = cluster.stats();
        assert_eq!(prepares(&cluster), 0, "{storage:?}: no 2PC");
        assert_eq!(
            stats.iter().map(|s| s.local_commits).sum::<u64>(),
            4,
            "{storage:?}: one commit per write"
        );
    });
}

#[test]
fn a_write_conflict_ends_the_transaction_at_a_boundary() {
    for_each_store(|storage| {
        let (cluster, t, a, b) = cluster(storage);
        cluster
            .transact(|tx| {
                tx.insert(&t, a, [0])?;
                tx.insert(&t, b, [0])
            })
            .unwrap();
        let mut s = cluster.session();
        s.set_autocommit(false).unwrap();
        s.update(&t, &a, [10]).unwrap();
        // Another client commits `b` after the session's snapshot.
        cluster.transact(|tx| tx.update(&t, &b, [99])).unwrap();
        let e = s.update(&t, &b, [20]).unwrap_err();
        assert!(
            matches!(e, Error::Engine(multiverse::Error::WriteConflict)),
            "{storage:?}: {e:?}"
        );
        assert!(e.is_retryable());
        // The whole transaction is gone, `a`'s write with it.
        assert!(!s.in_transaction(), "{storage:?}");
        assert_eq!(s.commit().unwrap(), None);
        assert_eq!(committed(&cluster, &t, a), Some([0]), "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), Some([99]), "{storage:?}");
        // The next statement starts afresh.
        s.update(&t, &b, [20]).unwrap();
        s.update(&t, &a, [10]).unwrap();
        assert_eq!(s.commit().unwrap().unwrap().participants, 2);
        assert_eq!(committed(&cluster, &t, a), Some([10]), "{storage:?}");
        assert_eq!(committed(&cluster, &t, b), Some([20]), "{storage:?}");
    });
}

#[test]
fn a_failed_statement_that_is_not_a_conflict_leaves_the_transaction_open() {
    let (cluster, t, a, b) = cluster(Storage::Delta);
    let mut s = cluster.session();
    s.set_autocommit(false).unwrap();
    s.insert(&t, a, [1]).unwrap();
    let e = s.update(&t, &b, [2]).unwrap_err();
    assert!(
        matches!(e, Error::Engine(multiverse::Error::NotFound)),
        "{e:?}"
    );
    assert!(s.in_transaction());
    s.insert(&t, b, [2]).unwrap();
    s.commit().unwrap();
    assert_eq!(committed(&cluster, &t, a), Some([1]));
    assert_eq!(committed(&cluster, &t, b), Some([2]));
}

#[test]
fn a_session_moves_to_another_thread_with_its_transaction() {
    let (cluster, t, a, b) = cluster(Storage::Delta);
    let mut s = cluster.session();
    s.set_autocommit(false).unwrap();
    s.insert(&t, a, [1]).unwrap();
    let t2 = t.clone();
    let mut s = std::thread::spawn(move || {
        s.insert(&t2, b, [2]).unwrap();
        s
    })
    .join()
    .unwrap();
    assert_eq!(committed(&cluster, &t, b), None);
    s.commit().unwrap();
    assert_eq!(committed(&cluster, &t, a), Some([1]));
    assert_eq!(committed(&cluster, &t, b), Some([2]));
}
