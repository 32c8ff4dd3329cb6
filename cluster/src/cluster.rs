//! The cluster: partitions, the timestamp service, the in-memory
//! transport, and the client's transactions.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use multiverse::{Key, Persist, Storage, Table, Tuple};

use crate::error::{Error, Result};
use crate::gts::{LocalGts, TimestampService};
use crate::message::{Endpoint, Envelope, Message, Path, Transport, TxnId};
use crate::partition::{Disk, Local, Partition, PartitionStats, Protocol};
use crate::protocol::Decision;
use crate::record::Write;
use crate::schema::{Part, PartTable, Schema};
use crate::snapshots::{Registration, Registry};

/// The default bound on a reader's or committer's wait for a prepared
/// transaction's decision before it asks the participants itself.
pub const DEFAULT_WAIT: Duration = Duration::from_millis(100);

/// Builds a [`Cluster`].
pub struct ClusterBuilder {
    partitions: usize,
    storage: Storage,
    dir: Option<PathBuf>,
    sim: Option<Vec<crate::log::SimDisk>>,
    schema: Schema,
    protocol: Protocol,
    wait: Duration,
    gts: Option<Arc<dyn TimestampService>>,
    transport: Option<Arc<dyn Transport>>,
    error: Option<Error>,
}

/// N partitions, each a multiverse `Database` that owns a hash share of
/// every table's keys; transactions over them at one snapshot of the
/// timestamp service; two-phase commit in which the first participant
/// coordinates. A cheap `Clone` handle.
///
/// ```
/// use multiverse_cluster::Cluster;
///
/// let cluster = Cluster::builder().partitions(4).table::<u64, [i64; 1]>("accounts").build()?;
/// let accounts = cluster.table::<u64, [i64; 1]>("accounts")?;
/// cluster.transact(|tx| {
///     for id in 0..8 {
///         tx.insert(&accounts, id, [100])?;
///     }
///     Ok(())
/// })?;
/// // A transfer between two partitions commits on both, or on neither.
/// let (a, b) = (0, 1);
/// assert_ne!(accounts.partition_of(&a), accounts.partition_of(&b));
/// cluster.transact(|tx| {
///     tx.update(&accounts, &a, [70])?;
///     tx.update(&accounts, &b, [130])
/// })?;
/// let mut tx = cluster.begin();
/// assert_eq!(tx.get(&accounts, &a)?, Some([70]));
/// assert_eq!(tx.get(&accounts, &b)?, Some([130]));
/// # Ok::<(), multiverse_cluster::Error>(())
/// ```
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub parts: Vec<Arc<Partition>>,
    pub gts: Arc<dyn TimestampService>,
    pub schema: Arc<Schema>,
    pub waiters: Arc<Waiters>,
    pub transport: Arc<dyn Transport>,
    pub registry: Arc<Registry>,
    pub wait: Duration,
    /// Whether the partitions keep logs (then writes are encoded).
    pub logged: bool,
}

/// Clients waiting for outcomes.
#[derive(Default)]
pub(crate) struct Waiters {
    next: AtomicU64,
    slots: Mutex<HashMap<u64, Option<(Decision, Path)>>>,
    done: Condvar,
}

