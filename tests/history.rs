//! What the version stores keep: history per update, and old snapshots
//! reading exactly their version along long chains.

use multiverse::{Database, GcPolicy, Storage, Table};

/// A database that keeps every version: these tests count them. The delta
/// store keeps its masters of word rows in place (IP1, the paper's
/// design; the builder's default is copy-on-write, which the conformance
/// suite covers), so that the bounds below hold for that layout too.
fn keep_all(storage: Storage) -> Database {
    Database::builder()
        .storage(storage)
        .gc(GcPolicy::Off)
        .in_place_master(true)
        .build()
}

/// History bytes kept per update of one attribute of a 100-attribute tuple,
/// with a snapshot held open so that nothing could be pruned.
fn history_bytes_per_update(storage: Storage, updates: usize) -> (f64, usize) {
    history_bytes_per_update_of(storage, updates, 1)
}

/// History bytes kept per update of `modified` attributes of a
/// 100-attribute tuple, with a snapshot held open.
fn history_bytes_per_update_of(storage: Storage, updates: usize, modified: usize) -> (f64, usize) {
    let db = keep_all(storage);
    let t: Table<u64, [i64; 100]> = db.create_table("wide").unwrap();
    let original: Vec<[i64; 100]> = (0..10u64)
        .map(|k| std::array::from_fn(|i| (k * 1000 + i as u64) as i64))
        .collect();
    let mut tx = db.begin();
    for (k, row) in original.iter().enumerate() {
        tx.insert(&t, k as u64, *row).unwrap();
    }
    tx.commit().unwrap();
    let reader = db.begin();
    let before = db.stats().total;
    for u in 0..updates {
        let mut tx = db.begin();
        let key = (u % 10) as u64;
        tx.modify(&t, &key, |r| {
            for i in 0..modified {
                r[(u + i) % 100] += 1;
            }
        })
        .unwrap();
        tx.commit().unwrap();
    }
    let after = db.stats().total;
    // The old snapshot still reads the original rows exactly.
    let rows: Vec<[i64; 100]> = reader.scan(&t, ..).unwrap().map(|(_, r)| r).collect();
    assert_eq!(
        rows, original,
        "{storage}: the old snapshot must read the original rows"
    );
    let kept = after.history_bytes - before.history_bytes;
    assert_eq!(
        after.history_versions - before.history_versions,
        updates,
        "{storage}: one history record per update"
    );
    (kept as f64 / updates as f64, after.history_versions)
}

#[test]
fn delta_keeps_a_small_fraction_of_append_only_history_per_update() {
    let per_update: Vec<(Storage, f64)> = Storage::ALL
        .iter()
        .map(|&s| (s, history_bytes_per_update(s, 500).0))
        .collect();
    let delta = per_update
        .iter()
        .find(|(s, _)| *s == Storage::Delta)
        .unwrap()
        .1;
    for &(s, bytes) in &per_update {
        if s != Storage::Delta {
            // A whole 800-byte tuple against one 8-byte attribute plus header.
            assert!(
                delta * 5.0 < bytes,
                "delta keeps {delta} B per update, {s} keeps {bytes} B: expected under a fifth"
            );
        }
    }
}

/// The delta store's history per update is never more than a whole copy
/// (time-travel's history item) plus a fixed header, however many
/// attributes an update changes: before-images of most attributes fall back
/// to a whole copy.
#[test]
fn delta_history_never_exceeds_a_whole_copy() {
    for modified in [1, 10, 50, 100] {
        let whole = history_bytes_per_update_of(Storage::TimeTravel, 200, modified).0;
        let delta = history_bytes_per_update_of(Storage::Delta, 200, modified).0;
        assert!(
            delta <= whole + 64.0,
            "{modified} of 100 attributes modified: delta keeps {delta} B per update, a whole copy {whole} B"
        );
    }
}

#[test]
fn every_snapshot_along_a_long_chain_reads_exactly_its_version() {
    every_snapshot_reads_its_version_of(|v| vec![v; 3], |v| vec![v]);
}

/// The same chain of rows of words (`[i64; 3]`), which the delta store
/// updates, deletes and re-inserts in place (IP1), so that old snapshots
/// rebuild their versions from the words and the before-images.
#[test]
fn every_snapshot_along_a_long_chain_of_in_place_rows_reads_exactly_its_version() {
    every_snapshot_reads_its_version_of(|v| [v; 3], |v| [v, v, v]);
}

