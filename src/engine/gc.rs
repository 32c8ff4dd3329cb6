//! Garbage collection: the paper's fourth design dimension (Wu et al. 2017,
//! §5).
//!
//! The watermark ([`super::watermark`], invariant **G1**) is the oldest
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
use crossbeam_utils::CachePadded;
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

/// Commits between two watermark refreshes under the cooperative and
/// transaction-level policies.
const REFRESH_EVERY: u64 = 8;

/// Records written by one commit from which its committer refreshes the
/// watermark at once (see [`Gc::commit_batches`]).
const LARGE: usize = 16;

/// The keys one commit superseded in one table, to be pruned later.
pub(crate) trait Batch: Send {
    /// Prunes (and retires) the batch's records at `watermark`.
    fn collect(&self, watermark: u64, gc: &Gc);
    /// The number of records in the batch.
    fn len(&self) -> usize;
}

/// The batches of one commit, with its timestamp.
type CommitBatches = (u64, Vec<Box<dyn Batch>>);

/// Queues of transaction-level batches: one per committing thread (threads
/// share a queue only when there are more of them than queues), so that a
/// commit takes an uncontended lock.
const SHARDS: usize = 16;

/// One queue of transaction-level batches, in commit order of its thread.
#[derive(Default)]
struct Shard {
    queue: Mutex<VecDeque<CommitBatches>>,
    /// Commits queued, readable without the lock (a hint).
    len: AtomicU64,
}

/// The garbage collector's state in a database.
pub(crate) struct Gc {
    pub(crate) policy: GcPolicy,
    reclaimed: AtomicU64,
    retired: AtomicU64,
    sweeps: AtomicU64,
    /// Versions handed to the epoch collector and perhaps not yet freed
    /// (see [`Gc::reclaim`]).
    debt: AtomicU64,
    /// Transaction-level batches (see [`Gc::commit_batches`]).
    shards: Box<[CachePadded<Shard>]>,
    /// The commit timestamp at which a committer last refreshed the
    /// watermark for transaction-level collection.
    refreshed_at: CachePadded<AtomicU64>,
}

impl Gc {
    pub(crate) fn new(policy: GcPolicy) -> Self {
        Gc {
            policy,
            reclaimed: AtomicU64::new(0),
            retired: AtomicU64::new(0),
            sweeps: AtomicU64::new(0),
            debt: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| CachePadded::default()).collect(),
            refreshed_at: CachePadded::new(AtomicU64::new(0)),
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
        self.cooperative() && ts.is_multiple_of(REFRESH_EVERY)
    }

    /// Transaction-level GC at commit `ts` (the paper's design: per-thread
    /// batches tagged with their commit timestamp, freed by whoever next
    /// sees the watermark past them). Queues the commit's batches on this
    /// thread's shard and collects the shard's batches that the watermark
    /// has passed.
    ///
    /// The watermark is `cached` (the last one computed), refreshed by
    /// `fresh` (a scan of the registry) at a bounded rate: when a batch
    /// waits and [`REFRESH_EVERY`] commits have passed since the last
    /// refresh, or when this commit's batches are large (a refresh is cheap
    /// next to collecting them). The committer that refreshes also collects
    /// what is due on the other shards, so batches of threads that stopped
    /// committing are not left behind. No lock is shared between committers
    /// of different shards, and the registry is scanned at most once per
    /// [`REFRESH_EVERY`] small commits.
    pub(crate) fn commit_batches(
        &self,
        ts: u64,
        batches: Vec<Box<dyn Batch>>,
        cached: u64,
        fresh: impl FnOnce() -> u64,
    ) {
        let large = batches.iter().map(|b| b.len()).sum::<usize>() >= LARGE;
        let own = &self.shards[crate::sync::thread_index() % SHARDS];
        // Relaxed (all): hints; the CAS elects one refresher per interval.
        let waiting = !batches.is_empty() || own.len.load(Ordering::Relaxed) > 0;
        let last = self.refreshed_at.load(Ordering::Relaxed);
        let refresh = waiting
            && (large || ts.saturating_sub(last) >= REFRESH_EVERY)
            && self
                .refreshed_at
                .compare_exchange(last, ts.max(last), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        // Computed before the lock is taken: the computation pins the epoch,
        // which may run user `Drop`s, which may commit on this database and
        // so come back here on this thread.
        let w = if refresh { fresh() } else { cached };
        let mut queue = own.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if !batches.is_empty() {
            queue.push_back((ts, batches));
        }
        let due = Self::take_due(own, &mut queue, w);
        drop(queue);
        self.collect(due, w);
        if refresh {
            self.help(w);
        }
    }

    /// A transaction that read no more is ending, and it may have been the
    /// snapshot holding the watermark back (`held`): if batches wait, refresh
    /// the watermark and collect what is due everywhere. Otherwise it writes
    /// nothing shared (a read-only transaction's common case).
    pub(crate) fn collect_pending(&self, held: bool, fresh: impl FnOnce() -> u64) {
        // Relaxed: hints; a missed batch waits for the next commit.
        if held
            && self
                .shards
                .iter()
                .any(|s| s.len.load(Ordering::Relaxed) > 0)
        {
            self.help(fresh());
        }
    }

    /// Collects the due batches of every shard whose lock is free: never
    /// waits for a lock.
    fn help(&self, w: u64) {
        for shard in self.shards.iter() {
            // Relaxed: a hint, as in `collect_pending`.
            if shard.len.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let Ok(mut queue) = shard.queue.try_lock() else {
                continue;
            };
            let due = Self::take_due(shard, &mut queue, w);
            drop(queue);
            self.collect(due, w);
        }
    }

    /// Pops the batches of `queue` (the locked queue of `shard`) that the
    /// watermark `w` has passed.
    fn take_due(shard: &Shard, queue: &mut VecDeque<CommitBatches>, w: u64) -> Vec<Box<dyn Batch>> {
        let mut due = Vec::new();
        while queue.front().is_some_and(|&(ts, _)| ts <= w) {
            due.extend(queue.pop_front().map(|(_, b)| b).into_iter().flatten());
        }
        // Relaxed: a hint for `collect_pending` and `help`.
        shard.len.store(queue.len() as u64, Ordering::Relaxed);
        // A long reader lets a queue grow by one entry per commit; once it
        // has drained, give the memory back (a VecDeque never shrinks by
        // itself: 20,000 queued commits left 1 MB behind, issue 11).
        let len = queue.len().max(MIN_QUEUE);
        if queue.capacity() > 4 * len {
            queue.shrink_to(2 * len);
        }
        due
    }

    /// Collects `due` at the watermark `w`, outside any lock.
    fn collect(&self, due: Vec<Box<dyn Batch>>, w: u64) {
        if due.is_empty() {
            return;
        }
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
