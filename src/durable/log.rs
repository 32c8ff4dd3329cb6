//! SCAFFOLD (replaced by the `log` branch).
#![allow(dead_code, missing_docs)]
use super::device::{Dir, LogFile};
use std::io;
use std::sync::Arc;

pub(crate) const FRAME_HEADER: usize = 16;
pub(crate) fn frame(ts: u64, payload: &[u8], out: &mut Vec<u8>) {
    let mut h = crc32fast::Hasher::new();
    h.update(&ts.to_le_bytes());
    h.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(payload);
}
pub(crate) enum Frame<'a> { Whole { ts: u64, payload: &'a [u8], len: usize }, Torn }
pub(crate) fn read_frame(b: &[u8]) -> Frame<'_> {
    if b.len() < FRAME_HEADER { return Frame::Torn }
    let n = u32::from_le_bytes(b[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(b[4..8].try_into().unwrap());
    let ts = u64::from_le_bytes(b[8..16].try_into().unwrap());
    if b.len() - FRAME_HEADER < n { return Frame::Torn }
    let payload = &b[FRAME_HEADER..FRAME_HEADER + n];
    let mut h = crc32fast::Hasher::new(); h.update(&ts.to_le_bytes()); h.update(payload);
    if h.finalize() != crc { return Frame::Torn }
    Frame::Whole { ts, payload, len: FRAME_HEADER + n }
}
pub(crate) fn segment_name(first_ts: u64) -> String { format!("log-{first_ts:020}") }
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> { name.strip_prefix("log-")?.parse().ok().filter(|_| name.len() == 24) }
pub(crate) struct Replayed { pub last_ts: u64, pub last_segment: Option<String>, pub torn_bytes: u64 }
pub(crate) fn replay(dir: &dyn Dir, after: u64, mut f: impl FnMut(u64, &[u8]) -> crate::Result<()>) -> crate::Result<Replayed> {
    let mut segs: Vec<(u64, String)> = dir.list().map_err(|e| crate::Error::io(e, "list"))?.into_iter().filter_map(|n| parse_segment_name(&n).map(|t| (t, n))).collect();
    segs.sort();
    let mut last_ts = after; let mut torn_bytes = 0;
    for (i, (_, name)) in segs.iter().enumerate() {
        let bytes = dir.read(name).map_err(|e| crate::Error::io(e, "read"))?;
        let mut off = 0;
        while off < bytes.len() {
            match read_frame(&bytes[off..]) {
                Frame::Whole { ts, payload, len } => { if ts > last_ts { f(ts, payload)?; last_ts = ts; } off += len; }
                Frame::Torn => {
                    if i + 1 < segs.len() { return Err(crate::Error::Corrupt { file: name.clone(), offset: off as u64, reason: "torn".into() }) }
                    torn_bytes = (bytes.len() - off) as u64;
                    let mut file = dir.open_append(name).map_err(|e| crate::Error::io(e, "open"))?;
                    file.truncate(off as u64).map_err(|e| crate::Error::io(e, "truncate"))?;
                    file.sync().map_err(|e| crate::Error::io(e, "sync"))?;
                    break;
                }
            }
        }
    }
    Ok(Replayed { last_ts, last_segment: segs.last().map(|s| s.1.clone()), torn_bytes })
}
pub(crate) struct LogWriter { dir: Arc<dyn Dir>, file: Box<dyn LogFile>, name: String }
impl LogWriter {
    pub(crate) fn open(dir: Arc<dyn Dir>, last_segment: Option<String>, next_ts: u64) -> io::Result<Self> {
        let (file, name) = match last_segment { Some(n) => (dir.open_append(&n)?, n), None => { let n = segment_name(next_ts); let f = dir.create(&n)?; dir.sync_dir()?; (f, n) } };
        Ok(LogWriter { dir, file, name })
    }
    pub(crate) fn append(&mut self, framed: &[u8]) -> io::Result<()> { self.file.append(framed) }
    pub(crate) fn sync(&mut self) -> io::Result<()> { self.file.sync() }
    pub(crate) fn segment_len(&self) -> u64 { self.file.len() }
    pub(crate) fn rotate(&mut self, next_ts: u64) -> io::Result<()> { self.file.sync()?; let n = segment_name(next_ts); if n == self.name { return Ok(()) } self.file = self.dir.create(&n)?; self.dir.sync_dir()?; self.name = n; Ok(()) }
    pub(crate) fn remove_through(&mut self, ts: u64) -> io::Result<usize> {
        let mut segs: Vec<(u64, String)> = self.dir.list()?.into_iter().filter_map(|n| parse_segment_name(&n).map(|t| (t, n))).collect();
        segs.sort(); let mut k = 0;
        for w in segs.windows(2) { if w[1].0 <= ts + 1 && w[0].1 != self.name { self.dir.remove(&w[0].1)?; k += 1; } }
        if k > 0 { self.dir.sync_dir()?; }
        Ok(k)
    }
}
pub(crate) fn write_atomically(dir: &dyn Dir, name: &str, write: impl FnOnce(&mut dyn LogFile) -> crate::Result<()>) -> crate::Result<()> {
    let tmp = format!("{name}.tmp");
    let mut f = dir.create(&tmp).map_err(|e| crate::Error::io(e, "create"))?;
    write(&mut *f)?;
    f.sync().map_err(|e| crate::Error::io(e, "sync"))?;
    dir.rename(&tmp, name).map_err(|e| crate::Error::io(e, "rename"))?;
    dir.sync_dir().map_err(|e| crate::Error::io(e, "sync dir"))
}
