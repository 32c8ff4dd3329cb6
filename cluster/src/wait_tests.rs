//! The one place readers wait, and the abort that a query of a
//! participant that never prepared forces, step by step: messages are
//! held and delivered by hand.

use std::sync::{Arc, Mutex};

use crate::cluster::{Cluster, Committing};
use crate::error::Error;
use crate::log::SimDisk;
use crate::message::{Endpoint, Envelope, Message, Transport};
use crate::protocol::Decision;

#[derive(Default)]
struct Hold(Mutex<Vec<Envelope>>);

impl Transport for Hold {
    fn send(&self, envelopes: Vec<Envelope>) {
        self.0.lock().unwrap().extend(envelopes);
    }
}

impl Hold {
    fn take(&self, pick: impl Fn(&Envelope) -> bool) -> Vec<Envelope> {
        let mut q = self.0.lock().unwrap();
        let (take, keep) = q.drain(..).partition(pick);
        *q = keep;
        take
    }

    /// Delivers every held envelope (and what they send) until none is
    /// left; returns the client outcomes.
    fn settle(&self, cluster: &Cluster) -> Vec<(u64, Decision)> {
        let mut outcomes = Vec::new();
        loop {
            let envs = self.take(|_| true);
            if envs.is_empty() {
                return outcomes;
            }
            for env in envs {
                deliver(cluster, self, env, &mut outcomes);
            }
        }
    }
}

fn deliver(cluster: &Cluster, hold: &Hold, env: Envelope, outcomes: &mut Vec<(u64, Decision)>) {
    match env.to {
        Endpoint::Partition(i) => {
            let mut out = Vec::new();
            cluster.inner().parts[i].handle(env, &mut out);
            hold.send(out);
        }
        Endpoint::Client(c) => {
            if let Message::Outcome { decision, .. } = env.msg {
                outcomes.push((c, decision));
            }
        }
    }
}

type Accounts = crate::ClusterTable<u64, [i64; 1]>;

fn setup() -> (Cluster, Arc<Hold>, Accounts, u64, u64) {
    let (cluster, hold, accounts, a, b, _) = setup_with_disks();
    (cluster, hold, accounts, a, b)
}

fn setup_with_disks() -> (Cluster, Arc<Hold>, Accounts, u64, u64, Vec<SimDisk>) {
    let hold = Arc::new(Hold::default());
    let disks = vec![SimDisk::new(), SimDisk::new()];
    let cluster = Cluster::builder()
        .partitions(2)
        .table::<u64, [i64; 1]>("accounts")
        .simulated(disks.clone(), hold.clone())
        .build()
        .unwrap();
    let accounts = cluster.table::<u64, [i64; 1]>("accounts").unwrap();
    let a = (0..).find(|k| accounts.partition_of(k) == 0).unwrap();
    let b = (0..).find(|k| accounts.partition_of(k) == 1).unwrap();
    for k in [a, b] {
        let mut tx = cluster.begin();
        tx.insert(&accounts, k, [100]).unwrap();
        tx.commit().unwrap();
    }
    (cluster, hold, accounts, a, b, disks)
}

/// Starts a transfer of 10 from `a` (partition 0) to `b` (partition 1);
/// its two prepares are held.
fn start_transfer(cluster: &Cluster, accounts: &Accounts, a: u64, b: u64) -> (u64, u64) {
    let mut t = cluster.begin();
    t.update(accounts, &a, [90]).unwrap();
    t.update(accounts, &b, [110]).unwrap();
    match t.commit_start().unwrap() {
        Committing::Waiting { client, txn, .. } => (client, txn),
        Committing::Done(_) => panic!("two partitions written: 2PC"),
    }
}

fn to(p: usize) -> impl Fn(&Envelope) -> bool {
    move |e| e.to == Endpoint::Partition(p)
}

#[test]
fn a_reader_above_an_undecided_prepare_waits_and_one_below_reads_at_once() {
    let (cluster, hold, accounts, a, b) = setup();
    let mut before = cluster.begin();
    let (client, _) = start_transfer(&cluster, &accounts, a, b);
    // Partition 0 prepares; partition 1's prepare is still on its way.
    for env in hold.take(to(0)) {
        deliver(&cluster, &hold, env, &mut Vec::new());
    }
    assert_eq!(cluster.inner().parts[0].undecided(), 1);
    // Its snapshot is below the prepare: it reads, without the transfer.
    assert_eq!(before.get(&accounts, &a).unwrap(), Some([100]));
    // Above the prepare: it must not guess. With no wait allowed (the
    // simulator's setting) it is told `Blocked`, and has asked partition 1.
    let mut after = cluster.begin();
    assert!(matches!(
        after.get(&accounts, &a),
        Err(Error::Blocked { partition: 0 })
    ));
    assert_eq!(cluster.inner().parts[0].stats().waits, 1);
    // Partition 1 prepares first, then hears the query: both prepared, so
    // the resolver and the coordinator both decide to commit.
    for env in hold.take(|e| matches!(e.msg, Message::Prepare { .. })) {
        deliver(&cluster, &hold, env, &mut Vec::new());
    }
    let outcomes = hold.settle(&cluster);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, (c, Decision::Commit(_)) if *c == client)));
    assert!(!outcomes.is_empty());
    // `after` began before partition 1 prepared, so the transfer commits
    // above its snapshot: it sees it on neither partition.
    assert_eq!(after.get(&accounts, &a).unwrap(), Some([100]));
    assert_eq!(after.get(&accounts, &b).unwrap(), Some([100]));
    let mut now = cluster.begin();
    assert_eq!(now.get(&accounts, &a).unwrap(), Some([90]));
    assert_eq!(now.get(&accounts, &b).unwrap(), Some([110]));
    assert_eq!(before.get(&accounts, &b).unwrap(), Some([100]));
}

