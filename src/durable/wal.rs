//! Group commit: the redo log's in-memory tail, its writer, and the
//! timestamps up to which it is written and synced.
//!
//! A committer encodes its redo record before it takes a timestamp (the
//! encoding runs user code), then, in the ordered publish step, frames it
//! with its timestamp and appends it to [`Wal::append`]'s buffer: the buffer,
//! and so the log, is in commit order, and what is durable is a prefix of
//! it. After publishing, the committer waits in [`Wal::wait`] until the
//! record is written to the OS (`Buffered`) or synced (`Sync`).
//!
//! Whoever waits and finds no writer at work becomes the *leader*: it takes
//! everything the buffer holds, writes it with one `write` and (under
//! `Sync`) syncs it with one `fdatasync`, advances the written and durable
//! timestamps and wakes the others (the *followers*), whose records it has
//! carried. Records appended while a leader syncs form the next group. A
//! lone committer pays one write and one sync and no thread hand-off; under
//! load, one sync carries every commit that arrived during the previous one
//! (group commit without a dedicated flusher thread: the latency of a
//! wake-up is not added to every commit).
//!
//! A failed write or sync poisons the log: the error is kept, every waiter
//! and every later commit gets it, and the timestamps never advance again.
//! After a failed `fdatasync` the kernel may have dropped the dirty pages
//! (PostgreSQL's "fsyncgate"), so retrying it could report success for
//! bytes that are gone: nothing is ever acknowledged that was not written.

use super::log::LogWriter;
use crate::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// How long a group waits for the bytes of one commit: what `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Written to the OS (survives the process, not the machine).
    Written,
    /// Synced (`fdatasync`).
    Synced,
}

/// The redo log of one durable database, shared by its committers.
pub(crate) struct Wal {
    until: Until,
    /// Frames appended in the ordered publish step, not yet written, and
    /// the timestamp of the last of them.
    tail: Mutex<Tail>,
    /// The segment files. Only the leader (and a checkpoint's rotation)
    /// writes through it.
    writer: Mutex<LogWriter>,
    /// Whether a leader is at work and how many followers wait for it, and
    /// the followers' wake-up.
    state: Mutex<Group>,
    woken: Condvar,
    /// The highest timestamp whose record is written to the OS.
    written: AtomicU64,
    /// The highest timestamp whose record is synced.
    synced: AtomicU64,
    /// Bytes written since the log was opened or last checkpointed.
    since_checkpoint: AtomicU64,
    /// Set once, with the first write or sync that failed.
    failure: OnceLock<Error>,
    failed: AtomicBool,
}

/// The group commit's bookkeeping, under `Wal::state`.
#[derive(Default)]
struct Group {
    leading: bool,
    /// Followers asleep on `Wal::woken`: a leader wakes them only if any
    /// (a wake-up is a system call).
    waiting: usize,
}

