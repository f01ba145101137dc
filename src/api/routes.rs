//! Routes of the two listeners. Each handler: authenticate, check the role, read a bounded
//! body, call the gateway, answer JSON or problem details.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use super::auth::Caller;
use super::problem::Problem;
use super::server::PeerIdentity;
use crate::config::Role;
use crate::doc::label::Level;
use crate::gateway::{Shared, blocking, rfc3339_ms};
use crate::store::{AckOutcome, DeliveryKind, MessageId, SentCursor, StoreError};

type Shr = State<Arc<Shared>>;

/// The office, inbox, health and metrics API.
pub fn api_router(shared: Arc<Shared>) -> Router {
    let timeout = Duration::from_secs(shared.config.limits.request_timeout_secs);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/public/v1/procedures", get(super::portal::procedures_json))
        .route("/portal", get(super::portal::page))
        .route("/public/v1/documents", get(super::portal::documents_json))
        .route("/portal/van-ban", get(super::portal::documents_page))
        .route("/portal/portal.css", get(super::portal::stylesheet))
        .route("/portal/{*rest}", get(super::portal::not_found))
        .route(
            "/api/v1/reports/timeliness",
            get(crate::gateway::reports::timeliness_handler),
        )
        .route("/api/v1/documents", post(submit).get(sent_list))
        .route("/api/v1/documents/{id}", get(document))
        .route("/api/v1/inbox", get(inbox_list))
        .route("/api/v1/inbox/{id}", get(inbox_get))
        .route("/api/v1/inbox/{id}/meta", get(inbox_meta))
        .route("/api/v1/inbox/{id}/ack", post(inbox_ack))
        .route("/api/v1/inbox/{id}/status", post(inbox_status))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(move |req, next| {
            with_timeout(req, next, timeout)
        }))
        .with_state(shared)
}

/// The exchange API (mutual TLS only).
pub fn exchange_router(shared: Arc<Shared>) -> Router {
    let timeout = Duration::from_secs(shared.config.limits.request_timeout_secs);
    Router::new()
        .route("/healthz", get(healthz))
        .route(crate::relay::worker::EXCHANGE_PATH, post(exchange))
        .route(crate::gateway::status::STATUS_PATH, post(exchange_status))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(move |req, next| {
            with_timeout(req, next, timeout)
        }))
        .with_state(shared)
}

async fn with_timeout(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: Duration,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request/timeout",
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

async fn not_found() -> Problem {
    Problem::not_found("no such endpoint")
}

async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, Problem> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes().to_vec()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request/too-large",
                format!("the body is over the limit of {limit} bytes"),
            ))
        }
        // A stalled body (slowloris): api::server's idle timeout.
        Err(e) if super::server::is_body_timeout(&*e) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request/timeout",
            e.to_string(),
        )),
        Err(e) => Err(Problem::bad_request(
            "request/body",
            format!("the body could not be read: {e}"),
        )),
    }
}

fn caller(shared: &Shared, headers: &HeaderMap, peer: &PeerIdentity) -> Result<Caller, Problem> {
    shared
        .auth
        .authenticate(headers, peer.remote.map(|a| a.ip()))
}

fn parse_id(id: &str) -> Result<MessageId, Problem> {
    id.parse().map_err(|_| {
        Problem::bad_request("request/bad-id", "a message id is 32 lowercase hex digits")
    })
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::NotFound { .. } => Problem::not_found("no such document"),
        other => Problem::internal("store", other),
    }
}

// === health ===

/// The OpenAPI 3.1 description of this API (`schemas/openapi.json`).
async fn openapi() -> Response {
    let mut r = include_str!("../../schemas/openapi.json").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): Shr) -> Response {
    let store = shared.store.clone();
    match blocking(move || store.stats()).await {
        Ok(Ok(_)) => "ready\n".into_response(),
        _ => Problem::unavailable("store/unavailable", "the store is not readable", 5)
            .into_response(),
    }
}

