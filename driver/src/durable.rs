//! The durable experiment (`durable`): what multiverse's log costs and
//! what it buys, against the disk's own limit and the durable databases a
//! user would pick instead.
//!
//! 1. **The limit.** [`fsync_latency`]: 128 bytes appended and
//!    `sync_data` (`fdatasync`), over and over, in a scratch directory
//!    beside the databases. A commit that waits for its own sync can do no
//!    better than one per sync; group commit shares one sync among every
//!    commit waiting then.
//! 2. **Commits/s.** The sweep of [`run`] over the durable subjects
//!    ([`subjects::durable`]) and the two update workloads
//!    ([`workload::UPDATES`]), at each thread count; [`figures`] derives
//!    what the targets of issue 12 speak of from it.
//! 3. **Recovery.** [`recovery`]: a durable database (`Buffered`, no
//!    automatic checkpoint) loaded and then given `records` single-row
//!    updates, closed, and timed while it opens and its table is named
//!    (recovery loads the table); then checkpointed, closed and timed
//!    again. The log's bytes per update against the row's bytes.
//! 4. **A checkpoint under load.** [`checkpoint_dip`]: updaters on a
//!    `Sync` database, commits counted every sample interval, one
//!    `checkpoint()` in the middle.

use crate::report::{self, Provenance};
use crate::run::{self, Measurement, Progress};
use crate::scratch::Scratch;
use crate::subjects::{self, load_rows, Entry, Mode};
use crate::workload;
use crate::zipf::Rng;
use multiverse::{Database, Durability, Error, Storage, Table};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The full-size recovery experiment: updates in the log.
pub const FULL_RECOVERY: [u64; 3] = [1_000_000, 5_000_000, 10_000_000];

/// The experiment's parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where every database and the sync probe live (a scratch directory
    /// under it each).
    pub dir: PathBuf,
    /// The sweep's parameters (rows, seconds per cell, retries).
    pub run: run::Config,
    /// Committer threads of the sweep.
    pub threads: Vec<usize>,
    /// The subjects, by name (empty: every durable subject).
    pub subjects: Vec<String>,
    /// Syncs the probe times.
    pub fsyncs: usize,
    /// The most updates in the log of the recovery experiment
    /// ([`recovery_sizes`]).
    pub recovery_records: u64,
    /// Rows of the recovery experiment's table.
    pub recovery_keys: u64,
    /// The store of the recovery and checkpoint experiments.
    pub store: Storage,
    /// Rows of the checkpoint experiment's table.
    pub checkpoint_keys: u64,
    /// How long the checkpoint experiment's updates run.
    pub checkpoint_seconds: Duration,
    /// Updater threads of the checkpoint experiment.
    pub checkpoint_threads: usize,
    /// The checkpoint experiment's sample interval.
    pub sample_every: Duration,
}

/// The disk's own sync latency.
#[derive(Clone, Debug, PartialEq)]
pub struct Fsync {
    /// Syncs timed.
    pub samples: usize,
    /// Their median.
    pub median: Duration,
    /// Their 99th percentile.
    pub p99: Duration,
}

impl Fsync {
    /// Commits/s at one sync per commit: the limit of a lone committer.
    pub fn limit(&self) -> f64 {
        1.0 / self.median.as_secs_f64().max(1e-9)
    }
}

/// Times `n` appends of 128 bytes, each followed by `sync_data`, on a
/// file in a scratch directory under `base` (after ten untimed ones).
pub fn fsync_latency(base: &Path, n: usize) -> Result<Fsync, String> {
    let err = |e: std::io::Error| format!("fsync probe: {e}");
    let dir = Scratch::new(base, "fsync").map_err(err)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("probe"))
        .map_err(err)?;
    let record = [0x5a_u8; 128];
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 10 {
        let start = Instant::now();
        file.write_all(&record).map_err(err)?;
        file.sync_data().map_err(err)?;
        if i >= 10 {
            times.push(start.elapsed());
        }
    }
    Ok(summarise(times))
}

/// The median and 99th percentile of `times` (not empty).
fn summarise(mut times: Vec<Duration>) -> Fsync {
    times.sort();
    let n = times.len().max(1);
    let at = |q: usize| times.get((n * q / 100).min(n - 1)).copied();
    Fsync {
        samples: times.len(),
        median: at(50).unwrap_or_default(),
        p99: at(99).unwrap_or_default(),
    }
}

