//! Mutual-TLS refusals at a running gateway's exchange listener: a certificate from another CA
//! and a revoked certificate are refused at the handshake; a valid certificate of an organ that
//! is not a peer is refused with 403. The gateway logs each and keeps serving.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::gateways::{Demo, bin, eventually, submit};
use lienthong::relay::client::PeerClient;
use lienthong::tls::{TlsIdentity, certs_from_pem, exchange_client_config};
use rustls_pki_types::PrivatePkcs8KeyDer;

const PASS: &str = lienthong::demo::DEMO_PASSPHRASE;

/// A TLS key for `organ` in a fresh keystore, certified by the demo CA (`pki issue`).
fn demo_ca_tls_identity(demo: &Demo, dir: &Path, organ: &str) -> (TlsIdentity, String) {
    let ks = dir.join(format!("ks-{organ}"));
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .args(args)
            .env("LIENTHONG_PASSPHRASE", PASS)
            .env("LIENTHONG_INSECURE_PBKDF2_ITERATIONS", "1000")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ks_s = ks.to_str().unwrap();
    run(&[
        "keys",
        "generate",
        "--alg",
        "p256",
        "--name",
        "tls",
        "--keystore",
        ks_s,
    ]);
    let csr = dir.join(format!("{organ}.csr"));
    run(&[
        "keys",
        "csr",
        "--name",
        "tls",
        "--organ",
        organ,
        "--cn",
        organ,
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.1",
        "--keystore",
        ks_s,
        "-o",
        csr.to_str().unwrap(),
    ]);
    let cert = dir.join(format!("{organ}.cert.pem"));
    let ca = demo.setup.dir.join("pki");
    run(&[
        "pki",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--csr",
        csr.to_str().unwrap(),
        "--profile",
        "tls",
        "-o",
        cert.to_str().unwrap(),
    ]);
    let keystore = lienthong::pki::Keystore::open(&ks).unwrap();
    let pass = lienthong::pki::Passphrase::new(PASS.to_owned()).unwrap();
    let der = keystore.load_pkcs8("tls", &pass).unwrap();
    let chain = certs_from_pem(&std::fs::read(&cert).unwrap(), "cert").unwrap();
    let serial = lienthong::pki::cert::summarize("cert", chain[0].as_ref())
        .unwrap()
        .serial_hex;
    let roots = certs_from_pem(&std::fs::read(demo.root()).unwrap(), "root").unwrap();
    (
        TlsIdentity {
            chain,
            key: PrivatePkcs8KeyDer::from(der.to_vec()),
            roots,
            crls: Vec::new(),
        },
        serial,
    )
}

