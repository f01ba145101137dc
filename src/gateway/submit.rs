//! An office submits a document: parse, check the sender, decide, sign (or verify an
//! office-signed document, never re-signing it), route each recipient, store durably, answer.
//!
//! Nothing is stored unless every recipient's way is allowed: a submission is accepted whole or
//! refused whole, so an office never has to guess which recipients got it.

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;

use super::{Shared, blocking, now_ms};
use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::audit::Event;
use crate::doc::envelope::{
    Attachment, Body, Code, DocumentType, Envelope, EnvelopeLimits, MessageHeader, Organization,
    OtherInfo, PromulgationInfo, SignerInfo, compute_document_id, parse_envelope,
};
use crate::doc::label::{Label, Level};
use crate::doc::types::{BusinessDocType, EdxmlDate, OrganId, Priority, ProcedureCode};
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

// === the JSON form ===

/// `POST /api/v1/documents` with `application/json`: the header fields of an edXML envelope and
/// its attachments (base64). The gateway builds the envelope with the envelope writer, then
/// takes exactly the path of an XML submission ([`submit`]): the same parse and limits, the
/// same sender check, the same `decide`, signing and durable write. Unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitForm {
    /// The issuing organ; optional, and when given it must be the caller's organ.
    #[serde(default)]
    pub from: Option<OrganId>,
    /// The issuing organ's name (default: the gateway's `organ_name`).
    #[serde(default)]
    pub from_name: Option<String>,
    /// Recipients, at least one.
    pub to: Vec<RecipientForm>,
    /// Số and ký hiệu.
    pub code: CodeForm,
    /// Trích yếu.
    pub subject: String,
    /// Body text.
    #[serde(default)]
    pub content: String,
    /// Loại văn bản.
    pub document_type: DocumentTypeForm,
    /// Place and date of issue (default: no place, today in Vietnam).
    #[serde(default)]
    pub promulgation: Option<PromulgationForm>,
    /// Who signs the paper original (thẩm quyền, chức vụ, họ tên).
    #[serde(default)]
    pub signer: Option<SignerForm>,
    /// Hạn xử lý, `yyyy/MM/dd`.
    #[serde(default)]
    pub due_date: Option<EdxmlDate>,
    /// Nơi nhận as printed.
    #[serde(default)]
    pub to_places: Vec<String>,
    /// 0 Thường … 4 Hỏa tốc hẹn giờ.
    #[serde(default)]
    pub priority: u8,
    /// Chỉ đạo (free text).
    #[serde(default)]
    pub steering_type: Option<String>,
    /// lienthong's classification label.
    pub label: LabelForm,
    /// Attachments, in order.
    #[serde(default)]
    pub attachments: Vec<AttachmentForm>,
}

/// One recipient.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientForm {
    /// Organ id.
    pub organ_id: OrganId,
    /// Organ name (default: the id).
    #[serde(default)]
    pub organ_name: Option<String>,
}

/// `Code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    /// `CodeNumber` (số).
    pub number: String,
    /// `CodeNotation` (ký hiệu), e.g. `NQ/ĐUK`.
    pub notation: String,
}

/// `DocumentType`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentTypeForm {
    /// `Type`, e.g. `NQ`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `TypeName`, e.g. `Nghị quyết`.
    pub name: String,
}

/// `PromulgationInfo`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromulgationForm {
    /// `Place`.
    #[serde(default)]
    pub place: String,
    /// `PromulgationDate` (default: today in Vietnam).
    #[serde(default)]
    pub date: Option<EdxmlDate>,
}

/// `SignerInfo`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerForm {
    /// `Competence`.
    #[serde(default)]
    pub competence: String,
    /// `Position`.
    #[serde(default)]
    pub position: String,
    /// `FullName`.
    #[serde(default)]
    pub full_name: String,
}

/// The classification label.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelForm {
    /// `thuong`, `mat`, `toi-mat` or `tuyet-mat`: required, never defaulted (a missing label is
    /// never taken as unclassified).
    pub level: Level,
    /// Procedure code, e.g. `VB-01`.
    pub procedure: ProcedureCode,
    /// For the public portal (only ever for unclassified documents of public procedures).
    #[serde(default)]
    pub public: bool,
}