/// The selected durable subjects under `dir`, in registry order.
pub fn entries(config: &Config) -> Result<Vec<Entry>, String> {
    let all = subjects::durable(&config.dir);
    if let Some(bad) = config
        .subjects
        .iter()
        .find(|w| !all.iter().any(|e| &e.name == *w))
    {
        let known: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        return Err(format!(
            "no durable subject {bad:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|e| config.subjects.is_empty() || config.subjects.contains(&e.name))
        .collect())
}

/// Syncs of the probe taken before each subject of the sweep.
pub const PROBE_PER_SUBJECT: usize = 100;

/// The probes of the sweep: each subject's name and the sync latency just
/// before it ran.
pub type Probes = Vec<(String, Fsync)>;

/// The sweep: every selected subject through both update workloads at
/// every thread count, one subject at a time, with the disk's sync latency
/// probed ([`PROBE_PER_SUBJECT`] syncs) just before each: the disk is
/// shared and its latency drifts, so a subject's one-thread rate is judged
/// against the latency of its own moment. Returns the cells and the
/// probes, by subject.
pub fn throughput(
    config: &Config,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<(Vec<Measurement>, Probes), String> {
    let (mut results, mut probes) = (Vec::new(), Vec::new());
    for entry in entries(config)? {
        probes.push((
            entry.name.clone(),
            fsync_latency(&config.dir, PROBE_PER_SUBJECT)?,
        ));
        results.extend(run::sweep(
            std::slice::from_ref(&entry),
            &workload::UPDATES,
            &config.threads,
            &config.run,
            &mut progress,
        )?);
    }
    Ok((results, probes))
}

/// The commits/s of `subject` on `workload` at `threads`, if measured.
fn rate(results: &[Measurement], subject: &str, workload: &str, threads: usize) -> Option<f64> {
    results
        .iter()
        .find(|m| m.subject == subject && m.workload == workload && m.threads == threads)
        .map(Measurement::throughput)
}

/// `x` as `1.23`, or `-`.
fn num(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.2}"))
}

/// `x` as a whole number, or `-`.
fn whole(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.0}"))
}

/// Whether `x` meets `target` (at least), or `-`.
fn meets(x: Option<f64>, target: f64) -> &'static str {
    match x {
        Some(x) if x >= target => "yes",
        Some(_) => "no",
        None => "-",
    }
}

