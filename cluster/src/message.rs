//! What participants and clients send each other: messages only, never
//! shared memory, so that a network transport can replace the in-memory
//! one ([`Transport`]).

use crate::protocol::{Answer, Decision};

/// A cluster-wide transaction id: the transaction's snapshot timestamp,
/// unique because every snapshot is a fresh timestamp.
pub type TxnId = u64;

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A partition (a participant; the first participant of a transaction
    /// also coordinates it).
    Partition(usize),
    /// A client waiting for a commit's outcome.
    Client(u64),
}

/// The critical path a message closes: how many message delays and how
/// many log syncs lie, one after the other, between the client's commit
/// and this message. The coordinator's answer to the client carries the
/// commit's path (the driver reports it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path {
    /// One-way message delays.
    pub hops: u32,
    /// Log writes (appends), one after another.
    pub writes: u32,
    /// Log syncs, one after another.
    pub syncs: u32,
}

impl Path {
    /// The longer of two paths (what waiting for both costs).
    pub fn max(self, other: Path) -> Path {
        Path {
            hops: self.hops.max(other.hops),
            writes: self.writes.max(other.writes),
            syncs: self.syncs.max(other.syncs),
        }
    }
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client → each participant: prepare your part of `txn` (staged on
    /// you when it ran) and send your vote to the first participant.
    Prepare {
        /// The transaction.
        txn: TxnId,
        /// Every participant, the coordinator first.
        participants: Vec<usize>,
        /// Who waits for the outcome.
        client: u64,
    },
    /// Participant → coordinator: my vote.
    Vote {
        /// The transaction.
        txn: TxnId,
        /// Every participant, the coordinator first.
        participants: Vec<usize>,
        /// Who waits for the outcome.
        client: u64,
        /// The voter.
        from: usize,
        /// Its vote: `Prepared(ts)` or `Aborted`.
        vote: Answer,
    },
    /// Coordinator or resolver → participant: the outcome.
    Decide {
        /// The transaction.
        txn: TxnId,
        /// The outcome.
        decision: Decision,
    },
    /// Resolver → participant: what is your record of `txn`?
    Query {
        /// The transaction.
        txn: TxnId,
        /// The asker.
        from: usize,
    },
    /// Participant → resolver: my record (made durable before answering).
    Reply {
        /// The transaction.
        txn: TxnId,
        /// The answerer.
        from: usize,
        /// Its record.
        answer: Answer,
    },
    /// Coordinator (or resolver) → client: the outcome.
    Outcome {
        /// The transaction.
        txn: TxnId,
        /// The outcome.
        decision: Decision,
    },
    /// Classic 2PC (the baseline): coordinator → participant, after the
    /// coordinator logged its decision; the participant logs it, applies
    /// it and acknowledges.
    ClassicDecide {
        /// The transaction.
        txn: TxnId,
        /// The outcome.
        decision: Decision,
        /// The coordinator.
        coordinator: usize,
    },
    /// Classic 2PC: participant → coordinator, the decision is logged.
    ClassicAck {
        /// The transaction.
        txn: TxnId,
        /// The participant.
        from: usize,
    },
}

impl Message {
    /// The transaction a message is about.
    pub fn txn(&self) -> TxnId {
        match self {
            Message::Prepare { txn, .. }
            | Message::Vote { txn, .. }
            | Message::Decide { txn, .. }
            | Message::Query { txn, .. }
            | Message::Reply { txn, .. }
            | Message::Outcome { txn, .. }
            | Message::ClassicDecide { txn, .. }
            | Message::ClassicAck { txn, .. } => *txn,
        }
    }
}

/// A message on its way, with the critical path it closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The sender.
    pub from: Endpoint,
    /// The receiver.
    pub to: Endpoint,
    /// The message.
    pub msg: Message,
    /// The critical path up to and including this message's delay.
    pub path: Path,
}

/// Carries envelopes between participants and clients. The in-memory
/// implementation delivers each at once, on the sending thread
/// (`cluster.rs`); the simulator queues them and delivers them in an order
/// its seed chooses, or drops or duplicates them (`sim.rs`).
pub trait Transport: Send + Sync {
    /// Sends `envelopes`, in order.
    fn send(&self, envelopes: Vec<Envelope>);
}
