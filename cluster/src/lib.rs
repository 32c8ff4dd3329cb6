//! Partitions over multiverse databases, with two-phase commit in which the
//! first participant coordinates and keeps no state (OceanBase), proxy
//! sessions (OceanBase ODP), and a deterministic fault simulator.
//!
//! See the README's "Partitions and two-phase commit".

mod cluster;
mod error;
mod gts;
pub mod log;
mod message;
mod partition;
pub mod protocol;
mod record;
mod schema;
mod session;
pub mod sim;
mod snapshots;
mod sync;
#[cfg(test)]
mod wait_tests;

pub use cluster::{
    Cluster, ClusterBuilder, ClusterTable, ClusterTransaction, Committed, Committing, DEFAULT_WAIT,
};
pub use error::{Error, Result};
pub use gts::{LocalGts, TimestampService};
pub use message::{Endpoint, Envelope, Message, Path, Transport, TxnId};
pub use partition::{PartitionStats, Protocol};
pub use session::ClusterSession;
