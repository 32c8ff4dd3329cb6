//! What a sweep leaves behind: the comparison table (printed, and kept in
//! `results/<name>.md` under what reproduces it: the command, the commit of
//! the tree it ran on, the date, the wall time and the machine), the CSV and
//! two SVG plots (throughput and memory).

use crate::run::{Config, Measurement};
use crate::subject::Kind;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `1234567.0` as `1.23 M`.
fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Bytes as MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The measurements of one (workload, threads) cell, in sweep order.
fn groups(results: &[Measurement]) -> Vec<(&'static str, usize, Vec<&Measurement>)> {
    let mut order: Vec<(&'static str, usize)> = Vec::new();
    let mut by: BTreeMap<(&'static str, usize), Vec<&Measurement>> = BTreeMap::new();
    for m in results {
        let key = (m.workload, m.threads);
        if !by.contains_key(&key) {
            order.push(key);
        }
        by.entry(key).or_default().push(m);
    }
    order.sort_by_key(|&(w, t)| {
        let pos = crate::workload::every().position(|x| x.name == w);
        (pos, t)
    });
    order
        .into_iter()
        .map(|(w, t)| (w, t, by.remove(&(w, t)).unwrap_or_default()))
        .collect()
}

/// The fastest measurement of `kind` in a group.
fn best<'a>(group: &[&'a Measurement], kind: Kind) -> Option<&'a Measurement> {
    group
        .iter()
        .copied()
        .filter(|m| m.kind == kind)
        .max_by(|a, b| a.throughput().total_cmp(&b.throughput()))
}

/// `x / y` as `1.23x`, or `-` without a `y`.
fn ratio(x: f64, y: Option<f64>) -> String {
    match y {
        Some(y) if y > 0.0 => format!("{:.2}x", x / y),
        _ => "-".into(),
    }
}

/// The comparison table: every cell, then a summary of multiverse's best
/// store against the best transactional peer and the ceilings.
pub fn table(results: &[Measurement], config: &Config) -> String {
    let mut out = String::new();
    let groups = groups(results);
    for (workload, threads, group) in &groups {
        let peer = best(group, Kind::Peer).map(Measurement::throughput);
        let _ = writeln!(
            out,
            "\n{workload} · {threads} thread{} · θ = {} · {} keys · {} attributes, {} modified",
            if *threads == 1 { "" } else { "s" },
            config.theta,
            config.keys,
            config.attrs,
            config.modified,
        );
        let _ = writeln!(
            out,
            "  {:<26} {:<10} {:>10} {:>9} {:>7} {:>8} {:>9} {:>9} {:>9}",
            "subject",
            "kind",
            "txn/s",
            "vs peer",
            "aborts",
            "failed",
            "scan ms",
            "heap MiB",
            "peak MiB"
        );
        for m in group {
            let _ = writeln!(
                out,
                "  {:<26} {:<10} {:>10} {:>9} {:>6.2}% {:>8} {:>9} {:>9.0} {:>9.0}",
                m.subject,
                m.kind.to_string(),
                rate(m.throughput()),
                ratio(m.throughput(), peer),
                100.0 * m.abort_rate(),
                m.failed,
                m.scan_ms.map_or("-".into(), |s| format!("{s:.0}")),
                mib(m.heap_end),
                mib(m.heap_peak),
            );
        }
    }
    out.push_str(&summary(&groups));
    out.push_str(&serializable(&groups));
    out
}

/// The peer a serializable twin is held against.
const SERIALIZABLE_PEER: &str = "surrealmx-ssi";

/// The serializable twins (`mv-<store>-ser`, see
/// [`crate::subjects::SERIALIZABLE`]) of one cell, each with its
/// snapshot-isolation twin, in sweep order.
fn twins<'a>(group: &[&'a Measurement]) -> Vec<(&'a Measurement, &'a Measurement)> {
    let marker = crate::subjects::SERIALIZABLE;
    group
        .iter()
        .filter(|m| m.kind == Kind::Engine && m.subject.contains(marker))
        .filter_map(|ser| {
            let si = ser.subject.replacen(marker, "", 1);
            let si = group.iter().find(|m| m.subject == si)?;
            Some((*ser, *si))
        })
        .collect()
}

