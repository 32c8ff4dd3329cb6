//! The redo log: frames, segments, replay after a crash.
//!
//! The log is a sequence of frames, one per committed write transaction (its
//! redo record is the payload), in strictly rising commit-timestamp
//! order, spread over segment files named `log-{first_ts:020}` (twenty
//! digits, so that names sort as numbers do).
//!
//! ## A frame
//!
//! | bytes | field | meaning |
//! | --- | --- | --- |
//! | 0..4 | `len` u32 LE | length of the payload |
//! | 4..8 | `crc` u32 LE | CRC-32 (`crc32fast`) of bytes 8..16+len: the ts and the payload |
//! | 8..16 | `ts` u64 LE | commit timestamp |
//! | 16..16+len | payload | the record |
//!
//! The CRC covers the timestamp, so a frame whose ts was damaged is caught;
//! it does not cover `len`, but a damaged length makes the CRC run over the
//! wrong bytes (or past the end) and fail just the same.
//!
//! ## Segments
//!
//! [`LogWriter`] appends to the newest segment and [`rotates`](LogWriter::rotate)
//! to a new one named after the next timestamp, once the old one is synced.
//! A segment's name is therefore an exclusive upper bound on the timestamps
//! of the segment before it, which is all that
//! [`remove_through`](LogWriter::remove_through) relies on to drop the
//! segments a checkpoint covers. (A segment's own frames are normally at or
//! above its name, but not always: if a crash loses every frame of a segment
//! that was started ahead of the clock, the log goes on in it from the
//! recovered timestamp. Nothing depends on that lower bound.)
//!
//! ## The torn tail
//!
//! A crash can leave the end of the newest segment in any state: cut in the
//! middle of a frame, a few garbage bytes after it (a torn sector), or
//! unsynced pages written out of order. None of that was acknowledged by a
//! sync, so [`replay`] reads the last segment up to its first frame that is
//! short or fails its CRC, cuts the segment there and reports the bytes cut
//! (`torn_bytes`). This is the rule of LevelDB's log reader, fjall's journal
//! and surrealkv's WAL, and RocksDB's "point in time" recovery: the log is
//! the longest prefix of whole frames. A frame whose length field points
//! past the end of the file is short too (never trusted to allocate).
//!
//! A damaged frame in an *earlier* segment cannot be a torn write: every
//! segment is synced before the next one starts. So there it is
//! `Error::Corrupt`, with the segment and the frame's offset, and replay
//! stops: dropping the frames after it would silently lose acknowledged
//! commits. So is a whole frame whose timestamp does not rise: the log is
//! written in commit order, and a CRC that matches says these are the
//! bytes that were written.
//!
//! One consequence: damage in the last segment (a byte flipped by the disk
//! or by a hand) is cut off like a torn write, not reported. In the last
//! frame the two cannot be told apart at all; before it they cannot either,
//! because unsynced pages may reach the disk in any order, so a crash can
//! leave a bad frame with good ones after it. `torn_bytes` says how much
//! was cut.

use super::device::{Dir, LogFile};
use crate::{Error, Result};
use std::io;
use std::sync::Arc;

/// The size of a frame's header: len u32 LE | crc32 u32 LE (crc32fast over
/// ts bytes + payload) | ts u64 LE. The payload follows it.
pub(crate) const FRAME_HEADER: usize = 16;

/// Appends the frame of `payload` at `ts` to `out`.
///
/// Panics if the payload is 4 GiB or more (a record that large is a bug of
/// the caller, not a state of the log).
pub(crate) fn frame(ts: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("a log record under 4 GiB");
    let ts = ts.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&ts);
    crc.update(payload);
    out.reserve(FRAME_HEADER + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&ts);
    out.extend_from_slice(payload);
}

/// One frame read from the front of a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A frame whose CRC matches.
    Whole {
        /// Its commit timestamp.
        ts: u64,
        /// Its record.
        payload: &'a [u8],
        /// Its length in bytes, header and payload: where the next frame starts.
        len: usize,
    },
    /// Too short for its header or its length, or a CRC that does not match.
    Torn,
}

/// Reads one frame from the front of `bytes`.
pub(crate) fn read_frame(bytes: &[u8]) -> Frame<'_> {
    match check_frame(bytes) {
        Ok((ts, payload, len)) => Frame::Whole { ts, payload, len },
        Err(_) => Frame::Torn,
    }
}

/// [`read_frame`], with what is wrong with a torn frame.
fn check_frame(bytes: &[u8]) -> Result<(u64, &[u8], usize), &'static str> {
    let Some((header, rest)) = bytes.split_first_chunk::<FRAME_HEADER>() else {
        return Err("the frame's header is cut short");
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let ts_bytes = &header[8..16];
    // Checked against the bytes there are before it is used: a garbage
    // length is never trusted.
    let Some(payload) = usize::try_from(len).ok().and_then(|n| rest.get(..n)) else {
        return Err("the frame's length runs past the end of the file");
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(ts_bytes);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err("the frame's checksum does not match");
    }
    let ts = u64::from_le_bytes(ts_bytes.try_into().expect("8 bytes"));
    Ok((ts, payload, FRAME_HEADER + payload.len()))
}

/// The name of the segment whose frames start at `first_ts`: `log-` and
/// twenty digits.
pub(crate) fn segment_name(first_ts: u64) -> String {
    format!("log-{first_ts:020}")
}

