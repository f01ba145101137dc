//! TLS helpers for the exchange tests: certificates from the demo CA (including revoked and
//! expired ones), raw mutual-TLS clients that report the exact alert a gateway refused them
//! with, config edits, and a fake "peer" exchange server that misbehaves on purpose.
#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lienthong::demo::DEMO_PASSPHRASE;
use lienthong::pki::csr::{self, CsrRequest};
use lienthong::pki::{Ca, KeyAlgorithm, Keystore, Passphrase, Profile};
use lienthong::tls::{TlsIdentity, certs_from_pem, exchange_client_config};
use rustls::AlertDescription;
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::gateways::Demo;

pub fn passphrase() -> Passphrase {
    Passphrase::new(DEMO_PASSPHRASE.to_owned()).unwrap()
}

pub fn pki_dir(demo: &Demo) -> PathBuf {
    demo.setup.dir.join("pki")
}

/// The demo trust anchor.
pub fn demo_roots(demo: &Demo) -> Vec<CertificateDer<'static>> {
    certs_from_pem(&std::fs::read(demo.root()).unwrap(), "root.pem").unwrap()
}

/// A TLS client identity: chain (leaf first) and PKCS#8 key.
pub struct ClientCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pkcs8: Vec<u8>,
    /// Serial (lowercase hex) when issued by the demo CA.
    pub serial_hex: String,
}

/// Issues a TLS certificate (profile `tls`: serverAuth + clientAuth, SAN URI organ, 127.0.0.1)
/// for a fresh P-256 key with the demo CA, valid from `not_before` to `not_after`. Goes the
/// staff way: key in a keystore, CSR signed by the key, CA checks it and issues.
pub fn issue_tls(
    demo: &Demo,
    organ: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> ClientCert {
    let pass = passphrase();
    let ks_dir = demo.dir.path().join(format!(
        "extra-keys/{organ}-{}",
        super::gateways::rand_suffix()
    ));
    let ks = Keystore::create(&ks_dir)
        .unwrap()
        .with_pbkdf2_iterations(1_000)
        .unwrap();
    let der = KeyAlgorithm::P256.generate_pkcs8().unwrap();
    ks.import_pkcs8("tls", &der, &pass, OffsetDateTime::now_utc())
        .unwrap();
    let key = ks.load("tls", &pass).unwrap();
    let csr_pem = csr::create(
        &key,
        &CsrRequest {
            organ: organ.to_owned(),
            common_name: format!("Gateway {organ}"),
            dns_names: vec!["localhost".to_owned()],
            ip_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        },
    )
    .unwrap();
    let mut ca = Ca::open(&pki_dir(demo)).unwrap();
    let issued = ca
        .issue(&csr_pem, Profile::Tls, not_before, not_after, &pass)
        .unwrap();
    ClientCert {
        chain: certs_from_pem(issued.chain_pem.as_bytes(), "issued chain").unwrap(),
        key_pkcs8: der.to_vec(),
        serial_hex: issued.summary.serial_hex,
    }
}

/// A gateway's own TLS identity from the demo keystore `pki/<ORGAN>/tls.*`.
pub fn gateway_tls(demo: &Demo, organ: &str) -> ClientCert {
    let ks = Keystore::open(&pki_dir(demo).join(organ)).unwrap();
    let key = ks.load_pkcs8("tls", &passphrase()).unwrap();
    let chain = certs_from_pem(
        ks.cert_chain_pem("tls").unwrap().unwrap().as_bytes(),
        "tls.cert.pem",
    )
    .unwrap();
    ClientCert {
        chain,
        key_pkcs8: key.to_vec(),
        serial_hex: String::new(),
    }
}

pub fn identity(demo: &Demo, cert: &ClientCert) -> TlsIdentity {
    TlsIdentity {
        chain: cert.chain.clone(),
        key: PrivatePkcs8KeyDer::from(cert.key_pkcs8.clone()),
        roots: demo_roots(demo),
        crls: Vec::new(),
    }
}

/// The gateway's own exchange client configuration, presenting `cert`.
pub fn client_config(demo: &Demo, cert: &ClientCert) -> Arc<ClientConfig> {
    exchange_client_config(&identity(demo, cert)).unwrap()
}

/// A client that trusts the demo anchor but presents no certificate.
pub fn anonymous_client_config(demo: &Demo) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for r in demo_roots(demo) {
        roots.add(r).unwrap();
    }
    Arc::new(
        ClientConfig::builder_with_provider(lienthong::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.strip_prefix("https://").unwrap().parse().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What the server did with a client's TLS connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server sent this fatal alert (during or right after the handshake).
    Alert(AlertDescription),
    /// Something else went wrong (text for the assertion message).
    Other(String),
    /// The server accepted the connection: no alert within the wait.
    Accepted,
}

fn refusal_of(e: &std::io::Error) -> Refusal {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(a)) => Refusal::Alert(*a),
        _ => Refusal::Other(e.to_string()),
    }
}

