//! Shared set-up of the models.

#![allow(dead_code)]

use crossbeam_epoch::{Collector, Guard};
use loom::sync::Arc;
use loom::thread;
use multiverse::model::{Engine, Op, Rows, Storage, WordRow, WordRows};

/// Runs `f` under loom with a preemption bound: `LOOM_MAX_PREEMPTIONS`, or
/// `bound` (each model states why it runs at the bound it does; see the
/// README's table for the run times).
pub fn model_with_bound(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // crossbeam-epoch's pin and registration are dozens of atomic steps.
    builder.max_branches = 100_000;
    builder.check(f);
}

/// Pins `collector` on this thread and runs `f` with the guard.
pub fn pinned<R>(collector: &Collector, f: impl FnOnce(&Guard) -> R) -> R {
    let handle = collector.register();
    let guard = handle.pin();
    f(&guard)
}

/// As [`pinned`], then flushes twice, so that reclamation happens inside the
/// model (a use-after-free can only show if something is freed).
pub fn pinned_then_flush<R>(collector: &Collector, f: impl FnOnce(&Guard) -> R) -> R {
    let handle = collector.register();
    let r = {
        let guard = handle.pin();
        f(&guard)
    };
    for _ in 0..2 {
        handle.pin().flush();
    }
    r
}

/// An engine and `n` rows, with rows `0..values.len()` inserted and
/// committed with these values (one transaction).
pub fn setup(storage: Storage, n: usize, values: &[u64], collector: &Collector) -> (Engine, Rows) {
    let engine = Engine::new();
    let rows = Rows::new(storage, n);
    if !values.is_empty() {
        pinned(collector, |g| {
            let mut tx = engine.begin();
            for (i, v) in values.iter().enumerate() {
                rows.write(&mut tx, i, Op::Insert(*v), g).unwrap();
            }
            rows.commit(tx, g);
        });
    }
    (engine, rows)
}

/// The stores by test name, for [`per_store!`].
#[macro_export]
macro_rules! storage {
    (o2n) => {
        multiverse::model::Storage::AppendOnlyO2N
    };
    (n2o) => {
        multiverse::model::Storage::AppendOnlyN2O
    };
    (time_travel) => {
        multiverse::model::Storage::TimeTravel
    };
    (delta) => {
        multiverse::model::Storage::Delta
    };
}

/// One test per store for the model `$model(storage: Storage)`, named
/// `$model::o2n` etc., so that each store's run is timed and scheduled on
/// its own (`cargo test` runs them on every core).
#[macro_export]
macro_rules! per_store {
    ($model:ident: $($store:ident),+) => {
        mod $model {
            $(
                #[test]
                fn $store() {
                    super::$model($crate::storage!($store));
                }
            )+
        }
    };
    ($model:ident) => {
        $crate::per_store!($model: o2n, n2o, time_travel, delta);
    };
}

/// Commits an update of row `i` to `v`.
pub fn update(engine: &Engine, rows: &Rows, i: usize, v: u64, g: &Guard) {
    let mut tx = engine.begin();
    rows.write(&mut tx, i, Op::Update(v), g).unwrap();
    rows.commit(tx, g);
}

/// The A1 scenario, for one execution: a writer commits updates of rows 0
/// and 1 (from 0 to 1) while this thread reads both in one snapshot.
/// Returns what the reader saw.
pub fn two_row_commit_against_a_reader(storage: Storage) -> (Option<u64>, Option<u64>) {
    let collector = Collector::new();
    let (engine, rows) = setup(storage, 2, &[0, 0], &collector);
    let (engine, rows) = (Arc::new(engine), Arc::new(rows));
    let writer = {
        let (engine, rows, collector) = (Arc::clone(&engine), Arc::clone(&rows), collector.clone());
        thread::spawn(move || {
            pinned(&collector, |g| {
                let mut tx = engine.begin();
                rows.write(&mut tx, 0, Op::Update(1), g).unwrap();
                rows.write(&mut tx, 1, Op::Update(1), g).unwrap();
                rows.commit(tx, g);
            })
        })
    };
    let seen = pinned(&collector, |g| {
        let tx = engine.begin();
        (rows.read(&tx, 0, g), rows.read(&tx, 1, g))
    });
    writer.join().unwrap();
    seen
}

/// The IP1 scenario, for one execution: row 0 of a [`WordRows`] table holds
/// `[1, 1]`; a writer changes it in place to `[2, 2]` and commits (or rolls
/// back, if `abort`), while this thread reads it twice: with a snapshot
/// taken before the writer began, then with a fresh one. Returns both
/// reads, and what a snapshot taken after the writer finished reads.
pub fn in_place_update_against_a_reader(
    abort: bool,
) -> (Option<WordRow>, Option<WordRow>, Option<WordRow>) {
    let collector = Collector::new();
    let engine = Engine::new();
    let rows = WordRows::new(1);
    pinned(&collector, |g| {
        let mut tx = engine.begin();
        rows.write(&mut tx, 0, Some([1, 1]), g).unwrap();
        rows.commit(tx, g);
    });
    let old = engine.begin();
    let (engine, rows) = (Arc::new(engine), Arc::new(rows));
    let writer = {
        let (engine, rows, collector) = (Arc::clone(&engine), Arc::clone(&rows), collector.clone());
        thread::spawn(move || {
            pinned(&collector, |g| {
                let mut tx = engine.begin();
                rows.write(&mut tx, 0, Some([2, 2]), g).unwrap();
                if abort {
                    rows.abort(tx, g);
                } else {
                    rows.commit(tx, g);
                }
            })
        })
    };
    let (by_old, by_new) = pinned(&collector, |g| {
        let by_old = rows.read(&old, 0, g);
        (by_old, rows.read(&engine.begin(), 0, g))
    });
    writer.join().unwrap();
    let after = pinned(&collector, |g| rows.read(&engine.begin(), 0, g));
    (by_old, by_new, after)
}
