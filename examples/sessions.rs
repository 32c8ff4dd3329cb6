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
//! * `bare 1`: `begin`, one statement, `commit`: a bare [`Transaction`];
//! * `autocommit`: a session with autocommit on, one statement (the same
//!   work: each statement is its own transaction);
//! * `bare 5`: `begin`, five statements, `commit`;
//! * `implicit 5`: a session with autocommit off, five statements, `commit`;
//! * `explicit 5`: a session, `begin`, five statements, `commit`.
//!
//! Cells run interleaved, `RUNS` times each, and the table gives the median
//! statements/s (committed transactions' statements; a write conflict rolls
//! its transaction back, is counted as an abort and not retried), the
//! median statements per second of the workers' own CPU time (Linux:
//! `/proc/thread-self/schedstat`; the measure that other processes on a
//! shared machine disturb least), and from it the session shapes' overhead
//! against the bare shape of the same length.
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

/// xorshift64*: a small generator, one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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
    const ALL: [Shape; 5] = [
        Shape::Bare1,
        Shape::Autocommit,
        Shape::Bare5,
        Shape::Implicit5,
        Shape::Explicit5,
    ];

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

    /// The bare shape of the same length.
    fn base(self) -> Shape {
        if self.len() == 1 {
            Shape::Bare1
        } else {
            Shape::Bare5
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

/// The CPU time this thread has run, from Linux's
/// `/proc/thread-self/schedstat` (`None` elsewhere).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// What one cell measured.
struct Cell {
    /// Committed statements per second of wall time.
    rate: f64,
    /// Committed statements per second of the workers' CPU time (wall time
    /// × threads where the CPU time is unknown): the cost of a statement,
    /// insensitive to other processes taking the cores.
    cpu_rate: f64,
    /// The share of transactions a conflict rolled back.
    aborts: f64,
}

/// Runs `shape` on `db` with `threads` threads for `seconds`.
fn cell(db: &Database, t: &T, shape: Shape, threads: usize, seconds: f64) -> Cell {
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let (db, t, stop, barrier) = (db.clone(), t.clone(), stop.clone(), barrier.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(i as u64 + 1);
                let mut s = db.session();
                if shape == Shape::Implicit5 {
                    s.set_autocommit(false).unwrap();
                }
                let (mut committed, mut aborted) = (0u64, 0u64);
                barrier.wait();
                let (wall, cpu) = (Instant::now(), thread_cpu());
                // Relaxed: a stop flag; it carries no data.
                while !stop.load(Ordering::Relaxed) {
                    match transaction(shape, &db, &mut s, &t, &mut rng) {
                        Ok(true) => committed += 1,
                        Ok(false) => aborted += 1,
                        Err(e) => panic!("{}: {e}", shape.name()),
                    }
                }
                let cpu = match (cpu, thread_cpu()) {
                    (Some(a), Some(b)) => b.saturating_sub(a),
                    _ => wall.elapsed(),
                };
                (committed, aborted, cpu)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    thread::sleep(Duration::from_secs_f64(seconds));
    // Relaxed: see the load above.
    stop.store(true, Ordering::Relaxed);
    let (mut committed, mut aborted, mut cpu) = (0, 0, Duration::ZERO);
    for w in workers {
        let (c, a, t) = w.join().unwrap();
        committed += c;
        aborted += a;
        cpu += t;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let statements = (committed * shape.len()) as f64;
    let attempts = (committed + aborted).max(1) as f64;
    Cell {
        rate: statements / elapsed,
        cpu_rate: statements / cpu.as_secs_f64().max(1e-9),
        aborts: aborted as f64 / attempts,
    }
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

fn overhead(config: &Config) {
    println!(
        "## Session overhead: {} thread(s), {} s per cell, median of {} run(s)\n",
        config.threads, config.seconds, config.runs
    );
    println!(
        "| store | shape | statements/s | statements/CPU-s | aborts | overhead vs bare (CPU) |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
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
        let mut cells: Vec<Vec<Cell>> = Shape::ALL.iter().map(|_| Vec::new()).collect();
        for _ in 0..config.runs {
            for (i, shape) in Shape::ALL.into_iter().enumerate() {
                cells[i].push(cell(&db, &t, shape, config.threads, config.seconds));
            }
        }
        let of =
            |i: usize, f: fn(&Cell) -> f64| median(&mut cells[i].iter().map(f).collect::<Vec<_>>());
        let cpu: Vec<f64> = (0..Shape::ALL.len())
            .map(|i| of(i, |c| c.cpu_rate))
            .collect();
        for (i, shape) in Shape::ALL.into_iter().enumerate() {
            let base = cpu[Shape::ALL.iter().position(|&s| s == shape.base()).unwrap()];
            let vs = if shape == shape.base() {
                "-".to_owned()
            } else {
                format!("{:+.1} %", (base / cpu[i] - 1.0) * 100.0)
            };
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.2} % | {} |",
                storage.name(),
                shape.name(),
                of(i, |c| c.rate),
                cpu[i],
                of(i, |c| c.aborts) * 100.0,
                vs
            );
        }
    }
    println!("\n(Medians over the runs. `overhead vs bare (CPU)`: how much more CPU time a statement of the session shape costs than one of the bare shape of the same length (statements/CPU-s of bare ÷ session − 1); negative: cheaper. CPU time is the workers' own, from /proc/thread-self/schedstat, so other processes on the machine do not count.)\n");
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
