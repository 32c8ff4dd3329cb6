//! Runs the sweep: every subject, loaded once, through every workload at
//! every thread count; one [`Measurement`] per cell.
//!
//! A cell runs its threads for a warm-up (not counted) and then for the
//! measured time. A transaction that loses a conflict is retried, after a
//! short backoff, with the same operations, up to [`Config::max_retries`] times; the
//! driver counts commits, aborts (attempts that lost a conflict), retries
//! (attempts after an abort) and transactions given up separately.

use crate::alloc;
use crate::subject::{Kind, Op, Subject};
use crate::subjects::Entry;
use crate::workload::Workload;
use crate::zipf::{Keys, Rng};
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The parameters shared by every cell of a sweep.
#[derive(Clone, Debug)]
pub struct Config {
    /// Rows in the table.
    pub keys: u64,
    /// Zipfian skew θ of the keys (0: uniform).
    pub theta: f64,
    /// Attributes per row.
    pub attrs: usize,
    /// Attributes an update changes.
    pub modified: usize,
    /// Measured time per cell.
    pub measure: Duration,
    /// Uncounted time before the measurement, per cell.
    pub warmup: Duration,
    /// Retries of a transaction that lost a conflict before it is given up.
    pub max_retries: u32,
}

/// What one cell measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The subject's name.
    pub subject: String,
    /// What the subject is.
    pub kind: Kind,
    /// The workload's name.
    pub workload: &'static str,
    /// Threads, the scanner of a long-scan cell included.
    pub threads: usize,
    /// The measured time, in seconds.
    pub seconds: f64,
    /// Committed transactions (the scanner's excluded).
    pub commits: u64,
    /// Attempts that lost a conflict and were rolled back.
    pub aborts: u64,
    /// Attempts that re-ran an aborted transaction.
    pub retries: u64,
    /// Transactions given up after `max_retries` retries.
    pub failed: u64,
    /// Full-table scans completed (long-scan cells).
    pub scans: u64,
    /// The median time of a full-table scan, in milliseconds (long-scan
    /// cells that completed one).
    pub scan_ms: Option<f64>,
    /// Heap held by the subject after loading, in bytes.
    pub heap_loaded: usize,
    /// The largest heap sampled during the measurement, in bytes.
    pub heap_peak: usize,
    /// Heap held by the subject at the end of the cell, in bytes.
    pub heap_end: usize,
}

impl Measurement {
    /// Committed transactions per second.
    pub fn throughput(&self) -> f64 {
        self.commits as f64 / self.seconds
    }

    /// The share of attempts that aborted.
    pub fn abort_rate(&self) -> f64 {
        // Every attempt ends in a commit or an abort.
        let attempts = self.commits + self.aborts;
        if attempts == 0 {
            0.0
        } else {
            self.aborts as f64 / attempts as f64
        }
    }
}

/// The phases of a cell, read by its workers.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const DONE: u8 = 2;

/// What one worker counted while the phase was `MEASURE`.
#[derive(Default)]
struct Counts {
    commits: u64,
    aborts: u64,
    retries: u64,
    failed: u64,
    scans: Vec<Duration>,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.commits += other.commits;
        self.aborts += other.aborts;
        self.retries += other.retries;
        self.failed += other.failed;
        self.scans.extend(other.scans);
    }
}

/// Waits before the `retry`th retry of an aborted transaction: a random
/// spin of up to `2^retry` pauses (about 50 ns to 50 µs), then yielding
/// the core. An immediate retry would meet the same winner, still running,
/// and abort again; and two transactions that each hold a key the other
/// wants abort each other at once and, with equal backoffs, would retry in
/// lockstep and abort each other again.
fn backoff(retry: u64, rng: &mut Rng) {
    if retry <= 10 {
        for _ in 0..rng.below(1 << retry) {
            std::hint::spin_loop();
        }
    } else {
        thread::yield_now();
    }
}

/// Calls `step` until the phase is `DONE`, telling it whether what it does
/// counts (the phase was `MEASURE` when the step began); `step` folds what
/// it reads into the sink, which is kept from being optimised away.
fn until_done(phase: &AtomicU8, mut step: impl FnMut(&mut Counts, &mut u64, bool)) -> Counts {
    let mut counts = Counts::default();
    let mut sink = 0u64;
    loop {
        // Relaxed: the phase only tells the worker when to count and when to
        // stop; the counts travel back through `join`.
        let now = phase.load(Ordering::Relaxed);
        if now == DONE {
            break;
        }
        step(&mut counts, &mut sink, now == MEASURE);
    }
    black_box(sink);
    counts
}

/// Runs `workload`'s transactions until the phase is `DONE`.
fn work(
    subject: &dyn Subject,
    workload: &Workload,
    config: &Config,
    keys: &Keys,
    seed: u64,
    phase: &AtomicU8,
) -> Counts {
    let mut rng = Rng::new(seed);
    let mut ops: Vec<Op> = Vec::with_capacity(workload.ops);
    until_done(phase, |counts, sink, measuring| {
        workload.next(keys, &mut rng, &mut ops);
        let (mut aborts, mut retries, mut committed) = (0, 0, false);
        loop {
            match subject.execute(&ops, config.modified, sink) {
                Ok(()) => {
                    committed = true;
                    break;
                }
                Err(_) => {
                    aborts += 1;
                    if retries == config.max_retries as u64 {
                        break;
                    }
                    retries += 1;
                    backoff(retries, &mut rng);
                }
            }
        }
        if measuring {
            counts.commits += committed as u64;
            counts.failed += !committed as u64;
            counts.aborts += aborts;
            counts.retries += retries;
        }
    })
}

