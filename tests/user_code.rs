//! User code that panics or re-enters the database, on every store: a row's
//! `Clone`, `PartialEq` and `delta_to`, a key's `Clone`, a closure given to
//! `modify`, and a row's `Drop` run by the epoch collector.
//!
//! Whatever that code does, the engine stays sound and live: the panicking
//! transaction is unusable (every later call answers `Aborted`), its writes
//! are undone once it is dropped, the keys it touched take writes again, and
//! later commits go on. A panic must never leave a row claimed (every later
//! write of it would conflict, and GC could never retire it), nor a commit
//! timestamp taken but never published (every later commit would wait for it
//! for ever).
//!
//! The row and key types count their calls through process-wide switches, so
//! the tests of this file run one at a time (`serial`); a panicking `Drop` run
//! by the collector could otherwise fire in another test's thread.

#[macro_use]
mod common;

use common::*;
use multiverse::{Database, GcPolicy, Key, Storage, Table, Transaction, Tuple};
use std::mem::size_of;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Runs the tests of this file one at a time (see the module doc).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts down a fuse: `true` for the call that takes it from 1 to 0 (the
/// call to panic), `false` for every other call and while it is 0 (off).
fn burn(fuse: &AtomicUsize) -> bool {
    fuse.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)) == Ok(1)
}

/// Runs `f`; `true` if it panicked with `message`, `false` if it returned.
/// Any other panic (a failed assertion) goes on unwinding.
fn panics_with(message: &str, f: impl FnOnce()) -> bool {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(payload) if panic_message(payload.as_ref()) == message => true,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Asserts that a transaction left by a panic is unusable: not active, and
/// every call answers `Aborted`, `commit` included.
fn assert_poisoned<K: Key, T: Tuple>(mut tx: Transaction, t: &Table<K, T>, key: K, row: T) {
    assert!(
        !tx.is_active(),
        "a transaction left by a panic is not active"
    );
    assert_err!(tx.get(t, &key), Aborted, "get");
    assert_err!(tx.read(t, &key, |r| r.is_some()), Aborted, "read");
    assert_err!(tx.scan(t, ..), Aborted, "scan");
    assert_err!(tx.insert(t, key.clone(), row.clone()), Aborted, "insert");
    assert_err!(tx.update(t, &key, row), Aborted, "update");
    assert_err!(tx.modify(t, &key, |_| ()), Aborted, "modify");
    assert_err!(tx.delete(t, &key), Aborted, "delete");
    assert_err!(tx.commit(), Aborted, "commit");
}

/// Runs `work` on a thread of its own and returns its result, failing the
/// test if it has not finished after 30 s: a liveness check (a stuck commit
/// waits for ever), not a timing assertion. A panic of `work` is resumed.
fn finishes<R: Send + 'static>(what: &str, work: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = done.send(work());
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(result) => result,
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the worker sends before it returns"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: not finished after 30 s, a commit is stuck")
        }
    }
}

// ---------------------------------------------------------------------------
// A row whose `Clone` and `PartialEq` panic on request.

const CLONE_PANIC: &str = "Fragile::clone panics";
const EQ_PANIC: &str = "Fragile::eq panics";

/// The `Clone` call, counted from when it is set, on which [`Fragile`]
/// panics; 0 for never.
static CLONE_FUSE: AtomicUsize = AtomicUsize::new(0);
/// The same for `PartialEq::eq`, which `delta_to` calls.
static EQ_FUSE: AtomicUsize = AtomicUsize::new(0);

/// A one-attribute row with a hand-written `Tuple` impl whose `Clone` and
/// `PartialEq` (and so `delta_to`) panic when their fuses burn down.
#[derive(Debug)]
struct Fragile(i64);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if burn(&CLONE_FUSE) {
            panic!("{CLONE_PANIC}");
        }
        Fragile(self.0)
    }
}

impl PartialEq for Fragile {
    fn eq(&self, other: &Self) -> bool {
        if burn(&EQ_FUSE) {
            panic!("{EQ_PANIC}");
        }
        self.0 == other.0
    }
}