/// The median of `xs` (the mean of the middle two for an even count), or
/// `None` if there are none.
fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

/// Issue 14's comparison, if the sweep ran serializable twins beside their
/// snapshot-isolation twins: per cell and twin, the serializable
/// throughput against snapshot isolation's (target ≥ 0.8x) and against
/// surrealmx-ssi's (target ≥ 2x), and both abort rates; then per cell the
/// median and the lowest of the ratios over the twins.
fn serializable(groups: &[(&'static str, usize, Vec<&Measurement>)]) -> String {
    let mut out = String::new();
    let mut cells = Vec::new();
    for (workload, threads, group) in groups {
        let pairs = twins(group);
        if pairs.is_empty() {
            continue;
        }
        if out.is_empty() {
            let _ = writeln!(
                out,
                "\nserializable: each -ser twin against its snapshot-isolation twin (target: >= 0.80x) and {SERIALIZABLE_PEER} (target: >= 2x)\n  {:<17} {:>7} {:<26} {:>10} {:>7} {:>8} {:>9} {:>10}",
                "workload", "threads", "subject", "txn/s", "vs SI", "vs ssi", "SI aborts", "ser aborts"
            );
        }
        let peer = group
            .iter()
            .find(|m| m.subject == SERIALIZABLE_PEER)
            .map(|m| m.throughput());
        let (mut vs_si, mut vs_peer) = (Vec::new(), Vec::new());
        for (ser, si) in pairs {
            if si.throughput() > 0.0 {
                vs_si.push(ser.throughput() / si.throughput());
            }
            if let Some(p) = peer.filter(|&p| p > 0.0) {
                vs_peer.push(ser.throughput() / p);
            }
            let _ = writeln!(
                out,
                "  {:<17} {:>7} {:<26} {:>10} {:>7} {:>8} {:>8.2}% {:>9.2}%",
                workload,
                threads,
                ser.subject,
                rate(ser.throughput()),
                ratio(ser.throughput(), Some(si.throughput())),
                ratio(ser.throughput(), peer),
                100.0 * si.abort_rate(),
                100.0 * ser.abort_rate(),
            );
        }
        let low = |xs: &[f64]| xs.iter().copied().min_by(f64::total_cmp);
        let shown = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}x"));
        cells.push(format!(
            "  {:<17} {:>7} {:>12} {:>9} {:>12} {:>9} {:>10}",
            workload,
            threads,
            shown(median(vs_si.clone())),
            shown(low(&vs_si)),
            shown(median(vs_peer.clone())),
            shown(low(&vs_peer)),
            group
                .iter()
                .find(|m| m.subject == SERIALIZABLE_PEER)
                .map_or("-".into(), |m| format!("{:.2}%", 100.0 * m.abort_rate())),
        ));
    }
    if !cells.is_empty() {
        let _ = writeln!(
            out,
            "\nserializable per cell, over the twins: the median and the lowest ratio\n  {:<17} {:>7} {:>12} {:>9} {:>12} {:>9} {:>10}",
            "workload", "threads", "vs SI median", "lowest", "vs ssi median", "lowest", "ssi aborts"
        );
        for c in cells {
            let _ = writeln!(out, "{c}");
        }
    }
    out
}

/// A ceiling of the summary: a bare index without transactions, and the
/// multiverse stores it bounds.
struct Ceiling {
    /// The ceiling subject's name.
    name: &'static str,
    /// Whether a multiverse subject runs on the same index, and so is
    /// bounded by this ceiling: the skiplist alone (`mv-<store>`) by
    /// `skipmap`, the hash index (`mv-<store>+hash`) by `dashmap`.
    bounds: fn(&str) -> bool,
    /// Whether its writers run free beside a long scan, so that its
    /// long-scan throughput bounds what writers beside a scan can do.
    /// `dashmap`'s iterator holds each shard's read lock while it walks the
    /// shard, so its writers wait for the scanner: its long-scan throughput
    /// measures that lock, not a bound.
    free_beside_scan: bool,
}

/// The ceilings of the summary, in column order.
const CEILINGS: [Ceiling; 2] = [
    Ceiling {
        name: "skipmap",
        bounds: |subject| !subject.contains("+hash"),
        free_beside_scan: true,
    },
    Ceiling {
        name: "dashmap",
        bounds: |subject| subject.contains("+hash"),
        free_beside_scan: false,
    },
];

/// The ratio of the summary for `ceiling` in one cell: the best multiverse
/// store on the ceiling's index against the ceiling, or `None` where there
/// is nothing comparable (no such store or ceiling in the cell, or a
/// long-scan cell whose ceiling's writers wait for its scanner).
fn ceiling_ratio(workload: &str, group: &[&Measurement], ceiling: &Ceiling) -> Option<f64> {
    let long_scan = crate::workload::by_name(workload).is_some_and(|w| w.long_scan);
    if long_scan && !ceiling.free_beside_scan {
        return None;
    }
    let bound = group
        .iter()
        .find(|m| m.kind == Kind::Ceiling && m.subject == ceiling.name)?
        .throughput();
    let store = group
        .iter()
        .filter(|m| m.kind == Kind::Engine && (ceiling.bounds)(&m.subject))
        .map(|m| m.throughput())
        .max_by(f64::total_cmp)?;
    (bound > 0.0).then(|| store / bound)
}

/// The summary: per cell, multiverse's best store against the best
/// transactional peer, and each ceiling against the best store on the same
/// index, with a line under it on what the ratios compare.
fn summary(groups: &[(&'static str, usize, Vec<&Measurement>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsummary: multiverse's best store against the best transactional peer and the ceilings\n  {:<17} {:>7} {:<28} {:<30} {:>8} {:>9} {:>9}",
        "workload", "threads", "best multiverse", "best peer", "vs peer", "vs skipmap", "vs dashmap"
    );
    // Whether the rows compare with a ceiling at all, and whether one of
    // them leaves out a ceiling whose writers wait for its scanner.
    let (mut ceilings, mut waiting) = (false, false);
    for (workload, threads, group) in groups {
        let Some(mv) = best(group, Kind::Engine) else {
            continue;
        };
        let long_scan = crate::workload::by_name(workload).is_some_and(|w| w.long_scan);
        for m in group.iter().filter(|m| m.kind == Kind::Ceiling) {
            ceilings = true;
            waiting |= long_scan
                && CEILINGS
                    .iter()
                    .any(|c| c.name == m.subject && !c.free_beside_scan);
        }
        let peer = best(group, Kind::Peer);
        let [skipmap, dashmap] = CEILINGS
            .each_ref()
            .map(|c| ceiling_ratio(workload, group, c));
        let _ = writeln!(
            out,
            "  {:<17} {:>7} {:<28} {:<30} {:>8} {:>9} {:>9}",
            workload,
            threads,
            format!("{} {}", mv.subject, rate(mv.throughput())),
            peer.map_or("-".into(), |p| format!(
                "{} {}",
                p.subject,
                rate(p.throughput())
            )),
            ratio(mv.throughput(), peer.map(Measurement::throughput)),
            skipmap.map_or("-".into(), |r| format!("{r:.2}x")),
            dashmap.map_or("-".into(), |r| format!("{r:.2}x")),
        );
    }
    if ceilings {
        let _ = writeln!(
            out,
            "  vs skipmap: the best store on the skiplist alone (mv-<store>); vs dashmap: the best store with the hash index (mv-<store>+hash)."
        );
    }
    if waiting {
        let _ = writeln!(
            out,
            "  long-scan has no vs dashmap: dashmap's scan holds each shard's read lock, so its writers wait for the scanner (a lock, not a bound)."
        );
    }
    out
}

/// What reproduces a run, written at the head of `results/<name>.md`.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// The command line, as it would be typed again.
    pub command: String,
    /// The commit of the tree the driver ran on ([`commit`]).
    pub commit: String,
    /// The day the run started (UTC), as `YYYY-MM-DD`.
    pub date: String,
    /// The machine, as far as the driver can tell.
    pub machine: String,
    /// The wall time of the whole run: loading, warm-up and measurement of
    /// every cell.
    pub wall: Duration,
}

/// The commit of the git tree around `dir`: `git rev-parse --short HEAD`,
/// with `-dirty` appended if `git status --porcelain` lists anything (a
/// change, or an untracked file, anywhere in the tree), and `unknown` if git
/// cannot tell (not installed, or not a repository).
pub fn commit(dir: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    describe(
        git(&["rev-parse", "--short", "HEAD"]).as_deref(),
        git(&["status", "--porcelain"]).as_deref(),
    )
}

/// [`commit`] from what git printed: `head` for `rev-parse`, `status` for
/// `status --porcelain` (`None`: git failed).
fn describe(head: Option<&str>, status: Option<&str>) -> String {
    match (head.map(str::trim).filter(|h| !h.is_empty()), status) {
        (None, _) => "unknown".into(),
        (Some(head), Some(status)) if status.trim().is_empty() => head.into(),
        (Some(head), Some(_)) => format!("{head}-dirty"),
        (Some(head), None) => format!("{head} (whether the tree was clean: unknown)"),
    }
}

/// A wall time as `4 min 31 s` (`12.3 s` under a minute, `1 h 02 min 05 s`
/// from an hour).
pub fn wall_time(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.1} s", d.as_secs_f64()),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {:02} min {:02} s", s / 3600, s / 60 % 60, s % 60),
    }
}

