//! Time travel against the collector: a snapshot registered at an earlier
//! timestamp (`Database::snapshot_at`) never stands below a watermark that
//! a computation has returned (G1, the second handshake of
//! `engine/watermark.rs`, "Registering an old snapshot").

#![cfg(loom)]

mod common;

use common::{model_with_bound, setup};
use crossbeam_epoch::Collector;
use loom::sync::Arc;
use loom::thread;
use multiverse::model::Storage;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A collector computes the watermark (the clock is 1, no snapshot is in
/// use, so alone it returns 1) while this thread registers the old snapshot
/// 0. Whenever the registration succeeds, every watermark returned, the
/// racing one and a later one, is at or below 0. Both outcomes occur (the
/// model is not vacuous): counted across executions.
#[test]
fn g1_an_old_snapshot_never_stands_below_a_returned_watermark() {
    static REGISTERED: AtomicUsize = AtomicUsize::new(0);
    static REFUSED: AtomicUsize = AtomicUsize::new(0);
    // Bound 2: the race needs a preemption on each side, as G1's.
    model_with_bound(2, || {
        let collector = Collector::new();
        let (engine, _rows) = setup(Storage::AppendOnlyN2O, 1, &[0], &collector);
        let engine = Arc::new(engine);
        let gc = {
            let engine = Arc::clone(&engine);
            thread::spawn(move || engine.watermark())
        };
        let old = engine.begin_at(0);
        let w = gc.join().unwrap();
        match &old {
            Some(old) => {
                REGISTERED.fetch_add(1, Ordering::Relaxed);
                assert_eq!(old.snapshot(), 0);
                assert!(w <= 0, "watermark {w} returned while snapshot 0 registered");
                let later = engine.watermark();
                assert!(later <= 0, "watermark {later} passed snapshot 0 in use");
            }
            None => {
                REFUSED.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert!(REGISTERED.load(Ordering::Relaxed) > 0, "never registered");
    assert!(REFUSED.load(Ordering::Relaxed) > 0, "never refused");
}
