//! One relay worker per peer: takes due outbox entries (Hỏa tốc lane first, FIFO within a
//! lane), delivers each message once per batch with every recipient routed through this peer,
//! and marks the entries delivered only after the peer's signed receipt verified.
//!
//! Failures: a refusal by the peer (4xx) is final — dead letter with the peer's reason; anything
//! else (connect, TLS, reset, timeout, 5xx) is retried with exponential backoff and jitter until
//! `retry.max_attempts`, then dead-lettered. Resumes from the store after a restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Semaphore, watch};

use super::client::PeerClient;
use crate::exchange::{DeliveryHeaders, EXCHANGE_PATH, RelayedStatus, STATUS_PATH, status_headers};
use crate::gateway::{Shared, now_ms};
use crate::sign::{SignedReceipt, VerifyOptions};
use crate::store::{HopRecord, MessageId, OrganId, OutboxEntry, StatusEvent, StatusOutKey};

/// How long an idle worker sleeps before looking at its outbox again (retries come due).
const IDLE_POLL: Duration = Duration::from_millis(250);

/// How long the entries a worker takes are its own (`Store::outbox_lease`): renewed each time it
/// looks at its queue, so a node that dies leaves them to another node after this.
const LEASE_MS: i64 = 15_000;

/// A peer that could not be reached (connect or TLS failed): its queue is held and only the
/// head of the queue is sent, as a probe, at a growing interval.
///
/// Why a peer-level state and not only per-entry backoff: during an outage every entry fails and
/// each gets its own random backoff, so when the peer comes back the order of delivery is the
/// order in which those backoffs happen to expire — a Hỏa tốc document queued during the
/// outage could wait behind a backlog of Thường ones. With the outage held here, the probe is
/// always the head of the queue in lane order, and once it succeeds the rest drains in lane
/// order too.
#[derive(Debug, Clone, Copy)]
struct Outage {
    /// Consecutive failed probes (the first failure counts as one).
    failures: u32,
    /// When to probe next (unix ms).
    probe_at: i64,
}

impl Outage {
    fn after_failure(previous: Option<Outage>, retry: &crate::config::Retry) -> Outage {
        let failures = previous.map_or(1, |o| o.failures.saturating_add(1));
        let wait = retry.backoff(failures, jitter());
        Outage {
            failures,
            probe_at: now_ms()
                .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)),
        }
    }
}

/// Runs until `shutdown` turns true; in-flight deliveries finish first.
pub async fn run(shared: Arc<Shared>, client: Arc<PeerClient>, shutdown: watch::Receiver<bool>) {
    // The worker's state; a peer without a wake-up has no worker.
    let Some(mut w) = Worker::new(shared, client, shutdown) else {
        return;
    };
    loop {
        if *w.shutdown.borrow() {
            break;
        }
        // Fold in the deliveries that ended since the last turn.
        w.note_finished();
        while w.inflight.try_join_next().is_some() {}

        // While the peer is unreachable, only the head of its queue goes, as a probe.
        if let Some(o) = w.outage {
            w.probe(o).await;
            continue;
        }

        // What is due, and the status events queued for the peer.
        let groups = group_by_message(w.due().await, &w.busy);
        let statuses_pending = relay_statuses(&w.shared, &w.client).await;
        if groups.is_empty() {
            if statuses_pending {
                continue;
            }
            // Nothing to do: wait for work, a retry coming due, or shutdown.
            w.idle().await;
            continue;
        }
        // Deliver each due message, as many at a time as there are permits.
        w.dispatch(groups).await;
    }
    while w.inflight.join_next().await.is_some() {}
}

