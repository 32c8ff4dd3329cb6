//! Garbage collection: the paper's fourth design dimension (Wu et al. 2017,
//! §5).
//!
//! The watermark ([`crate::watermark`], invariant **G1**) is the oldest
//! snapshot in use. A version whose end is committed at or below it can never
//! be read again: a store's `prune` unlinks it and hands it to
//! crossbeam-epoch, which frees it once every reader that might still be
//! walking it has unpinned (**M1**). A row whose tombstone the watermark has
//! reached leaves the index: its record is *retired* by one CAS that no
//! writer can win afterwards, then removed (**G2**).
//!
//! Policies ([`GcPolicy`]), as in the paper:
//!
//! * `Off`: nothing is pruned (for experiments; [`Database::vacuum`] still
//!   sweeps on demand).
//! * `Vacuum`: a background thread sweeps every table at an interval
//!   (Postgres); tables are swept in parallel with rayon.
//! * `Cooperative`: writers prune the record they write; under O2N and the
//!   master stores readers prune the records they read, and readers that
//!   find a row deleted retire it (Hekaton). Records nobody touches keep their
//!   garbage until [`Database::vacuum`] runs (the paper's "dusty corners").
//! * `TransactionLevel`: each commit registers the keys it superseded; the
//!   batch is collected when the watermark passes its commit timestamp.
//!
//! [`Database::vacuum`]: crate::Database::vacuum

use crate::sync::{AtomicU64, Ordering};
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How a database collects its garbage. Chosen at build time:
/// `Database::builder().gc(GcPolicy::Cooperative)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GcPolicy {
    /// No garbage collection: every version is kept until the database is
    /// dropped (or [`Database::vacuum`](crate::Database::vacuum) is called).
    Off,
    /// A background thread sweeps every table once per `interval`.
    Vacuum {
        /// The time between the end of one sweep and the start of the next;
        /// at least 1 ms (a shorter one, zero included, is raised to 1 ms,
        /// so that the thread never spins).
        interval: Duration,
    },
    /// Writers (and O2N readers) prune the records they touch.
    Cooperative,
    /// Each commit's superseded versions are collected once the watermark
    /// passes the commit.
    TransactionLevel,
}

impl GcPolicy {
    /// Every policy, with a 10 ms vacuum interval: for tests and benchmarks.
    pub const ALL: [GcPolicy; 4] = [
        GcPolicy::Off,
        GcPolicy::Vacuum {
            interval: Duration::from_millis(10),
        },
        GcPolicy::Cooperative,
        GcPolicy::TransactionLevel,
    ];

    /// A short name, as used in benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            GcPolicy::Off => "off",
            GcPolicy::Vacuum { .. } => "vacuum",
            GcPolicy::Cooperative => "cooperative",
            GcPolicy::TransactionLevel => "txn-level",
        }
    }
}

impl Default for GcPolicy {
    /// Transaction-level: in `results/gc.csv` (`cargo run --release
    /// --example gc_policies -- 2 2 results/gc.csv`) it kept the smallest
    /// heap without a long reader on every store, at throughput within the
    /// run's noise of the cooperative policy, and unlike the cooperative
    /// policy it also clears rows that nobody touches again after deleting
    /// them. The paper found it the best of its policies, too (§5.2).
    fn default() -> Self {
        GcPolicy::TransactionLevel
    }
}

impl std::fmt::Display for GcPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Commits between two watermark refreshes under the cooperative policy.
const REFRESH_EVERY: u64 = 8;

/// The keys one commit superseded in one table, to be pruned later.
pub(crate) trait Batch: Send {
    /// Prunes (and retires) the batch's records at `watermark`.
    fn collect(&self, watermark: u64, gc: &Gc);
}

/// The batches of one commit, with its timestamp.
type CommitBatches = (u64, Vec<Box<dyn Batch>>);

/// The garbage collector's state in a database.
pub(crate) struct Gc {
    pub(crate) policy: GcPolicy,
    reclaimed: AtomicU64,
    retired: AtomicU64,
    sweeps: AtomicU64,
    /// Versions handed to the epoch collector and perhaps not yet freed
    /// (see [`Gc::reclaim`]).
    debt: AtomicU64,
    /// Transaction-level batches, by commit timestamp (roughly ascending).
    batches: Mutex<VecDeque<CommitBatches>>,
    /// The number of commits in `batches`, readable without the lock.
    pending: AtomicU64,
}

impl Gc {
    pub(crate) fn new(policy: GcPolicy) -> Self {
        Gc {
            policy,
            reclaimed: AtomicU64::new(0),
            retired: AtomicU64::new(0),
            sweeps: AtomicU64::new(0),
            debt: AtomicU64::new(0),
            batches: Mutex::new(VecDeque::new()),
            pending: AtomicU64::new(0),
        }
    }

    /// Does this policy prune on the paths of transactions?
    #[inline]
    pub(crate) fn cooperative(&self) -> bool {
        self.policy == GcPolicy::Cooperative
    }

    /// Does this policy collect per commit?
    #[inline]
    pub(crate) fn transaction_level(&self) -> bool {
        self.policy == GcPolicy::TransactionLevel
    }

    /// Counts versions freed and records retired.
    #[inline]
    pub(crate) fn count(&self, reclaimed: usize, retired: usize) {
        // Relaxed (both): statistics, read by nobody who needs an order.
        if reclaimed > 0 {
            self.reclaimed
                .fetch_add(reclaimed as u64, Ordering::Relaxed);
        }
        if retired > 0 {
            self.retired.fetch_add(retired as u64, Ordering::Relaxed);
        }
    }

