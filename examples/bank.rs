//! The main job: concurrent bank transfers on every version store.
//!
//! ```text
//! cargo run --release --example bank [-- THREADS ACCOUNTS TRANSFERS]
//! ```
//!
//! For each store in [`Storage::ALL`]: open `ACCOUNTS` accounts, then run
//! `THREADS` transfer threads that together commit `TRANSFERS` transfers
//! (each run by `Database::transact`, which retries it from the start after
//! `Error::WriteConflict`) beside
//! `THREADS` reader threads that scan every account in one snapshot until the
//! transfers are done. Every snapshot must hold the same total (atomic
//! visibility, A1), a scan repeated in the same transaction must read the same
//! rows (snapshot, S1), and at the end the accounts must hold every committed
//! transfer (first updater wins, W1: no lost update).
//!
//! Prints one row per store and exits with status 1 if any check failed
//! (status 2 for bad arguments).

use multiverse::{Database, Error, Storage, Table, Transaction};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const DEFAULT_THREADS: usize = 2;
const DEFAULT_ACCOUNTS: u64 = 1_000;
const DEFAULT_TRANSFERS: usize = 600_000;

const INITIAL_BALANCE: i64 = 1_000;
/// The largest amount of one transfer.
const MAX_AMOUNT: i64 = 100;
/// Every this many scans, a reader scans twice in the same transaction.
const RESCAN_EVERY: usize = 8;

/// `[balance, transfers that touched the account]`.
type Account = [i64; 2];
const BALANCE: usize = 0;
const TOUCHED: usize = 1;

#[path = "shared/rng.rs"]
mod rng;
use rng::Rng;

struct Config {
    threads: usize,
    accounts: u64,
    transfers: usize,
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.len() > 3 {
            return Err(format!("expected at most 3 arguments, got {}", args.len()));
        }
        let arg = |i: usize, default: u64| -> Result<u64, String> {
            match args.get(i) {
                None => Ok(default),
                Some(s) => s
                    .parse()
                    .map_err(|e| format!("argument {} ({s:?}): {e}", i + 1)),
            }
        };
        let config = Config {
            threads: arg(0, DEFAULT_THREADS as u64)? as usize,
            accounts: arg(1, DEFAULT_ACCOUNTS)?,
            transfers: arg(2, DEFAULT_TRANSFERS as u64)? as usize,
        };
        if config.threads == 0 || config.accounts < 2 {
            return Err("need at least 1 thread and 2 accounts".into());
        }
        Ok(config)
    }

    fn total(&self) -> i64 {
        self.accounts as i64 * INITIAL_BALANCE
    }
}

/// What one transfer thread did.
#[derive(Default)]
struct WriterCounts {
    commits: usize,
    conflicts: usize,
    /// Transfers turned down for lack of funds (rolled back, not retried).
    declined: usize,
}

/// What one reader thread saw.
#[derive(Default)]
struct ReaderCounts {
    scans: usize,
    /// Descriptions of the snapshots that broke an invariant.
    violations: Vec<String>,
}

/// One row of the report.
struct Outcome {
    storage: Storage,
    writers: WriterCounts,
    scans: usize,
    elapsed: Duration,
    violations: Vec<String>,
}

/// One transfer, in the transaction `tx`: `Ok(false)` (and nothing
/// written) if `from` lacks the funds.
fn transfer(
    tx: &mut Transaction,
    accounts: &Table<u64, Account>,
    from: u64,
    to: u64,
    amount: i64,
) -> Result<bool, Error> {
    let balance = tx.get(accounts, &from)?.ok_or(Error::NotFound)?[BALANCE];
    if balance < amount {
        return Ok(false);
    }
    tx.modify(accounts, &from, |r| {
        r[BALANCE] -= amount;
        r[TOUCHED] += 1;
    })?;
    tx.modify(accounts, &to, |r| {
        r[BALANCE] += amount;
        r[TOUCHED] += 1;
    })?;
    Ok(true)
}

/// Commits `quota` transfers, retrying each after a write conflict.
fn writer(
    db: &Database,
    accounts: &Table<u64, Account>,
    n: u64,
    quota: usize,
    seed: u64,
) -> Result<WriterCounts, Error> {
    let mut rng = Rng::new(seed);
    let mut counts = WriterCounts::default();
    while counts.commits < quota {
        let from = rng.below(n);
        let to = (from + 1 + rng.below(n - 1)) % n;
        let amount = 1 + rng.below(MAX_AMOUNT as u64) as i64;
        let mut attempts = 0;
        let done = db.transact(|tx| {
            attempts += 1;
            transfer(tx, accounts, from, to, amount)
        })?;
        counts.conflicts += attempts - 1;
        if done {
            counts.commits += 1;
        } else {
            counts.declined += 1;
        }
    }
    Ok(counts)
}

