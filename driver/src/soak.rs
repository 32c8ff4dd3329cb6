//! The soak: does the heap stay flat over minutes of updates with long
//! readers coming and going?
//!
//! One store at a time, a table of `keys` rows is loaded, then `threads`
//! updaters run update transactions without pause while, every
//! `reader_every`, one long reader takes a snapshot and holds it for
//! `reader_holds` (reading rows now and then, and checking at the end that
//! what it read first has not changed). Every `sample_every` the driver
//! samples the live heap (the counting allocator, minus what the process
//! held before the database was built) and `Database::stats()`.
//!
//! The claim a run tests is that garbage collection keeps up: once the first
//! readers have come and gone, the heap of the last quarter of the run is no
//! larger than that of the first quarter after the warm-up. [`Run::ratio`]
//! is the ratio of their medians; medians, so that the peaks of the readers'
//! windows (which both quarters contain) weigh alike.
//!
//! Only the public multiverse API is used: `Database`, `begin`/`commit`,
//! `snapshot`, `stats`.

use crate::alloc;
use crate::subject::{bump, checksum, initial_row, Key};
use crate::zipf::{Keys, Rng};
use multiverse::{Database, Error, GcPolicy, Storage, Table};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 10_000;

/// Rows a long reader reads when it takes its snapshot and checks again
/// before it lets the snapshot go.
const READER_ROWS: u64 = 64;

/// How often a long reader wakes during its hold to read one row.
const READER_TICK: Duration = Duration::from_millis(50);

/// What a soak does.
#[derive(Clone, Debug)]
pub struct Config {
    /// Rows in the table.
    pub keys: u64,
    /// Attributes (64-bit) per row.
    pub attrs: usize,
    /// Attributes an update modifies.
    pub modified: usize,
    /// Zipfian skew of the updated keys, in `[0, 1)`; 0 is uniform.
    pub theta: f64,
    /// Updater threads.
    pub threads: usize,
    /// Rows each update transaction modifies.
    pub updates: usize,
    /// How long the updates run, per store.
    pub duration: Duration,
    /// The start of the run left out of the early median.
    pub warmup: Duration,
    /// A long reader starts at every multiple of this.
    pub reader_every: Duration,
    /// How long each long reader holds its snapshot.
    pub reader_holds: Duration,
    /// The time between two samples.
    pub sample_every: Duration,
}

/// One sample of a running soak.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the updates started.
    pub t: f64,
    /// Live heap bytes beyond what the process held before the database.
    pub heap: usize,
    /// Version records of every kind (`TableStats::versions`).
    pub versions: usize,
    /// Version records other than each row's newest.
    pub history_versions: usize,
    /// Bytes held by those history records.
    pub history_bytes: usize,
    /// Versions reclaimed since the database was built.
    pub reclaimed: u64,
    /// Sweeps of every table completed (`GcStats::sweeps`).
    pub sweeps: u64,
    /// Commits the watermark lags behind the clock.
    pub watermark_lag: u64,
    /// Update transactions committed so far.
    pub commits: u64,
    /// Update transactions that lost a conflict so far.
    pub aborts: u64,
    /// What the long reader was doing when the sample was taken: one of
    /// [`NO_READER`], [`HOLDING`], [`DROPPING`].
    pub reader: u8,
}

/// [`Sample::reader`]: no long reader has a snapshot.
pub const NO_READER: u8 = 0;
/// [`Sample::reader`]: a long reader holds its snapshot.
pub const HOLDING: u8 = 1;
/// [`Sample::reader`]: a long reader has let its snapshot go, and dropping
/// it has not returned yet (under the transaction-level policy the reader
/// that held the watermark back frees the backlog in that drop).
pub const DROPPING: u8 = 2;

/// One long reader's life, in seconds since the updates started.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Window {
    /// It took its snapshot.
    pub start: f64,
    /// It began to drop the snapshot.
    pub release: f64,
    /// The drop returned.
    pub end: f64,
}

/// One store's soak.
#[derive(Clone, Debug)]
pub struct Run {
    /// The store's name (`Storage::name`).
    pub store: &'static str,
    /// The GC policy's name (`GcPolicy::name`).
    pub gc: &'static str,
    /// Heap held once the table was loaded, before any update.
    pub heap_loaded: usize,
    /// The samples, in time order.
    pub samples: Vec<Sample>,
    /// The long readers' lives.
    pub windows: Vec<Window>,
    /// Update transactions committed, counted once the updaters stopped.
    pub commits: u64,
    /// Update transactions that lost a conflict, counted likewise.
    pub aborts: u64,
}

