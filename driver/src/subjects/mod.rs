//! Every subject the driver knows, by name.
//!
//! Names are what `--subjects` takes and what the results print. A
//! multiverse subject is `mv-<store>` (skiplist index) or `mv-<store>+hash`
//! (a hash index for point operations beside the skiplist) under the default
//! GC policy, with `/<policy>` appended for another one
//! (`mv-delta+hash/cooperative`). Those run under snapshot isolation; each
//! has a serializable twin, its name with `-ser` before any policy
//! (`mv-delta+hash-ser`, `mv-delta+hash-ser/cooperative`), the same adapter
//! with every transaction begun under `Isolation::Serializable`. The twins
//! are not in the default experiment: `--subjects` names them, `all`
//! includes them.
//!
//! The durable experiment has subjects of its own ([`durable`]), on
//! scratch directories: `mv-<store>-sync`, `mv-<store>-buffered` and
//! `mv-<store>-memory` (the same rows in memory, their reference),
//! `redb-immediate`, `sqlite-wal-full` and `fjall-syncdata`.

mod concread;
mod fjall;
mod multiverse;
mod multiverse_durable;
mod raw;
mod redb;
mod skipdb;
mod sqlite;
mod surrealmx;

pub use self::concread::Concread;
pub use self::fjall::Fjall;
pub use self::multiverse::Multiverse;
pub use self::multiverse_durable::{array_row, load_rows, Mode, MultiverseDurable};
pub use self::raw::{Dashmap, Skipmap};
pub use self::redb::Redb;
pub use self::skipdb::{Skipdb, SkipdbOptimistic, SkipdbSerializable};
pub use self::sqlite::Sqlite;
pub use self::surrealmx::{Isolation, Surrealmx};

use crate::subject::{Kind, Subject};
use ::multiverse::{GcPolicy, Isolation as MvIsolation, Storage};
use std::path::{Path, PathBuf};

/// A subject the driver can build, fresh, for each measurement.
pub struct Entry {
    /// Its name, as selected with `--subjects` and printed in results.
    pub name: String,
    /// What it is, for the comparison table.
    pub kind: Kind,
    /// Builds a fresh, empty instance.
    pub make: Box<dyn Fn() -> Box<dyn Subject> + Send + Sync>,
}

impl Entry {
    fn new<S: Subject + 'static>(
        name: impl Into<String>,
        kind: Kind,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> Entry {
        Entry {
            name: name.into(),
            kind,
            make: Box::new(move || Box::new(make())),
        }
    }
}

/// What marks a serializable twin's name (`mv-o2n-ser`).
pub const SERIALIZABLE: &str = "-ser";

/// The name of multiverse with `storage` under `gc`, with a hash index if
/// `hash`, its transactions under `isolation`.
pub fn multiverse_name(
    storage: Storage,
    gc: GcPolicy,
    hash: bool,
    isolation: MvIsolation,
) -> String {
    let index = if hash { "+hash" } else { "" };
    let level = match isolation {
        MvIsolation::Snapshot => "",
        MvIsolation::Serializable => SERIALIZABLE,
    };
    if gc == GcPolicy::default() {
        format!("mv-{}{index}{level}", storage.name())
    } else {
        format!("mv-{}{index}{level}/{}", storage.name(), gc.name())
    }
}

/// Every subject: each multiverse store, without and with the hash index,
/// under each GC policy (the default policy first), under snapshot
/// isolation and then serializable, then the peers, then the ceilings.
pub fn all() -> Vec<Entry> {
    let mut all = Vec::new();
    let mut policies = vec![GcPolicy::default()];
    policies.extend(
        GcPolicy::ALL
            .into_iter()
            .filter(|&p| p != GcPolicy::default()),
    );
    for isolation in [MvIsolation::Snapshot, MvIsolation::Serializable] {
        for &gc in &policies {
            for hash in [false, true] {
                for storage in Storage::ALL {
                    all.push(Entry::new(
                        multiverse_name(storage, gc, hash, isolation),
                        Kind::Engine,
                        move || Multiverse::new(storage, gc, hash, isolation),
                    ));
                }
            }
        }
    }
    all.push(Entry::new("surrealmx-si", Kind::Peer, || {
        Surrealmx::new(Isolation::Snapshot)
    }));
    all.push(Entry::new("surrealmx-ssi", Kind::Peer, || {
        Surrealmx::new(Isolation::Serializable)
    }));
    all.push(Entry::new(
        "skipdb-optimistic",
        Kind::Peer,
        SkipdbOptimistic::new,
    ));
    all.push(Entry::new(
        "skipdb-serializable",
        Kind::Peer,
        SkipdbSerializable::new,
    ));
    all.push(Entry::new("concread", Kind::Peer, Concread::default));
    all.push(Entry::new("redb", Kind::Peer, Redb::default));
    all.push(Entry::new("skipmap", Kind::Ceiling, Skipmap::default));
    all.push(Entry::new("dashmap", Kind::Ceiling, Dashmap::default));
    all
}

