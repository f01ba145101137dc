//! Durable storage: messages, the outbox of each peer, the inbox of each local organ, dedup,
//! delivery states, receipts (as hop records) and status events — behind one [`Store`] trait.
//!
//! # The durability contract
//!
//! Every method says either **durable on return** or **not durable until flush**. A method that
//! is durable on return does not return `Ok` before a storage-engine flush that covers its write
//! has completed. The HTTP layer replies 2xx, sends a receipt or acknowledges only after such a
//! method returned (DESIGN "Durable before ack"). Delivery is at-least-once on the wire and
//! exactly-once in the inbox: [`Store::accept`] deduplicates by [`MessageId`], atomically with
//! the write.
//!
//! # Group commit
//!
//! A flush costs a disk round trip, so writers share them: each writer commits its sled
//! transaction, takes a ticket (a generation number) and waits until a flush that started after
//! its commit has finished. One writer at a time — the leader — runs `Db::flush` on behalf of
//! everyone who committed before the flush began; writers arriving meanwhile wait for the next
//! one. With N concurrent writers the number of flushes per document falls towards 1/N.
//! [`StoreStats::flushes`] and [`StoreStats::durable_writes`] expose the ratio. No background
//! thread, no lock held during the flush (only the "a leader is flushing" flag).
//!
//! # What a sled 0.34 flush guarantees (and what it does not)
//!
//! sled 0.34 appends every write to a log made of segments in one file (`<dir>/db`).
//! `Db::flush` seals the current in-memory IO buffer and waits until every buffer up to the
//! highest reserved log sequence number is written with `pwrite` and then made stable. On Linux
//! "stable" is `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` over the written range, not
//! `fsync`/`fdatasync`: the data pages are written to the device, but the call neither flushes
//! the device's volatile write cache nor commits file metadata (sled falls back to `fsync` only
//! where `sync_file_range` is unavailable, and calls `fsync` when it truncates or allocates
//! segments and when it writes a snapshot). Hence:
//!
//! - a **process crash** (panic, `kill -9`, OOM kill) after a durable-on-return method returned
//!   loses nothing: the data already left the process; `tests/store_crash.rs` checks this;
//! - a **power loss or kernel crash** may lose recent writes on a device with a volatile write
//!   cache, or where the file's size change was not yet journalled; on copy-on-write file
//!   systems (btrfs) `sync_file_range` guarantees even less. This is a known limitation of sled
//!   0.34 (sled issue 1452 "Data is not written durably", and 1351 for btrfs). Run on storage
//!   with power-loss protection, or drop in another engine behind this trait.
//!
//! The trait hides sled entirely (keys, trees, transactions), so a different engine (an
//! `fdatasync`-ing log, SQLite in WAL mode with `synchronous=FULL`, …) can replace
//! [`SledStore`] without touching the gateway.
//!
//! # Layout (sled implementation)
//!
//! Values are JSON; keys are binary and big-endian so that sled's byte order is queue order:
//! outbox `peer ‖ lane ‖ seq`, inbox `organ ‖ lane ‖ seq`, sent index `from ‖ received_at ‖ seq`,
//! statuses `id ‖ at_ms ‖ seq`, where `seq` comes from sled's monotonic `generate_id` (FIFO
//! within a lane) and strings are length-prefixed (so one organ's prefix never matches another's).
//!
//! Three places on disk, inside the store's directory: sled's own files (live records and
//! indexes), `register/` (what purged messages leave behind, in sorted immutable segment files,
//! see `register` and `segment`) and `documents/` (one file per stored document, see `documents`: written and
//! `fsync`ed before the transaction that names it, so the flush of that transaction covers a
//! document already stable — unlike sled's `sync_file_range`, and unlike the unsynced blob files
//! sled would write for pages over 128 KB).

pub mod copy;
mod documents;
pub mod filing;
mod keys;
mod pg;
mod register;
mod segment;
mod sled;
pub mod space;
pub mod types;

use std::collections::HashSet;
use std::time::Duration;

