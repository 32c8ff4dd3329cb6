//! The workload driver: sweeps subjects x workloads x threads, prints the
//! comparison table and writes `results/<name>.{md,csv}` and
//! `results/<name>-{throughput,memory}.svg`.
//!
//! ```text
//! cargo run --release -p multiverse-driver                  # the default experiment
//! cargo run --release -p multiverse-driver -- --list        # subjects and workloads
//! cargo run --release -p multiverse-driver -- --help
//! cargo run --release -p multiverse-driver -- soak --seconds 120   # the heap over time
//! cargo run --release -p multiverse-driver -- durable --out DIR     # durable commits, recovery
//! cargo run --release -p multiverse-driver -- cluster               # partitions and 2PC
//! ```

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use multiverse_driver::run::{self, Config, Progress};
use multiverse_driver::subjects::{self, Entry};
use multiverse_driver::{cluster, durable, report, soak, workload};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[global_allocator]
static ALLOC: multiverse_driver::alloc::Counting = multiverse_driver::alloc::Counting;

/// Measures multiverse's version stores against peer crates and raw
/// ceilings on YCSB and the workloads of Wu et al. (PVLDB 2017).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Subjects, comma-separated (see --list); `all` adds every GC policy
    /// and the serializable twins (`mv-<store>-ser`). Default: every store
    /// under the default GC policy and snapshot isolation, every peer and
    /// both ceilings.
    #[arg(long, value_delimiter = ',')]
    subjects: Vec<String>,
    /// Workloads, comma-separated (see --list). Default: all but the
    /// durable experiment's update-1 and update-10.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Rows in the table.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Zipfian skew θ of the keys, in [0, 1); 0 is uniform.
    #[arg(long, default_value_t = 0.99)]
    theta: f64,
    /// Attributes (64-bit) per row.
    #[arg(long, default_value_t = 10)]
    attrs: usize,
    /// Attributes an update modifies.
    #[arg(long, default_value_t = 1)]
    modified: usize,
    /// Measured seconds per cell.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Uncounted warm-up seconds per cell.
    #[arg(long, default_value_t = 0.2)]
    warmup: f64,
    /// Retries of a transaction that lost a conflict before it is given up.
    #[arg(long, default_value_t = 100)]
    max_retries: u32,
    /// The results' name: writes <out>/<name>.md, .csv, -throughput.svg and
    /// -memory.svg.
    #[arg(long, default_value = "main")]
    name: String,
    /// The results' directory.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Lists the subjects and workloads, and exits.
    #[arg(long)]
    list: bool,
    /// Instead of the sweep: a soak (see `soak --help`).
    #[command(subcommand)]
    command: Option<Command>,
}

/// What the driver runs instead of the sweep.
#[derive(Subcommand, Debug)]
enum Command {
    /// Minutes of update transactions on each store in turn, a long reader
    /// holding a snapshot now and then, the live heap and `Database::stats()`
    /// sampled over time: writes <out>/<name>.{md,csv,svg}.
    Soak(SoakArgs),
    /// The durable databases: the disk's fdatasync latency, then durable
    /// commits/s of multiverse (Sync, Buffered, in memory; every store)
    /// beside redb, SQLite and fjall, recovery time against log size, and
    /// a checkpoint under load: writes <out>/durable.{md,csv},
    /// durable-throughput.svg, recovery.csv, checkpoint.{csv,svg}.
    Durable(DurableArgs),
    /// Partitions and two-phase commit (`multiverse-cluster`) against one
    /// database: bank transfers and the 10-operation mixes over 2, 4 and 8
    /// partitions under the first-participant protocol and classic 2PC
    /// (commits/s, aborts, distributed share, the commit path in memory and
    /// durable), and single-partition latency: writes <out>/cluster.{md,csv}.
    Cluster(ClusterArgs),
}

