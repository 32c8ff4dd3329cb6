//! Partitions over multiverse databases, with two-phase commit in which the
//! first participant coordinates and keeps no state (OceanBase), proxy
//! sessions (OceanBase ODP), and a deterministic fault simulator.
//!
//! See the README's "Partitions and two-phase commit".

pub mod log;
pub mod protocol;
