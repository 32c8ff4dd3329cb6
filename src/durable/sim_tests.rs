//! The durable database on a simulated device (`SimDir`): a model of
//! crashes, kills and failing writes and syncs against a reference (sled's
//! crash-test model), and damage in a segment or a checkpoint.

use super::device::{Dir, SimDir};
use crate::{Database, Durability, Error, Storage, Table};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

type T = Table<u64, [i64; 1]>;
type State = BTreeMap<u64, i64>;

fn open(dir: &SimDir, storage: Storage, durability: Durability) -> Result<(Database, T), Error> {
    let db = Database::builder()
        .storage(storage)
        .durability(durability)
        .checkpoint_after(u64::MAX)
        .open_dir(Arc::new(dir.clone()))?;
    let t = match db.table::<u64, [i64; 1]>("t") {
        Ok(t) => t,
        Err(Error::NoSuchTable { .. }) => db.create_table("t")?,
        Err(e) => return Err(e),
    };
    Ok((db, t))
}

fn state(db: &Database, t: &T) -> State {
    db.snapshot()
        .scan(t, ..)
        .unwrap()
        .map(|(k, [v])| (k, v))
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    /// One transaction: each key set to a value, or deleted.
    Commit(Vec<(u64, Option<i64>)>),
    Checkpoint,
    /// A power cut: synced bytes survive, the unsynced tail is torn (seeded).
    Crash(u64),
    /// The process is killed: every byte written to the OS survives.
    Kill,
    /// The n-th next sync fails.
    FailSync(u64),
    /// The n-th next write fails.
    FailWrite(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let write = (0u64..8, prop::option::weighted(0.8, -100i64..100));
    prop_oneof![
        8 => prop::collection::vec(write, 1..4).prop_map(Op::Commit),
        1 => Just(Op::Checkpoint),
        1 => any::<u64>().prop_map(Op::Crash),
        1 => Just(Op::Kill),
        1 => (0u64..3).prop_map(Op::FailSync),
        1 => (0u64..3).prop_map(Op::FailWrite),
    ]
}

/// Runs `ops` and checks every recovery against the reference: the
/// states the log may hold, in commit order, and the oldest of them that
/// must survive a kill and a power cut.
fn run(storage: Storage, durability: Durability, ops: &[Op]) {
    let mut dir = SimDir::new();
    let (mut db, mut t) = open(&dir, storage, durability).unwrap();
    // history[i]: the state after the i-th commit that may be in the log.
    let mut history: Vec<State> = vec![State::new()];
    // The newest states that must survive a kill, and a power cut.
    let (mut must_kill, mut must_crash) = (0, 0);
    let mut poisoned = false;
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Commit(writes) => {
                let mut next = history.last().unwrap().clone();
                let mut tx = db.begin();
                let mut written = Ok(());
                for &(k, v) in writes {
                    written = written.and_then(|()| match v {
                        Some(v) => {
                            next.insert(k, v);
                            tx.upsert(&t, k, [v]).map(drop)
                        }
                        None if next.remove(&k).is_some() => tx.delete(&t, &k),
                        None => Ok(()),
                    });
                }
                if let Err(e) = written {
                    // Only after a failed commit: its versions stay in memory
                    // (published, never readable under Sync) to conflict
                    // with, and the reference counts it as maybe-present.
                    assert!(poisoned, "step {step}: {e:?}");
                    continue;
                }
                let wrote = next != *history.last().unwrap();
                match tx.commit() {
                    Ok(_) if !wrote => {}
                    Ok(_) => {
                        history.push(next);
                        must_kill = history.len() - 1;
                        if durability == Durability::Sync {
                            must_crash = must_kill;
                        }
                    }
                    // Not acknowledged: it may or may not be in the log.
                    Err(Error::Io { .. }) => {
                        poisoned = true;
                        if wrote {
                            history.push(next);
                        }
                    }
                    Err(e) => panic!("step {step}: {e:?}"),
                }
            }
            Op::Checkpoint => {
                if db.checkpoint().is_ok() {
                    // The checkpoint holds every acknowledged commit, synced.
                    must_crash = must_crash.max(must_kill);
                }
            }
            Op::FailSync(n) => dir.fail_sync_after(*n),
            Op::FailWrite(n) => dir.fail_write_after(*n),
            Op::Crash(_) | Op::Kill => {
                // The device as the crash leaves it, taken before the
                // database goes (its drop syncs, which a crash does not).
                let (after, must) = match op {
                    Op::Crash(seed) => (dir.crash(*seed), must_crash),
                    _ => (dir.kill(), must_kill),
                };
                drop((db, t));
                dir = after;
                (db, t) = open(&dir, storage, durability)
                    .unwrap_or_else(|e| panic!("step {step}: recovery failed: {e}"));
                let recovered = state(&db, &t);
                let j = (must..history.len())
                    .rev()
                    .find(|&j| history[j] == recovered)
                    .unwrap_or_else(|| {
                        panic!(
                            "step {step} ({op:?}): recovered {recovered:?}, not one of the states \
                             from the last that must survive ({must}) to the newest: {:?}",
                            &history[must..]
                        )
                    });
                // What was lost is gone for good; what recovery read it
                // synced.
                history.truncate(j + 1);
                (must_kill, must_crash) = (j, j);
                poisoned = false;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Sync: every acknowledged commit survives a kill and a power cut;
    /// recovery is a state the commit order passed through.
    #[test]
    fn sync_recovers_a_prefix_holding_every_acknowledged_commit(
        store in 0..Storage::ALL.len(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(Storage::ALL[store], Durability::Sync, &ops);
    }

    /// Buffered: every acknowledged commit survives a kill; a power cut
    /// keeps at least what the last checkpoint held.
    #[test]
    fn buffered_recovers_a_prefix_holding_every_commit_a_kill_must_keep(
        store in 0..Storage::ALL.len(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(Storage::ALL[store], Durability::Buffered, &ops);
    }
}

/// A failed sync poisons the log: that commit and every later one (and
/// DDL) are `Err(Io)`, no new snapshot ever sees the failed commit, and
/// reads go on.
#[test]
fn a_failed_sync_fails_every_later_commit_and_hides_the_failed_one() {
    for storage in Storage::ALL {
        let dir = SimDir::new();
        let (db, t) = open(&dir, storage, Durability::Sync).unwrap();
        db.transact(|tx| tx.insert(&t, 1, [1])).unwrap();
        dir.fail_sync_after(0);
        let failed = db.transact(|tx| tx.update(&t, &1, [2]));
        assert!(
            matches!(failed, Err(Error::Io { .. })),
            "{storage}: {failed:?}"
        );
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([1]), "{storage}");
        assert!(matches!(
            db.transact(|tx| tx.insert(&t, 3, [3])),
            Err(Error::Io { .. })
        ));
        assert!(matches!(
            db.create_table::<u64, [i64; 1]>("u"),
            Err(Error::Io { .. })
        ));
        assert!(db.checkpoint().is_err());
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some([1]));
    }
}

/// A disk that refuses writes (full, or read-only) is an `Err(Io)` at the
/// commit that meets it, never a panic, and never an acknowledged commit.
#[test]
fn a_failing_write_is_an_error_at_commit() {
    for durability in [Durability::Sync, Durability::Buffered] {
        let dir = SimDir::new();
        let (db, t) = open(&dir, Storage::default(), durability).unwrap();
        dir.fail_write_after(0);
        let r = db.transact(|tx| tx.insert(&t, 1, [1]));
        assert!(matches!(r, Err(Error::Io { .. })), "{durability:?}: {r:?}");
        drop((db, t));
        let (db, t) = open(&dir.kill(), Storage::default(), durability).unwrap();
        assert_eq!(db.snapshot().get(&t, &1).unwrap(), None);
    }
}

/// Commits 3 records into one segment and 3 into the next; returns the
/// device and the segments' names, oldest first.
fn two_segments() -> (SimDir, Vec<String>) {
    let dir = SimDir::new();
    let (db, t) = open(&dir, Storage::default(), Durability::Sync).unwrap();
    for k in 0..3 {
        db.transact(|tx| tx.insert(&t, k, [1])).unwrap();
    }
    db.wal().rotate().unwrap();
    for k in 3..6 {
        db.transact(|tx| tx.insert(&t, k, [1])).unwrap();
    }
    drop((db, t));
    let mut segments: Vec<String> = dir
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| super::log::parse_segment_name(n).is_some())
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 2);
    (dir, segments)
}

