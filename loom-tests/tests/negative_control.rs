//! The negative control: with `--cfg multiverse_negative_control` (next to
//! `--cfg loom`; it does nothing without it) the engine publishes a commit
//! before stamping its versions (A1 broken on purpose), and the
//! atomic-visibility model must find a torn read.
//!
//! ```text
//! cd loom-tests && RUSTFLAGS="--cfg loom --cfg crossbeam_loom --cfg multiverse_negative_control" \
//!   CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!   cargo test --release --target-dir ../target/loom-negative --test negative_control
//! ```
//!
//! No Cargo feature turns the bug on, so `cargo test --all-features` never
//! builds a broken engine.

#![cfg(all(loom, multiverse_negative_control))]

mod common;

use multiverse::model::Storage;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the model when it sees a torn read. (A panic inside a loom model
/// that still has a live thread aborts the process while unwinding, so the
/// model records what it saw and this test asserts on it afterwards.)
static TORN: AtomicBool = AtomicBool::new(false);

#[test]
fn a1_is_violated_when_commits_publish_before_stamping() {
    common::model_with_bound(2, move || {
        let (a, b) = common::two_row_commit_against_a_reader(Storage::AppendOnlyN2O);
        if a != b {
            TORN.store(true, Ordering::SeqCst);
        }
    });
    assert!(
        TORN.load(Ordering::SeqCst),
        "the model never saw a torn read: it cannot catch a broken commit protocol"
    );
}

/// Set by the in-place model when a reader returns a torn row.
static TORN_ROW: AtomicBool = AtomicBool::new(false);

/// The same cfg makes a reader of an in-place master (IP1) skip the
/// second check of the sequence: the model of a reader against an
/// in-place change must then see a row of one old and one new word.
/// Ignored by default (about 700 s of wall time): run it with
/// `-- --ignored` (loom-tests/README.md).
#[test]
#[ignore = "long: run with -- --ignored"]
fn ip1_is_violated_when_readers_do_not_check_the_sequence_again() {
    common::model_with_bound(2, move || {
        let (by_old, by_new, _) = common::in_place_update_against_a_reader(false);
        for row in [by_old, by_new].into_iter().flatten() {
            if row[0] != row[1] {
                TORN_ROW.store(true, Ordering::SeqCst);
            }
        }
    });
    assert!(
        TORN_ROW.load(Ordering::SeqCst),
        "the model never saw a torn row: it cannot catch a broken seqlock"
    );
}
