//! Switchover at a secure transaction boundary (Huawei RDS ALT, issue 13):
//! sessions at a boundary move to the new database with their context;
//! sessions still in a transaction at the timeout are rolled back and told
//! `SessionLost`; new transactions wait while the old database drains.
//!
//! Orderings are proved by what a transaction can see (a transaction that
//! waited at the gate sees the commit that ended the drain), never by
//! timing; the only waits on a clock are the drain timeouts themselves.

#[macro_use]
mod common;

use multiverse::{Database, Session, Storage, Table, Value, MAX_DRAIN_TIMEOUT, MIN_DRAIN_TIMEOUT};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

type T = Table<u64, [i64; 1]>;

/// An old and a new database over `storage`, each with a table `t` (the
/// new one's rows kept in step by hand: here, both start empty).
fn pair(storage: Storage) -> (Database, T, Database, T) {
    let old = Database::new(storage);
    let new = Database::new(storage);
    let t = old.create_table("t").unwrap();
    let t2 = new.create_table("t").unwrap();
    (old, t, new, t2)
}

/// Waits (bounded by a count of yields) until `f` holds.
fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..10_000_000 {
        if f() {
            return;
        }
        thread::yield_now();
    }
    panic!("gave up waiting until {what}");
}

/// The timeout of switchovers that should never reach it (a broken drain
/// then fails the test instead of hanging it).
const GENEROUS: Duration = Duration::from_secs(20);

