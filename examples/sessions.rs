//! Sessions: what the session layer costs over bare transactions, and a
//! switchover under load (issue 13).
//!
//! ```text
//! cargo run --release --example sessions [-- SECONDS THREADS RUNS SESSIONS TIMEOUTS LONGEST_MS]
//! ```
//!
//! Defaults: `0.5 2 5 64 1,5 2000`. A quick run: `-- 0.1 2 1 8 1 300`.
//!
//! **Overhead.** For each store in [`Storage::ALL`], on a table of 10,000
//! rows `u64 -> [i64; 4]`, `THREADS` threads run mixed statements (50 %
//! `get`, 25 % `modify`, 15 % `update`, 10 % a 10-row `scan`, on uniformly
//! random keys) for `SECONDS` per cell, in five shapes:
//!
//! * `bare 1`: `begin`, one statement, `commit`: a bare `Transaction`;
//! * `autocommit`: a session with autocommit on, one statement (the same
//!   work: each statement is its own transaction);
//! * `bare 5`: `begin`, five statements, `commit`;
//! * `implicit 5`: a session with autocommit off, five statements, `commit`;
//! * `explicit 5`: a session, `begin`, five statements, `commit`.
//!
//! Each session shape is paired with the bare shape of the same length:
//! every worker alternates blocks of 1,000 transactions of the one and of the
//! other, `RUNS` times for `SECONDS`. The table gives the medians over the
//! runs of statements/s (committed transactions' statements; a write
//! conflict rolls its transaction back, is counted as an abort and not
//! retried) and of the session's overhead: its CPU time per statement over
//! the bare shape's (the workers' own CPU time, `CLOCK_THREAD_CPUTIME_ID`:
//! what other processes on a shared machine disturb least; wall time where
//! it is not available).
//!
//! **Switchover under load.** `SESSIONS` sessions (one thread each) on the
//! delta store: half run explicit transactions that each increment the
//! session's own counter row and then stay open for a random time below
//! `LONGEST_MS` (in five pauses between statements), the other half
//! autocommit increments with a 1 ms pause between them. After a warm-up of
//! 300 ms the old database switches over to a new one (whose rows the
//! example keeps in step by loading both alike) with each drain timeout of
//! `TIMEOUTS` (comma-separated seconds, each 1–60), and the load goes on
//! for 300 ms more. Printed per timeout: the sessions in a transaction when
//! the switchover began, the sessions moved and lost, the drain time; and
//! the check that every increment a session saw commit is in the old
//! database (before its move) or the new one (after), and that no rolled
//! back increment is anywhere.

use multiverse::{Database, Error, Session, Storage, Table, Transaction};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

type Row = [i64; 4];
type T = Table<u64, Row>;

const KEYS: u64 = 10_000;

#[path = "shared/rng.rs"]
mod rng;
use rng::Rng;

struct Config {
    seconds: f64,
    threads: usize,
    runs: usize,
    sessions: usize,
    timeouts: Vec<Duration>,
    longest: Duration,
}

fn parse<X: std::str::FromStr>(
    args: &[String],
    i: usize,
    name: &str,
    default: X,
) -> Result<X, String>
where
    X::Err: std::fmt::Display,
{
    match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|e| format!("{name} ({s:?}): {e}")),
    }
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.len() > 6 {
            return Err(format!("expected at most 6 arguments, got {}", args.len()));
        }
        let seconds: f64 = parse(&args, 0, "SECONDS", 0.5)?;
        let threads: usize = parse(&args, 1, "THREADS", 2)?;
        let runs: usize = parse(&args, 2, "RUNS", 5)?;
        let sessions: usize = parse(&args, 3, "SESSIONS", 64)?;
        let timeouts: String = parse(&args, 4, "TIMEOUTS", "1,5".to_owned())?;
        let longest: u64 = parse(&args, 5, "LONGEST_MS", 2000)?;
        let timeouts = timeouts
            .split(',')
            .map(|s| {
                s.parse::<f64>()
                    .map_err(|e| format!("TIMEOUTS ({s:?}): {e}"))
            })
            .map(|s| s.map(Duration::from_secs_f64))
            .collect::<Result<Vec<_>, _>>()?;
        if !(seconds > 0.0 && seconds.is_finite()) || threads == 0 || runs == 0 || sessions < 2 {
            return Err("need SECONDS > 0, THREADS >= 1, RUNS >= 1 and SESSIONS >= 2".into());
        }
        Ok(Config {
            seconds,
            threads,
            runs,
            sessions,
            timeouts,
            longest: Duration::from_millis(longest.max(1)),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Bare1,
    Autocommit,
    Bare5,
    Implicit5,
    Explicit5,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Bare1 => "bare 1",
            Shape::Autocommit => "autocommit",
            Shape::Bare5 => "bare 5",
            Shape::Implicit5 => "implicit 5",
            Shape::Explicit5 => "explicit 5",
        }
    }

    fn len(self) -> u64 {
        match self {
            Shape::Bare1 | Shape::Autocommit => 1,
            _ => 5,
        }
    }
}