/// Scans the whole table until the phase is `DONE`, timing each scan that
/// started during the measurement.
fn scan(subject: &dyn Subject, keys: u64, phase: &AtomicU8) -> Counts {
    until_done(phase, |counts, sink, measuring| {
        let start = Instant::now();
        let rows = subject.scan_all(sink);
        assert_eq!(rows, keys, "a full scan must see every row");
        if measuring {
            counts.scans.push(start.elapsed());
        }
    })
}

/// The heap once it stops changing (for at most two seconds): a subject
/// dropped just before may still be freeing memory on threads of its own.
fn settled_heap() -> usize {
    let mut last = alloc::allocated();
    for _ in 0..40 {
        thread::sleep(Duration::from_millis(50));
        let now = alloc::allocated();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// A subject built and loaded, with the heap it holds.
pub struct Loaded<'a> {
    /// Its entry in the registry.
    pub entry: &'a Entry,
    /// The subject.
    pub subject: Box<dyn Subject>,
    /// The heap before it was built, in bytes.
    pub baseline: usize,
    /// The heap it held once loaded, in bytes.
    pub heap_loaded: usize,
}

impl<'a> Loaded<'a> {
    /// Builds and loads `entry`'s subject.
    pub fn new(entry: &'a Entry, config: &Config) -> Result<Loaded<'a>, String> {
        let baseline = settled_heap();
        let subject = (entry.make)();
        subject
            .load(config.keys, config.attrs)
            .map_err(|e| format!("{}: loading failed: {e}", entry.name))?;
        let heap_loaded = alloc::allocated().saturating_sub(baseline);
        Ok(Loaded {
            entry,
            subject,
            baseline,
            heap_loaded,
        })
    }
}

/// Runs one cell on a loaded subject. `None` when the cell does not apply:
/// a long-scan cell needs a scanner and at least one updater.
pub fn cell(
    loaded: &Loaded<'_>,
    workload: &Workload,
    threads: usize,
    config: &Config,
    keys: &Keys,
) -> Option<Measurement> {
    let subject = &*loaded.subject;
    if threads == 0 || (workload.long_scan && threads < 2) {
        return None;
    }
    let phase = AtomicU8::new(WARMUP);
    let (counts, seconds, heap_peak) = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let phase = &phase;
                scope.spawn(move || {
                    if workload.long_scan && t == 0 {
                        scan(subject, config.keys, phase)
                    } else {
                        work(subject, workload, config, keys, t as u64 + 1, phase)
                    }
                })
            })
            .collect();
        thread::sleep(config.warmup);
        // Relaxed: see `work`.
        phase.store(MEASURE, Ordering::Relaxed);
        let start = Instant::now();
        let mut peak = alloc::allocated();
        while start.elapsed() < config.measure {
            let left = config.measure.saturating_sub(start.elapsed());
            thread::sleep(left.min(Duration::from_millis(20)));
            peak = peak.max(alloc::allocated());
        }
        // Relaxed: see `work`.
        phase.store(DONE, Ordering::Relaxed);
        let seconds = start.elapsed().as_secs_f64();
        let mut counts = Counts::default();
        for w in workers {
            counts.add(w.join().expect("a worker panicked"));
        }
        (counts, seconds, peak)
    });
    let mut scans = counts.scans;
    scans.sort();
    Some(Measurement {
        subject: loaded.entry.name.clone(),
        kind: loaded.entry.kind,
        workload: workload.name,
        threads,
        seconds,
        commits: counts.commits,
        aborts: counts.aborts,
        retries: counts.retries,
        failed: counts.failed,
        scans: scans.len() as u64,
        scan_ms: scans.get(scans.len() / 2).map(|d| d.as_secs_f64() * 1e3),
        heap_loaded: loaded.heap_loaded,
        heap_peak: heap_peak.saturating_sub(loaded.baseline),
        heap_end: alloc::allocated().saturating_sub(loaded.baseline),
    })
}

/// What the sweep tells its caller as it goes, for a progress bar.
pub enum Progress<'a> {
    /// A subject is being built and loaded.
    Loading(&'a str),
    /// A subject was loaded, in this time.
    Loaded(&'a str, Duration),
    /// A cell is starting.
    Cell(&'a str, &'a str, usize),
    /// A cell finished (or was skipped: `None`).
    Done(Option<&'a Measurement>),
}

/// Runs every subject through every workload at every thread count, in
/// that nesting: each subject is built and loaded once, runs its cells, and
/// is dropped before the next one is built.
pub fn sweep(
    entries: &[Entry],
    workloads: &[Workload],
    threads: &[usize],
    config: &Config,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Vec<Measurement>, String> {
    let keys = Keys::new(config.keys, config.theta)?;
    let mut results = Vec::new();
    for entry in entries {
        progress(Progress::Loading(&entry.name));
        let start = Instant::now();
        let loaded = Loaded::new(entry, config)?;
        progress(Progress::Loaded(&entry.name, start.elapsed()));
        for workload in workloads {
            for &t in threads {
                progress(Progress::Cell(&entry.name, workload.name, t));
                let m = cell(&loaded, workload, t, config, &keys);
                progress(Progress::Done(m.as_ref()));
                results.extend(m);
            }
        }
    }
    Ok(results)
}
