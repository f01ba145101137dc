//! The audit log: every decision the gateway takes — accepted, refused, relayed, delivered,
//! published, key or certificate used — as one line of an append-only, hash-chained file
//! (MISSION rule 6). The model is X-Road's signed message log: a chain of hashes makes any edit
//! visible, and periodic signed checkpoints make the chain's head attributable to the organ.
//!
//! # Format
//!
//! `DATA/audit/audit.log` holds one JSON object per line ([`Entry`]): `seq` (1, 2, …), `at`
//! (RFC 3339), `kind`, `organ`, `message_id`, `document_id`, `rule`, `detail`, `prev_hash`,
//! `hash`. `hash` is the hex SHA-256 of the entry's JSON without its `hash` member (every other
//! member, `prev_hash` included, in the order above); `prev_hash` is the previous entry's `hash`,
//! and 64 zeros for the first entry. Each line is exactly the JSON lienthong writes for its entry
//! (compact, members in that order, no escapes beyond what JSON requires), so every byte of a
//! line is covered: a change either alters a hashed value or the form, and both are refused.
//!
//! The detail of an entry never holds a document's subject or content: the [`Event`]
//! constructors take identifiers, rule names and reasons only, and the log is exported to the
//! records office as it stands.
//!
//! # Durability
//!
//! [`AuditLog::append`] returns only after the line is written and `fdatasync`ed: an entry that
//! was returned survives a crash. The `fdatasync` is a group commit: appends write their line
//! under the log's mutex, then wait outside it for a sync that covers their line, so concurrent
//! appends share one `fdatasync` instead of queueing one each behind the mutex (every document
//! leaves several entries; one sync per entry was a disk flush per event on the hot path). If a
//! sync fails, no entry it covered is returned and the log stops appending (fail closed) until a
//! reopen checks the tail; lines it covered may survive on disk although their appends failed. A crash during the write can leave an incomplete last line; the
//! next [`AuditLog::open`] removes it (it was never returned, so nothing it recorded was
//! acknowledged) and says so in [`AuditLog::recovery`]. A last line that is complete JSON but
//! does not continue the chain is never removed: it is refused, for a person to look at.
//!
//! # Checkpoints
//!
//! [`AuditLog::checkpoint`] appends a [`Kind::Checkpoint`] entry whose detail is a
//! [`CheckpointDetail`]: a detached signature by the organ's key over the head of the chain
//! (`lienthong-audit-checkpoint/1`, organ, seq and hash of the last entry, one per line), with the
//! certificate chain and the algorithm URI. [`verify_file`] with a trust store checks each one
//! with [`crate::sign::verify_detached`], bound to the entry's organ, as of the checkpoint's time.
//!
//! What the chain alone cannot show: lines cut from the end. A signed checkpoint, a copy sent to
//! the records office, or a head recorded elsewhere ([`VerifyReport::head`]) bounds that.
//!
//! # Concurrency
//!
//! [`AuditLog`] is `Send + Sync`; writes are serialised by a mutex around the file. Each append
//! blocks on `fdatasync` (shared, see above): async callers run it in `spawn_blocking`. One
//! process owns a log.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sign::{Signer, SignerError, TrustStore, VerifyError, VerifyOptions, verify_detached};

/// The log's directory under the gateway's data directory.
pub const LOG_DIR: &str = "audit";
/// The log's file name in [`LOG_DIR`].
pub const LOG_FILE: &str = "audit.log";
/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest line accepted, in bytes without the newline. A checkpoint with a three-certificate
/// RSA chain is under 10 KiB; anything near this limit is not a line lienthong wrote.
pub const MAX_LINE: usize = 256 * 1024;
/// Longest detail an [`Event`] keeps, in characters; longer details are cut and end with `…`.
pub const MAX_DETAIL_CHARS: usize = 1024;
/// The first line of every signed checkpoint message (domain separation: a checkpoint
/// signature cannot be mistaken for a receipt's or a document's).
pub const CHECKPOINT_CONTEXT: &str = "lienthong-audit-checkpoint/1";