/// One attachment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentForm {
    /// `ContentId` (default `att-N`, N from 1).
    #[serde(default)]
    pub content_id: Option<String>,
    /// File name, without a path.
    pub file_name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes, base64 (RFC 4648 §4, padded).
    pub data: String,
}

/// Builds the unsigned envelope bytes of a JSON submission by `caller` at a gateway whose organ
/// is named `organ_name`. Refusals name the field: 400 `request/json` (syntax, type, unknown
/// field, bad value), 400 `request/base64`, 413 `request/too-large` for an attachment over
/// [`EnvelopeLimits`]; 403 for a `from` other than the caller's organ.
pub fn envelope_from_json(
    body: &[u8],
    caller: &Caller,
    organ_name: &str,
    limits: &EnvelopeLimits,
) -> Result<Vec<u8>, Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let form: SubmitForm = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        Problem::bad_request("request/json", format!("{path}: {}", e.inner()))
    })?;
    de.end()
        .map_err(|e| Problem::bad_request("request/json", e.to_string()))?;

    let from_id: OrganId = caller.organ.parse().map_err(|_| {
        Problem::forbidden(format!(
            "client {} acts for {}, which is not an organ id",
            caller.name, caller.organ
        ))
    })?;
    if let Some(f) = &form.from {
        if f != &from_id {
            return Err(Problem::forbidden(format!(
                "client {} acts for {}, not for the From organ {f}",
                caller.name, caller.organ
            )));
        }
    }
    if form.to.is_empty() {
        return Err(Problem::bad_request(
            "request/json",
            "to: at least one recipient",
        ));
    }
    let priority = Priority::from_code(form.priority)
        .ok_or_else(|| Problem::bad_request("request/json", "priority: 0, 1, 2, 3 or 4"))?;
    if form.attachments.len() > limits.max_attachments {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request/too-large",
            format!(
                "attachments: {} is over the limit of {}",
                form.attachments.len(),
                limits.max_attachments
            ),
        ));
    }
    let mut attachments = Vec::with_capacity(form.attachments.len());
    let mut total = 0usize;
    for (i, a) in form.attachments.into_iter().enumerate() {
        let field = format!("attachments[{i}].data");
        // Decoded size is at most 3/4 of the text: refuse before decoding what cannot fit.
        let bound = a.data.len() / 4 * 3;
        let too_large = |n: usize| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request/too-large",
                format!(
                    "{field}: {n} bytes is over the limit of {} bytes per attachment",
                    limits.max_attachment_bytes
                ),
            )
        };
        if bound > limits.max_attachment_bytes.saturating_add(2) {
            return Err(too_large(bound));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.data.as_bytes())
            .map_err(|e| Problem::bad_request("request/base64", format!("{field}: {e}")))?;
        if data.len() > limits.max_attachment_bytes {
            return Err(too_large(data.len()));
        }
        total = total.saturating_add(data.len());
        if total > limits.max_total_attachment_bytes {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request/too-large",
                format!(
                    "attachments: together over the limit of {} bytes",
                    limits.max_total_attachment_bytes
                ),
            ));
        }
        attachments.push(Attachment {
            content_id: a.content_id.unwrap_or_else(|| format!("att-{}", i + 1)),
            file_name: a.file_name,
            content_type: a.content_type,
            data,
        });
    }

    let today = EdxmlDate(
        time::OffsetDateTime::now_utc()
            .to_offset(time::macros::offset!(+7))
            .date(),
    );
    let (place, date) = match form.promulgation {
        Some(p) => (p.place, p.date.unwrap_or(today)),
        None => (String::new(), today),
    };
    let code = Code {
        number: form.code.number,
        notation: form.code.notation,
    };
    let signer = form.signer.map_or_else(
        || SignerInfo {
            competence: String::new(),
            position: String::new(),
            full_name: String::new(),
        },
        |s| SignerInfo {
            competence: s.competence,
            position: s.position,
            full_name: s.full_name,
        },
    );
    let env = Envelope {
        header: MessageHeader {
            document_id: compute_document_id(&from_id, date, &code),
            from: Organization::new(
                from_id,
                form.from_name.unwrap_or_else(|| organ_name.to_owned()),
            ),
            to: form
                .to
                .into_iter()
                .map(|r| {
                    let name = r.organ_name.unwrap_or_else(|| r.organ_id.to_string());
                    Organization::new(r.organ_id, name)
                })
                .collect(),
            code,
            promulgation: PromulgationInfo { place, date },
            document_type: DocumentType {
                kind: form.document_type.kind,
                name: form.document_type.name,
            },
            subject: form.subject,
            content: form.content,
            signer,
            due_date: form.due_date,
            to_places: form.to_places,
            other: OtherInfo::new(priority),
            response_for: Vec::new(),
            steering_type: form.steering_type,
            business_doc_type: BusinessDocType::New,
            ext: Default::default(),
        },
        // Trace headers are added by each gateway as the document passes it.
        trace: Vec::new(),
        label: Label {
            level: form.label.level,
            procedure: form.label.procedure,
            public: form.label.public,
        },
        signature: None,
        header_ext: Default::default(),
        body: Body {
            attachments,
            ext: Default::default(),
        },
    };
    Ok(env.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    fn caller() -> Caller {
        Caller {
            name: "office".into(),
            organ: "HU.CHAUTHANH".into(),
            roles: vec![Role::Submit],
            clearance: Level::Mat,
        }
    }

    fn form(attachments: serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "to": [{"organ_id": "TU.BENTRE"}],
            "code": {"number": "1", "notation": "CV/HU"},
            "subject": "s",
            "document_type": {"type": "CV", "name": "Công văn"},
            "label": {"level": "thuong", "procedure": "VB-01"},
            "attachments": attachments,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_form_builds_an_envelope_the_parser_accepts() {
        let att = serde_json::json!([{"file_name": "a.txt", "content_type": "text/plain", "data": "aGk="}]);
        let bytes =
            envelope_from_json(&form(att), &caller(), "VP", &EnvelopeLimits::default()).unwrap();
        let (_, env) = parse_envelope(&bytes, &EnvelopeLimits::default()).unwrap();
        assert_eq!(env.sender().as_str(), "HU.CHAUTHANH");
        assert_eq!(env.header.from.organ_name, "VP");
        assert_eq!(env.header.to[0].organ_name, "TU.BENTRE");
        assert_eq!(env.body.attachments[0].data, b"hi");
        assert!(env.header.signer.full_name.is_empty());
    }

    #[test]
    fn an_attachment_over_the_limit_is_413_naming_it() {
        let limits = EnvelopeLimits {
            max_attachment_bytes: 4,
            ..EnvelopeLimits::default()
        };
        let att = serde_json::json!([
            {"file_name": "a", "content_type": "text/plain", "data": "aGk="},
            {"file_name": "b", "content_type": "text/plain", "data": "aGVsbG8gd29ybGQ="}
        ]);
        let p = envelope_from_json(&form(att), &caller(), "VP", &limits).unwrap_err();
        assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(p.kind, "request/too-large");
        assert!(p.detail.starts_with("attachments[1].data"), "{}", p.detail);
        // At the limit (4 bytes): accepted.
        let att = serde_json::json!([{"file_name": "a", "content_type": "text/plain", "data": "aGk/IQ=="}]);
        assert!(envelope_from_json(&form(att), &caller(), "VP", &limits).is_ok());
    }

    #[test]
    fn together_over_the_total_limit_is_413() {
        let limits = EnvelopeLimits {
            max_total_attachment_bytes: 5,
            ..EnvelopeLimits::default()
        };
        let att = serde_json::json!([
            {"file_name": "a", "content_type": "text/plain", "data": "aGk/"},
            {"file_name": "b", "content_type": "text/plain", "data": "aGk/"}
        ]);
        let p = envelope_from_json(&form(att), &caller(), "VP", &limits).unwrap_err();
        assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(p.detail.starts_with("attachments:"), "{}", p.detail);
    }

    #[test]
    fn bad_base64_names_the_field() {
        let att =
            serde_json::json!([{"file_name": "a", "content_type": "text/plain", "data": "a b"}]);
        let p = envelope_from_json(&form(att), &caller(), "VP", &EnvelopeLimits::default())
            .unwrap_err();
        assert_eq!(p.kind, "request/base64");
        assert!(p.detail.starts_with("attachments[0].data:"), "{}", p.detail);
    }
}
