//! The cluster experiment (`multiverse-driver cluster`): multiverse's
//! partitions and two-phase commit (`multiverse-cluster`) against the same
//! work on one plain `Database`.
//!
//! Three measurements, one run:
//!
//! * **Throughput, in memory.** Cross-partition bank transfers
//!   ([`BANK`]: each reads and updates two accounts drawn uniformly, so
//!   that with P partitions a share (P-1)/P is distributed) and the
//!   paper's 10-operation mixes (`read-intensive`, `update-intensive`:
//!   the sweep's own [`Workload`]s, keys and op mix) on clusters of 2, 4
//!   and 8 partitions under both commit protocols — the first participant
//!   coordinates ([`Protocol::FirstParticipant`]) or classic 2PC
//!   ([`Protocol::Classic`], the baseline) — and on one `Database` of the
//!   same store. Each cell reports commits/s, the abort rate, the share of
//!   commits that were distributed, and for those the critical path the
//!   client waited for ([`Path`]): message delays (hops), log writes and
//!   log syncs one after another. Rounds between participants and their
//!   coordinator are `(hops - 1) / 2`: a client's prepare, then a
//!   participant→coordinator→participant exchange per round, bar the last
//!   one's way back, which goes to the client instead.
//! * **The commit path, durable.** An in-memory cluster has no log, so its
//!   paths show no writes and no syncs. The same cells run again, shorter
//!   and single-threaded, on clusters that log to a scratch directory
//!   under the system's temporary directory (`--dir`), so that every log
//!   write and sync on the path is a real one.
//! * **Single-partition latency.** A read-modify-write of one row that
//!   lives on partition 0 of a 2-partition cluster (one phase, no 2PC),
//!   against the same transaction on a plain `Database`: rounds in which
//!   each subject runs the same number of transactions in turn (which one
//!   goes first alternates), every transaction timed; the median and the
//!   99th percentile of each, and the ratio of the medians.
//!
//! Every subject here implements the driver's [`Subject`], and the
//! throughput cells run through [`run::cell`], the sweep's own loop:
//! warm-up, measurement, retries after a conflict with backoff. Every
//! subject of a table is loaded first; then each workload at each thread
//! count runs on every subject in turn, so that the cells a row of the
//! results compares run close together in time.

use crate::report::{wall_time, Provenance};
use crate::run::{self, Loaded, Measurement};
use crate::scratch::Scratch;
use crate::subject::{bump, checksum, fold_rows, initial_row, Conflict, Key, Kind, Op, Subject};
use crate::subjects::Entry;
use crate::workload::{self, Workload};
use crate::zipf::{Keys, Rng};
use multiverse::{Database, Durability, Storage, Table};
use multiverse_cluster::{Cluster, ClusterTable, Committed, Protocol};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cross-partition bank transfers: two accounts drawn uniformly, one unit
/// moved from the first to the second (a subject here reads a transaction
/// of two [`Op::Update`]s on the accounts table as that transfer).
pub const BANK: Workload = Workload {
    name: "bank-transfer",
    about: "a transfer between two accounts drawn uniformly: both read, both updated",
    ops: 2,
    read_fraction: 0.0,
    long_scan: false,
};

/// The 10-operation mixes of the sweep that the cluster runs.
pub const MIXES: [&str; 2] = ["read-intensive", "update-intensive"];

/// Every account's balance when loaded.
pub const BALANCE: i64 = 1_000;

/// Rows inserted per loading transaction.
const LOAD_BATCH: usize = 10_000;

/// Path lengths counted one by one; longer ones count in the last bucket.
const BUCKETS: usize = 16;

/// The cluster experiment's parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// The sweep's parameters for the 10-operation mixes (rows, skew,
    /// attributes, seconds per cell, warm-up, retries).
    pub run: run::Config,
    /// Accounts of the bank (drawn uniformly).
    pub accounts: u64,
    /// Partition counts of the clusters.
    pub partitions: Vec<usize>,
    /// Thread counts of the in-memory cells.
    pub threads: Vec<usize>,
    /// The version store of every partition and of the plain database.
    pub storage: Storage,
    /// Measured time of a durable cell (single-threaded).
    pub durable_measure: Duration,
    /// Rows (and accounts) of the durable clusters.
    pub durable_keys: u64,
    /// Where the durable clusters log (a scratch directory each).
    pub dir: PathBuf,
    /// Rounds of the latency experiment (one more, first, uncounted).
    pub latency_rounds: usize,
    /// Transactions per subject and round.
    pub latency_txns: usize,
}

/// What a commit path histogram holds: per length, how many commits.
type Histogram = [u64; BUCKETS];

/// Counts of commits and their paths, taken from a subject's [`Probe`]
/// (warm-up included: the probe cannot tell it apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paths {
    /// Commits.
    pub commits: u64,
    /// Commits that wrote two or more partitions (2PC).
    pub distributed: u64,
    /// Distributed commits by message delays on the client's path.
    pub hops: Histogram,
    /// ... by log writes on it.
    pub writes: Histogram,
    /// ... by log syncs on it.
    pub syncs: Histogram,
    /// Waits of readers and committers for an undecided prepare, over
    /// every partition.
    pub waits: u64,
    /// Attempts that failed because a partition's garbage collection had
    /// passed their snapshot (retried; among the aborts).
    pub too_old: u64,
}

