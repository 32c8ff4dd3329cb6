//! Version stores: where versions live and how a snapshot finds its own.
//!
//! One trait, [`VersionStore`], implemented once per store. A store decides
//! what a version holds and where it lives, never who may see it: visibility
//! and conflicts are [`crate::header`]'s, the clock and commit protocol
//! [`crate::engine::manager`]'s. The transaction layer drives every store through the
//! same five calls, with static dispatch (the store is a type parameter of
//! the table); [`Storage`] chooses the store at run time.

use crate::header::{ClaimError, Header, View};
use crate::stats::TableStats;
use crate::sync::Ordering;
use crate::{Error, Tuple};
use crossbeam_epoch::{Atomic, Guard, Owned, Shared};

mod delta;
mod master;
mod n2o;
mod o2n;
mod time_travel;
mod version;
mod words;

pub(crate) use delta::Delta;
pub(crate) use n2o::NewestToOldest;
pub(crate) use o2n::OldestToNewest;
pub(crate) use time_travel::TimeTravel;

/// The version store of a [`Database`](crate::Database): how it keeps the old
/// versions of its rows (Wu et al., VLDB 2017, §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Storage {
    /// Append-only, oldest to newest: every version a whole tuple; the index
    /// points at the oldest version and a new version is appended at the end
    /// of the chain. A reader of a recent snapshot walks the whole chain.
    AppendOnlyO2N,
    /// Append-only, newest to oldest: every version a whole tuple; the index
    /// points at the newest version, older ones behind it. A recent snapshot
    /// reads the head.
    AppendOnlyN2O,
    /// Time-travel: the master (newest) version in the main table; each
    /// update copies the master into the history table, newest first. A
    /// recent snapshot reads the master; an old one walks the history.
    TimeTravel,
    /// Delta (rollback segment): the master in the main table; each update
    /// keeps only the before-images of the attributes it changed, newest
    /// first. An old snapshot rebuilds its version from the master by
    /// applying before-images backwards.
    Delta,
}

impl Storage {
    /// Every store there is, for tests and benchmarks.
    pub const ALL: [Storage; 4] = [
        Storage::AppendOnlyO2N,
        Storage::AppendOnlyN2O,
        Storage::TimeTravel,
        Storage::Delta,
    ];

    /// A short name, as used in benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Storage::AppendOnlyO2N => "o2n",
            Storage::AppendOnlyN2O => "n2o",
            Storage::TimeTravel => "time-travel",
            Storage::Delta => "delta",
        }
    }
}

