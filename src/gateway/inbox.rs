//! The inbox of a receiving system: what it may list (policy rule 4 on the inbox way, per item:
//! above the client's clearance a document is absent, not redacted), the long poll, fetching
//! one document, acknowledging it (with status 03 back to the sender in the same transaction),
//! and its status reports. The HTTP surface only parses the request and renders the answer.

use std::sync::Arc;
use std::time::Duration;

use super::caller::Caller;
use super::error::Internal;
use super::sealing::SealedView;
use super::status::{Report, StatusError};
use super::{Shared, blocking, now_ms};
use crate::audit::Event;
use crate::doc::label::Level;
use crate::sign::VerifyOptions;
use crate::store::{
    AckOutcome, InboxItem, MessageId, MessageMeta, StatusCode, StatusEvent, StoreError,
};

/// Why an inbox operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// Not in this inbox — or not for this client's eyes, which it cannot tell apart.
    #[error("no such document in this inbox")]
    NotFound,
    /// A sealed document does not open here (no key of `keys.encryption` is a recipient, or
    /// it opens to another document): named and audited, never returned.
    #[error("{0}")]
    Sealing(super::sealing::SealingError),
    /// A status report was refused.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The gateway failed.
    #[error(transparent)]
    Internal(#[from] Internal),
}

fn store_error(e: StoreError) -> InboxError {
    match e {
        StoreError::NotFound { .. } => InboxError::NotFound,
        other => Internal::store("inbox", &other).into(),
    }
}

/// One listed document and whether its sender has asked to recall it.
#[derive(Debug)]
pub struct Listed {
    /// The item.
    pub item: InboxItem,
    /// True when the sender's recall request (13) is recorded.
    pub recalled: bool,
}

/// Up to `limit` documents of the caller's inbox it may see, oldest first; when there are none,
/// waits up to `wait` for one to arrive (a long poll).
pub async fn list(
    shared: &Arc<Shared>,
    caller: &Caller,
    limit: usize,
    wait: Duration,
) -> Result<Vec<Listed>, InboxError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut events = shared.inbox_events.subscribe();
    loop {
        // Subscribe before reading, so an arrival between the read and the wait is not missed.
        events.mark_unchanged();
        let visible = list_once(shared, caller, limit).await?;
        if !visible.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(visible);
        }
        tokio::select! {
            _ = events.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

async fn list_once(
    shared: &Arc<Shared>,
    caller: &Caller,
    limit: usize,
) -> Result<Vec<Listed>, InboxError> {
    let s = shared.clone();
    let organ = caller.organ.clone();
    let clearance = caller.clearance;
    blocking(move || -> Result<Vec<Listed>, StoreError> {
        // One call: each entry comes with its filing record and recall flag.
        let entries = s.store.inbox_list_visible(&organ, limit, &mut |e| {
            let d = super::filing::may_read_filed(e.filing.as_ref(), &s.catalog, clearance);
            d.allowed() && e.item.meta.level <= clearance
        })?;
        Ok(entries
            .into_iter()
            .map(|e| Listed {
                item: e.item,
                recalled: e.recalled,
            })
            .collect())
    })
    .await?
    .map_err(store_error)
}

/// One document of the caller's inbox, if it may read it, as its receiving system reads it: a
/// sealed (`mat`) document is opened here, in memory, and the inner-signed envelope returned
/// byte for byte, `meta.digest_hex` then being the inner document's digest. A refusal by the
/// policy is audited (rule and reason only) and answered exactly like a missing document.
pub async fn fetch(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: MessageId,
) -> Result<(MessageMeta, Vec<u8>), InboxError> {
    let (mut meta, bytes) = fetch_stored(shared, caller, id).await?;
    if meta.level != super::sealing::SEALED_LEVEL {
        return Ok((meta, bytes));
    }
    let s = shared.clone();
    let opened = blocking(move || {
        let limits = crate::doc::envelope::EnvelopeLimits::default();
        let (_, outer) = crate::doc::envelope::parse_envelope(&bytes, &limits)
            .map_err(|e| super::sealing::SealingError::OuterSignature(e.to_string()))?;
        super::sealing::open_audited(&s, &outer, &id.to_string(), &s.config.organ, "inbox fetch")
    })
    .await?
    .map_err(InboxError::Sealing)?;
    meta.digest_hex = opened.digest_hex;
    Ok((meta, opened.bytes.to_vec()))
}

/// [`fetch`], written in the field form for a receiving system built on the platform's SDKs
/// (`doc::envelope::field::to_field_bytes`: unsigned, label kept; a document that came in the
/// field form is given back as its original bytes).
pub async fn fetch_field(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: MessageId,
) -> Result<(MessageMeta, Vec<u8>), InboxError> {
    let (meta, bytes) = fetch(shared, caller, id).await?;
    let field = blocking(move || {
        let limits = crate::doc::envelope::EnvelopeLimits::default();
        let (_, env) = crate::doc::envelope::parse_envelope(&bytes, &limits)?;
        crate::doc::envelope::field::to_field_bytes(&env)
    })
    .await?
    .map_err(|e| Internal::new("field form", e))?;
    Ok((meta, field))
}

/// The stored bytes of one document of the caller's inbox (sealed ones still sealed), if it may
/// read it.
pub async fn fetch_stored(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: MessageId,
) -> Result<(MessageMeta, Vec<u8>), InboxError> {
    let s = shared.clone();
    let organ = caller.organ.clone();
    let clearance = caller.clearance;
    let found = blocking(move || -> Result<_, StoreError> {
        let found = match s.store.inbox_get(&organ, &id) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(e @ StoreError::Altered { .. }) => return Err(altered(&s, &id, clearance, e)),
            Err(e) => return Err(e),
        };
        let d = super::filing::client_may_read(s.store.as_ref(), &s.catalog, &id, clearance)?;
        Ok(Some((found, d)))
    })
    .await?
    .map_err(store_error)?;
    match found {
        Some(((meta, bytes), d)) if d.allowed() && meta.level <= caller.clearance => {
            Ok((meta, bytes))
        }
        Some((_, d)) => {
            let (s, mid, client) = (shared.clone(), id.to_string(), caller.name.clone());
            blocking(move || {
                s.audit(Event::policy_refused(
                    &s.config.organ,
                    Some(&mid),
                    d.rule().name(),
                    &format!("inbox read by client {client}: {}", d.reason()),
                ));
            })
            .await?;
            Err(InboxError::NotFound)
        }
        None => Err(InboxError::NotFound),
    }
}

