//! Secret hygiene: three real gateways run with debug logging while the test drives every
//! refusal path it can reach — bad, missing and wrong-role tokens, another organ's submission,
//! policy refusals (toi-mat at the door, a `mat` document asked for by an uncleared client),
//! a tampered signature at the exchange, malformed XML, oversize and garbage requests, and CLI
//! failures with a wrong passphrase. Every log line (stdout and stderr), every error body, the
//! metrics and the CLI output are then searched: no token, passphrase, private key material, or
//! classified (`mat`) subject or content may appear anywhere.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::gateways::{Demo, bin, eventually};
use common::tls::{
    addr_of, anonymous_client_config, client_config, edit_config, gateway_tls, passphrase, pki_dir,
};
use lienthong::client::{Client, Response};
use lienthong::demo::DEMO_PASSPHRASE;
use lienthong::gateway::caller::{new_token, token_hash_hex};
use lienthong::pki::Keystore;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Gateways started here with `LIENTHONG_LOG=debug`, stdout and stderr to files.
struct Debugged {
    children: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Drop for Debugged {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Debugged {
    fn start(demo: &Demo, roles: &[&str]) -> Self {
        let mut me = Self {
            children: Vec::new(),
            logs: Vec::new(),
        };
        for role in roles {
            let err = demo.dir.path().join(format!("{role}.debug.stderr"));
            let out = demo.dir.path().join(format!("{role}.debug.stdout"));
            let mut child = Command::new(bin())
                .args(["serve", "--config"])
                .arg(&demo.gw(role).config)
                .env("LIENTHONG_LOG", "debug")
                .env("RUST_LOG", "debug")
                .env("RUST_BACKTRACE", "1")
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&err).unwrap())
                .spawn()
                .unwrap();
            // Copy stdout to a file, and wait for the ready line.
            let stdout = child.stdout.take().unwrap();
            let mut file = std::fs::File::create(&out).unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut r = BufReader::new(stdout);
                let mut line = String::new();
                let mut first = true;
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    let _ = file.write_all(line.as_bytes());
                    if first {
                        let _ = tx.send(line.clone());
                        first = false;
                    }
                    line.clear();
                }
            });
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!(
                        "{role} did not start: {}",
                        std::fs::read_to_string(&err).unwrap_or_default()
                    )
                });
            assert!(line.contains("\"ready\":true"), "{role}: {line}");
            me.children.push(child);
            me.logs.push(err);
            me.logs.push(out);
        }
        me
    }

    fn stop(mut self) -> Vec<PathBuf> {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
        self.children.clear();
        std::mem::take(&mut self.logs)
    }
}

/// Everything an operator or an attacker could read: appended as the test goes.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: &str, text: impl Into<String>) {
        self.0.push((what.to_owned(), text.into()));
    }
    fn response(&mut self, what: &str, r: &Response) {
        self.add(
            what,
            format!("{} {:?}\n{}", r.status, r.header("content-type"), r.text()),
        );
    }
}

fn key_material(dir: &Path, name: &str) -> Vec<String> {
    let ks = Keystore::open(dir).unwrap();
    let der = ks.load_pkcs8(name, &passphrase()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der[..]);
    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
    // The whole encoding, and windows from its middle (a log might wrap or cut it).
    let mid = b64.len() / 2;
    vec![
        b64[mid..mid + 48].to_owned(),
        b64[b64.len() - 60..b64.len() - 12].to_owned(),
        hex[hex.len() / 2..hex.len() / 2 + 64].to_owned(),
    ]
}

