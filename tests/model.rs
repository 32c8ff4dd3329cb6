//! Random interleavings of transactions, checked against a reference model of
//! snapshot isolation built on `BTreeMap`, on every version store.
//!
//! The model keeps the committed history (one `BTreeMap` per commit), and per
//! transaction its snapshot (an index into that history) and its own write
//! set. Reads are the snapshot overlaid with the transaction's own writes.
//! A write first answers from what the transaction sees (`NotFound`,
//! `DuplicateKey`: the transaction goes on), and only then checks for a
//! conflict, first updater wins: the key is written by another active
//! transaction, or by one that committed after this transaction's snapshot.
//! A conflict rolls the transaction back, and every later call on it answers
//! `Aborted`, `commit` included.
//!
//! Every answer of the engine — rows, scans, errors — must equal the model's,
//! and at the end a fresh transaction must see the model's latest state.

use multiverse::{Database, Error, Storage, Table, Timestamp, Transaction};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

/// Concurrent transactions, each in a slot.
const SLOTS: usize = 4;
/// Keys are `0..KEYS`: few, so that transactions collide often.
const KEYS: u8 = 8;

/// Rows of varying length, so that updates change some attributes, all of
/// them, none of them, or the number of them (what a delta store records).
type Row = Vec<i64>;
type State = BTreeMap<u8, Row>;

/// The read-modify-write of a `modify`.
#[derive(Debug, Clone)]
enum Change {
    /// Adds to the first attribute (appends it to an empty row).
    Add(i64),
    Push(i64),
    Pop,
    /// Sets attribute `i`, if the row has one.
    Set(usize, i64),
}

impl Change {
    fn apply(&self, row: &mut Row) {
        match *self {
            Change::Add(d) => match row.first_mut() {
                Some(a) => *a += d,
                None => row.push(d),
            },
            Change::Push(v) => row.push(v),
            Change::Pop => {
                row.pop();
            }
            Change::Set(i, v) => {
                if let Some(a) = row.get_mut(i) {
                    *a = v;
                }
            }
        }
    }
}

/// One call on the transaction in a slot. Any op on an empty slot begins a
/// transaction there first (the transcript of a failure says so).
#[derive(Debug, Clone)]
enum Op {
    /// Begins a transaction in the slot, dropping (so rolling back) the one
    /// open there.
    Begin(usize),
    Get(usize, u8),
    Scan(usize, Bound<u8>, Bound<u8>),
    Insert(usize, u8, Row),
    Update(usize, u8, Row),
    Modify(usize, u8, Change),
    Delete(usize, u8),
    Commit(usize),
    Rollback(usize),
}

impl Op {
    fn slot(&self) -> usize {
        match *self {
            Op::Begin(s)
            | Op::Get(s, _)
            | Op::Scan(s, ..)
            | Op::Insert(s, ..)
            | Op::Update(s, ..)
            | Op::Modify(s, ..)
            | Op::Delete(s, _)
            | Op::Commit(s)
            | Op::Rollback(s) => s,
        }
    }
}

