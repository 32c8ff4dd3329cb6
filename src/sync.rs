//! The only import site of atomics in the crate.
//!
//! Under `cfg(all(loom, feature = "loom"))` everything here comes from [loom], so
//! that the `loom-tests` crate model-checks the version chain, the commit
//! protocol and the watermark with the very code that runs in production.
//! Otherwise it is `std`. (The switch is on the feature as well as the cfg, the
//! way crossbeam and sharded-slab do it: a separate test crate that enables the
//! feature gets loom's atomics, and nothing else does by accident.)

#[cfg(all(loom, feature = "loom"))]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(all(loom, feature = "loom")))]
pub(crate) use std::sync::atomic::{fence, AtomicU64, Ordering};

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
