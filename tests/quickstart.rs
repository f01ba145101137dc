//! The quickstart (`lienthong demo`) end to end, non-interactive: every step's outcome is read
//! from its JSON report.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::process::Command;

#[test]
fn quickstart_report_shows_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["demo", "--json", "--pbkdf2-iterations", "1000", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true), "{steps:?}");
    for name in [
        "setup",
        "start",
        "submit nghi-quyet",
        "receive thong-bao-hoa-toc",
        "statuses bao-cao-mat",
        "bao-cao-mat sealed through the province",
        "portal",
    ] {
        assert!(
            steps.iter().any(|s| s["name"] == name),
            "missing step {name}"
        );
    }
    let docs = report["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 5);
    let refused: Vec<_> = docs
        .iter()
        .filter(|d| d["refused_reason"].is_string())
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["level"], "toi-mat");
    assert!(
        refused[0]["refused_reason"]
            .as_str()
            .unwrap()
            .contains("cryptographic service")
    );
    let delivered: Vec<_> = docs.iter().filter(|d| d["delivered_ms"].is_u64()).collect();
    assert_eq!(delivered.len(), 4);
    for d in &delivered {
        assert_eq!(d["signer"], "HU.CHAUTHANH");
        assert!(d["status"].as_str().unwrap().contains("03, 06"), "{d}");
    }
    let two_hops = docs
        .iter()
        .find(|d| d["to"] == "VPTW" && d["priority"] == 3)
        .unwrap();
    assert_eq!(
        two_hops["hops"],
        serde_json::json!(["HU.CHAUTHANH", "TU.BENTRE", "VPTW"])
    );
    // The mat report travels to the central office through the province, sealed.
    let mat_report = docs
        .iter()
        .find(|d| d["to"] == "VPTW" && d["level"] == "mat")
        .unwrap();
    assert_eq!(
        mat_report["hops"],
        serde_json::json!(["HU.CHAUTHANH", "TU.BENTRE", "VPTW"])
    );
    // A document under a secret procedure (TCCB-05) travels as mat.
    let secret_proc = docs
        .iter()
        .filter(|d| d["to"] == "TU.BENTRE" && d["level"] == "mat")
        .count();
    assert_eq!(secret_proc, 1);
}