/// The first ts of segment `name`, if `name` is a segment's name (exactly
/// `log-` and twenty digits: `log-….tmp` and other files are not).
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("log-")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, sorted by first ts.
fn segments(dir: &dyn Dir) -> io::Result<Vec<(u64, String)>> {
    let mut segments: Vec<(u64, String)> = dir
        .list()?
        .into_iter()
        .filter_map(|name| Some((parse_segment_name(&name)?, name)))
        .collect();
    segments.sort_unstable();
    Ok(segments)
}

/// What [`replay`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// The ts of the last frame replayed, or `after` if none was.
    pub last_ts: u64,
    /// The newest segment, which the log goes on in; `None` if there is none.
    pub last_segment: Option<String>,
    /// The bytes cut off the end of the last segment (a torn tail).
    pub torn_bytes: u64,
}

fn corrupt(file: &str, offset: usize, reason: String) -> Error {
    Error::Corrupt {
        file: file.to_string(),
        offset: offset as u64,
        reason,
    }
}

/// Replays the log in `dir`: calls `f` with every frame whose ts is above
/// `after`, in order, across the segments sorted by first ts.
///
/// A frame that is short or fails its CRC in the **last** segment ends the
/// log: the segment is cut (through `dir`) to its last whole frame and the
/// bytes cut are reported as `torn_bytes` (see the module docs for why).
/// The last segment is then synced, and the directory, so that what was
/// replayed is durable even if it had only reached the OS's cache before
/// a process crash (surrealkv#191): the database may acknowledge it.
///
/// `Err(Error::Corrupt { file, offset, .. })`, with the segment and the
/// offset of the frame, if a frame in an earlier segment is short or fails
/// its CRC, if a frame's ts does not rise above the one before it, or if it
/// is not below the first ts of the next segment. `Err(Error::Io)` if the
/// directory cannot be read or the tail cannot be cut. If `f` returns an
/// error, replay stops there and returns it (nothing is cut then); a
/// `Corrupt` with an empty `file` gets the segment and the frame's offset.
///
/// Never panics and allocates nothing from what it reads but the files
/// themselves.
pub(crate) fn replay(
    dir: &dyn Dir,
    after: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Replayed> {
    let segments = segments(dir).map_err(|e| Error::io(e, "listing the log's segments"))?;
    let mut out = Replayed {
        last_ts: after,
        last_segment: None,
        torn_bytes: 0,
    };
    let mut previous: Option<u64> = None;
    for (i, (_, name)) in segments.iter().enumerate() {
        let next_first = segments.get(i + 1).map(|&(first, _)| first);
        let bytes = dir
            .read(name)
            .map_err(|e| Error::io(e, format!("reading log segment {name}")))?;
        let mut pos = 0;
        while pos < bytes.len() {
            let (ts, payload, len) = match check_frame(&bytes[pos..]) {
                Ok(whole) => whole,
                Err(_) if next_first.is_none() => break, // the torn tail
                Err(reason) => return Err(corrupt(name, pos, reason.to_string())),
            };
            if let Some(p) = previous.filter(|&p| ts <= p) {
                return Err(corrupt(
                    name,
                    pos,
                    format!("the frame's ts {ts} does not rise above the previous frame's {p}"),
                ));
            }
            if let Some(next) = next_first.filter(|&next| ts >= next) {
                return Err(corrupt(
                    name,
                    pos,
                    format!("the frame's ts {ts} is not below the next segment's first ts {next}"),
                ));
            }
            previous = Some(ts);
            if ts > after {
                f(ts, payload).map_err(|e| match e {
                    // The caller found the record's content bad: say where.
                    Error::Corrupt { file, reason, .. } if file.is_empty() => {
                        corrupt(name, pos, reason)
                    }
                    e => e,
                })?;
                out.last_ts = ts;
            }
            pos += len;
        }
        if next_first.is_none() {
            let io = |what: &str| {
                let what = format!("{what} log segment {name}");
                move |e| Error::io(e, what)
            };
            let mut file = dir.open_append(name).map_err(io("opening"))?;
            if pos < bytes.len() {
                file.truncate(pos as u64)
                    .map_err(io("cutting the torn tail of"))?;
                out.torn_bytes = (bytes.len() - pos) as u64;
            }
            file.sync().map_err(io("syncing"))?;
            dir.sync_dir()
                .map_err(|e| Error::io(e, "syncing the database directory"))?;
            out.last_segment = Some(name.clone());
        }
    }
    Ok(out)
}

/// Appends frames to the newest segment and rolls to a new one.
///
/// Errors are the device's, unmapped; after one, the log's state on disk is
/// unknown and the database must stop writing (a failed sync in particular
/// may have dropped the unsynced pages: retrying it proves nothing).
pub(crate) struct LogWriter {
    dir: Arc<dyn Dir>,
    file: Box<dyn LogFile>,
    /// The first ts in the current segment's name.
    first_ts: u64,
}

impl LogWriter {
    /// Continues the log after replay: appends to `last_segment`, or starts
    /// segment `segment_name(next_ts)` (created, dir synced) if none.
    ///
    /// With `None` there must be no segment at all (replay said so): an
    /// existing segment of that name would be emptied.
    pub(crate) fn open(
        dir: Arc<dyn Dir>,
        last_segment: Option<String>,
        next_ts: u64,
    ) -> io::Result<Self> {
        let (file, first_ts) = match last_segment {
            Some(name) => {
                let first_ts = parse_segment_name(&name).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{name:?} is not a log segment's name"),
                    )
                })?;
                (dir.open_append(&name)?, first_ts)
            }
            None => {
                let file = dir.create(&segment_name(next_ts))?;
                dir.sync_dir()?;
                (file, next_ts)
            }
        };
        Ok(LogWriter {
            dir,
            file,
            first_ts,
        })
    }

    /// Appends `framed`, one or more whole frames (see [`frame`]) whose ts
    /// rise above every ts appended before, to the current segment. They are
    /// durable after the next [`sync`](Self::sync).
    pub(crate) fn append(&mut self, framed: &[u8]) -> io::Result<()> {
        self.file.append(framed)
    }

    /// Makes every frame appended so far durable (`fdatasync`).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync()
    }

    #[cfg(test)]
    /// The bytes in the current segment.
    pub(crate) fn segment_len(&self) -> u64 {
        self.file.len()
    }

    #[cfg(test)]
    /// The current segment's name.
    pub(crate) fn segment(&self) -> String {
        segment_name(self.first_ts)
    }

    /// Starts a new segment whose first frame will have ts >= next_ts (the
    /// current one is synced first; the new one is created and the dir
    /// synced). `next_ts` must be above every ts appended so far.
    ///
    /// The new segment's name must sort after the current one's. If
    /// `next_ts` is not above the current segment's first ts (the log went
    /// on in a segment started ahead of the clock, see the module docs),
    /// the current segment is kept if it is still empty, and otherwise the
    /// new one is named after the current first ts + 1: still above every
    /// ts in the current segment, which is what names promise.
    pub(crate) fn rotate(&mut self, next_ts: u64) -> io::Result<()> {
        self.file.sync()?;
        if next_ts <= self.first_ts && self.file.len() == 0 {
            return Ok(());
        }
        let first_ts = next_ts.max(self.first_ts.saturating_add(1));
        let file = self.dir.create(&segment_name(first_ts))?;
        self.dir.sync_dir()?;
        self.file = file;
        self.first_ts = first_ts;
        Ok(())
    }

    /// Removes every segment all of whose frames are <= ts (segment i is
    /// covered when segment i+1's first ts <= ts + 1); never the current one.
    /// Returns how many it removed; the directory is synced if any was.
    ///
    /// It lists the directory, so segments that an earlier removal left
    /// behind (a crash before its directory sync) go too.
    pub(crate) fn remove_through(&mut self, ts: u64) -> io::Result<usize> {
        let segments = segments(&*self.dir)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            let [(first, name), (next_first, _)] = pair else {
                unreachable!("windows of 2")
            };
            if *first >= self.first_ts || *next_first > ts.saturating_add(1) {
                break;
            }
            self.dir.remove(name)?;
            removed += 1;
        }
        if removed > 0 {
            self.dir.sync_dir()?;
        }
        Ok(removed)
    }
}

