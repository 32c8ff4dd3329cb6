//! Bad input gets a clear error, never a panic or a corrupted table: every
//! variant of `Error`, and `Error` itself as a `std::error::Error`.

use crate::common::*;
use multiverse::{Database, Error, Storage, Table};
use std::collections::HashSet;

/// Every variant that the API can return, made by the calls that return
/// them, for the tests of `Display` and `std::error::Error`.
fn variants() -> Vec<Error> {
    let db = Database::builder().gc(multiverse::GcPolicy::Off).build();
    let t: Accounts = db.create_table("accounts").unwrap();
    let foreign: Accounts = Database::new(Storage::default())
        .create_table("accounts")
        .unwrap();
    let first = load(&db, &t, [(1, account(1))]);
    let mut tx = db.begin();
    tx.update(&t, &1, account(2)).unwrap();
    tx.commit().unwrap();
    db.vacuum();
    // A timestamp this database has not reached: another one's, further on.
    let (busier, b) = accounts(Storage::default());
    for k in 0..5 {
        load(&busier, &b, [(k, account(0))]);
    }
    let future = busier.snapshot().timestamp();
    vec![
        Error::WriteConflict,
        Error::Aborted,
        Error::DuplicateKey,
        Error::NotFound,
        db.create_table::<u64, [i64; 4]>("accounts").unwrap_err(),
        db.table::<u64, [i64; 4]>("missing").unwrap_err(),
        db.table::<u32, [i64; 4]>("accounts").unwrap_err(),
        db.begin().get(&foreign, &1).unwrap_err(),
        db.snapshot_at(first).unwrap_err(),
        db.snapshot_at(future).unwrap_err(),
        Error::io(std::io::Error::other("refused"), "spawn a thread"),
    ]
}

#[test]
fn error_implements_std_error_and_display() {
    let mut texts = HashSet::new();
    for e in variants() {
        let text = e.to_string();
        assert!(!text.is_empty(), "{e:?} displays as nothing");
        assert!(texts.insert(text), "{e:?} displays like another variant");
        let is_io = matches!(e, Error::Io { .. });
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e.clone());
        assert_eq!(boxed.source().is_some(), is_io, "{e:?}");
        assert_eq!(boxed.to_string(), e.to_string());
    }
    assert!(Error::WriteConflict.to_string().contains("conflict"));
    // `?` turns it into a boxed error.
    fn open(db: &Database) -> Result<Accounts, Box<dyn std::error::Error>> {
        Ok(db.table("missing")?)
    }
    let err = open(&Database::new(Storage::default())).unwrap_err();
    assert_eq!(
        err.to_string(),
        Database::new(Storage::default())
            .table::<u64, [i64; 4]>("missing")
            .unwrap_err()
            .to_string()
    );
    assert!(err.to_string().contains("missing"), "{err}");
}

/// The errors with fields carry what the message needs: the table's name,
/// and for a schema mismatch both type pairs.
#[test]
fn errors_name_the_table_and_the_types() {
    let db = Database::new(Storage::default());
    let _t: Accounts = db.create_table("accounts").unwrap();
    match db.create_table::<u64, [i64; 4]>("accounts") {
        Err(Error::TableExists { name, .. }) => assert_eq!(name, "accounts"),
        other => panic!("{other:?}"),
    }
    match db.table::<u64, [i64; 4]>("nope") {
        Err(Error::NoSuchTable { name, .. }) => assert_eq!(name, "nope"),
        other => panic!("{other:?}"),
    }
    match db.table::<u32, Vec<u8>>("accounts") {
        Err(Error::SchemaMismatch {
            table,
            expected,
            found,
            ..
        }) => {
            assert_eq!(table, "accounts");
            assert_eq!(expected, "Table<u32, alloc::vec::Vec<u8>>");
            assert_eq!(found, "Table<u64, [i64; 4]>");
        }
        other => panic!("{other:?}"),
    }
}

