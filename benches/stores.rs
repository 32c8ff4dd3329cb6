//! Micro-benchmarks of the four version stores, side by side.
//!
//! ```text
//! cargo bench --bench stores [-- FILTER]
//! ```
//!
//! Every group runs each store of [`Storage::ALL`] through the same code
//! ([`each_store`]) on a table `u64 -> [i64; 10]`; criterion names a result
//! `group/store`. The medians of the committed run are in `results/micro.md`.
//!
//! | group | one iteration |
//! | --- | --- |
//! | `point_read_new/chain_L` | a zero-copy `read` of a random key's newest version, L versions per chain |
//! | `point_read_old/chain_L` | the same read by the old snapshot: each chain's oldest version |
//! | `update` | a transaction that modifies one attribute of a random key and commits |
//! | `insert` | a transaction that inserts one fresh key and commits |
//! | `scan_1000` | a transaction that scans 1,000 consecutive rows from a random start |
//! | `codec/{row_i64x10,row_i64x10_persist,vec_u8_100}` | encode and decode one row through the codec a durable database uses (no store) |
//! | `in_place/update_N` | `update` on the delta store with N attributes, the master in place (`[i64; N]`) against copy-on-write (the same row behind a type without a word layout) |
//! | `in_place/read_N` | a point read of the newest version of a random key, same two layouts |
//!
//! **Point reads.** [`READ_KEYS`] rows; the old snapshot is taken after the
//! load, then L - 1 rounds update every row once (one transaction per row),
//! then the new snapshot is taken. Both snapshots live for the whole
//! benchmark and only the `read` is timed, not `begin`. The database runs
//! with `GcPolicy::Off`: the old snapshot pins the watermark, so no policy
//! could prune the chains anyway, and `Off` keeps any GC bookkeeping out of
//! the timed loop.
//!
//! **Writes and scans** run the default policy (transaction-level) on
//! [`ROWS`] rows, one transaction per iteration (`begin` included), with no
//! reader held open: chains stay short, the steady state of a write-heavy
//! table. `insert` takes its keys from a counter above the loaded rows, so the
//! table grows by one row per iteration (to a few million rows by the end of
//! a store's run, dropped before the next store): later samples insert into a
//! slightly deeper skiplist.
//!
//! Keys come from a xorshift generator (a nanosecond or so, inside the
//! timed loop, the same sequence every run). The run times set at the end of
//! this file keep a full run near two minutes; the machine that made
//! `results/micro.md` has 2 cores and is noisy, so compare stores within one
//! run only.

use criterion::{criterion_group, criterion_main, Bencher, BenchmarkId, Criterion};
use multiverse::{
    Codec, Codecs, Database, GcPolicy, SliceDelta, Storage, Table, Transaction, Tuple,
};
use std::hint::black_box;
use std::time::Duration;

/// The row: ten attributes, as in `examples/storage_costs.rs`.
type Row = [i64; 10];

/// Rows of the point-read tables: 1,000 chains of up to 100 versions.
const READ_KEYS: u64 = 1_000;
/// Rows of the update, insert and scan tables.
const ROWS: u64 = 100_000;
/// Rows per scan.
const SCAN_LEN: u64 = 1_000;

/// Runs `routine` on every store of [`Storage::ALL`] in one group, each on
/// its own state from `setup`. The state is built only if criterion's filter
/// selects the store, and dropped before the next store is set up.
fn each_store<S>(
    c: &mut Criterion,
    group: &str,
    setup: impl Fn(Storage) -> S,
    mut routine: impl FnMut(&mut Bencher, &mut S),
) {
    let mut g = c.benchmark_group(group);
    for storage in Storage::ALL {
        let mut state = None;
        g.bench_function(BenchmarkId::from_parameter(storage), |b| {
            routine(b, state.get_or_insert_with(|| setup(storage)))
        });
    }
    g.finish();
}

/// A xorshift64 generator of keys in `0..n`.
struct Keys {
    state: u64,
    n: u64,
}

