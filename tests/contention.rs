//! Write-write contention (W1, W3): a writer that finds a row held by
//! another live transaction waits a bounded while for it only if the
//! holder is older (younger waits, older gives up), gets the row if the
//! holder rolls back,
//! loses with `WriteConflict` if the holder commits, and two transactions
//! that write two keys in opposite orders never wait for each other.
//!
//! The holder runs on a second thread and is told when to end by the
//! writer's own `modify` closure, which the store runs after it has looked
//! at the row and before it claims it: the writer then claims a head it
//! loaded while the holder still held the row. Ended before the closure
//! returns, the holder's outcome is settled when the claim happens
//! (deterministic); ended concurrently, the writer meets it live and waits.

#[macro_use]
mod common;

use common::*;
use multiverse::{Database, Error, Storage};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Barrier};
use std::thread;

/// How a holder ends its transaction.
#[derive(Clone, Copy, PartialEq, Debug)]
enum End {
    RollBack,
    Commit,
}

/// Spins until `flag` is set: at most `u32::MAX` rounds, far more than the
/// few microseconds another running thread needs to set it.
fn spin_until(flag: &AtomicBool) {
    for _ in 0..u32::MAX {
        if flag.load(Ordering::Acquire) {
            return;
        }
        std::hint::spin_loop();
    }
    panic!("the flag was never set");
}

/// Runs `writer` while another thread holds key 1 of a fresh accounts
/// table (balances 1 → 100, 2 → 200), updated to 0 by a transaction that
/// is younger than the writer's (`holder_older == false`: the writer has
/// written key 2 before the holder's first write) or older. The writer's
/// transaction, and a function that ends the holder (`wait`: return once
/// it has ended, else at once), are handed to `writer`; the holder ends as
/// `end` says. Returns what `writer` returned and the database.
fn with_holder<R>(
    storage: Storage,
    holder_older: bool,
    end: End,
    writer: impl FnOnce(&mut multiverse::Transaction, &Accounts, &dyn Fn(bool)) -> R,
) -> (R, Database, Accounts) {
    let (db, t) = accounts_with(storage, &[(1, 100), (2, 200)]);
    let mut tx = db.begin();
    let (holding_tx, holding) = mpsc::channel();
    let end_now = AtomicBool::new(false);
    let ended = AtomicBool::new(false);
    let r = thread::scope(|s| {
        let (db, t, end_now, ended) = (&db, &t, &end_now, &ended);
        let (first_tx, first) = mpsc::channel::<()>();
        s.spawn(move || {
            let mut holder = db.begin();
            if !holder_older {
                // Take an id after the writer's.
                first.recv().unwrap();
            }
            holder.update(t, &1, account(0)).unwrap();
            holding_tx.send(()).unwrap();
            spin_until(end_now);
            match end {
                End::RollBack => holder.rollback(),
                End::Commit => {
                    holder.commit().unwrap();
                }
            }
            ended.store(true, Ordering::Release);
        });
        if holder_older {
            holding.recv().unwrap();
            tx.update(t, &2, account(201)).unwrap();
        } else {
            tx.update(t, &2, account(201)).unwrap();
            first_tx.send(()).unwrap();
            holding.recv().unwrap();
        }
        let end_holder = |wait: bool| {
            end_now.store(true, Ordering::Release);
            if wait {
                spin_until(ended);
            }
        };
        let r = writer(&mut tx, t, &end_holder);
        // Whatever the writer did, let the holder finish.
        end_holder(true);
        r
    });
    if tx.is_active() {
        tx.commit().unwrap();
    }
    (r, db, t)
}

/// The writer's `modify` of key 1, which ends the holder from inside the
/// closure (`wait`: until it has ended) and adds 1 to the balance it sees.
/// Returns the result and how many times the closure ran.
fn modify_ending_the_holder(
    tx: &mut multiverse::Transaction,
    t: &Accounts,
    end_holder: &dyn Fn(bool),
    wait: bool,
) -> (Result<(), Error>, usize) {
    let runs = AtomicUsize::new(0);
    let result = tx.modify(t, &1, |r| {
        runs.fetch_add(1, Ordering::Relaxed);
        end_holder(wait);
        r[0] += 1;
    });
    (result, runs.load(Ordering::Relaxed))
}

/// Rounds of the tests whose holder ends concurrently with the writer.
const LIVE_ROUNDS: usize = 20;

