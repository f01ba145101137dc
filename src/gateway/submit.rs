//! An office submits a document: parse, check the sender, decide, route each recipient, sign
//! (or verify an office-signed document, never re-signing it), store durably, answer.
//!
//! Nothing is stored unless every recipient's way is allowed: a submission is accepted whole or
//! refused whole, so an office never has to guess which recipients got it.

use std::sync::Arc;

use super::caller::Caller;
use super::error::{Internal, PolicyRefusal};
use super::intake::{Intake, Unread};
use super::recall::{RecallError, RecallRequest, Recalled};
use super::{Shared, blocking};
use crate::audit::Event;
use crate::doc::envelope::Envelope;
use crate::doc::label::Level;
use crate::doc::tree::Document;
use crate::policy::{Facts, Way, decide};
use crate::sign::{VerifyOptions, sign_document, verify};
use crate::store::{Accept, AcceptOutcome, MessageId, OrganId, Origin, StoreError};

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

/// Why a submission was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The bytes are not an edXML envelope lienthong accepts.
    #[error("{0}")]
    Envelope(String),
    /// A document without a label (the field form: edXML as the platform's SDKs write it)
    /// from a client whose config gives no `external_default_level`.
    #[error(
        "the document carries no classification label and client {client} has no \
         external_default_level: refused, never taken as unclassified"
    )]
    Unlabelled {
        /// The client's name.
        client: String,
    },
    /// An SDK recall (`BussinessDocType` 1) of a `DocumentId` this office has not sent
    /// through this gateway.
    #[error("nothing sent by this office has DocumentId {document_id:?}: no recall")]
    RecallUnknown {
        /// The `DocumentId` named.
        document_id: String,
    },
    /// The client acts for another organ than the envelope's `From`.
    #[error("client {client} acts for {acts_for}, not for the From organ {from}")]
    NotCallersOrgan {
        /// The client's name.
        client: String,
        /// The organ it acts for.
        acts_for: String,
        /// The envelope's `From`.
        from: String,
    },
    /// The envelope's `From` is not this gateway's organ.
    #[error("this gateway signs for {gateway}, not for {from}")]
    NotThisGateway {
        /// This gateway's organ.
        gateway: String,
        /// The envelope's `From`.
        from: String,
    },
    /// `decide()` refused the submission or the way to one recipient.
    #[error("{0}")]
    Policy(PolicyRefusal),
    /// No configured route reaches a recipient.
    #[error("no route to {to}")]
    NoRoute {
        /// The recipient.
        to: String,
    },
    /// The signature (the office's, or ours as a peer will check it) does not verify.
    #[error("{0}")]
    Signature(String),
    /// A `mat` document cannot be sealed for a recipient (no valid encryption certificate), or
    /// an office submitted one already sealed.
    #[error("{0}")]
    Sealing(super::sealing::SealingError),
    /// The outbox towards a peer is full: try again later.
    #[error("the outbox towards {peer} holds {depth} documents; try again later")]
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

impl SubmitError {
    /// The stable name of the refusal (the metrics label and the problem type).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Envelope(_) => "envelope/invalid",
            Self::Unlabelled { .. } => "label/missing",
            Self::RecallUnknown { .. } => "recall/unknown-document",
            Self::NotCallersOrgan { .. } => "auth/wrong-organ",
            Self::NotThisGateway { .. } => "auth/wrong-gateway",
            Self::Policy(p) => p.rule(),
            Self::NoRoute { .. } => "routing/no-route",
            Self::Signature(_) => "signature/refused",
            Self::OutboxFull { .. } => "store/outbox-full",
            Self::Sealing(e) => e.name(),
            Self::Internal(i) => i.name(),
        }
    }
}

/// Where a submission's recipients go: here, or to a peer (next hop, final recipient).
struct Routes {
    local: Vec<OrganId>,
    forward: Vec<(OrganId, OrganId)>,
    /// For the answer: recipient and `local` or the next hop.
    answer: Vec<(String, String)>,
}

/// The DSig namespace, to tell signed submissions from unsigned ones.
const DSIG_NS: &str = crate::sign::dsig::DSIG_NS;