fn post(
    rt: &tokio::runtime::Runtime,
    id: &TlsIdentity,
    peer: &str,
    url: &str,
) -> Result<u16, String> {
    let client = PeerClient::new(
        peer,
        url,
        exchange_client_config(id).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    rt.block_on(client.post(
        lienthong::relay::worker::EXCHANGE_PATH,
        &[("content-type", "application/xml".to_owned())],
        bytes::Bytes::from_static(b"<x/>"),
        Duration::from_secs(10),
    ))
    .map(|r| r.status)
    .map_err(|e| e.to_string())
}

#[test]
fn exchange_refuses_foreign_revoked_and_non_peer_certificates() {
    let mut demo = Demo::new();
    let tmp = tempfile::tempdir().unwrap();
    // A certificate of the demo CA for an organ that is not a peer of the province.
    let (stranger, _) = demo_ca_tls_identity(&demo, tmp.path(), "XA.KHAC");
    // A district certificate that cryptography staff revoke before the province starts.
    let (revoked, serial) = demo_ca_tls_identity(&demo, tmp.path(), "HU.CHAUTHANH");
    let ca = demo.setup.dir.join("pki");
    for args in [
        vec![
            "revoke",
            "--serial",
            serial.as_str(),
            "--reason",
            "keyCompromise",
        ],
        vec!["crl"],
    ] {
        let out = Command::new(bin())
            .arg("pki")
            .args(&args)
            .arg("--ca")
            .arg(&ca)
            .env("LIENTHONG_PASSPHRASE", PASS)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A certificate from another CA entirely, for a real peer organ.
    let other = common::TestPki::new("foreign");
    let mut spec = common::LeafSpec::new(common::Alg::P256, "HU.CHAUTHANH");
    spec.eku = common::Eku::None;
    let leaf = other.leaf(spec);
    let foreign = TlsIdentity {
        chain: leaf.chain.clone(),
        key: PrivatePkcs8KeyDer::from(leaf.key_pkcs8.clone()),
        roots: revoked.roots.clone(),
        crls: Vec::new(),
    };

    demo.start("province");
    demo.start("district");
    let url = demo.gw("province").exchange_url.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // TLS 1.3 reports a refused client certificate after the client's half of the handshake:
    // the client sees the connection fail, never an HTTP answer; the server logs why.
    assert!(post(&rt, &foreign, "TU.BENTRE", &url).is_err());
    assert!(post(&rt, &revoked, "TU.BENTRE", &url).is_err());
    assert_eq!(post(&rt, &stranger, "TU.BENTRE", &url), Ok(403));

    // Each refusal is in the province's log…
    let log = eventually("refusals logged", 10, || {
        let log = demo.log("province");
        (log.matches("TLS handshake refused").count() >= 2).then_some(log)
    });
    assert!(
        log.contains("UnknownIssuer") || log.contains("unknown"),
        "{log}"
    );
    assert!(log.contains("Revoked") || log.contains("revoked"), "{log}");
    assert!(log.contains("auth/forbidden"), "{log}");
    // …and the gateway keeps serving its real peers.
    let office = demo.client("district", "submit");
    let xml = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Sau các lần từ chối");
    let r = submit(&office, &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    let rcv = demo.client("province", "receive");
    eventually("delivery after the refusals", 30, || {
        let list = rcv.get("/api/v1/inbox?wait=2").unwrap().json();
        list["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["message_id"] == id.as_str())
            .then_some(())
    });
}

/// A fake "province" that completes mutual TLS with the real province keys, then misbehaves.
fn fake_peer(
    demo: &Demo,
    behaviour: &'static str,
) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let ks = lienthong::pki::Keystore::open(&demo.setup.dir.join("pki").join("TU.BENTRE")).unwrap();
    let pass = lienthong::pki::Passphrase::new(PASS.to_owned()).unwrap();
    let key = ks.load_pkcs8("tls", &pass).unwrap();
    let chain =
        certs_from_pem(ks.cert_chain_pem("tls").unwrap().unwrap().as_bytes(), "tls").unwrap();
    let roots = certs_from_pem(&std::fs::read(demo.root()).unwrap(), "root").unwrap();
    let id = TlsIdentity {
        chain,
        key: PrivatePkcs8KeyDer::from(key.to_vec()),
        roots,
        crls: Vec::new(),
    };
    let config = lienthong::tls::exchange_server_config(&id).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(20) {
            let Ok(tcp) = stream else { continue };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 4096];
            // Read (part of) the request, which completes the handshake.
            let _ = tls.read(&mut buf);
            match behaviour {
                "garbage" => {
                    let _ = tls.write_all(b"\x00\x01garbage, not HTTP\r\n\r\n");
                    let _ = tls.flush();
                }
                "reset" => {
                    let _ = tls.sock.shutdown(std::net::Shutdown::Both);
                }
                "refuse" => {
                    let body = br#"{"type":"urn:lienthong:problem:policy/above-clearance","status":422,"detail":"level mat is above the clearance"}"#;
                    let _ = write!(
                        tls,
                        "HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(body);
                    let _ = tls.flush();
                }
                _ => std::thread::sleep(Duration::from_secs(3)), // stall
            }
        }
    });
    (addr, handle)
}

#[test]
fn faulty_peers_are_retried_then_dead_lettered_with_the_reason() {
    for (behaviour, expect) in [
        ("garbage", "gave up after 3 attempts"),
        ("reset", "gave up after 3 attempts"),
        ("stall", "gave up after 3 attempts"),
        ("refuse", "above the clearance"),
    ] {
        let mut demo = Demo::new();
        let (addr, _fake) = fake_peer(&demo, behaviour);
        // Point the district's province peer at the fake, with a short retry policy.
        let config = demo.gw("district").config.clone();
        let text = std::fs::read_to_string(&config).unwrap();
        let province = demo.gw("province").exchange_url.clone();
        let text = text
            .replace(&province, &format!("https://{addr}"))
            .replace(
                "initial_ms = 100",
                "initial_ms = 50\nattempt_timeout_ms = 500",
            )
            .replace("max_attempts = 30", "max_attempts = 3");
        std::fs::write(&config, text).unwrap();
        demo.start("district");
        let office = demo.client("district", "submit");
        let xml = demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Gửi tới máy hỏng");
        let r = submit(&office, &xml);
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["message_id"].as_str().unwrap().to_owned();
        let st = eventually(&format!("dead letter ({behaviour})"), 60, || {
            let st = office
                .get(&format!("/api/v1/documents/{id}"))
                .unwrap()
                .json();
            (st["recipients"][0]["state"] == "dead_lettered").then_some(st)
        });
        let reason = st["recipients"][0]["reason"].as_str().unwrap();
        assert!(reason.contains(expect), "{behaviour}: {reason}");
    }
}
