//! The [`Store`] on PostgreSQL (issue 23): the second engine behind the trait, for an organ whose
//! gateway runs as several nodes, or that wants the database's own durability and replication.
//! Same contract as sled, checked by the same suite (`tests/store_contract/`).
//!
//! One file per concern: `pool` (sessions, TLS), `schema` (migrations), `accept`, `queues`
//! (outboxes and inboxes), `history` (sent list, delivery states, status events, filings, the
//! public index) and `upkeep` (retention, quarantine, scrub, counters).
//!
//! # Durability
//!
//! Transactions commit without waiting for their WAL (`synchronous_commit = off` in the
//! store's sessions); before a durable-on-return method returns, the group commit
//! ([`GroupCommit`], the same one sled uses) runs one flush for every writer that committed
//! before it: a one-row transaction committed with `synchronous_commit = on`. PostgreSQL's WAL
//! is one ordered log and a commit waits until the WAL up to its own record is flushed (and, with
//! synchronous standbys configured, confirmed by them), so that flush makes every earlier commit
//! durable too. Hence: durable on return means covered by a commit made with
//! `synchronous_commit = on`, and N concurrent writers share one disk flush as on sled.

mod accept;
mod arrivals;
mod history;
mod import;
mod pool;
mod queues;
mod schema;
mod upkeep;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Transaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::group_commit::GroupCommit;
use crate::store::types::hex_encode;
use crate::store::{
    Accept, AcceptOutcome, AckOutcome, DeliveryKind, Filed, Filing, InboxEntry, InboxItem,
    MessageId, MessageMeta, OrganId, OutboxDepth, OutboxEntry, PublicEntry, PurgeReport,
    Quarantined, ScrubReport, SentCursor, SentItem, StatusEvent, StatusOutKey, Store, StoreError,
    StoreLimits, StoreStats,
};

pub use schema::{Migrated, SCHEMA_VERSION};

/// How to reach the database (`[store]` with `engine = "postgres"`).
#[derive(Clone)]
pub struct PgOptions {
    /// `postgresql://user@host:port/db?sslmode=…` (libpq's URL form; a password in it is
    /// refused: it would sit in the config file).
    pub url: String,
    /// The password, from `[store] password_file` or `LIENTHONG_STORE_PASSWORD`.
    pub password: Option<Zeroizing<String>>,
    /// PEM of the CA that signs the database server's certificate, when the URL asks for TLS.
    pub ca_pem: Option<Vec<u8>>,
    /// Sessions this node keeps open (besides the one the group commit flushes on).
    pub pool_size: usize,
    /// This node's name among the nodes of the organ on this database: the owner of its
    /// outbox leases (a restarted node takes its own leases back at once). Distinct per node.
    pub node: String,
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("pool_size", &self.pool_size)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    pool: pool::Pool,
    /// The session the group commit's leader flushes on.
    flusher: Mutex<Option<Client>>,
    /// This node's number (from [`PgOptions::node`]): its row in `flush_marks`, the owner of
    /// its outbox leases.
    node: i64,
    /// Outbox entries this node took over from a node whose lease ran out.
    take_overs: std::sync::atomic::AtomicU64,
    limits: StoreLimits,
    commit: GroupCommit,
}

impl Drop for Inner {
    /// Closes the sessions on a thread of their own: a PostgreSQL client closes by blocking on
    /// its runtime, which may not happen on an async thread (the last clone of a store can be
    /// dropped there, at a gateway's shutdown).
    fn drop(&mut self) {
        let clients = self.pool.take_all();
        let flusher = self
            .flusher
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let closing = std::thread::Builder::new()
            .name("pg-close".into())
            .spawn(move || drop((clients, flusher)));
        if let Ok(t) = closing {
            let _ = t.join();
        }
    }
}

/// The PostgreSQL implementation of [`Store`]. Clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.inner.node)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// The channel a commit that puts a document in an inbox notifies (`LISTEN/NOTIFY`).
const ARRIVALS: &str = "lienthong_inbox";

/// How long a flush leader waits for writers still inside their transaction: a transaction
/// here is several round trips to the server, far longer than sled's (2 ms there).
const IN_FLIGHT_WAIT: Duration = Duration::from_millis(10);

/// The engine failed while the store did `op`.
fn pg(op: &'static str) -> impl Fn(postgres::Error) -> StoreError {
    move |e| StoreError::engine(op, e)
}

fn enc<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::engine("encode a record", e))
}

fn dec<T: DeserializeOwned>(what: &'static str, key: &[u8], text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt {
        what,
        key: hex_encode(key),
    })
}

/// Whether `e` says the database cannot be reached now: the connection is closed or could not
/// be made (its cause an I/O error), or the server refuses sessions (class 08, shutting down,
/// starting up, too many connections).
pub(super) fn unreachable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code);
    }
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        next = cause.source();
    }
    false
}

