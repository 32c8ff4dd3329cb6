//! The deterministic fault simulator.
//!
//! One seeded generator ([`fastrand::Rng`]) drives everything: which
//! queued message is delivered next, which is dropped, duplicated or left
//! waiting, which partition crashes (its disk keeping only what it synced
//! and a torn prefix of the rest) and when it restarts, when a partition's
//! timer restarts its resolutions, and what the clients do. Nothing else
//! is random and nothing runs on another thread, so a seed replays exactly.
//!
//! The clients run bank transfers between accounts that live on random
//! partitions — each transfer also inserts one *ledger* row, keyed by its
//! transaction id, on every partition it writes, so that the checker can
//! see whether a transaction is whole — and read-only scans of every
//! account and ledger row.
//!
//! After every step the checker asserts what that step could break:
//!
//! 1. **Atomicity.** No transaction is committed in one partition's
//!    records and aborted in another's; no partition counts a protocol
//!    violation; no client is told two outcomes for one transaction; an
//!    acknowledged commit is aborted nowhere, an acknowledged abort
//!    committed nowhere; a scan sees every transaction's ledger rows on all
//!    its participants or on none.
//! 2. **Durability.** After a partition restarts, every acknowledged commit
//!    it took part in is there (its ledger row), or prepared and undecided
//!    (and then may only commit); every scan sees every commit acknowledged
//!    before it began.
//! 3. **The bank total** that every completed scan reads is the initial one.
//! 4. **Liveness.** Once the fault phase ends, every partition is
//!    restarted and no message is lost any more; within a bounded number of
//!    steps every prepared transaction is resolved; two timer ticks leave no
//!    part staged (whose prepares were all lost); a last scan finds the
//!    total, every acknowledged commit whole on each of its participants,
//!    no aborted one, every other whole or absent; and a transaction that
//!    writes every account commits (no claim is left behind).
//!
//! A failure panics with its seed and the command that replays it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use multiverse::Storage;

use crate::cluster::{Cluster, ClusterTable, Committing};
use crate::error::Error;
use crate::log::SimDisk;
use crate::message::{Endpoint, Envelope, Message, Transport, TxnId};
use crate::protocol::{Decision, Record};

/// What a simulation runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Partitions; `None`: 2, 3 or 4, by seed.
    pub partitions: Option<usize>,
    /// Bank accounts (spread over the partitions by hash).
    pub accounts: u64,
    /// Clients running transfers.
    pub transfer_clients: usize,
    /// Clients running read-only scans.
    pub scanners: usize,
    /// Steps with faults.
    pub fault_steps: u64,
    /// The bound on the steps after the faults stop, before every prepared
    /// transaction must be resolved.
    pub heal_steps: u64,
    /// How many polls a client waits for a distributed commit's outcome
    /// before it gives up (its outcome is then unknown to it).
    pub patience: u32,
    /// The partitions' version store; `None`: each of `Storage::ALL` in
    /// turn, by seed.
    pub storage: Option<Storage>,
    /// A negative control: a crash cuts the disk anywhere, synced bytes
    /// included (a disk that lies about its syncs). The checker must
    /// notice.
    #[doc(hidden)]
    pub faulty_disk: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            partitions: None,
            accounts: 12,
            transfer_clients: 3,
            scanners: 1,
            fault_steps: 2000,
            heal_steps: 5000,
            patience: 30,
            storage: None,
            faulty_disk: false,
        }
    }
}

