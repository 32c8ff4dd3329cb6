//! The six scenarios where MVCC engines go wrong, each a loom model run on
//! every store. Invariant ids are those of `docs/design.md`.

#![cfg(loom)]

mod common;

use common::{
    model, model_with_bound, pinned, pinned_then_flush, setup, two_row_commit_against_a_reader,
    update,
};
use crossbeam_epoch::Collector;
use loom::sync::Arc;
use loom::thread;
use multiverse::model::{Op, Storage};
use multiverse::Error;

/// Two transactions, both begun before either writes, apply `op(1)` and
/// `op(2)` to row 0 of a table set up with `initial`; each commits if its
/// write succeeds and aborts on `WriteConflict`. Asserts that exactly one
/// commits, that a new snapshot reads its value, and that row 0 then holds
/// `versions` versions.
fn exactly_one_of_two_writers(
    storage: Storage,
    initial: &'static [u64],
    op: fn(u64) -> Op,
    versions: usize,
) {
    model(move || {
        let collector = Collector::new();
        let (engine, rows) = setup(storage, 1, initial, &collector);
        let rows = Arc::new(rows);
        let txs = [engine.begin(), engine.begin()];
        let handles: Vec<_> = txs
            .into_iter()
            .zip([1u64, 2])
            .map(|(mut tx, v)| {
                let (rows, collector) = (Arc::clone(&rows), collector.clone());
                thread::spawn(move || {
                    pinned(&collector, |g| match rows.write(&mut tx, 0, op(v), g) {
                        Ok(()) => {
                            rows.commit(tx, g);
                            Some(v)
                        }
                        Err(e) => {
                            assert_eq!(e, Error::WriteConflict);
                            rows.abort(tx, g);
                            None
                        }
                    })
                })
            })
            .collect();
        let won: Vec<u64> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1, "{storage}: exactly one writer commits");
        pinned(&collector, |g| {
            assert_eq!(rows.read(&engine.begin(), 0, g), Some(won[0]));
            assert_eq!(
                rows.versions(0, g),
                versions,
                "{storage}: a well-formed chain"
            );
        });
    });
}

/// Scenario 1 — **W1** (first updater wins). Two transactions, both begun
/// before either writes, update the same row. Exactly one commits; the
/// other's write returns `WriteConflict` at once, it aborts, and the chain
/// is well formed: the initial version and the winner's, nothing of the
/// loser's. Broken by: a claim that is not one CAS (both read `end ==
/// INFINITY`, both install), or an abort that releases its claim before it
/// unlinks its version (a third writer would append behind a dead one).
#[test]
fn w1_two_writers_claim_the_same_row() {
    for storage in Storage::ALL {
        // The initial version and the winner's.
        exactly_one_of_two_writers(storage, &[10], Op::Update, 2);
    }
}

/// Scenario 2 — **A1** (atomic visibility). A writer commits a transaction
/// that updates two rows while a reader reads both. The reader sees both new
/// values or both old ones. Broken by: publishing the commit timestamp
/// before every version is stamped (the reader's snapshot covers the commit
/// while one row is still tagged) — the negative control does exactly that.
#[test]
fn a1_a_two_row_commit_is_seen_whole_or_not_at_all() {
    for storage in Storage::ALL {
        // Bound 2: the reader must be switched in after the writer
        // publishes and before it is done (the negative control needs it).
        model_with_bound(2, move || {
            let (a, b) = two_row_commit_against_a_reader(storage);
            assert_eq!(
                a, b,
                "{storage}: atomic visibility violated: saw {a:?} and {b:?}"
            );
        });
    }
}

/// Scenario 3 — **W2** (aborted means aborted) and **V1**. A writer updates a
/// row and rolls back while a reader walks the chain. The reader never sees
/// the aborted value; afterwards the chain holds the original version only.
/// Broken by: an abort that unlinks before marking its version, read by a
/// reader whose view could see it (its own writes), or a restore of the
/// head that drops the original.
#[test]
fn w2_a_reader_never_sees_an_aborted_version() {
    for storage in Storage::ALL {
        model(move || {
            let collector = Collector::new();
            let (engine, rows) = setup(storage, 1, &[5], &collector);
            let (engine, rows) = (Arc::new(engine), Arc::new(rows));
            let writer = {
                let (engine, rows, collector) =
                    (Arc::clone(&engine), Arc::clone(&rows), collector.clone());
                thread::spawn(move || {
                    pinned_then_flush(&collector, |g| {
                        let mut tx = engine.begin();
                        rows.write(&mut tx, 0, Op::Update(6), g).unwrap();
                        rows.abort(tx, g);
                    })
                })
            };
            pinned(&collector, |g| {
                let tx = engine.begin();
                assert_eq!(rows.read(&tx, 0, g), Some(5), "{storage}");
                assert_eq!(rows.read(&tx, 0, g), Some(5), "{storage}");
            });
            writer.join().unwrap();
            pinned(&collector, |g| {
                assert_eq!(rows.read(&engine.begin(), 0, g), Some(5));
                assert_eq!(
                    rows.versions(0, g),
                    1,
                    "{storage}: the aborted version is gone"
                );
            });
        });
    }
}