/// The cluster experiment's options. The defaults take a few minutes on
/// two cores.
#[derive(clap::Args, Debug)]
struct ClusterArgs {
    /// Partition counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8")]
    partitions: Vec<usize>,
    /// Thread counts of the in-memory cells, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Rows of the 10-operation mixes.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Accounts of the bank transfers (drawn uniformly).
    #[arg(long, default_value_t = 100_000)]
    accounts: u64,
    /// Zipfian skew θ of the 10-operation mixes' keys, in [0, 1).
    #[arg(long, default_value_t = 0.99)]
    theta: f64,
    /// Attributes (64-bit) per row.
    #[arg(long, default_value_t = 10)]
    attrs: usize,
    /// Attributes an update modifies.
    #[arg(long, default_value_t = 1)]
    modified: usize,
    /// Measured seconds per in-memory cell.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Uncounted warm-up seconds per cell.
    #[arg(long, default_value_t = 0.2)]
    warmup: f64,
    /// Measured seconds per durable cell (one thread).
    #[arg(long, default_value_t = 1.0)]
    durable_seconds: f64,
    /// Rows and accounts of the durable clusters.
    #[arg(long, default_value_t = 10_000)]
    durable_keys: u64,
    /// Retries of a transaction that lost a conflict before it is given up.
    #[arg(long, default_value_t = 100)]
    max_retries: u32,
    /// The store of every partition and of the plain database.
    #[arg(long, default_value = "n2o")]
    store: String,
    /// Rounds of the latency experiment.
    #[arg(long, default_value_t = 40)]
    latency_rounds: usize,
    /// Transactions per subject and latency round.
    #[arg(long, default_value_t = 5_000)]
    latency_txns: usize,
    /// Where the durable clusters log (a scratch directory each, removed
    /// after). Default: the system's temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The results' directory: writes cluster.md and cluster.csv there.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

/// The durable experiment's options. The defaults fit a few minutes on two
/// cores; `--full` is the full-size run.
#[derive(clap::Args, Debug)]
struct DurableArgs {
    /// The full-size run: threads 1,2,4,8,16,32,64, 2 s per cell, 10 M
    /// updates in the largest recovery log (overrides --threads, --seconds
    /// and --recovery-records).
    #[arg(long)]
    full: bool,
    /// Committer thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    threads: Vec<usize>,
    /// Rows in each subject's table.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Measured seconds per cell.
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
    /// Uncounted warm-up seconds per cell.
    #[arg(long, default_value_t = 0.1)]
    warmup: f64,
    /// Retries of a transaction that lost a conflict before it is given up.
    #[arg(long, default_value_t = 100)]
    max_retries: u32,
    /// Subjects, comma-separated (default: every durable subject; the
    /// names are printed with --list-durable).
    #[arg(long, value_delimiter = ',')]
    subjects: Vec<String>,
    /// Lists the durable subjects, and exits.
    #[arg(long)]
    list_durable: bool,
    /// Syncs the fdatasync probe times.
    #[arg(long, default_value_t = 300)]
    fsyncs: usize,
    /// The most updates in a recovery log: the experiment logs a tenth, a
    /// half and all of it (1 M, 5 M and 10 M from 10,000,000 up); 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    recovery_records: u64,
    /// Rows of the recovery experiment's table.
    #[arg(long, default_value_t = 100_000)]
    recovery_keys: u64,
    /// Rows of the checkpoint experiment's table; 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    checkpoint_keys: u64,
    /// Seconds of updates in the checkpoint experiment.
    #[arg(long, default_value_t = 4.0)]
    checkpoint_seconds: f64,
    /// Updater threads of the checkpoint experiment.
    #[arg(long, default_value_t = 2)]
    checkpoint_threads: usize,
    /// Milliseconds between two samples of the checkpoint experiment.
    #[arg(long, default_value_t = 50)]
    sample_ms: u64,
    /// The store of the recovery and checkpoint experiments.
    #[arg(long, default_value = "n2o")]
    store: String,
    /// Where the databases live (a scratch directory each, removed after);
    /// the fdatasync probe runs there too. Default: the system's temporary
    /// directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The results' directory.
    #[arg(long, default_value = "results/durable")]
    out: PathBuf,
}

/// The soak's options.
#[derive(clap::Args, Debug)]
struct SoakArgs {
    /// Seconds of updates per store.
    #[arg(long, default_value_t = 120.0)]
    seconds: f64,
    /// Rows in the table.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Updater threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Rows each update transaction modifies.
    #[arg(long, default_value_t = 10)]
    updates: usize,
    /// Attributes (64-bit) per row.
    #[arg(long, default_value_t = 10)]
    attrs: usize,
    /// Attributes an update modifies.
    #[arg(long, default_value_t = 1)]
    modified: usize,
    /// Zipfian skew θ of the updated keys, in [0, 1); 0 is uniform.
    #[arg(long, default_value_t = 0.0)]
    theta: f64,
    /// A long reader takes a snapshot every this many seconds...
    #[arg(long, default_value_t = 10.0)]
    reader_every: f64,
    /// ...and holds it for this many seconds.
    #[arg(long, default_value_t = 3.0)]
    reader_holds: f64,
    /// Milliseconds between two samples.
    #[arg(long, default_value_t = 250)]
    sample_ms: u64,
    /// Seconds at the start left out of the early median.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Stores, comma-separated (o2n, n2o, time-travel, delta). Default: all.
    #[arg(long, value_delimiter = ',')]
    stores: Vec<String>,
    /// GC policy: txn-level (the default), cooperative, vacuum (10 ms) or off.
    #[arg(long, default_value = "txn-level")]
    gc: String,
    /// Gives the table a hash index beside the skiplist.
    #[arg(long)]
    hash: bool,
    /// The results' name: writes <out>/<name>.md, .csv and .svg. Default:
    /// soak-<gc>.
    #[arg(long)]
    name: Option<String>,
    /// The results' directory.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

/// The selected subjects, in registry order.
fn select_subjects(names: &[String]) -> Result<Vec<Entry>, String> {
    let all = subjects::all();
    let wanted: Vec<String> = match names {
        [] => subjects::default_names(),
        [one] if one == "all" => all.iter().map(|e| e.name.clone()).collect(),
        _ => names.to_vec(),
    };
    if let Some(bad) = wanted.iter().find(|w| !all.iter().any(|e| &e.name == *w)) {
        let known: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        return Err(format!("no subject {bad:?}; known: {}", known.join(", ")));
    }
    Ok(all
        .into_iter()
        .filter(|e| wanted.contains(&e.name))
        .collect())
}

/// The selected workloads, in the order given.
fn select_workloads(names: &[String]) -> Result<Vec<workload::Workload>, String> {
    if names.is_empty() {
        return Ok(workload::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            workload::by_name(n).ok_or_else(|| {
                let known: Vec<&str> = workload::every().map(|w| w.name).collect();
                format!("no workload {n:?}; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// The sweep's configuration, checked.
fn config(args: &Args) -> Result<Config, String> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
    };
    if args.keys == 0 || args.attrs == 0 {
        return Err("--keys and --attrs must be at least 1".into());
    }
    if args.modified > args.attrs {
        return Err(format!(
            "--modified {} is more than --attrs {}",
            args.modified, args.attrs
        ));
    }
    if args.threads.is_empty() || args.threads.contains(&0) {
        return Err("--threads must list counts of at least 1".into());
    }
    let measure = seconds("seconds", args.seconds)?;
    if measure.is_zero() {
        return Err("--seconds must be more than 0".into());
    }
    multiverse_driver::zipf::Keys::new(1, args.theta).map_err(|e| format!("--theta: {e}"))?;
    Ok(Config {
        keys: args.keys,
        theta: args.theta,
        attrs: args.attrs,
        modified: args.modified,
        measure,
        warmup: seconds("warmup", args.warmup)?,
        max_retries: args.max_retries,
    })
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The machine, as far as the driver can tell.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu}), {}", std::env::consts::ARCH)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        println!(
            "subjects (default: every store under the default GC policy and snapshot isolation, \
             the peers, the ceilings):"
        );
        for e in subjects::all() {
            println!("  {:<28} {}", e.name, e.kind);
        }
        println!("workloads (default: all but update-1 and update-10):");
        for w in workload::every() {
            println!("  {:<18} {}", w.name, w.about);
        }
        return ExitCode::SUCCESS;
    }
    let outcome = match &args.command {
        Some(Command::Soak(soak)) => run_soak(soak),
        Some(Command::Durable(args)) => run_durable(args),
        Some(Command::Cluster(args)) => run_cluster(args),
        None => sweep(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("multiverse-driver: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sweep(args: &Args) -> Result<(), String> {
    let start = Instant::now();
    let date = today();
    // The tree as the run starts, before it writes its own results.
    let commit = report::commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let config = config(args)?;
    let entries = select_subjects(&args.subjects)?;
    let workloads = select_workloads(&args.workloads)?;
    let cells: usize = workloads
        .iter()
        .map(|w| {
            args.threads
                .iter()
                .filter(|&&t| !w.long_scan || t >= 2)
                .count()
        })
        .sum::<usize>()
        * entries.len();
    let command = std::iter::once("cargo run --release -p multiverse-driver --".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!(
        "{} subjects x {} workloads x threads {:?}: {cells} cells of {:.1} s",
        entries.len(),
        workloads.len(),
        args.threads,
        args.seconds + args.warmup
    );

    let bar = ProgressBar::new(cells as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} cells · {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let log = !std::io::stderr().is_terminal();
    let results = run::sweep(&entries, &workloads, &args.threads, &config, |p| match p {
        Progress::Loading(s) => bar.set_message(format!("loading {s}")),
        Progress::Loaded(s, t) => {
            if log {
                eprintln!(
                    "{s}: loaded {} rows in {:.1} s",
                    config.keys,
                    t.as_secs_f64()
                );
            }
        }
        Progress::Cell(s, w, t) => bar.set_message(format!("{s} · {w} · {t} threads")),
        Progress::Done(Some(m)) => {
            bar.inc(1);
            if log {
                eprintln!(
                    "  {} · {} · {} threads: {:.0} txn/s, {:.2}% aborts",
                    m.subject,
                    m.workload,
                    m.threads,
                    m.throughput(),
                    100.0 * m.abort_rate()
                );
            }
        }
        Progress::Done(None) => {}
    })?;
    bar.finish_and_clear();

    let table = report::table(&results, &config);
    println!("{table}");
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let path = |suffix: &str| args.out.join(format!("{}{suffix}", args.name));
    let write = |suffix: &str, text: &str| {
        std::fs::write(path(suffix), text).map_err(|e| format!("{}: {e}", path(suffix).display()))
    };
    write(".csv", &report::csv(&results, &config))?;
    let provenance = report::Provenance {
        command,
        commit,
        date,
        machine: machine(),
        wall: start.elapsed(),
    };
    write(".md", &report::markdown(&args.name, &provenance, &table))?;
    report::plot_throughput(&results, &path("-throughput.svg"))?;
    report::plot_memory(&results, &path("-memory.svg"))?;
    eprintln!(
        "wrote {}, .csv, -throughput.svg and -memory.svg; the run took {}",
        path(".md").display(),
        report::wall_time(provenance.wall)
    );
    Ok(())
}

/// The soak's configuration, stores and policy, checked.
fn soak_config(
    args: &SoakArgs,
) -> Result<(soak::Config, Vec<multiverse::Storage>, multiverse::GcPolicy), String> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
    };
    let config = soak::Config {
        keys: args.keys,
        attrs: args.attrs,
        modified: args.modified,
        theta: args.theta,
        threads: args.threads,
        updates: args.updates,
        duration: seconds("seconds", args.seconds)?,
        warmup: seconds("warmup", args.warmup)?,
        reader_every: seconds("reader-every", args.reader_every)?,
        reader_holds: seconds("reader-holds", args.reader_holds)?,
        sample_every: Duration::from_millis(args.sample_ms),
    };
    if config.keys == 0 || config.attrs == 0 || config.threads == 0 || config.updates == 0 {
        return Err("--keys, --attrs, --threads and --updates must be at least 1".into());
    }
    if config.modified > config.attrs {
        return Err(format!(
            "--modified {} is more than --attrs {}",
            config.modified, config.attrs
        ));
    }
    if config.duration.is_zero() || config.reader_every.is_zero() || config.sample_every.is_zero() {
        return Err("--seconds, --reader-every and --sample-ms must be more than 0".into());
    }
    if config.warmup >= config.duration {
        return Err("--warmup must be shorter than --seconds".into());
    }
    multiverse_driver::zipf::Keys::new(1, config.theta).map_err(|e| format!("--theta: {e}"))?;
    let stores = if args.stores.is_empty() {
        multiverse::Storage::ALL.to_vec()
    } else {
        args.stores
            .iter()
            .map(|n| {
                multiverse::Storage::ALL
                    .into_iter()
                    .find(|s| s.name() == n)
                    .ok_or_else(|| format!("no store {n:?}; known: o2n, n2o, time-travel, delta"))
            })
            .collect::<Result<_, _>>()?
    };
    let gc = multiverse::GcPolicy::ALL
        .into_iter()
        .find(|p| p.name() == args.gc)
        .ok_or_else(|| {
            format!(
                "no GC policy {:?}; known: txn-level, cooperative, vacuum, off",
                args.gc
            )
        })?;
    Ok((config, stores, gc))
}

fn run_soak(args: &SoakArgs) -> Result<(), String> {
    let start = Instant::now();
    let date = today();
    let commit = report::commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let (config, stores, gc) = soak_config(args)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("soak-{}", gc.name()));
    let command = std::iter::once("cargo run --release -p multiverse-driver --".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut runs = Vec::new();
    for storage in stores {
        eprintln!(
            "{}: loading {} rows, then {:.0} s of updates",
            storage.name(),
            config.keys,
            config.duration.as_secs_f64()
        );
        let mut next_report = 0.0;
        let run = soak::soak(storage, gc, args.hash, &config, |s| {
            if s.t >= next_report {
                next_report += 10.0;
                eprintln!(
                    "  {:>6.1} s: heap {:>8.1} MiB, {:>9} history versions, lag {:>6}, {} commits{}",
                    s.t,
                    s.heap as f64 / (1024.0 * 1024.0),
                    s.history_versions,
                    s.watermark_lag,
                    s.commits,
                    match s.reader {
                        soak::HOLDING => ", a long reader holds a snapshot",
                        soak::DROPPING => ", a long reader's drop runs",
                        _ => "",
                    }
                );
            }
        });
        runs.push(run);
    }
    let table = soak::table(&runs, &config);
    println!("{table}");
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let path = |suffix: &str| args.out.join(format!("{name}{suffix}"));
    let write = |suffix: &str, text: &str| {
        std::fs::write(path(suffix), text).map_err(|e| format!("{}: {e}", path(suffix).display()))
    };
    write(".csv", &soak::csv(&runs))?;
    soak::plot(&runs, &config, &path(".svg"))?;
    let md = format!(
        "# {name}\n\nCommand: `{command}`\n\nCommit: {commit} · date: {date} · wall time: {} \
         (the whole run) · machine: {}\n\n{} rows of {} attributes ({} modified per update), \
         {} updater threads of {}-update transactions (keys θ = {}), one store at a time for \
         {:.0} s each; a long reader takes a snapshot every {:.0} s and holds it {:.0} s; \
         the live heap (counting allocator, minus what the process held before the \
         database) and `Database::stats()` sampled every {} ms into `{name}.csv`, plotted in \
         `{name}.svg`{}.\n\nThe early median is over the first quarter of the run after a \
         {:.0} s warm-up, the late median over its last quarter; late / early near 1 is a \
         flat heap. `Between readers` counts only the samples taken while no long reader \
         lived (no snapshot held, no drop running): the heap the table settles to. Late / \
         early peak compares the largest heap of the two quarters, which both hold long \
         readers. A long reader's life is its hold and then its snapshot's drop: under the \
         transaction-level policy, the drop of the snapshot that held the watermark back \
         frees the backlog, and `longest reader drop` is how long that took.\n\n{table}",
        report::wall_time(start.elapsed()),
        machine(),
        config.keys,
        config.attrs,
        config.modified,
        config.threads,
        config.updates,
        config.theta,
        config.duration.as_secs_f64(),
        config.reader_every.as_secs_f64(),
        config.reader_holds.as_secs_f64(),
        args.sample_ms,
        if args.hash { " (hash index)" } else { "" },
        config.warmup.as_secs_f64(),
    );
    write(".md", &md)?;
    eprintln!(
        "wrote {}, .csv and .svg; the run took {}",
        path(".md").display(),
        report::wall_time(start.elapsed())
    );
    Ok(())
}

/// The durable experiment's configuration, checked.
fn durable_config(args: &DurableArgs) -> Result<durable::Config, String> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
    };
    let (threads, measure, recovery_records) = if args.full {
        (
            vec![1, 2, 4, 8, 16, 32, 64],
            Duration::from_secs(2),
            durable::FULL_RECOVERY[durable::FULL_RECOVERY.len() - 1],
        )
    } else {
        (
            args.threads.clone(),
            seconds("seconds", args.seconds)?,
            args.recovery_records,
        )
    };
    if threads.is_empty() || threads.contains(&0) {
        return Err("--threads must list counts of at least 1".into());
    }
    if args.keys == 0 || args.recovery_keys == 0 || args.checkpoint_threads == 0 {
        return Err("--keys, --recovery-keys and --checkpoint-threads must be at least 1".into());
    }
    if measure.is_zero() || args.sample_ms == 0 || args.fsyncs == 0 {
        return Err("--seconds, --sample-ms and --fsyncs must be more than 0".into());
    }
    let store = multiverse::Storage::ALL
        .into_iter()
        .find(|s| s.name() == args.store)
        .ok_or_else(|| {
            format!(
                "no store {:?}; known: o2n, n2o, time-travel, delta",
                args.store
            )
        })?;
    Ok(durable::Config {
        dir: args.dir.clone().unwrap_or_else(std::env::temp_dir),
        run: Config {
            keys: args.keys,
            theta: 0.0,
            attrs: subjects::DURABLE_ATTRS,
            modified: 1,
            measure,
            warmup: seconds("warmup", args.warmup)?,
            max_retries: args.max_retries,
        },
        threads,
        subjects: args.subjects.clone(),
        fsyncs: args.fsyncs,
        recovery_records,
        recovery_keys: args.recovery_keys,
        store,
        checkpoint_keys: args.checkpoint_keys,
        checkpoint_seconds: seconds("checkpoint-seconds", args.checkpoint_seconds)?,
        checkpoint_threads: args.checkpoint_threads,
        sample_every: Duration::from_millis(args.sample_ms),
    })
}

fn run_durable(args: &DurableArgs) -> Result<(), String> {
    let start = Instant::now();
    let date = today();
    let commit = report::commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let config = durable_config(args)?;
    if args.list_durable {
        for e in durable::entries(&durable::Config {
            subjects: vec![],
            ..config
        })? {
            println!("  {:<22} {}", e.name, e.kind);
        }
        return Ok(());
    }
    let command = std::iter::once("cargo run --release -p multiverse-driver --".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let path = |name: &str| args.out.join(name);
    let write = |name: &str, text: &str| {
        std::fs::write(path(name), text).map_err(|e| format!("{}: {e}", path(name).display()))
    };

    let fsync = durable::fsync_latency(&config.dir, config.fsyncs)?;
    eprintln!(
        "fdatasync under {}: median {:.3} ms, p99 {:.3} ms ({} syncs)",
        config.dir.display(),
        fsync.median.as_secs_f64() * 1e3,
        fsync.p99.as_secs_f64() * 1e3,
        fsync.samples
    );

    let (results, probes) = durable::throughput(&config, |p| match p {
        Progress::Loading(s) => eprintln!("{s}: loading {} rows", config.run.keys),
        Progress::Done(Some(m)) => eprintln!(
            "  {} · {} · {} threads: {:.0} commits/s, {:.2}% aborts",
            m.subject,
            m.workload,
            m.threads,
            m.throughput(),
            100.0 * m.abort_rate()
        ),
        _ => {}
    })?;
    let fsync_after = durable::fsync_latency(&config.dir, config.fsyncs)?;
    eprintln!(
        "fdatasync after the sweep: median {:.3} ms, p99 {:.3} ms",
        fsync_after.median.as_secs_f64() * 1e3,
        fsync_after.p99.as_secs_f64() * 1e3,
    );
    write("durable.csv", &report::csv(&results, &config.run))?;
    report::plot_throughput(&results, &path("durable-throughput.svg"))?;

    let mut recoveries = Vec::new();
    for records in durable::recovery_sizes(config.recovery_records) {
        for attrs in [4, 32] {
            eprintln!("recovery: [i64; {attrs}] rows, {records} updates in the log");
            let r = if attrs == 4 {
                durable::recovery::<4>(&config, records)?
            } else {
                durable::recovery::<32>(&config, records)?
            };
            eprintln!(
                "  {} log bytes ({:.1} per update); open from the log {:.3} s, checkpoint {:.3} s, \
                 open from the checkpoint {:.3} s",
                r.log_bytes,
                r.bytes_per_update(),
                r.open_s,
                r.checkpoint_s,
                r.open_after_checkpoint_s
            );
            recoveries.push(r);
        }
    }
    if !recoveries.is_empty() {
        write(
            "recovery.csv",
            &durable::recovery_csv(&recoveries, config.store),
        )?;
    }

    let dip = if config.checkpoint_keys > 0 {
        eprintln!(
            "checkpoint: {} rows, {} updaters, {:.1} s",
            config.checkpoint_keys,
            config.checkpoint_threads,
            config.checkpoint_seconds.as_secs_f64()
        );
        let dip = durable::checkpoint_dip(&config)?;
        eprint!("  {}", durable::dip_table(&dip));
        write("checkpoint.csv", &durable::dip_csv(&dip))?;
        durable::plot_dip(&dip, config.store, &path("checkpoint.svg"))?;
        Some(dip)
    } else {
        None
    };

    let provenance = report::Provenance {
        command,
        commit,
        date,
        machine: machine(),
        wall: start.elapsed(),
    };
    let md = durable::markdown(
        &provenance,
        &config,
        &fsync,
        Some(&fsync_after),
        &results,
        &probes,
        &recoveries,
        dip.as_ref(),
    );
    println!("{md}");
    write("durable.md", &md)?;
    eprintln!(
        "wrote {}; the run took {}",
        path("durable.md").display(),
        report::wall_time(start.elapsed())
    );
    Ok(())
}

/// The cluster experiment's configuration, checked.
fn cluster_config(args: &ClusterArgs) -> Result<cluster::Config, String> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
    };
    if args.partitions.is_empty() || args.partitions.iter().any(|&p| !(2..=1024).contains(&p)) {
        return Err("--partitions must list counts from 2 to 1024".into());
    }
    if args.threads.is_empty() || args.threads.contains(&0) {
        return Err("--threads must list counts of at least 1".into());
    }
    if args.keys == 0 || args.accounts == 0 || args.durable_keys == 0 || args.attrs == 0 {
        return Err("--keys, --accounts, --durable-keys and --attrs must be at least 1".into());
    }
    if args.modified > args.attrs {
        return Err(format!(
            "--modified {} is more than --attrs {}",
            args.modified, args.attrs
        ));
    }
    if args.latency_rounds == 0 || args.latency_txns == 0 {
        return Err("--latency-rounds and --latency-txns must be at least 1".into());
    }
    let measure = seconds("seconds", args.seconds)?;
    let durable_measure = seconds("durable-seconds", args.durable_seconds)?;
    if measure.is_zero() || durable_measure.is_zero() {
        return Err("--seconds and --durable-seconds must be more than 0".into());
    }
    multiverse_driver::zipf::Keys::new(1, args.theta).map_err(|e| format!("--theta: {e}"))?;
    let storage = multiverse::Storage::ALL
        .into_iter()
        .find(|s| s.name() == args.store)
        .ok_or_else(|| {
            format!(
                "no store {:?}; known: o2n, n2o, time-travel, delta",
                args.store
            )
        })?;
    Ok(cluster::Config {
        run: Config {
            keys: args.keys,
            theta: args.theta,
            attrs: args.attrs,
            modified: args.modified,
            measure,
            warmup: seconds("warmup", args.warmup)?,
            max_retries: args.max_retries,
        },
        accounts: args.accounts,
        partitions: args.partitions.clone(),
        threads: args.threads.clone(),
        storage,
        durable_measure,
        durable_keys: args.durable_keys,
        dir: args.dir.clone().unwrap_or_else(std::env::temp_dir),
        latency_rounds: args.latency_rounds,
        latency_txns: args.latency_txns,
    })
}

fn run_cluster(args: &ClusterArgs) -> Result<(), String> {
    let start = Instant::now();
    let date = today();
    let commit = report::commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let config = cluster_config(args)?;
    let command = std::iter::once("cargo run --release -p multiverse-driver --".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let show = |durable: bool| {
        move |c: &cluster::Cell| {
            let m = &c.measurement;
            eprintln!(
                "  {}{} · {} · {} threads: {:.0} commits/s, {:.2}% aborts, {:.1}% distributed, \
                 path (median) hops {}, writes {}, syncs {}",
                m.subject,
                if durable { " (durable)" } else { "" },
                m.workload,
                m.threads,
                m.throughput(),
                100.0 * m.abort_rate(),
                100.0 * c.paths.distributed_share(),
                cluster::median(&c.paths.hops).map_or("-".into(), |v| v.to_string()),
                cluster::median(&c.paths.writes).map_or("-".into(), |v| v.to_string()),
                cluster::median(&c.paths.syncs).map_or("-".into(), |v| v.to_string()),
            )
        }
    };
    eprintln!("throughput, in memory");
    let memory = cluster::throughput(&config, false, show(false))?;
    eprintln!("the commit path, durable (under {})", config.dir.display());
    let durable = cluster::throughput(&config, true, show(true))?;
    eprintln!("single-partition latency");
    let latency = cluster::latency(&config)?;
    for l in &latency {
        eprintln!(
            "  {}: median {:.2} µs, p99 {:.2} µs",
            l.subject, l.median_us, l.p99_us
        );
    }
    let provenance = report::Provenance {
        command,
        commit,
        date,
        machine: machine(),
        wall: start.elapsed(),
    };
    let md = cluster::markdown(&provenance, &config, &memory, &durable, &latency);
    println!("{md}");
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let path = |name: &str| args.out.join(name);
    let write = |name: &str, text: &str| {
        std::fs::write(path(name), text).map_err(|e| format!("{}: {e}", path(name).display()))
    };
    write("cluster.md", &md)?;
    let all: Vec<cluster::Cell> = memory.into_iter().chain(durable).collect();
    write("cluster.csv", &cluster::csv(&all))?;
    eprintln!(
        "wrote {} and cluster.csv; the run took {}",
        path("cluster.md").display(),
        report::wall_time(start.elapsed())
    );
    Ok(())
}
