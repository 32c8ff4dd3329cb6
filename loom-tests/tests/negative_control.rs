//! The negative control: with the `negative-control` feature the engine
//! publishes a commit before stamping its versions (A1 broken on purpose),
//! and the atomic-visibility model must find a torn read.
//!
//! ```text
//! cd loom-tests && RUSTFLAGS="--cfg loom --cfg crossbeam_loom" \
//!   cargo test --release --features negative-control --test negative_control
//! ```

#![cfg(all(loom, feature = "negative-control"))]

mod common;

use common::{pinned, setup};
use crossbeam_epoch::Collector;
use loom::sync::Arc;
use loom::thread;
use multiverse::model::{Op, Storage};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the model when it sees a torn read. (A panic inside a loom model
/// that still has a live thread aborts the process while unwinding, so the
/// model records what it saw and this test asserts on it afterwards.)
static TORN: AtomicBool = AtomicBool::new(false);

#[test]
fn a1_is_violated_when_commits_publish_before_stamping() {
    common::model_with_bound(2, move || {
        let collector = Collector::new();
        let (engine, rows) = setup(Storage::AppendOnlyN2O, 2, &[0, 0], &collector);
        let (engine, rows) = (Arc::new(engine), Arc::new(rows));
        let writer = {
            let (engine, rows, collector) =
                (Arc::clone(&engine), Arc::clone(&rows), collector.clone());
            thread::spawn(move || {
                pinned(&collector, |g| {
                    let mut tx = engine.begin();
                    rows.write(&mut tx, 0, Op::Update(1), g).unwrap();
                    rows.write(&mut tx, 1, Op::Update(1), g).unwrap();
                    rows.commit(tx, g);
                })
            })
        };
        pinned(&collector, |g| {
            let tx = engine.begin();
            let (a, b) = (rows.read(&tx, 0, g), rows.read(&tx, 1, g));
            if a != b {
                TORN.store(true, Ordering::SeqCst);
            }
        });
        writer.join().unwrap();
    });
    assert!(
        TORN.load(Ordering::SeqCst),
        "the model never saw a torn read: it cannot catch a broken commit protocol"
    );
}
