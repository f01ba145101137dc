//! A peer delivers a document over the exchange: who is calling (mTLS organ), the hop trace,
//! signature verification **before** anything is stored, policy on the link, routing of each
//! recipient, the durable write, and a signed receipt.
//!
//! Idempotent: the same message id with the same digest is answered with a receipt again (the
//! sender may have lost our first answer); the same id with another digest is refused (409).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::submit::hex;
use super::{Shared, blocking, now_ms, rfc3339_ms};
use crate::api::problem::Problem;
use crate::audit::Event;
use crate::doc::label::Level;
use crate::policy::{Facts, Way, decide};
use crate::sign::{ReceiptBody, SignedReceipt, VerifyOptions, verify};
use crate::store::{Accept, AcceptOutcome, HopRecord, MessageId, MessageMeta, Origin, StoreError};

/// Header carrying the message id.
pub const H_MESSAGE_ID: &str = "x-lienthong-message-id";
/// Header carrying the final recipients this delivery is for (comma-separated organ ids).
pub const H_FOR: &str = "x-lienthong-for";
/// Header carrying the hop trace: base64url of the JSON list of hop records.
pub const H_TRACE: &str = "x-lienthong-trace";
/// Largest trace header we decode.
const MAX_TRACE_BYTES: usize = 16 * 1024;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Problem> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Problem::bad_request("exchange/missing-header", format!("{name} is required"))
        })
}

/// Encodes a hop trace for [`H_TRACE`].
pub fn encode_trace(hops: &[HopRecord]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(hops).unwrap_or_default())
}

/// Decodes an [`H_TRACE`] value (base64url JSON of hop records, at most 16 KiB); a bad one is
/// a 400 problem. Public for the fuzz target `exchange_headers` (fuzz/).
pub fn decode_trace(s: &str) -> Result<Vec<HopRecord>, Problem> {
    if s.len() > MAX_TRACE_BYTES {
        return Err(Problem::bad_request(
            "exchange/bad-trace",
            "trace header too large",
        ));
    }
    let raw = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Problem::bad_request("exchange/bad-trace", "trace is not base64url"))?;
    serde_json::from_slice(&raw)
        .map_err(|e| Problem::bad_request("exchange/bad-trace", format!("trace: {e}")))
}

/// Every hop record must be signed by the gateway of its organ over this message and digest;
/// the trace starts at the sender's organ and ends at the peer that is calling.
fn check_trace(
    shared: &Shared,
    trace: &[HopRecord],
    peer: &str,
    from: &str,
    id: &MessageId,
    digest_hex: &str,
) -> Result<(), Problem> {
    let bad =
        |detail: String| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "relay/bad-trace", detail);
    match (trace.first(), trace.last()) {
        (Some(first), Some(last)) if first.organ == from && last.organ == peer => {}
        _ => {
            return Err(bad(format!(
                "the trace must start at the sender {from} and end at the calling peer {peer}"
            )));
        }
    }
    let trust = shared.trust();
    for hop in trace {
        let receipt: SignedReceipt = hop
            .receipt
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .ok_or_else(|| bad(format!("hop {} is not signed", hop.organ)))?;
        receipt
            .verify(
                &hop.organ,
                &id.to_string(),
                digest_hex,
                &trust,
                &VerifyOptions::now(),
            )
            .map_err(|e| bad(format!("hop {}: {e}", hop.organ)))?;
    }
    Ok(())
}

/// Records a policy refusal on the exchange in the audit log (rule and reason; never the
/// subject or content).
async fn audit_refusal(
    shared: &Arc<Shared>,
    peer: &str,
    id: &MessageId,
    d: &crate::policy::Decision,
) -> Result<(), Problem> {
    let (s, mid, rule) = (shared.clone(), id.to_string(), d.rule().name());
    let reason = format!("from peer {peer}: {}", d.reason());
    blocking(move || {
        s.audit(Event::policy_refused(
            &s.config.organ,
            Some(&mid),
            rule,
            &reason,
        ));
    })
    .await
}

