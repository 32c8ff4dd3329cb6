//! The experiment behind multiverse: its four version stores (and its GC
//! policies) against the Rust crates a user would pick instead, on the
//! workloads of Wu et al. (PVLDB 2017) and YCSB.
//!
//! * [`subject`]: the one adapter trait every subject implements.
//! * [`subjects`]: multiverse, the peers and the raw ceilings.
//! * [`zipf`]: YCSB's scrambled Zipfian key generator.
//! * [`workload`]: YCSB A/B/C, the paper's 10-operation mixes and a long
//!   scan beside updates.
//! * [`run`]: runs one cell (subject x workload x threads) and counts
//!   commits, aborts and retries.
//! * [`report`]: the comparison table, the CSV and the SVG plots.
//! * [`alloc`]: the counting allocator behind the memory columns.
//! * [`soak`]: minutes of updates with long readers coming and going, the
//!   heap sampled over time.
//! * [`durable`]: the durable databases: the disk's own sync latency,
//!   durable commits/s against redb, SQLite and fjall, recovery time
//!   against log size, and a checkpoint's cost under load.
//! * [`cluster`]: partitions and two-phase commit (`multiverse-cluster`)
//!   against one database: commits/s, the commit path, single-partition
//!   latency.
//! * [`scratch`]: the temporary directories the durable subjects live in.

pub mod alloc;
pub mod cluster;
pub mod durable;
pub mod report;
pub mod run;
pub mod scratch;
pub mod soak;
pub mod subject;
pub mod subjects;
pub mod workload;
pub mod zipf;
