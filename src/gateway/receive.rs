//! A peer delivers a document over the exchange: who is calling (mTLS organ), the hop trace,
//! signature verification **before** anything is stored, policy on the link, routing of each
//! recipient, the durable write, and a signed receipt.
//!
//! Idempotent: the same message id with the same digest is answered with a receipt again (the
//! sender may have lost our first answer); the same id with another digest is refused
//! ([`ReceiveError::IdConflict`]).
//!
//! The wire form (paths, headers, trace encoding) is `crate::exchange`'s; this module gets the
//! delivery already read from it.

use std::sync::Arc;

use super::error::{Internal, PolicyRefusal};
use super::submit::hex;
use super::{Shared, blocking, now_ms, rfc3339_ms};
use crate::audit::Event;
use crate::config::Peer;
use crate::doc::envelope::Envelope;
use crate::doc::label::Level;
use crate::exchange::DeliveryHeaders;
use crate::policy::{Facts, Way, decide};
use crate::sign::{ReceiptBody, SignedReceipt, VerifiedDocument, VerifyOptions, verify};
use crate::store::{
    Accept, AcceptOutcome, HopRecord, MessageId, MessageMeta, OrganId, Origin, StoreError,
};

/// Why a delivery was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The TLS client presented no certificate bound to an organ.
    #[error("a client certificate is required")]
    NoClientCertificate,
    /// The calling organ is not a configured peer.
    #[error("{organ} is not a configured peer")]
    NotAPeer {
        /// The organ of its certificate.
        organ: String,
    },
    /// The trace is unsigned, signed by the wrong gateway, or does not run sender → caller.
    #[error("{0}")]
    BadTrace(String),
    /// More hops than `limits.max_hops`.
    #[error("{hops} hops, over the limit of {limit}")]
    TooManyHops {
        /// Hops including this one.
        hops: usize,
        /// The limit.
        limit: usize,
    },
    /// This gateway is already in the trace.
    #[error("this gateway is already in the document's trace")]
    Loop,
    /// The document's signature, chain or revocation check failed.
    #[error("{0}")]
    Signature(String),
    /// `decide()` refused the link in, or the way onward.
    #[error("{0}")]
    Policy(PolicyRefusal),
    /// The delivery names an organ the signed document is not addressed to.
    #[error("{organ} is not a recipient of the signed document")]
    NotARecipient {
        /// The organ.
        organ: String,
    },
    /// Not for this gateway, and no route onward (other than back to the caller).
    #[error("not for us and no route to {organ}")]
    NoRoute {
        /// The recipient.
        organ: String,
    },
    /// A `mat` document arrived unsealed (or another level sealed), or, addressed here, does
    /// not open with this organ's keys, or opens to a document that is not the outer one.
    #[error("{0}")]
    Sealing(super::sealing::SealingError),
    /// The message id was received before with another digest.
    #[error("this message id was received with another digest")]
    IdConflict,
    /// The outbox towards the next hop is full.
    #[error("the outbox towards {peer} holds {depth} documents")]
    OutboxFull {
        /// The next hop.
        peer: String,
        /// Documents queued for it.
        depth: u64,
    },
    /// The gateway failed.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl ReceiveError {
    /// The stable name of the refusal (the metrics label and the problem type).
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoClientCertificate | Self::NotAPeer { .. } => "auth/forbidden",
            Self::BadTrace(_) => "relay/bad-trace",
            Self::TooManyHops { .. } => "relay/too-many-hops",
            Self::Loop => "relay/loop",
            Self::Signature(_) => "signature/refused",
            Self::Policy(p) => p.rule(),
            Self::NotARecipient { .. } => "routing/not-a-recipient",
            Self::NoRoute { .. } => "routing/no-route",
            Self::IdConflict => "exchange/id-conflict",
            Self::Sealing(e) => e.name(),
            Self::OutboxFull { .. } => "store/outbox-full",
            Self::Internal(i) => i.name(),
        }
    }
}

/// The configured link of the calling peer (`organ`: the organ its verified client certificate
/// is bound to), checked before the delivery's headers are read; a refusal is counted.
pub fn admit(shared: &Shared, organ: Option<&str>) -> Result<Peer, ReceiveError> {
    let r = match organ {
        None => Err(ReceiveError::NoClientCertificate),
        Some(organ) => shared
            .config
            .peers
            .iter()
            .find(|p| p.organ == organ)
            .cloned()
            .ok_or_else(|| ReceiveError::NotAPeer {
                organ: organ.to_owned(),
            }),
    };
    if let Err(e) = &r {
        note_refusal(shared, e.name(), e);
    }
    r
}

/// Counts and logs a refusal of the exchange (internal failures are logged where they map).
pub fn note_refusal(shared: &Shared, name: &str, detail: &dyn std::fmt::Display) {
    shared.metrics.refused(name);
    tracing::info!(kind = %name, detail = %detail, "delivery refused");
}

