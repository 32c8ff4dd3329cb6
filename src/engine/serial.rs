//! Serializable isolation: the recent write sets that serializable
//! transactions validate their reads against, in commit order.
//!
//! A serializable transaction reads as a snapshot-isolation one does and
//! records what it read (the keys of its point reads, the ranges its scans
//! asked for). At commit it fails if a transaction that committed after its
//! snapshot wrote a key it read or a key inside a range it read; otherwise
//! it is equivalent to running alone at its commit timestamp (write-snapshot
//! isolation, Yabandeh and Gómez Ferro, EuroSys 2012). Write-write
//! conflicts stay first-updater-wins (W1). A transaction that wrote nothing
//! reads a prefix of that serial order and is never validated.
//!
//! To validate, each table keeps a list of the write sets of recent
//! commits ([`RecentWrites`]): entries of sorted keys, each with the commit
//! timestamp it got (0 until it has one), or *wildcards* that stand for
//! "this commit wrote keys of this table that nobody recorded". Snapshot
//! isolation pays for none of it while no serializable transaction is live:
//! the engine counts live serializable transactions, and a commit records
//! its keys only when it sees the count nonzero.
//!
//! # Every commit a serializable transaction must check is on the list (invariant **SR1**)
//!
//! Let `S` be a serializable transaction with snapshot `s`, and `C` a
//! commit at timestamp `c > s` of a write to table `X`, published before
//! `S` validates up to `c`. Then `X`'s list holds an entry of `C` with
//! timestamp `c`: its keys, or a wildcard.
//!
//! * `C` loads the count before it takes `c` (any ordering: this load only
//!   saves work). Nonzero: it clones its keys into an entry, pushes it
//!   (timestamp 0), and stores `c` into it in the ordered step of its
//!   commit, before it publishes `c`.
//! * Zero: it loads the count again right after the read-modify-write of
//!   the clock that takes `c`, and if it is now nonzero pushes a wildcard
//!   with timestamp `c` in the ordered step (no user code: ids only).
//! * `S`, at begin, increments the count, *then* does a read-modify-write
//!   of the clock (adding 0: `AcqRel`) that reads `n`, waits until its
//!   snapshot clock reaches `n` (`n` published; under a durable horizon
//!   also durable, `Engine::wait_readable`), and only then takes its
//!   snapshot, so `s ≥ n`. Both read-modify-writes are on the one clock word. If `C`'s
//!   came first in its modification order, `c ≤ n ≤ s`: not a commit `S`
//!   checks. If `S`'s came first, `C`'s reads it or a later
//!   read-modify-write of that word (every modification of the clock is
//!   one, so all belong to the release sequence of `S`'s), so `S`'s
//!   synchronizes with `C`'s: the increment happens before `C`'s second
//!   load, which sees it (or a later value, nonzero while `S` lives), and
//!   `C` pushes a wildcard.
//!
//! A plain `SeqCst` load of the clock would not do: `C`'s clock update is
//! an `AcqRel` read-modify-write, and the store-buffering shape (each side
//! writes one word, then reads the other's) needs every one of the four
//! accesses `SeqCst` (or `SeqCst` fences) to forbid both sides missing
//! each other. The read-modify-write costs a serializable *begin* one
//! write of the clock's cache line and costs snapshot-isolation commits
//! nothing beyond the two loads.
//!
//! An entry stamped `c` becomes visible to the validator through the
//! publication of `c`: the push and the stamp happen before `C` stores
//! `visible = c` (Release), and the validator waits until it loads
//! `visible ≥ c` (Acquire; the chain of publishers continues the release,
//! A1).
//!
//! # Validation is atomic with the commit decision (invariant **SR2**)
//!
//! `S` (having written) validates before it takes a timestamp, in a loop
//! ([`TxnManager::commit_validated`](super::manager::TxnManager::commit_validated)):
//! load `n`, the last timestamp handed out; wait until `n` is published
//! (then every entry stamped at or below `n` is on its list with its
//! stamp, SR1); check the entries stamped in `(checked, n]` against the
//! read set (user `Ord`: no timestamp is held yet, so nothing waits on us);
//! then compare-and-swap the clock from `n` to `n + 1`. Success makes
//! `n + 1` ours, and no timestamp was handed out between the check and the
//! decision: every commit in `(s, n + 1)` was checked. Failure means
//! someone took a timestamp meanwhile: check the new ones and try again.
//! This closes the window of berkeleydb/libdb#136, where a write skew
//! committed because a second writer's commit slipped between the check
//! and the commit decision. A failed validation has taken no timestamp:
//! the transaction rolls back like a write conflict and publishes nothing.
//!
//! # Trimming
//!
//! An entry stamped at or below the cached watermark is needed by nobody:
//! every live or future snapshot is at or above the watermark (G1), and a
//! transaction checks only entries above its snapshot. Validators trim the
//! lists they read, and a push trims its list when it has doubled since it
//! was last trimmed. What a list holds above the watermark is the price of
//! long-lived snapshots.

