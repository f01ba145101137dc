//! Hostile HTTP against a real gateway process, on both of its listeners — the office API
//! (server TLS, bearer tokens) and the peer exchange (mutual TLS): slowloris on headers and on
//! bodies, oversize headers and bodies, connection floods, malformed chunking, wrong media
//! types, garbage and traversal in ids. Each attack gets its specific answer (408, 431, 413, 400,
//! 415, 404 — never a 500), and a normal client is served while it goes on.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::gateways::Demo;
use common::tls::{addr_of, anonymous_client_config, client_config, edit_config, gateway_tls};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Header (and handshake, and body idle) timeout the gateway under test runs with.
const HEADER_TIMEOUT: u64 = 2;
/// Whole-request timeout.
const REQUEST_TIMEOUT: u64 = 8;
const MAX_BODY: usize = 64 * 1024;
const PER_IP: usize = 6;
/// Of those, connections in handshake or before their first request head.
const PENDING: usize = 4;
const MAX_CONN: usize = 10;

/// The province gateway, alone, with short limits so the suite runs in seconds.
fn gateway() -> Demo {
    let mut demo = Demo::new();
    edit_config(&demo, "province", |t| {
        format!(
            "{t}\n[limits]\nheader_timeout_secs = {HEADER_TIMEOUT}\n\
             request_timeout_secs = {REQUEST_TIMEOUT}\nmax_wait_secs = 2\n\
             max_body_bytes = {MAX_BODY}\nmax_connections = {MAX_CONN}\n\
             max_connections_per_ip = {PER_IP}\nmax_pending_per_ip = {PENDING}\n"
        )
    });
    demo.start("province");
    demo
}

struct Listener {
    name: &'static str,
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    /// A request line + headers (without the final CRLF) this listener answers 2xx/4xx to.
    post_path: &'static str,
    /// Extra headers a normal request on this listener carries (authorization).
    auth: String,
    /// Its body limit: `max_body_bytes` on the API; on the exchange 4/3 of it + 256 KiB, for
    /// sealed mat documents (`Limits::max_exchange_body_bytes`).
    max_body: usize,
}

fn listeners(demo: &Demo) -> [Listener; 2] {
    let g = demo.gw("province");
    [
        Listener {
            name: "api",
            addr: addr_of(&g.api_url),
            tls: anonymous_client_config(demo),
            post_path: "/api/v1/documents",
            auth: format!("authorization: Bearer {}\r\n", g.tokens.submit),
            max_body: MAX_BODY,
        },
        Listener {
            name: "exchange",
            addr: addr_of(&g.exchange_url),
            tls: client_config(demo, &gateway_tls(demo, "HU.CHAUTHANH")),
            post_path: "/exchange/v1/messages",
            auth: String::new(),
            max_body: lienthong::config::Limits {
                max_body_bytes: MAX_BODY,
                ..Default::default()
            }
            .max_exchange_body_bytes(),
        },
    ]
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn tcp_from(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<TcpStream> {
    match from {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let s = TcpSocket::new_v4()?;
            s.bind(SocketAddr::new(ip, 0))?;
            s.connect(addr).await
        }
    }
}

async fn tls_from(l: &Listener, from: Option<IpAddr>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(l.addr, from).await?;
    let name = ServerName::IpAddress(l.addr.ip().into());
    TlsConnector::from(l.tls.clone()).connect(name, tcp).await
}

/// What came back on a connection.
#[derive(Debug)]
enum Answer {
    /// An HTTP response: status and body.
    Http(u16, String),
    /// The server closed (or reset) without a response.
    Closed,
    /// Nothing within the wait.
    Silent,
}

impl Answer {
    fn status(&self) -> u16 {
        match self {
            Answer::Http(s, _) => *s,
            other => panic!("expected an HTTP answer, got {other:?}"),
        }
    }
    fn body(&self) -> &str {
        match self {
            Answer::Http(_, b) => b,
            other => panic!("expected an HTTP answer, got {other:?}"),
        }
    }
}

async fn answer<S: tokio::io::AsyncRead + Unpin>(s: &mut S, wait: Duration) -> Answer {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                // One response is enough (a closing server may not send close_notify).
                if let Some(text) = complete_response(&out) {
                    return text;
                }
            }
        }
    }
    if out.is_empty() {
        if tokio::time::Instant::now() >= deadline {
            Answer::Silent
        } else {
            Answer::Closed
        }
    } else {
        complete_response(&out).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&out).into_owned();
            parse_response(&text)
        })
    }
}