/// The state of one peer's worker between turns of its loop.
struct Worker {
    /// The gateway.
    shared: Arc<Shared>,
    /// The client of this peer.
    client: Arc<PeerClient>,
    /// This peer.
    peer: OrganId,
    /// Notified when something is queued for this peer.
    wake: Arc<tokio::sync::Notify>,
    /// Turns true when the gateway shuts down.
    shutdown: watch::Receiver<bool>,
    /// `retry.concurrency`, at least 1.
    concurrency: usize,
    /// One permit per delivery in flight.
    permits: Arc<Semaphore>,
    /// The deliveries in flight.
    inflight: tokio::task::JoinSet<()>,
    /// The messages in flight.
    busy: std::collections::HashSet<MessageId>,
    /// Where a finished delivery reports what it came to.
    done_tx: tokio::sync::mpsc::UnboundedSender<(MessageId, Attempt)>,
    /// What finished deliveries came to.
    done_rx: tokio::sync::mpsc::UnboundedReceiver<(MessageId, Attempt)>,
    /// The peer's outage, while it is unreachable.
    outage: Option<Outage>,
}

impl Worker {
    /// A worker for `client`'s peer; `None` when the gateway has no wake-up for it.
    fn new(
        shared: Arc<Shared>,
        client: Arc<PeerClient>,
        shutdown: watch::Receiver<bool>,
    ) -> Option<Self> {
        let peer = client.peer().clone();
        let wake = shared.wake.get(peer.as_str()).cloned()?;
        let concurrency = shared.config.retry.concurrency.max(1);
        let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel::<(MessageId, Attempt)>();
        Some(Self {
            shared,
            client,
            peer,
            wake,
            shutdown,
            concurrency,
            permits: Arc::new(Semaphore::new(concurrency)),
            inflight: tokio::task::JoinSet::new(),
            busy: std::collections::HashSet::new(),
            done_tx,
            done_rx,
            outage: None,
        })
    }

    /// Takes every finished delivery already reported and folds it into the outage state.
    fn note_finished(&mut self) {
        while let Ok((id, attempt)) = self.done_rx.try_recv() {
            self.busy.remove(&id);
            self.outage = note_attempt(&self.shared, &self.peer, self.outage, attempt);
        }
    }

    /// One turn of an outage: waits for probe time, or sends the head of the queue as the
    /// probe and updates the outage with what came of it.
    async fn probe(&mut self, o: Outage) {
        let wait = o.probe_at.saturating_sub(now_ms());
        if wait > 0 {
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.changed() => {}
                Some((id, attempt)) = self.done_rx.recv() => {
                    self.busy.remove(&id);
                    self.outage = note_attempt(&self.shared, &self.peer, self.outage, attempt);
                }
            }
            return;
        }
        // Probe time. Let the deliveries that were under way when the outage began end
        // first, so the probe is the only request in flight.
        while self.inflight.join_next().await.is_some() {}
        while let Ok((id, _)) = self.done_rx.try_recv() {
            self.busy.remove(&id);
        }
        let head = head_of_queue(&self.shared, &self.peer, self.concurrency * 4).await;
        let Some((id, group)) = head else {
            // Nothing to deliver: the next delivery will find out whether the peer is back.
            self.outage = None;
            return;
        };
        let attempt = deliver(&self.shared, &self.client, &id, &group).await;
        self.outage = match attempt {
            Attempt::Unreachable => Some(Outage::after_failure(
                self.outage,
                &self.shared.config.retry,
            )),
            // Nothing was sent (refused by policy, or no stored message): the peer is as
            // unknown as before; look at the next head shortly.
            Attempt::Skipped => Some(Outage {
                probe_at: now_ms()
                    .saturating_add(i64::try_from(IDLE_POLL.as_millis()).unwrap_or(i64::MAX / 2)),
                ..o
            }),
            Attempt::Reached => {
                tracing::info!(peer = %self.peer, "peer reachable again; draining its queue");
                None
            }
        };
    }

    /// The outbox entries due now (none when the store cannot be read: logged).
    async fn due(&self) -> Vec<OutboxEntry> {
        let store = self.shared.store.clone();
        let p = self.peer.clone();
        let batch = self.concurrency * 4;
        let due =
            tokio::task::spawn_blocking(move || store.outbox_lease(&p, batch, now_ms(), LEASE_MS))
                .await;
        match due {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                tracing::error!(peer = %self.peer, error = %e, "outbox read failed");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "outbox task failed");
                Vec::new()
            }
        }
    }

    /// Waits for a wake-up, the idle poll, shutdown or a finished delivery.
    async fn idle(&mut self) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
            _ = self.shutdown.changed() => {}
            Some((id, attempt)) = self.done_rx.recv() => {
                self.busy.remove(&id);
                self.outage = note_attempt(&self.shared, &self.peer, self.outage, attempt);
            }
        }
    }

    /// Starts one delivery per message of `groups`, each when a permit is free; stops at
    /// shutdown or as soon as a finished delivery found the peer unreachable.
    async fn dispatch(&mut self, groups: Vec<(MessageId, Vec<OutboxEntry>)>) {
        for (id, group) in groups {
            let permit = tokio::select! {
                p = self.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = self.shutdown.changed() => break,
            };
            // A delivery that ended while we waited for the permit may have found the peer
            // unreachable: stop feeding the queue into a closed door.
            self.note_finished();
            if self.outage.is_some() {
                break;
            }
            self.busy.insert(id);
            let shared = self.shared.clone();
            let client = self.client.clone();
            let done = self.done_tx.clone();
            self.inflight.spawn(async move {
                let attempt = deliver(&shared, &client, &id, &group).await;
                drop(permit);
                let _ = done.send((id, attempt));
            });
        }
    }
}

