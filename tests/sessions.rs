//! The rules of sessions (shared/API.md, "Sessions"; MatrixOne's transaction
//! documentation), each its own test on every store, and OceanBase ODP's
//! versioned session state: its example, and a property test of routing a
//! client session's state to backend sessions.
//!
//! A rule's test watches the session from outside as well as from inside:
//! "visible to another session" is checked with a second session (and a
//! fresh transaction), "nothing committed" with both, so that a session that
//! only claimed to commit, or committed too early, fails the test.
//!
//! Transactional DDL (`create_table`/`drop_table` in a transaction,
//! `DdlConflict`) and switchover are tested with their own work, not here.

#[macro_use]
mod common;

use common::*;
use multiverse::{Database, Isolation, Session, SessionContext, Storage, Value};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};

/// `SessionContext` is what a proxy copies between threads: `Clone + Send`.
const _: fn() = || {
    fn clone_and_send<T: Clone + Send>() {}
    clone_and_send::<SessionContext>();
};

/// The row of `key` as another session with autocommit on reads it (a
/// fresh transaction of its own), checked against a bare transaction that
/// begins now: what every other client sees.
fn seen_by_others(db: &Database, t: &Accounts, key: u64) -> Option<[i64; 4]> {
    let mut other = db.session();
    let row = other.get(t, &key).unwrap();
    assert!(other.at_boundary());
    assert_eq!(
        row,
        db.begin().get(t, &key).unwrap(),
        "session and transaction disagree"
    );
    row
}

/// Asserts that `s` is at a boundary, and that its two state queries agree.
fn assert_boundary(s: &Session, context: &str) {
    assert!(s.at_boundary(), "not at a boundary: {context}");
    assert!(!s.in_transaction(), "in a transaction: {context}");
}

/// Asserts that `s` has a transaction open, and that its two state queries
/// agree.
fn assert_open(s: &Session, context: &str) {
    assert!(s.in_transaction(), "no transaction open: {context}");
    assert!(!s.at_boundary(), "at a boundary: {context}");
}

/// A session over `db` with autocommit as given.
fn session(db: &Database, autocommit: bool) -> Session {
    let mut s = db.session();
    s.set_autocommit(autocommit).unwrap();
    s
}

/// A result as text, to compare a session's answer with a transaction's
/// (`Error` is not `PartialEq`; its `Debug` names the variant and fields).
fn answer<V: Debug>(r: &multiverse::Result<V>) -> String {
    format!("{r:?}")
}

/// One statement of each kind, by name, run on a session; used where a rule
/// holds for every kind. Each leaves the accounts `1..=3` in place (the
/// writes change balances or delete and re-create), touching keys 1..=3 and
/// 100 + `i` only.
const KINDS: [&str; 7] = [
    "get", "scan", "insert", "update", "modify", "delete", "upsert",
];

fn run_kind(s: &mut Session, t: &Accounts, kind: &str, i: u64) {
    match kind {
        "get" => assert_eq!(s.get(t, &1).unwrap().map(|r| r[0] >= 0), Some(true)),
        "scan" => assert!(s.scan(t, 1..=3).unwrap().len() == 3),
        "insert" => s.insert(t, 100 + i, account(1)).unwrap(),
        "update" => s.update(t, &2, account(i as i64)).unwrap(),
        "modify" => s.modify(t, &3, |r| r[0] += 1).unwrap(),
        "delete" => {
            s.insert(t, 100 + i, account(0)).unwrap();
            s.delete(t, &(100 + i)).unwrap()
        }
        "upsert" => assert!(s.upsert(t, 1, account(7)).unwrap().is_some()),
        _ => unreachable!("{kind}"),
    }
}

