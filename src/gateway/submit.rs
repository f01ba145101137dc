//! An office submits a document: parse, check the sender, decide, sign (or verify an
//! office-signed document, never re-signing it), route each recipient, store durably, answer.
//!
//! Nothing is stored unless every recipient's way is allowed: a submission is accepted whole or
//! refused whole, so an office never has to guess which recipients got it.

use std::sync::Arc;

use axum::http::StatusCode;

use super::{Shared, blocking, now_ms};
use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::audit::Event;
use crate::doc::envelope::{EnvelopeLimits, parse_envelope};
use crate::doc::label::Level;
use crate::doc::write::write_document;
use crate::policy::{Facts, Way, decide};
use crate::sign::{VerifyOptions, sign_document, verify};
use crate::store::{Accept, AcceptOutcome, MessageId, MessageMeta, Origin, StoreError};

/// What the office gets back.
#[derive(Debug, serde::Serialize)]
pub struct Submitted {
    /// The gateway's message id.
    pub message_id: String,
    /// The edXML document id.
    pub document_id: String,
    /// The effective level.
    pub level: String,
    /// Recipients and the next hop (or `local`) each will take.
    pub routes: Vec<(String, String)>,
}

/// The DSig namespace, to tell signed submissions from unsigned ones.
const DSIG_NS: &str = crate::sign::dsig::DSIG_NS;