impl Waiters {
    fn register(&self) -> u64 {
        // Relaxed: only uniqueness matters.
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, None);
        id
    }

    pub fn complete(&self, client: u64, decision: Decision, path: Path) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot @ None) = slots.get_mut(&client) {
            *slot = Some((decision, path));
            self.done.notify_all();
        }
    }

    /// The outcome, if it came (and forgets the client).
    pub fn poll(&self, client: u64) -> Option<(Decision, Path)> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let got = *slots.get(&client)?;
        if got.is_some() {
            slots.remove(&client);
        }
        got
    }

    fn wait(&self, client: u64, timeout: Duration) -> Option<(Decision, Path)> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(Some(got)) = slots.get(&client) {
                let got = *got;
                slots.remove(&client);
                return Some(got);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                slots.remove(&client);
                return None;
            }
            slots = self
                .done
                .wait_timeout(slots, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The in-memory transport: delivers every envelope at once, on the
/// sending thread, breadth first (no handler runs inside another).
pub(crate) struct InMemory {
    /// Set once, when every partition is open.
    parts: std::sync::OnceLock<Vec<std::sync::Weak<Partition>>>,
    waiters: Arc<Waiters>,
    /// Whether a fan-out is delivered in parallel (partitions with logs).
    parallel: bool,
}

impl InMemory {
    fn deliver(&self, parts: &[std::sync::Weak<Partition>], envelopes: Vec<Envelope>) {
        let mut queue: VecDeque<Envelope> = envelopes.into();
        let mut outbox = Vec::new();
        while let Some(env) = queue.pop_front() {
            match env.to {
                Endpoint::Partition(i) => {
                    if let Some(p) = parts.get(i).and_then(|p| p.upgrade()) {
                        p.handle(env, &mut outbox);
                        queue.extend(outbox.drain(..));
                    }
                }
                Endpoint::Client(c) => {
                    if let Message::Outcome { decision, .. } = env.msg {
                        self.waiters.complete(c, decision, env.path);
                    }
                }
            }
        }
    }
}

impl Transport for InMemory {
    fn send(&self, envelopes: Vec<Envelope>) {
        let parts: &[std::sync::Weak<Partition>] = self.parts.get().map_or(&[], |p| p);
        if self.parallel && envelopes.len() > 1 {
            // With logs, each envelope of a fan-out (the prepares) costs its
            // receiver a sync: deliver them at once, each on a thread of its
            // own, as a network would, so that the client waits for one
            // sync and not for one per participant.
            std::thread::scope(|s| {
                for env in envelopes {
                    s.spawn(move || self.deliver(parts, vec![env]));
                }
            });
        } else {
            self.deliver(parts, envelopes);
        }
    }
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            partitions: 2,
            storage: Storage::AppendOnlyN2O,
            dir: None,
            sim: None,
            schema: Schema::default(),
            protocol: Protocol::default(),
            wait: DEFAULT_WAIT,
            gts: None,
            transport: None,
            error: None,
        }
    }
}

impl ClusterBuilder {
    /// How many partitions (default 2; 1 to 1024).
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = n;
        self
    }

    /// The version store of every partition's engine.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Durable: partition `i` keeps its log in `dir/partition-{i}.log`
    /// (default: in memory). Reopening the directory recovers every
    /// commit that returned.
    pub fn durable(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The commit protocol (default: the first participant coordinates).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// How long a reader or committer waits for a prepared transaction's
    /// decision before it asks the participants (default
    /// [`DEFAULT_WAIT`]; it gives up after twice this).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// A timestamp service of the caller's (default: [`LocalGts`]).
    pub fn timestamps(mut self, gts: Arc<dyn TimestampService>) -> Self {
        self.gts = Some(gts);
        self
    }

    /// Declares a table, on every partition, keyed by `K` (hash
    /// partitioned on its encoding) with rows of `T`; both encode with
    /// [`Persist`] (the log holds write sets).
    pub fn table<K: Key + Persist, T: Tuple + Persist>(mut self, name: &str) -> Self {
        if let Err(e) = self.schema.add::<K, T>(name) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// The simulator's disks and transport (`sim.rs`).
    pub(crate) fn simulated(
        mut self,
        disks: Vec<crate::log::SimDisk>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        self.sim = Some(disks);
        self.transport = Some(transport);
        self.wait = Duration::ZERO;
        self
    }

    /// Builds the cluster: opens (and recovers) every partition.
    pub fn build(self) -> Result<Cluster> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !(1..=1024).contains(&self.partitions) {
            return Err(Error::InvalidArgument(format!(
                "{} partitions (1 to 1024)",
                self.partitions
            )));
        }
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir)?;
        }
        let gts: Arc<dyn TimestampService> = self.gts.unwrap_or_else(|| Arc::new(LocalGts::new(0)));
        let schema = Arc::new(self.schema);
        let registry = Arc::new(Registry::new());
        let waiters = Arc::new(Waiters::default());
        let in_memory = Arc::new(InMemory {
            parts: std::sync::OnceLock::new(),
            waiters: Arc::clone(&waiters),
            parallel: self.dir.is_some(),
        });
        let transport: Arc<dyn Transport> = match self.transport {
            Some(t) => t,
            None => in_memory.clone(),
        };
        let mut parts = Vec::new();
        let mut resolutions = Vec::new();
        for i in 0..self.partitions {
            let disk = match (&self.sim, &self.dir) {
                (Some(disks), _) => Disk::Sim(disks[i].clone()),
                (None, Some(dir)) => Disk::File(dir.join(format!("partition-{i}.log"))),
                (None, None) => Disk::None,
            };
            let (p, envs) = Partition::open(
                i,
                Arc::clone(&gts),
                Arc::clone(&schema),
                self.storage,
                Arc::clone(&registry),
                disk,
                self.protocol,
            )?;
            parts.push(Arc::new(p));
            resolutions.extend(envs);
        }
        // Only this build sets it.
        let _ = in_memory
            .parts
            .set(parts.iter().map(Arc::downgrade).collect());
        let cluster = Cluster {
            inner: Arc::new(Inner {
                parts,
                gts,
                schema,
                waiters,
                transport,
                registry,
                wait: self.wait,
                logged: self.sim.is_some() || self.dir.is_some(),
            }),
        };
        // Prepares the logs left undecided: resolve them now.
        cluster.inner.transport.send(resolutions);
        Ok(cluster)
    }
}

