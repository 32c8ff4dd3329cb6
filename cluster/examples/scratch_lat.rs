use multiverse::{Database, Storage};
use multiverse_cluster::Cluster;
use std::time::Instant;
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(200_000);
    let which = std::env::args().nth(2).unwrap_or_default();
    let db = Database::new(Storage::AppendOnlyN2O);
    let t = db.create_table::<u64, [i64; 1]>("t").unwrap();
    let c = Cluster::builder()
        .partitions(2)
        .table::<u64, [i64; 1]>("t")
        .build()
        .unwrap();
    let ct = c.table::<u64, [i64; 1]>("t").unwrap();
    let keys: Vec<u64> = (0..10_000u64)
        .filter(|k| ct.partition_of(k) == 0)
        .take(1000)
        .collect();
    db.transact(|tx| {
        for k in &keys {
            tx.insert(&t, *k, [0])?;
        }
        Ok(())
    })
    .unwrap();
    c.transact(|tx| {
        for k in &keys {
            tx.insert(&ct, *k, [0])?;
        }
        Ok(())
    })
    .unwrap();
    for round in 0..3 {
        let s = Instant::now();
        if which != "cluster" {
            for i in 0..n {
                let k = keys[(i % 1000) as usize];
                let mut tx = db.begin();
                let [v] = tx.get(&t, &k).unwrap().unwrap();
                tx.update(&t, &k, [v + 1]).unwrap();
                tx.commit().unwrap();
            }
        }
        let d1 = s.elapsed();
        let s = Instant::now();
        if which != "db" {
            for i in 0..n {
                let k = keys[(i % 1000) as usize];
                let mut tx = c.begin();
                let [v] = tx.get(&ct, &k).unwrap().unwrap();
                tx.update(&ct, &k, [v + 1]).unwrap();
                tx.commit().unwrap();
            }
        }
        let d2 = s.elapsed();
        println!(
            "round {round}: db {:.0} ns/txn, cluster {:.0} ns/txn, ratio {:.2}",
            d1.as_nanos() as f64 / n as f64,
            d2.as_nanos() as f64 / n as f64,
            d2.as_secs_f64() / d1.as_secs_f64()
        );
    }
}