/// Scans every account in one snapshot until `done`, checking each snapshot.
fn reader(
    db: &Database,
    accounts: &Table<u64, Account>,
    config: &Config,
    done: &AtomicBool,
) -> Result<ReaderCounts, Error> {
    let mut counts = ReaderCounts::default();
    // At least one scan, however fast the writers were.
    loop {
        let finished = done.load(Ordering::Acquire);
        let tx = db.begin();
        let rows: Vec<(u64, Account)> = tx.scan(accounts, ..)?.collect();
        counts.scans += 1;
        let total: i64 = rows.iter().map(|(_, r)| r[BALANCE]).sum();
        if rows.len() as u64 != config.accounts || total != config.total() {
            counts.violations.push(format!(
                "snapshot {:?}: {} accounts holding {total}, expected {} holding {}",
                tx.snapshot(),
                rows.len(),
                config.accounts,
                config.total()
            ));
        }
        if counts.scans % RESCAN_EVERY == 0 {
            let again: Vec<(u64, Account)> = tx.scan(accounts, ..)?.collect();
            if again != rows {
                counts.violations.push(format!(
                    "snapshot {:?}: a second scan in the same transaction read other rows",
                    tx.snapshot()
                ));
            }
        }
        tx.commit()?;
        if finished {
            return Ok(counts);
        }
    }
}

/// The bank on one store.
fn run(storage: Storage, config: &Config) -> Result<Outcome, Error> {
    // Every transfer must commit: retry for as long as it takes.
    let db = Database::builder()
        .storage(storage)
        .transact_attempts(u32::MAX)
        .build();
    let accounts: Table<u64, Account> = db.create_table("accounts")?;
    let mut tx = db.begin();
    for id in 0..config.accounts {
        tx.insert(&accounts, id, [INITIAL_BALANCE, 0])?;
    }
    tx.commit()?;

    let done = AtomicBool::new(false);
    let (writers, readers, elapsed) = thread::scope(|s| {
        let readers: Vec<_> = (0..config.threads)
            .map(|_| s.spawn(|| reader(&db, &accounts, config, &done)))
            .collect();
        let start = Instant::now();
        let writers: Vec<_> = (0..config.threads)
            .map(|i| {
                let quota = config.transfers / config.threads
                    + usize::from(i < config.transfers % config.threads);
                let (db, accounts) = (&db, &accounts);
                s.spawn(move || writer(db, accounts, config.accounts, quota, i as u64 + 1))
            })
            .collect();
        let writers: Vec<_> = writers.into_iter().map(join).collect();
        let elapsed = start.elapsed();
        done.store(true, Ordering::Release);
        let readers: Vec<_> = readers.into_iter().map(join).collect();
        (writers, readers, elapsed)
    });

    let mut outcome = Outcome {
        storage,
        writers: WriterCounts::default(),
        scans: 0,
        elapsed,
        violations: Vec::new(),
    };
    for w in writers {
        let w = w?;
        outcome.writers.commits += w.commits;
        outcome.writers.conflicts += w.conflicts;
        outcome.writers.declined += w.declined;
    }
    for r in readers {
        let r = r?;
        outcome.scans += r.scans;
        outcome.violations.extend(r.violations);
    }

    // No lost update: every committed transfer touched two accounts.
    let tx = db.begin();
    let (mut total, mut touched, mut rows) = (0, 0, 0);
    for (_, r) in tx.scan(&accounts, ..)? {
        total += r[BALANCE];
        touched += r[TOUCHED];
        rows += 1;
    }
    if rows != config.accounts || total != config.total() {
        outcome.violations.push(format!(
            "final state: {rows} accounts holding {total}, expected {} holding {}",
            config.accounts,
            config.total()
        ));
    }
    if touched != 2 * outcome.writers.commits as i64 {
        outcome.violations.push(format!(
            "final state: {touched} account updates for {} committed transfers (lost updates)",
            outcome.writers.commits
        ));
    }
    Ok(outcome)
}

/// Joins a scoped thread, passing its panic on.
fn join<R>(handle: thread::ScopedJoinHandle<'_, R>) -> R {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn main() -> ExitCode {
    let config = match Config::from_args() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bank: {e}");
            eprintln!("usage: bank [THREADS [ACCOUNTS [TRANSFERS]]]");
            return ExitCode::from(2);
        }
    };
    println!(
        "bank: {} transfer + {} reader threads, {} accounts of {INITIAL_BALANCE}, \
         {} transfers per store, gc {}",
        config.threads,
        config.threads,
        config.accounts,
        config.transfers,
        Database::builder().build().gc_policy().name(),
    );
    println!(
        "{:<12} {:>9} {:>10} {:>9} {:>12} {:>8}  invariant",
        "store", "commits", "conflicts", "declined", "commits/s", "scans"
    );
    let mut failed = false;
    for storage in Storage::ALL {
        let outcome = match run(storage, &config) {
            Ok(outcome) => outcome,
            Err(e) => {
                println!("{:<12} error: {e}", storage.name());
                failed = true;
                continue;
            }
        };
        let w = &outcome.writers;
        let ok = outcome.violations.is_empty();
        println!(
            "{:<12} {:>9} {:>10} {:>9} {:>12.0} {:>8}  {}",
            outcome.storage.name(),
            w.commits,
            w.conflicts,
            w.declined,
            w.commits as f64 / outcome.elapsed.as_secs_f64(),
            outcome.scans,
            if ok { "held" } else { "VIOLATED" }
        );
        for v in outcome.violations.iter().take(5) {
            eprintln!("  {}: {v}", outcome.storage.name());
        }
        if outcome.violations.len() > 5 {
            eprintln!("  ... and {} more", outcome.violations.len() - 5);
        }
        failed |= !ok;
    }
    if failed {
        eprintln!("bank: an invariant was violated");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
