//! The cluster's errors.

use std::fmt;

/// What a cluster call can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An error of a partition's engine (a `WriteConflict`, `NotFound`,
    /// `DuplicateKey`, `SnapshotTooOld`, ...), as the engine returned it.
    Engine(multiverse::Error),
    /// The transaction was aborted by two-phase commit: a participant
    /// voted to abort, or recovery found one that had not prepared.
    /// Nothing of it is visible anywhere. Retryable.
    Aborted,
    /// The partition is down (the simulator crashed it). Retryable.
    Unavailable {
        /// The partition.
        partition: usize,
    },
    /// The outcome of a distributed commit is not known to the caller: no
    /// answer came within the wait (a coordinator crashed, messages were
    /// lost). It is decided all the same: committed everywhere or nowhere,
    /// as recovery finds. Not retryable blindly.
    Indeterminate,
    /// A reader or committer waited for a prepared transaction's decision
    /// longer than the wait bound, and asking the participants did not
    /// decide it either (some are down). Retryable.
    Blocked {
        /// The partition on which it waited.
        partition: usize,
    },
    /// A partition's log could not be written or synced; the partition
    /// accepts no more commits until it restarts. From a commit: the
    /// outcome is not known — the record may have reached the disk, and a
    /// restart then replays it.
    Io(std::io::Error),
    /// A partition's log holds a record that makes no sense.
    Corrupt {
        /// The partition.
        partition: usize,
        /// What was wrong.
        reason: String,
    },
    /// A table, type or argument the cluster does not have.
    InvalidArgument(String),
    /// A transaction used after it ended, or after a statement failed.
    Finished,
    /// A session's `SET` (autocommit, a variable) inside an explicit
    /// transaction: refused, and the transaction goes on.
    NotAllowedInTransaction,
}

impl Error {
    /// Whether running the transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Engine(e) => {
                e.is_retryable() || matches!(e, multiverse::Error::SnapshotTooOld { .. })
            }
            Error::Aborted | Error::Unavailable { .. } | Error::Blocked { .. } => true,
            _ => false,
        }
    }
}

impl From<multiverse::Error> for Error {
    fn from(e: multiverse::Error) -> Self {
        Error::Engine(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Engine(e) => write!(f, "{e}"),
            Error::Aborted => f.write_str("the distributed transaction was aborted"),
            Error::Unavailable { partition } => write!(f, "partition {partition} is down"),
            Error::Indeterminate => {
                f.write_str("no answer from the coordinator: the outcome is not known here")
            }
            Error::Blocked { partition } => {
                write!(
                    f,
                    "partition {partition}: a prepared transaction stayed undecided"
                )
            }
            Error::Io(e) => write!(f, "partition log: {e}"),
            Error::Corrupt { partition, reason } => {
                write!(f, "partition {partition}: corrupt log: {reason}")
            }
            Error::InvalidArgument(r) => write!(f, "invalid argument: {r}"),
            Error::Finished => f.write_str("the transaction has ended"),
            Error::NotAllowedInTransaction => {
                f.write_str("not allowed inside an explicit transaction")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Engine(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A cluster call's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