fn minus(a: &Histogram, b: &Histogram) -> Histogram {
    std::array::from_fn(|i| a[i] - b[i])
}

impl Paths {
    /// What happened between `before` and `self`.
    fn since(&self, before: &Paths) -> Paths {
        Paths {
            commits: self.commits - before.commits,
            distributed: self.distributed - before.distributed,
            hops: minus(&self.hops, &before.hops),
            writes: minus(&self.writes, &before.writes),
            syncs: minus(&self.syncs, &before.syncs),
            waits: self.waits - before.waits,
            too_old: self.too_old - before.too_old,
        }
    }

    /// The share of commits that were distributed.
    pub fn distributed_share(&self) -> f64 {
        if self.commits == 0 {
            0.0
        } else {
            self.distributed as f64 / self.commits as f64
        }
    }
}

/// The (lower) median of a histogram, `None` if it is empty.
pub fn median(h: &Histogram) -> Option<u32> {
    let n: u64 = h.iter().sum();
    if n == 0 {
        return None;
    }
    let mut seen = 0;
    for (v, c) in h.iter().enumerate() {
        seen += c;
        if seen > (n - 1) / 2 {
            return Some(v as u32);
        }
    }
    unreachable!("the counts add up to n")
}

/// The largest length with a count, `None` if the histogram is empty.
pub fn max(h: &Histogram) -> Option<u32> {
    h.iter().rposition(|c| *c > 0).map(|v| v as u32)
}

/// Counts a cluster subject's commits and their paths as they happen.
#[derive(Default)]
pub struct Probe {
    commits: AtomicU64,
    distributed: AtomicU64,
    hops: [AtomicU64; BUCKETS],
    writes: [AtomicU64; BUCKETS],
    syncs: [AtomicU64; BUCKETS],
    too_old: AtomicU64,
    /// The subject's cluster while it lives, for its partitions' counters.
    cluster: Mutex<Option<Cluster>>,
}

impl Probe {
    fn record(&self, c: &Committed) {
        // Relaxed, here and in `paths`: counters read after the workers
        // joined (or between cells), which orders every increment before.
        self.commits.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = c.path {
            self.distributed.fetch_add(1, Ordering::Relaxed);
            let bucket = |v: u32| (v as usize).min(BUCKETS - 1);
            self.hops[bucket(p.hops)].fetch_add(1, Ordering::Relaxed);
            self.writes[bucket(p.writes)].fetch_add(1, Ordering::Relaxed);
            self.syncs[bucket(p.syncs)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn paths(&self) -> Paths {
        let read = |h: &[AtomicU64; BUCKETS]| std::array::from_fn(|i| h[i].load(Ordering::Relaxed));
        let waits = self
            .cluster
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |c| c.stats().iter().map(|s| s.waits).sum());
        Paths {
            commits: self.commits.load(Ordering::Relaxed),
            distributed: self.distributed.load(Ordering::Relaxed),
            hops: read(&self.hops),
            writes: read(&self.writes),
            syncs: read(&self.syncs),
            waits,
            too_old: self.too_old.load(Ordering::Relaxed),
        }
    }
}

/// What a subject's tables hold, and so which workloads it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// `accounts`: `u64 -> [i64; 1]`, every balance [`BALANCE`]; runs [`BANK`].
    Accounts,
    /// `usertable`: the driver's rows ([`initial_row`]); runs the 10-operation mixes.
    Rows,
}

/// The accounts a bank transfer moves a unit between.
fn transfer(ops: &[Op]) -> (Key, Key) {
    match ops {
        [Op::Update(from), Op::Update(to)] => (*from, *to),
        _ => panic!("a bank subject runs transfers (two updates), not {ops:?}"),
    }
}

/// An engine error: a conflict to retry, or a bug.
fn engine_conflict(e: multiverse::Error) -> Conflict {
    if e.is_retryable() {
        Conflict
    } else {
        panic!("multiverse: unexpected error {e}")
    }
}

/// A cluster of multiverse partitions with the two tables.
pub struct OnCluster {
    cluster: Cluster,
    rows: ClusterTable<Key, Vec<u64>>,
    accounts: ClusterTable<Key, [i64; 1]>,
    data: Data,
    probe: Arc<Probe>,
    /// The logs' directory, if durable (last: removed once the cluster is
    /// dropped).
    _dir: Option<Scratch>,
}

impl OnCluster {
    /// A fresh cluster of `partitions` partitions of `storage` committing
    /// by `protocol`, in memory or (with `durable`, a base directory)
    /// logging to a scratch directory under it; its commits count in
    /// `probe`.
    pub fn new(
        partitions: usize,
        storage: Storage,
        protocol: Protocol,
        data: Data,
        durable: Option<&Path>,
        probe: Arc<Probe>,
    ) -> Result<OnCluster, String> {
        let dir = durable
            .map(|base| Scratch::new(base, "cluster"))
            .transpose()
            .map_err(|e| format!("scratch directory: {e}"))?;
        let mut builder = Cluster::builder()
            .partitions(partitions)
            .storage(storage)
            .protocol(protocol)
            .table::<Key, Vec<u64>>("usertable")
            .table::<Key, [i64; 1]>("accounts");
        if let Some(dir) = &dir {
            builder = builder.durable(dir.path());
        }
        let cluster = builder.build().map_err(|e| format!("cluster: {e}"))?;
        let rows = cluster.table("usertable").map_err(|e| e.to_string())?;
        let accounts = cluster.table("accounts").map_err(|e| e.to_string())?;
        *probe.cluster.lock().unwrap_or_else(|e| e.into_inner()) = Some(cluster.clone());
        Ok(OnCluster {
            cluster,
            rows,
            accounts,
            data,
            probe,
            _dir: dir,
        })
    }

