//! First updater wins: of two concurrent writers of one key, the second gets
//! `WriteConflict` from the write itself, at once; it is then rolled back,
//! every later call on it answers `Aborted`, and nothing it wrote is ever
//! visible. A write to a key whose newest version committed after the
//! snapshot is a `WriteConflict` too.

use crate::common::*;
use multiverse::{Database, Error, Storage, Transaction};

/// A write to a row that exists.
#[derive(Clone, Copy, Debug)]
enum Write {
    Update,
    Modify,
    Delete,
}

impl Write {
    const ALL: [Write; 3] = [Write::Update, Write::Modify, Write::Delete];

    /// Applies the write to `key`; `v` is the new balance (update) or the
    /// amount added (modify).
    fn apply(self, tx: &mut Transaction, t: &Accounts, key: u64, v: i64) -> Result<(), Error> {
        match self {
            Write::Update => tx.update(t, &key, account(v)),
            Write::Modify => tx.modify(t, &key, |r| r[0] += v),
            Write::Delete => tx.delete(t, &key),
        }
    }

    /// The row after the write, from a row with balance `old`.
    fn result(self, old: i64, v: i64) -> Option<[i64; 4]> {
        match self {
            Write::Update => Some(account(v)),
            Write::Modify => Some(account(old + v)),
            Write::Delete => None,
        }
    }
}

/// `winner` writes key 1, then `loser` (which began first and has already
/// written key 2 and inserted key 9) writes key 1 too; then the winner
/// commits or rolls back.
fn race(storage: Storage, winner_write: Write, loser_write: Write, winner_commits: bool) {
    let case = format!("{winner_write:?} then {loser_write:?}, winner commits: {winner_commits}");
    let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
    let mut loser = db.begin();
    let mut winner = db.begin();
    loser.update(&t, &2, account(21)).unwrap();
    loser.insert(&t, 9, account(90)).unwrap();
    winner_write.apply(&mut winner, &t, 1, 100).unwrap();
    assert_err!(
        loser_write.apply(&mut loser, &t, 1, 200),
        WriteConflict,
        "{case}"
    );
    // Rolled back at once: its claims are gone while it is still alive.
    let mut other = db.begin();
    other.update(&t, &2, account(22)).unwrap();
    other.insert(&t, 9, account(91)).unwrap();
    other.rollback();
    assert_eq!(
        latest(&db, &t),
        vec![(1, account(10)), (2, account(20))],
        "{case}"
    );
    assert_aborted(loser, &t);
    let row1 = if winner_commits {
        winner.commit().unwrap();
        winner_write.result(10, 100)
    } else {
        winner.rollback();
        Some(account(10))
    };
    let mut expected: Vec<_> = row1.map(|r| (1, r)).into_iter().collect();
    expected.push((2, account(20)));
    assert_eq!(
        latest(&db, &t),
        expected,
        "{case}: nothing of the loser is visible"
    );
}

/// Writes `write` to key 1 and commits, in a transaction of its own.
fn commit_write(db: &Database, t: &Accounts, write: Write) {
    let mut w = db.begin();
    write.apply(&mut w, t, 1, 5).unwrap();
    w.commit().unwrap();
}

