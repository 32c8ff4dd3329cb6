//! The in-place master (invariant **IP1**): the delta store's newest version
//! of a row whose attributes are all words (`[i64; N]`, `[u64; N]`,
//! `[f64; N]`), kept as 64-bit atomics and overwritten in place under a
//! seqlock, as the paper's delta store does.
//!
//! The copy-on-write master of `master.rs` exists because a reader copying a
//! `T` while a writer overwrites it is a data race. Here nothing is a `T`
//! until a reader has copied it: the row is a slice of `AtomicU64`, and the
//! version's header, its tombstone flag and its link to the history are
//! atomics too. A writer changes them between an odd and an even store of
//! `seq`; a reader loads them all, then checks that `seq` was even and did
//! not move, and retries otherwise. A torn read is therefore only ever of
//! atomics (each word whole, the words of two versions mixed), which is not
//! undefined behaviour; it is discarded before any word becomes an attribute
//! that anyone sees, and every word is a valid attribute anyway (`as`,
//! `from_bits`, [`WordLayout`]).
//!
//! The claim of an in-place master (W1) is a CAS of `seq` from the even
//! value at which the writer saw the version begun for it and not ended, to
//! odd. Success proves that nothing changed since that snapshot, and admits
//! one writer into the change; the change makes the writer's id the begin
//! word, so that until it commits or rolls back every other claim fails with
//! `Held` (the version is begun by someone else), exactly as on a new
//! copy-on-write master. The end word is never a lock here: it is
//! [`INFINITY`](crate::header::INFINITY), or `RETIRED` after G2 (which takes
//! the sequence too, so that a change never undoes a retirement). A sequence
//! of 64 bits does not wrap.
//!
//! The master is allocated by the row's first insert (installed by CAS into
//! the record, as a copy-on-write master is) and freed with the record, or
//! through the epoch collector if that insert rolls back (M1); updates,
//! deletes, re-inserts and their rollbacks change it in place.

use crate::header::Header;
use crate::sync::{fence, AtomicU64, Ordering};
use crate::tuple::WordLayout;
use crossbeam_epoch::{Atomic, Guard, Shared};

/// The newest version of a row of words, changed in place.
pub(crate) struct WordMaster<H> {
    pub(crate) header: Header,
    /// Even while nobody changes the master; odd during a change.
    seq: AtomicU64,
    /// 1 for a row, 0 for a tombstone.
    present: AtomicU64,
    /// The history of the current version, newest first.
    pub(crate) older: Atomic<H>,
    /// The row, one word per attribute (unspecified under a tombstone).
    words: Box<[AtomicU64]>,
}

/// What a reader saw of a [`WordMaster`] at one even sequence value: a
/// version whole, with the words copied into the reader's buffer.
pub(crate) struct Seen<'g, H> {
    /// The sequence value at which everything was read.
    pub(crate) seq: u64,
    pub(crate) begin: u64,
    pub(crate) end: u64,
    /// `false` for a tombstone (then the buffer holds nothing of it).
    pub(crate) present: bool,
    /// The first item of the version's history.
    pub(crate) older: Shared<'g, H>,
}

/// Calls `f` with a buffer of `len` words: on the stack for rows of up to
/// 128 words, on the heap beyond.
pub(crate) fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [u64]) -> R) -> R {
    if len <= 16 {
        f(&mut [0; 16][..len])
    } else if len <= 128 {
        f(&mut [0; 128][..len])
    } else {
        f(&mut vec![0; len])
    }
}

impl<H> WordMaster<H> {
    /// The first version of a row, which transaction `me` is inserting:
    /// `row` (`None`: a tombstone), begun by `me`, no history.
    pub(crate) fn new<T>(me: u64, row: Option<&T>, layout: WordLayout<T>) -> Self {
        with_buffer(layout.len, |buf| {
            if let Some(row) = row {
                (layout.to_words)(row, buf);
            }
            WordMaster {
                header: Header::uncommitted(me),
                seq: AtomicU64::new(0),
                present: AtomicU64::new(u64::from(row.is_some())),
                older: Atomic::null(),
                words: buf.iter().map(|&w| AtomicU64::new(w)).collect(),
            }
        })
    }

