//! The one error type of the public API.

use std::fmt;

/// What can go wrong, matched by variant.
///
/// `NotFound` and `DuplicateKey` are answers, not failures: the transaction
/// goes on. `WriteConflict` rolls the transaction back; every later call on it
/// returns `Aborted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Another transaction wrote this key first (it holds the row, or
    /// committed a newer version after this transaction's snapshot). The
    /// transaction has been rolled back; retry it from the start.
    WriteConflict,
    /// The transaction was rolled back earlier (after a `WriteConflict`).
    Aborted,
    /// `insert` of a key whose row is visible to the transaction.
    DuplicateKey,
    /// `update`, `modify` or `delete` of a key with no visible row.
    NotFound,
    /// `create_table` with a name already in the catalog.
    TableExists,
    /// `table` with a name not in the catalog.
    NoSuchTable,
    /// `table` with key or tuple types other than the table was created with.
    SchemaMismatch,
    /// A table handle of another `Database` used in this database's transaction.
    ForeignTable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::WriteConflict => {
                "write-write conflict: another transaction wrote this key first; the transaction was rolled back"
            }
            Error::Aborted => "the transaction was rolled back and can no longer be used",
            Error::DuplicateKey => "a row with this key already exists",
            Error::NotFound => "no row with this key",
            Error::TableExists => "a table with this name already exists",
            Error::NoSuchTable => "no table with this name",
            Error::SchemaMismatch => "the table exists with other key or tuple types",
            Error::ForeignTable => "the table belongs to another database",
        })
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
