//! The registry of active snapshots and the watermark (invariant **G1**).
//!
//! The watermark is the oldest snapshot any live transaction may still read
//! at: a version whose end is committed at or below it is invisible to every
//! live and every future transaction, and may be unlinked.
//!
//! Each transaction owns a *slot* holding its snapshot while it runs (the
//! shape of crossbeam-epoch's participant list, and of NoisePage's
//! per-transaction begin timestamps). Slots live in chunks of 64 linked into
//! a list that only grows; a thread starts looking for a free slot where it
//! found one last time, so in the steady state a begin is one CAS on a cache
//! line no other thread writes. No lock on the begin path.
//!
//! Registering and computing race: a transaction may load its snapshot `s`,
//! the collector may then compute a watermark above `s` without seeing the
//! transaction's slot, and only then the transaction stores `s` in it. A
//! Dekker handshake closes the gap: the transaction stores its slot, then
//! (after a SeqCst fence) loads the collector's `horizon`; the collector
//! raises `horizon` to the snapshot it is about to use, then (after a SeqCst
//! fence) reads the slots. One of the two sees the other's store; if the
//! transaction sees a horizon above its snapshot, it takes a newer snapshot
//! (every horizon is at or below the published clock) and checks again. The
//! fences are SeqCst *fences*, which is what both the C++/Rust memory model
//! and loom need for this pattern (SeqCst accesses alone are not enough).
//!
//! # Registering an old snapshot (time travel)
//!
//! `Database::snapshot_at(ts)` registers a snapshot *below* the clock, which
//! the handshake above cannot protect: every horizon is likely above `ts`
//! already, yet most computations end far below their horizon (an old
//! transaction holds them back), and then `ts` is still safe to read. So a
//! second handshake decides it, on the computation's *result*:
//!
//! * the registrant stores `ts` in a slot, increments `old_registrations`
//!   (Release), and after a SeqCst fence loads `proposed`, the highest
//!   watermark any computation has reached; above `ts`, it fails
//!   (`SnapshotTooOld`) and frees the slot;
//! * a computation loads `old_registrations` (Acquire) before it reads the
//!   slots, raises `proposed` to its result, and after a second SeqCst fence
//!   loads `old_registrations` again; changed, it discards its result (and
//!   returns the last cached watermark, or tries once more).
//!
//! A computation that missed the slot either sees the increment after its
//! second fence (and discards its result), or its raised `proposed` is seen
//! by the registrant after the registrant's fence (which then fails): one
//! of the two SeqCst fences comes first. A computation whose first load
//! already saw the increment synchronises with it, so it reads the slot.
//! Hence no watermark above `ts` is ever used while the old snapshot lives,
//! and none was used before it registered (it would be in `proposed`).
//!
//! # A history window (`retain`)
//!
//! With a retention window, a computation also clamps its candidate to a
//! timestamp that was visible at least `retain` ago, from a short log of
//! (instant, clock) samples that computations append at a bounded rate: the
//! watermark never passes the state of `now - retain`.

use crate::sync::{fence, AtomicU64, Ordering};
use crossbeam_epoch::{self as epoch, Atomic, Owned};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

/// A free slot.
const FREE: u64 = u64::MAX;
/// Slots per chunk (two under loom, to keep the models small).
const CHUNK: usize = if cfg!(all(loom, feature = "loom")) {
    2
} else {
    64
};

struct Chunk {
    slots: [CachePadded<AtomicU64>; CHUNK],
    next: Atomic<Chunk>,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            slots: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(FREE))),
            next: Atomic::null(),
        }
    }
}

/// The active snapshots of one database.
pub(crate) struct Registry {
    first: Box<Chunk>,
    /// The highest snapshot a watermark computation has started from.
    horizon: CachePadded<AtomicU64>,
    /// The highest watermark computed so far (monotone; every value it ever
    /// held is still a valid watermark, see `compute`).
    cached: CachePadded<AtomicU64>,
    /// The highest watermark any computation has reached, used or not: what
    /// an old snapshot must not be below (see "Registering an old snapshot").
    proposed: CachePadded<AtomicU64>,
    /// How many old snapshots have registered (`register_at`).
    old_registrations: CachePadded<AtomicU64>,
    /// The retention window, if the database keeps history.
    history: Option<History>,
}

