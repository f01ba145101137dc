//! Three real gateways (district → province → central) as child processes on loopback: real
//! mutual TLS, real sled stores on disk, documents signed with the demo PKI.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use common::gateways::{Demo, eventually, submit};
use lienthong::sign::{TrustStore, VerifyOptions, verify};

fn trust(demo: &Demo) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_anchors_pem_file(demo.root()).unwrap();
    t
}

fn inbox_ids(demo: &Demo, role: &str, wait: u64) -> Vec<String> {
    let r = demo
        .client(role, "receive")
        .get(&format!("/api/v1/inbox?limit=100&wait={wait}"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn documents_relay_one_and_two_hops_and_arrive_once() {
    let mut demo = Demo::new();
    demo.start_all();
    let office = demo.client("district", "submit");

    let to_province = demo.envelope(
        &["TU.BENTRE"],
        "thuong",
        "VB-01",
        0,
        "Nghị quyết chuyển đổi số",
    );
    let r = submit(&office, &to_province);
    assert_eq!(r.status, 202, "{}", r.text());
    let id1 = r.json()["message_id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v1/documents/{id1}")
    );

    let to_central = demo.envelope(&["VPTW"], "thuong", "VB-01", 3, "Thông báo hỏa tốc");
    let r = submit(&office, &to_central);
    assert_eq!(r.status, 202, "{}", r.text());
    let id2 = r.json()["message_id"].as_str().unwrap().to_owned();

    let mat = demo.envelope(&["TU.BENTRE"], "mat", "TCCB-05", 1, "Báo cáo mật");
    let r = submit(&office, &mat);
    assert_eq!(r.status, 202, "{}", r.text());
    let id3 = r.json()["message_id"].as_str().unwrap().to_owned();

    // The province's receiving system long-polls until both of its documents are there.
    let got = eventually("province inbox", 60, || {
        let ids = inbox_ids(&demo, "province", 5);
        (ids.contains(&id1) && ids.contains(&id3)).then_some(ids)
    });
    assert_eq!(got.iter().filter(|i| **i == id1).count(), 1);

    // Fetch: the bytes are the signed envelope, and they verify with the demo anchor.
    let rcv = demo.client("province", "receive");
    let f = rcv.get(&format!("/api/v1/inbox/{id1}")).unwrap();
    assert_eq!(f.status, 200);
    assert_eq!(f.header("content-type"), Some("application/xml"));
    let v = verify(&f.body, &trust(&demo), &VerifyOptions::now()).unwrap();
    assert_eq!(v.signer().organ(), "HU.CHAUTHANH");

    // Two hops: the central office gets the Hỏa tốc notice, with the trace of both hops.
    let central = eventually("central inbox", 60, || {
        let ids = inbox_ids(&demo, "central", 5);
        ids.contains(&id2).then_some(ids)
    });
    assert_eq!(central.iter().filter(|i| **i == id2).count(), 1);
    let meta = demo
        .client("central", "receive")
        .get(&format!("/api/v1/inbox/{id2}/meta"))
        .unwrap()
        .json();
    let trace: Vec<&str> = meta["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["organ"].as_str().unwrap())
        .collect();
    assert_eq!(trace, vec!["HU.CHAUTHANH", "TU.BENTRE"]);
    assert_eq!(meta["priority"], 3);

    // Ack is idempotent and removes the document from the pending list.
    let a = rcv
        .post(&format!("/api/v1/inbox/{id1}/ack"), "application/json", b"")
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["already_acked"], false);
    let a = rcv
        .post(&format!("/api/v1/inbox/{id1}/ack"), "application/json", b"")
        .unwrap();
    assert_eq!(a.json()["already_acked"], true);
    assert!(!inbox_ids(&demo, "province", 0).contains(&id1));

    // The receiving system reports progress; bad reports are refused.
    let status = |c: &lienthong::client::Client, id: &str, body: &str| {
        c.post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/json",
            body.as_bytes(),
        )
        .unwrap()
    };
    assert_eq!(
        status(&rcv, &id1, r#"{"code":"06","note":"Đã hoàn thành"}"#).status,
        200
    );
    assert_eq!(status(&rcv, &id1, r#"{"code":"02"}"#).status, 400);
    assert_eq!(status(&rcv, &id1, r#"{"code":"03"}"#).status, 400);
    assert_eq!(status(&rcv, &id1, r#"{"code":"06","extra":1}"#).status, 400);
    // Another organ's document is not there for this client.
    assert_eq!(status(&rcv, &id2, r#"{"code":"05"}"#).status, 404);
    // The central office acknowledges the two-hop document: 03 travels back through the province.
    let rcv_c = demo.client("central", "receive");
    assert_eq!(
        rcv_c
            .post(&format!("/api/v1/inbox/{id2}/ack"), "application/json", b"")
            .unwrap()
            .status,
        200
    );
    let codes = |id: &str| -> Vec<(String, String)> {
        office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json()["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["organ"].as_str().unwrap().to_owned(),
                    s["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    eventually("statuses 03 and 06 back at the district", 30, || {
        let c = codes(&id1);
        (c.contains(&("TU.BENTRE".into(), "03".into()))
            && c.contains(&("TU.BENTRE".into(), "06".into())))
        .then_some(())
    });
    eventually(
        "status 03 from the central office, two hops back",
        30,
        || {
            codes(&id2)
                .contains(&("VPTW".into(), "03".into()))
                .then_some(())
        },
    );
    // Each status arrives once, even though relays may be retried.
    assert_eq!(codes(&id1).len(), 2, "{:?}", codes(&id1));
    let st = office
        .get(&format!("/api/v1/documents/{id1}"))
        .unwrap()
        .json();
    assert_eq!(st["statuses"][0]["meaning_en"], "accepted");

    // The district office sees the delivery with the province's receipt.
    let st = office.get(&format!("/api/v1/documents/{id1}")).unwrap();
    assert_eq!(st.status, 200);
    let st = st.json();
    assert_eq!(st["recipients"][0]["state"], "delivered", "{st}");
    assert_eq!(st["recipients"][0]["via"], "TU.BENTRE");

    // Graceful shutdown exits 0 and seals the audit log with a signed checkpoint.
    assert_eq!(demo.stop("district"), Some(0));
    let data = demo.setup.dir.join("district").join("data");
    let out = std::process::Command::new(common::gateways::bin())
        .args(["audit", "verify", "--json", "--data"])
        .arg(&data)
        .arg("--trust")
        .arg(demo.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(data.join("audit").join("audit.log")).unwrap();
    assert!(
        log.contains("submission-accepted") && log.contains("relayed"),
        "{log}"
    );
    assert!(log.contains("checkpoint"));
    // The classified subject of the mat report never reaches the log.
    assert!(!log.contains("Báo cáo mật"));
}

#[test]
fn refusals_at_the_door() {
    let mut demo = Demo::new();
    demo.start("district");
    let office = demo.client("district", "submit");

    // Tối mật never travels: 422 with the rule.
    let secret = demo.envelope(&["TU.BENTRE"], "toi-mat", "VB-01", 0, "Tài liệu tối mật");
    let r = submit(&office, &secret);
    assert_eq!(r.status, 422);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(
        r.json()["type"],
        "urn:lienthong:problem:policy/crypto-channel-only"
    );
    // The refusal does not echo the classified subject.
    assert!(!r.text().contains("Tài liệu tối mật"));

    let ok = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Công văn");
    // No token: 401. A receive-only token: 403. Wrong media type: 415.
    assert_eq!(submit(&office.with_token(None), &ok).status, 401);
    assert_eq!(
        submit(&office.with_token(Some("lt_wrong")), &ok).status,
        401
    );
    assert_eq!(submit(&demo.client("district", "receive"), &ok).status, 403);
    let r = office.post("/api/v1/documents", "text/plain", &ok).unwrap();
    assert_eq!(r.status, 415);
    // XML sent as the JSON form: 400, the JSON parser's reason.
    let r = office
        .post("/api/v1/documents", "application/json", &ok)
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["type"], "urn:lienthong:problem:request/json");
    // Malformed XML: 400 with the parser's reason.
    let r = submit(&office, b"<edXMLEnvelope><unclosed></edXMLEnvelope>");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["type"], "urn:lienthong:problem:envelope/invalid");
    // A DOCTYPE is refused by the one XML door.
    let r = submit(&office, b"<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>");
    assert_eq!(r.status, 400);
    // Unknown procedure: refused by rule 1.
    let unknown = String::from_utf8(ok.clone()).unwrap().replace(
        "<lt:Procedure>VB-01</lt:Procedure>",
        "<lt:Procedure>ZZ-99</lt:Procedure>",
    );
    let r = submit(&office, unknown.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        r.json()["type"],
        "urn:lienthong:problem:policy/unknown-procedure"
    );
    // Sending as another organ: 403.
    let other = String::from_utf8(ok.clone()).unwrap().replacen(
        "<OrganId>HU.CHAUTHANH</OrganId>",
        "<OrganId>TU.BENTRE</OrganId>",
        1,
    );
    let r = submit(&office, other.as_bytes());
    assert_eq!(r.status, 403, "{}", r.text());
    // Oversized: 413.
    let big = vec![b' '; 17 * 1024 * 1024];
    let r = submit(&office, &big);
    assert_eq!(r.status, 413);
    // Ids that are not ids: 400, never a path.
    let r = demo
        .client("district", "receive")
        .get("/api/v1/inbox/..%2F..%2Fetc%2Fpasswd")
        .unwrap();
    assert_eq!(r.status, 400);
    // Nothing of the above was stored.
    let sent = office.get("/api/v1/documents").unwrap().json();
    assert_eq!(sent["documents"].as_array().unwrap().len(), 0, "{sent}");
}

#[test]
fn exchange_requires_a_client_certificate() {
    let mut demo = Demo::new();
    demo.start("province");
    // The API client presents no certificate: the exchange listener refuses the handshake.
    let g = demo.gw("province");
    let c = lienthong::client::Client::new(demo.root(), &g.exchange_url, None).unwrap();
    assert!(c.get("/healthz").is_err());
    // The API listener itself accepts it.
    let c = lienthong::client::Client::new(demo.root(), &g.api_url, None).unwrap();
    assert_eq!(c.get("/healthz").unwrap().status, 200);
}

#[test]
fn peer_down_then_up_delivers_once() {
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let xml = demo.envelope(
        &["VPTW"],
        "thuong",
        "VB-01",
        0,
        "Gửi Trung ương khi mạng gián đoạn",
    );
    let r = submit(&office, &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    // The province has it queued for the central office, which is down.
    std::thread::sleep(std::time::Duration::from_secs(2));
    demo.start("central");
    let ids = eventually("central inbox after restart", 60, || {
        let ids = inbox_ids(&demo, "central", 5);
        ids.contains(&id).then_some(ids)
    });
    assert_eq!(ids.iter().filter(|i| **i == id).count(), 1);
}

#[test]
fn hoa_toc_overtakes_a_backlog_of_thuong() {
    let mut demo = Demo::new();
    demo.start("district");
    let office = demo.client("district", "submit");
    // The province is down: a backlog of Thường builds up in the district's outbox.
    let normal = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Công văn thường");
    let mut backlog = Vec::new();
    for _ in 0..30 {
        let r = submit(&office, &normal);
        assert_eq!(r.status, 202, "{}", r.text());
        backlog.push(r.json()["message_id"].as_str().unwrap().to_owned());
    }
    let urgent = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 3, "Hỏa tốc");
    let r = submit(&office, &urgent);
    assert_eq!(r.status, 202);
    let hoa_toc = r.json()["message_id"].as_str().unwrap().to_owned();

    demo.start("province");
    let rcv = demo.client("province", "receive");
    let received_at = |id: &str| -> time::OffsetDateTime {
        let meta = rcv.get(&format!("/api/v1/inbox/{id}/meta")).unwrap().json();
        time::OffsetDateTime::parse(
            meta["received_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    eventually("the whole backlog", 60, || {
        let ids = inbox_ids(&demo, "province", 2);
        backlog.iter().all(|b| ids.contains(b)).then_some(())
    });
    let urgent_at = received_at(&hoa_toc);
    let earlier = backlog
        .iter()
        .filter(|b| received_at(b) < urgent_at)
        .count();
    // While the province was down the district held its queue and probed with the head of the
    // queue only; the Hỏa tốc document, queued last, was that head when the province came back.
    assert_eq!(
        earlier,
        0,
        "{earlier} of {} Thường documents arrived before the Hỏa tốc one",
        backlog.len()
    );
    // The receiving system sees the Hỏa tốc document first.
    assert_eq!(inbox_ids(&demo, "province", 0).first(), Some(&hoa_toc));

    // Metrics count what happened, with no subject in them.
    let m = demo.client("district", "admin").get("/metrics").unwrap();
    assert_eq!(m.status, 200);
    let text = m.text();
    assert!(
        text.contains("lienthong_submitted_total{organ=\"HU.CHAUTHANH\"} 31"),
        "{text}"
    );
    assert!(text.contains("lienthong_delivered_total"), "{text}");
    assert!(!text.contains("Hỏa tốc") && !text.contains("Công văn"));
}

#[test]
fn revocation_takes_effect_on_sighup() {
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let pki_dir = demo.setup.dir.join("pki");
    // First a document signed with the same certificate is accepted, so the province's chain
    // cache holds a "verified" answer for it: the reload below must not be answered from it.
    let before = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Trước khi thu hồi");
    let r = submit(&office, &before);
    assert_eq!(r.status, 202, "{}", r.text());
    let first = r.json()["message_id"].as_str().unwrap().to_owned();
    eventually("the first document in the province inbox", 30, || {
        inbox_ids(&demo, "province", 0)
            .contains(&first)
            .then_some(())
    });
    // Cryptography staff revoke the district's signing certificate and publish a new CRL.
    let cert = std::fs::read(pki_dir.join("HU.CHAUTHANH").join("signing.cert.pem")).unwrap();
    let der = lienthong::tls::certs_from_pem(&cert, "signing").unwrap();
    let serial = lienthong::pki::cert::summarize("signing", der[0].as_ref())
        .unwrap()
        .serial_hex;
    demo.ca(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]);
    demo.ca(&["crl"]);

    // The province reloads its CRLs on SIGHUP; the district has not (it still signs).
    demo.signal("province", "HUP");
    eventually("the reload in the province log", 20, || {
        demo.log("province").contains("CRLs reloaded").then_some(())
    });
    let xml = demo.envelope(
        &["TU.BENTRE"],
        "thuong",
        "VB-01",
        0,
        "Ký bằng chứng thư đã thu hồi",
    );
    let r = submit(&office, &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    // The province refuses it (revoked signer): a final refusal, dead-lettered with the reason.
    let st = eventually("dead letter", 30, || {
        let st = office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json();
        (st["recipients"][0]["state"] == "dead_lettered").then_some(st)
    });
    let reason = st["recipients"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("revoked"), "{reason}");
    let inbox = inbox_ids(&demo, "province", 0);
    assert!(!inbox.contains(&id));
    assert!(inbox.contains(&first));
}

#[test]
fn forged_or_unsigned_traces_are_refused() {
    let mut demo = Demo::new();
    demo.start("province");
    // Act as the district gateway itself (its real TLS identity), but send a bad trace.
    let config = lienthong::config::Config::load(&demo.gw("district").config).unwrap();
    let keys = lienthong::gateway::keys::load(&config).unwrap();
    let tls = lienthong::tls::exchange_client_config(&keys.tls).unwrap();
    let client = lienthong::relay::client::PeerClient::new(
        &org("TU.BENTRE"),
        &demo.gw("province").exchange_url,
        tls,
        std::time::Duration::from_secs(5),
        1,
    )
    .unwrap();
    // A properly signed document from the district.
    let xml = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Vết giả mạo");
    let mut doc = lienthong::doc::parse(&xml, &lienthong::doc::Limits::default()).unwrap();
    lienthong::sign::sign_document(&mut doc, keys.signer.as_ref(), &keys.signing_chain).unwrap();
    let signed = lienthong::doc::write::write_document(&doc);
    let id = lienthong::store::MessageId::random().unwrap().to_string();
    let unsigned_hop = lienthong::exchange::encode_trace(&[lienthong::store::HopRecord {
        organ: "HU.CHAUTHANH".parse().unwrap(),
        at_ms: 0,
        receipt: None,
    }]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let post = |trace: String| {
        rt.block_on(client.post(
            lienthong::exchange::EXCHANGE_PATH,
            &[
                ("content-type", "application/xml".to_owned()),
                ("x-lienthong-message-id", id.clone()),
                ("x-lienthong-for", "TU.BENTRE".to_owned()),
                ("x-lienthong-trace", trace),
            ],
            bytes::Bytes::from(signed.clone()),
            std::time::Duration::from_secs(10),
        ))
        .unwrap()
    };
    let r = post(unsigned_hop);
    assert_eq!(r.status, 422);
    let p: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(p["type"], "urn:lienthong:problem:relay/bad-trace", "{p}");
    // A trace that does not start at the sender.
    let wrong_start = lienthong::exchange::encode_trace(&[lienthong::store::HopRecord {
        organ: "VPTW".parse().unwrap(),
        at_ms: 0,
        receipt: None,
    }]);
    let r = post(wrong_start);
    assert_eq!(r.status, 422);
    // A peer that speaks another version of the exchange protocol is refused before its
    // headers are read, on both exchange paths.
    for (path, content_type) in [
        (lienthong::exchange::EXCHANGE_PATH, "application/xml"),
        (lienthong::exchange::STATUS_PATH, "application/json"),
    ] {
        let r = rt
            .block_on(client.post(
                path,
                &[
                    ("content-type", content_type.to_owned()),
                    (lienthong::exchange::H_VERSION, "2".to_owned()),
                ],
                bytes::Bytes::from(signed.clone()),
                std::time::Duration::from_secs(10),
            ))
            .unwrap();
        assert_eq!(r.status, 400, "{path}");
        let p: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            p["type"], "urn:lienthong:problem:exchange/unsupported-version",
            "{path}: {p}"
        );
    }
    // Nothing reached the inbox.
    assert!(inbox_ids(&demo, "province", 0).is_empty());
}

#[test]
fn relay_connections_are_pooled_bounded_and_dropped_on_tls_reload() {
    let mut demo = Demo::new();
    demo.start("province");
    let config = lienthong::config::Config::load(&demo.gw("district").config).unwrap();
    let keys = lienthong::gateway::keys::load(&config).unwrap();
    let tls = lienthong::tls::exchange_client_config(&keys.tls).unwrap();
    const POOL: usize = 3;
    let client = lienthong::relay::client::PeerClient::new(
        &org("TU.BENTRE"),
        &demo.gw("province").exchange_url,
        tls.clone(),
        std::time::Duration::from_secs(5),
        POOL,
    )
    .unwrap();
    // Eight requests at once; each is refused quickly (no message id), which is all we need:
    // every one must get its own answer, over at most POOL connections.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = std::sync::Arc::new(client);
    let answers = rt.block_on(async {
        let mut posts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let c = client.clone();
            posts.spawn(async move {
                c.post(
                    lienthong::exchange::EXCHANGE_PATH,
                    &[("content-type", "application/xml".to_owned())],
                    bytes::Bytes::from_static(b"<x/>"),
                    std::time::Duration::from_secs(10),
                )
                .await
            });
        }
        posts.join_all().await
    });
    assert_eq!(answers.len(), 8);
    for a in &answers {
        let a = a.as_ref().unwrap();
        assert!((400..500).contains(&a.status), "status {}", a.status);
    }
    // More than one connection was used (the requests ran side by side), never more than POOL.
    let idle = client.idle_connections();
    assert!(idle > 1 && idle <= POOL, "{idle} idle connections");
    // A new TLS configuration (a CRL reload) closes them: later requests handshake again.
    client.set_tls(tls);
    assert_eq!(client.idle_connections(), 0);
    let again = rt
        .block_on(client.post(
            lienthong::exchange::EXCHANGE_PATH,
            &[("content-type", "application/xml".to_owned())],
            bytes::Bytes::from_static(b"<x/>"),
            std::time::Duration::from_secs(10),
        ))
        .unwrap();
    assert!((400..500).contains(&again.status));
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn portal_shows_public_procedures_and_never_a_secret_one() {
    let mut demo = Demo::new();
    demo.start("province");
    let anon = demo.client("province", "none");
    let catalog =
        lienthong::policy::Catalog::load(&demo.setup.dir.join("procedures.toml")).unwrap();
    let secret: Vec<_> = catalog
        .all()
        .filter(|p| !p.public || p.level != lienthong::doc::label::Level::Thuong)
        .collect();
    assert!(secret.len() >= 8);
    let json = anon.get("/public/v1/procedures").unwrap();
    assert_eq!(json.status, 200);
    let html = anon.get("/portal").unwrap();
    assert_eq!(html.status, 200);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let listed: Vec<String> = json.json()["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(listed.contains(&"VB-01".to_owned()));
    assert_eq!(listed.len(), catalog.len() - secret.len());
    // Absent, not redacted: neither code nor name appears anywhere, page or JSON or 404 page.
    let not_found = anon.get("/portal/TCCB-05").unwrap();
    for p in &secret {
        for body in [json.text(), html.text(), not_found.text()] {
            assert!(!body.contains(&p.code), "{} leaked", p.code);
            assert!(!body.contains(&p.name), "{} leaked", p.name);
        }
    }
}

#[test]
fn openapi_is_served_and_its_paths_exist() {
    let mut demo = Demo::new();
    demo.start("province");
    let c = demo.client("province", "receive");
    let spec = c.get("/api/v1/openapi.json").unwrap();
    assert_eq!(spec.status, 200);
    let spec = spec.json();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "0123456789abcdef0123456789abcdef");
        for method in ops.as_object().unwrap().keys() {
            let r = c
                .request(
                    &method.to_uppercase(),
                    &concrete,
                    Some(b"{}"),
                    &[("content-type", "application/json")],
                )
                .unwrap();
            // The route exists: any answer but the router's own "no such endpoint".
            let text = r.text();
            assert!(
                !(r.status == 404 && text.contains("no such endpoint")),
                "{method} {path} is documented but not routed"
            );
            assert!(r.status < 500, "{method} {path}: {}", r.status);
        }
    }
}

#[test]
fn finished_documents_are_swept_and_unfinished_ones_kept() {
    let mut demo = Demo::new();
    for role in ["district", "province"] {
        let config = demo.gw(role).config.clone();
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\n[retention]\nkeep_hours = 0\nsweep_interval_secs = 1\n");
        std::fs::write(&config, text).unwrap();
    }
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let r = submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Lưu giữ"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    eventually("the document in the province inbox", 30, || {
        inbox_ids(&demo, "province", 1).contains(&id).then_some(())
    });
    let rcv = demo.client("province", "receive");
    let meta = format!("/api/v1/inbox/{id}/meta");
    // Not acknowledged yet: several sweeps pass and the document stays.
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    assert_eq!(rcv.get(&meta).unwrap().status, 200);
    assert_eq!(rcv.get(&format!("/api/v1/inbox/{id}")).unwrap().status, 200);

    let ack = rcv
        .post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
        .unwrap();
    assert_eq!(ack.status, 200, "{}", ack.text());
    // Acknowledged and past retention: the next sweep removes it.
    eventually("the acknowledged document swept", 30, || {
        (rcv.get(&meta).unwrap().status == 404).then_some(())
    });
    // The sweep counts what it removed once its purge has returned, a moment after the
    // document stopped being served.
    let admin = demo.client("province", "admin");
    eventually("the sweep counted", 10, || {
        let m = admin.get("/metrics").unwrap().text();
        m.contains("lienthong_purged_total{organ=\"TU.BENTRE\"} 1")
            .then_some(())
    });
    // The sender's copy is finished once the receipt verified; it goes too.
    let tracked = format!("/api/v1/documents/{id}");
    eventually("the sender's copy swept", 30, || {
        (office.get(&tracked).unwrap().status == 404).then_some(())
    });
}

/// An organ id from a test's own constant.
fn org(text: &str) -> lienthong::store::OrganId {
    text.parse().unwrap()
}
