//! One partition: a multiverse `Database` that owns a share of every
//! table's keys, its log, and its part of two-phase commit — participant
//! always, coordinator of the transactions it is the first participant of,
//! resolver of its prepared transactions after a restart or a long wait.
//!
//! Everything a partition does happens under its one lock (`Node`), and it
//! talks to other partitions only through the [`Envelope`]s its handlers
//! return (sans-IO: the in-memory transport delivers them at once, the
//! simulator when its seed says).
//!
//! **Timestamps.** The partition's engine commits at timestamps from the
//! cluster's timestamp service, in increasing order (`commit_at`). A
//! one-partition commit takes a fresh timestamp; a 2PC participant takes a
//! fresh *prepare* timestamp, and the transaction commits everywhere at the
//! largest. Because the engine publishes in timestamp order, a decided
//! commit at `c` is applied only when no undecided prepare here has a
//! timestamp at or below `c` (it might commit below `c`), and a
//! one-partition commit waits until nothing is prepared here (the fence).
//!
//! **The one place readers wait.** A transaction whose snapshot `s` is at
//! or above the prepare timestamp of a transaction prepared here and not
//! yet decided cannot know whether that transaction's writes belong in its
//! snapshot (its commit timestamp may be `≤ s`). It waits for the decision
//! — bounded: past the bound it asks the participants, as recovery does,
//! and past twice the bound it gives up with `Error::Blocked`. A snapshot
//! below every undecided prepare reads at once: those commit above it.
//! The wait is per partition, not per key: coarser than OceanBase's.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use multiverse::{Database, Snapshot, Storage, Timestamp, Transaction};

use crate::error::{Error, Result};
use crate::gts::TimestampService;
use crate::log::{Device, PartitionLog};
use crate::message::{Endpoint, Envelope, Message, Path, TxnId};
use crate::protocol::{answer_query, decide, learn, Answer, Decision, Record};
use crate::record::{LogRecord, Write};
use crate::schema::{PartTable, Schema};
use crate::snapshots::Registry;

/// Which commit protocol the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// The first participant coordinates and keeps no state; the client
    /// is answered once every participant prepared (one round, one sync).
    #[default]
    FirstParticipant,
    /// Classic two-phase commit, the baseline: the coordinator logs its
    /// decision, runs a commit round in which each participant logs the
    /// decision, logs the end, and then answers (two rounds, four log
    /// writes). Its recovery is not built: run it without faults.
    Classic,
}

/// Where a partition's log lives.
#[derive(Clone)]
pub(crate) enum Disk {
    /// Nowhere: an in-memory cluster.
    None,
    /// A file.
    File(std::path::PathBuf),
    /// The simulator's disk.
    Sim(crate::log::SimDisk),
}

impl Disk {
    fn device(&self) -> std::io::Result<Option<Box<dyn Device>>> {
        Ok(match self {
            Disk::None => None,
            Disk::File(path) => Some(Box::new(crate::log::FileDevice::open(path)?)),
            Disk::Sim(disk) => Some(Box::new(disk.device())),
        })
    }
}

/// A transaction's part on one partition, while it runs.
pub(crate) struct Local {
    pub tx: Transaction,
    /// The tables of the engine `tx` runs on.
    pub tables: Arc<Vec<Box<dyn PartTable>>>,
    /// The writes, encoded, if the partition keeps a log.
    pub writes: Vec<Write>,
    /// Whether it wrote.
    pub wrote: bool,
    /// The partition's incarnation it began in: a restart loses it.
    pub incarnation: u64,
}

struct Prepared {
    ts: u64,
    participants: Vec<usize>,
    client: u64,
    /// The writes, claimed (W1): `None` only while replay builds it.
    tx: Option<Transaction>,
    writes: Vec<Write>,
}

struct Collect {
    participants: Vec<usize>,
    client: u64,
    answers: Vec<Option<Answer>>,
    path: Path,
}

struct Classic {
    participants: Vec<usize>,
    client: u64,
    decision: Decision,
    acks: Vec<bool>,
    path: Path,
}

