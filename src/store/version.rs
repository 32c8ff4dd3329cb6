//! The whole-tuple version and the chain of them that both append-only stores
//! keep per key.

use super::claim_empty;
use crate::header::{ClaimError, Header, View};
use crate::stats::TableStats;
use crate::Tuple;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use std::mem::size_of;

/// One version of a row: the header words, the link to the next version of
/// the chain (older in N2O, newer in O2N) and the tuple (`None`: a tombstone
/// left by a delete).
pub(crate) struct Version<T> {
    pub(crate) header: Header,
    pub(crate) next: Atomic<Version<T>>,
    pub(crate) data: Option<T>,
}

impl<T> Version<T> {
    /// A version that transaction `me` is installing.
    pub(crate) fn uncommitted(me: u64, data: Option<T>) -> Self {
        Version {
            header: Header::uncommitted(me),
            next: Atomic::null(),
            data,
        }
    }
}

impl<T: Tuple> Version<T> {
    /// Bytes the version occupies, inline and on the heap.
    pub(crate) fn size_bytes(&self) -> usize {
        size_of::<Self>()
            + self
                .data
                .as_ref()
                .map_or(0, |t| t.size_bytes().saturating_sub(size_of::<T>()))
    }
}

/// The record of an append-only store: one pointer into a chain of versions.
pub(crate) struct Chain<T> {
    pub(crate) head: Atomic<Version<T>>,
}

impl<T> Default for Chain<T> {
    fn default() -> Self {
        Chain {
            head: Atomic::null(),
        }
    }
}

impl<T> Chain<T> {
    /// W1 on an empty chain, for both append-only stores: installing the
    /// first version, made of `data`, is the claim (`claim_empty`, one CAS).
    /// On failure, `data` comes back with the reason.
    pub(crate) fn install_first(
        &self,
        view: View,
        data: Option<T>,
        guard: &Guard,
    ) -> Result<Installed<T>, (ClaimError, Option<T>)> {
        let new = Owned::new(Version::uncommitted(view.me, data));
        claim_empty(&self.head, new, |v| &v.header, view, guard)
            .map(|new| Installed::new(new, Shared::null()))
            .map_err(|(e, new)| (e, new.into_box().data))
    }
}

impl<T> Drop for Chain<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no other thread can reach the chain (its
        // record is being dropped with its index), and every version in it is
        // owned by the chain alone: versions are handed to the collector only
        // after they are unlinked, so none of these is freed twice.
        unsafe {
            let guard = epoch::unprotected();
            let mut cur = self.head.load(crate::sync::Ordering::Relaxed, guard);
            while !cur.is_null() {
                let next = cur.deref().next.load(crate::sync::Ordering::Relaxed, guard);
                drop(cur.into_owned());
                cur = next;
            }
        }
    }
}

/// A write in flight: the version it installed and the one it claimed (null
/// when it installed the first version of an empty record).
pub(crate) struct Installed<T> {
    pub(crate) new: *const Version<T>,
    pub(crate) prev: *const Version<T>,
}

// SAFETY: `Installed` is only a pair of addresses, dereferenced by the
// transaction that made the write (see the trait's contract: both versions stay
// allocated until it commits or aborts). `T: Send + Sync` because a version is
// shared between threads once it is linked.
unsafe impl<T: Send + Sync> Send for Installed<T> {}

impl<T> Installed<T> {
    pub(crate) fn new(new: Shared<'_, Version<T>>, prev: Shared<'_, Version<T>>) -> Self {
        Installed {
            new: new.as_raw(),
            prev: prev.as_raw(),
        }
    }

    /// The installed version.
    ///
    /// # Safety
    /// The write has not been committed or aborted yet (the contract of
    /// `VersionStore`: until then nobody unlinks or frees it).
    pub(crate) unsafe fn new_version(&self) -> &Version<T> {
        // SAFETY: the caller promises the version is still allocated.
        unsafe { &*self.new }
    }