fn row() -> impl Strategy<Value = Row> {
    prop::collection::vec(-3i64..3, 0..=3)
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    // Up to KEYS inclusive: a bound past every key.
    prop_oneof![
        Just(Bound::Unbounded),
        (0..=KEYS).prop_map(Bound::Included),
        (0..=KEYS).prop_map(Bound::Excluded),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (-3i64..3).prop_map(Change::Add),
        (-3i64..3).prop_map(Change::Push),
        Just(Change::Pop),
        (0usize..3, -3i64..3).prop_map(|(i, v)| Change::Set(i, v)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = || 0..SLOTS;
    let key = || 0..KEYS;
    prop_oneof![
        2 => slot().prop_map(Op::Begin),
        3 => (slot(), key()).prop_map(|(s, k)| Op::Get(s, k)),
        2 => (slot(), bound(), bound()).prop_map(|(s, from, to)| Op::Scan(s, from, to)),
        4 => (slot(), key(), row()).prop_map(|(s, k, r)| Op::Insert(s, k, r)),
        3 => (slot(), key(), row()).prop_map(|(s, k, r)| Op::Update(s, k, r)),
        3 => (slot(), key(), change()).prop_map(|(s, k, c)| Op::Modify(s, k, c)),
        2 => (slot(), key()).prop_map(|(s, k)| Op::Delete(s, k)),
        3 => slot().prop_map(Op::Commit),
        1 => slot().prop_map(Op::Rollback),
    ]
}

/// A transaction of the model.
#[derive(Debug)]
struct ModelTxn {
    /// Index into [`Model::history`].
    snapshot: usize,
    /// `None`: deleted by this transaction.
    writes: BTreeMap<u8, Option<Row>>,
    aborted: bool,
}

/// Snapshot isolation, by the book.
#[derive(Debug)]
struct Model {
    /// The committed state after each writing commit; `history[0]` is empty.
    history: Vec<State>,
    /// The index in `history` of the last commit that wrote each key.
    last_write: BTreeMap<u8, usize>,
    txns: [Option<ModelTxn>; SLOTS],
}

/// What a write does to the row it sees.
enum Write {
    Insert(Row),
    Update(Row),
    Modify(Change),
    Delete,
}

impl Model {
    fn new() -> Self {
        Model {
            history: vec![State::new()],
            last_write: BTreeMap::new(),
            txns: Default::default(),
        }
    }

    fn latest(&self) -> &State {
        self.history
            .last()
            .expect("history starts with the empty state")
    }

    fn begin(&mut self, slot: usize) {
        self.txns[slot] = Some(ModelTxn {
            snapshot: self.history.len() - 1,
            writes: BTreeMap::new(),
            aborted: false,
        });
    }

    /// The live transaction in `slot`, or `Err(Aborted)`.
    fn active(&self, slot: usize) -> Result<&ModelTxn, Error> {
        match &self.txns[slot] {
            Some(t) if !t.aborted => Ok(t),
            Some(_) => Err(Error::Aborted),
            None => unreachable!("an op on an empty slot begins a transaction first"),
        }
    }

    fn get(&self, slot: usize, key: u8) -> Result<Option<Row>, Error> {
        let t = self.active(slot)?;
        Ok(match t.writes.get(&key) {
            Some(own) => own.clone(),
            None => self.history[t.snapshot].get(&key).cloned(),
        })
    }

    fn scan(&self, slot: usize, range: (Bound<u8>, Bound<u8>)) -> Result<Vec<(u8, Row)>, Error> {
        let t = self.active(slot)?;
        let mut seen = self.history[t.snapshot].clone();
        for (k, w) in &t.writes {
            match w {
                Some(r) => seen.insert(*k, r.clone()),
                None => seen.remove(k),
            };
        }
        // Filtered by hand: `BTreeMap::range` panics on an empty range such
        // as `3..2`, which the engine answers with no rows.
        Ok(seen
            .into_iter()
            .filter(|(k, _)| range.contains(k))
            .collect())
    }

    /// First updater wins: somebody else holds `key`, or committed it after
    /// our snapshot.
    fn conflicts(&self, slot: usize, key: u8) -> bool {
        let me = self.txns[slot].as_ref().expect("checked by the caller");
        if me.writes.contains_key(&key) {
            return false;
        }
        let committed_since = self
            .last_write
            .get(&key)
            .is_some_and(|&at| at > me.snapshot);
        let held = self.txns.iter().enumerate().any(|(i, t)| {
            i != slot
                && t.as_ref()
                    .is_some_and(|t| !t.aborted && t.writes.contains_key(&key))
        });
        committed_since || held
    }

    fn write(&mut self, slot: usize, key: u8, write: Write) -> Result<(), Error> {
        // Answers first, from what the transaction sees; conflicts after.
        let seen = self.get(slot, key)?;
        let new = match (write, seen) {
            (Write::Insert(_), Some(_)) => return Err(Error::DuplicateKey),
            (Write::Insert(r), None) => Some(r),
            (_, None) => return Err(Error::NotFound),
            (Write::Update(r), Some(_)) => Some(r),
            (Write::Modify(c), Some(mut r)) => {
                c.apply(&mut r);
                Some(r)
            }
            (Write::Delete, Some(_)) => None,
        };
        let conflict = self.conflicts(slot, key);
        let t = self.txns[slot].as_mut().expect("active");
        if conflict {
            t.aborted = true;
            t.writes.clear();
            return Err(Error::WriteConflict);
        }
        t.writes.insert(key, new);
        Ok(())
    }

    /// `Ok(true)` if the commit wrote (and so took a new timestamp).
    fn commit(&mut self, slot: usize) -> Result<bool, Error> {
        let t = self.txns[slot]
            .take()
            .expect("an op on an empty slot begins a transaction first");
        if t.aborted {
            return Err(Error::Aborted);
        }
        if t.writes.is_empty() {
            return Ok(false);
        }
        let mut state = self.latest().clone();
        let at = self.history.len();
        for (k, w) in t.writes {
            match w {
                Some(r) => state.insert(k, r),
                None => state.remove(&k),
            };
            self.last_write.insert(k, at);
        }
        self.history.push(state);
        Ok(true)
    }
}

/// The engine and the model side by side, and a transcript of what they
/// agreed on so far: a failure prints the transcript of the minimal case.
struct Run {
    db: Database,
    table: Table<u8, Row>,
    txns: [Option<Transaction>; SLOTS],
    model: Model,
    transcript: Vec<String>,
    last_commit: Option<Timestamp>,
}

impl Run {
    fn new(storage: Storage) -> Self {
        let db = Database::new(storage);
        let table = db.create_table("t").expect("fresh database");
        Run {
            db,
            table,
            txns: Default::default(),
            model: Model::new(),
            transcript: Vec::new(),
            last_commit: None,
        }
    }

    fn begin(&mut self, slot: usize, how: &str) {
        self.txns[slot] = Some(self.db.begin());
        self.model.begin(slot);
        let snapshot = self.model.history.len() - 1;
        self.transcript
            .push(format!("Begin({slot}){how}: sees {snapshot} commit(s)"));
    }

    /// Records `what` if the engine's answer equals the model's.
    fn agree<V: PartialEq + Debug>(
        &mut self,
        what: &Op,
        got: V,
        want: V,
    ) -> Result<(), TestCaseError> {
        if got == want {
            self.transcript.push(format!("{what:?} -> {got:?}"));
            return Ok(());
        }
        Err(self.failure(format!(
            "{what:?}: the engine answered {got:?}, the model {want:?}"
        )))
    }

    fn failure(&self, what: String) -> TestCaseError {
        TestCaseError::fail(format!("after\n  {}\n{what}", self.transcript.join("\n  ")))
    }

    fn tx(&mut self, slot: usize) -> &mut Transaction {
        self.txns[slot].as_mut().expect("begun before use")
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let slot = op.slot();
        if let Op::Begin(s) = *op {
            let how = if self.txns[s].is_some() {
                " (dropping the open one)"
            } else {
                ""
            };
            self.begin(s, how);
            return Ok(());
        }
        if self.txns[slot].is_none() {
            self.begin(slot, " (implicit)");
        }
        let table = self.table.clone();
        match op.clone() {
            Op::Begin(_) => unreachable!("handled above"),
            Op::Get(s, k) => {
                let got = self.tx(s).get(&table, &k);
                let want = self.model.get(s, k);
                self.agree(op, got, want)
            }
            Op::Scan(s, from, to) => {
                let got = self
                    .tx(s)
                    .scan(&table, (from, to))
                    .map(|rows| rows.collect::<Vec<_>>());
                let want = self.model.scan(s, (from, to));
                self.agree(op, got, want)
            }
            Op::Insert(s, k, r) => {
                let got = self.tx(s).insert(&table, k, r.clone());
                let want = self.model.write(s, k, Write::Insert(r));
                self.agree(op, got, want)
            }
            Op::Update(s, k, r) => {
                let got = self.tx(s).update(&table, &k, r.clone());
                let want = self.model.write(s, k, Write::Update(r));
                self.agree(op, got, want)
            }
            Op::Modify(s, k, c) => {
                let got = self.tx(s).modify(&table, &k, |r| c.apply(r));
                let want = self.model.write(s, k, Write::Modify(c));
                self.agree(op, got, want)
            }
            Op::Delete(s, k) => {
                let got = self.tx(s).delete(&table, &k);
                let want = self.model.write(s, k, Write::Delete);
                self.agree(op, got, want)
            }
            Op::Commit(s) => {
                let got = self.txns[s].take().expect("begun").commit();
                let want = self.model.commit(s);
                if let (&Ok(ts), &Ok(true)) = (&got, &want) {
                    // Writing commits take ever larger timestamps.
                    if self.last_commit.is_some_and(|prev| ts <= prev) {
                        let prev = self.last_commit;
                        return Err(
                            self.failure(format!("{op:?}: commit at {ts:?} after {prev:?}"))
                        );
                    }
                    self.last_commit = Some(ts);
                }
                // The model says whether the commit wrote, not its timestamp.
                self.agree(op, got.map(|_| ()), want.map(|_| ()))
            }
            Op::Rollback(s) => {
                self.txns[s].take().expect("begun").rollback();
                self.model.txns[s] = None;
                self.transcript.push(format!("{op:?}"));
                Ok(())
            }
        }
    }

    /// A fresh transaction sees the model's latest committed state.
    fn check_latest(&mut self, when: &str) -> Result<(), TestCaseError> {
        let got = self
            .db
            .begin()
            .scan(&self.table, ..)
            .map(|rows| rows.collect::<State>());
        let want = Ok(self.model.latest().clone());
        if got != want {
            return Err(self.failure(format!(
                "{when}: a fresh transaction sees {got:?}, the model {want:?}"
            )));
        }
        Ok(())
    }
}

/// Runs `ops` on a fresh database over `storage` and on the model, comparing
/// every answer.
fn check(storage: Storage, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut run = Run::new(storage);
    for op in ops {
        run.step(op)?;
    }
    // Uncommitted writes of the transactions still open are invisible...
    run.check_latest("at the end, transactions open")?;
    // ...and dropping them (rolling them back) changes nothing.
    run.txns = Default::default();
    run.check_latest("at the end, transactions dropped")
}

#[test]
fn every_store_matches_the_snapshot_isolation_model() {
    for storage in Storage::ALL {
        // Default config: 256 cases, or PROPTEST_CASES.
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let ops = prop::collection::vec(op(), 1..100);
        if let Err(failure) = runner.run(&ops, |ops| check(storage, &ops)) {
            panic!("{storage:?}: {failure}");
        }
    }
}

/// The precedence of answers over conflicts, spelled out once as a plain
/// test (the model checks it at random): what a transaction sees decides
/// `NotFound` and `DuplicateKey`; only a write that goes ahead can conflict.
#[test]
fn answers_come_before_conflicts_on_every_store() {
    for storage in Storage::ALL {
        let db = Database::new(storage);
        let t: Table<u8, Row> = db.create_table("t").unwrap();
        let mut setup = db.begin();
        setup.insert(&t, 1, vec![1]).unwrap();
        setup.commit().unwrap();

        // Row 1 visible, but deleted by a concurrent (uncommitted) writer:
        // insert answers DuplicateKey and goes on; update conflicts.
        let mut deleter = db.begin();
        deleter.delete(&t, &1).unwrap();
        let mut other = db.begin();
        assert_eq!(
            other.insert(&t, 1, vec![2]),
            Err(Error::DuplicateKey),
            "{storage:?}"
        );
        assert_eq!(
            other.update(&t, &1, vec![2]),
            Err(Error::WriteConflict),
            "{storage:?}"
        );
        assert_eq!(other.get(&t, &1), Err(Error::Aborted), "{storage:?}");
        deleter.commit().unwrap();

        // Row 2 absent for the snapshot, but inserted by a concurrent writer:
        // update answers NotFound and goes on; insert conflicts.
        let mut late = db.begin();
        let mut inserter = db.begin();
        inserter.insert(&t, 2, vec![2]).unwrap();
        assert_eq!(
            late.update(&t, &2, vec![3]),
            Err(Error::NotFound),
            "{storage:?}"
        );
        assert_eq!(
            late.insert(&t, 2, vec![3]),
            Err(Error::WriteConflict),
            "{storage:?}"
        );
        assert_eq!(late.commit(), Err(Error::Aborted), "{storage:?}");
        inserter.commit().unwrap();
    }
}