/// A typed handle on a cluster table: the partitions' handles, and the
/// routing of keys to partitions.
pub struct ClusterTable<K, T> {
    index: u32,
    partitions: usize,
    types: PhantomData<fn() -> (K, T)>,
}

impl<K, T> Clone for ClusterTable<K, T> {
    fn clone(&self) -> Self {
        ClusterTable {
            index: self.index,
            partitions: self.partitions,
            types: PhantomData,
        }
    }
}

impl<K: Key + Persist, T: Tuple + Persist> ClusterTable<K, T> {
    /// The partition that owns `key`: a hash of its encoding (stable
    /// across runs and builds).
    pub fn partition_of(&self, key: &K) -> usize {
        let mut bytes = Vec::new();
        key.encode(&mut bytes);
        self.route(&bytes)
    }

    fn route(&self, encoded: &[u8]) -> usize {
        (fold(encoded) % self.partitions as u64) as usize
    }

    /// This table's handle on the engine a transaction's part runs on.
    fn on<'l>(&self, tables: &'l [Box<dyn PartTable>]) -> &'l Table<K, T> {
        &tables[self.index as usize]
            .as_any()
            .downcast_ref::<Part<K, T>>()
            .expect("the types were checked when the handle was made")
            .table
    }
}

/// A stable hash of bytes (FNV-1a, then a finalizer: nearby integers spread).
fn fold(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Cluster {
    /// A builder.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The handle on table `name`, with its types checked.
    pub fn table<K: Key + Persist, T: Tuple + Persist>(
        &self,
        name: &str,
    ) -> Result<ClusterTable<K, T>> {
        let index =
            self.inner.schema.index(name).ok_or_else(|| {
                Error::InvalidArgument(format!("no table {name:?} in the schema"))
            })?;
        if !self.inner.parts[0].table_is::<Part<K, T>>(index) {
            return Err(Error::InvalidArgument(format!(
                "table {name:?} has other key or row types"
            )));
        }
        Ok(ClusterTable {
            index: index as u32,
            partitions: self.inner.parts.len(),
            types: PhantomData,
        })
    }

    /// How many partitions.
    pub fn partitions(&self) -> usize {
        self.inner.parts.len()
    }

    /// Begins a transaction at a fresh snapshot of the timestamp service.
    pub fn begin(&self) -> ClusterTransaction {
        let (snapshot, registration) = self.inner.registry.register(&*self.inner.gts);
        ClusterTransaction {
            inner: Arc::clone(&self.inner),
            id: snapshot,
            snapshot,
            _registration: registration,
            first: None,
            locals: Vec::new(),
            first_write: None,
            failed: false,
        }
    }

    /// Runs `f` in a fresh transaction and commits it, again (up to 16
    /// times) while it fails with a retryable error.
    pub fn transact<R>(
        &self,
        mut f: impl FnMut(&mut ClusterTransaction) -> Result<R>,
    ) -> Result<R> {
        let mut last = None;
        for _ in 0..16 {
            let mut tx = self.begin();
            match f(&mut tx).and_then(|r| tx.commit().map(|_| r)) {
                Err(e) if e.is_retryable() => last = Some(e),
                r => return r,
            }
        }
        Err(last.expect("ran at least once"))
    }

    /// Counters of every partition.
    pub fn stats(&self) -> Vec<PartitionStats> {
        self.inner.parts.iter().map(|p| p.stats()).collect()
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

/// What a commit did: its timestamp, and for a distributed commit the
/// critical path the client waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The commit timestamp (the snapshot, for a transaction that wrote
    /// nothing).
    pub ts: u64,
    /// How many partitions it wrote.
    pub participants: usize,
    /// For two or more: message delays, log writes and syncs, one after
    /// another, between the client's commit and its answer.
    pub path: Option<Path>,
}

/// A commit under way (`ClusterTransaction::commit_start`): done, or
/// waiting for the coordinator's answer.
#[derive(Debug)]
pub enum Committing {
    /// Committed (or read-only) without 2PC.
    Done(Committed),
    /// Prepares sent: the answer comes to this client id.
    Waiting {
        /// The client id to poll.
        client: u64,
        /// The transaction.
        txn: TxnId,
        /// How many participants.
        participants: usize,
    },
}

/// A transaction over the cluster's partitions, reading at one snapshot.
pub struct ClusterTransaction {
    inner: Arc<Inner>,
    id: TxnId,
    snapshot: u64,
    /// Keeps the snapshot readable on partitions not touched yet.
    _registration: Registration,
    /// Its part on the first partition it touched (inline: a transaction
    /// on one partition allocates nothing for its parts) ...
    first: Option<(usize, Local)>,
    /// ... and on the others, in the order it touched them.
    locals: Vec<(usize, Local)>,
    /// The partition it wrote first: it coordinates.
    first_write: Option<usize>,
    failed: bool,
}

impl ClusterTransaction {
    /// The snapshot timestamp (also the transaction's id).
    pub fn snapshot(&self) -> u64 {
        self.snapshot
    }

    /// Whether a statement's failure ended the transaction (a conflict):
    /// it can only be dropped now.
    pub(crate) fn is_failed(&self) -> bool {
        self.failed
    }

    fn send(&self) -> impl Fn(Vec<Envelope>) + '_ {
        move |envs| self.inner.transport.send(envs)
    }

    fn local(&mut self, p: usize) -> Result<&mut Local> {
        if self.failed {
            return Err(Error::Finished);
        }
        if self.first.as_ref().is_some_and(|(q, _)| *q == p) {
            return Ok(&mut self.first.as_mut().expect("checked").1);
        }
        let i = match self.locals.iter().position(|(q, _)| *q == p) {
            Some(i) => i,
            None => {
                let part = &self.inner.parts[p];
                let local = part.begin(self.snapshot, self.inner.wait, &self.send())?;
                if self.first.is_none() {
                    return Ok(&mut self.first.insert((p, local)).1);
                }
                self.locals.push((p, local));
                self.locals.len() - 1
            }
        };
        Ok(&mut self.locals[i].1)
    }

    /// Runs a statement on partition `p`; a failure that rolls the
    /// engine's transaction back (a conflict) ends this one.
    fn run<R>(
        &mut self,
        p: usize,
        f: impl FnOnce(&mut Local) -> multiverse::Result<R>,
    ) -> Result<R> {
        let local = self.local(p)?;
        let r = f(local);
        if let Err(e) = &r {
            if !local.tx.is_active() || e.is_retryable() {
                self.failed = true;
            }
        }
        r.map_err(Error::Engine)
    }

    /// The row of `key`, as of the snapshot (or as this transaction wrote it).
    pub fn get<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: &K,
    ) -> Result<Option<T>> {
        let p = table.partition_of(key);
        self.run(p, |l| l.tx.get(table.on(&l.tables), key))
    }

    /// The rows whose keys lie in `range`, in key order, from every
    /// partition (hash partitioning: a scan asks them all).
    pub fn scan<K, T, R>(&mut self, table: &ClusterTable<K, T>, range: R) -> Result<Vec<(K, T)>>
    where
        K: Key + Persist,
        T: Tuple + Persist,
        R: RangeBounds<K> + Clone,
    {
        let mut rows = Vec::new();
        for p in 0..table.partitions {
            let part = self.run(p, |l| {
                Ok(l.tx
                    .scan(table.on(&l.tables), range.clone())?
                    .collect::<Vec<_>>())
            })?;
            rows.extend(part);
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows)
    }

    fn write<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: K,
        row: Option<T>,
        f: impl FnOnce(&mut Transaction2<'_, K, T>) -> multiverse::Result<()>,
    ) -> Result<()> {
        // A key's encoding, for routing, in a buffer each thread reuses.
        thread_local! {
            static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut scratch = SCRATCH.take();
        scratch.clear();
        key.encode(&mut scratch);
        let p = table.route(&scratch);
        // Only a log needs the write set (prepare records, replay).
        let write = self.inner.logged.then(|| Write {
            table: table.index,
            key: scratch.clone(),
            row: row.as_ref().map(|t| {
                let mut v = Vec::new();
                t.encode(&mut v);
                v
            }),
        });
        SCRATCH.set(scratch);
        self.run(p, |l| {
            let t = table.on(&l.tables);
            f(&mut Transaction2 {
                tx: &mut l.tx,
                table: t,
                key,
                row,
            })
        })?;
        self.first_write.get_or_insert(p);
        let l = self.local(p)?;
        l.wrote = true;
        l.writes.extend(write);
        Ok(())
    }

    /// Inserts a row (`DuplicateKey` if one is visible).
    pub fn insert<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: K,
        row: T,
    ) -> Result<()> {
        self.write(table, key, Some(row), |w| {
            w.tx.insert(w.table, w.key.clone(), w.row.take().expect("a row"))
        })
    }

    /// Replaces a row (`NotFound` if none is visible).
    pub fn update<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: &K,
        row: T,
    ) -> Result<()> {
        self.write(table, key.clone(), Some(row), |w| {
            w.tx.update(w.table, &w.key, w.row.take().expect("a row"))
        })
    }

    /// Inserts or replaces a row.
    pub fn upsert<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: K,
        row: T,
    ) -> Result<()> {
        self.write(table, key, Some(row), |w| {
            w.tx.upsert(w.table, w.key.clone(), w.row.take().expect("a row"))
                .map(|_| ())
        })
    }

    /// Deletes a row (`NotFound` if none is visible).
    pub fn delete<K: Key + Persist, T: Tuple + Persist>(
        &mut self,
        table: &ClusterTable<K, T>,
        key: &K,
    ) -> Result<()> {
        self.write(table, key.clone(), None, |w| w.tx.delete(w.table, &w.key))
    }

    /// Commits: on one partition if it wrote one; by two-phase commit if
    /// it wrote several (the first it wrote coordinates). Waits for the
    /// coordinator's answer up to four times the cluster's wait bound,
    /// then returns `Indeterminate`.
    pub fn commit(self) -> Result<Committed> {
        let inner = Arc::clone(&self.inner);
        match self.commit_start()? {
            Committing::Done(c) => Ok(c),
            Committing::Waiting {
                client,
                participants,
                ..
            } => match inner
                .waiters
                .wait(client, inner.wait.max(Duration::from_millis(1)) * 4)
            {
                Some((Decision::Commit(ts), path)) => Ok(Committed {
                    ts,
                    participants,
                    path: Some(path),
                }),
                Some((Decision::Abort, _)) => Err(Error::Aborted),
                None => Err(Error::Indeterminate),
            },
        }
    }

    /// Starts the commit; a distributed one returns once the prepares are
    /// sent (the simulator polls [`Cluster::outcome`]).
    pub fn commit_start(mut self) -> Result<Committing> {
        if self.failed {
            return Err(Error::Finished);
        }
        // Parts that only read end here; the first written part first.
        if let Some(first) = self.first.take() {
            if self.locals.is_empty() {
                // One partition touched: no allocation.
                if first.1.wrote {
                    let (p, local) = first;
                    let ts =
                        self.inner.parts[p].commit_one(local, self.inner.wait, &self.send())?;
                    return Ok(Committing::Done(Committed {
                        ts,
                        participants: 1,
                        path: None,
                    }));
                }
            } else {
                self.locals.insert(0, first);
            }
        }
        self.locals.retain(|(_, l)| l.wrote);
        if let Some(i) = self
            .locals
            .iter()
            .position(|(p, _)| Some(*p) == self.first_write)
        {
            self.locals.swap(0, i);
        }
        match self.locals.len() {
            0 => Ok(Committing::Done(Committed {
                ts: self.snapshot,
                participants: 0,
                path: None,
            })),
            1 => {
                let (p, local) = self.locals.pop().expect("a writer");
                let ts = self.inner.parts[p].commit_one(local, self.inner.wait, &self.send())?;
                Ok(Committing::Done(Committed {
                    ts,
                    participants: 1,
                    path: None,
                }))
            }
            k => {
                let writers: Vec<usize> = self.locals.iter().map(|(p, _)| *p).collect();
                for (i, (p, local)) in std::mem::take(&mut self.locals).into_iter().enumerate() {
                    if let Err(e) = self.inner.parts[p].stage(self.id, local) {
                        for &q in &writers[..i] {
                            self.inner.parts[q].unstage(self.id);
                        }
                        return Err(e);
                    }
                }
                let client = self.inner.waiters.register();
                let envs = writers
                    .iter()
                    .map(|&p| Envelope {
                        from: Endpoint::Client(client),
                        to: Endpoint::Partition(p),
                        msg: Message::Prepare {
                            txn: self.id,
                            participants: writers.clone(),
                            client,
                        },
                        path: Path {
                            hops: 1,
                            ..Path::default()
                        },
                    })
                    .collect();
                self.inner.transport.send(envs);
                Ok(Committing::Waiting {
                    client,
                    txn: self.id,
                    participants: k,
                })
            }
        }
    }

    /// Rolls back (as dropping it does).
    pub fn rollback(self) {}
}