/// Folds one finished delivery into the peer's outage state.
fn note_attempt(
    shared: &Shared,
    peer: &OrganId,
    outage: Option<Outage>,
    attempt: Attempt,
) -> Option<Outage> {
    match (attempt, outage) {
        (Attempt::Unreachable, None) => {
            tracing::warn!(peer = %peer, "peer unreachable; holding its queue and probing");
            Some(Outage::after_failure(None, &shared.config.retry))
        }
        // Already in an outage: the probe schedule stands.
        (_, o) => o,
    }
}

/// The first message of the queue in lane order, with every entry of it routed via this peer,
/// whether or not its own retry time has come: an outage says nothing about one entry.
async fn head_of_queue(
    shared: &Arc<Shared>,
    peer: &OrganId,
    scan: usize,
) -> Option<(MessageId, Vec<OutboxEntry>)> {
    let store = shared.store.clone();
    let p = peer.to_owned();
    let entries = tokio::task::spawn_blocking(move || store.outbox_next(&p, scan, i64::MAX))
        .await
        .ok()?
        .ok()?;
    group_by_message(entries, &std::collections::HashSet::new())
        .into_iter()
        .next()
}

/// Groups entries by message, in queue order, leaving out messages already in flight: one
/// request carries every recipient routed via this peer.
fn group_by_message(
    entries: Vec<OutboxEntry>,
    busy: &std::collections::HashSet<MessageId>,
) -> Vec<(MessageId, Vec<OutboxEntry>)> {
    let mut groups: Vec<(MessageId, Vec<OutboxEntry>)> = Vec::new();
    for e in entries {
        if busy.contains(&e.message) {
            continue;
        }
        match groups.iter_mut().find(|(m, _)| *m == e.message) {
            Some((_, g)) => g.push(e),
            None => groups.push((e.message, vec![e])),
        }
    }
    groups
}

/// A queued status event: its status-outbox key and the event.
type QueuedStatus = (StatusOutKey, StatusEvent);