for_each_store! {
    // ---- autocommit on ----

    /// With autocommit on, an insert is a transaction of its own: committed
    /// and visible to another session as soon as it returns.
    fn autocommit_on_an_insert_is_committed_when_it_returns(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut s = db.session();
        assert!(s.autocommit(), "a new session has autocommit on");
        s.insert(&t, 1, account(10)).unwrap();
        assert_boundary(&s, "after insert");
        assert_eq!(seen_by_others(&db, &t, 1), Some(account(10)));
    }

    /// With autocommit on, an update is committed and visible to another
    /// session as soon as it returns.
    fn autocommit_on_an_update_is_committed_when_it_returns(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = db.session();
        s.update(&t, &1, account(20)).unwrap();
        assert_boundary(&s, "after update");
        assert_eq!(seen_by_others(&db, &t, 1), Some(account(20)));
    }

    /// With autocommit on, a modify is committed and visible to another
    /// session as soon as it returns.
    fn autocommit_on_a_modify_is_committed_when_it_returns(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = db.session();
        s.modify(&t, &1, |r| r[0] += 5).unwrap();
        assert_boundary(&s, "after modify");
        assert_eq!(seen_by_others(&db, &t, 1), Some(account(15)));
    }

    /// With autocommit on, a delete is committed and visible to another
    /// session as soon as it returns.
    fn autocommit_on_a_delete_is_committed_when_it_returns(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = db.session();
        s.delete(&t, &1).unwrap();
        assert_boundary(&s, "after delete");
        assert_eq!(seen_by_others(&db, &t, 1), None);
    }

    /// With autocommit on, an upsert (of a new key, then of an existing
    /// one) is committed and visible to another session as soon as it
    /// returns, and returns the row it replaced.
    fn autocommit_on_an_upsert_is_committed_when_it_returns(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut s = db.session();
        assert_eq!(s.upsert(&t, 1, account(1)).unwrap(), None);
        assert_boundary(&s, "after upsert of a new key");
        assert_eq!(seen_by_others(&db, &t, 1), Some(account(1)));
        assert_eq!(s.upsert(&t, 1, account(2)).unwrap(), Some(account(1)));
        assert_boundary(&s, "after upsert of an existing key");
        assert_eq!(seen_by_others(&db, &t, 1), Some(account(2)));
    }

    /// With autocommit on, `get` and `scan` are transactions of their own:
    /// each reads what is committed when it runs (a commit of another
    /// session between two reads is seen by the second), never another
    /// session's uncommitted writes, and leaves no transaction open.
    fn autocommit_on_get_and_scan_read_committed_data(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = db.session();
        let mut writer = session(&db, false);
        assert_eq!(s.get(&t, &1).unwrap(), Some(account(10)));
        assert_eq!(s.scan(&t, ..).unwrap(), vec![(1, account(10))]);
        assert_boundary(&s, "after get and scan");

        writer.update(&t, &1, account(20)).unwrap();
        writer.insert(&t, 2, account(2)).unwrap();
        assert_eq!(s.get(&t, &1).unwrap(), Some(account(10)), "uncommitted update");
        assert_eq!(s.get(&t, &2).unwrap(), None, "uncommitted insert");
        assert_eq!(s.scan(&t, ..).unwrap(), vec![(1, account(10))]);

        writer.commit().unwrap();
        assert_eq!(s.get(&t, &1).unwrap(), Some(account(20)));
        assert_eq!(s.scan(&t, ..).unwrap(), vec![(1, account(20)), (2, account(2))]);
        assert_boundary(&s, "after reads");
    }

    // ---- autocommit off ----

    /// With autocommit off, DML statements of every kind accumulate in one
    /// implicit transaction: the session reads its own writes from one
    /// snapshot (another session's later commit stays unseen), and no other
    /// session sees any of them until `commit`, which makes them all visible.
    fn autocommit_off_statements_accumulate_in_one_transaction_invisible_until_commit(
        storage: Storage
    ) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
        let mut s = session(&db, false);
        s.insert(&t, 4, account(40)).unwrap();
        s.update(&t, &1, account(11)).unwrap();
        s.modify(&t, &2, |r| r[0] += 1).unwrap();
        s.delete(&t, &3).unwrap();
        assert_eq!(s.upsert(&t, 5, account(50)).unwrap(), None);
        assert_open(&s, "after five DML statements");

        // Another session commits a row after the implicit transaction began.
        db.session().insert(&t, 6, account(60)).unwrap();

        let mine = vec![
            (1, account(11)),
            (2, account(21)),
            (4, account(40)),
            (5, account(50)),
        ];
        assert_eq!(s.scan(&t, ..).unwrap(), mine, "own writes, one snapshot");
        assert_eq!(s.get(&t, &6).unwrap(), None, "a later commit is not in the snapshot");
        for key in 1..=5 {
            let before = [None, Some(10), Some(20), Some(30), None, None][key as usize];
            assert_eq!(seen_by_others(&db, &t, key), before.map(account), "key {key}");
        }

        s.commit().unwrap();
        assert_boundary(&s, "after commit");
        let mut all = mine;
        all.push((6, account(60)));
        assert_eq!(latest(&db, &t), all);
    }

    /// With autocommit off, `rollback` discards every statement of the
    /// implicit transaction; the session stays in autocommit off, and its
    /// next statement opens a new implicit transaction.
    fn autocommit_off_rollback_discards_the_implicit_transaction(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = session(&db, false);
        s.insert(&t, 2, account(20)).unwrap();
        s.update(&t, &1, account(11)).unwrap();
        s.rollback().unwrap();
        assert_boundary(&s, "after rollback");
        assert!(!s.autocommit());
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);

        s.insert(&t, 3, account(30)).unwrap();
        assert_open(&s, "the next statement opens a new implicit transaction");
        assert_eq!(seen_by_others(&db, &t, 3), None);
        s.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(10)), (3, account(30))]);
    }

    /// Dropping a session rolls back what it has pending: the implicit
    /// transaction of autocommit off, or an explicit one. The keys it wrote
    /// take other writers' writes at once.
    fn dropping_the_session_rolls_back_its_open_transaction(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut implicit = session(&db, false);
        implicit.insert(&t, 2, account(20)).unwrap();
        implicit.update(&t, &1, account(11)).unwrap();
        drop(implicit);
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);

        let mut explicit = db.session();
        explicit.begin().unwrap();
        explicit.insert(&t, 3, account(30)).unwrap();
        explicit.update(&t, &1, account(12)).unwrap();
        drop(explicit);
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);

        let mut other = db.session();
        other.update(&t, &1, account(13)).unwrap();
        other.insert(&t, 2, account(2)).unwrap();
        other.insert(&t, 3, account(3)).unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(13)), (2, account(2)), (3, account(3))]);
    }

    // ---- changing autocommit ----

    /// Turning autocommit on commits the pending DML of the implicit
    /// transaction (and bumps the system version once); from then on each
    /// statement commits at once. Turning it off with nothing pending opens
    /// nothing.
    fn changing_autocommit_commits_pending_dml(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = session(&db, false);
        s.insert(&t, 2, account(20)).unwrap();
        s.modify(&t, &1, |r| r[0] += 1).unwrap();
        let (system, user) = s.context().versions();
        s.set_autocommit(true).unwrap();
        assert!(s.autocommit());
        assert_boundary(&s, "after turning autocommit on");
        assert_eq!(s.context().versions(), (system + 1, user));
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(20))]);

        s.insert(&t, 3, account(30)).unwrap();
        assert_eq!(seen_by_others(&db, &t, 3), Some(account(30)));

        s.set_autocommit(false).unwrap();
        assert!(!s.autocommit());
        assert_boundary(&s, "after turning autocommit off");
        assert_eq!(s.context().versions(), (system + 2, user));
    }

    /// Setting autocommit to the value it has changes nothing: the pending
    /// implicit transaction stays open and unseen, and no version moves.
    fn setting_autocommit_to_its_value_changes_nothing(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut s = db.session();
        let versions = s.context().versions();
        s.set_autocommit(true).unwrap();
        assert_eq!(s.context().versions(), versions, "on, set on");
        assert_boundary(&s, "on, set on");

        s.set_autocommit(false).unwrap();
        s.insert(&t, 1, account(1)).unwrap();
        let versions = s.context().versions();
        s.set_autocommit(false).unwrap();
        assert_eq!(s.context().versions(), versions, "off, set off");
        assert_open(&s, "off, set off: the implicit transaction goes on");
        assert_eq!(seen_by_others(&db, &t, 1), None, "nothing committed");
        s.rollback().unwrap();
        assert_eq!(latest(&db, &t), vec![]);
    }

    // ---- begin ----

    /// `begin` inside an explicit transaction commits it first, with
    /// autocommit on or off, and opens a new explicit transaction.
    fn begin_inside_an_explicit_transaction_commits_it_first(storage: Storage) {
        for autocommit in [true, false] {
            let (db, t) = accounts(storage);
            let mut s = session(&db, autocommit);
            s.begin().unwrap();
            s.insert(&t, 1, account(1)).unwrap();
            assert_eq!(seen_by_others(&db, &t, 1), None, "autocommit {autocommit}");
            s.begin().unwrap();
            assert_eq!(seen_by_others(&db, &t, 1), Some(account(1)), "autocommit {autocommit}");
            assert_open(&s, "the second begin opened a transaction");

            // The new one is explicit: SET is refused, and rollback ends it.
            assert_err!(s.set_var("x", Value::Int(1)), NotAllowedInTransaction);
            s.insert(&t, 2, account(2)).unwrap();
            s.rollback().unwrap();
            assert_eq!(latest(&db, &t), vec![(1, account(1))], "autocommit {autocommit}");
        }
    }

    /// `begin` after statements of an implicit transaction (autocommit off)
    /// commits them first, and opens an explicit transaction.
    fn begin_after_an_implicit_transaction_commits_it_first(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut s = session(&db, false);
        s.insert(&t, 1, account(1)).unwrap();
        s.begin().unwrap();
        assert_eq!(seen_by_others(&db, &t, 1), Some(account(1)));
        assert_open(&s, "begin opened an explicit transaction");
        assert_err!(s.set_autocommit(true), NotAllowedInTransaction);
        s.insert(&t, 2, account(2)).unwrap();
        s.rollback().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(1))]);
    }

    // ---- SET in a transaction ----

    /// Inside an explicit transaction (autocommit on or off), `set_var` and
    /// `set_autocommit` fail with `NotAllowedInTransaction` and change
    /// nothing (values, versions); the transaction goes on, takes more
    /// statements and commits all of them.
    fn set_var_and_set_autocommit_fail_inside_an_explicit_transaction_which_goes_on(
        storage: Storage
    ) {
        for autocommit in [true, false] {
            let (db, t) = accounts(storage);
            let mut s = session(&db, autocommit);
            s.set_var("x", Value::Int(1)).unwrap();
            s.begin().unwrap();
            s.insert(&t, 1, account(1)).unwrap();
            let before = s.context();
            assert_err!(s.set_var("x", Value::Int(2)), NotAllowedInTransaction);
            assert_err!(s.set_var("y", Value::Null), NotAllowedInTransaction);
            assert_err!(s.set_autocommit(!autocommit), NotAllowedInTransaction);
            assert_eq!(s.context(), before, "autocommit {autocommit}: nothing changed");
            assert_eq!(s.var("x"), Some(Value::Int(1)));
            assert_eq!(s.var("y"), None);
            assert_eq!(s.autocommit(), autocommit);

            assert_open(&s, "the transaction goes on");
            s.insert(&t, 2, account(2)).unwrap();
            assert_eq!(seen_by_others(&db, &t, 1), None, "autocommit {autocommit}");
            s.commit().unwrap();
            assert_eq!(latest(&db, &t), vec![(1, account(1)), (2, account(2))]);
            s.set_var("x", Value::Int(3)).unwrap();
            assert_eq!(s.var("x"), Some(Value::Int(3)));
        }
    }

    /// In an implicit transaction (autocommit off) `set_var` is allowed:
    /// MatrixOne forbids SET only inside an explicit transaction (shared/
    /// ANCHORS.md §4.1), and a variable is not transactional, so the SET
    /// neither commits nor ends the transaction, and a rollback keeps it.
    fn set_var_in_an_implicit_transaction_is_allowed_and_the_transaction_goes_on(
        storage: Storage
    ) {
        let (db, t) = accounts(storage);
        let mut s = session(&db, false);
        s.insert(&t, 1, account(1)).unwrap();
        let (system, user) = s.context().versions();
        s.set_var("x", Value::Text("a".into())).unwrap();
        assert_eq!(s.context().versions(), (system, user + 1));
        assert_open(&s, "the implicit transaction goes on");
        assert_eq!(seen_by_others(&db, &t, 1), None, "SET committed nothing");
        s.rollback().unwrap();
        assert_eq!(latest(&db, &t), vec![]);
        assert_eq!(s.var("x"), Some(Value::Text("a".into())), "rollback keeps variables");
    }

    // ---- write conflicts ----

    /// A write conflict inside an explicit transaction rolls all of it back
    /// (its earlier statements are gone, their keys free), the statement
    /// gets `WriteConflict`, and the session is at a boundary: `commit` has
    /// nothing to do, and the next statement starts afresh (autocommit on:
    /// its own transaction, seeing the rival's commit).
    fn a_write_conflict_in_an_explicit_transaction_rolls_it_back_to_a_boundary(
        storage: Storage
    ) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = db.session();
        let mut rival = db.session();
        s.begin().unwrap();
        s.insert(&t, 2, account(20)).unwrap();
        rival.update(&t, &1, account(11)).unwrap();
        assert_err!(s.modify(&t, &1, |r| r[0] += 100), WriteConflict);
        assert_boundary(&s, "after the conflict");
        s.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11))], "the insert is gone");

        rival.insert(&t, 2, account(2)).unwrap();
        s.modify(&t, &1, |r| r[0] += 100).unwrap();
        assert_boundary(&s, "the next statement was its own transaction");
        assert_eq!(latest(&db, &t), vec![(1, account(111)), (2, account(2))]);
    }

    /// A write conflict inside an implicit transaction (autocommit off)
    /// rolls all of it back to a boundary; autocommit stays off, and the
    /// next statement opens a new implicit transaction with a fresh
    /// snapshot.
    fn a_write_conflict_in_an_implicit_transaction_rolls_it_back_to_a_boundary(
        storage: Storage
    ) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut s = session(&db, false);
        let mut rival = session(&db, false);
        s.insert(&t, 2, account(20)).unwrap();
        rival.update(&t, &1, account(11)).unwrap();
        assert_err!(s.update(&t, &1, account(0)), WriteConflict);
        assert_boundary(&s, "after the conflict");
        assert!(!s.autocommit());
        rival.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11))], "the insert is gone");

        assert_eq!(s.get(&t, &1).unwrap(), Some(account(11)), "a fresh snapshot");
        assert_open(&s, "the next statement opened a transaction");
        s.insert(&t, 2, account(21)).unwrap();
        s.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(21))]);
    }

    // ---- answers ----

    /// Each statement returns what the transaction call returns, good input
    /// and bad: `DuplicateKey` for an insert of an existing key, `NotFound`
    /// for an update, modify or delete of a missing one, `ForeignTable` for
    /// another database's table. Checked with autocommit on, off, and in an
    /// explicit transaction, against a bare `Transaction` on a twin
    /// database; the rows each ends with are the same.
    fn each_statement_returns_what_the_transaction_call_returns(storage: Storage) {
        let (elsewhere, foreign) = accounts(storage);
        for mode in ["autocommit on", "autocommit off", "explicit"] {
            let (db, t) = accounts_with(storage, &[(1, 10), (2, 20)]);
            let (twin, u) = accounts_with(storage, &[(1, 10), (2, 20)]);
            let mut s = session(&db, mode == "autocommit on");
            if mode == "explicit" {
                s.begin().unwrap();
            }
            let mut tx = twin.begin();
            let compare = |what: &str, mine: String, theirs: String| {
                assert_eq!(mine, theirs, "{mode}: {what}");
            };
            macro_rules! both {
                ($what:expr, |$x:ident, $table:ident| $call:expr) => {{
                    let mine = {
                        let $x = &mut s;
                        let $table = &t;
                        $call
                    };
                    let theirs = {
                        let $x = &mut tx;
                        let $table = &u;
                        $call
                    };
                    compare($what, answer(&mine), answer(&theirs));
                    mine
                }};
            }
            both!("get", |x, t| x.get(t, &1)).unwrap();
            both!("get missing", |x, t| x.get(t, &9)).unwrap();
            both!("insert", |x, t| x.insert(t, 3, account(30))).unwrap();
            assert_err!(both!("insert existing", |x, t| x.insert(t, 1, account(0))), DuplicateKey);
            both!("update", |x, t| x.update(t, &1, account(11))).unwrap();
            assert_err!(both!("update missing", |x, t| x.update(t, &9, account(0))), NotFound);
            both!("modify", |x, t| x.modify(t, &2, |r| r[0] += 1)).unwrap();
            assert_err!(both!("modify missing", |x, t| x.modify(t, &9, |r| r[0] += 1)), NotFound);
            both!("delete", |x, t| x.delete(t, &3)).unwrap();
            assert_err!(both!("delete missing", |x, t| x.delete(t, &3)), NotFound);
            both!("upsert new", |x, t| x.upsert(t, 4, account(40))).unwrap();
            both!("upsert existing", |x, t| x.upsert(t, 4, account(41))).unwrap();
            // `Transaction::scan` returns an iterator; the session collects it.
            let mine = s.scan(&t, ..).unwrap();
            let theirs: Vec<_> = tx.scan(&u, ..).unwrap().collect();
            assert_eq!(mine, theirs, "{mode}: scan");

            assert_err!(both!("get foreign", |x, _t| x.get(&foreign, &1)), ForeignTable);
            let mine = s.scan(&foreign, ..).map(drop);
            let theirs = tx.scan(&foreign, ..).map(drop);
            compare("scan foreign", answer(&mine), answer(&theirs));
            assert_err!(mine, ForeignTable);
            assert_err!(
                both!("insert foreign", |x, _t| x.insert(&foreign, 5, account(0))),
                ForeignTable
            );
            assert_err!(
                both!("update foreign", |x, _t| x.update(&foreign, &1, account(0))),
                ForeignTable
            );
            assert_err!(
                both!("modify foreign", |x, _t| x.modify(&foreign, &1, |r| r[0] += 1)),
                ForeignTable
            );
            assert_err!(both!("delete foreign", |x, _t| x.delete(&foreign, &1)), ForeignTable);
            assert_err!(
                both!("upsert foreign", |x, _t| x.upsert(&foreign, 5, account(0))),
                ForeignTable
            );

            // The bad statements doomed nothing: everything good commits.
            s.commit().unwrap();
            tx.commit().unwrap();
            assert_eq!(latest(&db, &t), latest(&twin, &u), "{mode}");
            assert_eq!(
                latest(&db, &t),
                vec![(1, account(11)), (2, account(21)), (4, account(41))],
                "{mode}"
            );
            assert_eq!(latest(&elsewhere, &foreign), vec![], "{mode}");
        }
    }

    /// `commit` and `rollback` with no transaction open are `Ok(())` and do
    /// nothing: no transaction opens, no version moves, with autocommit on
    /// or off, on a new session and after a transaction ended.
    fn commit_and_rollback_with_nothing_open_are_ok(storage: Storage) {
        for autocommit in [true, false] {
            let (db, t) = accounts(storage);
            let mut s = session(&db, autocommit);
            let context = s.context();
            s.commit().unwrap();
            s.rollback().unwrap();
            s.commit().unwrap();
            assert_boundary(&s, "after commit and rollback of nothing");
            assert_eq!(s.context(), context, "autocommit {autocommit}");
            s.begin().unwrap();
            s.insert(&t, 1, account(1)).unwrap();
            s.commit().unwrap();
            s.commit().unwrap();
            s.rollback().unwrap();
            assert_eq!(latest(&db, &t), vec![(1, account(1))], "autocommit {autocommit}");
        }
    }

    // ---- boundaries ----

    /// With autocommit on, every statement, whatever its kind, ends at a
    /// boundary; so do `set_var`, `commit` and `rollback`.
    fn with_autocommit_on_every_statement_ends_at_a_boundary(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
        let mut s = db.session();
        assert_boundary(&s, "a new session");
        for (i, kind) in KINDS.iter().enumerate() {
            run_kind(&mut s, &t, kind, i as u64);
            assert_boundary(&s, kind);
        }
        s.set_var("x", Value::Bool(true)).unwrap();
        assert_boundary(&s, "set_var");
        s.commit().unwrap();
        assert_boundary(&s, "commit");
        s.rollback().unwrap();
        assert_boundary(&s, "rollback");
    }

    /// With autocommit off, every DML statement, reads included, opens an
    /// implicit transaction when none is open (and the next ones stay in
    /// it); `set_var` opens none; `commit` and `rollback` end it.
    fn with_autocommit_off_every_dml_statement_opens_an_implicit_transaction(
        storage: Storage
    ) {
        let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
        let mut s = session(&db, false);
        s.set_var("x", Value::Bool(true)).unwrap();
        assert_boundary(&s, "set_var");
        for (i, kind) in KINDS.iter().enumerate() {
            run_kind(&mut s, &t, kind, i as u64);
            assert_open(&s, kind);
            run_kind(&mut s, &t, kind, 10 + i as u64);
            assert_open(&s, kind);
            if i % 2 == 0 {
                s.commit().unwrap();
                assert_boundary(&s, &format!("commit after {kind}"));
            } else {
                s.rollback().unwrap();
                assert_boundary(&s, &format!("rollback after {kind}"));
            }
        }
    }

    /// `begin` opens a transaction that statements of every kind leave
    /// open, with autocommit on or off; only `commit`, `rollback` (or a
    /// write conflict) end it.
    fn begin_opens_a_transaction_that_every_statement_leaves_open(storage: Storage) {
        for autocommit in [true, false] {
            let (db, t) = accounts_with(storage, &[(1, 10), (2, 20), (3, 30)]);
            let mut s = session(&db, autocommit);
            s.begin().unwrap();
            assert_open(&s, "begin");
            for (i, kind) in KINDS.iter().enumerate() {
                run_kind(&mut s, &t, kind, i as u64);
                assert_open(&s, kind);
            }
            assert_err!(s.set_var("x", Value::Int(0)), NotAllowedInTransaction);
            assert_open(&s, "a refused set_var");
            s.commit().unwrap();
            assert_boundary(&s, "commit");
            s.begin().unwrap();
            s.rollback().unwrap();
            assert_boundary(&s, "rollback");
        }
    }

    // ---- user code ----

    /// A panic in a `modify` closure inside a session's transaction
    /// (explicit, or implicit with autocommit off) leaves the session
    /// usable: the transaction is gone at once (the session is at a
    /// boundary, its earlier writes undone and their keys free for another
    /// writer), and the next statement works.
    fn a_panic_in_a_modify_closure_leaves_the_session_usable_at_a_boundary(
        storage: Storage
    ) {
        for explicit in [true, false] {
            let (db, t) = accounts_with(storage, &[(1, 10)]);
            let mut s = session(&db, explicit);
            if explicit {
                s.begin().unwrap();
            }
            s.insert(&t, 2, account(20)).unwrap();
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                s.modify(&t, &1, |_| panic!("a closure that panics"))
            }));
            assert!(caught.is_err(), "the panic propagates");
            assert_boundary(&s, &format!("explicit {explicit}: after the panic"));

            // The earlier insert is undone, and its key takes another writer.
            let mut other = db.session();
            other.insert(&t, 2, account(2)).unwrap();
            assert_eq!(latest(&db, &t), vec![(1, account(10)), (2, account(2))]);

            s.modify(&t, &1, |r| r[0] += 1).unwrap();
            s.commit().unwrap();
            assert_boundary(&s, "after the next statement");
            assert_eq!(latest(&db, &t), vec![(1, account(11)), (2, account(2))]);
        }
    }

    /// Isolation is a system variable: in the context, versioned with
    /// autocommit, copied by `sync_from` (and so with a switchover's move),
    /// refused inside an explicit transaction, and used by the next
    /// transaction the session begins.
    fn isolation_is_a_system_variable_of_the_context(storage: Storage) {
        let db = Database::new(storage);
        let mut client = db.session();
        assert_eq!(client.context().isolation(), Isolation::Snapshot);
        let (system, _) = client.context().versions();
        client.set_isolation(Isolation::Serializable).unwrap();
        assert_eq!(client.context().versions().0, system + 1);
        client.set_isolation(Isolation::Serializable).unwrap();
        assert_eq!(client.context().versions().0, system + 1, "the same value changes nothing");
        let mut backend = db.session();
        assert_eq!(backend.sync_from(&client.context()).unwrap(), 1);
        assert_eq!(backend.isolation(), Isolation::Serializable);
        assert_eq!(backend.context(), client.context());
        client.begin().unwrap();
        assert_err!(client.set_isolation(Isolation::Snapshot), NotAllowedInTransaction);
        assert_eq!(client.isolation(), Isolation::Serializable);
        client.commit().unwrap();
    }

    // ---- ODP ----

    /// ODP's example, with sync: a client session sets autocommit off; its
    /// first insert is routed to backend session 1, its second to backend
    /// session 2, each synced from the client's context first. Backend 2 is
    /// then not in autocommit, and nothing is committed on it alone: both
    /// inserts are pending until a commit reaches each backend.
    fn odp_example_with_sync_backend_2_is_not_in_autocommit_and_commits_nothing_alone(
        storage: Storage
    ) {
        let (db, t) = accounts(storage);
        let mut client = db.session();
        let (mut b1, mut b2) = (db.session(), db.session());
        client.set_autocommit(false).unwrap();

        assert_eq!(b1.sync_from(&client.context()).unwrap(), 1, "the system category");
        b1.insert(&t, 1, account(1)).unwrap();
        assert_eq!(b2.sync_from(&client.context()).unwrap(), 1, "the system category");
        assert!(!b2.autocommit());
        b2.insert(&t, 2, account(2)).unwrap();
        assert_open(&b2, "backend 2 holds its insert in a transaction");
        assert_eq!(latest(&db, &t), vec![], "nothing committed alone");

        b2.rollback().unwrap();
        b1.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(1))]);
    }

    /// ODP's example without sync, the anomaly ODP's versions prevent:
    /// backend session 1 received the client's `autocommit = off`, backend 2
    /// did not, so the client's second insert, routed to backend 2, commits
    /// at once and alone, and a rollback of the client's transaction cannot
    /// undo it.
    fn odp_example_without_sync_backend_2_commits_its_insert_at_once(storage: Storage) {
        let (db, t) = accounts(storage);
        let mut client = db.session();
        let (mut b1, mut b2) = (db.session(), db.session());
        client.set_autocommit(false).unwrap();

        b1.sync_from(&client.context()).unwrap();
        b1.insert(&t, 1, account(1)).unwrap();
        b2.insert(&t, 2, account(2)).unwrap();
        assert!(b2.autocommit());
        assert_boundary(&b2, "backend 2 committed its insert");
        b1.rollback().unwrap();
        b2.rollback().unwrap();
        assert_eq!(latest(&db, &t), vec![(2, account(2))], "the anomaly");
    }
}