for_each_store! {
    /// Two sessions at a boundary, one with autocommit on and one with it
    /// off, both with variables: both move, and their next statements run on
    /// the new database (through the old database's table handle) under the
    /// same autocommit and with the same variables.
    fn sessions_at_a_boundary_move_and_run_their_next_statement_on_to_with_the_same_context(
        storage: Storage
    ) {
        let (old, t, new, t2) = pair(storage);
        let mut a = old.session();
        a.set_var("x", Value::Int(1)).unwrap();
        a.insert(&t, 1, [1]).unwrap();
        let mut b = old.session();
        b.set_autocommit(false).unwrap();
        b.set_var("y", Value::Text("why".into())).unwrap();
        b.insert(&t, 2, [2]).unwrap();
        b.commit().unwrap();
        let ctx = (a.context(), b.context());

        let report = old.switchover(&new, GENEROUS).unwrap();
        assert_eq!((report.moved, report.lost), (2, 0));
        assert!(!old.draining());

        a.insert(&t, 3, [3]).unwrap();
        assert_eq!(new.snapshot().get(&t2, &3).unwrap(), Some([3]), "autocommit on `to`");
        b.insert(&t, 4, [4]).unwrap();
        assert!(b.in_transaction());
        assert_eq!(new.snapshot().get(&t2, &4).unwrap(), None, "autocommit still off");
        b.commit().unwrap();
        assert_eq!(new.snapshot().get(&t2, &4).unwrap(), Some([4]));
        assert_eq!(b.get(&t, &4).unwrap(), Some([4]));
        assert_eq!(b.get(&t, &2).unwrap(), None, "reads go to `to` too");
        b.commit().unwrap();

        let old_keys: Vec<u64> = old.snapshot().scan(&t, ..).unwrap().map(|(k, _)| k).collect();
        assert_eq!(old_keys, [1, 2], "nothing after the move reached the old database");
        assert_eq!((a.context(), b.context()), ctx, "the context moved unchanged");
        assert_eq!(a.var("x"), Some(Value::Int(1)));
        assert_eq!(b.var("y"), Some(Value::Text("why".into())));
        // The old database still works for whoever uses it directly.
        old.transact(|tx| tx.insert(&t, 9, [9])).unwrap();
    }

    /// A moved session takes the old database's table handles for the new
    /// database's tables of the same name; a handle of any other database
    /// stays foreign, before the move and after.
    fn a_moved_session_resolves_only_the_old_databases_table_handles(storage: Storage) {
        let (old, t, new, t2) = pair(storage);
        let third = Database::new(storage);
        let t3: T = third.create_table("t").unwrap();
        let mut s = old.session();
        assert_err!(s.insert(&t3, 1, [1]), ForeignTable);
        assert_err!(s.insert(&t2, 1, [1]), ForeignTable);
        old.switchover(&new, GENEROUS).unwrap();
        assert_err!(s.insert(&t3, 1, [1]), ForeignTable);
        s.insert(&t, 1, [1]).unwrap();
        s.insert(&t2, 2, [2]).unwrap();
        assert_eq!(new.snapshot().scan(&t2, ..).unwrap().count(), 2);
        assert_eq!(third.snapshot().scan(&t3, ..).unwrap().count(), 0);
        new.drop_table("t").unwrap();
        assert_err!(s.insert(&t, 3, [3]), NoSuchTable);
    }

    /// A session in an explicit transaction when the switchover starts goes
    /// on with its statements during the drain (no deadlock), commits in
    /// time, and is moved: its transaction's rows are on the old database,
    /// its next statement's on the new one.
    fn a_session_that_commits_within_the_timeout_is_moved(storage: Storage) {
        let (old, t, new, t2) = pair(storage);
        let mut s = old.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        let switchover = {
            let (old, new) = (old.clone(), new.clone());
            thread::spawn(move || old.switchover(&new, GENEROUS))
        };
        wait_until("the old database drains", || old.draining());
        s.insert(&t, 2, [2]).unwrap();
        assert_eq!(s.get(&t, &1).unwrap(), Some([1]));
        s.commit().unwrap();
        let report = switchover.join().unwrap().unwrap();
        assert_eq!((report.moved, report.lost), (1, 0));
        assert_eq!(old.snapshot().scan(&t, ..).unwrap().count(), 2);
        s.insert(&t, 3, [3]).unwrap();
        assert_eq!(new.snapshot().get(&t2, &3).unwrap(), Some([3]));
        assert_eq!(new.snapshot().scan(&t2, ..).unwrap().count(), 1);
    }

    /// A session still in its transaction at the timeout is lost: its
    /// writes are rolled back at once (visible nowhere, its keys free), its
    /// next statement (here the `commit` it meant to make) answers
    /// `SessionLost`, once, and then it works on the old database.
    fn a_session_in_a_transaction_past_the_timeout_is_lost_and_then_works_on_the_old_database(
        storage: Storage
    ) {
        let (old, t, new, t2) = pair(storage);
        old.transact(|tx| tx.insert(&t, 0, [0])).unwrap();
        let mut s = old.session();
        s.set_var("x", Value::Int(7)).unwrap();
        s.begin().unwrap();
        s.update(&t, &0, [100]).unwrap();
        s.insert(&t, 1, [1]).unwrap();

        let report = old.switchover(&new, MIN_DRAIN_TIMEOUT).unwrap();
        assert_eq!((report.moved, report.lost), (0, 1));
        assert!(report.drain >= MIN_DRAIN_TIMEOUT);

        // Rolled back already, before the session's next statement.
        assert!(!s.in_transaction());
        assert_eq!(old.snapshot().get(&t, &0).unwrap(), Some([0]));
        assert_eq!(old.snapshot().get(&t, &1).unwrap(), None);
        assert_eq!(new.snapshot().scan(&t2, ..).unwrap().count(), 0);
        old.transact(|tx| tx.update(&t, &0, [5])).unwrap(); // its claim is gone

        assert_err!(s.commit(), SessionLost);
        s.commit().unwrap(); // once
        s.insert(&t, 2, [2]).unwrap();
        assert_eq!(old.snapshot().get(&t, &2).unwrap(), Some([2]), "still on the old database");
        assert_eq!(new.snapshot().get(&t2, &2).unwrap(), None);
        assert_eq!(s.var("x"), Some(Value::Int(7)));
    }

    /// While the old database drains, a bare `begin` waits until the
    /// switchover is over: the transaction it returns sees the commit that
    /// ended the drain (without the gate it would begin at once, before that
    /// commit). A session that arrives during the drain, at a boundary, is
    /// moved without waiting for the drain to end.
    fn new_transactions_wait_at_the_gate_during_the_drain(storage: Storage) {
        let (old, t, new, t2) = pair(storage);
        let mut s = old.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        let switchover = {
            let (old, new) = (old.clone(), new.clone());
            thread::spawn(move || old.switchover(&new, GENEROUS))
        };
        wait_until("the old database drains", || old.draining());

        // A new session during the drain: moved while `s` is still open.
        let (old2, t_) = (old.clone(), t.clone());
        thread::spawn(move || {
            let mut c = old2.session();
            c.insert(&t_, 5, [5]).unwrap();
        })
        .join()
        .unwrap();
        assert!(s.in_transaction() && old.draining());
        assert_eq!(new.snapshot().get(&t2, &5).unwrap(), Some([5]));

        // A bare transaction during the drain.
        let (began_tx, began) = mpsc::channel();
        let bare = {
            let (old, t) = (old.clone(), t.clone());
            thread::spawn(move || {
                let tx = old.begin();
                began_tx.send(()).unwrap();
                tx.get(&t, &1).unwrap()
            })
        };
        // Give a `begin` that does not wait the time to return before the
        // commit (the test cannot fail falsely: with the gate it is a no-op).
        let _ = began.recv_timeout(Duration::from_millis(100));
        s.commit().unwrap();
        assert_eq!(bare.join().unwrap(), Some([1]), "the bare begin waited for the drain");
        let report = switchover.join().unwrap().unwrap();
        assert_eq!((report.moved, report.lost), (2, 0));
        assert_eq!(old.snapshot().get(&t, &5).unwrap(), None);
    }

    /// A session that ends its transaction during the drain and begins the
    /// next one waits at the gate, at a boundary: it is moved there, and
    /// its new transaction runs on the new database while the drain still
    /// waits for another session.
    fn a_session_waiting_at_the_gate_mid_drain_moves_without_waiting_for_the_drain_to_end(
        storage: Storage
    ) {
        let (old, t, new, t2) = pair(storage);
        let mut blocker = old.session();
        blocker.begin().unwrap();
        blocker.insert(&t, 1, [1]).unwrap();
        let mut s = old.session();
        s.begin().unwrap();
        s.insert(&t, 10, [10]).unwrap();
        let switchover = {
            let (old, new) = (old.clone(), new.clone());
            thread::spawn(move || old.switchover(&new, GENEROUS))
        };
        wait_until("the old database drains", || old.draining());
        s.begin().unwrap(); // commits on the old database, begins on the new
        s.insert(&t, 11, [11]).unwrap();
        s.commit().unwrap();
        assert!(blocker.in_transaction() && old.draining());
        assert_eq!(old.snapshot().get(&t, &10).unwrap(), Some([10]));
        assert_eq!(new.snapshot().get(&t2, &11).unwrap(), Some([11]));
        assert_eq!(old.snapshot().get(&t, &11).unwrap(), None);
        blocker.commit().unwrap();
        let report = switchover.join().unwrap().unwrap();
        assert_eq!((report.moved, report.lost), (2, 0));
    }

    /// Timeouts outside 1–60 s and a switchover to the same database are
    /// refused, and leave the gate open; the bounds themselves are accepted.
    fn invalid_drain_timeouts_and_a_switchover_to_itself_are_invalid_arguments(storage: Storage) {
        let (old, t, new, _) = pair(storage);
        for bad in [Duration::ZERO, MIN_DRAIN_TIMEOUT - Duration::from_nanos(1),
                    MAX_DRAIN_TIMEOUT + Duration::from_nanos(1), Duration::MAX] {
            assert_err!(old.switchover(&new, bad), InvalidArgument, "{bad:?}");
        }
        assert_err!(old.switchover(&old.clone(), GENEROUS), InvalidArgument);
        assert!(!old.draining());
        old.transact(|tx| tx.insert(&t, 1, [1])).unwrap();
        for good in [MIN_DRAIN_TIMEOUT, MAX_DRAIN_TIMEOUT] {
            let report = old.switchover(&new, good).unwrap();
            assert_eq!((report.moved, report.lost), (0, 0));
        }
    }

    /// A second switchover of a database started while the first drains is
    /// refused at once; the first goes on.
    fn a_second_concurrent_switchover_of_one_database_is_refused(storage: Storage) {
        let (old, t, new, _) = pair(storage);
        let third = Database::new(storage);
        let mut s = old.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        let switchover = {
            let (old, new) = (old.clone(), new.clone());
            thread::spawn(move || old.switchover(&new, GENEROUS))
        };
        wait_until("the old database drains", || old.draining());
        assert_err!(old.switchover(&third, MIN_DRAIN_TIMEOUT), InvalidArgument);
        s.commit().unwrap();
        let report = switchover.join().unwrap().unwrap();
        assert_eq!((report.moved, report.lost), (1, 0));
    }

    /// A dropped session is skipped: not moved, not lost, its transaction
    /// rolled back when it dropped.
    fn a_dropped_session_is_not_moved(storage: Storage) {
        let (old, t, new, _) = pair(storage);
        let mut s = old.session();
        s.begin().unwrap();
        s.insert(&t, 1, [1]).unwrap();
        drop(s);
        let _kept = old.session();
        let report = old.switchover(&new, GENEROUS).unwrap();
        assert_eq!((report.moved, report.lost), (1, 0));
        assert_eq!(old.snapshot().get(&t, &1).unwrap(), None);
    }

    /// Sixteen sessions under load (half in explicit transactions of random
    /// length, a quarter in autocommit, a quarter in implicit transactions
    /// with autocommit off) and one straggler whose transaction outlasts the
    /// timeout. Every load session reaches a boundary in time and is moved;
    /// the straggler is lost. Each session records the transactions it saw
    /// commit: every one is whole in exactly one database, the old one for a
    /// prefix of the session's transactions and the new one after, and the
    /// straggler's writes are nowhere.
    fn a_switchover_under_load_moves_every_session_in_time_and_loses_no_acknowledged_commit(
        storage: Storage
    ) {
        const SESSIONS: u64 = 16;
        const MAX_TXNS: u64 = 100_000;
        let (old, t, new, t2) = pair(storage);
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..SESSIONS)
            .map(|i| {
                let (old, t, done, started) =
                    (old.clone(), t.clone(), done.clone(), started.clone());
                thread::spawn(move || run_load(i, old.session(), &t, &done, &started, MAX_TXNS))
            })
            .collect();
        // The straggler.
        let mut straggler = old.session();
        straggler.begin().unwrap();
        straggler.insert(&t, u64::MAX, [0]).unwrap();

        wait_until("every session committed once", || {
            started.load(Ordering::SeqCst) == SESSIONS as usize
        });
        let report = old.switchover(&new, MIN_DRAIN_TIMEOUT).unwrap();
        done.store(true, Ordering::SeqCst);
        let acked: Vec<Vec<Vec<u64>>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!((report.moved, report.lost), (SESSIONS as usize, 1), "{report:?}");

        assert_err!(straggler.commit(), SessionLost);
        let where_ = |k: u64| {
            let (o, n) = (old.snapshot().get(&t, &k).unwrap(), new.snapshot().get(&t2, &k).unwrap());
            assert!(o.is_none() || n.is_none(), "key {k:#x} in both databases");
            (o.is_some(), n.is_some())
        };
        assert_eq!(where_(u64::MAX), (false, false), "the straggler's write is nowhere");
        let mut total = 0;
        for (i, txns) in acked.iter().enumerate() {
            let mut moved = false;
            for keys in txns {
                let places: Vec<_> = keys.iter().map(|&k| where_(k)).collect();
                let on_new = places[0].1;
                assert!(places.iter().all(|&p| p == (!on_new, on_new)),
                    "session {i}: a transaction not whole in one database: {places:?}");
                assert!(on_new || !moved, "session {i} went back to the old database");
                moved = on_new;
            }
            assert!(moved, "session {i}'s last transaction (after the switchover) is on `to`");
            total += txns.iter().map(Vec::len).sum::<usize>();
        }
        let stored = old.snapshot().scan(&t, ..).unwrap().count()
            + new.snapshot().scan(&t2, ..).unwrap().count();
        assert_eq!(stored, total, "nothing but acknowledged commits is stored");
    }
}

