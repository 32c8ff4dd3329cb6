//! Garbage collection on every store under every policy: chains stay short,
//! long readers keep exactly what they can see, deleted rows leave the index,
//! and readers never read a freed or wrong version while the collector runs.

use multiverse::{Database, Error, GcPolicy, Storage, Table};
use std::time::{Duration, Instant};

fn every_store_and_policy(f: impl Fn(Storage, GcPolicy)) {
    for storage in Storage::ALL {
        for policy in GcPolicy::ALL {
            f(storage, policy);
        }
    }
}

fn build(storage: Storage, policy: GcPolicy) -> Database {
    Database::builder().storage(storage).gc(policy).build()
}

/// Waits (up to 5 s) until `done` holds, for the background vacuum.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn update(db: &Database, t: &Table<u32, [u64; 4]>, key: u32, value: u64) {
    let mut tx = db.begin();
    tx.update(t, &key, [value; 4]).unwrap();
    tx.commit().unwrap();
}

/// Versions a quiet, reader-free table may keep per row under each policy:
/// the newest, one history item that the master stores keep as their cut
/// point, and for the cooperative and transaction-level policies the
/// commits since the cached watermark was last refreshed (both refresh it
/// once per 8 commits rather than scanning the registry on every commit).
fn bound(policy: GcPolicy) -> usize {
    match policy {
        GcPolicy::Cooperative => 12,
        GcPolicy::TransactionLevel => 2 + 8,
        _ => 2,
    }
}

#[test]
fn chains_stay_short_without_readers() {
    every_store_and_policy(|storage, policy| {
        let db = build(storage, policy);
        let t: Table<u32, [u64; 4]> = db.create_table("t").unwrap();
        let mut tx = db.begin();
        tx.insert(&t, 1, [0; 4]).unwrap();
        tx.commit().unwrap();
        for i in 1..=1000 {
            update(&db, &t, 1, i);
        }
        let versions = || t.stats().versions;
        match policy {
            GcPolicy::Off => assert_eq!(versions(), 1001, "{storage}/{policy}"),
            GcPolicy::Vacuum { .. } => {
                eventually(&format!("{storage}/{policy} vacuumed"), || versions() <= 2)
            }
            _ => assert!(
                versions() <= bound(policy),
                "{storage}/{policy}: {} versions",
                versions()
            ),
        }
        assert_eq!(
            db.begin().get(&t, &1).unwrap(),
            Some([1000; 4]),
            "{storage}/{policy}"
        );
        if policy != GcPolicy::Off {
            // The vacuum thread counts what a batch reclaimed after the
            // batch: the chain can be short before the count is in.
            eventually(&format!("{storage}/{policy} counted"), || {
                db.stats().gc.reclaimed_versions >= 990
            });
        }
    });
}

#[test]
fn a_long_reader_keeps_what_it_sees_and_memory_returns_after_it_ends() {
    every_store_and_policy(|storage, policy| {
        if policy == GcPolicy::Off {
            return;
        }
        let db = build(storage, policy);
        let t: Table<u32, [u64; 4]> = db.create_table("t").unwrap();
        let mut tx = db.begin();
        for k in 0..10 {
            tx.insert(&t, k, [0; 4]).unwrap();
        }
        tx.commit().unwrap();
        let churn = |rounds: u64, base: u64| {
            for i in 0..rounds {
                for k in 0..10 {
                    update(&db, &t, k, base + i);
                }
            }
        };
        churn(20, 1);
        db.vacuum();
        let steady = t.stats();
        let reader = db.begin();
        let seen: Vec<_> = reader.scan(&t, ..).unwrap().collect();
        churn(50, 100);
        db.vacuum();
        let held = t.stats();
        // The reader's versions are all still there...
        assert_eq!(
            reader.scan(&t, ..).unwrap().collect::<Vec<_>>(),
            seen,
            "{storage}/{policy}"
        );
        // ...and so is (nearly) everything written since: the reader holds it back.
        assert!(held.versions >= 10 * 50, "{storage}/{policy}: {held:?}");
        drop(reader);
        churn(20, 1000);
        db.vacuum();
        let after = t.stats();
        assert!(
            after.versions <= steady.versions.max(10 * bound(policy)),
            "{storage}/{policy}: steady {steady:?}, after {after:?}"
        );
        assert!(
            after.history_bytes <= steady.history_bytes.max(after.version_bytes / 2 + 1),
            "{storage}/{policy}: steady {steady:?}, after {after:?}"
        );
    });
}

