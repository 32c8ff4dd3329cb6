//! The version header: one timestamp encoding, one visibility function and one
//! conflict check, shared by every version store.
//!
//! Every version carries two 64-bit words, `begin` and `end` (the paper's tuple
//! header; Hekaton's and NoisePage's too). A word holds either a commit
//! timestamp or, while a transaction is writing, that transaction's id with the
//! top bit set:
//!
//! ```text
//!   0 ts (63 bits)      committed at ts; INFINITY = 2^63 - 1 means "never"
//!   1 txn id (63 bits)  written by that transaction, not yet committed
//! ```
//!
//! * `begin` is the commit timestamp of the transaction that created the
//!   version, or the creator's id while it runs. An aborted version's begin is
//!   [`INFINITY`]: no snapshot ever reaches it.
//! * `end` is the commit timestamp of the transaction that superseded the
//!   version (by an update or a delete), [`INFINITY`] while it is the newest, or
//!   the id of the transaction that has claimed it (the write lock of the
//!   paper's `txn-id` field, here folded into `end`, as in Hekaton).
//!
//! Invariant ids (docs/design.md): this module upholds **V1** (visibility) and
//! **W1** (first updater wins).

use crate::sync::{AtomicU64, Ordering};

/// The tag bit: set in a word that holds a transaction id.
pub(crate) const TXN_BIT: u64 = 1 << 63;
/// The committed "never": the end of a newest version, the begin of an aborted one.
pub(crate) const INFINITY: u64 = TXN_BIT - 1;
/// The end of a tombstone whose record the garbage collector has retired
/// (taken out of the index): tagged with id 0, which no transaction has, so
/// the tombstone stays visible and no claim ever succeeds on it again.
pub(crate) const RETIRED: u64 = TXN_BIT;

/// A commit timestamp, as returned by [`Transaction::commit`](crate::Transaction::commit).
///
/// Timestamps come from one global logical clock per [`Database`](crate::Database)
/// and order commits: a transaction whose commit returned `t` is seen by every
/// transaction that begins afterwards, whose snapshot is then `>= t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub(crate) u64);

impl Timestamp {
    /// The clock value as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What a transaction reads with: its snapshot and its own id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    /// Every commit at or below this timestamp is visible, nothing above it.
    pub(crate) snapshot: u64,
    /// The tagged word of this transaction (`TXN_BIT | id`), or 0 for a
    /// transaction that has not written (no version is tagged 0).
    pub(crate) me: u64,
}

impl View {
    /// The tagged word of a transaction id.
    pub(crate) fn tag(id: u64) -> u64 {
        debug_assert!(id != 0 && id < TXN_BIT);
        TXN_BIT | id
    }
}

/// Has the version begun for `view`? (Committed at or before the snapshot, or
/// written by `view` itself.)
#[inline]
fn begun(begin: u64, view: View) -> bool {
    if begin & TXN_BIT == 0 {
        begin <= view.snapshot
    } else {
        begin == view.me
    }
}

/// Has the version not yet ended for `view`? (Superseded by nobody, by a commit
/// after the snapshot, or by another transaction that has not committed.)
#[inline]
fn not_ended(end: u64, view: View) -> bool {
    if end & TXN_BIT == 0 {
        end > view.snapshot
    } else {
        end != view.me
    }
}

/// **V1**, the one visibility rule: a version is visible to a view when it has
/// begun and not ended for it.
#[inline]
pub(crate) fn visible(begin: u64, end: u64, view: View) -> bool {
    begun(begin, view) && not_ended(end, view)
}

/// Why a claim failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// A write-write conflict (W1).
    Conflict,
    /// The record was retired by the garbage collector: the writer must look
    /// the key up again (G2).
    Retired,
}

/// The two words of a version.
pub(crate) struct Header {
    begin: AtomicU64,
    end: AtomicU64,
}

impl Header {
    /// The header of a version that transaction `me` (a tagged word) is
    /// installing: begun by `me`, never ended.
    pub(crate) fn uncommitted(me: u64) -> Self {
        debug_assert!(me & TXN_BIT != 0);
        Header {
            begin: AtomicU64::new(me),
            end: AtomicU64::new(INFINITY),
        }
    }

