//! Moving a store from sled to PostgreSQL (`lienthong store copy`, issue 23), for a gateway that
//! outgrows one machine: everything the sled store holds, as engine-neutral records the
//! PostgreSQL store writes — live messages with their document, delivery states, inbox
//! membership and acks, status events, filing record and public entry; then the queues in their
//! order (outbox entries with their attempts, pending inbox entries, status events waiting for
//! peers); then what purged messages left (tombstones, archived filings and public entries).
//!
//! Resumable: what the target already has is recognised (a message by its dedup row, with the
//! same digest; a queue entry by its message and recipient) and left alone, so an interrupted
//! copy is run again. Verified: at the end every copied message is read back from the target
//! and its SHA-256 compared with the source's, and the counts compared. Run it with both
//! gateways stopped.

use super::{
    Delivery, Filing, MessageId, MessageMeta, OrganId, PgStore, Priority, PublicEntry, SledStore,
    StatusEvent, StoreError,
};

/// A live message and everything about it but its queue positions.
#[derive(Clone, Debug)]
pub(crate) struct CopiedMessage {
    pub(crate) meta: MessageMeta,
    pub(crate) bytes: Vec<u8>,
    pub(crate) deliveries: Vec<(OrganId, Delivery)>,
    /// Each local recipient and whether it acknowledged.
    pub(crate) inbox: Vec<(OrganId, bool)>,
    pub(crate) statuses: Vec<StatusEvent>,
    pub(crate) filing: Option<Filing>,
    pub(crate) public: Option<PublicEntry>,
}

/// An outbox entry, with its delivery attempts so far.
#[derive(Clone, Debug)]
pub(crate) struct CopiedOutbox {
    pub(crate) peer: OrganId,
    pub(crate) message: MessageId,
    pub(crate) recipient: OrganId,
    pub(crate) priority: Priority,
    pub(crate) attempts: u32,
    pub(crate) next_attempt_ms: i64,
    pub(crate) last_error: Option<String>,
}

/// One record of a copy, in the order the target writes them.
#[derive(Clone, Debug)]
pub(crate) enum Copied {
    Message(Box<CopiedMessage>),
    /// In queue order (per peer: lane, then FIFO).
    Outbox(CopiedOutbox),
    /// A pending inbox entry, in queue order.
    Pending {
        organ: OrganId,
        message: MessageId,
    },
    StatusOut {
        peer: OrganId,
        event: StatusEvent,
    },
    Tombstone {
        id: MessageId,
        digest_hex: String,
    },
    ArchivedFiling {
        id: MessageId,
        filing: Filing,
    },
    ArchivedPublic(PublicEntry),
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Live messages written to the target now.
    pub messages_copied: u64,
    /// Live messages the target had already (an earlier, interrupted copy).
    pub messages_present: u64,
    /// Outbox entries written now (pending inbox entries keep their rows, written with their
    /// message; their order is set again on every run).
    pub outbox_copied: u64,
    /// Status events queued for peers, written now.
    pub statuses_queued_copied: u64,
    /// Tombstones, archived filing records and public entries written now.
    pub archived_copied: u64,
    /// Messages whose document was found altered in the source: not copied, named.
    pub altered: Vec<MessageId>,
    /// Live messages in the source and in the target after the copy.
    pub source_messages: u64,
    /// Live messages in the target after the copy.
    pub target_messages: u64,
    /// Copied messages read back from the target with the source's SHA-256.
    pub verified: u64,
}

impl CopyReport {
    /// Whether everything was copied and read back whole.
    pub fn is_complete(&self) -> bool {
        self.altered.is_empty()
            && self.source_messages == self.target_messages
            && self.verified == self.source_messages
    }
}

/// Copies everything `from` holds into `to`, then verifies it.
pub fn copy_sled_to_postgres(from: &SledStore, to: &PgStore) -> Result<CopyReport, StoreError> {
    let mut report = CopyReport::default();
    let mut digests: Vec<(MessageId, [u8; 32])> = Vec::new();
    report.altered = from.export(&mut |record| {
        if let Copied::Message(m) = &record {
            digests.push((m.meta.id, super::documents::sha256_of(&m.bytes)));
        }
        to.import(&record, &mut report)
    })?;
    // Records are committed one by one without waiting for the disk (what a crash loses, a
    // second run copies again); one flush makes them all durable before the report says so.
    super::Store::flush(to)?;
    report.source_messages = super::Store::stats(from)?.messages;
    report.target_messages = super::Store::stats(to)?.messages;
    report.verified = to.verify_copied(&digests)?;
    Ok(report)
}
