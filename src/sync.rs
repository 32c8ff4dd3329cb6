//! The only import site of atomics in the crate.
//!
//! Under `cfg(all(loom, feature = "loom"))` everything here comes from [loom], so
//! that the `loom-tests` crate model-checks the version chain, the commit
//! protocol and the watermark with the very code that runs in production.
//! Otherwise it is `std`. (The switch is on the feature as well as the cfg, the
//! way crossbeam and sharded-slab do it: a separate test crate that enables the
//! feature gets loom's atomics, and nothing else does by accident.)

#[cfg(all(loom, feature = "loom"))]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
#[cfg(all(loom, feature = "loom"))]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(all(loom, feature = "loom")))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
#[cfg(not(all(loom, feature = "loom")))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Called in every retry or wait loop. Under loom it yields to the model's
/// scheduler (a loop that does not yield never lets the other thread run);
/// otherwise it is a CPU spin hint.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(all(loom, feature = "loom"))]
    loom::thread::yield_now();
    #[cfg(not(all(loom, feature = "loom")))]
    std::hint::spin_loop();
}

/// Called by a loop that has spun for a while without progress: under loom the
/// same as [`spin_hint`], otherwise a yield to the OS scheduler so that the
/// thread it waits for (perhaps preempted on a busy core) can run.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(all(loom, feature = "loom"))]
    loom::thread::yield_now();
    #[cfg(not(all(loom, feature = "loom")))]
    std::thread::yield_now();
}

/// A small number of this thread's own, handed out in the order threads
/// first ask (0 under loom): spreads threads over the registry's slots and
/// the collector's queues, so that each mostly writes cache lines of its own.
#[cfg(not(all(loom, feature = "loom")))]
pub(crate) fn thread_index() -> usize {
    use std::cell::Cell;
    thread_local!(static INDEX: Cell<usize> = const { Cell::new(usize::MAX) });
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            // Relaxed: only uniqueness matters, which the read-modify-write
            // gives.
            i.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        i.get()
    })
}

/// Under loom every thread asks for slot and queue 0 first.
#[cfg(all(loom, feature = "loom"))]
pub(crate) fn thread_index() -> usize {
    0
}