impl Tuple for Fragile {
    type Delta = Option<i64>;
    fn attributes(&self) -> usize {
        1
    }
    fn delta_to(&self, newer: &Self) -> Option<i64> {
        (self != newer).then_some(self.0)
    }
    fn apply(&mut self, delta: &Option<i64>) {
        if let Some(v) = delta {
            self.0 = *v;
        }
    }
    fn delta_bytes(_: &Option<i64>) -> usize {
        size_of::<Option<i64>>()
    }
}

/// The writes a test makes panic; each one clones the row a different
/// number of times on each store.
#[derive(Debug, Clone, Copy)]
enum Op {
    Modify,
    Update,
    Delete,
}

/// A fresh database over `storage` whose table `t` holds keys 1 and 2.
fn fragile_rows(storage: Storage) -> (Database, Table<u64, Fragile>) {
    let db = Database::new(storage);
    let t = db.create_table("t").unwrap();
    load(&db, &t, [(1, Fragile(10)), (2, Fragile(20))]);
    (db, t)
}

/// Has `tx`, which wrote key 1 first, left both keys as committed and
/// writable? Drops `tx` (undoing its writes), then writes both keys in a
/// new transaction and commits it.
fn both_keys_take_writes(db: &Database, t: &Table<u64, Fragile>, tx: Transaction) {
    drop(tx);
    let value = |k| db.begin().read(t, &k, |r| r.map(|r| r.0)).unwrap();
    assert_eq!(
        value(1),
        Some(10),
        "the panicking transaction's write is undone"
    );
    assert_eq!(value(2), Some(20));
    let mut tx = db.begin();
    tx.modify(t, &1, |r| r.0 += 100)
        .expect("key 1 takes writes");
    tx.modify(t, &2, |r| r.0 += 100)
        .expect("key 2 takes writes");
    tx.commit().expect("commits go on");
    assert_eq!((value(1), value(2)), (Some(110), Some(120)));
}

for_each_store! {
    /// A row `Clone` that panics in the middle of a write (in `modify`'s
    /// copy of the row, or, on the time-travel and delta stores, in the copy
    /// the history keeps of the superseded master) leaves no claim behind,
    /// and leaves the transaction aborted with its earlier write undone. The
    /// n-th clone of the write panics, for every n the write reaches.
    fn a_panicking_row_clone_leaves_the_row_writable_and_the_transaction_aborted(
        storage: Storage
    ) {
        let _serial = serial();
        let mut panics = 0;
        for op in [Op::Modify, Op::Update, Op::Delete] {
            for n in 1..=3 {
                let (db, t) = fragile_rows(storage);
                let mut tx = db.begin();
                tx.modify(&t, &1, |r| r.0 += 1).unwrap();
                CLONE_FUSE.store(n, SeqCst);
                let panicked = panics_with(CLONE_PANIC, || {
                    match op {
                        Op::Modify => tx.modify(&t, &2, |r| r.0 += 1),
                        Op::Update => tx.update(&t, &2, Fragile(21)),
                        Op::Delete => tx.delete(&t, &2),
                    }
                    .unwrap();
                });
                CLONE_FUSE.store(0, SeqCst);
                if panicked {
                    panics += 1;
                    assert_poisoned(tx, &t, 2, Fragile(0));
                    tx = db.begin();
                } else {
                    // Fewer than n clones: the write went through.
                    tx.rollback();
                    tx = db.begin();
                }
                both_keys_take_writes(&db, &t, tx);
            }
        }
        assert!(panics >= 1, "modify clones the row at least once");
    }

    /// A `PartialEq` that panics inside `delta_to`, which the delta store
    /// calls to keep the before-image of an update, leaves no claim behind
    /// and the transaction aborted. The other stores never compare rows.
    fn a_panicking_delta_to_leaves_the_row_writable_and_the_transaction_aborted(
        storage: Storage
    ) {
        let _serial = serial();
        let (db, t) = fragile_rows(storage);
        let mut tx = db.begin();
        tx.modify(&t, &1, |r| r.0 += 1).unwrap();
        EQ_FUSE.store(1, SeqCst);
        let panicked = panics_with(EQ_PANIC, || tx.update(&t, &2, Fragile(21)).unwrap());
        EQ_FUSE.store(0, SeqCst);
        assert_eq!(panicked, storage == Storage::Delta, "only the delta store compares rows");
        if panicked {
            assert_poisoned(tx, &t, 2, Fragile(0));
            both_keys_take_writes(&db, &t, db.begin());
        } else {
            tx.rollback();
            both_keys_take_writes(&db, &t, db.begin());
        }
    }

    /// A `modify` closure that panics leaves the transaction aborted: every
    /// later call answers `Aborted`, and dropping it undoes its earlier
    /// write, so both keys take writes again.
    fn a_panicking_modify_closure_leaves_the_transaction_aborted(storage: Storage) {
        let _serial = serial();
        let (db, t) = fragile_rows(storage);
        let mut tx = db.begin();
        tx.modify(&t, &1, |r| r.0 += 1).unwrap();
        let panicked = panics_with("a panic in user code", || {
            let _ = tx.modify(&t, &2, |_| panic!("a panic in user code"));
        });
        assert!(panicked);
        assert_poisoned(tx, &t, 2, Fragile(0));
        both_keys_take_writes(&db, &t, db.begin());
    }
}

