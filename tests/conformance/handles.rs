//! The handles and small types are what the contract says they are.

use crate::common::*;
use multiverse::{Database, Error, Storage, Table, Timestamp, Transaction};
use std::collections::HashSet;
use std::fmt::Debug;
use std::thread;

/// Compile-time: `Database` and `Table` are cheap handles to share between
/// threads; the small types have the traits the contract names.
const _: () = {
    const fn handle<X: Clone + Send + Sync + 'static>() {}
    const fn value<X: Copy + Debug + Eq + Send + Sync + 'static>() {}
    const fn ordered<X: Copy + Ord + Debug>() {}
    const fn send<X: Send>() {}
    const fn error<X: std::error::Error + Send + Sync + 'static>() {}
    handle::<Database>();
    handle::<Table<u64, [i64; 4]>>();
    handle::<Table<String, Vec<u8>>>();
    handle::<Table<(u32, u32), Box<[String]>>>();
    value::<Storage>();
    error::<Error>();
    ordered::<Timestamp>();
    send::<Transaction>();
};

#[test]
fn storage_all_lists_distinct_stores_with_distinct_names() {
    let all = Storage::ALL;
    assert!(!all.is_empty());
    let distinct: HashSet<Storage> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "{all:?} repeats a store");
    let names: HashSet<&str> = all.iter().map(|s| s.name()).collect();
    assert_eq!(names.len(), all.len(), "two stores share a name");
    for s in all {
        assert_eq!(s.to_string(), s.name());
    }
    assert!(all.contains(&Storage::default()));
}

for_each_store! {
    /// `Database::new` and the builder both make a database over the store
    /// asked for, and its tables use it.
    fn a_database_and_its_tables_use_the_store_asked_for(storage: Storage) {
        let db = Database::builder().storage(storage).build();
        assert_eq!(db.storage(), storage);
        let t: Accounts = db.create_table("t").unwrap();
        assert_eq!(t.storage(), storage);
        assert_eq!(t.name(), "t");
        assert_eq!(Database::new(storage).storage(), storage);
    }

    /// Clones of a database and of a table are handles on the same data,
    /// usable from many threads at once.
    fn clones_share_one_database_across_threads(storage: Storage) {
        let (db, t) = accounts(storage);
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let (db, t) = (db.clone(), t.clone());
                thread::spawn(move || {
                    for k in 0..25 {
                        let mut tx = db.begin();
                        tx.insert(&t, i * 100 + k, account(1)).unwrap();
                        tx.commit().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(latest(&db, &t).len(), 100);
        let reopened = db.clone().table::<u64, [i64; 4]>("accounts").unwrap();
        assert_eq!(total(&db.begin(), &reopened), 100);
    }

    /// Transactions and tables keep working after every `Database` handle
    /// is dropped: each handle keeps what it needs alive.
    fn transactions_and_tables_outlive_the_database_handle(storage: Storage) {
        let (db, t) = accounts_with(storage, &[(1, 10)]);
        let reader = db.begin();
        let mut tx = db.begin();
        drop(db);
        tx.update(&t, &1, account(11)).unwrap();
        tx.commit().unwrap();
        assert_eq!(reader.get(&t, &1).unwrap(), Some(account(10)));
    }
}
