//! Durability: a redo log of committed after-images with group commit,
//! checkpoints that are MVCC scans, and recovery.
//!
//! ```text
//!  database   open (lock, recover), checkpoint, the catalog's DDL records
//!  durable    records (this file), recovery into staged tables
//!    wal      group commit: the log's tail, its leader, written/synced ts
//!    log      frames, segments, replay with the torn-tail rule
//!    device   the file operations (std::fs, or a simulated device)
//!    codec    the encoding of keys and rows (Persist, Codecs)
//! ```
//!
//! # Records
//!
//! One record per commit that wrote, framed with its commit timestamp (see
//! `log.rs`); a record is whole or absent after a crash. Its payload starts
//! with a kind byte:
//!
//! | kind | payload after the kind byte |
//! | --- | --- |
//! | `WRITES` (1) | entries, to the end: `table id` (varint), `op` (0 put, 1 delete), `key` (varint length + bytes), for a put `row` (varint length + bytes) |
//! | `TXN` (4) | a commit that changed the catalog: the number of catalog parts (varint), the parts, then entries as in `WRITES` |
//!
//! A catalog part is a `CREATE` (2): `table id`, `name`, `key type`, `row
//! type` (each varint length + bytes), `hash indexed` (0/1); or a `DROP`
//! (3): `table id`. Creating and dropping tables are writes of the
//! transaction that does them (the transactional catalog): they commit
//! atomically with its rows, in its one record. Replay applies the parts
//! first, then the entries (a transaction writes the tables it creates; it
//! cannot drop one it wrote). No write of a table follows its drop in the
//! log (invariant C1, `table/life.rs`), so a write to a table that does not
//! exist at its point in the log is damage.
//!
//! A write is logged as the row it leaves (an after-image), never as the
//! operation: replay is `put` or `delete` of a key, so applying a record
//! needs no user code. Uncommitted versions never reach the log (no undo).
//!
//! # Checkpoint files
//!
//! `ckpt-{ts:020}`: frames (all at the checkpoint's timestamp `S`): a
//! `HEADER` frame (magic, format version, next table id), then per table a
//! `CREATE` frame followed by `ROWS` frames (`table id`, then key/row pairs
//! as in a put), then an `END` frame (the numbers of tables and rows). A
//! checkpoint is written to a temporary name, synced, renamed into place and
//! the directory synced; so one that exists is whole, and any damage in it
//! is an error, never a torn tail.
//!
//! # Recovery
//!
//! The newest checkpoint, then every log record above its timestamp, in
//! order. The tables come back *staged*: their rows as bytes, because the
//! key and row types are known only when the program names them again
//! (`Database::table::<K, T>`); then they are decoded and loaded, stamped
//! with the recovered timestamp.

pub(crate) mod codec;
pub(crate) mod device;
pub(crate) mod log;
pub(crate) mod wal;

#[cfg(test)]
mod sim_tests;

pub use codec::{Codec, Codecs, DecodeError, Persist};

use self::codec::{read_varint, write_varint};
use crate::Error;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How the commits of a database opened with
/// [`DatabaseBuilder::open`](crate::DatabaseBuilder::open) reach stable
/// storage.
///
/// | | `commit` returns once its record is | survives | new snapshots see |
/// | --- | --- | --- | --- |
/// | `Sync` | synced (`fdatasync`, shared by every commit waiting then) | a power cut | durable commits only |
/// | `Buffered` | written to the OS | the process being killed | every published commit |
/// | `None` | in memory | nothing | every published commit |
///
/// Under `Buffered` a background thread syncs the log every
/// [`sync_interval`](crate::DatabaseBuilder::sync_interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// In memory only (what [`build`](crate::DatabaseBuilder::build) gives).
    #[default]
    None,
    /// `commit` returns once its record is written to the OS.
    Buffered,
    /// `commit` returns once its record is on stable storage.
    Sync,
}

/// The default of [`sync_interval`](crate::DatabaseBuilder::sync_interval).
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(50);
/// The default of
/// [`checkpoint_after`](crate::DatabaseBuilder::checkpoint_after): 64 MiB.
pub const DEFAULT_CHECKPOINT_AFTER: u64 = 64 << 20;