/// Attributes per row of the durable subjects (their rows are
/// `[i64; DURABLE_ATTRS]`).
pub const DURABLE_ATTRS: usize = 4;

/// The name of multiverse with `storage` in `mode`, for the durable
/// experiment.
pub fn durable_name(storage: Storage, mode: Mode) -> String {
    format!("mv-{}-{}", storage.name(), mode.name())
}

/// The durable experiment's subjects, each on a fresh scratch directory
/// under `base`: every multiverse store under `Sync`, `Buffered` and in
/// memory, then redb (`Durability::Immediate`), SQLite (WAL,
/// `synchronous=FULL`) and fjall (`PersistMode::SyncData`).
pub fn durable(base: &Path) -> Vec<Entry> {
    let mut all = Vec::new();
    for storage in Storage::ALL {
        for mode in Mode::ALL {
            let base = base.to_path_buf();
            all.push(Entry::new(
                durable_name(storage, mode),
                Kind::Engine,
                move || MultiverseDurable::<DURABLE_ATTRS>::new(storage, mode, &base),
            ));
        }
    }
    let peer = |name: &str, make: fn(&Path) -> Box<dyn Subject>| {
        let base: PathBuf = base.to_path_buf();
        Entry {
            name: name.into(),
            kind: Kind::Peer,
            make: Box::new(move || make(&base)),
        }
    };
    all.push(peer("redb-immediate", |b| Box::new(Redb::on_file(b))));
    all.push(peer("sqlite-wal-full", |b| Box::new(Sqlite::on_file(b))));
    all.push(peer("fjall-syncdata", |b| Box::new(Fjall::on_dir(b))));
    all
}

/// The subjects of the default experiment: every store, without and with
/// the hash index, under the default GC policy and snapshot isolation,
/// every peer mode and both ceilings.
pub fn default_names() -> Vec<String> {
    all()
        .into_iter()
        .filter(|e| {
            e.kind != Kind::Engine || !(e.name.contains('/') || e.name.contains(SERIALIZABLE))
        })
        .map(|e| e.name)
        .collect()
}