/// A write's parts, for [`ClusterTransaction::write`].
struct Transaction2<'a, K: Key, T: Tuple> {
    tx: &'a mut multiverse::Transaction,
    table: &'a Table<K, T>,
    key: K,
    row: Option<T>,
}

impl Cluster {
    /// The outcome of a commit started with `commit_start`, once it came.
    pub fn outcome(&self, client: u64) -> Option<(Decision, Path)> {
        self.inner.waiters.poll(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each table's creation takes a timestamp of the partition's engine;
    /// the first commits must still find the service's timestamps above
    /// them (they panicked: "the clock passed a fresh timestamp").
    #[test]
    fn commits_work_after_declaring_several_tables() -> Result<()> {
        let cluster = Cluster::builder()
            .partitions(1)
            .table::<u64, [i64; 1]>("a")
            .table::<u64, [i64; 1]>("b")
            .table::<u64, [i64; 1]>("c")
            .build()?;
        let a = cluster.table::<u64, [i64; 1]>("a")?;
        for k in 0..3 {
            cluster.transact(|tx| tx.insert(&a, k, [1]))?;
        }
        assert_eq!(cluster.begin().scan(&a, ..)?.len(), 3);
        Ok(())
    }

    /// Loses every message.
    struct Lossy;

    impl Transport for Lossy {
        fn send(&self, _: Vec<Envelope>) {}
    }

    /// When every prepare of a transaction is lost, no participant prepared
    /// it and none resolves it: the partitions' timer must abort its staged
    /// parts, or their claims block its keys forever.
    #[test]
    fn a_transaction_whose_prepares_were_all_lost_releases_its_keys() -> Result<()> {
        let disks = vec![crate::log::SimDisk::new(), crate::log::SimDisk::new()];
        let cluster = Cluster::builder()
            .partitions(2)
            .table::<u64, [i64; 1]>("t")
            .simulated(disks, Arc::new(Lossy))
            .build()?;
        let t = cluster.table::<u64, [i64; 1]>("t")?;
        let a = (0..).find(|k| t.partition_of(k) == 0).expect("a key");
        let b = (0..).find(|k| t.partition_of(k) == 1).expect("a key");
        let mut tx = cluster.begin();
        tx.insert(&t, a, [1])?;
        tx.insert(&t, b, [1])?;
        assert!(matches!(tx.commit_start()?, Committing::Waiting { .. }));
        // Two ticks: the first sees the parts staged, the second aborts them.
        for _ in 0..2 {
            for p in &cluster.inner().parts {
                p.resolve_all(&mut Vec::new());
            }
        }
        for k in [a, b] {
            let mut tx = cluster.begin();
            tx.insert(&t, k, [2])?;
            assert!(matches!(tx.commit_start()?, Committing::Done(_)));
        }
        assert_eq!(cluster.begin().get(&t, &a)?, Some([2]));
        Ok(())
    }

    /// A restart builds a new engine on the partition; a table handle
    /// taken before it must still reach that partition's rows.
    #[test]
    fn table_handles_taken_before_a_restart_still_work_after_it() -> Result<()> {
        let cluster = Cluster::builder()
            .partitions(2)
            .table::<u64, [i64; 1]>("t")
            .build()?;
        let t = cluster.table::<u64, [i64; 1]>("t")?;
        let key = (0..).find(|k| t.partition_of(k) == 0).expect("a key");
        let p = &cluster.inner().parts[0];
        p.crash();
        p.restart(&mut Vec::new())?;
        cluster.transact(|tx| tx.upsert(&t, key, [7]))?;
        assert_eq!(cluster.begin().get(&t, &key)?, Some([7]));
        Ok(())
    }
}