// ---------------------------------------------------------------------------
// A key whose `Clone` panics on request.

const KEY_CLONE_PANIC: &str = "FragileKey::clone panics";

/// The `Clone` call on which [`FragileKey`] panics; 0 for never.
static KEY_FUSE: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct FragileKey(u64);

impl Clone for FragileKey {
    fn clone(&self) -> Self {
        if burn(&KEY_FUSE) {
            panic!("{KEY_CLONE_PANIC}");
        }
        FragileKey(self.0)
    }
}

for_each_store! {
    /// Under transaction-level GC every write keeps a copy of its key for
    /// the collector. A key `Clone` that panics there, or where an insert
    /// makes the key's index entry, leaves no claim behind: the key takes
    /// writes again and the transaction is aborted, its earlier write undone.
    fn a_panicking_key_clone_leaves_the_key_writable_and_the_transaction_aborted(
        storage: Storage
    ) {
        let _serial = serial();
        // (write an existing key?, the clone that panics)
        for (existing, n) in [(true, 1), (false, 1), (false, 2)] {
            let db = Database::builder()
                .storage(storage)
                .gc(GcPolicy::TransactionLevel)
                .build();
            let t: Table<FragileKey, [i64; 1]> = db.create_table("t").unwrap();
            load(&db, &t, [(FragileKey(1), [10]), (FragileKey(2), [20])]);
            let key = FragileKey(if existing { 2 } else { 3 });
            let mut tx = db.begin();
            tx.modify(&t, &FragileKey(1), |r| r[0] += 1).unwrap();
            KEY_FUSE.store(n, SeqCst);
            let panicked = panics_with(KEY_CLONE_PANIC, || {
                if existing {
                    tx.modify(&t, &key, |r| r[0] += 1).unwrap();
                } else {
                    tx.insert(&t, FragileKey(3), [30]).unwrap();
                }
            });
            KEY_FUSE.store(0, SeqCst);
            assert!(panicked, "write of {key:?}: clone {n} is made");
            assert_poisoned(tx, &t, FragileKey(2), [0]);
            let read = |k: u64| db.begin().get(&t, &FragileKey(k)).unwrap();
            assert_eq!((read(1), read(3)), (Some([10]), None), "undone");
            let mut tx = db.begin();
            tx.modify(&t, &FragileKey(1), |r| r[0] += 100).expect("key 1 takes writes");
            if existing {
                tx.modify(&t, &key, |r| r[0] += 100).expect("the key takes writes");
            } else {
                tx.insert(&t, FragileKey(3), [130]).expect("the key takes writes");
            }
            tx.commit().expect("commits go on");
            assert_eq!(read(1), Some([110]));
            assert_eq!(read(if existing { 2 } else { 3 }), Some([if existing { 120 } else { 130 }]));
        }
    }
}

// ---------------------------------------------------------------------------
// A key whose `Ord` panics on request, and serializable commits, which run
// the key's `Clone` (recording the write set) and `Ord` (sorting it,
// validating the read set) before they take a timestamp.

const KEY_ORD_PANIC: &str = "TouchyKey::cmp panics";

/// The `cmp` call on which [`TouchyKey`] panics; 0 for never.
static ORD_FUSE: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TouchyKey(u64);

impl Ord for TouchyKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if burn(&ORD_FUSE) {
            panic!("{KEY_ORD_PANIC}");
        }
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for TouchyKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