pub(crate) const WRITES: u8 = 1;
pub(crate) const CREATE: u8 = 2;
pub(crate) const DROP: u8 = 3;
pub(crate) const TXN: u8 = 4;
const HEADER: u8 = 10;
const ROWS: u8 = 11;
const END: u8 = 12;
const MAGIC: &[u8] = b"multiverse checkpoint";
const FORMAT: u8 = 1;
const PUT: u8 = 0;
const DELETE: u8 = 1;
/// Payload bytes per `ROWS` frame of a checkpoint, about.
const ROWS_PER_FRAME: usize = 256 << 10;

/// The file that locks a database directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// A checkpoint's file name.
pub(crate) fn checkpoint_name(ts: u64) -> String {
    format!("ckpt-{ts:020}")
}

/// The timestamp of a checkpoint's file name.
pub(crate) fn parse_checkpoint_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("ckpt-")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// What the log and checkpoints know of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableMeta {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) key_type: String,
    pub(crate) row_type: String,
    pub(crate) hash: bool,
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Appends a put entry of a `WRITES` record (or a `ROWS` frame): the caller
/// has written the table id (`WRITES`) or will not (`ROWS`).
pub(crate) fn put_entry(out: &mut Vec<u8>, key: &[u8], row: &[u8]) {
    put_bytes(out, key);
    put_bytes(out, row);
}

/// A `WRITES` entry: `row` is `None` for a delete. The encoders write
/// straight into `out`, so nothing is copied twice.
pub(crate) fn write_entry(
    out: &mut Vec<u8>,
    table: u64,
    key: impl FnOnce(&mut Vec<u8>),
    row: Option<impl FnOnce(&mut Vec<u8>)>,
) {
    write_varint(table, out);
    out.push(if row.is_some() { PUT } else { DELETE });
    encode_framed(out, key);
    if let Some(row) = row {
        encode_framed(out, row);
    }
}

/// Runs `encode` into `out` behind a varint length. The length is written
/// after the bytes are known: a one-byte guess, moved if it was wrong.
pub(crate) fn encode_framed(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.push(0);
    encode(out);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        write_varint(len as u64, &mut prefix);
        out.splice(at..at + 1, prefix);
    }
}

/// A `CREATE` part of a `TXN` record (and a checkpoint's table frame).
pub(crate) fn create_record(meta: &TableMeta) -> Vec<u8> {
    let mut out = vec![CREATE];
    write_varint(meta.id, &mut out);
    put_bytes(&mut out, meta.name.as_bytes());
    put_bytes(&mut out, meta.key_type.as_bytes());
    put_bytes(&mut out, meta.row_type.as_bytes());
    out.push(u8::from(meta.hash));
    out
}

/// A `DROP` part of a `TXN` record.
pub(crate) fn drop_record(id: u64) -> Vec<u8> {
    let mut out = vec![DROP];
    write_varint(id, &mut out);
    out
}

/// Reads a payload; every failure is a `Corrupt` at the frame's offset.
struct Reader<'a> {
    bytes: &'a [u8],
}

type Bad = &'static str;

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.bytes.is_empty()
    }
    fn byte(&mut self) -> Result<u8, Bad> {
        let (&b, rest) = self.bytes.split_first().ok_or("truncated record")?;
        self.bytes = rest;
        Ok(b)
    }
    fn len(&mut self) -> Result<u64, Bad> {
        read_varint(&mut self.bytes).map_err(|_| "bad length")
    }
    fn bytes(&mut self) -> Result<&'a [u8], Bad> {
        let n = self.len()?;
        if n > self.bytes.len() as u64 {
            return Err("length past the end of the record");
        }
        let (b, rest) = self.bytes.split_at(n as usize);
        self.bytes = rest;
        Ok(b)
    }
    fn string(&mut self) -> Result<String, Bad> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a name is not UTF-8")
    }
    fn meta(&mut self) -> Result<TableMeta, Bad> {
        Ok(TableMeta {
            id: self.len()?,
            name: self.string()?,
            key_type: self.string()?,
            row_type: self.string()?,
            hash: match self.byte()? {
                0 => false,
                1 => true,
                _ => return Err("bad hash flag"),
            },
        })
    }
}