/// Handles one delivery from the peer of `link`.
pub async fn receive(
    shared: Arc<Shared>,
    link: Peer,
    delivery: DeliveryHeaders,
    body: Vec<u8>,
) -> Result<SignedReceipt, ReceiveError> {
    let r = receive_steps(&shared, &link, delivery, body).await;
    if let Err(e) = &r {
        if !matches!(e, ReceiveError::Internal(i) if i.fault.is_none()) {
            note_refusal(&shared, e.name(), e);
        }
    }
    r
}

/// check the trace → verify → decide the link in → route onward → accept → sign the receipt.
async fn receive_steps(
    shared: &Arc<Shared>,
    link: &Peer,
    delivery: DeliveryHeaders,
    body: Vec<u8>,
) -> Result<SignedReceipt, ReceiveError> {
    let DeliveryHeaders {
        message_id: id,
        for_organs,
        trace,
    } = delivery;
    shared.room_for_documents()?;
    check_hops(shared, &trace)?;
    let s = shared.clone();
    let (verified, body) =
        blocking(move || verify(&body, &s.trust(), &VerifyOptions::now()).map(|v| (v, body)))
            .await?
            .map_err(|e| ReceiveError::Signature(e.to_string()))?;
    let envelope = verified.envelope();
    let digest_hex = hex(verified.digest());
    check_trace(
        shared,
        &trace,
        &link.organ,
        envelope.header.from.organ_id.as_str(),
        &id,
        &digest_hex,
    )?;
    let (facts, effective) = decide_link(shared, link, &id, envelope).await?;
    super::sealing::check_level(envelope, effective).map_err(ReceiveError::Sealing)?;
    let (local, forward) = route_onward(shared, link, &id, &facts, envelope, &for_organs).await?;
    if !local.is_empty() && envelope.body.sealed.is_some() {
        check_opens(shared, &link.organ, &id, envelope).await?;
    }
    let accept = Accept {
        meta: meta_of(&verified, id, effective, &body, link, trace),
        bytes: body,
        local,
        forward,
    };
    accept_durably(shared, &link.organ, envelope, accept).await?;
    // The write is durable: only now is the receipt signed and sent.
    sign_receipt(shared, id, digest_hex).await
}