/// What a simulation did (summed over seeds by [`SimSummary::add`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    /// Seeds run.
    pub seeds: u64,
    /// Steps run.
    pub steps: u64,
    /// Commits acknowledged to their client (one-partition and 2PC).
    pub acked: u64,
    /// Of those, distributed (2PC) commits.
    pub acked_2pc: u64,
    /// Transactions the client saw abort (2PC abort, refused stage).
    pub aborted: u64,
    /// Transactions whose client gave up waiting (outcome unknown to it).
    pub indeterminate: u64,
    /// Transactions abandoned before commit (blocked, down, conflict).
    pub abandoned: u64,
    /// Scans completed and checked.
    pub scans: u64,
    /// Partition crashes.
    pub crashes: u64,
    /// Messages dropped.
    pub drops: u64,
    /// Messages duplicated.
    pub duplicates: u64,
    /// Resolutions started (partitions' counters).
    pub resolutions: u64,
    /// The most prepared, undecided transactions on one partition at once.
    pub max_undecided: usize,
    /// Steps the slowest heal took until everything was resolved.
    pub max_heal_steps: u64,
    /// A hash of every step's choice and every delivered message: equal
    /// for two runs of one seed (the replay is exact).
    pub trace: u64,
}

impl SimSummary {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &SimSummary) {
        self.seeds += o.seeds;
        self.steps += o.steps;
        self.acked += o.acked;
        self.acked_2pc += o.acked_2pc;
        self.aborted += o.aborted;
        self.indeterminate += o.indeterminate;
        self.abandoned += o.abandoned;
        self.scans += o.scans;
        self.crashes += o.crashes;
        self.drops += o.drops;
        self.duplicates += o.duplicates;
        self.resolutions += o.resolutions;
        self.max_undecided = self.max_undecided.max(o.max_undecided);
        self.max_heal_steps = self.max_heal_steps.max(o.max_heal_steps);
        self.trace = mix(self.trace, o.trace);
    }
}

impl std::fmt::Display for SimSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} seeds, {} steps: {} commits acknowledged ({} by 2PC), {} aborted, \
             {} indeterminate, {} abandoned, {} scans checked; {} crashes, {} drops, \
             {} duplicates, {} resolutions; at most {} undecided on a partition; \
             slowest heal {} steps",
            self.seeds,
            self.steps,
            self.acked,
            self.acked_2pc,
            self.aborted,
            self.indeterminate,
            self.abandoned,
            self.scans,
            self.crashes,
            self.drops,
            self.duplicates,
            self.resolutions,
            self.max_undecided,
            self.max_heal_steps,
        )
    }
}

/// Folds `v` into the hash `h` (FNV-1a over its bytes).
fn mix(h: u64, v: u64) -> u64 {
    v.to_le_bytes()
        .iter()
        .fold(h ^ 0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        })
}

/// The command that replays `seed` (with the default configuration).
pub fn replay_command(seed: u64) -> String {
    format!("MULTIVERSE_SIM_SEED={seed} cargo test --release -p multiverse-cluster --test sim -- replay --nocapture")
}

/// Runs one seed; panics, naming the seed and the replay command, if a
/// check fails (or the cluster panics).
pub fn run_seed(seed: u64, config: &SimConfig) -> SimSummary {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Sim::new(seed, config.clone()).run()
    }));
    let failure = match run {
        Ok(Ok(summary)) => return summary,
        Ok(Err(failure)) => failure,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("the cluster panicked: {what}")
        }
    };
    panic!(
        "simulation seed {seed} failed: {failure}\n  replay: {}",
        replay_command(seed)
    );
}

/// The simulator's network: every envelope sent waits in one queue.
#[derive(Default)]
struct Net {
    queue: Mutex<VecDeque<Envelope>>,
}

impl Transport for Net {
    /// Queues a batch in one order whatever order the sender's hash maps
    /// gave it (a seed must replay exactly): by receiver and transaction,
    /// keeping the sender's order among the rest.
    fn send(&self, mut envelopes: Vec<Envelope>) {
        envelopes.sort_by_key(|e| {
            let to = match e.to {
                Endpoint::Partition(p) => (0, p as u64),
                Endpoint::Client(c) => (1, c),
            };
            (to, e.msg.txn())
        });
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(envelopes);
    }
}

type Accounts = ClusterTable<u64, [i64; 1]>;
/// A ledger row: `[txn, participants, p0, p1, p2]` (unused slots -1).
type Ledger = ClusterTable<u64, [i64; 5]>;

/// What a transfer client is doing.
enum Client {
    Idle,
    /// Its distributed commit is under way.
    Waiting {
        client: u64,
        txn: TxnId,
        polls: u32,
    },
}

