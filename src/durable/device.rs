//! The file operations of the log and of checkpoints, behind two small traits.
//!
//! The durable database touches the file system only through [`Dir`] (a
//! directory: list, read, create, rename, remove, and the directory sync that
//! makes those durable) and [`LogFile`] (one file open for appending: append,
//! `fdatasync`, truncate). Two implementations exist:
//!
//! - [`FsDir`], on `std::fs`, for real databases;
//! - [`SimDir`], an in-memory file system with a page cache, for crash tests.
//!   It keeps, per file, what reads see and what a crash keeps (the bytes of
//!   the last successful `sync`), and, per directory, the entries as a crash
//!   keeps them (as of the last successful `sync_dir`). [`SimDir::crash`]
//!   builds the directory that a power cut leaves behind, chosen by a seed;
//!   [`SimDir::fail_write_after`] and [`SimDir::fail_sync_after`] make an
//!   operation fail on demand; [`SimDir::corrupt`] flips a byte on "disk".
//!
//! `SimDir` is modelled on redb's `CrashBackend` (separate live and durable
//! images, the durable one advanced only by a sync) and on its fuzzer's I/O
//! countdown (the n-th next operation fails).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A directory of files, as the log and the checkpoints see it.
///
/// Creating, renaming and removing an entry become durable only with
/// [`sync_dir`](Dir::sync_dir); a file's bytes only with
/// [`LogFile::sync`].
pub(crate) trait Dir: Send + Sync {
    /// The names of the files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;
    /// The whole content of file `name`.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Creates file `name`, empty (an existing file is truncated), open for
    /// appending.
    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>>;
    /// Opens the existing file `name` for appending at its end.
    fn open_append(&self, name: &str) -> io::Result<Box<dyn LogFile>>;
    /// Renames `from` to `to`, atomically replacing `to` if it exists.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes file `name`.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes every create, rename and remove done so far durable.
    fn sync_dir(&self) -> io::Result<()>;
}

/// One file open for appending.
pub(crate) trait LogFile: Send {
    /// Writes all of `bytes` at the end of the file.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the file's bytes (and its length) durable: `fdatasync`.
    fn sync(&mut self) -> io::Result<()>;
    /// The length of the file, including bytes not yet synced.
    fn len(&self) -> u64;
    /// Cuts the file to `len` bytes; later appends go at `len`.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

// ---------------------------------------------------------------------------
// FsDir: the real file system.

/// A directory on the real file system (`std::fs`).
pub(crate) struct FsDir {
    path: PathBuf,
}

impl FsDir {
    /// Opens directory `path`, creating it (and its parents) if needed.
    pub(crate) fn open(path: &Path) -> io::Result<FsDir> {
        fs::create_dir_all(path)?;
        Ok(FsDir {
            path: path.to_path_buf(),
        })
    }

