//! Verifying a whole log: the chain, the form of every line and, with a trust store, every
//! checkpoint.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::sign::TrustStore;

use super::checkpoint::check_checkpoint;
use super::entry::{Entry, Kind};
use super::error::{AuditError, io_error};
use super::recovery::check_entry;
use super::writer::log_path;
use super::{GENESIS, MAX_LINE};

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
pub(super) struct Verifier<'t> {
    pub(super) trust: Option<&'t TrustStore>,
    pub(super) line: u64,
    pub(super) prev: Option<(u64, String)>,
    pub(super) report: VerifyReport,
}

impl<'t> Verifier<'t> {
    pub(super) fn new(trust: Option<&'t TrustStore>) -> Self {
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
    pub(super) fn push(
        &mut self,
        bytes: &[u8],
        terminated: bool,
    ) -> Result<Option<Entry>, AuditError> {
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

/// Reads the next line: `(bytes without newline, terminated)`, or `None` at the end.
pub(super) fn read_line<R: BufRead>(reader: &mut R, line: u64, path: &Path) -> LineResult {
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

pub(super) type LineResult = Result<Option<(Vec<u8>, bool)>, AuditError>;

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