fn cli(demo: &Demo, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(demo.dir.path())
        .env("LIENTHONG_INSECURE_PBKDF2_ITERATIONS", "1000")
        .env("LIENTHONG_LOG", "debug")
        .env("RUST_LOG", "debug")
        .env_remove("LIENTHONG_PASSPHRASE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Sends raw bytes to a listener over TLS (no client certificate) and returns what came back.
fn raw_api(demo: &Demo, role: &str, bytes: &[u8]) -> String {
    let addr = addr_of(&demo.gw(role).api_url);
    let config = anonymous_client_config(demo);
    let bytes = bytes.to_vec();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap();
        let _ = tls.write_all(&bytes).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// POSTs `body` to a peer's exchange over mutual TLS as `organ`, returning (status, body).
fn exchange_post(demo: &Demo, role: &str, as_organ: &str, id: &str, body: &[u8]) -> (u16, String) {
    let addr = addr_of(&demo.gw(role).exchange_url);
    let config = client_config(demo, &gateway_tls(demo, as_organ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap();
        let head = format!(
            "POST /exchange/v1/messages HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/xml\r\n\
             x-lienthong-message-id: {id}\r\nx-lienthong-for: TU.BENTRE\r\nx-lienthong-trace: W10\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(body).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    })
}

#[test]
fn no_secret_or_classified_text_in_logs_errors_metrics_or_cli_output() {
    let demo = Demo::new();
    // An uncleared receiving system at the province (clearance thuong), added before start.
    let uncleared = new_token().unwrap();
    let uncleared_hash = token_hash_hex(&uncleared);
    edit_config(&demo, "province", |t| {
        format!(
            "{t}\n[[clients]]\nname = \"province-uncleared\"\norgan = \"TU.BENTRE\"\n\
             roles = [\"receive\"]\ntoken_sha256 = \"{uncleared_hash}\"\nclearance = \"thuong\"\n"
        )
    });
    let running = Debugged::start(&demo, &["central", "province", "district"]);
    let mut seen = Seen::default();

    let district = demo.gw("district");
    let province = demo.gw("province");
    let root = demo.root();
    let with = |g: &lienthong::demo::DemoGateway, token: Option<&str>| {
        Client::new(root, &g.api_url, token).unwrap()
    };

    // --- classified material, delivered normally ---
    let tag = format!("{:08x}", std::process::id() ^ 0x5eed_cafe);
    let mat_subject = format!("BAO-CAO-MAT-SUBJECT-{tag}");
    let mat_content = format!("NOI-DUNG-MAT-CONTENT-{tag}");
    let mat = demo.envelope(&["TU.BENTRE"], "mat", "TCCB-05", 1, &mat_subject);
    let text = String::from_utf8(mat).unwrap();
    assert!(text.contains("<Content/>"), "{text}");
    let mat = text
        .replacen(
            "<Content/>",
            &format!("<Content>{mat_content}</Content>"),
            1,
        )
        .into_bytes();
    let office = with(district, Some(&district.tokens.submit));
    let r = office
        .post("/api/v1/documents", "application/xml", &mat)
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    let mat_id = r.json()["message_id"].as_str().unwrap().to_owned();
    let receiver = with(province, Some(&province.tokens.receive));
    let signed = eventually("the mat document at the province", 60, || {
        let r = receiver.get(&format!("/api/v1/inbox/{mat_id}")).unwrap();
        (r.status == 200).then_some(r.body)
    });

    // --- refusals at the API door ---
    let bad_token = format!("lt_bad_{tag}_0123456789abcdef0123456789abcdef");
    for (what, client) in [
        ("bad token", with(province, Some(&bad_token))),
        ("no token", with(province, None)),
        (
            "other gateway's token",
            with(province, Some(&district.tokens.receive)),
        ),
    ] {
        let r = client.get("/api/v1/inbox").unwrap();
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        seen.response(what, &r);
    }
    // Wrong role: the submit token reading the inbox, the receive token submitting.
    let r = with(province, Some(&province.tokens.submit))
        .get("/api/v1/inbox")
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    seen.response("wrong role", &r);
    let r = with(province, Some(&province.tokens.receive))
        .post("/api/v1/documents", "application/xml", &mat)
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    seen.response("wrong role submit", &r);
    // Wrong organ: the province's office submitting the district's document.
    let r = with(province, Some(&province.tokens.submit))
        .post("/api/v1/documents", "application/xml", &mat)
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    seen.response("wrong organ", &r);
    // Policy: toi-mat at the door, carrying a secret subject.
    let toi_mat_subject = format!("TOI-MAT-SUBJECT-{tag}");
    let toi = demo.envelope(&["TU.BENTRE"], "toi-mat", "VB-01", 0, &toi_mat_subject);
    let r = office
        .post("/api/v1/documents", "application/xml", &toi)
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    seen.response("toi-mat", &r);
    // Policy: the mat document is absent for an uncleared receiving system.
    let low = with(province, Some(&uncleared));
    let r = low.get("/api/v1/inbox").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !r.text().contains(&mat_id),
        "uncleared client sees the mat document"
    );
    seen.response("uncleared list", &r);
    for path in [
        format!("/api/v1/inbox/{mat_id}"),
        format!("/api/v1/inbox/{mat_id}/meta"),
    ] {
        let r = low.get(&path).unwrap();
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        seen.response("uncleared fetch", &r);
    }
    let r = low
        .post(
            &format!("/api/v1/inbox/{mat_id}/ack"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    seen.response("uncleared ack", &r);
    // Malformed XML and a DOCTYPE, both carrying the classified subject.
    let broken = format!("<edXMLEnvelope><Subject>{mat_subject}</Subject><unclosed>");
    let r = office
        .post("/api/v1/documents", "application/xml", broken.as_bytes())
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    seen.response("malformed", &r);
    let dtd = format!("<!DOCTYPE x [<!ENTITY s \"{mat_subject}\">]><x>&s;</x>");
    let r = office
        .post("/api/v1/documents", "application/xml", dtd.as_bytes())
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    seen.response("doctype", &r);
    // A mat document whose subject was edited after signing, arriving at the exchange.
    let tampered = String::from_utf8(signed.clone()).unwrap().replacen(
        &mat_subject,
        &format!("{mat_subject}-SUA"),
        1,
    );
    let (status, body) = exchange_post(
        &demo,
        "province",
        "HU.CHAUTHANH",
        "00000000000000000000000000000001",
        tampered.as_bytes(),
    );
    assert_eq!(status, 422, "{body}");
    seen.add("tampered at exchange", body);
    // Oversize, wrong media type, garbage JSON with a token inside.
    let r = office
        .post("/api/v1/documents", "text/plain", &mat)
        .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
    seen.response("media type", &r);
    let r = receiver
        .post(
            &format!("/api/v1/inbox/{mat_id}/status"),
            "application/json",
            format!("{{\"code\":\"{}\"}}", province.tokens.admin).as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    seen.response("bad status json", &r);
    // Requests hyper itself refuses (a malformed head carrying a token; a body cut short) end
    // their connections with an error, logged at debug.
    let admin = &province.tokens.admin;
    let head =
        format!("GET /metrics HTTP/1.1\r\nauthorization: Bearer {admin}\r\nbad header\r\n\r\n");
    seen.add(
        "malformed head",
        raw_api(&demo, "province", head.as_bytes()),
    );
    let cut = format!(
        "POST /api/v1/documents HTTP/1.1\r\nauthorization: Bearer {}\r\ncontent-type: application/xml\r\n\
         content-length: 100000\r\n\r\n<Subject>{mat_subject}</Subject>",
        district.tokens.submit
    );
    seen.add("cut body", raw_api(&demo, "district", cut.as_bytes()));
    // Metrics, readiness, the portal, as anyone can read them.
    for path in ["/metrics", "/readyz", "/public/v1/procedures", "/portal"] {
        let r = with(province, None).get(path).unwrap();
        seen.response(path, &r);
    }

    // --- CLI failures ---
    let wrong_pass = format!("sai-mat-khau-{tag}");
    let ks = pki_dir(&demo).join("HU.CHAUTHANH");
    let ks = ks.to_str().unwrap();
    let out = demo.dir.path().join("x.csr");
    let (ok, text) = cli(
        &demo,
        &[
            "keys",
            "csr",
            "--name",
            "signing",
            "--organ",
            "HU.CHAUTHANH",
            "--cn",
            "x",
            "-o",
            out.to_str().unwrap(),
        ],
        &[
            ("LIENTHONG_KEYSTORE", ks),
            ("LIENTHONG_PASSPHRASE", &wrong_pass),
        ],
    );
    assert!(!ok, "a wrong passphrase unlocked the key: {text}");
    seen.add("cli wrong passphrase", text);
    // serve with a passphrase file holding the wrong passphrase.
    let conf_dir = district.config.parent().unwrap();
    let bad_conf = conf_dir.join("bad-pass.toml");
    std::fs::write(conf_dir.join("wrong-passphrase"), &wrong_pass).unwrap();
    let conf: String = std::fs::read_to_string(&district.config)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("api = ") || l.starts_with("exchange = ") {
                let (k, _) = l.split_once(" = ").unwrap();
                format!("{k} = \"127.0.0.1:0\"\n")
            } else if l.starts_with("passphrase_file = ") {
                "passphrase_file = \"wrong-passphrase\"\n".to_owned()
            } else if l.starts_with("data_dir = ") {
                "data_dir = \"bad-data\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&bad_conf, conf).unwrap();
    let (ok, text) = cli(
        &demo,
        &["serve", "--config", bad_conf.to_str().unwrap()],
        &[],
    );
    assert!(!ok, "serve started with a wrong passphrase: {text}");
    assert!(
        text.contains("passphrase"),
        "refused for another reason: {text}"
    );
    seen.add("serve wrong passphrase", text);
    // doc show of the mat document without --content.
    let mat_file = demo.dir.path().join("mat.xml");
    std::fs::write(&mat_file, &signed).unwrap();
    let (ok, text) = cli(&demo, &["doc", "show", mat_file.to_str().unwrap()], &[]);
    assert!(ok, "{text}");
    seen.add("doc show", text);
    // verify of the tampered document.
    let tampered_file = demo.dir.path().join("tampered.xml");
    std::fs::write(&tampered_file, &tampered).unwrap();
    let (ok, text) = cli(
        &demo,
        &[
            "verify",
            "--trust",
            root.to_str().unwrap(),
            tampered_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok, "{text}");
    seen.add("verify tampered", text);

    // --- collect the logs (after a clean stop, so everything is flushed) ---
    for p in running.stop() {
        seen.add(
            &p.display().to_string(),
            std::fs::read_to_string(&p).unwrap_or_default(),
        );
    }
    let debug_lines: usize = seen
        .0
        .iter()
        .filter(|(w, _)| w.ends_with("stderr"))
        .map(|(_, t)| t.lines().filter(|l| l.contains("DEBUG")).count())
        .sum();
    assert!(
        debug_lines > 0,
        "the gateways did not log at debug level: {:?}",
        seen.0
            .iter()
            .filter(|(w, _)| w.contains(".debug."))
            .map(|(w, t)| (w, t.len(), t.lines().take(3).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    );

    // --- the secrets ---
    let mut secrets: Vec<(String, String)> = vec![
        ("passphrase".into(), DEMO_PASSPHRASE.into()),
        ("wrong passphrase".into(), wrong_pass.clone()),
        ("bad token".into(), bad_token.clone()),
        ("uncleared token".into(), uncleared.clone()),
        ("mat subject".into(), mat_subject.clone()),
        ("mat content".into(), mat_content.clone()),
        ("toi-mat subject".into(), toi_mat_subject.clone()),
        ("private key PEM".into(), "PRIVATE KEY".into()),
    ];
    for g in &demo.setup.gateways {
        for (role, t) in [
            ("submit", &g.tokens.submit),
            ("receive", &g.tokens.receive),
            ("admin", &g.tokens.admin),
        ] {
            secrets.push((format!("{} {role} token", g.role), t.clone()));
        }
        let dir = pki_dir(&demo).join(&g.organ);
        for key in ["signing", "tls"] {
            for m in key_material(&dir, key) {
                secrets.push((format!("{} {key} key", g.organ), m));
            }
        }
    }
    let mut leaks = Vec::new();
    for (what, text) in &seen.0 {
        for (name, secret) in &secrets {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{name} in {what}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
    // And the things searched were really there to search.
    assert!(seen.0.len() > 25, "{}", seen.0.len());
}
