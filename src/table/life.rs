//! A table's life between its creation and its drop, as transactions see
//! it: the part of the transactional catalog that every handle checks.
//!
//! A table is created by a transaction (the one-statement transaction of
//! `Database::create_table`, or a session's) and dropped by one. Until the
//! creating transaction commits, only that transaction may use the table;
//! a drop takes effect at its commit timestamp `d`: a transaction whose
//! snapshot is below `d` goes on reading the table as it was, a later one
//! gets `NoSuchTable`, and nobody writes it from the moment the dropping
//! transaction is about to take `d`.
//!
//! # A drop and a write cannot both commit (invariant **C1**)
//!
//! The dropping transaction sets `dropping` *before* it takes its timestamp
//! `d`; a writer reads `dropping` *after* taking its timestamp `w`, inside
//! the ordered step of its commit, and if it is set publishes nothing (its
//! writes roll back: `NoSuchTable`). Both take their timestamps with an
//! `AcqRel` read-modify-write of the one clock word. If `w > d`, the
//! writer's read-modify-write reads a value that the dropper's (a release
//! operation, heading a release sequence made of every later
//! read-modify-write of the word) wrote or that a later one in that
//! sequence wrote, so it synchronizes with the dropper's: the store of
//! `dropping` happens before the writer's load, which sees it. So a write
//! that commits has `w < d`, and is published before the drop is: the log
//! has it before the drop, and no snapshot sees the write without the table
//! or the drop without the write. (A writer with `w < d` may also see the
//! flag and fail: a drop committing meanwhile is reason enough.)

use crate::header::{View, INFINITY};
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// See the module docs.
pub(crate) struct Lifecycle {
    /// Whether the table is committed, not dropped, and no transaction is
    /// dropping it: the one load of the common case. Cleared before any
    /// of the words below changes from that state, set again (under the
    /// catalog's lock, as every change here is made) when they return to
    /// it.
    quiet: AtomicBool,
    /// The tag of the transaction that creates the table, until it commits;
    /// then 0.
    creator: AtomicU64,
    /// The tag of a transaction that has dropped the table and not yet
    /// committed (0: none): to that transaction the table is gone.
    dropper: AtomicU64,
    /// Set before a dropping transaction takes its timestamp (C1), and by
    /// a rolled-back creation: no write commits from then on.
    dropping: AtomicBool,
    /// The commit timestamp of the drop; `INFINITY` while there is none.
    dropped_at: AtomicU64,
}

impl Lifecycle {
    /// A table being created by the transaction tagged `creator` (0: a
    /// table that exists at once, such as a recovered one).
    pub(crate) fn new(creator: u64) -> Self {
        Lifecycle {
            quiet: AtomicBool::new(creator == 0),
            creator: AtomicU64::new(creator),
            dropper: AtomicU64::new(0),
            dropping: AtomicBool::new(false),
            dropped_at: AtomicU64::new(INFINITY),
        }
    }

    /// Whether the transaction (or snapshot) of `view` sees the table.
    #[inline]
    pub(crate) fn readable(&self, view: View) -> bool {
        // Relaxed: `quiet` is cleared before the words it summarizes
        // change, and a change that matters to this view is published
        // before the view's snapshot (see below), so a view that needs the
        // slow path takes it.
        if self.quiet.load(Ordering::Relaxed) {
            return true;
        }
        // Relaxed, all three: `creator` and `dropped_at` are stored before
        // the timestamp that changes them is published, and a view whose
        // snapshot is at or above it acquired the clock after that
        // publication (A1), so it sees them; a view below it sees the
        // table as before either way (no row of it is visible there, or
        // the table was still live). `dropper` matters only to the
        // transaction that stored it, on its own thread.
        let creator = self.creator.load(Ordering::Relaxed);
        if creator != 0 && creator != view.me {
            return false;
        }
        if self.dropped_at.load(Ordering::Relaxed) <= view.snapshot {
            return false;
        }
        let dropper = self.dropper.load(Ordering::Relaxed);
        dropper == 0 || dropper != view.me
    }