/// Scenario 4 — **W1** for inserts. Two transactions insert the same new
/// key into an empty record. Exactly one commits (the first CAS of the
/// record's pointer); the other gets `WriteConflict` or, if it began after
/// the first committed... (both begin first here, so the loser always
/// conflicts). Broken by: installing the first
/// version with a plain store (both inserts land; one is lost).
#[test]
fn w1_insert_insert_of_one_key() {
    for storage in Storage::ALL {
        exactly_one_of_two_writers(storage, &[], Op::Insert, 1);
    }
}

/// Scenario 5 — **M1** and **G1** (reclamation). The collector prunes a row
/// at a fresh watermark and hands the unlinked versions to crossbeam-epoch
/// (flushed, so they are freed inside the model) while a reader with an old
/// snapshot walks the chain. The reader reads exactly its snapshot's
/// version. Broken by: a watermark above the reader's snapshot (its version
/// is cut), or freeing without the epoch (the reader walks freed memory).
#[test]
fn m1_pruning_while_a_reader_walks() {
    for storage in Storage::ALL {
        model(move || {
            let collector = Collector::new();
            let (engine, rows) = setup(storage, 1, &[1], &collector);
            let (reader, engine, rows) = pinned(&collector, |g| {
                update(&engine, &rows, 0, 2, g);
                let reader = engine.begin(); // reads version 2
                update(&engine, &rows, 0, 3, g);
                (reader, Arc::new(engine), Arc::new(rows))
            });
            let gc = {
                let (engine, rows, collector) =
                    (Arc::clone(&engine), Arc::clone(&rows), collector.clone());
                thread::spawn(move || {
                    pinned_then_flush(&collector, |g| rows.prune(0, engine.watermark(), g))
                })
            };
            pinned(&collector, |g| {
                assert_eq!(
                    rows.read(&reader, 0, g),
                    Some(2),
                    "{storage}: the reader's version"
                );
            });
            drop(reader);
            gc.join().unwrap();
            pinned(&collector, |g| {
                assert_eq!(rows.read(&engine.begin(), 0, g), Some(3), "{storage}");
                rows.prune(0, engine.watermark(), g);
                assert!(
                    rows.versions(0, g) <= 2,
                    "{storage}: pruned once the reader ended"
                );
            });
        });
    }
}

/// Scenario 6 — **G1** (watermark safety). A transaction registers its
/// snapshot while a committer advances the clock and the collector computes
/// the watermark. The watermark never passes a snapshot in use. Broken by:
/// registering without the SeqCst-fence handshake (the collector reads the
/// slots before the snapshot is stored in one, while the transaction loaded
/// the clock before the collector's horizon).
#[test]
fn g1_the_watermark_never_passes_a_snapshot_in_use() {
    // Bound 2: the handshake needs a preemption on each side.
    model_with_bound(2, move || {
        let collector = Collector::new();
        let (engine, rows) = setup(Storage::AppendOnlyN2O, 1, &[0], &collector);
        let (engine, rows) = (Arc::new(engine), Arc::new(rows));
        let committer = {
            let (engine, rows, collector) =
                (Arc::clone(&engine), Arc::clone(&rows), collector.clone());
            thread::spawn(move || pinned(&collector, |g| update(&engine, &rows, 0, 1, g)))
        };
        let gc = {
            let engine = Arc::clone(&engine);
            thread::spawn(move || engine.watermark())
        };
        let tx = engine.begin();
        let w = gc.join().unwrap();
        assert!(
            w <= tx.snapshot(),
            "watermark {w} passed the snapshot {} in use",
            tx.snapshot()
        );
        committer.join().unwrap();
        let w = engine.watermark();
        assert!(
            w <= tx.snapshot(),
            "watermark {w} passed the snapshot {} in use",
            tx.snapshot()
        );
    });
}
