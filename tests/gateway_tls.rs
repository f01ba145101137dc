//! Mutual TLS on the exchange, with real gateway processes on loopback: who may connect to an
//! exchange listener (refused at the handshake with the specific alert, or 403 for a valid
//! certificate of an organ that is no peer), that a sender checks the server certificate names
//! the peer it meant, and how a faulty peer ends in a dead letter.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use common::gateways::{Demo, bin, eventually, submit};
use common::tls::{
    FAKE_422_DETAIL, FakePeer, Fault, Refusal, addr_of, anonymous_client_config, client_config,
    exchange_post, handshake_refusal, issue_tls, pki_dir, set_peer_url, set_retry,
};
use common::{Alg, Eku, LeafSpec, TestPki};
use lienthong::demo::DEMO_PASSPHRASE;
use rustls::AlertDescription;
use time::{Duration, OffsetDateTime};

/// The district's view of one recipient of its document.
fn recipient(demo: &Demo, id: &str, organ: &str) -> serde_json::Value {
    let r = demo
        .client("district", "submit")
        .get(&format!("/api/v1/documents/{id}"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["recipient"] == organ)
        .cloned()
        .unwrap_or_else(|| panic!("no recipient {organ}: {}", r.text()))
}

fn submit_to_province(demo: &Demo, subject: &str) -> String {
    let xml = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, subject);
    let r = submit(&demo.client("district", "submit"), &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["message_id"].as_str().unwrap().to_owned()
}

fn inbox_ids(demo: &Demo, role: &str) -> Vec<String> {
    let r = demo
        .client(role, "receive")
        .get("/api/v1/inbox?limit=100")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect()
}

fn pki_cli(demo: &Demo, args: &[&str]) {
    let o = std::process::Command::new(bin())
        .arg("pki")
        .args(args)
        .env("LIENTHONG_PASSPHRASE", DEMO_PASSPHRASE)
        .env("LIENTHONG_INSECURE_PBKDF2_ITERATIONS", "1000")
        .current_dir(demo.dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pki {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn exchange_listener_refuses_unauthorised_clients_and_keeps_serving() {
    let mut demo = Demo::new();
    let now = OffsetDateTime::now_utc();
    let ca = pki_dir(&demo);
    let ca_arg = ca.to_str().unwrap().to_owned();

    // Every refused certificate below claims a configured peer of the province
    // (HU.CHAUTHANH), so the refusal is due to the certificate itself, not to the organ.
    // (c) A demo-CA TLS certificate, then revoked: revocation is the only thing wrong with it.
    let revoked = issue_tls(
        &demo,
        "HU.CHAUTHANH",
        now - Duration::hours(1),
        now + Duration::days(30),
    );
    pki_cli(
        &demo,
        &[
            "revoke",
            "--ca",
            &ca_arg,
            "--serial",
            &revoked.serial_hex,
            "--reason",
            "keyCompromise",
        ],
    );
    // CRLs are read at start: the new CRL is in place before the gateways start.
    let crl = ca.join("crl.pem");
    pki_cli(
        &demo,
        &["crl", "--ca", &ca_arg, "-o", crl.to_str().unwrap()],
    );
    // (e) Expired yesterday, otherwise valid.
    let expired = issue_tls(
        &demo,
        "HU.CHAUTHANH",
        now - Duration::days(30),
        now - Duration::days(1),
    );
    // (d) Valid, from the demo CA, but for an organ the province has no link with.
    let stranger = issue_tls(
        &demo,
        "XA.KHAC",
        now - Duration::hours(1),
        now + Duration::days(30),
    );
    // (b) Same organ, right shape, another CA.
    let foreign_pki = TestPki::new("foreign");
    let mut spec = LeafSpec::new(Alg::P256, "HU.CHAUTHANH");
    spec.eku = Eku::None;
    spec.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let foreign_leaf = foreign_pki.leaf(spec);
    let foreign = common::tls::ClientCert {
        chain: foreign_leaf.chain.clone(),
        key_pkcs8: foreign_leaf.key_pkcs8.clone(),
        serial_hex: String::new(),
    };

    demo.start("province");
    let exchange = addr_of(&demo.gw("province").exchange_url);

    // (a) No client certificate: TLS 1.3 certificate_required.
    assert_eq!(
        handshake_refusal(exchange, anonymous_client_config(&demo)),
        Refusal::Alert(AlertDescription::CertificateRequired)
    );
    // (b) Another CA: unknown_ca.
    assert_eq!(
        handshake_refusal(exchange, client_config(&demo, &foreign)),
        Refusal::Alert(AlertDescription::UnknownCA)
    );
    // (c) Revoked in the CRL the gateway loaded: certificate_revoked.
    assert_eq!(
        handshake_refusal(exchange, client_config(&demo, &revoked)),
        Refusal::Alert(AlertDescription::CertificateRevoked)
    );
    // (e) Expired: certificate_expired.
    assert_eq!(
        handshake_refusal(exchange, client_config(&demo, &expired)),
        Refusal::Alert(AlertDescription::CertificateExpired)
    );
    // (d) The handshake succeeds (the certificate is good) but XA.KHAC is no peer: 403.
    let (status, body) = exchange_post(exchange, client_config(&demo, &stranger));
    assert_eq!(status, 403, "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("auth/forbidden"),
        "{problem}"
    );
    assert_eq!(problem["status"], 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("XA.KHAC is not a configured peer"),
        "{problem}"
    );

    // (f) The province's log records each refusal with its cause ...
    let log = eventually("refusals in the province log", 10, || {
        let log = demo.log("province");
        (log.matches("TLS handshake refused").count() >= 4 && log.contains("delivery refused"))
            .then_some(log)
    });
    for cause in [
        "peer sent no certificates",
        "invalid peer certificate: UnknownIssuer",
        "invalid peer certificate: Revoked",
        "invalid peer certificate: certificate expired",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("TLS handshake refused") && l.contains(cause)),
            "no refusal logged for {cause:?}:\n{log}"
        );
    }
    assert!(
        log.lines().any(|l| l.contains("delivery refused")
            && l.contains("auth/forbidden")
            && l.contains("XA.KHAC")),
        "403 not logged:\n{log}"
    );

    // ... and keeps serving: the real district delivers with its own certificate.
    demo.start("district");
    let id = submit_to_province(&demo, "Sau các lần từ chối");
    eventually("delivery to the province", 30, || {
        (recipient(&demo, &id, "TU.BENTRE")["state"] == "delivered").then_some(())
    });
    assert!(inbox_ids(&demo, "province").contains(&id));
}

#[test]
fn sender_refuses_a_server_certificate_of_another_organ() {
    let mut demo = Demo::new();
    // The district's TU.BENTRE link points at the CENTRAL gateway: a valid demo-CA certificate
    // with the right IP address, but bound to organ VPTW.
    let central = demo.gw("central").exchange_url.clone();
    set_peer_url(&demo, "district", "TU.BENTRE", &central);
    demo.start("central");
    demo.start("district");

    let id = submit_to_province(&demo, "Không được lạc sang Trung ương");
    // The entry stays in the outbox and is retried; each attempt stops at the organ check.
    let entry = eventually("two refused attempts", 30, || {
        let r = recipient(&demo, &id, "TU.BENTRE");
        (r["state"] == "in_transit" && r["attempts"].as_u64().unwrap_or(0) >= 2).then_some(r)
    });
    assert_eq!(entry["next_hop"], "TU.BENTRE", "{entry}");
    assert!(
        entry["last_error"]
            .as_str()
            .unwrap()
            .contains("server certificate is bound to organ Some(\"VPTW\")"),
        "{entry}"
    );
    let log = demo.log("district");
    assert!(
        log.contains("server certificate is bound to organ"),
        "district log:\n{log}"
    );
    // The document was never sent to the wrong gateway: nothing in the central inbox, and the
    // central gateway never saw a delivery (refused or not).
    assert!(inbox_ids(&demo, "central").is_empty());
    let central_log = demo.log("central");
    assert!(
        !central_log.contains(&id) && !central_log.contains("delivery refused"),
        "central log:\n{central_log}"
    );
    assert_ne!(
        recipient(&demo, &id, "TU.BENTRE")["state"],
        "delivered",
        "never delivered"
    );
}

#[test]
fn faulty_peer_answers_end_in_dead_letters_with_the_reason() {
    let mut demo = Demo::new();
    let fake = FakePeer::start(&demo, "TU.BENTRE");
    set_peer_url(&demo, "district", "TU.BENTRE", &fake.url());
    set_retry(
        &demo,
        "district",
        "initial_ms = 50\nmax_ms = 200\nmax_attempts = 3\nattempt_timeout_ms = 500\n",
    );
    demo.start("district");

    let ids: Vec<(Fault, String)> = Fault::ALL
        .into_iter()
        .map(|f| {
            (
                f,
                submit_to_province(&demo, &format!("Thử lỗi {}", f.marker())),
            )
        })
        .collect();
    for (fault, id) in &ids {
        let r = eventually(&format!("{fault:?} dead-lettered"), 30, || {
            let r = recipient(&demo, id, "TU.BENTRE");
            (r["state"] == "dead_lettered").then_some(r)
        });
        let reason = r["reason"].as_str().unwrap();
        assert!(
            fake.seen(*fault) >= 1,
            "{fault:?} never reached the fake peer"
        );
        match fault {
            Fault::Garbage | Fault::Reset | Fault::Stall => {
                // Every attempt really reached the peer: none timed out waiting behind the
                // stalled delivery to the same peer.
                assert_eq!(fake.seen(*fault), 3, "{fault:?}: {reason}");
                assert!(
                    reason.starts_with("gave up after 3 attempts: peer TU.BENTRE"),
                    "{fault:?}: {reason}"
                );
            }
            Fault::Refuse422 => {}
        }
        match fault {
            Fault::Stall => assert!(reason.contains("no answer within 500 ms"), "{reason}"),
            // hyper's parse error for bytes that are no status line.
            Fault::Garbage => assert!(reason.contains("invalid HTTP version"), "{reason}"),
            // The RST reaches the reason as the OS error (ECONNRESET), not a bare
            // "connection error".
            Fault::Reset => assert!(
                reason.contains("reset by peer") || reason.contains("os error 104"),
                "{reason}"
            ),
            Fault::Refuse422 => {
                // A refusal is final: dead-lettered at the first answer, with the peer's detail.
                assert_eq!(
                    reason,
                    format!("peer TU.BENTRE refused (422): {FAKE_422_DETAIL}")
                );
                assert_eq!(fake.seen(*fault), 1);
            }
        }
    }
}
