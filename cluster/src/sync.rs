//! The atomics of the live-snapshot registry and the timestamp service:
//! loom's under `cfg(loom)`, so that the registry's model (`snapshots.rs`)
//! checks the very code that runs, and `std`'s otherwise.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
