//! Many threads at once, on every version store: writers that conflict and
//! retry, readers that audit every snapshot they take.
//!
//! * `transfers_keep_the_total_and_lose_no_update`: bank transfers between
//!   accounts. Every snapshot must hold the same total (atomic visibility),
//!   read the same twice (snapshot), and at the end every committed transfer
//!   must be in the accounts (first updater wins: no lost update).
//! * `pairs_appear_and_vanish_together`: transactions insert or delete two
//!   keys at once, and sometimes roll back. No snapshot may hold half a pair,
//!   or anything of a rolled-back transaction.
//!
//! Runs are bounded by iteration counts; readers go on until every writer is
//! done.

use multiverse::{Database, Error, Storage, Table, Timestamp};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// splitmix64: a small deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True once in `n` calls, on average.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// Yields to the scheduler half the time, to vary the interleavings.
    fn pause(&mut self) {
        if self.one_in(2) {
            thread::yield_now();
        }
    }
}

/// Counts a writer as done when it returns or panics, so that readers that
/// wait for every writer never wait for a panicked one.
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

const WRITERS: usize = 3;
const READERS: usize = 2;
/// Audits per reader at least, however fast the writers are.
const MIN_AUDITS: usize = 20;

// ---------------------------------------------------------------------------
// Transfers.

/// More accounts than one scan batch of the engine (64), so that a full scan
/// spans several epoch pins.
const ACCOUNTS: u64 = 100;
const INITIAL_BALANCE: i64 = 1_000;
const TOTAL: i64 = ACCOUNTS as i64 * INITIAL_BALANCE;
const TRANSFERS_PER_WRITER: usize = 1_500;

/// `[balance, transfers in, transfers out]`.
type Account = [i64; 3];
const BALANCE: usize = 0;
const IN: usize = 1;
const OUT: usize = 2;

/// What a writer committed, per account, as deltas of each attribute.
struct Ledger {
    deltas: Vec<Account>,
    committed: usize,
    conflicts: usize,
}

fn transfer_writer(
    storage: Storage,
    db: &Database,
    accounts: &Table<u64, Account>,
    seed: u64,
) -> Ledger {
    let mut rng = Rng::new(seed);
    let mut ledger = Ledger {
        deltas: vec![[0; 3]; ACCOUNTS as usize],
        committed: 0,
        conflicts: 0,
    };
    for n in 0..TRANSFERS_PER_WRITER {
        // A few hot accounts, so that writers collide.
        let from = if rng.one_in(2) {
            rng.below(4)
        } else {
            rng.below(ACCOUNTS)
        };
        let to = (from + 1 + rng.below(ACCOUNTS - 1)) % ACCOUNTS;
        let amount = 1 + rng.below(10) as i64;
        loop {
            let mut tx = db.begin();
            let debit = |a: &mut Account| {
                a[BALANCE] -= amount;
                a[OUT] += 1;
            };
            let credit = |a: &mut Account| {
                a[BALANCE] += amount;
                a[IN] += 1;
            };
            // Half read-modify-write in one call, half a `get` then an
            // `update` of what was read: the classic lost-update pattern.
            let result = if n % 2 == 0 {
                tx.modify(accounts, &from, debit).and_then(|()| {
                    rng.pause();
                    tx.modify(accounts, &to, credit)
                })
            } else {
                let mut a = tx
                    .get(accounts, &from)
                    .unwrap()
                    .expect("accounts are never deleted");
                let mut b = tx
                    .get(accounts, &to)
                    .unwrap()
                    .expect("accounts are never deleted");
                debit(&mut a);
                credit(&mut b);
                tx.update(accounts, &from, a).and_then(|()| {
                    rng.pause();
                    tx.update(accounts, &to, b)
                })
            };
            match result {
                Ok(()) => {
                    tx.commit()
                        .expect("a transaction without a conflict commits");
                    break;
                }
                Err(Error::WriteConflict) => {
                    ledger.conflicts += 1;
                    assert_eq!(tx.commit(), Err(Error::Aborted), "{storage:?}");
                    // Back off: let the winner, maybe preempted, finish.
                    thread::yield_now();
                }
                Err(e) => panic!("{storage:?}: transfer {from} -> {to}: {e:?}"),
            }
        }
        ledger.deltas[from as usize][BALANCE] -= amount;
        ledger.deltas[from as usize][OUT] += 1;
        ledger.deltas[to as usize][BALANCE] += amount;
        ledger.deltas[to as usize][IN] += 1;
        ledger.committed += 1;
    }
    ledger
}

