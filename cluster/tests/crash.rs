//! Crash recovery of a durable cluster by `kill -9`: a child process (this
//! test binary, run again with an environment variable) runs transfers
//! between accounts on different partitions — each transfer also inserts a
//! history row, so most commits are two-phase over two or three partitions
//! — and prints every commit it had acknowledged; the parent kills it with
//! SIGKILL at a random moment, reopens the cluster (which resolves every
//! prepare left undecided) and checks:
//!
//! * every acknowledged transfer is there (its history row);
//! * every transfer is whole: each balance is the initial one plus what the
//!   recovered history says, so the total is intact;
//! * each thread's recovered transfers are a prefix of what it committed
//!   (it commits in order; a gap would be a lost commit);
//! * nothing stays undecided after the reopen.
//!
//! Then the child runs again on the recovered directory, and is killed
//! again. `MULTIVERSE_CLUSTER_CRASH_ROUNDS` (default 3) kills;
//! `MULTIVERSE_CLUSTER_CRASH_SEED` replays a failing run's moments.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use multiverse_cluster::{Cluster, ClusterTable};

const ACCOUNTS: u64 = 12;
const INITIAL: i64 = 1_000;
const THREADS: u64 = 2;
const PARTITIONS: usize = 3;
const CHILD: &str = "MULTIVERSE_CLUSTER_CRASH_CHILD";

type Accounts = ClusterTable<u64, [i64; 1]>;
/// Key `thread << 32 | seq`; row `[from, to, amount]`.
type History = ClusterTable<u64, [i64; 3]>;

fn open(dir: &Path) -> (Cluster, Accounts, History) {
    let cluster = Cluster::builder()
        .partitions(PARTITIONS)
        .durable(dir)
        .table::<u64, [i64; 1]>("accounts")
        .table::<u64, [i64; 3]>("history")
        .build()
        .unwrap();
    let accounts = cluster.table("accounts").unwrap();
    let history = cluster.table("history").unwrap();
    (cluster, accounts, history)
}

/// The child: transfers until killed. Returns at once unless the parent
/// set `CHILD`.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let (dir, seed) = spec.split_once(',').unwrap();
    let seed: u64 = seed.parse().unwrap();
    let (cluster, accounts, history) = open(Path::new(dir));
    let mut tx = cluster.begin();
    if tx.get(&accounts, &0).unwrap().is_none() {
        for id in 0..ACCOUNTS {
            tx.insert(&accounts, id, [INITIAL]).unwrap();
        }
        tx.commit().unwrap();
    } else {
        drop(tx);
    }
    // Where each thread goes on: after its last recovered transfer.
    let mut tx = cluster.begin();
    let starts: Vec<u64> = (0..THREADS)
        .map(|t| {
            tx.scan(&history, (t << 32)..((t + 1) << 32))
                .unwrap()
                .last()
                .map_or(0, |(k, _)| (k & 0xffff_ffff) + 1)
        })
        .collect();
    drop(tx);
    println!("ready");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (cluster, accounts, history) = (&cluster, &accounts, &history);
            let start = starts[t as usize];
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(seed ^ t);
                let mut seq = start;
                loop {
                    let from = rng.u64(..ACCOUNTS);
                    let to = (from + 1 + rng.u64(..ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = rng.i64(1..100);
                    let r = cluster.transact(|tx| {
                        let [a] = tx.get(accounts, &from)?.unwrap();
                        let [b] = tx.get(accounts, &to)?.unwrap();
                        tx.update(accounts, &from, [a - amount])?;
                        tx.update(accounts, &to, [b + amount])?;
                        tx.insert(history, (t << 32) | seq, [from as i64, to as i64, amount])
                    });
                    match r {
                        Ok(()) => {
                            println!("ack {t} {seq}");
                            seq += 1;
                        }
                        // Not retryable (the in-memory transport always
                        // brings the outcome, so never `Indeterminate`).
                        Err(e) => panic!("transfer {t} {seq}: {e}"),
                    }
                }
            });
        }
    });
}