impl Default for Storage {
    /// Append-only N2O: the store the paper measured fastest overall.
    fn default() -> Self {
        Storage::AppendOnlyN2O
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The contract of a version store.
///
/// A store keeps, per key, a [`Record`](VersionStore::Record) that the index
/// holds, and in it every version of the row that a snapshot may still read.
/// The transaction layer calls it as follows; every call that reads shared
/// memory takes a pinned [`Guard`] (pinned per operation, never per
/// transaction).
///
/// * [`read`](VersionStore::read) finds the version visible to a view (by
///   [`header::visible`](crate::header::visible), **V1**) and hands it to the
///   caller, `None` when the row does not exist for that view (no version, or
///   a tombstone).
/// * [`write`](VersionStore::write) installs a new version (`Some` tuple, or
///   `None` for a tombstone) on behalf of `view.me`. It first finds the
///   version visible to the view and asks `op` what to install; `op` may turn
///   the write down with an answer (`NotFound`, `DuplicateKey`), and then
///   nothing changes. Otherwise the store claims the newest version by
///   [`Header::claim`](crate::header::Header::claim) (**W1**; an empty record
///   is claimed by installing its first version with one CAS). If the newest
///   version is held by a transaction that [`Patience`](crate::header::Patience)
///   lets it wait for (**W3**), it waits a bounded while, looks for the newest
///   version again and retries the claim with the tuple `op` made (`op` runs
///   once). A claim that still fails is `Error::WriteConflict` (or, for a
///   retired record, `WriteError::Retired`), again changing nothing. On
///   success the new version is in the record, visible only to `view.me`,
///   and the returned [`Pending`](VersionStore::Pending) says how to finish it.
/// * [`stats`](VersionStore::stats) counts what a record keeps.
/// * [`commit`](VersionStore::commit) stamps a pending write with the commit
///   timestamp; [`abort`](VersionStore::abort) undoes it: the new version is
///   made invisible to everyone and unlinked (then handed to the epoch
///   collector), and the claim is released. Pending writes of one transaction
///   are committed in the order they were made and aborted in reverse.
///
/// Between `write` and `commit`/`abort`, the record and both versions that
/// the pending write names stay allocated: the record because records are
/// never removed while a claim is held, the versions because nobody but the
/// claimant unlinks a claimed or uncommitted version.
pub(crate) trait VersionStore<T: Tuple>: Send + Sync + Default + 'static {
    /// The store, keeping masters in place (IP1) where it can if
    /// `in_place` (the builder's
    /// [`in_place_master`](crate::DatabaseBuilder::in_place_master)); the
    /// append-only stores have no master and ignore it.
    fn with_in_place(in_place: bool) -> Self {
        let _ = in_place;
        Self::default()
    }

    /// What the index holds per key.
    type Record: Send + Sync + Default + 'static;
    /// What a transaction keeps per write, to stamp or undo it.
    type Pending: Send + 'static;

    /// The [`Storage`] this store implements.
    const STORAGE: Storage;

    /// Calls `f` with the version of the row visible to `view`.
    fn read<R>(
        &self,
        record: &Self::Record,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R;

    /// Installs the version that `op` makes of the visible one, under a claim.
    fn write(
        &self,
        record: &Self::Record,
        view: View,
        guard: &Guard,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>, Error>,
    ) -> Result<Self::Pending, WriteError<T>>;

    /// Stamps a pending write with its transaction's commit timestamp.
    fn commit(&self, record: &Self::Record, pending: Self::Pending, ts: u64, guard: &Guard);

    /// Undoes a pending write.
    fn abort(&self, record: &Self::Record, pending: Self::Pending, guard: &Guard);

    /// Whether readers should prune the records they read under the
    /// cooperative policy. The paper defines it for O2N, whose readers walk
    /// the obsolete versions first. The master stores do it too: their
    /// writer prunes while its own write is pending, which must leave the
    /// replaced master's history in place (see `master.rs`), so without a
    /// later prune every row they wrote keeps two history items; a reader's
    /// prune finds nothing to cut in the steady state after a few loads and
    /// writes nothing then (`cut` stores only into a non-empty link).
    const PRUNE_ON_READ: bool = false;

    /// G1: unlinks the versions that no snapshot at or above `watermark`
    /// can read and hands them to the collector; returns how many. Safe to
    /// run concurrently with readers, writers and other prunes of the same
    /// record, at any watermark that `Registry::compute` returned.
    fn prune(&self, record: &Self::Record, watermark: u64, guard: &Guard) -> usize;

    /// G2: if the row is deleted for every snapshot at or above `watermark`
    /// (its newest version is a tombstone visible there, or the record is
    /// empty) and nobody holds a claim, marks the record retired so that no
    /// write can land in it again, and returns `true`: the caller then
    /// removes it from the index.
    fn retire(&self, record: &Self::Record, watermark: u64, guard: &Guard) -> bool;

    /// G2 for an empty record only (its one insert rolled back): marks it
    /// retired and returns `true` if it holds no version (by
    /// [`retire_empty`]); the caller then removes it from the index. Needs
    /// no watermark: no snapshot can read a version that does not exist.
    fn retire_empty(&self, record: &Self::Record, guard: &Guard) -> bool;

    /// Adds the record's versions to `stats`.
    fn stats(&self, record: &Self::Record, guard: &Guard, stats: &mut TableStats);
}

/// Why a store's `write` did not install a version.
#[derive(Debug)]
pub(crate) enum WriteError<T> {
    /// An answer (`NotFound`, `DuplicateKey`) or a `WriteConflict`.
    Error(Error),
    /// The record was retired (G2): look the key up again. Carries the new
    /// version's tuple that the operation made, so that the write can be
    /// retried on a fresh record without running the operation twice.
    Retired(Option<T>),
}

impl<T> From<Error> for WriteError<T> {
    fn from(e: Error) -> Self {
        WriteError::Error(e)
    }
}

impl<T> WriteError<T> {
    /// The error of a failed claim, which was to install `data`.
    pub(crate) fn claim(e: ClaimError, data: Option<T>) -> Self {
        match e {
            ClaimError::Conflict | ClaimError::Held(_) => WriteError::Error(Error::WriteConflict),
            ClaimError::Retired => WriteError::Retired(data),
        }
    }
}

/// The pointer tag of an empty record that the collector retired.
pub(crate) const RETIRED_TAG: usize = 1;

/// W1 for an empty record, whose pointer to its first version (or master)
/// is `link`: installing `new` with one CAS from an untagged null is the
/// claim. On failure, gives `new` back (never shared) with the reason: a
/// retired record carries tag 1 (G2); anything else is a rival writer's
/// first version, classified by its `header` as a claim of it would be
/// (held while the rival runs, a conflict once it committed).
pub(crate) fn claim_empty<'g, N>(
    link: &Atomic<N>,
    new: Owned<N>,
    header: impl Fn(&N) -> &Header,
    view: View,
    guard: &'g Guard,
) -> Result<Shared<'g, N>, (ClaimError, Owned<N>)> {
    // AcqRel/Acquire: as for `Header::claim`: Release publishes the new
    // version's header and data; Acquire orders what we read of a rival's.
    match link.compare_exchange(
        Shared::null(),
        new,
        Ordering::AcqRel,
        Ordering::Acquire,
        guard,
    ) {
        Ok(new) => Ok(new),
        Err(e) => {
            // SAFETY: loaded under `guard`; versions are freed only through
            // the collector after they are unlinked.
            let reason = match unsafe { e.current.as_ref() } {
                None if e.current.tag() == RETIRED_TAG => ClaimError::Retired,
                // An untagged null would have matched (a strong CAS).
                None => ClaimError::Conflict,
                Some(rival) => header(rival)
                    .check(view)
                    .err()
                    .unwrap_or(ClaimError::Conflict),
            };
            Err((reason, e.new))
        }
    }
}