/// A flipped byte in a segment before the last is `Corrupt`, naming the
/// segment and an offset in it; in the last record of the last segment it
/// is a torn tail, cut off.
#[test]
fn damage_before_the_tail_is_corrupt_and_a_torn_tail_is_cut() {
    let (dir, segments) = two_segments();
    let len = dir.read(&segments[0]).unwrap().len() as u64;
    dir.corrupt(&segments[0], len / 2);
    match open(&dir, Storage::default(), Durability::Sync) {
        Err(Error::Corrupt { file, offset, .. }) => {
            assert_eq!(file, segments[0]);
            assert!(offset <= len / 2, "{offset}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }

    let (dir, segments) = two_segments();
    let len = dir.read(&segments[1]).unwrap().len() as u64;
    dir.corrupt(&segments[1], len - 1);
    let (db, t) = open(&dir, Storage::default(), Durability::Sync).unwrap();
    let keys: Vec<u64> = state(&db, &t).into_keys().collect();
    assert_eq!(
        keys,
        [0, 1, 2, 3, 4],
        "the last commit is cut, the rest is whole"
    );
}

/// A flipped byte anywhere in a checkpoint is `Corrupt`, naming it.
#[test]
fn damage_in_a_checkpoint_is_corrupt() {
    let dir = SimDir::new();
    let (db, t) = open(&dir, Storage::default(), Durability::Sync).unwrap();
    for k in 0..100 {
        db.transact(|tx| tx.insert(&t, k, [k as i64])).unwrap();
    }
    let ts = db.checkpoint().unwrap();
    drop((db, t));
    let name = super::checkpoint_name(ts.get());
    let len = dir.read(&name).unwrap().len() as u64;
    for at in [0, len / 3, len / 2, len - 1] {
        let damaged = dir.kill();
        damaged.corrupt(&name, at);
        match open(&damaged, Storage::default(), Durability::Sync) {
            Err(Error::Corrupt { file, .. }) => assert_eq!(file, name),
            other => panic!("byte {at}: {:?}", other.map(|_| ())),
        }
    }
    // Undamaged, it recovers every row.
    let (db, t) = open(&dir, Storage::default(), Durability::Sync).unwrap();
    assert_eq!(state(&db, &t).len(), 100);
}

/// A whole frame whose record makes no sense (a write to a table that was
/// never created) is `Corrupt`, at that frame: its CRC cannot vouch for
/// what a bug or a foreign writer put there.
#[test]
fn a_well_framed_record_that_makes_no_sense_is_corrupt_where_it_is() {
    let (dir, segments) = two_segments();
    let last = &segments[1];
    let at = dir.read(last).unwrap().len() as u64;
    let mut record = vec![super::WRITES];
    super::write_entry(&mut record, 99, |o| o.push(1), None::<fn(&mut Vec<u8>)>);
    let mut framed = Vec::new();
    super::log::frame(1_000, &record, &mut framed);
    dir.open_append(last).unwrap().append(&framed).unwrap();
    match open(&dir, Storage::default(), Durability::Sync) {
        Err(Error::Corrupt {
            file,
            offset,
            reason,
        }) => {
            assert_eq!((&file, offset), (last, at), "{reason}");
            assert!(reason.contains("does not exist"), "{reason}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}