fn run_and_kill(dir: &Path, seed: u64, run: Duration) -> Vec<(u64, u64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{},{seed}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (opened, is_open) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.ends_with("ready") {
                ready = true;
                let _ = opened.send(());
            }
            let mut words = line.split(' ');
            if words.next() == Some("ack") {
                if let (Some(Ok(t)), Some(Ok(s)), None) = (
                    words.next().map(str::parse),
                    words.next().map(str::parse),
                    words.next(),
                ) {
                    acks.push((t, s));
                }
            }
        }
        (ready, acks)
    });
    let _ = is_open.recv_timeout(Duration::from_secs(120));
    std::thread::sleep(run);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child ended by itself: {status}");
    let (ready, acks) = reader.join().unwrap();
    assert!(ready, "the child never opened the cluster (seed {seed})");
    acks
}

/// Checks the reopened cluster; returns the transfers recovered and the
/// prepares the reopen found undecided (and resolved).
fn check(dir: &Path, acked: &[(u64, u64)], seed: u64) -> (usize, u64) {
    let (cluster, accounts, history) = open(dir);
    for (i, s) in cluster.stats().iter().enumerate() {
        assert_eq!(s.violations, 0, "partition {i} (seed {seed})");
    }
    let mut tx = cluster.begin();
    let rows = tx.scan(&history, ..).unwrap();
    let mut balance = vec![INITIAL; ACCOUNTS as usize];
    for (_, [from, to, amount]) in &rows {
        balance[*from as usize] -= amount;
        balance[*to as usize] += amount;
    }
    let got: Vec<i64> = tx
        .scan(&accounts, ..)
        .unwrap()
        .into_iter()
        .map(|(_, [v])| v)
        .collect();
    assert_eq!(
        got, balance,
        "balances are the initial ones plus the history (seed {seed})"
    );
    for t in 0..THREADS {
        let seqs: Vec<u64> = rows
            .iter()
            .filter(|(k, _)| k >> 32 == t)
            .map(|(k, _)| k & 0xffff_ffff)
            .collect();
        assert!(
            seqs.iter().enumerate().all(|(i, s)| *s == i as u64),
            "thread {t}'s transfers are a prefix (seed {seed}): {seqs:?}"
        );
        for (_, s) in acked.iter().filter(|(u, _)| *u == t) {
            assert!(
                (*s as usize) < seqs.len(),
                "acknowledged transfer {t}/{s} lost (seed {seed}; {} recovered)",
                seqs.len()
            );
        }
    }
    // The reopen resolved every prepare it found.
    let stats = cluster.stats();
    for (i, s) in stats.iter().enumerate() {
        assert_eq!(s.undecided, 0, "partition {i} (seed {seed})");
    }
    (rows.len(), stats.iter().map(|s| s.resolutions).sum())
}

#[test]
fn every_acknowledged_distributed_commit_survives_kill_9() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let rounds: u64 = std::env::var("MULTIVERSE_CLUSTER_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("MULTIVERSE_CLUSTER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill -9 rounds: {rounds}, seed {seed} (MULTIVERSE_CLUSTER_CRASH_SEED={seed} replays the moments)");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut acked = Vec::new();
    let (mut recovered, mut resolved) = (0, 0);
    for round in 0..rounds {
        let run = Duration::from_millis(rng.u64(100..600));
        acked.extend(run_and_kill(dir.path(), seed ^ round, run));
        let (r, u) = check(dir.path(), &acked, seed);
        recovered = r;
        resolved += u;
    }
    eprintln!(
        "{} acknowledged, {recovered} transfers recovered, {resolved} prepares found undecided and resolved",
        acked.len()
    );
    assert!(
        !acked.is_empty(),
        "the child committed nothing (seed {seed})"
    );
}
