//! Hermitage's setup and statements (Kleppmann,
//! <https://github.com/ept/hermitage>), shared by `tests/hermitage.rs`
//! (snapshot isolation) and `tests/serializable.rs` (both isolations).

use super::load;
use multiverse::{Database, Error, Storage, Table, Transaction};

/// `test (id int primary key, value int)`.
pub type Test = Table<u32, [i64; 1]>;

/// A database whose `test` table holds (1, 10) and (2, 20), committed.
pub fn setup(storage: Storage) -> (Database, Test) {
    let db = Database::new(storage);
    let t: Test = db.create_table("test").unwrap();
    load(&db, &t, [(1, [10]), (2, [20])]);
    (db, t)
}

/// `select * from test where P`: the (id, value) rows `tx` sees, in id order.
pub fn select(tx: &Transaction, t: &Test, p: impl Fn(i64) -> bool) -> Vec<(u32, i64)> {
    tx.scan(t, ..)
        .unwrap()
        .map(|(id, [v])| (id, v))
        .filter(|&(_, v)| p(v))
        .collect()
}

/// `select * from test`.
pub fn select_all(tx: &Transaction, t: &Test) -> Vec<(u32, i64)> {
    select(tx, t, |_| true)
}

/// `select * from test where id = ID`: the value, if the row is visible.
pub fn select_id(tx: &Transaction, t: &Test, id: u32) -> Option<i64> {
    tx.get(t, &id).unwrap().map(|[v]| v)
}

/// `update test set value = V where id = ID`.
pub fn update(tx: &mut Transaction, t: &Test, id: u32, value: i64) -> Result<(), Error> {
    tx.update(t, &id, [value])
}

/// `update test set value = f(value) where P`: a predicate read, then an
/// update of each row found; stops at the first error.
pub fn update_where(
    tx: &mut Transaction,
    t: &Test,
    p: impl Fn(i64) -> bool,
    f: impl Fn(i64) -> i64,
) -> Result<(), Error> {
    for (id, v) in select(tx, t, p) {
        tx.update(t, &id, [f(v)])?;
    }
    Ok(())
}

/// `delete from test where P`: a predicate read, then a delete of each row
/// found; stops at the first error.
pub fn delete_where(tx: &mut Transaction, t: &Test, p: impl Fn(i64) -> bool) -> Result<(), Error> {
    for (id, _) in select(tx, t, p) {
        tx.delete(t, &id)?;
    }
    Ok(())
}

/// The committed state: `select * from test` in a new transaction.
pub fn committed(db: &Database, t: &Test) -> Vec<(u32, i64)> {
    select_all(&db.begin(), t)
}