use crate::sync::{AtomicU64, Mutex, Ordering};
use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

/// The write set of one commit in one table, or a wildcard.
pub(crate) struct Recent<K> {
    /// The commit timestamp; 0 until the commit has one.
    ts: AtomicU64,
    /// The keys written, sorted and distinct; `None`: a wildcard, any key.
    keys: Option<Box<[K]>>,
}

impl<K: Ord> Recent<K> {
    /// Stores the commit timestamp: in the ordered step of the commit, so
    /// no user code and no panic.
    #[inline]
    pub(crate) fn stamp(&self, ts: u64) {
        // Relaxed: published with `ts` itself (SR1): validators acquire
        // `visible ≥ ts` before they read it.
        self.ts.store(ts, Ordering::Relaxed);
    }

    /// Whether this write set meets a read of `points` or of `ranges`
    /// (runs user `Ord`). A wildcard meets every read.
    pub(crate) fn meets(&self, points: &[K], ranges: &[(Bound<K>, Bound<K>)]) -> bool {
        let Some(keys) = &self.keys else {
            return true;
        };
        if points.iter().any(|p| keys.binary_search(p).is_ok()) {
            return true;
        }
        ranges.iter().any(|(from, to)| {
            // The first written key at or past the range's start...
            let i = match from {
                Bound::Included(f) => keys.partition_point(|k| k < f),
                Bound::Excluded(f) => keys.partition_point(|k| k <= f),
                Bound::Unbounded => 0,
            };
            // ...is inside the range if it is not past its end.
            keys.get(i).is_some_and(|k| match to {
                Bound::Included(t) => k <= t,
                Bound::Excluded(t) => k < t,
                Bound::Unbounded => true,
            })
        })
    }
}

/// One table's recent write sets (see the module docs).
pub(crate) struct RecentWrites<K> {
    list: Mutex<List<K>>,
}

struct List<K> {
    entries: VecDeque<Arc<Recent<K>>>,
    /// A push trims the list when it reaches this length.
    trim_at: usize,
}

/// The shortest list that a push trims.
const TRIM_AT: usize = 64;

impl<K> Default for RecentWrites<K> {
    fn default() -> Self {
        RecentWrites {
            list: Mutex::new(List {
                entries: VecDeque::new(),
                trim_at: TRIM_AT,
            }),
        }
    }
}

impl<K> RecentWrites<K> {
    /// The list, locked. Nothing run under the lock runs user code or
    /// panics (allocation failure aborts), so the lock is never poisoned;
    /// a poisoned one is taken all the same.
    fn lock(&self) -> crate::sync::MutexGuard<'_, List<K>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes the write set `keys` (sorted, distinct), not yet stamped;
    /// trims the list first if it has grown long (entries stamped at or
    /// below `watermark`). Before the commit takes its timestamp: the
    /// trimmed entries' keys drop here, after the lock is released.
    pub(crate) fn push(&self, keys: Box<[K]>, watermark: u64) -> Arc<Recent<K>> {
        let entry = Arc::new(Recent {
            ts: AtomicU64::new(0),
            keys: Some(keys),
        });
        let mut list = self.lock();
        let dead = if list.entries.len() >= list.trim_at {
            let dead = list.trim(watermark);
            list.trim_at = (list.entries.len() * 2).max(TRIM_AT);
            dead
        } else {
            Vec::new()
        };
        list.entries.push_back(Arc::clone(&entry));
        drop(list);
        drop(dead);
        entry
    }

