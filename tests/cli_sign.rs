//! `lienthong sign` / `lienthong verify` driven as a user would, through the binary.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Alg, LeafSpec, TestPki, sample_envelope};

const FROM: &str = "HU.CHAUTHANH";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
}

fn code(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup(dir: &Path, pki: &TestPki, serial: u64) {
    let mut spec = LeafSpec::new(Alg::Rsa2048, FROM);
    spec.serial = serial;
    let leaf = pki.leaf(spec);
    std::fs::write(dir.join("root.pem"), pki.root_pem()).unwrap();
    std::fs::write(dir.join("chain.pem"), pki.inter_pem()).unwrap();
    std::fs::write(dir.join("key.pem"), leaf.key_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.cert_pem()).unwrap();
    std::fs::write(
        dir.join("doc.xml"),
        sample_envelope(FROM, "TU.BENTRE", "thuong"),
    )
    .unwrap();
}

fn sign(dir: &Path) -> (i32, String, String) {
    code(
        bin()
            .current_dir(dir)
            .args([
                "sign",
                "--key",
                "key.pem",
                "--cert",
                "cert.pem",
                "--chain",
                "chain.pem",
            ])
            .args(["doc.xml", "-o", "signed.xml"]),
    )
}

#[test]
fn sign_then_verify_then_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("cli");
    setup(dir.path(), &pki, 7);
    let (c, _, err) = sign(dir.path());
    assert_eq!(c, 0, "{err}");

    let (c, out, err) =
        code(
            bin()
                .current_dir(dir.path())
                .args(["verify", "--trust", "root.pem", "signed.xml"]),
        );
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("valid") && out.contains(FROM) && out.contains("level thuong"),
        "{out}"
    );

    let (c, out, _) = code(bin().current_dir(dir.path()).args([
        "verify",
        "--json",
        "--trust",
        "root.pem",
        "signed.xml",
    ]));
    assert_eq!(c, 0);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["valid"], true);
    assert_eq!(j["signer"]["organ"], FROM);
    assert_eq!(j["level"], "thuong");

    let signed = std::fs::read_to_string(dir.path().join("signed.xml")).unwrap();
    std::fs::write(
        dir.path().join("tampered.xml"),
        signed.replacen("<lt:Level>thuong", "<lt:Level>mat", 1),
    )
    .unwrap();
    let (c, _, err) =
        code(
            bin()
                .current_dir(dir.path())
                .args(["verify", "--trust", "root.pem", "tampered.xml"]),
        );
    assert_eq!(c, 1);
    assert!(err.contains("digest"), "{err}");
}

#[test]
fn verify_with_crl_refuses_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("clicrl");
    setup(dir.path(), &pki, 4242);
    assert_eq!(sign(dir.path()).0, 0);
    std::fs::write(
        dir.path().join("crl.der"),
        pki.crl(&[4242], time::Duration::days(7)),
    )
    .unwrap();
    let (c, _, err) = code(bin().current_dir(dir.path()).args([
        "verify",
        "--trust",
        "root.pem",
        "--crl",
        "crl.der",
        "signed.xml",
    ]));
    assert_eq!(c, 1);
    assert!(err.contains("revoked"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("cliusage");
    setup(dir.path(), &pki, 8);
    assert_eq!(sign(dir.path()).0, 0);
    // Missing trust file.
    let (c, _, err) =
        code(
            bin()
                .current_dir(dir.path())
                .args(["verify", "--trust", "nope.pem", "signed.xml"]),
        );
    assert_eq!(c, 2, "{err}");
    // Bad --at.
    let (c, _, _) = code(bin().current_dir(dir.path()).args([
        "verify",
        "--trust",
        "root.pem",
        "--at",
        "yesterday",
        "signed.xml",
    ]));
    assert_eq!(c, 2);
    // A key file that is not a key.
    let (c, _, _) = code(
        bin()
            .current_dir(dir.path())
            .args(["sign", "--key", "cert.pem", "--cert", "cert.pem", "doc.xml"]),
    );
    assert_eq!(c, 2);
    // Signing an already signed document is refused (exit 1).
    let (c, _, err) = code(bin().current_dir(dir.path()).args([
        "sign",
        "--key",
        "key.pem",
        "--cert",
        "cert.pem",
        "signed.xml",
    ]));
    assert_eq!(c, 1, "{err}");
}

#[test]
fn sign_refuses_what_doc_validate_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("clivalidate");
    setup(dir.path(), &pki, 9);
    let doc = sample_envelope(FROM, "TU.BENTRE", "thuong");
    let from = "<From><OrganId>HU.CHAUTHANH</OrganId><OrganName>X</OrganName></From>";
    let two_froms = doc.replacen("<From>", &format!("{from}<From>"), 1);
    assert_ne!(two_froms, doc);
    std::fs::write(dir.path().join("doc.xml"), &two_froms).unwrap();
    let (c, out, _) = code(
        bin()
            .current_dir(dir.path())
            .args(["doc", "validate", "--json", "doc.xml"]),
    );
    assert_eq!(c, 1, "doc validate must reject two From elements: {out}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let validate_error = j["results"][0]["error"].as_str().unwrap().to_owned();

    let (c, _, err) = sign(dir.path());
    assert_eq!(c, 1, "{err}");
    assert!(err.contains(&validate_error), "{err} vs {validate_error}");
    assert!(!dir.path().join("signed.xml").exists());
}

#[test]
fn verify_json_names_the_reason_and_the_eku_rule() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("clijson");
    setup(dir.path(), &pki, 10);
    assert_eq!(sign(dir.path()).0, 0);
    let signed = std::fs::read_to_string(dir.path().join("signed.xml")).unwrap();
    std::fs::write(
        dir.path().join("commented.xml"),
        format!("{signed}<!-- after the root -->\n"),
    )
    .unwrap();
    let (c, out, _) = code(bin().current_dir(dir.path()).args([
        "verify",
        "--json",
        "--trust",
        "root.pem",
        "signed.xml",
        "commented.xml",
    ]));
    assert_eq!(c, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(
        lines[0]["signer"]["eku_rule"],
        "eku 1.3.6.1.5.5.7.3.36; no-eku refused"
    );
    assert_eq!(lines[1]["valid"], false);
    assert_eq!(lines[1]["reason"], "comment");
}
