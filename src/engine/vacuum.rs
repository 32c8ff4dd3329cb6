//! The background vacuum: a thread that sweeps every table at an interval.

use super::{Engine, Sweep};
use std::sync::atomic::{AtomicBool, Ordering as StdOrdering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The shortest interval between two sweeps: a `GcPolicy::Vacuum` interval
/// below it (zero included) is raised to it, so that the thread never spins.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The vacuum thread of a database. Dropping it stops the thread (without
/// waiting: the thread may be the one dropping the last database handle).
pub(crate) struct Vacuum {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Vacuum {
    /// Starts sweeping `db` every `interval`; the thread holds only a weak
    /// handle, so it never keeps the database alive.
    pub(crate) fn start(db: Weak<dyn Sweep>, engine: Weak<Engine>, interval: Duration) -> Vacuum {
        let interval = interval.max(MIN_INTERVAL);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("multiverse-vacuum".into())
            .spawn(move || loop {
                thread::park_timeout(interval);
                // Relaxed: a flag checked once per interval; the unpark in
                // `drop` wakes us to see it.
                if flag.load(StdOrdering::Relaxed) {
                    return;
                }
                match (db.upgrade(), engine.upgrade()) {
                    (Some(db), Some(engine)) => db.sweep(engine.manager.watermark()),
                    _ => return,
                }
            })
            .expect("spawn the vacuum thread");
        Vacuum { stop, thread }
    }
}

impl Drop for Vacuum {
    fn drop(&mut self) {
        // Relaxed: see the thread's loop.
        self.stop.store(true, StdOrdering::Relaxed);
        self.thread.thread().unpark();
    }
}