for_each_store! {
    /// Creating a table whose name is taken is `TableExists`, whatever the
    /// types asked for; the existing table is untouched.
    fn creating_a_table_twice_is_table_exists(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        assert_err!(db.create_table::<u64, [i64; 4]>("accounts"), TableExists);
        assert_err!(db.create_table::<String, Vec<u8>>("accounts"), TableExists);
        assert_eq!(db.table_names(), vec!["accounts".to_string()]);
        assert_eq!(latest(&db, &t), vec![(1, account(10))]);
        let again: Accounts = db.table("accounts").unwrap();
        assert_eq!(latest(&db, &again), vec![(1, account(10))]);
    }

    /// Opening a table that does not exist is `NoSuchTable`.
    fn opening_a_missing_table_is_no_such_table(storage: Storage) {
        let (db, _t) = accounts(storage);
        assert_err!(db.table::<u64, [i64; 4]>("Accounts"), NoSuchTable);
        assert_err!(db.table::<u64, [i64; 4]>(""), NoSuchTable);
        assert_err!(
            Database::new(storage).table::<u64, [i64; 4]>("accounts"),
            NoSuchTable
        );
    }

    /// Opening a table with another key type, or another tuple type, is
    /// `SchemaMismatch`; with the right types it opens the same table.
    fn opening_a_table_with_other_types_is_schema_mismatch(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        assert_err!(
            db.table::<u32, [i64; 4]>("accounts"),
            SchemaMismatch,
            "key type"
        );
        assert_err!(
            db.table::<i64, [i64; 4]>("accounts"),
            SchemaMismatch,
            "key type"
        );
        assert_err!(
            db.table::<u64, [i64; 3]>("accounts"),
            SchemaMismatch,
            "tuple type"
        );
        assert_err!(
            db.table::<u64, [i32; 4]>("accounts"),
            SchemaMismatch,
            "tuple type"
        );
        assert_err!(
            db.table::<u64, Vec<i64>>("accounts"),
            SchemaMismatch,
            "tuple type"
        );
        assert_err!(
            db.table::<String, Vec<u8>>("accounts"),
            SchemaMismatch,
            "both"
        );
        let same: Accounts = db.table("accounts").unwrap();
        let mut tx = db.begin();
        tx.modify(&same, &1, |r| r[0] += 1).unwrap();
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11))]);
    }

    /// A table handle of another database is `ForeignTable` for every call,
    /// even with the same name and types; neither database changes, and
    /// the transaction goes on (only a write conflict rolls it back).
    fn a_table_of_another_database_is_foreign_table(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let (other, foreign) = accounts_with(storage, &[(1, 99)]);
        let mut tx = db.begin();
        tx.insert(&t, 2, account(20)).unwrap();
        assert_err!(tx.get(&foreign, &1), ForeignTable, "get");
        assert_err!(tx.read(&foreign, &1, |r| r.is_some()), ForeignTable, "read");
        assert_err!(tx.scan(&foreign, ..), ForeignTable, "scan");
        assert_err!(tx.insert(&foreign, 3, account(0)), ForeignTable, "insert");
        assert_err!(tx.update(&foreign, &1, account(0)), ForeignTable, "update");
        assert_err!(
            tx.modify(&foreign, &1, |r| r[0] = 0),
            ForeignTable,
            "modify"
        );
        assert_err!(tx.delete(&foreign, &1), ForeignTable, "delete");
        assert!(tx.is_active());
        tx.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(10)), (2, account(20))]);
        assert_eq!(latest(&other, &foreign), vec![(1, account(99))]);
        // So is a table of a database over any store, this one's included.
        for s in Storage::ALL {
            let e: Table<u64, [i64; 4]> = Database::new(s).create_table("accounts").unwrap();
            assert_err!(db.begin().get(&e, &1), ForeignTable, "a table over {s}");
        }
    }

    /// After a write conflict every call is `Aborted`, `commit` included,
    /// and the aborted transaction can still be rolled back or dropped.
    fn use_of_an_aborted_transaction_is_aborted(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let mut winner = db.begin();
        let mut loser = db.begin();
        winner.update(&t, &1, account(11)).unwrap();
        assert_err!(loser.update(&t, &1, account(12)), WriteConflict);
        assert_aborted(loser, &t);
        let mut loser = db.begin();
        assert_err!(loser.delete(&t, &1), WriteConflict);
        assert_err!(loser.get(&t, &1), Aborted);
        loser.rollback();
        let mut loser = db.begin();
        assert_err!(loser.modify(&t, &1, |r| r[0] = 0), WriteConflict);
        drop(loser);
        winner.commit().unwrap();
        assert_eq!(latest(&db, &t), vec![(1, account(11))]);
    }
}
