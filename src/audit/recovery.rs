//! Reading the tail of a log at open: what an interrupted write left and what open did.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::MAX_LINE;
use super::entry::{Entry, is_hash};
use super::error::{AuditError, io_error};

/// What [`AuditLog::open`](super::AuditLog::open) repaired at the end of the file after a crash.
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

/// The last whole line and any unterminated bytes after it.
pub(super) struct Tail {
    /// (offset, bytes) of the last newline-terminated line, without its newline.
    pub(super) last: Option<(u64, Vec<u8>)>,
    /// (offset, bytes) after the last newline.
    pub(super) torn: Option<(u64, Vec<u8>)>,
}

/// Reads the end of the file backwards until the last whole line is found.
pub(super) fn read_tail(file: &mut File, len: u64, path: &Path) -> Result<Tail, AuditError> {
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
pub(super) fn check_line(bytes: &[u8], line: u64) -> Result<Entry, AuditError> {
    let entry: Entry = serde_json::from_slice(bytes).map_err(|e| AuditError::Malformed {
        line,
        reason: e.to_string(),
    })?;
    check_entry(entry, bytes, line)
}

pub(super) fn check_entry(entry: Entry, bytes: &[u8], line: u64) -> Result<Entry, AuditError> {
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

/// An error about the last line, said without a line number (open does not count lines).
pub(super) fn describe_last(e: &AuditError) -> String {
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
