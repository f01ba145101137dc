#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! The audit log: hash chain, tamper detection, signed checkpoints, crash recovery, export, CLI.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{Alg, LeafSpec, TestPki};
use lienthong::audit::{
    self, AuditError, AuditLog, Entry, Event, GENESIS, Kind, Recovery, VerifyReport,
};
use lienthong::sign::VerifyError;

const ORGAN: &str = "TU.BENTRE";

fn log_with(dir: &Path, n: usize) -> AuditLog {
    let log = AuditLog::open(dir, ORGAN).unwrap();
    for i in 0..n {
        log.append(Event::relayed("VPTW", &format!("msg-{i}")))
            .unwrap();
    }
    log
}

fn log_file(dir: &Path) -> PathBuf {
    audit::log_path(dir)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    audit::verify_file(&log_file(dir), None)
}

/// An entry with a correct hash, as a forger who knows the format would write it.
fn forged(seq: u64, prev_hash: &str) -> Entry {
    let mut e = Entry {
        seq,
        at: "2026-11-20T08:00:00Z".into(),
        kind: Kind::Delivered,
        organ: ORGAN.into(),
        message_id: Some("forged".into()),
        document_id: None,
        rule: None,
        detail: String::new(),
        prev_hash: prev_hash.into(),
        hash: String::new(),
    };
    e.hash = e.compute_hash().unwrap();
    e
}

fn entry_of(line: &str) -> Entry {
    serde_json::from_str(line).unwrap()
}

#[test]
fn appended_entries_form_a_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 10);
    let report = audit::verify_dir(dir.path(), None).unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!((report.first_seq, report.last_seq), (1, 10));
    assert!(report.complete());
    assert!(!report.torn_tail);
    assert_eq!(report.checkpoints, 0);
    assert_eq!(log.head().unwrap(), (10, report.head.clone()));
    let all = lines(&log_file(dir.path()));
    assert_eq!(all.len(), 10);
    let first = entry_of(&all[0]);
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, GENESIS);
    for pair in all.windows(2) {
        let (a, b) = (entry_of(&pair[0]), entry_of(&pair[1]));
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(b.seq, a.seq + 1);
    }
}

#[test]
fn an_empty_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let _log = log_with(dir.path(), 0);
    let report = audit::verify_dir(dir.path(), None).unwrap();
    assert_eq!(report.entries, 0);
    assert_eq!(report.head, GENESIS);
}

#[test]
fn editing_any_byte_of_a_middle_line_is_refused_naming_that_line() {
    let dir = tempfile::tempdir().unwrap();
    let _log = log_with(dir.path(), 9);
    let path = log_file(dir.path());
    let original = lines(&path);
    let target = 4; // line 5
    let len = original[target].len();
    for pos in 0..len {
        let mut bytes = original[target].clone().into_bytes();
        bytes[pos] = if bytes[pos] == b'#' { b'$' } else { b'#' };
        let mut edited = original.clone();
        edited[target] = String::from_utf8_lossy(&bytes).into_owned();
        write_lines(&path, &edited);
        let err = verify(dir.path()).unwrap_err();
        assert_eq!(err.line(), Some(5), "byte {pos}: {err}");
    }
    // A content edit that keeps the JSON valid is a hash mismatch on that line.
    let mut edited = original.clone();
    edited[target] = edited[target].replace("msg-4", "msg-7");
    write_lines(&path, &edited);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::HashMismatch { line: 5, seq: 5 })
    ));
}

#[test]
fn a_removed_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _log = log_with(dir.path(), 6);
    let path = log_file(dir.path());
    let mut all = lines(&path);
    all.remove(3);
    write_lines(&path, &all);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::Sequence {
            line: 4,
            expected: 4,
            found: 5
        })
    ));
}

#[test]
fn a_removed_first_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _log = log_with(dir.path(), 3);
    let path = log_file(dir.path());
    let mut all = lines(&path);
    all.remove(0);
    write_lines(&path, &all);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::NoAnchor { line: 1, seq: 2 })
    ));
}