/// Sends queued status events to `peer`; true when more are waiting (to loop again at once).
///
/// Events of different messages go concurrently (up to `retry.concurrency` requests, over the
/// peer's pooled connections); those of one message go in queue order, one after the other.
/// One at a time could not keep up: each is a round trip to a busy peer, and every document
/// acknowledged at this end queues one (measured: a backlog of ~10,000 events after 100,000
/// documents at ~100 docs/s, and the store's file growing with it).
async fn relay_statuses(shared: &Arc<Shared>, client: &Arc<PeerClient>) -> bool {
    const BATCH: usize = 64;
    let peer = client.peer();
    let store = shared.store.clone();
    let p = peer.to_owned();
    let queued = match tokio::task::spawn_blocking(move || store.status_outbox(&p, BATCH)).await {
        Ok(Ok(q)) => q,
        _ => return false,
    };
    let full = queued.len() == BATCH;
    // Per message, in queue order.
    let mut groups: Vec<(MessageId, Vec<QueuedStatus>)> = Vec::new();
    for (key, event) in queued {
        match groups.iter_mut().find(|(m, _)| *m == event.message) {
            Some((_, g)) => g.push((key, event)),
            None => groups.push((event.message, vec![(key, event)])),
        }
    }
    let limit = Arc::new(Semaphore::new(shared.config.retry.concurrency.max(1)));
    let mut sends = tokio::task::JoinSet::new();
    for (_, group) in groups {
        let (shared, client, limit) = (shared.clone(), client.clone(), limit.clone());
        sends.spawn(async move {
            let Ok(_permit) = limit.acquire_owned().await else {
                return false;
            };
            for (key, event) in group {
                if !relay_one_status(&shared, &client, key, event).await {
                    return false;
                }
            }
            true
        });
    }
    let mut all_sent = true;
    while let Some(r) = sends.join_next().await {
        all_sent &= r.unwrap_or(false);
    }
    full && all_sent
}

/// Sends one status event and forgets it once the peer took or refused it; false when it must
/// be tried again later (it, and the events of its message behind it, stay queued).
async fn relay_one_status(
    shared: &Arc<Shared>,
    client: &PeerClient,
    key: StatusOutKey,
    event: StatusEvent,
) -> bool {
    let peer = client.peer();
    // A recall request never overtakes the document it recalls (gateway::recall).
    if crate::gateway::recall::waits_for_document(shared, peer, &event).await {
        return false;
    }
    let timeout = Duration::from_millis(shared.config.retry.attempt_timeout_ms);
    let body = match serde_json::to_vec(&RelayedStatus { event }) {
        Ok(b) => b,
        Err(_) => return false,
    };
    let headers = status_headers();
    match client
        .post(STATUS_PATH, &headers, Bytes::from(body), timeout)
        .await
    {
        Ok(r) if r.status == 200 => {}
        // A refusal is final: keeping it would block the queue forever.
        Ok(r) if (400..500).contains(&r.status) => {
            tracing::warn!(
                peer = %peer,
                status = r.status,
                "status event refused by the peer; dropped"
            );
        }
        Ok(r) => {
            tracing::debug!(peer = %peer, status = r.status, "status relay failed; will retry");
            return false;
        }
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, "status relay failed; will retry");
            return false;
        }
    }
    let store = shared.store.clone();
    matches!(
        tokio::task::spawn_blocking(move || store.status_sent(&key)).await,
        Ok(Ok(()))
    )
}

enum Outcome {
    Delivered(String),
    Refused(String),
    /// Retryable; `unreachable` when the peer itself could not be reached (connect, TLS).
    Failed {
        reason: String,
        unreachable: bool,
    },
}

/// What one delivery attempt came to, for the worker's outage state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Delivered, dead-lettered, or failed with the peer answering: the peer is reachable.
    Reached,
    /// Connect or TLS failed: the peer is down or refuses us.
    Unreachable,
    /// Nothing was attempted (no client, no stored message).
    Skipped,
}