async fn metrics(State(shared): Shr) -> Response {
    let store = shared.store.clone();
    let stats = blocking(move || store.stats())
        .await
        .ok()
        .and_then(Result::ok);
    let store = shared.store.clone();
    let depths = blocking(move || store.outbox_depths())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.peer, format!("{:?}", d.lane).to_lowercase(), d.count))
        .collect::<Vec<_>>();
    let mut text = shared.metrics.render(&shared.config.organ, &depths);
    if let Some(st) = stats {
        use std::fmt::Write;
        let organ = &shared.config.organ;
        for (name, kind, v) in [
            ("lienthong_store_flushes_total", "counter", st.flushes),
            (
                "lienthong_store_durable_writes_total",
                "counter",
                st.durable_writes,
            ),
            ("lienthong_store_messages", "gauge", st.messages),
            ("lienthong_store_bytes_on_disk", "gauge", st.bytes_on_disk),
        ] {
            let _ = writeln!(
                text,
                "# TYPE {name} {kind}\n{name}{{organ=\"{organ}\"}} {v}"
            );
        }
    }
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

// === office ===

async fn submit(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Submit)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime != "application/xml" && mime != "text/xml" {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request/content-type",
            "submit an edXML envelope as application/xml",
        ));
    }
    let body = read_body(body, shared.config.limits.max_body_bytes).await?;
    let done = crate::gateway::submit::submit(shared.clone(), caller, body).await?;
    let location = format!("/api/v1/documents/{}", done.message_id);
    let mut r = (StatusCode::ACCEPTED, Json(&done)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

fn delivery_json(organ: &str, d: &crate::store::Delivery) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("recipient".into(), organ.into());
    }
    v
}

