//! What a long serializable transaction's read set costs in memory: the
//! bytes live on the heap while it is open, over the same reads made by a
//! snapshot-isolation transaction (a counting global allocator).
//!
//! ```text
//! cargo run --release --example read_set_memory
//! ```
//!
//! One table of 1,000,000 rows `u64 -> [i64; 4]`; each transaction reads
//! `N` distinct keys with `get` (N = 1,000, 10,000, 100,000), or runs `N`
//! scans of 10 keys each, then reports, and rolls back.

use multiverse::{Database, Isolation, Storage};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to `System` with the caller's arguments; the
// counter is bookkeeping only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic; the reads below happen on this thread.
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() -> Result<(), multiverse::Error> {
    const ROWS: u64 = 1_000_000;
    let db = Database::new(Storage::AppendOnlyN2O);
    let t = db.create_table::<u64, [i64; 4]>("t")?;
    for chunk in 0..ROWS / 10_000 {
        db.transact(|tx| {
            (chunk * 10_000..(chunk + 1) * 10_000).try_for_each(|k| tx.insert(&t, k, [0; 4]))
        })?;
    }
    println!("| reads | kind | snapshot isolation (B) | serializable (B) | read set, B per read |");
    println!("| ---: | --- | ---: | ---: | ---: |");
    for n in [1_000u64, 10_000, 100_000] {
        for kind in ["get", "scan of 10"] {
            let mut bytes = [0isize; 2];
            for (i, isolation) in [Isolation::Snapshot, Isolation::Serializable]
                .into_iter()
                .enumerate()
            {
                let before = live();
                let tx = db.begin_with(isolation);
                let step = ROWS / n;
                for j in 0..n {
                    let k = j * step;
                    if kind == "get" {
                        tx.get(&t, &k)?;
                    } else {
                        tx.scan(&t, k..k + 10)?.for_each(drop);
                    }
                }
                bytes[i] = live() - before;
                tx.rollback();
            }
            let per = (bytes[1] - bytes[0]) as f64 / n as f64;
            println!("| {n} | {kind} | {} | {} | {per:.1} |", bytes[0], bytes[1]);
        }
    }
    Ok(())
}