for_each_store! {
    /// A key `Clone` or `Ord` that panics in a serializable commit (while
    /// it records its write set, or validates its reads against a commit
    /// made after its snapshot) panics before the commit takes a
    /// timestamp: the transaction is rolled back, its keys take writes at
    /// once, and serializable and other commits go on.
    fn a_panicking_key_in_a_serializable_commit_rolls_it_back(storage: Storage) {
        use multiverse::{Error, Isolation::Serializable};
        let _serial = serial();
        // A `Clone` while recording.
        let db = Database::new(storage);
        let t: Table<FragileKey, [i64; 1]> = db.create_table("t").unwrap();
        load(&db, &t, [(FragileKey(1), [10]), (FragileKey(2), [20])]);
        let mut tx = db.begin_with(Serializable);
        tx.modify(&t, &FragileKey(1), |r| r[0] += 1).unwrap();
        KEY_FUSE.store(1, SeqCst);
        let panicked = panics_with(KEY_CLONE_PANIC, || drop(tx.commit()));
        KEY_FUSE.store(0, SeqCst);
        assert!(panicked, "the write set is cloned");
        let mut tx = db.begin_with(Serializable);
        assert_eq!(tx.get(&t, &FragileKey(1)).unwrap(), Some([10]), "undone");
        tx.modify(&t, &FragileKey(1), |r| r[0] += 100).expect("the key takes writes");
        tx.commit().expect("commits go on");
        // An `Ord` while validating (the first comparison after the fuse
        // is set is the check of the read key against the other commit's).
        let db = Database::new(storage);
        let t: Table<TouchyKey, [i64; 1]> = db.create_table("t").unwrap();
        load(&db, &t, [(TouchyKey(1), [10]), (TouchyKey(2), [20])]);
        let mut tx = db.begin_with(Serializable);
        assert_eq!(tx.get(&t, &TouchyKey(1)).unwrap(), Some([10]));
        tx.modify(&t, &TouchyKey(2), |r| r[0] += 1).unwrap();
        db.transact(|other| other.modify(&t, &TouchyKey(1), |r| r[0] += 1))
            .unwrap();
        ORD_FUSE.store(1, SeqCst);
        let panicked = panics_with(KEY_ORD_PANIC, || drop(tx.commit()));
        ORD_FUSE.store(0, SeqCst);
        assert!(panicked, "the read set is compared");
        let mut tx = db.begin_with(Serializable);
        assert_eq!(tx.get(&t, &TouchyKey(2)).unwrap(), Some([20]), "undone");
        tx.modify(&t, &TouchyKey(2), |r| r[0] += 100).expect("the key takes writes");
        tx.commit().expect("commits go on");
        // And validation still fails what it must.
        let mut tx = db.begin_with(Serializable);
        assert_eq!(tx.get(&t, &TouchyKey(1)).unwrap(), Some([11]));
        tx.modify(&t, &TouchyKey(2), |r| r[0] += 1).unwrap();
        db.transact(|other| other.modify(&t, &TouchyKey(1), |r| r[0] += 1))
            .unwrap();
        assert_eq!(tx.commit(), Err(Error::SerializationFailure));
    }
}

// ---------------------------------------------------------------------------
// Rows whose `Drop`, run by the epoch collector, panics or commits.

/// Keys of the `Drop` tests; each round writes a few of them.
const KEYS: u64 = 8;
/// Rounds per policy and store, at least: enough that the collector frees
/// old versions at every kind of pin a transaction makes, the one in its
/// commit included.
const ROUNDS: u64 = 1500;
/// Drops of the test's rows that a run must see, going on past [`ROUNDS`]
/// (up to [`MAX_ROUNDS`]) until it has: the collector's queue is shared by
/// the whole process and may hold other tests' garbage first.
const DROPS: u64 = 200;
const MAX_ROUNDS: u64 = 30 * ROUNDS;
/// The policies that free old versions on the transactions' own paths.
const POLICIES: [GcPolicy; 2] = [GcPolicy::TransactionLevel, GcPolicy::Cooperative];