    /// Words per row.
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// Reads the version whole: its header, tombstone flag and history
    /// link, and, if `buf` is given (of [`len`](WordMaster::len) words) and
    /// the version is a row, its words. Waits while a change is under way
    /// (a few dozen stores, no user code, no allocation) and retries a read
    /// that a change overlapped.
    pub(crate) fn read<'g>(&self, mut buf: Option<&mut [u64]>, guard: &'g Guard) -> Seen<'g, H> {
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the Release store that ended the last
            // change, so every store of that change (and the initialisation
            // of the history item it linked) is visible to the loads below.
            let seq = self.seq.load(Ordering::Acquire);
            if seq & 1 == 0 {
                let (begin, end) = self.header.words();
                // Relaxed: validated by the sequence check below.
                let present = self.present.load(Ordering::Relaxed) != 0;
                // Acquire: as for every load of a link to a history item;
                // the pointer is dereferenced only if the check succeeds.
                let older = self.older.load(Ordering::Acquire, guard);
                if let (true, Some(buf)) = (present, buf.as_deref_mut()) {
                    for (b, w) in buf.iter_mut().zip(self.words.iter()) {
                        // Relaxed: validated by the sequence check below.
                        *b = w.load(Ordering::Relaxed);
                    }
                }
                // Acquire: if any load above read a store of a later change,
                // the Release fence that follows that change's odd store
                // synchronises with this fence, so the odd store happens
                // before the load below, which then cannot return `seq`.
                fence(Ordering::Acquire);
                // Relaxed: ordered after the loads above by the fence.
                let unchanged = self.seq.load(Ordering::Relaxed) == seq;
                // The negative control of the loom suite skips the check
                // (loom-tests/tests/negative_control.rs must see a torn row).
                if unchanged || cfg!(all(loom, multiverse_negative_control)) {
                    return Seen {
                        seq,
                        begin,
                        end,
                        present,
                        older,
                    };
                }
            }
            spins += 1;
            if spins < 64 {
                crate::sync::spin_hint();
            } else {
                crate::sync::yield_now();
            }
        }
    }

    /// Opens a change: `seq` from the even `seen` to odd, by one CAS. Fails
    /// (changing nothing) if the master changed since it was read at `seen`.
    pub(crate) fn open(&self, seen: u64) -> bool {
        debug_assert!(seen & 1 == 0);
        // Acquire on success: we read from the Release store that ended
        // the previous change (or from the initial value, published with
        // the master), so our own loads of the words see its stores.
        // Relaxed on failure: nothing is read through the value.
        let opened = self
            .seq
            .compare_exchange(seen, seen + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if opened {
            // Release: orders the odd value before every store of the
            // change, for readers (see the Acquire fence in `read`).
            fence(Ordering::Release);
        }
        opened
    }

    /// Closes the change that [`open`](WordMaster::open) at `seen` began.
    pub(crate) fn close(&self, seen: u64) {
        // Release: publishes every store of the change (and the history
        // item linked in it) to the reader whose Acquire load sees the
        // new even value, and to the next writer's `open`.
        self.seq.store(seen + 2, Ordering::Release);
    }

    /// The current sequence value, for the one writer that may open a
    /// change without a snapshot: the creator of the current version,
    /// rolling it back (nobody else can claim it while it is begun by an
    /// uncommitted transaction).
    pub(crate) fn seq_of_creator(&self) -> u64 {
        // Relaxed: the creator's own change stored the last value.
        self.seq.load(Ordering::Relaxed)
    }

    /// Inside a change: makes the master the row of `buf` (`None`: a
    /// tombstone), storing only the words that differ.
    pub(crate) fn overwrite(&self, row: Option<&[u64]>) {
        // Relaxed (all stores and loads): inside a change, ordered by the
        // fences of `open` and `close`; the writer is the only one, so its
        // loads read the current words.
        self.present
            .store(u64::from(row.is_some()), Ordering::Relaxed);
        if let Some(row) = row {
            for (w, &new) in self.words.iter().zip(row) {
                if w.load(Ordering::Relaxed) != new {
                    w.store(new, Ordering::Relaxed);
                }
            }
        }
    }

    /// The row as the one writer that may change it sees it (the creator
    /// of the current version): its words into `buf`, or `false` for a
    /// tombstone.
    pub(crate) fn own_row(&self, buf: &mut [u64]) -> bool {
        // Relaxed: the writer's own change stored these (or the change it
        // synchronised with in `open`).
        let present = self.present.load(Ordering::Relaxed) != 0;
        if present {
            for (b, w) in buf.iter_mut().zip(self.words.iter()) {
                *b = w.load(Ordering::Relaxed);
            }
        }
        present
    }
}
