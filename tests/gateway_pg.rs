#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! A gateway on PostgreSQL (issue 23), as an operator runs one: `[store] engine = "postgres"` in
//! the province's config, a real PostgreSQL 15 cluster (`tests/common/postgres.rs`), real
//! gateways on loopback. Documents flow district (sled) → province (PostgreSQL); `kill -9` of
//! the province, and an immediate stop of the database server under the running province
//! (which carries on once it is back), lose and duplicate nothing acknowledged; a bad `[store]` is a clear start-up error.

mod common;
#[path = "common/postgres.rs"]
mod postgres_cluster;

use std::collections::HashMap;
use std::process::Command;

use common::gateways::{Demo, bin, eventually, submit};
use postgres_cluster::cluster;

/// Puts the province's store on a fresh database of the test cluster.
fn province_on_postgres(demo: &Demo, database: &str) -> String {
    let url = cluster().database(database);
    let config = &demo.gw("province").config;
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!(
        "\n[store]\nengine = \"postgres\"\nurl = \"{url}\"\n"
    ));
    std::fs::write(config, text).unwrap();
    url
}

fn inbox_counts(demo: &Demo) -> HashMap<String, usize> {
    let rcv = demo.client("province", "receive");
    let r = rcv.get("/api/v1/inbox?limit=500").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let mut counts = HashMap::new();
    for d in r.json()["documents"].as_array().unwrap() {
        *counts
            .entry(d["message_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_province_on_postgres_receives_and_loses_nothing_to_kill9_or_a_database_crash() {
    let mut demo = Demo::new();
    let url = province_on_postgres(&demo, "province_kill9");
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let xml = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Trên PostgreSQL");
    let mut accepted = Vec::new();
    for round in 0..3 {
        for _ in 0..10 {
            let r = submit(&office, &xml);
            assert_eq!(r.status, 202, "{}", r.text());
            accepted.push(r.json()["message_id"].as_str().unwrap().to_owned());
        }
        // Everything accepted so far is in the province inbox before the next blow.
        eventually("the accepted documents in the province inbox", 60, || {
            let counts = inbox_counts(&demo);
            accepted
                .iter()
                .all(|id| counts.contains_key(id))
                .then_some(())
        });
        if round == 0 {
            demo.kill9("province");
            demo.start("province");
        } else if round == 1 {
            // The database server dies (as on power loss: no shutdown checkpoint) and comes back.
            let dir = &cluster().dir;
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster.sh");
            let ok = Command::new(&script)
                .arg("stop")
                .arg(dir)
                .arg("immediate")
                .status()
                .unwrap();
            assert!(ok.success());
            let out = Command::new(&script)
                .arg("start")
                .arg(dir)
                .arg(std::process::id().to_string())
                .output()
                .unwrap();
            assert!(out.status.success());
            // The province keeps running: its broken sessions are replaced as they are needed.
        }
    }
    let counts = inbox_counts(&demo);
    assert_eq!(counts.len(), accepted.len(), "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");

    // The documents are in the database, not in a sled store under the data directory.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let n: i64 = db
        .query_one("SELECT count(*) FROM messages", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, i64::try_from(accepted.len()).unwrap());
    let province_data = demo
        .gw("province")
        .config
        .parent()
        .unwrap()
        .join("data/store/db");
    assert!(
        !province_data.exists(),
        "a sled store was made at {}",
        province_data.display()
    );

    // `store migrate` on the running gateway's database: nothing to do.
    let out = Command::new(bin())
        .args(["store", "migrate", "--config"])
        .arg(&demo.gw("province").config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already"));
}

/// `lienthong serve` with `config`'s text changed by `edit`: its exit code and stderr.
fn serve_fails(demo: &Demo, edit: &str) -> (Option<i32>, String) {
    let config = demo.gw("province").config.with_file_name("bad-store.toml");
    let mut text = std::fs::read_to_string(&demo.gw("province").config).unwrap();
    text.push_str(edit);
    std::fs::write(&config, text).unwrap();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_store_section_is_a_clear_start_up_error() {
    let demo = Demo::new();
    let (code, err) = serve_fails(&demo, "\n[store]\nengine = \"mysql\"\n");
    assert_ne!(code, Some(0));
    assert!(err.contains("unknown variant `mysql`"), "{err}");

    let (code, err) = serve_fails(&demo, "\n[store]\nengine = \"postgres\"\n");
    assert_ne!(code, Some(0));
    assert!(err.contains("store.url"), "{err}");

    let missing = "postgresql://lienthong@/lienthong?host=/nonexistent-lienthong-socket-dir";
    let (code, err) = serve_fails(
        &demo,
        &format!("\n[store]\nengine = \"postgres\"\nurl = \"{missing}\"\n"),
    );
    assert_ne!(code, Some(0));
    assert!(
        err.contains("cannot open the store at") && err.contains(missing),
        "{err}"
    );

    let (code, err) = serve_fails(
        &demo,
        "\n[store]\nengine = \"postgres\"\nurl = \"postgresql://u:secret@db.example/x?sslmode=require\"\n",
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("holds a password"), "{err}");
    assert!(!err.contains("secret"), "the password was echoed: {err}");

    let (code, err) = serve_fails(
        &demo,
        "\n[store]\nengine = \"postgres\"\nurl = \"postgresql://u@db.example/x\"\n",
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("sslmode=require"), "{err}");

    let (code, err) = serve_fails(&demo, "\n[store]\nurl = \"postgresql://u@/x\"\n");
    assert_ne!(code, Some(0));
    assert!(err.contains("are for engine = \"postgres\""), "{err}");
}
