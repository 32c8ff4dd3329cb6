//! Append-only, newest to oldest (Wu et al. 2017, §3.2; the order Postgres
//! would need for fast recent reads, and the one Peloton found fastest).
//!
//! The record points at the newest version; each version links to the one
//! it superseded. An update allocates a whole tuple, claims the head and
//! makes the new version the head. A recent snapshot reads the head; an old
//! one walks back.

use super::version::{chain_stats, find_visible, retire_chain, Chain, Installed, Version};
use super::{cut, retire_empty, Storage, VersionStore, WriteError};
use crate::header::{Patience, View};
use crate::stats::TableStats;
use crate::sync::Ordering;
use crate::{Error, Tuple};
use crossbeam_epoch::{Guard, Owned};

/// The N2O append-only store.
#[derive(Default)]
pub(crate) struct NewestToOldest;

impl<T: Tuple> VersionStore<T> for NewestToOldest {
    type Record = Chain<T>;
    type Pending = Installed<T>;
    const STORAGE: Storage = Storage::AppendOnlyN2O;

    fn read<R>(
        &self,
        rec: &Chain<T>,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        // Acquire: pairs with the Release that installed the head.
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
        // Acquire: as in `read`.
        let mut head = rec.head.load(Ordering::Acquire, guard);
        // `op` runs once: the version visible to our snapshot cannot change
        // while we wait for a holder (only our own writes could change it),
        // so what it made stays right for every later claim (W3).
        let mut data = op(find_visible(head, view, guard).and_then(|v| v.data.as_ref()))?;
        let mut patience = Patience::new();
        loop {
            // SAFETY: loaded under `guard`; versions are freed only after unlink.
            let e = match unsafe { head.as_ref() } {
                None => match rec.install_first(view, data, guard) {
                    Ok(installed) => return Ok(installed),
                    Err((e, back)) => {
                        data = back;
                        e
                    }
                },
                Some(h) => match h.header.claim(view) {
                    Ok(()) => {
                        // The claim succeeded, so `h` is begun for us and the
                        // newest: the version visible to us, the one `op` saw.
                        let new = Owned::new(Version::uncommitted(view.me, data));
                        // Relaxed: the version is not shared yet; the Release
                        // below publishes it.
                        new.next.store(head, Ordering::Relaxed);
                        // Release: publishes the new version's header, data
                        // and link. A plain store suffices: the claim on `h`
                        // excludes every other writer of this head (W1).
                        let new = new.into_shared(guard);
                        rec.head.store(new, Ordering::Release);
                        return Ok(Installed::new(new, head));
                    }
                    Err(e) => e,
                },
            };
            if !patience.wait(e, view) {
                return Err(WriteError::claim(e, data));
            }
            // Acquire: as in `read`. The holder may have rolled back and
            // restored the version it claimed as the head.
            head = rec.head.load(Ordering::Acquire, guard);
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
            // Release: readers that load the restored head see the claimed
            // version whole (it was published before, this is belt and braces).
            rec.head.store(pending.prev_shared(), Ordering::Release);
            if let Some(prev) = pending.prev_version() {
                prev.header.release();
            }
            // SAFETY: unlinked above, and nothing links to it any more (only
            // the head did; our own later writes to this key, which would
            // point at it, were aborted first). Readers that still hold it are
            // pinned, and the collector waits for them.
            guard.defer_destroy(pending.new_shared());
        }
    }

    fn prune(&self, rec: &Chain<T>, watermark: u64, guard: &Guard) -> usize {
        // Acquire: as in `read`.
        let head = rec.head.load(Ordering::Acquire, guard);
        // Everything behind the version visible at the watermark is older
        // than what any snapshot in use reads. That version is committed, so
        // no abort will ever unlink it or rewrite its link.
        match find_visible(
            head,
            View {
                snapshot: watermark,
                me: 0,
            },
            guard,
        ) {
            Some(v) => cut(&v.next, |v| &v.next, guard),
            None => 0,
        }
    }

    fn retire(&self, rec: &Chain<T>, watermark: u64, guard: &Guard) -> bool {
        retire_chain(rec, |_| true, watermark, guard)
    }

    fn retire_empty(&self, rec: &Chain<T>, guard: &Guard) -> bool {
        retire_empty(&rec.head, guard)
    }

    fn stats(&self, rec: &Chain<T>, guard: &Guard, stats: &mut TableStats) {
        chain_stats(rec, true, guard, stats);
    }
}
