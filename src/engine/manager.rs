//! The transaction manager: the global clock and the commit protocol.
//!
//! # Atomic visibility (invariant **A1**)
//!
//! A reader must see all of a committed transaction's writes or none. Two
//! mechanisms are common: readers resolve a tagged word through the writer's
//! transaction state (Hekaton), or snapshots are only ever taken below every
//! commit still being stamped. multiverse does the second:
//!
//! * `next_commit` hands out commit timestamps (`fetch_add`).
//! * A committer stamps all its versions with its timestamp `ts` (begin words
//!   of the versions it created, end words of the versions it superseded).
//! * Then it *publishes*: it waits until `visible == ts - 1` (every earlier
//!   commit is published) and stores `visible = ts` with Release.
//! * A transaction's snapshot is `visible`, loaded with Acquire.
//!
//! So every commit at or below a snapshot `s` had stamped all its words before
//! `s` was published, and the Release/Acquire pair on `visible` makes those
//! stamps visible to whoever begins at `s`. A word still tagged with another
//! transaction's id therefore always belongs to a transaction that is
//! invisible to `s`: uncommitted, rolling back, or committing at a timestamp
//! above `s`. The visibility rule ([`crate::header::visible`]) never has to
//! look up another transaction's state, readers never wait, and a reader's
//! state is two words. The price is that publication is in commit order: a
//! committer whose predecessor is still stamping waits for it. Stamping is a
//! handful of stores per written row, so the wait is short; a committer
//! preempted mid-stamp delays later committers (never readers), which is why
//! the wait loop yields to the OS after a few spins.
//!
//! Read-only transactions take no commit timestamp and touch no shared word
//! on commit; a transaction takes an id only when it first writes.
//!
//! # Nothing in the ordered publish step runs user code or can panic
//!
//! From the `fetch_add` that takes a timestamp to the store that publishes
//! it, every later committer waits for this one. So nothing in that window
//! may run user code, panic, or wait for anything that user code may hold:
//! a panic there would leave a timestamp taken and never published, and
//! stop every later commit of the database for ever; a user `Drop` that
//! commits on the same database would wait for our publish while we wait
//! for it. The window therefore
//!
//! * takes no epoch pin: the caller pins *before* taking the timestamp and
//!   passes the guard down (a pin may run deferred destructors, user
//!   `Drop`s of old versions; a pin nested in a held one never does);
//! * clones nothing and drops no key or row: stamping moves each write's
//!   parts where they go (the store, the GC batch);
//! * has no `expect`, no `unwrap`, no indexing that can fail.
//!
//! What remains is stores of timestamps into version headers, deferring
//! replaced masters to the collector (pushing onto the thread's bag, which
//! runs nothing), and allocating the GC batches (an allocation failure
//! aborts the process, it does not unwind). The one arithmetic step, `+ 1`
//! on the clock, cannot overflow: the clock would first pass `INFINITY`
//! (2^63 - 1), at a billion commits a second, after nearly three centuries.
//! Anything fallible that later work puts into this step (a log append, a
//! validation) must run before the timestamp is taken, or report its
//! failure without unwinding and still publish.

use super::watermark::{Registry, Slot};
use crate::sync::{spin_hint, yield_now, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// Why `begin_at` registered no snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BeginAtError {
    /// A watermark computation reached `oldest`, above the timestamp.
    TooOld { oldest: u64 },
    /// The timestamp is above `newest`, the visible clock.
    InFuture { newest: u64 },
}

/// The clock and the commit protocol of one database.
pub(crate) struct TxnManager {
    /// The last commit timestamp handed out.
    next_commit: CachePadded<AtomicU64>,
    /// The highest timestamp at or below which every commit is stamped:
    /// the snapshot of a transaction that begins now.
    visible: CachePadded<AtomicU64>,
    /// What snapshots read under a durable horizon (`Durability::Sync`):
    /// the highest timestamp at or below which every commit is stamped
    /// *and* on stable storage, so that no reader sees a commit that a
    /// crash could still lose. At or below `visible`; unused (and `visible`
    /// read instead) without a horizon.
    readable: CachePadded<AtomicU64>,
    /// Whether snapshots read `readable` (a durable horizon) or `visible`.
    bounded: bool,
    /// The last transaction id handed out.
    next_txn: CachePadded<AtomicU64>,
    /// The snapshots in use, and the watermark below them.
    active: Registry,
    /// How many serializable transactions are live: while any is, commits
    /// record their write sets (SR1, `serial.rs`).
    serializable_live: CachePadded<AtomicU64>,
}

