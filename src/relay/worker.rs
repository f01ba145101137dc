//! One relay worker per peer: takes due outbox entries (Hỏa tốc lane first, FIFO within a
//! lane), delivers each message once per batch with every recipient routed through this peer,
//! and marks the entries delivered only after the peer's signed receipt verified.
//!
//! Failures: a refusal by the peer (4xx) is final — dead letter with the peer's reason; anything
//! else (connect, TLS, reset, timeout, 5xx) is retried with exponential backoff and jitter until
//! `retry.max_attempts`, then dead-lettered. Resumes from the store after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Semaphore, watch};

use crate::gateway::receive::{H_FOR, H_MESSAGE_ID, H_TRACE, encode_trace};
use crate::gateway::{Shared, now_ms};
use crate::sign::{SignedReceipt, VerifyOptions};
use crate::store::{HopRecord, MessageId, OutboxEntry};

/// How long an idle worker sleeps before looking at its outbox again (retries come due).
const IDLE_POLL: Duration = Duration::from_millis(250);

/// The exchange path on the peer.
pub const EXCHANGE_PATH: &str = "/exchange/v1/messages";

/// Runs until `shutdown` turns true; in-flight deliveries finish first.
pub async fn run(shared: Arc<Shared>, peer: String, mut shutdown: watch::Receiver<bool>) {
    let Some(wake) = shared.wake.get(&peer).cloned() else {
        return;
    };
    let concurrency = shared.config.retry.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut inflight = tokio::task::JoinSet::new();
    let mut busy: std::collections::HashSet<MessageId> = std::collections::HashSet::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<MessageId>();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while let Ok(id) = done_rx.try_recv() {
            busy.remove(&id);
        }
        while inflight.try_join_next().is_some() {}
        let store = shared.store.clone();
        let p = peer.clone();
        let batch = concurrency * 4;
        let due = tokio::task::spawn_blocking(move || store.outbox_next(&p, batch, now_ms())).await;
        let entries = match due {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                tracing::error!(peer = %peer, error = %e, "outbox read failed");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(peer = %peer, error = %e, "outbox task failed");
                Vec::new()
            }
        };
        // Group entries by message: one request carries every recipient routed via this peer.
        let mut groups: BTreeMap<usize, (MessageId, Vec<OutboxEntry>)> = BTreeMap::new();
        let mut order: Vec<MessageId> = Vec::new();
        for e in entries {
            if busy.contains(&e.message) {
                continue;
            }
            match order.iter().position(|m| *m == e.message) {
                Some(i) => {
                    if let Some(g) = groups.get_mut(&i) {
                        g.1.push(e);
                    }
                }
                None => {
                    groups.insert(order.len(), (e.message, vec![e.clone()]));
                    order.push(e.message);
                }
            }
        }
        let statuses_pending = relay_statuses(&shared, &peer).await;
        if groups.is_empty() {
            if statuses_pending {
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => {}
                Some(id) = done_rx.recv() => { busy.remove(&id); }
            }
            continue;
        }
        for (_, (id, group)) in groups {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.changed() => break,
            };
            busy.insert(id);
            let shared = shared.clone();
            let peer = peer.clone();
            let done = done_tx.clone();
            inflight.spawn(async move {
                deliver(&shared, &peer, &id, &group).await;
                drop(permit);
                let _ = done.send(id);
            });
        }
    }
    while inflight.join_next().await.is_some() {}
}

/// Sends queued status events to `peer`; true when more are waiting (to loop again at once).
async fn relay_statuses(shared: &Arc<Shared>, peer: &str) -> bool {
    const BATCH: usize = 32;
    let store = shared.store.clone();
    let p = peer.to_owned();
    let queued = match tokio::task::spawn_blocking(move || store.status_outbox(&p, BATCH)).await {
        Ok(Ok(q)) => q,
        _ => return false,
    };
    let Some(client) = shared.peers.get(peer).cloned() else {
        return false;
    };
    let timeout = Duration::from_millis(shared.config.retry.attempt_timeout_ms);
    let full = queued.len() == BATCH;
    for (key, event) in queued {
        let body = match serde_json::to_vec(&crate::gateway::status::Relayed { event }) {
            Ok(b) => b,
            Err(_) => continue,
        };
        let headers = [("content-type", "application/json".to_owned())];
        let sent = match client
            .post(
                crate::gateway::status::STATUS_PATH,
                &headers,
                Bytes::from(body),
                timeout,
            )
            .await
        {
            Ok(r) if r.status == 200 => true,
            // A refusal is final: keeping it would block the queue forever.
            Ok(r) if (400..500).contains(&r.status) => {
                tracing::warn!(
                    peer,
                    status = r.status,
                    "status event refused by the peer; dropped"
                );
                true
            }
            Ok(r) => {
                tracing::debug!(peer, status = r.status, "status relay failed; will retry");
                return false;
            }
            Err(e) => {
                tracing::debug!(peer, error = %e, "status relay failed; will retry");
                return false;
            }
        };
        if sent {
            let store = shared.store.clone();
            if !matches!(
                tokio::task::spawn_blocking(move || store.status_sent(&key)).await,
                Ok(Ok(()))
            ) {
                return false;
            }
        }
    }
    full
}

enum Outcome {
    Delivered(String),
    Refused(String),
    Failed(String),
}

