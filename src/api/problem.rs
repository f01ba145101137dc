//! RFC 9457 problem details: every refusal answers `application/problem+json` with a stable
//! `type` per error and a human `detail` — never a document's subject or content.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Base of every problem `type` URI.
pub const PROBLEM_BASE: &str = "urn:lienthong:problem:";

/// An API refusal.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine name, e.g. `policy/crypto-channel-only`.
    pub kind: String,
    /// One sentence for people.
    pub detail: String,
    /// Seconds the client should wait (503, 429).
    pub retry_after: Option<u64>,
    /// How long the server waits before answering (a throttled failed authentication): carried
    /// to the response as an [`AnswerDelay`] extension, which `api::routes` waits out.
    pub delay: Option<std::time::Duration>,
}

/// A response extension: wait this long before sending the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerDelay(pub std::time::Duration);

impl Problem {
    /// A problem with a status, a kind and a detail.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_owned(),
            detail: detail.into(),
            retry_after: None,
            delay: None,
        }
    }

    /// 400.
    pub fn bad_request(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, detail)
    }

    /// 401 with no detail beyond "who are you".
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "auth/unauthenticated",
            "a valid bearer token is required",
        )
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "auth/forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 500: the detail stays in the log; the client learns only that it failed.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway could not complete the request; nothing was stored",
        )
    }

    /// 422 for a policy refusal: the type names the rule; the detail never carries a subject.
    pub fn policy(d: &crate::policy::Decision, context: Option<&str>) -> Self {
        let detail = match context {
            Some(c) => format!("{c}: {}", d.reason()),
            None => d.reason().to_owned(),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("policy/{}", d.rule().name()),
            detail,
        )
    }

    /// 503 with Retry-After.
    pub fn unavailable(kind: &str, detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, kind, detail)
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("{PROBLEM_BASE}{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let Some(d) = self.delay {
            resp.extensions_mut().insert(AnswerDelay(d));
        }
        resp
    }
}