/// `a / b`, if both are there and `b` is not 0.
fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The figures issue 12's targets speak of, from the sweep, as Markdown
/// tables: `Sync` at 1 thread against one sync per commit, group commit
/// (32 threads against 1), `Sync` against redb and SQLite from 8 threads
/// up, and `Buffered` against the same store in memory.
pub fn figures(
    results: &[Measurement],
    fsync: &Fsync,
    probes: &[(String, Fsync)],
    threads: &[usize],
) -> String {
    let mut out = String::new();
    let limit = fsync.limit();
    let stores = Storage::ALL;
    let workloads = workload::UPDATES.map(|w| w.name);
    let sync = |s: Storage| subjects::durable_name(s, Mode::Sync);
    let probe = |name: &str| probes.iter().find(|p| p.0 == name).map(|p| &p.1);

    let _ = writeln!(
        out,
        "### Sync, 1 thread, against one fdatasync per commit\n\n\
         The limit: 1 / median fdatasync, from the probe taken just before the subject \
         ({PROBE_PER_SUBJECT} syncs), and from the first probe ({limit:.0} commits/s). \
         Target: within 1.2x of it (ratio ≥ 0.83).\n\n\
         | store | workload | commits/s | fdatasync median just before, ms | ratio to 1 / that \
         | meets | ratio to the first probe's limit |\n\
         | --- | --- | ---: | ---: | ---: | --- | ---: |"
    );
    for s in stores {
        for w in workloads {
            let r = rate(results, &sync(s), w, 1);
            let before = probe(&sync(s));
            let ratio = div(r, before.map(Fsync::limit));
            let _ = writeln!(
                out,
                "| {} | {w} | {} | {} | {} | {} | {} |",
                s.name(),
                whole(r),
                before.map_or("-".into(), |p| format!(
                    "{:.3}",
                    p.median.as_secs_f64() * 1e3
                )),
                num(ratio),
                meets(ratio, 1.0 / 1.2),
                num(r.map(|r| r / limit)),
            );
        }
    }

    let many = if threads.contains(&32) {
        32
    } else {
        threads.iter().copied().max().unwrap_or(1)
    };
    let _ = writeln!(
        out,
        "\n### Group commit: Sync at {many} threads against 1 thread\n\n\
         Target (at 32 threads): ≥ 8x.\n\n\
         | store | workload | 1 thread | {many} threads | ratio | meets |\n\
         | --- | --- | ---: | ---: | ---: | --- |"
    );
    for s in stores {
        for w in workloads {
            let one = rate(results, &sync(s), w, 1);
            let top = rate(results, &sync(s), w, many);
            let ratio = div(top, one);
            let _ = writeln!(
                out,
                "| {} | {w} | {} | {} | {} | {} |",
                s.name(),
                whole(one),
                whole(top),
                num(ratio),
                if many == 32 { meets(ratio, 8.0) } else { "-" }
            );
        }
    }

    let _ = writeln!(
        out,
        "\n### Sync against redb and SQLite from 8 threads up\n\n\
         Target: ≥ 3x both. `worst` and `best` are the slowest and fastest multiverse store \
         under Sync; fjall is shown beside them.\n\n\
         | workload | threads | mv sync worst | mv sync best | redb | SQLite | fjall \
         | worst / redb | worst / SQLite | best / redb | best / SQLite | worst meets |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for w in workloads {
        for &t in threads.iter().filter(|&&t| t >= 8) {
            let mv: Vec<f64> = stores
                .iter()
                .filter_map(|&s| rate(results, &sync(s), w, t))
                .collect();
            let worst = mv.iter().copied().reduce(f64::min);
            let best = mv.iter().copied().reduce(f64::max);
            let redb = rate(results, "redb-immediate", w, t);
            let sqlite = rate(results, "sqlite-wal-full", w, t);
            let fjall = rate(results, "fjall-syncdata", w, t);
            let both = match (div(worst, redb), div(worst, sqlite)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            let _ = writeln!(
                out,
                "| {w} | {t} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                whole(worst),
                whole(best),
                whole(redb),
                whole(sqlite),
                whole(fjall),
                num(div(worst, redb)),
                num(div(worst, sqlite)),
                num(div(best, redb)),
                num(div(best, sqlite)),
                meets(both, 3.0),
            );
        }
    }

    let _ = writeln!(
        out,
        "\n### Buffered against the same store in memory\n\n\
         Target: ≥ 0.8x. Each cell: Buffered commits/s / in-memory commits/s.\n\n\
         | store | workload |{}\n| --- | --- |{}",
        threads
            .iter()
            .map(|t| format!(" {t} thr |"))
            .collect::<String>(),
        " ---: |".repeat(threads.len())
    );
    for s in stores {
        for w in workloads {
            let cells: String = threads
                .iter()
                .map(|&t| {
                    let b = rate(results, &subjects::durable_name(s, Mode::Buffered), w, t);
                    let m = rate(results, &subjects::durable_name(s, Mode::Memory), w, t);
                    let ratio = div(b, m);
                    let mark = match meets(ratio, 0.8) {
                        "no" => " (no)",
                        _ => "",
                    };
                    format!(" {}{mark} |", num(ratio))
                })
                .collect();
            let _ = writeln!(out, "| {} | {w} |{cells}", s.name());
        }
    }
    out
}

/// The recovery experiment's sizes: [`FULL_RECOVERY`] if `cap` reaches
/// its largest, else the same proportions scaled down to end at `cap`
/// (a tenth, a half, all of it).
pub fn recovery_sizes(cap: u64) -> Vec<u64> {
    let top = FULL_RECOVERY[FULL_RECOVERY.len() - 1];
    let mut sizes: Vec<u64> = if cap >= top {
        FULL_RECOVERY.to_vec()
    } else {
        FULL_RECOVERY.iter().map(|&s| s * cap / top).collect()
    };
    sizes.retain(|&s| s > 0);
    sizes.dedup();
    sizes
}

/// One recovery measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// Attributes per row (`[i64; attrs]`).
    pub attrs: usize,
    /// Rows in the table.
    pub keys: u64,
    /// Single-row updates in the log, after the load.
    pub records: u64,
    /// Seconds the updates took (2 threads, `Buffered`).
    pub fill_s: f64,
    /// Bytes the updates added to the directory: the log they wrote.
    pub log_bytes: u64,
    /// Bytes of the directory before the reopen: the load and the updates.
    pub dir_bytes: u64,
    /// Seconds to open the database and name its table, from the log.
    pub open_s: f64,
    /// Seconds `checkpoint()` took on the recovered database.
    pub checkpoint_s: f64,
    /// Bytes of the directory after the checkpoint.
    pub checkpoint_dir_bytes: u64,
    /// Seconds to open and name the table again, from the checkpoint.
    pub open_after_checkpoint_s: f64,
}

impl Recovery {
    /// Log bytes per update.
    pub fn bytes_per_update(&self) -> f64 {
        self.log_bytes as f64 / self.records.max(1) as f64
    }

    /// Bytes of a row's attributes.
    pub fn row_bytes(&self) -> usize {
        8 * self.attrs
    }
}