/// `results/<name>.md`: what reproduces the run, then the comparison table.
pub fn markdown(name: &str, provenance: &Provenance, table: &str) -> String {
    let Provenance {
        command,
        commit,
        date,
        machine,
        wall,
    } = provenance;
    format!(
        "# {name}\n\nCommand: `{command}`\n\nCommit: {commit} · date: {date} · wall time: {} \
         (the whole run) · machine: {machine}\n\n```text{table}```\n",
        wall_time(*wall),
    )
}

/// Every measurement as one CSV row, with the sweep's parameters.
pub fn csv(results: &[Measurement], config: &Config) -> String {
    let mut out = String::from(
        "subject,kind,workload,threads,keys,theta,attrs,modified,seconds,commits,aborts,retries,\
         failed,txn_per_s,abort_rate,vs_best_peer,scans,scan_ms_median,heap_loaded_mib,\
         heap_peak_mib,heap_end_mib\n",
    );
    for (_, _, group) in groups(results) {
        let peer = best(&group, Kind::Peer).map(Measurement::throughput);
        for m in group {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{:.3},{},{},{},{},{:.0},{:.5},{},{},{},{:.1},{:.1},{:.1}",
                m.subject,
                m.kind,
                m.workload,
                m.threads,
                config.keys,
                config.theta,
                config.attrs,
                config.modified,
                m.seconds,
                m.commits,
                m.aborts,
                m.retries,
                m.failed,
                m.throughput(),
                m.abort_rate(),
                peer.filter(|&p| p > 0.0)
                    .map_or(String::new(), |p| format!("{:.3}", m.throughput() / p)),
                m.scans,
                m.scan_ms.map_or(String::new(), |s| format!("{s:.1}")),
                mib(m.heap_loaded),
                mib(m.heap_peak),
                mib(m.heap_end),
            );
        }
    }
    out
}

