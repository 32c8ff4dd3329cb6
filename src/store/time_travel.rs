//! Time-travel (Wu et al. 2017, §3.2; SAP HANA): the master version in the
//! main table, whole copies of older versions in a history table.
//!
//! An update copies the master into the history table (a whole tuple), links
//! the copy behind the new master, and installs the new master (see
//! [`super::master`] for why the master is replaced rather than overwritten).
//! A recent snapshot reads the master without touching the history; an old
//! snapshot walks the history newest to oldest and reads its copy in place.

use super::master::{HistoryKind, MasterStore};
use super::version::{find_visible, Version};
use super::Storage;
use crate::header::{Header, View};
use crate::Tuple;
use crossbeam_epoch::{Atomic, Guard, Shared};
use std::borrow::Cow;

/// The time-travel store: a master with whole-tuple history copies.
pub(crate) type TimeTravel<T> = MasterStore<Version<T>>;

impl<T: Tuple> HistoryKind<T> for Version<T> {
    const STORAGE: Storage = Storage::TimeTravel;

    fn preserve(header: Header, old: Option<&T>, _new: Option<&T>) -> Self {
        Version {
            header,
            next: Atomic::null(),
            // The copy of the master into the history table: the whole tuple.
            data: old.cloned(),
        }
    }

    fn header(&self) -> &Header {
        &self.header
    }

    fn older(&self) -> &Atomic<Self> {
        &self.next
    }

    fn undo(&self, _newer: Option<T>) -> Option<T> {
        self.data.clone()
    }

    fn read_history<R>(
        first: Shared<'_, Self>,
        _master: Option<Cow<'_, T>>,
        view: View,
        guard: &Guard,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        f(find_visible(first, view, guard).and_then(|v| v.data.as_ref()))
    }

    fn size_bytes(&self) -> usize {
        Version::size_bytes(self)
    }
}
