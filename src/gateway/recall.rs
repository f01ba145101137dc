//! An office recalls a document it sent: edXML status 13 "yêu cầu lấy lại" (the request that
//! QCVN 102:2016 carries as `BussinessDocType` 1, recall). Unlike the reports of
//! [`super::status`], which travel back towards the sender, a recall request travels forwards,
//! hop by hop along the routes the document took, to every recipient's gateway, where the
//! inbox shows the document as recalled and the receiving system answers 15 (agreed) or
//! 16 (refused) like any other status.
//!
//! The request is recorded once (idempotent) and made durable before the office gets its 202.
//! A hop whose copy of the document is still queued does not get the request before the
//! document itself (the relay worker defers it: [`waits_for_document`]), so a recall never
//! overtakes what it recalls and is never dropped as "unknown document" on the way.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::error::{Internal, NoteTooLong};
use super::{Shared, blocking, now_ms, rfc3339_ms};
use crate::store::{
    Delivery, MessageId, MessageMeta, OrganId, Origin, StatusCode, StatusEvent, StoreError,
};

/// The edXML status code of a recall request.
pub const RECALL_CODE: StatusCode = StatusCode::RecallRequested;

/// The body of `POST /api/v1/documents/{id}/recall` (optional: an empty body is no note).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallRequest {
    /// Why the office recalls the document (shown to the recipients).
    #[serde(default)]
    pub note: Option<String>,
}

/// What the office gets back.
#[derive(Debug, Serialize)]
pub struct Recalled {
    /// The gateway's message id.
    pub message_id: String,
    /// The edXML document id.
    pub document_id: String,
    /// Always "13".
    pub code: &'static str,
    /// When the recall was first requested (RFC 3339).
    pub requested_at: String,
    /// True when this call found the recall already requested (nothing new was written).
    pub already_requested: bool,
    /// The peer gateways the request is queued for (empty when every recipient is local).
    pub relayed_to: Vec<OrganId>,
}

/// The next hops of a message's recipients from this gateway: where the document went or is
/// going. Local recipients need no hop; a dead-lettered copy never arrived anywhere.
pub fn downstream_hops<'a>(deliveries: impl IntoIterator<Item = &'a Delivery>) -> Vec<OrganId> {
    let mut hops: Vec<OrganId> = deliveries
        .into_iter()
        .filter_map(|d| match d {
            Delivery::Queued { next_hop } | Delivery::InTransit { next_hop, .. } => {
                Some(next_hop.clone())
            }
            Delivery::Delivered { via, .. } => Some(via.clone()),
            Delivery::DeadLettered { .. } | Delivery::Local => None,
        })
        .collect();
    hops.sort();
    hops.dedup();
    hops
}