    /// Whether the transaction of `view` may write the table.
    #[inline]
    pub(crate) fn writable(&self, view: View) -> bool {
        // Relaxed: as in `readable`; a stale `quiet` can only miss a drop
        // under way, which the commit checks again (C1).
        if self.quiet.load(Ordering::Relaxed) {
            return true;
        }
        self.readable(view) && !self.dropping()
    }

    /// Sets `quiet` again if every word is back to the common state.
    fn settle(&self) {
        // Relaxed: see `quiet` (changes are made under the catalog lock).
        let quiet = self.creator.load(Ordering::Relaxed) == 0
            && self.dropper.load(Ordering::Relaxed) == 0
            && !self.dropping.load(Ordering::Relaxed)
            && self.dropped_at.load(Ordering::Relaxed) == INFINITY;
        self.quiet.store(quiet, Ordering::Relaxed);
    }

    /// Whether a drop has committed or is committing (or the creation
    /// rolled back): no write of the table can commit. Checked again after
    /// the commit's timestamp is taken (C1).
    #[inline]
    pub(crate) fn dropping(&self) -> bool {
        // Relaxed: C1 orders it through the clock word (module docs).
        self.dropping.load(Ordering::Relaxed)
    }

    /// Whether a drop has committed, or is committing.
    pub(crate) fn is_dropped(&self) -> bool {
        // Relaxed: a report; it orders nothing.
        self.dropping() || self.dropped_at.load(Ordering::Relaxed) != INFINITY
    }

    /// The commit timestamp of the table's drop; `INFINITY` while it has
    /// none. Read by serializable validation after the caller has seen the
    /// timestamps it checks published.
    pub(crate) fn dropped_at(&self) -> u64 {
        // Relaxed: stored in the drop's ordered step, before its timestamp
        // is published; the validator acquired the publication (SR1).
        self.dropped_at.load(Ordering::Relaxed)
    }

    /// The transaction tagged `me` drops the table (not committed yet):
    /// to it, the table is gone.
    pub(crate) fn set_dropper(&self, me: u64) {
        // Relaxed: read only by the same transaction (see `readable`).
        self.quiet.store(false, Ordering::Relaxed);
        self.dropper.store(me, Ordering::Relaxed);
    }

    /// The dropping transaction rolled back.
    pub(crate) fn clear_dropper(&self) {
        // Relaxed: as in `set_dropper`.
        self.dropper.store(0, Ordering::Relaxed);
        self.settle();
    }

    /// Before the dropping transaction takes its timestamp (C1).
    pub(crate) fn mark_dropping(&self) {
        // Relaxed: the `AcqRel` read-modify-write of the clock that
        // follows publishes it (C1).
        self.quiet.store(false, Ordering::Relaxed);
        self.dropping.store(true, Ordering::Relaxed);
    }

    /// The dropping transaction took no timestamp after all.
    pub(crate) fn unmark_dropping(&self) {
        // Relaxed: writers that saw the flag failed, which a drop under
        // way allows; the rest see the table live, as it is.
        self.dropping.store(false, Ordering::Relaxed);
        self.settle();
    }

    /// In the ordered step of the creating transaction's commit.
    pub(crate) fn stamp_created(&self) {
        // Relaxed: published with the commit's timestamp (`readable`).
        self.creator.store(0, Ordering::Relaxed);
        self.settle();
    }

    /// In the ordered step of the dropping transaction's commit, at `ts`.
    pub(crate) fn stamp_dropped(&self, ts: u64) {
        // Relaxed: published with `ts` (`readable`).
        self.quiet.store(false, Ordering::Relaxed);
        self.dropped_at.store(ts, Ordering::Relaxed);
        self.dropper.store(0, Ordering::Relaxed);
    }

    /// The creating transaction rolled back: the table never existed, and
    /// every handle answers `NoSuchTable`.
    pub(crate) fn abandon(&self) {
        // Relaxed: no other transaction could use the table (`creator`).
        self.quiet.store(false, Ordering::Relaxed);
        self.dropping.store(true, Ordering::Relaxed);
        self.dropped_at.store(0, Ordering::Relaxed);
    }
}
