//! What a sweep leaves behind: the comparison table (printed, and kept in
//! `results/<name>.md` with the command and the machine), the CSV and two
//! SVG plots (throughput and memory).

use crate::run::{Config, Measurement};
use crate::subject::Kind;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

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
        let pos = crate::workload::ALL.iter().position(|x| x.name == w);
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
    let _ = writeln!(
        out,
        "\nsummary: multiverse's best store against the best transactional peer and the ceilings\n  {:<17} {:>7} {:<28} {:<30} {:>8} {:>9} {:>9}",
        "workload", "threads", "best multiverse", "best peer", "vs peer", "vs skipmap", "vs dashmap"
    );
    for (workload, threads, group) in &groups {
        let Some(mv) = best(group, Kind::Engine) else {
            continue;
        };
        let peer = best(group, Kind::Peer);
        let ceiling = |name: &str| {
            group
                .iter()
                .find(|m| m.subject == name)
                .map(|m| m.throughput())
        };
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
            ratio(mv.throughput(), ceiling("skipmap")),
            ratio(mv.throughput(), ceiling("dashmap")),
        );
    }
    out
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
