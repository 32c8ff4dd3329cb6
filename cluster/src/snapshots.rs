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

use std::sync::Arc;

use crate::gts::TimestampService;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// Two under loom: the model's threads need no more, and each slot is a
/// load in every floor computation the model explores.
const SLOTS: usize = if cfg!(loom) { 2 } else { 256 };

/// Live snapshots, one slot each (0: free).
pub(crate) struct Registry {
    slots: Box<[Padded]>,
    /// Where the next claim starts looking (spreads threads over slots).
    hint: AtomicUsize,
    /// Snapshots registered while every slot was taken (more live
    /// transactions than slots): id → value, under a lock.
    overflow: std::sync::Mutex<(u64, std::collections::BTreeMap<u64, u64>)>,
}

#[repr(align(64))]
struct Padded(AtomicU64);

/// A registered snapshot; frees its slot when dropped.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    slot: Slot,
}

enum Slot {
    Fixed(usize),
    Overflow(u64),
}

impl Drop for Registration {
    fn drop(&mut self) {
        match self.slot {
            // Release: nothing to publish; any ordering frees the slot, and
            // a floor computed from the old value is only lower (safe).
            Slot::Fixed(i) => self.registry.slots[i].0.store(0, Ordering::Release),
            Slot::Overflow(id) => {
                self.registry.overflow().1.remove(&id);
            }
        }
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            slots: (0..SLOTS).map(|_| Padded(AtomicU64::new(0))).collect(),
            hint: AtomicUsize::new(0),
            overflow: Default::default(),
        }
    }

    fn overflow(&self) -> std::sync::MutexGuard<'_, (u64, std::collections::BTreeMap<u64, u64>)> {
        // Nothing panics under this lock.
        self.overflow.lock().unwrap_or_else(|e| e.into_inner())
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
        let start = self.hint.fetch_add(1, Ordering::Relaxed);
        for i in start..start + SLOTS {
            let s = &self.slots[i % SLOTS].0;
            // SeqCst: the claim is ordered with floor computations' scans
            // (the handshake above).
            if s.compare_exchange(0, low, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                let snapshot = gts.next();
                // Relaxed: raising a registered bound never breaks the
                // floor (it stays below `snapshot`), and needs no ordering.
                s.store(snapshot, Ordering::Relaxed);
                let registry = Arc::clone(self);
                let slot = Slot::Fixed(i % SLOTS);
                return (snapshot, Registration { registry, slot });
            }
        }
        // Every slot taken: the overflow, under its lock. The same
        // handshake: a floor locks it after reading `g`, so either it sees
        // our bound, or our insert (and the snapshot after it) comes after
        // its unlock and so after its read of `g`.
        let id = {
            let mut o = self.overflow();
            o.0 += 1;
            let id = o.0;
            o.1.insert(id, low);
            id
        };
        let snapshot = gts.next();
        self.overflow().1.insert(id, snapshot);
        let registry = Arc::clone(self);
        (
            snapshot,
            Registration {
                registry,
                slot: Slot::Overflow(id),
            },
        )
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
        if let Some(v) = self.overflow().1.values().min() {
            floor = floor.min(*v);
        }
        floor
    }
}

/// Loom models of the handshake between [`Registry::register`] and
/// [`Registry::floor`], over the [`LocalGts`](crate::gts::LocalGts) and the
/// registry's own code, their atomics loom's (`crate::sync`). Run with
/// `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"` (loom-tests/README.md).
///
/// A partition pins its engine at a floor, and a transaction later reads
/// at its snapshot; so a floor above a live snapshot would let the engine
/// collect versions that snapshot reads. The claim checked: every floor
/// computed while a registration is live (begun before, concurrently or
/// after) is at or below that registration's snapshot.
///
/// The floor thread takes a timestamp of its own (a commit somewhere)
/// before it computes: without a `next` beyond the snapshot, the service's
/// `last`, which bounds every floor, is at most the snapshot, and the
/// claim would hold whatever the registry did.
#[cfg(all(test, loom))]
mod loom_models {
    use loom::thread;
    // Std's: counters across executions, outside the model.
    use std::sync::atomic::{AtomicUsize as Tally, Ordering as TallyOrdering};

    use super::*;
    use crate::gts::LocalGts;

    /// Runs the model exhaustively (it is small) unless
    /// `LOOM_MAX_PREEMPTIONS` bounds it. `before_register`: the
    /// registering thread takes a timestamp first, so that its lower bound
    /// races the other thread's timestamp too; `floors`: how many floors
    /// the other thread computes, each after a timestamp of its own.
    /// Returns how many of the floors computed, over all executions, were
    /// at the snapshot, and how many below it (both occur: not vacuous).
    fn run(before_register: bool, floors: usize) -> (usize, usize) {
        let tallies = Arc::new((Tally::new(0), Tally::new(0)));
        let outcomes = Arc::clone(&tallies);
        loom::model(move || {
            let (at, below) = &*outcomes;
            let gts = Arc::new(LocalGts::new(0));
            let registry = Arc::new(Registry::new());
            let other = {
                let (gts, registry) = (Arc::clone(&gts), Arc::clone(&registry));
                thread::spawn(move || {
                    (0..floors)
                        .map(|_| {
                            gts.next();
                            registry.floor(&*gts)
                        })
                        .collect::<Vec<u64>>()
                })
            };
            if before_register {
                gts.next();
            }
            let (snapshot, registration) = registry.register(&*gts);
            let computed = other.join().unwrap();
            for floor in computed.into_iter().chain([registry.floor(&*gts)]) {
                assert!(
                    floor <= snapshot,
                    "floor {floor} above the live snapshot {snapshot}"
                );
                let tally = if floor == snapshot { at } else { below };
                tally.fetch_add(1, TallyOrdering::Relaxed);
            }
            // Only now: the claim is about live registrations.
            drop(registration);
        });
        let (at, below) = &*tallies;
        (
            at.load(TallyOrdering::Relaxed),
            below.load(TallyOrdering::Relaxed),
        )
    }

    /// One registration against one floor computed after a commit.
    #[test]
    fn a_floor_never_passes_a_live_snapshot() {
        let (at, below) = run(false, 1);
        assert!(at > 0 && below > 0, "at {at}, below {below}");
    }

    /// As above, with a timestamp taken by the registering thread before it
    /// registers, and two floors, each after a commit, on the other thread.
    #[test]
    fn a_floor_never_passes_a_live_snapshot_against_other_timestamps() {
        let (at, below) = run(true, 2);
        assert!(at > 0 && below > 0, "at {at}, below {below}");
    }
}
