//! The timestamp service: snapshot and commit timestamps for every
//! partition (OceanBase's GTS, TiDB's TSO), behind a trait so that a remote
//! one can replace the one in this process.

use crate::sync::{AtomicU64, Ordering};

/// Hands out timestamps that grow strictly, for every partition.
///
/// A cluster transaction's snapshot, each participant's prepare timestamp
/// and each one-partition commit are one [`next`](Self::next) each; so a
/// prepare or commit timestamp is above every snapshot handed out before
/// it, which is what makes a commit invisible to every snapshot taken
/// before it and visible to every one taken after it returned.
pub trait TimestampService: Send + Sync {
    /// A fresh timestamp, above every one handed out before.
    fn next(&self) -> u64;
    /// Raises the service above `ts` (a cluster reopened from its logs).
    fn observe(&self, ts: u64);
    /// The last timestamp handed out (0: none): every later one is above it.
    fn last(&self) -> u64;
}

/// The in-process timestamp service: one atomic counter.
#[derive(Debug, Default)]
pub struct LocalGts {
    last: AtomicU64,
}

impl LocalGts {
    /// A service whose first timestamp is `after + 1`.
    pub fn new(after: u64) -> Self {
        LocalGts {
            last: AtomicU64::new(after),
        }
    }
}

impl TimestampService for LocalGts {
    fn next(&self) -> u64 {
        // SeqCst: part of the live-snapshot handshake (`snapshots.rs`):
        // a snapshot taken after a registration's claim is above every
        // `last` read before the floor computation that missed the claim.
        // (Uniqueness and growth need only the RMW's order on this word;
        // what a timestamp orders on a partition, that partition's lock
        // orders.)
        self.last.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn observe(&self, ts: u64) {
        // SeqCst: as in `next`.
        self.last.fetch_max(ts, Ordering::SeqCst);
    }

    fn last(&self) -> u64 {
        // SeqCst: as in `next`.
        self.last.load(Ordering::SeqCst)
    }
}
