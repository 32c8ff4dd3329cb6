//! The background vacuum: a thread that sweeps every table at an interval.

use super::{Engine, Sweep};
use std::sync::atomic::{AtomicBool, Ordering as StdOrdering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The shortest interval between two sweeps: a `GcPolicy::Vacuum` interval
/// below it (zero included) is raised to it, so that the thread never spins.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// What the thread sweeps, sent once the database exists.
type Target = (Weak<dyn Sweep>, Weak<Engine>);

/// The vacuum thread of a database. Dropping it stops the thread (without
/// waiting: the thread may be the one dropping the last database handle).
pub(crate) struct Vacuum {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    target: Sender<Target>,
}

impl Vacuum {
    /// Starts the thread, before the database it will sweep exists (so that
    /// a builder learns whether the OS gives it a thread before it commits
    /// to a policy): it waits for [`attach`](Vacuum::attach), then sweeps
    /// every `interval` (at least [`MIN_INTERVAL`]). `Err` if the OS refuses
    /// the thread.
    pub(crate) fn start(interval: Duration) -> std::io::Result<Vacuum> {
        let interval = interval.max(MIN_INTERVAL);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (target, attached) = mpsc::channel::<Target>();
        let thread = thread::Builder::new()
            .name("multiverse-vacuum".into())
            .spawn(move || {
                // A dropped `Vacuum` (never attached) ends the thread here.
                let Ok((db, engine)) = attached.recv() else {
                    return;
                };
                loop {
                    thread::park_timeout(interval);
                    // Relaxed: a flag checked once per interval; the unpark
                    // in `drop` wakes us to see it.
                    if flag.load(StdOrdering::Relaxed) {
                        return;
                    }
                    // The thread holds only weak handles, so it never keeps
                    // the database alive.
                    let (Some(db), Some(engine)) = (db.upgrade(), engine.upgrade()) else {
                        return;
                    };
                    engine.gc.sweep(engine.manager.watermark(), |w| db.sweep(w));
                }
            })?;
        Ok(Vacuum {
            stop,
            thread,
            target,
        })
    }

    /// Gives the thread the database to sweep.
    pub(crate) fn attach(&self, db: Weak<dyn Sweep>, engine: Weak<Engine>) {
        // An error means the thread is gone (it ended because the database
        // already dropped): nothing to sweep.
        let _ = self.target.send((db, engine));
    }
}

impl Drop for Vacuum {
    fn drop(&mut self) {
        // Relaxed: see the thread's loop.
        self.stop.store(true, StdOrdering::Relaxed);
        self.thread.thread().unpark();
    }
}