    /// Pushes a wildcard stamped `ts`: in the ordered step of a commit
    /// that recorded no keys (SR1). Runs no user code and cannot panic.
    pub(crate) fn push_wildcard(&self, ts: u64) {
        let entry = Arc::new(Recent {
            ts: AtomicU64::new(ts),
            keys: None,
        });
        self.lock().entries.push_back(entry);
    }

    /// Takes `entry` off the list: its commit failed. Drops no keys (the
    /// caller holds the entry) and runs no user code.
    pub(crate) fn remove(&self, entry: &Arc<Recent<K>>) {
        self.lock().entries.retain(|e| !Arc::ptr_eq(e, entry));
    }

    /// The entries stamped in `(from, to]`, after trimming those stamped at
    /// or below `watermark`. The caller has seen `to` published (SR1). The
    /// trimmed entries' keys drop after the lock is released.
    pub(crate) fn stamped_in(&self, from: u64, to: u64, watermark: u64) -> Vec<Arc<Recent<K>>> {
        let mut list = self.lock();
        let dead = list.trim(watermark);
        let found = list
            .entries
            .iter()
            .filter(|e| {
                // Relaxed: see `stamp`.
                let ts = e.ts.load(Ordering::Relaxed);
                ts > from && ts <= to
            })
            .cloned()
            .collect();
        drop(list);
        drop(dead);
        found
    }

    /// How many entries the list holds.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

impl<K> List<K> {
    /// Takes the entries stamped at or below `watermark` off the list and
    /// returns them, for the caller to drop once the lock is released.
    fn trim(&mut self, watermark: u64) -> Vec<Arc<Recent<K>>> {
        let mut dead = Vec::new();
        self.entries.retain(|e| {
            // Relaxed: an entry seen unstamped (or stamped late) is kept,
            // which is always safe; one stamped at or below the watermark
            // is needed by nobody, whoever else reads it (module docs).
            let ts = e.ts.load(Ordering::Relaxed);
            let keep = ts == 0 || ts > watermark;
            if !keep {
                dead.push(Arc::clone(e));
            }
            keep
        });
        dead
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn entry(keys: &[u32]) -> Recent<u32> {
        Recent {
            ts: AtomicU64::new(1),
            keys: Some(keys.into()),
        }
    }

    #[test]
    fn a_write_set_meets_points_and_ranges_it_touches_and_no_others() {
        use Bound::*;
        let e = entry(&[3, 7, 10]);
        assert!(e.meets(&[7], &[]));
        assert!(!e.meets(&[1, 4, 11], &[]));
        assert!(e.meets(&[], &[(Included(4), Included(7))]));
        assert!(!e.meets(&[], &[(Included(4), Excluded(7))]));
        assert!(!e.meets(&[], &[(Excluded(3), Excluded(7))]));
        assert!(e.meets(&[], &[(Excluded(3), Unbounded)]));
        assert!(e.meets(&[], &[(Unbounded, Included(3))]));
        assert!(!e.meets(&[], &[(Excluded(10), Unbounded)]));
        assert!(!e.meets(&[], &[(Unbounded, Excluded(3))]));
        let wildcard = Recent::<u32> {
            ts: AtomicU64::new(1),
            keys: None,
        };
        assert!(wildcard.meets(&[], &[]));
    }

    #[test]
    fn lists_hand_out_entries_by_stamp_and_trim_below_the_watermark() {
        let list = RecentWrites::<u32>::default();
        let a = list.push(vec![1].into(), 0);
        let b = list.push(vec![2].into(), 0);
        a.stamp(5);
        list.push_wildcard(6);
        assert_eq!(list.stamped_in(4, 6, 0).len(), 2, "b is unstamped");
        assert_eq!(list.stamped_in(5, 6, 0).len(), 1);
        b.stamp(7);
        assert_eq!(list.stamped_in(4, 7, 5).len(), 2, "a is trimmed");
        assert_eq!(list.len(), 2);
        list.remove(&b);
        assert_eq!(list.len(), 1);
    }
}
