//! The one error type of the public API.

use crate::Timestamp;
use std::fmt;
use std::sync::Arc;

/// What can go wrong, matched by variant.
///
/// `NotFound` and `DuplicateKey` are answers, not failures: the transaction
/// goes on. `WriteConflict` rolls the transaction back; every later call on it
/// returns `Aborted`. [`Error::is_retryable`] says which errors
/// [`Database::transact`](crate::Database::transact) retries.
///
/// The frequent answers (`WriteConflict`, `Aborted`, `NotFound`,
/// `DuplicateKey`, `ForeignTable`) are unit variants and cost nothing to
/// make; the rare ones carry what a message needs. Match every variant with
/// `{ .. }` (`Error::NoSuchTable { .. }`, which also matches a unit
/// variant), so that fields added later break no code; the enum itself is
/// `#[non_exhaustive]`, so a `match` needs a wildcard arm.
///
/// ```
/// use multiverse::{Database, Error, Storage};
///
/// let db = Database::new(Storage::Delta);
/// match db.table::<u64, [i64; 2]>("missing") {
///     Err(Error::NoSuchTable { name, .. }) => assert_eq!(name, "missing"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// Another transaction wrote this key first (it holds the row, or
    /// committed a newer version after this transaction's snapshot). The
    /// transaction has been rolled back; retry it from the start.
    WriteConflict,
    /// The transaction was rolled back earlier (after a `WriteConflict`).
    Aborted,
    /// A serializable transaction read a key, or a range of keys, that a
    /// transaction committed after its snapshot wrote: committing it would
    /// break serializability. It has been rolled back; retry it from the
    /// start ([`Isolation::Serializable`](crate::Isolation::Serializable)).
    SerializationFailure,
    /// `insert` of a key whose row is visible to the transaction.
    DuplicateKey,
    /// `update`, `modify` or `delete` of a key with no visible row.
    NotFound,
    /// `create_table` with a name already in the catalog.
    #[non_exhaustive]
    TableExists {
        /// The name asked for.
        name: String,
    },
    /// `table` or `drop_table` with a name not in the catalog, or a call on
    /// a table that [`Database::drop_table`](crate::Database::drop_table)
    /// has dropped.
    #[non_exhaustive]
    NoSuchTable {
        /// The table's name.
        name: String,
    },
    /// `table` with key or tuple types other than the table was created with.
    #[non_exhaustive]
    SchemaMismatch {
        /// The table's name.
        table: String,
        /// The types asked for, as `Table<K, T>` with `std::any::type_name`s.
        expected: String,
        /// The types the table was created with, in the same form.
        found: String,
    },
    /// A table handle of another `Database` used in this database's transaction.
    ForeignTable,
    /// [`Database::snapshot_at`](crate::Database::snapshot_at) of a
    /// timestamp that garbage collection may already have passed: versions
    /// that snapshot would read may be gone. Keep history longer with the
    /// builder's [`retain`](crate::DatabaseBuilder::retain).
    #[non_exhaustive]
    SnapshotTooOld {
        /// The timestamp asked for.
        requested: Timestamp,
        /// The oldest timestamp that garbage collection has not passed, as
        /// far as it is known now (a later call may find it higher).
        oldest: Timestamp,
    },
    /// [`Database::snapshot_at`](crate::Database::snapshot_at) of a
    /// timestamp that no commit has reached yet (above the newest commit a
    /// transaction beginning now would see).
    #[non_exhaustive]
    SnapshotInFuture {
        /// The timestamp asked for.
        requested: Timestamp,
        /// The newest visible commit timestamp.
        newest: Timestamp,
    },
    /// The operating system refused an operation (a file, a thread);
    /// [`source`](std::error::Error::source) is its `io::Error`.
    #[non_exhaustive]
    Io {
        /// The error, shared so that `Error` stays `Clone`.
        source: Arc<std::io::Error>,
        /// What was being done, for the message.
        context: String,
    },
    /// A durable database's log segment or checkpoint is damaged before its
    /// end (a torn last record of the log is not an error: recovery cuts it
    /// off).
    #[non_exhaustive]
    Corrupt {
        /// The file, relative to the database directory.
        file: String,
        /// Where in it the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// Another open [`Database`](crate::Database), in this process or
    /// another, holds the directory (its lock goes when that database drops
    /// or its process dies).
    #[non_exhaustive]
    Locked {
        /// The database directory.
        path: std::path::PathBuf,
    },
    /// A session statement not allowed inside an explicit transaction
    /// (`set_var`, `set_autocommit`); the transaction goes on.
    NotAllowedInTransaction,
    /// A durable database cannot encode the key or row type of a table:
    /// register it with the builder (see `Persist`).
    #[non_exhaustive]
    NotDurable {
        /// The table's name.
        table: String,
        /// The type without an encoding, as `std::any::type_name` gives it.
        type_name: String,
    },
    /// A DDL statement inside a transaction that would change what the
    /// transaction's own statements did: dropping a table it read or wrote.
    /// The statement does nothing; the transaction goes on.
    #[non_exhaustive]
    DdlConflict {
        /// The table.
        table: String,
    },
    /// The session's transaction was still open when a
    /// [`switchover`](crate::Database::switchover) gave up waiting for it:
    /// it was rolled back, and the session was not moved. Answered once, to
    /// the session's next statement.
    SessionLost,
    /// An argument outside the values a call accepts (a drain timeout out
    /// of range, for one).
    #[non_exhaustive]
    InvalidArgument {
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// Whether a fresh attempt of the whole transaction may succeed: the
    /// errors that [`Database::transact`](crate::Database::transact)
    /// retries: `WriteConflict` and `SerializationFailure`.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::WriteConflict | Error::SerializationFailure)
    }

    /// An [`Error::Io`] of `source`, while doing `context`.
    pub fn io(source: std::io::Error, context: impl Into<String>) -> Self {
        Error::Io {
            source: Arc::new(source),
            context: context.into(),
        }
    }

    pub(crate) fn no_such_table(name: &str) -> Self {
        Error::NoSuchTable { name: name.into() }
    }
}

