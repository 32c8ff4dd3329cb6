//! A partition's durable log: one append-only file of framed records.
//!
//! A partition keeps its durable state as one sequence of records
//! (single-partition commits, `Prepare`s with their write sets, decisions),
//! each written as a frame by [`PartitionLog::append`] and made durable by
//! [`PartitionLog::sync`]. The bytes go to a [`Device`]: a [`FileDevice`]
//! (a real file, `fdatasync`) or a [`SimDevice`] on a [`SimDisk`], whose
//! [`crash`](SimDisk::crash) keeps only what was synced, plus perhaps a torn
//! prefix of the rest, for the simulator.
//!
//! ## A frame
//!
//! | bytes | field | meaning |
//! | --- | --- | --- |
//! | 0..4 | `len` u32 LE | length of the payload |
//! | 4..8 | `crc` u32 LE | CRC-32 (`crc32fast`) of bytes 0..4 and the payload |
//! | 8..8+len | payload | the record |
//!
//! The CRC covers the length field as well as the payload, so that a run of
//! zero bytes (a file extended but not written before a power cut) is not
//! a sequence of valid empty records: the CRC of no bytes at all is 0.
//!
//! ## The torn tail, and damage in the middle
//!
//! A crash leaves what was synced, then a prefix of what was appended after
//! it, whose last few bytes may be wrong (a torn write). So the last frame
//! may be short (its header or its payload runs past the end of the file:
//! a length is never trusted before it is checked against the bytes there
//! are) or fail its CRC; neither was acknowledged by a sync, and
//! [`PartitionLog::open`] cuts the file at the first such frame, as the
//! engine's log does with its last segment (LevelDB, RocksDB's
//! "tolerate corrupted tail records").
//!
//! The engine tells a torn tail from damage by position: a bad frame in a
//! segment that was synced before the next one started is damage. One file
//! has no such boundary, so the evidence used is what follows the bad frame:
//! a torn write is the *end* of what reached the disk, so if a whole,
//! CRC-valid frame still follows it, the bad frame is damage to bytes that
//! were written before later ones (in all likelihood synced), and dropping
//! the frames after it would lose acknowledged records. `open` then fails
//! with `InvalidData`, naming both offsets. "Follows" means: going on from
//! the bad frame by the length fields, through frames that fit in the file,
//! until one is whole (damage) or one runs past the end (a torn tail).
//! One case cannot be caught: damage to a length field that makes its frame
//! run past the end of the file looks exactly like a torn write, and is cut
//! (only a checksum of the header alone could tell them apart).
//!
//! The rule assumes that a crash keeps the appended bytes in order. That
//! holds for [`SimDisk`] by construction; a real file system that writes
//! unsynced pages back out of order could, after a power cut, leave a valid
//! frame after a bad one among unsynced bytes. `open` then refuses rather
//! than guess; cutting the file at the first offset reported recovers.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The size of a frame's header: `len` u32 LE, then `crc` u32 LE.
pub const FRAME_HEADER: usize = 8;

