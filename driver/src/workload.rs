//! The workloads: YCSB's core mixes, the paper's 10-operation transactions,
//! and a long read-only scan beside update-heavy work.
//!
//! Every workload draws its keys from one [`Keys`] generator (uniform or
//! scrambled Zipfian) and runs on tuples of `attrs` attributes with
//! `modified` of them changed per update (command-line options of the
//! driver, shared by all workloads of a run).

use crate::subject::Op;
use crate::zipf::{Keys, Rng};

/// A transaction mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// Its name, as selected with `--workloads` and printed in results.
    pub name: &'static str,
    /// What it is, for `--help` and the results' README.
    pub about: &'static str,
    /// Operations per transaction.
    pub ops: usize,
    /// The probability that an operation is a read (else an update).
    pub read_fraction: f64,
    /// One of the threads runs full-table read-only scans for the whole run
    /// instead of this mix; the others run the mix.
    pub long_scan: bool,
}

/// Every workload, in the order results print them.
pub const ALL: [Workload; 7] = [
    Workload {
        name: "ycsb-c",
        about: "YCSB C: single-key read-only transactions",
        ops: 1,
        read_fraction: 1.0,
        long_scan: false,
    },
    Workload {
        name: "ycsb-b",
        about: "YCSB B: single-key transactions, 95% read / 5% update",
        ops: 1,
        read_fraction: 0.95,
        long_scan: false,
    },
    Workload {
        name: "ycsb-a",
        about: "YCSB A: single-key transactions, 50% read / 50% update",
        ops: 1,
        read_fraction: 0.5,
        long_scan: false,
    },
    Workload {
        name: "read-only",
        about: "Wu et al.: 10-operation read-only transactions",
        ops: 10,
        read_fraction: 1.0,
        long_scan: false,
    },
    Workload {
        name: "read-intensive",
        about: "Wu et al.: 10-operation transactions, 80% read / 20% update",
        ops: 10,
        read_fraction: 0.8,
        long_scan: false,
    },
    Workload {
        name: "update-intensive",
        about: "Wu et al.: 10-operation transactions, 20% read / 80% update",
        ops: 10,
        read_fraction: 0.2,
        long_scan: false,
    },
    Workload {
        name: "long-scan",
        about: "one thread scans the whole table in a read-only transaction, over and over, \
                beside update-intensive 10-operation transactions on the other threads",
        ops: 10,
        read_fraction: 0.2,
        long_scan: true,
    },
];

/// The durable experiment's transactions (`durable`): every operation an
/// update, one row or ten per transaction. Not in [`ALL`]: the default
/// sweep leaves them out, `--workloads` can name them.
pub const UPDATES: [Workload; 2] = [
    Workload {
        name: "update-1",
        about: "single-row update transactions (the durable experiment)",
        ops: 1,
        read_fraction: 0.0,
        long_scan: false,
    },
    Workload {
        name: "update-10",
        about: "10-operation update transactions, 10 rows updated (the durable experiment)",
        ops: 10,
        read_fraction: 0.0,
        long_scan: false,
    },
];

/// Every workload, [`ALL`] then [`UPDATES`], in the order results print
/// them.
pub fn every() -> impl Iterator<Item = Workload> {
    ALL.into_iter().chain(UPDATES)
}

/// The workload called `name`.
pub fn by_name(name: &str) -> Option<Workload> {
    every().find(|w| w.name == name)
}

impl Workload {
    /// Whether the mix writes.
    pub fn writes(&self) -> bool {
        self.read_fraction < 1.0
    }

    /// Fills `ops` with the next transaction.
    #[inline]
    pub fn next(&self, keys: &Keys, rng: &mut Rng, ops: &mut Vec<Op>) {
        ops.clear();
        for _ in 0..self.ops {
            let key = keys.next(rng);
            let read = self.read_fraction >= 1.0 || rng.unit() < self.read_fraction;
            ops.push(if read { Op::Read(key) } else { Op::Update(key) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_have_their_read_fraction() {
        let keys = Keys::new(1000, 0.99).unwrap();
        let mut rng = Rng::new(1);
        let mut ops = Vec::new();
        for w in ALL {
            let (mut reads, mut total) = (0usize, 0usize);
            for _ in 0..10_000 {
                w.next(&keys, &mut rng, &mut ops);
                assert_eq!(ops.len(), w.ops);
                reads += ops.iter().filter(|o| matches!(o, Op::Read(_))).count();
                total += ops.len();
            }
            let got = reads as f64 / total as f64;
            assert!((got - w.read_fraction).abs() < 0.01, "{}: {got}", w.name);
            assert_eq!(by_name(w.name), Some(w));
        }
        assert_eq!(by_name("ycsb-z"), None);
        for w in UPDATES {
            w.next(&keys, &mut rng, &mut ops);
            assert_eq!(ops.len(), w.ops);
            assert!(ops.iter().all(|o| matches!(o, Op::Update(_))), "{}", w.name);
            assert_eq!(by_name(w.name), Some(w));
        }
    }
}