#[test]
fn swapped_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _log = log_with(dir.path(), 6);
    let path = log_file(dir.path());
    let mut all = lines(&path);
    all.swap(2, 3);
    write_lines(&path, &all);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::Sequence {
            line: 3,
            expected: 3,
            found: 4
        })
    ));
}

#[test]
fn an_inserted_line_with_a_recomputed_hash_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let _log = log_with(dir.path(), 6);
    let path = log_file(dir.path());
    let original = lines(&path);

    // Inserted after line 4, chained onto it: the forged line itself checks out, the next
    // original line no longer does.
    let prev = entry_of(&original[3]);
    let fake = forged(5, &prev.hash);
    let mut all = original.clone();
    all.insert(4, fake.to_line().unwrap());
    write_lines(&path, &all);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::Sequence {
            line: 6,
            expected: 6,
            found: 5
        })
    ));

    // Replacing line 5 by a forged seq 5: line 6's prev_hash gives it away.
    let mut all = original.clone();
    all[4] = fake.to_line().unwrap();
    write_lines(&path, &all);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::ChainBroken { line: 6, seq: 6 })
    ));

    // A forged line appended after a renumbered tail still must chain from GENESIS or the
    // previous line: one with a made-up prev_hash is refused.
    let mut all = original;
    all.push(forged(7, &"a".repeat(64)).to_line().unwrap());
    write_lines(&path, &all);
    assert!(matches!(
        verify(dir.path()),
        Err(AuditError::ChainBroken { line: 7, seq: 7 })
    ));
}

#[test]
fn checkpoint_signed_by_the_organ_verifies() {
    let pki = TestPki::new("audit");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, ORGAN));
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    let cp = log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();
    assert_eq!(cp.kind, Kind::Checkpoint);
    assert_eq!(cp.organ, ORGAN);
    let detail = cp.checkpoint().unwrap();
    assert_eq!(detail.covers_seq, 3);
    assert_eq!(detail.head, cp.prev_hash);
    assert_eq!(
        detail.alg,
        lienthong::sign::SignatureAlgorithm::EcdsaP256Sha256.uri()
    );
    assert_eq!(detail.certs.len(), 2);
    log.append(Event::acked(ORGAN, "msg-9")).unwrap();
    let rsa = pki.leaf(LeafSpec::new(Alg::Rsa2048, ORGAN));
    log.checkpoint(&rsa.signer(), &rsa.chain).unwrap();

    let trust = pki.trust();
    let report = audit::verify_file(&log_file(dir.path()), Some(&trust)).unwrap();
    assert_eq!(report.entries, 6);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.last_checkpoint_seq, Some(6));

    // Without a trust store the chain is checked, the signatures are not.
    let report = audit::verify_file(&log_file(dir.path()), None).unwrap();
    assert_eq!((report.checkpoints, report.checkpoints_verified), (2, 0));
}

