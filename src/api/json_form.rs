//! The JSON form of a submission (`POST /api/v1/documents` with `application/json`): a request
//! representation, turned here into the unsigned edXML envelope that then takes exactly the path
//! of an XML submission (`gateway::submit`). Its refusals name the field.

use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;

use super::problem::Problem;
use crate::doc::envelope::{
    Attachment, Body, Code, DocumentType, Envelope, EnvelopeLimits, MessageHeader, Organization,
    OtherInfo, PromulgationInfo, SignerInfo, compute_document_id,
};
use crate::doc::label::{Label, Level};
use crate::doc::types::{BusinessDocType, EdxmlDate, OrganId, Priority, ProcedureCode};
use crate::gateway::caller::Caller;

/// `POST /api/v1/documents` with `application/json`: the header fields of an edXML envelope and
/// its attachments (base64). The gateway builds the envelope with the envelope writer, then
/// takes exactly the path of an XML submission (`gateway::submit::submit`): the same parse and limits, the
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
    let mut form = read_form(body)?;
    let from = sender(&form, caller)?;
    if form.to.is_empty() {
        return Err(Problem::bad_request(
            "request/json",
            "to: at least one recipient",
        ));
    }
    let priority = Priority::from_code(form.priority)
        .ok_or_else(|| Problem::bad_request("request/json", "priority: 0, 1, 2, 3 or 4"))?;
    let attachments = decode_attachments(std::mem::take(&mut form.attachments), limits)?;
    Ok(envelope(form, from, organ_name, priority, attachments).to_bytes())
}

/// The form, refused with the path of the first field that is wrong.
fn read_form(body: &[u8]) -> Result<SubmitForm, Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let form: SubmitForm = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        Problem::bad_request("request/json", format!("{path}: {}", e.inner()))
    })?;
    de.end()
        .map_err(|e| Problem::bad_request("request/json", e.to_string()))?;
    Ok(form)
}

/// The issuing organ: the caller's; a `from` naming another is refused.
fn sender(form: &SubmitForm, caller: &Caller) -> Result<OrganId, Problem> {
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
    Ok(from_id)
}

fn too_large(detail: String) -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "request/too-large", detail)
}

/// The attachments' bytes, each and together within `limits` (a size that cannot fit is
/// refused before it is decoded).
fn decode_attachments(
    forms: Vec<AttachmentForm>,
    limits: &EnvelopeLimits,
) -> Result<Vec<Attachment>, Problem> {
    if forms.len() > limits.max_attachments {
        return Err(too_large(format!(
            "attachments: {} is over the limit of {}",
            forms.len(),
            limits.max_attachments
        )));
    }
    let mut attachments = Vec::with_capacity(forms.len());
    let mut total = 0usize;
    for (i, a) in forms.into_iter().enumerate() {
        let field = format!("attachments[{i}].data");
        let over = |n: usize| {
            too_large(format!(
                "{field}: {n} bytes is over the limit of {} bytes per attachment",
                limits.max_attachment_bytes
            ))
        };
        // Decoded size is at most 3/4 of the text: refuse before decoding what cannot fit.
        let bound = a.data.len() / 4 * 3;
        if bound > limits.max_attachment_bytes.saturating_add(2) {
            return Err(over(bound));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.data.as_bytes())
            .map_err(|e| Problem::bad_request("request/base64", format!("{field}: {e}")))?;
        if data.len() > limits.max_attachment_bytes {
            return Err(over(data.len()));
        }
        total = total.saturating_add(data.len());
        if total > limits.max_total_attachment_bytes {
            return Err(too_large(format!(
                "attachments: together over the limit of {} bytes",
                limits.max_total_attachment_bytes
            )));
        }
        attachments.push(Attachment {
            content_id: a.content_id.unwrap_or_else(|| format!("att-{}", i + 1)),
            file_name: a.file_name,
            content_type: a.content_type,
            data,
        });
    }
    Ok(attachments)
}

/// The envelope the form describes (defaults: today in Vietnam, no place, no signer).
fn envelope(
    form: SubmitForm,
    from_id: OrganId,
    organ_name: &str,
    priority: Priority,
    attachments: Vec<Attachment>,
) -> Envelope {
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
    Envelope {
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
            sealed: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::doc::envelope::parse_envelope;

    fn caller() -> Caller {
        Caller {
            name: "office".into(),
            organ: "HU.CHAUTHANH".parse().unwrap(),
            roles: vec![Role::Submit],
            clearance: Level::Mat,
            external_default: None,
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
