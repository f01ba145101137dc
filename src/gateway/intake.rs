//! What a submission's bytes ask for: a document in lienthong's profile as it is; a document in
//! the SDKs' field form (docs/EDXML.md) carried in lienthong's profile with the client's
//! configured label and its original bytes kept whole; or — the SDKs' `BussinessDocType` 1 — the
//! recall of a document the office sent before, named by its `DocumentId`.
//!
//! `BussinessDocType` 2 (update) and 3 (replace) are documents: they are carried as such, the
//! type kept in the envelope for the receiving systems, the replaced documents' ids in the
//! original.

use std::sync::Arc;

use super::Shared;
use super::error::Internal;
use crate::doc::envelope::field::{FieldMessage, Written, parse_any, to_envelope};
use crate::doc::envelope::{Envelope, EnvelopeError, EnvelopeLimits, parse_envelope};
use crate::doc::label::Label;
use crate::doc::tree::Document;
use crate::doc::types::BusinessDocType;
use crate::store::{MessageId, OrganId, Origin};

/// What the submission is.
pub(super) enum Intake {
    /// A document to sign, route and accept.
    Document {
        /// The parsed tree of `bytes`.
        doc: Document,
        /// Its envelope.
        envelope: Box<Envelope>,
        /// The bytes to sign (lienthong's profile).
        bytes: Vec<u8>,
        /// The label was assigned here (a field-form document), not written by the office.
        assigned: bool,
    },
    /// The recall of the document with this `DocumentId`, sent by `from`.
    Recall {
        /// `From` of the recall.
        from: OrganId,
        /// The `DocumentId` it names.
        document_id: String,
        /// `BussinessDocReason`.
        reason: Option<String>,
    },
}

/// Why a submission's bytes could not be read.
pub(super) enum Unread {
    /// Not an envelope lienthong accepts (in either profile).
    Envelope(EnvelopeError),
    /// The field form, and no label to give it.
    Unlabelled,
}

/// Reads the submitted bytes (see the module documentation); `label` is the client's
/// `external_default_level`, if any.
pub(super) fn read(body: Vec<u8>, label: Option<Label>) -> Result<Intake, Unread> {
    let limits = EnvelopeLimits::default();
    let (doc, written) = parse_any(&body, &limits).map_err(Unread::Envelope)?;
    let d = match written {
        Written::Lienthong(env) => {
            return Ok(Intake::Document {
                doc,
                envelope: env,
                bytes: body,
                assigned: false,
            });
        }
        Written::Field(d) => d,
    };
    if let (FieldMessage::Document(h), Some(b)) = (&d.message, &d.business) {
        if b.doc_type == BusinessDocType::Recall {
            let document_id = h.document_id.clone().ok_or_else(|| {
                Unread::Envelope(EnvelopeError::Missing {
                    path: "edXMLEnvelope/edXMLHeader/MessageHeader/DocumentId".to_owned(),
                })
            })?;
            return Ok(Intake::Recall {
                from: h.from.id.clone(),
                document_id,
                reason: b.reason.clone(),
            });
        }
    }
    // A label the document carries (lienthong wrote its field form) is its own; otherwise the
    // client's configured one, or a refusal.
    let (label, assigned) = match d.label.clone() {
        Some(own) => (own, false),
        None => (label.ok_or(Unread::Unlabelled)?, true),
    };
    let carried = to_envelope(&d, &body, label).map_err(Unread::Envelope)?;
    let bytes = carried.to_bytes();
    let (doc, envelope) = parse_envelope(&bytes, &limits).map_err(Unread::Envelope)?;
    Ok(Intake::Document {
        doc,
        envelope: Box::new(envelope),
        bytes,
        assigned,
    })
}

/// Pages of the sent list read while looking for a `DocumentId`.
const SENT_PAGE: usize = 500;

/// The newest document `from` submitted here with `DocumentId` `document_id`.
pub(super) async fn find_sent(
    shared: &Arc<Shared>,
    from: &OrganId,
    document_id: &str,
) -> Result<Option<MessageId>, Internal> {
    let (store, from, wanted) = (shared.store.clone(), from.clone(), document_id.to_owned());
    super::blocking(move || {
        let mut cursor = None;
        let mut found = None;
        loop {
            let (page, next) = store.sent_list(&from, None, None, SENT_PAGE, cursor.as_ref())?;
            for (meta, _) in &page {
                if meta.document_id == wanted && meta.origin == Origin::Submitted {
                    found = Some(meta.id);
                }
            }
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(found),
            }
        }
    })
    .await?
    .map_err(|e: crate::store::StoreError| Internal::store("sent list", &e))
}