/// The distinct values of `items`, in order of first appearance.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// The subjects in sweep order.
fn subjects(results: &[Measurement]) -> Vec<&str> {
    distinct(results.iter().map(|m| m.subject.as_str()))
}

/// A plotting error as a string.
fn plot_err<E: std::fmt::Debug>(e: E) -> String {
    format!("plotting: {e:?}")
}

/// Throughput against threads, one panel per workload, one line per
/// subject.
pub fn plot_throughput(results: &[Measurement], path: &Path) -> Result<(), String> {
    let workloads = distinct(groups(results).into_iter().map(|(name, _, _)| name));
    let names = subjects(results);
    let max_threads = results.iter().map(|m| m.threads).max().unwrap_or(1);
    let cols = 3;
    let rows = workloads.len().div_ceil(cols).max(1);
    let root = SVGBackend::new(path, (1500, 420 * rows as u32 + 60)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (legend, panels) = root.split_vertically(60);
    for (i, name) in names.iter().enumerate() {
        let x = 10 + (i as i32 % 8) * 185;
        let y = 8 + (i as i32 / 8) * 22;
        let color = Palette99::pick(i).to_rgba();
        legend
            .draw(&Rectangle::new(
                [(x, y + 4), (x + 14, y + 14)],
                color.filled(),
            ))
            .map_err(plot_err)?;
        legend
            .draw(&Text::new(
                name.to_string(),
                (x + 18, y + 2),
                ("sans-serif", 14),
            ))
            .map_err(plot_err)?;
    }
    for (panel, workload) in panels.split_evenly((rows, cols)).iter().zip(&workloads) {
        let cells: Vec<&Measurement> = results.iter().filter(|m| m.workload == *workload).collect();
        let top = cells.iter().map(|m| m.throughput()).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(*workload, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5f64..max_threads as f64 + 0.5, 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc("txn/s")
            .x_labels(max_threads.min(16))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| rate(*y))
            .draw()
            .map_err(plot_err)?;
        for (i, name) in names.iter().enumerate() {
            let mut points: Vec<(f64, f64)> = cells
                .iter()
                .filter(|m| m.subject == *name)
                .map(|m| (m.threads as f64, m.throughput()))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 4, color.filled())),
                )
                .map_err(plot_err)?;
        }
    }
    root.present().map_err(plot_err)
}

