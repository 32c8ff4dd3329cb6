//! The commit and recovery rules of two-phase commit in which the first
//! participant coordinates, as pure functions: the partitions
//! (`partition.rs`) and the exhaustive model (`tests/protocol_model.rs`)
//! call the same code.
//!
//! A participant's *durable* state for one transaction is a [`Record`]. The
//! coordinator writes nothing: it collects the participants' votes in
//! memory, and when it crashes (or a reader waits too long, or a
//! participant restarts with a prepared transaction) any participant that
//! has prepared asks every participant for its record and decides from the
//! answers alone, with [`decide`]. The one rule that makes this safe: a
//! participant asked about a transaction it has no record of durably
//! records it aborted *before* it answers ([`answer_query`]), so a prepare
//! that arrives later fails, and no two deciders can reach different
//! decisions.

/// A participant's durable record of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Record {
    /// Nothing logged: the transaction may be running here, or never came.
    None,
    /// Prepared at `ts`: its writes are logged; it can no longer abort on
    /// its own.
    Prepared {
        /// The prepare timestamp: above every snapshot the participant had
        /// served when it prepared.
        ts: u64,
    },
    /// Committed at `ts` (the largest prepare timestamp).
    Committed {
        /// The commit timestamp.
        ts: u64,
    },
    /// Aborted: a prepare of this transaction here can never succeed.
    Aborted,
}

/// A participant's answer to a vote request or a recovery query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Answer {
    /// Prepared at `ts`.
    Prepared(u64),
    /// Committed at `ts`.
    Committed(u64),
    /// Aborted, durably.
    Aborted,
}

/// The outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    /// Commit at this timestamp on every participant.
    Commit(u64),
    /// Abort on every participant.
    Abort,
}

/// What a participant whose record is `record` answers a recovery query,
/// and the record it must make durable first (`Some`) — `Aborted` when it
/// had none: CockroachDB's "prevent", OceanBase's "prepare unknown".
pub fn answer_query(record: Record) -> (Option<Record>, Answer) {
    match record {
        Record::None => (Some(Record::Aborted), Answer::Aborted),
        Record::Prepared { ts } => (None, Answer::Prepared(ts)),
        Record::Committed { ts } => (None, Answer::Committed(ts)),
        Record::Aborted => (None, Answer::Aborted),
    }
}

/// The decision that `answers` (one per participant, `None` while not
/// answered) force, or `None` while they force none yet: commit if any
/// participant committed (at its timestamp) or all prepared (at the
/// largest prepare timestamp); abort if any aborted.
///
/// The coordinator's votes and a recovery's answers are decided alike.
pub fn decide(answers: &[Option<Answer>]) -> Option<Decision> {
    let mut max = 0;
    let mut all = true;
    for a in answers {
        match a {
            Some(Answer::Committed(ts)) => return Some(Decision::Commit(*ts)),
            Some(Answer::Aborted) => {
                // A committed answer may follow (another participant already
                // learned a commit): impossible, since a commit needs every
                // participant prepared and an aborted one never prepares —
                // the model checks it (`tests/protocol_model.rs`).
                return Some(Decision::Abort);
            }
            Some(Answer::Prepared(ts)) => max = max.max(*ts),
            None => all = false,
        }
    }
    all.then_some(Decision::Commit(max))
}

/// The record a participant keeps once it learns `decision`, from `record`.
/// `None` if nothing changes (it already knows). A decision that
/// contradicts a durable record is a protocol violation (`Err`), which the
/// simulator and the model report.
pub fn learn(record: Record, decision: Decision) -> Result<Option<Record>, Record> {
    match (record, decision) {
        (Record::Committed { ts }, Decision::Commit(c)) if ts == c => Ok(None),
        (Record::Aborted, Decision::Abort) => Ok(None),
        (Record::Prepared { ts }, Decision::Commit(c)) if ts <= c => {
            Ok(Some(Record::Committed { ts: c }))
        }
        (Record::Prepared { .. } | Record::None, Decision::Abort) => Ok(Some(Record::Aborted)),
        (r, _) => Err(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_prepared_commits_at_the_largest_prepare_timestamp() {
        let a = [
            Some(Answer::Prepared(4)),
            Some(Answer::Prepared(9)),
            Some(Answer::Prepared(7)),
        ];
        assert_eq!(decide(&a), Some(Decision::Commit(9)));
        assert_eq!(decide(&a[..2]), Some(Decision::Commit(9)));
    }

    #[test]
    fn one_missing_answer_decides_nothing_unless_another_forces_it() {
        assert_eq!(decide(&[Some(Answer::Prepared(4)), None]), None);
        assert_eq!(
            decide(&[None, Some(Answer::Committed(5))]),
            Some(Decision::Commit(5))
        );
        assert_eq!(
            decide(&[None, Some(Answer::Aborted)]),
            Some(Decision::Abort)
        );
    }

    #[test]
    fn a_participant_without_a_record_records_abort_before_it_answers() {
        assert_eq!(
            answer_query(Record::None),
            (Some(Record::Aborted), Answer::Aborted)
        );
        assert_eq!(
            answer_query(Record::Prepared { ts: 3 }),
            (None, Answer::Prepared(3))
        );
    }

    #[test]
    fn learning_a_decision_that_contradicts_the_record_is_an_error() {
        assert_eq!(
            learn(Record::Aborted, Decision::Commit(3)),
            Err(Record::Aborted)
        );
        assert_eq!(
            learn(Record::Committed { ts: 3 }, Decision::Abort),
            Err(Record::Committed { ts: 3 })
        );
        assert_eq!(
            learn(Record::Prepared { ts: 5 }, Decision::Commit(3)),
            Err(Record::Prepared { ts: 5 })
        );
        assert_eq!(
            learn(Record::Prepared { ts: 3 }, Decision::Commit(5)),
            Ok(Some(Record::Committed { ts: 5 }))
        );
    }
}
