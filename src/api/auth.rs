//! The bearer token of a request: found in `Authorization: Bearer …` here, judged by the
//! domain's [`Authenticator`] (`gateway::caller`), its refusals answered as problems by
//! [`super::refusal`]. No token ever reaches a log line.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};

use super::problem::Problem;
use crate::gateway::caller::{Authenticator, Caller};

/// The token of `Authorization: Bearer <token>`, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The caller of a request from `remote`, or the problem that refuses it (401, 429).
pub fn authenticate(
    auth: &Authenticator,
    headers: &HeaderMap,
    remote: Option<IpAddr>,
) -> Result<Caller, Problem> {
    Ok(auth.authenticate(bearer(headers), remote)?)
}
