//! A field-form document carried in lienthong's profile: the typed header mapped onto
//! [`Envelope`], the label given by the caller (never read from the document, which has none),
//! the attachments as lienthong attachments, and the **original bytes kept whole** as one more
//! attachment, so that every element the SDK wrote — unknown ones, the written organ ids, its
//! look-alike signature — is signed over and passed on unchanged.

use super::{FieldDocument, FieldMessage, FieldResponseFor};
use crate::doc::envelope::read::{check_content_type, check_file_name};
use crate::doc::envelope::{
    Attachment, Body, Code, DocumentType, Envelope, EnvelopeError, Extensions, MessageHeader,
    Organization, OtherInfo, PromulgationInfo, ResponseFor, compute_document_id,
};
use crate::doc::label::Label;
use crate::doc::types::{BusinessDocType, Priority};

/// The content id of the attachment that holds the original document.
pub const ORIGINAL_CONTENT_ID: &str = "lienthong-original-edxml";

/// Its file name and media type.
const ORIGINAL_NAME: &str = "original.edxml";
const ORIGINAL_TYPE: &str = "application/xml";

/// Maps `d` (read from `original`) onto lienthong's envelope with `label`. A status message is
/// not a document and is refused; so is a document without the promulgation date lienthong's
/// profile requires.
pub fn to_envelope(
    d: &FieldDocument,
    original: &[u8],
    label: Label,
) -> Result<Envelope, EnvelopeError> {
    let FieldMessage::Document(h) = &d.message else {
        return Err(EnvelopeError::UnexpectedElement {
            path: "edXMLEnvelope/edXMLHeader/MessageHeader/StatusCode".to_owned(),
        });
    };
    let organ = |o: &super::FieldOrgan| {
        Organization::new(
            o.id.clone(),
            o.name.clone().unwrap_or_else(|| o.written.clone()),
        )
    };
    let date = h.promulgation_date.ok_or_else(|| EnvelopeError::Missing {
        path: "edXMLEnvelope/edXMLHeader/MessageHeader/PromulgationInfo/PromulgationDate"
            .to_owned(),
    })?;
    let code = Code {
        number: h.code_number.clone(),
        notation: h.code_notation.clone(),
    };
    let document_id = h
        .document_id
        .clone()
        .unwrap_or_else(|| compute_document_id(&h.from.id, date, &code));
    let header = MessageHeader {
        from: organ(&h.from),
        to: h.to.iter().map(organ).collect(),
        code,
        promulgation: PromulgationInfo {
            place: h.place.clone().unwrap_or_default(),
            date,
        },
        document_type: DocumentType {
            kind: h.type_code.clone().unwrap_or_default(),
            name: h.type_name.clone().unwrap_or_default(),
        },
        subject: h.subject.clone(),
        content: h.content.clone().unwrap_or_default(),
        signer: h.signer.clone(),
        due_date: h.due_date,
        to_places: h.to_places.clone(),
        other: OtherInfo::new(h.priority.unwrap_or(Priority::Normal)),
        response_for: h.response_for.iter().filter_map(complete).collect(),
        steering_type: h.steering_type.clone(),
        document_id,
        business_doc_type: d
            .business
            .as_ref()
            .map_or(BusinessDocType::New, |b| b.doc_type),
        ext: Extensions::default(),
    };
    Ok(Envelope {
        header,
        trace: Vec::new(),
        label,
        signature: None,
        header_ext: Extensions::default(),
        body: Body {
            attachments: attachments(d, original)?,
            ext: Extensions::default(),
            sealed: None,
        },
    })
}

/// A `ResponseFor` with every part lienthong's profile requires; others are carried in the
/// original only.
fn complete(r: &FieldResponseFor) -> Option<ResponseFor> {
    Some(ResponseFor {
        organ_id: r.organ.as_ref()?.id.clone(),
        code: r.code.clone()?,
        promulgation_date: r.promulgation_date?,
        document_id: r.document_id.clone()?,
    })
}

/// The parts, then the original document.
fn attachments(d: &FieldDocument, original: &[u8]) -> Result<Vec<Attachment>, EnvelopeError> {
    let mut out = Vec::with_capacity(d.attachments.len() + 1);
    for a in &d.attachments {
        let path = format!("attachment cid:{}", a.content_id);
        if a.content_id == ORIGINAL_CONTENT_ID {
            return Err(EnvelopeError::DuplicateContentId {
                content_id: a.content_id.clone(),
            });
        }
        check_file_name(&a.name, &path)?;
        let content_type = a
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        check_content_type(&content_type, &path)?;
        out.push(Attachment {
            content_id: a.content_id.clone(),
            file_name: a.name.clone(),
            content_type,
            data: a.data.clone(),
        });
    }
    out.push(Attachment {
        content_id: ORIGINAL_CONTENT_ID.to_owned(),
        file_name: ORIGINAL_NAME.to_owned(),
        content_type: ORIGINAL_TYPE.to_owned(),
        data: original.to_vec(),
    });
    Ok(out)
}