#[test]
fn checkpoint_signed_by_another_organ_is_refused() {
    let pki = TestPki::new("audit");
    let other = pki.leaf(LeafSpec::new(Alg::P256, "HU.CHAUTHANH"));
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    log.checkpoint(&other.signer(), &other.chain).unwrap();
    let err = audit::verify_file(&log_file(dir.path()), Some(&pki.trust())).unwrap_err();
    match err {
        AuditError::CheckpointRefused {
            line: 4,
            seq: 4,
            organ,
            source: VerifyError::OrganMismatch { certificate, .. },
        } => {
            assert_eq!(organ, ORGAN);
            assert_eq!(certificate, "HU.CHAUTHANH");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn checkpoint_from_an_untrusted_ca_is_refused() {
    let pki = TestPki::new("audit");
    let rogue = TestPki::new("rogue");
    let leaf = rogue.leaf(LeafSpec::new(Alg::Ed25519, ORGAN));
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 1);
    log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();
    let err = audit::verify_file(&log_file(dir.path()), Some(&pki.trust())).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::CheckpointRefused {
                line: 2,
                source: VerifyError::Chain { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rewriting_the_whole_chain_is_caught_by_the_checkpoint_signature() {
    let pki = TestPki::new("audit");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, ORGAN));
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();
    log.append(Event::acked(ORGAN, "msg-9")).unwrap();
    drop(log);
    let path = log_file(dir.path());

    // The forger edits line 2 and recomputes every later hash, the checkpoint's head included.
    let mut entries: Vec<Entry> = lines(&path).iter().map(|l| entry_of(l)).collect();
    entries[1].message_id = Some("msg-rewritten".into());
    for i in 1..entries.len() {
        entries[i].prev_hash = entries[i - 1].hash.clone();
        if entries[i].kind == Kind::Checkpoint {
            let mut cp = entries[i].checkpoint().unwrap();
            cp.head = entries[i].prev_hash.clone();
            entries[i].detail = serde_json::to_string(&cp).unwrap();
        }
        entries[i].hash = entries[i].compute_hash().unwrap();
    }
    let rewritten: Vec<String> = entries.iter().map(|e| e.to_line().unwrap()).collect();
    write_lines(&path, &rewritten);

    // The chain alone cannot tell…
    assert!(audit::verify_file(&path, None).is_ok());
    // …the signed head can.
    let err = audit::verify_file(&path, Some(&pki.trust())).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::CheckpointRefused {
                line: 4,
                source: VerifyError::BadSignature { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_checkpoint_entry_cannot_be_appended_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 1);
    assert!(matches!(
        log.append(Event::new(Kind::Checkpoint, ORGAN)),
        Err(AuditError::ReservedKind)
    ));
    let pki = TestPki::new("audit");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, ORGAN));
    assert!(matches!(
        log.checkpoint(&leaf.signer(), &[]),
        Err(AuditError::NoCertificate)
    ));
    assert_eq!(verify(dir.path()).unwrap().entries, 1);
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    let head = log.head().unwrap();
    drop(log);
    let log = AuditLog::open(dir.path(), ORGAN).unwrap();
    assert!(log.recovery().is_none());
    assert_eq!(log.head().unwrap(), head);
    let e = log.append(Event::delivered(ORGAN, "msg-x")).unwrap();
    assert_eq!(e.seq, 4);
    assert_eq!(e.prev_hash, head.1);
    log.append(Event::acked(ORGAN, "msg-x")).unwrap();
    let report = audit::verify_dir(dir.path(), None).unwrap();
    assert_eq!((report.entries, report.last_seq), (5, 5));
}

#[test]
fn a_torn_last_line_is_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    drop(log);
    let path = log_file(dir.path());
    let len_before = std::fs::metadata(&path).unwrap().len();
    // A crash in the middle of writing seq 4 (cut inside a multi-byte character).
    let whole = forged(4, GENESIS)
        .to_line()
        .unwrap()
        .replace("forged", "Châu Thành");
    let cut = whole.find('â').unwrap() + 1;
    let torn = &whole.as_bytes()[..cut];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();

    // A reader sees a torn tail, not tampering.
    let report = verify(dir.path()).unwrap();
    assert!(report.torn_tail);
    assert_eq!(report.entries, 3);

    let log = AuditLog::open(dir.path(), ORGAN).unwrap();
    assert_eq!(
        log.recovery(),
        Some(&Recovery::Truncated {
            offset: len_before,
            bytes: u64::try_from(torn.len()).unwrap(),
            after_seq: 3
        })
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len_before);
    assert_eq!(log.append(Event::acked(ORGAN, "m")).unwrap().seq, 4);
    let report = audit::verify_dir(dir.path(), None).unwrap();
    assert_eq!(report.entries, 4);
    assert!(!report.torn_tail);
}

#[test]
fn a_whole_last_entry_missing_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 2));
    let path = log_file(dir.path());
    let mut text = std::fs::read(&path).unwrap();
    assert_eq!(text.pop(), Some(b'\n'));
    std::fs::write(&path, &text).unwrap();
    assert_eq!(verify(dir.path()).unwrap().entries, 2);
    let log = AuditLog::open(dir.path(), ORGAN).unwrap();
    assert_eq!(log.recovery(), Some(&Recovery::NewlineRestored { seq: 2 }));
    assert_eq!(log.append(Event::acked(ORGAN, "m")).unwrap().seq, 3);
    assert_eq!(audit::verify_dir(dir.path(), None).unwrap().entries, 3);
}