/// What a submission did; serialised as the answer itself (`Submitted` or `Recalled`).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// A document was accepted.
    Accepted(Submitted),
    /// The document was the SDKs' recall of one sent before (`BussinessDocType` 1): the
    /// recall was requested, as `POST /api/v1/documents/{id}/recall` does.
    Recalled(Recalled),
}

impl Outcome {
    /// The message the answer is about (the new document, or the one recalled).
    pub fn message_id(&self) -> &str {
        match self {
            Self::Accepted(s) => &s.message_id,
            Self::Recalled(r) => &r.message_id,
        }
    }
}

/// Handles one submission: parse → authorise → decide → route → sign → accept (or, for an
/// SDK recall, the recall of the document it names).
pub async fn submit(
    shared: Arc<Shared>,
    caller: Caller,
    body: Vec<u8>,
) -> Result<Outcome, SubmitError> {
    let r = submit_steps(&shared, &caller, body).await;
    if let Err(e) = &r {
        if !matches!(e, SubmitError::Internal(i) if i.fault.is_none()) {
            shared.metrics.refused(e.name());
        }
    }
    r
}

async fn submit_steps(
    shared: &Arc<Shared>,
    caller: &Caller,
    body: Vec<u8>,
) -> Result<Outcome, SubmitError> {
    shared.room_for_documents()?;
    let label = caller.external_default.clone();
    let intake = blocking(move || super::intake::read(body, label))
        .await?
        .map_err(|e| match e {
            Unread::Envelope(e) => SubmitError::Envelope(e.to_string()),
            Unread::Unlabelled => SubmitError::Unlabelled {
                client: caller.name.clone(),
            },
        })?;
    match intake {
        Intake::Document {
            doc,
            envelope,
            bytes,
            assigned,
        } => accept_document(shared, caller, doc, *envelope, bytes, assigned)
            .await
            .map(Outcome::Accepted),
        Intake::Recall {
            from,
            document_id,
            reason,
        } => {
            if from != caller.organ {
                return Err(SubmitError::NotCallersOrgan {
                    client: caller.name.clone(),
                    acts_for: caller.organ.to_string(),
                    from: from.to_string(),
                });
            }
            recall_named(shared, caller, document_id, reason)
                .await
                .map(Outcome::Recalled)
        }
    }
}

/// An SDK recall: the caller's own document with that `DocumentId`, recalled.
async fn recall_named(
    shared: &Arc<Shared>,
    caller: &Caller,
    document_id: String,
    reason: Option<String>,
) -> Result<Recalled, SubmitError> {
    let not_found = || SubmitError::RecallUnknown {
        document_id: document_id.clone(),
    };
    let id = super::intake::find_sent(shared, &caller.organ, &document_id)
        .await?
        .ok_or_else(not_found)?;
    let request = RecallRequest {
        note: reason.map(|r| r.chars().take(super::status::MAX_NOTE_CHARS).collect()),
    };
    super::recall::recall(shared, caller, id, request)
        .await
        .map_err(|e| match e {
            RecallError::NotFound => not_found(),
            RecallError::Internal(i) => SubmitError::Internal(i),
            other => SubmitError::Envelope(other.to_string()),
        })
}

/// A document read from the submission: authorise → decide → route → sign → accept.
async fn accept_document(
    shared: &Arc<Shared>,
    caller: &Caller,
    doc: Document,
    envelope: Envelope,
    body: Vec<u8>,
    assigned: bool,
) -> Result<Submitted, SubmitError> {
    authorise(shared, caller, &envelope)?;
    let facts = Facts::of(envelope.label());
    let effective = decide_submission(shared, caller, &facts, &envelope).await?;
    let routes = route(shared, &facts, &envelope)?;
    let seal_for = sealing_recipients(shared, &envelope, effective)?;
    let (signed, digest_hex) = sign_and_check(shared, doc, body).await?;
    let (signed, digest_hex) = match seal_for {
        Some(recipients) => seal_and_sign(shared, &envelope, signed, recipients).await?,
        None => (signed, digest_hex),
    };
    let id = MessageId::random().map_err(|e| Internal::new("message id", e))?;
    let meta = super::filing::message_meta(
        &envelope,
        id,
        effective,
        digest_hex,
        signed.len(),
        Origin::Submitted,
        Vec::new(),
    );
    let accept = Accept {
        meta,
        bytes: signed,
        local: routes.local.clone(),
        forward: routes.forward.clone(),
    };
    accept_durably(shared, &envelope, accept, assigned.then_some(caller)).await?;
    announce(shared, &routes);
    tracing::info!(message = %id, document = %envelope.document_id(), level = effective.token(), "submission accepted");
    Ok(Submitted {
        message_id: id.to_string(),
        document_id: envelope.document_id().to_owned(),
        level: effective.token().to_owned(),
        routes: routes.answer,
    })
}

