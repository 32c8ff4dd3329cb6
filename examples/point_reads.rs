//! Point-read cost through the hash index and through the skiplist.
//!
//! ```text
//! cargo run --release --example point_reads [-- KEYS READS ROUNDS]
//! ```
//!
//! For each store in [`Storage::ALL`], on a fresh database holding `KEYS`
//! (default 100 000) rows `u64 -> [i64; 10]` in a hash-indexed table
//! ([`Database::create_hash_table`]) and the same rows in a skiplist table:
//! one thread reads `READS` (default 2 000 000) uniformly random keys of
//! each table, every read a `Transaction::read` in one long read-only
//! transaction (so the figure is the point lookup, not `begin`/`commit`),
//! `ROUNDS` (default 3) times, alternating the tables. Prints the best
//! round's nanoseconds per read for each table. Bounded by counts, never by
//! wall time.

use multiverse::{Database, Error, Storage, Table};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

type Row = [i64; 10];

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Nanoseconds per read of `reads` random keys of `table`.
fn per_read(db: &Database, table: &Table<u64, Row>, keys: u64, reads: u64) -> Result<f64, Error> {
    let tx = db.begin();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = Instant::now();
    let mut sum = 0i64;
    for _ in 0..reads {
        let k = rng.below(keys);
        sum = sum.wrapping_add(tx.read(table, &k, |r| r.map_or(0, |r| r[0]))?);
    }
    black_box(sum);
    Ok(start.elapsed().as_nanos() as f64 / reads as f64)
}

fn run(keys: u64, reads: u64, rounds: u32) -> Result<(), Error> {
    println!("store        keys  hash ns/read  skiplist ns/read");
    for storage in Storage::ALL {
        let db = Database::new(storage);
        let hashed = db.create_hash_table::<u64, Row>("hashed")?;
        let ordered = db.create_table::<u64, Row>("ordered")?;
        for table in [&hashed, &ordered] {
            for start in (0..keys).step_by(10_000) {
                let mut tx = db.begin();
                for k in start..keys.min(start + 10_000) {
                    tx.insert(table, k, [k as i64; 10])?;
                }
                tx.commit()?;
            }
        }
        let (mut best_hash, mut best_list) = (f64::MAX, f64::MAX);
        for _ in 0..rounds {
            best_hash = best_hash.min(per_read(&db, &hashed, keys, reads)?);
            best_list = best_list.min(per_read(&db, &ordered, keys, reads)?);
        }
        println!(
            "{:<11} {keys:>6} {best_hash:>13.1} {best_list:>17.1}",
            storage.name()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i)
            .map_or(Ok(default), |a| a.parse().map_err(|e| format!("{a}: {e}")))
    };
    let parsed = (|| Ok::<_, String>((arg(0, 100_000)?, arg(1, 2_000_000)?, arg(2, 3)?)))();
    let (keys, reads, rounds) = match parsed {
        Ok((0, _, _)) => {
            eprintln!("KEYS must be at least 1");
            return ExitCode::FAILURE;
        }
        Ok(p) => p,
        Err(e) => {
            eprintln!("usage: point_reads [KEYS READS ROUNDS]: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(keys, reads, rounds as u32) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("point_reads: {e}");
            ExitCode::FAILURE
        }
    }
}