pub use filing::{Filed, Filing, PublicEntry};
pub use pg::{Migrated, PgOptions, PgStore, SCHEMA_VERSION};
pub use sled::SledStore;
pub use types::{
    Accept, AcceptOutcome, AckOutcome, Dangling, Delivery, DeliveryKind, HopRecord, InboxEntry,
    InboxItem, Lane, Level, MessageId, MessageMeta, OrganId, Origin, OutboxDepth, OutboxEntry,
    OutboxKey, Priority, PurgeReport, Quarantined, ScrubReport, SentCursor, SentItem, StatusCode,
    StatusEvent, StatusOutKey, StoreStats, now_ms,
};

/// Limits and tuning of a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Back-pressure: an accept that would put more than this many entries in one peer's outbox
    /// is refused with [`StoreError::OutboxFull`] (the API answers 503 with Retry-After).
    /// Default 100 000.
    pub max_outbox_per_peer: u64,
    /// How long a flush leader waits for companions before flushing. Default zero: flush as
    /// soon as the previous flush ends (writers arriving during a flush still share the next).
    pub flush_window: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_outbox_per_peer: 100_000,
            flush_window: Duration::ZERO,
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (or could not encode a record for it). The engine's own error
    /// is kept as the [`source`](std::error::Error::source), whatever the engine, so that a
    /// second engine adds no variant and callers match on what went wrong, not on who failed.
    #[error("the store failed to {op}: {source}")]
    Engine {
        /// What the store was doing.
        op: &'static str,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A document file could not be written, read or removed.
    #[error("the store failed to {op}: {source}")]
    Io {
        /// What the store was doing.
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record could not be read back: the store's data is damaged, not the request.
    #[error("the store holds an unreadable record in {what} at key {key}")]
    Corrupt {
        /// Which records: the sled tree, `documents` or `register`.
        what: &'static str,
        /// The key, hex.
        key: String,
    },
    /// A stored document no longer matches what was written with its record (its SHA-256 and
    /// size are in the record, written in the accept's transaction): changed, truncated,
    /// replaced or removed behind the store's back. Its bytes are never returned; the message
    /// is quarantined (see [`Store::quarantined`]).
    #[error("the stored document of message {id} was altered on disk: {fault}")]
    Altered {
        /// The message.
        id: MessageId,
        /// What was found.
        fault: Fault,
    },
    /// At open, more document files than a crash can leave are named by no record and were
    /// never purged: the database lost records (damaged, truncated or replaced). Nothing was
    /// moved or deleted.
    #[error(
        "{files} document files under {dir} are named by no record and were never purged: the \
         database has lost records (damaged or replaced); nothing was moved or deleted — restore \
         the store directory from a backup"
    )]
    LostRecords {
        /// The documents directory.
        dir: String,
        /// Files named by no record.
        files: u64,
    },
    /// The store at `path` could not be opened.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The store's directory.
        path: String,
        /// Why.
        #[source]
        source: Box<StoreError>,
    },
    /// Back-pressure: the peer's outbox is full.
    #[error("the outbox for peer {peer} holds {depth} messages, its limit; try again later")]
    OutboxFull {
        /// The peer organ.
        peer: String,
        /// Entries in its outbox now.
        depth: u64,
    },
    /// No such message (for this organ), or no such outbox entry.
    #[error("no message {id} here")]
    NotFound {
        /// The id asked for.
        id: MessageId,
    },
    /// Text that should be a message id is not one.
    #[error("not a message id: {reason}")]
    InvalidId {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An argument the store refuses.
    #[error("the store refuses this {field}: {reason}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The operating system's random generator failed.
    #[error("the system random generator failed to produce a message id")]
    Random,
}

/// How a stored document was found altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fault {
    /// Its bytes do not hash to the SHA-256 recorded when it was stored.
    DigestMismatch,
    /// It is not the size recorded (truncated or extended).
    SizeMismatch,
    /// Its file is gone while its record remains.
    Missing,
}

impl Fault {
    /// The name used in problems, audit lines and `store check`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DigestMismatch => "digest-mismatch",
            Self::SizeMismatch => "size-mismatch",
            Self::Missing => "missing",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DigestMismatch => "its bytes do not match the recorded SHA-256",
            Self::SizeMismatch => "it is not the recorded size",
            Self::Missing => "its file is gone",
        })
    }
}

