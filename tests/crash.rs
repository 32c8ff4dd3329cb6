//! Crash recovery by `kill -9`: a child process (this test binary, run
//! again with an environment variable) runs concurrent bank transfers on a
//! durable database, checkpointing as it goes, and prints each commit it
//! has had acknowledged; the parent kills it with SIGKILL at a random
//! moment, reopens the directory and checks what recovery gives:
//!
//! * every acknowledged commit is there;
//! * each transfer is whole (its two balance changes and its history row
//!   together), so the bank's total is intact and every balance is the
//!   initial one plus the recovered history;
//! * each thread's recovered transfers are a prefix of what it committed
//!   (a thread commits in order, so a gap would be a lost commit before a
//!   recovered one);
//! * the catalog changes of a session's transactions are whole, with their
//!   rows: a fourth thread's transaction `i` creates table `t{i}`, writes a
//!   row to it, drops `t{i-2}` and marks `i` done in the `marks` table; so
//!   after recovery the marks are a prefix `0..=m` and the tables are
//!   exactly `t{m-1}` and `t{m}`, each holding its row.
//!
//! Then the child runs again on the recovered directory, and is killed
//! again. `MULTIVERSE_CRASH_ROUNDS` (default 2) kills per store and
//! durability mode; `MULTIVERSE_CRASH_SEED` replays a failing run (the seed
//! is printed with every failure).

use multiverse::{Database, Durability, Storage, Table};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const ACCOUNTS: u64 = 16;
const INITIAL: i64 = 1_000;
const THREADS: u64 = 3;
const CHILD: &str = "MULTIVERSE_CRASH_CHILD";

type Accounts = Table<u64, [i64; 2]>;
/// Key `thread << 32 | seq`; row `[from, to, amount]`.
type History = Table<u64, [i64; 3]>;
/// The catalog thread's tables (`marks`, `t{i}`): key `i` or 0, row `[i]`.
type Marks = Table<u64, [i64; 1]>;
/// The acknowledgements of the catalog thread, beside the transfer threads'.
const DDL: u64 = u64::MAX;

fn builder(storage: Storage, durability: Durability) -> multiverse::DatabaseBuilder {
    Database::builder()
        .storage(storage)
        .durability(durability)
        .sync_interval(Duration::from_millis(5))
        .checkpoint_after(64 << 10)
}

fn parse_storage(s: &str) -> Storage {
    Storage::ALL
        .into_iter()
        .find(|st| st.to_string() == s)
        .expect("a store name")
}

fn parse_durability(s: &str) -> Durability {
    match s {
        "sync" => Durability::Sync,
        "buffered" => Durability::Buffered,
        _ => panic!("durability {s}"),
    }
}

