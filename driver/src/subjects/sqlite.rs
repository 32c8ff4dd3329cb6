//! SQLite (compiled in by rusqlite's `bundled` feature) on a file in a
//! scratch directory, as durable as it goes with a write-ahead log:
//! `journal_mode=WAL`, `synchronous=FULL` (the WAL is synced at every
//! commit).
//!
//! The table is `usertable(k INTEGER PRIMARY KEY, v BLOB)`, rows stored as
//! bytes ([`encode`]). Each thread works on a connection of its own: a
//! transaction takes one from a pool (opening a new one when the pool is
//! empty) and gives it back, so there are as many connections as threads
//! ever ran at once. Read-only transactions are `BEGIN DEFERRED`; every
//! other one is `BEGIN IMMEDIATE`, which takes SQLite's single write lock
//! up front, waiting up to the busy timeout: writers serialise rather than
//! conflict. A transaction still refused at the timeout (`SQLITE_BUSY`) is
//! rolled back and reported as a conflict.

use crate::scratch::Scratch;
use crate::subject::{
    bump_bytes, checksum_bytes, encode, fold_rows, initial_row, Conflict, Op, Subject,
};
use rusqlite::{params, Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a transaction waits for the write lock before `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Rows inserted per loading transaction.
const LOAD_BATCH: u64 = 100_000;

/// A SQLite database on a file, with a pool of connections.
pub struct Sqlite {
    file: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// The directory of the file (last: removed once the connections have
    /// closed).
    _dir: Scratch,
}

/// SQLite's errors other than `SQLITE_BUSY` are bugs here.
fn ok<T>(r: rusqlite::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("sqlite: {e}"))
}

/// Whether `e` is SQLite refusing a lock (`SQLITE_BUSY`, `SQLITE_LOCKED`).
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// A connection to `file` in WAL mode with `synchronous=FULL`.
fn connect(file: &Path) -> Connection {
    let conn = ok(Connection::open(file));
    let mode: String = ok(conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)));
    assert_eq!(mode, "wal", "sqlite: WAL mode refused");
    ok(conn.execute_batch("PRAGMA synchronous=FULL"));
    ok(conn.busy_timeout(BUSY_TIMEOUT));
    conn
}

impl Sqlite {
    /// A database file in a fresh scratch directory under `base`.
    pub fn on_file(base: &Path) -> Self {
        let dir = Scratch::new(base, "sqlite").unwrap_or_else(|e| panic!("sqlite: {e}"));
        let file = dir.path().join("sqlite.db");
        let conn = connect(&file);
        ok(conn.execute_batch("CREATE TABLE usertable (k INTEGER PRIMARY KEY, v BLOB NOT NULL)"));
        Sqlite {
            file,
            pool: Mutex::new(vec![conn]),
            _dir: dir,
        }
    }

    /// Runs `f` on a connection of the pool.
    fn with<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        let conn = self
            .pool
            .lock()
            .expect("no panic holds the pool")
            .pop()
            .unwrap_or_else(|| connect(&self.file));
        let r = f(&conn);
        self.pool
            .lock()
            .expect("no panic holds the pool")
            .push(conn);
        r
    }
}

/// The operations of one transaction, inside `BEGIN`.
fn run(conn: &Connection, ops: &[Op], modified: usize, sink: &mut u64) -> rusqlite::Result<()> {
    let mut get = conn.prepare_cached("SELECT v FROM usertable WHERE k = ?1")?;
    let mut put = conn.prepare_cached("UPDATE usertable SET v = ?1 WHERE k = ?2")?;
    for op in ops {
        let (Op::Read(k) | Op::Update(k)) = *op;
        let mut row: Vec<u8> = get.query_row([k as i64], |r| r.get(0))?;
        *sink ^= checksum_bytes(&row);
        if let Op::Update(_) = op {
            bump_bytes(&mut row, modified);
            put.execute(params![row, k as i64])?;
        }
    }
    Ok(())
}

impl Subject for Sqlite {
    fn load(&self, keys: u64, attrs: usize) -> Result<(), String> {
        self.with(|conn| {
            let mut key = 0;
            while key < keys {
                let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
                {
                    let mut insert = tx
                        .prepare_cached("INSERT INTO usertable (k, v) VALUES (?1, ?2)")
                        .map_err(|e| e.to_string())?;
                    for k in key..keys.min(key + LOAD_BATCH) {
                        insert
                            .execute(params![k as i64, encode(&initial_row(k, attrs))])
                            .map_err(|e| e.to_string())?;
                    }
                }
                tx.commit().map_err(|e| e.to_string())?;
                key += LOAD_BATCH;
            }
            Ok(())
        })
    }

    fn execute(&self, ops: &[Op], modified: usize, sink: &mut u64) -> Result<(), Conflict> {
        let read_only = ops.iter().all(|op| matches!(op, Op::Read(_)));
        self.with(|conn| {
            let begin = if read_only {
                "BEGIN DEFERRED"
            } else {
                "BEGIN IMMEDIATE"
            };
            let outcome = conn
                .execute_batch(begin)
                .and_then(|()| run(conn, ops, modified, sink))
                .and_then(|()| conn.execute_batch("COMMIT"));
            match outcome {
                Ok(()) => Ok(()),
                Err(e) if busy(&e) => {
                    if !conn.is_autocommit() {
                        ok(conn.execute_batch("ROLLBACK"));
                    }
                    Err(Conflict)
                }
                Err(e) => panic!("sqlite: {e}"),
            }
        })
    }

    fn scan_all(&self, sink: &mut u64) -> u64 {
        self.with(|conn| {
            let mut scan = ok(conn.prepare_cached("SELECT v FROM usertable ORDER BY k"));
            let rows = ok(scan.query_map([], |r| r.get::<_, Vec<u8>>(0)));
            fold_rows(rows.map(|v| checksum_bytes(&ok(v))), sink)
        })
    }
}