/// The samples of a retention window: the watermark never passes a
/// timestamp that was the clock `retain` ago.
struct History {
    retain: Duration,
    /// (instant, clock value loaded just before it), oldest first, at least
    /// `retain / SAMPLES` apart; only the newest one older than the window
    /// is kept, so there are at most about `SAMPLES + 1`.
    samples: Mutex<VecDeque<(Instant, u64)>>,
    /// The timestamp the watermark is clamped to (monotone).
    floor: std::sync::atomic::AtomicU64,
}

/// Samples per retention window: the window is honoured to within
/// `retain / SAMPLES` (the watermark lags at most that much more).
const SAMPLES: u32 = 64;

impl History {
    /// The clamp for a computation now: a timestamp that was visible at
    /// least `retain` ago (0 until the database is that old). Samples the
    /// clock if the last sample is old enough; never waits for the lock.
    fn floor(&self, clock: &AtomicU64) -> u64 {
        use std::sync::atomic::Ordering as Std;
        let samples = match self.samples.try_lock() {
            Ok(samples) => Some(samples),
            // Nothing under the lock is left half-done by a panic (an
            // allocation failure at worst): go on with the samples.
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut samples) = samples {
            // The clock first, then the time: the sample's timestamp was
            // visible at or before its instant.
            // Acquire: not needed for safety (any loaded value works), kept
            // for symmetry with every other load of the clock.
            let ts = clock.load(Ordering::Acquire);
            let now = Instant::now();
            let due = samples
                .back()
                .is_none_or(|&(at, _)| now.duration_since(at) >= self.retain / SAMPLES);
            if due {
                samples.push_back((now, ts));
            }
            if let Some(cutoff) = now.checked_sub(self.retain) {
                while samples.len() >= 2 && samples[1].0 <= cutoff {
                    samples.pop_front();
                }
                if let Some(&(at, ts)) = samples.front() {
                    if at <= cutoff {
                        // Relaxed: computations read it below, ordered by
                        // nothing (a stale, lower floor is safe).
                        self.floor.fetch_max(ts, Std::Relaxed);
                    }
                }
            }
        }
        // Relaxed: see above.
        self.floor.load(Std::Relaxed)
    }
}

/// A registered snapshot: frees its slot on drop.
pub(crate) struct Slot {
    slot: *const AtomicU64,
}

// SAFETY: a `Slot` points into a chunk that lives as long as its `Registry`
// (chunks are freed only when the registry drops), and the transaction or
// snapshot that owns the `Slot` keeps the registry alive until the slot has
// dropped. The atomic is shareable.
unsafe impl Send for Slot {}
// SAFETY: as for `Send`; `&Slot` only loads.
unsafe impl Sync for Slot {}

impl Slot {
    fn cell(&self) -> &AtomicU64 {
        // SAFETY: see the `Send` impl: the chunk outlives the slot.
        unsafe { &*self.slot }
    }
}

impl Drop for Slot {
    /// Frees the slot: the transaction reads no more.
    fn drop(&mut self) {
        // Release: the transaction's reads happen before a collector that
        // sees the slot free (memory safety itself rests on the epoch).
        self.cell().store(FREE, Ordering::Release);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(None)
    }
}

