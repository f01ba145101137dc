//! Every classification rule through the real paths: HTTPS API, mutual-TLS exchange, relay
//! workers and status relay of real gateway processes (`lienthong serve`), plus the audit log
//! each refusal must leave. The unit and property tests of `decide()` itself are in
//! `src/policy/tests.rs`.
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
use common::tls::edit_config;
use lienthong::client::Client;
use lienthong::sign::{ReceiptBody, SignedReceipt, TrustStore, VerifyOptions, verify};
use lienthong::store::HopRecord;

fn audit_log(demo: &Demo, role: &str) -> String {
    std::fs::read_to_string(
        demo.setup
            .dir
            .join(role)
            .join("data")
            .join("audit")
            .join("audit.log"),
    )
    .unwrap_or_default()
}

/// Audit entries of kind `policy-refused` naming `rule` (and, when given, the message).
fn refusals(demo: &Demo, role: &str, rule: &str, message: Option<&str>) -> usize {
    audit_log(demo, role)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "policy-refused" && e["rule"] == rule)
        .filter(|e| message.is_none_or(|m| e["message_id"] == m))
        .count()
}

fn problem_type(r: &lienthong::client::Response) -> String {
    r.json()["type"].as_str().unwrap_or_default().to_owned()
}

fn inbox_ids(c: &Client) -> Vec<String> {
    let r = c.get("/api/v1/inbox?limit=100").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Sets the clearance of the API client `name` (e.g. `province-receive`) in `role`'s config.
fn client_clearance(demo: &Demo, role: &str, name: &str, level: &str) {
    edit_config(demo, role, |t| {
        let start = t.find(&format!("name = \"{name}\"")).unwrap();
        let at = start + t[start..].find("clearance = \"mat\"").unwrap();
        format!(
            "{}clearance = \"{level}\"{}",
            &t[..at],
            &t[at + "clearance = \"mat\"".len()..]
        )
    });
}

/// Sets the clearance of `role`'s peer link to `organ`.
fn peer_clearance(demo: &Demo, role: &str, organ: &str, level: &str) {
    edit_config(demo, role, |t| {
        let start = t.find(&format!("[[peers]]\norgan = \"{organ}\"")).unwrap();
        let at = start + t[start..].find("clearance = \"mat\"").unwrap();
        format!(
            "{}clearance = \"{level}\"{}",
            &t[..at],
            &t[at + "clearance = \"mat\"".len()..]
        )
    });
}

fn submitted_id(r: &lienthong::client::Response) -> String {
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["message_id"].as_str().unwrap().to_owned()
}

/// Acts as the district gateway itself on the exchange (its real keys and TLS identity): signs
/// documents as the district and delivers them with a properly signed trace.
struct DistrictPeer {
    keys: lienthong::gateway::GatewayKeys,
    client: lienthong::relay::client::PeerClient,
    trust: TrustStore,
    rt: tokio::runtime::Runtime,
}

impl DistrictPeer {
    fn new(demo: &Demo) -> Self {
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
        let mut trust = TrustStore::new();
        trust.add_anchors_pem_file(demo.root()).unwrap();
        Self {
            keys,
            client,
            trust,
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn sign(&self, xml: &[u8]) -> Vec<u8> {
        let mut doc = lienthong::doc::parse(xml, &lienthong::doc::Limits::default()).unwrap();
        lienthong::sign::sign_document(
            &mut doc,
            self.keys.signer.as_ref(),
            &self.keys.signing_chain,
        )
        .unwrap();
        lienthong::doc::write::write_document(&doc)
    }

    /// Delivers `signed` as message `id` for TU.BENTRE; returns (status, body JSON).
    fn deliver(&self, id: &str, signed: &[u8]) -> (u16, serde_json::Value) {
        let digest: String = verify(signed, &self.trust, &VerifyOptions::now())
            .unwrap()
            .digest()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let body = ReceiptBody {
            message_id: id.to_owned(),
            digest_sha256: digest,
            organ: "HU.CHAUTHANH".to_owned(),
            status: "01".to_owned(),
            at: "2026-11-20T08:00:00Z".to_owned(),
        };
        let receipt =
            SignedReceipt::sign(&body, self.keys.signer.as_ref(), &self.keys.signing_chain)
                .unwrap();
        let trace = lienthong::exchange::encode_trace(&[HopRecord {
            organ: "HU.CHAUTHANH".parse().unwrap(),
            at_ms: 0,
            receipt: Some(serde_json::to_string(&receipt).unwrap()),
        }]);
        let r = self
            .rt
            .block_on(self.client.post(
                lienthong::exchange::EXCHANGE_PATH,
                &[
                    ("content-type", "application/xml".to_owned()),
                    ("x-lienthong-message-id", id.to_owned()),
                    ("x-lienthong-for", "TU.BENTRE".to_owned()),
                    ("x-lienthong-trace", trace),
                ],
                bytes::Bytes::from(signed.to_vec()),
                std::time::Duration::from_secs(10),
            ))
            .unwrap();
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or_default(),
        )
    }
}

/// Rules 1, 3 and 5 on receipt from a peer, and rule 4 on the receiving link — each refusal a
/// 422 naming its rule, and each in the receiver's audit log.
#[test]
fn receipt_from_a_peer_decides_every_rule_and_audits_refusals() {
    let mut demo = Demo::new();
    demo.start("province");
    let peer = DistrictPeer::new(&demo);
    let new_id = || lienthong::store::MessageId::random().unwrap().to_string();

    // A good delivery is accepted (the harness itself is sound).
    let ok_id = new_id();
    let thuong = peer.sign(&demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Công văn thường"));
    let (status, body) = peer.deliver(&ok_id, &thuong);
    assert_eq!(status, 200, "{body}");

    // Rule 5: the same message id, now signed with another label → refused and audited.
    let mat = peer.sign(&demo.envelope(&["TU.BENTRE"], "mat", "VB-01", 0, "Cùng mã, nhãn khác"));
    let (status, body) = peer.deliver(&ok_id, &mat);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "urn:lienthong:problem:policy/label-changed");
    assert_eq!(
        refusals(&demo, "province", "label-changed", Some(&ok_id)),
        1
    );
    // The subject of the refused document never reaches the log.
    assert!(!audit_log(&demo, "province").contains("Cùng mã, nhãn khác"));
    // A plain redelivery of the first document still gets its receipt (same label).
    assert_eq!(peer.deliver(&ok_id, &thuong).0, 200);

    // Rule 3: tối mật arriving from a peer.
    let id = new_id();
    let toi_mat = peer.sign(&demo.envelope(&["TU.BENTRE"], "toi-mat", "VB-01", 0, "Tối mật"));
    let (status, body) = peer.deliver(&id, &toi_mat);
    assert_eq!(status, 422);
    assert_eq!(
        body["type"],
        "urn:lienthong:problem:policy/crypto-channel-only"
    );
    assert_eq!(
        refusals(&demo, "province", "crypto-channel-only", Some(&id)),
        1
    );

    // Rule 1: a procedure the catalog does not know.
    let id = new_id();
    let unknown = String::from_utf8(demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Lạ"))
        .unwrap()
        .replace(
            "<lt:Procedure>VB-01</lt:Procedure>",
            "<lt:Procedure>ZZ-99</lt:Procedure>",
        );
    let (status, body) = peer.deliver(&id, &peer.sign(unknown.as_bytes()));
    assert_eq!(status, 422);
    assert_eq!(
        body["type"],
        "urn:lienthong:problem:policy/unknown-procedure"
    );
    assert_eq!(
        refusals(&demo, "province", "unknown-procedure", Some(&id)),
        1
    );

    // Rule 4 on the receiving link: the province clears its link from the district for thuong
    // only; a mat document (rule 2: a thuong label under a mat procedure) is refused.
    demo.stop("province");
    peer_clearance(&demo, "province", "HU.CHAUTHANH", "thuong");
    demo.start("province");
    let id = new_id();
    let under_mat_procedure =
        peer.sign(&demo.envelope(&["TU.BENTRE"], "thuong", "TCCB-05", 0, "Quy hoạch"));
    let (status, body) = peer.deliver(&id, &under_mat_procedure);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "urn:lienthong:problem:policy/above-clearance");
    assert!(
        body["detail"].as_str().unwrap().contains("level mat"),
        "{body}"
    );
    assert_eq!(refusals(&demo, "province", "above-clearance", Some(&id)), 1);

    // Only the first document reached the inbox.
    assert_eq!(inbox_ids(&demo.client("province", "receive")), vec![ok_id]);
}

/// Rule 4 at submission (client clearance and each next hop), in the inbox (listing, fetch,
/// acknowledgement), and rule 2 (the procedure's level) on each of them.
#[test]
fn clearance_of_clients_and_links_is_decided_at_submission_and_in_the_inbox() {
    let mut demo = Demo::new();
    client_clearance(&demo, "district", "district-submit", "thuong");
    client_clearance(&demo, "province", "province-receive", "thuong");
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");

    // A submitting client cleared for thuong cannot submit mat (rule 4 on the submission way),
    // nor a thuong label under a mat procedure (rule 2).
    let r = submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "mat", "VB-01", 0, "Báo cáo mật"),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        problem_type(&r),
        "urn:lienthong:problem:policy/above-clearance"
    );
    assert!(!r.text().contains("Báo cáo mật"));
    let r = submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "KT-08", 0, "Kỷ luật"),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        problem_type(&r),
        "urn:lienthong:problem:policy/above-clearance"
    );
    let audit = audit_log(&demo, "district");
    assert!(audit.contains("\"rule\":\"above-clearance\""), "{audit}");

    // The same office with clearance mat (restart with its token cleared again).
    demo.stop("district");
    edit_config(&demo, "district", |t| {
        t.replacen("clearance = \"thuong\"", "clearance = \"mat\"", 1)
    });
    demo.start("district");
    let thuong_id = submitted_id(&submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Công văn"),
    ));
    let mat_id = submitted_id(&submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "mat", "VB-01", 1, "Báo cáo mật"),
    ));
    let mat_by_procedure = submitted_id(&submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "TCCB-05", 0, "Quy hoạch cán bộ"),
    ));

    // The province's receiving system is cleared for thuong: the mat documents are absent from
    // its listing — not redacted — and fetching, reading the metadata or acknowledging them by
    // id answers exactly like a missing document.
    let dms = demo.client("province", "receive");
    let ids = eventually("the thuong document in the inbox", 30, || {
        let ids = inbox_ids(&dms);
        ids.contains(&thuong_id).then_some(ids)
    });
    // Wait for the mat ones to be stored too (the sender sees them delivered).
    for id in [&mat_id, &mat_by_procedure] {
        eventually("mat delivered", 30, || {
            let d = office
                .get(&format!("/api/v1/documents/{id}"))
                .unwrap()
                .json();
            (d["recipients"][0]["state"] == "delivered").then_some(())
        });
    }
    let ids_after = inbox_ids(&dms);
    assert_eq!(ids_after, vec![thuong_id.clone()], "{ids:?}");
    let listing = dms.get("/api/v1/inbox?limit=100").unwrap().text();
    assert!(!listing.contains("mat"), "{listing}");
    for id in [&mat_id, &mat_by_procedure] {
        for path in [
            format!("/api/v1/inbox/{id}"),
            format!("/api/v1/inbox/{id}/meta"),
        ] {
            let r = dms.get(&path).unwrap();
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.text().contains("Báo cáo mật") && !r.text().contains("Quy hoạch"));
        }
        let r = dms
            .post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
            .unwrap();
        assert_eq!(r.status, 404);
        assert!(refusals(&demo, "province", "above-clearance", Some(id)) >= 1);
    }
    assert_eq!(
        dms.get(&format!("/api/v1/inbox/{thuong_id}"))
            .unwrap()
            .status,
        200
    );
    // Rule 4 on logs and metrics: labels and ids only, never a classified subject.
    let metrics = demo
        .client("province", "none")
        .get("/metrics")
        .unwrap()
        .text();
    for text in [
        demo.log("district"),
        demo.log("province"),
        audit_log(&demo, "district"),
        audit_log(&demo, "province"),
        metrics,
    ] {
        assert!(!text.contains("Báo cáo mật") && !text.contains("Quy hoạch cán bộ"));
    }
}