/// A partition's state: rebuilt from its log on restart.
struct Node {
    up: bool,
    incarnation: u64,
    db: Database,
    tables: Arc<Vec<Box<dyn PartTable>>>,
    log: Option<PartitionLog>,
    /// The durable record of every 2PC transaction this partition took
    /// part in (a restart rebuilds it from the log).
    records: HashMap<TxnId, Record>,
    /// Ran here; its commit began; not prepared yet.
    staged: HashMap<TxnId, Local>,
    /// Staged at the last timer tick already: the next tick aborts them
    /// (their prepare was lost, and nobody else would ever resolve them).
    aged: Vec<TxnId>,
    /// Prepared, undecided.
    prepared: HashMap<TxnId, Prepared>,
    /// Decided to commit, waiting for the undecided prepares below it.
    pending: BTreeMap<u64, (TxnId, Prepared)>,
    /// As coordinator: the votes so far (volatile: the coordinator keeps
    /// no state a crash would need).
    votes: HashMap<TxnId, Collect>,
    /// As resolver: the answers so far.
    resolving: HashMap<TxnId, Collect>,
    /// The classic baseline's coordinator state.
    classic: HashMap<TxnId, Classic>,
    /// An engine snapshot at or below the cluster's live-snapshot floor
    /// (`snapshots.rs`): what a cluster transaction that has not touched
    /// this partition yet will read stays readable.
    pin: Option<Snapshot>,
    /// Commits since the pin last moved.
    since_pin: u32,
    /// Counters, carried over a crash and a restart (counted under the
    /// lock every change already holds).
    stats: PartitionStats,
}

/// Counters (for the driver and the simulator's checker).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PartitionStats {
    /// Log syncs.
    pub syncs: u64,
    /// One-partition commits.
    pub local_commits: u64,
    /// Prepares recorded.
    pub prepares: u64,
    /// 2PC commits applied here.
    pub commits: u64,
    /// 2PC aborts learned here (including "prevent" records).
    pub aborts: u64,
    /// Resolutions started here.
    pub resolutions: u64,
    /// Waits of readers and committers for a prepared transaction.
    pub waits: u64,
    /// Decisions that contradicted a durable record: must stay 0.
    pub violations: u64,
    /// Transactions prepared here and not yet decided or applied (now).
    pub undecided: u64,
}

/// A partition.
pub(crate) struct Partition {
    pub id: usize,
    node: Mutex<Node>,
    decided: Condvar,
    gts: Arc<dyn TimestampService>,
    schema: Arc<Schema>,
    storage: Storage,
    registry: Arc<Registry>,
    disk: Disk,
    protocol: Protocol,
}

fn out(to: Endpoint, from: usize, msg: Message, path: Path) -> Envelope {
    Envelope {
        from: Endpoint::Partition(from),
        to,
        msg,
        path: Path {
            hops: path.hops + 1,
            ..path
        },
    }
}

impl Partition {
    /// Opens partition `id`: replays its log (if any) into a fresh engine.
    /// Returns it and the envelopes of the resolutions its undecided
    /// prepares need.
    pub fn open(
        id: usize,
        gts: Arc<dyn TimestampService>,
        schema: Arc<Schema>,
        storage: Storage,
        registry: Arc<Registry>,
        disk: Disk,
        protocol: Protocol,
    ) -> Result<(Partition, Vec<Envelope>)> {
        let p = Partition {
            id,
            node: Mutex::new(Node::empty(storage, &schema)?),
            decided: Condvar::new(),
            gts,
            schema,
            storage,
            registry,
            disk,
            protocol,
        };
        let mut envs = Vec::new();
        p.restart(&mut envs)?;
        Ok((p, envs))
    }

    fn lock(&self) -> MutexGuard<'_, Node> {
        // A panic under the lock (a bug, or a user's codec) poisons it; the
        // state it guards is still whole between statements.
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> PartitionStats {
        let n = self.lock();
        let mut s = n.stats;
        if let Some(log) = &n.log {
            s.syncs = log.syncs();
        }
        s.undecided = (n.prepared.len() + n.pending.len()) as u64;
        s
    }

    /// The partition's engine (the simulator's checker reads it directly).
    pub fn db(&self) -> Result<Database> {
        let n = self.lock();
        if !n.up {
            return Err(Error::Unavailable { partition: self.id });
        }
        Ok(n.db.clone())
    }

    /// How many times it restarted.
    pub fn incarnation(&self) -> u64 {
        self.lock().incarnation
    }