/// A table recovered from disk whose types the program has not named yet:
/// its rows as the log and checkpoint encoded them, as of `as_of`.
#[derive(Debug)]
pub(crate) struct Staged {
    pub(crate) meta: TableMeta,
    pub(crate) rows: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// What recovery rebuilds: the tables by id, and the next table id.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) tables: HashMap<u64, Staged>,
    pub(crate) next_id: u64,
    /// The timestamp of the checkpoint recovery started from (0: none).
    pub(crate) checkpoint: u64,
    /// The last timestamp recovered.
    pub(crate) last: u64,
}

impl Recovered {
    /// Applies one log record.
    fn apply(&mut self, payload: &[u8]) -> Result<(), Bad> {
        let mut r = Reader { bytes: payload };
        match r.byte()? {
            WRITES => {}
            TXN => {
                for _ in 0..r.len()? {
                    match r.byte()? {
                        CREATE => self.create(r.meta()?)?,
                        DROP => {
                            let id = r.len()?;
                            self.tables
                                .remove(&id)
                                .ok_or("a drop of a table that does not exist")?;
                        }
                        _ => return Err("unknown catalog change"),
                    }
                }
            }
            _ => return Err("unknown record kind"),
        }
        while !r.done() {
            let id = r.len()?;
            let op = r.byte()?;
            let key = r.bytes()?;
            let row = match op {
                PUT => Some(r.bytes()?),
                DELETE => None,
                _ => return Err("bad write op"),
            };
            let table = self
                .tables
                .get_mut(&id)
                .ok_or("a write to a table that does not exist")?;
            match row {
                Some(row) => {
                    table.rows.insert(key.to_vec(), row.to_vec());
                }
                None => {
                    table.rows.remove(key);
                }
            }
        }
        Ok(())
    }