/// Audits snapshots until every writer is done. Returns the number of audits.
fn audit_reader(
    storage: Storage,
    db: &Database,
    accounts: &Table<u64, Account>,
    writers_done: &AtomicUsize,
    seed: u64,
) -> usize {
    let mut rng = Rng::new(seed);
    let mut audits = 0;
    while audits < MIN_AUDITS || writers_done.load(Ordering::SeqCst) < WRITERS {
        let tx = db.begin();
        let first: Vec<(u64, Account)> = tx.scan(accounts, ..).unwrap().collect();
        assert_eq!(
            first.len(),
            ACCOUNTS as usize,
            "{storage:?}: accounts in a snapshot"
        );
        let total: i64 = first.iter().map(|(_, a)| a[BALANCE]).sum();
        assert_eq!(total, TOTAL, "{storage:?}: total of a snapshot");
        let ins: i64 = first.iter().map(|(_, a)| a[IN]).sum();
        let outs: i64 = first.iter().map(|(_, a)| a[OUT]).sum();
        assert_eq!(ins, outs, "{storage:?}: a snapshot with half a transfer");

        // Let writers commit, then read again: the same snapshot.
        rng.pause();
        let again: Vec<(u64, Account)> = tx.scan(accounts, ..).unwrap().collect();
        assert_eq!(
            first, again,
            "{storage:?}: a scan read twice in one transaction"
        );
        let lo = rng.below(ACCOUNTS);
        let hi = (lo + rng.below(20)).min(ACCOUNTS);
        let part: Vec<(u64, Account)> = tx.scan(accounts, lo..hi).unwrap().collect();
        assert_eq!(
            part,
            first[lo as usize..hi as usize],
            "{storage:?}: range {lo}..{hi}"
        );
        let key = rng.below(ACCOUNTS);
        let row = tx.get(accounts, &key).unwrap();
        assert_eq!(row, Some(first[key as usize].1), "{storage:?}: get {key}");
        tx.commit().expect("a read-only transaction commits");
        audits += 1;
    }
    audits
}

fn transfers(storage: Storage) {
    let db = Database::new(storage);
    let accounts: Table<u64, Account> = db.create_table("accounts").unwrap();
    let mut setup = db.begin();
    for k in 0..ACCOUNTS {
        setup.insert(&accounts, k, [INITIAL_BALANCE, 0, 0]).unwrap();
    }
    setup.commit().unwrap();

    let writers_done = AtomicUsize::new(0);
    let (ledgers, audits) = thread::scope(|s| {
        let (db, accounts, writers_done) = (&db, &accounts, &writers_done);
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                s.spawn(move || audit_reader(storage, db, accounts, writers_done, 100 + r as u64))
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || {
                    let _done = Done(writers_done);
                    transfer_writer(storage, db, accounts, w as u64)
                })
            })
            .collect();
        let ledgers: Vec<Ledger> = writers
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect();
        let audits: Vec<usize> = readers
            .into_iter()
            .map(|h| h.join().expect("reader"))
            .collect();
        (ledgers, audits)
    });

    let committed: usize = ledgers.iter().map(|l| l.committed).sum();
    assert_eq!(committed, WRITERS * TRANSFERS_PER_WRITER);
    let tx = db.begin();
    let rows: Vec<(u64, Account)> = tx.scan(&accounts, ..).unwrap().collect();
    assert_eq!(rows.len(), ACCOUNTS as usize);
    for (k, row) in &rows {
        let mut expected = [INITIAL_BALANCE, 0, 0];
        for l in &ledgers {
            for (e, d) in expected.iter_mut().zip(l.deltas[*k as usize]) {
                *e += d;
            }
        }
        assert_eq!(
            *row, expected,
            "{storage:?}: account {k} lost a committed update"
        );
    }
    let total: i64 = rows.iter().map(|(_, a)| a[BALANCE]).sum();
    let ins: i64 = rows.iter().map(|(_, a)| a[IN]).sum();
    let outs: i64 = rows.iter().map(|(_, a)| a[OUT]).sum();
    assert_eq!(total, TOTAL, "{storage:?}");
    assert_eq!(
        (ins, outs),
        (committed as i64, committed as i64),
        "{storage:?}"
    );
    let conflicts: usize = ledgers.iter().map(|l| l.conflicts).sum();
    eprintln!(
        "{storage:?}: {committed} transfers, {conflicts} conflicts retried, audits {audits:?}"
    );
}