/// Whether a failed transaction may simply run again (deadlock, serialization failure).
fn retryable(e: &StoreError) -> bool {
    let StoreError::Engine { source, .. } = e else {
        return false;
    };
    source
        .downcast_ref::<postgres::Error>()
        .and_then(postgres::Error::code)
        .is_some_and(|c| {
            *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        })
}

impl PgStore {
    /// Connects, migrates the schema to [`SCHEMA_VERSION`] and registers this node. A URL that
    /// does not parse or holds a password is [`StoreError::Invalid`]; an unreachable database
    /// is [`StoreError::Open`] naming the URL.
    pub fn open(options: &PgOptions, limits: StoreLimits) -> Result<Self, StoreError> {
        let target = Self::target(options)?;
        let opened = |source: StoreError| StoreError::Open {
            path: options.url.clone(),
            source: Box::new(source),
        };
        let mut flusher = target.connect().map_err(opened)?;
        schema::migrate(&mut flusher).map_err(opened)?;
        let node = i64::from_be_bytes(
            *MessageId::random()?
                .as_bytes()
                .first_chunk()
                .ok_or(StoreError::Random)?,
        );
        flusher
            .execute(
                "INSERT INTO flush_marks (node, n) VALUES ($1, 0) ON CONFLICT (node) DO NOTHING",
                &[&node],
            )
            .map_err(pg("register this node"))
            .map_err(opened)?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool: pool::Pool::new(target, options.pool_size),
                flusher: Mutex::new(Some(flusher)),
                node,
                take_overs: std::sync::atomic::AtomicU64::new(0),
                commit: GroupCommit::with_in_flight_wait(limits.flush_window, IN_FLIGHT_WAIT),
                limits,
            }),
        })
    }

    /// Connects and migrates only (`lienthong store migrate`).
    pub fn migrate(options: &PgOptions) -> Result<Migrated, StoreError> {
        let mut client = Self::target(options)?.connect()?;
        schema::migrate(&mut client)
    }

    fn target(options: &PgOptions) -> Result<pool::Target, StoreError> {
        let mut config: postgres::Config =
            options.url.parse().map_err(|_| StoreError::Invalid {
                field: "store.url",
                reason: "not a PostgreSQL URL (postgresql://user@host:port/database?sslmode=…)",
            })?;
        if config.get_password().is_some() {
            return Err(StoreError::Invalid {
                field: "store.url",
                reason: "the URL holds a password: put it in [store] password_file or \
                         LIENTHONG_STORE_PASSWORD instead",
            });
        }
        if let Some(p) = &options.password {
            config.password(p.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("lienthong");
        let tls = pool::tls_for(&config, options.ca_pem.as_deref())?;
        Ok(pool::Target { config, tls })
    }

    /// Runs `f` in a transaction and returns once a flush covers its commit (retrying a
    /// transaction the database aborted for a deadlock or a serialization failure).
    fn durably<T>(
        &self,
        op: &'static str,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            let writer = self.inner.commit.begin();
            match self.in_transaction(op, &mut f) {
                Ok(out) => {
                    self.wait(writer.ticket())?;
                    return Ok(out);
                }
                Err(e) if retryable(&e) && tries < 5 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `f` in a transaction, committed without waiting for a flush.
    fn in_transaction<T>(
        &self,
        op: &'static str,
        f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut session = self.inner.pool.get()?;
        let mut tx = session.client()?.transaction().map_err(pg(op))?;
        let out = f(&mut tx)?;
        tx.commit().map_err(pg(op))?;
        Ok(out)
    }

    /// Runs a read on a session of the pool.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut session = self.inner.pool.get()?;
        f(session.client()?)
    }

    /// Waits until a flush covers `ticket`.
    fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        self.inner.commit.wait_durable(ticket, || self.flush_wal())
    }

    /// The group commit's flush: a commit with `synchronous_commit = on` that writes WAL (one
    /// row of this node's), so that it waits for the WAL up to its record, every earlier
    /// commit's included.
    fn flush_wal(&self) -> Result<(), StoreError> {
        let mut slot = self
            .inner
            .flusher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(self.inner.pool.target().connect()?);
        }
        let client = slot.as_mut().ok_or(StoreError::Invalid {
            field: "session",
            reason: "no session to flush on",
        })?;
        let result = Self::flush_on(client, self.inner.node);
        if result.as_ref().is_err_and(StoreError::is_unavailable) {
            // The next flush opens a new session (the database restarted, or the link broke).
            *slot = None;
        }
        result
    }

    fn flush_on(client: &mut Client, node: i64) -> Result<(), StoreError> {
        let op = "flush the database's log";
        let mut tx = client.transaction().map_err(pg(op))?;
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .map_err(pg(op))?;
        tx.execute("UPDATE flush_marks SET n = n + 1 WHERE node = $1", &[&node])
            .map_err(pg(op))?;
        tx.commit().map_err(pg(op))
    }
}

