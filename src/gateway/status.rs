//! edXML status messages flowing back to the sender: a receiving system reports 02/04/05/06,
//! an acknowledgement reports 03, and each hop records the event and queues it towards the
//! sender's gateway along the same routes, durably, until the sender's gateway has it.

use std::sync::Arc;

use serde::Deserialize;

use super::error::{Internal, NoteTooLong, PolicyRefusal};
use super::{Shared, blocking, now_ms};
use crate::policy::{Way, decide};
use crate::store::{MessageId, OrganId, StatusCode, StatusEvent, StoreError};

/// Why a status event was refused; nothing was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// No route leads back to the sender's gateway.
    #[error("no route back to {sender}")]
    NoRouteBack {
        /// The document's sender.
        sender: String,
    },
    /// `decide()` refused the link back for the document's level (audited).
    #[error("{0}")]
    Policy(PolicyRefusal),
    /// This gateway holds no such document.
    #[error("no such document")]
    NotFound,
    /// The store refused the event as it stands (e.g. not a status of this document).
    #[error("{0}")]
    Invalid(String),
    /// A code a receiving system may not report.
    #[error(
        "a receiving system reports 02, 04, 05, 06, or 15/16 after a recall request \
         (03 comes with the acknowledgement)"
    )]
    NotReportable,
    /// A refusal (02, 16) without its reason.
    #[error("a refusal ({code}) needs a reason in note")]
    ReasonRequired {
        /// The code.
        code: String,
    },
    /// 15/16 answer a recall request the sender has not made.
    #[error(
        "{code} answers a recall request, and the sender has not asked to recall this document"
    )]
    NoRecall {
        /// The code.
        code: String,
    },
    /// An edXML status message (the SDKs' form) that cannot be read as a report on this
    /// document by this organ.
    #[error("edXML status message: {0}")]
    Edxml(String),
    /// The note is too long.
    #[error(transparent)]
    NoteTooLong(#[from] NoteTooLong),
    /// The gateway failed.
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Codes a receiving system may report itself (03 comes with the acknowledgement; 15 and 16
/// answer a recall request, 13, and only after one).
pub const REPORTABLE: [&str; 6] = ["02", "04", "05", "06", "15", "16"];

/// Answers to a recall request: 15 agreed, 16 refused (QCVN 102:2016 status codes).
const RECALL_ANSWERS: [&str; 2] = ["15", "16"];

/// Longest note, in characters (a refusal reason, not a document).
pub const MAX_NOTE_CHARS: usize = 1000;

/// A status report from a receiving system.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// "02" refused, "04" assigned, "05" in progress, "06" completed.
    pub code: String,
    /// Required for 02 (the reason); optional otherwise.
    #[serde(default)]
    pub note: Option<String>,
}

/// A status message as the platform's SDKs write it (`MessageHeader` with `StatusCode`,
/// docs/EDXML.md) read as a [`Report`] by `reporter` on the document `document_id`: `From` must be
/// the reporter, `ResponseFor/DocumentId` the document, and `Description` becomes the note. The
/// code is then judged as any report's ([`REPORTABLE`]).
pub fn report_from_edxml(
    bytes: &[u8],
    reporter: &OrganId,
    document_id: &str,
) -> Result<Report, StatusError> {
    use crate::doc::envelope::EnvelopeLimits;
    use crate::doc::envelope::field::{FieldMessage, Written, parse_any};
    let bad = |m: String| StatusError::Edxml(m);
    let (_, written) =
        parse_any(bytes, &EnvelopeLimits::default()).map_err(|e| bad(e.to_string()))?;
    let Written::Field(d) = written else {
        return Err(bad(
            "a lienthong envelope is a document, not a status message".into(),
        ));
    };
    let FieldMessage::Status(st) = d.message else {
        return Err(bad(
            "the MessageHeader has no StatusCode: a document, not a status".into(),
        ));
    };
    if st.from.id != *reporter {
        return Err(bad(format!(
            "From is {}, not the reporting organ {reporter}",
            st.from.written
        )));
    }
    if st.response_for.document_id.as_deref() != Some(document_id) {
        return Err(bad(format!(
            "ResponseFor/DocumentId is {:?}, not this document's {document_id:?}",
            st.response_for.document_id.unwrap_or_default()
        )));
    }
    Ok(Report {
        code: st.code,
        note: st.description,
    })
}

/// The peer a status event for `sender`'s document `message` goes to: `None` when the sender
/// is this gateway's own organ; refused when there is no route back, or when the link back is not
/// cleared for the document (refusal audited).
pub async fn route_back(
    shared: &Arc<Shared>,
    message: &MessageId,
    sender: &str,
) -> Result<Option<OrganId>, StatusError> {
    let next =
        if sender == shared.config.organ {
            None
        } else {
            Some(shared.config.next_hop(sender).cloned().ok_or_else(|| {
                StatusError::NoRouteBack {
                    sender: sender.to_owned(),
                }
            })?)
        };
    // The status relay is a way out too: `decide` on the link it takes (rule 4). A status
    // carries no content, but its note and its very existence belong to the document's level.
    if let Some(peer) = &next {
        let s = shared.clone();
        let id = *message;
        let filing = blocking(move || s.store.filing(&id))
            .await?
            .map_err(|e| Internal::store("filing", &e))?;
        let unlabelled = crate::policy::Facts {
            level: None,
            procedure: None,
            public: false,
            recorded: None,
        };
        let facts = filing.as_ref().map_or(unlabelled, super::filing::facts);
        let d = decide(
            &facts,
            &shared.catalog,
            Way::StatusRelay {
                clearance: peer.clearance,
            },
        );
        if !d.allowed() {
            let (s, mid, rule) = (shared.clone(), id.to_string(), d.rule().name());
            let reason = format!("status relay to {}: {}", peer.organ, d.reason());
            blocking(move || {
                s.audit(crate::audit::Event::policy_refused(
                    &s.config.organ,
                    Some(&mid),
                    rule,
                    &reason,
                ));
            })
            .await?;
            return Err(StatusError::Policy(PolicyRefusal::at(d, "status relay")));
        }
    }
    Ok(next.map(|p| p.organ))
}

/// Records `event` here and queues it towards the sender of its message (unless the sender is
/// this gateway's organ). Durable when it returns Ok.
pub async fn record(
    shared: &Arc<Shared>,
    event: StatusEvent,
    sender: &str,
) -> Result<(), StatusError> {
    let next = route_back(shared, &event.message, sender).await?;
    let s = shared.clone();
    let hops: Vec<OrganId> = next.iter().cloned().collect();
    blocking(move || {
        let audit = crate::audit::Event::status(
            &event.organ,
            &event.message.to_string(),
            event.code.code(),
        );
        let r = s.store.relay_status(event, &hops);
        if r.is_ok() {
            s.audit(audit);
        }
        r
    })
    .await?
    .map_err(|e| match e {
        StoreError::NotFound { .. } => StatusError::NotFound,
        StoreError::Invalid { reason, .. } => StatusError::Invalid(reason.to_owned()),
        other => Internal::store("status", &other).into(),
    })?;
    if let Some(p) = next {
        shared.wake_peer(&p);
    }
    Ok(())
}

/// A receiving system of `organ` reports on message `id` (which it may see).
pub async fn report(
    shared: &Arc<Shared>,
    organ: &OrganId,
    id: MessageId,
    sender: &str,
    report: Report,
) -> Result<StatusEvent, StatusError> {
    if !REPORTABLE.contains(&report.code.as_str()) {
        return Err(StatusError::NotReportable);
    }
    // Every reportable code is an edXML code.
    let code: StatusCode = report
        .code
        .parse()
        .map_err(|_| StatusError::NotReportable)?;
    let note = clean_note(report.note)?;
    if (report.code == "02" || report.code == "16") && note.is_none() {
        return Err(StatusError::ReasonRequired { code: report.code });
    }
    if RECALL_ANSWERS.contains(&report.code.as_str()) {
        let store = shared.store.clone();
        let statuses = blocking(move || store.statuses(&id))
            .await?
            .map_err(|e| Internal::store("status", &e))?;
        if !statuses.iter().any(|s| s.is_recall_by(sender)) {
            return Err(StatusError::NoRecall { code: report.code });
        }
    }
    let event = StatusEvent {
        message: id,
        organ: organ.clone(),
        code,
        note,
        at_ms: now_ms(),
    };
    record(shared, event.clone(), sender).await?;
    Ok(event)
}

/// A note trimmed, empty as none, and refused over [`MAX_NOTE_CHARS`] characters.
pub(crate) fn clean_note(note: Option<String>) -> Result<Option<String>, NoteTooLong> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(NoteTooLong {
            max: MAX_NOTE_CHARS,
        });
    }
    Ok(note)
}
