//! The [`Store`] on sled 0.34: one `Db`, thirteen trees, multi-tree transactions for every change
//! that must be atomic, and group commit for durability (see the module docs of `store`).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::documents::{self, DocumentFiles};
use super::group_commit::GroupCommit;
use super::keys;
use super::register::{self, Archived, R_FILING, R_PUBLIC, Register};
use super::types::{hex_decode, hex_encode};
use super::{
    Accept, AcceptOutcome, AckOutcome, Delivery, DeliveryKind, HopRecord, InboxItem, Lane,
    MessageId, MessageMeta, OutboxDepth, OutboxEntry, OutboxKey, Priority, PurgeReport, SentCursor,
    SentItem, StatusEvent, Store, StoreError, StoreLimits, StoreStats,
};
use super::{Filed, Filing, PublicEntry};

/// sled's page cache size. Modest: the gateway's working set is the queue heads, and the OS page
/// cache holds the rest of the log.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// How long an open waits for a sled database's lock to be released.
///
/// Dropping a `sled::Db` does not wait for its I/O threads: the file lock goes when the last of
/// them ends, a moment later (spacejam/sled#1234, #1289). A store closed and opened again in
/// one process (tests, the benchmark, the register's conversion) would otherwise fail at random
/// under load. A database held by another process still fails, after this wait.
const LOCK_RELEASE_WAIT: Duration = Duration::from_secs(3);

/// Whether sled could not take its database's file lock. sled 0.34 reports that as an
/// `ErrorKind::Other` error whose text carries the `WouldBlock` it got from `flock`, so the text
/// is all there is to recognise it by.
fn is_lock_held(e: &std::io::Error) -> bool {
    e.to_string().starts_with(LOCK_ERROR_PREFIX)
}

/// How sled 0.34 (`config.rs`) begins the text of a failed lock.
const LOCK_ERROR_PREFIX: &str = "could not acquire lock on";

/// Opens `config`'s database, waiting up to [`LOCK_RELEASE_WAIT`] for a lock being released.
pub(super) fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + LOCK_RELEASE_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_held(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

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

/// The metadata record: the public metadata plus what purging needs to find every index entry.
#[derive(Serialize, Deserialize)]
struct MessageRecord {
    meta: MessageMeta,
    /// Key of this message in the sent index.
    sent_key: Vec<u8>,
    /// Local recipient organs (inbox/membership entries).
    local: Vec<String>,
    /// Key of this message in the public index (hex), if it has an entry; records written
    /// before the register existed lack it and are found by a scan when purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    /// Token of the document's file (see `documents`); records written before document files
    /// existed lack it and keep their bytes in the `bytes` tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<u64>,
}

/// One outbox entry's value.
#[derive(Serialize, Deserialize)]
struct OutboxRecord {
    message: MessageId,
    recipient: String,
    priority: u8,
    attempts: u32,
    next_attempt_ms: i64,
    last_error: Option<String>,
}

/// Inbox membership of (organ, message): where its pending entry is and whether it was acked.
/// This is also the authorisation record of `inbox_get`: no membership, no access.
#[derive(Serialize, Deserialize)]
struct Membership {
    inbox_key: Vec<u8>,
    acked: bool,
}

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

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::sled("encode a record", e))
}

/// Reads and decodes one record of `tree` (named `name` in errors); `what` says what was read.
fn get_decoded<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    match tree.get(key).map_err(|e| StoreError::sled(what, e))? {
        Some(v) => decode(name, key, &v).map(Some),
        None => Ok(None),
    }
}

fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|_| StoreError::Corrupt {
        tree,
        key: hex_encode(key),
    })
}

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Decoding inside a transaction: a corrupt record aborts it.
fn tx_decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], v: &[u8]) -> TxResult<T> {
    decode(tree, key, v).map_err(ConflictableTransactionError::Abort)
}

fn tx_error(op: &'static str) -> impl Fn(TransactionError<StoreError>) -> StoreError {
    move |e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::sled(op, e),
    }
}

fn counter_add(t: &TransactionalTree, key: &[u8], n: u64) -> TxResult<()> {
    let v = keys::counter_value(t.get(key)?.as_deref()).saturating_add(n);
    t.insert(key, &v.to_be_bytes())?;
    Ok(())
}

fn counter_sub(t: &TransactionalTree, key: &[u8], n: u64) -> TxResult<()> {
    let v = keys::counter_value(t.get(key)?.as_deref()).saturating_sub(n);
    if v == 0 {
        t.remove(key)?;
    } else {
        t.insert(key, &v.to_be_bytes())?;
    }
    Ok(())
}

/// Messages archived to the register with one flush, then purged one transaction each.
const PURGE_CHUNK: usize = 256;

/// One message the purge will remove: what it removes and what it leaves in the register.
struct PurgePlan {
    record: MessageRecord,
    delivery_keys: Vec<Vec<u8>>,
    memberships: Vec<Vec<u8>>,
    status_keys: Vec<sled::IVec>,
    archived: Archived,
}

/// What one run of accept's transaction decided.
enum Attempt {
    Done(AcceptOutcome),
    /// A purge moved tombstones meanwhile: read the register again.
    Retry,
    /// The message is new but its document file was not written (the id looked known).
    NeedFile,
}

/// The document file an accept wrote, removed again unless the accept stored the message.
struct PendingFile<'a> {
    files: &'a DocumentFiles,
    id: &'a [u8],
    size: u64,
    token: Option<u64>,
}

impl<'a> PendingFile<'a> {
    fn new(files: &'a DocumentFiles, id: &'a [u8], size: u64) -> Self {
        Self {
            files,
            id,
            size,
            token: None,
        }
    }

    fn write(&mut self, token: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.files.write(self.id, token, bytes)?;
        self.token = Some(token);
        Ok(())
    }

    /// The message was stored: its record names the file now.
    fn keep(mut self) {
        self.token = None;
    }
}

impl Drop for PendingFile<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            // Named by no record: best effort now, and the next open removes it anyway.
            let _ = self.files.delete(self.id, token, self.size);
        }
    }
}