#[test]
fn an_altered_last_line_is_not_truncated_but_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 3));
    let path = log_file(dir.path());
    let mut all = lines(&path);
    all[2] = all[2].replace("msg-2", "msg-X");
    write_lines(&path, &all);
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(
        AuditLog::open(dir.path(), ORGAN),
        Err(AuditError::Head { .. })
    ));
    // Garbage after the last line (not a cut JSON object) is refused too, and left in place.
    write_lines(&path, &lines(&path)[..2]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"}{ not json").unwrap();
    drop(f);
    let kept = std::fs::read(&path).unwrap();
    assert!(matches!(
        AuditLog::open(dir.path(), ORGAN),
        Err(AuditError::Head { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), kept);
    assert_ne!(before, kept);
}

#[test]
fn concurrent_appends_are_serialised() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path(), ORGAN).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..25 {
                    log.append(Event::delivered(ORGAN, &format!("t{t}-{i}")))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = audit::verify_dir(dir.path(), None).unwrap();
    assert_eq!(report.entries, 100);
    assert_eq!(log.head().unwrap().0, 100);
}

#[test]
fn helper_constructors_record_only_what_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), ORGAN).unwrap();
    let subject = "Nghị quyết về công tác chuyển đổi số năm 2027";
    let cases: Vec<(Event, Kind, &str)> = vec![
        (
            Event::submission_accepted(ORGAN, "m1", "TU.BENTRE,2026/11/20,07/NQ/TU"),
            Kind::SubmissionAccepted,
            "",
        ),
        (
            Event::submission_refused(ORGAN, None, "no label"),
            Kind::SubmissionRefused,
            "no label",
        ),
        (
            Event::signature_verified("HU.CHAUTHANH", "m2", "CN=Van phong HU.CHAUTHANH", "03e8"),
            Kind::SignatureVerified,
            "signer CN=Van phong HU.CHAUTHANH, serial 03e8",
        ),
        (
            Event::signature_refused("VPTW", Some("m3"), "digest mismatch"),
            Kind::SignatureRefused,
            "digest mismatch",
        ),
        (Event::relayed("VPTW", "m4"), Kind::Relayed, ""),
        (
            Event::received("VPTW", "m5", "VPTW,2026/11/20,1/CV"),
            Kind::Received,
            "",
        ),
        (Event::delivered(ORGAN, "m6"), Kind::Delivered, ""),
        (Event::acked(ORGAN, "m7"), Kind::Acked, ""),
        (Event::status("VPTW", "m8", "03"), Kind::Status, "status 03"),
        (
            Event::policy_refused(ORGAN, Some("m9"), "crypto-channel-only", "level toi-mat"),
            Kind::PolicyRefused,
            "level toi-mat",
        ),
        (
            Event::published(ORGAN, "m10", "TU.BENTRE,2026/11/21,8/TB"),
            Kind::Published,
            "",
        ),
        (
            Event::key_operation(ORGAN, "rotate", "tu-bentre-2026"),
            Kind::KeyOperation,
            "rotate key tu-bentre-2026",
        ),
        (
            Event::certificate_operation(ORGAN, "revoke", "CN=Van phong TU.BENTRE", "1001"),
            Kind::CertificateOperation,
            "revoke certificate CN=Van phong TU.BENTRE, serial 1001",
        ),
    ];
    for (event, kind, detail) in cases {
        let e = log.append(event).unwrap();
        assert_eq!(e.kind, kind);
        assert_eq!(e.detail, detail, "{kind:?}");
    }
    let policy = lines(&log_file(dir.path()))
        .iter()
        .map(|l| entry_of(l))
        .find(|e| e.kind == Kind::PolicyRefused)
        .unwrap();
    assert_eq!(policy.rule.as_deref(), Some("crypto-channel-only"));
    assert_eq!(policy.message_id.as_deref(), Some("m9"));
    // Nothing in the file but what the constructors were given.
    let text = std::fs::read_to_string(log_file(dir.path())).unwrap();
    assert!(!text.contains(subject));
    assert!(!text.contains("Subject"));
    assert_eq!(audit::verify_dir(dir.path(), None).unwrap().entries, 13);
}

