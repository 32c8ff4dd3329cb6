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
    /// The largest timestamp [`Transaction::commit_at`](crate::Transaction::commit_at)
    /// accepts (2⁶²): local commits can follow it for longer than any
    /// machine runs before the clock reaches the bit that tags uncommitted
    /// versions.
    pub const MAX: Timestamp = Timestamp(1 << 62);

    /// A timestamp from a number: one handed out by a timestamp service of
    /// the caller's (a 2PC coordinator's), for
    /// [`Transaction::commit_at`](crate::Transaction::commit_at) and
    /// [`Database::begin_at`](crate::Database::begin_at).
    pub const fn new(n: u64) -> Timestamp {
        Timestamp(n)
    }

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
    /// A write-write conflict (W1): the newest version was committed after
    /// the snapshot, or superseded by a commit. Final.
    Conflict,
    /// The record was retired by the garbage collector: the writer must look
    /// the key up again (G2).
    Retired,
    /// The newest version is held: begun by another transaction that has
    /// not committed, or claimed by one (the word is that transaction's
    /// tagged id), or aborted and about to be unlinked by its rolling-back
    /// writer (the word is [`INFINITY`]). A conflict unless the holder rolls
    /// back; [`Patience`] decides whether to wait and see (W3).
    Held(u64),
}

/// Why a claim by `view` of a version begun at `begin` would fail, if the
/// begin alone decides it.
#[inline]
fn check_begin(begin: u64, view: View) -> Result<(), ClaimError> {
    if begun(begin, view) {
        Ok(())
    } else if begin & TXN_BIT != 0 || begin == INFINITY {
        // Another transaction's id (ours is begun), or the INFINITY of a
        // version whose rollback is unlinking it.
        Err(ClaimError::Held(begin))
    } else {
        Err(ClaimError::Conflict)
    }
}

/// Why a claim by `view` of a version with the words `begin` and `end`
/// would fail, or `Ok` if it may succeed: [`Header::check`] on words read
/// together elsewhere (the in-place master's seqlock, IP1).
#[inline]
pub(crate) fn check_words(begin: u64, end: u64, view: View) -> Result<(), ClaimError> {
    check_begin(begin, view)?;
    check_end(end)
}

/// Why a claim of a begun version whose end is `end` would fail, or `Ok`
/// if it may succeed (`end` is [`INFINITY`]).
#[inline]
fn check_end(end: u64) -> Result<(), ClaimError> {
    match end {
        INFINITY => Ok(()),
        RETIRED => Err(ClaimError::Retired),
        // A claim by another transaction (a claim of ours would mean that
        // we superseded the version, and then it is not the newest).
        _ if end & TXN_BIT != 0 => Err(ClaimError::Held(end)),
        _ => Err(ClaimError::Conflict),
    }
}

/// **W3**, bounded waiting for an older holder: how long a writer that
/// found the newest version held ([`ClaimError::Held`]) waits for the
/// holder to finish before it gives up with a conflict.
///
/// A writer waits only for an *older* holder (a smaller id: ids are handed
/// out in increasing order at a transaction's first write), or for a
/// version that is already being rolled back; an older writer that meets a
/// younger holder gives up at once, as without waiting. Every wait thus
/// goes from a younger transaction to an older one (a rollback waits for
/// nobody), so no cycle of waits can form; and every wait is bounded by a
/// count of rounds, not a clock: short spins for about the length of a
/// short transaction (the common case: a holder running on another core),
/// then a few yields of the core (for a holder preempted on this one). If
/// the holder rolls back meanwhile, the claim is retried on the version
/// that is the newest again; if it commits, the version it installed is
/// committed after the waiter's snapshot, and the waiter loses exactly as
/// it would have without waiting (W1).
///
/// The waiting side is the younger one, not the older one as in the
/// classic wait-die, because a transaction that is retried after a
/// conflict begins again with a fresh id, the youngest of all: under
/// wait-die it could never wait, and it is precisely the retry that meets
/// the claim of a winner still running and, giving up at once, aborts over
/// and over until the winner is done. Waiting instead, it aborts at most
/// once, after the winner has committed, so that its next attempt sees the
/// winner's write; and it does not abort at all when the holder rolls back.
pub(crate) struct Patience {
    rounds: u32,
}