    #[cfg(test)]
    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A file of an [`FsDir`], with its length tracked so that `len` needs no
/// system call.
struct FsFile {
    file: File,
    len: u64,
}

impl Dir for FsDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // A name that is not UTF-8 is no file of ours.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path.join(name))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let file = File::create(self.path.join(name))?;
        Ok(Box::new(FsFile { file, len: 0 }))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        // Not O_APPEND: `truncate` must be able to move the end back.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path.join(name))?;
        let len = file.seek(SeekFrom::End(0))?;
        Ok(Box::new(FsFile { file, len }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path.join(from), self.path.join(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        // On Unix a directory is opened like a file and fsynced; Windows
        // cannot open a directory this way and makes renames durable itself.
        #[cfg(unix)]
        File::open(&self.path)?.sync_all()?;
        Ok(())
    }
}

impl LogFile for FsFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A short write moved the position by an unknown amount:
                // learn where the end is now.
                if let Ok(end) = self.file.seek(SeekFrom::End(0)) {
                    self.len = end;
                }
                Err(e)
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.seek(SeekFrom::Start(len))?;
        self.len = len;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// SimDir: an in-memory file system with a page cache, for crash tests.

/// An in-memory directory that can crash, fail and rot on demand (crash
/// tests). Clones share one directory.
///
/// Each file (an inode: renaming or removing an entry leaves open handles
/// working, as on POSIX) has `data`, what reads see, and `synced`, what a
/// crash keeps, set to `data` by a successful [`LogFile::sync`]. The
/// directory has `live` entries, what `list` and `read` see, and `durable`
/// ones, set to `live` by a successful [`Dir::sync_dir`]; the creates,
/// renames and removes in between are kept in order until then.
#[derive(Clone)]
pub(crate) struct SimDir {
    state: Arc<Mutex<SimState>>,
}

type Inode = u64;

#[derive(Clone)]
struct SimState {
    files: HashMap<Inode, SimFile>,
    live: BTreeMap<String, Inode>,
    durable: BTreeMap<String, Inode>,
    /// The entry operations since the last `sync_dir`, in order.
    pending: Vec<DirOp>,
    next_inode: Inode,
    /// Injected failures: how many writes (syncs) succeed before one fails.
    fail_write: Option<u64>,
    fail_sync: Option<u64>,
}

#[derive(Clone, Default)]
struct SimFile {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Clone)]
enum DirOp {
    Create(String, Inode),
    Rename(String, String),
    Remove(String),
}

/// A file of a [`SimDir`]: the directory and the inode.
struct SimHandle {
    state: Arc<Mutex<SimState>>,
    inode: Inode,
}

/// splitmix64: a small seeded generator, enough to choose crash outcomes.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), up to a negligible bias.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file {name:?}"))
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

/// Counts down an injected failure: true when this operation must fail.
fn fire(countdown: &mut Option<u64>) -> bool {
    match countdown {
        Some(0) => {
            *countdown = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

impl SimState {
    fn sync_file(&mut self, inode: Inode) -> io::Result<()> {
        if fire(&mut self.fail_sync) {
            return Err(injected("sync"));
        }
        let f = self.files.get_mut(&inode).expect("a handle's inode exists");
        if f.data.starts_with(&f.synced) {
            let from = f.synced.len();
            f.synced.extend_from_slice(&f.data[from..]);
        } else {
            f.synced.clone_from(&f.data);
        }
        Ok(())
    }
}

/// What a crash leaves of one file: its synced bytes plus a random prefix
/// of what was written after them, sometimes followed by a few garbage
/// bytes (a torn sector). If the file was truncated below its synced length
/// since the last sync, either the truncation (with a prefix of what
/// followed it) or the synced bytes survive.
fn crash_file(f: &SimFile, rng: &mut SplitMix) -> Vec<u8> {
    let (mut out, tail): (Vec<u8>, &[u8]) = if f.data.starts_with(&f.synced) {
        (f.synced.clone(), &f.data[f.synced.len()..])
    } else if rng.coin() {
        return f.synced.clone();
    } else {
        let common = f
            .synced
            .iter()
            .zip(&f.data)
            .take_while(|(a, b)| a == b)
            .count();
        (f.data[..common].to_vec(), &f.data[common..])
    };
    if tail.is_empty() {
        return out;
    }
    // Favour the extremes (all lost, all kept), which matter most.
    let keep = match rng.below(4) {
        0 => 0,
        1 => tail.len(),
        _ => rng.below(tail.len() as u64 + 1) as usize,
    };
    out.extend_from_slice(&tail[..keep]);
    if rng.below(4) == 0 {
        for _ in 0..1 + rng.below(8) {
            out.push(rng.next() as u8);
        }
    }
    out
}

// The crate's durable database uses `SimDir` from its tests only.
#[cfg_attr(not(test), allow(dead_code))]
impl SimDir {
    /// An empty directory.
    pub(crate) fn new() -> Self {
        SimDir {
            state: Arc::new(Mutex::new(SimState {
                files: HashMap::new(),
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
                pending: Vec::new(),
                next_inode: 0,
                fail_write: None,
                fail_sync: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread leaves a consistent state: every method
        // changes it only after its checks.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory as a crash leaves it: each file keeps its synced bytes
    /// plus a random prefix of its unsynced tail (seeded), optionally with
    /// garbage bytes after it; entries created/renamed/removed since the
    /// last sync_dir may be undone (seeded). Returns a new, independent
    /// SimDir, all of whose bytes and entries are durable and with no
    /// failure armed.
    ///
    /// Each pending entry operation is kept or undone by its own coin, in
    /// order: a rename is atomic (the target names the old file or the new
    /// one, never none) but may be undone while a later create is kept.
    pub(crate) fn crash(&self, seed: u64) -> SimDir {
        let s = self.lock();
        let mut rng = SplitMix(seed);
        let mut entries = s.durable.clone();
        for op in &s.pending {
            if !rng.coin() {
                continue;
            }
            match op {
                DirOp::Create(name, inode) => {
                    entries.insert(name.clone(), *inode);
                }
                DirOp::Rename(from, to) => {
                    if let Some(inode) = entries.remove(from) {
                        entries.insert(to.clone(), inode);
                    }
                }
                DirOp::Remove(name) => {
                    entries.remove(name);
                }
            }
        }
        let mut files = HashMap::new();
        for inode in entries.values() {
            if !files.contains_key(inode) {
                let content = crash_file(&s.files[inode], &mut rng);
                files.insert(
                    *inode,
                    SimFile {
                        data: content.clone(),
                        synced: content,
                    },
                );
            }
        }
        SimDir {
            state: Arc::new(Mutex::new(SimState {
                files,
                live: entries.clone(),
                durable: entries,
                pending: Vec::new(),
                next_inode: s.next_inode,
                fail_write: None,
                fail_sync: None,
            })),
        }
    }

    /// The directory as a process crash (`kill -9`) leaves it: the OS keeps
    /// every byte written and every entry, synced or not, and a power cut
    /// afterwards may still lose what was not synced. Returns a new,
    /// independent SimDir with no failure armed.
    pub(crate) fn kill(&self) -> SimDir {
        let mut state = self.lock().clone();
        state.fail_write = None;
        state.fail_sync = None;
        SimDir {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Injected failures: after `n` more writes (appends, truncates)
    /// succeed, the next one fails with an `io::Error` (`n = 0`: the very
    /// next). A failed append leaves the first half of its bytes written (a
    /// short write); a failed truncate changes nothing. One-shot.
    pub(crate) fn fail_write_after(&self, n: u64) {
        self.lock().fail_write = Some(n);
    }

    /// Injected failures: after `n` more syncs (of a file, or `sync_dir`)
    /// succeed, the next one fails with an `io::Error` and makes nothing
    /// durable. One-shot.
    pub(crate) fn fail_sync_after(&self, n: u64) {
        self.lock().fail_sync = Some(n);
    }

    /// Flips one byte (all its bits) of file `name` at `offset`, both in
    /// what reads see and in what a crash keeps. Panics if there is no such
    /// byte: a test asked for the impossible.
    pub(crate) fn corrupt(&self, name: &str, offset: u64) {
        let mut s = self.lock();
        let inode = *s
            .live
            .get(name)
            .unwrap_or_else(|| panic!("no file {name:?}"));
        let f = s.files.get_mut(&inode).expect("an entry's inode exists");
        let at = offset as usize;
        assert!(at < f.data.len(), "{name:?} has no byte {offset}");
        f.data[at] ^= 0xFF;
        if at < f.synced.len() {
            f.synced[at] ^= 0xFF;
        }
    }
}

impl Default for SimDir {
    fn default() -> Self {
        SimDir::new()
    }
}

impl Dir for SimDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().live.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let s = self.lock();
        let inode = s.live.get(name).ok_or_else(|| not_found(name))?;
        Ok(s.files[inode].data.clone())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let mut s = self.lock();
        let inode = match s.live.get(name) {
            // O_TRUNC: the same file, emptied (not durable until a sync).
            Some(&inode) => {
                s.files
                    .get_mut(&inode)
                    .expect("an entry's inode exists")
                    .data
                    .clear();
                inode
            }
            None => {
                let inode = s.next_inode;
                s.next_inode += 1;
                s.files.insert(inode, SimFile::default());
                s.live.insert(name.to_string(), inode);
                s.pending.push(DirOp::Create(name.to_string(), inode));
                inode
            }
        };
        Ok(Box::new(SimHandle {
            state: Arc::clone(&self.state),
            inode,
        }))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let s = self.lock();
        let inode = *s.live.get(name).ok_or_else(|| not_found(name))?;
        Ok(Box::new(SimHandle {
            state: Arc::clone(&self.state),
            inode,
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.lock();
        let inode = s.live.remove(from).ok_or_else(|| not_found(from))?;
        s.live.insert(to.to_string(), inode);
        s.pending
            .push(DirOp::Rename(from.to_string(), to.to_string()));
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = self.lock();
        s.live.remove(name).ok_or_else(|| not_found(name))?;
        s.pending.push(DirOp::Remove(name.to_string()));
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.lock();
        if fire(&mut s.fail_sync) {
            return Err(injected("directory sync"));
        }
        s.durable = s.live.clone();
        s.pending.clear();
        Ok(())
    }
}

impl SimHandle {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LogFile for SimHandle {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        let fail = fire(&mut s.fail_write);
        let f = s
            .files
            .get_mut(&self.inode)
            .expect("a handle's inode exists");
        if fail {
            f.data.extend_from_slice(&bytes[..bytes.len() / 2]);
            return Err(injected("write"));
        }
        f.data.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.lock().sync_file(self.inode)
    }

    fn len(&self) -> u64 {
        self.lock().files[&self.inode].data.len() as u64
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        if fire(&mut s.fail_write) {
            return Err(injected("truncate"));
        }
        let f = s
            .files
            .get_mut(&self.inode)
            .expect("a handle's inode exists");
        // Like set_len: a longer length pads with zeros.
        f.data.resize(len as usize, 0);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn write(dir: &SimDir, name: &str, bytes: &[u8], sync: bool) -> Box<dyn LogFile> {
        let mut f = dir.create(name).unwrap();
        f.append(bytes).unwrap();
        if sync {
            f.sync().unwrap();
        }
        f
    }

    fn read(dir: &SimDir, name: &str) -> Option<Vec<u8>> {
        dir.read(name).ok()
    }

    #[test]
    fn a_crash_keeps_every_synced_prefix_and_only_a_prefix_of_the_rest() {
        let mut outcomes = [false; 3]; // all lost, part kept, all kept
        let mut garbage_seen = false;
        for seed in 0..200 {
            let dir = SimDir::new();
            let mut f = write(&dir, "a", b"synced-bytes", true);
            dir.sync_dir().unwrap();
            f.append(b"unsynced-tail").unwrap();
            let crashed = dir.crash(seed);
            let got = read(&crashed, "a").expect("a dir-synced file survives");
            assert!(got.starts_with(b"synced-bytes"), "seed {seed}: {got:?}");
            let written = b"synced-bytesunsynced-tail";
            let same = got.iter().zip(written).take_while(|(a, b)| a == b).count();
            // Whatever follows the longest prefix of what was written is a
            // torn sector's garbage (at most 8 bytes).
            assert!(got.len() - same <= 8, "seed {seed}: {got:?}");
            garbage_seen |= same < got.len();
            match same {
                12 => outcomes[0] = true,
                25 => outcomes[2] = true,
                _ => outcomes[1] = true,
            }
            // The crashed directory is durable as it is.
            assert_eq!(read(&crashed.crash(seed + 1), "a"), Some(got));
        }
        assert_eq!(
            outcomes, [true; 3],
            "unsynced bytes may vanish, in whole or in part, or survive"
        );
        assert!(garbage_seen, "a torn sector leaves garbage sometimes");
    }

    #[test]
    fn entries_not_dir_synced_may_be_undone_and_a_rename_stays_atomic() {
        let (mut undone, mut kept) = (false, false);
        for seed in 0..100 {
            let dir = SimDir::new();
            write(&dir, "ckpt", b"old", true);
            dir.sync_dir().unwrap();
            write(&dir, "ckpt.tmp", b"new", true);
            dir.rename("ckpt.tmp", "ckpt").unwrap();
            let crashed = dir.crash(seed);
            match read(&crashed, "ckpt").as_deref() {
                Some(b"old") => undone = true,
                Some(b"new") => kept = true,
                other => panic!("seed {seed}: the target lost by a rename: {other:?}"),
            }
            // After a sync_dir the rename is durable.
            dir.sync_dir().unwrap();
            assert_eq!(read(&dir.crash(seed), "ckpt").as_deref(), Some(&b"new"[..]));
        }
        assert!(
            undone && kept,
            "a rename not dir-synced may be undone or kept"
        );

        // A created file not dir-synced may vanish; a removed one come back.
        let (mut vanished, mut back) = (false, false);
        for seed in 0..100 {
            let dir = SimDir::new();
            write(&dir, "old", b"x", true);
            dir.sync_dir().unwrap();
            write(&dir, "new", b"y", true);
            dir.remove("old").unwrap();
            let crashed = dir.crash(seed);
            vanished |= read(&crashed, "new").is_none();
            back |= read(&crashed, "old").is_some();
        }
        assert!(vanished && back);
    }

    #[test]
    fn a_truncate_then_appends_crash_to_the_old_or_the_new_bytes() {
        for seed in 0..100 {
            let dir = SimDir::new();
            let mut f = write(&dir, "a", b"0123456789", true);
            dir.sync_dir().unwrap();
            f.truncate(4).unwrap();
            f.append(b"ab").unwrap();
            assert_eq!(dir.read("a").unwrap(), b"0123ab");
            let got = read(&dir.crash(seed), "a").unwrap();
            let new_ok = got.len() <= 6 + 8 && got.starts_with(b"0123");
            assert!(got == b"0123456789" || new_ok, "seed {seed}: {got:?}");
            f.sync().unwrap();
            assert_eq!(read(&dir.crash(seed), "a").unwrap(), b"0123ab");
        }
    }

    #[test]
    fn injected_failures_fire_once_on_the_nth_operation() {
        let dir = SimDir::new();
        let mut f = dir.create("a").unwrap();
        dir.fail_write_after(1);
        f.append(b"1234").unwrap();
        assert!(f.append(b"5678").is_err());
        assert_eq!(
            dir.read("a").unwrap(),
            b"123456",
            "a failed append is a short write"
        );
        f.append(b"9").unwrap();

        dir.fail_sync_after(0);
        assert!(f.sync().is_err());
        // The failed sync made nothing durable.
        let lost = (0..50).any(|seed| read(&dir.crash(seed), "a").is_none_or(|b| b.len() < 7));
        assert!(lost);
        f.sync().unwrap();
        dir.fail_sync_after(0);
        assert!(dir.sync_dir().is_err());
        dir.sync_dir().unwrap();
        for seed in 0..20 {
            assert_eq!(read(&dir.crash(seed), "a").unwrap(), b"1234569");
        }
        dir.fail_write_after(0);
        assert!(f.truncate(1).is_err());
        assert_eq!(f.len(), 7);
    }

    #[test]
    fn a_kill_keeps_every_written_byte_but_not_its_durability() {
        let dir = SimDir::new();
        let mut f = write(&dir, "a", b"synced", true);
        dir.sync_dir().unwrap();
        f.append(b"+written").unwrap();
        write(&dir, "b", b"new", false);
        let killed = dir.kill();
        assert_eq!(killed.read("a").unwrap(), b"synced+written");
        assert_eq!(killed.read("b").unwrap(), b"new");
        // Still not durable: a power cut after the restart may lose them.
        let lost = (0..50).any(|seed| {
            let c = killed.crash(seed);
            c.read("b").is_err() || c.read("a").unwrap().len() < 14
        });
        assert!(lost);
    }

    #[test]
    fn corrupt_flips_a_byte_that_survives_a_crash() {
        let dir = SimDir::new();
        write(&dir, "a", b"abc", true);
        dir.sync_dir().unwrap();
        dir.corrupt("a", 1);
        assert_eq!(dir.read("a").unwrap(), [b'a', b'b' ^ 0xFF, b'c']);
        assert_eq!(dir.crash(7).read("a").unwrap(), [b'a', b'b' ^ 0xFF, b'c']);
    }

    #[test]
    fn open_handles_outlive_renames_and_removes() {
        let dir = SimDir::new();
        let mut f = dir.create("a").unwrap();
        dir.rename("a", "b").unwrap();
        f.append(b"x").unwrap();
        assert_eq!(dir.read("b").unwrap(), b"x");
        dir.remove("b").unwrap();
        f.append(b"y").unwrap();
        assert!(dir.list().unwrap().is_empty());
        assert_eq!(
            dir.open_append("b").err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }

    /// A fresh directory under the system's temporary directory, removed on drop.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        /// A path named after `tag`, this process and a counter; not created.
        pub(crate) fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            // Relaxed: the counter only has to hand out distinct numbers.
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("multiverse-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn fs_dir_appends_truncates_renames_and_removes() {
        let tmp = TempDir::new("fsdir");
        let dir = FsDir::open(&tmp.0.join("db")).unwrap();
        assert_eq!(dir.path(), tmp.0.join("db"));
        assert!(dir.list().unwrap().is_empty());
        let mut f = dir.create("a").unwrap();
        f.append(b"hello ").unwrap();
        f.append(b"world").unwrap();
        f.sync().unwrap();
        assert_eq!(f.len(), 11);
        drop(f);
        let mut f = dir.open_append("a").unwrap();
        assert_eq!(f.len(), 11);
        f.append(b"!").unwrap();
        assert_eq!(dir.read("a").unwrap(), b"hello world!");
        f.truncate(5).unwrap();
        f.append(b"?").unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!(dir.read("a").unwrap(), b"hello?");
        dir.create("a").unwrap();
        assert_eq!(dir.read("a").unwrap(), b"", "create truncates");
        dir.rename("a", "b").unwrap();
        dir.sync_dir().unwrap();
        assert_eq!(dir.list().unwrap(), ["b"]);
        dir.remove("b").unwrap();
        assert!(dir.list().unwrap().is_empty());
        assert_eq!(dir.read("b").unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(
            dir.open_append("b").err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }
}
