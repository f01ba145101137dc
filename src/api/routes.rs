//! Routes of the two listeners. Each handler: authenticate, check the role, read a bounded
//! body, call the gateway, answer JSON or problem details.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use super::problem::Problem;
use super::server::PeerIdentity;
use crate::config::Role;
use crate::exchange::{DeliveryHeaders, EXCHANGE_PATH, H_VERSION, RelayedStatus, STATUS_PATH};
use crate::gateway::admission::Door;
use crate::gateway::caller::Caller;
use crate::gateway::{Shared, blocking, inbox, rfc3339_ms};
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
        .route("/api/v1/reports/timeliness", get(timeliness))
        .route("/api/v1/admin/store/check", post(store_check))
        .route("/api/v1/documents", post(submit).get(sent_list))
        .route("/api/v1/documents/{id}", get(document))
        .route("/api/v1/documents/{id}/recall", post(recall))
        .route("/api/v1/inbox", get(inbox_list))
        .route("/api/v1/inbox/{id}", get(inbox_get))
        .route("/api/v1/inbox/{id}/meta", get(inbox_meta))
        .route("/api/v1/inbox/{id}/ack", post(inbox_ack))
        .route("/api/v1/inbox/{id}/status", post(inbox_status))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(delayed_answers))
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
        .route(EXCHANGE_PATH, post(exchange))
        .route(STATUS_PATH, post(exchange_status))
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

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "request/method",
        "this endpoint does not take that method",
    )
}

/// A slot for one document through `door` (held until the response), counted when shed.
async fn admit(shared: &Shared, door: Door) -> Result<crate::gateway::admission::Slot, Problem> {
    shared.admission.admit(door).await.map_err(|e| {
        shared
            .metrics
            .refused(&format!("overload/{}", door.as_str()));
        Problem::from(e)
    })
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

/// Query parameters, refused as problem+json (axum's own rejection is plain text): an unknown
/// parameter or a value of the wrong type is a 400 `request/query` naming it.
struct Q<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|e| Problem::bad_request("request/query", e.body_text()))
    }
}

/// The `{id}` of a path, refused as problem+json (axum's own rejection, e.g. for a
/// percent-encoding that is not UTF-8, is plain text).
struct P(String);

impl<S: Send + Sync> FromRequestParts<S> for P {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| P(id))
            .map_err(|_| {
                Problem::bad_request("request/bad-id", "a message id is 32 lowercase hex digits")
            })
    }
}

fn caller(shared: &Shared, headers: &HeaderMap, peer: &PeerIdentity) -> Result<Caller, Problem> {
    let remote = peer.remote.map(|a| a.ip());
    Ok(shared.authenticate(super::auth::bearer(headers), remote)?)
}

/// Waits out an [`AnswerDelay`](super::problem::AnswerDelay) before the response leaves.
async fn delayed_answers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    if let Some(super::problem::AnswerDelay(d)) = resp.extensions().get().copied() {
        tokio::time::sleep(d).await;
    }
    resp
}

fn parse_id(id: &str) -> Result<MessageId, Problem> {
    id.parse().map_err(|_| {
        Problem::bad_request("request/bad-id", "a message id is 32 lowercase hex digits")
    })
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::NotFound { .. } => Problem::not_found("no such document"),
        // A cursor of another listing (or made up): the client's mistake, not ours.
        StoreError::Invalid {
            field: "cursor",
            reason,
        } => Problem::bad_request("request/bad-cursor", reason),
        other => crate::gateway::error::Internal::store("store", &other).into(),
    }
}

// === health ===

/// The OpenAPI 3.1 description of this API: `schemas/openapi.json`, generated from the source
/// of truth `schemas/openapi.yaml` by `scripts/openapi-json.sh` (a test keeps them equal).
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