#[test]
fn only_versions_a_reader_can_see_are_kept_for_it() {
    for storage in Storage::ALL {
        // Vacuum on demand, at a fresh watermark: the count is exact.
        let db = build(storage, GcPolicy::Off);
        let t: Table<u32, [u64; 4]> = db.create_table("t").unwrap();
        let mut tx = db.begin();
        tx.insert(&t, 1, [0; 4]).unwrap();
        tx.commit().unwrap();
        for i in 1..=10 {
            update(&db, &t, 1, i);
        }
        let reader = db.begin(); // sees version 10
        for i in 11..=20 {
            update(&db, &t, 1, i);
        }
        db.vacuum();
        // Versions 10..=20 are needed (10 for the reader, 20 is newest, the
        // rest are the tail between them; a master store may keep one more
        // history item as its cut point).
        let v = t.stats().versions;
        assert!((11..=12).contains(&v), "{storage}: {v} versions");
        assert_eq!(reader.get(&t, &1).unwrap(), Some([10; 4]), "{storage}");
        drop(reader);
        db.vacuum();
        assert!(t.stats().versions <= 2, "{storage}");
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some([20; 4]), "{storage}");
    }
}

#[test]
fn deleted_rows_leave_the_index_once_no_snapshot_sees_them() {
    every_store_and_policy(|storage, policy| {
        let db = build(storage, policy);
        let t: Table<u32, [u64; 4]> = db.create_table("t").unwrap();
        let mut tx = db.begin();
        for k in 0..100 {
            tx.insert(&t, k, [k as u64; 4]).unwrap();
        }
        tx.commit().unwrap();
        let reader = db.begin();
        let mut tx = db.begin();
        for k in 0..100 {
            tx.delete(&t, &k).unwrap();
        }
        tx.commit().unwrap();
        db.vacuum();
        assert_eq!(
            t.stats().records,
            100,
            "{storage}/{policy}: the reader still sees them"
        );
        assert_eq!(
            reader.scan(&t, ..).unwrap().count(),
            100,
            "{storage}/{policy}"
        );
        drop(reader);
        match policy {
            GcPolicy::Off => {
                db.vacuum();
            }
            // Cooperative readers retire what they find deleted.
            GcPolicy::Cooperative => assert_eq!(db.begin().scan(&t, ..).unwrap().count(), 0),
            // Vacuum: the thread sweeps. Transaction level: the deleting
            // commit's batch became due when the reader ended.
            _ => {}
        }
        eventually(&format!("{storage}/{policy}: deleted rows removed"), || {
            t.stats().records == 0
        });
        assert_eq!(db.stats().gc.retired_records, 100, "{storage}/{policy}");
        // The keys can be inserted again, into fresh records.
        let mut tx = db.begin();
        for k in 0..100 {
            tx.insert(&t, k, [7; 4]).unwrap();
        }
        tx.commit().unwrap();
        assert_eq!(
            db.begin().scan(&t, ..).unwrap().count(),
            100,
            "{storage}/{policy}"
        );
    });
}

#[test]
fn inserts_race_the_retirement_of_their_record() {
    every_store_and_policy(|storage, policy| {
        let db = build(storage, policy);
        let t: Table<u32, [u64; 4]> = db.create_table("t").unwrap();
        std::thread::scope(|s| {
            // One thread inserts and deletes keys; another vacuums; a third
            // reads. Every insert must land in a live record: it is read back.
            s.spawn(|| {
                for round in 0..300u64 {
                    let k = (round % 7) as u32;
                    let mut tx = db.begin();
                    tx.insert(&t, k, [round; 4]).unwrap();
                    tx.commit().unwrap();
                    assert_eq!(
                        db.begin().get(&t, &k).unwrap(),
                        Some([round; 4]),
                        "{storage}/{policy}"
                    );
                    let mut tx = db.begin();
                    tx.delete(&t, &k).unwrap();
                    tx.commit().unwrap();
                }
            });
            s.spawn(|| {
                for _ in 0..200 {
                    db.vacuum();
                }
            });
            s.spawn(|| {
                for _ in 0..300 {
                    let _ = db.begin().scan(&t, ..).unwrap().count();
                }
            });
        });
    });
}