/// G2 for an empty record, whose pointer to its first version (or master)
/// is `link`: tags its null so that a writer's CAS from an untagged null
/// ([`claim_empty`]) fails. Returns whether the record is retired (by this
/// call or an earlier one); `false` if it holds a version.
pub(crate) fn retire_empty<N>(link: &Atomic<N>, guard: &Guard) -> bool {
    // Acquire: pairs with the Release that installed a version, as for
    // every load of a record's pointer.
    let cur = link.load(Ordering::Acquire, guard);
    if !cur.is_null() {
        return false;
    }
    cur.tag() == RETIRED_TAG
        || link
            .compare_exchange(
                Shared::null(),
                Shared::null().with_tag(RETIRED_TAG),
                // AcqRel: as for `Header::claim`, whose rival this is.
                Ordering::AcqRel,
                Ordering::Acquire,
                guard,
            )
            .is_ok()
}

/// Detaches everything behind `link` and hands it to the collector, link by
/// link: each link is emptied by one `swap`, so a version is freed by the one
/// prune that took the link to it, however many prune at once. Returns how
/// many versions it freed.
///
/// Readers never walk past the version visible at the watermark (a newer
/// visible version stops them first), so emptying the links behind it
/// cannot cut a reader short; a reader that is on a detached version anyway
/// is pinned, and the collector waits for it (M1).
pub(crate) fn cut<N>(link: &Atomic<N>, next: impl Fn(&N) -> &Atomic<N>, guard: &Guard) -> usize {
    // Nothing to cut: return without writing the link, so that a prune on a
    // read path (O2N, the master stores) writes no shared memory in the
    // steady state. Relaxed: only a hint; the swap below decides.
    if link.load(Ordering::Relaxed, guard).is_null() {
        return 0;
    }
    // AcqRel: Acquire to read the detached versions' links; Release so that
    // a walker that loads the null sees nothing half-done (nothing is).
    let mut cur = link.swap(Shared::null(), Ordering::AcqRel, guard);
    let mut freed = 0;
    // SAFETY: loaded under `guard`; nodes are freed only by whoever took
    // the link to them, through the collector.
    while let Some(node) = unsafe { cur.as_ref() } {
        let after = next(node).swap(Shared::null(), Ordering::AcqRel, guard);
        // SAFETY: we took the only link to `cur` (see above), so it is
        // unlinked and freed once; readers on it are pinned.
        unsafe { guard.defer_destroy(cur) };
        freed += 1;
        cur = after;
    }
    freed
}