#[test]
fn export_from_a_time_starts_at_the_checkpoint_before_it_and_verifies_alone() {
    let pki = TestPki::new("audit");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, ORGAN));
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let since = time::OffsetDateTime::now_utc();
    log.append(Event::acked(ORGAN, "after-1")).unwrap();
    log.append(Event::acked(ORGAN, "after-2")).unwrap();
    log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();

    let mut whole = Vec::new();
    let r = audit::export(dir.path(), None, &mut whole).unwrap();
    assert_eq!((r.lines, r.first_seq, r.last_seq), (7, 1, 7));
    assert_eq!(whole, std::fs::read(log_file(dir.path())).unwrap());

    let mut part = Vec::new();
    let r = audit::export(dir.path(), Some(since), &mut part).unwrap();
    assert_eq!((r.lines, r.first_seq, r.last_seq), (4, 4, 7));
    let out = dir.path().join("export.jsonl");
    std::fs::write(&out, &part).unwrap();
    let report = audit::verify_file(&out, Some(&pki.trust())).unwrap();
    assert!(!report.complete());
    assert_eq!((report.first_seq, report.checkpoints_verified), (4, 2));

    let mut none = Vec::new();
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let r = audit::export(dir.path(), Some(later), &mut none).unwrap();
    assert_eq!(r.lines, 0);
    assert!(none.is_empty());
}

#[test]
fn a_tampered_log_is_not_exported() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 4));
    let path = log_file(dir.path());
    let mut all = lines(&path);
    all.swap(1, 2);
    write_lines(&path, &all);
    let mut out = Vec::new();
    assert!(matches!(
        audit::export(dir.path(), None, &mut out),
        Err(AuditError::Sequence { line: 2, .. })
    ));
}

// ---- CLI ----------------------------------------------------------------------------------

