//! The bearer token of a request: found in `Authorization: Bearer …` here, judged by the
//! domain (`gateway::Shared::authenticate`, which meters failures), its refusals answered as problems by
//! [`super::refusal`]. No token ever reaches a log line.

use axum::http::{HeaderMap, header};

/// The token of `Authorization: Bearer <token>`, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}
