//! A durable database (`DatabaseBuilder::open`): what survives a reopen, a
//! checkpoint, and what a second open, other types or an unencodable type
//! get. Crashes are in `tests/crash.rs`.

#[macro_use]
mod common;

use multiverse::{Database, Durability, Error, Storage, Table};
use std::path::Path;

type Accounts = Table<u64, [i64; 4]>;

fn open(storage: Storage, durability: Durability, dir: &Path) -> Database {
    Database::builder()
        .storage(storage)
        .durability(durability)
        .open(dir)
        .unwrap()
}

fn balances(db: &Database, t: &Accounts) -> Vec<(u64, [i64; 4])> {
    db.snapshot().scan(t, ..).unwrap().collect()
}

for_each_store! {
    /// Every acknowledged commit and every DDL statement is there after a
    /// clean reopen, under both durable modes, with and without a
    /// checkpoint in between; the clock goes on above what was recovered.
    fn commits_and_tables_survive_a_reopen(storage: Storage) {
        for durability in [Durability::Sync, Durability::Buffered] {
            for checkpoint in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let (expected, last) = {
                    let db = open(storage, durability, dir.path());
                    let t: Accounts = db.create_table("accounts").unwrap();
                    let gone: Accounts = db.create_table("gone").unwrap();
                    db.transact(|tx| tx.insert(&gone, 1, [1; 4])).unwrap();
                    db.drop_table("gone").unwrap();
                    for k in 0..50 {
                        db.transact(|tx| tx.insert(&t, k, [k as i64, 0, 0, 0])).unwrap();
                    }
                    if checkpoint {
                        db.checkpoint().unwrap();
                    }
                    for k in 0..50 {
                        db.transact(|tx| tx.modify(&t, &k, |r| r[1] += 7)).unwrap();
                    }
                    for k in 40..50 {
                        db.transact(|tx| tx.delete(&t, &k)).unwrap();
                    }
                    (balances(&db, &t), db.snapshot().timestamp())
                };
                let db = open(storage, durability, dir.path());
                assert_eq!(db.table_names(), ["accounts"]);
                let t = db.table::<u64, [i64; 4]>("accounts").unwrap();
                assert_eq!(balances(&db, &t), expected, "{durability:?} checkpoint={checkpoint}");
                assert_eq!(db.snapshot().timestamp(), last);
                let ts = db.transact(|tx| tx.update(&t, &0, [9; 4])).map(|()| db.snapshot().timestamp()).unwrap();
                assert!(ts > last);
                assert!(matches!(db.table::<u64, [i64; 4]>("gone"), Err(Error::NoSuchTable { .. })));
            }
        }
    }

    /// A snapshot taken before a recovered table is first named still sees
    /// its rows: they are stamped with the recovered timestamp.
    fn a_snapshot_taken_before_a_table_is_named_sees_its_recovered_rows(storage: Storage) {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let db = open(storage, Durability::Sync, dir.path());
            let t: Accounts = db.create_table("accounts").unwrap();
            let before = db.snapshot().timestamp();
            db.transact(|tx| tx.insert(&t, 1, [5; 4])).unwrap();
            before
        };
        let db = open(storage, Durability::Sync, dir.path());
        let early = db.snapshot();
        let t = db.table::<u64, [i64; 4]>("accounts").unwrap();
        assert_eq!(early.get(&t, &1).unwrap(), Some([5; 4]));
        assert!(matches!(
            db.snapshot_at(before),
            Err(Error::SnapshotTooOld { .. })
        ));
    }
}

/// A directory open in one database cannot be opened again until that
/// database is dropped.
#[test]
fn a_second_open_of_a_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(Storage::default(), Durability::Sync, dir.path());
    match Database::builder().open(dir.path()) {
        Err(Error::Locked { path, .. }) => assert_eq!(path, dir.path()),
        other => panic!("{other:?}"),
    }
    drop(db);
    Database::builder().open(dir.path()).unwrap();
}

/// Other key or row types than the table was created with are a
/// `SchemaMismatch`; a type with no encoding is `NotDurable`.
#[test]
fn wrong_types_are_a_schema_mismatch_and_unencodable_ones_not_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(Storage::default(), Durability::Sync, dir.path());
        let t: Accounts = db.create_table("accounts").unwrap();
        db.transact(|tx| tx.insert(&t, 1, [1; 4])).unwrap();
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
        struct Opaque;
        assert!(matches!(
            db.create_table::<Opaque, [i64; 1]>("o"),
            Err(Error::NotDurable { .. })
        ));
        assert!(matches!(
            db.create_table::<u64, Vec<Opaque2>>("p"),
            Err(Error::NotDurable { .. })
        ));
    }
    let db = open(Storage::default(), Durability::Sync, dir.path());
    assert!(matches!(
        db.table::<u64, [i64; 3]>("accounts"),
        Err(Error::SchemaMismatch { .. })
    ));
    assert!(matches!(
        db.table::<i64, [i64; 4]>("accounts"),
        Err(Error::SchemaMismatch { .. })
    ));
    let t = db.table::<u64, [i64; 4]>("accounts").unwrap();
    assert_eq!(db.snapshot().get(&t, &1).unwrap(), Some([1; 4]));
    assert!(matches!(
        db.table::<u64, [i64; 3]>("accounts"),
        Err(Error::SchemaMismatch { .. })
    ));
}

