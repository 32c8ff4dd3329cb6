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

use super::watermark::{Registry, Slot};
use crate::sync::{spin_hint, yield_now, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// The clock and the commit protocol of one database.
pub(crate) struct TxnManager {
    /// The last commit timestamp handed out.
    next_commit: CachePadded<AtomicU64>,
    /// The highest timestamp at or below which every commit is stamped:
    /// the snapshot of a transaction that begins now.
    visible: CachePadded<AtomicU64>,
    /// The last transaction id handed out.
    next_txn: CachePadded<AtomicU64>,
    /// The snapshots in use, and the watermark below them.
    active: Registry,
}

impl Default for TxnManager {
    fn default() -> Self {
        Self::new()
    }
}

impl TxnManager {
    /// A fresh clock: the empty database is the state at timestamp 0.
    pub(crate) fn new() -> Self {
        TxnManager {
            next_commit: CachePadded::new(AtomicU64::new(0)),
            visible: CachePadded::new(AtomicU64::new(0)),
            next_txn: CachePadded::new(AtomicU64::new(0)),
            active: Registry::default(),
        }
    }

    /// Begins: a snapshot, registered until the returned slot drops.
    #[inline]
    pub(crate) fn begin(&self) -> (Slot, u64) {
        self.active.register(&self.visible)
    }

    /// A fresh watermark: no live or future transaction reads below it (G1).
    pub(crate) fn watermark(&self) -> u64 {
        self.active.compute(&self.visible)
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
        self.visible.load(Ordering::Acquire)
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
    pub(crate) fn commit(&self, stamp: impl FnOnce(u64)) -> u64 {
        // Relaxed: uniqueness and order of timestamps come from the
        // read-modify-write; what others see of the stamps is published
        // through `visible` below.
        let ts = self.next_commit.fetch_add(1, Ordering::Relaxed) + 1;
        // The negative control of the loom suite publishes *before*
        // stamping, breaking A1 on purpose (see loom-tests/README.md).
        let mut stamp = Some(stamp);
        if !cfg!(all(loom, multiverse_negative_control)) {
            (stamp.take().expect("stamped once"))(ts);
        }
        let mut spins = 0u32;
        // Acquire: we continue the Release chain of our predecessors, so that
        // the snapshot we publish covers their stamps as well as ours.
        while self.visible.load(Ordering::Acquire) != ts - 1 {
            spins += 1;
            if spins < 64 {
                spin_hint();
            } else {
                yield_now();
            }
        }
        // Release: publishes our stamps (and, transitively, our
        // predecessors') to every transaction that loads this snapshot (A1).
        self.visible.store(ts, Ordering::Release);
        if let Some(stamp) = stamp {
            stamp(ts);
        }
        ts
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