/// A multiverse error as text.
fn mv(what: &str) -> impl Fn(Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Adds one to attribute 0 of a random row of `table` in `count`
/// single-row transactions, retrying conflicts; returns the conflicts.
fn update_rows<const N: usize>(
    db: &Database,
    table: &Table<u64, [i64; N]>,
    keys: u64,
    count: u64,
    seed: u64,
) -> u64 {
    let mut rng = Rng::new(seed);
    let mut conflicts = 0;
    for _ in 0..count {
        let key = rng.below(keys);
        loop {
            let mut tx = db.begin();
            let outcome = tx
                .modify(table, &key, |row| row[0] += 1)
                .and_then(|()| tx.commit().map(drop));
            match outcome {
                Ok(()) => break,
                Err(Error::WriteConflict | Error::Aborted) => conflicts += 1,
                Err(e) => panic!("durable: update: {e}"),
            }
        }
    }
    conflicts
}

/// Checks that `table` holds rows `0..keys` whose attribute 0 adds up to
/// `updates` above the loaded rows: nothing was lost or applied twice.
fn check<const N: usize>(
    db: &Database,
    table: &Table<u64, [i64; N]>,
    keys: u64,
    updates: u64,
) -> Result<(), String> {
    let (mut rows, mut sum) = (0u64, 0i64);
    for (k, row) in db.snapshot().scan(table, ..).map_err(mv("scan"))? {
        rows += 1;
        sum += row[0] - k as i64;
    }
    if rows != keys || sum != updates as i64 {
        return Err(format!(
            "recovered {rows} rows with {sum} updates, expected {keys} rows with {updates}"
        ));
    }
    Ok(())
}

/// Opens a database with `open` once its directory is no longer locked by
/// the database just dropped there, and returns it with the instant the
/// successful attempt started. The engine's background log thread can
/// hold the last reference to a dropped database for a moment (it
/// upgrades its weak one to sync the log), and the directory stays locked
/// until it lets go; waiting for that is not recovery, so it is not timed.
fn open_unlocked(
    open: &dyn Fn() -> multiverse::Result<Database>,
) -> Result<(Database, Instant), String> {
    for _ in 0..1_000 {
        let start = Instant::now();
        match open() {
            Ok(db) => return Ok((db, start)),
            Err(Error::Locked { .. }) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("open: {e}")),
        }
    }
    Err("open: the directory stayed locked for 10 s after its database was dropped".into())
}

/// The recovery experiment on rows of `[i64; N]`, with `records` updates.
pub fn recovery<const N: usize>(config: &Config, records: u64) -> Result<Recovery, String> {
    let dir = Scratch::new(&config.dir, "recovery").map_err(|e| e.to_string())?;
    let open = || {
        Database::builder()
            .storage(config.store)
            .durability(Durability::Buffered)
            .checkpoint_after(u64::MAX)
            .open(dir.path())
    };
    let keys = config.recovery_keys;
    let (loaded, fill) = {
        let db = open().map_err(mv("open"))?;
        let table = db
            .create_table::<u64, [i64; N]>("usertable")
            .map_err(mv("create_table"))?;
        load_rows(&db, &table, keys)?;
        db.vacuum();
        let loaded = dir.bytes();
        let start = Instant::now();
        thread::scope(|s| {
            for i in 0..2 {
                let (db, table) = (&db, &table);
                let n = records / 2 + (i == 0) as u64 * (records % 2);
                s.spawn(move || update_rows(db, table, keys, n, i + 1));
            }
        });
        (loaded, start.elapsed())
    };
    let dir_bytes = dir.bytes();

    let (db, start) = open_unlocked(&open)?;
    let table = db
        .table::<u64, [i64; N]>("usertable")
        .map_err(mv("table"))?;
    let open_s = start.elapsed().as_secs_f64();
    check(&db, &table, keys, records)?;
    let start = Instant::now();
    db.checkpoint().map_err(mv("checkpoint"))?;
    let checkpoint_s = start.elapsed().as_secs_f64();
    drop(table);
    drop(db);
    let checkpoint_dir_bytes = dir.bytes();

    let (db, start) = open_unlocked(&open)?;
    let table = db
        .table::<u64, [i64; N]>("usertable")
        .map_err(mv("table"))?;
    let open_after_checkpoint_s = start.elapsed().as_secs_f64();
    check(&db, &table, keys, records)?;
    Ok(Recovery {
        attrs: N,
        keys,
        records,
        fill_s: fill.as_secs_f64(),
        log_bytes: dir_bytes.saturating_sub(loaded),
        dir_bytes,
        open_s,
        checkpoint_s,
        checkpoint_dir_bytes,
        open_after_checkpoint_s,
    })
}

/// The recovery runs as CSV.
pub fn recovery_csv(runs: &[Recovery], store: Storage) -> String {
    let mut out = String::from(
        "store,attrs,row_bytes,keys,records,fill_s,log_bytes,log_bytes_per_update,dir_bytes,\
         open_from_log_s,checkpoint_s,dir_bytes_after_checkpoint,open_from_checkpoint_s\n",
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.3},{},{:.1},{},{:.4},{:.4},{},{:.4}",
            store.name(),
            r.attrs,
            r.row_bytes(),
            r.keys,
            r.records,
            r.fill_s,
            r.log_bytes,
            r.bytes_per_update(),
            r.dir_bytes,
            r.open_s,
            r.checkpoint_s,
            r.checkpoint_dir_bytes,
            r.open_after_checkpoint_s
        );
    }
    out
}

/// The recovery runs as a Markdown table.
pub fn recovery_table(runs: &[Recovery]) -> String {
    let mut out = format!(
        "| row | row bytes | rows | updates in the log | log bytes | log bytes / update \
         | log bytes / update / row bytes | open + table() from the log, s \
         | updates in the log / that time | checkpoint(), s | dir bytes after \
         | open + table() after the checkpoint, s |\n| --- |{}\n",
        " ---: |".repeat(11)
    );
    for r in runs {
        let _ = writeln!(
            out,
            "| [i64; {}] | {} | {} | {} | {} | {:.1} | {:.2} | {:.3} | {:.0} | {:.3} | {} | {:.3} |",
            r.attrs,
            r.row_bytes(),
            r.keys,
            r.records,
            r.log_bytes,
            r.bytes_per_update(),
            r.bytes_per_update() / r.row_bytes() as f64,
            r.open_s,
            r.records as f64 / r.open_s.max(1e-9),
            r.checkpoint_s,
            r.checkpoint_dir_bytes,
            r.open_after_checkpoint_s,
        );
    }
    out
}