#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    last: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while one of these locks is held cannot leave its data
    // half-changed: the guarded sections only move bytes and numbers.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wal {
    /// A log continuing after `last`, the last timestamp recovery found.
    pub(crate) fn new(writer: LogWriter, until: Until, last: u64) -> Self {
        Wal {
            until,
            tail: Mutex::new(Tail {
                bytes: Vec::new(),
                last,
            }),
            writer: Mutex::new(writer),
            state: Mutex::new(Group::default()),
            woken: Condvar::new(),
            written: AtomicU64::new(last),
            synced: AtomicU64::new(last),
            since_checkpoint: AtomicU64::new(0),
            failure: OnceLock::new(),
            failed: AtomicBool::new(false),
        }
    }

    /// Whether commits wait for the sync (`Sync`) or the write.
    pub(crate) fn synced_commits(&self) -> bool {
        self.until == Until::Synced
    }

    /// The error that poisoned the log, if one has.
    pub(crate) fn failure(&self) -> Option<Error> {
        // Acquire: pairs with the Release in `fail`, which follows the set.
        if self.failed.load(Ordering::Acquire) {
            self.failure.get().cloned()
        } else {
            None
        }
    }

    fn fail(&self, e: Error) {
        let _ = self.failure.set(e);
        // Release: the error is set before the flag says so.
        self.failed.store(true, Ordering::Release);
    }

    /// Appends the frame of the record `payload` at `ts`. Runs in the
    /// ordered publish step: no user code, no panic (the mutex is only ever
    /// held by this step and by a leader taking the bytes, for a swap).
    pub(crate) fn append(&self, ts: u64, payload: &[u8]) {
        let mut tail = lock(&self.tail);
        super::log::frame(ts, payload, &mut tail.bytes);
        tail.last = ts;
    }

    /// The timestamp of the last record appended (or recovered).
    pub(crate) fn last_appended(&self) -> u64 {
        lock(&self.tail).last
    }

    /// The highest timestamp written to the OS.
    pub(crate) fn written(&self) -> u64 {
        // Acquire: pairs with the leader's Release store.
        self.written.load(Ordering::Acquire)
    }

    /// The highest timestamp on stable storage.
    pub(crate) fn synced(&self) -> u64 {
        // Acquire: pairs with the leader's Release store.
        self.synced.load(Ordering::Acquire)
    }

    fn done(&self) -> u64 {
        match self.until {
            Until::Written => self.written(),
            Until::Synced => self.synced(),
        }
    }

    /// Waits until the record at `ts` is written (or synced, see `Until`),
    /// writing it and every record before it as the leader if nobody is.
    /// `Err(Io)` if the log is poisoned, now or earlier.
    pub(crate) fn wait(&self, ts: u64) -> crate::Result<()> {
        // A leader may have carried our record already.
        if self.done() >= ts {
            return Ok(());
        }
        let mut group = lock(&self.state);
        loop {
            if self.done() >= ts {
                return Ok(());
            }
            if let Some(e) = self.failure() {
                return Err(e);
            }
            if !group.leading {
                group.leading = true;
                drop(group);
                self.flush(self.until);
                group = lock(&self.state);
                group.leading = false;
                if group.waiting > 0 {
                    self.woken.notify_all();
                }
            } else {
                group.waiting += 1;
                group = self
                    .woken
                    .wait(group)
                    .unwrap_or_else(PoisonError::into_inner);
                group.waiting -= 1;
            }
        }
    }

    /// Writes every buffered frame, and syncs if `until` says so. Only a
    /// leader calls it (or a thread holding `writer` for another reason,
    /// which excludes the leader through the same lock).
    fn flush(&self, until: Until) {
        let mut writer = lock(&self.writer);
        self.flush_locked(&mut writer, until);
    }

    fn flush_locked(&self, writer: &mut LogWriter, until: Until) {
        if self.failure().is_some() {
            return;
        }
        let (bytes, last) = {
            let mut tail = lock(&self.tail);
            (std::mem::take(&mut tail.bytes), tail.last)
        };
        if !bytes.is_empty() {
            if let Err(e) = writer.append(&bytes) {
                return self.fail(Error::io(e, "writing the log"));
            }
            self.since_checkpoint
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            // Release: a committer that sees it may return.
            self.written.fetch_max(last, Ordering::Release);
        }
        if until == Until::Synced && self.synced() < self.written() {
            let target = self.written();
            if let Err(e) = writer.sync() {
                return self.fail(Error::io(e, "syncing the log"));
            }
            // Release: as for `written`.
            self.synced.fetch_max(target, Ordering::Release);
        }
        // Give the buffer's capacity back for the next group, unless a
        // burst made it large.
        if bytes.capacity() <= 1 << 20 {
            let mut tail = lock(&self.tail);
            if tail.bytes.is_empty() {
                let mut bytes = bytes;
                bytes.clear();
                tail.bytes = bytes;
            }
        }
    }

    /// Writes and syncs everything appended so far (the `Buffered`
    /// background sync, and a clean shutdown). Returns the synced
    /// timestamp.
    pub(crate) fn sync_now(&self) -> crate::Result<u64> {
        self.flush(Until::Synced);
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(self.synced()),
        }
    }

    /// Log bytes written since the last checkpoint.
    pub(crate) fn since_checkpoint(&self) -> u64 {
        // Relaxed: a size hint for the automatic checkpoint.
        self.since_checkpoint.load(Ordering::Relaxed)
    }

    /// Starts a new segment for every record after what is buffered now:
    /// writes and syncs what is buffered, then rolls over. Returns the last
    /// timestamp in the old segments.
    pub(crate) fn rotate(&self) -> crate::Result<u64> {
        let mut writer = lock(&self.writer);
        self.flush_locked(&mut writer, Until::Synced);
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let last = self.written();
        if let Err(e) = writer.rotate(last + 1) {
            let e = Error::io(e, "starting a log segment");
            self.fail(e.clone());
            return Err(e);
        }
        // Relaxed: a size hint.
        self.since_checkpoint.store(0, Ordering::Relaxed);
        Ok(last)
    }

    /// Removes the segments a checkpoint at `ts` covers.
    pub(crate) fn remove_through(&self, ts: u64) -> crate::Result<usize> {
        lock(&self.writer)
            .remove_through(ts)
            .map_err(|e| Error::io(e, "removing log segments"))
    }
}