    /// The partition that owns `key` of the rows table.
    pub fn partition_of(&self, key: Key) -> usize {
        self.rows.partition_of(&key)
    }

    /// Inserts `keys` (in one-partition transactions: loading runs no 2PC).
    fn load_table<T: multiverse::Tuple + multiverse::Persist>(
        &self,
        table: &ClusterTable<Key, T>,
        keys: u64,
        row: impl Fn(Key) -> T,
    ) -> Result<(), String> {
        let mut by_partition = vec![Vec::new(); self.cluster.partitions()];
        for k in 0..keys {
            by_partition[table.partition_of(&k)].push(k);
        }
        for batch in by_partition.iter().flat_map(|ks| ks.chunks(LOAD_BATCH)) {
            self.cluster
                .transact(|tx| {
                    for &k in batch {
                        tx.insert(table, k, row(k))?;
                    }
                    Ok(())
                })
                .map_err(|e| format!("load: {e}"))?;
        }
        Ok(())
    }

    /// The sum of every balance, at one snapshot.
    pub fn total(&self) -> i64 {
        let mut tx = self.cluster.begin();
        let rows = tx.scan(&self.accounts, ..).expect("own table");
        rows.iter().map(|(_, b)| b[0]).sum()
    }
}

impl OnCluster {
    /// A cluster error: a conflict or abort to retry, or a bug. A snapshot
    /// that a partition's garbage collection passed before the transaction
    /// began there (`SnapshotTooOld`: the timestamp service handed it out,
    /// and commits on the partition moved its watermark before the
    /// partition knew of it) is retried too, and counted apart.
    fn conflict(&self, e: multiverse_cluster::Error) -> Conflict {
        match e {
            multiverse_cluster::Error::Engine(multiverse::Error::SnapshotTooOld { .. }) => {
                // Relaxed: see `Probe::record`.
                self.probe.too_old.fetch_add(1, Ordering::Relaxed);
                Conflict
            }
            e if e.is_retryable() => Conflict,
            e => panic!("cluster: unexpected error {e}"),
        }
    }
}

impl Drop for OnCluster {
    fn drop(&mut self) {
        // The probe outlives the subject: let the cluster go with it.
        self.probe
            .cluster
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

impl Subject for OnCluster {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        match self.data {
            Data::Accounts => self.load_table(&self.accounts, keys, |_| [BALANCE]),
            Data::Rows => self.load_table(&self.rows, keys, |k| initial_row(k, attrs)),
        }
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        let mut tx = self.cluster.begin();
        match self.data {
            Data::Accounts => {
                let (from, to) = transfer(ops);
                let a = tx
                    .get(&self.accounts, &from)
                    .map_err(|e| self.conflict(e))?;
                let b = tx.get(&self.accounts, &to).map_err(|e| self.conflict(e))?;
                let (a, b) = (a.expect("loaded")[0], b.expect("loaded")[0]);
                *sink ^= (a ^ b) as u64;
                if from == to {
                    tx.update(&self.accounts, &from, [a])
                } else {
                    tx.update(&self.accounts, &from, [a - 1])
                        .and_then(|()| tx.update(&self.accounts, &to, [b + 1]))
                }
                .map_err(|e| self.conflict(e))?;
            }
            Data::Rows => {
                for op in ops {
                    match *op {
                        Op::Read(k) => {
                            let row = tx.get(&self.rows, &k).map_err(|e| self.conflict(e))?;
                            *sink ^= checksum(&row.expect("loaded"));
                        }
                        Op::Update(k) => {
                            let row = tx.get(&self.rows, &k).map_err(|e| self.conflict(e))?;
                            let mut row = row.expect("loaded");
                            *sink ^= checksum(&row);
                            bump(&mut row, modified);
                            tx.update(&self.rows, &k, row)
                                .map_err(|e| self.conflict(e))?;
                        }
                    }
                }
            }
        }
        let committed = tx.commit().map_err(|e| self.conflict(e))?;
        self.probe.record(&committed);
        Ok(())
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let mut tx = self.cluster.begin();
        match self.data {
            Data::Accounts => {
                let rows = tx.scan(&self.accounts, ..).expect("own table");
                fold_rows(rows.iter().map(|(_, b)| b[0] as u64), sink)
            }
            Data::Rows => {
                let rows = tx.scan(&self.rows, ..).expect("own table");
                fold_rows(rows.iter().map(|(_, r)| checksum(r)), sink)
            }
        }
    }
}

/// One plain multiverse `Database` with the same two tables, running the
/// same calls (`get`, then `update`) as [`OnCluster`].
pub struct OnDatabase {
    db: Database,
    rows: Table<Key, Vec<u64>>,
    accounts: Table<Key, [i64; 1]>,
    data: Data,
    /// The log's directory, if durable (last: removed once the database
    /// is dropped).
    _dir: Option<Scratch>,
}

impl OnDatabase {
    /// A fresh database of `storage`, built as a cluster's partition is:
    /// in memory, or (with `durable`, a base directory) logging to a
    /// scratch directory under it, every commit synced
    /// (`Durability::Sync`).
    pub fn new(storage: Storage, data: Data, durable: Option<&Path>) -> Result<OnDatabase, String> {
        let builder = Database::builder().storage(storage);
        let (db, dir) = match durable {
            None => (builder.build(), None),
            Some(base) => {
                let dir = Scratch::new(base, "database")
                    .map_err(|e| format!("scratch directory: {e}"))?;
                let db = builder
                    .durability(Durability::Sync)
                    .open(dir.path())
                    .map_err(|e| format!("open: {e}"))?;
                (db, Some(dir))
            }
        };
        let rows = db.create_table("usertable").map_err(|e| e.to_string())?;
        let accounts = db.create_table("accounts").map_err(|e| e.to_string())?;
        Ok(OnDatabase {
            db,
            rows,
            accounts,
            data,
            _dir: dir,
        })
    }

