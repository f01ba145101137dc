#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! The office and inbox API through real HTTPS on loopback (real `lienthong serve` processes):
//! the JSON submission form, recall, and every refusal of the API's endpoints — each refusal
//! checked for its problem `type` and for leaving the store untouched.

mod common;

use base64::Engine as _;
use common::gateways::{Demo, eventually, submit};
use lienthong::client::{Client, Response};
use lienthong::doc::envelope::{EnvelopeLimits, parse_envelope};
use lienthong::sign::{TrustStore, VerifyOptions, verify};
use serde_json::{Value, json};

const PROBLEM: &str = "urn:lienthong:problem:";

/// Asserts a problem+json refusal with this status and `type`.
#[track_caller]
fn problem(r: &Response, status: u16, kind: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["type"], format!("{PROBLEM}{kind}"), "{}", r.text());
    assert_eq!(r.json()["status"], status);
    assert!(r.json()["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

/// The store's durable writes and message count, from `/metrics`: a refusal changes neither.
fn store_state(demo: &Demo, role: &str) -> (u64, u64) {
    let text = demo.client(role, "none").get("/metrics").unwrap().text();
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
            .parse()
            .unwrap()
    };
    (
        value("lienthong_store_durable_writes_total"),
        value("lienthong_store_messages"),
    )
}

/// The store state once background work (relay, receipts) has stopped changing it.
fn settled(demo: &Demo, role: &str) -> (u64, u64) {
    let mut last = store_state(demo, role);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = store_state(demo, role);
        if now == last {
            return now;
        }
        last = now;
    }
}

fn trust(demo: &Demo) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_anchors_pem_file(demo.root()).unwrap();
    t
}

fn post_json(c: &Client, path: &str, body: &Value) -> Response {
    c.post(path, "application/json", body.to_string().as_bytes())
        .unwrap()
}

/// A JSON submission from the district to `to`.
fn form(to: &str, level: &str, procedure: &str) -> Value {
    json!({
        "to": [{"organ_id": to, "organ_name": "Văn phòng nhận"}],
        "code": {"number": "12", "notation": "CV/HU"},
        "subject": "Công văn về chuyển đổi số",
        "content": "Nội dung công văn.",
        "document_type": {"type": "CV", "name": "Công văn"},
        "promulgation": {"place": "Châu Thành", "date": "2026/11/20"},
        "signer": {"competence": "TM. BAN THƯỜNG VỤ", "position": "Bí thư", "full_name": "Nguyễn Văn An"},
        "due_date": "2026/12/01",
        "to_places": ["Lưu Văn phòng"],
        "priority": 1,
        "label": {"level": level, "procedure": procedure, "public": false},
        "attachments": [
            {"file_name": "cv.txt", "content_type": "text/plain",
             "data": base64::engine::general_purpose::STANDARD.encode("Xin chào")}
        ]
    })
}

fn inbox_has(demo: &Demo, role: &str, id: &str) -> Option<Value> {
    let r = demo
        .client(role, "receive")
        .get("/api/v1/inbox?limit=100&wait=2")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message_id"] == id)
        .cloned()
}