/// What the simulator knows of a transaction a client committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Its commit was acknowledged.
    Acked,
    /// The client learned it aborted.
    Aborted,
    /// The client gave up, or the commit is still under way.
    Unknown,
}

struct Txn {
    /// The partitions it wrote, coordinator first.
    parts: Vec<usize>,
    fate: Fate,
    /// Committed by 2PC (else on one partition).
    distributed: bool,
}

/// One simulation.
pub struct Sim {
    seed: u64,
    config: SimConfig,
    rng: fastrand::Rng,
    cluster: Cluster,
    net: Arc<Net>,
    disks: Vec<SimDisk>,
    accounts: Accounts,
    ledger: Ledger,
    total: i64,
    clients: Vec<Client>,
    txns: BTreeMap<TxnId, Txn>,
    /// Outcomes delivered to clients, by transaction.
    outcomes: HashMap<TxnId, Decision>,
    summary: SimSummary,
    step: u64,
    healing: bool,
}

type Check = Result<(), String>;

impl Sim {
    /// A simulation of `config`, driven by `seed` alone.
    pub fn new(seed: u64, mut config: SimConfig) -> Sim {
        let partitions = *config.partitions.get_or_insert(2 + (seed / 4 % 3) as usize);
        let storage = *config
            .storage
            .get_or_insert(Storage::ALL[(seed % 4) as usize]);
        let net = Arc::new(Net::default());
        let disks: Vec<SimDisk> = (0..partitions).map(|_| SimDisk::new()).collect();
        let cluster = Cluster::builder()
            .partitions(partitions)
            .storage(storage)
            .table::<u64, [i64; 1]>("accounts")
            .table::<u64, [i64; 5]>("ledger")
            .simulated(disks.clone(), Arc::clone(&net) as Arc<dyn Transport>)
            .build()
            .expect("a fresh simulated cluster");
        let accounts = cluster.table("accounts").expect("declared");
        let ledger = cluster.table("ledger").expect("declared");
        let mut sim = Sim {
            seed,
            rng: fastrand::Rng::with_seed(seed),
            cluster,
            net,
            disks,
            accounts,
            ledger,
            total: 0,
            clients: (0..config.transfer_clients).map(|_| Client::Idle).collect(),
            txns: BTreeMap::new(),
            outcomes: HashMap::new(),
            summary: SimSummary {
                seeds: 1,
                ..SimSummary::default()
            },
            step: 0,
            healing: false,
            config,
        };
        // One one-partition commit per account: no 2PC, nothing to lose.
        for id in 0..sim.config.accounts {
            let mut tx = sim.cluster.begin();
            tx.insert(&sim.accounts, id, [1000])
                .expect("an empty table");
            match tx.commit_start().expect("nothing can fail yet") {
                Committing::Done(_) => sim.total += 1000,
                Committing::Waiting { .. } => unreachable!("one partition written"),
            }
        }
        sim
    }

    /// Runs the fault phase, then heals and checks liveness and the end
    /// state. `Err` describes the first failed check.
    pub fn run(mut self) -> Result<SimSummary, String> {
        for _ in 0..self.config.fault_steps {
            self.step()?;
        }
        self.heal()?;
        self.summary.resolutions = self.cluster.stats().iter().map(|s| s.resolutions).sum();
        Ok(self.summary)
    }

    fn fail<T>(&self, what: String) -> Result<T, String> {
        Err(format!("seed {} step {}: {what}", self.seed, self.step))
    }