    fn load_table<T: multiverse::Tuple>(
        &self,
        table: &Table<Key, T>,
        keys: u64,
        row: impl Fn(Key) -> T,
    ) -> Result<(), String> {
        let all: Vec<Key> = (0..keys).collect();
        for batch in all.chunks(LOAD_BATCH) {
            let mut tx = self.db.begin();
            for &k in batch {
                tx.insert(table, k, row(k))
                    .map_err(|e| format!("insert {k}: {e}"))?;
            }
            tx.commit().map_err(|e| format!("commit: {e}"))?;
        }
        Ok(())
    }

    /// The sum of every balance, at one snapshot.
    pub fn total(&self) -> i64 {
        let tx = self.db.begin();
        let rows = tx.scan(&self.accounts, ..).expect("own table");
        rows.map(|(_, b)| b[0]).sum()
    }
}

impl Subject for OnDatabase {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        match self.data {
            Data::Accounts => self.load_table(&self.accounts, keys, |_| [BALANCE]),
            Data::Rows => self.load_table(&self.rows, keys, |k| initial_row(k, attrs)),
        }
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        let mut tx = self.db.begin();
        match self.data {
            Data::Accounts => {
                let (from, to) = transfer(ops);
                let a = tx.get(&self.accounts, &from).map_err(engine_conflict)?;
                let b = tx.get(&self.accounts, &to).map_err(engine_conflict)?;
                let (a, b) = (a.expect("loaded")[0], b.expect("loaded")[0]);
                *sink ^= (a ^ b) as u64;
                if from == to {
                    tx.update(&self.accounts, &from, [a])
                } else {
                    tx.update(&self.accounts, &from, [a - 1])
                        .and_then(|()| tx.update(&self.accounts, &to, [b + 1]))
                }
                .map_err(engine_conflict)?;
            }
            Data::Rows => {
                for op in ops {
                    match *op {
                        Op::Read(k) => {
                            let row = tx.get(&self.rows, &k).map_err(engine_conflict)?;
                            *sink ^= checksum(&row.expect("loaded"));
                        }
                        Op::Update(k) => {
                            let row = tx.get(&self.rows, &k).map_err(engine_conflict)?;
                            let mut row = row.expect("loaded");
                            *sink ^= checksum(&row);
                            bump(&mut row, modified);
                            tx.update(&self.rows, &k, row).map_err(engine_conflict)?;
                        }
                    }
                }
            }
        }
        tx.commit().map(drop).map_err(engine_conflict)
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let tx = self.db.begin();
        match self.data {
            Data::Accounts => {
                let rows = tx.scan(&self.accounts, ..).expect("own table");
                fold_rows(rows.map(|(_, b)| b[0] as u64), sink)
            }
            Data::Rows => {
                let rows = tx.scan(&self.rows, ..).expect("own table");
                fold_rows(rows.map(|(_, r)| checksum(&r)), sink)
            }
        }
    }
}

/// A protocol's short name, as in `cluster-4/fp`.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::FirstParticipant => "fp",
        Protocol::Classic => "classic",
    }
}

/// What one cell measured.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The sweep's measurement: subject, workload, threads, commits,
    /// aborts, seconds.
    pub measurement: Measurement,
    /// Partitions, `None` for the plain database.
    pub partitions: Option<usize>,
    /// The commit protocol, `None` for the plain database.
    pub protocol: Option<Protocol>,
    /// Whether the cluster logged (and synced) its commits.
    pub durable: bool,
    /// Commits and their paths during the cell (warm-up included).
    pub paths: Paths,
}

/// A subject to build: the plain database, or a cluster.
#[derive(Clone, Copy, Debug)]
struct Spec {
    cluster: Option<(usize, Protocol)>,
    durable: bool,
}

impl Spec {
    fn name(&self) -> String {
        match self.cluster {
            None => "database".into(),
            Some((p, protocol)) => format!("cluster-{p}/{}", protocol_name(protocol)),
        }
    }
}

/// A subject built for [`run_family`]: its spec, entry and probe.
struct Built {
    spec: Spec,
    entry: Entry,
    probe: Arc<Probe>,
}

