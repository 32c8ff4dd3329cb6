//! # multiverse
//!
//! An in-memory multi-version concurrency control (MVCC) storage engine for
//! research, with pluggable version stores. One engine, one snapshot-isolation
//! transaction manager and one latch-free version chain drive interchangeable
//! version stores, so that you can measure exactly what the choice of version
//! storage does (Wu, Arulraj, Lin, Xian, Pavlo: *An Empirical Evaluation of
//! In-Memory Multi-Version Concurrency Control*, PVLDB 10(7), 2017), and so
//! that a program can embed the engine as a transactional in-memory table store.
//!
//! ```
//! use multiverse::{Database, Error, Storage, Table};
//!
//! let db = Database::new(Storage::AppendOnlyN2O);
//! let accounts: Table<u64, [i64; 4]> = db.create_table("accounts")?;
//!
//! let mut tx = db.begin();
//! tx.insert(&accounts, 1, [100, 0, 0, 0])?;
//! tx.insert(&accounts, 2, [50, 0, 0, 0])?;
//! tx.commit()?;
//!
//! // Two concurrent transfers from account 1: the first updater wins.
//! let mut a = db.begin();
//! let mut b = db.begin();
//! a.modify(&accounts, &1, |r| r[0] -= 10)?;
//! assert!(matches!(b.modify(&accounts, &1, |r| r[0] -= 20), Err(Error::WriteConflict)));
//! a.modify(&accounts, &2, |r| r[0] += 10)?;
//! a.commit()?;
//! assert!(matches!(b.commit(), Err(Error::Aborted)));
//!
//! let tx = db.begin();
//! let total: i64 = tx.scan(&accounts, ..)?.map(|(_, r)| r[0]).sum();
//! assert_eq!(total, 150);
//! # Ok::<(), Error>(())
//! ```
//!
//! Beside `begin`/`commit`: [`Database::transact`] runs a closure in a
//! transaction and retries it on a write conflict; [`Database::snapshot`]
//! and [`Database::snapshot_at`] give read-only [`Snapshot`]s (now, or as of
//! an earlier commit within the builder's
//! [`retain`](DatabaseBuilder::retain) window) that many threads read at
//! once; [`Transaction::upsert`] inserts or replaces; scans are
//! double-ended; [`Database::drop_table`] drops a table.
//!
//! [`DatabaseBuilder::open`] gives a durable database: a redo log of
//! committed after-images with group commit ([`Durability::Sync`] or
//! [`Durability::Buffered`]), checkpoints ([`Database::checkpoint`]) and
//! recovery; keys and rows are encoded through [`Persist`] (built in for
//! integers, strings, byte vectors and arrays or vectors of them).
//!
//! ## How it works
//!
//! Every row is a chain of versions. A version carries two words, `begin` and
//! `end`, each a commit timestamp or, while a transaction writes, that
//! transaction's id (`src/header.rs` is the one place that encodes
//! them and decides visibility). A transaction takes its snapshot from the
//! global clock at [`Database::begin`]; it sees the versions that began at or
//! before its snapshot and had not ended by then, plus its own.
//!
//! Writes install new versions in place, latch-free: a writer claims the
//! newest version by one compare-and-swap of its `end` word, and the first
//! updater wins — a claim held by another transaction, or a newest version
//! committed after the snapshot, is a [`Error::WriteConflict`]: at once, or,
//! when the holder is older, after a short bounded wait in case it rolls
//! back (waits go only from younger to older transactions and are bounded,
//! so there is no deadlock). Readers never wait.
//!
//! Commits are atomic to readers because a snapshot is only ever taken below
//! every commit still being stamped: a committer stamps its versions, then
//! publishes its timestamp in commit order (the `manager` module explains why
//! this suffices). Readers never wait and never look up another
//! transaction's state.
//!
//! Versions that nobody can reach any more are freed through crossbeam-epoch;
//! each operation pins the epoch for its own duration only.
//!
//! The stores ([`Storage`]) differ only in where versions live:
//!
//! | store | what an update allocates | where the newest version is |
//! | --- | --- | --- |
//! | [`Storage::AppendOnlyO2N`] | a whole tuple | at the end of the chain |
//! | [`Storage::AppendOnlyN2O`] | a whole tuple | at the head |
//! | [`Storage::TimeTravel`] | a copy of the master into the history | the master, in the main table |
//! | [`Storage::Delta`] | before-images of the changed attributes | the master, in the main table |
//!
//! The design, its invariants by name (**V1** visibility, **A1** atomic
//! visibility, **W1** first updater wins, **S1** snapshot, **M1** memory
//! safety) and the code that upholds each are in `docs/design.md`.

#![warn(missing_docs)]

mod database;
mod durable;
mod engine;
mod error;
pub(crate) mod header;
#[cfg(all(loom, feature = "loom"))]
#[doc(hidden)]
pub mod model;
mod session;
mod snapshot;
pub(crate) mod stats;
mod store;
mod switchover;
pub(crate) mod sync;
mod table;
mod transaction;
mod tuple;

pub use database::{Database, DatabaseBuilder, DEFAULT_TRANSACT_ATTEMPTS};
pub use durable::{
    Codec, Codecs, DecodeError, Durability, Persist, DEFAULT_CHECKPOINT_AFTER,
    DEFAULT_SYNC_INTERVAL,
};
pub use engine::gc::GcPolicy;
pub use error::{Error, Result};
pub use header::Timestamp;
pub use session::{Session, SessionContext, Value};
pub use snapshot::Snapshot;
pub use stats::{DatabaseStats, GcStats, TableStats};
pub use store::Storage;
pub use switchover::{
    SwitchoverReport, DEFAULT_DRAIN_TIMEOUT, MAX_DRAIN_TIMEOUT, MIN_DRAIN_TIMEOUT,
};
pub use table::{Key, Table};
pub use transaction::{Isolation, Scan, Transaction};
pub use tuple::{SliceDelta, Tuple};