/// The median of `values` (0 for none).
fn median(mut values: Vec<usize>) -> usize {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

impl Run {
    /// The largest heap sampled.
    pub fn peak(&self) -> usize {
        self.samples.iter().map(|s| s.heap).max().unwrap_or(0)
    }

    /// The quarter of the span after `warmup` of a run of `duration`: its
    /// early window and its late window, in seconds.
    fn quarters(warmup: Duration, duration: Duration) -> ((f64, f64), (f64, f64)) {
        let (w, d) = (warmup.as_secs_f64(), duration.as_secs_f64());
        let q = (d - w).max(0.0) / 4.0;
        ((w, w + q), (d - q, d))
    }

    /// Median heap of the samples in `[from, to]` (only those taken while
    /// no long reader lived, if `quiet`).
    fn median_between(&self, (from, to): (f64, f64), quiet: bool) -> usize {
        median(
            self.samples
                .iter()
                .filter(|s| s.t >= from && s.t <= to && (!quiet || s.reader == NO_READER))
                .map(|s| s.heap)
                .collect(),
        )
    }

    /// The largest heap of the samples in `[from, to]`.
    fn peak_between(&self, (from, to): (f64, f64)) -> usize {
        self.samples
            .iter()
            .filter(|s| s.t >= from && s.t <= to)
            .map(|s| s.heap)
            .max()
            .unwrap_or(0)
    }

    /// Late over early peak: the largest heap of the last quarter over that
    /// of the first quarter after the warm-up. Each quarter holds long
    /// readers' windows (when a run is at least four reader periods long),
    /// so this is whether what a long reader pins grows over time.
    pub fn peak_ratio(&self, config: &Config) -> f64 {
        let (early, late) = Self::quarters(config.warmup, config.duration);
        let early = self.peak_between(early);
        if early == 0 {
            return f64::NAN;
        }
        self.peak_between(late) as f64 / early as f64
    }

    /// Median heap over the first quarter after the warm-up (only while
    /// no long reader lived, if `quiet`).
    pub fn early_median(&self, config: &Config, quiet: bool) -> usize {
        self.median_between(Self::quarters(config.warmup, config.duration).0, quiet)
    }

    /// Median heap over the last quarter of the run (only while no long
    /// reader lived, if `quiet`).
    pub fn late_median(&self, config: &Config, quiet: bool) -> usize {
        self.median_between(Self::quarters(config.warmup, config.duration).1, quiet)
    }

    /// Late over early median: about 1 when the heap is flat, above 1 when
    /// it grows. Over every sample, or (`quiet`) over those taken between
    /// long readers, which is the heap the table settles to.
    pub fn ratio(&self, config: &Config, quiet: bool) -> f64 {
        let early = self.early_median(config, quiet);
        if early == 0 {
            return f64::NAN;
        }
        self.late_median(config, quiet) as f64 / early as f64
    }

    /// The longest time a long reader's drop took, in seconds.
    pub fn longest_drop(&self) -> f64 {
        self.windows
            .iter()
            .map(|w| w.end - w.release)
            .fold(0.0, f64::max)
    }

    /// The last sample (a default one if there is none).
    pub fn last(&self) -> Sample {
        self.samples.last().copied().unwrap_or_default()
    }
}

/// One updater's counts, on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Counts {
    commits: AtomicU64,
    aborts: AtomicU64,
}

/// Loads `keys` rows of `attrs` attributes.
fn load(db: &Database, table: &Table<Key, Vec<u64>>, keys: u64, attrs: usize) {
    let mut key = 0;
    while key < keys {
        let mut tx = db.begin();
        for k in key..keys.min(key + LOAD_BATCH) {
            tx.insert(table, k, initial_row(k, attrs))
                .unwrap_or_else(|e| panic!("soak: insert {k}: {e}"));
        }
        tx.commit().unwrap_or_else(|e| panic!("soak: load: {e}"));
        key += LOAD_BATCH;
    }
}

/// Whether `e` is a lost conflict (anything else is a bug).
fn lost_conflict(e: Error) -> bool {
    match e {
        Error::WriteConflict | Error::Aborted => true,
        other => panic!("soak: unexpected error {other}"),
    }
}