/// Handles one delivery from `peer` (the organ its verified client certificate is bound to).
pub async fn receive(
    shared: Arc<Shared>,
    peer: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<SignedReceipt, Problem> {
    let refuse = |p: Problem| {
        shared.metrics.refused(&p.kind);
        tracing::info!(kind = %p.kind, detail = %p.detail, "delivery refused");
        p
    };
    let Some(peer) = peer else {
        return Err(refuse(Problem::forbidden(
            "a client certificate is required",
        )));
    };
    let Some(link) = shared
        .config
        .peers
        .iter()
        .find(|p| p.organ == peer)
        .cloned()
    else {
        return Err(refuse(Problem::forbidden(format!(
            "{peer} is not a configured peer"
        ))));
    };
    let id: MessageId = header(&headers, H_MESSAGE_ID)?.parse().map_err(|_| {
        refuse(Problem::bad_request(
            "exchange/bad-id",
            "message id is not 32 hex digits",
        ))
    })?;
    let for_organs: Vec<String> = header(&headers, H_FOR)?
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if for_organs.is_empty() {
        return Err(refuse(Problem::bad_request(
            "exchange/no-recipient",
            "no recipient named",
        )));
    }
    let trace = decode_trace(header(&headers, H_TRACE)?).map_err(&refuse)?;
    if trace.len() + 1 > shared.config.limits.max_hops {
        return Err(refuse(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "relay/too-many-hops",
            format!(
                "{} hops, over the limit of {}",
                trace.len() + 1,
                shared.config.limits.max_hops
            ),
        )));
    }
    if trace.iter().any(|h| h.organ == shared.config.organ) {
        return Err(refuse(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "relay/loop",
            "this gateway is already in the document's trace",
        )));
    }

    // Verify before anything is stored.
    let s = shared.clone();
    let verified =
        blocking(move || verify(&body, &s.trust(), &VerifyOptions::now()).map(|v| (v, body)))
            .await?;
    let (verified, body) = verified.map_err(|e| {
        refuse(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signature/refused",
            e.to_string(),
        ))
    })?;
    let envelope = verified.envelope();
    check_trace(
        &shared,
        &trace,
        &peer,
        envelope.header.from.organ_id.as_str(),
        &id,
        &hex(verified.digest()),
    )
    .map_err(&refuse)?;
    let label = envelope.label();
    // Rule 5: what this gateway recorded for this message id before (a redelivery, or another
    // document under a reused id).
    let s = shared.clone();
    let recorded = blocking(move || s.store.filing(&id))
        .await?
        .map_err(|e| Problem::internal("filing", e))?
        .and_then(|f| f.level.parse::<Level>().ok());
    let facts = Facts::of(label).with_recorded(recorded);
    let d = decide(
        &facts,
        &shared.catalog,
        Way::ReceiveFrom {
            peer: &peer,
            clearance: link.clearance,
        },
    );
    if !d.allowed() {
        audit_refusal(&shared, &peer, &id, &d).await?;
        return Err(refuse(Problem::policy(&d, None)));
    }
    let effective = d.effective().unwrap_or(Level::TuyetMat);

    let to: Vec<String> = envelope
        .recipients()
        .map(|o| o.as_str().to_owned())
        .collect();
    let mut local = Vec::new();
    let mut forward = Vec::new();
    for organ in &for_organs {
        if !to.contains(organ) {
            return Err(refuse(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "routing/not-a-recipient",
                format!("{organ} is not a recipient of the signed document"),
            )));
        }
        if organ == &shared.config.organ {
            local.push(organ.clone());
            continue;
        }
        let next = shared
            .config
            .next_hop(organ)
            .filter(|p| p.organ != peer)
            .ok_or_else(|| {
                refuse(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "routing/no-route",
                    format!("not for us and no route to {organ}"),
                ))
            })?;
        let d = decide(
            &facts,
            &shared.catalog,
            Way::RelayTo {
                peer: &next.organ,
                clearance: next.clearance,
                mtls: true,
            },
        );
        if !d.allowed() {
            audit_refusal(&shared, &peer, &id, &d).await?;
            return Err(refuse(Problem::policy(
                &d,
                Some(&format!("onward to {organ}")),
            )));
        }
        forward.push((next.organ.clone(), organ.clone()));
    }

    let digest_hex = hex(verified.digest());
    let meta = MessageMeta {
        id,
        document_id: envelope.document_id().to_owned(),
        from: envelope.header.from.organ_id.as_str().to_owned(),
        to,
        priority: envelope.priority().code(),
        level: effective.token().to_owned(),
        digest_hex: digest_hex.clone(),
        size: u64::try_from(body.len()).unwrap_or(u64::MAX),
        received_at_ms: now_ms(),
        origin: Origin::Relayed {
            from_peer: peer.clone(),
        },
        hops: trace,
    };
    let accept = Accept {
        meta,
        bytes: body,
        local: local.clone(),
        forward: forward.clone(),
    };
    // Published here only when one of its recipients is this gateway's organ (rule 6 decided
    // in `prepare`); a gateway that only carries it onward keeps no public entry.
    let prepared = super::filing::prepare(
        &shared.catalog,
        envelope,
        id,
        accept.meta.received_at_ms,
        !local.is_empty(),
    );
    let published = prepared.filed.public.is_some();
    let s = shared.clone();
    let (mid, did, from_peer) = (
        id.to_string(),
        envelope.document_id().to_owned(),
        peer.clone(),
    );
    let outcome = blocking(move || {
        let r = s.store.accept_filed(accept, prepared.filed);
        if matches!(r, Ok(AcceptOutcome::Stored)) {
            s.audit(Event::received(&from_peer, &mid, &did));
            if published {
                s.audit(Event::published(&s.config.organ, &mid, &did));
            }
        }
        r
    })
    .await?;
    match outcome {
        Ok(AcceptOutcome::Stored) => {
            shared
                .metrics
                .received
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for (p, _) in &forward {
                shared.wake_peer(p);
            }
            if !local.is_empty() {
                shared.inbox_grew();
            }
        }
        // Already durable here: answer again so the sender can finish.
        Ok(AcceptOutcome::Duplicate { .. } | AcceptOutcome::DuplicatePurged { .. }) => {}
        Ok(AcceptOutcome::Conflict { .. }) => {
            tracing::warn!(message = %id, peer = %peer, "same message id, different digest");
            return Err(refuse(Problem::new(
                StatusCode::CONFLICT,
                "exchange/id-conflict",
                "this message id was received with another digest",
            )));
        }
        Err(StoreError::OutboxFull { peer: p, depth }) => {
            return Err(refuse(Problem::unavailable(
                "store/outbox-full",
                format!("the outbox towards {p} holds {depth} documents"),
                30,
            )));
        }
        Err(e) => return Err(Problem::internal("accept", e)),
    }

    // The write is durable: only now is the receipt signed and sent.
    let body = ReceiptBody {
        message_id: id.to_string(),
        digest_sha256: digest_hex,
        organ: shared.config.organ.clone(),
        status: "01".to_owned(),
        at: rfc3339_ms(now_ms()),
    };
    let s = shared.clone();
    blocking(move || {
        SignedReceipt::sign(&body, s.keys.receipt_signer.as_ref(), &s.keys.receipt_chain)
    })
    .await?
    .map_err(|e| Problem::internal("receipt", e))
}