/// The From organ must be the caller's, and this gateway signs only for its own organ.
fn authorise(shared: &Shared, caller: &Caller, envelope: &Envelope) -> Result<(), SubmitError> {
    let from = envelope.header.from.organ_id.as_str();
    if from != caller.organ {
        return Err(SubmitError::NotCallersOrgan {
            client: caller.name.clone(),
            acts_for: caller.organ.to_string(),
            from: from.to_owned(),
        });
    }
    if from != shared.config.organ {
        return Err(SubmitError::NotThisGateway {
            gateway: shared.config.organ.to_string(),
            from: from.to_owned(),
        });
    }
    Ok(())
}

/// `decide()` on the submission way; a refusal is audited (rule and reason, never the subject).
async fn decide_submission(
    shared: &Arc<Shared>,
    caller: &Caller,
    facts: &Facts<'_>,
    envelope: &Envelope,
) -> Result<Level, SubmitError> {
    let d = decide(
        facts,
        &shared.catalog,
        Way::Submission {
            client: caller.clearance,
        },
    );
    if d.allowed() {
        return Ok(d.effective().unwrap_or(Level::TuyetMat));
    }
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
    Err(SubmitError::Policy(PolicyRefusal::of(d)))
}

/// Routes every recipient, and decides each way, before anything is stored.
fn route(shared: &Shared, facts: &Facts<'_>, envelope: &Envelope) -> Result<Routes, SubmitError> {
    let mut routes = Routes {
        local: Vec::new(),
        forward: Vec::new(),
        answer: Vec::new(),
    };
    for to in envelope.recipients() {
        if *to == shared.config.organ {
            routes.local.push(to.clone());
            routes.answer.push((to.to_string(), "local".to_owned()));
            continue;
        }
        let Some(peer) = shared.config.next_hop(to) else {
            return Err(SubmitError::NoRoute { to: to.to_string() });
        };
        let d = decide(
            facts,
            &shared.catalog,
            Way::RelayTo {
                peer: &peer.organ,
                clearance: peer.clearance,
                mtls: true,
            },
        );
        if !d.allowed() {
            return Err(SubmitError::Policy(PolicyRefusal::at(
                d,
                format!("recipient {to}"),
            )));
        }
        routes.forward.push((peer.organ.clone(), to.clone()));
        routes.answer.push((to.to_string(), peer.organ.to_string()));
    }
    Ok(routes)
}

/// Whom a submission of effective level `mat` is sealed for — each recipient organ and this one (the sender's copy,
/// for the sent list and recall) — checked before anything is signed or stored; `None` for the
/// other levels. An office never submits a sealed body: the gateway seals.
fn sealing_recipients(
    shared: &Shared,
    envelope: &Envelope,
    effective: Level,
) -> Result<Option<Vec<crate::seal::Recipient>>, SubmitError> {
    if envelope.body.sealed.is_some() {
        return Err(SubmitError::Sealing(
            super::sealing::SealingError::SubmittedSealed,
        ));
    }
    if effective != super::sealing::SEALED_LEVEL {
        return Ok(None);
    }
    let mut organs: Vec<&str> = envelope.recipients().map(|o| o.as_str()).collect();
    organs.push(&shared.config.organ);
    organs.sort_unstable();
    organs.dedup();
    let directory = shared.directory();
    organs
        .into_iter()
        .map(|o| directory.recipient(o).cloned())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(SubmitError::Sealing)
}