for_each_store! {
    /// Update after any write of another live transaction to the row:
    /// the update is a write conflict, and the first writer wins.
    fn a_second_update_of_a_held_row_is_a_write_conflict(storage: Storage) {
        for first in Write::ALL {
            race(storage, first, Write::Update, true);
        }
    }

    /// Modify after any write of another live transaction: write conflict.
    fn a_second_modify_of_a_held_row_is_a_write_conflict(storage: Storage) {
        for first in Write::ALL {
            race(storage, first, Write::Modify, true);
        }
    }

    /// Delete after any write of another live transaction: write conflict.
    fn a_second_delete_of_a_held_row_is_a_write_conflict(storage: Storage) {
        for first in Write::ALL {
            race(storage, first, Write::Delete, true);
        }
    }

    /// The first updater wins even if it then rolls back: the loser stays
    /// aborted, and the row keeps its committed value.
    fn the_loser_stays_aborted_when_the_winner_rolls_back(storage: Storage) {
        for first in Write::ALL {
            for second in Write::ALL {
                race(storage, first, second, false);
            }
        }
    }

    /// Two transactions insert one new key: the second insert is a write
    /// conflict, and only the first row is ever visible.
    fn a_second_insert_of_one_new_key_is_a_write_conflict(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut a = db.begin();
        let mut b = db.begin();
        b.insert(&t, 1, account(1)).unwrap();
        a.insert(&t, 7, account(70)).unwrap();
        assert_err!(b.insert(&t, 7, account(71)), WriteConflict);
        assert_eq!(latest(&db, &t), vec![]);
        assert_aborted(b, &t);
        a.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(7, account(70))]);
    }

    /// An insert that loses to an insert that rolls back stays aborted; the
    /// key is then free for a new transaction.
    fn the_loser_of_an_insert_race_stays_aborted_when_the_winner_rolls_back(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut a = db.begin();
        let mut b = db.begin();
        a.insert(&t, 7, account(70)).unwrap();
        assert_err!(b.insert(&t, 7, account(71)), WriteConflict);
        a.rollback();
        assert_aborted(b, &t);
        let mut c = db.begin();
        c.insert(&t, 7, account(72)).unwrap();
        c.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(7, account(72))]);
    }

    /// A write to a row whose newest version committed after the snapshot
    /// is a write conflict, whatever the committed write (update, modify,
    /// delete) and whatever the late write.
    fn a_write_to_a_row_committed_after_the_snapshot_is_a_write_conflict(storage: Storage) {
        for committed in Write::ALL {
            for late in Write::ALL {
                let case = format!("{committed:?} committed, then {late:?}");
                let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
                let mut tx = db.begin();
                tx.update(&t, &2, account(21)).unwrap();
                commit_write(&db, &t, committed);
                assert_eq!(tx.get(&t, &1).unwrap(), Some(account(10)), "{case}");
                assert_err!(late.apply(&mut tx, &t, 1, 200), WriteConflict, "{case}");
                assert_aborted(tx, &t);
                let row1 = committed.result(10, 5).map(|r| (1, r));
                let expected: Vec<_> = row1.into_iter().chain([(2, account(20))]).collect();
                assert_eq!(latest(&db, &t), expected, "{case}");
            }
        }
    }

    /// An insert of a key that another transaction inserted and committed
    /// after the snapshot (so the row is not visible) is a write conflict.
    fn an_insert_of_a_key_inserted_after_the_snapshot_is_a_write_conflict(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut tx = db.begin();
        load(&db, &t, [(7, account(70))]);
        assert_eq!(tx.get(&t, &7).unwrap(), None);
        assert_err!(tx.insert(&t, 7, account(71)), WriteConflict);
        assert_aborted(tx, &t);
        assert_eq!(latest(&db, &t), vec![(7, account(70))]);
    }

    /// Concurrent writes of different keys never conflict, adjacent keys
    /// included, and a write to a row committed before the snapshot is no
    /// conflict either.
    fn disjoint_writes_never_conflict(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
        commit_write(&db, &t, Write::Update);
        let mut a = db.begin();
        let mut b = db.begin();
        let mut c = db.begin();
        a.update(&t, &1, account(11)).unwrap();
        b.delete(&t, &2).unwrap();
        c.modify(&t, &3, |r| r[0] += 3).unwrap();
        a.insert(&t, 4, account(40)).unwrap();
        b.insert(&t, 5, account(50)).unwrap();
        c.insert(&t, 6, account(60)).unwrap();
        c.commit().unwrap();
        b.commit().unwrap();
        a.commit().unwrap();
        assert_eq!(
            latest(&db, &t),
            vec![
                (1, account(11)),
                (3, account(33)),
                (4, account(40)),
                (5, account(50)),
                (6, account(60))
            ]
        );
    }

    /// The answers (`NotFound`, `DuplicateKey`) follow the snapshot even
    /// while another transaction holds the key: an update of a key another
    /// transaction is inserting is `NotFound`, an insert of a key another
    /// transaction is deleting is `DuplicateKey`, and the transaction goes
    /// on; a write that would install a version is the write conflict.
    fn answers_follow_the_snapshot_while_another_transaction_holds_the_key(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut holder = db.begin();
        holder.insert(&t, 5, account(50)).unwrap();
        holder.delete(&t, &1).unwrap();
        let mut tx = db.begin();
        assert_err!(tx.update(&t, &5, account(0)), NotFound);
        assert_err!(tx.delete(&t, &5), NotFound);
        assert_err!(tx.insert(&t, 1, account(0)), DuplicateKey);
        assert!(tx.is_active());
        tx.insert(&t, 6, account(60)).unwrap();
        assert_err!(tx.insert(&t, 5, account(0)), WriteConflict);
        assert_aborted(tx, &t);
        holder.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(5, account(50))]);
    }
}
