//! The atomics of the live-snapshot registry and the timestamp service:
//! loom's under `cfg(loom)`, so that the registry's model (`snapshots.rs`)
//! checks the very code that runs, and `std`'s otherwise.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Lets another thread run: loom's scheduler under `cfg(loom)` (a loop that
/// does not yield never lets the other thread of a model run), the OS's
/// otherwise.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
