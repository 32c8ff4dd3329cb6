//! Single-key read and update throughput per store and thread count.
//!
//! ```text
//! cargo run --release --example throughput [-- SECONDS KEYS MAX_THREADS]
//! ```
//!
//! For each store in [`Storage::ALL`] and each thread count from 1 to
//! `MAX_THREADS` (default 2), on a fresh database preloaded with `KEYS`
//! (default 100 000) rows `u64 -> [i64; 10]`:
//!
//! * reads: every thread runs read-only transactions (`begin`, one `get` of a
//!   uniformly random key, `commit`) for `SECONDS` (default 2);
//! * updates: then every thread runs update transactions (`begin`, one
//!   `modify` of a uniformly random key, `commit`) for `SECONDS`; a write
//!   conflict is counted as an abort and not retried.
//!
//! Each database runs the default garbage-collection policy (printed in the
//! header). Under a policy that keeps versions (`GcPolicy::Off`), every
//! committed update adds a version that stays, so the update cell grows the
//! version chains and memory for as long as it runs: keep `SECONDS` modest.

use multiverse::{Database, Error, Storage, Table};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

type Row = [i64; 10];

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 10_000;

#[path = "shared/rng.rs"]
mod rng;
use rng::Rng;

struct Config {
    duration: Duration,
    keys: u64,
    max_threads: usize,
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.len() > 3 {
            return Err(format!("expected at most 3 arguments, got {}", args.len()));
        }
        let seconds: f64 = match args.first() {
            None => 2.0,
            Some(s) => s.parse().map_err(|e| format!("SECONDS ({s:?}): {e}"))?,
        };
        let keys: u64 = match args.get(1) {
            None => 100_000,
            Some(s) => s.parse().map_err(|e| format!("KEYS ({s:?}): {e}"))?,
        };
        let max_threads: usize = match args.get(2) {
            None => 2,
            Some(s) => s.parse().map_err(|e| format!("MAX_THREADS ({s:?}): {e}"))?,
        };
        if !(seconds > 0.0 && seconds.is_finite()) || keys == 0 || max_threads == 0 {
            return Err("need SECONDS > 0, KEYS >= 1 and MAX_THREADS >= 1".into());
        }
        Ok(Config {
            duration: Duration::from_secs_f64(seconds),
            keys,
            max_threads,
        })
    }
}

/// What one thread did in one cell.
#[derive(Default, Clone, Copy)]
struct Counts {
    commits: u64,
    aborts: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.commits += other.commits;
        self.aborts += other.aborts;
    }
}

/// A fresh database holding rows `0..keys`, row `k` all `k`.
fn load(storage: Storage, keys: u64) -> Result<(Database, Table<u64, Row>), Error> {
    let db = Database::new(storage);
    let table = db.create_table("t")?;
    for start in (0..keys).step_by(LOAD_BATCH as usize) {
        let mut tx = db.begin();
        for k in start..keys.min(start + LOAD_BATCH) {
            tx.insert(&table, k, [k as i64; 10])?;
        }
        tx.commit()?;
    }
    Ok((db, table))
}

/// Runs `work` on `threads` threads until `duration` has passed; returns the
/// summed counts and the measured time.
fn cell<F>(threads: usize, duration: Duration, work: F) -> Result<(Counts, Duration), Error>
where
    F: Fn(u64, &AtomicBool) -> Result<Counts, Error> + Sync,
{
    let stop = AtomicBool::new(false);
    let (results, elapsed) = thread::scope(|s| {
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (work, stop) = (&work, &stop);
                s.spawn(move || work(i as u64 + 1, stop))
            })
            .collect();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (results, start.elapsed())
    });
    let mut total = Counts::default();
    for r in results {
        total += r?;
    }
    Ok((total, elapsed))
}

/// Read-only transactions of one `get` each.
fn reads(
    db: &Database,
    table: &Table<u64, Row>,
    keys: u64,
    seed: u64,
    stop: &AtomicBool,
) -> Result<Counts, Error> {
    let mut rng = Rng::new(seed);
    let mut counts = Counts::default();
    while !stop.load(Ordering::Relaxed) {
        let key = rng.below(keys);
        let tx = db.begin();
        let row = tx.get(table, &key)?;
        std::hint::black_box(row.ok_or(Error::NotFound)?);
        tx.commit()?;
        counts.commits += 1;
    }
    Ok(counts)
}

/// Update transactions of one `modify` each; a conflict is an abort.
fn updates(
    db: &Database,
    table: &Table<u64, Row>,
    keys: u64,
    seed: u64,
    stop: &AtomicBool,
) -> Result<Counts, Error> {
    let mut rng = Rng::new(seed);
    let mut counts = Counts::default();
    while !stop.load(Ordering::Relaxed) {
        let key = rng.below(keys);
        let mut tx = db.begin();
        let result = tx
            .modify(table, &key, |r| r[0] += 1)
            .and_then(|()| tx.commit());
        match result {
            Ok(_) => counts.commits += 1,
            Err(Error::WriteConflict | Error::Aborted) => counts.aborts += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(counts)
}

/// One row of the table: reads/s, updates/s and update aborts.
fn measure(storage: Storage, threads: usize, config: &Config) -> Result<(f64, f64, u64), String> {
    let (db, table) = load(storage, config.keys).map_err(|e| format!("load: {e}"))?;
    let keys = config.keys;
    let (r, r_time) = cell(threads, config.duration, |seed, stop| {
        reads(&db, &table, keys, seed, stop)
    })
    .map_err(|e| format!("reads: {e}"))?;
    let (u, u_time) = cell(threads, config.duration, |seed, stop| {
        updates(&db, &table, keys, seed, stop)
    })
    .map_err(|e| format!("updates: {e}"))?;
    // Every committed update, and nothing else, is in the table.
    let tx = db.begin();
    let increments: i64 = tx
        .scan(&table, ..)
        .map_err(|e| format!("check: {e}"))?
        .map(|(k, row)| row[0] - k as i64)
        .sum();
    if increments != u.commits as i64 {
        return Err(format!(
            "the table holds {increments} increments for {} committed updates",
            u.commits
        ));
    }
    Ok((
        r.commits as f64 / r_time.as_secs_f64(),
        u.commits as f64 / u_time.as_secs_f64(),
        u.aborts,
    ))
}

fn main() -> ExitCode {
    let config = match Config::from_args() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("throughput: {e}");
            eprintln!("usage: throughput [SECONDS [KEYS [MAX_THREADS]]]");
            return ExitCode::from(2);
        }
    };
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "throughput: {} keys u64 -> [i64; 10], {:.1} s per cell, uniform random keys, \
         gc {}, {cores} cores",
        config.keys,
        config.duration.as_secs_f64(),
        Database::builder().build().gc_policy().name(),
    );
    println!(
        "{:<12} {:>7} {:>12} {:>12} {:>14}",
        "store", "threads", "reads/s", "updates/s", "update aborts"
    );
    let mut failed = false;
    for storage in Storage::ALL {
        for threads in 1..=config.max_threads {
            match measure(storage, threads, &config) {
                Ok((reads, updates, aborts)) => println!(
                    "{:<12} {:>7} {:>12.0} {:>12.0} {:>14}",
                    storage.name(),
                    threads,
                    reads,
                    updates,
                    aborts
                ),
                Err(e) => {
                    println!("{:<12} {:>7} error: {e}", storage.name(), threads);
                    failed = true;
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