fn lienthong(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_verify_and_export() {
    let pki = TestPki::new("audit");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, ORGAN));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = log_with(&data, 4);
    log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();
    drop(log);
    let anchors = dir.path().join("anchors.pem");
    std::fs::write(&anchors, pki.root_pem()).unwrap();
    let data_s = data.to_str().unwrap();
    let anchors_s = anchors.to_str().unwrap();

    let (code, out, err) = lienthong(&["audit", "verify", "--data", data_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("5 entries"), "{out}");

    let (code, out, err) = lienthong(&[
        "audit", "verify", "--data", data_s, "--trust", anchors_s, "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["checkpoints_verified"], 1);

    // Export to a file, then verify that file against the anchors.
    let export = dir.path().join("export.jsonl");
    let export_s = export.to_str().unwrap();
    let (code, _, err) = lienthong(&["audit", "export", "--data", data_s, "-o", export_s]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 5 entries"), "{err}");
    let (code, out, err) =
        lienthong(&["audit", "verify", "--file", export_s, "--trust", anchors_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 signatures verified"), "{out}");

    let (code, out, _) = lienthong(&[
        "audit",
        "export",
        "--data",
        data_s,
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 5);

    // Tampered: exit 1, naming the line and why.
    let path = log_file(&data);
    let mut all = lines(&path);
    all[2] = all[2].replace("msg-2", "msg-X");
    write_lines(&path, &all);
    let (code, _, err) = lienthong(&["audit", "verify", "--data", data_s]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3") && err.contains("hash"), "{err}");
    let (code, _, err) = lienthong(&["audit", "export", "--data", data_s]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn cli_refuses_a_checkpoint_of_another_organ() {
    let pki = TestPki::new("audit");
    let other = pki.leaf(LeafSpec::new(Alg::P256, "HU.CHAUTHANH"));
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 2);
    log.checkpoint(&other.signer(), &other.chain).unwrap();
    let anchors = dir.path().join("anchors.pem");
    std::fs::write(&anchors, pki.root_pem()).unwrap();
    let (code, _, err) = lienthong(&[
        "audit",
        "verify",
        "--file",
        log_file(dir.path()).to_str().unwrap(),
        "--trust",
        anchors.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("line 3") && err.contains("HU.CHAUTHANH"),
        "{err}"
    );
}

#[test]
fn cli_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // Neither --data nor --file.
    assert_eq!(lienthong(&["audit", "verify"]).0, 2);
    // --file needs --trust.
    assert_eq!(lienthong(&["audit", "verify", "--file", "x.log"]).0, 2);
    // Both sources.
    assert_eq!(
        lienthong(&[
            "audit", "verify", "--data", d, "--file", "x", "--trust", "a"
        ])
        .0,
        2
    );
    // No log in the data directory.
    assert_eq!(lienthong(&["audit", "verify", "--data", d]).0, 2);
    // A bad --since.
    drop(log_with(dir.path(), 1));
    assert_eq!(
        lienthong(&["audit", "export", "--data", d, "--since", "yesterday"]).0,
        2
    );
    // Unreadable anchors.
    assert_eq!(
        lienthong(&[
            "audit",
            "verify",
            "--data",
            d,
            "--trust",
            "/nonexistent.pem"
        ])
        .0,
        2
    );
}

/// An export verified on its own (`audit verify --file FILE --trust ANCHORS.pem`): any one
/// edited line — an entry's content, its hash, or the checkpoint's signature — fails it.
#[test]
fn cli_verify_file_refuses_an_export_with_any_line_edited() {
    let pki = TestPki::new("audit");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, ORGAN));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = log_with(&data, 3);
    log.append(Event::published(ORGAN, "msg-pub", "DOC-1"))
        .unwrap();
    log.checkpoint(&leaf.signer(), &leaf.chain).unwrap();
    drop(log);
    let anchors = dir.path().join("anchors.pem");
    std::fs::write(&anchors, pki.root_pem()).unwrap();
    let export = dir.path().join("export.jsonl");
    let (code, _, err) = lienthong(&[
        "audit",
        "export",
        "--data",
        data.to_str().unwrap(),
        "-o",
        export.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let verify_export = |path: &Path| {
        lienthong(&[
            "audit",
            "verify",
            "--file",
            path.to_str().unwrap(),
            "--trust",
            anchors.to_str().unwrap(),
        ])
    };
    let (code, out, err) = verify_export(&export);
    assert_eq!(code, 0, "{out}{err}");
    let original = lines(&export);
    assert_eq!(original.len(), 5);
    for i in 0..original.len() {
        // Change one character of the line's hash-covered content: the message id of an
        // entry, or the signature of the checkpoint (the last line).
        let mut edited = original.clone();
        let line = &edited[i];
        let changed = if let Some(at) = line.find("\"msg-") {
            format!("{}\"msX-{}", &line[..at], &line[at + 5..])
        } else {
            let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
            let detail = e["detail"].as_str().unwrap().to_owned();
            // Flip one character inside the checkpoint detail (signature and chain).
            let pos = detail.len() / 2;
            let c = if &detail[pos..=pos] == "A" { "B" } else { "A" };
            e["detail"] = format!("{}{c}{}", &detail[..pos], &detail[pos + 1..]).into();
            serde_json::to_string(&e).unwrap()
        };
        assert_ne!(&changed, line);
        edited[i] = changed;
        let path = dir.path().join(format!("edited-{i}.jsonl"));
        write_lines(&path, &edited);
        let (code, out, err) = verify_export(&path);
        assert_eq!(code, 1, "line {} edited, yet: {out}{err}", i + 1);
        assert!(
            err.contains(&format!("line {}", i + 1)),
            "line {}: {err}",
            i + 1
        );
    }
}