/// Where the log's bytes go: one append-only file.
pub trait Device: Send {
    /// Writes all of `bytes` at the end.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every byte appended so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Everything appended so far, synced or not.
    fn read_all(&self) -> io::Result<Vec<u8>>;
    /// Cuts the file to `len` bytes; later appends go at `len`. Durable with
    /// the next [`sync`](Device::sync).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

// ---------------------------------------------------------------------------
// FileDevice

/// A file on the real file system, opened for appending.
pub struct FileDevice {
    file: File,
    path: PathBuf,
}

impl FileDevice {
    /// Opens the file at `path` for appending, creating it if it does not
    /// exist; then the parent directory is synced, so that the new entry
    /// survives a power cut.
    pub fn open(path: impl AsRef<Path>) -> io::Result<FileDevice> {
        let path = path.as_ref().to_path_buf();
        let mut options = OpenOptions::new();
        // O_APPEND: every write goes at the current end, also after `set_len`.
        options.read(true).append(true);
        let (file, created) = match options.clone().create_new(true).open(&path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (options.open(&path)?, false),
            Err(e) => return Err(e),
        };
        if created {
            sync_parent(&path)?;
        }
        Ok(FileDevice { file, path })
    }
}

/// Syncs the directory holding `path` (on Unix; elsewhere directories
/// cannot be opened to be synced).
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Device for FileDevice {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn read_all(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

// ---------------------------------------------------------------------------
// SimDisk

/// An in-memory file that can crash, for the simulator. Clones share it.
///
/// Its bytes are a synced prefix and the unsynced rest; a successful
/// [`Device::sync`] makes them all synced. [`crash`](SimDisk::crash) builds
/// what a power cut leaves; devices opened before it fail from then on (a
/// crashed process writes nothing more), so a restart takes a new
/// [`device`](SimDisk::device).
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<SimState>>,
}

#[derive(Default)]
struct SimState {
    data: Vec<u8>,
    /// `data[..synced]` survives a crash.
    synced: usize,
    /// Bumped by each crash; a device of an earlier generation is dead.
    generation: u64,
    syncs: u64,
    appends: u64,
    /// How many syncs succeed before one fails.
    fail_sync: Option<u64>,
}

/// A [`Device`] writing into a [`SimDisk`].
pub struct SimDevice {
    state: Arc<Mutex<SimState>>,
    generation: u64,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        lock(&self.state)
    }

    /// A device on this disk, alive until the next crash.
    pub fn device(&self) -> SimDevice {
        SimDevice {
            state: Arc::clone(&self.state),
            generation: self.lock().generation,
        }
    }

    /// A power cut. The disk keeps its synced bytes and a random prefix,
    /// possibly empty, of the unsynced ones; with probability 1/4 one byte
    /// among the last eight kept unsynced bytes is then flipped (a torn
    /// write). Eight is a frame header's size: a frame starting after the
    /// flipped byte cannot be whole, so the damage is always in the log's
    /// tail, never in a frame that a whole one follows. What is left counts
    /// as synced; earlier devices are dead.
    pub fn crash(&self, rng: &mut fastrand::Rng) {
        let mut s = self.lock();
        let keep = s.synced + rng.usize(0..=s.data.len() - s.synced);
        s.data.truncate(keep);
        let torn = (keep - s.synced).min(FRAME_HEADER);
        if torn > 0 && rng.u8(0..4) == 0 {
            let at = keep - 1 - rng.usize(0..torn);
            s.data[at] ^= rng.u8(1..=255);
        }
        s.synced = keep;
        s.generation += 1;
    }

    /// The number of successful syncs so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// The number of successful appends so far.
    pub fn appends(&self) -> u64 {
        self.lock().appends
    }

    /// Makes the sync after the next `n` successful ones fail (once); the
    /// bytes it would have made durable stay unsynced.
    pub fn fail_sync_after(&self, n: u64) {
        self.lock().fail_sync = Some(n);
    }

    /// All the bytes, synced or not (for tests that damage them).
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().data.clone()
    }

    /// Replaces the disk's content by `bytes`, all synced (a damaged disk).
    pub fn set_bytes(&self, bytes: Vec<u8>) {
        let mut s = self.lock();
        s.synced = bytes.len();
        s.data = bytes;
    }
}

/// Locks the disk's state; a panic while it was held (a test's) leaves the
/// state consistent, so poisoning is ignored.
fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimDevice {
    /// The disk's state, or an error if the disk crashed since this device
    /// was taken.
    fn live(&self) -> io::Result<MutexGuard<'_, SimState>> {
        let s = lock(&self.state);
        if s.generation != self.generation {
            return Err(io::Error::other("the simulated disk crashed"));
        }
        Ok(s)
    }
}

impl Device for SimDevice {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.live()?;
        s.data.extend_from_slice(bytes);
        s.appends += 1;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.live()?;
        match s.fail_sync {
            Some(0) => {
                s.fail_sync = None;
                return Err(io::Error::other("injected sync failure"));
            }
            Some(n) => s.fail_sync = Some(n - 1),
            None => {}
        }
        s.synced = s.data.len();
        s.syncs += 1;
        Ok(())
    }

    fn read_all(&self) -> io::Result<Vec<u8>> {
        Ok(self.live()?.data.clone())
    }

    /// Taken as durable at once when it cuts synced bytes (the log truncates
    /// only at open and syncs right after; a crash in between would find
    /// the same torn tail again).
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut s = self.live()?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        s.data.truncate(len);
        s.synced = s.synced.min(len);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Frames and the log

