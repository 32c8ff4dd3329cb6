//! The engine: what every table and transaction of one database shares, and
//! the bottom of the crate's layers above the version stores.
//!
//! ```text
//!  database     catalog, builder        (imports table, transaction, engine)
//!  transaction  snapshot, write logs    (imports table, engine, header)
//!  table        index → record          (imports store, engine, header)
//!  engine       clock, ordered publish, (imports header, sync)
//!               registry + watermark,
//!               GC queue, vacuum thread
//!  store        the four version stores (imports header, sync)
//!  header, sync visibility words, atomics
//! ```
//!
//! Each layer imports only the ones below it. The vacuum thread gets what it
//! sweeps through [`Sweep`], not through the database above it; the redo log,
//! a transaction-state table and sessions attach here (the ordered publish
//! step in [`manager`] is where a log append runs; serializable validation
//! runs just before a timestamp is taken, [`serial`]).

pub(crate) mod gc;
pub(crate) mod manager;
pub(crate) mod serial;
#[cfg(not(loom))]
pub(crate) mod vacuum;
pub(crate) mod watermark;

use self::gc::{Gc, GcPolicy};
use self::manager::TxnManager;
use crate::durable::wal::Wal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

/// The clock, the commit protocol, the registry of snapshots and the garbage
/// collector of one database.
pub(crate) struct Engine {
    pub(crate) manager: TxnManager,
    pub(crate) gc: Gc,
    /// The redo log of a durable database (`Database::open`).
    pub(crate) wal: Option<Arc<Wal>>,
    /// The directory's lock: held while anything that can commit to the
    /// log lives (the database, a table handle, a transaction, a snapshot
    /// all keep the engine), so no other process or database writes there.
    /// Released after the drop's last sync.
    lock: Option<std::fs::File>,
    /// The automatic checkpoint: the log size that triggers one, who writes
    /// it, and whether one is under way.
    checkpoint_after: u64,
    checkpointer: OnceLock<Weak<dyn Checkpoint>>,
    checkpointing: AtomicBool,
    /// Whether the delta store keeps masters of word rows in place (IP1).
    pub(crate) in_place_master: bool,
}

/// Writes a checkpoint: implemented by the database above, so that the
/// engine never names it.
pub(crate) trait Checkpoint: Send + Sync {
    fn checkpoint(&self) -> crate::Result<crate::Timestamp>;
}

impl Drop for Engine {
    fn drop(&mut self) {
        // A clean shutdown leaves the log synced (under `Buffered`, what
        // the last interval wrote); a poisoned log has nothing to add. The
        // lock goes after this, with the field.
        if let Some(wal) = &self.wal {
            let _ = wal.sync_now();
        }
    }
}

impl Engine {
    /// A fresh engine at timestamp 0 with the given GC policy, whose
    /// watermark never passes the clock of `retain` ago (the builder's
    /// history window).
    pub(crate) fn new(policy: GcPolicy, retain: Option<std::time::Duration>) -> Self {
        Engine {
            manager: TxnManager::with_retain(retain),
            gc: Gc::new(policy),
            wal: None,
            lock: None,
            checkpoint_after: u64::MAX,
            checkpointer: OnceLock::new(),
            checkpointing: AtomicBool::new(false),
            in_place_master: false,
        }
    }

    /// A durable engine: commits append to `wal`; under `Sync` snapshots
    /// stay at or below the durable horizon.
    pub(crate) fn durable(
        policy: GcPolicy,
        retain: Option<std::time::Duration>,
        wal: Arc<Wal>,
        bounded: bool,
        lock: Option<std::fs::File>,
        checkpoint_after: u64,
    ) -> Self {
        let mut engine = Engine::new(policy, retain);
        if bounded {
            engine.manager.bound_by_durability();
        }
        engine.wal = Some(wal);
        engine.lock = lock;
        engine.checkpoint_after = checkpoint_after;
        engine
    }

    /// Names who writes automatic checkpoints (once, before the database
    /// is shared).
    pub(crate) fn attach_checkpointer(&self, by: Weak<dyn Checkpoint>) {
        let _ = self.checkpointer.set(by);
    }

    /// After a durable commit: once the log has grown past the threshold
    /// since the last checkpoint, this committer writes one (one at a
    /// time; the others go on). On the committer's thread, not a
    /// background one, so that no thread of ours ever keeps a dropped
    /// database (and its directory's lock) alive. An error is left for
    /// the next explicit `checkpoint` to meet again: the commit itself
    /// succeeded.
    pub(crate) fn maybe_checkpoint(&self) {
        let Some(wal) = &self.wal else {
            return;
        };
        if wal.since_checkpoint() < self.checkpoint_after {
            return;
        }
        // Acquire/Release: one checkpointer at a time; nothing else is
        // published through the flag.
        if self
            .checkpointing
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        if let Some(db) = self.checkpointer.get().and_then(Weak::upgrade) {
            let _ = db.checkpoint();
        }
        self.checkpointing.store(false, Ordering::Release);
    }
}

impl Engine {
    /// Waits until a snapshot taken now is at or above `ts`, a timestamp
    /// handed out: a serializable begin (SR1, `serial.rs`). Under a
    /// durable horizon that means every record at or below `ts` on stable
    /// storage: this waits for the log as a commit does, and raises the
    /// horizon itself (a commit at `ts` that logged nothing, such as one
    /// that lost to a drop, raises it for nobody). If the log is poisoned
    /// it gives up (the snapshot is then lower, and the transaction cannot
    /// commit a write anyway).
    pub(crate) fn wait_readable(&self, ts: u64) {
        self.manager.wait_published(ts);
        if let (Some(wal), true) = (&self.wal, self.manager.bounded()) {
            // Every record at or below `ts` was appended before `ts` was
            // published: the last of them is at or below the last
            // appended, and every later one is above `ts`.
            if wal.wait(ts.min(wal.last_appended())).is_ok() {
                self.manager.advance_readable(ts);
            }
        }
    }

    /// Was `snapshot` at (or below) the cached watermark, with commits above
    /// it? Then it may be what held the watermark back, and its end lets it
    /// advance. (In a read-only steady state the watermark is the clock, and
    /// nobody recomputes it.)
    pub(crate) fn held_the_watermark(&self, snapshot: u64) -> bool {
        let cached = self.manager.cached_watermark();
        snapshot <= cached && cached < self.manager.snapshot()
    }

    /// A reader (a transaction or a snapshot) at `snapshot` has
    /// deregistered: if it may have held the watermark back, refresh it
    /// (cooperative policy) or collect the transaction-level batches it
    /// held back. Otherwise nothing shared is written.
    pub(crate) fn reader_ended(&self, snapshot: u64) {
        let held = self.held_the_watermark(snapshot);
        if self.gc.cooperative() {
            if held {
                self.manager.watermark();
            }
        } else if self.gc.transaction_level() {
            self.gc.collect_pending(held, || self.manager.watermark());
        }
    }
}

/// What the vacuum thread sweeps: implemented by the database above, so that
/// the engine never names it.
pub(crate) trait Sweep: Send + Sync {
    /// One vacuum sweep of every table at `watermark`.
    fn sweep(&self, watermark: u64);
}