/// Builds `spec`'s subject over `data` (not loaded yet).
fn build(spec: Spec, data: Data, config: &Config) -> Built {
    let probe = Arc::new(Probe::default());
    let storage = config.storage;
    let base = spec.durable.then(|| config.dir.clone());
    let entry = {
        let probe = Arc::clone(&probe);
        Entry {
            name: spec.name(),
            kind: Kind::Engine,
            make: Box::new(move || -> Box<dyn Subject> {
                match spec.cluster {
                    None => Box::new(
                        OnDatabase::new(storage, data, base.as_deref())
                            .unwrap_or_else(|e| panic!("{e}")),
                    ),
                    Some((p, protocol)) => Box::new(
                        OnCluster::new(
                            p,
                            storage,
                            protocol,
                            data,
                            base.as_deref(),
                            Arc::clone(&probe),
                        )
                        .unwrap_or_else(|e| panic!("{e}")),
                    ),
                }
            }),
        }
    };
    Built { spec, entry, probe }
}

/// Loads every spec's subject over `data`, then runs each workload at
/// each thread count on every subject in turn (so that the cells compared
/// run close together in time), and appends the cells.
#[allow(clippy::too_many_arguments)]
fn run_family(
    specs: &[Spec],
    data: Data,
    workloads: &[Workload],
    threads: &[usize],
    run_config: &run::Config,
    keys: &Keys,
    config: &Config,
    cells: &mut Vec<Cell>,
    progress: &mut dyn FnMut(&Cell),
) -> Result<(), String> {
    let built: Vec<Built> = specs.iter().map(|s| build(*s, data, config)).collect();
    let loaded = built
        .iter()
        .map(|b| Loaded::new(&b.entry, run_config))
        .collect::<Result<Vec<_>, _>>()?;
    for workload in workloads {
        for &t in threads {
            for (b, loaded) in built.iter().zip(&loaded) {
                let before = b.probe.paths();
                let Some(m) = run::cell(loaded, workload, t, run_config, keys) else {
                    continue;
                };
                let cell = Cell {
                    measurement: m,
                    partitions: b.spec.cluster.map(|(p, _)| p),
                    protocol: b.spec.cluster.map(|(_, p)| p),
                    durable: b.spec.durable,
                    paths: b.probe.paths().since(&before),
                };
                progress(&cell);
                cells.push(cell);
            }
        }
    }
    Ok(())
}

/// The subjects of a run: the plain database, then for every partition
/// count both protocols.
fn specs(config: &Config, durable: bool) -> Vec<Spec> {
    let mut specs = vec![Spec {
        cluster: None,
        durable,
    }];
    for &p in &config.partitions {
        for protocol in [Protocol::FirstParticipant, Protocol::Classic] {
            specs.push(Spec {
                cluster: Some((p, protocol)),
                durable,
            });
        }
    }
    specs
}

/// The 10-operation mixes, by name.
fn mixes() -> Vec<Workload> {
    MIXES
        .iter()
        .map(|n| workload::by_name(n).expect("a sweep workload"))
        .collect()
}

/// The throughput cells (in memory, every thread count) or the durable
/// ones (logged, one thread, shorter), every subject of [`specs`].
pub fn throughput(
    config: &Config,
    durable: bool,
    mut progress: impl FnMut(&Cell),
) -> Result<Vec<Cell>, String> {
    let (threads, measure, rows, accounts) = if durable {
        (
            vec![1],
            config.durable_measure,
            config.durable_keys,
            config.durable_keys,
        )
    } else {
        (
            config.threads.clone(),
            config.run.measure,
            config.run.keys,
            config.accounts,
        )
    };
    let bank_config = run::Config {
        keys: accounts,
        theta: 0.0,
        measure,
        ..config.run.clone()
    };
    let rows_config = run::Config {
        keys: rows,
        measure,
        ..config.run.clone()
    };
    let bank_keys = Keys::new(bank_config.keys, 0.0)?;
    let rows_keys = Keys::new(rows_config.keys, rows_config.theta)?;
    let mut cells = Vec::new();
    let specs = specs(config, durable);
    run_family(
        &specs,
        Data::Accounts,
        &[BANK],
        &threads,
        &bank_config,
        &bank_keys,
        config,
        &mut cells,
        &mut progress,
    )?;
    run_family(
        &specs,
        Data::Rows,
        &mixes(),
        &threads,
        &rows_config,
        &rows_keys,
        config,
        &mut cells,
        &mut progress,
    )?;
    Ok(cells)
}

/// The single-partition latency of one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    /// The subject.
    pub subject: &'static str,
    /// Transactions timed.
    pub samples: usize,
    /// The median, in microseconds.
    pub median_us: f64,
    /// The 99th percentile, in microseconds.
    pub p99_us: f64,
    /// The median of each round, in microseconds.
    pub round_medians_us: Vec<f64>,
}