/// Why an audit log could not be written, read or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file operation failed.
    #[error("audit log {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A line is not a JSON entry of the log.
    #[error("line {line} of the audit log is not an audit entry: {reason}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// A line parses but is not byte for byte what lienthong writes for that entry.
    #[error(
        "line {line} of the audit log is not in the form lienthong writes (the line was edited)"
    )]
    NotCanonical {
        /// 1-based line number.
        line: u64,
    },
    /// A line is longer than [`MAX_LINE`].
    #[error("line {line} of the audit log is longer than {limit} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// The entry's hash does not match its content.
    #[error(
        "line {line} (seq {seq}) of the audit log was altered: its hash does not match its content"
    )]
    HashMismatch {
        /// 1-based line number.
        line: u64,
        /// The seq the line claims.
        seq: u64,
    },
    /// The entry's `prev_hash` is not the hash of the line before it.
    #[error(
        "line {line} (seq {seq}) of the audit log does not follow the line before it: the chain is broken"
    )]
    ChainBroken {
        /// 1-based line number.
        line: u64,
        /// The seq the line claims.
        seq: u64,
    },
    /// The entry's seq is not the previous one plus one.
    #[error(
        "line {line} of the audit log has seq {found} where seq {expected} was due: a line was removed, inserted or moved"
    )]
    Sequence {
        /// 1-based line number.
        line: u64,
        /// The seq due.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// The file does not start where a chain can start: seq 1, or a signed checkpoint.
    #[error(
        "line {line} of the audit log (seq {seq}) is neither the start of the chain nor a checkpoint: the beginning of the log is missing"
    )]
    NoAnchor {
        /// 1-based line number.
        line: u64,
        /// The seq found.
        seq: u64,
    },
    /// A checkpoint entry's detail is not a checkpoint, or does not cover the entry before it.
    #[error("line {line} of the audit log is a malformed checkpoint: {reason}")]
    CheckpointMalformed {
        /// 1-based line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// A checkpoint's signature, certificate chain or organ binding was refused.
    #[error(
        "line {line} (seq {seq}) of the audit log: the checkpoint signature for organ {organ} is refused: {source}"
    )]
    CheckpointRefused {
        /// 1-based line number.
        line: u64,
        /// The seq of the checkpoint.
        seq: u64,
        /// The organ the checkpoint claims.
        organ: String,
        /// What verification said.
        #[source]
        source: VerifyError,
    },
    /// On open: the last line cannot be continued (it was altered, or is not an entry).
    #[error("audit log {path}: cannot continue the chain from its last line: {reason}")]
    Head {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Checkpoint entries are written only by [`AuditLog::checkpoint`].
    #[error("a checkpoint entry can only be written by AuditLog::checkpoint")]
    ReservedKind,
    /// A checkpoint needs the signer's certificate.
    #[error("a checkpoint needs the signer's certificate chain")]
    NoCertificate,
    /// Signing a checkpoint failed.
    #[error("signing the audit checkpoint failed: {0}")]
    Signer(#[from] SignerError),
    /// A previous write failed and could not be undone; the log refuses further appends until
    /// it is reopened (which recovers or refuses its last line).
    #[error("the audit log is unavailable after a failed write; reopen it")]
    Unavailable,
    /// Encoding an entry failed.
    #[error("cannot encode an audit entry: {0}")]
    Encode(String),
}

impl AuditError {
    /// The 1-based line the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Malformed { line, .. }
            | Self::NotCanonical { line }
            | Self::LineTooLong { line, .. }
            | Self::HashMismatch { line, .. }
            | Self::ChainBroken { line, .. }
            | Self::Sequence { line, .. }
            | Self::NoAnchor { line, .. }
            | Self::CheckpointMalformed { line, .. }
            | Self::CheckpointRefused { line, .. } => Some(*line),
            Self::Io { .. }
            | Self::Head { .. }
            | Self::ReservedKind
            | Self::NoCertificate
            | Self::Signer(_)
            | Self::Unavailable
            | Self::Encode(_) => None,
        }
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

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
    /// The previous entry's `hash` ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this entry's JSON without `hash`.
    pub hash: String,
}

/// The hashed part of an entry: every member but `hash`, in the line's order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    at: &'a str,
    kind: Kind,
    organ: &'a str,
    message_id: Option<&'a str>,
    document_id: Option<&'a str>,
    rule: Option<&'a str>,
    detail: &'a str,
    prev_hash: &'a str,
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

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
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

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The detail of a [`Kind::Checkpoint`] entry (as JSON text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointDetail {
    /// Seq of the last entry covered (the entry before the checkpoint; 0 for an empty log).
    pub covers_seq: u64,
    /// Hash of that entry ([`GENESIS`] for an empty log): the checkpoint's `prev_hash`.
    pub head: String,
    /// Signature algorithm URI ([`crate::sign::SignatureAlgorithm::uri`]).
    pub alg: String,
    /// Signature over [`checkpoint_message`], base64.
    pub sig: String,
    /// The signer's certificate then its intermediates, base64 DER.
    pub certs: Vec<String>,
}

/// The bytes a checkpoint signs: the context line, the organ, the covered seq and head hash.
pub fn checkpoint_message(organ: &str, covers_seq: u64, head: &str) -> Vec<u8> {
    format!("{CHECKPOINT_CONTEXT}\n{organ}\n{covers_seq}\n{head}").into_bytes()
}

/// Something to record: made by the constructors below, which take identifiers, rule names and
/// reasons — never a document, its subject or its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    kind: Kind,
    organ: String,
    message_id: Option<String>,
    document_id: Option<String>,
    rule: Option<String>,
    detail: String,
}

impl Event {
    /// An event of `kind` concerning `organ`, with no ids and an empty detail.
    pub fn new(kind: Kind, organ: &str) -> Self {
        Self {
            kind,
            organ: organ.to_owned(),
            message_id: None,
            document_id: None,
            rule: None,
            detail: String::new(),
        }
    }

    /// Sets the message id.
    pub fn message(mut self, message_id: &str) -> Self {
        self.message_id = Some(message_id.to_owned());
        self
    }

    /// Sets the document id.
    pub fn document(mut self, document_id: &str) -> Self {
        self.document_id = Some(document_id.to_owned());
        self
    }