/// The child: transfers until killed. Not a test of its own: it returns at
/// once unless the parent set `CHILD`.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let (dir, storage, durability, seed) = (
        parts[0],
        parse_storage(parts[1]),
        parse_durability(parts[2]),
        parts[3].parse::<u64>().unwrap(),
    );
    let db = builder(storage, durability).open(dir).unwrap();
    let (accounts, history, marks) = match db.table::<u64, [i64; 2]>("accounts") {
        Ok(a) => (
            a,
            db.table::<u64, [i64; 3]>("history").unwrap(),
            db.table::<u64, [i64; 1]>("marks").unwrap(),
        ),
        Err(_) => {
            let a: Accounts = db.create_table("accounts").unwrap();
            let h: History = db.create_table("history").unwrap();
            let m: Marks = db.create_table("marks").unwrap();
            db.transact(|tx| {
                for k in 0..ACCOUNTS {
                    tx.insert(&a, k, [INITIAL, 0])?;
                }
                Ok(())
            })
            .unwrap();
            (a, h, m)
        }
    };
    println!("ready");
    let checkpointer = {
        let db = db.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(15));
            db.checkpoint().unwrap();
        })
    };
    let catalog = {
        let db = db.clone();
        std::thread::spawn(move || {
            let next = db.snapshot().scan(&marks, ..).unwrap().last();
            let mut i = next.map_or(0, |(k, _)| k + 1);
            let mut s = db.session();
            loop {
                s.begin().unwrap();
                let t: Marks = s.create_table(&format!("t{i}")).unwrap();
                s.insert(&t, 0, [i as i64]).unwrap();
                if i >= 2 {
                    s.drop_table(&format!("t{}", i - 2)).unwrap();
                }
                s.insert(&marks, i, [i as i64]).unwrap();
                s.commit().unwrap();
                println!("ddl {i}");
                i += 1;
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (db, a, h) = (db.clone(), accounts.clone(), history.clone());
            std::thread::spawn(move || {
                let snap = db.snapshot();
                let mut seq = snap
                    .scan(&h, (thread << 32)..((thread + 1) << 32))
                    .unwrap()
                    .last()
                    .map_or(0, |(k, _)| (k & 0xffff_ffff) + 1);
                drop(snap);
                let mut rng = seed ^ (thread + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                loop {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let from = rng % ACCOUNTS;
                    let to = (from + 1 + (rng >> 8) % (ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = ((rng >> 16) % 50) as i64 + 1;
                    let key = thread << 32 | seq;
                    let committed = db.transact(|tx| {
                        tx.modify(&a, &from, |r| {
                            r[0] -= amount;
                            r[1] += 1;
                        })?;
                        tx.modify(&a, &to, |r| {
                            r[0] += amount;
                            r[1] += 1;
                        })?;
                        tx.insert(&h, key, [from as i64, to as i64, amount])?;
                        Ok(())
                    });
                    if committed.is_ok() {
                        println!("ack {thread} {seq}");
                        seq += 1;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    catalog.join().unwrap();
    checkpointer.join().unwrap();
}

/// One kill: runs the child on `dir` for about `run`, kills it, returns the
/// acknowledged (thread, seq) pairs.
fn run_and_kill(
    dir: &Path,
    storage: Storage,
    durability: Durability,
    seed: u64,
    run: Duration,
) -> Vec<(u64, u64)> {
    let mode = match durability {
        Durability::Sync => "sync",
        _ => "buffered",
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{},{storage},{mode},{seed}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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
            match words.next() {
                Some("ack") => {
                    if let (Some(Ok(t)), Some(Ok(s)), None) = (
                        words.next().map(str::parse),
                        words.next().map(str::parse),
                        words.next(),
                    ) {
                        acks.push((t, s));
                    }
                }
                Some("ddl") => {
                    if let (Some(Ok(i)), None) = (words.next().map(str::parse), words.next()) {
                        acks.push((DDL, i));
                    }
                }
                _ => {}
            }
        }
        (ready, acks)
    });
    // The moment is counted from the open (recovery included), however
    // long a loaded machine takes to start the child.
    let _ = is_open.recv_timeout(Duration::from_secs(120));
    std::thread::sleep(run);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child ended by itself: {status}");
    let (ready, acks) = reader.join().unwrap();
    assert!(ready, "the child never opened the database (seed {seed})");
    acks
}

/// Reopens `dir` and checks the recovered bank against everything ever
/// acknowledged on it.
fn check(
    dir: &Path,
    storage: Storage,
    durability: Durability,
    acked: &[(u64, u64)],
    what: &str,
) -> usize {
    let db = builder(storage, durability).open(dir).unwrap();
    let accounts = db.table::<u64, [i64; 2]>("accounts").unwrap();
    let history = db.table::<u64, [i64; 3]>("history").unwrap();
    let snap = db.snapshot();
    let balances: HashMap<u64, [i64; 2]> = snap.scan(&accounts, ..).unwrap().collect();
    assert_eq!(balances.len() as u64, ACCOUNTS, "{what}");
    let total: i64 = balances.values().map(|r| r[0]).sum();
    assert_eq!(total, ACCOUNTS as i64 * INITIAL, "{what}: the total moved");
    let mut expected: HashMap<u64, [i64; 2]> = (0..ACCOUNTS).map(|k| (k, [INITIAL, 0])).collect();
    let mut per_thread: HashMap<u64, Vec<u64>> = HashMap::new();
    for (key, [from, to, amount]) in snap.scan(&history, ..).unwrap() {
        let from = expected.get_mut(&(from as u64)).unwrap();
        from[0] -= amount;
        from[1] += 1;
        let to = expected.get_mut(&(to as u64)).unwrap();
        to[0] += amount;
        to[1] += 1;
        per_thread
            .entry(key >> 32)
            .or_default()
            .push(key & 0xffff_ffff);
    }
    assert_eq!(balances, expected, "{what}: a transfer recovered in part");
    for (thread, seqs) in &per_thread {
        let n = seqs.len() as u64;
        assert_eq!(
            *seqs,
            (0..n).collect::<Vec<_>>(),
            "{what}: thread {thread} has a gap"
        );
    }
    check_catalog(&db, acked, what);
    for &(thread, seq) in acked.iter().filter(|(t, _)| *t != DDL) {
        let n = per_thread.get(&thread).map_or(0, |s| s.len() as u64);
        assert!(
            seq < n,
            "{what}: acknowledged commit {thread}/{seq} lost (recovered {n})"
        );
    }
    per_thread.values().map(Vec::len).sum()
}

/// The catalog thread's transactions are whole: marks `0..=m`, tables
/// `t{m-1}` and `t{m}` with their rows, and every acknowledged one there.
fn check_catalog(db: &Database, acked: &[(u64, u64)], what: &str) {
    let marks = db.table::<u64, [i64; 1]>("marks").unwrap();
    let snap = db.snapshot();
    let done: Vec<u64> = snap.scan(&marks, ..).unwrap().map(|(k, _)| k).collect();
    let n = done.len() as u64;
    assert_eq!(
        done,
        (0..n).collect::<Vec<_>>(),
        "{what}: a gap in the marks"
    );
    let mut expected: Vec<String> = ["accounts", "history", "marks"].map(String::from).to_vec();
    expected.extend((n.saturating_sub(2)..n).map(|i| format!("t{i}")));
    expected.sort();
    assert_eq!(
        db.table_names(),
        expected,
        "{what}: the catalog after {n} changes"
    );
    for i in n.saturating_sub(2)..n {
        let t = db.table::<u64, [i64; 1]>(&format!("t{i}")).unwrap();
        let rows: Vec<_> = snap.scan(&t, ..).unwrap().collect();
        assert_eq!(rows, vec![(0, [i as i64])], "{what}: t{i} without its row");
    }
    for &(_, i) in acked.iter().filter(|(t, _)| *t == DDL) {
        assert!(
            i < n,
            "{what}: acknowledged catalog change {i} lost (recovered {n})"
        );
    }
}

/// Kill -9 at random moments, on every store, under `Sync` and
/// `Buffered`, with checkpoints (explicit and automatic) during the run.
#[test]
fn every_acknowledged_commit_survives_kill_9() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let rounds: u64 = std::env::var("MULTIVERSE_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("MULTIVERSE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!(
        "kill -9 rounds: {rounds}, seed {seed} (MULTIVERSE_CRASH_SEED={seed} replays the moments)"
    );
    let mut rng = seed | 1;
    for storage in Storage::ALL {
        for durability in [Durability::Sync, Durability::Buffered] {
            let dir = tempfile::tempdir().unwrap();
            let mut acked = Vec::new();
            for round in 0..rounds {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let run = Duration::from_millis(100 + rng % 300);
                let what =
                    format!("{storage}/{durability:?} round {round} after {run:?} (seed {seed})");
                acked.extend(run_and_kill(dir.path(), storage, durability, rng, run));
                let recovered = check(dir.path(), storage, durability, &acked, &what);
                let files = std::fs::read_dir(dir.path()).unwrap().count();
                eprintln!(
                    "{what}: {} acknowledged, {recovered} recovered, {files} files",
                    acked.len()
                );
            }
            assert!(
                !acked.is_empty(),
                "{storage}/{durability:?}: nothing was acknowledged"
            );
        }
    }
}