impl Registry {
    /// An empty registry; with `Some(retain)` (nonzero), watermarks never
    /// pass the clock of `retain` ago.
    pub(crate) fn new(retain: Option<Duration>) -> Self {
        Registry {
            first: Box::new(Chunk::new()),
            horizon: CachePadded::new(AtomicU64::new(0)),
            cached: CachePadded::new(AtomicU64::new(0)),
            proposed: CachePadded::new(AtomicU64::new(0)),
            old_registrations: CachePadded::new(AtomicU64::new(0)),
            history: retain.filter(|r| !r.is_zero()).map(|retain| History {
                retain,
                samples: Mutex::new(VecDeque::new()),
                floor: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Registers the old snapshot `ts` (at or below the clock; the caller
    /// checks): `Err(oldest)` if a watermark computation may have passed it,
    /// with the highest watermark reached. See "Registering an old
    /// snapshot" above.
    pub(crate) fn register_at(&self, ts: u64) -> Result<Slot, u64> {
        let slot = self.acquire(ts);
        // Release: a computation whose first load of the counter sees this
        // increment sees our slot (pairs with its Acquire).
        self.old_registrations.fetch_add(1, Ordering::Release);
        // SeqCst fence: the second handshake, with `compute`'s second fence.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fences.
        let proposed = self.proposed.load(Ordering::Relaxed);
        if proposed > ts {
            return Err(proposed);
        }
        Ok(slot)
    }

    /// Registers a snapshot loaded from `clock` and returns it with its slot:
    /// the snapshot is at or above every watermark computed from now on.
    pub(crate) fn register(&self, clock: &AtomicU64) -> (Slot, u64) {
        // Acquire: the snapshot's commits are visible (A1).
        let mut snapshot = clock.load(Ordering::Acquire);
        let slot = self.acquire(snapshot);
        loop {
            // SeqCst fence: the Dekker handshake with `compute` (G1).
            fence(Ordering::SeqCst);
            // Relaxed: ordered by the fences.
            if snapshot >= self.horizon.load(Ordering::Relaxed) {
                return (slot, snapshot);
            }
            // Every horizon is at or below the clock, so this converges.
            snapshot = clock.load(Ordering::Acquire);
            // Relaxed: published by the next fence.
            slot.cell().store(snapshot, Ordering::Relaxed);
        }
    }

    /// Takes a free slot and stores `snapshot` in it.
    fn acquire(&self, snapshot: u64) -> Slot {
        let guard = &epoch::pin();
        let start = crate::sync::thread_index() % CHUNK;
        let mut chunk: &Chunk = &self.first;
        loop {
            for i in 0..CHUNK {
                let cell = &chunk.slots[(start + i) % CHUNK];
                // Relaxed (load and CAS): the slot's value is published to
                // collectors by the fence in `register`; the CAS only has to
                // be atomic, to give the slot to one transaction.
                if cell.load(Ordering::Relaxed) == FREE
                    && cell
                        .compare_exchange(FREE, snapshot, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    return Slot { slot: &**cell };
                }
            }
            // Acquire: pairs with the Release of the CAS that linked it.
            let mut next = chunk.next.load(Ordering::Acquire, guard);
            if next.is_null() {
                // Release/Acquire: publishes the new chunk's initialised slots.
                next = match chunk.next.compare_exchange(
                    next,
                    Owned::new(Chunk::new()),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                    guard,
                ) {
                    Ok(n) => n,
                    Err(e) => e.current,
                };
            }
            // SAFETY: chunks are never freed before the registry drops, and
            // `&self` keeps it alive.
            chunk = unsafe { next.deref() };
        }
    }

    /// Computes the watermark: a timestamp at or below every snapshot that
    /// a live or future transaction reads at (G1), and at or below the
    /// clock of `retain` ago. `clock` is the published snapshot clock.
    pub(crate) fn compute(&self, clock: &AtomicU64) -> u64 {
        // A result discarded because an old snapshot registered meanwhile
        // is tried once more, then the cached watermark stands in (it is
        // safe: it was a result no old snapshot had registered against).
        for _ in 0..2 {
            if let Some(w) = self.try_compute(clock) {
                return w;
            }
        }
        self.cached()
    }

    /// One computation; `None` if an old snapshot registered meanwhile.
    fn try_compute(&self, clock: &AtomicU64) -> Option<u64> {
        // Acquire: pairs with the Release increment in `register_at`; if we
        // see it, we see that registration's slot below.
        let old = self.old_registrations.load(Ordering::Acquire);
        // Acquire: as in `register`.
        let mut candidate = clock.load(Ordering::Acquire);
        if let Some(history) = &self.history {
            candidate = candidate.min(history.floor(clock));
        }
        // Relaxed: ordered by the fence. `fetch_max`: concurrent
        // computations never lower the horizon.
        self.horizon.fetch_max(candidate, Ordering::Relaxed);
        // SeqCst fence: the Dekker handshake with `register` (G1).
        fence(Ordering::SeqCst);
        let mut watermark = candidate;
        let guard = &epoch::pin();
        let mut chunk: &Chunk = &self.first;
        loop {
            for cell in &chunk.slots {
                // Relaxed: ordered by the fences.
                let s = cell.load(Ordering::Relaxed);
                if s != FREE {
                    watermark = watermark.min(s);
                }
            }
            // Acquire: as in `acquire`.
            let next = chunk.next.load(Ordering::Acquire, guard);
            // SAFETY: as in `acquire`.
            match unsafe { next.as_ref() } {
                Some(n) => chunk = n,
                None => break,
            }
        }
        // Relaxed: ordered by the second fence, which follows.
        self.proposed.fetch_max(watermark, Ordering::Relaxed);
        // SeqCst fence: the handshake with `register_at`.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fences.
        if self.old_registrations.load(Ordering::Relaxed) != old {
            return None;
        }
        // Relaxed: a cached watermark is a hint; a stale (lower) one is safe.
        self.cached.fetch_max(watermark, Ordering::Relaxed);
        Some(watermark)
    }

    /// Makes `ts` the oldest snapshot this registry will ever grant, before
    /// any snapshot registers: a recovered database has no history below
    /// the state it recovered (`snapshot_at` of an earlier timestamp is
    /// `SnapshotTooOld`). The clock must already be at `ts`.
    pub(crate) fn raise_floor(&self, ts: u64) {
        // Relaxed: called before the database is shared; the handoff of
        // the database to other threads orders these stores.
        self.horizon.fetch_max(ts, Ordering::Relaxed);
        self.proposed.fetch_max(ts, Ordering::Relaxed);
        self.cached.fetch_max(ts, Ordering::Relaxed);
    }

    /// The highest watermark computed so far: safe to prune below, though
    /// possibly lower than a fresh computation would give.
    pub(crate) fn cached(&self) -> u64 {
        // Relaxed: see `compute`.
        self.cached.load(Ordering::Relaxed)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nobody else can reach the chunks; each is
        // freed once.
        unsafe {
            let guard = epoch::unprotected();
            let mut next = self.first.next.load(Ordering::Relaxed, guard);
            while !next.is_null() {
                let after = next.deref().next.load(Ordering::Relaxed, guard);
                drop(next.into_owned());
                next = after;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_the_oldest_registered_snapshot() {
        let clock = AtomicU64::new(5);
        let r = Registry::default();
        assert_eq!(r.compute(&clock), 5);
        let (a, sa) = r.register(&clock);
        assert_eq!(sa, 5);
        clock.store(9, Ordering::SeqCst);
        let (b, sb) = r.register(&clock);
        assert_eq!(sb, 9);
        assert_eq!(r.compute(&clock), 5);
        drop(a);
        assert_eq!(r.compute(&clock), 9);
        drop(b);
        clock.store(12, Ordering::SeqCst);
        assert_eq!(r.compute(&clock), 12);
        assert_eq!(r.cached(), 12);
    }

    #[test]
    fn an_old_snapshot_registers_only_at_or_above_every_watermark_reached() {
        let clock = AtomicU64::new(10);
        let r = Registry::default();
        let old = r.register_at(5).expect("no watermark computed yet");
        assert_eq!(r.compute(&clock), 5, "the old snapshot holds it");
        assert!(r.register_at(3).is_err(), "a watermark of 5 was reached");
        drop(old);
        assert_eq!(r.compute(&clock), 10);
        assert_eq!(r.register_at(5).err(), Some(10));
        let at_watermark = r.register_at(10).expect("at the watermark");
        clock.store(20, Ordering::SeqCst);
        assert_eq!(r.compute(&clock), 10);
        drop(at_watermark);
    }

    #[test]
    fn a_retention_window_clamps_the_watermark() {
        let clock = AtomicU64::new(10);
        let r = Registry::new(Some(Duration::from_secs(3600)));
        assert_eq!(r.compute(&clock), 0, "nothing is an hour old yet");
        clock.store(20, Ordering::SeqCst);
        assert_eq!(r.compute(&clock), 0);
        assert!(r.register_at(1).is_ok());
        let no_window = Registry::new(Some(Duration::ZERO));
        assert_eq!(no_window.compute(&clock), 20, "a zero window is none");
    }

    #[test]
    fn more_transactions_than_a_chunk_grow_the_registry() {
        let clock = AtomicU64::new(1);
        let r = Registry::default();
        let slots: Vec<_> = (0..200)
            .map(|i| {
                clock.store(i + 1, Ordering::SeqCst);
                r.register(&clock)
            })
            .collect();
        assert_eq!(r.compute(&clock), 1);
        let mut slots = slots;
        slots.drain(..100);
        assert_eq!(r.compute(&clock), 101);
    }
}