/// The adapter contract, checked on every subject: what it loads, reads,
/// updates and scans, and that concurrent updates are never lost.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::{bump, checksum, initial_row, Op};

    /// The checksum of the row of `key` after `n` updates of `modified`
    /// attributes.
    fn expected(key: u64, attrs: usize, modified: usize, n: usize) -> u64 {
        let mut row = initial_row(key, attrs);
        for _ in 0..n {
            bump(&mut row, modified);
        }
        checksum(&row)
    }

    fn read(s: &dyn Subject, key: u64) -> u64 {
        let mut sink = 0;
        s.execute(&[Op::Read(key)], 0, &mut sink)
            .expect("a lone reader");
        sink
    }

    /// What every subject of `entries` loads, reads, updates and scans,
    /// on rows of `attrs` attributes.
    fn loads_reads_updates_and_scans(entries: Vec<Entry>, attrs: usize) {
        for e in entries {
            let s = (e.make)();
            s.load(300, attrs).unwrap();
            let mut sink = 0;
            assert_eq!(s.scan_all(&mut sink), 300, "{}", e.name);
            let all: u64 = (0..300)
                .map(|k| checksum(&initial_row(k, attrs)))
                .fold(0, |a, c| a ^ c);
            assert_eq!(sink, all, "{}: scan", e.name);
            assert_eq!(read(&*s, 7), expected(7, attrs, 0, 0), "{}", e.name);
            let mut sink = 0;
            let ops = [Op::Update(7), Op::Update(7), Op::Read(8)];
            s.execute(&ops, 3, &mut sink).expect("a lone writer");
            assert_eq!(read(&*s, 7), expected(7, attrs, 3, 2), "{}: update", e.name);
            assert_eq!(
                read(&*s, 8),
                expected(8, attrs, 3, 0),
                "{}: neighbour",
                e.name
            );
        }
    }

    /// Two threads each update two rows `per_thread` times, on every
    /// subject of `entries`: no update is lost.
    fn loses_no_concurrent_updates(entries: Vec<Entry>, attrs: usize, per_thread: usize) {
        for e in entries {
            let s = (e.make)();
            s.load(4, attrs).unwrap();
            let conflicts = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..2)
                    .map(|t| {
                        let s = &*s;
                        scope.spawn(move || {
                            let (mut sink, mut conflicts) = (0, 0);
                            // The two threads take the keys in opposite
                            // orders, to provoke conflicts (and deadlocks,
                            // for a subject that could have them).
                            let ops = if t == 0 {
                                [Op::Update(0), Op::Update(1)]
                            } else {
                                [Op::Update(1), Op::Update(0)]
                            };
                            for _ in 0..per_thread {
                                while s.execute(&ops, 1, &mut sink).is_err() {
                                    conflicts += 1;
                                }
                            }
                            conflicts
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap())
                    .sum::<usize>()
            });
            for key in [0, 1] {
                assert_eq!(
                    read(&*s, key),
                    expected(key, attrs, 1, 2 * per_thread),
                    "{}: key {key} after {conflicts} conflicts",
                    e.name
                );
            }
            assert_eq!(read(&*s, 2), expected(2, attrs, 1, 0), "{}", e.name);
        }
    }

    /// Every snapshot-isolation multiverse subject has exactly one
    /// serializable twin, no two subjects share a name, and the default
    /// experiment runs no twin.
    #[test]
    fn every_multiverse_subject_has_one_serializable_twin_outside_the_default() {
        let all = all();
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        let unique: std::collections::HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        let twins = all
            .iter()
            .filter(|e| e.kind == Kind::Engine && e.name.contains(SERIALIZABLE))
            .count();
        assert_eq!(
            2 * twins,
            all.iter().filter(|e| e.kind == Kind::Engine).count()
        );
        for storage in Storage::ALL {
            for gc in GcPolicy::ALL {
                for hash in [false, true] {
                    let si = multiverse_name(storage, gc, hash, MvIsolation::Snapshot);
                    let ser = multiverse_name(storage, gc, hash, MvIsolation::Serializable);
                    assert!(!si.contains(SERIALIZABLE), "{si}");
                    assert!(unique.contains(si.as_str()) && unique.contains(ser.as_str()));
                }
            }
        }
        assert!(names.contains(&"mv-o2n-ser") && names.contains(&"mv-delta+hash-ser"));
        assert!(default_names()
            .iter()
            .all(|n| !n.starts_with("mv-") || !n.contains(SERIALIZABLE)));
        assert!(default_names().contains(&"mv-o2n".to_string()));
    }

    #[test]
    fn every_subject_loads_reads_updates_and_scans() {
        loads_reads_updates_and_scans(all(), 10);
    }

    #[test]
    fn no_subject_loses_concurrent_updates() {
        loses_no_concurrent_updates(all(), 10, 300);
    }

    #[test]
    fn every_durable_subject_loads_reads_updates_and_scans() {
        let base = crate::scratch::Scratch::new(&std::env::temp_dir(), "subjects").unwrap();
        loads_reads_updates_and_scans(durable(base.path()), DURABLE_ATTRS);
    }

    #[test]
    fn no_durable_subject_loses_concurrent_updates() {
        // Few updates: each durable commit costs a sync.
        let base = crate::scratch::Scratch::new(&std::env::temp_dir(), "subjects").unwrap();
        loses_no_concurrent_updates(durable(base.path()), DURABLE_ATTRS, 30);
    }

    #[test]
    fn durable_subjects_leave_no_files_behind() {
        let base = crate::scratch::Scratch::new(&std::env::temp_dir(), "subjects").unwrap();
        for e in durable(base.path()) {
            let s = (e.make)();
            s.load(10, DURABLE_ATTRS).unwrap();
            drop(s);
            let left: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
            assert!(left.is_empty(), "{}: {left:?}", e.name);
        }
    }
}
