//! multiverse as a durable database (`DatabaseBuilder::open` on a scratch
//! directory) under `Durability::Sync` or `Durability::Buffered`, or the
//! same table in memory (`build`) as their reference.
//!
//! Rows are `[i64; N]` (the durable experiment's rows are `[i64; 4]`),
//! which a durable table encodes with no user code; they hold the driver's
//! rows ([`initial_row`]) as the same 64-bit words, so every operation is
//! the one the in-memory [`Multiverse`](super::Multiverse) subject runs,
//! on a fixed-width row.

use crate::scratch::Scratch;
use crate::subject::{bump, checksum, fold_rows, initial_row, Conflict, Key, Op, Subject};
use multiverse::{Database, Durability, Error, Storage, Table};
use std::path::Path;

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 10_000;

/// Where a [`MultiverseDurable`] keeps its commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In memory (`build`): no log.
    Memory,
    /// Logged, `commit` returns once the record is written to the OS.
    Buffered,
    /// Logged, `commit` returns once the record is synced.
    Sync,
}

impl Mode {
    /// Every mode, in the order results print them.
    pub const ALL: [Mode; 3] = [Mode::Sync, Mode::Buffered, Mode::Memory];

    /// A short name, as in `mv-n2o-sync`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Memory => "memory",
            Mode::Buffered => "buffered",
            Mode::Sync => "sync",
        }
    }
}

/// The row of `key` as loaded, as a fixed-width row.
pub fn array_row<const N: usize>(key: Key) -> [i64; N] {
    let row = initial_row(key, N);
    std::array::from_fn(|i| row[i] as i64)
}

/// Inserts rows `0..keys` ([`array_row`]) into `table`, 10,000 rows per
/// transaction.
pub fn load_rows<const N: usize>(
    db: &Database,
    table: &Table<Key, [i64; N]>,
    keys: u64,
) -> Result<(), String> {
    let mut key = 0;
    while key < keys {
        let mut tx = db.begin();
        for k in key..keys.min(key + LOAD_BATCH) {
            tx.insert(table, k, array_row(k))
                .map_err(|e| format!("insert {k}: {e}"))?;
        }
        tx.commit().map_err(|e| format!("commit: {e}"))?;
        key += LOAD_BATCH;
    }
    Ok(())
}

/// A multiverse database, durable or in memory, with one table
/// `u64 -> [i64; N]`.
pub struct MultiverseDurable<const N: usize> {
    db: Database,
    table: Table<Key, [i64; N]>,
    /// The database's directory, if durable (last: removed once the
    /// database closed).
    _dir: Option<Scratch>,
}

impl<const N: usize> MultiverseDurable<N> {
    /// A fresh database with `storage` in `mode`; a durable one in a fresh
    /// scratch directory under `base`.
    pub fn new(storage: Storage, mode: Mode, base: &Path) -> Self {
        let builder = Database::builder().storage(storage);
        let (db, dir) = match mode {
            Mode::Memory => (builder.build(), None),
            Mode::Buffered | Mode::Sync => {
                let dir = Scratch::new(base, &format!("mv-{}", storage.name()))
                    .unwrap_or_else(|e| panic!("multiverse: {e}"));
                let durability = if mode == Mode::Sync {
                    Durability::Sync
                } else {
                    Durability::Buffered
                };
                let db = builder
                    .durability(durability)
                    .open(dir.path())
                    .unwrap_or_else(|e| panic!("multiverse: open: {e}"));
                (db, Some(dir))
            }
        };
        let table = db
            .create_table("usertable")
            .unwrap_or_else(|e| panic!("multiverse: create_table: {e}"));
        MultiverseDurable {
            db,
            table,
            _dir: dir,
        }
    }
}

/// A write error other than a conflict is a bug in the driver or the engine
/// (or a failing disk).
fn conflict(e: Error) -> Conflict {
    match e {
        Error::WriteConflict | Error::Aborted => Conflict,
        other => panic!("multiverse: unexpected error {other}"),
    }
}

/// The row as the driver's words.
fn words<const N: usize>(row: &[i64; N]) -> [u64; N] {
    row.map(|a| a as u64)
}

impl<const N: usize> Subject for MultiverseDurable<N> {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        if attrs != N {
            return Err(format!("rows of {N} attributes, not {attrs}"));
        }
        load_rows(&self.db, &self.table, keys)
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        let mut tx = self.db.begin();
        for op in ops {
            match *op {
                Op::Read(k) => {
                    let sum = tx.read(&self.table, &k, |row| {
                        checksum(&words(row.expect("loaded")))
                    });
                    *sink ^= sum.map_err(conflict)?;
                }
                Op::Update(k) => tx
                    .modify(&self.table, &k, |row| {
                        let mut w = words(row);
                        *sink ^= checksum(&w);
                        bump(&mut w, modified);
                        *row = w.map(|a| a as i64);
                    })
                    .map_err(conflict)?,
            }
        }
        tx.commit().map(drop).map_err(conflict)
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        let tx = self.db.begin();
        let rows = tx.scan(&self.table, ..).expect("own table");
        fold_rows(rows.map(|(_, row)| checksum(&words(&row))), sink)
    }
}