// ---- ODP routing, property test ----

/// A variable name of the property test: a few, so that sets overwrite.
const NAMES: [&str; 3] = ["a", "b", "c"];

/// What the client session does before a statement is routed.
#[derive(Debug, Clone)]
enum Change {
    None,
    Autocommit(bool),
    Var(usize, Value),
}

/// What the routed statement is.
#[derive(Debug, Clone, Copy)]
enum Routed {
    Insert,
    Commit,
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (-3i64..3).prop_map(Value::Int),
        "[a-c]{0,2}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        2 => Just(Change::None),
        3 => any::<bool>().prop_map(Change::Autocommit),
        3 => (0..NAMES.len(), value()).prop_map(|(i, v)| Change::Var(i, v)),
    ]
}

fn routed() -> impl Strategy<Value = Routed> {
    prop_oneof![3 => Just(Routed::Insert), 1 => Just(Routed::Commit)]
}

const BACKENDS: usize = 3;

/// Replays `steps` on every store: the client changes its state, then a
/// statement is routed to a backend session, which syncs from the client's
/// context first. Checks after each step:
///
/// * the client's versions move as a model says: the system version once
///   per change of autocommit's value, the user version once per `set_var`;
/// * the sync copied exactly the categories whose version was ahead of the
///   backend's (its count), and the backend then has the client's
///   versions, autocommit and every variable;
/// * the committed rows are what the routing implies: an insert on a
///   backend in autocommit commits at once; one in autocommit off waits for
///   a commit routed to that backend, or for a sync that turns its
///   autocommit on (which commits pending DML).
fn replay(storage: Storage, steps: &[(Change, usize, Routed)]) {
    let (db, t) = accounts(storage);
    let mut client = db.session();
    let mut backends: Vec<Session> = (0..BACKENDS).map(|_| db.session()).collect();
    let mut pending: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); BACKENDS];
    let mut committed = BTreeSet::new();
    let mut model = client.context().versions();
    for (step, (change, to, routed)) in steps.iter().enumerate() {
        match change {
            Change::None => {}
            Change::Autocommit(on) => {
                if *on != client.autocommit() {
                    model.0 += 1;
                }
                client.set_autocommit(*on).unwrap();
            }
            Change::Var(i, v) => {
                model.1 += 1;
                client.set_var(NAMES[*i], v.clone()).unwrap();
            }
        }
        let ctx = client.context();
        assert_eq!(ctx.versions(), model, "step {step}: client versions");

        let b = &mut backends[*to];
        let (system, user) = b.context().versions();
        let stale = usize::from(model.0 > system) + usize::from(model.1 > user);
        let turns_autocommit_on = ctx.autocommit() && !b.autocommit();
        assert_eq!(
            b.sync_from(&ctx).unwrap(),
            stale,
            "step {step}: categories copied"
        );
        if turns_autocommit_on {
            committed.append(&mut pending[*to]);
        }
        assert_eq!(
            b.context().versions(),
            model,
            "step {step}: backend versions"
        );
        assert_eq!(
            b.autocommit(),
            client.autocommit(),
            "step {step}: autocommit"
        );
        for name in NAMES {
            assert_eq!(
                b.var(name),
                client.var(name),
                "step {step}: variable {name}"
            );
        }
        assert_eq!(b.context(), ctx, "step {step}: the whole context");

        match routed {
            Routed::Insert => {
                let key = step as u64;
                b.insert(&t, key, account(key as i64)).unwrap();
                if b.autocommit() {
                    committed.insert(key);
                } else {
                    pending[*to].insert(key);
                }
            }
            Routed::Commit => {
                b.commit().unwrap();
                committed.append(&mut pending[*to]);
            }
        }
        for (i, b) in backends.iter().enumerate() {
            assert_eq!(
                b.in_transaction(),
                !pending[i].is_empty(),
                "step {step}: backend {i}"
            );
        }
        let rows: BTreeSet<u64> = latest(&db, &t).into_iter().map(|(k, _)| k).collect();
        assert_eq!(rows, committed, "step {step}: committed rows");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// ODP's routing: whatever the client does, a backend synced before each
    /// statement observes the client's state, the sync copies only the
    /// categories that are stale, and no statement commits where the client
    /// would not have.
    #[test]
    fn odp_routing_syncs_only_stale_categories_and_backends_observe_the_client(
        steps in proptest::collection::vec((change(), 0..BACKENDS, routed()), 1..40)
    ) {
        for_each_store(|storage| replay(storage, &steps));
    }
}