/// A fixed xorshift sequence that varies the work of each round: the
/// collector runs on every 128th pin of a thread, and work of a fixed
/// period could make it land on only some kinds of pin (the writes', never
/// the commit's). With jitter it lands on each kind in turn.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        Jitter(0x9e37_79b9_7f4a_7c15)
    }

    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Reads `extra` keys in `tx`: one pin each, to vary a round's pins.
fn pins<T: Tuple>(tx: &Transaction, t: &Table<u64, T>, extra: u64) {
    for k in 0..extra {
        tx.read(t, &k, |r| r.is_some()).unwrap();
    }
}

const DROP_PANIC: &str = "Bomb::drop panics";

/// Armed: the next [`Bomb`] dropped panics (and disarms the switch).
static ARMED: AtomicBool = AtomicBool::new(false);

/// A row whose `Drop` panics once per arming of [`ARMED`].
#[derive(Clone, PartialEq, Debug)]
struct Bomb(i64);

impl Drop for Bomb {
    fn drop(&mut self) {
        if ARMED.swap(false, SeqCst) {
            panic!("{DROP_PANIC}");
        }
    }
}

impl Tuple for Bomb {
    type Delta = Option<i64>;
    fn attributes(&self) -> usize {
        1
    }
    fn delta_to(&self, newer: &Self) -> Option<i64> {
        (self.0 != newer.0).then_some(self.0)
    }
    fn apply(&mut self, delta: &Option<i64>) {
        if let Some(v) = delta {
            self.0 = *v;
        }
    }
    fn delta_bytes(_: &Option<i64>) -> usize {
        size_of::<Option<i64>>()
    }
}

/// What the rounds of a `Drop` test saw.
#[derive(Debug, Default)]
struct Seen {
    /// Panics out of `begin`, `commit` or `rollback`.
    panics: u64,
    /// Panics out of a write, after which the transaction was unusable.
    poisoned: u64,
}

/// Rounds of transactions, each writing a few keys with the switch armed
/// and then committing or rolling back, so that old versions the collector
/// frees panic where it frees them; after each round every key takes a
/// write and a commit goes through.
fn bomb_rounds(storage: Storage, policy: GcPolicy) -> Seen {
    let db = Database::builder().storage(storage).gc(policy).build();
    let t: Table<u64, Bomb> = db.create_table("t").unwrap();
    load(&db, &t, (0..KEYS).map(|k| (k, Bomb(0))));
    let mut seen = Seen::default();
    let mut jitter = Jitter::new();
    for round in 0..MAX_ROUNDS {
        if round >= ROUNDS && seen.panics + seen.poisoned >= DROPS {
            break;
        }
        let (writes, roll_back, extra) = (
            1 + jitter.below(KEYS),
            jitter.below(3) == 0,
            jitter.below(4),
        );
        ARMED.store(true, SeqCst);
        let panicked = panics_with(DROP_PANIC, || {
            let mut tx = db.begin();
            for k in 0..writes {
                if panics_with(DROP_PANIC, || tx.modify(&t, &k, |r| r.0 += 1).unwrap()) {
                    seen.poisoned += 1;
                    assert!(
                        !tx.is_active(),
                        "a write that panicked leaves its transaction unusable"
                    );
                    assert_err!(tx.modify(&t, &k, |r| r.0 += 1), Aborted);
                    assert_err!(tx.commit(), Aborted, "after a panic in a write");
                    return;
                }
            }
            // Some rounds roll back: a rollback pins too, and must undo
            // every write whatever the collector runs there.
            if roll_back {
                tx.rollback();
            } else {
                tx.commit().unwrap();
            }
        });
        ARMED.store(false, SeqCst);
        seen.panics += u64::from(panicked);
        let mut tx = db.begin();
        pins(&tx, &t, extra);
        for k in 0..KEYS {
            tx.modify(&t, &k, |r| r.0 += 1)
                .unwrap_or_else(|e| panic!("round {round}: key {k} takes no write: {e}"));
        }
        tx.commit().expect("commits go on");
    }
    seen
}

for_each_store! {
    /// A row `Drop` that panics, run by the epoch collector wherever a
    /// transaction pins (its begin, its writes, its commit, its rollback),
    /// leaves every row writable and stops no commit: no panic lands between
    /// taking a commit timestamp and publishing it, a rollback it interrupts
    /// still undoes every write, and a write it interrupts leaves its
    /// transaction aborted.
    fn a_panicking_row_drop_in_the_collector_stops_no_commit(storage: Storage) {
        let _serial = serial();
        for policy in POLICIES {
            let seen = finishes("rounds with panicking drops", move || bomb_rounds(storage, policy));
            assert!(
                seen.panics + seen.poisoned >= DROPS,
                "{policy}: too few old versions dropped: {seen:?}"
            );
        }
    }
}