impl Store for PgStore {
    fn accept(&self, a: Accept) -> Result<AcceptOutcome, StoreError> {
        PgStore::accept_filed(self, &a, &Filed::default())
    }

    fn accept_filed(&self, a: Accept, filed: Filed) -> Result<AcceptOutcome, StoreError> {
        PgStore::accept_filed(self, &a, &filed)
    }

    fn filing(&self, id: &MessageId) -> Result<Option<Filing>, StoreError> {
        PgStore::filing(self, id)
    }

    fn filings_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(MessageId, Filing)>, StoreError> {
        PgStore::filings_between(self, from_ms, to_ms)
    }

    fn public_documents(&self, limit: usize) -> Result<Vec<PublicEntry>, StoreError> {
        PgStore::public_documents(self, limit)
    }

    fn outbox_next(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        PgStore::outbox_next(self, peer, limit, now_ms)
    }

    fn outbox_lease(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        PgStore::outbox_lease(self, peer, limit, now_ms, lease_ms)
    }

    fn outbox_bytes(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.document(id)?.map(|(_, bytes)| bytes))
    }

    fn mark_delivered(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        receipt: String,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        PgStore::mark_delivered(self, peer, entry, &receipt, at_ms)
    }

    fn record_failure(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        PgStore::record_failure(self, peer, entry, error, next_attempt_ms)
    }

    fn dead_letter(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        reason: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        PgStore::dead_letter(self, peer, entry, reason, at_ms)
    }

    fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        PgStore::outbox_depths(self)
    }

    fn inbox_list(&self, organ: &OrganId, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        let all = PgStore::inbox_list_visible(self, organ, limit, &mut |_| true)?;
        Ok(all.into_iter().map(|e| e.item).collect())
    }

    fn inbox_list_visible(
        &self,
        organ: &OrganId,
        limit: usize,
        visible: &mut dyn FnMut(&InboxEntry) -> bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        PgStore::inbox_list_visible(self, organ, limit, visible)
    }

    fn inbox_get(
        &self,
        organ: &OrganId,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError> {
        PgStore::inbox_get(self, organ, id)
    }

    fn inbox_ack(&self, organ: &OrganId, id: &MessageId) -> Result<AckOutcome, StoreError> {
        self.ack(organ, id, None)
    }

    fn inbox_ack_reporting(
        &self,
        organ: &OrganId,
        id: &MessageId,
        accepted: &StatusEvent,
        forward_to: Option<&OrganId>,
    ) -> Result<AckOutcome, StoreError> {
        crate::store::check_ack_report(id, accepted)?;
        self.ack(organ, id, Some((accepted, forward_to)))
    }

    fn sent_list(
        &self,
        from: &OrganId,
        state: Option<DeliveryKind>,
        since_ms: Option<i64>,
        limit: usize,
        cursor: Option<&SentCursor>,
    ) -> Result<(Vec<SentItem>, Option<SentCursor>), StoreError> {
        PgStore::sent_list(self, from, state, since_ms, limit, cursor)
    }

    fn message(&self, id: &MessageId) -> Result<Option<SentItem>, StoreError> {
        PgStore::message(self, id)
    }

    fn put_status(&self, event: StatusEvent) -> Result<(), StoreError> {
        self.record_status(&event, &[], false)
    }

    fn statuses(&self, id: &MessageId) -> Result<Vec<StatusEvent>, StoreError> {
        PgStore::statuses(self, id)
    }

    fn relay_status(&self, event: StatusEvent, forward_to: &[OrganId]) -> Result<(), StoreError> {
        self.record_status(&event, forward_to, true)
    }

    fn status_outbox(
        &self,
        peer: &OrganId,
        limit: usize,
    ) -> Result<Vec<(StatusOutKey, StatusEvent)>, StoreError> {
        PgStore::status_outbox(self, peer, limit)
    }

    fn status_sent(&self, key: &StatusOutKey) -> Result<(), StoreError> {
        PgStore::status_sent(self, key)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.wait(self.inner.commit.ticket())
    }

    fn watch_arrivals(&self, arrived: Arc<dyn Fn() + Send + Sync>) {
        arrivals::watch(Arc::downgrade(&self.inner), arrived);
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        PgStore::stats(self)
    }

    fn purge_acked_older_than(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError> {
        PgStore::purge_acked_older_than(self, cutoff_ms)
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        PgStore::quarantined(self)
    }

    fn scrub(&self) -> Result<ScrubReport, StoreError> {
        PgStore::scrub(self)
    }
}
