//! The single-threaded cost of the commit path, for instruction counts:
//! `N` transactions that update one row and `N` that read it back, on the
//! n2o and delta stores (1,000 rows `u64 -> [i64; 4]`).
//!
//! ```text
//! cargo build --release --example commit_path
//! valgrind --tool=callgrind target/release/examples/commit_path 50000
//! ```
//!
//! Deterministic apart from the hasher's random seed (about ±0.1 % of the
//! total between runs): compare totals of two commits side by side.

use multiverse::{Database, Storage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("N must be a number, not {s:?}"))?,
        None => 100_000,
    };
    for storage in [Storage::AppendOnlyN2O, Storage::Delta] {
        let db = Database::new(storage);
        let t = db.create_table::<u64, [i64; 4]>("t")?;
        db.transact(|tx| (0..1000).try_for_each(|k| tx.insert(&t, k, [0; 4])))?;
        let mut sum = 0i64;
        for i in 0..n {
            let mut tx = db.begin();
            tx.modify(&t, &(i % 1000), |r| r[0] += 1)?;
            tx.commit()?;
            let r = db.begin();
            sum += r.get(&t, &(i % 1000))?.map_or(0, |r| r[0]);
            r.commit()?;
        }
        println!("{storage}: {n} updates, {n} reads, checksum {sum}");
    }
    Ok(())
}