    /// Whether table `index` is an `X` (a typed part).
    pub fn table_is<X: 'static>(&self, index: usize) -> bool {
        self.lock()
            .tables
            .get(index)
            .is_some_and(|t| t.as_any().is::<X>())
    }

    /// Whether the partition is up.
    pub fn is_up(&self) -> bool {
        self.lock().up
    }

    /// How many transactions are prepared and undecided here.
    pub fn undecided(&self) -> usize {
        let n = self.lock();
        n.prepared.len() + n.pending.len()
    }

    /// The transactions staged here whose prepare has not come.
    pub fn staged(&self) -> Vec<TxnId> {
        self.lock().staged.keys().copied().collect()
    }

    /// The durable record of `txn` here.
    pub fn record(&self, txn: TxnId) -> Record {
        self.lock()
            .records
            .get(&txn)
            .copied()
            .unwrap_or(Record::None)
    }

    /// Every record (the simulator's checker).
    pub fn records(&self) -> Vec<(TxnId, Record)> {
        self.lock().records.iter().map(|(t, r)| (*t, *r)).collect()
    }

    /// Waits while a prepared, undecided transaction may commit at or
    /// below `ts` (`None`: any), bounded by `wait` (past it, asks the
    /// participants; past twice it, `Blocked`). With a zero `wait` (the
    /// simulator) it never sleeps: it starts the resolutions and returns
    /// `Blocked`.
    fn wait_undecided<'a>(
        &'a self,
        mut n: MutexGuard<'a, Node>,
        ts: Option<u64>,
        wait: Duration,
        send: &dyn Fn(Vec<Envelope>),
    ) -> Result<MutexGuard<'a, Node>> {
        if n.prepared.is_empty() && n.pending.is_empty() && n.up {
            return Ok(n);
        }
        let start = Instant::now();
        let mut asked = false;
        loop {
            if !n.up {
                return Err(Error::Unavailable { partition: self.id });
            }
            let blockers: Vec<TxnId> = n
                .prepared
                .iter()
                .filter(|(_, p)| ts.is_none_or(|s| p.ts <= s))
                .map(|(t, _)| *t)
                .chain(
                    n.pending
                        .iter()
                        .filter(|(c, _)| ts.is_none_or(|s| **c <= s))
                        .map(|(_, (t, _))| *t),
                )
                .collect();
            if blockers.is_empty() {
                return Ok(n);
            }
            if !asked {
                n.stats.waits += 1;
            }
            let waited = start.elapsed();
            if (waited >= wait && !asked) || wait.is_zero() {
                asked = true;
                let mut envs = Vec::new();
                for txn in blockers {
                    self.resolve_locked(&mut n, txn, &mut envs);
                }
                drop(n);
                send(envs);
                if wait.is_zero() {
                    return Err(Error::Blocked { partition: self.id });
                }
                n = self.lock();
                continue;
            }
            if waited >= wait * 2 {
                return Err(Error::Blocked { partition: self.id });
            }
            let left = if asked {
                wait * 2 - waited
            } else {
                wait - waited
            };
            n = self
                .decided
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Begins `txn`'s part here, reading at `snapshot` — after waiting for
    /// any undecided prepare at or below it (module docs).
    pub fn begin(
        &self,
        snapshot: u64,
        wait: Duration,
        send: &dyn Fn(Vec<Envelope>),
    ) -> Result<Local> {
        let n = self.wait_undecided(self.lock(), Some(snapshot), wait, send)?;
        // Every commit here at or below `snapshot` is applied (no prepare
        // at or below it is undecided, and later commits take later
        // timestamps): the newest commit, if older, reads the same. No
        // commit runs here while we hold the lock, so `begin` reads it.
        let tx = if snapshot >= n.db.newest_commit().get() {
            n.db.begin()
        } else {
            // Readable: the pin is at or below the cluster's floor, which
            // is at or below this live snapshot.
            n.db.begin_at(Timestamp::new(snapshot))?
        };
        Ok(Local {
            tx,
            tables: Arc::clone(&n.tables),
            writes: Vec::new(),
            wrote: false,
            incarnation: n.incarnation,
        })
    }

    /// Commits a transaction that wrote only here (one phase): waits for
    /// the fence, takes a fresh timestamp, logs and syncs, applies.
    pub fn commit_one(
        &self,
        local: Local,
        wait: Duration,
        send: &dyn Fn(Vec<Envelope>),
    ) -> Result<u64> {
        let mut n = self.wait_undecided(self.lock(), None, wait, send)?;
        if n.incarnation != local.incarnation {
            return Err(Error::Unavailable { partition: self.id });
        }
        let ts = self.gts.next();
        if let Some(log) = &mut n.log {
            let mut payload = Vec::new();
            LogRecord::Commit {
                ts,
                writes: local.writes,
            }
            .encode(&mut payload);
            log.append(&payload)?;
            log.sync()?;
        }
        match local.tx.commit_at(Timestamp::new(ts))? {
            Some(_) => {
                n.stats.local_commits += 1;
                self.committed(&mut n);
                Ok(ts)
            }
            // Nothing else moves this engine's clock but the commits made
            // here, in timestamp order, under this lock.
            None => unreachable!("partition {}: the clock passed a fresh timestamp", self.id),
        }
    }

    /// Hands `txn`'s part to the partition for its prepare (the client's
    /// commit, before it sends `Prepare`).
    pub fn stage(&self, txn: TxnId, local: Local) -> Result<()> {
        let mut n = self.lock();
        if !n.up || n.incarnation != local.incarnation {
            return Err(Error::Unavailable { partition: self.id });
        }
        if n.records.contains_key(&txn) {
            // A resolver asked about it already and we recorded an abort.
            return Err(Error::Aborted);
        }
        n.staged.insert(txn, local);
        Ok(())
    }

    /// Forgets a staged part (the client gave up before any prepare).
    pub fn unstage(&self, txn: TxnId) {
        self.lock().staged.remove(&txn);
    }

    /// Handles one envelope; appends what it sends.
    pub fn handle(&self, env: Envelope, outbox: &mut Vec<Envelope>) {
        let mut n = self.lock();
        if !n.up {
            return;
        }
        let path = env.path;
        match env.msg {
            Message::Prepare {
                txn,
                participants,
                client,
            } => {
                let (vote, path) = self.prepare(&mut n, txn, &participants, client, path);
                let Some(vote) = vote else {
                    return;
                };
                outbox.push(out(
                    Endpoint::Partition(participants[0]),
                    self.id,
                    Message::Vote {
                        txn,
                        participants,
                        client,
                        from: self.id,
                        vote,
                    },
                    path,
                ));
            }
            Message::Vote {
                txn,
                participants,
                client,
                from,
                vote,
            } => self.vote(&mut n, txn, participants, client, from, vote, path, outbox),
            Message::Decide { txn, decision } => self.learn(&mut n, txn, decision),
            Message::Query { txn, from } => {
                let record = n.records.get(&txn).copied().unwrap_or(Record::None);
                let (make, answer) = answer_query(record);
                let mut path = path;
                if let Some(rec) = make {
                    // Prevent: no prepare of `txn` may succeed here now.
                    n.staged.remove(&txn);
                    if !self.log_record(
                        &mut n,
                        &LogRecord::Decided {
                            txn,
                            decision: Decision::Abort,
                        },
                        true,
                        &mut path,
                    ) {
                        return; // no durable record: no answer
                    }
                    n.records.insert(txn, rec);
                    n.stats.aborts += 1;
                }
                outbox.push(out(
                    Endpoint::Partition(from),
                    self.id,
                    Message::Reply {
                        txn,
                        from: self.id,
                        answer,
                    },
                    path,
                ));
            }
            Message::Reply { txn, from, answer } => {
                let Some(c) = n.resolving.get_mut(&txn) else {
                    return;
                };
                if let Some(i) = c.participants.iter().position(|p| *p == from) {
                    c.answers[i] = Some(answer);
                }
                if let Some(d) = decide(&c.answers) {
                    let c = n.resolving.remove(&txn).expect("present");
                    self.learn(&mut n, txn, d);
                    self.broadcast(txn, d, &c.participants, c.client, path, outbox);
                }
            }
            Message::ClassicDecide {
                txn,
                decision,
                coordinator,
            } => {
                let mut path = path;
                // `learn` writes the decision record (a commit's when it is
                // applied, in timestamp order); classic 2PC forces it before
                // the acknowledgement.
                self.learn(&mut n, txn, decision);
                if let Some(log) = &mut n.log {
                    path.writes += 1;
                    path.syncs += 1;
                    if log.sync().is_err() {
                        return; // no acknowledgement of what is not durable
                    }
                }
                outbox.push(out(
                    Endpoint::Partition(coordinator),
                    self.id,
                    Message::ClassicAck { txn, from: self.id },
                    path,
                ));
            }
            Message::ClassicAck { txn, from } => {
                let Some(c) = n.classic.get_mut(&txn) else {
                    return;
                };
                if let Some(i) = c.participants.iter().position(|p| *p == from) {
                    c.acks[i] = true;
                }
                c.path = c.path.max(path);
                if c.acks.iter().all(|a| *a) {
                    let c = n.classic.remove(&txn).expect("present");
                    let mut path = c.path;
                    self.log_record(
                        &mut n,
                        &LogRecord::Coordinator { txn, end: true },
                        true,
                        &mut path,
                    );
                    outbox.push(out(
                        Endpoint::Client(c.client),
                        self.id,
                        Message::Outcome {
                            txn,
                            decision: c.decision,
                        },
                        path,
                    ));
                }
            }
            Message::Outcome { .. } => {}
        }
    }

    /// Appends `record` to the log (and syncs it if `sync`), counting it on
    /// `path`. `false` if the log failed (it is poisoned then).
    fn log_record(&self, n: &mut Node, record: &LogRecord, sync: bool, path: &mut Path) -> bool {
        let Some(log) = &mut n.log else {
            return true;
        };
        let mut payload = Vec::new();
        record.encode(&mut payload);
        path.writes += 1;
        if log.append(&payload).is_err() {
            return false;
        }
        if sync {
            path.syncs += 1;
            return log.sync().is_ok();
        }
        true
    }

    /// A participant's prepare: its vote, and the path after its sync.
    fn prepare(
        &self,
        n: &mut Node,
        txn: TxnId,
        participants: &[usize],
        client: u64,
        mut path: Path,
    ) -> (Option<Answer>, Path) {
        match n.records.get(&txn) {
            Some(Record::Prepared { ts }) => return (Some(Answer::Prepared(*ts)), path),
            Some(Record::Committed { ts }) => return (Some(Answer::Committed(*ts)), path),
            Some(Record::Aborted) => return (Some(Answer::Aborted), path),
            Some(Record::None) | None => {}
        }
        let Some(local) = n.staged.remove(&txn) else {
            // Never staged here (lost in a restart, or a duplicate after an
            // abort was forgotten): abort, durably, before answering.
            if !self.log_record(
                n,
                &LogRecord::Decided {
                    txn,
                    decision: Decision::Abort,
                },
                true,
                &mut path,
            ) {
                return (None, path); // not durable: no answer
            }
            n.records.insert(txn, Record::Aborted);
            n.stats.aborts += 1;
            return (Some(Answer::Aborted), path);
        };
        // Above every snapshot served here (they were handed out before).
        let ts = self.gts.next();
        let record = LogRecord::Prepare {
            txn,
            ts,
            participants: participants.to_vec(),
            client,
            writes: local.writes,
        };
        if !self.log_record(n, &record, true, &mut path) {
            // The log failed (and is poisoned): the record may reach the
            // disk all the same, so an `Aborted` vote, which is not durable,
            // could contradict a recovery that finds it. No vote: the
            // transaction stays undecided until this partition restarts.
            return (None, path);
        }
        let LogRecord::Prepare { writes, .. } = record else {
            unreachable!()
        };
        n.records.insert(txn, Record::Prepared { ts });
        n.prepared.insert(
            txn,
            Prepared {
                ts,
                participants: participants.to_vec(),
                client,
                tx: Some(local.tx),
                writes,
            },
        );
        n.stats.prepares += 1;
        (Some(Answer::Prepared(ts)), path)
    }

    #[allow(clippy::too_many_arguments)]
    fn vote(
        &self,
        n: &mut Node,
        txn: TxnId,
        participants: Vec<usize>,
        client: u64,
        from: usize,
        vote: Answer,
        path: Path,
        outbox: &mut Vec<Envelope>,
    ) {
        // A vote after the decision (a duplicate, or one that a resolver
        // overtook): the decision is already out.
        if matches!(
            n.records.get(&txn),
            Some(Record::Committed { .. } | Record::Aborted)
        ) && !n.votes.contains_key(&txn)
        {
            return;
        }
        let k = participants.len();
        let c = n.votes.entry(txn).or_insert_with(|| Collect {
            participants: participants.clone(),
            client,
            answers: vec![None; k],
            path: Path::default(),
        });
        if let Some(i) = c.participants.iter().position(|p| *p == from) {
            c.answers[i] = Some(vote);
        }
        c.path = c.path.max(path);
        let Some(d) = decide(&c.answers) else {
            return;
        };
        let c = n.votes.remove(&txn).expect("present");
        match self.protocol {
            Protocol::FirstParticipant => {
                // Answer the client first: the decision is already durable
                // in the participants' records.
                outbox.push(out(
                    Endpoint::Client(c.client),
                    self.id,
                    Message::Outcome { txn, decision: d },
                    c.path,
                ));
                self.learn(n, txn, d);
                self.broadcast(txn, d, &c.participants, None, c.path, outbox);
            }
            Protocol::Classic => {
                let mut path = c.path;
                self.log_record(
                    n,
                    &LogRecord::Coordinator { txn, end: false },
                    true,
                    &mut path,
                );
                for p in &c.participants {
                    outbox.push(out(
                        Endpoint::Partition(*p),
                        self.id,
                        Message::ClassicDecide {
                            txn,
                            decision: d,
                            coordinator: self.id,
                        },
                        path,
                    ));
                }
                n.classic.insert(
                    txn,
                    Classic {
                        acks: vec![false; c.participants.len()],
                        participants: c.participants,
                        client: c.client,
                        decision: d,
                        path,
                    },
                );
            }
        }
    }

    /// Sends `d` to every other participant (and the outcome to `client`
    /// if given: a resolver's decision, which the client may still wait for).
    fn broadcast(
        &self,
        txn: TxnId,
        d: Decision,
        participants: &[usize],
        client: impl Into<Option<u64>>,
        path: Path,
        outbox: &mut Vec<Envelope>,
    ) {
        if let Some(client) = client.into() {
            outbox.push(out(
                Endpoint::Client(client),
                self.id,
                Message::Outcome { txn, decision: d },
                path,
            ));
        }
        for p in participants.iter().filter(|p| **p != self.id) {
            outbox.push(out(
                Endpoint::Partition(*p),
                self.id,
                Message::Decide { txn, decision: d },
                path,
            ));
        }
    }

    /// Learns `decision` for `txn`: records it, and applies or rolls back.
    fn learn(&self, n: &mut Node, txn: TxnId, decision: Decision) {
        let record = n.records.get(&txn).copied().unwrap_or(Record::None);
        match learn(record, decision) {
            Err(_) => n.stats.violations += 1,
            Ok(None) => {}
            Ok(Some(Record::Committed { ts })) => {
                let Some(p) = n.prepared.remove(&txn) else {
                    n.stats.violations += 1;
                    return;
                };
                n.records.insert(txn, Record::Committed { ts });
                n.pending.insert(ts, (txn, p));
                self.drain(n);
            }
            Ok(Some(rec)) => {
                // Abort: roll back whatever ran here; the record need not be
                // synced (a lost one is decided again by recovery).
                n.staged.remove(&txn);
                n.prepared.remove(&txn);
                let mut path = Path::default();
                self.log_record(
                    n,
                    &LogRecord::Decided {
                        txn,
                        decision: Decision::Abort,
                    },
                    false,
                    &mut path,
                );
                n.records.insert(txn, rec);
                n.stats.aborts += 1;
                self.drain(n);
            }
        }
        self.decided.notify_all();
    }

    /// Applies decided commits in timestamp order, each once no undecided
    /// prepare lies at or below it.
    fn drain(&self, n: &mut Node) {
        while let Some((&ts, _)) = n.pending.first_key_value() {
            if n.prepared.values().any(|p| p.ts <= ts) {
                return;
            }
            let (_, (txn, p)) = n.pending.pop_first().expect("present");
            let mut path = Path::default();
            // Not synced: a later sync (any commit after it) carries it, and
            // a crash before loses only what recovery decides again.
            self.log_record(
                n,
                &LogRecord::Decided {
                    txn,
                    decision: Decision::Commit(ts),
                },
                false,
                &mut path,
            );
            let tx = p.tx.expect("a prepared transaction holds its writes");
            match tx.commit_at(Timestamp::new(ts)) {
                Ok(Some(_)) => n.stats.commits += 1,
                _ => n.stats.violations += 1,
            }
            self.committed(n);
        }
    }

    /// After each commit here: every 64, moves the pin up to the cluster's
    /// live-snapshot floor, so that the engine collects what no live
    /// cluster snapshot reads.
    fn committed(&self, n: &mut Node) {
        n.since_pin += 1;
        if n.since_pin < 64 && n.pin.is_some() {
            return;
        }
        self.move_pin(n);
    }

    /// Moves the pin up to the cluster's live-snapshot floor.
    fn move_pin(&self, n: &mut Node) {
        n.since_pin = 0;
        let floor = self
            .registry
            .floor(&*self.gts)
            .min(n.db.newest_commit().get());
        if n.pin.as_ref().is_some_and(|p| p.timestamp().get() >= floor) {
            return;
        }
        // The old pin holds the engine's watermark at or below it, so a
        // floor above it is readable.
        if let Ok(pin) = n.db.snapshot_at(Timestamp::new(floor)) {
            n.pin = Some(pin);
        }
    }

    /// Starts resolving `txn` (prepared here): asks every other participant.
    fn resolve_locked(&self, n: &mut Node, txn: TxnId, outbox: &mut Vec<Envelope>) {
        if n.resolving.contains_key(&txn) {
            return;
        }
        let Some(p) = n.prepared.get(&txn) else {
            return;
        };
        let mut answers = vec![None; p.participants.len()];
        let me = p
            .participants
            .iter()
            .position(|q| *q == self.id)
            .expect("a participant");
        answers[me] = Some(Answer::Prepared(p.ts));
        let participants = p.participants.clone();
        n.resolving.insert(
            txn,
            Collect {
                participants: participants.clone(),
                client: p.client,
                answers,
                path: Path::default(),
            },
        );
        n.stats.resolutions += 1;
        for q in participants.into_iter().filter(|q| *q != self.id) {
            outbox.push(out(
                Endpoint::Partition(q),
                self.id,
                Message::Query { txn, from: self.id },
                Path::default(),
            ));
        }
    }

    /// Starts resolving every undecided prepare here that is not being
    /// resolved (the simulator's timer; a restart). Aborts the parts
    /// staged here since the previous call whose prepare has not come: if
    /// every prepare of a transaction was lost, no participant prepared and
    /// none would ever resolve it, and its claims would block its keys
    /// forever. (Not prepared here, it may abort here alone; a prepare
    /// that comes later finds the abort and votes so.)
    pub fn resolve_all(&self, outbox: &mut Vec<Envelope>) {
        let mut n = self.lock();
        if !n.up {
            return;
        }
        for txn in std::mem::take(&mut n.aged) {
            if n.staged.contains_key(&txn) {
                self.learn(&mut n, txn, Decision::Abort);
            }
        }
        n.aged = n.staged.keys().copied().collect();
        // In one order (the simulator replays its seeds exactly).
        n.aged.sort_unstable();
        let txns: Vec<TxnId> = n.prepared.keys().copied().collect();
        for txn in txns {
            n.resolving.remove(&txn);
            self.resolve_locked(&mut n, txn, outbox);
        }
    }

    /// Crashes: everything not synced is gone (the simulator tears the
    /// disk); the partition answers nothing until `restart`.
    pub fn crash(&self) {
        let mut n = self.lock();
        let (incarnation, stats) = (n.incarnation, n.stats);
        *n = Node::down(self.storage, &self.schema);
        // Parts begun before the crash stay stale after the restart.
        n.incarnation = incarnation;
        n.stats = stats;
        self.decided.notify_all();
    }

    /// Rebuilds the partition from its log: one-partition commits and
    /// decided 2PC commits applied at their timestamps, in log order;
    /// prepares without a decision claimed again and resolved (their
    /// queries are appended to `outbox`).
    pub fn restart(&self, outbox: &mut Vec<Envelope>) -> Result<()> {
        let mut n = self.lock();
        let incarnation = n.incarnation + 1;
        let mut fresh = Node::empty(self.storage, &self.schema)?;
        fresh.incarnation = incarnation;
        fresh.stats = n.stats;
        let corrupt = |reason: String| Error::Corrupt {
            partition: self.id,
            reason,
        };
        let mut max = 0;
        // Until the pin moves to the cluster's floor (below), the engine
        // keeps every version replay installs: a live transaction whose
        // snapshot lies below the replayed commits can still read here.
        fresh.pin = Some(fresh.db.snapshot());
        if let Some(device) = self.disk.device()? {
            let (mut log, payloads) = PartitionLog::open(device)?;
            let schema = self.schema.signatures();
            match payloads.first().map(|p| LogRecord::decode(p)) {
                None => {
                    // A new log: it starts with the schema.
                    let mut payload = Vec::new();
                    LogRecord::Schema { tables: schema }.encode(&mut payload);
                    log.append(&payload)?;
                    log.sync()?;
                }
                Some(Ok(LogRecord::Schema { tables })) if tables == schema => {}
                Some(Ok(LogRecord::Schema { tables })) => {
                    return Err(Error::InvalidArgument(format!(
                        "partition {}: the cluster declares the tables {schema:?}, its log was written with {tables:?}",
                        self.id
                    )))
                }
                Some(_) => return Err(corrupt("the log does not begin with its schema".into())),
            }
            fresh.log = Some(log);
            for payload in payloads.iter().skip(1) {
                let record = LogRecord::decode(payload).map_err(corrupt)?;
                match record {
                    LogRecord::Commit { ts, writes } => {
                        max = max.max(ts);
                        fresh.apply(ts, &writes).map_err(corrupt)?;
                    }
                    LogRecord::Prepare {
                        txn,
                        ts,
                        participants,
                        client,
                        writes,
                    } => {
                        // A transaction id is a snapshot: the service must
                        // never hand it out again.
                        max = max.max(ts).max(txn);
                        fresh.records.insert(txn, Record::Prepared { ts });
                        fresh.prepared.insert(
                            txn,
                            Prepared {
                                ts,
                                participants,
                                client,
                                tx: None,
                                writes,
                            },
                        );
                    }
                    LogRecord::Decided { txn, decision } => match decision {
                        Decision::Commit(ts) => {
                            max = max.max(txn);
                            max = max.max(ts);
                            let p = fresh.prepared.remove(&txn).ok_or_else(|| {
                                corrupt(format!("commit of {txn}, never prepared"))
                            })?;
                            fresh.apply(ts, &p.writes).map_err(corrupt)?;
                            fresh.records.insert(txn, Record::Committed { ts });
                        }
                        Decision::Abort => {
                            max = max.max(txn);
                            fresh.prepared.remove(&txn);
                            fresh.records.insert(txn, Record::Aborted);
                        }
                    },
                    LogRecord::Coordinator { txn, .. } => max = max.max(txn),
                    LogRecord::Schema { .. } => {
                        return Err(corrupt("a second schema record".into()));
                    }
                }
            }
        }
        // Claim the undecided prepares' writes again before serving anyone.
        for p in fresh.prepared.values_mut() {
            let mut tx = fresh.db.begin();
            for w in &p.writes {
                fresh
                    .tables
                    .get(w.table as usize)
                    .ok_or_else(|| corrupt(format!("table {} not in the schema", w.table)))?
                    .apply(&mut tx, &w.key, w.row.as_deref())
                    .map_err(corrupt)?;
            }
            p.tx = Some(tx);
        }
        // Creating the tables moved the fresh engine's own clock: the
        // service must hand out timestamps above it too.
        self.gts.observe(max.max(fresh.db.newest_commit().get()));
        // Up to the floor now, so that the engine collects again.
        self.move_pin(&mut fresh);
        *n = fresh;
        let txns: Vec<TxnId> = n.prepared.keys().copied().collect();
        for txn in txns {
            self.resolve_locked(&mut n, txn, outbox);
        }
        Ok(())
    }
}