/// Ready (200, with a `degraded:` line when an operator should look), or not ready (503)
/// with the reason: a disk below its reserve, an unreadable store.
async fn readyz(State(shared): Shr) -> Response {
    use crate::gateway::health::Readiness;
    let s = shared.clone();
    match blocking(move || s.readiness()).await {
        Ok(Readiness::Ready { degraded: None }) => "ready\n".into_response(),
        Ok(Readiness::Ready {
            degraded: Some(why),
        }) => format!("ready\ndegraded: {why}\n").into_response(),
        Ok(Readiness::DiskLow { reason }) => {
            Problem::unavailable("store/full", reason, super::refusal::DISK_FULL_RETRY_SECS)
                .into_response()
        }
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
        .map(|d| {
            (
                d.peer.to_string(),
                format!("{:?}", d.lane).to_lowercase(),
                d.count,
            )
        })
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
            ("lienthong_store_tombstones", "gauge", st.tombstones),
            ("lienthong_store_quarantined", "gauge", st.quarantined),
            (
                "lienthong_store_lease_take_overs_total",
                "counter",
                st.lease_take_overs,
            ),
            ("lienthong_store_sessions_open", "gauge", st.sessions_open),
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
    let json = match mime_of(&headers).as_str() {
        "application/xml" | "text/xml" => false,
        "application/json" => true,
        _ => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request/content-type",
                "submit an edXML envelope as application/xml, or the JSON form as \
                 application/json",
            ));
        }
    };
    let _slot = admit(&shared, Door::Submission).await?;
    let mut body = read_body(body, shared.config.limits.max_body_bytes).await?;
    if json {
        let (c, name) = (caller.clone(), shared.config.organ_name.clone());
        body = blocking(move || {
            super::json_form::envelope_from_json(
                &body,
                &c,
                &name,
                &crate::doc::envelope::EnvelopeLimits::default(),
            )
        })
        .await??;
    }
    let done = crate::gateway::submit::submit(shared.clone(), caller, body).await?;
    let location = format!("/api/v1/documents/{}", done.message_id());
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
    P(id): P,
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
            serde_json::json!({
                "organ": s.organ,
                "code": s.code,
                "meaning_vi": s.code.meaning_vi(),
                "meaning_en": s.code.meaning_en(),
                "note": s.note,
                "at": rfc3339_ms(s.at_ms),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "message_id": meta.id.to_string(),
        "document_id": meta.document_id,
        "level": meta.level,
        "priority": meta.priority.code(),
        "submitted_at": rfc3339_ms(meta.received_at_ms),
        "recipients": deliveries.iter().map(|(o, d)| delivery_json(o, d)).collect::<Vec<_>>(),
        "hops": meta.hops.iter().map(|h| serde_json::json!({
            "organ": h.organ, "at": rfc3339_ms(h.at_ms),
        })).collect::<Vec<_>>(),
        "statuses": statuses,
    }))
    .into_response())
}

/// Largest recall body (a note).
const MAX_RECALL_BODY: usize = 16 * 1024;

async fn recall(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    P(id): P,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Submit)?;
    let id = parse_id(&id)?;
    let body = read_body(body, MAX_RECALL_BODY).await?;
    // The body is optional: no body is a recall without a note.
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        crate::gateway::recall::RecallRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request("request/json", e.to_string()))?
    };
    let done = crate::gateway::recall::recall(&shared, &caller, id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(&done)).into_response())
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
    Q(q): Q<SentQuery>,
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
    let limit = page_limit(q.limit)?;
    let cursor = match q.cursor.as_deref() {
        Some(c) => Some(c.parse::<SentCursor>().map_err(|_| {
            Problem::bad_request(
                "request/bad-cursor",
                "cursor is the next_cursor of a previous page",
            )
        })?),
        None => None,
    };
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
                "priority": m.priority.code(),
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

/// Largest `wait` a client may ask for (seconds); the gateway then caps it at its
/// `max_wait_secs`. Beyond this the value is a mistake, answered 400.
const MAX_WAIT_PARAM: u64 = 3600;

