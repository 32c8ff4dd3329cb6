//! A partition's log records and their encoding: one ordered log per
//! partition holds its one-partition commits, its 2PC prepares (with the
//! write set) and the decisions it learned, so that one replay rebuilds
//! both its rows and its participant records.

use crate::message::TxnId;
use crate::protocol::Decision;

/// One write of a transaction, encoded with the table's codecs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    /// The table's index in the cluster's schema.
    pub table: u32,
    /// The key's encoding.
    pub key: Vec<u8>,
    /// The row's encoding; `None` deletes.
    pub row: Option<Vec<u8>>,
}

/// A record of a partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogRecord {
    /// A transaction that wrote only this partition, committed at `ts`.
    Commit { ts: u64, writes: Vec<Write> },
    /// A participant's prepare.
    Prepare {
        txn: TxnId,
        ts: u64,
        participants: Vec<usize>,
        client: u64,
        writes: Vec<Write>,
    },
    /// A decision learned (a commit is applied at its timestamp when this
    /// record is written; an abort may be the "prevent" record of a
    /// transaction never prepared here).
    Decided { txn: TxnId, decision: Decision },
    /// The schema the log was written with (its first record): each
    /// table's name and its key's and row's stable type names, in the
    /// order that `Write::table` indexes.
    Schema { tables: Vec<String> },
    /// Classic 2PC's coordinator: the decision (before the commit round)
    /// and the end (after it). Recovery of the baseline is not built: the
    /// records are written for their cost only.
    Coordinator { txn: TxnId, end: bool },
}

const COMMIT: u8 = 1;
const PREPARE: u8 = 2;
const DECIDED_COMMIT: u8 = 3;
const DECIDED_ABORT: u8 = 4;
const COORDINATOR: u8 = 5;
const SCHEMA: u8 = 6;

fn put_u64(v: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_u64(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn put_writes(writes: &[Write], out: &mut Vec<u8>) {
    put_u64(writes.len() as u64, out);
    for w in writes {
        out.extend_from_slice(&w.table.to_le_bytes());
        put_bytes(&w.key, out);
        match &w.row {
            Some(row) => {
                out.push(1);
                put_bytes(row, out);
            }
            None => out.push(0),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "truncated: {n} bytes wanted, {} left",
                self.0.len()
            ));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn len(&mut self) -> Result<usize, String> {
        let n = self.u64()?;
        // A length never exceeds the bytes left: garbage cannot make us
        // allocate.
        if n > self.0.len() as u64 {
            return Err(format!("length {n} beyond the record"));
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }
    fn writes(&mut self) -> Result<Vec<Write>, String> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let table = self.u32()?;
            let key = self.bytes()?;
            let row = match self.u8()? {
                0 => None,
                1 => Some(self.bytes()?),
                b => return Err(format!("bad row flag {b}")),
            };
            out.push(Write { table, key, row });
        }
        Ok(out)
    }
}

impl LogRecord {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            LogRecord::Commit { ts, writes } => {
                out.push(COMMIT);
                put_u64(*ts, out);
                put_writes(writes, out);
            }
            LogRecord::Prepare {
                txn,
                ts,
                participants,
                client,
                writes,
            } => {
                out.push(PREPARE);
                put_u64(*txn, out);
                put_u64(*ts, out);
                put_u64(participants.len() as u64, out);
                for p in participants {
                    put_u64(*p as u64, out);
                }
                put_u64(*client, out);
                put_writes(writes, out);
            }
            LogRecord::Decided { txn, decision } => match decision {
                Decision::Commit(ts) => {
                    out.push(DECIDED_COMMIT);
                    put_u64(*txn, out);
                    put_u64(*ts, out);
                }
                Decision::Abort => {
                    out.push(DECIDED_ABORT);
                    put_u64(*txn, out);
                }
            },
            LogRecord::Coordinator { txn, end } => {
                out.push(COORDINATOR);
                put_u64(*txn, out);
                out.push(u8::from(*end));
            }
            LogRecord::Schema { tables } => {
                out.push(SCHEMA);
                put_u64(tables.len() as u64, out);
                for t in tables {
                    put_bytes(t.as_bytes(), out);
                }
            }
        }
    }

    /// Decodes one record (the whole payload).
    pub fn decode(payload: &[u8]) -> Result<LogRecord, String> {
        let mut r = Reader(payload);
        let record = match r.u8()? {
            COMMIT => LogRecord::Commit {
                ts: r.u64()?,
                writes: r.writes()?,
            },
            PREPARE => {
                let txn = r.u64()?;
                let ts = r.u64()?;
                let n = r.len()?;
                let mut participants = Vec::with_capacity(n);
                for _ in 0..n {
                    participants.push(r.u64()? as usize);
                }
                LogRecord::Prepare {
                    txn,
                    ts,
                    participants,
                    client: r.u64()?,
                    writes: r.writes()?,
                }
            }
            DECIDED_COMMIT => LogRecord::Decided {
                txn: r.u64()?,
                decision: Decision::Commit(r.u64()?),
            },
            DECIDED_ABORT => LogRecord::Decided {
                txn: r.u64()?,
                decision: Decision::Abort,
            },
            COORDINATOR => LogRecord::Coordinator {
                txn: r.u64()?,
                end: r.u8()? != 0,
            },
            SCHEMA => {
                let n = r.len()?;
                let mut tables = Vec::with_capacity(n);
                for _ in 0..n {
                    let b = r.bytes()?;
                    tables.push(String::from_utf8(b).map_err(|_| "a table name not in UTF-8")?);
                }
                LogRecord::Schema { tables }
            }
            t => return Err(format!("unknown record type {t}")),
        };
        if !r.0.is_empty() {
            return Err(format!("{} bytes after the record", r.0.len()));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_an_error_not_a_panic() {
        let w = vec![
            Write {
                table: 2,
                key: vec![1, 2],
                row: Some(vec![9; 5]),
            },
            Write {
                table: 0,
                key: vec![],
                row: None,
            },
        ];
        let records = [
            LogRecord::Commit {
                ts: 7,
                writes: w.clone(),
            },
            LogRecord::Prepare {
                txn: 3,
                ts: 9,
                participants: vec![2, 0, 1],
                client: 4,
                writes: w,
            },
            LogRecord::Decided {
                txn: 3,
                decision: Decision::Commit(11),
            },
            LogRecord::Decided {
                txn: 5,
                decision: Decision::Abort,
            },
            LogRecord::Coordinator { txn: 5, end: true },
            LogRecord::Schema {
                tables: vec!["a:u64:[i64;1]".into(), String::new()],
            },
        ];
        for rec in &records {
            let mut out = Vec::new();
            rec.encode(&mut out);
            assert_eq!(&LogRecord::decode(&out).unwrap(), rec);
            for cut in 0..out.len() {
                assert!(LogRecord::decode(&out[..cut]).is_err());
            }
            out.push(0);
            assert!(LogRecord::decode(&out).is_err());
        }
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..10_000 {
            let junk: Vec<u8> = (0..rng.usize(0..40)).map(|_| rng.u8(..)).collect();
            let _ = LogRecord::decode(&junk);
        }
    }
}