    /// Versions freed and records retired so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        // Relaxed: statistics.
        (
            self.reclaimed.load(Ordering::Relaxed),
            self.retired.load(Ordering::Relaxed),
        )
    }

    /// Should the committer at `ts` refresh the cached watermark?
    #[inline]
    pub(crate) fn refresh_due(&self, ts: u64) -> bool {
        self.cooperative() && ts % REFRESH_EVERY == 0
    }

    /// Registers a commit's batches, then collects every registered batch
    /// that the watermark has passed (unless another committer is at it).
    pub(crate) fn commit_batches(
        &self,
        ts: u64,
        batches: Vec<Box<dyn Batch>>,
        watermark: impl FnOnce() -> u64,
    ) {
        let mut queue = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        if !batches.is_empty() {
            queue.push_back((ts, batches));
            // Relaxed: a hint for `collect_pending`; the queue is the truth.
            self.pending.store(queue.len() as u64, Ordering::Relaxed);
        }
        drop(queue);
        self.collect_batches(watermark);
    }

    /// Collects due batches if there are any: called when a transaction
    /// ends, which may have advanced the watermark. One relaxed load when
    /// there is nothing to do.
    #[inline]
    pub(crate) fn collect_pending(&self, watermark: impl FnOnce() -> u64) {
        // Relaxed: see `commit_batches`.
        if self.pending.load(Ordering::Relaxed) > 0 {
            self.collect_batches(watermark);
        }
    }

    /// Collects the registered batches that the watermark has passed.
    pub(crate) fn collect_batches(&self, watermark: impl FnOnce() -> u64) {
        let Ok(mut queue) = self.batches.try_lock() else {
            return;
        };
        if queue.is_empty() {
            return;
        }
        let w = watermark();
        let mut due = Vec::new();
        while let Some(&(ts, _)) = queue.front() {
            if ts > w {
                break;
            }
            due.extend(queue.pop_front().map(|(_, b)| b).into_iter().flatten());
        }
        // Relaxed: as in `commit_batches`.
        self.pending.store(queue.len() as u64, Ordering::Relaxed);
        // A long reader lets the queue grow by one entry per commit; once
        // it has drained, give the memory back (a VecDeque never shrinks by
        // itself: 20,000 queued commits left 1 MB behind, issue 11).
        let len = queue.len().max(MIN_QUEUE);
        if queue.capacity() > 4 * len {
            queue.shrink_to(2 * len);
        }
        drop(queue);
        let before = self.counts().0;
        for batch in &due {
            batch.collect(w, self);
        }
        // A backlog (a long reader's history, freed at once) gets driven
        // through the epoch collector; the steady state's few versions per
        // commit are freed by the collection every pin triggers now and then.
        let deferred = self.counts().0 - before;
        if deferred >= BACKLOG {
            self.reclaim(deferred);
        }
    }

    /// Runs one sweep of every table (`sweep`, given the watermark), then
    /// drives the epoch collector to free what it unlinked, and counts it.
    /// Returns the number of versions unlinked.
    pub(crate) fn sweep(&self, watermark: u64, sweep: impl FnOnce(u64)) -> u64 {
        let before = self.counts().0;
        sweep(watermark);
        let freed = self.counts().0 - before;
        self.reclaim(freed);
        // Relaxed: statistics.
        self.sweeps.fetch_add(1, Ordering::Relaxed);
        freed
    }

    /// Sweeps completed so far.
    pub(crate) fn sweeps(&self) -> u64 {
        // Relaxed: statistics.
        self.sweeps.load(Ordering::Relaxed)
    }

    /// Drives crossbeam-epoch to free `deferred` versions that this thread
    /// has just handed to it, and what earlier calls may have left.
    ///
    /// The collector frees at most 8 bags (64 objects each) per collection,
    /// only on every 128th pin of a thread, and only bags sealed two epoch
    /// advances ago; an advance waits until no pinned thread lags. So a
    /// thread that defers a burst and goes quiet (the vacuum thread, a
    /// committer collecting a long reader's backlog) would leave it queued
    /// indefinitely, and a burst of flushes while another thread is busy
    /// pinning and unpinning advances the epoch only a step or two. Hence a
    /// *debt*: what was deferred and perhaps not freed. Each call flushes
    /// in proportion to it, yielding now and then so that busy threads
    /// unpin, and then halves it (a guess: whether a flush freed anything
    /// cannot be observed), so later calls keep at it for a while. A sweep
    /// calls it even when it unlinked nothing; an idle flush costs little.
    pub(crate) fn reclaim(&self, deferred: u64) {
        // Relaxed (all three): a heuristic count; a lost update costs a few
        // flushes more or less, never correctness.
        let debt = self.debt.load(Ordering::Relaxed) + deferred;
        let flushes = (debt / PER_FLUSH + 4).min(MAX_FLUSHES);
        for i in 0..flushes {
            crossbeam_epoch::pin().flush();
            if i % 8 == 7 {
                crate::sync::yield_now();
            }
        }
        self.debt.store(debt / 2, Ordering::Relaxed);
    }
}

/// Objects one flush may free: crossbeam-epoch 0.9's bag size (64) times
/// the bags one collection frees (8), halved for the epochs a bag must age.
const PER_FLUSH: u64 = 64 * 8 / 2;

/// Versions collected at once from the transaction-level queue above which
/// the collecting committer drives the epoch collector itself.
const BACKLOG: u64 = 4 * PER_FLUSH;

/// The queue capacity below which it is never shrunk.
const MIN_QUEUE: usize = 64;

/// The most flushes one [`Gc::reclaim`] makes: a backlog larger than this
/// covers is freed by later pins of other operations.
const MAX_FLUSHES: u64 = 256;