/// Opens a mutual-TLS connection to `addr` with `config` and reads without sending anything:
/// in TLS 1.3 the server checks the client certificate after the client's handshake is done,
/// so a refusal arrives as a fatal alert on the first read.
pub fn handshake_refusal(addr: SocketAddr, config: Arc<ClientConfig>) -> Refusal {
    runtime().block_on(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        let mut tls = match TlsConnector::from(config).connect(name, tcp).await {
            Ok(s) => s,
            Err(e) => return refusal_of(&e),
        };
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
            Err(_) => Refusal::Accepted,
            Ok(Ok(0)) => Refusal::Other("closed without an alert".into()),
            Ok(Ok(n)) => Refusal::Other(format!("{n} bytes of application data")),
            Ok(Err(e)) => refusal_of(&e),
        }
    })
}

/// POSTs an empty delivery to the exchange over mutual TLS; returns (status, body).
pub fn exchange_post(addr: SocketAddr, config: Arc<ClientConfig>) -> (u16, String) {
    runtime().block_on(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        let mut tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
        let req = format!(
            "POST /exchange/v1/messages HTTP/1.1\r\nhost: {addr}\r\n\
             content-type: application/xml\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    })
}

/// Rewrites a gateway's config file (before it starts).
pub fn edit_config(demo: &Demo, role: &str, f: impl FnOnce(String) -> String) {
    let path = &demo.gw(role).config;
    let toml = std::fs::read_to_string(path).unwrap();
    let new = f(toml.clone());
    assert_ne!(new, toml, "the edit changed nothing");
    std::fs::write(path, new).unwrap();
}

/// Points `role`'s peer entry for `organ` at `url`.
pub fn set_peer_url(demo: &Demo, role: &str, organ: &str, url: &str) {
    let role_of = |o: &str| match o {
        "VPTW" => "central",
        "TU.BENTRE" => "province",
        _ => "district",
    };
    let old = format!(
        "organ = \"{organ}\"\nurl = \"{}\"",
        demo.gw(role_of(organ)).exchange_url
    );
    let new = format!("organ = \"{organ}\"\nurl = \"{url}\"");
    edit_config(demo, role, |t| t.replace(&old, &new));
}

/// Replaces the `[retry]` table the demo writes.
pub fn set_retry(demo: &Demo, role: &str, retry: &str) {
    edit_config(demo, role, |t| {
        let start = t.find("[retry]\n").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        format!("{}[retry]\n{retry}{}", &t[..start], &t[end..])
    });
}

/// How a [`FakePeer`] misbehaves; chosen per request by a marker in the document (its subject).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Answers bytes that are not HTTP.
    Garbage,
    /// Resets the TCP connection (RST) after reading the request.
    Reset,
    /// Reads the request and never answers.
    Stall,
    /// Answers 422 with a problem JSON.
    Refuse422,
}

impl Fault {
    pub const ALL: [Fault; 4] = [Fault::Garbage, Fault::Reset, Fault::Stall, Fault::Refuse422];

    /// The marker to put in the document's subject.
    pub fn marker(self) -> &'static str {
        match self {
            Fault::Garbage => "FAULT-GARBAGE",
            Fault::Reset => "FAULT-RESET",
            Fault::Stall => "FAULT-STALL",
            Fault::Refuse422 => "FAULT-REFUSE422",
        }
    }
}