impl Default for TxnManager {
    fn default() -> Self {
        Self::new()
    }
}

impl TxnManager {
    /// A fresh clock: the empty database is the state at timestamp 0.
    pub(crate) fn new() -> Self {
        Self::with_retain(None)
    }

    /// A fresh clock whose watermark never passes the clock of `retain`
    /// ago (the builder's history window).
    pub(crate) fn with_retain(retain: Option<std::time::Duration>) -> Self {
        TxnManager {
            next_commit: CachePadded::new(AtomicU64::new(0)),
            visible: CachePadded::new(AtomicU64::new(0)),
            readable: CachePadded::new(AtomicU64::new(0)),
            bounded: false,
            next_txn: CachePadded::new(AtomicU64::new(0)),
            active: Registry::new(retain),
            serializable_live: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// Snapshots read at or below a durable horizon from now on (see
    /// `readable`), which [`advance_readable`](Self::advance_readable)
    /// raises. Set before the database is shared.
    pub(crate) fn bound_by_durability(&mut self) {
        self.bounded = true;
    }

    /// The word snapshots are taken from: the durable horizon, or the
    /// published clock.
    #[inline]
    fn clock(&self) -> &AtomicU64 {
        if self.bounded {
            &self.readable
        } else {
            &self.visible
        }
    }

    /// Raises the durable horizon to `ts`: every commit at or below `ts`
    /// is published and on stable storage (the caller has published `ts`
    /// itself, or has seen it published).
    pub(crate) fn advance_readable(&self, ts: u64) {
        if !self.bounded {
            return;
        }
        // Release: the caller has acquired `visible >= ts` (or published
        // it), so a reader that acquires the horizon sees every stamp at or
        // below `ts` (A1 through the horizon).
        self.readable.fetch_max(ts, Ordering::Release);
    }

    /// Starts the clock of a recovered database at `ts`, its last
    /// recovered commit: every snapshot from now on is at or above it, and
    /// none below it can be registered. Before the database is shared.
    pub(crate) fn start_at(&mut self, ts: u64) {
        if ts == 0 {
            return;
        }
        self.commit_at(ts, |_| {}, |_| {});
        // Relaxed/plain: `&mut self`, nobody else sees the manager yet.
        self.readable.store(ts, Ordering::Relaxed);
        self.active.raise_floor(ts);
    }

    /// Waits until `ts`, a timestamp handed out, is published (a few
    /// stamps away: the ordered step of its commit runs without waits).
    pub(crate) fn wait_published(&self, ts: u64) {
        let mut spins = 0u32;
        // Acquire: the caller may then raise the horizon to `ts` (see
        // `advance_readable`).
        while self.visible.load(Ordering::Acquire) < ts {
            spins += 1;
            if spins < 64 {
                spin_hint();
            } else {
                yield_now();
            }
        }
    }

    /// Begins: a snapshot, registered until the returned slot drops.
    #[inline]
    pub(crate) fn begin(&self) -> (Slot, u64) {
        self.active.register(self.clock())
    }

    /// Begins a serializable transaction: counts it live, then takes a
    /// snapshot at or above every timestamp handed out before a commit
    /// could see the count (SR1, `serial.rs`). `wait` waits for the
    /// snapshot clock to reach a timestamp (`Engine::wait_readable`).
    /// Pair with
    /// [`end_serializable`](Self::end_serializable).
    pub(crate) fn begin_serializable(&self, wait: impl FnOnce(u64)) -> (Slot, u64) {
        self.serializable_live.fetch_add(1, Ordering::SeqCst);
        // AcqRel, a read-modify-write and not a load: a commit whose
        // timestamp comes after it in the clock's modification order
        // synchronizes with it and sees the count (SR1).
        let n = self.next_commit.fetch_add(0, Ordering::AcqRel);
        wait(n);
        self.begin()
    }

    /// A serializable transaction has ended.
    pub(crate) fn end_serializable(&self) {
        self.serializable_live.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether a serializable transaction may be live: a commit records its
    /// write sets if so. Loaded once before a commit takes its timestamp
    /// and once right after (SR1).
    #[inline]
    pub(crate) fn serializable_live(&self) -> bool {
        // Relaxed: the load before the timestamp only saves work; the one
        // after is ordered by the clock's read-modify-writes (SR1).
        self.serializable_live.load(Ordering::Relaxed) != 0
    }

    /// Whether snapshots read a durable horizon.
    pub(crate) fn bounded(&self) -> bool {
        self.bounded
    }

    /// Registers the earlier snapshot `ts` (time travel), until the
    /// returned slot drops. See `watermark.rs`, "Registering an old
    /// snapshot".
    pub(crate) fn begin_at(&self, ts: u64) -> Result<Slot, BeginAtError> {
        // Acquire: as in `snapshot`: every stamp at or below `ts` is
        // visible once `ts` is at or below the loaded clock (A1).
        let newest = self.clock().load(Ordering::Acquire);
        if ts > newest {
            return Err(BeginAtError::InFuture { newest });
        }
        self.active
            .register_at(ts)
            .map_err(|oldest| BeginAtError::TooOld { oldest })
    }

    /// A fresh watermark: no live or future transaction reads below it (G1).
    pub(crate) fn watermark(&self) -> u64 {
        self.active.compute(self.clock())
    }

    /// The last computed watermark: safe, possibly stale (lower).
    pub(crate) fn cached_watermark(&self) -> u64 {
        self.active.cached()
    }

    /// The snapshot of a transaction that would begin now (unregistered).
    #[inline]
    pub(crate) fn snapshot(&self) -> u64 {
        // Acquire: pairs with the Release in `commit`; every stamp of every
        // commit at or below the loaded value is visible afterwards (A1).
        self.clock().load(Ordering::Acquire)
    }

    /// A fresh transaction id (nonzero, below the tag bit).
    #[inline]
    pub(crate) fn new_txn_id(&self) -> u64 {
        // Relaxed: only uniqueness matters, which the read-modify-write gives.
        self.next_txn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Commits: takes a timestamp, lets `stamp` write it into every version
    /// of the transaction, then publishes it in commit order. Returns the
    /// commit timestamp; when this returns, every transaction that begins
    /// sees the commit.
    ///
    /// `stamp` runs inside the ordered publish step: it must not run user
    /// code, panic, or block (see the module doc).
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // the loom models and tests commit without a log
    pub(crate) fn commit(&self, stamp: impl FnOnce(u64)) -> u64 {
        self.commit_ordered(stamp, |_| {})
    }

    /// Commits like [`commit`](Self::commit), and runs `ordered` in commit
    /// order: after every earlier timestamp is published, before this one
    /// is. The redo log appends there, so that the log is in exactly the
    /// order snapshots see. `ordered` is held to the same rules as `stamp`.
    pub(crate) fn commit_ordered(&self, stamp: impl FnOnce(u64), ordered: impl FnOnce(u64)) -> u64 {
        // AcqRel: uniqueness and order of timestamps come from the
        // read-modify-write, and what others see of the stamps is published
        // through `visible` below; but a drop's mark, stored before its
        // timestamp is taken, must be seen by every commit that takes a
        // later one (C1, `table/life.rs`): release by the dropper, acquire
        // by the writer, through the release sequence of this word.
        let ts = self.next_commit.fetch_add(1, Ordering::AcqRel) + 1;
        self.publish(ts - 1, ts, stamp, ordered);
        ts
    }

    /// Commits a serializable transaction whose snapshot is `snapshot`, if
    /// `validate` accepts every commit after it (SR2, `serial.rs`): loops
    /// { `n` = the last timestamp handed out; wait until `n` is published;
    /// `validate(checked, n)` checks the commits stamped in `(checked, n]`
    /// (user code: no timestamp is held); compare-and-swap the clock from
    /// `n` to `n + 1` }. On success stamps, runs `ordered` and publishes
    /// as [`commit_ordered`](Self::commit_ordered) does and returns the
    /// timestamp; `None` as soon as `validate` refuses, with nothing taken.
    pub(crate) fn commit_validated(
        &self,
        snapshot: u64,
        mut validate: impl FnMut(u64, u64) -> bool,
        stamp: impl FnOnce(u64),
        ordered: impl FnOnce(u64),
    ) -> Option<u64> {
        let mut checked = snapshot;
        loop {
            // Relaxed: `wait_published` acquires what the commits up to `n`
            // stamped; the compare-and-swap below decides.
            let n = self.next_commit.load(Ordering::Relaxed);
            self.wait_published(n);
            if n > checked {
                if !validate(checked, n) {
                    return None;
                }
                checked = n;
            }
            // AcqRel on success: as the `fetch_add` of `commit_ordered`
            // (C1, and SR1's release sequence). Relaxed on failure: the
            // next round loads and waits again.
            if self
                .next_commit
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.publish(n, n + 1, stamp, ordered);
                return Some(n + 1);
            }
            spin_hint();
        }
    }

    /// Commits at `ts`, a timestamp decided elsewhere (a replayed log
    /// record, a coordinator's commit timestamp): the seam of
    /// docs/design.md, "Seams for committed versions from outside". Raises
    /// the clock to `ts`, stamps, and publishes `ts` once every timestamp
    /// handed out before it is published; the timestamps the jump skips
    /// were handed to nobody and are published with it. `None`, with
    /// nothing stamped, if `ts` is not above every timestamp handed out.
    pub(crate) fn commit_at(
        &self,
        ts: u64,
        stamp: impl FnOnce(u64),
        ordered: impl FnOnce(u64),
    ) -> Option<u64> {
        // AcqRel: as in `commit_ordered` (C1); `fetch_max` makes `ts` ours
        // alone, and every later `commit` takes a timestamp above it.
        let before = self.next_commit.fetch_max(ts, Ordering::AcqRel);
        if before >= ts {
            return None;
        }
        self.publish(before, ts, stamp, ordered);
        Some(ts)
    }

    /// Stamps with `ts`, waits until `after` (the last timestamp handed out
    /// before `ts`) is published, runs `ordered`, and publishes `ts` (A1).
    fn publish(&self, after: u64, ts: u64, stamp: impl FnOnce(u64), ordered: impl FnOnce(u64)) {
        // The negative control of the loom suite publishes *before*
        // stamping, breaking A1 on purpose (see loom-tests/README.md).
        let mut stamp = Some(stamp);
        if !cfg!(all(loom, multiverse_negative_control)) {
            if let Some(stamp) = stamp.take() {
                stamp(ts);
            }
        }
        let mut spins = 0u32;
        // Acquire: we continue the Release chain of our predecessors, so that
        // the snapshot we publish covers their stamps as well as ours.
        while self.visible.load(Ordering::Acquire) != after {
            spins += 1;
            if spins < 64 {
                spin_hint();
            } else {
                yield_now();
            }
        }
        ordered(ts);
        // Release: publishes our stamps (and, transitively, our
        // predecessors') to every transaction that loads this snapshot (A1).
        self.visible.store(ts, Ordering::Release);
        if let Some(stamp) = stamp {
            stamp(ts);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn commits_publish_in_order_and_snapshots_follow() {
        let m = TxnManager::new();
        assert_eq!(m.snapshot(), 0);
        let t1 = m.commit(|ts| assert_eq!(ts, 1));
        assert_eq!(t1, 1);
        assert_eq!(m.snapshot(), 1);
        assert_ne!(m.new_txn_id(), m.new_txn_id());
    }

    #[test]
    fn commit_at_jumps_the_clock_and_publishes_in_order() {
        let m = TxnManager::new();
        assert_eq!(m.commit(|_| {}), 1);
        let mut stamped = 0;
        assert_eq!(m.commit_at(10, |ts| stamped = ts, |_| {}), Some(10));
        assert_eq!((stamped, m.snapshot()), (10, 10));
        // Not above every timestamp handed out: refused, nothing stamped.
        assert_eq!(m.commit_at(10, |_| panic!("stamped"), |_| {}), None);
        assert_eq!(m.commit_at(5, |_| panic!("stamped"), |_| {}), None);
        assert_eq!(m.commit(|ts| assert_eq!(ts, 11)), 11);
        assert_eq!(m.snapshot(), 11);
    }

    #[test]
    fn commit_at_among_concurrent_commits_publishes_every_timestamp() {
        let m = Arc::new(TxnManager::new());
        let local = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || (0..2000).map(|_| m.commit(|_| {})).collect::<Vec<_>>())
        };
        // Jumps of 100 above whatever the clock is, racing the local commits.
        let mut outside = Vec::new();
        while outside.len() < 20 {
            if let Some(ts) = m.commit_at(m.snapshot() + 100, |_| {}, |_| {}) {
                outside.push(ts);
            }
        }
        let mut all = local.join().unwrap();
        all.extend(&outside);
        all.sort_unstable();
        let distinct = all.len();
        all.dedup();
        assert_eq!(all.len(), distinct, "every timestamp is someone's alone");
        // Every commit published, the clock at the largest.
        assert_eq!(m.snapshot(), *all.last().unwrap());
    }

    #[test]
    fn concurrent_commits_get_distinct_timestamps_and_all_publish() {
        let m = Arc::new(TxnManager::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || (0..1000).map(|_| m.commit(|_| {})).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=4000).collect::<Vec<_>>());
        assert_eq!(m.snapshot(), 4000);
    }
}