/// Set while the `Drop` of an [`Echo`] commits on [`HOOK`]'s database.
static ECHOING: AtomicBool = AtomicBool::new(false);
/// The commits that drops of [`Echo`] rows have made.
static ECHOES: AtomicU64 = AtomicU64::new(0);
/// The database and table an [`Echo`]'s `Drop` writes to.
#[allow(clippy::type_complexity)]
static HOOK: Mutex<Option<(Database, Table<u64, [i64; 1]>)>> = Mutex::new(None);

/// A row whose `Drop` commits a transaction on the same database (an
/// increment of a counter in another table) while [`ECHOING`] is set.
#[derive(Clone, PartialEq, Debug)]
struct Echo(i64);

impl Drop for Echo {
    fn drop(&mut self) {
        if !ECHOING.load(SeqCst) {
            return;
        }
        let hook = HOOK.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some((db, counter)) = hook {
            let mut tx = db.begin();
            if tx.modify(&counter, &0, |r| r[0] += 1).is_ok() && tx.commit().is_ok() {
                ECHOES.fetch_add(1, SeqCst);
            }
        }
    }
}

impl Tuple for Echo {
    type Delta = Option<i64>;
    fn attributes(&self) -> usize {
        1
    }
    fn delta_to(&self, newer: &Self) -> Option<i64> {
        (self.0 != newer.0).then_some(self.0)
    }
    fn apply(&mut self, delta: &Option<i64>) {
        if let Some(v) = delta {
            self.0 = *v;
        }
    }
    fn delta_bytes(_: &Option<i64>) -> usize {
        size_of::<Option<i64>>()
    }
}

/// Rounds of transactions over [`Echo`] rows, whose old versions commit
/// when the collector frees them. Returns the commits the drops made.
fn echo_rounds(storage: Storage, policy: GcPolicy) -> u64 {
    let db = Database::builder().storage(storage).gc(policy).build();
    let t: Table<u64, Echo> = db.create_table("t").unwrap();
    let counter: Table<u64, [i64; 1]> = db.create_table("counter").unwrap();
    load(&db, &t, (0..KEYS).map(|k| (k, Echo(0))));
    load(&db, &counter, [(0, [0])]);
    *HOOK.lock().unwrap_or_else(PoisonError::into_inner) = Some((db.clone(), counter.clone()));
    ECHOES.store(0, SeqCst);
    ECHOING.store(true, SeqCst);
    let mut jitter = Jitter::new();
    for round in 0..MAX_ROUNDS {
        if round >= ROUNDS && ECHOES.load(SeqCst) >= DROPS {
            break;
        }
        let mut tx = db.begin();
        pins(&tx, &t, jitter.below(4));
        for k in 0..1 + jitter.below(KEYS) {
            tx.modify(&t, &k, |r| r.0 += 1).unwrap();
        }
        tx.commit().expect("commits go on");
    }
    ECHOING.store(false, SeqCst);
    *HOOK.lock().unwrap_or_else(PoisonError::into_inner) = None;
    let echoes = ECHOES.load(SeqCst);
    let counted = db.begin().get(&counter, &0).unwrap().unwrap()[0];
    assert_eq!(
        counted,
        i64::try_from(echoes).unwrap(),
        "every drop's commit counted"
    );
    echoes
}

for_each_store! {
    /// A row `Drop` that commits on the same database, run by the epoch
    /// collector wherever a transaction pins, never deadlocks: no collector
    /// runs between taking a commit timestamp and publishing it, where the
    /// drop's commit would wait for ours and ours for the drop.
    fn a_row_drop_that_commits_on_the_same_database_does_not_deadlock(storage: Storage) {
        let _serial = serial();
        for policy in POLICIES {
            let echoes = finishes("rounds with committing drops", move || echo_rounds(storage, policy));
            assert!(echoes >= DROPS, "{policy}: too few old versions dropped: {echoes}");
        }
    }
}