/// `sorted[q]`, the `q` quantile of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// The single-partition latency experiment: a read-modify-write of one row
/// of partition 0 of a 2-partition cluster, and the same on a database;
/// `[cluster, database]`.
pub fn latency(config: &Config) -> Result<[Latency; 2], String> {
    let rows = config.run.keys.min(100_000);
    let probe = Arc::new(Probe::default());
    let cluster = OnCluster::new(
        2,
        config.storage,
        Protocol::FirstParticipant,
        Data::Rows,
        None,
        Arc::clone(&probe),
    )?;
    let db = OnDatabase::new(config.storage, Data::Rows, None)?;
    cluster.load(rows, config.run.attrs)?;
    db.load(rows, config.run.attrs)?;
    let local: Vec<Key> = (0..rows)
        .filter(|&k| cluster.partition_of(k) == 0)
        .collect();
    if local.is_empty() {
        return Err("no row on partition 0".into());
    }
    let subjects: [(&dyn Subject, &'static str); 2] =
        [(&cluster, "cluster-2 (one partition)"), (&db, "database")];
    let mut samples: [Vec<Duration>; 2] = Default::default();
    let mut medians: [Vec<f64>; 2] = Default::default();
    let mut rng = Rng::new(7);
    let mut sink = 0u64;
    let mut ops = [Op::Update(0)];
    for round in 0..=config.latency_rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for s in order {
            let mut times = Vec::with_capacity(config.latency_txns);
            for _ in 0..config.latency_txns {
                ops[0] = Op::Update(local[rng.below(local.len() as u64) as usize]);
                let start = Instant::now();
                subjects[s]
                    .0
                    .execute(&ops, config.run.modified, &mut sink)
                    .map_err(|_| "a conflict with no other transaction running")?;
                times.push(start.elapsed());
            }
            if round > 0 {
                times.sort();
                medians[s].push(quantile(&times, 0.5));
                samples[s].extend(times);
            }
        }
    }
    std::hint::black_box(sink);
    let distributed = probe.paths().distributed;
    if distributed != 0 {
        return Err(format!("{distributed} one-partition transactions ran 2PC"));
    }
    Ok(std::array::from_fn(|s| {
        let mut all = std::mem::take(&mut samples[s]);
        all.sort();
        Latency {
            subject: subjects[s].1,
            samples: all.len(),
            median_us: if all.is_empty() {
                0.0
            } else {
                quantile(&all, 0.5)
            },
            p99_us: if all.is_empty() {
                0.0
            } else {
                quantile(&all, 0.99)
            },
            round_medians_us: medians[s].clone(),
        }
    }))
}

/// `Some(v)` as `v`, `None` as `-`.
fn opt(v: Option<u32>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// A histogram as `median / max`.
fn med_max(h: &Histogram) -> String {
    format!("{} / {}", opt(median(h)), opt(max(h)))
}

/// Rounds from hops: `(hops - 1) / 2`.
fn rounds(hops: Option<u32>) -> String {
    opt(hops.map(|h| h.saturating_sub(1) / 2))
}

/// The cells of one workload as a markdown table, each against the plain
/// database's cell of the same workload and threads (if any).
fn cells_table(cells: &[Cell]) -> String {
    let mut out = String::new();
    let mut workloads: Vec<&'static str> = Vec::new();
    for c in cells {
        if !workloads.contains(&c.measurement.workload) {
            workloads.push(c.measurement.workload);
        }
    }
    for w in workloads {
        let _ = writeln!(
            out,
            "\n#### {w}\n\n| subject | threads | commits/s | vs database | aborts | distributed \
             | hops med / max | rounds (med) | log writes med / max | syncs med / max | reader waits | too old |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let mut rows: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.measurement.workload == w)
            .collect();
        rows.sort_by_key(|c| {
            (
                c.measurement.threads,
                c.partitions.unwrap_or(0),
                c.protocol != Some(Protocol::FirstParticipant),
            )
        });
        for c in rows {
            let m = &c.measurement;
            let base = cells
                .iter()
                .find(|b| {
                    b.partitions.is_none()
                        && b.measurement.workload == w
                        && b.measurement.threads == m.threads
                })
                .map(|b| b.measurement.throughput());
            let vs = match base {
                Some(b) if b > 0.0 => format!("{:.2}x", m.throughput() / b),
                _ => "-".into(),
            };
            let p = &c.paths;
            let dist = if c.partitions.is_some() {
                format!("{:.1}%", 100.0 * p.distributed_share())
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {vs} | {:.2}% | {dist} | {} | {} | {} | {} | {} | {} |",
                m.subject,
                m.threads,
                m.throughput(),
                100.0 * m.abort_rate(),
                med_max(&p.hops),
                rounds(median(&p.hops)),
                med_max(&p.writes),
                med_max(&p.syncs),
                if c.partitions.is_some() {
                    p.waits.to_string()
                } else {
                    "-".into()
                },
                if c.partitions.is_some() {
                    p.too_old.to_string()
                } else {
                    "-".into()
                },
            );
        }
    }
    out
}

/// The latency table.
fn latency_table(lat: &[Latency; 2]) -> String {
    let mut out = String::from(
        "| subject | transactions | median µs | p99 µs | round medians µs (min – max) |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for l in lat {
        let lo = l
            .round_medians_us
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let hi = l.round_medians_us.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {:.2} – {:.2} |",
            l.subject, l.samples, l.median_us, l.p99_us, lo, hi
        );
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let rounds: Vec<f64> = lat[0]
        .round_medians_us
        .iter()
        .zip(&lat[1].round_medians_us)
        .map(|(c, d)| ratio(*c, *d))
        .collect();
    let mut sorted = rounds.clone();
    sorted.sort_by(f64::total_cmp);
    let lo = sorted.first().copied().unwrap_or(f64::NAN);
    let hi = sorted.last().copied().unwrap_or(f64::NAN);
    let mid = sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "\nCluster / database: median {:.2}x, p99 {:.2}x; per round, the ratio of the medians: \
         median {mid:.2}x, from {lo:.2}x to {hi:.2}x (target: within 1.10x).",
        ratio(lat[0].median_us, lat[1].median_us),
        ratio(lat[0].p99_us, lat[1].p99_us),
    );
    out
}

/// `results/cluster.md`: what reproduces the run, then the three tables.
pub fn markdown(
    provenance: &Provenance,
    config: &Config,
    memory: &[Cell],
    durable: &[Cell],
    latency: &[Latency; 2],
) -> String {
    let Provenance {
        command,
        commit,
        date,
        machine,
        wall,
    } = provenance;
    let parts: Vec<String> = config.partitions.iter().map(|p| p.to_string()).collect();
    format!(
        "# cluster\n\nCommand: `{command}`\n\nCommit: {commit} · date: {date} · wall time: {} \
         (the whole run) · machine: {machine}\n\n\
         Store `{}` in every partition and in the plain database; clusters of {} partitions, \
         each under the first-participant protocol (`fp`) and classic 2PC (`classic`). \
         `distributed` is the share of commits that wrote two or more partitions; the path \
         columns are over those: message delays (hops), log writes and log syncs one after \
         another between the client's commit and its answer, median / max; rounds \
         (participant ↔ coordinator) are (hops − 1) / 2. Path counts include each cell's \
         warm-up. `reader waits`: waits for an undecided prepare, over every partition; \
         `too old`: attempts whose snapshot a partition's garbage collection had passed before \
         the transaction began there (retried, counted among the aborts).\n\n\
         ## Throughput, in memory\n\n\
         {} s per cell after {} s of warm-up. bank-transfer: {} accounts drawn uniformly. \
         The 10-operation mixes: {} rows of {} attributes ({} modified per update), keys θ = {}. \
         In memory no partition logs: the paths have no writes or syncs.\n{}\n\
         ## The commit path, durable\n\n\
         Each partition logs to its own file under a scratch directory of `{}`, every prepare \
         and one-partition commit synced; the database beside them logs with \
         `Durability::Sync` (one sync per commit). One thread, {} s per cell after the same \
         warm-up, {} rows and {} accounts.\n{}\n\
         ## Single-partition latency\n\n\
         A read-modify-write (`get`, `update`, `commit`) of one row of partition 0 of a \
         2-partition cluster (one phase), against the same on a plain database of the same \
         store: {} rounds (after one uncounted) of {} transactions per subject, the subjects \
         in turn, the first alternating; one thread.\n\n{}",
        wall_time(*wall),
        config.storage.name(),
        parts.join(", "),
        config.run.measure.as_secs_f64(),
        config.run.warmup.as_secs_f64(),
        config.accounts,
        config.run.keys,
        config.run.attrs,
        config.run.modified,
        config.run.theta,
        cells_table(memory),
        config.dir.display(),
        config.durable_measure.as_secs_f64(),
        config.durable_keys,
        config.durable_keys,
        cells_table(durable),
        config.latency_rounds,
        config.latency_txns,
        latency_table(latency),
    )
}

/// Every cell as one CSV row.
pub fn csv(cells: &[Cell]) -> String {
    let mut out = String::from(
        "subject,partitions,protocol,durable,workload,threads,seconds,commits,aborts,failed,\
         commits_per_s,abort_rate,path_commits,distributed,hops_median,hops_max,\
         writes_median,writes_max,syncs_median,syncs_max,reader_waits,too_old\n",
    );
    for c in cells {
        let m = &c.measurement;
        let p = &c.paths;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.3},{},{},{},{:.1},{:.5},{},{},{},{},{},{},{},{},{},{}",
            m.subject,
            c.partitions.map_or(String::new(), |p| p.to_string()),
            c.protocol.map_or("", protocol_name),
            c.durable,
            m.workload,
            m.threads,
            m.seconds,
            m.commits,
            m.aborts,
            m.failed,
            m.throughput(),
            m.abort_rate(),
            p.commits,
            p.distributed,
            median(&p.hops).map_or(String::new(), |v| v.to_string()),
            max(&p.hops).map_or(String::new(), |v| v.to_string()),
            median(&p.writes).map_or(String::new(), |v| v.to_string()),
            max(&p.writes).map_or(String::new(), |v| v.to_string()),
            median(&p.syncs).map_or(String::new(), |v| v.to_string()),
            max(&p.syncs).map_or(String::new(), |v| v.to_string()),
            p.waits,
            p.too_old,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run small enough for a unit test: 2 partitions, one thread,
    /// milliseconds per cell.
    fn tiny() -> Config {
        Config {
            run: run::Config {
                keys: 200,
                theta: 0.99,
                attrs: 4,
                modified: 1,
                measure: Duration::from_millis(40),
                warmup: Duration::from_millis(10),
                max_retries: 100,
            },
            accounts: 50,
            partitions: vec![2],
            threads: vec![1],
            storage: Storage::AppendOnlyN2O,
            durable_measure: Duration::from_millis(60),
            durable_keys: 50,
            dir: std::env::temp_dir(),
            latency_rounds: 2,
            latency_txns: 50,
        }
    }

    /// The path a distributed commit's client waited for, as medians.
    fn path(c: &Cell) -> (Option<u32>, Option<u32>, Option<u32>) {
        (
            median(&c.paths.hops),
            median(&c.paths.writes),
            median(&c.paths.syncs),
        )
    }

    #[test]
    fn a_tiny_run_reports_every_cell_with_each_protocols_commit_path() {
        let config = tiny();
        let memory = throughput(&config, false, |_| {}).unwrap();
        // The database and both protocols, each through the bank and the
        // two mixes, at one thread.
        assert_eq!(memory.len(), 9);
        for c in &memory {
            let m = &c.measurement;
            assert!(m.commits > 0, "{} · {}", m.subject, m.workload);
            assert!(c.paths.distributed <= c.paths.commits);
            match c.protocol {
                None => assert_eq!(c.paths, Paths::default(), "{}", m.subject),
                Some(p) => {
                    // Transfers between 50 accounts on 2 partitions: about
                    // half cross; update-intensive writes 8 rows.
                    if m.workload != "read-intensive" {
                        assert!(c.paths.distributed > 0, "{} · {}", m.subject, m.workload);
                    }
                    if c.paths.distributed > 0 {
                        // In memory: no log, so no writes and no syncs.
                        let hops = if p == Protocol::Classic { 5 } else { 3 };
                        assert_eq!(path(c), (Some(hops), Some(0), Some(0)), "{}", m.subject);
                    }
                }
            }
        }
        let durable = throughput(&config, true, |_| {}).unwrap();
        // The durable database too, beside both protocols.
        assert_eq!(durable.len(), 9);
        for c in &durable {
            let m = &c.measurement;
            assert!(c.durable && m.commits > 0, "{} · {}", m.subject, m.workload);
            if c.partitions.is_none() {
                assert_eq!(c.paths, Paths::default(), "{}", m.subject);
                continue;
            }
            if m.workload == "read-intensive" && c.paths.distributed == 0 {
                continue;
            }
            // One round and one sync against two rounds and four.
            let expected = match c.protocol {
                Some(Protocol::FirstParticipant) => (Some(3), Some(1), Some(1)),
                _ => (Some(5), Some(4), Some(4)),
            };
            assert_eq!(path(c), expected, "{} · {}", m.subject, m.workload);
        }
        let lat = latency(&config).unwrap();
        assert!(lat
            .iter()
            .all(|l| l.samples == 100 && l.round_medians_us.len() == 2));

        let provenance = Provenance {
            command: "test".into(),
            commit: "test".into(),
            date: "today".into(),
            machine: "test".into(),
            wall: Duration::from_secs(1),
        };
        let md = markdown(&provenance, &config, &memory, &durable, &lat);
        for w in ["bank-transfer", "read-intensive", "update-intensive"] {
            assert_eq!(md.matches(&format!("#### {w}\n")).count(), 2, "{w}");
        }
        // Every cell a row: each subject 3 in memory and 3 durable.
        assert_eq!(md.matches("| database | 1 |").count(), 6);
        assert_eq!(md.matches("| cluster-2/fp | 1 |").count(), 6);
        assert_eq!(md.matches("| cluster-2/classic | 1 |").count(), 6);
        assert!(md.contains("| cluster-2 (one partition) | 100 |"));
        assert!(md.contains("| database | 100 |"));
        assert!(md.contains("Cluster / database: median"));
        let all: Vec<Cell> = memory.into_iter().chain(durable).collect();
        assert_eq!(csv(&all).lines().count(), 1 + 18);
    }

    #[test]
    fn transfers_keep_the_bank_total_on_a_cluster_and_on_a_database() {
        let accounts = 20;
        let cluster = OnCluster::new(
            3,
            Storage::AppendOnlyO2N,
            Protocol::FirstParticipant,
            Data::Accounts,
            None,
            Arc::new(Probe::default()),
        )
        .unwrap();
        let db = OnDatabase::new(Storage::AppendOnlyO2N, Data::Accounts, None).unwrap();
        let keys = Keys::new(accounts, 0.0).unwrap();
        let mut rng = Rng::new(3);
        let mut ops = Vec::new();
        for subject in [&cluster as &dyn Subject, &db] {
            subject.load(accounts, 1).unwrap();
            let mut sink = 0;
            for _ in 0..500 {
                BANK.next(&keys, &mut rng, &mut ops);
                subject.execute(&ops, 1, &mut sink).unwrap();
            }
        }
        let total = accounts as i64 * BALANCE;
        assert_eq!(cluster.total(), total);
        assert_eq!(db.total(), total);
        let p = cluster.probe.paths();
        assert_eq!(p.commits, 500);
        // 3 partitions: about two thirds of the transfers cross.
        assert!((250..450).contains(&p.distributed), "{}", p.distributed);
    }

    #[test]
    fn histogram_median_and_max() {
        let mut h = [0u64; BUCKETS];
        assert_eq!((median(&h), max(&h)), (None, None));
        h[3] = 2;
        h[5] = 1;
        assert_eq!((median(&h), max(&h)), (Some(3), Some(5)));
        h[5] = 3;
        assert_eq!(median(&h), Some(5));
    }
}
