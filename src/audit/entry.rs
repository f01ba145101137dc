//! The record format and the hash chain: an entry, its kind, the bytes its hash covers.

use serde::{Deserialize, Serialize};

use super::checkpoint::CheckpointDetail;
use super::error::AuditError;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Kind {
    /// An office's submission was accepted (signed and queued).
    SubmissionAccepted,
    /// An office's submission was refused.
    SubmissionRefused,
    /// A document's signature, chain and organ binding verified.
    SignatureVerified,
    /// A document's signature was refused.
    SignatureRefused,
    /// A document was handed to the next-hop peer.
    Relayed,
    /// A document was received from a peer.
    Received,
    /// A document was placed in an organ's inbox.
    Delivered,
    /// A receiving system acknowledged a document.
    Acked,
    /// A processing status was reported.
    Status,
    /// The classification policy refused a way in or out.
    PolicyRefused,
    /// A document was published on the portal feed.
    Published,
    /// A key was created, used, rotated or destroyed.
    KeyOperation,
    /// A certificate was requested, installed, revoked; a CRL published.
    CertificateOperation,
    /// A signed checkpoint of the chain's head.
    Checkpoint,
    /// A stored document was found altered on disk and quarantined.
    StoreFault,
    /// Failed authentication attempts from one source are being slowed down.
    AuthThrottled,
    /// A document that came without a label was given one by configuration (a client's
    /// `external_default_level`): the detail names the level, the procedure and the client.
    LabelAssigned,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When it was written, RFC 3339, UTC.
    pub at: String,
    /// What it records.
    pub kind: Kind,
    /// The organ the event concerns (for a checkpoint: the organ whose key signed it).
    pub organ: String,
    /// The edXML message id, when the event is about a message.
    pub message_id: Option<String>,
    /// The edXML document id, when known.
    pub document_id: Option<String>,
    /// The policy rule or check that decided, when one did.
    pub rule: Option<String>,
    /// A short reason or identifier list; never a document's subject or content.
    pub detail: String,
    /// The previous entry's `hash` ([`GENESIS`](super::GENESIS) for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this entry's JSON without `hash`.
    pub hash: String,
}

/// The hashed part of an entry: every member but `hash`, in the line's order.
#[derive(Serialize)]
pub(super) struct Body<'a> {
    pub(super) seq: u64,
    pub(super) at: &'a str,
    pub(super) kind: Kind,
    pub(super) organ: &'a str,
    pub(super) message_id: Option<&'a str>,
    pub(super) document_id: Option<&'a str>,
    pub(super) rule: Option<&'a str>,
    pub(super) detail: &'a str,
    pub(super) prev_hash: &'a str,
}

impl Entry {
    /// The hash this entry's content calls for.
    pub fn compute_hash(&self) -> Result<String, AuditError> {
        let body = Body {
            seq: self.seq,
            at: &self.at,
            kind: self.kind,
            organ: &self.organ,
            message_id: self.message_id.as_deref(),
            document_id: self.document_id.as_deref(),
            rule: self.rule.as_deref(),
            detail: &self.detail,
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| AuditError::Encode(e.to_string()))?;
        Ok(sha256_hex(&bytes))
    }

    /// The line lienthong writes for this entry (without the newline).
    pub fn to_line(&self) -> Result<String, AuditError> {
        serde_json::to_string(self).map_err(|e| AuditError::Encode(e.to_string()))
    }

    /// The checkpoint this entry carries, when it is one.
    pub fn checkpoint(&self) -> Option<CheckpointDetail> {
        if self.kind != Kind::Checkpoint {
            return None;
        }
        serde_json::from_str(&self.detail).ok()
    }
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(d) = DIGITS.get(usize::from(nibble)) {
                s.push(char::from(*d));
            }
        }
    }
    s
}

pub(super) fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