/// Rule 4 on the relay to the next hop, decided again when the document leaves: the link was
/// lowered to thuong while a mat document waited in the outbox → dead letter, audited, never
/// sent. Then the status relay: a status of a mat document is not relayed over a link cleared
/// only for thuong.
#[test]
fn relay_and_status_relay_decide_on_the_link_they_take() {
    let mut demo = Demo::new();
    demo.start("district");
    let office = demo.client("district", "submit");
    // The province is down: the document waits in the district's outbox.
    let queued = submitted_id(&submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "mat", "VB-01", 0, "Báo cáo mật chờ"),
    ));
    demo.stop("district");
    peer_clearance(&demo, "district", "TU.BENTRE", "thuong");
    demo.start("district");
    demo.start("province");
    let d = eventually("dead letter", 30, || {
        let d = office
            .get(&format!("/api/v1/documents/{queued}"))
            .unwrap()
            .json();
        (d["recipients"][0]["state"] == "dead_lettered").then_some(d)
    });
    assert!(
        d["recipients"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("above-clearance"),
        "{d}"
    );
    assert_eq!(
        refusals(&demo, "district", "above-clearance", Some(&queued)),
        1
    );
    // Never sent: the province holds nothing.
    assert!(inbox_ids(&demo.client("province", "receive")).is_empty());
    // New mat submissions over that link are refused at once (decided per next hop).
    let r = submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "mat", "VB-01", 0, "Mật"),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        problem_type(&r),
        "urn:lienthong:problem:policy/above-clearance"
    );

    // Status relay: the link cleared for mat again, a mat document delivered; then the
    // province lowers its link back to the district and its receiving system reports 06.
    demo.stop("district");
    edit_config(&demo, "district", |t| {
        t.replacen("clearance = \"thuong\"", "clearance = \"mat\"", 1)
    });
    demo.start("district");
    let id = submitted_id(&submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "mat", "VB-01", 0, "Mật để báo cáo"),
    ));
    let dms = demo.client("province", "receive");
    eventually("mat in the province inbox", 30, || {
        inbox_ids(&dms).contains(&id).then_some(())
    });
    demo.stop("province");
    peer_clearance(&demo, "province", "HU.CHAUTHANH", "thuong");
    demo.start("province");
    let r = dms
        .post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/json",
            br#"{"code":"06","note":"xong"}"#,
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        problem_type(&r),
        "urn:lienthong:problem:policy/above-clearance"
    );
    assert_eq!(refusals(&demo, "province", "above-clearance", Some(&id)), 1);
}

