//! The one mapping from the domain's refusals to RFC 9457 problems: each variant of each
//! operation's error enum gets its HTTP status and its problem type here, and nowhere else.
//! The types are those the OpenAPI file names (`schemas/openapi.yaml`); the detail is the
//! error's own sentence, never a document's subject or content. Internal failures answer 500
//! and are logged with their detail ([`Problem::internal`]).

use axum::http::StatusCode;

use super::problem::Problem;
use crate::exchange::ProtocolError;
use crate::gateway::caller::AuthError;
use crate::gateway::error::{Internal, NoteTooLong, PolicyRefusal, StoreFault};
use crate::gateway::inbox::InboxError;
use crate::gateway::recall::RecallError;
use crate::gateway::receive::ReceiveError;
use crate::gateway::reports::ReportError;
use crate::gateway::status::StatusError;
use crate::gateway::submit::SubmitError;

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// Seconds a client waits before sending again to an overloaded gateway.
const OVERLOAD_RETRY_SECS: u64 = 1;

/// Seconds a client waits before sending again to a gateway whose disk is full.
pub(super) const DISK_FULL_RETRY_SECS: u64 = 60;

/// Seconds a client waits before sending again to a gateway whose database is unreachable.
const STORE_UNAVAILABLE_RETRY_SECS: u64 = 5;

/// Seconds an office waits before submitting again towards a full outbox.
const OUTBOX_FULL_RETRY_SECS: u64 = 30;

impl From<Internal> for Problem {
    fn from(e: Internal) -> Self {
        match e.fault {
            Some(StoreFault::Altered) => {
                tracing::error!(context = e.context, error = %e.reason, "store integrity fault");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store/corrupt",
                    "the stored document failed its integrity check on this gateway's disk; \
                     it is quarantined and will not be served",
                )
            }
            Some(StoreFault::Full) => {
                tracing::warn!(context = e.context, reason = %e.reason, "refused: disk full");
                Problem {
                    retry_after: Some(DISK_FULL_RETRY_SECS),
                    ..Problem::new(
                        StatusCode::INSUFFICIENT_STORAGE,
                        "store/full",
                        "this gateway's disk is below its free-space reserve; nothing was \
                         stored; documents already accepted are still delivered",
                    )
                }
            }
            Some(StoreFault::Unavailable) => {
                tracing::warn!(context = e.context, reason = %e.reason, "store unreachable");
                Problem::unavailable(
                    "store/unavailable",
                    "this gateway's database cannot be reached right now; nothing was stored"
                        .to_owned(),
                    STORE_UNAVAILABLE_RETRY_SECS,
                )
            }
            None => Problem::internal(e.context, &e.reason),
        }
    }
}

impl From<crate::gateway::admission::Overloaded> for Problem {
    fn from(e: crate::gateway::admission::Overloaded) -> Self {
        Problem::unavailable("overload", e.to_string(), OVERLOAD_RETRY_SECS)
    }
}

impl From<PolicyRefusal> for Problem {
    fn from(p: PolicyRefusal) -> Self {
        Problem::new(UNPROCESSABLE, &format!("policy/{}", p.rule()), p.detail())
    }
}

impl From<NoteTooLong> for Problem {
    fn from(e: NoteTooLong) -> Self {
        Problem::bad_request("status/note-too-long", e.to_string())
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::NoToken => Problem::unauthorized(),
            AuthError::Unauthenticated { delay_ms, .. } => Problem {
                delay: (delay_ms > 0).then(|| std::time::Duration::from_millis(delay_ms)),
                ..Problem::unauthorized()
            },
            AuthError::MissingRole { .. } => Problem::forbidden(e.to_string()),
        }
    }
}