/// Appends the frame of `payload` to `out`: `len` u32 LE, `crc` u32 LE (of
/// the length bytes and the payload), the payload.
///
/// Panics if the payload is 4 GiB or more (a bug of the caller, not a state
/// of the log).
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len())
        .expect("a log record under 4 GiB")
        .to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(payload);
    out.reserve(FRAME_HEADER + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// One frame read from the front of a byte slice.
enum Frame<'a> {
    /// CRC-valid: the payload, and the frame's length in bytes.
    Whole(&'a [u8], usize),
    /// Fits in the slice but fails its CRC; its length in bytes.
    Bad(usize),
    /// Its header or its payload runs past the end of the slice.
    Short,
}

fn read_frame(bytes: &[u8]) -> Frame<'_> {
    let Some((header, rest)) = bytes.split_first_chunk::<FRAME_HEADER>() else {
        return Frame::Short;
    };
    let len = [header[0], header[1], header[2], header[3]];
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let Some(payload) = usize::try_from(u32::from_le_bytes(len))
        .ok()
        .and_then(|n| rest.get(..n))
    else {
        return Frame::Short;
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    if hasher.finalize() == crc {
        Frame::Whole(payload, FRAME_HEADER + payload.len())
    } else {
        Frame::Bad(FRAME_HEADER + payload.len())
    }
}

/// A partition's log: appends frames to a [`Device`] and syncs it.
///
/// After an append or a sync fails, what the device holds is unknown (a
/// failed sync may have dropped the unsynced bytes: retrying proves
/// nothing), so the log is poisoned and every later call fails; the
/// partition must restart and [`open`](PartitionLog::open) it again.
pub struct PartitionLog {
    device: Box<dyn Device>,
    /// The frame being written, kept to reuse its allocation.
    buf: Vec<u8>,
    syncs: u64,
    poisoned: bool,
}

impl PartitionLog {
    /// Reads the log on `device`: returns it, ready to append, with the
    /// payload of every whole, CRC-valid record in order.
    ///
    /// A torn tail (see the module docs) is cut off; then the device is
    /// synced, also when nothing was cut, so that every record returned is
    /// durable even if it had only reached the OS's cache before a process
    /// crash. `InvalidData` if a bad record has a whole one after it.
    pub fn open(mut device: Box<dyn Device>) -> io::Result<(PartitionLog, Vec<Vec<u8>>)> {
        let bytes = device.read_all()?;
        let mut records = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            match read_frame(&bytes[pos..]) {
                Frame::Whole(payload, len) => {
                    records.push(payload.to_vec());
                    pos += len;
                }
                Frame::Bad(len) => {
                    check_tail(&bytes, pos, pos + len)?;
                    break;
                }
                Frame::Short => break,
            }
        }
        if pos < bytes.len() {
            device.truncate(pos as u64)?;
        }
        device.sync()?;
        let log = PartitionLog {
            device,
            buf: Vec::new(),
            syncs: 0,
            poisoned: false,
        };
        Ok((log, records))
    }

    /// Appends `payload` as one frame. Not durable before the next
    /// [`sync`](PartitionLog::sync).
    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        self.check()?;
        self.buf.clear();
        frame(payload, &mut self.buf);
        let result = self.device.append(&self.buf);
        self.poisoned = result.is_err();
        result
    }

    /// Makes every record appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.check()?;
        self.syncs += 1;
        let result = self.device.sync();
        self.poisoned = result.is_err();
        result
    }

    /// The number of calls of [`sync`](PartitionLog::sync) (the one in
    /// `open` is not counted).
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    fn check(&self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::other(
                "the partition log failed earlier; reopen it",
            ));
        }
        Ok(())
    }
}