/// One load session: transactions of random length inserting keys of its
/// own (`i << 32 | n`), until `done` (and one more after it); returns the
/// keys of each transaction it saw commit.
fn run_load(
    i: u64,
    mut s: Session,
    t: &T,
    done: &AtomicBool,
    started: &AtomicUsize,
    max_txns: u64,
) -> Vec<Vec<u64>> {
    let mut rng = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut n = 0;
    let mut acked = Vec::new();
    let mut key = || {
        n += 1;
        i << 32 | n
    };
    if i % 4 == 3 {
        s.set_autocommit(false).unwrap();
    }
    for _ in 0..max_txns {
        let last = done.load(Ordering::SeqCst);
        let len = 1 + next() % 6;
        let keys: Vec<u64> = (0..if i % 4 == 1 { 1 } else { len })
            .map(|_| key())
            .collect();
        if i.is_multiple_of(2) {
            s.begin().unwrap();
        }
        for &k in &keys {
            s.insert(t, k, [k as i64]).unwrap();
            if i % 4 != 1 {
                // In a transaction, which no move splits. (In autocommit, a
                // move between the insert and the read sends the read to
                // `to`, which has not been kept in step here.)
                assert_eq!(s.get(t, &k).unwrap(), Some([k as i64]));
            }
        }
        if i % 4 != 1 {
            s.commit().unwrap();
        }
        acked.push(keys);
        if acked.len() == 1 {
            started.fetch_add(1, Ordering::SeqCst);
        }
        if last {
            break;
        }
    }
    acked
}