#[test]
fn transfers_keep_the_total_and_lose_no_update() {
    for storage in Storage::ALL {
        transfers(storage);
    }
}

// ---------------------------------------------------------------------------
// Pairs.

/// Pair `p` is keys `2p` and `2p + 1`; 2 * PAIRS keys span several scan
/// batches.
const PAIRS: u64 = 48;
const TOGGLES_PER_WRITER: usize = 1_000;

/// `[pair, generation]`: both keys of a pair carry the generation of the
/// transaction that inserted them, negative if it was to roll back.
type Half = [i64; 2];

/// A committed toggle: the pair's generation after it, `None` if deleted.
type Toggle = (Timestamp, u64, Option<i64>);

/// Toggles random pairs: inserts both keys if the pair is absent, deletes
/// both if present. One transaction in seven rolls back instead of
/// committing. Returns the committed toggles and the number of conflicts.
fn pair_writer(
    storage: Storage,
    db: &Database,
    pairs: &Table<u64, Half>,
    w: usize,
) -> (Vec<Toggle>, usize) {
    let mut rng = Rng::new(1_000 + w as u64);
    let mut log = Vec::new();
    let mut conflicts = 0;
    for n in 0..TOGGLES_PER_WRITER {
        let p = rng.below(PAIRS);
        let (a, b) = (2 * p, 2 * p + 1);
        let doomed = rng.one_in(7);
        let generation = (w * TOGGLES_PER_WRITER + n + 1) as i64;
        let generation = if doomed { -generation } else { generation };
        let mut tx = db.begin();
        let present = tx.get(pairs, &a).unwrap().is_some();
        let result = if present {
            tx.delete(pairs, &a).and_then(|()| {
                rng.pause();
                tx.delete(pairs, &b)
            })
        } else {
            let half = [p as i64, generation];
            tx.insert(pairs, a, half).and_then(|()| {
                rng.pause();
                tx.insert(pairs, b, half)
            })
        };
        match result {
            Ok(()) if doomed => tx.rollback(),
            Ok(()) => {
                let ts = tx
                    .commit()
                    .expect("a transaction without a conflict commits");
                log.push((ts, p, (!present).then_some(generation)));
            }
            Err(Error::WriteConflict) => conflicts += 1,
            Err(e) => panic!("{storage:?}: toggle of pair {p} (present: {present}): {e:?}"),
        }
    }
    (log, conflicts)
}

