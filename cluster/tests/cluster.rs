//! The cluster under threads: atomic transfers over partitions with
//! scanning readers, on every store and both protocols; durability across
//! a reopen; the schema's errors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use multiverse::Storage;
use multiverse_cluster::{Cluster, ClusterTable, Error, Protocol};

const ACCOUNTS: u64 = 32;
const INITIAL: i64 = 1_000;

type Accounts = ClusterTable<u64, [i64; 1]>;

fn bank(builder: multiverse_cluster::ClusterBuilder) -> (Cluster, Accounts) {
    let cluster = builder.table::<u64, [i64; 1]>("accounts").build().unwrap();
    let accounts = cluster.table::<u64, [i64; 1]>("accounts").unwrap();
    cluster
        .transact(|tx| {
            for id in 0..ACCOUNTS {
                tx.insert(&accounts, id, [INITIAL])?;
            }
            Ok(())
        })
        .unwrap();
    (cluster, accounts)
}

fn total(cluster: &Cluster, accounts: &Accounts) -> i64 {
    let mut tx = cluster.begin();
    let rows = tx.scan(accounts, ..).unwrap();
    assert_eq!(rows.len() as u64, ACCOUNTS);
    rows.iter().map(|(_, [v])| v).sum()
}

/// One transfer; `Ok(true)` if it committed, `Ok(false)` on a retryable
/// failure.
fn transfer(cluster: &Cluster, accounts: &Accounts, from: u64, to: u64, amount: i64) -> bool {
    let mut tx = cluster.begin();
    let step = |tx: &mut multiverse_cluster::ClusterTransaction| -> multiverse_cluster::Result<()> {
        let [a] = tx.get(accounts, &from)?.expect("an account");
        let [b] = tx.get(accounts, &to)?.expect("an account");
        tx.update(accounts, &from, [a - amount])?;
        tx.update(accounts, &to, [b + amount])
    };
    match step(&mut tx).and_then(|()| tx.commit().map(|_| ())) {
        Ok(()) => true,
        Err(e) if e.is_retryable() => false,
        Err(e) => panic!("transfer {from} → {to}: {e}"),
    }
}

