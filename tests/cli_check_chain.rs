//! `lienthong pki check-chain` through the binary: exit 0 valid, 1 refused with a named reason,
//! 2 usage error; a malformed certificate named by file and position; the help text.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Alg, Eku, LeafSpec, TestPki};

const FROM: &str = "HU.CHAUTHANH";

fn check_chain(dir: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .current_dir(dir)
        .args(["pki", "check-chain", "--json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup(dir: &Path, pki: &TestPki, spec: LeafSpec) {
    let leaf = pki.leaf(spec);
    std::fs::write(dir.join("root.pem"), pki.root_pem()).unwrap();
    std::fs::write(dir.join("inter.pem"), pki.inter_pem()).unwrap();
    std::fs::write(dir.join("leaf.pem"), leaf.cert_pem()).unwrap();
}

const DOC: &[&str] = &[
    "--trust",
    "root.pem",
    "--leaf",
    "leaf.pem",
    "--intermediates",
    "inter.pem",
    "--purpose",
    "doc-signing",
];

#[test]
fn doc_signing_chain_is_valid_and_reports_organ_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("cc-ok");
    setup(dir.path(), &pki, LeafSpec::new(Alg::P256, FROM));
    let (code, j, err) = check_chain(dir.path(), DOC);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["valid"], true);
    assert_eq!(j["accepted"]["organ"], FROM);
    assert_eq!(
        j["accepted"]["eku_rule"],
        "eku 1.3.6.1.5.5.7.3.36; no-eku refused"
    );
}

#[test]
fn refusals_exit_1_with_the_named_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("cc-refuse");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.eku = Eku::None;
    setup(dir.path(), &pki, spec);
    let (code, j, _) = check_chain(dir.path(), DOC);
    assert_eq!(code, 1);
    assert_eq!(j["reason"], "no-extended-key-usage");

    // The same leaf as a TLS client certificate: webpki's "required if present" accepts it.
    let (code, j, err) = check_chain(
        dir.path(),
        &[
            "--trust",
            "root.pem",
            "--leaf",
            "leaf.pem",
            "--intermediates",
            "inter.pem",
            "--purpose",
            "tls-client",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["valid"], true);

    // An unknown anchor.
    let other = TestPki::new("cc-other");
    std::fs::write(dir.path().join("other.pem"), other.root_pem()).unwrap();
    let (code, j, _) = check_chain(
        dir.path(),
        &[
            "--trust",
            "other.pem",
            "--leaf",
            "leaf.pem",
            "--intermediates",
            "inter.pem",
            "--purpose",
            "tls-server",
            "--name",
            "gw.example.vn",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(j["reason"], "chain:unknown-issuer");
}

#[test]
fn malformed_second_certificate_names_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("cc-bad");
    setup(dir.path(), &pki, LeafSpec::new(Alg::P256, FROM));
    let bad = format!(
        "{}-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
        pki.inter_pem()
    );
    std::fs::write(dir.path().join("inter.pem"), bad).unwrap();
    let (code, _, err) = check_chain(dir.path(), DOC);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("inter.pem: certificate #2 is malformed"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("cc-usage");
    setup(dir.path(), &pki, LeafSpec::new(Alg::P256, FROM));
    // tls-server without --name.
    let (code, _, err) = check_chain(
        dir.path(),
        &[
            "--trust",
            "root.pem",
            "--leaf",
            "leaf.pem",
            "--purpose",
            "tls-server",
        ],
    );
    assert_eq!(code, 2, "{err}");
    // An unknown purpose (clap).
    let (code, _, _) = check_chain(
        dir.path(),
        &[
            "--trust",
            "root.pem",
            "--leaf",
            "leaf.pem",
            "--purpose",
            "email",
        ],
    );
    assert_eq!(code, 2);
    // A missing file.
    let (code, _, _) = check_chain(
        dir.path(),
        &[
            "--trust",
            "nope.pem",
            "--leaf",
            "leaf.pem",
            "--purpose",
            "tls-client",
        ],
    );
    assert_eq!(code, 2);
}

#[test]
fn help_documents_the_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["pki", "check-chain", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--trust",
        "--leaf",
        "--intermediates",
        "--crl",
        "--at",
        "--purpose",
        "--name",
        "--json",
        "doc-signing",
        "tls-server",
        "tls-client",
        "Exit 0 valid, 1 refused",
    ] {
        assert!(help.contains(word), "help lacks {word}:\n{help}");
    }
}