/// The pairs of a scan, checked whole: pair -> generation.
fn whole_pairs(storage: Storage, rows: &[(u64, Half)]) -> BTreeMap<u64, i64> {
    let mut halves: BTreeMap<u64, Vec<(u64, Half)>> = BTreeMap::new();
    for &(k, half) in rows {
        assert_eq!(
            half[0] as u64,
            k / 2,
            "{storage:?}: key {k} holds another pair's row"
        );
        assert!(
            half[1] > 0,
            "{storage:?}: key {k} shows a rolled-back write {half:?}"
        );
        halves.entry(k / 2).or_default().push((k, half));
    }
    halves
        .into_iter()
        .map(|(p, hs)| match hs[..] {
            [(_, x), (_, y)] => {
                assert_eq!(x, y, "{storage:?}: pair {p} mixes two transactions");
                (p, x[1])
            }
            _ => panic!("{storage:?}: half of pair {p} is visible: {hs:?}"),
        })
        .collect()
}

fn pair_reader(
    storage: Storage,
    db: &Database,
    pairs: &Table<u64, Half>,
    writers_done: &AtomicUsize,
    seed: u64,
) -> usize {
    let mut rng = Rng::new(seed);
    let mut audits = 0;
    while audits < MIN_AUDITS || writers_done.load(Ordering::SeqCst) < WRITERS {
        let tx = db.begin();
        let first: Vec<(u64, Half)> = tx.scan(pairs, ..).unwrap().collect();
        let seen = whole_pairs(storage, &first);
        rng.pause();
        let again: Vec<(u64, Half)> = tx.scan(pairs, ..).unwrap().collect();
        assert_eq!(
            first, again,
            "{storage:?}: a scan read twice in one transaction"
        );
        let p = rng.below(PAIRS);
        let a = tx.get(pairs, &(2 * p)).unwrap();
        let b = tx.get(pairs, &(2 * p + 1)).unwrap();
        let want = seen.get(&p).map(|&g| [p as i64, g]);
        assert_eq!(
            (a, b),
            (want, want),
            "{storage:?}: gets of pair {p} disagree with the scan"
        );
        tx.commit().expect("a read-only transaction commits");
        audits += 1;
    }
    audits
}

fn pairs(storage: Storage) {
    let db = Database::new(storage);
    let pairs: Table<u64, Half> = db.create_table("pairs").unwrap();

    let writers_done = AtomicUsize::new(0);
    let (logs, audits) = thread::scope(|s| {
        let (db, pairs, writers_done) = (&db, &pairs, &writers_done);
        let readers: Vec<_> = (0..READERS)
            .map(|r| s.spawn(move || pair_reader(storage, db, pairs, writers_done, 200 + r as u64)))
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || {
                    let _done = Done(writers_done);
                    pair_writer(storage, db, pairs, w)
                })
            })
            .collect();
        let logs: Vec<(Vec<Toggle>, usize)> = writers
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect();
        let audits: Vec<usize> = readers
            .into_iter()
            .map(|h| h.join().expect("reader"))
            .collect();
        (logs, audits)
    });

    // Replay the committed toggles in commit order: the final state.
    let conflicts: usize = logs.iter().map(|(_, c)| c).sum();
    let mut toggles: Vec<Toggle> = logs.into_iter().flat_map(|(log, _)| log).collect();
    toggles.sort_by_key(|&(ts, ..)| ts);
    assert!(
        toggles.windows(2).all(|w| w[0].0 < w[1].0),
        "{storage:?}: two writing commits share a timestamp"
    );
    let mut expected = BTreeMap::new();
    for &(_, p, generation) in &toggles {
        match generation {
            Some(g) => assert!(
                expected.insert(p, g).is_none(),
                "{storage:?}: pair {p} inserted twice"
            ),
            None => assert!(
                expected.remove(&p).is_some(),
                "{storage:?}: pair {p} deleted while absent"
            ),
        }
    }
    let rows: Vec<(u64, Half)> = db.begin().scan(&pairs, ..).unwrap().collect();
    assert_eq!(
        whole_pairs(storage, &rows),
        expected,
        "{storage:?}: final state"
    );
    eprintln!(
        "{storage:?}: {} toggles committed, {conflicts} conflicts, audits {audits:?}",
        toggles.len()
    );
}

#[test]
fn pairs_appear_and_vanish_together() {
    for storage in Storage::ALL {
        pairs(storage);
    }
}
