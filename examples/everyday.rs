//! The everyday API in one program: `transact`, snapshots, time travel,
//! `upsert`, a reversed scan and `drop_table` (the README's section "The
//! everyday API"; kept here so that CI builds it).
//!
//! ```text
//! cargo run --example everyday
//! ```

use multiverse::{Database, Error, GcPolicy, Storage, Table};
use std::time::Duration;

fn main() -> Result<(), Error> {
    let db = Database::builder()
        .storage(Storage::Delta)
        .gc(GcPolicy::TransactionLevel)
        .retain(Duration::from_secs(60)) // keep a minute of history for snapshot_at
        .transact_attempts(10) // the default
        .build();
    let accounts: Table<u64, [i64; 4]> = db.create_table("accounts")?;

    // A closure run in a transaction, committed, and retried on a write conflict.
    db.transact(|tx| {
        tx.insert(&accounts, 1, [100, 0, 0, 0])?;
        tx.insert(&accounts, 2, [0, 0, 0, 0])
    })?;
    let moved: i64 = db.transact(|tx| {
        tx.modify(&accounts, &1, |r| r[0] -= 10)?;
        tx.modify(&accounts, &2, |r| r[0] += 10)?;
        Ok(10)
    })?;

    // A read-only snapshot: Clone + Send + Sync, for many threads at once.
    let snap = db.snapshot();
    let reader = std::thread::spawn({
        let (snap, accounts) = (snap.clone(), accounts.clone());
        move || snap.get(&accounts, &2)
    });
    assert_eq!(reader.join().unwrap()?, Some([moved, 0, 0, 0]));

    // Time travel to an earlier commit (within the retain window).
    let then = snap.timestamp();
    drop(snap); // the window, not the snapshot, keeps `then` reachable now
    db.transact(|tx| tx.upsert(&accounts, 3, [1, 0, 0, 0]))?; // insert or replace
    assert_eq!(db.snapshot_at(then)?.get(&accounts, &3)?, None);

    // Scans are double-ended.
    let descending: Vec<u64> = db
        .snapshot()
        .scan(&accounts, ..)?
        .rev()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(descending, [3, 2, 1]);

    db.drop_table("accounts")?; // its handles now answer Err(Error::NoSuchTable { .. })
    Ok(())
}
