//! The [`Store`] on sled 0.34: one `Db`, thirteen trees, multi-tree transactions for every change
//! that must be atomic, and group commit for durability (see the module docs of `store`).
//!
//! One file per concern; the trait's implementation below only says which one does what:
//! `open` (opening and recovery), `records` (what the trees hold, codec), `accept`, `outbox`
//! (peers' queues and their leases), `inbox` (organs' inboxes and acks), `status` (sent
//! index, delivery states, status events), `retention` (purge) and `index` (filing records
//! and the public index, live and in the register).

mod accept;
mod export;
mod inbox;
mod index;
mod open;
mod outbox;
mod records;
mod retention;
mod scrub;
mod status;

pub(in crate::store) use open::open_waiting_for_lock;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::group_commit::GroupCommit;
use crate::store::documents::DocumentFiles;
use crate::store::register::Register;
use crate::store::{
    Accept, AcceptOutcome, AckOutcome, DeliveryKind, Filed, Filing, InboxEntry, InboxItem,
    MessageId, MessageMeta, OrganId, OutboxDepth, OutboxEntry, PublicEntry, PurgeReport,
    Quarantined, ScrubReport, SentCursor, SentItem, StatusEvent, StatusOutKey, Store, StoreError,
    StoreLimits, StoreStats, keys,
};

// Tree names (also used in `StoreError::Corrupt`).
const T_META: &str = "meta";
const T_BYTES: &str = "bytes";
const T_DEDUP: &str = "dedup";
const T_DELIVERIES: &str = "deliveries";
const T_OUTBOX: &str = "outbox";
const T_INBOX: &str = "inbox";
const T_MEMBERSHIP: &str = "membership";
const T_SENT: &str = "sent";
const T_STATUS: &str = "status";
const T_COUNTERS: &str = "counters";
const T_STATUS_OUT: &str = "status_out";
const T_FILING: &str = "filing";
const T_PUBLIC: &str = "public";
const T_QUARANTINE: &str = "quarantine";

struct Trees {
    meta: sled::Tree,
    /// Document bytes of records written before document files (read and purged, never
    /// written any more).
    bytes: sled::Tree,
    dedup: sled::Tree,
    deliveries: sled::Tree,
    outbox: sled::Tree,
    inbox: sled::Tree,
    membership: sled::Tree,
    sent: sled::Tree,
    status: sled::Tree,
    counters: sled::Tree,
    /// Status events waiting to be relayed: peer, 0x00, sequence (big-endian) → event.
    status_out: sled::Tree,
    /// Filing records (label, due date, handling): id → JSON.
    filing: sled::Tree,
    /// The public index: published_at (time key) ‖ id → JSON, only documents publication
    /// allowed.
    public: sled::Tree,
    /// Messages whose document was found altered on disk: id → `Quarantine` (JSON). Never
    /// listed, never served, never relayed.
    quarantine: sled::Tree,
}

struct Inner {
    db: sled::Db,
    t: Trees,
    /// What purged messages leave behind (tombstones, filing, public index): a database of its
    /// own so that this one holds only live data and sled can reuse its segments.
    register: Register,
    /// Document bytes, a file per message.
    documents: DocumentFiles,
    /// Purge chunks started (see `accept_filed` and `purge_chunk`).
    purges: AtomicU64,
    limits: StoreLimits,
    commit: GroupCommit,
}

/// The sled 0.34 implementation of [`Store`]. Clones share one database.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    fn t(&self) -> &Trees {
        &self.inner.t
    }

    /// A token for a new document file (unique across restarts).
    fn file_token(&self) -> Result<u64, StoreError> {
        self.inner
            .db
            .generate_id()
            .map_err(|e| StoreError::engine("generate a document file token", e))
    }

    /// Waits until everything written before this call is covered by a completed flush.
    fn durable(&self) -> Result<(), StoreError> {
        self.wait(self.inner.commit.ticket())
    }

    /// Waits until a flush covers `ticket`.
    fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        self.inner.commit.wait_durable(ticket, || {
            self.inner
                .db
                .flush()
                .map(|_| ())
                .map_err(|e| StoreError::engine("flush", e))
        })
    }
}

impl Store for SledStore {
    fn accept(&self, a: Accept) -> Result<AcceptOutcome, StoreError> {
        self.accept_filed(a, Filed::default())
    }

    fn accept_filed(&self, a: Accept, filed: Filed) -> Result<AcceptOutcome, StoreError> {
        SledStore::accept_filed(self, a, filed)
    }

    fn filing(&self, id: &MessageId) -> Result<Option<Filing>, StoreError> {
        SledStore::filing(self, id)
    }