impl StoreError {
    /// Whether the store failed because its file system is full (`ENOSPC`, or a quota), in the
    /// store's own files or inside the engine.
    pub fn is_out_of_space(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = match self {
            Self::Io { source, .. } => Some(source),
            Self::Engine { source, .. } => Some(source.as_ref()),
            _ => None,
        };
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if is_full(io) {
                    return true;
                }
            }
            if let Some(::sled::Error::Io(io)) = e.downcast_ref::<::sled::Error>() {
                if is_full(io) {
                    return true;
                }
            }
            source = e.source();
        }
        false
    }

    /// Whether the store failed because its database cannot be reached right now (PostgreSQL
    /// down, restarting, or the connection lost): the request may succeed later, so it is
    /// answered 503 with Retry-After, never 500. Never true for sled.
    pub fn is_unavailable(&self) -> bool {
        let Self::Engine { source, .. } = self else {
            return false;
        };
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
        while let Some(e) = next {
            if let Some(pg) = e.downcast_ref::<::postgres::Error>() {
                return pg::unreachable(pg);
            }
            next = e.source();
        }
        false
    }

    pub(crate) fn io(op: &'static str, source: std::io::Error) -> Self {
        Self::Io { op, source }
    }

    /// The engine failed while the store did `op`.
    pub(crate) fn engine(
        op: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Engine {
            op,
            source: source.into(),
        }
    }
}

fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// What every engine checks of an [`Accept`] before writing anything: the size is the
/// document's, and at least one recipient, none named twice.
pub(in crate::store) fn check_accept(a: &Accept) -> Result<(), StoreError> {
    if u64::try_from(a.bytes.len()).ok() != Some(a.meta.size) {
        return Err(StoreError::Invalid {
            field: "size",
            reason: "the metadata's size is not the document's",
        });
    }
    if a.local.is_empty() && a.forward.is_empty() {
        return Err(StoreError::Invalid {
            field: "recipients",
            reason: "a message goes to at least one organ",
        });
    }
    let mut seen = HashSet::new();
    let recipients = a.local.iter().chain(a.forward.iter().map(|(_, r)| r));
    for r in recipients {
        keys::string_prefix(r, "recipient")?;
        if !seen.insert(r.as_str()) {
            return Err(StoreError::Invalid {
                field: "recipients",
                reason: "a recipient organ is named twice",
            });
        }
    }
    Ok(())
}

/// What every engine checks of an ack's status event: it is for the message acknowledged.
pub(in crate::store) fn check_ack_report(
    id: &MessageId,
    accepted: &StatusEvent,
) -> Result<(), StoreError> {
    if accepted.message == *id {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "status event",
            reason: "the status event is for another message",
        })
    }
}

/// The gateway's one durable store. Synchronous: call it from async code with
/// `tokio::task::spawn_blocking`. Implementations are cheap to clone (shared state inside).
pub trait Store: Send + Sync {
    /// Stores a message and queues it, atomically, or recognises it as already stored.
    ///
    /// **Durable on return** (every outcome: a `Duplicate` also waits for a flush covering the
    /// first write). Dedup by `meta.id`: same digest → [`AcceptOutcome::Duplicate`] (or
    /// `DuplicatePurged` after retention), other digest → [`AcceptOutcome::Conflict`]; both
    /// change nothing. Otherwise stores bytes and metadata, adds an inbox entry per `local`
    /// organ, an outbox entry per `forward` pair (lane of its priority), and the delivery states.
    /// Refuses with [`StoreError::OutboxFull`] and changes nothing if a peer's outbox would hold
    /// more than `max_outbox_per_peer` entries; [`StoreError::Invalid`] for no recipient or a
    /// recipient named twice.
    fn accept(&self, a: Accept) -> Result<AcceptOutcome, StoreError>;