/// Handles one submission.
pub async fn submit(
    shared: Arc<Shared>,
    caller: Caller,
    body: Vec<u8>,
) -> Result<Submitted, Problem> {
    let limits = EnvelopeLimits::default();
    let parsed =
        blocking(move || parse_envelope(&body, &limits).map(|(d, e)| (d, e, body))).await?;
    let (mut doc, envelope, body) = parsed.map_err(|e| {
        shared.metrics.refused("envelope/invalid");
        Problem::bad_request("envelope/invalid", e.to_string())
    })?;

    // The From organ must be the caller's, and this gateway signs only for its own organ.
    let from = envelope.header.from.organ_id.as_str().to_owned();
    if from != caller.organ {
        shared.metrics.refused("auth/wrong-organ");
        return Err(Problem::forbidden(format!(
            "client {} acts for {}, not for the From organ {from}",
            caller.name, caller.organ
        )));
    }
    if from != shared.config.organ {
        shared.metrics.refused("auth/wrong-gateway");
        return Err(Problem::forbidden(format!(
            "this gateway signs for {}, not for {from}",
            shared.config.organ
        )));
    }

    let from_organ = from.clone();
    let label = envelope.label();
    let facts = Facts::of(label);
    let d = decide(
        &facts,
        &shared.catalog,
        Way::Submission {
            client: caller.clearance,
        },
    );
    if !d.allowed() {
        shared.metrics.refused(d.rule().name());
        let (s, doc_id, rule, reason) = (
            shared.clone(),
            envelope.document_id().to_owned(),
            d.rule().name(),
            d.reason().to_owned(),
        );
        blocking(move || {
            s.audit(Event::policy_refused(
                &s.config.organ,
                None,
                rule,
                &format!("{doc_id}: {reason}"),
            ))
        })
        .await?;
        return Err(Problem::policy(&d, None));
    }
    let effective = d.effective().unwrap_or(Level::TuyetMat);

    // Route every recipient, and decide each way, before anything is stored.
    let mut local = Vec::new();
    let mut forward = Vec::new();
    let mut routes = Vec::new();
    for to in envelope.recipients() {
        let to = to.as_str().to_owned();
        if to == shared.config.organ {
            local.push(to.clone());
            routes.push((to, "local".to_owned()));
            continue;
        }
        let Some(peer) = shared.config.next_hop(&to) else {
            shared.metrics.refused("routing/no-route");
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "routing/no-route",
                format!("no route to {to}"),
            ));
        };
        let d = decide(
            &facts,
            &shared.catalog,
            Way::RelayTo {
                peer: &peer.organ,
                clearance: peer.clearance,
                mtls: true,
            },
        );
        if !d.allowed() {
            shared.metrics.refused(d.rule().name());
            return Err(Problem::policy(&d, Some(&format!("recipient {to}"))));
        }
        forward.push((peer.organ.clone(), to.clone()));
        routes.push((to, peer.organ.clone()));
    }

    // Sign, or verify an office-signed document (never re-signed).
    let already_signed = doc
        .root
        .elements()
        .flat_map(|h| h.elements())
        .any(|e| e.ns.as_deref() == Some(DSIG_NS) && e.local == "Signature");
    let worker = shared.clone();
    let (signed, digest_hex) = blocking(move || -> Result<(Vec<u8>, String), Problem> {
        let bytes = if already_signed {
            body
        } else {
            sign_document(
                &mut doc,
                worker.keys.signer.as_ref(),
                &worker.keys.signing_chain,
            )
            .map_err(|e| Problem::internal("signing", e))?;
            write_document(&doc)
        };
        // Verify what will be sent, exactly as a peer will: a bad office signature or a
        // misconfigured key is refused here, before anything is queued.
        let verified = verify(&bytes, &worker.trust(), &VerifyOptions::now()).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "signature/refused",
                e.to_string(),
            )
        })?;
        let digest = hex(verified.digest());
        Ok((bytes, digest))
    })
    .await??;

    let id = MessageId::random().map_err(|e| Problem::internal("message id", e))?;
    let meta = MessageMeta {
        id,
        document_id: envelope.document_id().to_owned(),
        from: from.clone(),
        to: envelope
            .recipients()
            .map(|o| o.as_str().to_owned())
            .collect(),
        priority: envelope.priority().code(),
        level: effective.token().to_owned(),
        digest_hex,
        size: u64::try_from(signed.len()).unwrap_or(u64::MAX),
        received_at_ms: now_ms(),
        origin: Origin::Submitted,
        hops: Vec::new(),
    };
    let accept = Accept {
        meta,
        bytes: signed,
        local: local.clone(),
        forward: forward.clone(),
    };
    // The due date, the label for later paths and (rule 6) the public index entry, written
    // with the message.
    let prepared = super::filing::prepare(
        &shared.catalog,
        &envelope,
        id,
        accept.meta.received_at_ms,
        true,
    );
    let published = prepared.filed.public.is_some();
    let store = shared.clone();
    let (mid, did) = (id.to_string(), envelope.document_id().to_owned());
    let outcome = blocking(move || {
        let r = store.store.accept_filed(accept, prepared.filed);
        if matches!(r, Ok(AcceptOutcome::Stored)) {
            store.audit(Event::submission_accepted(&from_organ, &mid, &did));
            if published {
                store.audit(Event::published(&from_organ, &mid, &did));
            }
        }
        r
    })
    .await?;
    match outcome {
        Ok(AcceptOutcome::Stored) => {}
        Ok(other) => {
            return Err(Problem::internal(
                "accept",
                format!("a fresh message id was already stored: {other:?}"),
            ));
        }
        Err(StoreError::OutboxFull { peer, depth }) => {
            shared.metrics.refused("store/outbox-full");
            return Err(Problem::unavailable(
                "store/outbox-full",
                format!("the outbox towards {peer} holds {depth} documents; try again later"),
                30,
            ));
        }
        Err(e) => return Err(Problem::internal("accept", e)),
    }
    shared
        .metrics
        .submitted
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for (peer, _) in &forward {
        shared.wake_peer(peer);
    }
    if !local.is_empty() {
        shared.inbox_grew();
    }
    tracing::info!(message = %id, document = %envelope.document_id(), level = effective.token(), "submission accepted");
    Ok(Submitted {
        message_id: id.to_string(),
        document_id: envelope.document_id().to_owned(),
        level: effective.token().to_owned(),
        routes,
    })
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