#[derive(Clone, PartialEq)]
struct Opaque2;

/// The directory stays locked while anything that can still commit to its
/// log lives (here a table handle and a transaction that outlive every
/// `Database` handle), and what they commit is recovered.
#[test]
fn the_lock_lives_as_long_as_anything_that_can_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(Storage::default(), Durability::Sync, dir.path());
    let t: Accounts = db.create_table("accounts").unwrap();
    let mut tx = db.begin();
    drop(db);
    assert!(matches!(
        Database::builder().open(dir.path()),
        Err(Error::Locked { .. })
    ));
    tx.insert(&t, 7, [7; 4]).unwrap();
    tx.commit().unwrap();
    drop(t);
    let db = open(Storage::default(), Durability::Sync, dir.path());
    let t = db.table::<u64, [i64; 4]>("accounts").unwrap();
    assert_eq!(db.snapshot().get(&t, &7).unwrap(), Some([7; 4]));
}

/// A hash-indexed table comes back with its hash index through
/// `hash_table`, and without it (served by the skiplist) through `table`;
/// both read the same rows.
#[test]
fn a_hash_indexed_table_reopens_with_or_without_its_hash_index() {
    for via_hash in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(Storage::default(), Durability::Sync, dir.path());
            let t = db.create_hash_table::<String, Vec<u64>>("h").unwrap();
            db.transact(|tx| tx.insert(&t, "k".into(), vec![1, 2, 3]))
                .unwrap();
        }
        let db = open(Storage::default(), Durability::Sync, dir.path());
        let t = if via_hash {
            db.hash_table::<String, Vec<u64>>("h").unwrap()
        } else {
            db.table::<String, Vec<u64>>("h").unwrap()
        };
        assert_eq!(t.hash_indexed(), via_hash);
        assert_eq!(db.snapshot().get(&t, "k").unwrap(), Some(vec![1, 2, 3]));
    }
}

/// A user row type made durable by implementing `Persist` by hand and
/// registering it; a reopen without the registration is `NotDurable`.
#[test]
fn a_user_type_is_durable_once_registered() {
    use multiverse::{DecodeError, Persist, Tuple};
    #[derive(Clone, Debug, PartialEq)]
    struct Account {
        owner: String,
        balance: i64,
    }
    impl Tuple for Account {
        type Delta = Account;
        fn attributes(&self) -> usize {
            2
        }
        fn delta_to(&self, _newer: &Self) -> Account {
            self.clone()
        }
        fn apply(&mut self, delta: &Account) {
            *self = delta.clone();
        }
        fn delta_bytes(_: &Account) -> usize {
            std::mem::size_of::<Account>()
        }
    }
    impl Persist for Account {
        fn type_name() -> String {
            "tests.Account.v1".into()
        }
        fn encode(&self, out: &mut Vec<u8>) {
            self.owner.encode(out);
            self.balance.encode(out);
        }
        fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
            Ok(Account {
                owner: String::decode(input)?,
                balance: i64::decode(input)?,
            })
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let builder = || Database::builder().persist::<Account>();
    {
        let db = builder().open(dir.path()).unwrap();
        let t = db.create_table::<u64, Account>("a").unwrap();
        let row = Account {
            owner: "ada".into(),
            balance: 5,
        };
        db.transact(|tx| tx.insert(&t, 1, row.clone())).unwrap();
    }
    {
        let db = Database::builder().open(dir.path()).unwrap();
        assert!(matches!(
            db.table::<u64, Account>("a"),
            Err(Error::NotDurable { .. })
        ));
    }
    let db = builder().open(dir.path()).unwrap();
    let t = db.table::<u64, Account>("a").unwrap();
    assert_eq!(
        db.snapshot().get(&t, &1).unwrap().map(|a| a.balance),
        Some(5)
    );
}

/// With the `serde` feature, a serde type is durable through
/// `persist_serde` under the name it is given.
#[cfg(feature = "serde")]
#[test]
fn a_serde_type_is_durable_through_persist_serde() {
    #[derive(
        Clone, PartialEq, Eq, PartialOrd, Ord, Debug, serde::Serialize, serde::Deserialize,
    )]
    struct Key {
        region: String,
        id: u32,
    }
    let dir = tempfile::tempdir().unwrap();
    let builder = || Database::builder().persist_serde::<Key>("tests.Key.v1");
    let k = Key {
        region: "eu".into(),
        id: 7,
    };
    {
        let db = builder().open(dir.path()).unwrap();
        let t = db.create_table::<Key, Vec<u8>>("k").unwrap();
        db.transact(|tx| tx.insert(&t, k.clone(), b"row".to_vec()))
            .unwrap();
    }
    let db = builder().open(dir.path()).unwrap();
    let t = db.table::<Key, Vec<u8>>("k").unwrap();
    assert_eq!(db.snapshot().get(&t, &k).unwrap(), Some(b"row".to_vec()));
}
