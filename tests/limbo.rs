//! x509-limbo (C2SP/x509-limbo, vendored in `tests/data/limbo.json`) through
//! `lienthong pki check-chain`: SERVER testcases as `tls-server` with the expected peer name,
//! CLIENT testcases as `tls-client`. Every testcase where lienthong's verdict differs from
//! limbo's expected result must be listed, with its reason, in
//! `tests/data/limbo-divergences.toml`; the test fails on any difference not listed and on any
//! listed one that no longer differs. Figures are printed (`--nocapture`) and kept in
//! `docs/CONFORMANCE.md`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const LIMBO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/limbo.json");
const DIVERGENCES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/limbo-divergences.toml"
);

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Verdict {
    Valid,
    Refused,
}

/// Why a testcase is not run (kept in the figures).
fn not_applicable(tc: &Value) -> Option<&'static str> {
    match tc["validation_kind"].as_str() {
        Some("SERVER") if tc["expected_peer_name"].is_null() => {
            Some("SERVER case without an expected peer name (check-chain needs --name)")
        }
        Some("SERVER" | "CLIENT") => None,
        _ => Some("validation kind other than SERVER/CLIENT"),
    }
}

fn pems(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn run_case(dir: &Path, tc: &Value) -> (Verdict, String) {
    std::fs::write(dir.join("trust.pem"), pems(&tc["trusted_certs"])).unwrap();
    std::fs::write(
        dir.join("leaf.pem"),
        tc["peer_certificate"].as_str().unwrap(),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lienthong"));
    cmd.current_dir(dir).args([
        "pki",
        "check-chain",
        "--json",
        "--trust",
        "trust.pem",
        "--leaf",
        "leaf.pem",
    ]);
    let inter = pems(&tc["untrusted_intermediates"]);
    if !inter.is_empty() {
        std::fs::write(dir.join("inter.pem"), inter).unwrap();
        cmd.args(["--intermediates", "inter.pem"]);
    }
    for (i, crl) in tc["crls"].as_array().into_iter().flatten().enumerate() {
        let name = format!("crl{i}.pem");
        std::fs::write(dir.join(&name), crl.as_str().unwrap()).unwrap();
        cmd.args(["--crl", &name]);
    }
    if let Some(at) = tc["validation_time"].as_str() {
        cmd.args(["--at", at]);
    }
    if tc["validation_kind"] == "SERVER" {
        let name = tc["expected_peer_name"]["value"].as_str().unwrap();
        cmd.args(["--purpose", "tls-server", "--name", name]);
    } else {
        cmd.args(["--purpose", "tls-client"]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => (Verdict::Valid, stdout),
        // 1: refused with a named reason; 2: the input itself was refused (a malformed
        // certificate, a CRL without cRLNumber) — either way the chain is not accepted.
        Some(1 | 2) => (Verdict::Refused, format!("{stdout}{stderr}")),
        other => panic!("{}: check-chain exited {other:?}: {stderr}", tc["id"]),
    }
}

fn listed() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(DIVERGENCES).unwrap();
    let doc: toml::Value = toml::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    let empty = Vec::new();
    for d in doc
        .get("divergence")
        .and_then(toml::Value::as_array)
        .unwrap_or(&empty)
    {
        let id = d["id"].as_str().unwrap().to_owned();
        let reason = d["reason"].as_str().unwrap().to_owned();
        assert!(
            !reason.trim().is_empty(),
            "{id}: a divergence needs its reason"
        );
        assert!(
            out.insert(id.clone(), reason).is_none(),
            "{id} listed twice"
        );
    }
    out
}

#[test]
fn limbo_verdicts_match_or_are_listed_with_a_reason() {
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(LIMBO).unwrap()).unwrap();
    let cases = suite["testcases"].as_array().unwrap();
    let listed = listed();
    let dir = tempfile::tempdir().unwrap();
    let (mut agree, mut skipped) = (0usize, 0usize);
    let mut differ = BTreeMap::new();
    for tc in cases {
        if let Some(why) = not_applicable(tc) {
            skipped += 1;
            println!("skip {}: {why}", tc["id"]);
            continue;
        }
        let expected = match tc["expected_result"].as_str() {
            Some("SUCCESS") => Verdict::Valid,
            Some("FAILURE") => Verdict::Refused,
            other => panic!("{}: expected_result {other:?}", tc["id"]),
        };
        let case_dir = dir
            .path()
            .join(format!("{agree}-{skipped}-{}", differ.len()));
        std::fs::create_dir_all(&case_dir).unwrap();
        let (got, detail) = run_case(&case_dir, tc);
        std::fs::remove_dir_all(&case_dir).unwrap();
        if got == expected {
            agree += 1;
        } else {
            let id = tc["id"].as_str().unwrap().to_owned();
            differ.insert(
                id,
                format!("expected {expected:?}, got {got:?}: {}", detail.trim()),
            );
        }
    }
    let unlisted: Vec<_> = differ
        .iter()
        .filter(|(id, _)| !listed.contains_key(*id))
        .collect();
    let stale: BTreeSet<_> = listed
        .keys()
        .filter(|id| !differ.contains_key(*id))
        .collect();
    println!(
        "x509-limbo: {} testcases, {agree} agree, {} listed divergences, {skipped} skipped",
        cases.len(),
        differ.len()
    );
    assert!(
        unlisted.is_empty(),
        "verdicts that differ from limbo and are not in limbo-divergences.toml:\n{unlisted:#?}"
    );
    assert!(
        stale.is_empty(),
        "listed in limbo-divergences.toml but no longer differ (remove them): {stale:?}"
    );
    assert_eq!(agree + differ.len() + skipped, cases.len());
}

/// `crl::crlnumber-missing` is refused by lienthong's own rule (webpki alone accepts it), and
/// by name: the CRL is refused when loaded, so neither TLS nor document verification uses it.
#[test]
fn crl_without_crl_number_is_refused_by_name() {
    let e = load_limbo_crl("crl::crlnumber-missing").unwrap_err();
    assert!(
        matches!(e, lienthong::sign::TrustError::CrlWithoutNumber { .. }),
        "{e}"
    );
}

/// `crl::crlnumber-critical` is refused by lienthong's own rule (webpki alone accepts it), and
/// by name, when the CRL is loaded.
#[test]
fn crl_with_a_critical_crl_number_is_refused_by_name() {
    let e = load_limbo_crl("crl::crlnumber-critical").unwrap_err();
    assert!(
        matches!(e, lienthong::sign::TrustError::CrlNumberCritical { .. }),
        "{e}"
    );
}

/// Loads the first CRL of limbo testcase `id` into a fresh trust store.
fn load_limbo_crl(id: &str) -> Result<(), lienthong::sign::TrustError> {
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(LIMBO).unwrap()).unwrap();
    let tc = suite["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap();
    let crl = tc["crls"][0].as_str().unwrap();
    lienthong::sign::TrustStore::new().add_crl(crl.as_bytes(), "limbo")
}
