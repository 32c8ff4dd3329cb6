//! A durable bank that survives being killed: run it, `kill -9` it at any
//! moment, run it again.
//!
//! ```text
//! cargo run --release --example durable_bank -- DIR [--seconds S] [--threads N] [--buffered] [--store NAME]
//! cargo run --release --example durable_bank -- DIR --check
//! ```
//!
//! Opens (or recovers) the database in `DIR` under `Durability::Sync` (or
//! `Buffered`), checks the recovered bank (the total of every balance is
//! the initial total, each account's balance is what its recovered
//! transfers say), then runs `N` threads of random transfers for `S`
//! seconds (default: until killed), checkpointing every second, and prints
//! the commits per second. `--check` recovers, checks and exits. Exits with
//! status 1 if a check fails, 2 on bad arguments.
//!
//! For example:
//!
//! ```text
//! cargo run --release --example durable_bank -- /tmp/bank &
//! sleep 3; kill -9 $!
//! cargo run --release --example durable_bank -- /tmp/bank --check
//! ```

use multiverse::{Database, Durability, Error, Storage, Table};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ACCOUNTS: u64 = 1_000;
const INITIAL: i64 = 1_000;

/// `[balance, transfers in, transfers out]`.
type Accounts = Table<u64, [i64; 3]>;

struct Args {
    dir: String,
    seconds: Option<f64>,
    threads: usize,
    durability: Durability,
    storage: Storage,
    check: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or(
        "usage: durable_bank DIR [--seconds S] [--threads N] [--buffered] [--store NAME] [--check]",
    )?;
    let mut parsed = Args {
        dir,
        seconds: None,
        threads: 2,
        durability: Durability::Sync,
        storage: Storage::default(),
        check: false,
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => {
                parsed.seconds = Some(
                    value("--seconds")?
                        .parse()
                        .map_err(|e| format!("--seconds: {e}"))?,
                )
            }
            "--threads" => {
                parsed.threads = value("--threads")?
                    .parse()
                    .map_err(|e| format!("--threads: {e}"))?
            }
            "--buffered" => parsed.durability = Durability::Buffered,
            "--check" => parsed.check = true,
            "--store" => {
                let name = value("--store")?;
                parsed.storage = Storage::ALL
                    .into_iter()
                    .find(|s| s.to_string() == name)
                    .ok_or(format!(
                        "--store: one of {:?}",
                        Storage::ALL.map(|s| s.to_string())
                    ))?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

/// Checks the recovered bank; returns the number of transfers it holds.
fn check(db: &Database, accounts: &Accounts) -> Result<u64, String> {
    let rows: Vec<(u64, [i64; 3])> = db
        .snapshot()
        .scan(accounts, ..)
        .map_err(|e| e.to_string())?
        .collect();
    if rows.len() as u64 != ACCOUNTS {
        return Err(format!("{} accounts, expected {ACCOUNTS}", rows.len()));
    }
    let total: i64 = rows.iter().map(|(_, r)| r[0]).sum();
    if total != ACCOUNTS as i64 * INITIAL {
        return Err(format!(
            "the total is {total}, expected {}",
            ACCOUNTS as i64 * INITIAL
        ));
    }
    let (ins, outs): (i64, i64) = rows
        .iter()
        .fold((0, 0), |(i, o), (_, r)| (i + r[1], o + r[2]));
    if ins != outs {
        return Err(format!(
            "{ins} transfers in, {outs} out: a transfer was recovered in part"
        ));
    }
    Ok(ins as u64)
}

fn run(args: Args) -> Result<(), String> {
    let opened = Instant::now();
    let db = Database::builder()
        .storage(args.storage)
        .durability(args.durability)
        .open(&args.dir)
        .map_err(|e| e.to_string())?;
    let accounts: Accounts = match db.table("accounts") {
        Ok(t) => t,
        Err(Error::NoSuchTable { .. }) => {
            let t = db.create_table("accounts").map_err(|e| e.to_string())?;
            db.transact(|tx| (0..ACCOUNTS).try_for_each(|k| tx.insert(&t, k, [INITIAL, 0, 0])))
                .map_err(|e| e.to_string())?;
            t
        }
        Err(e) => return Err(e.to_string()),
    };
    let transfers = check(&db, &accounts)?;
    println!(
        "{}: recovered in {:.3} s, {transfers} transfers, total intact ({:?}, {})",
        args.dir,
        opened.elapsed().as_secs_f64(),
        args.durability,
        args.storage
    );
    if args.check {
        return Ok(());
    }
    let commits = AtomicU64::new(0);
    let deadline = args
        .seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..args.threads {
            let (db, accounts, commits) = (&db, &accounts, &commits);
            scope.spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(thread as u64 + 1)
                    ^ start.elapsed().as_nanos() as u64;
                while deadline.is_none_or(|d| Instant::now() < d) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let from = rng % ACCOUNTS;
                    let to = (from + 1 + (rng >> 10) % (ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = (rng >> 20) as i64 % 100 + 1;
                    let done = db.transact(|tx| {
                        tx.modify(accounts, &from, |r| {
                            r[0] -= amount;
                            r[2] += 1;
                        })?;
                        tx.modify(accounts, &to, |r| {
                            r[0] += amount;
                            r[1] += 1;
                        })
                    });
                    match done {
                        Ok(()) => {
                            commits.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.is_retryable() => {}
                        Err(e) => panic!("transfer: {e}"),
                    }
                }
            });
        }
        scope.spawn(|| {
            while deadline.is_none_or(|d| Instant::now() < d) {
                std::thread::sleep(Duration::from_secs(1));
                let before = Instant::now();
                match db.checkpoint() {
                    Ok(ts) => println!(
                        "{:>6.1} s: {} commits, checkpoint at {} in {:.3} s",
                        start.elapsed().as_secs_f64(),
                        commits.load(Ordering::Relaxed),
                        ts.get(),
                        before.elapsed().as_secs_f64()
                    ),
                    Err(e) => panic!("checkpoint: {e}"),
                }
            }
        });
    });
    let n = commits.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    check(&db, &accounts)?;
    println!(
        "{n} transfers in {secs:.2} s: {:.0} commits/s",
        n as f64 / secs
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("check failed: {e}");
            ExitCode::FAILURE
        }
    }
}