/// A document of this inbox found altered on disk: audited and counted; the caller is told
/// so by name only if its clearance lets it know the document exists (the filing record's
/// label; fail closed without one), otherwise it is absent like any other.
fn altered(s: &Shared, id: &MessageId, clearance: Level, e: StoreError) -> StoreError {
    s.note_store_error(&e, "inbox fetch");
    match super::filing::client_may_read(s.store.as_ref(), &s.catalog, id, clearance) {
        Ok(d) if d.allowed() => e,
        _ => StoreError::NotFound { id: *id },
    }
}

/// The metadata of one document the caller may read, its sender's recall request if any, and —
/// for a sealed document — its outer signature and wrapping.
pub async fn view(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: MessageId,
) -> Result<(MessageMeta, Option<StatusEvent>, Option<SealedView>), InboxError> {
    let (meta, bytes) = fetch_stored(shared, caller, id).await?;
    let s = shared.clone();
    let sealed = if meta.level == super::sealing::SEALED_LEVEL {
        blocking(move || super::sealing::view(&bytes, &s.trust(), &VerifyOptions::now()))
            .await?
            .map_err(InboxError::Sealing)?
    } else {
        None
    };
    let store = shared.store.clone();
    let statuses = blocking(move || store.statuses(&id))
        .await?
        .map_err(store_error)?;
    let recall = super::recall::recall_of(&statuses, &meta.from).cloned();
    Ok((meta, recall, sealed))
}

/// Acknowledges a document the caller may see. Status 03 "accepted" goes back to the sender in
/// the ack's own transaction (see `Store::inbox_ack_reporting`); when the way back is refused
/// (no route, or a link not cleared for the document: audited in `route_back`), the ack still
/// stands and status 03 stays recorded here. Durable when it returns.
pub async fn ack(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: MessageId,
) -> Result<AckOutcome, InboxError> {
    let (meta, _) = fetch(shared, caller, id).await?;
    let forward_to = match super::status::route_back(shared, &id, &meta.from).await {
        Ok(next) => next,
        Err(e) => {
            tracing::warn!(message = %id, problem = %e, "status 03 kept here: no way back");
            None
        }
    };
    let accepted = StatusEvent {
        message: id,
        organ: caller.organ.clone(),
        code: StatusCode::Accepted,
        note: None,
        at_ms: now_ms(),
    };
    let s = shared.clone();
    let organ = caller.organ.clone();
    let hop = forward_to.clone();
    let outcome = blocking(move || {
        let r = s
            .store
            .inbox_ack_reporting(&organ, &id, &accepted, hop.as_ref());
        if matches!(r, Ok(AckOutcome::Acked)) {
            s.audit(Event::acked(&organ, &id.to_string()));
            s.audit(Event::status(&organ, &id.to_string(), accepted.code.code()));
        }
        r
    })
    .await?
    .map_err(store_error)?;
    if outcome == AckOutcome::Acked {
        shared
            .metrics
            .acked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(p) = forward_to {
            shared.wake_peer(&p);
        }
    }
    Ok(outcome)
}

/// The caller's receiving system reports on a document it may see (`meta`, as [`fetch`]
/// returned it to this caller).
pub async fn report(
    shared: &Arc<Shared>,
    caller: &Caller,
    meta: &MessageMeta,
    report: Report,
) -> Result<StatusEvent, InboxError> {
    Ok(super::status::report(shared, &caller.organ, meta.id, &meta.from, report).await?)
}