/// Writes `name` atomically: `name.tmp` created, `write` fills it, synced,
/// renamed to `name`, dir synced. (Checkpoints use it.)
///
/// A crash at any point leaves `name` as it was or as written, never in
/// between; it may leave `name.tmp` behind, which whoever opens the
/// directory ignores or removes. If `write` fails, its error is returned
/// and the temporary file removed (as far as that goes).
pub(crate) fn write_atomically(
    dir: &dyn Dir,
    name: &str,
    write: impl FnOnce(&mut dyn LogFile) -> Result<()>,
) -> Result<()> {
    let tmp = format!("{name}.tmp");
    let mut file = dir
        .create(&tmp)
        .map_err(|e| Error::io(e, format!("creating {tmp}")))?;
    if let Err(e) = write(&mut *file) {
        drop(file);
        let _ = dir.remove(&tmp);
        return Err(e);
    }
    file.sync()
        .map_err(|e| Error::io(e, format!("syncing {tmp}")))?;
    drop(file);
    dir.rename(&tmp, name)
        .map_err(|e| Error::io(e, format!("renaming {tmp} to {name}")))?;
    dir.sync_dir()
        .map_err(|e| Error::io(e, "syncing the database directory"))
}

#[cfg(test)]
mod tests {
    use super::super::device::{tests::TempDir, FsDir, SimDir};
    use super::*;
    use proptest::prelude::*;

    /// A payload that tells its ts, of a length that varies with it (0
    /// included), with no zero byte (so that zeros after a torn frame never
    /// complete it).
    fn payload(ts: u64) -> Vec<u8> {
        let n = (ts * 7 % 41) as usize;
        (0..n)
            .map(|i| (ts as u8).wrapping_add(i as u8) | 0x80)
            .collect()
    }

    fn framed(ts: u64) -> Vec<u8> {
        let mut out = Vec::new();
        frame(ts, &payload(ts), &mut out);
        out
    }

    type Frames = Vec<(u64, Vec<u8>)>;

    /// A device error in a test's `write_atomically` closure, as the crate's error.
    fn wr(r: io::Result<()>) -> Result<()> {
        r.map_err(|e| Error::io(e, "writing"))
    }

