//! The garbage-collection policies side by side (Wu et al. 2017, §5, Figs.
//! 14-15): throughput and memory over time of an update-heavy workload, with
//! and without one long-running reader, on every store.
//!
//! ```text
//! cargo run --release --example gc_policies [-- SECONDS THREADS results/gc.csv]
//! ```
//!
//! Memory is the heap the process holds (a counting global allocator), so
//! it includes garbage waiting in crossbeam-epoch's queues.

use multiverse::{Database, Error, GcPolicy, Storage, Table};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts the bytes the process holds on the heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const KEYS: u64 = 10_000;
type Row = [i64; 10];

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// One run: `threads` writers doing 10-update transactions (the paper's
/// update-intensive mix, without its reads) for `secs`; with `long_reader`,
/// one snapshot is held for the first half. Returns per-tenth samples of
/// (commits/s, live heap MiB) and the totals.
fn run(
    storage: Storage,
    gc: GcPolicy,
    threads: usize,
    secs: f64,
    long_reader: bool,
) -> (Vec<(f64, f64)>, u64, u64) {
    let db = Database::builder().storage(storage).gc(gc).build();
    let t: Table<u64, Row> = db.create_table("t").unwrap();
    let mut tx = db.begin();
    for k in 0..KEYS {
        tx.insert(&t, k, [k as i64; 10]).unwrap();
    }
    tx.commit().unwrap();
    let commits = AtomicU64::new(0);
    let aborts = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let total = Duration::from_secs_f64(secs);
    let mut samples = Vec::new();
    std::thread::scope(|s| {
        for w in 0..threads {
            let (db, t, commits, aborts, stop) = (&db, &t, &commits, &aborts, &stop);
            s.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1);
                while !stop.load(Ordering::Relaxed) {
                    let mut tx = db.begin();
                    let mut ok = true;
                    for _ in 0..10 {
                        let key = xorshift(&mut x) % KEYS;
                        match tx.modify(t, &key, |r| r[0] += 1) {
                            Ok(()) => {}
                            Err(Error::WriteConflict) => {
                                ok = false;
                                break;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    if ok && tx.commit().is_ok() {
                        commits.fetch_add(1, Ordering::Relaxed);
                    } else {
                        aborts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let reader = long_reader.then(|| db.begin());
        let mut reader = reader;
        let start = Instant::now();
        let mut last = 0;
        for tick in 1..=10 {
            std::thread::sleep(total / 10);
            if tick == 5 {
                reader = None; // the long reader ends half-way
            }
            let now = commits.load(Ordering::Relaxed);
            let rate = (now - last) as f64 / (total.as_secs_f64() / 10.0);
            last = now;
            samples.push((rate, LIVE.load(Ordering::Relaxed) as f64 / (1 << 20) as f64));
        }
        drop(reader);
        stop.store(true, Ordering::Relaxed);
        let _ = start;
    });
    (samples, commits.into_inner(), aborts.into_inner())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let out = args.get(3);
    let policies = [
        GcPolicy::Off,
        GcPolicy::Vacuum {
            interval: Duration::from_millis(10),
        },
        GcPolicy::Cooperative,
        GcPolicy::TransactionLevel,
    ];
    let mut csv = String::from("store,policy,long_reader,tick,commits_per_s,live_heap_mib\n");
    println!("update-intensive, {KEYS} rows of 10 attributes, {threads} writer threads, {secs} s per run");
    println!(
        "{:<12} {:<12} {:>6} {:>12} {:>8} {:>12} {:>12}",
        "store", "policy", "reader", "commits/s", "aborts", "heap MiB end", "heap MiB max"
    );
    for storage in Storage::ALL {
        for policy in policies {
            for long_reader in [false, true] {
                let (samples, commits, aborts) = run(storage, policy, threads, secs, long_reader);
                // Let the epoch collector free the dropped database's garbage
                // before the next run is measured.
                for _ in 0..8 {
                    crossbeam_epoch::pin().flush();
                }
                for (i, (rate, mib)) in samples.iter().enumerate() {
                    let _ = writeln!(
                        csv,
                        "{},{},{},{},{:.0},{:.2}",
                        storage.name(),
                        policy.name(),
                        long_reader,
                        i + 1,
                        rate,
                        mib
                    );
                }
                let max = samples.iter().map(|s| s.1).fold(0.0, f64::max);
                println!(
                    "{:<12} {:<12} {:>6} {:>12.0} {:>8} {:>12.1} {:>12.1}",
                    storage.name(),
                    policy.name(),
                    if long_reader { "yes" } else { "no" },
                    commits as f64 / secs,
                    aborts,
                    samples.last().unwrap().1,
                    max
                );
            }
        }
    }
    if let Some(path) = out {
        std::fs::write(path, csv).expect("write the CSV");
        println!("wrote {path}");
    }
}