    /// The header of a copy (a history item) of this version, which `view.me`
    /// has claimed and is superseding: same begin, ended by `view.me`. If
    /// `view.me` wrote this version itself, the copy's begin is
    /// [`INFINITY`]: an intermediate version of one transaction is never
    /// visible to anyone, before or after its commit, and the copy must not
    /// keep a transaction id that no commit will ever stamp.
    pub(crate) fn superseded_copy(&self, view: View) -> Header {
        // Acquire: as in `is_visible`. The begin of a version we have
        // claimed is stable: committed at or before our snapshot, or ours.
        let begin = self.begin.load(Ordering::Acquire);
        Header {
            begin: AtomicU64::new(if begin == view.me { INFINITY } else { begin }),
            end: AtomicU64::new(view.me),
        }
    }

    /// A header with the given words (for tests and for restoring chains).
    #[cfg(test)]
    pub(crate) fn with_words(begin: u64, end: u64) -> Self {
        Header {
            begin: AtomicU64::new(begin),
            end: AtomicU64::new(end),
        }
    }

    /// **V1** applied to this header.
    #[inline]
    pub(crate) fn is_visible(&self, view: View) -> bool {
        // Acquire (both loads): pairs with the Release of `stamp_*`, so that a
        // version stamped at or below our snapshot is read as stamped. (That
        // stamp also happened before the snapshot was published, see
        // `TxnManager::commit`; the Acquire is what makes the data behind a
        // version we then read safe to read, together with the Release of the
        // pointer that published it.)
        let begin = self.begin.load(Ordering::Acquire);
        let end = self.end.load(Ordering::Acquire);
        visible(begin, end, view)
    }

    /// The begin word (for diagnostics and tests).
    #[cfg(test)]
    pub(crate) fn begin(&self) -> u64 {
        self.begin.load(Ordering::Acquire)
    }

    /// The end word (for diagnostics and tests).
    #[cfg(test)]
    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// **W1**, the one conflict check: claim this version, which the caller
    /// found to be the newest of its chain, for `view.me`.
    ///
    /// Succeeds when the version was committed at or before the snapshot (or
    /// written by `view.me` itself) and nobody has superseded or claimed it:
    /// `end` goes from [`INFINITY`] to `view.me` by one CAS. Anything else is a
    /// conflict, reported at once: the newest version committed after our
    /// snapshot, or a claim held by another transaction (live, committing or
    /// rolling back). No waiting, so no deadlock.
    ///
    /// A successful claim also proves the version is still the newest: only a
    /// claimant installs a successor, and a claimant that rolls back unlinks
    /// its successor before it releases the claim.
    #[inline]
    pub(crate) fn claim(&self, view: View) -> Result<(), ClaimError> {
        debug_assert!(view.me & TXN_BIT != 0, "claims need a transaction id");
        // Acquire: as in `is_visible`.
        if !begun(self.begin.load(Ordering::Acquire), view) {
            return Err(ClaimError::Conflict);
        }
        // AcqRel on success: Acquire synchronises with the Release of a
        // previous claimant's `release` (so its unlink of an aborted successor
        // is seen before we link ours); Release orders nothing we need but is
        // free on a read-modify-write. Acquire on failure: the value is only
        // compared, never used to reach memory.
        match self
            .end
            .compare_exchange(INFINITY, view.me, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(RETIRED) => Err(ClaimError::Retired),
            Err(_) => Err(ClaimError::Conflict),
        }
    }

    /// Is the version visible to a snapshot at the watermark `w` (and so to
    /// every snapshot in use, or the newest version at one of them)? V1 with
    /// no transaction of its own.
    #[inline]
    pub(crate) fn visible_at(&self, w: u64) -> bool {
        self.is_visible(View { snapshot: w, me: 0 })
    }

    /// Has the version's end been stamped by a commit? (Not claimed by a
    /// transaction still running or committing.)
    #[inline]
    pub(crate) fn end_committed(&self) -> bool {
        // Acquire: as in `is_visible`.
        self.end.load(Ordering::Acquire) & TXN_BIT == 0
    }

