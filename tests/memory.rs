//! Memory measured by a counting allocator: what an update keeps once the
//! collector has run, and what churn (insert then delete) leaves behind.
//! One test function, so that no other test shares the allocator's count.

use multiverse::{Database, GcPolicy, Storage, Table};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes live after the collector has had its chance: the policy's own
/// collection, then crossbeam-epoch's queues flushed (each flush frees a
/// bounded number of the collector's bags and may allocate a queue node of
/// its own: flush a bounded number of times and take the lowest count).
fn settled(db: &Database) -> isize {
    if matches!(db.gc_policy(), GcPolicy::Vacuum { .. }) {
        db.vacuum();
    }
    settled_heap()
}

type Row = [i64; 16];

fn policies() -> [GcPolicy; 3] {
    [
        GcPolicy::Vacuum {
            interval: Duration::from_secs(3600),
        },
        GcPolicy::Cooperative,
        GcPolicy::TransactionLevel,
    ]
}

fn memory_kept_per_update(storage: Storage, policy: GcPolicy) {
    let db = Database::builder().storage(storage).gc(policy).build();
    let t: Table<u64, Row> = db.create_table("t").unwrap();
    let mut tx = db.begin();
    for k in 0..100 {
        tx.insert(&t, k, [0; 16]).unwrap();
    }
    tx.commit().unwrap();
    let update = |i: u64| {
        let mut tx = db.begin();
        tx.modify(&t, &(i % 100), |r| r[(i % 16) as usize] += 1)
            .unwrap();
        tx.commit().unwrap();
    };
    (0..2_000).for_each(update);
    let before = settled(&db);
    const UPDATES: u64 = 20_000;
    (0..UPDATES).for_each(update);
    let after = settled(&db);
    let per_update = (after - before) as f64 / UPDATES as f64;
    // One whole version is 160 bytes and more; a settled store keeps none.
    assert!(
        per_update < 4.0,
        "{storage}/{policy}: {per_update:.1} bytes kept per update ({before} -> {after})"
    );
}

fn memory_returns_after_churn(storage: Storage, policy: GcPolicy) {
    let db = Database::builder().storage(storage).gc(policy).build();
    let t: Table<u64, Row> = db.create_table("t").unwrap();
    let churn = |round: u64| {
        let keys = round * 1000..(round + 1) * 1000;
        let mut tx = db.begin();
        for k in keys.clone() {
            tx.insert(&t, k, [k as i64; 16]).unwrap();
        }
        tx.commit().unwrap();
        for k in keys.clone().step_by(2) {
            let mut tx = db.begin();
            tx.modify(&t, &k, |r| r[0] += 1).unwrap();
            tx.commit().unwrap();
        }
        let mut tx = db.begin();
        for k in keys {
            tx.delete(&t, &k).unwrap();
        }
        tx.commit().unwrap();
        // A later transaction (the next round's, or this reader) lets the
        // deleting commit's batch be collected.
        let _ = db.begin().get(&t, &0).unwrap();
    };
    churn(0);
    let before = settled(&db);
    for round in 1..=20 {
        churn(round);
    }
    let after = settled(&db);
    assert_eq!(
        t.stats().records,
        0,
        "{storage}/{policy}: every deleted row left the index"
    );
    // 20 rounds inserted 20,000 rows of 128+ bytes; what stays is noise.
    assert!(
        after - before < 64 * 1024,
        "{storage}/{policy}: {} bytes left after churn ({before} -> {after})",
        after - before
    );
}

/// Issue 11's scenario, as a new user would try it: load 1,000 rows, open a
/// long reader, update every row 20 times, drop the reader, update every row
/// 3 more times, let the collector run (without calling `vacuum()`) and read
/// every row once. The heap must be back near the loaded table: at most 2x
/// (one or two versions per row), on every store and policy but `Off`.
fn memory_returns_after_a_long_reader(storage: Storage, policy: GcPolicy) {
    const ROWS: u64 = 1000;
    let base = settled_heap();
    let db = Database::builder().storage(storage).gc(policy).build();
    let t: Table<u64, [u64; 10]> = db.create_table("t").unwrap();
    let mut tx = db.begin();
    for k in 0..ROWS {
        tx.insert(&t, k, [k; 10]).unwrap();
    }
    tx.commit().unwrap();
    let loaded = LIVE.load(Ordering::SeqCst) - base;
    let update_all = || {
        for k in 0..ROWS {
            let mut tx = db.begin();
            tx.modify(&t, &k, |r| r[0] += 1).unwrap();
            tx.commit().unwrap();
        }
    };
    let reader = db.begin();
    (0..20).for_each(|_| update_all());
    for k in 0..ROWS {
        assert_eq!(reader.get(&t, &k).unwrap(), Some([k; 10]));
    }
    drop(reader);
    (0..3).for_each(|_| update_all());
    if let GcPolicy::Vacuum { .. } = policy {
        // "Give the collector a moment": wait (bounded) until the vacuum
        // thread has completed two sweeps since the updates ended.
        let sweeps = db.stats().gc.sweeps;
        for _ in 0..1000 {
            if db.stats().gc.sweeps >= sweeps + 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let reads = db.begin();
    for k in 0..ROWS {
        assert!(reads.get(&t, &k).unwrap().is_some());
    }
    drop(reads);
    let after = LIVE.load(Ordering::SeqCst) - base;
    assert!(
        after <= 2 * loaded,
        "{storage}/{policy}: {after} bytes live after the long reader, {loaded} loaded ({:.2}x); {:?}",
        after as f64 / loaded as f64,
        db.stats()
    );
}

/// The heap with crossbeam-epoch's queues flushed (see [`settled`]): a
/// base line that no earlier test's garbage moves afterwards.
fn settled_heap() -> isize {
    let mut lowest = LIVE.load(Ordering::SeqCst);
    for _ in 0..1024 {
        crossbeam_epoch::pin().flush();
        lowest = lowest.min(LIVE.load(Ordering::SeqCst));
    }
    lowest
}

#[test]
fn memory_per_update_and_after_churn() {
    for storage in Storage::ALL {
        for policy in policies() {
            memory_kept_per_update(storage, policy);
            if policy != GcPolicy::Cooperative {
                memory_returns_after_churn(storage, policy);
            }
        }
        for policy in [
            GcPolicy::Vacuum {
                interval: Duration::from_millis(10),
            },
            GcPolicy::Cooperative,
            GcPolicy::TransactionLevel,
        ] {
            memory_returns_after_a_long_reader(storage, policy);
        }
    }
}