/// A page size: 1 to 500, default 50. Outside is refused (400), never silently changed, so a
/// client sees its mistake (the OpenAPI description states the range).
fn page_limit(limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=500) => Ok(n),
        Some(_) => Err(Problem::bad_request("request/query", "limit is 1 to 500")),
    }
}

async fn inbox_list(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    Q(q): Q<InboxQuery>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Receive)?;
    let limit = page_limit(q.limit)?;
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_PARAM {
        return Err(Problem::bad_request(
            "request/query",
            format!("wait is 0 to {MAX_WAIT_PARAM} seconds"),
        ));
    }
    // Capped by the gateway's own limit: a long poll ends before the request timeout.
    let wait = Duration::from_secs(wait.min(shared.config.limits.max_wait_secs));
    let listed = inbox::list(&shared, &caller, limit, wait).await?;
    let docs: Vec<serde_json::Value> = listed
        .iter()
        .map(|l| {
            let (i, recalled) = (&l.item, l.recalled);
            serde_json::json!({
                "message_id": i.id.to_string(),
                "document_id": i.meta.document_id,
                "from": i.meta.from,
                "level": i.meta.level,
                "priority": i.meta.priority.code(),
                "received_at": rfc3339_ms(i.meta.received_at_ms),
                "size": i.meta.size,
                "recalled": recalled,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "documents": docs })).into_response())
}

/// The caller of an inbox request (role `receive`) and the message id of its path.
fn inbox_caller(
    shared: &Shared,
    headers: &HeaderMap,
    peer: &PeerIdentity,
    id: &str,
) -> Result<(Caller, MessageId), Problem> {
    let caller = caller(shared, headers, peer)?;
    caller.require(Role::Receive)?;
    Ok((caller, parse_id(id)?))
}

/// The query of `GET /api/v1/inbox/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchQuery {
    /// `signed` (default): the signed envelope as received; `field`: the edXML form the
    /// platform's SDKs read (docs/EDXML.md).
    #[serde(default)]
    form: Form,
}

/// The form a document is fetched in.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Form {
    #[default]
    Signed,
    Field,
}

async fn inbox_get(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    P(id): P,
    Q(q): Q<FetchQuery>,
) -> Result<Response, Problem> {
    let (caller, id) = inbox_caller(&shared, &headers, &peer, &id)?;
    let (meta, bytes) = match q.form {
        Form::Signed => inbox::fetch(&shared, &caller, id).await?,
        Form::Field => inbox::fetch_field(&shared, &caller, id).await?,
    };
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    for (k, v) in [
        ("x-lienthong-from", meta.from.to_string()),
        ("x-lienthong-level", meta.level.token().to_owned()),
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
    P(id): P,
) -> Result<Response, Problem> {
    let (caller, id) = inbox_caller(&shared, &headers, &peer, &id)?;
    let (meta, recall, sealed) = inbox::view(&shared, &caller, id).await?;
    let recall = recall.map(|r| {
        serde_json::json!({
            "at": rfc3339_ms(r.at_ms),
            "note": r.note,
        })
    });
    Ok(Json(serde_json::json!({
        "message_id": meta.id.to_string(),
        "document_id": meta.document_id,
        "from": meta.from,
        "to": meta.to,
        "level": meta.level,
        "priority": meta.priority.code(),
        "digest_sha256": meta.digest_hex,
        "received_at": rfc3339_ms(meta.received_at_ms),
        "trace": meta.hops.iter().map(|h| serde_json::json!({
            "organ": h.organ, "at": rfc3339_ms(h.at_ms),
        })).collect::<Vec<_>>(),
        "recalled": recall.is_some(),
        "recall": recall,
        "sealed": sealed,
    }))
    .into_response())
}

async fn inbox_ack(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    P(id): P,
) -> Result<Response, Problem> {
    let (caller, mid) = inbox_caller(&shared, &headers, &peer, &id)?;
    let outcome = inbox::ack(&shared, &caller, mid).await?;
    Ok(Json(serde_json::json!({
        "message_id": id,
        "acked": true,
        "already_acked": outcome == AckOutcome::AlreadyAcked,
    }))
    .into_response())
}

/// Largest status body (a code and a short note).
const MAX_STATUS_BODY: usize = 16 * 1024;

/// The media type of a request, lower case, without parameters (empty when absent).
fn mime_of(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

async fn inbox_status(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    P(id): P,
    body: Body,
) -> Result<Response, Problem> {
    let (caller, mid) = inbox_caller(&shared, &headers, &peer, &id)?;
    // Only what this client may see may be reported on: checked before the body is read.
    let (meta, _) = inbox::fetch_stored(&shared, &caller, mid).await?;
    // An edXML status message as the SDKs write it, or (any other type, as before) JSON.
    let xml = matches!(mime_of(&headers).as_str(), "application/xml" | "text/xml");
    let body = read_body(body, MAX_STATUS_BODY).await?;
    let report: crate::gateway::status::Report = if xml {
        let (organ, document) = (caller.organ.clone(), meta.document_id.clone());
        blocking(move || crate::gateway::status::report_from_edxml(&body, &organ, &document))
            .await?
            .map_err(Problem::from)?
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request("request/json", e.to_string()))?
    };
    let event = inbox::report(&shared, &caller, &meta, report).await?;
    Ok(Json(serde_json::json!({
        "message_id": id,
        "code": event.code,
        "at": rfc3339_ms(event.at_ms),
    }))
    .into_response())
}

// === reports ===

/// The query of `GET /api/v1/reports/timeliness`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    /// First day (`YYYY-MM-DD`, Vietnam time) or instant (RFC 3339) of acceptance, inclusive.
    from: String,
    /// Last day (`YYYY-MM-DD`, inclusive) or instant (RFC 3339, exclusive).
    to: String,
}