async fn deliver(shared: &Arc<Shared>, peer: &str, id: &MessageId, group: &[OutboxEntry]) {
    let Some(client) = shared.peers.get(peer).cloned() else {
        return;
    };
    let store = shared.store.clone();
    let mid = *id;
    let loaded = tokio::task::spawn_blocking(move || {
        let bytes = store.outbox_bytes(&mid)?;
        let meta = store.message(&mid)?;
        Ok::<_, crate::store::StoreError>((bytes, meta))
    })
    .await;
    let (bytes, meta) = match loaded {
        Ok(Ok((Some(b), Some((meta, _))))) => (b, meta),
        other => {
            tracing::error!(message = %id, peer, "outbox entry without a stored message: {other:?}");
            return;
        }
    };
    // Every final recipient of this message that goes through this peer.
    let for_organs: Vec<String> = meta
        .to
        .iter()
        .filter(|r| shared.config.next_hop(r).is_some_and(|p| p.organ == peer))
        .cloned()
        .collect();
    // Our own hop record, signed by this gateway's organ key: the next hop (and every hop
    // after it) can prove this gateway held exactly this document at that time.
    let hop_body = crate::sign::ReceiptBody {
        message_id: id.to_string(),
        digest_sha256: meta.digest_hex.clone(),
        organ: shared.config.organ.clone(),
        status: "01".to_owned(),
        at: crate::gateway::rfc3339_ms(meta.received_at_ms),
    };
    let signer = shared.clone();
    let signed_hop = tokio::task::spawn_blocking(move || {
        SignedReceipt::sign(
            &hop_body,
            signer.keys.signer.as_ref(),
            &signer.keys.signing_chain,
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
    let headers = [
        ("content-type", "application/xml".to_owned()),
        (H_MESSAGE_ID, id.to_string()),
        (H_FOR, for_organs.join(",")),
        (H_TRACE, encode_trace(&hops)),
    ];
    let timeout = Duration::from_millis(shared.config.retry.attempt_timeout_ms);
    let outcome = match client
        .post(
            super::worker::EXCHANGE_PATH,
            &headers,
            Bytes::from(bytes),
            timeout,
        )
        .await
    {
        Ok(resp) if resp.status == 200 => {
            match serde_json::from_slice::<SignedReceipt>(&resp.body) {
                Ok(receipt) => {
                    let trust = &shared.trust();
                    match receipt.verify(
                        peer,
                        &id.to_string(),
                        &meta.digest_hex,
                        trust,
                        &VerifyOptions::now(),
                    ) {
                        Ok(_) => {
                            Outcome::Delivered(String::from_utf8_lossy(&resp.body).into_owned())
                        }
                        Err(e) => Outcome::Failed(format!("receipt refused: {e}")),
                    }
                }
                Err(e) => Outcome::Failed(format!("receipt is not JSON: {e}")),
            }
        }
        Ok(resp)
            if (400..500).contains(&resp.status) && resp.status != 408 && resp.status != 429 =>
        {
            let detail = serde_json::from_slice::<serde_json::Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_default();
            Outcome::Refused(format!("peer {peer} refused ({}): {detail}", resp.status))
        }
        Ok(resp) => Outcome::Failed(format!("peer {peer} answered {}", resp.status)),
        Err(e) => Outcome::Failed(e.to_string()),
    };

    let failure = match &outcome {
        Outcome::Delivered(_) => None,
        Outcome::Refused(r) | Outcome::Failed(r) => Some(r.clone()),
    };
    let store = shared.store.clone();
    let audit_shared = shared.clone();
    let mid_s = id.to_string();
    let peer_s = peer.to_owned();
    let group = group.to_vec();
    let retry = shared.config.retry.clone();
    let received_at = meta.received_at_ms;
    let result =
        tokio::task::spawn_blocking(move || -> Result<&'static str, crate::store::StoreError> {
            let now = now_ms();
            match outcome {
                Outcome::Delivered(receipt) => {
                    for e in &group {
                        store.mark_delivered(&peer_s, e, receipt.clone(), now)?;
                    }
                    audit_shared.audit(crate::audit::Event::relayed(&peer_s, &mid_s));
                    Ok("delivered")
                }
                Outcome::Refused(reason) => {
                    for e in &group {
                        store.dead_letter(&peer_s, e, &reason, now)?;
                    }
                    Ok("dead-lettered")
                }
                Outcome::Failed(reason) => {
                    let mut verdict = "retry";
                    for e in &group {
                        let attempts = e.attempts + 1;
                        if attempts >= retry.max_attempts {
                            store.dead_letter(
                                &peer_s,
                                e,
                                &format!("gave up after {attempts} attempts: {reason}"),
                                now,
                            )?;
                            verdict = "dead-lettered";
                        } else {
                            let jitter = jitter();
                            let wait = retry.backoff(attempts, jitter);
                            let next =
                                now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                            store.record_failure(&peer_s, e, &reason, next)?;
                        }
                    }
                    Ok(verdict)
                }
            }
        })
        .await;
    if let Some(reason) = &failure {
        tracing::info!(message = %id, peer, reason = %reason, "delivery attempt failed");
    }
    match result {
        Ok(Ok("delivered")) => {
            shared.metrics.delivered.fetch_add(1, Ordering::Relaxed);
            let ms = u64::try_from(now_ms().saturating_sub(received_at)).unwrap_or(0);
            shared.metrics.relay_latency.observe(ms);
            tracing::info!(message = %id, peer, ms, "delivered");
        }
        Ok(Ok("dead-lettered")) => {
            shared.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(message = %id, peer, "dead-lettered");
        }
        Ok(Ok(_)) => {
            shared.metrics.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(message = %id, peer, "delivery failed; will retry");
        }
        Ok(Err(e)) => tracing::error!(message = %id, peer, error = %e, "store update failed"),
        Err(e) => tracing::error!(message = %id, peer, error = %e, "store task failed"),
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