    /// Sets the rule that decided.
    pub fn rule(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_owned());
        self
    }

    /// Sets the detail, cut to [`MAX_DETAIL_CHARS`] characters (a reason, not a document).
    pub fn detail(mut self, detail: &str) -> Self {
        self.detail = if detail.chars().count() > MAX_DETAIL_CHARS {
            let mut cut: String = detail.chars().take(MAX_DETAIL_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            detail.to_owned()
        };
        self
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// An office's submission was accepted: signed and queued as `message_id`.
    pub fn submission_accepted(organ: &str, message_id: &str, document_id: &str) -> Self {
        Self::new(Kind::SubmissionAccepted, organ)
            .message(message_id)
            .document(document_id)
    }

    /// An office's submission was refused for `reason`.
    pub fn submission_refused(organ: &str, document_id: Option<&str>, reason: &str) -> Self {
        let e = Self::new(Kind::SubmissionRefused, organ).detail(reason);
        match document_id {
            Some(d) => e.document(d),
            None => e,
        }
    }

    /// A document from `organ` verified: the detail names the signing certificate.
    pub fn signature_verified(
        organ: &str,
        message_id: &str,
        signer_subject: &str,
        serial: &str,
    ) -> Self {
        Self::new(Kind::SignatureVerified, organ)
            .message(message_id)
            .detail(&format!("signer {signer_subject}, serial {serial}"))
    }

    /// A document claiming to come from `organ` was refused for `reason`.
    pub fn signature_refused(organ: &str, message_id: Option<&str>, reason: &str) -> Self {
        let e = Self::new(Kind::SignatureRefused, organ).detail(reason);
        match message_id {
            Some(m) => e.message(m),
            None => e,
        }
    }

    /// `message_id` was handed to the peer gateway of `peer`.
    pub fn relayed(peer: &str, message_id: &str) -> Self {
        Self::new(Kind::Relayed, peer).message(message_id)
    }

    /// `message_id` was received from the peer gateway of `peer`.
    pub fn received(peer: &str, message_id: &str, document_id: &str) -> Self {
        Self::new(Kind::Received, peer)
            .message(message_id)
            .document(document_id)
    }

    /// `message_id` was placed in the inbox of `organ`.
    pub fn delivered(organ: &str, message_id: &str) -> Self {
        Self::new(Kind::Delivered, organ).message(message_id)
    }

    /// The receiving system of `organ` acknowledged `message_id`.
    pub fn acked(organ: &str, message_id: &str) -> Self {
        Self::new(Kind::Acked, organ).message(message_id)
    }

    /// `organ` reported edXML status `code` for `message_id`.
    pub fn status(organ: &str, message_id: &str, code: &str) -> Self {
        Self::new(Kind::Status, organ)
            .message(message_id)
            .detail(&format!("status {code}"))
    }

    /// The policy refused a way for `message_id` under `rule`, for `reason`.
    pub fn policy_refused(organ: &str, message_id: Option<&str>, rule: &str, reason: &str) -> Self {
        let e = Self::new(Kind::PolicyRefused, organ)
            .rule(rule)
            .detail(reason);
        match message_id {
            Some(m) => e.message(m),
            None => e,
        }
    }

    /// `message_id` (document `document_id` of `organ`) was published on the portal feed.
    pub fn published(organ: &str, message_id: &str, document_id: &str) -> Self {
        Self::new(Kind::Published, organ)
            .message(message_id)
            .document(document_id)
    }

    /// A key operation (`create`, `sign`, `rotate`, `destroy`, …) on key `key` of `organ`.
    pub fn key_operation(organ: &str, operation: &str, key: &str) -> Self {
        Self::new(Kind::KeyOperation, organ).detail(&format!("{operation} key {key}"))
    }

    /// A certificate operation (`install`, `revoke`, `crl`, …) on certificate `serial`.
    pub fn certificate_operation(
        organ: &str,
        operation: &str,
        subject: &str,
        serial: &str,
    ) -> Self {
        Self::new(Kind::CertificateOperation, organ).detail(&format!(
            "{operation} certificate {subject}, serial {serial}"
        ))
    }
}

/// What [`AuditLog::open`] repaired at the end of the file after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// An incomplete last line (a write cut short) was removed; it had never been returned.
    Truncated {
        /// Where it started.
        offset: u64,
        /// How many bytes were removed.
        bytes: u64,
        /// The seq of the last whole entry.
        after_seq: u64,
    },
    /// The last entry was whole but its newline was missing; the newline was written.
    NewlineRestored {
        /// That entry's seq.
        seq: u64,
    },
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated {
                offset,
                bytes,
                after_seq,
            } => write!(
                f,
                "removed an incomplete last line ({bytes} bytes at offset {offset}) after seq {after_seq}"
            ),
            Self::NewlineRestored { seq } => {
                write!(f, "restored the missing newline after seq {seq}")
            }
        }
    }
}

struct Inner {
    /// Shared with the syncer, which flushes it without holding this mutex.
    file: std::sync::Arc<File>,
    len: u64,
    seq: u64,
    head: String,
    broken: bool,
}

/// An open audit log. Appends are durable on return.
pub struct AuditLog {
    path: PathBuf,
    organ: String,
    recovery: Option<Recovery>,
    inner: Mutex<Inner>,
    /// The highest seq known to be on disk. Held while syncing, so one `fdatasync` runs at a
    /// time and the appends waiting behind it find their line already covered. Lock order:
    /// `synced` before `inner`, never the other way.
    synced: Mutex<u64>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("organ", &self.organ)
            .finish_non_exhaustive()
    }
}

/// The log file of a gateway data directory: `DIR/audit/audit.log`.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_DIR).join(LOG_FILE)
}

/// The last whole line and any unterminated bytes after it.
struct Tail {
    /// (offset, bytes) of the last newline-terminated line, without its newline.
    last: Option<(u64, Vec<u8>)>,
    /// (offset, bytes) after the last newline.
    torn: Option<(u64, Vec<u8>)>,
}

