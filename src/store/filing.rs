//! What the gateway files about a message beside its metadata, written in the same durable
//! transaction as the message ([`Store::accept_filed`](super::Store::accept_filed)):
//!
//! - a [`Filing`]: the signed label (level, procedure, public flag) every later path hands to
//!   `policy::decide` (inbox, relay, status relay), the due date of its procedure, and when
//!   each recipient organ reported it handled (status 06) — what the timeliness report reads;
//! - a [`PublicEntry`], only for a document `decide(…, Way::Publication)` allowed: the public
//!   index the portal reads. Nothing of a non-public document is ever written there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MessageId;
use super::types::{Level, OrganId};

/// The label, due date and handling record of one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filing {
    /// The label's level as signed (stored as its token, `thuong`, `mat`, …).
    pub level: Level,
    /// The label's procedure code.
    pub procedure: String,
    /// The label's public flag.
    pub public: bool,
    /// When this gateway accepted the message, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// The due date (end of its last day, Vietnam time), ms since the Unix epoch; `None` when
    /// the procedure has no deadline and the header sets none.
    pub due_ms: Option<i64>,
    /// Whether the due date came from the envelope's `DueDate` (else from the procedure).
    pub due_from_header: bool,
    /// The sending organ.
    pub from: OrganId,
    /// The final recipient organs.
    pub to: Vec<OrganId>,
    /// Recipient organ → when it first reported status 06 (handled), ms since the Unix epoch.
    #[serde(default)]
    pub handled: BTreeMap<OrganId, i64>,
}

/// A published document: only what the portal shows, nothing else of the envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicEntry {
    /// The message id.
    pub message_id: MessageId,
    /// The edXML document id.
    pub document_id: String,
    /// Number and notation, e.g. `07/NQ-ĐUK`.
    pub code: String,
    /// The subject (trích yếu).
    pub subject: String,
    /// The issuing organ id.
    pub from: OrganId,
    /// The issuing organ's name.
    pub from_name: String,
    /// The procedure code.
    pub procedure: String,
    /// The promulgation date, `YYYY-MM-DD`.
    pub promulgated: String,
    /// When this gateway published it, ms since the Unix epoch.
    pub published_at_ms: i64,
}

/// What [`Store::accept_filed`](super::Store::accept_filed) writes beside the message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filed {
    /// The filing record.
    pub filing: Option<Filing>,
    /// The public index entry, only for a document publication allowed.
    pub public: Option<PublicEntry>,
}