/// One statement through a bare transaction.
fn bare_statement(tx: &mut Transaction, t: &T, rng: &mut Rng) -> Result<(), Error> {
    let k = rng.below(KEYS);
    match rng.below(20) {
        0..=9 => tx.get(t, &k).map(drop),
        10..=14 => tx.modify(t, &k, |r| r[1] += 1),
        15..=17 => tx.update(t, &k, [k as i64, 1, 2, 3]),
        // Collected, as a session's scan returns its rows.
        _ => tx.scan(t, k..k + 10).map(|s| drop(s.collect::<Vec<_>>())),
    }
}

/// The same statement through a session.
fn session_statement(s: &mut Session, t: &T, rng: &mut Rng) -> Result<(), Error> {
    let k = rng.below(KEYS);
    match rng.below(20) {
        0..=9 => s.get(t, &k).map(drop),
        10..=14 => s.modify(t, &k, |r| r[1] += 1),
        15..=17 => s.update(t, &k, [k as i64, 1, 2, 3]),
        _ => s.scan(t, k..k + 10).map(drop),
    }
}

/// One transaction of `shape`: `Ok(true)` committed, `Ok(false)` a
/// conflict rolled it back.
fn transaction(
    shape: Shape,
    db: &Database,
    s: &mut Session,
    t: &T,
    rng: &mut Rng,
) -> Result<bool, Error> {
    let result = match shape {
        Shape::Bare1 | Shape::Bare5 => {
            let mut tx = db.begin();
            (0..shape.len())
                .try_for_each(|_| bare_statement(&mut tx, t, rng))
                .and_then(|()| tx.commit().map(drop))
        }
        Shape::Autocommit => session_statement(s, t, rng),
        Shape::Implicit5 | Shape::Explicit5 => {
            if shape == Shape::Explicit5 {
                s.begin()?;
            }
            (0..shape.len())
                .try_for_each(|_| session_statement(s, t, rng))
                .and_then(|()| s.commit())
        }
    };
    match result {
        Ok(()) => Ok(true),
        Err(Error::WriteConflict) => {
            s.rollback()?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The CPU time this thread has run: `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`
/// on 64-bit Linux (exact, unlike `/proc/thread-self/schedstat`, which lags
/// by up to a scheduler tick); `None` elsewhere.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` (in the C library std links) writes one
    // `struct timespec` (two 64-bit fields on 64-bit Linux, matching
    // `Timespec`'s `repr(C)` layout) through a pointer to a live, writable
    // value, and keeps nothing.
    let ok = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    ok.then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu() -> Option<Duration> {
    None
}

/// Transactions per block: each worker alternates blocks of the bare
/// shape and of the session shape, so that both see the same state of the
/// table, the same neighbours and the same noise.
const BLOCK: u64 = 1000;

/// What one shape of a pair measured (summed over the workers).
#[derive(Default, Clone, Copy)]
struct Tally {
    committed: u64,
    aborted: u64,
    wall: Duration,
    cpu: Duration,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.committed += other.committed;
        self.aborted += other.aborted;
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// Runs the bare shape `shapes[0]` and the session shape `shapes[1]` in
/// alternating blocks on `threads` threads for `seconds`.
fn pair(db: &Database, t: &T, shapes: [Shape; 2], threads: usize, seconds: f64) -> [Tally; 2] {
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let (db, t, stop, barrier) = (db.clone(), t.clone(), stop.clone(), barrier.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(i as u64 + 1);
                let mut s = db.session();
                if shapes[1] == Shape::Implicit5 {
                    s.set_autocommit(false).unwrap();
                }
                let mut tallies = [Tally::default(); 2];
                barrier.wait();
                // Relaxed: a stop flag; it carries no data.
                while !stop.load(Ordering::Relaxed) {
                    for (shape, tally) in shapes.into_iter().zip(&mut tallies) {
                        let (wall, cpu) = (Instant::now(), thread_cpu());
                        for _ in 0..BLOCK {
                            match transaction(shape, &db, &mut s, &t, &mut rng) {
                                Ok(true) => tally.committed += 1,
                                Ok(false) => tally.aborted += 1,
                                Err(e) => panic!("{}: {e}", shape.name()),
                            }
                        }
                        let wall = wall.elapsed();
                        tally.wall += wall;
                        tally.cpu += match (cpu, thread_cpu()) {
                            (Some(a), Some(b)) => b.saturating_sub(a),
                            _ => wall,
                        };
                    }
                }
                tallies
            })
        })
        .collect();
    barrier.wait();
    thread::sleep(Duration::from_secs_f64(seconds));
    // Relaxed: see the load above.
    stop.store(true, Ordering::Relaxed);
    let mut tallies = [Tally::default(); 2];
    for w in workers {
        for (sum, t) in tallies.iter_mut().zip(w.join().unwrap()) {
            sum.add(t);
        }
    }
    tallies
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The pairs compared: a bare shape and a session shape of the same length.
const PAIRS: [[Shape; 2]; 3] = [
    [Shape::Bare1, Shape::Autocommit],
    [Shape::Bare5, Shape::Implicit5],
    [Shape::Bare5, Shape::Explicit5],
];

fn overhead(config: &Config) {
    println!(
        "## Session overhead: {} thread(s), {} s per pair and run, medians of {} run(s)\n",
        config.threads, config.seconds, config.runs
    );
    println!("| store | bare | statements/s | session | statements/s | aborts | session overhead (CPU per statement) |");
    println!("| --- | --- | ---: | --- | ---: | ---: | ---: |");
    for storage in Storage::ALL {
        let db = Database::new(storage);
        let t: T = db.create_table("t").unwrap();
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
            db.transact(|tx| {
                chunk
                    .iter()
                    .try_for_each(|&k| tx.insert(&t, k, [k as i64, 0, 0, 0]))
            })
            .unwrap();
        }
        for shapes in PAIRS {
            let (mut rates, mut overheads, mut aborts) = ([vec![], vec![]], vec![], vec![]);
            for _ in 0..config.runs {
                let tallies = pair(&db, &t, shapes, config.threads, config.seconds);
                let statements = |i: usize| (tallies[i].committed * shapes[i].len()) as f64;
                for i in 0..2 {
                    // Each worker's blocks of a shape took `wall`; they ran
                    // side by side on `threads` threads.
                    let wall = tallies[i].wall.as_secs_f64() / config.threads as f64;
                    rates[i].push(statements(i) / wall.max(1e-9));
                }
                let cost = |i: usize| tallies[i].cpu.as_secs_f64() / statements(i).max(1.0);
                overheads.push((cost(1) / cost(0) - 1.0) * 100.0);
                let tally = tallies[1];
                aborts.push(tally.aborted as f64 / (tally.committed + tally.aborted).max(1) as f64);
            }
            println!(
                "| {} | {} | {:.0} | {} | {:.0} | {:.2} % | {:+.1} % |",
                storage.name(),
                shapes[0].name(),
                median(&mut rates[0]),
                shapes[1].name(),
                median(&mut rates[1]),
                median(&mut aborts) * 100.0,
                median(&mut overheads),
            );
        }
    }
    println!("\n(Medians over the runs. Within a run every worker alternates blocks of {BLOCK} transactions of the bare shape and of the session shape; `session overhead`: the session shape's CPU time per committed statement over the bare shape's, minus one (negative: cheaper). CPU time is the workers' own (`CLOCK_THREAD_CPUTIME_ID`), so that other processes on a shared machine count least; `aborts`: the session shape's share of transactions a write conflict rolled back.)\n");
}

/// One switchover under load; returns whether the acknowledged increments
/// check out.
fn switchover(config: &Config, timeout: Duration) -> bool {
    let n = config.sessions;
    let (old, new) = (Database::new(Storage::Delta), Database::new(Storage::Delta));
    let t: T = old.create_table("counters").unwrap();
    let t_new: T = new.create_table("counters").unwrap();
    for (db, t) in [(&old, &t), (&new, &t_new)] {
        db.transact(|tx| (0..n as u64).try_for_each(|k| tx.insert(t, k, [0; 4])))
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let longest = config.longest;
    let workers: Vec<_> = (0..n)
        .map(|i| {
            let (mut s, t, stop, open) = (old.session(), t.clone(), stop.clone(), open.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(i as u64 + 1);
                let (mut acked, mut lost) = (0i64, 0usize);
                let k = i as u64;
                // Relaxed: a stop flag; it carries no data.
                while !stop.load(Ordering::Relaxed) {
                    if i % 2 == 0 {
                        let pause =
                            Duration::from_micros(rng.below(longest.as_micros() as u64) / 5);
                        let r = s.begin().and_then(|()| {
                            // Relaxed: a gauge printed at the switchover's start.
                            open.fetch_add(1, Ordering::Relaxed);
                            let r = s.modify(&t, &k, |r| r[0] += 1).and_then(|()| {
                                for _ in 0..5 {
                                    thread::sleep(pause);
                                    s.get(&t, &k)?;
                                }
                                s.commit()
                            });
                            // Relaxed: the same gauge.
                            open.fetch_sub(1, Ordering::Relaxed);
                            r
                        });
                        match r {
                            Ok(()) => acked += 1,
                            Err(Error::SessionLost) => lost += 1,
                            Err(e) => panic!("session {i}: {e}"),
                        }
                    } else {
                        match s.modify(&t, &k, |r| r[0] += 1) {
                            Ok(()) => acked += 1,
                            Err(Error::SessionLost) => lost += 1,
                            Err(e) => panic!("session {i}: {e}"),
                        }
                        thread::sleep(Duration::from_millis(1));
                    }
                }
                (acked, lost)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    // Relaxed: a gauge, approximate by nature.
    let in_txn = open.load(Ordering::Relaxed);
    let report = old.switchover(&new, timeout).unwrap();
    thread::sleep(Duration::from_millis(300));
    // Relaxed: see the load in the workers.
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(i64, usize)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let (so, sn) = (old.snapshot(), new.snapshot());
    let mut ok = true;
    for (k, &(acked, _)) in results.iter().enumerate() {
        let k = k as u64;
        let stored = so.get(&t, &k).unwrap().unwrap()[0] + sn.get(&t_new, &k).unwrap().unwrap()[0];
        ok &= stored == acked;
    }
    let told: usize = results.iter().map(|r| r.1).sum();
    println!(
        "| {:.0} s | {} | {} | {} | {} | {} | {:.0} ms | {} |",
        timeout.as_secs_f64(),
        n,
        in_txn,
        report.moved,
        report.lost,
        told,
        report.drain.as_secs_f64() * 1e3,
        if ok { "yes" } else { "NO" }
    );
    ok
}

fn main() -> ExitCode {
    let config = match Config::from_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sessions: {e}");
            return ExitCode::FAILURE;
        }
    };
    overhead(&config);
    println!(
        "## Switchover under load: {} sessions (half in explicit transactions open up to {} ms), delta store\n",
        config.sessions,
        config.longest.as_millis()
    );
    println!("| timeout | sessions | in a txn at start | moved | lost | told SessionLost | drain | acknowledged commits all kept |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut ok = true;
    for &timeout in &config.timeouts {
        ok &= switchover(&config, timeout);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("sessions: an acknowledged commit is missing");
        ExitCode::FAILURE
    }
}