/// Rows 1 and 2 along 300 commits (updates of one attribute, deletes,
/// re-inserts), with a snapshot held after each: every snapshot reads
/// exactly its version, on every store. `row(v)` is a row of three
/// attributes `v`; `other(v)` the row of key 2.
fn every_snapshot_reads_its_version_of<R>(row: fn(i64) -> R, other: fn(i64) -> R)
where
    R: multiverse::Tuple + PartialEq + std::fmt::Debug + std::ops::IndexMut<usize, Output = i64>,
{
    for storage in Storage::ALL {
        let db = keep_all(storage);
        let t: Table<u32, R> = db.create_table("t").unwrap();
        let mut tx = db.begin();
        tx.insert(&t, 1, row(0)).unwrap();
        tx.insert(&t, 2, other(-1)).unwrap();
        tx.commit().unwrap();
        // Snapshots held open along the way: snapshots[i] must read version i.
        let mut snapshots = vec![db.begin()];
        for i in 1..=300i64 {
            let mut tx = db.begin();
            match i % 7 {
                // Deletes and re-inserts in the chain, too.
                3 => tx.delete(&t, &1).unwrap(),
                4 => tx.insert(&t, 1, row(i)).unwrap(),
                _ => tx.modify(&t, &1, |r| r[(i % 3) as usize] = i).unwrap(),
            }
            tx.commit().unwrap();
            snapshots.push(db.begin());
        }
        // Replay the history in a plain model.
        let mut expected: Vec<Option<R>> = vec![Some(row(0))];
        for i in 1..=300i64 {
            let prev = expected.last().unwrap().clone();
            expected.push(match i % 7 {
                3 => None,
                4 => Some(row(i)),
                _ => prev.map(|mut r| {
                    r[(i % 3) as usize] = i;
                    r
                }),
            });
        }
        for (i, snap) in snapshots.iter().enumerate() {
            assert_eq!(
                snap.get(&t, &1).unwrap(),
                expected[i],
                "{storage}: snapshot {i}"
            );
            assert_eq!(
                snap.get(&t, &2).unwrap(),
                Some(other(-1)),
                "{storage}: snapshot {i}"
            );
        }
        // Read again, newest first: nothing changed.
        for (i, snap) in snapshots.iter().enumerate().rev() {
            let n = snap.scan(&t, ..).unwrap().count();
            assert_eq!(
                n,
                1 + usize::from(expected[i].is_some()),
                "{storage}: snapshot {i}"
            );
        }
    }
}

#[test]
fn stats_count_versions_per_table() {
    for storage in Storage::ALL {
        let db = keep_all(storage);
        let a: Table<u8, [u64; 4]> = db.create_table("a").unwrap();
        let b: Table<u8, [u64; 4]> = db.create_table("b").unwrap();
        let mut tx = db.begin();
        tx.insert(&a, 1, [1; 4]).unwrap();
        tx.insert(&b, 1, [1; 4]).unwrap();
        tx.commit().unwrap();
        for _ in 0..3 {
            let mut tx = db.begin();
            tx.modify(&a, &1, |r| r[0] += 1).unwrap();
            tx.commit().unwrap();
        }
        let stats = db.stats();
        assert_eq!(stats.tables.len(), 2);
        let (name, sa) = &stats.tables[0];
        assert_eq!(name, "a");
        assert_eq!(
            (sa.records, sa.versions, sa.history_versions),
            (1, 4, 3),
            "{storage}"
        );
        let sb = b.stats();
        assert_eq!(
            (sb.records, sb.versions, sb.history_versions),
            (1, 1, 0),
            "{storage}"
        );
        assert_eq!(stats.total.versions, 5, "{storage}");
        assert!(
            sa.history_bytes > 0 && sa.version_bytes > sa.history_bytes,
            "{storage}"
        );
    }
}

#[test]
fn aborted_updates_leave_no_history() {
    for storage in Storage::ALL {
        let db = keep_all(storage);
        let t: Table<u8, [u64; 8]> = db.create_table("t").unwrap();
        let mut tx = db.begin();
        tx.insert(&t, 1, [0; 8]).unwrap();
        tx.commit().unwrap();
        for _ in 0..10 {
            let mut tx = db.begin();
            tx.modify(&t, &1, |r| r[1] = 9).unwrap();
            tx.modify(&t, &1, |r| r[2] = 9).unwrap();
            tx.rollback();
        }
        let s = t.stats();
        assert_eq!((s.versions, s.history_versions), (1, 0), "{storage}");
        assert_eq!(db.begin().get(&t, &1).unwrap(), Some([0; 8]), "{storage}");
    }
}