// About 25 µs of spinning (a spin hint is some 25 ns on the machine of
// `results/`; an update-intensive transaction of ten operations takes
// 10-20 µs there), then 16 yields (about 0.6 µs each on an idle core).
#[cfg(not(all(loom, feature = "loom")))]
mod budget {
    /// Rounds of spinning, each of `SPINS` spin hints.
    pub(super) const SPIN_ROUNDS: u32 = 64;
    /// Spin hints per spinning round.
    pub(super) const SPINS: u32 = 16;
    /// Rounds that yield the core, after the spinning ones.
    pub(super) const YIELD_ROUNDS: u32 = 16;
}

#[cfg(all(loom, feature = "loom"))]
mod budget {
    // Under loom every spin hint is a yield to the model's scheduler: one
    // round of each kind keeps the models small and still explores a wait.
    pub(super) const SPIN_ROUNDS: u32 = 1;
    pub(super) const SPINS: u32 = 1;
    pub(super) const YIELD_ROUNDS: u32 = 1;
}

impl Patience {
    /// A writer that has not waited yet.
    #[inline]
    pub(crate) fn new() -> Self {
        Patience { rounds: 0 }
    }

    /// After a claim by `view` failed with `e`: waits one round and returns
    /// `true` (look at the newest version again and retry the claim) if `e`
    /// is [`ClaimError::Held`] by a transaction `view` may wait for and the
    /// budget is not spent; else returns `false` at once (give up with `e`).
    #[inline]
    pub(crate) fn wait(&mut self, e: ClaimError, view: View) -> bool {
        let ClaimError::Held(holder) = e else {
            return false;
        };
        // Untagged, an id is its age. A younger writer (a larger id) may
        // wait for an older holder; anyone may wait for a rollback under
        // way (INFINITY, which waits for nobody).
        if holder != INFINITY && view.me & !TXN_BIT <= holder & !TXN_BIT {
            return false;
        }
        if self.rounds >= budget::SPIN_ROUNDS + budget::YIELD_ROUNDS {
            return false;
        }
        self.rounds += 1;
        if self.rounds <= budget::SPIN_ROUNDS {
            for _ in 0..budget::SPINS {
                crate::sync::spin_hint();
            }
        } else {
            crate::sync::yield_now();
        }
        true
    }
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
        Header::superseding(self.begin.load(Ordering::Acquire), view)
    }

    /// [`superseded_copy`](Header::superseded_copy) of a version whose
    /// begin word is `begin`.
    pub(crate) fn superseding(begin: u64, view: View) -> Header {
        Header {
            begin: AtomicU64::new(if begin == view.me { INFINITY } else { begin }),
            end: AtomicU64::new(view.me),
        }
    }

    /// Both words, `(begin, end)`.
    #[inline]
    pub(crate) fn words(&self) -> (u64, u64) {
        // Acquire (both loads): as in `is_visible`.
        (
            self.begin.load(Ordering::Acquire),
            self.end.load(Ordering::Acquire),
        )
    }

    /// Overwrites the begin word while the in-place master that holds this
    /// header is being changed (between the odd and the even store of its
    /// sequence, by the one writer the sequence admits: IP1).
    #[inline]
    pub(crate) fn overwrite_begin(&self, begin: u64) {
        // Relaxed: the seqlock orders it (the Release fence after the odd
        // sequence, the Release store of the even one; `store/words.rs`).
        self.begin.store(begin, Ordering::Relaxed);
    }

    /// Overwrites the end word, as [`overwrite_begin`](Header::overwrite_begin)
    /// does the begin word (G2 of an in-place master).
    #[inline]
    pub(crate) fn overwrite_end(&self, end: u64) {
        // Relaxed: as in `overwrite_begin`.
        self.end.store(end, Ordering::Relaxed);
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
    /// `end` goes from [`INFINITY`] to `view.me` by one CAS. Anything else
    /// fails at once: [`ClaimError::Conflict`] for a newest version committed
    /// after our snapshot (or superseded by a commit),
    /// [`ClaimError::Held`] for one that another transaction has begun or
    /// claimed and not yet committed or rolled back. The claim itself never
    /// waits; the caller may wait for a holder ([`Patience`], W3) and then
    /// look for the newest version again.
    ///
    /// A successful claim also proves the version is still the newest: only a
    /// claimant installs a successor, and a claimant that rolls back unlinks
    /// its successor before it releases the claim.
    #[inline]
    pub(crate) fn claim(&self, view: View) -> Result<(), ClaimError> {
        debug_assert!(view.me & TXN_BIT != 0, "claims need a transaction id");
        // Acquire (both loads): as in `is_visible`. Reading `end` before the
        // CAS keeps a writer that waits for a holder from taking the
        // holder's cache line exclusively on every round.
        check_begin(self.begin.load(Ordering::Acquire), view)?;
        check_end(self.end.load(Ordering::Acquire))?;
        // AcqRel on success: Acquire synchronises with the Release of a
        // previous claimant's `release` (so its unlink of an aborted successor
        // is seen before we link ours); Release orders nothing we need but is
        // free on a read-modify-write. Acquire on failure: the value is only
        // classified, never used to reach memory.
        match self
            .end
            .compare_exchange(INFINITY, view.me, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            // A failed CAS read something other than INFINITY.
            Err(end) => Err(check_end(end).err().unwrap_or(ClaimError::Conflict)),
        }
    }

    /// Why a claim of this version by `view` would fail now, without
    /// claiming it (`Ok` if it may succeed): for a rival's first version of
    /// a record we found empty.
    #[inline]
    pub(crate) fn check(&self, view: View) -> Result<(), ClaimError> {
        // Acquire (both loads): as in `is_visible`.
        check_begin(self.begin.load(Ordering::Acquire), view)?;
        check_end(self.end.load(Ordering::Acquire))
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
            Err(ClaimError::Held(ME)),
            "held by its claimant until it commits or rolls back"
        );
        h.stamp_end(6);
        assert_eq!(
            h.claim(View {
                snapshot: 9,
                me: OTHER
            }),
            Err(ClaimError::Conflict),
            "superseded by a commit"
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
        assert_eq!(h.claim(view(100)), Err(ClaimError::Held(OTHER)));
        h.stamp_begin(101);
        assert_eq!(h.claim(view(100)), Err(ClaimError::Conflict));
        let aborted = Header::uncommitted(OTHER);
        aborted.mark_aborted();
        assert_eq!(aborted.claim(view(100)), Err(ClaimError::Held(INFINITY)));
        let mine = Header::uncommitted(ME);
        assert_eq!(mine.claim(view(0)), Ok(()));
    }

    /// W3: a younger writer (a larger id) waits for an older holder and
    /// for a rollback under way, for a bounded number of rounds; an older
    /// one, and anyone meeting a committed conflict or a retired row, gives
    /// up at once.
    #[test]
    fn only_younger_writers_wait_and_never_for_ever() {
        let older = view(5); // ME = id 7 < OTHER = id 8
        let younger = View {
            snapshot: 5,
            me: OTHER,
        };
        assert!(!Patience::new().wait(ClaimError::Held(OTHER), older));
        assert!(!Patience::new().wait(ClaimError::Conflict, younger));
        assert!(!Patience::new().wait(ClaimError::Retired, younger));
        for (held, writer) in [
            (ClaimError::Held(ME), younger),
            (ClaimError::Held(INFINITY), older),
        ] {
            let mut p = Patience::new();
            let rounds = (0..1_000).take_while(|_| p.wait(held, writer)).count();
            assert_eq!(
                rounds as u32,
                budget::SPIN_ROUNDS + budget::YIELD_ROUNDS,
                "{held:?}"
            );
        }
    }
}