/// Heap held by each subject after loading and at the end of each workload
/// (at the largest thread count), one line per subject.
pub fn plot_memory(results: &[Measurement], path: &Path) -> Result<(), String> {
    let names = subjects(results);
    let max_threads = results.iter().map(|m| m.threads).max().unwrap_or(1);
    let mut labels = vec!["loaded"];
    let mut lines: Vec<Vec<(f64, f64)>> = vec![Vec::new(); names.len()];
    for (workload, threads, group) in groups(results) {
        if threads != max_threads {
            continue;
        }
        labels.push(workload);
        let x = (labels.len() - 1) as f64;
        for m in group {
            let i = names.iter().position(|n| *n == m.subject).expect("listed");
            if lines[i].is_empty() {
                lines[i].push((0.0, mib(m.heap_loaded)));
            }
            lines[i].push((x, mib(m.heap_end)));
        }
    }
    let top = lines.iter().flatten().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("heap held after loading and after each workload ({max_threads} threads)"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.3f64..(labels.len() as f64 - 0.7), 0f64..top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .y_desc("MiB")
        .x_labels(labels.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).copied().unwrap_or("").to_string()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(plot_err)?;
    for (i, (name, points)) in names.iter().zip(lines).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measurement of `commits` transactions in one second.
    fn cell(subject: &str, kind: Kind, workload: &'static str, commits: u64) -> Measurement {
        Measurement {
            subject: subject.into(),
            kind,
            workload,
            threads: 2,
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

    /// Every subject of the default experiment's kinds in one `workload`
    /// cell: the hash store fastest, the skiplist store at half the
    /// skipmap, a peer, and dashmap slowest of all.
    fn sweep(workload: &'static str) -> Vec<Measurement> {
        vec![
            cell("mv-n2o", Kind::Engine, workload, 40_000),
            cell("mv-n2o+hash", Kind::Engine, workload, 80_000),
            cell("skipdb-optimistic", Kind::Peer, workload, 10_000),
            cell("skipmap", Kind::Ceiling, workload, 80_000),
            cell("dashmap", Kind::Ceiling, workload, 100),
        ]
    }

    /// The summary's row of `workload`, split into its columns from `vs
    /// peer` on.
    fn summary_ratios(results: &[Measurement], workload: &str) -> Vec<String> {
        let text = summary(&groups(results));
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(workload))
            .unwrap_or_else(|| panic!("no summary row for {workload} in\n{text}"));
        let columns: Vec<String> = row.split_whitespace().map(String::from).collect();
        columns[columns.len() - 3..].to_vec()
    }

    /// Each serializable twin is held against its own snapshot-isolation
    /// twin and surrealmx-ssi; the per-cell line takes the median and the
    /// lowest over the twins; a sweep without twins has no such section.
    #[test]
    fn serializable_twins_are_compared_with_their_own_si_twin_and_ssi() {
        let w = "ycsb-a";
        let mut results = vec![
            cell("mv-o2n", Kind::Engine, w, 100_000),
            cell("mv-n2o+hash", Kind::Engine, w, 200_000),
            cell("mv-o2n-ser", Kind::Engine, w, 90_000),
            cell("mv-n2o+hash-ser", Kind::Engine, w, 100_000),
            cell("surrealmx-ssi", Kind::Peer, w, 50_000),
        ];
        results[2].aborts = 10_000;
        let text = serializable(&groups(&results));
        let row = |subject: &str| -> Vec<String> {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().nth(2) == Some(subject))
                .unwrap_or_else(|| panic!("no row for {subject} in\n{text}"));
            // After the workload, threads, subject and txn/s ("90.0 K").
            line.split_whitespace().skip(5).map(String::from).collect()
        };
        assert_eq!(row("mv-o2n-ser"), ["0.90x", "1.80x", "0.00%", "10.00%"]);
        assert_eq!(row("mv-n2o+hash-ser"), ["0.50x", "2.00x", "0.00%", "0.00%"]);
        let cell_line = text.lines().last().unwrap();
        let columns: Vec<&str> = cell_line.split_whitespace().collect();
        assert_eq!(
            columns,
            [w, "2", "0.70x", "0.50x", "1.90x", "1.80x", "0.00%"]
        );
        assert_eq!(serializable(&groups(&sweep(w))), "");
    }

    #[test]
    fn long_scan_summary_has_no_dashmap_ratio() {
        let ratios = summary_ratios(&sweep("long-scan"), "long-scan");
        assert_eq!(ratios, ["8.00x", "0.50x", "-"]);
        assert!(summary(&groups(&sweep("long-scan"))).contains("long-scan has no vs dashmap"));
    }

    #[test]
    fn ceilings_are_compared_with_stores_on_their_own_index() {
        // The skiplist store against skipmap, the hash store against dashmap;
        // never the hash store against the bare skiplist.
        let ratios = summary_ratios(&sweep("update-intensive"), "update-intensive");
        assert_eq!(ratios, ["8.00x", "0.50x", "800.00x"]);
        assert!(!summary(&groups(&sweep("update-intensive"))).contains("long-scan has no"));
    }

    #[test]
    fn a_summary_without_ceilings_says_nothing_about_them() {
        let stores: Vec<Measurement> = sweep("long-scan")
            .into_iter()
            .filter(|m| m.kind == Kind::Engine)
            .collect();
        let text = summary(&groups(&stores));
        assert_eq!(summary_ratios(&stores, "long-scan"), ["-", "-", "-"]);
        assert!(!text.contains("vs skipmap:"), "{text}");
        assert!(!text.contains("long-scan has no"), "{text}");
    }

    #[test]
    fn a_ceiling_without_a_store_on_its_index_has_no_ratio() {
        let only_hash: Vec<Measurement> = sweep("ycsb-a")
            .into_iter()
            .filter(|m| m.subject != "mv-n2o")
            .collect();
        assert_eq!(
            summary_ratios(&only_hash, "ycsb-a"),
            ["8.00x", "-", "800.00x"]
        );
    }

    #[test]
    fn the_commit_is_marked_dirty_or_unknown() {
        assert_eq!(describe(Some("9a5ca67\n"), Some("")), "9a5ca67");
        assert_eq!(
            describe(Some("9a5ca67\n"), Some(" M driver/src/report.rs\n")),
            "9a5ca67-dirty"
        );
        assert_eq!(describe(None, None), "unknown");
        assert_eq!(describe(Some(""), Some("")), "unknown");
    }

    #[test]
    fn wall_times_read_in_minutes_and_hours() {
        assert_eq!(wall_time(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(wall_time(Duration::from_secs(271)), "4 min 31 s");
        assert_eq!(wall_time(Duration::from_secs(3725)), "1 h 02 min 05 s");
    }

    #[test]
    fn the_markdown_names_command_commit_date_and_wall_time() {
        let provenance = Provenance {
            command: "cargo run --release -p multiverse-driver --".into(),
            commit: "9a5ca67-dirty".into(),
            date: "2026-12-03".into(),
            machine: "2 cores".into(),
            wall: Duration::from_secs(271),
        };
        let md = markdown("main", &provenance, "\ntable\n");
        assert!(
            md.starts_with("# main\n\nCommand: `cargo run --release -p multiverse-driver --`\n")
        );
        assert!(md.contains(
            "Commit: 9a5ca67-dirty · date: 2026-12-03 · wall time: 4 min 31 s (the whole run)"
        ));
        assert!(md.ends_with("```text\ntable\n```\n"));
    }
}