    /// The claimed version, if any.
    ///
    /// # Safety
    /// As for [`new_version`](Installed::new_version): a claimed version is
    /// neither unlinked nor freed while the claim is held.
    pub(crate) unsafe fn prev_version(&self) -> Option<&Version<T>> {
        // SAFETY: null or allocated, as the caller promises.
        unsafe { self.prev.as_ref() }
    }

    /// Stamps the write with `ts`: the new version begins, the claimed one
    /// ends (A1: all of them before the timestamp is published).
    ///
    /// # Safety
    /// As for [`new_version`](Installed::new_version).
    pub(crate) unsafe fn stamp(&self, ts: u64) {
        // SAFETY: as the caller promises.
        unsafe {
            self.new_version().header.stamp_begin(ts);
            if let Some(prev) = self.prev_version() {
                prev.header.stamp_end(ts);
            }
        }
    }

    /// The new version as a `Shared`, to unlink it and to hand it to the
    /// collector.
    pub(crate) fn new_shared<'g>(&self) -> Shared<'g, Version<T>> {
        Shared::from(self.new)
    }

    /// The claimed version as a `Shared` (null if none).
    pub(crate) fn prev_shared<'g>(&self) -> Shared<'g, Version<T>> {
        if self.prev.is_null() {
            Shared::null()
        } else {
            Shared::from(self.prev)
        }
    }
}

/// The first version visible to `view` at or after `cur`, following `next`.
pub(crate) fn find_visible<'g, T>(
    mut cur: Shared<'g, Version<T>>,
    view: View,
    guard: &'g Guard,
) -> Option<&'g Version<T>> {
    // SAFETY: every pointer in a chain was loaded under `guard`; versions are
    // freed only through the collector after being unlinked, so none that we
    // reach is freed while `guard` is pinned.
    while let Some(v) = unsafe { cur.as_ref() } {
        if v.header.is_visible(view) {
            return Some(v);
        }
        // Acquire: pairs with the Release that linked the next version, so
        // its header and data are initialised when we read them.
        cur = v.next.load(crate::sync::Ordering::Acquire, guard);
    }
    None
}

/// Adds a chain's versions to `stats`; the newest is the first version
/// (`newest_first`, N2O) or the last (O2N).
pub(crate) fn chain_stats<T: Tuple>(
    chain: &Chain<T>,
    newest_first: bool,
    guard: &Guard,
    stats: &mut TableStats,
) {
    let mut sizes = Vec::new();
    // Acquire: as in `find_visible`.
    let mut cur = chain.head.load(crate::sync::Ordering::Acquire, guard);
    // SAFETY: as in `find_visible`.
    while let Some(v) = unsafe { cur.as_ref() } {
        sizes.push(v.size_bytes());
        cur = v.next.load(crate::sync::Ordering::Acquire, guard);
    }
    let newest = if newest_first {
        0
    } else {
        sizes.len().wrapping_sub(1)
    };
    for (i, bytes) in sizes.into_iter().enumerate() {
        if i == newest {
            stats.count_newest(bytes);
        } else {
            stats.count_history(bytes);
        }
    }
}

/// G2 for a chain: retires the record if its newest version (the first for
/// which `is_newest` holds, walking from the head) is a tombstone visible at
/// the watermark and unclaimed, or if the record is empty.
pub(crate) fn retire_chain<T>(
    chain: &Chain<T>,
    is_newest: impl Fn(&Version<T>) -> bool,
    watermark: u64,
    guard: &Guard,
) -> bool {
    use crate::sync::Ordering;
    // Acquire: as in `find_visible`.
    let mut cur = chain.head.load(Ordering::Acquire, guard);
    if cur.is_null() {
        // An empty record (its only insert aborted).
        return super::retire_empty(&chain.head, guard);
    }
    // SAFETY: as in `find_visible`.
    while let Some(v) = unsafe { cur.as_ref() } {
        if is_newest(v) {
            return v.data.is_none() && v.header.retire(watermark);
        }
        cur = v.next.load(Ordering::Acquire, guard);
    }
    false
}
