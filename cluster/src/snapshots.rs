//! The snapshots of the cluster's live transactions, and the floor below
//! them: what every partition's engine must keep readable.
//!
//! A cluster transaction registers its snapshot on a partition's engine
//! only when it first touches that partition, possibly after commits there
//! that the engine's garbage collector would otherwise have let pass it. So
//! the cluster keeps its own registry of live snapshots, and each partition
//! holds an engine snapshot (a *pin*) at or below the registry's floor,
//! moved up every few commits. This is the engine's watermark handshake
//! (its `engine/watermark.rs`, G1) one level up.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::gts::TimestampService;

const SLOTS: usize = 256;

/// Live snapshots, one slot each (0: free).
pub(crate) struct Registry {
    slots: Box<[Padded]>,
    /// Where the next claim starts looking (spreads threads over slots).
    hint: AtomicUsize,
}

#[repr(align(64))]
struct Padded(AtomicU64);

/// A registered snapshot; frees its slot when dropped.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    slot: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Release: nothing to publish; any ordering frees the slot, and a
        // floor computed from the old value is only lower (safe).
        self.registry.slots[self.slot].0.store(0, Ordering::Release);
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            slots: (0..SLOTS).map(|_| Padded(AtomicU64::new(0))).collect(),
            hint: AtomicUsize::new(0),
        }
    }

    /// Takes a fresh snapshot from `gts` and registers it. The snapshot is
    /// at or above every floor computed from now on (or concurrently).
    ///
    /// The handshake: a slot is claimed holding a lower bound `l` read
    /// from the service *before* the snapshot is taken. A floor
    /// computation reads the service's last timestamp `g`, then scans. If
    /// the scan sees the slot, the floor is at most `l` ≤ the snapshot; if
    /// it misses it, the claim (SeqCst) came after the scan, so after the
    /// read of `g`, and the snapshot, taken after the claim, is above `g`,
    /// which bounds the floor.
    pub fn register(self: &Arc<Self>, gts: &dyn TimestampService) -> (u64, Registration) {
        let low = gts.last().max(1);
        // Relaxed: a hint only.
        let mut i = self.hint.fetch_add(1, Ordering::Relaxed);
        let slot = loop {
            let s = &self.slots[i % SLOTS].0;
            // SeqCst: the claim is ordered with floor computations' scans
            // (the handshake above).
            if s.compare_exchange(0, low, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                break i % SLOTS;
            }
            i += 1;
            if i.is_multiple_of(SLOTS) {
                // Every slot busy: more live transactions than slots; let
                // one end.
                std::thread::yield_now();
            }
        };
        let snapshot = gts.next();
        // Relaxed: raising a registered bound never breaks the floor (it
        // stays below `snapshot`), and it needs no ordering.
        self.slots[slot].0.store(snapshot, Ordering::Relaxed);
        let registry = Arc::clone(self);
        (snapshot, Registration { registry, slot })
    }

    /// A timestamp at or below every live and future registered snapshot.
    pub fn floor(&self, gts: &dyn TimestampService) -> u64 {
        let mut floor = gts.last();
        for s in self.slots.iter() {
            // SeqCst: the scan of the handshake (`register`).
            let v = s.0.load(Ordering::SeqCst);
            if v != 0 {
                floor = floor.min(v);
            }
        }
        floor
    }
}