/// Reads the end of the file backwards until the last whole line is found.
fn read_tail(file: &mut File, len: u64, path: &Path) -> Result<Tail, AuditError> {
    let max = u64::try_from(MAX_LINE.saturating_mul(2).saturating_add(2)).unwrap_or(u64::MAX);
    let mut want = len.min(64 * 1024);
    loop {
        let start = len - want;
        let mut buf = vec![0u8; usize::try_from(want).map_err(|_| AuditError::Unavailable)?];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| io_error(path, &e))?;
        let mut parts = buf.rsplitn(3, |b| *b == b'\n');
        let torn = parts.next().unwrap_or_default();
        let last = parts.next();
        let before = parts.next();
        let torn_len = u64::try_from(torn.len()).unwrap_or(u64::MAX);
        let torn_at = len - torn_len;
        let torn = (!torn.is_empty()).then(|| (torn_at, torn.to_vec()));
        let whole = match (last, before) {
            (None, _) if start == 0 => Some(None),
            (Some(l), Some(_)) => Some(Some(l)),
            (Some(l), None) if start == 0 => Some(Some(l)),
            _ => None,
        };
        if let Some(last) = whole {
            let last = last.map(|l| {
                let l_len = u64::try_from(l.len()).unwrap_or(u64::MAX);
                (torn_at - 1 - l_len, l.to_vec())
            });
            return Ok(Tail { last, torn });
        }
        if want >= max {
            return Err(AuditError::Head {
                path: path.display().to_string(),
                reason: format!("its last line is longer than {MAX_LINE} bytes"),
            });
        }
        want = len.min(want.saturating_mul(2)).min(max);
    }
}

/// Parses and checks one line: JSON entry, canonical form, RFC 3339 time, hash.
fn check_line(bytes: &[u8], line: u64) -> Result<Entry, AuditError> {
    let entry: Entry = serde_json::from_slice(bytes).map_err(|e| AuditError::Malformed {
        line,
        reason: e.to_string(),
    })?;
    check_entry(entry, bytes, line)
}

fn check_entry(entry: Entry, bytes: &[u8], line: u64) -> Result<Entry, AuditError> {
    if entry.to_line()?.as_bytes() != bytes {
        return Err(AuditError::NotCanonical { line });
    }
    OffsetDateTime::parse(&entry.at, &Rfc3339).map_err(|e| AuditError::Malformed {
        line,
        reason: format!("time {:?} is not RFC 3339: {e}", entry.at),
    })?;
    if !is_hash(&entry.prev_hash) || entry.compute_hash()? != entry.hash {
        return Err(AuditError::HashMismatch {
            line,
            seq: entry.seq,
        });
    }
    Ok(entry)
}

impl AuditLog {
    /// Opens (creating it if needed) the log of a gateway data directory, `DIR/audit/audit.log`,
    /// for `organ` (the gateway's own organ: the one that signs checkpoints).
    pub fn open(data_dir: &Path, organ: &str) -> Result<Self, AuditError> {
        let dir = data_dir.join(LOG_DIR);
        create_private_dir(&dir)?;
        Self::open_file(&dir.join(LOG_FILE), organ)
    }