impl From<SubmitError> for Problem {
    fn from(e: SubmitError) -> Self {
        let detail = e.to_string();
        match e {
            SubmitError::Envelope(_) => Problem::bad_request(e.name(), detail),
            SubmitError::Unlabelled { .. } | SubmitError::RecallUnknown { .. } => {
                Problem::new(UNPROCESSABLE, e.name(), detail)
            }
            SubmitError::NotCallersOrgan { .. } | SubmitError::NotThisGateway { .. } => {
                Problem::forbidden(detail)
            }
            SubmitError::Policy(p) => p.into(),
            SubmitError::NoRoute { .. } | SubmitError::Signature(_) => {
                Problem::new(UNPROCESSABLE, e.name(), detail)
            }
            SubmitError::OutboxFull { .. } => {
                Problem::unavailable(e.name(), detail, OUTBOX_FULL_RETRY_SECS)
            }
            SubmitError::Sealing(_) => Problem::new(UNPROCESSABLE, e.name(), detail),
            SubmitError::Internal(i) => i.into(),
        }
    }
}

impl From<ProtocolError> for Problem {
    fn from(e: ProtocolError) -> Self {
        Problem::bad_request(e.name(), e.to_string())
    }
}

impl From<ReceiveError> for Problem {
    fn from(e: ReceiveError) -> Self {
        let detail = e.to_string();
        match e {
            ReceiveError::NoClientCertificate | ReceiveError::NotAPeer { .. } => {
                Problem::forbidden(detail)
            }
            ReceiveError::Policy(p) => p.into(),
            ReceiveError::IdConflict => Problem::new(StatusCode::CONFLICT, e.name(), detail),
            ReceiveError::OutboxFull { .. } => {
                Problem::unavailable(e.name(), detail, OUTBOX_FULL_RETRY_SECS)
            }
            ReceiveError::Internal(i) => i.into(),
            ReceiveError::BadTrace(_)
            | ReceiveError::TooManyHops { .. }
            | ReceiveError::Loop
            | ReceiveError::Signature(_)
            | ReceiveError::NotARecipient { .. }
            | ReceiveError::NoRoute { .. }
            | ReceiveError::Sealing(_) => Problem::new(UNPROCESSABLE, e.name(), detail),
        }
    }
}

impl From<StatusError> for Problem {
    fn from(e: StatusError) -> Self {
        let detail = e.to_string();
        match e {
            StatusError::NoRouteBack { .. } => {
                Problem::new(UNPROCESSABLE, "routing/no-route", detail)
            }
            StatusError::Policy(p) => p.into(),
            StatusError::NotFound => Problem::not_found(detail),
            StatusError::Invalid(_) => Problem::bad_request("status/invalid", detail),
            StatusError::Edxml(_) => Problem::new(UNPROCESSABLE, "status/edxml", detail),
            StatusError::NotReportable => Problem::bad_request("status/code", detail),
            StatusError::ReasonRequired { .. } => {
                Problem::bad_request("status/reason-required", detail)
            }
            StatusError::NoRecall { .. } => {
                Problem::new(StatusCode::CONFLICT, "status/no-recall", detail)
            }
            StatusError::NoteTooLong(n) => n.into(),
            StatusError::Internal(i) => i.into(),
        }
    }
}

impl From<RecallError> for Problem {
    fn from(e: RecallError) -> Self {
        match e {
            RecallError::NotFound => Problem::not_found(e.to_string()),
            RecallError::NotFromSender { .. } => Problem::forbidden(e.to_string()),
            RecallError::NoteTooLong(n) => n.into(),
            RecallError::Internal(i) => i.into(),
        }
    }
}

impl From<ReportError> for Problem {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::BadBound | ReportError::Reversed => {
                Problem::bad_request("request/bad-period", e.to_string())
            }
            ReportError::Internal(i) => i.into(),
        }
    }
}

impl From<InboxError> for Problem {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::NotFound => Problem::not_found(e.to_string()),
            InboxError::Sealing(ref s) => {
                Problem::new(StatusCode::CONFLICT, s.name(), e.to_string())
            }
            InboxError::Status(s) => s.into(),
            InboxError::Internal(i) => i.into(),
        }
    }
}