    fn filings_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(MessageId, Filing)>, StoreError> {
        SledStore::filings_between(self, from_ms, to_ms)
    }

    fn public_documents(&self, limit: usize) -> Result<Vec<PublicEntry>, StoreError> {
        SledStore::public_documents(self, limit)
    }

    fn outbox_next(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        SledStore::outbox_next(self, peer.as_str(), limit, now_ms)
    }

    fn outbox_bytes(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        SledStore::outbox_bytes(self, id)
    }

    fn mark_delivered(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        receipt: String,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        SledStore::mark_delivered(self, peer, entry, receipt, at_ms)
    }

    fn record_failure(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        SledStore::record_failure(self, peer, entry, error, next_attempt_ms)
    }

    fn dead_letter(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        reason: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        SledStore::dead_letter(self, peer, entry, reason, at_ms)
    }

    fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        SledStore::outbox_depths(self)
    }

    fn inbox_list(&self, organ: &OrganId, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        let all = SledStore::inbox_list_visible(self, organ.as_str(), limit, &mut |_| true)?;
        Ok(all.into_iter().map(|e| e.item).collect())
    }

    fn inbox_list_visible(
        &self,
        organ: &OrganId,
        limit: usize,
        visible: &mut dyn FnMut(&InboxEntry) -> bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        SledStore::inbox_list_visible(self, organ.as_str(), limit, visible)
    }

    fn inbox_get(
        &self,
        organ: &OrganId,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError> {
        SledStore::inbox_get(self, organ.as_str(), id)
    }

    fn inbox_ack(&self, organ: &OrganId, id: &MessageId) -> Result<AckOutcome, StoreError> {
        self.ack(organ.as_str(), id, None)
    }

    fn inbox_ack_reporting(
        &self,
        organ: &OrganId,
        id: &MessageId,
        accepted: &StatusEvent,
        forward_to: Option<&OrganId>,
    ) -> Result<AckOutcome, StoreError> {
        SledStore::inbox_ack_reporting(
            self,
            organ.as_str(),
            id,
            accepted,
            forward_to.map(OrganId::as_str),
        )
    }

    fn sent_list(
        &self,
        from: &OrganId,
        state: Option<DeliveryKind>,
        since_ms: Option<i64>,
        limit: usize,
        cursor: Option<&SentCursor>,
    ) -> Result<(Vec<SentItem>, Option<SentCursor>), StoreError> {
        SledStore::sent_list(self, from.as_str(), state, since_ms, limit, cursor)
    }

    fn message(&self, id: &MessageId) -> Result<Option<SentItem>, StoreError> {
        SledStore::message(self, id)
    }

    fn put_status(&self, event: StatusEvent) -> Result<(), StoreError> {
        SledStore::put_status(self, event)
    }

    fn statuses(&self, id: &MessageId) -> Result<Vec<StatusEvent>, StoreError> {
        SledStore::statuses(self, id)
    }

    fn relay_status(&self, event: StatusEvent, forward_to: &[OrganId]) -> Result<(), StoreError> {
        SledStore::relay_status(self, event, forward_to)
    }

    fn status_outbox(
        &self,
        peer: &OrganId,
        limit: usize,
    ) -> Result<Vec<(StatusOutKey, StatusEvent)>, StoreError> {
        SledStore::status_outbox(self, peer.as_str(), limit)
    }

    fn status_sent(&self, key: &StatusOutKey) -> Result<(), StoreError> {
        SledStore::status_sent(self, &key.0)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.durable()
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let messages = self
            .t()
            .counters
            .get(keys::MESSAGES_COUNTER)
            .map_err(|e| StoreError::engine("read counters", e))?;
        let bytes_on_disk = self
            .inner
            .db
            .size_on_disk()
            .map_err(|e| StoreError::engine("measure the database", e))?
            .saturating_add(self.inner.register.size_on_disk()?)
            .saturating_add(self.inner.documents.bytes_held());
        let (flushes, durable_writes) = self.inner.commit.counts();
        Ok(StoreStats {
            messages: keys::counter_value(messages.as_deref()),
            bytes_on_disk,
            tombstones: self.inner.register.tombstones_held(),
            flushes,
            durable_writes,
            quarantined: self.t().quarantine.len() as u64,
            lease_take_overs: 0,
            sessions_open: 0,
        })
    }

    fn purge_acked_older_than(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError> {
        SledStore::purge_acked_older_than(self, cutoff_ms)
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        SledStore::quarantined(self)
    }

    fn scrub(&self) -> Result<ScrubReport, StoreError> {
        SledStore::scrub(self)
    }
}