/// The hop count and loop checks, before the (costlier) signature is verified.
fn check_hops(shared: &Shared, trace: &[HopRecord]) -> Result<(), ReceiveError> {
    let limit = shared.config.limits.max_hops;
    if trace.len() + 1 > limit {
        return Err(ReceiveError::TooManyHops {
            hops: trace.len() + 1,
            limit,
        });
    }
    if trace.iter().any(|h| h.organ == shared.config.organ) {
        return Err(ReceiveError::Loop);
    }
    Ok(())
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
) -> Result<(), ReceiveError> {
    match (trace.first(), trace.last()) {
        (Some(first), Some(last)) if first.organ == from && last.organ == peer => {}
        _ => {
            return Err(ReceiveError::BadTrace(format!(
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
            .ok_or_else(|| ReceiveError::BadTrace(format!("hop {} is not signed", hop.organ)))?;
        receipt
            .verify(
                &hop.organ,
                &id.to_string(),
                digest_hex,
                &trust,
                &VerifyOptions::now(),
            )
            .map_err(|e| ReceiveError::BadTrace(format!("hop {}: {e}", hop.organ)))?;
    }
    Ok(())
}

/// `decide()` on the link in, with what this gateway recorded for this message id before (rule
/// 5: a redelivery, or another document under a reused id). Returns the facts and the level.
async fn decide_link<'e>(
    shared: &Arc<Shared>,
    link: &Peer,
    id: &MessageId,
    envelope: &'e Envelope,
) -> Result<(Facts<'e>, Level), ReceiveError> {
    let s = shared.clone();
    let mid = *id;
    let recorded = blocking(move || s.store.filing(&mid))
        .await?
        .map_err(|e| Internal::store("filing", &e))?
        .map(|f| f.level);
    let facts = Facts::of(envelope.label()).with_recorded(recorded);
    let d = decide(
        &facts,
        &shared.catalog,
        Way::ReceiveFrom {
            peer: &link.organ,
            clearance: link.clearance,
        },
    );
    if !d.allowed() {
        audit_refusal(shared, &link.organ, id, &d).await?;
        return Err(ReceiveError::Policy(PolicyRefusal::of(d)));
    }
    let effective = d.effective().unwrap_or(Level::TuyetMat);
    Ok((facts, effective))
}

/// Each organ the delivery is for: here, or onward to a next hop (never back to the caller),
/// with `decide()` on that way.
async fn route_onward(
    shared: &Arc<Shared>,
    link: &Peer,
    id: &MessageId,
    facts: &Facts<'_>,
    envelope: &Envelope,
    for_organs: &[String],
) -> Result<(Vec<OrganId>, Vec<(OrganId, OrganId)>), ReceiveError> {
    let mut local = Vec::new();
    let mut forward = Vec::new();
    for named in for_organs {
        let Some(organ) = envelope.recipients().find(|o| *o == named) else {
            return Err(ReceiveError::NotARecipient {
                organ: named.clone(),
            });
        };
        if *organ == shared.config.organ {
            local.push(organ.clone());
            continue;
        }
        let next = shared
            .config
            .next_hop(organ)
            .filter(|p| p.organ != link.organ)
            .ok_or_else(|| ReceiveError::NoRoute {
                organ: organ.to_string(),
            })?;
        let d = decide(
            facts,
            &shared.catalog,
            Way::RelayTo {
                peer: &next.organ,
                clearance: next.clearance,
                mtls: true,
            },
        );
        if !d.allowed() {
            audit_refusal(shared, &link.organ, id, &d).await?;
            return Err(ReceiveError::Policy(PolicyRefusal::at(
                d,
                format!("onward to {organ}"),
            )));
        }
        forward.push((next.organ.clone(), organ.clone()));
    }
    Ok((local, forward))
}

/// A sealed document addressed here must open with this organ's keys to the very document the
/// outer envelope announces, before it is stored and receipted: never half-delivered. The
/// plaintext lives in memory only and is zeroized; a refusal is audited.
async fn check_opens(
    shared: &Arc<Shared>,
    peer: &str,
    id: &MessageId,
    envelope: &Envelope,
) -> Result<(), ReceiveError> {
    let (s, outer, mid, peer) = (
        shared.clone(),
        envelope.clone(),
        id.to_string(),
        peer.to_owned(),
    );
    blocking(move || super::sealing::open_audited(&s, &outer, &mid, &peer, "delivery").map(drop))
        .await?
        .map_err(ReceiveError::Sealing)
}

/// What the store records of a delivered message.
fn meta_of(
    verified: &VerifiedDocument,
    id: MessageId,
    effective: Level,
    body: &[u8],
    link: &Peer,
    trace: Vec<HopRecord>,
) -> MessageMeta {
    super::filing::message_meta(
        verified.envelope(),
        id,
        effective,
        hex(verified.digest()),
        body.len(),
        Origin::Relayed {
            from_peer: link.organ.clone(),
        },
        trace,
    )
}

/// The durable write (filed with the message), audited; a redelivery of what is already here
/// is answered again so the sender can finish.
async fn accept_durably(
    shared: &Arc<Shared>,
    from_peer: &str,
    envelope: &Envelope,
    accept: Accept,
) -> Result<(), ReceiveError> {
    let id = accept.meta.id;
    let (local, forward) = (!accept.local.is_empty(), accept.forward.clone());
    // Published here only when one of its recipients is this gateway's organ (rule 6 decided
    // in `prepare`); a gateway that only carries it onward keeps no public entry.
    let prepared = super::filing::prepare(
        &shared.catalog,
        envelope,
        id,
        accept.meta.received_at_ms,
        local,
    );
    let published = prepared.filed.public.is_some();
    let s = shared.clone();
    let from_peer = from_peer.to_owned();
    let (mid, did) = (id.to_string(), envelope.document_id().to_owned());
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
            if local {
                shared.inbox_grew();
            }
            Ok(())
        }
        // Already durable here: answer again so the sender can finish.
        Ok(AcceptOutcome::Duplicate { .. } | AcceptOutcome::DuplicatePurged { .. }) => Ok(()),
        Ok(AcceptOutcome::Conflict { .. }) => {
            tracing::warn!(message = %id, "same message id, different digest");
            Err(ReceiveError::IdConflict)
        }
        Err(StoreError::OutboxFull { peer, depth }) => {
            Err(ReceiveError::OutboxFull { peer, depth })
        }
        Err(e) => Err(Internal::store("accept", &e).into()),
    }
}

/// The signed receipt (status 01) for a durable delivery.
async fn sign_receipt(
    shared: &Arc<Shared>,
    id: MessageId,
    digest_hex: String,
) -> Result<SignedReceipt, ReceiveError> {
    let body = ReceiptBody {
        message_id: id.to_string(),
        digest_sha256: digest_hex,
        organ: shared.config.organ.to_string(),
        status: "01".to_owned(),
        at: rfc3339_ms(now_ms()),
    };
    let s = shared.clone();
    Ok(blocking(move || {
        SignedReceipt::sign(&body, s.keys.receipt_signer.as_ref(), &s.keys.receipt_chain)
    })
    .await?
    .map_err(|e| Internal::new("receipt", e))?)
}

/// Records a policy refusal on the exchange in the audit log (rule and reason; never the
/// subject or content).
async fn audit_refusal(
    shared: &Arc<Shared>,
    peer: &str,
    id: &MessageId,
    d: &crate::policy::Decision,
) -> Result<(), Internal> {
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