/// Runs update transactions until `stop`: at least one, so that even a
/// tiny soak updates.
fn updater(
    db: &Database,
    table: &Table<Key, Vec<u64>>,
    config: &Config,
    seed: u64,
    counts: &Counts,
    stop: &AtomicBool,
) {
    let keys = Keys::new(config.keys, config.theta).expect("checked by the caller");
    let mut rng = Rng::new(seed);
    loop {
        let mut tx = db.begin();
        let mut lost = false;
        for _ in 0..config.updates {
            let k = keys.next(&mut rng);
            if let Err(e) = tx.modify(table, &k, |row| bump(row, config.modified)) {
                lost = lost_conflict(e);
                break;
            }
        }
        let lost = lost || tx.commit().err().is_some_and(lost_conflict);
        // Relaxed: statistics, read approximately by the sampler and exactly
        // after the threads are joined.
        if lost {
            counts.aborts.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.commits.fetch_add(1, Ordering::Relaxed);
        }
        // Relaxed: the flag orders nothing; the scope's join does.
        if stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Sleeps until `until` or until `stop`, in steps of at most [`READER_TICK`];
/// whether it reached `until`.
fn sleep_until(until: Instant, stop: &AtomicBool) -> bool {
    loop {
        // Relaxed: as in `updater`.
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(READER_TICK));
    }
}

/// The checksums of the first rows, as `read` sees them.
fn first_rows(keys: u64, mut read: impl FnMut(Key) -> u64) -> Vec<u64> {
    (0..keys.min(READER_ROWS)).map(&mut read).collect()
}

/// Starts a long reader at every multiple of `reader_every` until `end`;
/// each holds its snapshot for `reader_holds` (cut short at `end`) and
/// checks that the rows it read first read the same at the end.
#[allow(clippy::too_many_arguments)]
fn long_readers(
    db: &Database,
    table: &Table<Key, Vec<u64>>,
    config: &Config,
    start: Instant,
    end: Instant,
    reader: &AtomicU8,
    windows: &Mutex<Vec<Window>>,
    stop: &AtomicBool,
) {
    let mut rng = Rng::new(0x50a6);
    for k in 1u32.. {
        let at = start + config.reader_every * k;
        if at >= end || !sleep_until(at, stop) {
            return;
        }
        let snapshot = db.snapshot();
        let read = |key: Key| {
            snapshot
                .read(table, &key, |row| checksum(row.expect("loaded")))
                .unwrap_or_else(|e| panic!("soak: long reader: {e}"))
        };
        let before = first_rows(config.keys, read);
        // Relaxed: a flag for the sampler's statistics.
        reader.store(HOLDING, Ordering::Relaxed);
        let from = start.elapsed().as_secs_f64();
        let until = (at + config.reader_holds).min(end);
        while Instant::now() < until && sleep_until((Instant::now() + READER_TICK).min(until), stop)
        {
            read(rng.below(config.keys));
        }
        let after = first_rows(config.keys, read);
        assert_eq!(before, after, "soak: a long reader's snapshot changed");
        // Relaxed: as above.
        reader.store(DROPPING, Ordering::Relaxed);
        let release = start.elapsed().as_secs_f64();
        drop(snapshot);
        // Relaxed: as above.
        reader.store(NO_READER, Ordering::Relaxed);
        let end = start.elapsed().as_secs_f64();
        windows.lock().expect("no panic holds it").push(Window {
            start: from,
            release,
            end,
        });
    }
}

/// Soaks `storage` under `gc`; `progress` hears each sample.
pub fn soak(
    storage: Storage,
    gc: GcPolicy,
    hash: bool,
    config: &Config,
    mut progress: impl FnMut(&Sample),
) -> Run {
    // Room for every sample and window before the baseline, so that their
    // growth is not counted as the database's.
    let expected = (config.duration.as_secs_f64() / config.sample_every.as_secs_f64()) as usize;
    let mut samples = Vec::with_capacity(expected + 16);
    let windows = Mutex::new(Vec::with_capacity(
        (config.duration.as_secs_f64() / config.reader_every.as_secs_f64()) as usize + 4,
    ));
    let counts: Vec<Counts> = (0..config.threads).map(|_| Counts::default()).collect();
    let baseline = alloc::allocated();
    let heap = || alloc::allocated().saturating_sub(baseline);

    let db = Database::builder().storage(storage).gc(gc).build();
    let table = if hash {
        db.create_hash_table("soak")
    } else {
        db.create_table("soak")
    }
    .expect("a fresh database");
    load(&db, &table, config.keys, config.attrs);
    let heap_loaded = heap();

    let stop = AtomicBool::new(false);
    let reader = AtomicU8::new(NO_READER);
    let start = Instant::now();
    let end = start + config.duration;
    std::thread::scope(|s| {
        for (i, c) in counts.iter().enumerate() {
            let (db, table, stop) = (&db, &table, &stop);
            s.spawn(move || updater(db, table, config, i as u64 + 1, c, stop));
        }
        let (db, table, windows, stop, reader) = (&db, &table, &windows, &stop, &reader);
        s.spawn(move || long_readers(db, table, config, start, end, reader, windows, stop));
        for i in 0u32.. {
            let at = start + config.sample_every * i;
            if at > end {
                break;
            }
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            // The heap first: `stats` allocates while it walks.
            let heap = heap();
            let t = start.elapsed().as_secs_f64();
            let stats = db.stats();
            // Relaxed: statistics, see `updater`.
            let sum = |f: fn(&Counts) -> &AtomicU64| {
                counts
                    .iter()
                    .map(|c| f(c).load(Ordering::Relaxed))
                    .sum::<u64>()
            };
            let sample = Sample {
                t,
                heap,
                versions: stats.total.versions,
                history_versions: stats.total.history_versions,
                history_bytes: stats.total.history_bytes,
                reclaimed: stats.gc.reclaimed_versions,
                sweeps: stats.gc.sweeps,
                watermark_lag: stats.gc.watermark_lag,
                commits: sum(|c| &c.commits),
                aborts: sum(|c| &c.aborts),
                // Relaxed: as in `long_readers`.
                reader: reader.load(Ordering::Relaxed),
            };
            progress(&sample);
            samples.push(sample);
        }
        // Relaxed: the scope's join orders everything after it.
        stop.store(true, Ordering::Relaxed);
    });
    // Relaxed: the scope joined the updaters.
    let total = |f: fn(&Counts) -> &AtomicU64| {
        counts
            .iter()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    Run {
        commits: total(|c| &c.commits),
        aborts: total(|c| &c.aborts),
        store: storage.name(),
        gc: gc.name(),
        heap_loaded,
        samples,
        windows: windows.into_inner().expect("no panic holds it"),
    }
}

/// Every sample of every run as one CSV row.
pub fn csv(runs: &[Run]) -> String {
    let mut out = String::from(
        "store,gc,t_s,heap_bytes,versions,history_versions,history_bytes,\
         reclaimed_versions,sweeps,watermark_lag,commits,aborts,long_reader\n",
    );
    for r in runs {
        for s in &r.samples {
            let _ = writeln!(
                out,
                "{},{},{:.3},{},{},{},{},{},{},{},{},{},{}",
                r.store,
                r.gc,
                s.t,
                s.heap,
                s.versions,
                s.history_versions,
                s.history_bytes,
                s.reclaimed,
                s.sweeps,
                s.watermark_lag,
                s.commits,
                s.aborts,
                s.reader
            );
        }
    }
    out
}

/// Bytes in MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The per-store table of a soak, in Markdown.
pub fn table(runs: &[Run], config: &Config) -> String {
    let ((e0, e1), (l0, l1)) = Run::quarters(config.warmup, config.duration);
    let mut out = format!(
        "early: {e0:.0}–{e1:.0} s, late: {l0:.0}–{l1:.0} s; heap in MiB; \
         `between readers`: samples taken while no long reader lived\n\n\
         | store | gc | heap at load | peak | early median | late median | late / early median \
         | early median between readers | late median between readers | late / early between readers \
         | late / early peak | longest reader drop s | commits/s | aborts | history versions (last) \
         | max watermark lag |\n\
         | --- | --- |{}\n",
        " ---: |".repeat(14)
    );
    for r in runs {
        let attempts = r.commits + r.aborts;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} \
             | {:.1} | {:.0} | {:.2}% | {} | {} |",
            r.store,
            r.gc,
            mib(r.heap_loaded),
            mib(r.peak()),
            mib(r.early_median(config, false)),
            mib(r.late_median(config, false)),
            r.ratio(config, false),
            mib(r.early_median(config, true)),
            mib(r.late_median(config, true)),
            r.ratio(config, true),
            r.peak_ratio(config),
            r.longest_drop(),
            r.commits as f64 / config.duration.as_secs_f64().max(1e-9),
            100.0 * r.aborts as f64 / attempts.max(1) as f64,
            r.last().history_versions,
            r.samples.iter().map(|s| s.watermark_lag).max().unwrap_or(0),
        );
    }
    out
}

