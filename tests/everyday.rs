//! The everyday API on every store: `transact`, snapshots (now and at an
//! earlier timestamp), the history window, `upsert`, double-ended scans,
//! `drop_table`, and the commit-timestamp rule of read-only transactions.

#[macro_use]
mod common;

use common::*;
use multiverse::{Database, Error, GcPolicy, Snapshot, Storage, Table, Timestamp};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn build(storage: Storage, gc: GcPolicy) -> (Database, Accounts) {
    let db = Database::builder().storage(storage).gc(gc).build();
    let t = db.create_table("accounts").unwrap();
    (db, t)
}

/// Commits `balance` into account 1 (which must exist) from a transaction
/// of its own; returns its commit timestamp.
fn set(db: &Database, t: &Accounts, balance: i64) -> Timestamp {
    let mut tx = db.begin();
    tx.update(t, &1, account(balance)).unwrap();
    tx.commit().unwrap()
}

/// Every row of `t` that `snap` sees, in key order.
fn snap_rows(snap: &Snapshot, t: &Accounts) -> Vec<(u64, [i64; 4])> {
    snap.scan(t, ..).unwrap().collect()
}

for_each_store! {
    // ---- transact ----

    /// `transact` commits what the closure wrote and returns its value.
    fn transact_commits_the_closure_and_returns_its_value(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 100), (2, 0)]);
        let moved: i64 = db
            .transact(|tx| {
                tx.modify(&t, &1, |r| r[0] -= 10)?;
                tx.modify(&t, &2, |r| r[0] += 10)?;
                Ok(10)
            })
            .unwrap();
        assert_eq!(moved, 10);
        assert_eq!(latest(&db, &t), vec![(1, account(90)), (2, account(10))]);
    }

    /// A write conflict makes `transact` run the whole closure again, in a
    /// fresh transaction that sees the rival's commit; both increments land.
    fn transact_retries_a_write_conflict_in_a_fresh_transaction(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 0)]);
        let attempts = Cell::new(0);
        db.transact(|tx| {
            attempts.set(attempts.get() + 1);
            if attempts.get() == 1 {
                // A rival commits after our snapshot: our write conflicts.
                set(&db, &t, 100);
            }
            tx.modify(&t, &1, |r| r[0] += 1)
        })
        .unwrap();
        assert_eq!(attempts.get(), 2);
        assert_eq!(latest(&db, &t), vec![(1, account(101))]);
    }

    /// With every attempt conflicting, `transact` gives up after the
    /// builder's bound (and the default bound by default), returning the
    /// conflict; none of its writes is visible.
    fn transact_gives_up_after_the_bound(storage: Storage) {
        for (attempts_allowed, db) in [
            (3, Database::builder().storage(storage).transact_attempts(3).build()),
            (
                multiverse::DEFAULT_TRANSACT_ATTEMPTS,
                Database::builder().storage(storage).build(),
            ),
        ] {
            let t: Accounts = db.create_table("accounts").unwrap();
            load(&db, &t, [(1, account(0)), (2, account(0))]);
            let attempts = Cell::new(0);
            let result = db.transact(|tx| {
                attempts.set(attempts.get() + 1);
                tx.modify(&t, &2, |r| r[0] += 1)?;
                set(&db, &t, attempts.get());
                tx.modify(&t, &1, |r| r[0] += 1000)
            });
            assert_err!(result, WriteConflict);
            assert_eq!(attempts.get(), i64::from(attempts_allowed));
            assert_eq!(
                latest(&db, &t),
                vec![(1, account(i64::from(attempts_allowed))), (2, account(0))]
            );
        }
    }

    /// Any other error of the closure is returned at once, without a retry,
    /// and what the closure wrote is rolled back.
    fn transact_returns_other_errors_at_once_and_rolls_back(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let attempts = Cell::new(0);
        let result: Result<(), Error> = db.transact(|tx| {
            attempts.set(attempts.get() + 1);
            tx.insert(&t, 2, account(20))?;
            tx.update(&t, &3, account(30))
        });
        assert_err!(result, NotFound);
        assert_eq!(attempts.get(), 1);
        let result = db.transact(|tx| tx.insert(&t, 1, account(0)));
        assert_err!(result, DuplicateKey);
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);
    }

    // ---- snapshot ----

    /// A snapshot reads (get, read, scan) the state of its timestamp, its
    /// clones read the same, and commits after it are not seen.
    fn a_snapshot_reads_the_state_of_its_timestamp(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        let snap = db.snapshot();
        assert_eq!(snap.timestamp(), db.begin().snapshot());
        db.transact(|tx| {
            tx.update(&t, &1, account(11))?;
            tx.delete(&t, &2)?;
            tx.insert(&t, 3, account(30))
        })
        .unwrap();
        let clone = snap.clone();
        drop(snap);
        assert_eq!(clone.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(clone.read(&t, &2, |r| r.map(|r| r[0])).unwrap(), Some(20));
        assert_eq!(clone.get(&t, &3).unwrap(), None);
        assert_eq!(snap_rows(&clone, &t), vec![(1, account(10)), (2, account(20))]);
        let now = db.snapshot();
        assert!(now.timestamp() > clone.timestamp());
        assert_eq!(snap_rows(&now, &t), vec![(1, account(11)), (3, account(30))]);
        let (_, foreign) = accounts(storage);
        assert_err!(now.get(&foreign, &1), ForeignTable);
    }

    /// Four threads read one snapshot (clones of it) at once while a writer
    /// commits: each sees the snapshot's state on every read.
    fn a_snapshot_is_readable_from_four_threads(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 50), (2, 50)]);
        let snap = db.snapshot();
        std::thread::scope(|s| {
            for i in 0..4 {
                // Two threads share the snapshot by reference (Sync), two
                // own clones of it (Clone + Send).
                let shared = &snap;
                let owned = snap.clone();
                let t = &t;
                s.spawn(move || {
                    let snap = if i % 2 == 0 { shared } else { &owned };
                    for _ in 0..200 {
                        assert_eq!(snap_rows(snap, t), vec![(1, account(50)), (2, account(50))]);
                        assert_eq!(snap.get(t, &2).unwrap(), Some(account(50)));
                    }
                });
            }
            for _ in 0..200 {
                db.transact(|tx| {
                    tx.modify(&t, &1, |r| r[0] -= 1)?;
                    tx.modify(&t, &2, |r| r[0] += 1)
                })
                .unwrap();
            }
        });
        assert_eq!(latest(&db, &t), vec![(1, account(-150)), (2, account(250))]);
    }

    /// A snapshot holds back garbage collection while any clone of it lives:
    /// a vacuum frees nothing it can see (here: nothing at all), and its
    /// version is still there; once the last clone drops, the vacuum frees
    /// the versions it kept.
    fn a_snapshot_holds_back_garbage_collection(storage: Storage) {
        for gc in [GcPolicy::Off, GcPolicy::TransactionLevel, GcPolicy::Cooperative] {
            let (db, t) = build(storage, gc);
            load(&db, &t, [(1, account(0))]);
            let snap = db.snapshot();
            let clone = snap.clone();
            drop(snap);
            for balance in 1..=10 {
                set(&db, &t, balance);
            }
            assert_eq!(db.vacuum(), 0, "{gc}: a vacuum freed versions under a snapshot");
            assert!(db.stats().gc.watermark <= clone.timestamp().get(), "{gc}");
            assert_eq!(clone.get(&t, &1).unwrap(), Some(account(0)), "{gc}");
            let before = db.stats().gc.reclaimed_versions;
            drop(clone);
            db.vacuum();
            let freed = db.stats().gc.reclaimed_versions - before;
            assert!(freed >= 9, "{gc}: only {freed} versions freed afterwards");
            assert_eq!(latest(&db, &t), vec![(1, account(10))]);
        }
    }

    // ---- snapshot_at ----

    /// `snapshot_at` reads the state of an earlier commit, as long as no
    /// watermark has passed it: here an old transaction holds the watermark
    /// back while transaction-level GC computes one at every commit.
    fn snapshot_at_reads_an_earlier_commit_while_gc_is_held_back(storage: Storage) {
        let (db, t) = build(storage, GcPolicy::TransactionLevel);
        load(&db, &t, [(1, account(0))]);
        let holder = db.begin();
        let stamps: Vec<Timestamp> = (1..=20).map(|b| set(&db, &t, b)).collect();
        for (i, &ts) in stamps.iter().enumerate() {
            let then = db.snapshot_at(ts).unwrap();
            assert_eq!(then.timestamp(), ts);
            assert_eq!(then.get(&t, &1).unwrap(), Some(account(i as i64 + 1)));
            assert_eq!(snap_rows(&then, &t), vec![(1, account(i as i64 + 1))]);
        }
        let at_holder = db.snapshot_at(holder.snapshot()).unwrap();
        assert_eq!(at_holder.get(&t, &1).unwrap(), Some(account(0)));
        drop(holder);
        // The old snapshot now holds the watermark in its turn.
        set(&db, &t, 99);
        db.vacuum();
        assert_eq!(at_holder.get(&t, &1).unwrap(), Some(account(0)));
    }

    /// Once a vacuum has passed a timestamp, `snapshot_at` of it is
    /// `SnapshotTooOld`, naming the timestamp and the oldest one kept; a
    /// timestamp no commit has reached is `SnapshotInFuture`.
    fn snapshot_at_a_passed_or_future_timestamp_is_an_error(storage: Storage) {
        let (db, t) = build(storage, GcPolicy::Off);
        let first = load(&db, &t, [(1, account(0))]);
        let newest = set(&db, &t, 1);
        assert!(db.snapshot_at(first).is_ok(), "no watermark has passed it yet");
        db.vacuum();
        match db.snapshot_at(first) {
            Err(Error::SnapshotTooOld { requested, oldest, .. }) => {
                assert_eq!(requested, first);
                assert_eq!(oldest, newest);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(db.snapshot_at(newest).unwrap().get(&t, &1).unwrap(), Some(account(1)));
        let (busier, b) = accounts(storage);
        for k in 0..5 {
            load(&busier, &b, [(k, account(0))]);
        }
        let future = busier.snapshot().timestamp();
        match db.snapshot_at(future) {
            Err(Error::SnapshotInFuture { requested, newest: n, .. }) => {
                assert_eq!((requested, n), (future, newest));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Old snapshots registered while writers commit and the collector
    /// computes watermarks at every commit: every `snapshot_at` that
    /// succeeds reads exactly its commit's state, never a freed version.
    fn snapshot_at_races_the_collector_safely(storage: Storage) {
        let (db, t) = build(storage, GcPolicy::TransactionLevel);
        load(&db, &t, [(1, account(0))]);
        let (stamps_tx, stamps_rx) = std::sync::mpsc::channel::<(Timestamp, i64)>();
        std::thread::scope(|s| {
            s.spawn(|| {
                for b in 1..=300 {
                    stamps_tx.send((set(&db, &t, b), b)).unwrap();
                }
                drop(stamps_tx);
            });
            for (ts, balance) in stamps_rx {
                match db.snapshot_at(ts) {
                    Ok(then) => {
                        for _ in 0..3 {
                            assert_eq!(then.get(&t, &1).unwrap(), Some(account(balance)));
                            db.vacuum();
                        }
                    }
                    Err(Error::SnapshotTooOld { oldest, .. }) => assert!(oldest > ts),
                    Err(e) => panic!("{e}"),
                }
            }
        });
    }

    // ---- retain ----

    /// With a history window, `snapshot_at` reaches an early commit after
    /// many updates under transaction-level GC (which would pass it at the
    /// next commit without the window), vacuums included.
    fn the_retain_window_keeps_snapshot_at_working(storage: Storage) {
        for retain in [None, Some(Duration::from_secs(3600))] {
            let mut builder = Database::builder().storage(storage).gc(GcPolicy::TransactionLevel);
            if let Some(window) = retain {
                builder = builder.retain(window);
            }
            let db = builder.build();
            let t: Accounts = db.create_table("accounts").unwrap();
            let first = load(&db, &t, [(1, account(0))]);
            for b in 1..=100 {
                set(&db, &t, b);
            }
            db.vacuum();
            let then = db.snapshot_at(first);
            match retain {
                Some(_) => {
                    let then = then.unwrap();
                    assert_eq!(then.get(&t, &1).unwrap(), Some(account(0)));
                    assert_eq!(db.stats().gc.watermark, 0);
                }
                None => assert_err!(then, SnapshotTooOld, "without a window"),
            }
        }
    }

    /// The window slides: once it has passed a commit (the sleep is longer
    /// than the window), the watermark may pass it and garbage goes.
    fn the_retain_window_slides(storage: Storage) {
        let db = Database::builder()
            .storage(storage)
            .gc(GcPolicy::TransactionLevel)
            .retain(Duration::from_millis(1))
            .build();
        let t: Accounts = db.create_table("accounts").unwrap();
        let first = load(&db, &t, [(1, account(0))]);
        set(&db, &t, 1);
        std::thread::sleep(Duration::from_millis(20));
        set(&db, &t, 2);
        db.vacuum();
        std::thread::sleep(Duration::from_millis(20));
        db.vacuum();
        assert!(db.stats().gc.watermark > first.get());
        assert_err!(db.snapshot_at(first), SnapshotTooOld);
    }

    // ---- upsert ----

    /// `upsert` inserts when no row is visible (never written, or deleted,
    /// by another transaction or by this one) and replaces the visible row
    /// otherwise, returning it.
    fn upsert_inserts_or_replaces_and_returns_the_replaced_row(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        db.transact(|tx| tx.delete(&t, &2)).unwrap();
        let mut tx = db.begin();
        assert_eq!(tx.upsert(&t, 1, account(11)).unwrap(), Some(account(10)));
        assert_eq!(tx.upsert(&t, 1, account(12)).unwrap(), Some(account(11)));
        assert_eq!(tx.upsert(&t, 2, account(21)).unwrap(), None);
        assert_eq!(tx.upsert(&t, 3, account(30)).unwrap(), None);
        tx.delete(&t, &3).unwrap();
        assert_eq!(tx.upsert(&t, 3, account(31)).unwrap(), None);
        tx.commit().unwrap();
        assert_eq!(
            latest(&db, &t),
            vec![(1, account(12)), (2, account(21)), (3, account(31))]
        );
    }

    /// `upsert` is a write like any other: first updater wins, whether it
    /// would replace or insert, and the loser is rolled back.
    fn upsert_conflicts_like_any_write(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut winner = db.begin();
        let mut loser = db.begin();
        winner.upsert(&t, 1, account(11)).unwrap();
        winner.upsert(&t, 2, account(20)).unwrap();
        assert_err!(loser.upsert(&t, 1, account(12)), WriteConflict);
        assert_aborted(loser, &t);
        let mut loser = db.begin();
        assert_err!(loser.upsert(&t, 2, account(22)), WriteConflict);
        winner.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(20))]);
        // A table with a hash index takes the same path.
        let h: Accounts = db.create_hash_table("hashed").unwrap();
        let replaced = db.transact(|tx| {
            tx.upsert(&h, 5, account(5))?;
            tx.upsert(&h, 5, account(6))
        });
        assert_eq!(replaced.unwrap(), Some(account(5)));
        assert_eq!(latest(&db, &h), vec![(5, account(6))]);
    }

    // ---- double-ended scans ----

    /// A reversed scan yields exactly the forward scan's rows in reverse, for
    /// every form of range, over more rows than one batch, with committed
    /// deletes and the transaction's own uncommitted writes mixed in.
    fn reverse_scans_equal_forward_scans_reversed(storage: Storage) {
        let (db, t) = accounts(storage);
        load(&db, &t, (0..400).map(|k| (k * 2, account(k as i64))));
        db.transact(|tx| {
            for k in (0..400).step_by(7) {
                tx.delete(&t, &(k * 2))?;
            }
            Ok(())
        })
        .unwrap();
        let mut tx = db.begin();
        for k in (1..800).step_by(50) {
            tx.insert(&t, k, account(-1)).unwrap();
        }
        tx.delete(&t, &2).unwrap();
        let ranges: Vec<(std::ops::Bound<u64>, std::ops::Bound<u64>)> = {
            use std::ops::Bound::*;
            vec![
                (Unbounded, Unbounded),
                (Included(100), Excluded(700)),
                (Excluded(100), Included(700)),
                (Included(101), Included(101)),
                (Included(102), Included(102)),
                (Excluded(500), Unbounded),
                (Unbounded, Excluded(3)),
                (Included(600), Excluded(100)),
            ]
        };
        for range in ranges {
            let forward: Vec<_> = tx.scan(&t, range).unwrap().collect();
            let mut backward: Vec<_> = tx.scan(&t, range).unwrap().rev().collect();
            backward.reverse();
            assert_eq!(forward, backward, "{range:?}");
        }
        let snap = db.snapshot();
        let forward: Vec<_> = snap.scan(&t, ..).unwrap().collect();
        let backward: Vec<_> = snap.scan(&t, ..).unwrap().rev().collect();
        assert_eq!(forward.len(), 400 - 400usize.div_ceil(7));
        assert!(forward.iter().rev().eq(backward.iter()));
    }

    /// Both ends consumed in turn, in several patterns, yield every row
    /// once: the front in ascending order, the back in descending, and the
    /// two meet without a gap or an overlap.
    fn mixed_next_and_next_back_yield_every_row_once(storage: Storage) {
        let (db, t) = accounts(storage);
        load(&db, &t, (0..300).map(|k| (k, account(k as i64))));
        let tx = db.begin();
        let all = rows(&tx, &t);
        for pattern in [&[1usize, 1][..], &[1, 3], &[70, 1], &[1, 130], &[64, 64], &[5, 200, 1]] {
            let mut scan = tx.scan(&t, ..).unwrap();
            let (mut front, mut back) = (Vec::new(), Vec::new());
            let mut side = 0;
            'outer: loop {
                let n = pattern[side % pattern.len()];
                for _ in 0..n {
                    let row = if side % 2 == 0 { scan.next() } else { scan.next_back() };
                    match row {
                        Some(row) if side % 2 == 0 => front.push(row),
                        Some(row) => back.push(row),
                        None => break 'outer,
                    }
                }
                side += 1;
            }
            assert!(scan.next().is_none() && scan.next_back().is_none());
            back.reverse();
            front.extend(back);
            assert_eq!(front, all, "pattern {pattern:?}");
        }
    }

    // ---- drop_table ----

    /// Dropping a table takes effect at its commit, like a write: a
    /// transaction or snapshot that began before it goes on reading the
    /// table as it was; one that began after gets `NoSuchTable`; nobody
    /// writes it any more (a transaction that wrote it fails at its next
    /// write and at commit, and rolls back whole); `drop_table` again is
    /// `NoSuchTable`; a table of the same name can be created at once, new
    /// and empty.
    fn dropping_a_table_in_use_gives_no_such_table(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
        let other: Accounts = db.create_table("other").unwrap();
        let snap = db.snapshot();
        let mut writer = db.begin();
        writer.update(&t, &1, account(11)).unwrap();
        writer.insert(&other, 7, account(7)).unwrap();
        let reader = db.begin();
        let mut scan = reader.scan(&t, ..).unwrap();
        assert_eq!(scan.next(), Some((1, account(10))));

        db.drop_table("accounts").unwrap();
        assert!(t.is_dropped());
        assert_eq!(db.table_names(), vec!["other".to_string()]);
        assert_err!(db.drop_table("accounts"), NoSuchTable);
        assert_err!(db.table::<u64, [i64; 4]>("accounts"), NoSuchTable);
        assert_eq!(scan.next(), Some((2, account(20))), "a scan under way finishes");
        assert_eq!(scan.next(), None);
        assert_eq!(reader.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(reader.scan(&t, ..).unwrap().count(), 2);
        assert_eq!(snap.get(&t, &2).unwrap(), Some(account(20)));
        assert_eq!(snap.scan(&t, ..).unwrap().count(), 2);
        assert_eq!(snap.get(&other, &7).unwrap(), None);
        reader.commit().unwrap();
        assert_err!(db.begin().get(&t, &1), NoSuchTable);
        assert_err!(db.snapshot().scan(&t, ..), NoSuchTable);
        assert_eq!(writer.get(&t, &1).unwrap(), Some(account(11)), "its snapshot");
        assert_err!(writer.insert(&t, 3, account(3)), NoSuchTable);
        assert!(writer.is_active(), "a refused write is an answer");
        match writer.commit() {
            Err(Error::NoSuchTable { name, .. }) => assert_eq!(name, "accounts"),
            other => panic!("{other:?}"),
        }
        assert_eq!(latest(&db, &other), vec![], "the writer rolled back whole");
        assert_err!(db.transact(|tx| tx.get(&t, &1)), NoSuchTable);

        let again: Accounts = db.create_table("accounts").unwrap();
        assert!(!again.is_dropped());
        assert_eq!(latest(&db, &again), vec![]);
        load(&db, &again, [(1, account(100))]);
        let opened: Accounts = db.table("accounts").unwrap();
        assert_eq!(latest(&db, &opened), vec![(1, account(100))]);
        assert_err!(db.begin().get(&t, &1), NoSuchTable);
    }

    /// A dropped table's rows are freed when the last handle on it goes (the
    /// user's handle and a transaction's writes), not before.
    fn a_dropped_table_is_freed_with_its_last_handle(storage: Storage) {
        let db = Database::builder().storage(storage).gc(GcPolicy::Off).build();
        let witness = Arc::new(());
        let t: Table<u64, [Arc<()>; 1]> = db.create_table("t").unwrap();
        db.transact(|tx| {
            for k in 0..10 {
                tx.insert(&t, k, [Arc::clone(&witness)])?;
            }
            Ok(())
        })
        .unwrap();
        let mut writer = db.begin();
        writer.update(&t, &0, [Arc::clone(&witness)]).unwrap();
        db.drop_table("t").unwrap();
        let held = Arc::strong_count(&witness);
        assert!(held >= 12, "{held}");
        drop(t);
        assert_eq!(Arc::strong_count(&witness), held, "the writer's log holds it");
        assert_err!(writer.commit(), NoSuchTable);
        // The rows go through crossbeam-epoch's deferred destruction, which
        // waits for every thread pinned now to unpin: other tests of this
        // binary run on other threads, so flush until the epoch has moved
        // (bounded: a leak still fails).
        let deadline = Instant::now() + Duration::from_secs(20);
        while Arc::strong_count(&witness) > 1 && Instant::now() < deadline {
            crossbeam_epoch::pin().flush();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(Arc::strong_count(&witness), 1);
    }

    // ---- commit timestamps ----

    /// Only a transaction that wrote gets a timestamp of its own; one that
    /// wrote nothing returns the newest commit it saw, and `commit_write`
    /// tells the two apart.
    fn only_writing_commits_get_timestamps_of_their_own(storage: Storage) {
        let db = Database::new(storage);
        assert_eq!(db.begin().commit().unwrap().get(), 0, "nobody has written");
        let t: Accounts = db.create_table("accounts").unwrap();
        let mut previous = db.begin().commit().unwrap();
        assert_eq!(previous.get(), 1, "creating a table is a commit");
        let mut seen = std::collections::HashSet::new();
        for k in 0..5 {
            let reader = db.begin();
            let mut w = db.begin();
            w.insert(&t, k, account(0)).unwrap();
            let ts = w.commit_write().unwrap().expect("it wrote");
            assert!(ts > previous && seen.insert(ts), "{ts:?}");
            assert_eq!(reader.commit().unwrap(), previous, "the newest commit it saw");
            let r = db.begin();
            assert_eq!(r.get(&t, &k).unwrap(), Some(account(0)));
            assert_eq!(r.commit_write().unwrap(), None);
            assert_eq!(db.begin().commit().unwrap(), ts, "the newest commit it saw");
            previous = ts;
        }
    }
}