#[test]
fn transfers_across_partitions_keep_the_total_at_every_snapshot() {
    for storage in Storage::ALL {
        for protocol in [Protocol::FirstParticipant, Protocol::Classic] {
            let (cluster, accounts) = bank(
                Cluster::builder()
                    .partitions(4)
                    .storage(storage)
                    .protocol(protocol),
            );
            let stop = AtomicBool::new(false);
            let committed = AtomicU64::new(0);
            std::thread::scope(|s| {
                for t in 0..2u64 {
                    let (cluster, accounts, committed) = (&cluster, &accounts, &committed);
                    s.spawn(move || {
                        let mut rng = fastrand::Rng::with_seed(t);
                        for _ in 0..400 {
                            let from = rng.u64(..ACCOUNTS);
                            let to = (from + 1 + rng.u64(..ACCOUNTS - 1)) % ACCOUNTS;
                            if transfer(cluster, accounts, from, to, rng.i64(1..50)) {
                                committed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
                s.spawn(|| {
                    let mut checks = 0;
                    while !stop.load(Ordering::Relaxed) || checks < 10 {
                        assert_eq!(
                            total(&cluster, &accounts),
                            INITIAL * ACCOUNTS as i64,
                            "{storage} {protocol:?}"
                        );
                        checks += 1;
                        if checks > 10_000 {
                            break;
                        }
                    }
                });
                // The scope waits for the writers first (they end), then
                // the reader stops.
                s.spawn(|| {
                    while committed.load(Ordering::Relaxed) < 200 {
                        std::thread::yield_now();
                    }
                    stop.store(true, Ordering::Relaxed);
                });
            });
            assert_eq!(total(&cluster, &accounts), INITIAL * ACCOUNTS as i64);
            let stats = cluster.stats();
            let prepares: u64 = stats.iter().map(|s| s.prepares).sum();
            let commits: u64 = stats.iter().map(|s| s.commits).sum();
            assert!(
                prepares > 100,
                "{storage} {protocol:?}: distributed commits ran ({prepares} prepares)"
            );
            assert!(commits > 100, "{storage} {protocol:?}: {commits}");
            assert_eq!(stats.iter().map(|s| s.violations).sum::<u64>(), 0);
            assert!(committed.load(Ordering::Relaxed) >= 200);
        }
    }
}

#[test]
fn a_distributed_commit_waits_one_round_and_one_sync_the_classic_two_and_four_writes() {
    for (protocol, hops, writes, syncs) in [
        (Protocol::FirstParticipant, 3, 1, 1),
        (Protocol::Classic, 5, 4, 4),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, accounts) = bank(
            Cluster::builder()
                .partitions(2)
                .protocol(protocol)
                .durable(dir.path()),
        );
        let (a, b) = (0..ACCOUNTS)
            .flat_map(|a| (0..ACCOUNTS).map(move |b| (a, b)))
            .find(|(a, b)| accounts.partition_of(a) != accounts.partition_of(b))
            .unwrap();
        let mut tx = cluster.begin();
        tx.update(&accounts, &a, [1]).unwrap();
        tx.update(&accounts, &b, [2]).unwrap();
        let c = tx.commit().unwrap();
        assert_eq!(c.participants, 2);
        let path = c.path.unwrap();
        assert_eq!(
            (path.hops, path.writes, path.syncs),
            (hops, writes, syncs),
            "{protocol:?}"
        );
        let mut tx = cluster.begin();
        assert_eq!(tx.get(&accounts, &a).unwrap(), Some([1]));
        assert_eq!(tx.get(&accounts, &b).unwrap(), Some([2]));
        drop((tx, accounts, cluster));
        // Its log replays: the commit is there after a reopen.
        let cluster = Cluster::builder()
            .partitions(2)
            .protocol(protocol)
            .durable(dir.path())
            .table::<u64, [i64; 1]>("accounts")
            .build()
            .unwrap();
        let accounts = cluster.table::<u64, [i64; 1]>("accounts").unwrap();
        let mut tx = cluster.begin();
        assert_eq!(tx.get(&accounts, &a).unwrap(), Some([1]), "{protocol:?}");
        assert_eq!(tx.get(&accounts, &b).unwrap(), Some([2]), "{protocol:?}");
    }
}

#[test]
fn a_cluster_reopened_with_another_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(bank(Cluster::builder().partitions(2).durable(dir.path())));
    let reopen =
        |b: multiverse_cluster::ClusterBuilder| b.partitions(2).durable(dir.path()).build();
    for other in [
        reopen(Cluster::builder().table::<u64, [i64; 2]>("accounts")),
        reopen(
            Cluster::builder()
                .table::<u64, [i64; 1]>("accounts")
                .table::<u64, [i64; 1]>("more"),
        ),
        reopen(Cluster::builder().table::<u64, [i64; 1]>("other")),
    ] {
        assert!(matches!(other, Err(Error::InvalidArgument(_))));
    }
    // The same schema opens, with its rows.
    let cluster = reopen(Cluster::builder().table::<u64, [i64; 1]>("accounts")).unwrap();
    let accounts = cluster.table::<u64, [i64; 1]>("accounts").unwrap();
    assert_eq!(total(&cluster, &accounts), INITIAL * ACCOUNTS as i64);
}

#[test]
fn more_live_transactions_than_registry_slots_still_begin_and_read() {
    let (cluster, accounts) = bank(Cluster::builder().partitions(2));
    let mut live: Vec<_> = (0..600).map(|_| cluster.begin()).collect();
    // Commits go on meanwhile; each live transaction reads its snapshot.
    assert!(transfer(&cluster, &accounts, 0, 1, 7));
    for tx in &mut live {
        assert_eq!(tx.get(&accounts, &0).unwrap(), Some([INITIAL]));
    }
    drop(live);
    assert_eq!(total(&cluster, &accounts), INITIAL * ACCOUNTS as i64);
}

#[test]
fn a_durable_cluster_recovers_every_commit_that_returned() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let (cluster, accounts) = bank(Cluster::builder().partitions(3).durable(dir.path()));
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let from = rng.u64(..ACCOUNTS);
            let to = (from + 1 + rng.u64(..ACCOUNTS - 1)) % ACCOUNTS;
            assert!(transfer(&cluster, &accounts, from, to, rng.i64(1..50)));
        }
        let mut tx = cluster.begin();
        tx.scan(&accounts, ..).unwrap()
    };
    let cluster = Cluster::builder()
        .partitions(3)
        .durable(dir.path())
        .table::<u64, [i64; 1]>("accounts")
        .build()
        .unwrap();
    let accounts = cluster.table::<u64, [i64; 1]>("accounts").unwrap();
    let mut tx = cluster.begin();
    assert_eq!(tx.scan(&accounts, ..).unwrap(), expected);
    drop(tx);
    // Timestamps go on above the recovered ones: new commits are seen.
    assert!(transfer(&cluster, &accounts, 0, 1, 5));
    assert_eq!(total(&cluster, &accounts), INITIAL * ACCOUNTS as i64);
}

#[test]
fn schema_mistakes_are_errors() {
    assert!(matches!(
        Cluster::builder().partitions(0).build(),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Cluster::builder()
            .table::<u64, [i64; 1]>("t")
            .table::<u64, [i64; 1]>("t")
            .build(),
        Err(Error::InvalidArgument(_))
    ));
    let cluster = Cluster::builder()
        .table::<u64, [i64; 1]>("t")
        .build()
        .unwrap();
    assert!(matches!(
        cluster.table::<u64, [i64; 1]>("u"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cluster.table::<u32, [i64; 1]>("t"),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_conflict_ends_the_transaction_and_rolls_back_every_partition() {
    let (cluster, accounts) = bank(Cluster::builder().partitions(2));
    let (a, b) = (0..ACCOUNTS)
        .flat_map(|a| (0..ACCOUNTS).map(move |b| (a, b)))
        .find(|(a, b)| accounts.partition_of(a) != accounts.partition_of(b))
        .unwrap();
    let mut t1 = cluster.begin();
    let mut t2 = cluster.begin();
    t1.update(&accounts, &a, [1]).unwrap();
    t2.update(&accounts, &b, [2]).unwrap();
    // t2 meets t1's claim on `a`: first updater wins.
    assert!(matches!(
        t2.update(&accounts, &a, [2]),
        Err(Error::Engine(multiverse::Error::WriteConflict))
    ));
    assert!(matches!(t2.get(&accounts, &a), Err(Error::Finished)));
    drop(t2);
    t1.update(&accounts, &b, [1]).unwrap();
    t1.commit().unwrap();
    let mut tx = cluster.begin();
    assert_eq!(tx.get(&accounts, &a).unwrap(), Some([1]));
    assert_eq!(tx.get(&accounts, &b).unwrap(), Some([1]));
}