#[test]
fn json_form_is_built_signed_and_relayed_and_every_refusal_leaves_the_store_untouched() {
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");

    // The JSON form: built into an edXML envelope, signed by the district, relayed.
    let r = post_json(
        &office,
        "/api/v1/documents",
        &form("TU.BENTRE", "thuong", "VB-01"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.json()["document_id"],
        "HU.CHAUTHANH,2026/11/20,12/CV/HU",
        "{}",
        r.text()
    );
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v1/documents/{id}")
    );
    let item = eventually("the JSON submission at the province", 60, || {
        inbox_has(&demo, "province", &id)
    });
    assert_eq!(item["priority"], 1);
    assert_eq!(item["recalled"], false);
    let rcv = demo.client("province", "receive");
    let bytes = rcv.get(&format!("/api/v1/inbox/{id}")).unwrap().body;
    let v = verify(&bytes, &trust(&demo), &VerifyOptions::now()).unwrap();
    assert_eq!(v.signer().organ(), "HU.CHAUTHANH");
    let (_, env) = parse_envelope(&bytes, &EnvelopeLimits::default()).unwrap();
    assert_eq!(env.subject(), "Công văn về chuyển đổi số");
    assert_eq!(env.header.signer.full_name, "Nguyễn Văn An");
    assert_eq!(env.header.due_date.unwrap().to_string(), "2026/12/01");
    assert_eq!(env.body.attachments[0].data, "Xin chào".as_bytes());
    assert_eq!(env.body.attachments[0].content_id, "att-1");
    // The district's office follows it: delivered.
    eventually("delivered state", 30, || {
        let d = office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json();
        (d["recipients"][0]["state"] == "delivered").then_some(())
    });

    // === office refusals (district) ===
    let before = settled(&demo, "district");
    let sent_before = office.get("/api/v1/documents").unwrap().json()["documents"]
        .as_array()
        .unwrap()
        .len();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = form("TU.BENTRE", "thuong", "VB-01");
        f(&mut v);
        post_json(&office, "/api/v1/documents", &v)
    };
    let r = with(&|v| v["colour"] = json!("red"));
    problem(&r, 400, "request/json");
    assert!(r.json()["detail"].as_str().unwrap().contains("colour"));
    let r = with(&|v| v["label"]["secret"] = json!(true));
    problem(&r, 400, "request/json");
    assert!(r.json()["detail"].as_str().unwrap().starts_with("label"));
    let r = with(&|v| v["attachments"][0]["data"] = json!("not*base64"));
    problem(&r, 400, "request/base64");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("attachments[0].data")
    );
    let r = with(&|v| v["to"][0]["organ_id"] = json!("tu.bentre"));
    problem(&r, 400, "request/json");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("to[0].organ_id")
    );
    let r = with(&|v| v["label"]["level"] = json!("khong-ro"));
    problem(&r, 400, "request/json");
    let r = with(&|v| {
        v.as_object_mut().unwrap().remove("label");
    });
    problem(&r, 400, "request/json");
    assert!(r.json()["detail"].as_str().unwrap().contains("label"));
    let r = with(&|v| v["priority"] = json!(7));
    problem(&r, 400, "request/json");
    let r = with(&|v| v["to"] = json!([]));
    problem(&r, 400, "request/json");
    let r = with(&|v| v["from"] = json!("TU.BENTRE"));
    problem(&r, 403, "auth/forbidden");
    let r = with(&|v| v["subject"] = json!("x".repeat(2_001)));
    problem(&r, 400, "envelope/invalid");
    let r = with(&|v| v["label"] = json!({"level": "toi-mat", "procedure": "VB-01"}));
    problem(&r, 422, "policy/crypto-channel-only");
    let r = office
        .post("/api/v1/documents", "application/json", b"{\"to\": [")
        .unwrap();
    problem(&r, 400, "request/json");
    let r = office
        .post("/api/v1/documents", "application/json", b"{} trailing")
        .unwrap();
    problem(&r, 400, "request/json");
    let r = office
        .post("/api/v1/documents", "text/plain", b"hello")
        .unwrap();
    problem(&r, 415, "request/content-type");
    // Oversized: 413 before anything is parsed.
    let big = format!("{{\"subject\": \"{}\"}}", "a".repeat(17 * 1024 * 1024));
    let r = office
        .post("/api/v1/documents", "application/json", big.as_bytes())
        .unwrap();
    problem(&r, 413, "request/too-large");
    // Unauthenticated, wrong role.
    let body = form("TU.BENTRE", "thuong", "VB-01").to_string();
    let r = office
        .with_token(None)
        .post("/api/v1/documents", "application/json", body.as_bytes())
        .unwrap();
    problem(&r, 401, "auth/unauthenticated");
    let r = demo
        .client("district", "receive")
        .post("/api/v1/documents", "application/json", body.as_bytes())
        .unwrap();
    problem(&r, 403, "auth/forbidden");
    // Queries: unknown parameter, bad state, bad since, bad cursor type: problem+json.
    problem(
        &office.get("/api/v1/documents?colour=red").unwrap(),
        400,
        "request/query",
    );
    problem(
        &office.get("/api/v1/documents?state=lost").unwrap(),
        400,
        "request/bad-state",
    );
    problem(
        &office.get("/api/v1/documents?since=yesterday").unwrap(),
        400,
        "request/bad-since",
    );
    for bad in ["limit=-1", "limit=0", "limit=501", "limit=x"] {
        problem(
            &office.get(&format!("/api/v1/documents?{bad}")).unwrap(),
            400,
            "request/query",
        );
    }
    problem(
        &office.get("/api/v1/documents/not-an-id").unwrap(),
        400,
        "request/bad-id",
    );
    problem(
        &office
            .get("/api/v1/documents/00000000000000000000000000000000")
            .unwrap(),
        404,
        "not-found",
    );
    // The province's office cannot see the district's document (404, not 403: no existence leak).
    problem(
        &demo
            .client("province", "submit")
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap(),
        404,
        "not-found",
    );
    problem(
        &office.get("/api/v1/documents?cursor=zz").unwrap(),
        400,
        "request/bad-cursor",
    );
    problem(
        &office.get("/api/v1/documents?cursor=00ff").unwrap(),
        400,
        "request/bad-cursor",
    );
    assert_eq!(store_state(&demo, "district"), before);
    let sent_after = office.get("/api/v1/documents").unwrap().json()["documents"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(sent_after, sent_before);

    // === pagination of the sent list ===
    let mut ids = vec![id.clone()];
    for _ in 0..2 {
        let r = post_json(
            &office,
            "/api/v1/documents",
            &form("TU.BENTRE", "thuong", "VB-01"),
        );
        assert_eq!(r.status, 202, "{}", r.text());
        ids.push(r.json()["message_id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/documents?limit=2".to_owned();
    loop {
        let page = office.get(&path).unwrap();
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        let docs = page["documents"].as_array().unwrap();
        assert!(docs.len() <= 2);
        seen.extend(
            docs.iter()
                .map(|d| d["message_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/documents?limit=2&cursor={c}"),
            None => break,
        }
    }
    // Oldest first, each once.
    assert_eq!(seen, ids);
    let future = office
        .get("/api/v1/documents?since=2100-01-01T00:00:00Z")
        .unwrap()
        .json();
    assert_eq!(future["documents"].as_array().unwrap().len(), 0);
    assert_eq!(future["next_cursor"], Value::Null);
    let dead = office
        .get("/api/v1/documents?state=dead_lettered")
        .unwrap()
        .json();
    assert_eq!(dead["documents"].as_array().unwrap().len(), 0);

    // === inbox refusals (province) ===
    for i in &ids {
        eventually("the page's documents at the province", 60, || {
            inbox_has(&demo, "province", i)
        });
    }
    let before = settled(&demo, "province");
    let unknown = "0123456789abcdef0123456789abcdef";
    for bad in ["wait=abc", "wait=-1", "wait=3601", "limit=0", "limit=501"] {
        problem(
            &rcv.get(&format!("/api/v1/inbox?{bad}")).unwrap(),
            400,
            "request/query",
        );
    }
    problem(
        &rcv.get("/api/v1/inbox?limit=5&colour=1").unwrap(),
        400,
        "request/query",
    );
    problem(
        &rcv.get(&format!("/api/v1/inbox/{unknown}")).unwrap(),
        404,
        "not-found",
    );
    problem(
        &rcv.get(&format!("/api/v1/inbox/{unknown}/meta")).unwrap(),
        404,
        "not-found",
    );
    // Out of order: acknowledging or reporting on a document that is not in this inbox.
    problem(
        &rcv.post(
            &format!("/api/v1/inbox/{unknown}/ack"),
            "application/json",
            b"",
        )
        .unwrap(),
        404,
        "not-found",
    );
    problem(
        &rcv.post(
            &format!("/api/v1/inbox/{unknown}/status"),
            "application/json",
            br#"{"code":"06"}"#,
        )
        .unwrap(),
        404,
        "not-found",
    );
    // Out of order: answering a recall that was never requested.
    problem(
        &rcv.post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/json",
            br#"{"code":"15"}"#,
        )
        .unwrap(),
        409,
        "status/no-recall",
    );
    let status = |body: &[u8]| {
        rcv.post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/json",
            body,
        )
        .unwrap()
    };
    problem(&status(br#"{"code":"02"}"#), 400, "status/reason-required");
    problem(&status(br#"{"code":"03"}"#), 400, "status/code");
    problem(&status(br#"{"code":"13"}"#), 400, "status/code");
    problem(&status(br#"{"code":"06","x":1}"#), 400, "request/json");
    problem(&status(b"{"), 400, "request/json");
    let long = format!(r#"{{"code":"05","note":"{}"}}"#, "n".repeat(1001));
    problem(&status(long.as_bytes()), 400, "status/note-too-long");
    problem(&status(&vec![b' '; 17 * 1024]), 413, "request/too-large");
    // Roles: the submit token reads no inbox; no token is 401.
    let sub = demo.client("province", "submit");
    problem(&sub.get("/api/v1/inbox").unwrap(), 403, "auth/forbidden");
    problem(
        &sub.get(&format!("/api/v1/inbox/{id}")).unwrap(),
        403,
        "auth/forbidden",
    );
    problem(
        &sub.post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
            .unwrap(),
        403,
        "auth/forbidden",
    );
    problem(
        &rcv.with_token(None).get("/api/v1/inbox").unwrap(),
        401,
        "auth/unauthenticated",
    );
    // Another organ's receiving system cannot see the province's document.
    problem(
        &demo
            .client("district", "receive")
            .get(&format!("/api/v1/inbox/{id}/meta"))
            .unwrap(),
        404,
        "not-found",
    );
    // Recall is the office's: a receive token may not.
    problem(
        &rcv.post(
            &format!("/api/v1/documents/{id}/recall"),
            "application/json",
            b"",
        )
        .unwrap(),
        403,
        "auth/forbidden",
    );
    assert_eq!(store_state(&demo, "province"), before);
    problem(
        &rcv.get("/api/v1/no-such-endpoint").unwrap(),
        404,
        "not-found",
    );
    let r = rcv.request("DELETE", "/api/v1/inbox", None, &[]).unwrap();
    problem(&r, 405, "request/method");
    assert_eq!(r.header("allow"), Some("GET,HEAD"));
    problem(
        &rcv.get("/api/v1/inbox/%FF%FE/meta").unwrap(),
        400,
        "request/bad-id",
    );

    // Ack before fetch is allowed (the receiving system says it has the document; delivery to
    // pollers is at-least-once) and idempotent; 03 goes back once.
    let a = rcv
        .post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["already_acked"], false);
    let after_ack = store_state(&demo, "province");
    let a = rcv
        .post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
        .unwrap();
    assert_eq!(a.json()["already_acked"], true);
    assert_eq!(store_state(&demo, "province").1, after_ack.1);
    eventually("03 at the district", 30, || {
        let d = office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json();
        let codes: Vec<String> = d["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_str().unwrap().to_owned())
            .collect();
        (codes == ["03"]).then_some(())
    });
}

#[test]
fn recall_travels_with_the_document_over_two_hops_and_is_idempotent() {
    let mut demo = Demo::new();
    demo.start_all();
    let office = demo.client("district", "submit");

    let xml = demo.envelope(&["VPTW"], "thuong", "VB-01", 0, "Thông báo sẽ lấy lại");
    let r = submit(&office, &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    eventually("the document at the central office", 60, || {
        inbox_has(&demo, "central", &id)
    });
    let recall_path = format!("/api/v1/documents/{id}/recall");

    // Refusals first, each leaving the district's store as it was.
    let before = settled(&demo, "district");
    problem(
        &office
            .post(
                "/api/v1/documents/0123456789abcdef0123456789abcdef/recall",
                "application/json",
                b"",
            )
            .unwrap(),
        404,
        "not-found",
    );
    problem(
        &office
            .post("/api/v1/documents/xyz/recall", "application/json", b"")
            .unwrap(),
        400,
        "request/bad-id",
    );
    problem(
        &office
            .post(&recall_path, "application/json", br#"{"why":"x"}"#)
            .unwrap(),
        400,
        "request/json",
    );
    problem(
        &office.post(&recall_path, "application/json", b"{").unwrap(),
        400,
        "request/json",
    );
    let long = format!(r#"{{"note":"{}"}}"#, "n".repeat(1001));
    problem(
        &office
            .post(&recall_path, "application/json", long.as_bytes())
            .unwrap(),
        400,
        "status/note-too-long",
    );
    problem(
        &office
            .post(&recall_path, "application/json", &vec![b' '; 17 * 1024])
            .unwrap(),
        413,
        "request/too-large",
    );
    problem(
        &office
            .with_token(None)
            .post(&recall_path, "application/json", b"")
            .unwrap(),
        401,
        "auth/unauthenticated",
    );
    problem(
        &demo
            .client("district", "receive")
            .post(&recall_path, "application/json", b"")
            .unwrap(),
        403,
        "auth/forbidden",
    );
    assert_eq!(store_state(&demo, "district"), before);
    // Another organ's office: the province relayed this document, but it is not its own.
    let before_p = settled(&demo, "province");
    problem(
        &demo
            .client("province", "submit")
            .post(&recall_path, "application/json", b"")
            .unwrap(),
        404,
        "not-found",
    );
    assert_eq!(store_state(&demo, "province"), before_p);

    // The recall: 202 after the durable write; again: the same request, nothing new.
    let r = office
        .post(
            &recall_path,
            "application/json",
            r#"{"note":"Văn bản ban hành nhầm"}"#.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["already_requested"], false);
    assert_eq!(r.json()["code"], "13");
    assert_eq!(r.json()["relayed_to"], json!(["TU.BENTRE"]));
    let first_at = r.json()["requested_at"].clone();
    let r = office.post(&recall_path, "application/json", b"").unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["already_requested"], true);
    assert_eq!(r.json()["requested_at"], first_at);
    let d = office
        .get(&format!("/api/v1/documents/{id}"))
        .unwrap()
        .json();
    let recalls = d["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["code"] == "13")
        .count();
    assert_eq!(recalls, 1, "{d}");

    // The central office's inbox shows it recalled, with the note, after two hops.
    let central = demo.client("central", "receive");
    let meta = eventually("the recall at the central office", 60, || {
        let m = central
            .get(&format!("/api/v1/inbox/{id}/meta"))
            .unwrap()
            .json();
        (m["recalled"] == true).then_some(m)
    });
    assert_eq!(meta["recall"]["note"], "Văn bản ban hành nhầm");
    assert_eq!(inbox_has(&demo, "central", &id).unwrap()["recalled"], true);
    // The sender's own view lists the request.
    let d = office
        .get(&format!("/api/v1/documents/{id}"))
        .unwrap()
        .json();
    assert!(
        d["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["code"] == "13" && s["meaning_en"] == "recall requested"),
        "{d}"
    );

    // The receiving system answers: refusing needs a reason; agreeing travels back to the sender.
    let answer = |body: &[u8]| {
        central
            .post(
                &format!("/api/v1/inbox/{id}/status"),
                "application/json",
                body,
            )
            .unwrap()
    };
    problem(&answer(br#"{"code":"16"}"#), 400, "status/reason-required");
    let r = answer(r#"{"code":"15","note":"Đồng ý"}"#.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    eventually("15 back at the district", 60, || {
        let d = office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json();
        d["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["code"] == "15" && s["organ"] == "VPTW")
            .then_some(())
    });
}

/// The receiving-system example (examples/receiving_system.rs), run against the demo: it
/// long-polls, fetches, verifies with `lienthong verify`, acks and reports 06. `cargo test`
/// builds examples beside the tests; when only this test binary was built (`--test api`), or
/// the example's source is newer than its binary, it is built here.
fn receiving_system_example() -> std::path::PathBuf {
    // target/<profile>/deps/api-… → target/<profile>/examples/receiving_system
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("receiving_system");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/receiving_system.rs");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&bin) < modified(std::path::Path::new(source)) {
        let mut build = std::process::Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "--example", "receiving_system"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "cargo build --example");
    }
    bin
}

#[test]
fn the_receiving_system_example_verifies_acks_and_reports_06() {
    let example = receiving_system_example();
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let mut ids = Vec::new();
    let r = post_json(
        &office,
        "/api/v1/documents",
        &form("TU.BENTRE", "mat", "TCCB-05"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    ids.push(r.json()["message_id"].as_str().unwrap().to_owned());
    let xml = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 3, "Hỏa tốc");
    let r = submit(&office, &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    ids.push(r.json()["message_id"].as_str().unwrap().to_owned());

    let g = demo.gw("province");
    let out = std::process::Command::new(&example)
        .args([
            "--count",
            "2",
            "--wait",
            "5",
            "--deadline",
            "60",
            "--lienthong",
        ])
        .arg(common::gateways::bin())
        .env("LIENTHONG_API", &g.api_url)
        .env("LIENTHONG_ROOT", demo.root())
        .env("LIENTHONG_TOKEN", &g.tokens.receive)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let mut handled: Vec<String> = lines
        .iter()
        .map(|l| l["message_id"].as_str().unwrap().to_owned())
        .collect();
    handled.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(handled, expected);
    for l in &lines {
        assert_eq!(l["verified"], true, "{l}");
        assert_eq!(l["signer"], "HU.CHAUTHANH");
        assert_eq!(l["status"], "06");
    }
    // The inbox is empty, and 03 then 06 reach the sending office for both documents.
    let left = demo
        .client("province", "receive")
        .get("/api/v1/inbox")
        .unwrap()
        .json();
    assert_eq!(left["documents"], json!([]));
    for id in &ids {
        eventually("03 and 06 at the district", 60, || {
            let d = office
                .get(&format!("/api/v1/documents/{id}"))
                .unwrap()
                .json();
            let codes: Vec<&str> = d["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["code"].as_str().unwrap())
                .collect();
            (codes == ["03", "06"]).then_some(())
        });
    }
}

/// `client::Client` keeps its connection alive: a run of requests goes over one connection
/// (taken from the idle pool and put back), each response read whole by its framing — a
/// fixed-length JSON body, a long poll, a problem+json refusal — and the connection stays
/// usable after each. Were every request to open a new connection, the pool would fill up.
#[test]
fn the_client_reuses_one_kept_alive_connection_across_requests() {
    let mut demo = Demo::new();
    demo.start("province");
    let c = demo.client("province", "receive");
    assert_eq!(c.idle_connections(), 0);
    for _ in 0..5 {
        let r = c.get("/healthz").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(c.idle_connections(), 1);
    }
    let r = c.get("/api/v1/inbox?limit=5&wait=1").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["documents"].is_array(), "{}", r.text());
    let r = c.get("/api/v1/inbox?limit=0").unwrap();
    problem(&r, 400, "request/query");
    let r = c.get("/metrics").unwrap();
    assert!(
        r.text().contains("lienthong_store_tombstones"),
        "{}",
        r.text()
    );
    assert_eq!(c.idle_connections(), 1);
    // Clones share the pool; a second concurrent connection is kept too, up to the bound.
    let clones: Vec<Client> = (0..12).map(|_| c.clone()).collect();
    std::thread::scope(|s| {
        for c in &clones {
            s.spawn(move || assert_eq!(c.get("/healthz").unwrap().status, 200));
        }
    });
    let idle = c.idle_connections();
    assert!(
        (1..=lienthong::client::MAX_IDLE).contains(&idle),
        "{idle} idle connections"
    );
}