/// One delivery attempt of message `id` (every entry of `group` goes through this peer):
/// load → the policy at departure → sign our hop → send → record what came of it.
async fn deliver(
    shared: &Arc<Shared>,
    client: &PeerClient,
    id: &MessageId,
    group: &[OutboxEntry],
) -> Attempt {
    let peer = client.peer();
    let Some((bytes, meta, filing)) = load(shared, peer, id, group).await else {
        return Attempt::Skipped;
    };
    if refused_at_departure(shared, peer, id, filing.as_ref(), group).await {
        return Attempt::Skipped;
    }
    let headers = delivery_headers(shared, peer, id, &meta).await;
    let outcome = send(shared, client, id, &meta, &headers, bytes).await;
    if let Outcome::Refused(reason) | Outcome::Failed { reason, .. } = &outcome {
        tracing::info!(message = %id, peer = %peer, reason = %reason, "delivery attempt failed");
    }
    let reached = if matches!(
        outcome,
        Outcome::Failed {
            unreachable: true,
            ..
        }
    ) {
        Attempt::Unreachable
    } else {
        Attempt::Reached
    };
    record(shared, peer, id, group, outcome, meta.received_at_ms).await;
    reached
}

/// The queued document's bytes, its metadata and its filing record. A document found altered
/// on disk is never sent: the store has quarantined it, and every entry of the group is
/// dead-lettered here (audited), so that it is not retried in a loop.
async fn load(
    shared: &Arc<Shared>,
    peer: &OrganId,
    id: &MessageId,
    group: &[OutboxEntry],
) -> Option<(
    Vec<u8>,
    crate::store::MessageMeta,
    Option<crate::store::Filing>,
)> {
    let store = shared.store.clone();
    let mid = *id;
    let loaded = tokio::task::spawn_blocking(move || {
        let bytes = store.outbox_bytes(&mid)?;
        let meta = store.message(&mid)?;
        let filing = store.filing(&mid)?;
        Ok::<_, crate::store::StoreError>((bytes, meta, filing))
    })
    .await;
    match loaded {
        Ok(Ok((Some(b), Some((meta, _)), filing))) => Some((b, meta, filing)),
        Ok(Err(e @ crate::store::StoreError::Altered { .. })) => {
            quarantined_at_departure(shared, peer, group, e).await;
            None
        }
        other => {
            tracing::error!(message = %id, peer = %peer, "outbox entry without a stored message: {other:?}");
            None
        }
    }
}

/// The document of `group` was found altered: audited, counted, every entry dead-lettered.
async fn quarantined_at_departure(
    shared: &Arc<Shared>,
    peer: &OrganId,
    group: &[OutboxEntry],
    e: crate::store::StoreError,
) {
    let (s, peer_s, group) = (shared.clone(), peer.to_owned(), group.to_vec());
    let done = tokio::task::spawn_blocking(move || {
        s.note_store_error(&e, &format!("relay to {peer_s}"));
        let reason = format!("store/corrupt: {e}");
        for entry in &group {
            s.store.dead_letter(&peer_s, entry, &reason, now_ms())?;
            s.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
        }
        Ok::<_, crate::store::StoreError>(())
    })
    .await;
    if !matches!(done, Ok(Ok(()))) {
        tracing::error!(peer = %peer, "could not dead-letter an altered document: {done:?}");
    }
}