    fn create(&mut self, meta: TableMeta) -> Result<(), Bad> {
        if self.tables.contains_key(&meta.id)
            || self.tables.values().any(|t| t.meta.name == meta.name)
        {
            return Err("a table created twice");
        }
        self.next_id = self.next_id.max(meta.id);
        self.tables.insert(
            meta.id,
            Staged {
                meta,
                rows: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Reads the checkpoint `name` at `ts` into an empty `Recovered`.
    fn read_checkpoint(bytes: &[u8], name: &str, ts: u64) -> crate::Result<Self> {
        let mut rec = Recovered {
            checkpoint: ts,
            last: ts,
            ..Recovered::default()
        };
        let corrupt = |offset: usize, reason: &str| Error::Corrupt {
            file: name.to_owned(),
            offset: offset as u64,
            reason: reason.to_owned(),
        };
        let mut offset = 0;
        let mut current: Option<u64> = None;
        let mut counts = (0u64, 0u64);
        let mut header = false;
        loop {
            let log::Frame::Whole {
                ts: frame_ts,
                payload,
                len,
            } = log::read_frame(&bytes[offset..])
            else {
                return Err(corrupt(offset, "a damaged or missing frame"));
            };
            if frame_ts != ts {
                return Err(corrupt(offset, "a frame of another checkpoint"));
            }
            let mut r = Reader { bytes: payload };
            let step = (|| -> Result<bool, Bad> {
                match r.byte()? {
                    HEADER if !header => {
                        if r.bytes()? != MAGIC {
                            return Err("not a multiverse checkpoint");
                        }
                        if r.byte()? != FORMAT {
                            return Err("an unknown checkpoint format");
                        }
                        rec.next_id = r.len()?;
                        header = true;
                    }
                    _ if !header => return Err("no header"),
                    CREATE => {
                        let meta = r.meta()?;
                        current = Some(meta.id);
                        counts.0 += 1;
                        rec.create(meta)?;
                    }
                    ROWS => {
                        let id = r.len()?;
                        if current != Some(id) {
                            return Err("rows outside their table");
                        }
                        let table = rec.tables.get_mut(&id).ok_or("rows of no table")?;
                        while !r.done() {
                            let key = r.bytes()?.to_vec();
                            let row = r.bytes()?.to_vec();
                            table.rows.insert(key, row);
                            counts.1 += 1;
                        }
                    }
                    END => {
                        if (r.len()?, r.len()?) != counts {
                            return Err("table or row counts differ from the end frame");
                        }
                        return Ok(true);
                    }
                    _ => return Err("unknown frame kind"),
                }
                if !r.done() {
                    return Err("bytes after the end of a frame");
                }
                Ok(false)
            })();
            match step {
                Ok(true) if offset + len == bytes.len() => return Ok(rec),
                Ok(true) => return Err(corrupt(offset + len, "bytes after the end frame")),
                Ok(false) => offset += len,
                Err(reason) => return Err(corrupt(offset, reason)),
            }
        }
    }
}

/// Recovers the directory: the newest checkpoint, then the log after it.
/// Removes leftover temporary files and checkpoints older than the newest.
pub(crate) fn recover(dir: &dyn device::Dir) -> crate::Result<(Recovered, log::Replayed)> {
    let names = dir
        .list()
        .map_err(|e| Error::io(e, "listing the database directory"))?;
    for name in names.iter().filter(|n| n.ends_with(".tmp")) {
        dir.remove(name)
            .map_err(|e| Error::io(e, format!("removing {name}")))?;
    }
    let mut checkpoints: Vec<(u64, &String)> = names
        .iter()
        .filter_map(|n| parse_checkpoint_name(n).map(|ts| (ts, n)))
        .collect();
    checkpoints.sort();
    let mut rec = match checkpoints.last() {
        Some(&(ts, name)) => {
            let bytes = dir
                .read(name)
                .map_err(|e| Error::io(e, format!("reading {name}")))?;
            Recovered::read_checkpoint(&bytes, name, ts)?
        }
        None => Recovered::default(),
    };
    let after = rec.checkpoint;
    let replayed = log::replay(dir, after, |ts, payload| {
        // `replay` fills in the segment and the offset.
        rec.apply(payload).map_err(|reason| Error::Corrupt {
            file: String::new(),
            offset: 0,
            reason: format!("the record at timestamp {ts}: {reason}"),
        })
    })?;
    rec.last = replayed.last_ts.max(after);
    for &(_, name) in checkpoints.iter().rev().skip(1) {
        dir.remove(name)
            .map_err(|e| Error::io(e, format!("removing {name}")))?;
    }
    Ok((rec, replayed))
}

/// Writes a checkpoint at `ts` of `tables`, each given as its meta and a
/// function that emits its rows (key and row bytes) at `ts`.
pub(crate) struct CheckpointWriter<'a> {
    file: &'a mut dyn device::LogFile,
    ts: u64,
    frame: Vec<u8>,
    payload: Vec<u8>,
    table: u64,
    counts: (u64, u64),
}

impl<'a> CheckpointWriter<'a> {
    pub(crate) fn new(
        file: &'a mut dyn device::LogFile,
        ts: u64,
        next_id: u64,
    ) -> crate::Result<Self> {
        let mut w = CheckpointWriter {
            file,
            ts,
            frame: Vec::new(),
            payload: vec![HEADER],
            table: 0,
            counts: (0, 0),
        };
        put_bytes(&mut w.payload, MAGIC);
        w.payload.push(FORMAT);
        write_varint(next_id, &mut w.payload);
        w.emit()?;
        Ok(w)
    }

    fn emit(&mut self) -> crate::Result<()> {
        self.frame.clear();
        log::frame(self.ts, &self.payload, &mut self.frame);
        self.payload.clear();
        self.file
            .append(&self.frame)
            .map_err(|e| Error::io(e, "writing a checkpoint"))
    }

    /// Starts a table.
    pub(crate) fn table(&mut self, meta: &TableMeta) -> crate::Result<()> {
        self.flush_rows()?;
        self.payload = create_record(meta);
        self.emit()?;
        self.table = meta.id;
        self.counts.0 += 1;
        Ok(())
    }

    /// The buffer to append one row of the current table to (with
    /// [`put_entry`] or two [`encode_framed`]s); call
    /// [`row_done`](Self::row_done) after.
    pub(crate) fn row_buffer(&mut self) -> &mut Vec<u8> {
        if self.payload.is_empty() {
            self.payload.push(ROWS);
            write_varint(self.table, &mut self.payload);
        }
        &mut self.payload
    }

    pub(crate) fn row_done(&mut self) -> crate::Result<()> {
        self.counts.1 += 1;
        if self.payload.len() >= ROWS_PER_FRAME {
            self.emit()?;
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> crate::Result<()> {
        if !self.payload.is_empty() {
            self.emit()?;
        }
        Ok(())
    }

    /// Ends the checkpoint (the caller syncs and renames it).
    pub(crate) fn finish(mut self) -> crate::Result<()> {
        self.flush_rows()?;
        self.payload.push(END);
        write_varint(self.counts.0, &mut self.payload);
        write_varint(self.counts.1, &mut self.payload);
        self.emit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_round_trip_and_reject_others() {
        assert_eq!(parse_checkpoint_name(&checkpoint_name(42)), Some(42));
        assert_eq!(parse_checkpoint_name("ckpt-42"), None);
        assert_eq!(parse_checkpoint_name("ckpt-0000000000000000004x"), None);
        assert_eq!(
            parse_checkpoint_name(&format!("{}.tmp", checkpoint_name(1))),
            None
        );
    }

    #[test]
    fn a_framed_encoding_moves_its_length_when_it_needs_more_than_a_byte() {
        for n in [0usize, 1, 127, 128, 300, 70_000] {
            let mut out = vec![9];
            encode_framed(&mut out, |o| o.extend(std::iter::repeat_n(7u8, n)));
            let mut r = Reader { bytes: &out[1..] };
            assert_eq!(r.bytes().unwrap().len(), n);
            assert!(r.done());
        }
    }

    #[test]
    fn records_apply_in_order_and_refuse_damage() {
        let meta = TableMeta {
            id: 1,
            name: "t".into(),
            key_type: "u64".into(),
            row_type: "[i64;1]".into(),
            hash: false,
        };
        let txn = |parts: &[Vec<u8>]| {
            let mut out = vec![TXN];
            write_varint(parts.len() as u64, &mut out);
            parts.iter().for_each(|p| out.extend_from_slice(p));
            out
        };
        let mut rec = Recovered::default();
        rec.apply(&txn(&[create_record(&meta)])).unwrap();
        let mut w = vec![WRITES];
        write_entry(&mut w, 1, |o| o.push(1), Some(|o: &mut Vec<u8>| o.push(10)));
        write_entry(&mut w, 1, |o| o.push(2), Some(|o: &mut Vec<u8>| o.push(20)));
        write_entry(&mut w, 1, |o| o.push(1), None::<fn(&mut Vec<u8>)>);
        rec.apply(&w).unwrap();
        let rows: Vec<_> = rec.tables[&1].rows.iter().collect();
        assert_eq!(rows, [(&vec![2u8], &vec![20u8])]);
        // A write to a table never created, a truncated record, a second
        // create.
        let mut bad = vec![WRITES];
        write_entry(&mut bad, 9, |o| o.push(1), None::<fn(&mut Vec<u8>)>);
        assert!(rec.apply(&bad).is_err());
        assert!(rec.apply(&w[..w.len() - 1]).is_err());
        assert!(rec.apply(&txn(&[create_record(&meta)])).is_err());
        rec.apply(&txn(&[drop_record(1)])).unwrap();
        assert!(rec.tables.is_empty());
        // No write follows its table's drop (C1): one that does is damage.
        assert!(rec.apply(&w).is_err());
        // A create and the writes of one transaction, in one record.
        let mut both = txn(&[create_record(&TableMeta { id: 2, ..meta })]);
        write_entry(
            &mut both,
            2,
            |o| o.push(3),
            Some(|o: &mut Vec<u8>| o.push(30)),
        );
        rec.apply(&both).unwrap();
        assert_eq!(rec.tables[&2].rows.len(), 1);
    }
}