impl Keys {
    fn new(n: u64) -> Self {
        Keys {
            state: 0x9E37_79B9_7F4A_7C15,
            n,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % self.n
    }
}

/// A database of `rows` rows `k -> [k; 10]`, loaded in one transaction.
fn load(storage: Storage, gc: GcPolicy, rows: u64) -> (Database, Table<u64, Row>) {
    let db = Database::builder().storage(storage).gc(gc).build();
    let t = db.create_table("t").unwrap();
    let mut tx = db.begin();
    for k in 0..rows {
        tx.insert(&t, k, [k as i64; 10]).unwrap();
    }
    tx.commit().unwrap();
    (db, t)
}

/// [`READ_KEYS`] rows whose chains hold `len` versions each, and a snapshot
/// of the oldest and of the newest.
struct Chains {
    t: Table<u64, Row>,
    old: Transaction,
    new: Transaction,
    keys: Keys,
}

impl Chains {
    fn build(storage: Storage, len: usize) -> Self {
        let (db, t) = load(storage, GcPolicy::Off, READ_KEYS);
        let old = db.begin();
        for _ in 1..len {
            for key in 0..READ_KEYS {
                let mut tx = db.begin();
                tx.modify(&t, &key, |r| r[0] += 1).unwrap();
                tx.commit().unwrap();
            }
        }
        let new = db.begin();
        let first = |tx: &Transaction| tx.read(&t, &7, |r| r.map(|r| r[0])).unwrap();
        assert_eq!(first(&old), Some(7));
        assert_eq!(first(&new), Some(7 + len as i64 - 1));
        Chains {
            t,
            old,
            new,
            keys: Keys::new(READ_KEYS),
        }
    }
}

fn point_reads(c: &mut Criterion) {
    for len in [1, 10, 100] {
        for (name, old) in [("point_read_new", false), ("point_read_old", true)] {
            let group = format!("{name}/chain_{len}");
            each_store(
                c,
                &group,
                |storage| Chains::build(storage, len),
                |b, ch| {
                    let tx = if old { &ch.old } else { &ch.new };
                    b.iter(|| {
                        tx.read(&ch.t, &ch.keys.next(), |row| {
                            black_box(row);
                        })
                        .unwrap()
                    })
                },
            );
        }
    }
}

/// Runs one transaction per iteration on every store, each on [`ROWS`]
/// loaded rows with the default GC policy: `begin`, `body`, `commit`, all
/// timed. `state` makes the per-store state `body` needs (keys, a counter).
fn each_store_txn<X>(
    c: &mut Criterion,
    group: &str,
    state: impl Fn() -> X,
    mut body: impl FnMut(&mut Transaction, &Table<u64, Row>, &mut X),
) {
    each_store(
        c,
        group,
        |storage| {
            let (db, t) = load(storage, GcPolicy::default(), ROWS);
            (db, t, state())
        },
        |b, (db, t, x)| {
            b.iter(|| {
                let mut tx = db.begin();
                body(&mut tx, t, x);
                black_box(tx.commit().unwrap())
            })
        },
    );
}

fn update(c: &mut Criterion) {
    each_store_txn(
        c,
        "update",
        || Keys::new(ROWS),
        |tx, t, keys| tx.modify(t, &keys.next(), |r| r[0] += 1).unwrap(),
    );
}

fn insert(c: &mut Criterion) {
    each_store_txn(
        c,
        "insert",
        || ROWS,
        |tx, t, next| {
            tx.insert(t, *next, [*next as i64; 10]).unwrap();
            *next += 1;
        },
    );
}

fn scan(c: &mut Criterion) {
    each_store_txn(
        c,
        "scan_1000",
        || Keys::new(ROWS - SCAN_LEN + 1),
        |tx, t, starts| {
            let start = starts.next();
            let mut rows = 0;
            for row in tx.scan(t, start..start + SCAN_LEN).unwrap() {
                black_box(row);
                rows += 1;
            }
            debug_assert_eq!(rows, SCAN_LEN);
        },
    );
}

/// Encodes a row into a reused buffer and decodes it back, through the
/// codec `Codecs::row` gives a durable database: `[i64; 10]` is composed at
/// run time from the codec of `i64` (one dynamic call per row, then the
/// element's slice functions); `Vec<u8>` is the registered built-in (a
/// copy). `_persist` is `Codec::of`, the codec of a registered type, for
/// comparison.
fn codec(c: &mut Criterion) {
    fn round_trip<X: 'static>(b: &mut Bencher, codec: Codec<X>, row: X) {
        let mut buf = Vec::new();
        b.iter(|| {
            buf.clear();
            codec.encode(black_box(&row), &mut buf);
            black_box(codec.decode_all(black_box(&buf)).unwrap())
        })
    }
    let codecs = Codecs::new();
    let mut g = c.benchmark_group("codec");
    let row: Row = std::array::from_fn(|i| i as i64 * 1_000_003 - 7);
    g.bench_function("row_i64x10", |b| {
        round_trip(b, codecs.row::<Row>().unwrap(), row)
    });
    g.bench_function("row_i64x10_persist", |b| {
        round_trip(b, Codec::<Row>::of(), row)
    });
    let bytes: Vec<u8> = (0..100).collect();
    g.bench_function("vec_u8_100", |b| {
        round_trip(b, codecs.row::<Vec<u8>>().unwrap(), bytes.clone())
    });
    g.finish();
}

