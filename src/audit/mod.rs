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
//! leaves several entries; one sync per entry was a disk flush per event on the hot path). The
//! mechanism is the store's (`crate::group_commit`), with the file's `fdatasync` as its flush. If a
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

mod checkpoint;
mod entry;
mod error;
mod event;
mod export;
mod recovery;
mod verify;
mod writer;

pub use checkpoint::{CheckpointDetail, checkpoint_message};
pub use entry::{Entry, Kind};
pub use error::AuditError;
pub use event::Event;
pub use export::{ExportReport, export};
pub use recovery::Recovery;
pub use verify::{VerifyReport, verify_dir, verify_file, verify_reader};
pub use writer::{AuditLog, log_path};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    use super::{entry::*, error::*, event::*, recovery::*};

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