/// A plotting error as text.
fn plot_err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// What a plot panel draws of a sample.
type Value = fn(&Sample) -> f64;

/// Heap (MiB, top) and history versions (bottom) over time, one line per
/// store, the long readers' windows (of the first run; every run starts
/// them on the same schedule) shaded.
pub fn plot(runs: &[Run], config: &Config, path: &Path) -> Result<(), String> {
    let x_end = config.duration.as_secs_f64();
    let windows = runs.first().map(|r| r.windows.clone()).unwrap_or_default();
    let root = SVGBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (top, bottom) = root.split_vertically(560);
    let gc = runs.first().map_or("", |r| r.gc);
    let panels: [(_, String, &str, Value); 2] = [
        (
            top,
            format!(
                "soak: live heap ({} rows, {} updaters, gc {gc}; grey: a long reader holds a snapshot, light: its drop runs)",
                config.keys, config.threads
            ),
            "heap MiB",
            |s| mib(s.heap),
        ),
        (
            bottom,
            "history versions kept (Database::stats)".to_string(),
            "history versions",
            |s| s.history_versions as f64,
        ),
    ];
    for (area, caption, y_desc, value) in panels {
        let y_top = runs
            .iter()
            .flat_map(|r| r.samples.iter().map(value))
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_end, 0f64..y_top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the updates started")
            .y_desc(y_desc)
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(windows.iter().flat_map(|w| {
                [
                    Rectangle::new(
                        [(w.start, 0.0), (w.release, y_top)],
                        RGBColor(200, 200, 200).filled(),
                    ),
                    Rectangle::new(
                        [(w.release, 0.0), (w.end, y_top)],
                        RGBColor(232, 232, 232).filled(),
                    ),
                ]
            }))
            .map_err(plot_err)?;
        for (i, r) in runs.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    r.samples.iter().map(|s| (s.t, value(s))),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(r.store)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seconds: u64, warmup: u64) -> Config {
        Config {
            keys: 1_000,
            attrs: 4,
            modified: 1,
            theta: 0.0,
            threads: 2,
            updates: 4,
            duration: Duration::from_secs(seconds),
            warmup: Duration::from_secs(warmup),
            reader_every: Duration::from_millis(100),
            reader_holds: Duration::from_millis(60),
            sample_every: Duration::from_millis(50),
        }
    }

    /// A run whose heap at second `t` is `heap(t)`, sampled once a second.
    fn run_of(seconds: u64, heap: impl Fn(u64) -> usize) -> Run {
        Run {
            store: "n2o",
            gc: "txn-level",
            heap_loaded: 100,
            samples: (0..=seconds)
                .map(|t| Sample {
                    t: t as f64,
                    heap: heap(t),
                    ..Sample::default()
                })
                .collect(),
            windows: vec![],
            commits: 0,
            aborts: 0,
        }
    }

    #[test]
    fn the_ratio_compares_the_last_quarter_with_the_first_after_warmup() {
        // 10 s warm-up, 110 s run: early is 10..=35 s, late 85..=110 s.
        let config = config(110, 10);
        let growing = run_of(110, |t| 1_000 + 10 * t as usize);
        assert_eq!(growing.early_median(&config, false), 1_225); // t = 22.5 s
        assert_eq!(growing.late_median(&config, false), 1_975); // t = 97.5 s
        assert!(growing.ratio(&config, false) > 1.5);
        assert_eq!(growing.peak_ratio(&config), 2_100.0 / 1_350.0);
        // The warm-up's spike counts for the peak, not for the early median.
        let flat = run_of(110, |t| if t < 10 { 50_000 } else { 1_000 });
        assert_eq!(flat.ratio(&config, false), 1.0);
        assert_eq!(flat.peak(), 50_000);
        // Between readers leaves out the samples a long reader lived in.
        let mut readers = run_of(110, |t| if t % 10 < 3 { 9_000 } else { 1_000 });
        for s in &mut readers.samples {
            if s.heap == 9_000 {
                s.reader = HOLDING;
            }
        }
        assert_eq!(readers.early_median(&config, true), 1_000);
        assert_eq!(readers.late_median(&config, true), 1_000);
    }

    #[test]
    fn a_short_soak_samples_updates_and_readers_on_every_store() {
        let config = config(0, 0);
        let config = Config {
            duration: Duration::from_millis(400),
            ..config
        };
        for storage in Storage::ALL {
            let run = soak(storage, GcPolicy::default(), false, &config, |_| {});
            let last = run.last();
            assert!(!run.samples.is_empty(), "{}", storage.name());
            assert!(
                run.commits + run.aborts >= 2,
                "each updater runs at least once"
            );
            assert!(last.versions >= 1_000, "{}: {last:?}", storage.name());
            let text = csv(std::slice::from_ref(&run));
            assert_eq!(text.lines().count(), run.samples.len() + 1);
            assert!(table(std::slice::from_ref(&run), &config)
                .contains(&format!("| {} |", storage.name())));
            let svg = std::env::temp_dir().join(format!("soak-test-{}.svg", std::process::id()));
            plot(&[run], &config, &svg).expect("plots");
            assert!(std::fs::read_to_string(&svg)
                .expect("written")
                .contains("<svg"));
            let _ = std::fs::remove_file(&svg);
        }
    }
}