/// The policy again, at the moment the document leaves (rule 4 on this link): the link's
/// clearance may have been lowered since the message was queued. Refused → every entry
/// dead-lettered, audited, nothing sent; returns true.
async fn refused_at_departure(
    shared: &Arc<Shared>,
    peer: &OrganId,
    id: &MessageId,
    filing: Option<&crate::store::Filing>,
    group: &[OutboxEntry],
) -> bool {
    let unlabelled = crate::policy::Facts {
        level: None,
        procedure: None,
        public: false,
        recorded: None,
    };
    let facts = filing.map_or(unlabelled, crate::gateway::filing::facts);
    let clearance = shared
        .config
        .peers
        .iter()
        .find(|p| p.organ == *peer)
        .map_or(crate::doc::label::Level::Thuong, |p| p.clearance);
    let d = crate::policy::decide(
        &facts,
        &shared.catalog,
        crate::policy::Way::RelayTo {
            peer,
            clearance,
            mtls: true,
        },
    );
    if d.allowed() {
        return false;
    }
    let (s, peer_s, group, mid) = (shared.clone(), peer.clone(), group.to_vec(), *id);
    let reason = format!("policy ({}): {}", d.rule().name(), d.reason());
    let rule = d.rule().name();
    let done = tokio::task::spawn_blocking(move || {
        s.audit(crate::audit::Event::policy_refused(
            &s.config.organ,
            Some(&mid.to_string()),
            rule,
            &format!("relay to {peer_s}: {reason}"),
        ));
        for e in &group {
            s.store.dead_letter(&peer_s, e, &reason, now_ms())?;
        }
        Ok::<_, crate::store::StoreError>(())
    })
    .await;
    if !matches!(done, Ok(Ok(()))) {
        tracing::error!(message = %id, peer = %peer, "could not dead-letter a refused entry: {done:?}");
    }
    true
}

/// The exchange headers: every final recipient of this message that goes through this peer,
/// and the trace with our own hop record, signed by this gateway's receipt key
/// (`keys.receipts`), so that the next hop (and every hop after it) can prove this gateway held
/// exactly this document at that time.
async fn delivery_headers(
    shared: &Arc<Shared>,
    peer: &OrganId,
    id: &MessageId,
    meta: &crate::store::MessageMeta,
) -> Vec<(&'static str, String)> {
    let for_organs: Vec<String> = meta
        .to
        .iter()
        .filter(|r| shared.config.next_hop(r).is_some_and(|p| p.organ == *peer))
        .map(|r| r.to_string())
        .collect();
    let hop_body = crate::sign::ReceiptBody {
        message_id: id.to_string(),
        digest_sha256: meta.digest_hex.clone(),
        organ: shared.config.organ.to_string(),
        status: "01".to_owned(),
        at: crate::gateway::rfc3339_ms(meta.received_at_ms),
    };
    let signer = shared.clone();
    let signed_hop = tokio::task::spawn_blocking(move || {
        SignedReceipt::sign(
            &hop_body,
            signer.keys.receipt_signer.as_ref(),
            &signer.keys.receipt_chain,
        )
        .ok()
        .and_then(|r| serde_json::to_string(&r).ok())
    })
    .await
    .ok()
    .flatten();
    let mut hops = meta.hops.clone();
    hops.push(HopRecord {
        organ: shared.config.organ.clone(),
        at_ms: meta.received_at_ms,
        receipt: signed_hop,
    });
    DeliveryHeaders {
        message_id: *id,
        for_organs,
        trace: hops,
    }
    .to_headers()
}