    /// Opens (creating it if needed) the log at `path`. The chain continues from the last line,
    /// which is checked; an incomplete last line left by a crash is removed and reported in
    /// [`Self::recovery`]; anything else wrong with it is refused.
    pub fn open_file(path: &Path, organ: &str) -> Result<Self, AuditError> {
        let existed = path.exists();
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The log names organs and messages: readable by the gateway's user only.
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
        if !existed {
            sync_parent(path)?;
        }
        let len = file.metadata().map_err(|e| io_error(path, &e))?.len();
        let head_error = |reason: String| AuditError::Head {
            path: path.display().to_string(),
            reason,
        };
        let tail = read_tail(&mut file, len, path)?;
        let (mut seq, mut head) = (0, GENESIS.to_owned());
        if let Some((_, bytes)) = &tail.last {
            // Line numbers are unknown without reading the whole file: errors say "last".
            let entry = check_line(bytes, 0).map_err(|e| head_error(describe_last(&e)))?;
            seq = entry.seq;
            head = entry.hash;
        }
        let mut len = len;
        let mut recovery = None;
        if let Some((offset, bytes)) = tail.torn {
            match serde_json::from_slice::<Entry>(&bytes) {
                Err(e) if e.is_eof() => {
                    // A strict prefix of a JSON object: a write cut by a crash. It was never
                    // returned by append, so nothing it recorded was acknowledged.
                    file.set_len(offset)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io_error(path, &e))?;
                    tracing::warn!(
                        path = %path.display(),
                        offset,
                        bytes = len - offset,
                        after_seq = seq,
                        "audit log: removed an incomplete last line"
                    );
                    recovery = Some(Recovery::Truncated {
                        offset,
                        bytes: len - offset,
                        after_seq: seq,
                    });
                    len = offset;
                }
                Err(e) => return Err(head_error(format!("its last line is not an entry: {e}"))),
                Ok(entry) => {
                    let entry =
                        check_entry(entry, &bytes, 0).map_err(|e| head_error(describe_last(&e)))?;
                    if entry.seq != seq + 1 || entry.prev_hash != head {
                        return Err(head_error(format!(
                            "its last entry (seq {}) does not follow seq {seq}",
                            entry.seq
                        )));
                    }
                    file.write_all(b"\n")
                        .and_then(|()| file.sync_data())
                        .map_err(|e| io_error(path, &e))?;
                    len += 1;
                    seq = entry.seq;
                    head = entry.hash;
                    recovery = Some(Recovery::NewlineRestored { seq });
                }
            }
        }
        Ok(Self {
            path: path.to_owned(),
            organ: organ.to_owned(),
            recovery,
            inner: Mutex::new(Inner {
                file: std::sync::Arc::new(file),
                len,
                seq,
                head,
                broken: false,
            }),
            synced: Mutex::new(seq),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The organ whose log this is (and whose key signs checkpoints).
    pub fn organ(&self) -> &str {
        &self.organ
    }

    /// What opening repaired, if anything.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The seq and hash of the last entry (0 and [`GENESIS`] for an empty log).
    pub fn head(&self) -> Result<(u64, String), AuditError> {
        let inner = self.inner.lock().map_err(|_| AuditError::Unavailable)?;
        Ok((inner.seq, inner.head.clone()))
    }

    /// Appends an entry for `event` and returns it once it is written and `fdatasync`ed.
    /// Refuses [`Kind::Checkpoint`] (see [`Self::checkpoint`]).
    pub fn append(&self, event: Event) -> Result<Entry, AuditError> {
        if event.kind == Kind::Checkpoint {
            return Err(AuditError::ReservedKind);
        }
        let (entry, file) = {
            let mut inner = self.inner.lock().map_err(|_| AuditError::Unavailable)?;
            let entry = self.write_locked(&mut inner, event)?;
            (entry, inner.file.clone())
        };
        self.sync_through(entry.seq, &file)?;
        Ok(entry)
    }

    /// Returns once every line up to `seq` is on disk, syncing if no other append did it since.
    fn sync_through(&self, seq: u64, file: &File) -> Result<(), AuditError> {
        let mut synced = self.synced.lock().map_err(|_| AuditError::Unavailable)?;
        if *synced >= seq {
            return Ok(());
        }
        // Everything written so far is covered by this sync, not only our own line.
        let written = self.inner.lock().map_err(|_| AuditError::Unavailable)?.seq;
        if let Err(e) = file.sync_data() {
            // Which of the unsynced lines reached the disk is unknown: refuse them all and stop
            // appending until a reopen checks the tail.
            if let Ok(mut inner) = self.inner.lock() {
                inner.broken = true;
            }
            return Err(io_error(&self.path, &e));
        }
        *synced = written;
        Ok(())
    }

    /// Appends a checkpoint: a signature by `signer` over the current head (see
    /// [`checkpoint_message`]), with `chain` (signer's certificate first) and the algorithm URI.
    /// The head cannot move while it is signed (the lock is held); run it off the async reactor.
    pub fn checkpoint(
        &self,
        signer: &dyn Signer,
        chain: &[CertificateDer<'_>],
    ) -> Result<Entry, AuditError> {
        if chain.is_empty() {
            return Err(AuditError::NoCertificate);
        }
        let mut inner = self.inner.lock().map_err(|_| AuditError::Unavailable)?;
        if inner.broken {
            return Err(AuditError::Unavailable);
        }
        let covers_seq = inner.seq;
        let head = inner.head.clone();
        let sig = signer.sign(&checkpoint_message(&self.organ, covers_seq, &head))?;
        let detail = CheckpointDetail {
            covers_seq,
            head,
            alg: signer.algorithm().uri().to_owned(),
            sig: B64.encode(sig),
            certs: chain.iter().map(|c| B64.encode(c.as_ref())).collect(),
        };
        let detail =
            serde_json::to_string(&detail).map_err(|e| AuditError::Encode(e.to_string()))?;
        // Built directly: Event::detail would cut it.
        let event = Event {
            detail,
            ..Event::new(Kind::Checkpoint, &self.organ)
        };
        let entry = self.write_locked(&mut inner, event)?;
        let file = inner.file.clone();
        drop(inner);
        self.sync_through(entry.seq, &file)?;
        Ok(entry)
    }

    /// Writes the entry's line (not yet synced: see [`Self::sync_through`]).
    fn write_locked(&self, inner: &mut Inner, event: Event) -> Result<Entry, AuditError> {
        if inner.broken {
            return Err(AuditError::Unavailable);
        }
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .map_err(|e| AuditError::Encode(e.to_string()))?;
        let mut entry = Entry {
            seq: inner.seq + 1,
            at,
            kind: event.kind,
            organ: event.organ,
            message_id: event.message_id,
            document_id: event.document_id,
            rule: event.rule,
            detail: event.detail,
            prev_hash: inner.head.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash()?;
        let mut line = entry.to_line()?;
        if line.len() > MAX_LINE {
            return Err(AuditError::Encode(format!(
                "entry of {} bytes is longer than {MAX_LINE}",
                line.len()
            )));
        }
        line.push('\n');
        let written = (&*inner.file).write_all(line.as_bytes());
        if let Err(e) = written {
            // Undo a partial line so the next append does not land after garbage; if even
            // that fails, stop appending (fail closed) until a reopen recovers the tail.
            let undone = inner
                .file
                .set_len(inner.len)
                .and_then(|()| inner.file.sync_data());
            if undone.is_err() {
                inner.broken = true;
            }
            return Err(io_error(&self.path, &e));
        }
        inner.len += u64::try_from(line.len()).unwrap_or(u64::MAX);
        inner.seq = entry.seq;
        inner.head.clone_from(&entry.hash);
        Ok(entry)
    }
}

/// An error about the last line, said without a line number (open does not count lines).
fn describe_last(e: &AuditError) -> String {
    match e {
        AuditError::Malformed { reason, .. } => format!("the last line is not an entry: {reason}"),
        AuditError::NotCanonical { .. } => {
            "the last line is not in the form lienthong writes (it was edited)".into()
        }
        AuditError::HashMismatch { seq, .. } => {
            format!("the last entry (seq {seq}) was altered: its hash does not match its content")
        }
        other => other.to_string(),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), AuditError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io_error(dir, &e))
}

/// Makes a new file's directory entry durable.
fn sync_parent(path: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(parent, &e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// What [`verify_file`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Seq of the first entry: 1 for a whole log, more for an export that starts at a
    /// checkpoint, 0 when empty.
    pub first_seq: u64,
    /// Seq of the last entry (0 when empty).
    pub last_seq: u64,
    /// Hash of the last entry ([`GENESIS`] when empty): record it to detect a later truncation.
    pub head: String,
    /// Checkpoint entries found.
    pub checkpoints: u64,
    /// Checkpoints whose signature was verified (all of them when a trust store was given).
    pub checkpoints_verified: u64,
    /// Seq of the last checkpoint, if any: entries after it are chained but not yet signed.
    pub last_checkpoint_seq: Option<u64>,
    /// The file ended in an incomplete line (a write in progress or cut by a crash), ignored.
    pub torn_tail: bool,
}

impl VerifyReport {
    /// Whether the file holds the chain from its first entry.
    pub fn complete(&self) -> bool {
        self.first_seq <= 1
    }
}

/// The chain check, one line at a time (shared by verification and export).
struct Verifier<'t> {
    trust: Option<&'t TrustStore>,
    line: u64,
    prev: Option<(u64, String)>,
    report: VerifyReport,
}

impl<'t> Verifier<'t> {
    fn new(trust: Option<&'t TrustStore>) -> Self {
        Self {
            trust,
            line: 0,
            prev: None,
            report: VerifyReport {
                entries: 0,
                first_seq: 0,
                last_seq: 0,
                head: GENESIS.to_owned(),
                checkpoints: 0,
                checkpoints_verified: 0,
                last_checkpoint_seq: None,
                torn_tail: false,
            },
        }
    }

    /// Checks the next line (without its newline). `terminated` is false for bytes after the
    /// last newline: an incomplete JSON object there is a torn tail, not an entry.
    fn push(&mut self, bytes: &[u8], terminated: bool) -> Result<Option<Entry>, AuditError> {
        self.line += 1;
        let line = self.line;
        let entry: Entry = match serde_json::from_slice(bytes) {
            Ok(entry) => check_entry(entry, bytes, line)?,
            Err(e) if !terminated && e.is_eof() => {
                self.report.torn_tail = true;
                return Ok(None);
            }
            Err(e) => {
                return Err(AuditError::Malformed {
                    line,
                    reason: e.to_string(),
                });
            }
        };
        match &self.prev {
            None if entry.seq == 1 => {
                if entry.prev_hash != GENESIS {
                    return Err(AuditError::ChainBroken {
                        line,
                        seq: entry.seq,
                    });
                }
            }
            // An export may start at a checkpoint: its signature vouches for its prev_hash.
            None if entry.kind == Kind::Checkpoint => {}
            None => {
                return Err(AuditError::NoAnchor {
                    line,
                    seq: entry.seq,
                });
            }
            Some((seq, hash)) => {
                let expected = seq.saturating_add(1);
                if entry.seq != expected {
                    return Err(AuditError::Sequence {
                        line,
                        expected,
                        found: entry.seq,
                    });
                }
                if entry.prev_hash != *hash {
                    return Err(AuditError::ChainBroken {
                        line,
                        seq: entry.seq,
                    });
                }
            }
        }
        if entry.kind == Kind::Checkpoint {
            self.report.checkpoints += 1;
            self.report.last_checkpoint_seq = Some(entry.seq);
            if check_checkpoint(&entry, line, self.trust)? {
                self.report.checkpoints_verified += 1;
            }
        }
        if self.report.entries == 0 {
            self.report.first_seq = entry.seq;
        }
        self.report.entries += 1;
        self.report.last_seq = entry.seq;
        self.report.head.clone_from(&entry.hash);
        self.prev = Some((entry.seq, entry.hash.clone()));
        Ok(Some(entry))
    }
}

/// Checks a checkpoint's shape, and with a trust store its signature; true when verified.
fn check_checkpoint(
    entry: &Entry,
    line: u64,
    trust: Option<&TrustStore>,
) -> Result<bool, AuditError> {
    let malformed = |reason: &str| AuditError::CheckpointMalformed {
        line,
        reason: reason.to_owned(),
    };
    let cp: CheckpointDetail = serde_json::from_str(&entry.detail)
        .map_err(|e| malformed(&format!("its detail is not a checkpoint: {e}")))?;
    if cp.covers_seq.checked_add(1) != Some(entry.seq) || cp.head != entry.prev_hash {
        return Err(malformed("it does not cover the entry before it"));
    }
    let Some(trust) = trust else {
        return Ok(false);
    };
    let sig = B64
        .decode(&cp.sig)
        .map_err(|_| malformed("its signature is not base64"))?;
    let certs = cp
        .certs
        .iter()
        .map(|c| B64.decode(c).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| malformed("a certificate is not base64"))?;
    // Verified as of the checkpoint's own time: an archive is checked long after its
    // certificates expire, as XAdES/X-Road archives are.
    let at = OffsetDateTime::parse(&entry.at, &Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
        .ok_or_else(|| malformed("its time is not a valid RFC 3339 instant after 1970"))?;
    let options = VerifyOptions {
        at: UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
        ..VerifyOptions::now()
    };
    verify_detached(
        &checkpoint_message(&entry.organ, cp.covers_seq, &cp.head),
        &cp.alg,
        &sig,
        &certs,
        &entry.organ,
        trust,
        &options,
    )
    .map_err(|source| AuditError::CheckpointRefused {
        line,
        seq: entry.seq,
        organ: entry.organ.clone(),
        source,
    })?;
    Ok(true)
}

/// Reads the next line: `(bytes without newline, terminated)`, or `None` at the end.
fn read_line<R: BufRead>(reader: &mut R, line: u64, path: &Path) -> LineResult {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_LINE)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let n = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', &mut buf)
        .map_err(|e| io_error(path, &e))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some((buf, true)));
    }
    if buf.len() > MAX_LINE {
        return Err(AuditError::LineTooLong {
            line,
            limit: MAX_LINE,
        });
    }
    Ok(Some((buf, false)))
}

type LineResult = Result<Option<(Vec<u8>, bool)>, AuditError>;

/// Verifies a log or an export read from `reader` (`origin` names it in errors): every line an
/// entry in canonical form with a matching hash, seq continuous, each `prev_hash` the hash of
/// the line before; the first line seq 1 from [`GENESIS`], or a checkpoint. With `trust`,
/// every checkpoint's signature, chain and organ binding is verified too.
pub fn verify_reader<R: BufRead>(
    mut reader: R,
    origin: &Path,
    trust: Option<&TrustStore>,
) -> Result<VerifyReport, AuditError> {
    let mut v = Verifier::new(trust);
    // read_line returns an unterminated segment only at the end of the input.
    while let Some((bytes, terminated)) = read_line(&mut reader, v.line + 1, origin)? {
        v.push(&bytes, terminated)?;
    }
    Ok(v.report)
}

/// Verifies the log or export at `path` (see [`verify_reader`]). An export that starts at a
/// checkpoint is accepted ([`VerifyReport::complete`] is then false); use [`verify_dir`] for a
/// gateway's own log, which must hold the whole chain.
pub fn verify_file(path: &Path, trust: Option<&TrustStore>) -> Result<VerifyReport, AuditError> {
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    verify_reader(BufReader::new(file), path, trust)
}

/// Verifies the whole log of a gateway data directory (`DIR/audit/audit.log`): as
/// [`verify_file`], and the first line must be the start of the chain.
pub fn verify_dir(data_dir: &Path, trust: Option<&TrustStore>) -> Result<VerifyReport, AuditError> {
    let report = verify_file(&log_path(data_dir), trust)?;
    if !report.complete() {
        return Err(AuditError::NoAnchor {
            line: 1,
            seq: report.first_seq,
        });
    }
    Ok(report)
}

/// What [`export`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Lines written.
    pub lines: u64,
    /// Seq of the first line written (0 when none).
    pub first_seq: u64,
    /// Seq of the last line written (0 when none).
    pub last_seq: u64,
}