/// The register entry of message `id` in `batch`, made empty if new.
fn slot<'a>(batch: &'a mut BTreeMap<Vec<u8>, Archived>, id: &[u8]) -> &'a mut Archived {
    batch.entry(id.to_vec()).or_insert_with(|| Archived {
        id: id.to_vec(),
        ..Archived::default()
    })
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`.
    ///
    /// sled's own periodic flush is switched off (`flush_every_ms(None)`): the store flushes
    /// itself, so that durability is a property of the methods, not of a timer.
    pub fn open(path: impl AsRef<Path>, limits: StoreLimits) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None);
        let db =
            open_waiting_for_lock(&config).map_err(|e| StoreError::sled("open the database", e))?;
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(|e| StoreError::sled("open a tree", e))
        };
        let t = Trees {
            meta: tree(T_META)?,
            bytes: tree(T_BYTES)?,
            dedup: tree(T_DEDUP)?,
            deliveries: tree(T_DELIVERIES)?,
            outbox: tree(T_OUTBOX)?,
            inbox: tree(T_INBOX)?,
            membership: tree(T_MEMBERSHIP)?,
            sent: tree(T_SENT)?,
            status: tree(T_STATUS)?,
            counters: tree(T_COUNTERS)?,
            status_out: tree(T_STATUS_OUT)?,
            filing: tree(T_FILING)?,
            public: tree(T_PUBLIC)?,
        };
        let register = Register::open(path)?;
        // At open, before anything else can use the store: a file is kept only if its record
        // names it (orphans come from crashes between a file's write and its transaction, and
        // between a purge's commit and its delete).
        let documents = DocumentFiles::open(path, |id, token| {
            let record: Option<MessageRecord> = get_decoded(&t.meta, T_META, id, "read")?;
            Ok(record.is_some_and(|r| r.file == Some(token)))
        })?;
        let commit = GroupCommit::new(limits.flush_window);
        let store = Self {
            inner: Arc::new(Inner {
                db,
                t,
                register,
                documents,
                purges: AtomicU64::new(0),
                limits,
                commit,
            }),
        };
        store.move_purged_to_register()?;
        Ok(store)
    }

    /// Stores written before the register kept tombstones, filing records and public entries
    /// of purged messages in the main database, pinning its segments: move them once, at open
    /// (no other thread holds the store yet). Entries of live messages stay.
    fn move_purged_to_register(&self) -> Result<(), StoreError> {
        let t = self.t();
        let read = |e| StoreError::sled("read the store at open", e);
        let purged =
            |id: &[u8]| -> Result<bool, StoreError> { Ok(!t.meta.contains_key(id).map_err(read)?) };
        let mut batch: BTreeMap<Vec<u8>, Archived> = BTreeMap::new();
        for kv in t.dedup.iter() {
            let (k, v) = kv.map_err(read)?;
            if purged(&k)? {
                slot(&mut batch, &k).digest = Some(v.to_vec());
            }
        }
        for kv in t.filing.iter() {
            let (k, v) = kv.map_err(read)?;
            if purged(&k)? {
                slot(&mut batch, &k).filing = Some(v.to_vec());
            }
        }
        for kv in t.public.iter() {
            let (k, v) = kv.map_err(read)?;
            let id = register::public_key_id(&k)?;
            if purged(id)? {
                slot(&mut batch, id).public.push((k.to_vec(), v.to_vec()));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let batch: Vec<Archived> = batch.into_values().collect();
        self.inner.register.archive(&batch)?;
        let write = |e| StoreError::sled("move entries to the register", e);
        for a in &batch {
            t.dedup.remove(&a.id).map_err(write)?;
            t.filing.remove(&a.id).map_err(write)?;
            for (k, _) in &a.public {
                t.public.remove(k.as_slice()).map_err(write)?;
            }
        }
        self.durable()
    }

    /// The purge of `record` if every delivery of it is finished (delivered, or acked in the
    /// inbox); `None` while anything is queued, in transit, dead-lettered or unacknowledged.
    fn purge_plan(&self, record: MessageRecord) -> Result<Option<PurgePlan>, StoreError> {
        let t = self.t();
        let id = record.meta.id;
        let deliveries = self.deliveries_of(&id)?;
        let mut memberships = Vec::new();
        let mut finished = !deliveries.is_empty();
        for (recipient, d) in &deliveries {
            match d {
                Delivery::Delivered { .. } => {}
                Delivery::Local => {
                    let prefix = keys::string_prefix(recipient, "organ")?;
                    let mkey = keys::membership_key(&prefix, &id);
                    let acked = match t
                        .membership
                        .get(&mkey)
                        .map_err(|e| StoreError::sled("read the inbox", e))?
                    {
                        Some(v) => decode::<Membership>(T_MEMBERSHIP, &mkey, &v)?.acked,
                        None => false,
                    };
                    finished &= acked;
                    memberships.push(mkey);
                }
                // Queued, in transit, or dead-lettered (kept for operators).
                _ => finished = false,
            }
        }
        if !finished {
            return Ok(None);
        }
        let delivery_keys = deliveries
            .iter()
            .map(|(r, _)| keys::delivery_key(&id, r))
            .collect();
        let status_keys = t
            .status
            .scan_prefix(id.as_bytes())
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sled("read status events", e))?;
        let archived = self.archived_of(&record)?;
        Ok(Some(PurgePlan {
            record,
            delivery_keys,
            memberships,
            status_keys,
            archived,
        }))
    }

    /// Archives what `plans` leave behind (one register flush), then removes each message in
    /// a transaction of its own, makes the removals durable and deletes the document files.
    fn purge_chunk(
        &self,
        plans: Vec<PurgePlan>,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        if plans.is_empty() {
            return Ok(());
        }
        let (archived, plans): (Vec<Archived>, Vec<PurgePlan>) = plans
            .into_iter()
            .map(|mut p| (std::mem::take(&mut p.archived), p))
            .unzip();
        // Register first, durable: from here the tombstones are found there. Then count this
        // purge, before any entry leaves the main database (`accept_filed` relies on it).
        self.inner.register.archive(&archived)?;
        self.inner.purges.fetch_add(1, Ordering::SeqCst);
        let t = self.t();
        let mut files = Vec::new();
        for (plan, archived) in plans.iter().zip(&archived) {
            let size = (
                &t.meta,
                &t.bytes,
                &t.deliveries,
                &t.membership,
                &t.sent,
                &t.status,
                &t.counters,
                &t.dedup,
                &t.filing,
                &t.public,
            )
                .transaction(
                    |(
                        meta,
                        bytes,
                        deliveries,
                        membership,
                        sent,
                        status,
                        counters,
                        dedup,
                        filing,
                        public,
                    )| {
                        let idk = plan.record.meta.id.as_bytes();
                        // A filing record changed since it was archived (a status 06 landed):
                        // leave this message to the next sweep, which archives the new one.
                        if filing.get(idk)?.as_deref() != archived.filing.as_deref() {
                            return Ok(None);
                        }
                        // Gone already (a concurrent purge): nothing to do, nothing to count.
                        if meta.remove(idk)?.is_none() {
                            return Ok(None);
                        }
                        let in_tree = bytes.remove(idk)?.map_or(0, |b| b.len());
                        let size = match plan.record.file {
                            Some(_) => plan.record.meta.size,
                            None => u64::try_from(in_tree).unwrap_or(u64::MAX),
                        };
                        sent.remove(plan.record.sent_key.as_slice())?;
                        for k in &plan.delivery_keys {
                            deliveries.remove(k.as_slice())?;
                        }
                        for k in &plan.memberships {
                            membership.remove(k.as_slice())?;
                        }
                        for k in &plan.status_keys {
                            status.remove(k)?;
                        }
                        // Archived above: a late duplicate is still recognised (register),
                        // reports and the portal still see the message.
                        dedup.remove(idk)?;
                        filing.remove(idk)?;
                        for (k, _) in &archived.public {
                            public.remove(k.as_slice())?;
                        }
                        counter_sub(counters, keys::MESSAGES_COUNTER, 1)?;
                        Ok(Some(size))
                    },
                )
                .map_err(tx_error("purge a message"))?;
            if let Some(size) = size {
                // Status events recorded after the plan was read: none can be added any more
                // (recording one checks the message inside its transaction), remove them.
                for k in t.status.scan_prefix(plan.record.meta.id.as_bytes()).keys() {
                    let k = k.map_err(|e| StoreError::sled("read status events", e))?;
                    t.status
                        .remove(k)
                        .map_err(|e| StoreError::sled("purge status events", e))?;
                }
                report.messages += 1;
                report.bytes = report.bytes.saturating_add(size);
                if let Some(token) = plan.record.file {
                    files.push((plan.record.meta.id, token, size));
                }
            }
        }
        // Files go only once the removals are durable: a crash before that brings the records
        // back, and they must still find their documents.
        self.durable()?;
        for (id, token, size) in files {
            self.inner.documents.delete(id.as_bytes(), token, size)?;
        }
        Ok(())
    }

    /// What purging `record` leaves in the register, read from the main database.
    fn archived_of(&self, record: &MessageRecord) -> Result<Archived, StoreError> {
        let t = self.t();
        let idk = record.meta.id.as_bytes();
        let read = |e| StoreError::sled("read for the register", e);
        let mut public = Vec::new();
        match &record.public_key {
            Some(hex) => {
                let k = hex_decode(hex).ok_or_else(|| StoreError::Corrupt {
                    tree: T_META,
                    key: hex_encode(idk),
                })?;
                if let Some(v) = t.public.get(&k).map_err(read)? {
                    public.push((k, v.to_vec()));
                }
            }
            // A record from before the register: its public entry (if any) by a scan.
            None => {
                for kv in t.public.iter() {
                    let (k, v) = kv.map_err(read)?;
                    if register::public_key_id(&k)? == idk {
                        public.push((k.to_vec(), v.to_vec()));
                    }
                }
            }
        }
        Ok(Archived {
            id: idk.to_vec(),
            digest: t.dedup.get(idk).map_err(read)?.map(|v| v.to_vec()),
            filing: t.filing.get(idk).map_err(read)?.map(|v| v.to_vec()),
            public,
        })
    }

    fn t(&self) -> &Trees {
        &self.inner.t
    }

    /// A token for a new document file (unique across restarts).
    fn file_token(&self) -> Result<u64, StoreError> {
        self.inner
            .db
            .generate_id()
            .map_err(|e| StoreError::sled("generate a document file token", e))
    }

    /// Whether message `id` is in the live dedup index (not purged).
    fn is_live(&self, id: &[u8]) -> Result<bool, StoreError> {
        self.t()
            .dedup
            .contains_key(id)
            .map_err(|e| StoreError::sled("read the dedup index", e))
    }

    /// The document bytes of `record`: its file, or the `bytes` tree for records written before
    /// document files. `None` if a purge removed them meanwhile.
    fn bytes_of(&self, record: &MessageRecord) -> Result<Option<Vec<u8>>, StoreError> {
        let id = record.meta.id.as_bytes();
        match record.file {
            Some(token) => match self.inner.documents.read(id, token, record.meta.size)? {
                Some(bytes) => Ok(Some(bytes)),
                // Gone: a purge deleted it after the caller read the record — unless the record
                // is still there, in which case the file was lost.
                None if self.read_record(&record.meta.id)?.is_some() => Err(StoreError::Corrupt {
                    tree: documents::DIR,
                    key: hex_encode(id),
                }),
                None => Ok(None),
            },
            None => self
                .t()
                .bytes
                .get(id)
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(|e| StoreError::sled("read message bytes", e)),
        }
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
                .map_err(|e| StoreError::sled("flush", e))
        })
    }

    fn read_record(&self, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        get_decoded(&self.t().meta, T_META, id.as_bytes(), "read")
    }

    fn deliveries_of(&self, id: &MessageId) -> Result<Vec<(String, Delivery)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t().deliveries.scan_prefix(id.as_bytes()) {
            let (k, v) = kv.map_err(|e| StoreError::sled("read", e))?;
            let recipient = k
                .get(16..)
                .and_then(|r| std::str::from_utf8(r).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    tree: T_DELIVERIES,
                    key: hex_encode(&k),
                })?;
            out.push((recipient.to_owned(), decode(T_DELIVERIES, &k, &v)?));
        }
        Ok(out)
    }

    /// What every recorded status event must be: an edXML code, two digits "01" to "16", for a
    /// message this store knows (fail closed).
    fn check_status(&self, event: &StatusEvent) -> Result<(), StoreError> {
        let code_ok = matches!(event.code.parse::<u8>(), Ok(1..=16)) && event.code.len() == 2;
        if !code_ok {
            return Err(StoreError::Invalid {
                field: "status code",
                reason: "a status code is \"01\" to \"16\"",
            });
        }
        if self.read_record(&event.message)?.is_none() {
            return Err(StoreError::NotFound { id: event.message });
        }
        Ok(())
    }

    /// The ack transaction, with the optional status event recorded and queued atomically.
    fn ack(
        &self,
        organ: &str,
        id: &MessageId,
        report: Option<(&StatusEvent, Option<&str>)>,
    ) -> Result<AckOutcome, StoreError> {
        let prefix = keys::string_prefix(organ, "organ")?;
        let mkey = keys::membership_key(&prefix, id);
        let t = self.t();
        let report = match report {
            Some((event, forward_to)) => {
                let seq = self
                    .inner
                    .db
                    .generate_id()
                    .map_err(|e| StoreError::sled("number a status event", e))?;
                let status_key = keys::status_key(&event.message, event.at_ms, seq);
                let out_key = forward_to.map(|peer| keys::status_out_key(peer, seq));
                Some((encode(event)?, status_key, out_key))
            }
            None => None,
        };
        let writer = self.inner.commit.begin();
        let outcome = (&t.inbox, &t.membership, &t.status, &t.status_out)
            .transaction(|(inbox, membership, status, out)| {
                let Some(v) = membership.get(&mkey)? else {
                    return abort(StoreError::NotFound { id: *id });
                };
                let mut m: Membership = tx_decode(T_MEMBERSHIP, &mkey, &v)?;
                if m.acked {
                    return Ok(AckOutcome::AlreadyAcked);
                }
                inbox.remove(m.inbox_key.as_slice())?;
                m.acked = true;
                let m = encode(&m).map_err(ConflictableTransactionError::Abort)?;
                membership.insert(mkey.as_slice(), m)?;
                if let Some((value, status_key, out_key)) = &report {
                    status.insert(status_key.as_slice(), value.as_slice())?;
                    if let Some(k) = out_key {
                        out.insert(k.as_slice(), value.as_slice())?;
                    }
                }
                Ok(AckOutcome::Acked)
            })
            .map_err(tx_error("acknowledge an inbox item"))?;
        // AlreadyAcked too: the first ack may still be waiting for its flush.
        self.wait(writer.ticket())?;
        Ok(outcome)
    }

    /// Checks that an outbox handle belongs to `peer` and returns the peer's key prefix.
    fn entry_prefix(peer: &str, entry: &OutboxEntry) -> Result<Vec<u8>, StoreError> {
        let prefix = keys::string_prefix(peer, "peer")?;
        if entry.key.0.starts_with(&prefix) && entry.key.0.len() == prefix.len() + 9 {
            Ok(prefix)
        } else {
            Err(StoreError::Invalid {
                field: "outbox entry",
                reason: "the entry does not belong to this peer's outbox",
            })
        }
    }

    /// Removes an outbox entry and sets its delivery state, atomically; returns the record.
    fn finish_entry(
        &self,
        peer: &str,
        entry: &OutboxEntry,
        op: &'static str,
        state: impl Fn(&OutboxRecord) -> Delivery,
        hop: Option<HopRecord>,
    ) -> Result<(), StoreError> {
        let prefix = Self::entry_prefix(peer, entry)?;
        let lane = keys::queue_key_lane(&entry.key.0, prefix.len()).ok_or(StoreError::Invalid {
            field: "outbox entry",
            reason: "the entry key has no lane",
        })?;
        let counter = keys::outbox_counter_key(&prefix, lane);
        let t = self.t();
        let writer = self.inner.commit.begin();
        (&t.outbox, &t.deliveries, &t.meta, &t.counters)
            .transaction(|(outbox, deliveries, meta, counters)| {
                let key = entry.key.0.as_slice();
                let Some(v) = outbox.remove(key)? else {
                    return abort(StoreError::NotFound { id: entry.message });
                };
                let rec: OutboxRecord = tx_decode(T_OUTBOX, key, &v)?;
                counter_sub(counters, &counter, 1)?;
                let dkey = keys::delivery_key(&rec.message, &rec.recipient);
                let state = encode(&state(&rec)).map_err(ConflictableTransactionError::Abort)?;
                deliveries.insert(dkey, state)?;
                if let Some(hop) = &hop {
                    let id = rec.message.as_bytes();
                    let Some(v) = meta.get(id)? else {
                        return abort(StoreError::Corrupt {
                            tree: T_META,
                            key: hex_encode(id),
                        });
                    };
                    let mut record: MessageRecord = tx_decode(T_META, id, &v)?;
                    record.meta.hops.push(hop.clone());
                    let v = encode(&record).map_err(ConflictableTransactionError::Abort)?;
                    meta.insert(id, v)?;
                }
                Ok(())
            })
            .map_err(tx_error(op))?;
        self.wait(writer.ticket())
    }

    fn check_accept(a: &Accept) -> Result<(), StoreError> {
        Priority::try_from(a.meta.priority)?;
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
}

impl Store for SledStore {
    fn accept(&self, a: Accept) -> Result<AcceptOutcome, StoreError> {
        self.accept_filed(a, Filed::default())
    }

    fn accept_filed(&self, a: Accept, filed: Filed) -> Result<AcceptOutcome, StoreError> {
        Self::check_accept(&a)?;
        let filing = filed.filing.as_ref().map(encode).transpose()?;
        let public = match &filed.public {
            Some(p) => {
                let mut k = keys::time_key(p.published_at_ms).to_vec();
                k.extend_from_slice(a.meta.id.as_bytes());
                Some((k, encode(p)?))
            }
            None => None,
        };
        let lane = Priority::try_from(a.meta.priority)?.lane();
        let id = a.meta.id;
        let idk = id.as_bytes();
        let from_prefix = keys::string_prefix(&a.meta.from, "from")?;
        // Per peer: key prefix and number of entries this accept adds.
        let mut per_peer: BTreeMap<&str, (Vec<u8>, u64)> = BTreeMap::new();
        for (peer, _) in &a.forward {
            let prefix = keys::string_prefix(peer, "peer")?;
            per_peer.entry(peer.as_str()).or_insert((prefix, 0)).1 += 1;
        }
        let local_prefixes = a
            .local
            .iter()
            .map(|o| keys::string_prefix(o, "organ"))
            .collect::<Result<Vec<_>, _>>()?;
        let queued = a
            .forward
            .iter()
            .map(|(peer, _)| {
                encode(&Delivery::Queued {
                    next_hop: peer.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let local_state = encode(&Delivery::Local)?;
        let max = self.inner.limits.max_outbox_per_peer;
        let t = self.t();
        // The document's file first, durable before the transaction that names it (see
        // `documents`) — unless the id is known already: the transaction then answers without it.
        //
        // The register is read outside the transaction (a read may touch the disk, and sled
        // holds a process-wide lock while a transaction runs). The purge count is taken before
        // that read; the transaction compares it (below) and asks for a fresh read if a purge
        // ran in between. The same read answers "is it known?" here.
        let mut purges_before = self.inner.purges.load(Ordering::SeqCst);
        let mut tombstone = self.inner.register.tombstone(idk)?;
        let mut file = PendingFile::new(&self.inner.documents, idk, a.meta.size);
        if tombstone.is_none() && !self.is_live(idk)? {
            file.write(self.file_token()?, &a.bytes)?;
        }
        let writer = self.inner.commit.begin();
        let outcome = loop {
            let attempt = (
                &t.meta,
                &t.dedup,
                &t.deliveries,
                &t.outbox,
                &t.inbox,
                &t.membership,
                &t.sent,
                &t.counters,
                &t.filing,
                &t.public,
            )
                .transaction(
                    |(
                        meta,
                        dedup,
                        deliveries,
                        outbox,
                        inbox,
                        membership,
                        sent,
                        counters,
                        filing_tree,
                        public_tree,
                    )| {
                        // Dedup first, before any write: exactly-once in the inbox.
                        if let Some(existing) = dedup.get(idk)? {
                            if existing.as_ref() != a.meta.digest_hex.as_bytes() {
                                return Ok(Attempt::Done(AcceptOutcome::Conflict {
                                    id,
                                    existing_digest_hex: String::from_utf8_lossy(&existing)
                                        .into_owned(),
                                }));
                            }
                            return match meta.get(idk)? {
                                Some(v) => {
                                    let record: MessageRecord = tx_decode(T_META, idk, &v)?;
                                    Ok(Attempt::Done(AcceptOutcome::Duplicate {
                                        meta: Box::new(record.meta),
                                    }))
                                }
                                None => Ok(Attempt::Done(AcceptOutcome::DuplicatePurged { id })),
                            };
                        }
                        // Then the register, read before the transaction. A purge archives its
                        // tombstones there *before* it removes them here and counts itself in
                        // between, so if no purge was counted since that read, a message missing
                        // here was either in that read or never accepted. Otherwise read again.
                        if self.inner.purges.load(Ordering::SeqCst) != purges_before {
                            return Ok(Attempt::Retry);
                        }
                        if let Some(existing) = &tombstone {
                            if existing.as_slice() != a.meta.digest_hex.as_bytes() {
                                return Ok(Attempt::Done(AcceptOutcome::Conflict {
                                    id,
                                    existing_digest_hex: String::from_utf8_lossy(existing)
                                        .into_owned(),
                                }));
                            }
                            return Ok(Attempt::Done(AcceptOutcome::DuplicatePurged { id }));
                        }
                        // Back-pressure, also before any write (the transaction sees the counters
                        // it reads consistently, so two racing accepts cannot both squeeze in).
                        for (peer, (prefix, adding)) in &per_peer {
                            let mut depth = 0u64;
                            for l in Lane::ALL {
                                let c = counters.get(keys::outbox_counter_key(prefix, l))?;
                                depth = depth.saturating_add(keys::counter_value(c.as_deref()));
                            }
                            if depth.saturating_add(*adding) > max {
                                return abort(StoreError::OutboxFull {
                                    peer: (*peer).to_owned(),
                                    depth,
                                });
                            }
                        }
                        // Known before the transaction, unknown inside it: not possible today (a
                        // dedup entry leaves only for a tombstone), handled rather than assumed.
                        let Some(token) = file.token else {
                            return Ok(Attempt::NeedFile);
                        };
                        let seq = meta.generate_id()?;
                        let sent_key = keys::sent_key(&from_prefix, a.meta.received_at_ms, seq);
                        let record = MessageRecord {
                            meta: a.meta.clone(),
                            sent_key: sent_key.clone(),
                            local: a.local.clone(),
                            public_key: public.as_ref().map(|(k, _)| hex_encode(k)),
                            file: Some(token),
                        };
                        let record =
                            encode(&record).map_err(ConflictableTransactionError::Abort)?;
                        dedup.insert(idk, a.meta.digest_hex.as_bytes())?;
                        meta.insert(idk, record)?;
                        sent.insert(sent_key, idk)?;
                        counter_add(counters, keys::MESSAGES_COUNTER, 1)?;
                        if let Some(f) = &filing {
                            filing_tree.insert(idk, f.as_slice())?;
                        }
                        if let Some((k, v)) = &public {
                            public_tree.insert(k.as_slice(), v.as_slice())?;
                        }
                        for (organ, prefix) in a.local.iter().zip(&local_prefixes) {
                            let inbox_key = keys::queue_key(prefix, lane, seq);
                            inbox.insert(inbox_key.clone(), idk)?;
                            let m = encode(&Membership {
                                inbox_key,
                                acked: false,
                            })
                            .map_err(ConflictableTransactionError::Abort)?;
                            membership.insert(keys::membership_key(prefix, &id), m)?;
                            deliveries
                                .insert(keys::delivery_key(&id, organ), local_state.as_slice())?;
                        }
                        for ((peer, recipient), state) in a.forward.iter().zip(&queued) {
                            let prefix = per_peer.get(peer.as_str()).map(|(p, _)| p);
                            let Some(prefix) = prefix else {
                                continue; // unreachable: every forward peer is in per_peer
                            };
                            let entry = OutboxRecord {
                                message: id,
                                recipient: recipient.clone(),
                                priority: a.meta.priority,
                                attempts: 0,
                                next_attempt_ms: 0,
                                last_error: None,
                            };
                            let entry =
                                encode(&entry).map_err(ConflictableTransactionError::Abort)?;
                            // A fresh sequence number per entry keeps FIFO across messages.
                            let entry_seq = meta.generate_id()?;
                            outbox.insert(keys::queue_key(prefix, lane, entry_seq), entry)?;
                            counter_add(counters, &keys::outbox_counter_key(prefix, lane), 1)?;
                            deliveries
                                .insert(keys::delivery_key(&id, recipient), state.as_slice())?;
                        }
                        Ok(Attempt::Done(AcceptOutcome::Stored))
                    },
                )
                .map_err(tx_error("accept a message"))?;
            match attempt {
                Attempt::Done(outcome) => break outcome,
                Attempt::Retry => {
                    purges_before = self.inner.purges.load(Ordering::SeqCst);
                    tombstone = self.inner.register.tombstone(idk)?;
                }
                Attempt::NeedFile => file.write(self.file_token()?, &a.bytes)?,
            }
        };
        if outcome == AcceptOutcome::Stored {
            file.keep();
        }

        match outcome {
            // A duplicate's first write may still be waiting for its flush in another thread:
            // answering "already have it" is an acknowledgement too, so it waits as well.
            AcceptOutcome::Stored | AcceptOutcome::Duplicate { .. } => {
                self.wait(writer.ticket())?;
            }
            _ => drop(writer),
        }
        Ok(outcome)
    }

    fn filing(&self, id: &MessageId) -> Result<Option<Filing>, StoreError> {
        // Main database first, register second: the order a purge cannot slip between.
        if let Some(f) = get_decoded(
            &self.t().filing,
            T_FILING,
            id.as_bytes(),
            "read a filing record",
        )? {
            return Ok(Some(f));
        }
        match self.inner.register.filing(id.as_bytes())? {
            Some(v) => decode(R_FILING, id.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }

    fn filings_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(MessageId, Filing)>, StoreError> {
        // A scan of every record: the report runs rarely, on an admin's request.
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let main = self.t().filing.iter().map(|kv| {
            (
                T_FILING,
                kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| StoreError::sled("read filing records", e)),
            )
        });
        let archived = self.inner.register.filings().map(|kv| (R_FILING, kv));
        // A record moving to the register during the scan may be seen twice: keep one.
        for (tree, kv) in main.chain(archived) {
            let (k, v) = kv?;
            let raw = <[u8; 16]>::try_from(k.as_ref()).map_err(|_| StoreError::Corrupt {
                tree,
                key: hex_encode(&k),
            })?;
            let f: Filing = decode(tree, &k, &v)?;
            if f.received_at_ms >= from_ms && f.received_at_ms < to_ms && seen.insert(raw) {
                out.push((MessageId::from_bytes(raw), f));
            }
        }
        out.sort_by_key(|(_, f)| f.received_at_ms);
        Ok(out)
    }

    fn public_documents(&self, limit: usize) -> Result<Vec<PublicEntry>, StoreError> {
        // Two indexes, both ordered by `published_at ‖ id`: merge them newest first. An entry
        // in both (moving to the register right now) has the same key and is taken once.
        let mut main = self
            .t()
            .public
            .iter()
            .rev()
            .map(|kv| {
                kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| StoreError::sled("read the public index", e))
            })
            .peekable();
        let mut archived = self.inner.register.public_newest_first().peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            // (take the main index's entry, drop the register's equal one)
            let (take_main, same) = match (main.peek(), archived.peek()) {
                (None, None) => break,
                (Some(_), None) | (Some(Err(_)), _) => (true, false),
                (None, Some(_)) | (_, Some(Err(_))) => (false, false),
                (Some(Ok((a, _))), Some(Ok((b, _)))) => (a >= b, a == b),
            };
            if same {
                archived.next();
            }
            let (tree, next) = if take_main {
                (T_PUBLIC, main.next())
            } else {
                (R_PUBLIC, archived.next())
            };
            if let Some(kv) = next {
                let (k, v) = kv?;
                out.push(decode(tree, &k, &v)?);
            }
        }
        Ok(out)
    }

    fn outbox_next(
        &self,
        peer: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let prefix = keys::string_prefix(peer, "peer")?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Key order is lane then sequence: top lane first, FIFO within a lane.
        for kv in self.t().outbox.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| StoreError::sled("read the outbox", e))?;
            let rec: OutboxRecord = decode(T_OUTBOX, &k, &v)?;
            if rec.next_attempt_ms > now_ms {
                continue;
            }
            out.push(OutboxEntry {
                key: OutboxKey(k.to_vec()),
                message: rec.message,
                recipient: rec.recipient,
                priority: rec.priority,
                attempts: rec.attempts,
                next_attempt_ms: rec.next_attempt_ms,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn outbox_bytes(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        match self.read_record(id)? {
            Some(record) => self.bytes_of(&record),
            None => Ok(None),
        }
    }

    fn mark_delivered(
        &self,
        peer: &str,
        entry: &OutboxEntry,
        receipt: String,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let hop = HopRecord {
            organ: peer.to_owned(),
            at_ms,
            receipt: Some(receipt.clone()),
        };
        self.finish_entry(
            peer,
            entry,
            "mark a delivery",
            |_| Delivery::Delivered {
                via: peer.to_owned(),
                at_ms,
                receipt: receipt.clone(),
            },
            Some(hop),
        )
    }

    fn record_failure(
        &self,
        peer: &str,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        Self::entry_prefix(peer, entry)?;
        let t = self.t();
        (&t.outbox, &t.deliveries)
            .transaction(|(outbox, deliveries)| {
                let key = entry.key.0.as_slice();
                let Some(v) = outbox.get(key)? else {
                    return abort(StoreError::NotFound { id: entry.message });
                };
                let mut rec: OutboxRecord = tx_decode(T_OUTBOX, key, &v)?;
                rec.attempts = rec.attempts.saturating_add(1);
                rec.last_error = Some(error.to_owned());
                rec.next_attempt_ms = next_attempt_ms;
                let state = Delivery::InTransit {
                    next_hop: peer.to_owned(),
                    attempts: rec.attempts,
                    last_error: error.to_owned(),
                    next_attempt_ms,
                };
                let state = encode(&state).map_err(ConflictableTransactionError::Abort)?;
                deliveries.insert(keys::delivery_key(&rec.message, &rec.recipient), state)?;
                let rec = encode(&rec).map_err(ConflictableTransactionError::Abort)?;
                outbox.insert(key, rec)?;
                Ok(())
            })
            .map_err(tx_error("record a failed delivery"))
        // Not durable until flush, by contract: a lost failure only repeats an attempt.
    }

    fn dead_letter(
        &self,
        peer: &str,
        entry: &OutboxEntry,
        reason: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.finish_entry(
            peer,
            entry,
            "dead-letter a message",
            |_| Delivery::DeadLettered {
                reason: reason.to_owned(),
                at_ms,
            },
            None,
        )
    }

    fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t().counters.scan_prefix(b"o") {
            let (k, v) = kv.map_err(|e| StoreError::sled("read counters", e))?;
            let corrupt = || StoreError::Corrupt {
                tree: T_COUNTERS,
                key: hex_encode(&k),
            };
            // b'o' ‖ len(u16) ‖ peer ‖ lane
            let len = k
                .get(1..3)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(|b| usize::from(u16::from_be_bytes(b)))
                .ok_or_else(corrupt)?;
            let peer = k
                .get(3..3 + len)
                .and_then(|p| std::str::from_utf8(p).ok())
                .ok_or_else(corrupt)?;
            let lane = k
                .get(3 + len)
                .copied()
                .and_then(Lane::from_rank)
                .ok_or_else(corrupt)?;
            let count = keys::counter_value(Some(&v));
            if count > 0 {
                out.push(OutboxDepth {
                    peer: peer.to_owned(),
                    lane,
                    count,
                });
            }
        }
        Ok(out)
    }

    fn inbox_list(&self, organ: &str, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        self.inbox_list_visible(organ, limit, &mut |_| Ok(true))
    }

    fn inbox_list_visible(
        &self,
        organ: &str,
        limit: usize,
        visible: &mut dyn FnMut(&InboxItem) -> Result<bool, StoreError>,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let prefix = keys::string_prefix(organ, "organ")?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for kv in self.t().inbox.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| StoreError::sled("read the inbox", e))?;
            let raw = <[u8; 16]>::try_from(v.as_ref()).map_err(|_| StoreError::Corrupt {
                tree: T_INBOX,
                key: hex_encode(&k),
            })?;
            let id = MessageId::from_bytes(raw);
            let Some(record) = self.read_record(&id)? else {
                // The scan is not a snapshot: between reading the inbox entry and its record the
                // document may have been acknowledged (entry removed) and swept by retention
                // (record removed). That is not corruption; a record missing while its inbox
                // entry still exists is.
                let still_listed = self
                    .t()
                    .inbox
                    .contains_key(&k)
                    .map_err(|e| StoreError::sled("read the inbox", e))?;
                if still_listed {
                    return Err(StoreError::Corrupt {
                        tree: T_META,
                        key: hex_encode(&raw),
                    });
                }
                continue;
            };
            let item = InboxItem {
                id,
                meta: record.meta,
            };
            if visible(&item)? {
                out.push(item);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn inbox_get(
        &self,
        organ: &str,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError> {
        let prefix = keys::string_prefix(organ, "organ")?;
        let member = self
            .t()
            .membership
            .get(keys::membership_key(&prefix, id))
            .map_err(|e| StoreError::sled("read the inbox", e))?;
        // Membership is the authorisation: another organ's message is simply not there.
        if member.is_none() {
            return Ok(None);
        }
        let Some(record) = self.read_record(id)? else {
            return Ok(None);
        };
        let Some(bytes) = self.bytes_of(&record)? else {
            return Ok(None);
        };
        Ok(Some((record.meta, bytes)))
    }

    fn inbox_ack(&self, organ: &str, id: &MessageId) -> Result<AckOutcome, StoreError> {
        self.ack(organ, id, None)
    }

    fn inbox_ack_reporting(
        &self,
        organ: &str,
        id: &MessageId,
        accepted: &StatusEvent,
        forward_to: Option<&str>,
    ) -> Result<AckOutcome, StoreError> {
        if accepted.message != *id {
            return Err(StoreError::Invalid {
                field: "status event",
                reason: "the status event is for another message",
            });
        }
        self.ack(organ, id, Some((accepted, forward_to)))
    }

    fn sent_list(
        &self,
        from: &str,
        state: Option<DeliveryKind>,
        since_ms: Option<i64>,
        limit: usize,
        cursor: Option<&SentCursor>,
    ) -> Result<(Vec<SentItem>, Option<SentCursor>), StoreError> {
        let prefix = keys::string_prefix(from, "from")?;
        let mut page = Vec::new();
        if limit == 0 {
            return Ok((page, None));
        }
        let start = match (cursor, since_ms) {
            (Some(c), _) => {
                let key = hex_decode(c.as_str())
                    .filter(|k| k.starts_with(&prefix))
                    .ok_or(StoreError::Invalid {
                        field: "cursor",
                        reason: "the cursor belongs to another listing",
                    })?;
                Bound::Excluded(key)
            }
            (None, Some(since)) => {
                let mut k = prefix.clone();
                k.extend_from_slice(&keys::time_key(since));
                Bound::Included(k)
            }
            (None, None) => Bound::Included(prefix.clone()),
        };
        for kv in self.t().sent.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = kv.map_err(|e| StoreError::sled("read the sent index", e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            let raw = <[u8; 16]>::try_from(v.as_ref()).map_err(|_| StoreError::Corrupt {
                tree: T_SENT,
                key: hex_encode(&k),
            })?;
            let id = MessageId::from_bytes(raw);
            let Some(record) = self.read_record(&id)? else {
                continue; // purged between the index read and this one
            };
            let deliveries = self.deliveries_of(&id)?;
            if let Some(kind) = state {
                if !deliveries.iter().any(|(_, d)| d.kind() == kind) {
                    continue;
                }
            }
            page.push((record.meta, deliveries));
            if page.len() >= limit {
                return Ok((page, Some(SentCursor(hex_encode(&k)))));
            }
        }
        Ok((page, None))
    }

    fn message(&self, id: &MessageId) -> Result<Option<SentItem>, StoreError> {
        let Some(record) = self.read_record(id)? else {
            return Ok(None);
        };
        Ok(Some((record.meta, self.deliveries_of(id)?)))
    }

    fn put_status(&self, event: StatusEvent) -> Result<(), StoreError> {
        self.check_status(&event)?;
        let value = encode(&event)?;
        let writer = self.inner.commit.begin();
        let seq = self
            .inner
            .db
            .generate_id()
            .map_err(|e| StoreError::sled("number a status event", e))?;
        let key = keys::status_key(&event.message, event.at_ms, seq);
        let idk = event.message.as_bytes();
        // The message is checked again inside the transaction: a purge may have removed it
        // since `check_status`, and an event recorded then would be kept forever.
        (&self.t().meta, &self.t().status)
            .transaction(|(meta, status)| {
                if meta.get(idk)?.is_none() {
                    return abort(StoreError::NotFound { id: event.message });
                }
                status.insert(key.as_slice(), value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error("record a status event"))?;
        self.wait(writer.ticket())
    }

    fn statuses(&self, id: &MessageId) -> Result<Vec<StatusEvent>, StoreError> {
        self.t()
            .status
            .scan_prefix(id.as_bytes())
            .map(|kv| {
                let (k, v) = kv.map_err(|e| StoreError::sled("read status events", e))?;
                decode(T_STATUS, &k, &v)
            })
            .collect()
    }

    fn relay_status(&self, event: StatusEvent, forward_to: &[String]) -> Result<(), StoreError> {
        self.check_status(&event)?;
        // A retried relay brings the same event again: recorded once, forwarded once.
        let seen = self
            .statuses(&event.message)?
            .iter()
            .any(|e| e.organ == event.organ && e.code == event.code && e.at_ms == event.at_ms);
        if seen {
            return self.durable();
        }
        let value = encode(&event)?;
        let writer = self.inner.commit.begin();
        let seq = self
            .inner
            .db
            .generate_id()
            .map_err(|e| StoreError::sled("number a status event", e))?;
        let status_key = keys::status_key(&event.message, event.at_ms, seq);
        let out_keys: Vec<Vec<u8>> = forward_to
            .iter()
            .map(|peer| keys::status_out_key(peer, seq))
            .collect();
        let id_key = *event.message.as_bytes();
        let handled = (event.code == "06").then(|| (event.organ.clone(), event.at_ms));
        let result: Result<(), TransactionError<StoreError>> = (
            &self.t().meta,
            &self.t().status,
            &self.t().status_out,
            &self.t().filing,
        )
            .transaction(|(meta, status, out, filing)| {
                // Checked again here: see `put_status`.
                if meta.get(id_key)?.is_none() {
                    return abort(StoreError::NotFound { id: event.message });
                }
                status.insert(status_key.as_slice(), value.as_slice())?;
                // The timeliness report reads the first 06 of each organ from the filing
                // record, which retention does not purge.
                if let Some((organ, at_ms)) = &handled
                    && let Some(v) = filing.get(id_key)?
                {
                    let mut f: Filing = tx_decode(T_FILING, &id_key, &v)?;
                    if !f.handled.contains_key(organ) {
                        f.handled.insert(organ.clone(), *at_ms);
                        let v = encode(&f).map_err(ConflictableTransactionError::Abort)?;
                        filing.insert(&id_key, v)?;
                    }
                }
                for k in &out_keys {
                    out.insert(k.as_slice(), value.as_slice())?;
                }
                Ok(())
            });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::sled("relay a status event", e),
        })?;
        self.wait(writer.ticket())
    }

    fn status_outbox(
        &self,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, StatusEvent)>, StoreError> {
        let mut prefix = peer.as_bytes().to_vec();
        prefix.push(0);
        self.t()
            .status_out
            .scan_prefix(&prefix)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| StoreError::sled("read the status outbox", e))?;
                Ok((k.to_vec(), decode(T_STATUS_OUT, &k, &v)?))
            })
            .collect()
    }

    fn status_sent(&self, key: &[u8]) -> Result<(), StoreError> {
        let writer = self.inner.commit.begin();
        self.t()
            .status_out
            .remove(key)
            .map_err(|e| StoreError::sled("remove a relayed status event", e))?;
        self.wait(writer.ticket())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.durable()
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let messages = self
            .t()
            .counters
            .get(keys::MESSAGES_COUNTER)
            .map_err(|e| StoreError::sled("read counters", e))?;
        let bytes_on_disk = self
            .inner
            .db
            .size_on_disk()
            .map_err(|e| StoreError::sled("measure the database", e))?
            .saturating_add(self.inner.register.size_on_disk()?)
            .saturating_add(self.inner.documents.bytes_held());
        let (flushes, durable_writes) = self.inner.commit.counts();
        Ok(StoreStats {
            messages: keys::counter_value(messages.as_deref()),
            bytes_on_disk,
            tombstones: self.inner.register.tombstones_held(),
            flushes,
            durable_writes,
        })
    }

    fn purge_acked_older_than(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport::default();
        let mut chunk = Vec::with_capacity(PURGE_CHUNK);
        for kv in self.t().meta.iter() {
            let (k, v) = kv.map_err(|e| StoreError::sled("read metadata", e))?;
            let record: MessageRecord = decode(T_META, &k, &v)?;
            if record.meta.received_at_ms >= cutoff_ms {
                continue;
            }
            if let Some(p) = self.purge_plan(record)? {
                chunk.push(p);
            }
            if chunk.len() == PURGE_CHUNK {
                self.purge_chunk(std::mem::take(&mut chunk), &mut report)?;
            }
        }
        // Each chunk made its removals durable before deleting its files.
        self.purge_chunk(chunk, &mut report)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn an_open_waits_for_a_lock_being_released_and_not_for_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let config = sled::Config::new().path(dir.path().join("db"));
        let first = config.open().unwrap();
        // Released while the second open waits: it succeeds.
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let second = open_waiting_for_lock(&config).unwrap();
        dropper.join().unwrap();
        // Kept longer than the wait: the lock error, not a hang.
        match open_waiting_for_lock(&config) {
            Err(sled::Error::Io(e)) => assert!(is_lock_held(&e), "{e}"),
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("opened a database another handle holds"),
        }
        drop(second);
    }
}