/// The frame at `bad` failed its CRC and the next would start at `next`:
/// an error if, going on by the length fields through frames that fit, a
/// whole frame is found (damage in the middle, not a torn tail).
fn check_tail(bytes: &[u8], bad: usize, mut next: usize) -> io::Result<()> {
    while next < bytes.len() {
        match read_frame(&bytes[next..]) {
            Frame::Whole(..) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "partition log: the record at offset {bad} is damaged but a whole \
                         record follows it at offset {next}: damage, not a torn tail"
                    ),
                ))
            }
            Frame::Bad(len) => next += len,
            Frame::Short => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_sim(disk: &SimDisk) -> io::Result<(PartitionLog, Vec<Vec<u8>>)> {
        PartitionLog::open(Box::new(disk.device()))
    }

    fn payloads(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; i * 7 % 23]).collect()
    }

    /// The offsets at which each frame of `records` starts, and the end.
    fn offsets(records: &[Vec<u8>]) -> Vec<usize> {
        let mut at = vec![0];
        for r in records {
            at.push(at.last().unwrap() + FRAME_HEADER + r.len());
        }
        at
    }

    #[test]
    fn records_round_trip_on_a_sim_disk() {
        let disk = SimDisk::new();
        let (mut log, read) = open_sim(&disk).unwrap();
        assert!(read.is_empty());
        let records = payloads(10);
        for r in &records {
            log.append(r).unwrap();
        }
        log.sync().unwrap();
        assert_eq!((log.syncs(), disk.appends()), (1, 10));
        drop(log);
        let (mut log, read) = open_sim(&disk).unwrap();
        assert_eq!(read, records);
        log.append(b"more").unwrap();
        log.sync().unwrap();
        let (_, read) = open_sim(&disk).unwrap();
        assert_eq!(read.len(), 11);
        assert_eq!(read[10], b"more");
        assert_eq!(disk.bytes().len(), *offsets(&read).last().unwrap());
    }

    #[test]
    fn records_round_trip_in_a_file_and_its_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partition.log");
        let records = payloads(10);
        {
            let (mut log, read) =
                PartitionLog::open(Box::new(FileDevice::open(&path).unwrap())).unwrap();
            assert!(read.is_empty());
            for r in &records {
                log.append(r).unwrap();
            }
            log.sync().unwrap();
        }
        let (mut log, read) =
            PartitionLog::open(Box::new(FileDevice::open(&path).unwrap())).unwrap();
        assert_eq!(read, records);
        log.append(b"last").unwrap();
        log.sync().unwrap();
        drop(log);
        // A torn write: half of a frame at the end.
        let mut torn = Vec::new();
        frame(b"torn record", &mut torn);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(file);
        let (mut log, read) =
            PartitionLog::open(Box::new(FileDevice::open(&path).unwrap())).unwrap();
        assert_eq!(read.len(), 11);
        assert_eq!(read[10], b"last");
        let end = *offsets(&read).last().unwrap() as u64;
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            end,
            "the tail was cut"
        );
        log.append(b"after the cut").unwrap();
        log.sync().unwrap();
        let (_, read) = PartitionLog::open(Box::new(FileDevice::open(&path).unwrap())).unwrap();
        assert_eq!(read.len(), 12);
        assert_eq!(read[11], b"after the cut");
    }

    /// After random appends and syncs and a crash, the log reopens to a
    /// prefix of what was appended that holds every synced record, whole;
    /// the seeds cover lost unsynced records and torn (flipped) tails.
    #[test]
    fn a_crash_keeps_every_synced_record_and_no_partial_one() {
        let (mut lost, mut flipped) = (0, 0);
        for seed in 0..500 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let disk = SimDisk::new();
            let mut expected: Vec<Vec<u8>> = Vec::new();
            for _round in 0..3 {
                let (mut log, read) =
                    open_sim(&disk).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                assert_eq!(read, expected, "seed {seed}");
                let mut synced = expected.len();
                for _ in 0..rng.usize(0..12) {
                    let len = rng.usize(0..30);
                    let payload: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                    log.append(&payload).unwrap();
                    expected.push(payload);
                    if rng.u8(0..3) == 0 {
                        log.sync().unwrap();
                        synced = expected.len();
                    }
                }
                let before = disk.bytes();
                disk.crash(&mut rng);
                let after = disk.bytes();
                if !before.starts_with(&after) {
                    flipped += 1;
                }
                assert!(log.append(b"x").is_err(), "a crashed device is dead");
                let (_, read) = open_sim(&disk).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                assert!(
                    read.len() >= synced,
                    "seed {seed}: a synced record was lost"
                );
                assert_eq!(read[..], expected[..read.len()], "seed {seed}");
                lost += expected.len() - read.len();
                expected.truncate(read.len());
            }
        }
        assert!(lost > 0 && flipped > 0, "lost {lost}, flipped {flipped}");
    }

    /// Open syncs what it read: records that had reached the OS's cache
    /// but not the disk before a process crash survive a later power cut.
    #[test]
    fn records_returned_by_open_survive_a_crash() {
        let disk = SimDisk::new();
        let mut raw = Vec::new();
        frame(b"unsynced", &mut raw);
        disk.device().append(&raw).unwrap();
        let (_, read) = open_sim(&disk).unwrap();
        assert_eq!(read, [b"unsynced"]);
        for seed in 0..20 {
            disk.crash(&mut fastrand::Rng::with_seed(seed));
            let (_, read) = open_sim(&disk).unwrap();
            assert_eq!(read, [b"unsynced"], "seed {seed}");
        }
    }

    #[test]
    fn a_damaged_record_with_a_whole_one_after_it_is_an_error() {
        let records = payloads(5);
        let at = offsets(&records);
        let disk = SimDisk::new();
        let (mut log, _) = open_sim(&disk).unwrap();
        for r in &records {
            log.append(r).unwrap();
        }
        log.sync().unwrap();
        let good = disk.bytes();
        // A payload byte of record 2, then its crc: both are damage.
        for damaged in [at[2] + FRAME_HEADER + 1, at[2] + 5] {
            let mut bytes = good.clone();
            bytes[damaged] ^= 0x40;
            disk.set_bytes(bytes);
            let err = open_sim(&disk).err().expect("damage is reported");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(
                err.to_string().contains(&format!("offset {}", at[2])),
                "{err}"
            );
            assert!(
                err.to_string().contains(&format!("offset {}", at[3])),
                "{err}"
            );
        }
        // Two damaged records, then whole ones: still damage.
        let mut bytes = good.clone();
        bytes[at[2] + 6] ^= 1;
        bytes[at[3] + 6] ^= 1;
        disk.set_bytes(bytes);
        assert!(open_sim(&disk).is_err());
        assert_eq!(disk.bytes().len(), good.len(), "nothing was cut");
    }

    #[test]
    fn a_torn_or_damaged_last_record_is_cut() {
        let records = payloads(5);
        let at = offsets(&records);
        let disk = SimDisk::new();
        let (mut log, _) = open_sim(&disk).unwrap();
        for r in &records {
            log.append(r).unwrap();
        }
        log.sync().unwrap();
        let good = disk.bytes();
        let mut damaged = good.clone();
        *damaged.last_mut().unwrap() ^= 1;
        let mut short = good.clone();
        short.pop();
        for bytes in [damaged, short] {
            disk.set_bytes(bytes);
            let (mut log, read) = open_sim(&disk).unwrap();
            assert_eq!(read, records[..4]);
            assert_eq!(disk.bytes(), good[..at[4]], "the tail was cut");
            log.append(b"new").unwrap();
            log.sync().unwrap();
            let (_, read) = open_sim(&disk).unwrap();
            assert_eq!(read.len(), 5);
            assert_eq!(read[4], b"new");
        }
    }

    /// The CRC covers the length, so zeros (a file extended but never
    /// written) are not a run of empty records.
    #[test]
    fn zero_bytes_after_the_log_are_cut_not_read_as_records() {
        let disk = SimDisk::new();
        let (mut log, _) = open_sim(&disk).unwrap();
        log.append(b"one").unwrap();
        log.sync().unwrap();
        let mut bytes = disk.bytes();
        let end = bytes.len();
        bytes.extend_from_slice(&[0; 64]);
        disk.set_bytes(bytes);
        let (_, read) = open_sim(&disk).unwrap();
        assert_eq!(read, [b"one"]);
        assert_eq!(disk.bytes().len(), end);
    }

    #[test]
    fn a_failed_sync_poisons_the_log() {
        let disk = SimDisk::new();
        let (mut log, _) = open_sim(&disk).unwrap();
        disk.fail_sync_after(1);
        log.append(b"a").unwrap();
        log.sync().unwrap();
        log.append(b"b").unwrap();
        assert!(log.sync().is_err());
        // The disk would sync now; the log refuses.
        assert!(log.sync().is_err());
        assert!(log.append(b"c").is_err());
        assert_eq!(disk.appends(), 2);
        let (_, read) = open_sim(&disk).unwrap();
        assert_eq!(
            read,
            [b"a", b"b"],
            "a reopened log reads what the disk holds"
        );
    }

    /// A device whose first append fails after writing half of it.
    struct FailFirstAppend(SimDevice, bool);

    impl Device for FailFirstAppend {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            if std::mem::replace(&mut self.1, false) {
                self.0.append(&bytes[..bytes.len() / 2])?;
                return Err(io::Error::other("injected append failure"));
            }
            self.0.append(bytes)
        }
        fn sync(&mut self) -> io::Result<()> {
            self.0.sync()
        }
        fn read_all(&self) -> io::Result<Vec<u8>> {
            self.0.read_all()
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.0.truncate(len)
        }
    }

    #[test]
    fn a_failed_append_poisons_the_log() {
        let disk = SimDisk::new();
        let (mut log, _) =
            PartitionLog::open(Box::new(FailFirstAppend(disk.device(), true))).unwrap();
        assert!(log.append(b"half written").is_err());
        // The device would append now; the log refuses, since a frame
        // written after the half one would be lost with it.
        assert!(log.append(b"b").is_err());
        assert!(log.sync().is_err());
        assert_eq!(disk.syncs(), 1, "only open's sync reached the disk");
        let (_, read) = open_sim(&disk).unwrap();
        assert!(read.is_empty());
        assert!(disk.bytes().is_empty(), "the half frame was cut");
    }
}
