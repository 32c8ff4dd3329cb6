//! surrealmx: SurrealDB's in-memory MVCC key-value store, in its two
//! isolation levels.
//!
//! * `surrealmx-si` commits its write transactions under snapshot isolation
//!   (`with_snapshot_isolation`): first committer wins on write-write
//!   overlap, reads are not validated.
//! * `surrealmx-ssi` commits them under serializable snapshot isolation,
//!   surrealmx's default: it also tracks every key a write transaction reads
//!   and aborts it at commit if a concurrent commit wrote one of them.
//!
//! A transaction whose operations are all reads, and `scan_all`, run in a
//! read-only transaction (`transaction(false)`), which tracks nothing and never
//! conflicts; in both modes they are the same.
//!
//! Conflicts show up only at commit (`KeyWriteConflict`, or `KeyReadConflict`
//! under SSI): writes are buffered in the transaction, so nothing waits and
//! nothing deadlocks. Commit has already rolled the transaction back when it
//! reports one; the adapter cancels it anyway if it is still open. The
//! commit-time check compares against each concurrent commit's writeset
//! through a Bloom filter first, so a conflict may be spurious.
//!
//! What makes the comparison uneven:
//!
//! * surrealmx stores bytes: a key is its big-endian `u64` (so that key order
//!   is numeric order) and a row is [`encode`]d, so every update copies the
//!   row's bytes out, bumps them ([`bump_bytes`]) and hands the copy back,
//!   and every read decodes the attributes from bytes. Reads and scans look
//!   at the stored bytes in place ([`Transaction::with_value`],
//!   [`Transaction::scan_with`]) and copy nothing.
//! * Each database runs two background threads (queue cleanup and garbage
//!   collection); superseded versions are otherwise reclaimed inline at
//!   commit. They run with their defaults.
//! * Transactions come from a pool (512 by default), so beginning one does not
//!   allocate.

use crate::subject::{bump_bytes, checksum_bytes, encode, initial_row, Conflict, Key, Op, Subject};
use surrealmx::{Database, Error, Transaction};

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 10_000;

/// A bound above every key: longer than eight bytes, and `0xff` throughout.
const END: [u8; 9] = [0xff; 9];

/// Which isolation level write transactions commit under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Snapshot isolation: only write-write conflicts.
    Snapshot,
    /// Serializable snapshot isolation (surrealmx's default): reads are
    /// validated too.
    Serializable,
}

/// A surrealmx database holding rows `u64 -> encode(row)`.
pub struct Surrealmx {
    db: Database,
    isolation: Isolation,
}

impl Surrealmx {
    /// A fresh database, with default options, whose write transactions
    /// commit under `isolation`.
    pub fn new(isolation: Isolation) -> Self {
        Surrealmx {
            db: Database::new(),
            isolation,
        }
    }

    /// A write transaction in this subject's isolation level.
    fn write(&self) -> Transaction {
        let tx = self.db.transaction(true);
        match self.isolation {
            Isolation::Snapshot => tx.with_snapshot_isolation(),
            Isolation::Serializable => tx.with_serializable_snapshot_isolation(),
        }
    }
}

/// The stored form of a key: big-endian, so that byte order is key order.
#[inline]
fn key(k: Key) -> [u8; 8] {
    k.to_be_bytes()
}

/// Rolls `tx` back after `e` and reports the conflict; any other error is a
/// bug in the adapter or the store.
#[cold]
fn abort(tx: &mut Transaction, e: Error) -> Conflict {
    match e {
        Error::KeyWriteConflict | Error::KeyReadConflict => {
            // A failed commit has already rolled back and closed `tx`.
            if !tx.closed() {
                tx.cancel().expect("surrealmx: cancel an open transaction");
            }
            Conflict
        }
        other => panic!("surrealmx: unexpected error {other}"),
    }
}

/// A key that was never loaded is a bug in the driver.
#[cold]
fn missing(k: Key) -> ! {
    panic!("surrealmx: key {k} was never loaded")
}

/// The checksum of the row of `k`, read in `tx` (its own writes first).
#[inline]
fn read(tx: &Transaction, k: Key) -> Result<u64, Error> {
    let sum = tx.with_value(key(k), checksum_bytes)?;
    Ok(sum.unwrap_or_else(|| missing(k)))
}

impl Subject for Surrealmx {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        let mut start = 0;
        while start < keys {
            let mut tx = self.db.transaction(true);
            for k in start..keys.min(start + LOAD_BATCH) {
                tx.set(key(k), encode(&initial_row(k, attrs)))
                    .map_err(|e| format!("set {k}: {e}"))?;
            }
            tx.commit().map_err(|e| format!("commit: {e}"))?;
            start += LOAD_BATCH;
        }
        Ok(())
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        if ops.iter().all(|op| matches!(op, Op::Read(_))) {
            let mut tx = self.db.transaction(false);
            for op in ops {
                let &Op::Read(k) = op else { unreachable!() };
                *sink ^= read(&tx, k).unwrap_or_else(|e| panic!("surrealmx: read {k}: {e}"));
            }
            tx.commit()
                .unwrap_or_else(|e| panic!("surrealmx: read-only commit: {e}"));
            return Ok(());
        }
        let mut tx = self.write();
        for op in ops {
            match *op {
                Op::Read(k) => *sink ^= read(&tx, k).map_err(|e| abort(&mut tx, e))?,
                Op::Update(k) => {
                    let row = tx.with_value(key(k), <[u8]>::to_vec);
                    let mut row = row
                        .map_err(|e| abort(&mut tx, e))?
                        .unwrap_or_else(|| missing(k));
                    *sink ^= checksum_bytes(&row);
                    bump_bytes(&mut row, modified);
                    tx.set(key(k), row).map_err(|e| abort(&mut tx, e))?;
                }
            }
        }
        tx.commit().map_err(|e| abort(&mut tx, e))
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let tx = self.db.transaction(false);
        let rows = tx
            .scan_with(&[][..]..&END[..], None, None, |_, row| {
                *sink ^= checksum_bytes(row);
                true
            })
            .unwrap_or_else(|e| panic!("surrealmx: scan: {e}"));
        rows as u64
    }
}