/// Rule 6 at publication: only a thuong document, flagged public, under a public procedure
/// reaches the public index — at the sender and at the recipient — and each publication is
/// audited; nothing of the others appears in the portal's JSON or page.
#[test]
fn publication_takes_only_what_rule_6_allows() {
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let public_subject = "Thông báo kết quả Đại hội Chi bộ công khai";
    let published = submitted_id(&submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, public_subject),
    ));
    let not_flagged = String::from_utf8(demo.envelope(
        &["TU.BENTRE"],
        "thuong",
        "VB-01",
        0,
        "Văn bản thường không gắn cờ công khai",
    ))
    .unwrap()
    .replace(
        "<lt:Public>true</lt:Public>",
        "<lt:Public>false</lt:Public>",
    );
    let hidden = [
        submitted_id(&submit(&office, not_flagged.as_bytes())),
        // Flagged public, but mat.
        submitted_id(&submit(
            &office,
            &demo.envelope(
                &["TU.BENTRE"],
                "mat",
                "VB-01",
                0,
                "Báo cáo mật gắn cờ công khai",
            ),
        )),
        // Flagged public, thuong, but the procedure is not public.
        submitted_id(&submit(
            &office,
            &demo.envelope(
                &["TU.BENTRE"],
                "thuong",
                "VB-15",
                0,
                "Tiêu hủy tài liệu nội bộ",
            ),
        )),
        // Flagged public, thuong label, but a mat procedure (rule 2 → mat).
        submitted_id(&submit(
            &office,
            &demo.envelope(
                &["TU.BENTRE"],
                "thuong",
                "TCCB-05",
                0,
                "Quy hoạch cán bộ gắn cờ",
            ),
        )),
    ];
    let secrets = [
        "Văn bản thường không gắn cờ công khai",
        "Báo cáo mật gắn cờ công khai",
        "Tiêu hủy tài liệu nội bộ",
        "Quy hoạch cán bộ gắn cờ",
    ];
    let dms = demo.client("province", "receive");
    eventually("all five at the province", 30, || {
        (inbox_ids(&dms).len() == 5).then_some(())
    });
    for role in ["district", "province"] {
        let anon = demo.client(role, "none");
        let json = anon.get("/public/v1/documents").unwrap();
        assert_eq!(json.status, 200);
        let docs = json.json()["documents"].as_array().unwrap().clone();
        assert_eq!(docs.len(), 1, "{role}: {docs:?}");
        assert_eq!(docs[0]["subject"], public_subject);
        assert_eq!(docs[0]["procedure"], "VB-01");
        let page = anon.get("/portal/van-ban").unwrap();
        assert_eq!(page.status, 200);
        assert!(page.text().contains(public_subject));
        for body in [json.text(), page.text()] {
            for s in secrets {
                assert!(!body.contains(s), "{role} leaked {s}");
            }
            for id in &hidden {
                assert!(!body.contains(id.as_str()));
            }
        }
        // Exactly one publication audited, for that message.
        let log = audit_log(&demo, role);
        let published_entries: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["kind"] == "published")
            .collect();
        assert_eq!(published_entries.len(), 1, "{role}: {log}");
        assert_eq!(published_entries[0]["message_id"], published.as_str());
    }
    // The central gateway is not on the way: a transit gateway publishes nothing it carries.
}

/// An organ id from a test's own constant.
fn org(text: &str) -> lienthong::store::OrganId {
    text.parse().unwrap()
}