fn parse_response(text: &str) -> Answer {
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Answer::Http(status, body)
}

/// A full response (headers plus content-length bytes of body), if `out` holds one.
fn complete_response(out: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(out);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (body.len() >= len).then(|| parse_response(&text))
}

/// Sends raw bytes on a fresh connection and returns the answer.
async fn raw(l: &Listener, bytes: &[u8]) -> Answer {
    let mut s = tls_from(l, None).await.unwrap();
    s.write_all(bytes).await.unwrap();
    answer(&mut s, Duration::from_secs(REQUEST_TIMEOUT + 5)).await
}

/// A normal request: GET /healthz, must be 200 quickly.
async fn served(l: &Listener, from: Option<IpAddr>) -> Duration {
    let t = Instant::now();
    let mut s = tls_from(l, from).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let a = answer(&mut s, Duration::from_secs(5)).await;
    assert_eq!(
        a.status(),
        200,
        "{}: a normal client was not served",
        l.name
    );
    t.elapsed()
}

fn is_problem(body: &str, kind: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["type"]
                .as_str()
                .map(|t| t == format!("urn:lienthong:problem:{kind}"))
        })
        .unwrap_or(false)
}

// === slowloris ===

#[test]
fn slowloris_on_headers_is_cut_and_others_are_served_meanwhile() {
    let demo = gateway();
    for l in listeners(&demo) {
        rt().block_on(async {
            // Several connections trickle one header line every 500 ms, for ever.
            let mut lorises = Vec::new();
            for _ in 0..3 {
                let mut s = tls_from(&l, None).await.unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
                    .await
                    .unwrap();
                lorises.push(s);
            }
            let started = Instant::now();
            let trickle = async {
                let mut n = 0;
                loop {
                    for s in &mut lorises {
                        if s.write_all(format!("x-{n}: y\r\n").as_bytes())
                            .await
                            .is_err()
                        {
                            return (n, started.elapsed());
                        }
                        // A closed connection shows on read, not always on write.
                        let mut b = [0u8; 64];
                        if let Ok(Ok(0) | Err(_)) =
                            tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await
                        {
                            return (n, started.elapsed());
                        }
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    assert!(
                        started.elapsed() < Duration::from_secs(HEADER_TIMEOUT + 10),
                        "{}: slowloris still connected after {:?}",
                        l.name,
                        started.elapsed()
                    );
                }
            };
            let normal = async {
                // Meanwhile, normal requests keep being answered promptly.
                let mut worst = Duration::ZERO;
                for _ in 0..4 {
                    worst = worst.max(served(&l, None).await);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                worst
            };
            let ((lines, cut_after), worst) = tokio::join!(trickle, normal);
            assert!(lines >= 2, "{}: cut too early, after {lines} lines", l.name);
            assert!(
                cut_after >= Duration::from_secs(HEADER_TIMEOUT)
                    && cut_after < Duration::from_secs(HEADER_TIMEOUT + 5),
                "{}: slowloris cut after {cut_after:?}",
                l.name
            );
            assert!(
                worst < Duration::from_secs(2),
                "{}: a normal request took {worst:?}",
                l.name
            );
        });
    }
}

#[test]
fn slowloris_on_the_body_gets_408_and_others_are_served_meanwhile() {
    let demo = gateway();
    for l in listeners(&demo) {
        rt().block_on(async {
            let head = format!(
                "POST {} HTTP/1.1\r\nhost: x\r\n{}content-type: application/xml\r\n\
                 x-lienthong-message-id: 0123456789abcdef0123456789abcdef\r\n\
                 content-length: 5000\r\nconnection: close\r\n\r\n<edXMLEnvelope",
                l.post_path, l.auth
            );
            // Stalled: some bytes, then nothing — cut after the idle timeout with 408.
            let stalled = async {
                let t = Instant::now();
                let mut s = tls_from(&l, None).await.unwrap();
                s.write_all(head.as_bytes()).await.unwrap();
                let a = answer(&mut s, Duration::from_secs(REQUEST_TIMEOUT + 5)).await;
                (a, t.elapsed())
            };
            // Trickling: a byte every second (never idle that long) — cut by the request
            // deadline with 408.
            let trickling = async {
                let t = Instant::now();
                let s = tls_from(&l, None).await.unwrap();
                let (mut rd, mut wr) = tokio::io::split(s);
                wr.write_all(head.as_bytes()).await.unwrap();
                let writer = async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(1000)).await;
                        if wr.write_all(b" ").await.is_err() {
                            // Closed by the server: keep the half alive until the read ends.
                            std::future::pending::<()>().await;
                        }
                    }
                };
                let a = tokio::select! {
                    a = answer(&mut rd, Duration::from_secs(REQUEST_TIMEOUT + 8)) => a,
                    () = writer => unreachable!(),
                };
                (a, t.elapsed())
            };
            let normal = async {
                let mut worst = Duration::ZERO;
                for _ in 0..5 {
                    worst = worst.max(served(&l, None).await);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                worst
            };
            let ((a, stalled_after), (b, trickled_after), worst) =
                tokio::join!(stalled, trickling, normal);
            assert_eq!(a.status(), 408, "{}: stalled body: {a:?}", l.name);
            assert!(is_problem(a.body(), "request/timeout"), "{}: {a:?}", l.name);
            assert!(
                stalled_after >= Duration::from_secs(HEADER_TIMEOUT)
                    && stalled_after < Duration::from_secs(HEADER_TIMEOUT + 4),
                "{}: stalled body cut after {stalled_after:?}",
                l.name
            );
            assert_eq!(b.status(), 408, "{}: trickled body: {b:?}", l.name);
            assert!(is_problem(b.body(), "request/timeout"), "{}: {b:?}", l.name);
            assert!(
                trickled_after < Duration::from_secs(REQUEST_TIMEOUT + 6),
                "{}: trickled body cut after {trickled_after:?}",
                l.name
            );
            assert!(
                worst < Duration::from_secs(2),
                "{}: normal request took {worst:?}",
                l.name
            );
        });
    }
}