/// `GET /api/v1/reports/timeliness?from=…&to=…` (admin role).
async fn timeliness(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    query: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Admin)?;
    let Query(q) = query.map_err(|e| {
        Problem::bad_request(
            "request/bad-period",
            format!("from and to are required (YYYY-MM-DD or RFC 3339): {e}"),
        )
    })?;
    let period = crate::gateway::reports::period(&q.from, &q.to)?;
    let report = crate::gateway::reports::report(&shared, &caller, period).await?;
    Ok(Json(report).into_response())
}

/// Scrubs the store while the gateway runs (admin role): the report as JSON.
async fn store_check(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let caller = caller(&shared, &headers, &peer)?;
    caller.require(Role::Admin)?;
    let report = crate::gateway::health::check_store(&shared).await?;
    Ok(Json(report).into_response())
}

// === exchange ===

/// The organ of the calling peer's certificate, if it is a configured peer; and the exchange
/// protocol version it speaks.
fn exchange_peer(
    shared: &Shared,
    peer: &PeerIdentity,
    headers: &HeaderMap,
) -> Result<crate::config::Peer, Problem> {
    let link = crate::gateway::receive::admit(shared, peer.organ.as_deref())?;
    let version = headers.get(H_VERSION).map(|v| v.to_str().unwrap_or("?"));
    crate::exchange::check_version(version).map_err(|e| {
        crate::gateway::receive::note_refusal(shared, e.name(), &e);
        Problem::from(e)
    })?;
    Ok(link)
}