#[test]
fn transfers_with_readers_and_the_collector_keep_the_total() {
    const ACCOUNTS: u32 = 16;
    every_store_and_policy(|storage, policy| {
        let db = build(storage, policy);
        let t: Table<u32, [i64; 2]> = db.create_table("accounts").unwrap();
        let mut tx = db.begin();
        for k in 0..ACCOUNTS {
            tx.insert(&t, k, [100, 0]).unwrap();
        }
        tx.commit().unwrap();
        let committed = std::sync::atomic::AtomicI64::new(0);
        std::thread::scope(|s| {
            for w in 0..2u32 {
                let (db, t, committed) = (&db, &t, &committed);
                s.spawn(move || {
                    let mut x = 12345u32 + w;
                    let mut done = 0;
                    while done < 400 {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        let (a, b) = (x % ACCOUNTS, (x / ACCOUNTS) % ACCOUNTS);
                        if a == b {
                            continue;
                        }
                        let mut tx = db.begin();
                        let r = tx
                            .modify(t, &a, |r| {
                                r[0] -= 1;
                                r[1] += 1;
                            })
                            .and_then(|_| tx.modify(t, &b, |r| r[0] += 1));
                        match r {
                            Ok(()) => {
                                tx.commit().unwrap();
                                done += 1;
                            }
                            Err(Error::WriteConflict) => {}
                            Err(e) => panic!("{storage}/{policy}: {e}"),
                        }
                    }
                    committed.fetch_add(done, std::sync::atomic::Ordering::Relaxed);
                });
            }
            s.spawn(|| {
                for _ in 0..300 {
                    let tx = db.begin();
                    let rows: Vec<_> = tx.scan(&t, ..).unwrap().collect();
                    assert_eq!(rows.len(), ACCOUNTS as usize, "{storage}/{policy}");
                    let total: i64 = rows.iter().map(|(_, r)| r[0]).sum();
                    assert_eq!(total, 100 * ACCOUNTS as i64, "{storage}/{policy}");
                    assert_eq!(
                        tx.scan(&t, ..).unwrap().collect::<Vec<_>>(),
                        rows,
                        "{storage}/{policy}"
                    );
                }
            });
            s.spawn(|| {
                for _ in 0..100 {
                    db.vacuum();
                    std::thread::yield_now();
                }
            });
        });
        let tx = db.begin();
        let rows: Vec<_> = tx.scan(&t, ..).unwrap().collect();
        let moved: i64 = rows.iter().map(|(_, r)| r[1]).sum();
        assert_eq!(
            moved,
            committed.into_inner(),
            "{storage}/{policy}: no committed transfer lost"
        );
        assert_eq!(
            rows.iter().map(|(_, r)| r[0]).sum::<i64>(),
            100 * ACCOUNTS as i64
        );
    });
}

#[test]
fn dropping_the_database_stops_the_vacuum_thread() {
    let db = build(
        Storage::AppendOnlyN2O,
        GcPolicy::Vacuum {
            interval: Duration::from_millis(1),
        },
    );
    let t: Table<u32, [u64; 4]> = db.create_table("t").unwrap();
    let weak_probe = t.clone();
    drop(db);
    // The table handle still works on its own, and nothing hangs.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(weak_probe.stats().records, 0);
}

/// A vacuum interval of zero would make the thread spin: it is raised to
/// 1 ms, the policy says so, and the thread sweeps.
#[test]
fn a_zero_vacuum_interval_is_raised_to_a_millisecond() {
    let db = Database::builder()
        .gc(GcPolicy::Vacuum {
            interval: Duration::ZERO,
        })
        .build();
    assert_eq!(
        db.gc_policy(),
        GcPolicy::Vacuum {
            interval: Duration::from_millis(1)
        }
    );
    eventually("the vacuum thread sweeps", || db.stats().gc.sweeps >= 3);
}