/// Why a recall was refused; nothing was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecallError {
    /// No such document of the caller's organ (another organ's answers the same: no leak).
    #[error("no such document")]
    NotFound,
    /// A relayed recall that did not come from the sender by the way the document came.
    #[error("a recall of message {id} comes only from its sender {sender} by the way it came")]
    NotFromSender {
        /// The message.
        id: MessageId,
        /// Its sender.
        sender: String,
    },
    /// The note is too long.
    #[error(transparent)]
    NoteTooLong(#[from] NoteTooLong),
    /// The gateway failed.
    #[error(transparent)]
    Internal(#[from] Internal),
}

fn store_error(e: StoreError) -> RecallError {
    match e {
        StoreError::NotFound { .. } => RecallError::NotFound,
        other => Internal::store("recall", &other).into(),
    }
}

/// The office of `caller` recalls message `id`. Only the submitting organ's own documents are
/// found: another organ's document answers 404 exactly like a missing one (no existence leak).
pub async fn recall(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: MessageId,
    request: RecallRequest,
) -> Result<Recalled, RecallError> {
    let note = super::status::clean_note(request.note)?;
    let store = shared.store.clone();
    let (item, statuses) =
        blocking(move || Ok::<_, StoreError>((store.message(&id)?, store.statuses(&id)?)))
            .await?
            .map_err(store_error)?;
    let Some((meta, deliveries)) =
        item.filter(|(m, _)| m.from == caller.organ && m.origin == Origin::Submitted)
    else {
        return Err(RecallError::NotFound);
    };
    let hops = downstream_hops(deliveries.iter().map(|(_, d)| d));
    if let Some(first) = recall_of(&statuses, &caller.organ) {
        return Ok(Recalled {
            message_id: id.to_string(),
            document_id: meta.document_id,
            code: RECALL_CODE.code(),
            requested_at: rfc3339_ms(first.at_ms),
            already_requested: true,
            relayed_to: hops,
        });
    }
    let event = StatusEvent {
        message: id,
        organ: caller.organ.clone(),
        code: RECALL_CODE,
        note,
        at_ms: now_ms(),
    };
    let at_ms = event.at_ms;
    write(shared, event, hops.clone()).await?;
    tracing::info!(message = %id, hops = hops.len(), "recall requested");
    Ok(Recalled {
        message_id: id.to_string(),
        document_id: meta.document_id,
        code: RECALL_CODE.code(),
        requested_at: rfc3339_ms(at_ms),
        already_requested: false,
        relayed_to: hops,
    })
}

/// A peer relays a recall request for a message this gateway holds. It must come the way the
/// document came (from the peer that delivered it here) and name the document's sender: a
/// recall never travels against the document, and no organ recalls another's document.
pub async fn relayed(
    shared: &Arc<Shared>,
    peer: &str,
    event: StatusEvent,
    meta: &MessageMeta,
    deliveries: &[(OrganId, Delivery)],
) -> Result<(), RecallError> {
    let came_from_peer = matches!(&meta.origin, Origin::Relayed { from_peer } if from_peer == peer);
    if !came_from_peer || event.organ != meta.from {
        return Err(RecallError::NotFromSender {
            id: meta.id,
            sender: meta.from.to_string(),
        });
    }
    let hops = downstream_hops(deliveries.iter().map(|(_, d)| d));
    write(shared, event, hops).await
}

/// Records the event and queues it for `hops`, durably; audits and wakes the workers.
async fn write(
    shared: &Arc<Shared>,
    event: StatusEvent,
    hops: Vec<OrganId>,
) -> Result<(), RecallError> {
    let s = shared.clone();
    let wake = hops.clone();
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
    .map_err(store_error)?;
    for p in &wake {
        shared.wake_peer(p);
    }
    // Long polls show the recalled flag: let them look again.
    shared.inbox_grew();
    Ok(())
}

/// True when `event` is a recall request and its document is still queued towards `peer`:
/// the relay worker keeps the request until the document itself has been delivered there.
pub async fn waits_for_document(shared: &Arc<Shared>, peer: &str, event: &StatusEvent) -> bool {
    if event.code != RECALL_CODE {
        return false;
    }
    let store = shared.store.clone();
    let id = event.message;
    match blocking(move || store.message(&id)).await {
        Ok(Ok(Some((_, deliveries)))) => deliveries.iter().any(|(_, d)| match d {
            Delivery::Queued { next_hop } | Delivery::InTransit { next_hop, .. } => {
                next_hop == peer
            }
            Delivery::Delivered { .. } | Delivery::DeadLettered { .. } | Delivery::Local => false,
        }),
        // Unreadable now: try again on the next round rather than lose the order.
        _ => true,
    }
}

/// The recall request recorded for a message, if any (for inbox views).
pub fn recall_of<'a>(statuses: &'a [StatusEvent], sender: &str) -> Option<&'a StatusEvent> {
    statuses.iter().find(|s| s.is_recall_by(sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_are_where_the_document_went_once_each() {
        let d = [
            Delivery::Queued {
                next_hop: "TU.BENTRE".parse().unwrap(),
            },
            Delivery::Delivered {
                via: "TU.BENTRE".parse().unwrap(),
                at_ms: 1,
                receipt: String::new(),
            },
            Delivery::InTransit {
                next_hop: "VPTW".parse().unwrap(),
                attempts: 1,
                last_error: String::new(),
                next_attempt_ms: 2,
            },
            // Never arrived anywhere; here already: no hop.
            Delivery::DeadLettered {
                reason: "refused".into(),
                at_ms: 3,
            },
            Delivery::Local,
        ];
        assert_eq!(downstream_hops(&d), ["TU.BENTRE", "VPTW"]);
        assert!(downstream_hops(&[Delivery::Local]).is_empty());
    }

    #[test]
    fn only_the_senders_request_counts_as_a_recall() {
        let id = MessageId::from_bytes([7; 16]);
        let event = |organ: &str, code: &str| StatusEvent {
            message: id,
            organ: organ.parse().unwrap(),
            code: code.parse().unwrap(),
            note: None,
            at_ms: 1,
        };
        let statuses = [event("TU.BENTRE", "13"), event("HU.CHAUTHANH", "03")];
        assert!(recall_of(&statuses, "HU.CHAUTHANH").is_none());
        let statuses = [event("HU.CHAUTHANH", "13")];
        assert!(recall_of(&statuses, "HU.CHAUTHANH").is_some());
    }
}