impl PartialEq for Error {
    /// Variant by variant and field by field; two `Io` errors are equal when
    /// their contexts and their [`std::io::ErrorKind`]s are.
    fn eq(&self, other: &Self) -> bool {
        use Error::*;
        match (self, other) {
            (WriteConflict, WriteConflict)
            | (Aborted, Aborted)
            | (SerializationFailure, SerializationFailure)
            | (DuplicateKey, DuplicateKey)
            | (NotFound, NotFound)
            | (ForeignTable, ForeignTable)
            | (NotAllowedInTransaction, NotAllowedInTransaction)
            | (SessionLost, SessionLost) => true,
            (DdlConflict { table: a }, DdlConflict { table: b }) => a == b,
            (InvalidArgument { reason: a }, InvalidArgument { reason: b }) => a == b,
            (TableExists { name: a }, TableExists { name: b }) => a == b,
            (NoSuchTable { name: a }, NoSuchTable { name: b }) => a == b,
            (
                SchemaMismatch {
                    table: t1,
                    expected: e1,
                    found: f1,
                },
                SchemaMismatch {
                    table: t2,
                    expected: e2,
                    found: f2,
                },
            ) => (t1, e1, f1) == (t2, e2, f2),
            (
                SnapshotTooOld {
                    requested: r1,
                    oldest: o1,
                },
                SnapshotTooOld {
                    requested: r2,
                    oldest: o2,
                },
            ) => (r1, o1) == (r2, o2),
            (
                SnapshotInFuture {
                    requested: r1,
                    newest: n1,
                },
                SnapshotInFuture {
                    requested: r2,
                    newest: n2,
                },
            ) => (r1, n1) == (r2, n2),
            (
                Io {
                    source: s1,
                    context: c1,
                },
                Io {
                    source: s2,
                    context: c2,
                },
            ) => s1.kind() == s2.kind() && c1 == c2,
            (
                Corrupt {
                    file: f1,
                    offset: o1,
                    reason: r1,
                },
                Corrupt {
                    file: f2,
                    offset: o2,
                    reason: r2,
                },
            ) => (f1, o1, r1) == (f2, o2, r2),
            (Locked { path: a }, Locked { path: b }) => a == b,
            (
                NotDurable {
                    table: t1,
                    type_name: n1,
                },
                NotDurable {
                    table: t2,
                    type_name: n2,
                },
            ) => (t1, n1) == (t2, n2),
            _ => false,
        }
    }
}

impl Eq for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WriteConflict => f.write_str(
                "write-write conflict: another transaction wrote this key first; the transaction was rolled back",
            ),
            Error::Aborted => f.write_str("the transaction was rolled back and can no longer be used"),
            Error::SerializationFailure => f.write_str(
                "serialization failure: a transaction committed after this one's snapshot wrote what it read; the transaction was rolled back",
            ),
            Error::DuplicateKey => f.write_str("a row with this key already exists"),
            Error::NotFound => f.write_str("no row with this key"),
            Error::TableExists { name } => write!(f, "a table named {name:?} already exists"),
            Error::NoSuchTable { name } => write!(f, "no table named {name:?}"),
            Error::SchemaMismatch {
                table,
                expected,
                found,
            } => write!(
                f,
                "table {table:?} was opened as {expected} but was created as {found}"
            ),
            Error::ForeignTable => f.write_str("the table belongs to another database"),
            Error::NotAllowedInTransaction => {
                f.write_str("not allowed inside an explicit transaction: commit or roll it back first")
            }
            Error::SnapshotTooOld { requested, oldest } => write!(
                f,
                "snapshot at {} is too old: garbage collection may have passed it (oldest kept: {})",
                requested.get(),
                oldest.get()
            ),
            Error::SnapshotInFuture { requested, newest } => write!(
                f,
                "snapshot at {} is in the future: the newest commit is {}",
                requested.get(),
                newest.get()
            ),
            Error::Io { source, context } => write!(f, "{context}: {source}"),
            Error::Corrupt {
                file,
                offset,
                reason,
            } => write!(f, "{file} is damaged at byte {offset}: {reason}"),
            Error::Locked { path } => write!(
                f,
                "{} is open in another database (its lock goes when that database is dropped or its process ends)",
                path.display()
            ),
            Error::NotDurable { table, type_name } => write!(
                f,
                "table {table:?}: a durable database has no encoding for {type_name} (implement multiverse::Persist and register it on the builder)"
            ),
            Error::DdlConflict { table } => write!(
                f,
                "table {table:?} was read or written by this transaction: it cannot be dropped in it"
            ),
            Error::SessionLost => f.write_str(
                "the session's transaction was rolled back by a switchover that could not wait for it; the session stays on the old database",
            ),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_compare_by_kind_and_expose_their_source() {
        use std::error::Error as _;
        let a = Error::io(std::io::Error::other("disk on fire"), "spawn");
        let b = Error::io(std::io::Error::other("another text"), "spawn");
        let c = Error::io(std::io::ErrorKind::NotFound.into(), "spawn");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.source().unwrap().to_string(), "disk on fire");
        assert!(Error::NotFound.source().is_none());
        fn assert_bounds<E: std::error::Error + Send + Sync + Clone + 'static>() {}
        assert_bounds::<Error>();
    }
}
