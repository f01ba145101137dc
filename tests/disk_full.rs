//! A full disk, said and survived (issue 31), on a real file system that really fills: the
//! district's data directory on a 24 MB tmpfs (the test mounts it: it needs root, as in CI,
//! and fails without), its peer down. Submissions are answered 202 until the free space falls
//! below the reserve, then 507 `store/full` — never 500 — and `/readyz` is not ready; when the
//! province comes back every accepted document is delivered exactly once, the purge gives the
//! space back, and the district accepts again by itself.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use common::gateways::{Demo, eventually};
use lienthong::client::Client;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A JSON-form submission to the province with a 256 KB attachment.
fn form(n: usize) -> Vec<u8> {
    let mut payload = vec![0u8; 256 * 1024];
    for (i, b) in payload.iter_mut().enumerate() {
        *b = ((i * 31 + n * 7) % 251) as u8;
    }
    serde_json::to_vec(&serde_json::json!({
        "to": [{"organ_id": "TU.BENTRE", "organ_name": "Văn phòng Tỉnh ủy Bến Tre"}],
        "code": {"number": format!("{}", 10 + n % 80), "notation": "TB/HU"},
        "subject": format!("Hồ sơ số {n}"),
        "document_type": {"type": "TB", "name": "Thông báo"},
        "promulgation": {"place": "Châu Thành", "date": "2026/11/20"},
        "priority": 0,
        "label": {"level": "thuong", "procedure": "VB-01", "public": false},
        "attachments": [{
            "file_name": format!("ho-so-{n}.bin"),
            "content_type": "application/octet-stream",
            "data": base64::engine::general_purpose::STANDARD.encode(&payload),
        }],
    }))
    .unwrap()
}

fn inbox_ids(inbox: &Client) -> Vec<String> {
    inbox.get("/api/v1/inbox?limit=500").unwrap().json()["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_district_whose_disk_fills_answers_507_drains_when_its_peer_returns_and_accepts_again() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("district-data");
    let _tmpfs = Tmpfs::mount(&data, "24m");
    let mut demo = Demo::new();
    common::tls::edit_config(&demo, "district", |t| {
        t.replace(
            "data_dir = \"data\"",
            &format!("data_dir = \"{}\"", data.display()),
        ) + "\n[limits]\ndisk_reserve_percent = 20\n\n[retention]\nkeep_hours = 0\nsweep_interval_secs = 1\n"
    });
    demo.start("district");
    let office = demo.client("district", "submit");

    // The province is down: everything accepted waits in the district's outbox until the
    // disk is below its reserve.
    let mut accepted = Vec::new();
    let full = loop {
        assert!(accepted.len() < 200, "the disk never filled");
        let r = office
            .post(
                "/api/v1/documents",
                "application/json",
                &form(accepted.len()),
            )
            .unwrap();
        match r.status {
            202 => accepted.push(r.json()["message_id"].as_str().unwrap().to_owned()),
            507 => break r,
            other => panic!("{other}: {}", r.text()),
        }
    };
    assert!(accepted.len() >= 20, "only {} accepted", accepted.len());
    assert_eq!(full.json()["type"], "urn:lienthong:problem:store/full");
    assert!(full.header("retry-after").is_some());
    // Said, not guessed: again 507, and not ready with the reason.
    let again = office
        .post("/api/v1/documents", "application/json", &form(999))
        .unwrap();
    assert_eq!(again.status, 507, "{}", again.text());
    let ready = demo.client("district", "none").get("/readyz").unwrap();
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["type"], "urn:lienthong:problem:store/full");
    assert!(ready.json()["detail"].as_str().unwrap().contains("reserve"));

    // The province returns: the outbox drains inside the reserve, exactly once.
    demo.start("province");
    let inbox = demo.client("province", "receive");
    let want: HashSet<String> = accepted.iter().cloned().collect();
    let got = eventually(
        "every accepted document in the province's inbox",
        120,
        || {
            let ids = inbox_ids(&inbox);
            (ids.len() >= want.len()).then_some(ids)
        },
    );
    assert_eq!(got.len(), want.len(), "a document arrived twice");
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);

    // Delivered documents are purged, the space comes back, and the district accepts again.
    eventually("the district ready again", 60, || {
        let r = demo.client("district", "none").get("/readyz").unwrap();
        (r.status == 200).then_some(())
    });
    let r = office
        .post("/api/v1/documents", "application/json", &form(1_000))
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    eventually("the new document delivered", 60, || {
        inbox_ids(&inbox).contains(&id).then_some(())
    });
    let log = demo.log("district");
    assert!(!log.contains("No space left on device"), "{log}");
}