    /// A log of one segment per range of timestamps, each frame appended
    /// alone, all synced. Returns the segments' names.
    fn write_log(dir: &SimDir, ranges: &[std::ops::Range<u64>]) -> Vec<String> {
        let mut w = LogWriter::open(Arc::new(dir.clone()), None, ranges[0].start).unwrap();
        let mut names = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            if i > 0 {
                w.rotate(r.start).unwrap();
            }
            names.push(w.segment());
            for ts in r.clone() {
                w.append(&framed(ts)).unwrap();
            }
        }
        w.sync().unwrap();
        names
    }

    fn collect(dir: &dyn Dir, after: u64) -> Result<(Frames, Replayed)> {
        let mut frames = Vec::new();
        let r = replay(dir, after, |ts, p| {
            frames.push((ts, p.to_vec()));
            Ok(())
        })?;
        Ok((frames, r))
    }

    fn expected(ts: impl IntoIterator<Item = u64>) -> Frames {
        ts.into_iter().map(|ts| (ts, payload(ts))).collect()
    }

    /// Sets file `name` to `bytes` (a test's hand-made damage).
    fn overwrite(dir: &dyn Dir, name: &str, bytes: &[u8]) {
        let mut f = dir.open_append(name).unwrap();
        f.truncate(0).unwrap();
        f.append(bytes).unwrap();
        f.sync().unwrap();
    }

    #[test]
    fn frames_read_back_whole_in_a_row() {
        let mut bytes = Vec::new();
        let sizes = [0usize, 1, 15, 16, 17, 1000, 70_000];
        for (i, &n) in sizes.iter().enumerate() {
            frame(i as u64 * 3, &vec![i as u8; n], &mut bytes);
        }
        let mut rest = &bytes[..];
        for (i, &n) in sizes.iter().enumerate() {
            match read_frame(rest) {
                Frame::Whole { ts, payload, len } => {
                    assert_eq!(ts, i as u64 * 3);
                    assert_eq!(payload, &vec![i as u8; n][..]);
                    assert_eq!(len, FRAME_HEADER + n);
                    rest = &rest[len..];
                }
                Frame::Torn => panic!("frame {i} read as torn"),
            }
        }
        assert!(rest.is_empty());
        assert_eq!(read_frame(&[]), Frame::Torn);
        // A length of 4 GiB - 1 with 20 bytes behind it: torn, not an allocation.
        let mut absurd = vec![0xFF; 4];
        absurd.extend_from_slice(&[0; 20]);
        assert_eq!(read_frame(&absurd), Frame::Torn);
    }

    #[test]
    fn segment_names_sort_as_their_timestamps_and_parse_back() {
        for ts in [0, 1, 9, 10, 12345, u64::MAX] {
            assert_eq!(parse_segment_name(&segment_name(ts)), Some(ts));
        }
        assert!(segment_name(9) < segment_name(10));
        assert_eq!(segment_name(7), "log-00000000000000000007");
        for other in [
            "log-7",
            "log-00000000000000000007.tmp",
            "ckpt-1",
            "log-0000000000000000000x",
            "log-99999999999999999999",
        ] {
            assert_eq!(parse_segment_name(other), None, "{other}");
        }
    }

    #[test]
    fn replay_returns_every_frame_in_order_across_segments() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..40, 40..41, 41..100, 100..130]);
        let (frames, r) = collect(&dir, 0).unwrap();
        assert_eq!(frames, expected(1..130));
        assert_eq!(
            r,
            Replayed {
                last_ts: 129,
                last_segment: Some(names[3].clone()),
                torn_bytes: 0
            }
        );
        // `after` skips what a checkpoint covers.
        let (frames, r) = collect(&dir, 70).unwrap();
        assert_eq!(frames, expected(71..130));
        assert_eq!(r.last_ts, 129);
        let (frames, r) = collect(&dir, 500).unwrap();
        assert!(frames.is_empty());
        assert_eq!(r.last_ts, 500);
        // Other files are not the log's.
        write_atomically(&dir, "ckpt-00000000000000000050", |f| wr(f.append(b"x"))).unwrap();
        dir.create("log-00000000000000000999.tmp")
            .unwrap()
            .append(b"junk")
            .unwrap();
        assert_eq!(collect(&dir, 0).unwrap().0, expected(1..130));
    }

    #[test]
    fn an_empty_directory_replays_nothing_and_the_writer_starts_the_log() {
        let dir = SimDir::new();
        let (frames, r) = collect(&dir, 7).unwrap();
        assert!(frames.is_empty());
        assert_eq!(
            r,
            Replayed {
                last_ts: 7,
                last_segment: None,
                torn_bytes: 0
            }
        );
        let mut w = LogWriter::open(Arc::new(dir.clone()), None, 8).unwrap();
        assert_eq!(w.segment(), segment_name(8));
        w.append(&framed(8)).unwrap();
        w.sync().unwrap();
        assert_eq!(w.segment_len(), framed(8).len() as u64);
        // Synced and dir-synced: every crash keeps it.
        for seed in 0..20 {
            assert_eq!(collect(&dir.crash(seed), 7).unwrap().0, expected([8]));
        }
    }

    /// A process killed after writing a segment but before syncing it or
    /// its directory entry: replay reads the frames from the OS's cache, and
    /// makes them durable before the database can acknowledge them.
    #[test]
    fn replay_makes_what_it_read_durable() {
        let dir = SimDir::new();
        let mut f = dir.create(&segment_name(1)).unwrap();
        for ts in 1..5 {
            f.append(&framed(ts)).unwrap();
        }
        let dir = dir.kill();
        assert_eq!(collect(&dir, 0).unwrap().0, expected(1..5));
        for seed in 0..40 {
            assert_eq!(
                collect(&dir.crash(seed), 0).unwrap().0,
                expected(1..5),
                "seed {seed}"
            );
        }
    }

    /// The last frame cut at every byte: replay keeps the frames before it,
    /// cuts the segment to them, and the log goes on from there.
    #[test]
    fn a_torn_last_frame_is_cut_off_at_every_byte_offset() {
        let last = framed(30);
        for cut in 0..last.len() {
            for garbage in [&[][..], &[0xA5; 3][..], &[0; 40][..]] {
                let dir = SimDir::new();
                let names = write_log(&dir, &[1..10, 10..30]);
                let seg = &names[1];
                let whole = dir.read(seg).unwrap();
                let mut torn = whole.clone();
                torn.extend_from_slice(&last[..cut]);
                torn.extend_from_slice(garbage);
                overwrite(&dir, seg, &torn);
                let (frames, r) = collect(&dir, 0).unwrap();
                assert_eq!(frames, expected(1..30), "cut {cut}");
                assert_eq!(r.torn_bytes as usize, cut + garbage.len());
                assert_eq!(r.last_segment.as_deref(), Some(&seg[..]));
                assert_eq!(dir.read(seg).unwrap(), whole, "cut to the last whole frame");
                // The cut is durable, and the log goes on after it.
                let dir = dir.crash(cut as u64);
                let mut w =
                    LogWriter::open(Arc::new(dir.clone()), r.last_segment, r.last_ts + 1).unwrap();
                w.append(&framed(30)).unwrap();
                w.sync().unwrap();
                let (frames, r) = collect(&dir, 0).unwrap();
                assert_eq!(frames, expected(1..31));
                assert_eq!(r.torn_bytes, 0);
            }
        }
    }

    /// A flipped byte anywhere in the last frame of the last segment: the
    /// last frame cannot be told apart from a torn write, so it is cut.
    #[test]
    fn a_flipped_byte_in_the_last_frame_reads_as_a_torn_tail() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..10, 10..20]);
        let seg = &names[1];
        let len = dir.read(seg).unwrap().len();
        let last_len = framed(19).len();
        for at in len - last_len..len {
            let dir = dir.crash(0);
            dir.corrupt(seg, at as u64);
            let (frames, r) = collect(&dir, 0).unwrap();
            assert_eq!(frames, expected(1..19), "byte {at}");
            assert_eq!(r.torn_bytes as usize, last_len);
            assert_eq!(dir.read(seg).unwrap().len(), len - last_len);
        }
    }

    /// Damage in the middle of the last segment cuts the log there too
    /// (RocksDB's point-in-time rule): unsynced pages reach the disk in any
    /// order, so a bad frame before good ones can be a crash's doing.
    #[test]
    fn a_bad_frame_inside_the_last_segment_cuts_the_log_there() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..10, 10..20]);
        let at = framed(10).len() + 3; // in frame 11's header
        dir.corrupt(&names[1], at as u64);
        let (frames, r) = collect(&dir, 0).unwrap();
        assert_eq!(frames, expected(1..11));
        assert_eq!(
            r.torn_bytes as usize,
            (11..20).map(|ts| framed(ts).len()).sum::<usize>()
        );
    }

    /// A flipped byte anywhere in a segment before the last: Corrupt, naming
    /// the segment and the offset of the frame that holds the byte.
    #[test]
    fn a_flipped_byte_in_a_middle_segment_is_corrupt_at_its_frame() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..10, 10..20, 20..25]);
        let seg = &names[1];
        let mut starts = Vec::new(); // (offset, len) of each frame in it
        let mut off = 0;
        for ts in 10..20 {
            let n = framed(ts).len();
            starts.push((off, n));
            off += n;
        }
        assert_eq!(off, dir.read(seg).unwrap().len());
        for &(start, n) in &starts {
            for at in start..start + n {
                let dir = dir.crash(0);
                dir.corrupt(seg, at as u64);
                let before = dir.read(&names[2]).unwrap();
                match collect(&dir, 0) {
                    Err(Error::Corrupt {
                        file,
                        offset,
                        reason,
                    }) => {
                        assert_eq!(
                            (&file[..], offset),
                            (&seg[..], start as u64),
                            "byte {at}: {reason}"
                        );
                    }
                    other => panic!("byte {at}: {other:?}"),
                }
                assert_eq!(dir.read(&names[2]).unwrap(), before, "nothing is cut");
            }
        }
    }

    #[test]
    fn an_absurd_length_is_torn_at_the_end_and_corrupt_before_it() {
        let mut absurd = u32::MAX.to_le_bytes().to_vec();
        absurd.extend_from_slice(&[7; 12]);
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..5, 5..9]);
        let mut tail = dir.read(&names[1]).unwrap();
        let whole = tail.len();
        tail.extend_from_slice(&absurd);
        overwrite(&dir, &names[1], &tail);
        let (frames, r) = collect(&dir, 0).unwrap();
        assert_eq!(frames, expected(1..9));
        assert_eq!(r.torn_bytes, 16);

        let mut first = dir.read(&names[0]).unwrap();
        let at = first.len();
        first.extend_from_slice(&absurd);
        overwrite(&dir, &names[0], &first);
        match collect(&dir, 0) {
            Err(Error::Corrupt { file, offset, .. }) => {
                assert_eq!((file, offset), (names[0].clone(), at as u64))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(dir.read(&names[1]).unwrap().len(), whole);
    }

    #[test]
    fn timestamps_that_do_not_rise_are_corrupt() {
        // Within a segment: 5 then 5.
        let dir = SimDir::new();
        let mut bytes = framed(4);
        bytes.extend(framed(5));
        let at = bytes.len();
        bytes.extend(framed(5));
        bytes.extend(framed(6));
        dir.create(&segment_name(4))
            .unwrap()
            .append(&bytes)
            .unwrap();
        match collect(&dir, 0) {
            Err(Error::Corrupt { file, offset, .. }) => {
                assert_eq!((file, offset), (segment_name(4), at as u64))
            }
            other => panic!("{other:?}"),
        }
        // Across segments: a frame at or above the next segment's first ts.
        let dir = SimDir::new();
        let mut bytes = framed(4);
        let at = bytes.len();
        bytes.extend(framed(9));
        dir.create(&segment_name(4))
            .unwrap()
            .append(&bytes)
            .unwrap();
        dir.create(&segment_name(9))
            .unwrap()
            .append(&framed(10))
            .unwrap();
        match collect(&dir, 0) {
            Err(Error::Corrupt { file, offset, .. }) => {
                assert_eq!((file, offset), (segment_name(4), at as u64))
            }
            other => panic!("{other:?}"),
        }
        // And across segments, falling: 8 in the first, 6 in the second.
        let dir = SimDir::new();
        dir.create(&segment_name(4))
            .unwrap()
            .append(&framed(8))
            .unwrap();
        dir.create(&segment_name(5))
            .unwrap()
            .append(&framed(6))
            .unwrap();
        match collect(&dir, 0) {
            Err(Error::Corrupt { file, offset, .. }) => {
                assert_eq!((file, offset), (segment_name(4), 0))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_of_the_callback_stops_replay_and_cuts_nothing() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..5, 5..9]);
        let mut tail = dir.read(&names[1]).unwrap();
        tail.extend_from_slice(&[1, 2, 3]);
        overwrite(&dir, &names[1], &tail);
        let mut seen = Vec::new();
        let r = replay(&dir, 0, |ts, _| {
            seen.push(ts);
            if ts == 6 {
                Err(Error::NotFound)
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err(Error::NotFound));
        assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
        assert_eq!(dir.read(&names[1]).unwrap(), tail);
    }

    #[test]
    fn remove_through_removes_the_covered_segments_and_never_the_current() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..5, 5..9, 9..12]);
        let mut w = LogWriter::open(Arc::new(dir.clone()), Some(names[2].clone()), 12).unwrap();
        assert_eq!(
            w.remove_through(3).unwrap(),
            0,
            "ts 4 is in the first segment"
        );
        assert_eq!(w.remove_through(4).unwrap(), 1);
        assert_eq!(w.remove_through(7).unwrap(), 0);
        assert_eq!(w.remove_through(8).unwrap(), 1);
        assert_eq!(
            w.remove_through(u64::MAX).unwrap(),
            0,
            "the current segment stays"
        );
        assert_eq!(dir.list().unwrap(), [names[2].clone()]);
        assert_eq!(collect(&dir, 8).unwrap().0, expected(9..12));
        // The removals were dir-synced.
        for seed in 0..20 {
            assert_eq!(dir.crash(seed).list().unwrap(), [names[2].clone()]);
        }
    }

    /// A segment started ahead of the clock (rotate(20) after frame 3)
    /// whose frames a crash lost: the log goes on in it from ts 4, and the
    /// next rotation still sorts after it.
    #[test]
    fn a_segment_started_ahead_of_the_clock_keeps_the_log_in_order() {
        let dir = SimDir::new();
        let names = write_log(&dir, &[1..4, 20..20]);
        let (_, r) = collect(&dir, 0).unwrap();
        assert_eq!(
            (r.last_ts, r.last_segment.as_deref()),
            (3, Some(&names[1][..]))
        );
        let mut w = LogWriter::open(Arc::new(dir.clone()), r.last_segment, 4).unwrap();
        w.rotate(4).unwrap();
        assert_eq!(w.segment(), names[1], "an empty segment is kept");
        w.append(&framed(4)).unwrap();
        w.append(&framed(5)).unwrap();
        w.rotate(6).unwrap();
        assert_eq!(w.segment(), segment_name(21));
        w.append(&framed(6)).unwrap();
        w.sync().unwrap();
        assert_eq!(collect(&dir, 0).unwrap().0, expected(1..7));
        assert_eq!(
            w.remove_through(5).unwrap(),
            0,
            "names bound from above only"
        );
        assert_eq!(w.remove_through(20).unwrap(), 2);
        assert_eq!(collect(&dir, 5).unwrap().0, expected([6]));
    }

    #[test]
    fn write_atomically_leaves_the_old_file_or_the_new_one_whole() {
        for fail_at in 0..3u64 {
            for seed in 0..40 {
                let dir = SimDir::new();
                write_atomically(&dir, "ckpt", |f| wr(f.append(b"old-old"))).unwrap();
                dir.fail_sync_after(fail_at);
                let r = write_atomically(&dir, "ckpt", |f| {
                    wr(f.append(b"new-"))?;
                    wr(f.append(b"new"))
                });
                // Syncs: the file, then the directory; the third is none.
                assert_eq!(r.is_err(), fail_at < 2, "fail_at {fail_at}");
                let got = dir.crash(seed).read("ckpt").unwrap();
                assert!(got == b"old-old" || got == b"new-new", "{got:?}");
                if fail_at == 2 {
                    assert_eq!(got, b"new-new", "a completed write survives every crash");
                }
                if fail_at == 0 {
                    assert_eq!(got, b"old-old", "never renamed");
                }
            }
        }
        // A failing `write`: its error, and no temporary file left.
        let dir = SimDir::new();
        let r = write_atomically(&dir, "ckpt", |_| Err(Error::NotFound));
        assert_eq!(r, Err(Error::NotFound));
        assert!(dir.list().unwrap().is_empty());
    }

    #[test]
    fn a_failed_sync_is_reported_and_only_what_was_synced_is_certain() {
        let (mut lost, mut kept) = (false, false);
        for seed in 0..60 {
            let dir = SimDir::new();
            let mut w = LogWriter::open(Arc::new(dir.clone()), None, 1).unwrap();
            w.append(&framed(1)).unwrap();
            w.sync().unwrap();
            w.append(&framed(2)).unwrap();
            dir.fail_sync_after(0);
            assert!(w.sync().is_err());
            let (frames, r) = collect(&dir.crash(seed), 0).unwrap();
            assert!(
                frames == expected([1]) || frames == expected([1, 2]),
                "{frames:?}"
            );
            lost |= frames.len() == 1;
            kept |= frames.len() == 2;
            assert_eq!(r.last_ts, frames.len() as u64);
        }
        assert!(lost && kept);
        // A failed rotation too.
        let dir = SimDir::new();
        let mut w = LogWriter::open(Arc::new(dir.clone()), None, 1).unwrap();
        w.append(&framed(1)).unwrap();
        dir.fail_sync_after(1); // the segment's sync passes, the directory's fails
        assert!(w.rotate(2).is_err());
        let dir = SimDir::new();
        let mut w = LogWriter::open(Arc::new(dir.clone()), None, 1).unwrap();
        dir.fail_write_after(0);
        assert!(w.append(&framed(1)).is_err());
    }

    #[test]
    fn the_log_works_on_real_files() {
        let tmp = TempDir::new("log");
        let dir: Arc<dyn Dir> = Arc::new(FsDir::open(&tmp.0).unwrap());
        let (_, r) = collect(&*dir, 0).unwrap();
        let mut w = LogWriter::open(Arc::clone(&dir), r.last_segment, 1).unwrap();
        let mut batch = Vec::new();
        for ts in 1..50 {
            frame(ts, &payload(ts), &mut batch);
            if ts % 10 == 0 {
                w.append(&batch).unwrap();
                batch.clear();
                w.sync().unwrap();
            }
            if ts == 25 {
                w.append(&batch).unwrap();
                batch.clear();
                w.rotate(26).unwrap();
            }
        }
        w.append(&batch).unwrap();
        w.sync().unwrap();
        let len = w.segment_len();
        drop(w);
        // A torn tail on disk.
        let seg = segment_name(26);
        let mut f = dir.open_append(&seg).unwrap();
        f.append(&framed(50)[..20]).unwrap();
        drop(f);
        let (frames, r) = collect(&*dir, 0).unwrap();
        assert_eq!(frames, expected(1..50));
        assert_eq!((r.last_ts, r.torn_bytes), (49, 20));
        assert_eq!(dir.read(&seg).unwrap().len() as u64, len);
        let mut w = LogWriter::open(Arc::clone(&dir), r.last_segment, 50).unwrap();
        w.append(&framed(50)).unwrap();
        w.sync().unwrap();
        assert_eq!(w.remove_through(30).unwrap(), 1);
        assert_eq!(collect(&*dir, 30).unwrap().0, expected(31..51));
        write_atomically(&*dir, "ckpt-1", |f| wr(f.append(b"snapshot"))).unwrap();
        assert_eq!(dir.read("ckpt-1").unwrap(), b"snapshot");
        let mut names = dir.list().unwrap();
        names.sort();
        assert_eq!(names, ["ckpt-1".to_string(), seg]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Frames with these payload sizes, in one append.
        Append(Vec<usize>),
        Sync,
        Rotate,
        /// Remove through the ts of a synced frame, picked by this number.
        RemoveThrough(usize),
        /// A power cut, its outcome chosen by the seed.
        Crash(u64),
        /// A process crash: the OS keeps every byte written.
        Kill,
        FailWrite(u64),
        FailSync(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => prop::collection::vec(0..30usize, 1..4).prop_map(Op::Append),
            2 => Just(Op::Sync),
            1 => Just(Op::Rotate),
            1 => any::<usize>().prop_map(Op::RemoveThrough),
            2 => any::<u64>().prop_map(Op::Crash),
            1 => Just(Op::Kill),
            1 => (0..3u64).prop_map(Op::FailWrite),
            1 => (0..3u64).prop_map(Op::FailSync),
        ]
    }

    /// The model: which frames were appended, which of them a crash must
    /// keep, and below which ts the log may forget (what was removed).
    struct Model {
        dir: SimDir,
        /// `None` after an error: the database stops writing until a restart.
        writer: Option<LogWriter>,
        appended: Frames,
        /// `appended[..must]` were synced: every crash keeps them.
        must: usize,
        /// `appended[..written]` were appended without error: a kill keeps them.
        written: usize,
        next_ts: u64,
        /// Replay skips ts <= floor (segments through it may be removed).
        floor: u64,
        /// An injected failure may fire; an error without one is a bug.
        armed: bool,
    }

    impl Model {
        fn new() -> Self {
            let dir = SimDir::new();
            let writer = LogWriter::open(Arc::new(dir.clone()), None, 1).unwrap();
            Model {
                dir,
                writer: Some(writer),
                appended: Vec::new(),
                must: 0,
                written: 0,
                next_ts: 1,
                floor: 0,
                armed: false,
            }
        }

        /// An operation's result: on error, there must have been a failure
        /// armed, and the writer stops.
        fn check<T>(&mut self, r: io::Result<T>) -> Option<T> {
            match r {
                Ok(t) => Some(t),
                Err(e) => {
                    assert!(self.armed, "an error with no failure injected: {e}");
                    self.armed = false;
                    self.writer = None;
                    None
                }
            }
        }

        fn step(&mut self, op: &Op) {
            match *op {
                Op::Crash(seed) => return self.restart(self.dir.crash(seed), self.must, seed),
                Op::Kill => return self.restart(self.dir.kill(), self.written, 0),
                _ => {}
            }
            let Some(w) = self.writer.as_mut() else {
                return;
            };
            match op {
                Op::Append(sizes) => {
                    let mut buf = Vec::new();
                    for &n in sizes {
                        let p: Vec<u8> = (0..n)
                            .map(|i| (self.next_ts as u8).wrapping_add(i as u8))
                            .collect();
                        frame(self.next_ts, &p, &mut buf);
                        // Appended even if the write fails: part of it may land.
                        self.appended.push((self.next_ts, p));
                        self.next_ts += 1;
                    }
                    let r = w.append(&buf);
                    if self.check(r).is_some() {
                        self.written = self.appended.len();
                    }
                }
                Op::Sync => {
                    let r = w.sync();
                    if self.check(r).is_some() {
                        self.must = self.appended.len();
                    }
                }
                Op::Rotate => {
                    let r = w.rotate(self.next_ts);
                    if self.check(r).is_some() {
                        self.must = self.appended.len();
                    }
                }
                Op::RemoveThrough(pick) => {
                    if self.must == 0 {
                        return;
                    }
                    // Like a checkpoint: through a synced ts.
                    let ts = self.appended[pick % self.must].0.max(self.floor);
                    self.floor = ts;
                    let r = w.remove_through(ts);
                    self.check(r);
                }
                Op::FailWrite(n) => {
                    self.dir.fail_write_after(*n);
                    self.armed = true;
                }
                Op::FailSync(n) => {
                    self.dir.fail_sync_after(*n);
                    self.armed = true;
                }
                Op::Crash(_) | Op::Kill => unreachable!(),
            }
        }

        /// Restarts on `dir`, what a crash left, which must hold
        /// `appended[..kept]`: replays, checks, and goes on from what was
        /// replayed.
        fn restart(&mut self, dir: SimDir, kept: usize, seed: u64) {
            self.writer = None;
            let (got, r) = collect(&dir, self.floor).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let first = self.appended.partition_point(|&(ts, _)| ts <= self.floor);
            let may = &self.appended[first..];
            assert!(
                got.len() <= may.len() && got[..] == may[..got.len()],
                "seed {seed}: not a prefix of what was appended"
            );
            assert!(
                first + got.len() >= kept,
                "seed {seed}: lost a frame: {} < {kept}",
                first + got.len()
            );
            assert_eq!(r.last_ts, got.last().map_or(self.floor, |f| f.0));
            // The replay made what it read durable: a power cut keeps all of it.
            let again = collect(&dir.crash(seed ^ 1), self.floor).unwrap();
            assert_eq!((again.0, again.1.torn_bytes), (got.clone(), 0));

            self.appended.truncate(first + got.len());
            self.must = self.appended.len();
            self.written = self.appended.len();
            self.next_ts = r.last_ts + 1;
            self.armed = false;
            self.writer =
                Some(LogWriter::open(Arc::new(dir.clone()), r.last_segment, self.next_ts).unwrap());
            self.dir = dir;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// sled's crash-test model on the simulated device: after every
        /// crash, replay gives exactly a prefix of the appended frames that
        /// holds every synced one (after a kill, every one written),
        /// whatever failed before it; and what it replayed, it made durable.
        #[test]
        fn replay_after_any_crash_is_a_prefix_holding_every_synced_frame(
            ops in prop::collection::vec(op(), 1..60),
            last_seed in any::<u64>(),
        ) {
            let mut m = Model::new();
            for op in &ops {
                m.step(op);
            }
            let dir = m.dir.crash(last_seed);
            m.restart(dir, m.must, last_seed);
        }
    }
}