/// `[i64; N]` behind a type of its own, which does not tell the store that
/// its attributes are words: the delta store keeps it copy-on-write, as it
/// kept every row before the in-place master (docs/design.md, IP1).
#[derive(Clone, PartialEq)]
struct CopyOnWrite<const N: usize>([i64; N]);

impl<const N: usize> Tuple for CopyOnWrite<N> {
    type Delta = SliceDelta<i64>;
    fn attributes(&self) -> usize {
        N
    }
    fn delta_to(&self, newer: &Self) -> Self::Delta {
        self.0.delta_to(&newer.0)
    }
    fn apply(&mut self, delta: &Self::Delta) {
        self.0.apply(delta)
    }
    fn delta_bytes(delta: &Self::Delta) -> usize {
        <[i64; N]>::delta_bytes(delta)
    }
}

/// The row types of `in_place/*`: `[i64; N]` and its copy-on-write twin.
trait Wide: Tuple {
    fn make(k: i64) -> Self;
    fn bump(&mut self);
    fn first(&self) -> i64;
}

impl<const N: usize> Wide for [i64; N] {
    fn make(k: i64) -> Self {
        [k; N]
    }
    fn bump(&mut self) {
        self[0] += 1;
    }
    fn first(&self) -> i64 {
        self[0]
    }
}

impl<const N: usize> Wide for CopyOnWrite<N> {
    fn make(k: i64) -> Self {
        CopyOnWrite([k; N])
    }
    fn bump(&mut self) {
        self.0[0] += 1;
    }
    fn first(&self) -> i64 {
        self.0[0]
    }
}

/// Rows of the `in_place` tables: few enough to stay in the caches, so
/// that the groups measure the store's work (the master's allocation and
/// copy) rather than the index's cache misses.
const WIDE_ROWS: u64 = 1_000;

/// The delta store loaded with [`WIDE_ROWS`] rows of `R`.
fn load_wide<R: Wide>() -> (Database, Table<u64, R>) {
    let db = Database::builder()
        .storage(Storage::Delta)
        .in_place_master(true)
        .build();
    let t = db.create_table("t").unwrap();
    let mut tx = db.begin();
    for k in 0..WIDE_ROWS {
        tx.insert(&t, k, R::make(k as i64)).unwrap();
    }
    tx.commit().unwrap();
    (db, t)
}

/// One update (one attribute) and one point read per iteration, on the
/// delta store, for the row type `R`, named `name` in groups of `n`
/// attributes.
fn in_place_of<R: Wide>(c: &mut Criterion, n: usize, name: &str) {
    let mut state = None;
    c.benchmark_group(format!("in_place/update_{n}"))
        .bench_function(name, |b| {
            let (db, t, keys) = state
                .get_or_insert_with(|| (load_wide::<R>(), Keys::new(WIDE_ROWS)))
                .clone_parts();
            b.iter(|| {
                let mut tx = db.begin();
                tx.modify(t, &keys.next(), R::bump).unwrap();
                black_box(tx.commit().unwrap())
            })
        });
    c.benchmark_group(format!("in_place/read_{n}"))
        .bench_function(name, |b| {
            let (db, t, keys) = state
                .get_or_insert_with(|| (load_wide::<R>(), Keys::new(WIDE_ROWS)))
                .clone_parts();
            let tx = db.begin();
            b.iter(|| {
                tx.read(t, &keys.next(), |row| black_box(row.map(R::first)))
                    .unwrap()
            })
        });
}

/// Access to the parts of a loaded state, for [`in_place_of`].
trait Parts<R: Tuple> {
    fn clone_parts(&mut self) -> (&Database, &Table<u64, R>, &mut Keys);
}

impl<R: Tuple> Parts<R> for ((Database, Table<u64, R>), Keys) {
    fn clone_parts(&mut self) -> (&Database, &Table<u64, R>, &mut Keys) {
        let ((db, t), keys) = self;
        (db, t, keys)
    }
}

fn in_place(c: &mut Criterion) {
    in_place_of::<CopyOnWrite<10>>(c, 10, "delta-copy-on-write");
    in_place_of::<[i64; 10]>(c, 10, "delta-in-place");
    in_place_of::<CopyOnWrite<100>>(c, 100, "delta-copy-on-write");
    in_place_of::<[i64; 100]>(c, 100, "delta-in-place");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = point_reads, update, insert, scan, codec, in_place
}
criterion_main!(benches);