// === oversize ===

#[test]
fn oversize_headers_get_431_and_oversize_bodies_413() {
    let demo = gateway();
    for l in listeners(&demo) {
        rt().block_on(async {
            // One huge header, and many small ones.
            let big = format!(
                "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
                "a".repeat(100 * 1024)
            );
            let a = raw(&l, big.as_bytes()).await;
            assert_eq!(a.status(), 431, "{}: {a:?}", l.name);
            let many: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
            let a = raw(
                &l,
                format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n").as_bytes(),
            )
            .await;
            assert_eq!(a.status(), 431, "{}: {a:?}", l.name);
            // A very long request target.
            let long = format!(
                "GET /{} HTTP/1.1\r\nhost: x\r\n\r\n",
                "a".repeat(100 * 1024)
            );
            let a = raw(&l, long.as_bytes()).await;
            assert!(matches!(a.status(), 414 | 431), "{}: {a:?}", l.name);

            // A declared length over the limit: refused once the limit is passed (answering
            // before reading would make hyper close with unread data, and a client still
            // writing would lose the answer to a reset).
            let head = format!(
                "POST {} HTTP/1.1\r\nhost: x\r\n{}content-type: application/xml\r\n\
                 x-lienthong-message-id: 0123456789abcdef0123456789abcdef\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                l.post_path,
                l.auth,
                100 * 1024 * 1024
            );
            let t = Instant::now();
            let mut req = head.into_bytes();
            req.extend(std::iter::repeat_n(b'x', l.max_body + 1024));
            let a = raw(&l, &req).await;
            assert_eq!(a.status(), 413, "{}: {a:?}", l.name);
            assert!(
                is_problem(a.body(), "request/too-large"),
                "{}: {a:?}",
                l.name
            );
            assert!(t.elapsed() < Duration::from_secs(3), "{}", l.name);
            // A chunked body that grows past the limit.
            let chunk = "x".repeat(16 * 1024);
            let mut req = format!(
                "POST {} HTTP/1.1\r\nhost: x\r\n{}content-type: application/xml\r\n\
                 x-lienthong-message-id: 0123456789abcdef0123456789abcdef\r\n\
                 transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                l.post_path, l.auth
            );
            for _ in 0..(l.max_body / chunk.len() + 2) {
                req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
            }
            req.push_str("0\r\n\r\n");
            let a = raw(&l, req.as_bytes()).await;
            assert_eq!(a.status(), 413, "{}: {a:?}", l.name);
            served(&l, None).await;
        });
    }
}