for_each_store! {
    /// A younger writer that meets an older holder which then rolls back
    /// gets its write: no `WriteConflict`, its closure run once, on the
    /// row its snapshot sees. Here the rollback is complete before the
    /// claim, which finds the head it loaded aborted and looks again
    /// (without W3 the stale head is a conflict).
    fn a_younger_writer_gets_the_row_an_older_holder_rolled_back(storage: Storage) {
        let ((result, runs), db, t) = with_holder(storage, true, End::RollBack, |tx, t, end| {
            modify_ending_the_holder(tx, t, end, true)
        });
        assert_eq!(result, Ok(()));
        assert_eq!(runs, 1, "the closure runs once");
        let now = db.begin();
        assert_eq!(now.get(&t, &1).unwrap(), Some(account(101)));
        assert_eq!(now.get(&t, &2).unwrap(), Some(account(201)));
    }

    /// The same with the holder rolling back while the writer is at the
    /// claim: the writer meets the live claim (or the aborted head) and
    /// waits for the rollback. Without W3 no round can succeed (the head
    /// the writer claims is the holder's version, never claimable); with
    /// it, a round fails only if the holder, spinning and ready to roll
    /// back the moment it is told, is kept off the processor for longer
    /// than the writer's bounded wait, which a loaded machine may do to a
    /// few rounds, never to all. The writer's row and the closure's single
    /// run are checked in every round.
    fn a_younger_writer_waits_for_an_older_holder_that_rolls_back(storage: Storage) {
        let mut got = 0;
        for round in 0..LIVE_ROUNDS {
            let ((result, runs), db, t) = with_holder(storage, true, End::RollBack, |tx, t, end| {
                modify_ending_the_holder(tx, t, end, false)
            });
            assert_eq!(runs, 1, "round {round}");
            let want = match result {
                Ok(()) => {
                    got += 1;
                    101
                }
                Err(e) => {
                    assert_eq!(e, Error::WriteConflict, "round {round}");
                    100
                }
            };
            assert_eq!(db.begin().get(&t, &1).unwrap(), Some(account(want)), "round {round}");
        }
        assert!(got > 0, "no round of {LIVE_ROUNDS} got the row");
    }

    /// A younger writer whose older holder commits loses: the holder
    /// updated first and committed after the writer's snapshot (first
    /// updater wins), whether the commit is complete before the claim or
    /// lands while the writer waits. The holder's row stays.
    fn a_younger_writer_whose_older_holder_commits_gets_write_conflict(storage: Storage) {
        for wait in [true, false] {
            let ((result, runs), db, t) = with_holder(storage, true, End::Commit, |tx, t, end| {
                let r = modify_ending_the_holder(tx, t, end, wait);
                assert!(!tx.is_active(), "rolled back");
                r
            });
            assert_eq!(result, Err(Error::WriteConflict), "wait {wait}");
            assert_eq!(runs, 1);
            let now = db.begin();
            assert_eq!(now.get(&t, &1).unwrap(), Some(account(0)));
            assert_eq!(now.get(&t, &2).unwrap(), Some(account(200)), "the writer's rollback");
        }
    }

    /// An older writer that meets a younger holder's live claim gives up
    /// with `WriteConflict` (it may not wait: the younger one might be
    /// waiting for it), and the holder keeps its claim and commits.
    fn an_older_writer_meeting_a_younger_holder_aborts(storage: Storage) {
        let (result, db, t) = with_holder(storage, false, End::Commit, |tx, t, _end| {
            let r = tx.modify(t, &1, |r| r[0] += 1);
            assert!(!tx.is_active(), "rolled back");
            r
        });
        assert_eq!(result, Err(Error::WriteConflict));
        let now = db.begin();
        assert_eq!(now.get(&t, &1).unwrap(), Some(account(0)), "the holder committed");
        assert_eq!(now.get(&t, &2).unwrap(), Some(account(200)));
    }

    /// Two threads each run, per round, a transaction that adds 1 to keys
    /// 1 and 2, in opposite orders, retrying on `WriteConflict`: every
    /// transaction commits within a bounded number of attempts (no
    /// deadlock, no wait without end), and no increment is lost.
    fn writers_of_two_keys_in_opposite_orders_never_deadlock(storage: Storage) {
        const ROUNDS: usize = 300;
        const ATTEMPTS: usize = 10_000;
        let (db, t) = accounts_with(storage, &[(1, 0), (2, 0)]);
        let barrier = Barrier::new(2);
        let aborts: Vec<usize> = thread::scope(|s| {
            let threads: Vec<_> = [[1u64, 2], [2, 1]]
                .into_iter()
                .map(|order| {
                    let (db, t, barrier) = (&db, &t, &barrier);
                    s.spawn(move || {
                        let mut aborts = 0;
                        for round in 0..ROUNDS {
                            barrier.wait();
                            let committed = (0..ATTEMPTS).any(|_| {
                                let mut tx = db.begin();
                                let wrote = order
                                    .iter()
                                    .try_for_each(|k| tx.modify(t, k, |r| r[0] += 1));
                                match wrote.and_then(|()| tx.commit().map(drop)) {
                                    Ok(()) => true,
                                    Err(Error::WriteConflict) => {
                                        aborts += 1;
                                        thread::yield_now();
                                        false
                                    }
                                    Err(e) => panic!("round {round}: {e}"),
                                }
                            });
                            assert!(committed, "round {round}: no commit in {ATTEMPTS} attempts");
                        }
                        aborts
                    })
                })
                .collect();
            threads.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let now = db.begin();
        let want = Some(account(2 * ROUNDS as i64));
        assert_eq!(now.get(&t, &1).unwrap(), want, "aborts per thread {aborts:?}");
        assert_eq!(now.get(&t, &2).unwrap(), want);
    }
}