    fn queue_len(&self) -> usize {
        self.net
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn take(&mut self, i: usize) -> Envelope {
        let mut q = self.net.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.swap_remove_back(i).expect("in range")
    }

    fn send(&self, envs: Vec<Envelope>) {
        self.net.send(envs);
    }

    fn partitions(&self) -> usize {
        self.config.partitions.expect("set by new")
    }

    fn parts(&self) -> &[Arc<crate::partition::Partition>] {
        &self.cluster.inner().parts
    }

    /// One step of the fault phase, then its checks.
    fn step(&mut self) -> Check {
        self.step += 1;
        self.summary.steps += 1;
        let n = self.queue_len();
        let roll = self.rng.u32(0..1000);
        self.summary.trace = mix(self.summary.trace, u64::from(roll));
        match roll {
            0..=499 if n > 0 => {
                let i = self.rng.usize(0..n);
                self.deliver(i)?;
            }
            500..=529 if n > 0 => {
                let i = self.rng.usize(0..n);
                self.take(i);
                self.summary.drops += 1;
            }
            530..=559 if n > 0 => {
                let i = self.rng.usize(0..n);
                let env = self.net.queue.lock().unwrap_or_else(|e| e.into_inner())[i].clone();
                self.send(vec![env]);
                self.summary.duplicates += 1;
            }
            560..=569 => self.crash()?,
            570..=609 => self.restart_one()?,
            610..=659 => self.timer(),
            660..=999 => self.advance()?,
            // Nothing queued. (Every step that delivers nothing delays
            // every queued message; a random pick reorders them.)
            _ => {}
        }
        self.check_step()
    }

    /// Stops the faults: restarts every crashed partition, then delivers
    /// and fires timers (no drops, no crashes) until nothing is queued and
    /// nothing is undecided, within the bound; then checks the end state.
    fn heal(&mut self) -> Check {
        self.healing = true;
        for i in 0..self.partitions() {
            if !self.parts()[i].is_up() {
                self.restart(i)?;
            }
        }
        let mut took = None;
        for k in 0..self.config.heal_steps {
            self.step += 1;
            self.summary.steps += 1;
            let n = self.queue_len();
            let undecided: usize = self.parts().iter().map(|p| p.undecided()).sum();
            let waiting = self
                .clients
                .iter()
                .any(|c| matches!(c, Client::Waiting { .. }));
            if n == 0 && undecided == 0 && !waiting {
                took = Some(k);
                break;
            }
            let roll = self.rng.u32(0..100);
            if n > 0 && roll < 80 {
                let i = self.rng.usize(0..n);
                self.deliver(i)?;
            } else if roll < 90 {
                self.timer();
            } else {
                self.advance()?;
            }
            self.check_step()?;
        }
        let Some(took) = took else {
            let undecided: Vec<usize> = self.parts().iter().map(|p| p.undecided()).collect();
            return self.fail(format!(
                "not live: after {} healed steps, undecided per partition {undecided:?}, {} queued",
                self.config.heal_steps,
                self.queue_len()
            ));
        };
        self.summary.max_heal_steps = took;
        self.check_all_records()?;
        for (txn, t) in &self.txns {
            if t.distributed {
                for &p in &t.parts {
                    if let Record::Prepared { .. } = self.parts()[p].record(*txn) {
                        return self.fail(format!("txn {txn} still prepared on {p} after healing"));
                    }
                }
            }
        }
        // The last scan: nothing may block it now.
        match self.scan()? {
            Some(()) => {}
            None => return self.fail("the final scan could not run after healing".into()),
        }
        // Two ticks of every timer abort every part staged whose prepare
        // was lost.
        for _ in 0..2 {
            self.timers();
        }
        let staged: Vec<Vec<TxnId>> = self.parts().iter().map(|p| p.staged()).collect();
        if staged.iter().any(|s| !s.is_empty()) {
            return self.fail(format!("after healing, parts still staged: {staged:?}"));
        }
        self.write_all()?;
        // Every acknowledged commit whole on each participant, no aborted
        // one anywhere, every other one whole or absent.
        let rows = self.ledger_rows_everywhere()?;
        for (txn, t) in &self.txns {
            let seen: BTreeSet<usize> = rows.get(txn).cloned().unwrap_or_default();
            let all: BTreeSet<usize> = t.parts.iter().copied().collect();
            // An outcome that reached a client that had stopped polling.
            let fate = match (t.fate, self.outcomes.get(txn)) {
                (Fate::Unknown, Some(Decision::Commit(_))) => Fate::Acked,
                (Fate::Unknown, Some(Decision::Abort)) => Fate::Aborted,
                (fate, _) => fate,
            };
            match fate {
                Fate::Acked if seen != all => {
                    return self.fail(format!(
                        "acknowledged txn {txn} has ledger rows on {seen:?}, not on all of {all:?}"
                    ))
                }
                Fate::Aborted if !seen.is_empty() => {
                    return self.fail(format!("aborted txn {txn} has ledger rows on {seen:?}"))
                }
                Fate::Unknown if !seen.is_empty() && seen != all => {
                    return self.fail(format!(
                        "txn {txn} has ledger rows on {seen:?} of {all:?}: partly committed"
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// After healing, a transaction that writes every account commits: no
    /// claim of a transaction that will never finish is left behind.
    fn write_all(&mut self) -> Check {
        let mut tx = self.cluster.begin();
        for id in 0..self.config.accounts {
            let r = tx
                .get(&self.accounts, &id)
                .and_then(|row| tx.update(&self.accounts, &id, row.expect("an account")));
            if let Err(e) = r {
                return self.fail(format!(
                    "after healing, account {id} cannot be written: {e}"
                ));
            }
        }
        let client = match tx.commit_start() {
            Ok(Committing::Waiting { client, .. }) => client,
            Ok(Committing::Done(_)) => return Ok(()),
            Err(e) => return self.fail(format!("after healing, a commit of every account: {e}")),
        };
        for _ in 0..self.config.heal_steps {
            if let Some((decision, _)) = self.cluster.outcome(client) {
                return match decision {
                    Decision::Commit(_) => Ok(()),
                    Decision::Abort => {
                        self.fail("after healing, a commit of every account aborted".into())
                    }
                };
            }
            let n = self.queue_len();
            if n == 0 {
                break;
            }
            let i = self.rng.usize(0..n);
            self.deliver(i)?;
        }
        self.fail("after healing, a commit of every account got no outcome".into())
    }

    /// Delivers queued envelope `i`.
    fn deliver(&mut self, i: usize) -> Check {
        let env = self.take(i);
        let to = match env.to {
            Endpoint::Partition(p) => p as u64,
            Endpoint::Client(c) => c << 16,
        };
        self.summary.trace = mix(mix(self.summary.trace, to), env.msg.txn());
        match env.to {
            Endpoint::Partition(p) => {
                let txn = env.msg.txn();
                let mut out = Vec::new();
                self.parts()[p].handle(env, &mut out);
                self.send(out);
                self.check_txn(txn)?;
            }
            Endpoint::Client(c) => {
                if let Message::Outcome { txn, decision } = env.msg {
                    if let Some(&earlier) = self.outcomes.get(&txn) {
                        if earlier != decision {
                            return self.fail(format!(
                                "txn {txn}: outcome {decision:?} after {earlier:?}"
                            ));
                        }
                    }
                    self.outcomes.insert(txn, decision);
                    self.cluster.inner().waiters.complete(c, decision, env.path);
                }
            }
        }
        Ok(())
    }

    fn crash(&mut self) -> Check {
        if self.healing {
            return Ok(());
        }
        let i = self.rng.usize(0..self.partitions());
        if !self.parts()[i].is_up() {
            return Ok(());
        }
        if self.config.faulty_disk {
            let bytes = self.disks[i].bytes();
            let keep = self.rng.usize(0..=bytes.len());
            self.disks[i].set_bytes(bytes[..keep].to_vec());
        } else {
            self.disks[i].crash(&mut self.rng);
        }
        self.parts()[i].crash();
        self.summary.crashes += 1;
        Ok(())
    }

    fn restart_one(&mut self) -> Check {
        let down: Vec<usize> = (0..self.partitions())
            .filter(|&i| !self.parts()[i].is_up())
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        let i = down[self.rng.usize(0..down.len())];
        self.restart(i)
    }

    /// Restarts partition `i` from its disk, then checks that every
    /// acknowledged commit it took part in survived.
    fn restart(&mut self, i: usize) -> Check {
        let mut out = Vec::new();
        let incarnation = self.parts()[i].incarnation();
        if let Err(e) = self.parts()[i].restart(&mut out) {
            return self.fail(format!("partition {i} failed to restart: {e}"));
        }
        if self.parts()[i].incarnation() != incarnation + 1 {
            return self.fail(format!("partition {i} restarted in the same incarnation"));
        }
        self.send(out);
        self.check_all_records()?;
        let mut present = BTreeSet::new();
        {
            let db = match self.parts()[i].db() {
                Ok(db) => db,
                Err(e) => return self.fail(format!("partition {i} down after restart: {e}")),
            };
            let ledger = db
                .table::<u64, [i64; 5]>("ledger")
                .map_err(|e| e.to_string())?;
            let tx = db.begin();
            for (_, row) in tx.scan(&ledger, ..).map_err(|e| e.to_string())? {
                present.insert(row[0] as TxnId);
            }
        }
        for (txn, t) in &self.txns {
            if t.fate != Fate::Acked || !t.parts.contains(&i) {
                continue;
            }
            let record = self.parts()[i].record(*txn);
            let ok = present.contains(txn)
                || (t.distributed && matches!(record, Record::Prepared { .. }));
            if !ok {
                return self.fail(format!(
                    "acknowledged txn {txn} lost on partition {i} by its restart (record {record:?})"
                ));
            }
        }
        Ok(())
    }

    /// A random up partition's timer: restart its resolutions.
    fn timer(&mut self) {
        let i = self.rng.usize(0..self.partitions());
        let mut out = Vec::new();
        self.parts()[i].resolve_all(&mut out);
        self.send(out);
    }

    /// Every partition's timer.
    fn timers(&mut self) {
        let mut out = Vec::new();
        for p in self.parts() {
            p.resolve_all(&mut out);
        }
        self.send(out);
    }

    /// A random client takes its next step.
    fn advance(&mut self) -> Check {
        let k = self
            .rng
            .usize(0..self.config.transfer_clients + self.config.scanners);
        if k >= self.config.transfer_clients {
            if !self.healing {
                self.scan()?;
            }
            return Ok(());
        }
        match self.clients[k] {
            Client::Idle => {
                if !self.healing {
                    self.transfer(k)?;
                }
            }
            Client::Waiting { client, txn, polls } => match self.cluster.outcome(client) {
                Some((decision, _)) => {
                    self.clients[k] = Client::Idle;
                    self.settle(txn, decision)?;
                }
                None if polls + 1 >= self.config.patience => {
                    self.clients[k] = Client::Idle;
                    self.summary.indeterminate += 1;
                }
                None => {
                    self.clients[k] = Client::Waiting {
                        client,
                        txn,
                        polls: polls + 1,
                    }
                }
            },
        }
        Ok(())
    }

    /// A client learned `txn`'s outcome.
    fn settle(&mut self, txn: TxnId, decision: Decision) -> Check {
        let t = self.txns.get_mut(&txn).expect("a started txn");
        match decision {
            Decision::Commit(_) => {
                t.fate = Fate::Acked;
                self.summary.acked += 1;
                self.summary.acked_2pc += 1;
            }
            Decision::Abort => {
                t.fate = Fate::Aborted;
                self.summary.aborted += 1;
            }
        }
        self.check_txn(txn)
    }

    /// An error a client may meet: it abandons the transaction. Any other
    /// is a failure.
    fn expected(&mut self, e: Error) -> Check {
        match e {
            Error::Blocked { .. } | Error::Unavailable { .. } => {}
            Error::Engine(ref x) if x.is_retryable() => {}
            e => return self.fail(format!("unexpected error: {e}")),
        }
        self.summary.abandoned += 1;
        Ok(())
    }

    /// A transfer: moves money from one account to one or two others on
    /// random partitions, and writes a ledger row on each partition it
    /// wrote.
    fn transfer(&mut self, k: usize) -> Check {
        let n = if self.rng.u8(0..4) == 0 { 3 } else { 2 };
        let mut ids = Vec::new();
        while ids.len() < n {
            let id = self.rng.u64(0..self.config.accounts);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let amounts: Vec<i64> = (1..n).map(|_| self.rng.i64(1..=50)).collect();
        let mut tx = self.cluster.begin();
        let txn = tx.snapshot();
        let body = (|| {
            let mut balances = Vec::new();
            for id in &ids {
                let row = tx.get(&self.accounts, id)?;
                let row =
                    row.ok_or_else(|| Error::InvalidArgument(format!("account {id} lost")))?;
                balances.push(row[0]);
            }
            let out: i64 = amounts.iter().sum();
            tx.update(&self.accounts, &ids[0], [balances[0] - out])?;
            for (j, a) in amounts.iter().enumerate() {
                tx.update(&self.accounts, &ids[j + 1], [balances[j + 1] + a])?;
            }
            Ok::<_, Error>(())
        })();
        if let Err(e) = body {
            return self.expected(e);
        }
        let mut parts: Vec<usize> = Vec::new();
        for id in &ids {
            let p = self.accounts.partition_of(id);
            if !parts.contains(&p) {
                parts.push(p);
            }
        }
        let mut row = [-1i64; 5];
        row[0] = txn as i64;
        row[1] = parts.len() as i64;
        for (j, p) in parts.iter().enumerate() {
            row[2 + j] = *p as i64;
        }
        for &p in &parts {
            let key = (0..1u64 << 12)
                .map(|salt| (txn << 12) | salt)
                .find(|key| self.ledger.partition_of(key) == p)
                .expect("some salt routes to every partition");
            if let Err(e) = tx.insert(&self.ledger, key, row) {
                return self.expected(e);
            }
        }
        match tx.commit_start() {
            Ok(Committing::Done(_)) => {
                self.txns.insert(
                    txn,
                    Txn {
                        parts,
                        fate: Fate::Acked,
                        distributed: false,
                    },
                );
                self.summary.acked += 1;
                Ok(())
            }
            Ok(Committing::Waiting { client, txn: t, .. }) => {
                debug_assert_eq!(t, txn);
                self.txns.insert(
                    txn,
                    Txn {
                        parts,
                        fate: Fate::Unknown,
                        distributed: true,
                    },
                );
                self.clients[k] = Client::Waiting {
                    client,
                    txn,
                    polls: 0,
                };
                Ok(())
            }
            Err(Error::Aborted) => {
                // A partition had recorded an abort of it already: nothing
                // was prepared.
                self.txns.insert(
                    txn,
                    Txn {
                        parts,
                        fate: Fate::Aborted,
                        distributed: true,
                    },
                );
                self.summary.aborted += 1;
                self.check_txn(txn)
            }
            Err(e) => {
                // Nothing was sent: it commits nowhere.
                let distributed = parts.len() > 1;
                self.txns.insert(
                    txn,
                    Txn {
                        parts,
                        fate: Fate::Aborted,
                        distributed,
                    },
                );
                self.expected(e)
            }
        }
    }

    /// A read-only scan of every account and ledger row: checks the total,
    /// that every transaction's ledger rows are all there or none, and
    /// that every commit acknowledged before it began is there. `None` if
    /// it could not run (blocked, a partition down).
    fn scan(&mut self) -> Result<Option<()>, String> {
        let acked_before: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, t)| t.fate == Fate::Acked)
            .map(|(txn, _)| *txn)
            .collect();
        let mut tx = self.cluster.begin();
        let snapshot = tx.snapshot();
        let read = (|| {
            let accounts = tx.scan(&self.accounts, ..)?;
            let ledger = tx.scan(&self.ledger, ..)?;
            Ok::<_, Error>((accounts, ledger))
        })();
        let (accounts, ledger) = match read {
            Ok(r) => r,
            Err(e) => {
                self.expected(e)?;
                return Ok(None);
            }
        };
        if let Err(e) = tx.commit_start() {
            return self.fail(format!("a read-only commit failed: {e}"));
        }
        let total: i64 = accounts.iter().map(|(_, r)| r[0]).sum();
        if accounts.len() as u64 != self.config.accounts || total != self.total {
            return self.fail(format!(
                "scan at {snapshot}: {} accounts, total {total}, not {} and {}",
                accounts.len(),
                self.config.accounts,
                self.total
            ));
        }
        let mut seen: BTreeMap<TxnId, (BTreeSet<usize>, [i64; 5])> = BTreeMap::new();
        for (key, row) in &ledger {
            let e = seen
                .entry(row[0] as TxnId)
                .or_insert((BTreeSet::new(), *row));
            e.0.insert(self.ledger.partition_of(key));
        }
        for (txn, (got, row)) in &seen {
            let want: BTreeSet<usize> = (0..row[1] as usize).map(|j| row[2 + j] as usize).collect();
            if *got != want {
                return self.fail(format!(
                    "scan at {snapshot}: txn {txn} visible on {got:?} of {want:?}"
                ));
            }
            if self.txns.get(txn).map(|t| t.fate) == Some(Fate::Aborted) {
                return self.fail(format!("scan at {snapshot}: aborted txn {txn} visible"));
            }
        }
        for txn in acked_before {
            if !seen.contains_key(&txn) {
                return self.fail(format!(
                    "scan at {snapshot}: txn {txn}, acknowledged before it, missing"
                ));
            }
        }
        self.summary.scans += 1;
        Ok(Some(()))
    }

    /// Every partition's ledger rows, read from its engine directly:
    /// transaction → partitions holding its row.
    fn ledger_rows_everywhere(&self) -> Result<BTreeMap<TxnId, BTreeSet<usize>>, String> {
        let mut rows: BTreeMap<TxnId, BTreeSet<usize>> = BTreeMap::new();
        for (i, p) in self.parts().iter().enumerate() {
            let db = p.db().map_err(|e| e.to_string())?;
            let ledger = db
                .table::<u64, [i64; 5]>("ledger")
                .map_err(|e| e.to_string())?;
            let tx = db.begin();
            for (_, row) in tx.scan(&ledger, ..).map_err(|e| e.to_string())? {
                rows.entry(row[0] as TxnId).or_default().insert(i);
            }
        }
        Ok(rows)
    }

    /// The checks after every step: no protocol violation, and the most
    /// undecided.
    fn check_step(&mut self) -> Check {
        let cluster = self.cluster.clone();
        for (i, p) in cluster.inner().parts.iter().enumerate() {
            let s = p.stats();
            if s.violations != 0 {
                return self.fail(format!(
                    "partition {i}: {} decisions contradicted a durable record",
                    s.violations
                ));
            }
            self.summary.max_undecided = self.summary.max_undecided.max(p.undecided());
        }
        Ok(())
    }

    /// Atomicity of one transaction across the up partitions' records,
    /// and against what its client was told.
    fn check_txn(&self, txn: TxnId) -> Check {
        let mut committed = None;
        let mut aborted = None;
        for (i, p) in self.parts().iter().enumerate() {
            match p.record(txn) {
                Record::Committed { ts } => committed = Some((i, ts)),
                Record::Aborted => aborted = Some(i),
                _ => {}
            }
        }
        if let (Some((c, ts)), Some(a)) = (committed, aborted) {
            return self.fail(format!(
                "txn {txn} committed at {ts} on partition {c} and aborted on {a}"
            ));
        }
        match self.txns.get(&txn).map(|t| t.fate) {
            Some(Fate::Acked) if aborted.is_some() => self.fail(format!(
                "acknowledged txn {txn} aborted on partition {}",
                aborted.expect("some")
            )),
            Some(Fate::Aborted) if committed.is_some() => self.fail(format!(
                "txn {txn}, whose client was told it aborted, committed on partition {}",
                committed.expect("some").0
            )),
            _ => Ok(()),
        }
    }

    /// Atomicity of every transaction in every record.
    fn check_all_records(&self) -> Check {
        let mut txns = BTreeSet::new();
        for p in self.parts() {
            txns.extend(p.records().into_iter().map(|(t, _)| t));
        }
        for txn in txns {
            self.check_txn(txn)?;
        }
        Ok(())
    }
}