/// Seals the signed `inner` document for `recipients` and signs the outer envelope
/// (`sealing`); returns the outer bytes, verified as a peer will, and their digest. The inner
/// bytes are zeroized.
async fn seal_and_sign(
    shared: &Arc<Shared>,
    envelope: &Envelope,
    inner: Vec<u8>,
    recipients: Vec<crate::seal::Recipient>,
) -> Result<(Vec<u8>, String), SubmitError> {
    let inner = zeroize::Zeroizing::new(inner);
    let (worker, envelope) = (shared.clone(), envelope.clone());
    blocking(move || -> Result<(Vec<u8>, String), SubmitError> {
        let transport = worker.config.encryption.key_transport.transport();
        let outer = super::sealing::seal_envelope(&envelope, &inner, &recipients, transport)
            .map_err(SubmitError::Sealing)?;
        let mut doc = outer.to_document();
        sign_document(
            &mut doc,
            worker.keys.signer.as_ref(),
            &worker.keys.signing_chain,
        )
        .map_err(|e| Internal::new("signing the sealed envelope", e))?;
        let bytes = crate::doc::write::write_document(&doc);
        let verified = verify(&bytes, &worker.trust(), &VerifyOptions::now())
            .map_err(|e| SubmitError::Signature(e.to_string()))?;
        Ok((bytes, hex(verified.digest())))
    })
    .await?
}

/// Signs, or keeps an office-signed document as it is (never re-signed); then verifies what
/// will be sent exactly as a peer will, so a bad office signature or a misconfigured key is
/// refused here, before anything is queued. Returns the bytes and their digest (hex).
async fn sign_and_check(
    shared: &Arc<Shared>,
    mut doc: Document,
    body: Vec<u8>,
) -> Result<(Vec<u8>, String), SubmitError> {
    let already_signed = doc
        .root
        .elements()
        .flat_map(|h| h.elements())
        .any(|e| e.ns.as_deref() == Some(DSIG_NS) && e.local == "Signature");
    let worker = shared.clone();
    blocking(move || -> Result<(Vec<u8>, String), SubmitError> {
        let bytes = if already_signed {
            body
        } else {
            sign_document(
                &mut doc,
                worker.keys.signer.as_ref(),
                &worker.keys.signing_chain,
            )
            .map_err(|e| Internal::new("signing", e))?;
            crate::doc::write::write_document(&doc)
        };
        let verified = verify(&bytes, &worker.trust(), &VerifyOptions::now())
            .map_err(|e| SubmitError::Signature(e.to_string()))?;
        let digest = hex(verified.digest());
        Ok((bytes, digest))
    })
    .await?
}

/// Files and stores the message in one durable write (its due date, its label for later
/// paths and — rule 6 — its public index entry with it), audited once stored.
async fn accept_durably(
    shared: &Arc<Shared>,
    envelope: &Envelope,
    accept: Accept,
    labelled_by: Option<&Caller>,
) -> Result<(), SubmitError> {
    let id = accept.meta.id;
    let prepared = super::filing::prepare(
        &shared.catalog,
        envelope,
        id,
        accept.meta.received_at_ms,
        true,
    );
    let published = prepared.filed.public.is_some();
    let store = shared.clone();
    let (from, mid, did) = (
        accept.meta.from.clone(),
        id.to_string(),
        envelope.document_id().to_owned(),
    );
    let assigned =
        labelled_by.map(|c| Event::label_assigned(&from, &mid, &did, envelope.label(), &c.name));
    let outcome = blocking(move || {
        let r = store.store.accept_filed(accept, prepared.filed);
        if matches!(r, Ok(AcceptOutcome::Stored)) {
            store.audit(Event::submission_accepted(&from, &mid, &did));
            if let Some(e) = assigned {
                store.audit(e);
            }
            if published {
                store.audit(Event::published(&from, &mid, &did));
            }
        }
        r
    })
    .await?;
    match outcome {
        Ok(AcceptOutcome::Stored) => Ok(()),
        Ok(other) => Err(Internal::new(
            "accept",
            format!("a fresh message id was already stored: {other:?}"),
        )
        .into()),
        Err(StoreError::OutboxFull { peer, depth }) => Err(SubmitError::OutboxFull { peer, depth }),
        Err(e) => Err(Internal::store("accept", &e).into()),
    }
}

/// Counts the submission and wakes who has new work: the relay workers of its next hops, and
/// the long polls when a recipient is here.
fn announce(shared: &Shared, routes: &Routes) {
    shared
        .metrics
        .submitted
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for (peer, _) in &routes.forward {
        shared.wake_peer(peer);
    }
    if !routes.local.is_empty() {
        shared.inbox_grew();
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