    /// G2: retires a newest version that the watermark `w` has reached: its
    /// end goes from [`INFINITY`] to [`RETIRED`] by one CAS, so that no
    /// writer can claim it any more. Fails if it is claimed or not yet
    /// visible at `w`.
    pub(crate) fn retire(&self, w: u64) -> bool {
        // Acquire: as in `is_visible`.
        let begin = self.begin.load(Ordering::Acquire);
        begin & TXN_BIT == 0
            && begin <= w
            // AcqRel: as in `claim`, whose rival this is.
            && self
                .end
                .compare_exchange(INFINITY, RETIRED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Commit of the creator: `begin` from its id to `ts`.
    #[inline]
    pub(crate) fn stamp_begin(&self, ts: u64) {
        // Release: publishes the stamp to readers that Acquire-load it (V1).
        self.begin.store(ts, Ordering::Release);
    }

    /// Commit of the claimant: `end` from its id to `ts`.
    #[inline]
    pub(crate) fn stamp_end(&self, ts: u64) {
        // Release: as in `stamp_begin`.
        self.end.store(ts, Ordering::Release);
    }

    /// Rollback of the creator: the version is never visible to anyone.
    #[inline]
    pub(crate) fn mark_aborted(&self) {
        // Release: a reader that sees INFINITY needs nothing else from us.
        self.begin.store(INFINITY, Ordering::Release);
    }

    /// Rollback of the claimant: the version is the newest again.
    #[inline]
    pub(crate) fn release(&self) {
        // Release: pairs with the Acquire of the next `claim`, which must see
        // our unlink of the aborted successor.
        self.end.store(INFINITY, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u64 = TXN_BIT | 7;
    const OTHER: u64 = TXN_BIT | 8;

    fn view(snapshot: u64) -> View {
        View { snapshot, me: ME }
    }

    #[test]
    fn committed_interval_is_half_open() {
        assert!(!visible(5, INFINITY, view(4)));
        assert!(visible(5, INFINITY, view(5)));
        assert!(visible(5, 9, view(8)));
        assert!(!visible(5, 9, view(9)));
    }

    #[test]
    fn own_writes_are_visible_only_to_their_writer() {
        assert!(visible(ME, INFINITY, view(0)));
        assert!(!visible(OTHER, INFINITY, view(u64::MAX >> 1)));
        // A version I superseded is gone for me, still there for others.
        assert!(!visible(3, ME, view(5)));
        assert!(visible(
            3,
            ME,
            View {
                snapshot: 5,
                me: OTHER
            }
        ));
        // Mine, then superseded by me again.
        assert!(!visible(ME, ME, view(5)));
    }

    #[test]
    fn aborted_versions_are_never_visible() {
        assert!(!visible(INFINITY, INFINITY, view(INFINITY - 1)));
    }

    #[test]
    fn claim_is_first_updater_wins() {
        let h = Header::with_words(3, INFINITY);
        assert_eq!(
            h.claim(View {
                snapshot: 2,
                me: ME
            }),
            Err(ClaimError::Conflict)
        );
        assert_eq!(h.claim(view(3)), Ok(()));
        assert_eq!(h.end(), ME);
        assert_eq!(
            h.claim(View {
                snapshot: 9,
                me: OTHER
            }),
            Err(ClaimError::Conflict)
        );
        h.release();
        assert_eq!(
            h.claim(View {
                snapshot: 9,
                me: OTHER
            }),
            Ok(())
        );
        assert_eq!(h.begin(), 3);
    }

    #[test]
    fn a_retired_version_cannot_be_claimed_and_stays_visible() {
        let h = Header::with_words(3, INFINITY);
        assert!(!h.retire(2), "not yet visible at the watermark");
        assert!(h.retire(3));
        assert_eq!(h.claim(view(9)), Err(ClaimError::Retired));
        assert!(h.is_visible(view(9)));
        let claimed = Header::with_words(3, INFINITY);
        claimed.claim(view(5)).unwrap();
        assert!(!claimed.retire(9), "a claimed version is never retired");
    }

    #[test]
    fn uncommitted_newest_version_cannot_be_claimed_by_others() {
        let h = Header::uncommitted(OTHER);
        assert_eq!(h.claim(view(100)), Err(ClaimError::Conflict));
        let mine = Header::uncommitted(ME);
        assert_eq!(mine.claim(view(0)), Ok(()));
    }
}
