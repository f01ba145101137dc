//! Export of the log for the records office, verified as it is copied.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::entry::Kind;
use super::error::{AuditError, io_error};
use super::recovery::check_line;
use super::verify::{Verifier, read_line};
use super::writer::log_path;

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