async fn document(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Submit)?;
    let id = parse_id(&id)?;
    let store = shared.store.clone();
    let mid = id;
    let (item, statuses) =
        blocking(move || Ok::<_, StoreError>((store.message(&mid)?, store.statuses(&mid)?)))
            .await?
            .map_err(store_problem)?;
    // Another organ's document is indistinguishable from a missing one.
    let Some((meta, deliveries)) = item.filter(|(m, _)| m.from == caller.organ) else {
        return Err(Problem::not_found("no such document"));
    };
    let statuses: Vec<serde_json::Value> = statuses
        .iter()
        .map(|s| {
            let code = s.code.parse::<crate::doc::types::StatusCode>().ok();
            serde_json::json!({
                "organ": s.organ,
                "code": s.code,
                "meaning_vi": code.map(|c| c.meaning_vi()),
                "meaning_en": code.map(|c| c.meaning_en()),
                "note": s.note,
                "at": rfc3339_ms(s.at_ms),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "message_id": meta.id.to_string(),
        "document_id": meta.document_id,
        "level": meta.level,
        "priority": meta.priority,
        "submitted_at": rfc3339_ms(meta.received_at_ms),
        "recipients": deliveries.iter().map(|(o, d)| delivery_json(o, d)).collect::<Vec<_>>(),
        "statuses": statuses,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SentQuery {
    state: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn sent_list(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Query(q): Query<SentQuery>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Submit)?;
    let state = match q.state.as_deref() {
        Some(s) => Some(
            s.parse::<DeliveryKind>()
                .map_err(|e| Problem::bad_request("request/bad-state", e.to_string()))?,
        ),
        None => None,
    };
    let since = match q.since.as_deref() {
        Some(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Problem::bad_request("request/bad-since", "since is RFC 3339"))?;
            Some(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        }
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let cursor = q.cursor.map(SentCursor::from_query);
    let store = shared.store.clone();
    let organ = caller.organ.clone();
    let (items, next) =
        blocking(move || store.sent_list(&organ, state, since, limit, cursor.as_ref()))
            .await?
            .map_err(store_problem)?;
    let docs: Vec<serde_json::Value> = items
        .iter()
        .map(|(m, d)| {
            serde_json::json!({
                "message_id": m.id.to_string(),
                "document_id": m.document_id,
                "level": m.level,
                "priority": m.priority,
                "submitted_at": rfc3339_ms(m.received_at_ms),
                "recipients": d.iter().map(|(o, d)| delivery_json(o, d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "documents": docs,
        "next_cursor": next.map(|c| c.as_str().to_owned()),
    }))
    .into_response())
}

// === inbox ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    limit: Option<usize>,
    wait: Option<u64>,
}

fn level_of(meta: &crate::store::MessageMeta) -> Level {
    // Fail closed: an unreadable level is treated as the highest.
    meta.level.parse().unwrap_or(Level::TuyetMat)
}

async fn inbox_list(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Query(q): Query<InboxQuery>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Receive)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(shared.config.limits.max_wait_secs));
    let deadline = tokio::time::Instant::now() + wait;
    let mut events = shared.inbox_events.subscribe();
    loop {
        // Subscribe before reading, so an arrival between the read and the wait is not missed.
        events.mark_unchanged();
        let s = shared.clone();
        let organ = caller.organ.clone();
        let clearance = caller.clearance;
        // Above the client's clearance: absent, not redacted (policy rule 4 on the inbox way,
        // decided per item by `policy::decide`).
        let visible = blocking(move || -> Result<Vec<_>, StoreError> {
            let mut visible = Vec::new();
            for i in s.store.inbox_list(&organ, limit)? {
                let d = crate::gateway::filing::client_may_read(
                    s.store.as_ref(),
                    &s.catalog,
                    &i.id,
                    clearance,
                )?;
                if d.allowed() && level_of(&i.meta) <= clearance {
                    visible.push(i);
                }
            }
            Ok(visible)
        })
        .await?
        .map_err(store_problem)?;
        if !visible.is_empty() || tokio::time::Instant::now() >= deadline {
            let docs: Vec<serde_json::Value> = visible
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "message_id": i.id.to_string(),
                        "document_id": i.meta.document_id,
                        "from": i.meta.from,
                        "level": i.meta.level,
                        "priority": i.meta.priority,
                        "received_at": rfc3339_ms(i.meta.received_at_ms),
                        "size": i.meta.size,
                    })
                })
                .collect();
            return Ok(Json(serde_json::json!({ "documents": docs })).into_response());
        }
        tokio::select! {
            _ = events.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

async fn inbox_item(
    shared: &Arc<Shared>,
    caller: &Caller,
    id: &str,
) -> Result<(crate::store::MessageMeta, Vec<u8>), Problem> {
    let id = parse_id(id)?;
    let s = shared.clone();
    let organ = caller.organ.clone();
    let clearance = caller.clearance;
    let found = blocking(move || -> Result<_, StoreError> {
        let Some(found) = s.store.inbox_get(&organ, &id)? else {
            return Ok(None);
        };
        let d =
            crate::gateway::filing::client_may_read(s.store.as_ref(), &s.catalog, &id, clearance)?;
        Ok(Some((found, d)))
    })
    .await?
    .map_err(store_problem)?;
    match found {
        Some(((meta, bytes), d)) if d.allowed() && level_of(&meta) <= caller.clearance => {
            Ok((meta, bytes))
        }
        Some((_, d)) => {
            // Refused by the policy: audited (rule and reason only), and answered exactly like
            // a missing document so the client learns nothing of it.
            let (s, mid, client) = (shared.clone(), id.to_string(), caller.name.clone());
            blocking(move || {
                s.audit(crate::audit::Event::policy_refused(
                    &s.config.organ,
                    Some(&mid),
                    d.rule().name(),
                    &format!("inbox read by client {client}: {}", d.reason()),
                ));
            })
            .await?;
            Err(Problem::not_found("no such document in this inbox"))
        }
        None => Err(Problem::not_found("no such document in this inbox")),
    }
}

async fn inbox_get(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Receive)?;
    let (meta, bytes) = inbox_item(&shared, &caller, &id).await?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    for (k, v) in [
        ("x-lienthong-from", meta.from.clone()),
        ("x-lienthong-level", meta.level.clone()),
        ("x-lienthong-digest", meta.digest_hex.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(r)
}

async fn inbox_meta(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Receive)?;
    let (meta, _) = inbox_item(&shared, &caller, &id).await?;
    Ok(Json(serde_json::json!({
        "message_id": meta.id.to_string(),
        "document_id": meta.document_id,
        "from": meta.from,
        "to": meta.to,
        "level": meta.level,
        "priority": meta.priority,
        "digest_sha256": meta.digest_hex,
        "received_at": rfc3339_ms(meta.received_at_ms),
        "trace": meta.hops.iter().map(|h| serde_json::json!({
            "organ": h.organ, "at": rfc3339_ms(h.at_ms),
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn inbox_ack(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Receive)?;
    // Only what this client may see may be acknowledged.
    let (meta, _) = inbox_item(&shared, &caller, &id).await?;
    let mid = parse_id(&id)?;
    // Status 03 "accepted" goes back to the sender once the receiving system has it; it is
    // recorded in the ack's own transaction (see `Store::inbox_ack_reporting`).
    // When the way back is refused (no route, or a link not cleared for the document: audited
    // in `route_back`), the ack still stands and status 03 stays recorded here.
    let forward_to = match crate::gateway::status::route_back(&shared, &mid, &meta.from).await {
        Ok(next) => next,
        Err(p) => {
            tracing::warn!(message = %mid, problem = %p.kind, "status 03 kept here: no way back");
            None
        }
    };
    let accepted = crate::store::StatusEvent {
        message: mid,
        organ: caller.organ.clone(),
        code: "03".to_owned(),
        note: None,
        at_ms: crate::gateway::now_ms(),
    };
    let s = shared.clone();
    let organ = caller.organ.clone();
    let hop = forward_to.clone();
    let outcome = blocking(move || {
        let r = s
            .store
            .inbox_ack_reporting(&organ, &mid, &accepted, hop.as_deref());
        if matches!(r, Ok(AckOutcome::Acked)) {
            s.audit(crate::audit::Event::acked(&organ, &mid.to_string()));
            s.audit(crate::audit::Event::status(
                &organ,
                &mid.to_string(),
                &accepted.code,
            ));
        }
        r
    })
    .await?
    .map_err(store_problem)?;
    if outcome == AckOutcome::Acked {
        shared
            .metrics
            .acked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(p) = forward_to {
            shared.wake_peer(&p);
        }
    }
    Ok(Json(serde_json::json!({
        "message_id": id,
        "acked": true,
        "already_acked": outcome == AckOutcome::AlreadyAcked,
    }))
    .into_response())
}

/// Largest status body (a code and a short note).
const MAX_STATUS_BODY: usize = 16 * 1024;

async fn inbox_status(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Receive)?;
    let (meta, _) = inbox_item(&shared, &caller, &id).await?;
    let body = read_body(body, MAX_STATUS_BODY).await?;
    let report: crate::gateway::status::Report = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request("request/json", e.to_string()))?;
    let event =
        crate::gateway::status::report(&shared, &caller.organ, meta.id, &meta.from, report).await?;
    Ok(Json(serde_json::json!({
        "message_id": id,
        "code": event.code,
        "at": rfc3339_ms(event.at_ms),
    }))
    .into_response())
}

// === exchange ===

async fn exchange_status(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    body: Body,
) -> Result<Response, Problem> {
    let Some(organ) = peer.organ else {
        return Err(Problem::forbidden("a client certificate is required"));
    };
    if !shared.config.peers.iter().any(|p| p.organ == organ) {
        return Err(Problem::forbidden(format!(
            "{organ} is not a configured peer"
        )));
    }
    let body = read_body(body, MAX_STATUS_BODY).await?;
    let relayed: crate::gateway::status::Relayed = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request("request/json", e.to_string()))?;
    let store = shared.store.clone();
    let id = relayed.event.message;
    let known = blocking(move || store.message(&id))
        .await?
        .map_err(store_problem)?;
    let Some((meta, _)) = known else {
        return Err(Problem::not_found("no such document here"));
    };
    crate::gateway::status::record(&shared, relayed.event, &meta.from).await?;
    Ok(Json(serde_json::json!({ "recorded": true })).into_response())
}

async fn exchange(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    // The relay sends application/xml (relay::worker); anything else is not a delivery.
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !matches!(mime, Some("application/xml" | "text/xml")) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request/content-type",
            "a delivery is a signed edXML envelope sent as application/xml",
        ));
    }
    let body = read_body(body, shared.config.limits.max_body_bytes).await?;
    let receipt = crate::gateway::receive::receive(shared, peer.organ, headers, body).await?;
    Ok(Json(receipt).into_response())
}