async fn exchange_status(
    State(shared): Shr,
    Extension(peer): Extension<PeerIdentity>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let link = exchange_peer(&shared, &peer, &headers)?;
    let body = read_body(body, MAX_STATUS_BODY).await?;
    let relayed: RelayedStatus = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request("request/json", e.to_string()))?;
    let store = shared.store.clone();
    let id = relayed.event.message;
    let known = blocking(move || store.message(&id))
        .await?
        .map_err(store_problem)?;
    let Some((meta, deliveries)) = known else {
        return Err(Problem::not_found("no such document here"));
    };
    if relayed.event.code == crate::gateway::recall::RECALL_CODE {
        // A recall travels with the document, towards its recipients.
        crate::gateway::recall::relayed(&shared, &link.organ, relayed.event, &meta, &deliveries)
            .await?;
    } else {
        crate::gateway::status::record(&shared, relayed.event, &meta.from).await?;
    }
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
    let _slot = admit(&shared, Door::Delivery).await?;
    let body = read_body(body, shared.config.limits.max_exchange_body_bytes()).await?;
    let link = exchange_peer(&shared, &peer, &headers)?;
    let delivery =
        DeliveryHeaders::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))
            .map_err(|e| {
                crate::gateway::receive::note_refusal(&shared, e.name(), &e);
                Problem::from(e)
            })?;
    let receipt = crate::gateway::receive::receive(shared, link, delivery, body).await?;
    Ok(Json(receipt).into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    const YAML: &str = include_str!("../../schemas/openapi.yaml");
    const JSON: &str = include_str!("../../schemas/openapi.json");

    fn spec() -> Value {
        serde_norway::from_str(YAML).unwrap()
    }

    /// `schemas/openapi.json` is what the gateway serves; it must be the YAML, exactly. With
    /// `LIENTHONG_BLESS_OPENAPI=1` the test writes it instead (scripts/openapi-json.sh).
    #[test]
    fn served_json_is_the_yaml() {
        let yaml = spec();
        if std::env::var_os("LIENTHONG_BLESS_OPENAPI").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");
            let mut text = serde_json::to_string_pretty(&yaml).unwrap();
            text.push('\n');
            std::fs::write(path, text).unwrap();
            return;
        }
        let json: Value = serde_json::from_str(JSON).unwrap();
        assert!(
            json == yaml,
            "schemas/openapi.json differs from schemas/openapi.yaml: run scripts/openapi-json.sh"
        );
        assert_eq!(yaml["openapi"], "3.1.0");
    }

    /// (path, method) of every route of `api_router`, read from this file's source: a route
    /// added without its description fails here.
    fn routes() -> BTreeSet<(String, String)> {
        let src = include_str!("routes.rs");
        let start = src.find("pub fn api_router").unwrap();
        let end = src.find("pub fn exchange_router").unwrap();
        let body = src.get(start..end).unwrap();
        let mut out = BTreeSet::new();
        for part in body.split(".route(\"").skip(1) {
            let (path, rest) = part.split_once('"').unwrap();
            // A catch-all (`{*rest}`: the portal's Vietnamese 404 page) is a fallback, not an
            // operation; tests/portal_browser.rs checks it.
            if path.contains("{*") {
                continue;
            }
            let path = path.to_owned();
            let call = rest.split("\n        .").next().unwrap();
            for m in ["get", "post", "put", "delete", "patch"] {
                if call.contains(&format!("{m}(")) {
                    out.insert((path.clone(), m.to_owned()));
                }
            }
        }
        out
    }

    fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
        spec["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                    .map(|m| (path.clone(), m.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_route_is_in_the_spec_and_every_operation_is_a_route() {
        let routes = routes();
        assert!(routes.len() >= 15, "{routes:?}");
        let ops = spec_operations(&spec());
        let missing: Vec<_> = routes.difference(&ops).collect();
        assert!(
            missing.is_empty(),
            "routes without a description: {missing:?}"
        );
        let stale: Vec<_> = ops.difference(&routes).collect();
        assert!(stale.is_empty(), "described but not routed: {stale:?}");
    }

    /// Every operation answers problem+json for its refusals, and every operation that needs a
    /// token documents 401 and 403.
    #[test]
    fn every_operation_documents_its_refusals() {
        let spec = spec();
        for (path, method) in spec_operations(&spec) {
            let op = &spec["paths"][&path][&method];
            let open = op["security"].as_array().is_some_and(Vec::is_empty);
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path}: no success response"
            );
            if !open {
                for code in ["400", "401", "403", "500"] {
                    assert!(
                        responses.contains_key(code),
                        "{method} {path}: {code} not documented"
                    );
                }
            }
        }
    }
}