/// The detail the fake peer puts in its 422 problem.
pub const FAKE_422_DETAIL: &str = "the fake peer refuses this document: procedure unknown here";

/// A fake exchange peer: a real TLS server (with a gateway's real key and certificate, so the
/// handshake and the organ binding pass) that answers each delivery with a [`Fault`].
pub struct FakePeer {
    pub addr: SocketAddr,
    /// Requests seen, per fault.
    pub seen: Arc<Mutex<HashMap<Fault, usize>>>,
    rt: tokio::runtime::Runtime,
}

impl FakePeer {
    /// Starts a fake peer presenting `organ`'s demo TLS identity, requiring a demo-CA client
    /// certificate like a real exchange listener.
    pub fn start(demo: &Demo, organ: &str) -> Self {
        let id = identity(demo, &gateway_tls(demo, organ));
        let config = lienthong::tls::exchange_server_config(&id).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(TcpListener::bind(("127.0.0.1", 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<HashMap<Fault, usize>>> = Arc::default();
        let seen2 = seen.clone();
        rt.spawn(async move {
            let acceptor = TlsAcceptor::from(config);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve_one(tls, seen).await;
                });
            }
        });
        Self { addr, seen, rt }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn seen(&self, f: Fault) -> usize {
        self.seen.lock().unwrap().get(&f).copied().unwrap_or(0)
    }
}

/// Reads one HTTP/1.1 request (headers + content-length body); `None` on EOF.
async fn read_request(
    tls: &mut tokio_rustls::server::TlsStream<TcpStream>,
) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tls.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = tls.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[head_end..].to_vec()))
}

async fn serve_one(
    mut tls: tokio_rustls::server::TlsStream<TcpStream>,
    seen: Arc<Mutex<HashMap<Fault, usize>>>,
) {
    // Every fault ends the connection, so one request per connection.
    let Some((_head, body)) = read_request(&mut tls).await else {
        return;
    };
    let body = String::from_utf8_lossy(&body);
    let Some(fault) = Fault::ALL.into_iter().find(|f| body.contains(f.marker())) else {
        return;
    };
    *seen.lock().unwrap().entry(fault).or_default() += 1;
    match fault {
        Fault::Garbage => {
            let _ = tls
                .write_all(b"\x00\x01\x02 this is not HTTP at all \xff\xfe\r\n\r\n")
                .await;
            let _ = tls.shutdown().await;
        }
        Fault::Reset => {
            // SO_LINGER 0: close() sends RST instead of FIN. (tokio deprecates set_linger
            // because a non-zero linger blocks on drop; a zero linger never does.)
            #[allow(deprecated)]
            let _ = tls.get_ref().0.set_linger(Some(Duration::ZERO));
            drop(tls);
        }
        Fault::Stall => {
            // Hold the connection open, silent, far longer than the attempt timeout.
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        Fault::Refuse422 => {
            let problem = serde_json::json!({
                "type": "urn:lienthong:problem:policy/refused",
                "title": "Unprocessable Entity",
                "status": 422,
                "detail": FAKE_422_DETAIL,
            })
            .to_string();
            let resp = format!(
                "HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/problem+json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{problem}",
                problem.len()
            );
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        // Stalled connections sleep; do not wait for them.
        let rt = std::mem::replace(
            &mut self.rt,
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        );
        rt.shutdown_background();
    }
}