/// The checkpoint experiment's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Dip {
    /// Rows in the table.
    pub keys: u64,
    /// Updater threads.
    pub threads: usize,
    /// `(seconds since the updates started, commits so far)`, one per
    /// sample.
    pub samples: Vec<(f64, u64)>,
    /// When the checkpoint started, in seconds since the updates started.
    pub start_s: f64,
    /// When it returned.
    pub end_s: f64,
}

impl Dip {
    /// How long the checkpoint took.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }

    /// Commits/s over each sample interval, at the interval's end.
    pub fn rates(&self) -> Vec<(f64, f64)> {
        self.samples
            .windows(2)
            .map(|w| {
                let dt = (w[1].0 - w[0].0).max(1e-9);
                (w[1].0, (w[1].1 - w[0].1) as f64 / dt)
            })
            .collect()
    }

    /// Commits/s between `from` and `to` seconds, over the samples that
    /// bound it most closely from inside.
    pub fn rate_between(&self, from: f64, to: f64) -> Option<f64> {
        let first = self.samples.iter().find(|s| s.0 >= from)?;
        let last = self.samples.iter().rev().find(|s| s.0 <= to)?;
        (last.0 > first.0).then(|| (last.1 - first.1) as f64 / (last.0 - first.0))
    }

    /// Commits/s over the sample intervals that overlap `from..to`: the
    /// last sample at or before `from` to the first at or after `to` (a
    /// checkpoint shorter than a sample interval still has a rate).
    pub fn rate_covering(&self, from: f64, to: f64) -> Option<f64> {
        let first = self.samples.iter().rev().find(|s| s.0 <= from)?;
        let last = self.samples.iter().find(|s| s.0 >= to)?;
        (last.0 > first.0).then(|| (last.1 - first.1) as f64 / (last.0 - first.0))
    }

    /// The lowest and highest commits/s of a sample interval that overlaps
    /// the checkpoint.
    pub fn extremes_during(&self) -> Option<(f64, f64)> {
        let overlapping = self.samples.windows(2).filter_map(|w| {
            let dt = w[1].0 - w[0].0;
            (w[1].0 > self.start_s && w[0].0 < self.end_s && dt > 0.0)
                .then(|| (w[1].1 - w[0].1) as f64 / dt)
        });
        overlapping.fold(None, |acc, r| match acc {
            None => Some((r, r)),
            Some((lo, hi)) => Some((f64::min(lo, r), f64::max(hi, r))),
        })
    }

    /// Commits/s before, during (the sample intervals it overlaps) and
    /// after the checkpoint.
    pub fn phases(&self) -> [Option<f64>; 3] {
        let end = self.samples.last().map_or(0.0, |s| s.0);
        [
            self.rate_between(0.0, self.start_s),
            self.rate_covering(self.start_s, self.end_s),
            self.rate_between(self.end_s, end),
        ]
    }
}

