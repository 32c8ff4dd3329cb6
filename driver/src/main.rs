//! The workload driver: sweeps subjects x workloads x threads, prints the
//! comparison table and writes `results/<name>.{md,csv}` and
//! `results/<name>-{throughput,memory}.svg`.
//!
//! ```text
//! cargo run --release -p multiverse-driver                  # the default experiment
//! cargo run --release -p multiverse-driver -- --list        # subjects and workloads
//! cargo run --release -p multiverse-driver -- --help
//! ```

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use multiverse_driver::run::{self, Config, Progress};
use multiverse_driver::subjects::{self, Entry};
use multiverse_driver::{report, workload};
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
    /// Subjects, comma-separated (see --list); `all` adds every GC policy.
    /// Default: every store under the default GC policy, every peer and
    /// both ceilings.
    #[arg(long, value_delimiter = ',')]
    subjects: Vec<String>,
    /// Workloads, comma-separated (see --list). Default: all.
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
                let known: Vec<&str> = workload::ALL.iter().map(|w| w.name).collect();
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
            "subjects (default: every store under the default GC policy, the peers, the ceilings):"
        );
        for e in subjects::all() {
            println!("  {:<28} {}", e.name, e.kind);
        }
        println!("workloads (default: all):");
        for w in workload::ALL {
            println!("  {:<18} {}", w.name, w.about);
        }
        return ExitCode::SUCCESS;
    }
    match sweep(&args) {
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