impl Node {
    fn empty(storage: Storage, schema: &Schema) -> Result<Node> {
        let db = Database::builder().storage(storage).build();
        let tables = Arc::new(schema.create(&db)?);
        Ok(Node {
            up: true,
            incarnation: 0,
            db,
            tables,
            log: None,
            records: HashMap::new(),
            staged: HashMap::new(),
            aged: Vec::new(),
            prepared: HashMap::new(),
            pending: BTreeMap::new(),
            votes: HashMap::new(),
            resolving: HashMap::new(),
            classic: HashMap::new(),
            pin: None,
            since_pin: 0,
            stats: PartitionStats::default(),
        })
    }

    fn down(storage: Storage, schema: &Schema) -> Node {
        let mut n = Node::empty(storage, schema).expect("an empty schema was created before");
        n.up = false;
        n
    }

    /// Replays writes committed at `ts`.
    fn apply(&mut self, ts: u64, writes: &[Write]) -> Result<(), String> {
        let mut tx = self.db.begin();
        for w in writes {
            let table = self
                .tables
                .get(w.table as usize)
                .ok_or_else(|| format!("table {} not in the schema", w.table))?;
            table.apply(&mut tx, &w.key, w.row.as_deref())?;
        }
        match tx.commit_at(Timestamp::new(ts)) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("commit at {ts} out of timestamp order")),
            Err(e) => Err(format!("commit at {ts}: {e}")),
        }
    }
}