#[test]
fn a_participant_asked_before_it_prepared_records_an_abort_and_the_late_prepare_fails() {
    let (cluster, hold, accounts, a, b) = setup();
    let (client, txn) = start_transfer(&cluster, &accounts, a, b);
    for env in hold.take(to(0)) {
        deliver(&cluster, &hold, env, &mut Vec::new());
    }
    // A reader's wait on partition 0 starts a resolution: partition 1 is
    // asked before its prepare arrives.
    let mut reader = cluster.begin();
    assert!(reader.get(&accounts, &a).is_err());
    for env in hold.take(|e| matches!(e.msg, Message::Query { .. })) {
        deliver(&cluster, &hold, env, &mut Vec::new());
    }
    assert_eq!(
        cluster.inner().parts[1].record(txn),
        crate::protocol::Record::Aborted,
        "partition 1 recorded the abort before answering"
    );
    let outcomes = hold.settle(&cluster);
    assert!(
        outcomes.contains(&(client, Decision::Abort)),
        "{outcomes:?}"
    );
    assert!(!outcomes.iter().any(|o| matches!(o.1, Decision::Commit(_))));
    let mut now = cluster.begin();
    assert_eq!(now.get(&accounts, &a).unwrap(), Some([100]));
    assert_eq!(now.get(&accounts, &b).unwrap(), Some([100]));
    for p in &cluster.inner().parts {
        assert_eq!(p.undecided(), 0);
        assert_eq!(p.stats().violations, 0);
    }
}

#[test]
fn a_prepare_survives_a_crash_and_recovery_decides_it_from_the_participants() {
    let (cluster, hold, accounts, a, b) = setup();
    start_transfer(&cluster, &accounts, a, b);
    // Both prepare; the votes are lost with the coordinator's crash.
    for env in hold.take(|e| matches!(e.msg, Message::Prepare { .. })) {
        deliver(&cluster, &hold, env, &mut Vec::new());
    }
    hold.take(|_| true);
    let p0 = &cluster.inner().parts[0];
    p0.crash();
    let mut out = Vec::new();
    p0.restart(&mut out).unwrap();
    hold.send(out);
    hold.settle(&cluster);
    let mut now = cluster.begin();
    assert_eq!(now.get(&accounts, &a).unwrap(), Some([90]));
    assert_eq!(now.get(&accounts, &b).unwrap(), Some([110]));
}

#[test]
fn a_prepare_whose_sync_failed_sends_no_vote_so_no_client_hears_an_abort_that_recovery_reverses() {
    let (cluster, hold, accounts, a, b, disks) = setup_with_disks();
    let (client, _) = start_transfer(&cluster, &accounts, a, b);
    // Partition 0 prepares (synced); partition 1's prepare sync fails: its
    // record was written, and may be on disk all the same.
    for env in hold.take(to(0)) {
        deliver(&cluster, &hold, env, &mut Vec::new());
    }
    let p0_prepared = disks[0].bytes();
    disks[1].fail_sync_after(0);
    let mut outcomes = Vec::new();
    for env in hold.take(to(1)) {
        deliver(&cluster, &hold, env, &mut outcomes);
    }
    outcomes.extend(hold.settle(&cluster));
    // Both partitions restart: partition 0 lost what it wrote after its
    // prepare, partition 1 kept its unsynced prepare record.
    disks[0].set_bytes(p0_prepared);
    for p in &cluster.inner().parts {
        p.crash();
        let mut out = Vec::new();
        p.restart(&mut out).unwrap();
        hold.send(out);
    }
    outcomes.extend(hold.settle(&cluster));
    let committed = {
        let mut now = cluster.begin();
        let got = (
            now.get(&accounts, &a).unwrap(),
            now.get(&accounts, &b).unwrap(),
        );
        assert!(
            got == (Some([90]), Some([110])) || got == (Some([100]), Some([100])),
            "{got:?}"
        );
        got.0 == Some([90])
    };
    // Whatever the client heard is what recovery decided.
    for (c, d) in outcomes {
        assert_eq!(c, client);
        assert_eq!(matches!(d, Decision::Commit(_)), committed, "told {d:?}");
    }
    for p in &cluster.inner().parts {
        assert_eq!(p.stats().violations, 0);
    }
}

#[test]
fn a_transaction_reads_its_snapshot_on_a_partition_that_restarted_since() {
    let (cluster, hold, accounts, a, b) = setup();
    let mut old = cluster.begin();
    assert_eq!(old.get(&accounts, &a).unwrap(), Some([100]));
    for v in 0..10 {
        let mut tx = cluster.begin();
        tx.update(&accounts, &b, [v]).unwrap();
        tx.commit().unwrap();
    }
    let p1 = &cluster.inner().parts[1];
    p1.crash();
    let mut out = Vec::new();
    p1.restart(&mut out).unwrap();
    hold.send(out);
    hold.settle(&cluster);
    // Replayed, b's history is there again, and the pin kept it for `old`.
    assert_eq!(old.get(&accounts, &b).unwrap(), Some([100]));
}
