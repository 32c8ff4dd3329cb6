//! The conformance suite: every behaviour of the public contract
//! (`shared/API.md`), each test named after what it proves, each run on every
//! store of `Storage::ALL` (through `common::for_each_store!`).
//!
//! One module per idea, in `tests/conformance/` (named by `#[path]`, as a
//! test crate's root finds its modules next to itself, in `tests/`):
//!
//! * `handles`: `Database`, `Table` and the small types are what the contract
//!   says (Clone + Send + Sync, distinct stores), and work across threads.
//! * `own_writes`: a transaction reads its own writes, with `get`, `read` and
//!   `scan`, including repeated writes to one key and delete-then-insert.
//! * `snapshots`: snapshot stability, atomic visibility, begin after commit.
//! * `first_updater_wins`: write-write races of every kind, the loser's
//!   `WriteConflict` and the `Aborted` that follows, conflicts with commits
//!   after the snapshot.
//! * `lifecycle`: commit timestamps, rollback and drop, answers that are not
//!   failures (`NotFound`, `DuplicateKey`), rows deleted and inserted again.
//! * `errors`: every error variant, and `Error` as a `std::error::Error`.
//! * `scans`: every kind of range, key order, scans over own writes and over
//!   more rows than one batch.
//! * `rows`: zero-copy `read`, `Vec` and `Box<[T]>` rows, a hand-written
//!   tuple, borrowed keys.

#[macro_use]
mod common;

#[path = "conformance/errors.rs"]
mod errors;
#[path = "conformance/first_updater_wins.rs"]
mod first_updater_wins;
#[path = "conformance/handles.rs"]
mod handles;
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
#[path = "conformance/own_writes.rs"]
mod own_writes;
#[path = "conformance/rows.rs"]
mod rows;
#[path = "conformance/scans.rs"]
mod scans;
#[path = "conformance/snapshots.rs"]
mod snapshots;
