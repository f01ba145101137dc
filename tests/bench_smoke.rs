//! `lienthong bench --quick --json FILE` runs through the binary and reports every section with
//! positive numbers. A behaviour check only: no timing threshold is asserted here (the numbers
//! belong in docs/PERFORMANCE.md, measured in a release build).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::process::Command;

use serde_json::Value;

fn positive(v: &Value, path: &str) {
    let x = v
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} is missing or not a number in {v:#}"));
    assert!(
        x > 0.0 && x.is_finite(),
        "{path} = {x}, not a positive number"
    );
}

/// Runs `lienthong bench ARGS --json FILE --dir DIR` in a fresh directory; its stdout and the
/// JSON it wrote, once it has succeeded.
fn bench(args: &[&str]) -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (stdout, json)
}

#[test]
fn bench_quick_writes_every_section_with_positive_numbers() {
    let (stdout, r) = bench(&["--quick"]);
    // The table names its machine and build, and every section.
    assert!(stdout.contains("cores"), "{stdout}");
    assert!(stdout.contains("build"), "{stdout}");
    for section in ["Ceiling", "Document pipeline", "End to end", "Peers"] {
        assert!(stdout.contains(section), "no {section} in:\n{stdout}");
    }

    positive(&r, "/machine/cores");
    let profile = r["machine"]["profile"].as_str().unwrap();
    assert!(profile == "debug" || profile == "release", "{profile}");
    assert_eq!(r["machine"]["quick"], true);

    for k in [
        "rsa2048_sign_per_s",
        "rsa2048_verify_per_s",
        "p256_sign_per_s",
        "p256_verify_per_s",
        "ed25519_sign_per_s",
        "ed25519_verify_per_s",
        "sha256_mb_per_s",
    ] {
        positive(&r, &format!("/ceiling/{k}"));
    }

    let rows = r["pipeline"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["8 KB", "1 MB"]);
    for i in 0..rows.len() {
        for k in [
            "unsigned_bytes",
            "signed_bytes",
            "parse_mb_per_s",
            "c14n_mb_per_s",
            "sign_docs_per_s",
            "verify_docs_per_s",
            "sign_vs_rsa_sign",
            "verify_vs_rsa_verify",
        ] {
            positive(&r, &format!("/pipeline/{i}/{k}"));
        }
    }
    // The envelopes are the sizes the table says.
    assert!((7_000..10_000).contains(&rows[0]["unsigned_bytes"].as_u64().unwrap()));
    assert!((900_000..1_200_000).contains(&rows[1]["unsigned_bytes"].as_u64().unwrap()));

    // Revocation: CRL rows always; OCSP rows when openssl ran (it does where .ci/run runs).
    for k in ["verify_crl_docs_per_s", "chain_and_crl_uncached_per_s"] {
        positive(&r, &format!("/revocation/{k}"));
    }
    if r["revocation"]["note"].as_str().unwrap().is_empty() {
        for k in [
            "verify_ocsp_cached_docs_per_s",
            "ocsp_status_cached_per_s",
            "ocsp_status_uncached_per_s",
        ] {
            positive(&r, &format!("/revocation/{k}"));
        }
    }
    assert!(stdout.contains("2c. Revocation"), "{stdout}");
    // Sealing: both sizes, every rate positive, the sealed form larger than the signed one by
    // about a third (base64) plus the outer header and signature.
    let seal = r["seal"].as_array().unwrap();
    assert_eq!(seal.len(), 2);
    for (i, row) in seal.iter().enumerate() {
        for k in [
            "encrypt_docs_per_s",
            "decrypt_docs_per_s",
            "gateway_seal_docs_per_s",
            "gateway_open_docs_per_s",
        ] {
            positive(&r, &format!("/seal/{i}/{k}"));
        }
        let (signed, sealed) = (
            row["signed_bytes"].as_f64().unwrap(),
            row["sealed_bytes"].as_f64().unwrap(),
        );
        assert!(
            sealed > signed * 4.0 / 3.0 && sealed < signed * 1.5 + 16_384.0,
            "{row}"
        );
    }
    let phases = r["e2e"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["max", "paced", "2 hops", "max mat"]);
    for (i, p) in phases.iter().enumerate() {
        for k in [
            "documents",
            "accepted_per_s",
            "delivered_per_s",
            "latency_ms/p50",
            "latency_ms/p99",
            "latency_ms/p999",
            "submit_ms/p50",
            "gateway_cpu_ms_per_doc",
            "rss_mb/max",
            "flushes_per_1000_docs",
            "delivered_vs_rsa_sign",
            "delivered_vs_ceiling",
            "wall_secs",
        ] {
            positive(&r, &format!("/e2e/{i}/{k}"));
        }
        assert!(p["latency_ms"]["p50"].as_f64() <= p["latency_ms"]["p99"].as_f64());
        assert!(!p["rss_mb"]["samples"].as_array().unwrap().is_empty());
        let stores: Vec<&str> = p["stores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["gateway"].as_str().unwrap())
            .collect();
        assert_eq!(stores, ["central", "province", "district"]);
        // Only the two-hop phase passes through central's store.
        let central_writes = p["stores"][0]["durable_writes"].as_u64().unwrap();
        if p["name"] == "2 hops" {
            assert!(central_writes > 0, "{p}");
        } else {
            assert_eq!(central_writes, 0, "{p}");
        }
    }
    // The paced phase ran at half the rate the max phase delivered.
    let target = phases[1]["target_per_s"].as_f64().unwrap();
    let max = phases[0]["delivered_per_s"].as_f64().unwrap();
    assert!(
        (target - (max / 2.0).max(1.0)).abs() < 1e-6,
        "{target} vs {max}"
    );

    // Overload: the district's accept rate probed, twice it offered; every answer a 202 or a
    // 503 overload, every 202 delivered once, and the multiple computed from the paced p99.
    let o = &r["overload"];
    let accept = o["max_accept_per_s"].as_f64().unwrap();
    assert!(accept > 0.0, "{o}");
    assert!(
        (o["offered_per_s"].as_f64().unwrap() - 2.0 * accept).abs() < 1e-6,
        "{o}"
    );
    assert_eq!(o["submitters"], 320, "{o}");
    assert_eq!(o["sources"], 8, "{o}");
    let sent = o["sent"].as_u64().unwrap();
    assert!(sent > 0, "{o}");
    assert_eq!(o["other"], 0, "{o}");
    assert_eq!(
        o["accepted"].as_u64().unwrap() + o["shed"].as_u64().unwrap(),
        sent,
        "{o}"
    );
    assert!(o["accepted"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["delivered_exactly_once"], true, "{o}");
    let unloaded = phases[1]["submit_ms"]["p99"].as_f64().unwrap();
    assert_eq!(
        o["unloaded_submit_p99_ms"].as_f64().unwrap(),
        unloaded,
        "{o}"
    );
    let multiple = o["submit_ms"]["p99"].as_f64().unwrap() / unloaded;
    assert!(
        (o["p99_multiple"].as_f64().unwrap() - multiple).abs() < 1e-9,
        "{o}"
    );
    positive(&r, "/overload/rss_max_mb");
    assert!(stdout.contains("overload:"), "{stdout}");

    // Peers: measured when xmlsec1 is installed, otherwise skipped with a reason.
    match r["peers"]["xmlsec1"].as_object() {
        Some(_) => {
            positive(&r, "/peers/xmlsec1/sign_docs_per_s");
            positive(&r, "/peers/xmlsec1/verify_docs_per_s");
            positive(&r, "/peers/xmlsec1/startup_per_s");
        }
        None => assert!(!r["peers"]["note"].as_str().unwrap().is_empty()),
    }
    // signxml: measured when bench/peers.sh set it up, otherwise skipped with a reason.
    match r["peers"]["signxml"].as_object() {
        Some(_) => {
            positive(&r, "/peers/signxml/sign_docs_per_s");
            positive(&r, "/peers/signxml/verify_docs_per_s");
        }
        None => assert!(
            r["peers"]["signxml_note"]
                .as_str()
                .unwrap()
                .contains("bench/peers.sh")
        ),
    }
}

/// `bench --scale N` (the long run, here tiny): every document delivered and acked, reported in
/// ten windows, and nothing left stored after its final sweep while the register kept the
/// tombstones.
#[test]
fn bench_scale_delivers_everything_and_leaves_nothing_stored() {
    const N: u64 = 200;
    let (stdout, r) = bench(&["--scale", &N.to_string()]);
    assert!(stdout.contains("whole run"), "{stdout}");

    let s = &r["scale"];
    assert_eq!(s["documents"], N);
    let windows = s["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 10, "{s:#}");
    let delivered: Vec<u64> = windows
        .iter()
        .map(|w| w["delivered"].as_u64().unwrap())
        .collect();
    assert!(delivered.windows(2).all(|p| p[0] < p[1]), "{delivered:?}");
    assert_eq!(delivered.last(), Some(&N));
    for (i, _) in windows.iter().enumerate() {
        positive(s, &format!("/windows/{i}/docs_per_s"));
        positive(s, &format!("/windows/{i}/rss_mb"));
        positive(s, &format!("/windows/{i}/latency_ms/p99"));
    }
    let cpu: f64 = windows
        .iter()
        .map(|w| w["cpu_ms_per_doc"].as_f64().unwrap())
        .sum();
    assert!(cpu > 0.0 && cpu.is_finite(), "{s:#}");
    assert_eq!(s["stored_after_sweep"], 0, "{s:#}");
    positive(s, "/disk_after_sweep/register_mb");
    positive(s, "/docs_per_s");
}