/// Sends the document and reads the answer: delivered only with a receipt that verifies as the
/// peer's over this message and digest; a 4xx other than 408/429 is the peer's final refusal.
async fn send(
    shared: &Arc<Shared>,
    client: &PeerClient,
    id: &MessageId,
    meta: &crate::store::MessageMeta,
    headers: &[(&'static str, String)],
    bytes: Vec<u8>,
) -> Outcome {
    let peer = client.peer();
    let timeout = Duration::from_millis(shared.config.retry.attempt_timeout_ms);
    let resp = match client
        .post(EXCHANGE_PATH, headers, Bytes::from(bytes), timeout)
        .await
    {
        Ok(resp) => resp,
        Err(e) => {
            return Outcome::Failed {
                reason: e.to_string(),
                unreachable: e.is_unreachable(),
            };
        }
    };
    let failed = |reason: String| Outcome::Failed {
        reason,
        unreachable: false,
    };
    match resp.status {
        200 => match serde_json::from_slice::<SignedReceipt>(&resp.body) {
            Ok(receipt) => match receipt.verify(
                peer,
                &id.to_string(),
                &meta.digest_hex,
                &shared.trust(),
                &VerifyOptions::now(),
            ) {
                Ok(_) => Outcome::Delivered(String::from_utf8_lossy(&resp.body).into_owned()),
                Err(e) => failed(format!("receipt refused: {e}")),
            },
            Err(e) => failed(format!("receipt is not JSON: {e}")),
        },
        s if (400..500).contains(&s) && s != 408 && s != 429 => {
            let detail = serde_json::from_slice::<serde_json::Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_default();
            Outcome::Refused(format!("peer {peer} refused ({s}): {detail}"))
        }
        s => failed(format!("peer {peer} answered {s}")),
    }
}

/// What the store made of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    DeadLettered,
    Retry,
}

/// Records the outcome for every entry of the group, durably: delivered (with the receipt),
/// dead-lettered (refused, or out of attempts), or due again after a backoff; then counts it.
async fn record(
    shared: &Arc<Shared>,
    peer: &OrganId,
    id: &MessageId,
    group: &[OutboxEntry],
    outcome: Outcome,
    received_at: i64,
) {
    let (s, mid_s, peer_s, group) = (
        shared.clone(),
        id.to_string(),
        peer.to_owned(),
        group.to_vec(),
    );
    let result =
        tokio::task::spawn_blocking(move || -> Result<Verdict, crate::store::StoreError> {
            let (store, now, retry) = (&s.store, now_ms(), &s.config.retry);
            match outcome {
                Outcome::Delivered(receipt) => {
                    for e in &group {
                        store.mark_delivered(&peer_s, e, receipt.clone(), now)?;
                    }
                    s.audit(crate::audit::Event::relayed(&peer_s, &mid_s));
                    Ok(Verdict::Delivered)
                }
                Outcome::Refused(reason) => {
                    for e in &group {
                        store.dead_letter(&peer_s, e, &reason, now)?;
                    }
                    Ok(Verdict::DeadLettered)
                }
                Outcome::Failed {
                    reason,
                    unreachable,
                } => {
                    let mut verdict = Verdict::Retry;
                    for e in &group {
                        let attempts = e.attempts + 1;
                        if attempts >= retry.max_attempts {
                            let why = format!("gave up after {attempts} attempts: {reason}");
                            store.dead_letter(&peer_s, e, &why, now)?;
                            verdict = Verdict::DeadLettered;
                        } else {
                            // An unreachable peer is paced by the worker's outage probes; the entry
                            // itself stays due so that it drains in lane order once the peer is back.
                            let next = if unreachable {
                                now
                            } else {
                                let wait = retry.backoff(attempts, jitter());
                                now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)
                            };
                            store.record_failure(&peer_s, e, &reason, next)?;
                        }
                    }
                    Ok(verdict)
                }
            }
        })
        .await;
    match result {
        Ok(Ok(Verdict::Delivered)) => {
            shared.metrics.delivered.fetch_add(1, Ordering::Relaxed);
            let ms = u64::try_from(now_ms().saturating_sub(received_at)).unwrap_or(0);
            shared.metrics.relay_latency.observe(ms);
            tracing::info!(message = %id, peer = %peer, ms, "delivered");
        }
        Ok(Ok(Verdict::DeadLettered)) => {
            shared.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(message = %id, peer = %peer, "dead-lettered");
        }
        Ok(Ok(Verdict::Retry)) => {
            shared.metrics.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(message = %id, peer = %peer, "delivery failed; will retry");
        }
        Ok(Err(e)) => {
            tracing::error!(message = %id, peer = %peer, error = %e, "store update failed")
        }
        Err(e) => tracing::error!(message = %id, peer = %peer, error = %e, "store task failed"),
    }
}

/// A jitter factor in [0, 1] from the OS random source.
fn jitter() -> f64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}
