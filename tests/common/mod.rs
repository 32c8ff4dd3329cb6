//! What the integration tests share: running one test body on every version
//! store, and the databases, tables and reads that most tests start from.
//!
//! A test file declares the module at its root, with `#[macro_use]` so that
//! the [`for_each_store!`] macro is in scope for everything declared after it:
//!
//! ```ignore
//! #[macro_use]
//! mod common;
//!
//! use common::*;
//! use multiverse::Storage;
//!
//! for_each_store! {
//!     /// A doc comment saying what the test proves.
//!     fn a_transaction_reads_its_own_insert(storage: Storage) {
//!         let (db, accounts) = accounts(storage);
//!         // ...
//!     }
//! }
//! ```
//!
//! # Every store, never a hard-coded list
//!
//! [`for_each_store`] (the function) and [`for_each_store!`] (the macro,
//! which makes one `#[test]` of each function it is given) run the body once
//! per entry of [`Storage::ALL`], so a store added to that list is tested
//! without touching any test. A store that panics does not hide the others:
//! every store runs, and the test then fails with one line per failing store,
//! naming it (`Delta (delta): assertion failed ...`).
//!
//! Not every test file uses every helper; hence the `dead_code` allowance,
//! for this module only.

#![allow(dead_code)]

pub mod hermitage;

use multiverse::{Database, Key, Storage, Table, Timestamp, Transaction, Tuple};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Runs `f` once for every store in [`Storage::ALL`], in order.
///
/// Every store runs even if an earlier one panics; afterwards, if any did,
/// this panics with one line per failing store: its name and its panic
/// message. (Each panic's location is printed by the panic hook as it
/// happens, in the test's captured output.)
pub fn for_each_store(f: impl Fn(Storage)) {
    let mut failures = Vec::new();
    for storage in Storage::ALL {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(storage))) {
            failures.push(format!(
                "{storage:?} ({storage}): {}",
                panic_message(payload.as_ref())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "failed on {} of {} stores:\n  {}",
        failures.len(),
        Storage::ALL.len(),
        failures.join("\n  ")
    );
}

/// Turns each `fn name(storage: Storage) { body }` into a `#[test] fn name()`
/// that runs `body` on every store of [`Storage::ALL`] through
/// [`for_each_store`]. Attributes and doc comments are kept.
///
/// Needs `mod common;` at the root of the test crate (it calls
/// `$crate::common::for_each_store`).
#[allow(unused_macros)]
macro_rules! for_each_store {
    ($(
        $(#[$meta:meta])*
        fn $name:ident($storage:ident: $storage_type:ty) $body:block
    )*) => {$(
        $(#[$meta])*
        #[test]
        fn $name() {
            $crate::common::for_each_store(|$storage: $storage_type| $body);
        }
    )*};
}

/// Asserts that a `Result` is an `Err` of the given [`multiverse::Error`]
/// variant, matched by variant (`{ .. }`, so that variants may carry fields),
/// with an optional message for context:
/// `assert_err!(tx.update(&t, &1, row), WriteConflict, "on {storage}")`.
/// The `Ok` value needs no `Debug`.
#[allow(unused_macros)]
macro_rules! assert_err {
    ($result:expr, $variant:ident $(,)?) => {
        assert_err!($result, $variant, "")
    };
    ($result:expr, $variant:ident, $($context:tt)+) => {
        match $result {
            Err(::multiverse::Error::$variant { .. }) => {}
            Err(other) => panic!(
                "expected Err({}), got Err({:?}) ({}): {}",
                stringify!($variant),
                other,
                other,
                format_args!($($context)+)
            ),
            Ok(_) => panic!(
                "expected Err({}), got Ok: {}",
                stringify!($variant),
                format_args!($($context)+)
            ),
        }
    };
}

/// The text of a panic payload (`panic!` with a literal or a format string),
/// or a placeholder for any other payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_owned()
    }
}

/// The table most tests use: account number to four attributes, the first
/// one a balance.
pub type Accounts = Table<u64, [i64; 4]>;

/// An account row with this balance and the other attributes 0.
pub fn account(balance: i64) -> [i64; 4] {
    [balance, 0, 0, 0]
}

/// A fresh database over `storage` with an empty `accounts` table.
pub fn accounts(storage: Storage) -> (Database, Accounts) {
    let db = Database::new(storage);
    let table = db
        .create_table("accounts")
        .expect("a fresh database has no tables");
    (db, table)
}

/// A fresh database over `storage` whose `accounts` table holds, committed,
/// one account per `(number, balance)`.
pub fn accounts_with(storage: Storage, balances: &[(u64, i64)]) -> (Database, Accounts) {
    let (db, table) = accounts(storage);
    load(
        &db,
        &table,
        balances.iter().map(|&(k, balance)| (k, account(balance))),
    );
    (db, table)
}

/// Inserts `rows` in one transaction and commits it; panics on any error.
pub fn load<K: Key, T: Tuple>(
    db: &Database,
    table: &Table<K, T>,
    rows: impl IntoIterator<Item = (K, T)>,
) -> Timestamp {
    let mut tx = db.begin();
    for (key, row) in rows {
        tx.insert(table, key, row).expect("insert while loading");
    }
    tx.commit().expect("commit while loading")
}

/// Every row of `table` that `tx` sees, in key order.
pub fn rows<K: Key, T: Tuple>(tx: &Transaction, table: &Table<K, T>) -> Vec<(K, T)> {
    tx.scan(table, ..).expect("scan").collect()
}

/// Every row of `table` in the latest committed state: what a transaction
/// that begins now sees.
pub fn latest<K: Key, T: Tuple>(db: &Database, table: &Table<K, T>) -> Vec<(K, T)> {
    rows(&db.begin(), table)
}

/// The keys of `rows`, in order.
pub fn keys<K: Clone, T>(rows: &[(K, T)]) -> Vec<K> {
    rows.iter().map(|(k, _)| k.clone()).collect()
}

/// The sum of the balances (first attributes) that `tx` sees.
pub fn total(tx: &Transaction, table: &Accounts) -> i64 {
    tx.scan(table, ..).expect("scan").map(|(_, r)| r[0]).sum()
}

/// Asserts that `tx` has been rolled back by a write conflict: it says it is
/// not active, and every call on it answers `Aborted`, `commit` included.
pub fn assert_aborted(mut tx: Transaction, t: &Accounts) {
    assert!(!tx.is_active());
    assert_err!(tx.get(t, &1), Aborted, "get");
    assert_err!(tx.read(t, &1, |r| r.is_some()), Aborted, "read");
    assert_err!(tx.scan(t, ..), Aborted, "scan");
    assert_err!(tx.insert(t, 1000, account(0)), Aborted, "insert");
    assert_err!(tx.update(t, &1, account(0)), Aborted, "update");
    assert_err!(tx.modify(t, &1, |r| r[0] = 0), Aborted, "modify");
    assert_err!(tx.delete(t, &1), Aborted, "delete");
    assert_err!(tx.commit(), Aborted, "commit");
}
