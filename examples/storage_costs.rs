//! The paper's storage cost model, measured on every store (Wu et al. 2017,
//! §3.2 and Figs. 9-11): what an update keeps, what an update costs, and
//! what reading an old snapshot costs as its chain grows.
//!
//! ```text
//! cargo run --release --example storage_costs [-- results/storage_costs.csv]
//! ```
//!
//! Prints three tables and, with a path, writes them as one CSV.

use multiverse::{Database, Storage, Table, Tuple};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

const KEYS: u64 = 1000;

/// Loads `KEYS` rows of `n` attributes.
fn load<const N: usize>(storage: Storage) -> (Database, Table<u64, [i64; N]>) {
    let db = Database::new(storage);
    let t = db.create_table("t").unwrap();
    let mut tx = db.begin();
    for k in 0..KEYS {
        tx.insert(&t, k, [k as i64; N]).unwrap();
    }
    tx.commit().unwrap();
    (db, t)
}

/// Modifies `k` attributes of every row once, in one transaction per row.
fn update_all<const N: usize>(db: &Database, t: &Table<u64, [i64; N]>, k: usize, round: i64) {
    for key in 0..KEYS {
        let mut tx = db.begin();
        tx.modify(t, &key, |r| {
            for a in r.iter_mut().take(k) {
                *a += round;
            }
        })
        .unwrap();
        tx.commit().unwrap();
    }
}

/// History bytes kept per update, and nanoseconds per update transaction.
fn update_cost<const N: usize>(storage: Storage, k: usize) -> (f64, f64) {
    let (db, t) = load::<N>(storage);
    let _reader = db.begin(); // keeps every version reachable
    let before = db.stats().total.history_bytes;
    let rounds = 10;
    let start = Instant::now();
    for round in 1..=rounds {
        update_all(&db, &t, k, round);
    }
    let ns = start.elapsed().as_nanos() as f64 / (rounds as u64 * KEYS) as f64;
    let kept = (db.stats().total.history_bytes - before) as f64 / (rounds as u64 * KEYS) as f64;
    (kept, ns)
}

/// Nanoseconds per point read of the oldest version (an old snapshot) and of
/// the newest, when every chain holds `len` versions.
fn read_cost<const N: usize>(storage: Storage, len: usize) -> (f64, f64) {
    let (db, t) = load::<N>(storage);
    let old = db.begin();
    for round in 1..len {
        update_all(&db, &t, 1, round as i64);
    }
    let new = db.begin();
    let time = |tx: &multiverse::Transaction| {
        let mut samples = Vec::new();
        for _ in 0..7 {
            let start = Instant::now();
            let mut key = 0u64;
            for _ in 0..KEYS {
                key = (key + 617) % KEYS; // a fixed stride through all keys
                black_box(tx.read(&t, &key, |r| r.map(|r| r[0])).unwrap());
            }
            samples.push(start.elapsed().as_nanos() as f64 / KEYS as f64);
        }
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    (time(&old), time(&new))
}

fn main() {
    let out = std::env::args().nth(1);
    let mut csv = String::from("experiment,store,attributes,modified,chain_length,value,unit\n");

    println!("History kept per update, and update cost (one row per transaction, 10 rounds x {KEYS} rows, an old snapshot open):");
    println!(
        "{:<12} {:>5} {:>9} {:>14} {:>12}",
        "store", "attrs", "modified", "bytes/update", "ns/update"
    );
    for (n, k) in [
        (10, 1),
        (10, 10),
        (100, 1),
        (100, 10),
        (100, 50),
        (100, 100),
    ] {
        for storage in Storage::ALL {
            let (kept, ns) = match n {
                10 => update_cost::<10>(storage, k),
                _ => update_cost::<100>(storage, k),
            };
            println!(
                "{:<12} {:>5} {:>9} {:>14.1} {:>12.0}",
                storage.name(),
                n,
                k,
                kept,
                ns
            );
            let _ = writeln!(
                csv,
                "history_bytes_per_update,{},{n},{k},,{kept:.1},bytes",
                storage.name()
            );
            let _ = writeln!(csv, "update_latency,{},{n},{k},,{ns:.0},ns", storage.name());
        }
    }

    println!();
    println!("Point read (median of 7 passes over {KEYS} keys), 10 attributes, chain of L versions per row:");
    println!(
        "{:<12} {:>4} {:>16} {:>16}",
        "store", "L", "old snapshot ns", "new snapshot ns"
    );
    for len in [1, 10, 100] {
        for storage in Storage::ALL {
            let (old, new) = read_cost::<10>(storage, len);
            println!(
                "{:<12} {:>4} {:>16.0} {:>16.0}",
                storage.name(),
                len,
                old,
                new
            );
            let _ = writeln!(
                csv,
                "old_snapshot_read,{},10,1,{len},{old:.0},ns",
                storage.name()
            );
            let _ = writeln!(
                csv,
                "new_snapshot_read,{},10,1,{len},{new:.0},ns",
                storage.name()
            );
        }
    }

    // The delta record itself, for reference: a before-image of k attributes.
    let a = [0i64; 100];
    let mut b = a;
    b[0] = 1;
    println!();
    println!(
        "A before-image of 1 of 100 i64 attributes holds {} bytes (header excluded).",
        <[i64; 100]>::delta_bytes(&a.delta_to(&b))
    );

    if let Some(path) = out {
        std::fs::write(&path, csv).expect("write the CSV");
        println!("wrote {path}");
    }
}
