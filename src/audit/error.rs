//! Why an audit log could not be written, read or verified: one error for the module.

use std::path::Path;

use crate::sign::{SignerError, VerifyError};

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
    /// A line is longer than [`MAX_LINE`](super::MAX_LINE).
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
    /// Checkpoint entries are written only by [`AuditLog::checkpoint`](super::AuditLog::checkpoint).
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

pub(super) fn io_error(path: &Path, e: &std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
