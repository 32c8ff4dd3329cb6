//! Append-only, oldest to newest (Wu et al. 2017, §3.2; Postgres, Hekaton).
//!
//! The record points at the oldest version; each version links to the one
//! that superseded it. An update walks to the end of the chain, claims the
//! last version and appends a whole tuple after it. A snapshot walks from
//! the oldest version forward until it meets its own: the longer the chain,
//! the longer the walk, which is the cost the paper measures against N2O.

use super::version::{chain_stats, find_visible, retire_chain, Chain, Installed, Version};
use super::{retire_empty, Storage, VersionStore, WriteError};
use crate::header::{Patience, View};
use crate::stats::TableStats;
use crate::sync::Ordering;
use crate::{Error, Tuple};
use crossbeam_epoch::{Guard, Owned, Shared};

/// The O2N append-only store.
#[derive(Default)]
pub(crate) struct OldestToNewest;

/// The version visible to `view` and the last version of the chain.
fn walk<'g, T>(
    rec: &Chain<T>,
    view: View,
    guard: &'g Guard,
) -> (Option<&'g Version<T>>, Shared<'g, Version<T>>) {
    let mut visible = None;
    // Acquire (here and below): pairs with the Release that linked each
    // version, so its header and data are initialised when we read them.
    let mut last = Shared::null();
    let mut cur = rec.head.load(Ordering::Acquire, guard);
    // SAFETY: loaded under `guard`; versions are freed only after unlink,
    // through the collector, which waits for `guard`.
    while let Some(v) = unsafe { cur.as_ref() } {
        if visible.is_none() && v.header.is_visible(view) {
            visible = Some(v);
        }
        last = cur;
        cur = v.next.load(Ordering::Acquire, guard);
    }
    (visible, last)
}

impl<T: Tuple> VersionStore<T> for OldestToNewest {
    type Record = Chain<T>;
    type Pending = Installed<T>;
    const STORAGE: Storage = Storage::AppendOnlyO2N;

    fn read<R>(
        &self,
        rec: &Chain<T>,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        // At most one version is visible to a view, so the walk may stop
        // there; a recent snapshot still walks (nearly) the whole chain.
        let head = rec.head.load(Ordering::Acquire, guard);
        f(find_visible(head, view, guard).and_then(|v| v.data.as_ref()))
    }

    fn write(
        &self,
        rec: &Chain<T>,
        view: View,
        guard: &Guard,
        op: impl FnOnce(Option<&T>) -> Result<Option<T>, Error>,
    ) -> Result<Installed<T>, WriteError<T>> {
        let (visible, mut last) = walk(rec, view, guard);
        // `op` runs once: the version visible to our snapshot cannot change
        // while we wait for a holder (only our own writes could change it),
        // so what it made stays right for every later claim (W3).
        let mut data = op(visible.and_then(|v| v.data.as_ref()))?;
        let mut patience = Patience::new();
        loop {
            // SAFETY: loaded under `guard` by `walk`.
            let e = match unsafe { last.as_ref() } {
                None => match rec.install_first(view, data, guard) {
                    Ok(installed) => return Ok(installed),
                    Err((e, back)) => {
                        data = back;
                        e
                    }
                },
                Some(l) => match l.header.claim(view) {
                    Ok(()) => {
                        let new = Owned::new(Version::uncommitted(view.me, data));
                        // The claim proves `l` is still the last version (W1),
                        // the one visible to us (begun for us, never ended),
                        // which `op` saw; and it excludes every other writer
                        // of `l.next`.
                        let new = new.into_shared(guard);
                        // Release: publishes the new version's header and data.
                        l.next.store(new, Ordering::Release);
                        return Ok(Installed::new(new, last));
                    }
                    Err(e) => e,
                },
            };
            if !patience.wait(e, view) {
                return Err(WriteError::claim(e, data));
            }
            // The holder may have rolled back and unlinked its version:
            // find the last version again.
            last = walk(rec, view, guard).1;
        }
    }

    fn commit(&self, _rec: &Chain<T>, pending: Installed<T>, ts: u64, _guard: &Guard) {
        // SAFETY: not yet committed or aborted (the trait's contract).
        unsafe { pending.stamp(ts) }
    }

    fn abort(&self, rec: &Chain<T>, pending: Installed<T>, guard: &Guard) {
        // SAFETY: not yet committed or aborted (the trait's contract).
        unsafe {
            pending.new_version().header.mark_aborted();
            // Unlink before releasing the claim: the next claimant must find
            // the claimed version last again. Release: pairs with walkers'
            // Acquire (nothing new is published; the null is what matters).
            match pending.prev_version() {
                Some(prev) => {
                    prev.next.store(Shared::null(), Ordering::Release);
                    prev.header.release();
                }
                None => rec.head.store(Shared::null(), Ordering::Release),
            }
            // SAFETY: unlinked above and linked from nowhere else (our later
            // writes to this key, appended after it, were aborted first).
            // Readers still on it are pinned; the collector waits for them.
            guard.defer_destroy(pending.new_shared());
        }
    }

    const PRUNE_ON_READ: bool = true;

    fn prune(&self, rec: &Chain<T>, watermark: u64, guard: &Guard) -> usize {
        // Acquire: as in `read`.
        let head = rec.head.load(Ordering::Acquire, guard);
        // Everything before the version visible at the watermark is older
        // than what any snapshot in use reads: move the head past it. The
        // links inside the detached prefix stay as they are, so a walker on
        // it still reaches the live chain (and O2N writers walk from the
        // head to the end).
        let Some(keep) = find_visible(
            head,
            View {
                snapshot: watermark,
                me: 0,
            },
            guard,
        ) else {
            return 0;
        };
        let keep = Shared::from(keep as *const Version<T>);
        if keep == head {
            return 0;
        }
        // AcqRel: Acquire to read the prefix; Release publishes nothing new.
        // A failed CAS means another prune moved the head: it owns that prefix.
        if rec
            .head
            .compare_exchange(head, keep, Ordering::AcqRel, Ordering::Acquire, guard)
            .is_err()
        {
            return 0;
        }
        let mut freed = 0;
        let mut cur = head;
        while cur != keep {
            // SAFETY: the prefix from `head` to `keep` was detached by our
            // CAS, so we alone free it, once; readers on it are pinned (M1).
            unsafe {
                let next = cur.deref().next.load(Ordering::Acquire, guard);
                guard.defer_destroy(cur);
                cur = next;
            }
            freed += 1;
        }
        freed
    }

    fn retire(&self, rec: &Chain<T>, watermark: u64, guard: &Guard) -> bool {
        // The newest version is the last one.
        retire_chain(
            rec,
            |v| v.next.load(Ordering::Acquire, guard).is_null(),
            watermark,
            guard,
        )
    }

    fn retire_empty(&self, rec: &Chain<T>, guard: &Guard) -> bool {
        retire_empty(&rec.head, guard)
    }

    fn stats(&self, rec: &Chain<T>, guard: &Guard, stats: &mut TableStats) {
        chain_stats(rec, false, guard, stats);
    }
}