/// The checkpoint experiment: `checkpoint_threads` updaters of single-row
/// transactions on a `Sync` database of `checkpoint_keys` rows, commits
/// counted every `sample_every`, `checkpoint()` called at half of
/// `checkpoint_seconds` (sampling goes on until it returned).
pub fn checkpoint_dip(config: &Config) -> Result<Dip, String> {
    let dir = Scratch::new(&config.dir, "checkpoint").map_err(|e| e.to_string())?;
    let db = Database::builder()
        .storage(config.store)
        .durability(Durability::Sync)
        .checkpoint_after(u64::MAX)
        .open(dir.path())
        .map_err(mv("open"))?;
    let keys = config.checkpoint_keys;
    let table = db
        .create_table::<u64, [i64; 4]>("usertable")
        .map_err(mv("create_table"))?;
    load_rows(&db, &table, keys)?;
    let commits = AtomicU64::new(0);
    let (stop, done) = (AtomicBool::new(false), AtomicBool::new(false));
    let start = Instant::now();
    let end = start + config.checkpoint_seconds;
    let mut samples = vec![(0.0, 0)];
    let (db, table) = (&db, &table);
    let window = thread::scope(|s| {
        for i in 0..config.checkpoint_threads {
            let (commits, stop) = (&commits, &stop);
            s.spawn(move || {
                let mut seed = i as u64 + 1;
                // Relaxed: a flag; the scope's join orders the rest.
                while !stop.load(Ordering::Relaxed) {
                    update_rows(db, table, keys, 1, seed);
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    // Relaxed: a statistic, read by the sampler.
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let checkpointer = s.spawn(|| {
            thread::sleep(config.checkpoint_seconds / 2);
            let from = start.elapsed().as_secs_f64();
            let outcome = db.checkpoint().map_err(mv("checkpoint"));
            let to = start.elapsed().as_secs_f64();
            // Relaxed: the sampler only needs to see it eventually.
            done.store(true, Ordering::Relaxed);
            outcome.map(|_| (from, to))
        });
        for i in 1u32.. {
            let at = start + config.sample_every * i;
            // Relaxed: as above.
            if at > end && done.load(Ordering::Relaxed) {
                break;
            }
            thread::sleep(at.saturating_duration_since(Instant::now()));
            // Relaxed: a statistic.
            samples.push((
                start.elapsed().as_secs_f64(),
                commits.load(Ordering::Relaxed),
            ));
        }
        // Relaxed: see the updaters.
        stop.store(true, Ordering::Relaxed);
        checkpointer.join().expect("the checkpointer panicked")
    })?;
    Ok(Dip {
        keys,
        threads: config.checkpoint_threads,
        samples,
        start_s: window.0,
        end_s: window.1,
    })
}

/// The checkpoint experiment's samples as CSV.
pub fn dip_csv(dip: &Dip) -> String {
    let mut out = String::from("t_s,commits,commits_per_s,checkpoint_running\n");
    let rates = dip.rates();
    for (i, &(t, c)) in dip.samples.iter().enumerate() {
        let rate = i
            .checked_sub(1)
            .and_then(|j| rates.get(j))
            .map_or(String::new(), |r| format!("{:.0}", r.1));
        let running = t > dip.start_s && t <= dip.end_s + 1e-9;
        let _ = writeln!(out, "{t:.3},{c},{rate},{}", running as u8);
    }
    out
}

/// A plotting error as text.
fn plot_err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// Commits/s over time with the checkpoint shaded.
pub fn plot_dip(dip: &Dip, store: Storage, path: &Path) -> Result<(), String> {
    let rates = dip.rates();
    let x_end = dip.samples.last().map_or(1.0, |s| s.0).max(1e-3);
    let y_top = rates.iter().map(|r| r.1).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "commits/s per {:.0} ms, mv-{} Sync, {} rows, {} updater threads; grey: checkpoint() ({:.2} s)",
                dip.rates().first().map_or(0.0, |r| r.0 * 1e3),
                store.name(),
                dip.keys,
                dip.threads,
                dip.duration_s()
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_end, 0f64..y_top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the updates started")
        .y_desc("commits/s")
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series([Rectangle::new(
            [(dip.start_s, 0.0), (dip.end_s, y_top)],
            RGBColor(210, 210, 210).filled(),
        )])
        .map_err(plot_err)?;
    chart
        .draw_series(LineSeries::new(rates, BLUE.stroke_width(2)))
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

/// The checkpoint experiment as a Markdown paragraph and table.
pub fn dip_table(dip: &Dip) -> String {
    let [before, during, after] = dip.phases();
    let extremes = dip.extremes_during();
    format!(
        "`checkpoint()` of {} rows took {:.3} s (from {:.2} s to {:.2} s) under {} updater \
         threads.\n\n| commits/s before | during (the sample intervals it overlaps) | after \
         | during / before | lowest interval during | highest interval during | lowest / before |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n| {} | {} | {} | {} | {} | {} | {} |\n",
        dip.keys,
        dip.duration_s(),
        dip.start_s,
        dip.end_s,
        dip.threads,
        whole(before),
        whole(during),
        whole(after),
        num(div(during, before)),
        whole(extremes.map(|e| e.0)),
        whole(extremes.map(|e| e.1)),
        num(div(extremes.map(|e| e.0), before)),
    )
}

/// `<out>/durable.md`: what reproduces the run, the sync latency, the
/// figures, the sweep's table and the other two experiments.
#[allow(clippy::too_many_arguments)]
pub fn markdown(
    provenance: &Provenance,
    config: &Config,
    fsync: &Fsync,
    fsync_after: Option<&Fsync>,
    results: &[Measurement],
    probes: &[(String, Fsync)],
    recoveries: &[Recovery],
    dip: Option<&Dip>,
) -> String {
    let Provenance {
        command,
        commit,
        date,
        machine,
        wall,
    } = provenance;
    let mut out = format!(
        "# durable\n\nCommand: `{command}`\n\nCommit: {commit} · date: {date} · wall time: {} \
         (the whole run) · machine: {machine} · databases under {}\n\n\
         ## The disk's own fdatasync\n\n{} appends of 128 bytes, each followed by \
         `sync_data`: median **{:.3} ms**, p99 {:.3} ms, so one sync per commit allows at \
         most **{:.0} commits/s**.{}\n\n",
        report::wall_time(*wall),
        config.dir.display(),
        fsync.samples,
        fsync.median.as_secs_f64() * 1e3,
        fsync.p99.as_secs_f64() * 1e3,
        fsync.limit(),
        fsync_after.map_or(String::new(), |a| format!(
            " The same probe after the sweep (the disk is shared, its latency drifts): \
             median {:.3} ms, p99 {:.3} ms ({:.0} commits/s); the ratios below use the first.",
            a.median.as_secs_f64() * 1e3,
            a.p99.as_secs_f64() * 1e3,
            a.limit()
        )),
    );
    if !probes.is_empty() {
        let _ = writeln!(
            out,
            "The probe before each subject of the sweep ({PROBE_PER_SUBJECT} syncs; median / p99, \
             ms):\n\n| subject | median | p99 |\n| --- | ---: | ---: |"
        );
        for (name, p) in probes {
            let _ = writeln!(
                out,
                "| {name} | {:.3} | {:.3} |",
                p.median.as_secs_f64() * 1e3,
                p.p99.as_secs_f64() * 1e3
            );
        }
        out.push('\n');
    }
    if !results.is_empty() {
        let _ = write!(
            out,
            "## Commits/s\n\n{} rows of [i64; {}] (uniform keys), update-1: one row updated \
             per transaction, update-10: ten; {:.1} s measured per cell after {:.1} s of \
             warm-up; conflicts retried (counted in `aborts`). Every cell in `durable.csv`, \
             plotted in `durable-throughput.svg`.\n\n{}\n#### Every cell\n\n```text{}```\n\n",
            config.run.keys,
            config.run.attrs,
            config.run.measure.as_secs_f64(),
            config.run.warmup.as_secs_f64(),
            figures(results, fsync, probes, &config.threads),
            report::table(results, &config.run),
        );
    }
    if !recoveries.is_empty() {
        let _ = write!(
            out,
            "## Recovery time against log size\n\nmv-{} under `Buffered`, no automatic \
             checkpoint: {} rows loaded, then single-row updates (2 threads), closed; timed: \
             `open` + `table()` (recovery loads the table there), then `checkpoint()`, closed, \
             and `open` + `table()` again. Log bytes: what the updates added to the \
             directory. In `recovery.csv`.\n\n{}\n",
            config.store.name(),
            config.recovery_keys,
            recovery_table(recoveries),
        );
    }
    if let Some(dip) = dip {
        let _ = write!(
            out,
            "## A checkpoint under load\n\nmv-{} under `Sync`, commits sampled every {} ms \
             (`checkpoint.csv`, plotted in `checkpoint.svg`).\n\n{}",
            config.store.name(),
            config.sample_every.as_millis(),
            dip_table(dip),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        Config {
            dir: dir.to_path_buf(),
            run: run::Config {
                keys: 200,
                theta: 0.0,
                attrs: subjects::DURABLE_ATTRS,
                modified: 1,
                measure: Duration::from_millis(30),
                warmup: Duration::from_millis(5),
                max_retries: 100,
            },
            threads: vec![1, 8],
            subjects: vec![],
            fsyncs: 20,
            recovery_records: 300,
            recovery_keys: 100,
            store: Storage::default(),
            checkpoint_keys: 500,
            checkpoint_seconds: Duration::from_millis(300),
            checkpoint_threads: 2,
            sample_every: Duration::from_millis(20),
        }
    }

    #[test]
    fn the_percentiles_of_the_sync_probe_are_ranks_of_the_sorted_times() {
        let times = (1..=200).rev().map(Duration::from_micros).collect();
        let f = summarise(times);
        assert_eq!(f.samples, 200);
        assert_eq!(f.median, Duration::from_micros(101));
        assert_eq!(f.p99, Duration::from_micros(199));
        assert_eq!(f.limit().round(), (1e6 / 101.0_f64).round());
    }

    #[test]
    fn recovery_sizes_scale_down_to_the_cap() {
        assert_eq!(recovery_sizes(10_000_000), FULL_RECOVERY);
        assert_eq!(recovery_sizes(50_000_000), FULL_RECOVERY);
        assert_eq!(recovery_sizes(200_000), [20_000, 100_000, 200_000]);
        assert_eq!(recovery_sizes(1), [1]);
        assert!(recovery_sizes(0).is_empty());
    }

    #[test]
    fn recovery_replays_every_update_from_the_log_and_from_a_checkpoint() {
        let base = Scratch::new(&std::env::temp_dir(), "durable-test").unwrap();
        let config = config(base.path());
        let r = recovery::<4>(&config, 300).expect("recovers");
        assert_eq!((r.attrs, r.keys, r.records), (4, 100, 300));
        // Every update logs at least its row.
        assert!(r.bytes_per_update() >= r.row_bytes() as f64, "{r:?}");
        let table = recovery_table(std::slice::from_ref(&r));
        assert!(table.contains("| [i64; 4] | 32 | 100 | 300 |"), "{table}");
        assert_eq!(
            table.lines().nth(1),
            Some(&*format!("| --- |{}", " ---: |".repeat(11)))
        );
        assert_eq!(recovery_csv(&[r], config.store).lines().count(), 2);
    }

    #[test]
    fn a_checkpoint_under_load_is_sampled_before_during_and_after() {
        let base = Scratch::new(&std::env::temp_dir(), "durable-test").unwrap();
        let config = config(base.path());
        let dip = checkpoint_dip(&config).expect("runs");
        assert!(dip.start_s > 0.0 && dip.end_s >= dip.start_s, "{dip:?}");
        assert!(dip.samples.last().unwrap().0 >= dip.end_s);
        assert!(dip.samples.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(dip_csv(&dip).lines().count(), dip.samples.len() + 1);
        let svg = base.path().join("dip.svg");
        plot_dip(&dip, config.store, &svg).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    }

    #[test]
    fn a_checkpoint_shorter_than_a_sample_interval_has_a_rate_during_it() {
        let dip = Dip {
            keys: 1,
            threads: 1,
            // 100 commits/s, then 20/s from 1.0 s to 1.1 s, then 100/s.
            samples: vec![
                (0.0, 0),
                (0.5, 50),
                (1.0, 100),
                (1.1, 102),
                (1.6, 152),
                (2.1, 202),
            ],
            start_s: 1.02,
            end_s: 1.05,
        };
        let [before, during, after] = dip.phases();
        assert_eq!(before, Some(100.0));
        assert!((during.unwrap() - 20.0).abs() < 1e-9, "{during:?}");
        assert!((after.unwrap() - 100.0).abs() < 1e-9, "{after:?}");
        assert!(dip_table(&dip).contains("| 100 | 20 | 100 | 0.20 | 20 | 20 | 0.20 |"));
        let longer = Dip {
            start_s: 0.7,
            end_s: 1.3,
            ..dip
        };
        // The intervals 0.5–1.0, 1.0–1.1, 1.1–1.6 overlap it.
        let (lo, hi) = longer.extremes_during().unwrap();
        assert!(
            (lo - 20.0).abs() < 1e-9 && (hi - 100.0).abs() < 1e-9,
            "{lo} {hi}"
        );
    }

    /// One measurement of `commits` in one second.
    fn cell(subject: String, workload: &'static str, threads: usize, commits: u64) -> Measurement {
        Measurement {
            subject,
            kind: crate::subject::Kind::Engine,
            workload,
            threads,
            seconds: 1.0,
            commits,
            aborts: 0,
            retries: 0,
            failed: 0,
            scans: 0,
            scan_ms: None,
            heap_loaded: 0,
            heap_peak: 0,
            heap_end: 0,
        }
    }

    #[test]
    fn the_figures_compare_sync_with_the_limit_group_commit_and_the_peers() {
        let fsync = Fsync {
            samples: 1,
            median: Duration::from_millis(2),
            p99: Duration::from_millis(3),
        };
        let mut results = Vec::new();
        for s in Storage::ALL {
            let name = |m| subjects::durable_name(s, m);
            results.push(cell(name(Mode::Sync), "update-1", 1, 450));
            results.push(cell(name(Mode::Sync), "update-1", 32, 4_500));
            results.push(cell(name(Mode::Buffered), "update-1", 1, 70));
            results.push(cell(name(Mode::Memory), "update-1", 1, 100));
        }
        results.push(cell("redb-immediate".into(), "update-1", 32, 1_000));
        results.push(cell("sqlite-wal-full".into(), "update-1", 32, 2_000));
        let slow = Fsync {
            median: Duration::from_millis(4),
            ..fsync.clone()
        };
        let probes = vec![(
            subjects::durable_name(Storage::AppendOnlyN2O, Mode::Sync),
            slow,
        )];
        let text = figures(&results, &fsync, &probes, &[1, 32]);
        // 450/s against 250/s just before, and 500/s at the first probe.
        assert!(
            text.contains("| n2o | update-1 | 450 | 4.000 | 1.80 | yes | 0.90 |"),
            "{text}"
        );
        assert!(
            text.contains("| o2n | update-1 | 450 | - | - | - | 0.90 |"),
            "{text}"
        );
        assert!(
            text.contains("| delta | update-1 | 450 | 4500 | 10.00 | yes |"),
            "{text}"
        );
        assert!(
            text.contains("| update-1 | 32 | 4500 | 4500 | 1000 | 2000 | - | 4.50 | 2.25 |"),
            "{text}"
        );
        assert!(
            text.contains("| o2n | update-1 | 0.70 (no) | - |"),
            "{text}"
        );
    }

    #[test]
    fn the_sweep_runs_every_durable_subject_on_both_update_workloads() {
        let base = Scratch::new(&std::env::temp_dir(), "durable-test").unwrap();
        let mut config = config(base.path());
        config.threads = vec![2];
        config.subjects = vec!["mv-n2o-sync".into(), "sqlite-wal-full".into()];
        let (results, probes) = throughput(&config, |_| {}).expect("runs");
        assert_eq!(results.len(), 4);
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].0, "mv-n2o-sync");
        assert!(results.iter().all(|m| m.commits > 0), "{results:?}");
        config.subjects = vec!["nope".into()];
        assert!(entries(&config).is_err());
    }
}