    /// [`Store::accept`], writing `filed` (the filing record and, only for a document
    /// publication allowed, its public index entry) in the same transaction: the public index
    /// never holds a document the store does not, and a stored document is never missing its
    /// filing. A duplicate or conflict writes nothing. **Durable on return.**
    fn accept_filed(&self, a: Accept, filed: Filed) -> Result<AcceptOutcome, StoreError>;

    /// The filing record of a message (label, due date, handling), if one was written. Read only.
    fn filing(&self, id: &MessageId) -> Result<Option<Filing>, StoreError>;

    /// Every filing record whose `received_at_ms` is in `[from_ms, to_ms)`, with its id, oldest
    /// first. Read only.
    fn filings_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(MessageId, Filing)>, StoreError>;

    /// Up to `limit` entries of the public index, newest first. Read only.
    fn public_documents(&self, limit: usize) -> Result<Vec<PublicEntry>, StoreError>;

    /// Up to `limit` entries of `peer`'s outbox whose next attempt time is at or before
    /// `now_ms`: top lane first, FIFO within a lane. Read only.
    fn outbox_next(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// The entries [`outbox_next`](Self::outbox_next) would return, leased to this process
    /// until `now_ms + lease_ms`: while the lease runs, another process on the same store (a
    /// second node of the organ on one PostgreSQL database) is not given them, and this one
    /// is again (its relay worker knows what it has in flight). A node that dies leaves its
    /// entries to the others once the lease runs out. **Not durable until flush** (a lost
    /// lease only lets a second node send too; the peer deduplicates). An engine that one
    /// process opens at a time (sled) needs no lease: by default this is `outbox_next`.
    fn outbox_lease(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let _ = lease_ms;
        self.outbox_next(peer, limit, now_ms)
    }

    /// Calls `arrived` whenever another process on the same store (a second node of the organ
    /// on one PostgreSQL database) puts a document in an inbox, so that this process's long
    /// polls wake for it too; also once after the store's connection was lost and back (an
    /// arrival meanwhile may have gone unseen). An engine that one process opens at a time
    /// (sled) has no other process: by default nothing is watched.
    fn watch_arrivals(&self, arrived: std::sync::Arc<dyn Fn() + Send + Sync>) {
        let _ = arrived;
    }

    /// The bytes of a stored message, to send. Read only.
    fn outbox_bytes(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError>;

    /// The peer accepted the entry: removes it from the outbox, records
    /// [`Delivery::Delivered`] and a [`HopRecord`] with the receipt, atomically.
    /// **Durable on return.** [`StoreError::NotFound`] if the entry is no longer queued.
    fn mark_delivered(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        receipt: String,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// A delivery attempt failed: counts it, keeps the error and the next attempt time, and
    /// sets [`Delivery::InTransit`]. **Not durable until flush** (losing it only repeats an
    /// attempt early). [`StoreError::NotFound`] if the entry is no longer queued.
    fn record_failure(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError>;

    /// Gives up on an entry: removes it from the outbox and records
    /// [`Delivery::DeadLettered`]. **Durable on return.** [`StoreError::NotFound`] if the
    /// entry is no longer queued.
    fn dead_letter(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        reason: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// Entries per peer and lane, non-zero ones only (metrics). Read only.
    fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError>;

    /// Up to `limit` pending (not acknowledged) items of `organ`'s inbox, top lane first, oldest
    /// first within a lane. Read only.
    fn inbox_list(&self, organ: &OrganId, limit: usize) -> Result<Vec<InboxItem>, StoreError>;

    /// Like [`inbox_list`](Self::inbox_list), but each item with its filing record and whether
    /// its sender recalled it, and counting only entries `visible` accepts: up to `limit`
    /// visible entries, skipping the others however many there are — so a backlog of documents
    /// above a client's clearance never hides the ones it may read. One call for the whole
    /// listing: the engine reads each entry's facts in the same pass (sled: point reads beside
    /// the ordered inbox scan; a SQL engine: one query). Read only.
    fn inbox_list_visible(
        &self,
        organ: &OrganId,
        limit: usize,
        visible: &mut dyn FnMut(&InboxEntry) -> bool,
    ) -> Result<Vec<InboxEntry>, StoreError>;

    /// A message of `organ`'s inbox (pending or acknowledged), only if `organ` is one of its
    /// local recipients — never another organ's. Read only.
    fn inbox_get(
        &self,
        organ: &OrganId,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError>;

    /// Acknowledges an inbox item; idempotent. **Durable on return** (both outcomes).
    /// [`StoreError::NotFound`] if `organ` has no such item.
    fn inbox_ack(&self, organ: &OrganId, id: &MessageId) -> Result<AckOutcome, StoreError>;

    /// [`inbox_ack`](Self::inbox_ack), and on the first ack also records `accepted` (status 03
    /// for the sender) and queues it for `forward_to`, in the same transaction: an ack that is
    /// durable always has its status event durable with it, so neither a crash nor a retention
    /// sweep between the two can lose the sender's "accepted". **Durable on return.**
    fn inbox_ack_reporting(
        &self,
        organ: &OrganId,
        id: &MessageId,
        accepted: &StatusEvent,
        forward_to: Option<&OrganId>,
    ) -> Result<AckOutcome, StoreError>;

    /// Messages sent by `from`, oldest first by `received_at_ms`, from `since_ms` on, keeping
    /// those with at least one recipient in state `state`; at most `limit`, continuing after
    /// `cursor`. Returns the page and the cursor of the next page (`None` at the end). Read only.
    fn sent_list(
        &self,
        from: &OrganId,
        state: Option<DeliveryKind>,
        since_ms: Option<i64>,
        limit: usize,
        cursor: Option<&SentCursor>,
    ) -> Result<(Vec<SentItem>, Option<SentCursor>), StoreError>;

    /// A message's metadata and delivery states. Read only.
    fn message(&self, id: &MessageId) -> Result<Option<SentItem>, StoreError>;

    /// Records a status event. **Durable on return.**
    fn put_status(&self, event: StatusEvent) -> Result<(), StoreError>;

    /// The status events of a message, in time order (ties in arrival order). Read only.
    fn statuses(&self, id: &MessageId) -> Result<Vec<StatusEvent>, StoreError>;

    /// Records a status event here and queues it for each peer of `forward_to` (one peer
    /// towards the document's sender for a report; the next hops towards the recipients for a
    /// recall request), atomically; the first 06 (handled) of each organ is also noted in the
    /// message's filing record, in the same transaction. An event already recorded (same
    /// message, organ, code and time: a retried relay) is neither recorded nor queued again.
    /// **Durable on return.** [`StoreError::NotFound`] for a message this store does not know.
    fn relay_status(&self, event: StatusEvent, forward_to: &[OrganId]) -> Result<(), StoreError>;

    /// Up to `limit` status events queued for `peer`, oldest first, with their queue keys.
    /// Read only.
    fn status_outbox(
        &self,
        peer: &OrganId,
        limit: usize,
    ) -> Result<Vec<(StatusOutKey, StatusEvent)>, StoreError>;

    /// The peer took a queued status event: removes it. **Durable on return.**
    fn status_sent(&self, key: &StatusOutKey) -> Result<(), StoreError>;

    /// Makes every write that returned before this call durable. **Durable on return.**
    fn flush(&self) -> Result<(), StoreError>;

    /// Counters for health and metrics. Read only.
    fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Retention: removes bytes, metadata, delivery states, statuses and index entries of
    /// messages finished before `cutoff_ms` — every recipient [`Delivery::Delivered`] or local
    /// and acknowledged (dead letters are kept for operators) — keeping the dedup tombstone
    /// (id → digest) so a late duplicate is still recognised, and the filing record and public
    /// index entry (the timeliness report and the portal outlive retention). **Durable on
    /// return.**
    fn purge_acked_older_than(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError>;

    /// Messages quarantined because their document was found altered on disk (by a read or a
    /// scrub), oldest first. Read only.
    fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError>;

    /// Reads back every stored document and checks it against its record (size and SHA-256),
    /// quarantining the altered ones and releasing quarantined ones found whole again, and
    /// looks up the record every index entry names. Safe while the gateway runs; takes time in
    /// proportion to the bytes held.
    fn scrub(&self) -> Result<ScrubReport, StoreError>;
}