// === connection floods ===

/// Whether the server has closed `s` (read gives EOF or an error) within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, s.read(&mut b)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[test]
fn a_connection_flood_from_one_address_does_not_starve_others() {
    let demo = gateway();
    let attacker: IpAddr = "127.0.0.1".parse().unwrap();
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    for l in listeners(&demo) {
        rt().block_on(async {
            // The attacker opens its whole per-address share as idle TCP connections: all of
            // them pending (no handshake), so only PENDING are seated, the rest closed at once.
            let mut flood = Vec::new();
            for _ in 0..PER_IP {
                flood.push(tcp_from(l.addr, Some(attacker)).await.unwrap());
            }
            let mut held = Vec::new();
            for mut s in flood {
                if !closed_within(&mut s, Duration::from_millis(300)).await {
                    held.push(s);
                }
            }
            assert_eq!(
                held.len(),
                PENDING,
                "{}: idle connections seated from one address",
                l.name
            );
            // One more from the same address is refused at once: closed before any TLS.
            let t = Instant::now();
            let refused = tls_from(&l, Some(attacker)).await;
            assert!(
                refused.is_err(),
                "{}: connection over the per-address limit served",
                l.name
            );
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{}: refusal took {:?}",
                l.name,
                t.elapsed()
            );
            // Another address is served promptly meanwhile.
            let took = served(&l, Some(other)).await;
            assert!(
                took < Duration::from_secs(1),
                "{}: other client took {took:?}",
                l.name
            );

            // Fill the listener's whole limit with idle connections from many addresses: a
            // newcomer evicts the oldest pending one and is served at once, not after the
            // deadline (HEADER_TIMEOUT) frees a slot.
            for i in 0..MAX_CONN {
                let from: IpAddr = format!("127.0.1.{}", i + 1).parse().unwrap();
                held.push(tcp_from(l.addr, Some(from)).await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let took = served(&l, Some(other)).await;
            assert!(
                took < Duration::from_secs(1),
                "{}: with the listener full of idle connections, a client waited {took:?}",
                l.name
            );
            // Every idle connection was closed: evicted, or cut by the deadline.
            for mut s in held {
                assert!(
                    closed_within(&mut s, Duration::from_secs(HEADER_TIMEOUT + 3)).await,
                    "{}: an idle connection was never closed",
                    l.name
                );
            }
            served(&l, Some(attacker)).await;
        });
    }
}

/// TLS connection with half a request head sent, from `from`; None if the gateway closed it
/// before or during the handshake.
async fn half_sent(l: &Listener, from: IpAddr) -> Option<TlsStream<TcpStream>> {
    let mut s = tls_from(l, Some(from)).await.ok()?;
    let head = format!("POST {} HTTP/1.1\r\nhost: x\r\n", l.post_path);
    s.write_all(head.as_bytes()).await.ok()?;
    Some(s)
}

#[test]
fn two_hundred_half_sent_requests_from_one_source_do_not_delay_another() {
    let demo = gateway();
    let attacker: IpAddr = "127.0.0.1".parse().unwrap();
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    for l in listeners(&demo) {
        rt().block_on(async {
            // The first wave: 200 attempts, one after another. Only PENDING get through the
            // handshake; the others are closed before it.
            let mut held = Vec::new();
            for _ in 0..200 {
                if let Some(s) = half_sent(&l, attacker).await {
                    held.push(s);
                }
            }
            assert!(
                (1..=PENDING).contains(&held.len()),
                "{}: {} half-sent requests held from one source",
                l.name,
                held.len()
            );
            // Then the attacker keeps reopening, as fast as it is cut, for two deadlines;
            // another source's requests are answered promptly all the while.
            let started = Instant::now();
            let attack_for = Duration::from_secs(2 * HEADER_TIMEOUT + 1);
            let attack = async {
                let mut opened = held.len();
                while started.elapsed() < attack_for {
                    for _ in 0..200 {
                        if let Some(s) = half_sent(&l, attacker).await {
                            held.push(s);
                            opened += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                opened
            };
            let normal = async {
                let mut worst = Duration::ZERO;
                let mut n = 0;
                while started.elapsed() < attack_for {
                    worst = worst.max(served(&l, Some(other)).await);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (worst, n)
            };
            let (opened, (worst, n)) = tokio::join!(attack, normal);
            assert!(n >= 10, "{}: only {n} normal requests", l.name);
            assert!(
                worst < Duration::from_secs(1),
                "{}: a normal request took {worst:?} during the attack",
                l.name
            );
            // The deadline cut the half-sent requests, so the attacker had to reopen — but never
            // held more than PENDING at a time: at most PENDING per deadline period got through.
            let periods = usize::try_from(attack_for.as_secs() / HEADER_TIMEOUT).unwrap() + 2;
            assert!(
                opened > PENDING && opened <= PENDING * periods,
                "{}: {opened} half-sent requests got through in {attack_for:?}",
                l.name
            );
        });
    }
}

// === malformed framing, media types, ids ===

#[test]
fn malformed_chunked_encoding_is_400_never_500() {
    let demo = gateway();
    for l in listeners(&demo) {
        rt().block_on(async {
            let head = format!(
                "POST {} HTTP/1.1\r\nhost: x\r\n{}content-type: application/xml\r\n\
                 x-lienthong-message-id: 0123456789abcdef0123456789abcdef\r\n",
                l.post_path, l.auth
            );
            for (what, framing) in [
                (
                    "bad chunk size",
                    "transfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                ),
                (
                    "chunk size overflow",
                    "transfer-encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
                ),
                (
                    "chunk longer than its size",
                    "transfer-encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n",
                ),
                (
                    "missing CRLF after data",
                    "transfer-encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
                ),
                (
                    "both content-length and chunked (smuggling)",
                    "content-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                ),
                (
                    "chunked not last",
                    "transfer-encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                ),
                (
                    "two content-lengths",
                    "content-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
                ),
                ("negative content-length", "content-length: -1\r\n\r\n"),
            ] {
                let a = raw(&l, format!("{head}{framing}").as_bytes()).await;
                assert_eq!(a.status(), 400, "{} {what}: {a:?}", l.name);
            }
            served(&l, None).await;
        });
    }
}

#[test]
fn wrong_media_types_are_415() {
    let demo = gateway();
    for l in listeners(&demo) {
        rt().block_on(async {
            for ct in [
                Some("text/plain"),
                Some("application/json"),
                Some("application/x-www-form-urlencoded"),
                Some("multipart/form-data; boundary=x"),
                Some("application/xml-dtd"),
                Some(""),
                None,
            ] {
                let ct_line = ct
                    .map(|c| format!("content-type: {c}\r\n"))
                    .unwrap_or_default();
                let req = format!(
                    "POST {} HTTP/1.1\r\nhost: x\r\n{}{ct_line}\
                     x-lienthong-message-id: 0123456789abcdef0123456789abcdef\r\n\
                     content-length: 7\r\nconnection: close\r\n\r\n<r>x</r",
                    l.post_path, l.auth
                );
                let a = raw(&l, req.as_bytes()).await;
                if l.name == "api" && ct == Some("application/json") {
                    // The API's JSON submission form: this body is not JSON.
                    assert_eq!(a.status(), 400, "{} {ct:?}: {a:?}", l.name);
                    assert!(is_problem(a.body(), "request/json"), "{a:?}");
                    continue;
                }
                assert_eq!(a.status(), 415, "{} {ct:?}: {a:?}", l.name);
                assert!(
                    is_problem(a.body(), "request/content-type"),
                    "{}: {a:?}",
                    l.name
                );
            }
        });
    }
}

#[test]
fn garbage_and_traversal_in_ids_are_400_or_404_never_500() {
    let demo = gateway();
    let g = demo.gw("province");
    let [api, exchange] = listeners(&demo);
    rt().block_on(async {
        let long = "a".repeat(8 * 1024);
        let targets = [
            "/api/v1/inbox/..%2F..%2F..%2Fetc%2Fpasswd",
            "/api/v1/inbox/../../../etc/passwd",
            "/api/v1/inbox/%2e%2e/%2e%2e/data/db",
            "/api/v1/inbox/%00",
            "/api/v1/inbox/0123456789abcdef0123456789abcde%00",
            "/api/v1/inbox/0123456789ABCDEF0123456789ABCDEF",
            "/api/v1/inbox/0123456789abcdef0123456789abcdef0",
            "/api/v1/inbox/%C0%AE%C0%AE%2F",
            "/api/v1/inbox/%E1%BB%87",
            "/api/v1/inbox/'%20OR%201=1--",
            "/api/v1/inbox/$%7Bjndi:ldap:%2F%2Fx%7D",
            &format!("/api/v1/inbox/{long}"),
            "/api/v1/inbox/0123456789abcdef0123456789abcdef/meta/../../x",
            "/api/v1/documents/..%5C..%5Cwindows",
            "/api/v1/documents/%FF%FE",
            "//api/v1/inbox",
            "/api/v1/inbox?limit=-1&wait=abc",
            "/api/v1/inbox?limit=99999999999999999999999",
            "/api/v1/documents?state=../../x&cursor=%00",
            "/api/v1/documents?since=1970-13-45",
            "*",
        ];
        for (token, role) in [(&g.tokens.receive, "receive"), (&g.tokens.submit, "submit")] {
            for t in targets {
                let req = format!(
                    "GET {t} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
                );
                let a = raw(&api, req.as_bytes()).await;
                let s = a.status();
                assert!(
                    matches!(s, 400 | 401 | 403 | 404),
                    "api {role} {t:.80}: {a:?}"
                );
            }
        }
        // Acknowledging and reporting on garbage ids.
        for t in ["/api/v1/inbox/..%2Fx/ack", "/api/v1/inbox/%00/status"] {
            let req = format!(
                "POST {t} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}",
                g.tokens.receive
            );
            let a = raw(&api, req.as_bytes()).await;
            assert!(matches!(a.status(), 400 | 404), "api {t}: {a:?}");
        }
        // On the exchange: traversal in the path, garbage message ids and traces in headers.
        for t in ["/exchange/v1/messages/../../x", "/exchange/v1/%2e%2e/messages", "/x"] {
            let req = format!("POST {t} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let a = raw(&exchange, req.as_bytes()).await;
            assert_eq!(a.status(), 404, "exchange {t}: {a:?}");
        }
        for (id, trace) in [
            ("../../../etc/passwd", "W10"),
            ("0123456789abcdef0123456789abcdef%00", "W10"),
            ("", "W10"),
            ("0123456789abcdef0123456789abcdef", "!!!"),
            ("0123456789abcdef0123456789abcdef", &"A".repeat(4000)),
        ] {
            let req = format!(
                "POST /exchange/v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/xml\r\n\
                 x-lienthong-message-id: {id}\r\nx-lienthong-trace: {trace}\r\nx-lienthong-for: TU.BENTRE\r\n\
                 content-length: 9\r\nconnection: close\r\n\r\n<r>x</r>\n"
            );
            let a = raw(&exchange, req.as_bytes()).await;
            assert!(matches!(a.status(), 400 | 422), "exchange id {id:.40}: {a:?}");
        }
        served(&api, None).await;
        served(&exchange, None).await;
    });
    // Nothing above made the gateway log an internal error.
    let log = demo.log("province");
    assert!(!log.contains("internal error"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