/// Writes the log of a gateway data directory to `out`, as JSON lines with their hashes and
/// checkpoint signatures, for the organ's records office. The log is verified first (chain
/// only; a tampered log is refused, not exported).
///
/// With `since`, the export starts at the last checkpoint before the first entry at or after
/// `since` (or at the first entry when there is none), so that it verifies on its own: its
/// first line is then a signed checkpoint that vouches for everything before it. Without
/// `since`, the whole log. Entries appended while exporting are left for the next export.
pub fn export(
    data_dir: &Path,
    since: Option<OffsetDateTime>,
    out: &mut dyn Write,
) -> Result<ExportReport, AuditError> {
    let path = log_path(data_dir);
    // Pass 1: verify, and find the first line to write.
    let file = File::open(&path).map_err(|e| io_error(&path, &e))?;
    let mut reader = BufReader::new(file);
    let mut v = Verifier::new(None);
    let mut last_checkpoint_line = None;
    let mut start: Option<u64> = None;
    while let Some((bytes, terminated)) = read_line(&mut reader, v.line + 1, &path)? {
        let Some(entry) = v.push(&bytes, terminated)? else {
            break;
        };
        if start.is_none() {
            let at =
                OffsetDateTime::parse(&entry.at, &Rfc3339).map_err(|e| AuditError::Malformed {
                    line: v.line,
                    reason: e.to_string(),
                })?;
            if since.is_none_or(|s| at >= s) {
                start = Some(last_checkpoint_line.unwrap_or(1));
            }
        }
        if entry.kind == Kind::Checkpoint {
            last_checkpoint_line = Some(v.line);
        }
    }
    if !v.report.complete() {
        return Err(AuditError::NoAnchor {
            line: 1,
            seq: v.report.first_seq,
        });
    }
    let verified = v.report.entries;
    let mut report = ExportReport {
        lines: 0,
        first_seq: 0,
        last_seq: 0,
    };
    let Some(start) = start else {
        return Ok(report);
    };
    // Pass 2: copy the verified lines from `start`, byte for byte.
    let file = File::open(&path).map_err(|e| io_error(&path, &e))?;
    let mut reader = BufReader::new(file);
    let mut line = 0u64;
    while line < verified {
        let Some((bytes, _)) = read_line(&mut reader, line + 1, &path)? else {
            break;
        };
        line += 1;
        if line < start {
            continue;
        }
        let entry = check_line(&bytes, line)?;
        if report.lines == 0 {
            report.first_seq = entry.seq;
        }
        report.lines += 1;
        report.last_seq = entry.seq;
        out.write_all(&bytes)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| AuditError::Io {
                path: "export output".into(),
                reason: e.to_string(),
            })?;
    }
    out.flush().map_err(|e| AuditError::Io {
        path: "export output".into(),
        reason: e.to_string(),
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, prev: &str) -> Entry {
        let mut e = Entry {
            seq,
            at: "2026-11-20T08:00:00Z".into(),
            kind: Kind::Relayed,
            organ: "VPTW".into(),
            message_id: Some("m-1".into()),
            document_id: None,
            rule: None,
            detail: "Châu Thành \"quoted\"\n".into(),
            prev_hash: prev.into(),
            hash: String::new(),
        };
        e.hash = e.compute_hash().unwrap();
        e
    }

    #[test]
    fn hash_covers_every_member_but_itself() {
        let e = entry(1, GENESIS);
        assert!(is_hash(&e.hash));
        let base = e.hash.clone();
        let mut other = e.clone();
        other.detail.push('x');
        assert_ne!(other.compute_hash().unwrap(), base);
        let mut other = e.clone();
        other.prev_hash = "1".repeat(64);
        assert_ne!(other.compute_hash().unwrap(), base);
        let mut other = e.clone();
        other.kind = Kind::Received;
        assert_ne!(other.compute_hash().unwrap(), base);
        let mut other = e;
        other.hash = "f".repeat(64);
        assert_eq!(other.compute_hash().unwrap(), base);
    }

    #[test]
    fn kinds_are_kebab_case() {
        let e = entry(1, GENESIS);
        assert!(e.to_line().unwrap().contains(r#""kind":"relayed""#));
        assert_eq!(
            serde_json::to_string(&Kind::CertificateOperation).unwrap(),
            r#""certificate-operation""#
        );
    }

    #[test]
    fn an_escaped_but_equal_line_is_not_canonical() {
        let e = entry(1, GENESIS);
        let line = e.to_line().unwrap();
        assert!(check_line(line.as_bytes(), 3).is_ok());
        let escaped = line.replace("â", "\\u00e2");
        assert_ne!(escaped, line);
        let parsed: Entry = serde_json::from_str(&escaped).unwrap();
        assert_eq!(parsed, e);
        assert!(matches!(
            check_line(escaped.as_bytes(), 3),
            Err(AuditError::NotCanonical { line: 3 })
        ));
        let spaced = line.replacen(',', ", ", 1);
        assert!(matches!(
            check_line(spaced.as_bytes(), 4),
            Err(AuditError::NotCanonical { line: 4 })
        ));
    }

    #[test]
    fn prefixes_of_a_line_are_incomplete_json() {
        let line = entry(1, GENESIS).to_line().unwrap();
        // Every strict prefix, including ones cut inside a multi-byte character, is an EOF error:
        // exactly what open() removes and nothing else.
        for cut in 1..line.len() {
            let err = serde_json::from_slice::<Entry>(&line.as_bytes()[..cut]).unwrap_err();
            assert!(err.is_eof(), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn long_details_are_cut() {
        let long = "đ".repeat(MAX_DETAIL_CHARS + 10);
        let e = Event::new(Kind::Status, "VPTW").detail(&long);
        assert_eq!(e.detail.chars().count(), MAX_DETAIL_CHARS);
        assert!(e.detail.ends_with('…'));
        let short = Event::new(Kind::Status, "VPTW").detail("ngắn");
        assert_eq!(short.detail, "ngắn");
    }

    #[test]
    fn checkpoint_message_is_domain_separated() {
        let m = checkpoint_message("TU.BENTRE", 7, GENESIS);
        assert_eq!(
            m,
            format!("lienthong-audit-checkpoint/1\nTU.BENTRE\n7\n{GENESIS}").into_bytes()
        );
    }

    #[test]
    fn log_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AuditLog>();
    }

    #[test]
    fn reading_the_tail_finds_the_last_whole_line_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        // Lines longer than the first 64 KiB chunk force the backward read to grow.
        let long = "x".repeat(100 * 1024);
        std::fs::write(&path, format!("{long}\n{long}y\npartial")).unwrap();
        let mut f = File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        let tail = read_tail(&mut f, len, &path).unwrap();
        let (off, last) = tail.last.unwrap();
        assert_eq!(last, format!("{long}y").into_bytes());
        assert_eq!(off, u64::try_from(long.len() + 1).unwrap());
        assert_eq!(tail.torn.unwrap().1, b"partial".to_vec());

        std::fs::write(&path, "only\n").unwrap();
        let mut f = File::open(&path).unwrap();
        let tail = read_tail(&mut f, 5, &path).unwrap();
        assert_eq!(tail.last, Some((0, b"only".to_vec())));
        assert!(tail.torn.is_none());

        std::fs::write(&path, "no newline").unwrap();
        let mut f = File::open(&path).unwrap();
        let tail = read_tail(&mut f, 10, &path).unwrap();
        assert!(tail.last.is_none());
        assert_eq!(tail.torn, Some((0, b"no newline".to_vec())));
    }
}
