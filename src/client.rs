//! A small blocking HTTPS/1.1 client (rustls on ring) for receiving systems, the quickstart, the
//! benchmark and the tests: it trusts only the given anchor, sends a bearer token, and reads one
//! bounded response per request.
//!
//! Connections are kept alive and reused (up to [`MAX_IDLE`] per client and its clones): a TLS
//! handshake costs the gateway more CPU than a small request (measured in `docs/PERFORMANCE.md`).
//! A reused connection the server has meanwhile closed fails before any byte of a response; the
//! request is then sent once more on a fresh connection. That resend is safe for this API: a
//! submission carries its message id (a duplicate is recognised) and acks are idempotent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Largest response read (a fetched document is below the gateway's body limit).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Idle connections kept per client (shared by its clones).
pub const MAX_IDLE: usize = 8;

/// Longest wait for a response byte (above the longest long poll, 30 s).
const READ_TIMEOUT: Duration = Duration::from_secs(90);

type Stream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Why a request failed (transport only: HTTP errors are responses).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The trust anchor file.
    #[error("trust anchor {path}: {reason}")]
    Anchor {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The base URL is not `https://host:port`.
    #[error("bad URL {0}")]
    Url(String),
    /// Connect, TLS or I/O failure.
    #[error("{0}")]
    Io(String),
    /// The response is not HTTP/1.1.
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client for one gateway API.
#[derive(Clone)]
pub struct Client {
    config: Arc<rustls::ClientConfig>,
    hostport: String,
    token: Option<String>,
    /// Local address connections are made from (the system's choice when None).
    source: Option<std::net::IpAddr>,
    /// Connections whose last response was read whole and did not ask to close.
    idle: Arc<Mutex<Vec<Stream>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("hostport", &self.hostport)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `base_url` (`https://127.0.0.1:PORT`) trusting the anchors in `root_pem`.
    pub fn new(root_pem: &Path, base_url: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let anchor = |reason: String| ClientError::Anchor {
            path: root_pem.display().to_string(),
            reason,
        };
        let pem = std::fs::read(root_pem).map_err(|e| anchor(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(c.map_err(|e| anchor(e.to_string()))?)
                .map_err(|e| anchor(e.to_string()))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Io(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let hostport = base_url
            .strip_prefix("https://")
            .ok_or_else(|| ClientError::Url(base_url.to_owned()))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            config: Arc::new(config),
            hostport,
            token: token.map(str::to_owned),
            source: None,
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The same client, making its connections from the local address `ip` (a loopback
    /// address other than 127.0.0.1, to appear as another source to the gateway's per-source
    /// connection limits). Connections are not shared with the original.
    pub fn with_source(&self, ip: std::net::IpAddr) -> Self {
        Self {
            source: Some(ip),
            idle: Arc::new(Mutex::new(Vec::new())),
            ..self.clone()
        }
    }

    /// The same client with another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None, &[])
    }

    /// POST a body.
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        self.request("POST", path, Some(body), &[("content-type", content_type)])
    }

    /// Any request.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.hostport);
        if let Some(t) = &self.token {
            req.push_str(&format!("authorization: Bearer {t}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or_default();
        req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut wire = req.into_bytes();
        wire.extend_from_slice(body);

        if let Some(mut stream) = self.take_idle() {
            match exchange(&mut stream, &wire) {
                Ok((response, reusable)) => {
                    if reusable {
                        self.put_idle(stream);
                    }
                    return Ok(response);
                }
                // Closed by the server while idle: nothing of a response came, send again.
                Err(Exchange::NoResponse(_)) => {}
                Err(Exchange::Failed(e)) => return Err(e),
            }
        }
        let mut stream = self.connect()?;
        match exchange(&mut stream, &wire) {
            Ok((response, reusable)) => {
                if reusable {
                    self.put_idle(stream);
                }
                Ok(response)
            }
            Err(Exchange::NoResponse(e) | Exchange::Failed(e)) => Err(e),
        }
    }

    /// Idle connections held now (for tests).
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    fn take_idle(&self) -> Option<Stream> {
        self.idle.lock().ok()?.pop()
    }

    fn put_idle(&self, stream: Stream) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(stream);
        }
    }

    fn tcp(&self) -> Result<TcpStream, ClientError> {
        let Some(ip) = self.source else {
            return TcpStream::connect(&self.hostport).map_err(io);
        };
        let to = std::net::ToSocketAddrs::to_socket_addrs(&self.hostport)
            .map_err(io)?
            .find(|a| a.is_ipv4() == ip.is_ipv4())
            .ok_or_else(|| ClientError::Url(self.hostport.clone()))?;
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(to),
            socket2::Type::STREAM,
            None,
        )
        .map_err(io)?;
        socket
            .bind(&std::net::SocketAddr::new(ip, 0).into())
            .map_err(io)?;
        socket.connect(&to.into()).map_err(io)?;
        Ok(socket.into())
    }

    fn connect(&self) -> Result<Stream, ClientError> {
        let tcp = self.tcp()?;
        // One request, one flight: no Nagle delay between the head and the body records.
        tcp.set_nodelay(true).map_err(io)?;
        tcp.set_read_timeout(Some(READ_TIMEOUT)).map_err(io)?;
        let host = self
            .hostport
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or("localhost")
            .to_owned();
        let name = ServerName::try_from(host).map_err(|e| ClientError::Url(e.to_string()))?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        Ok(rustls::StreamOwned::new(conn, tcp))
    }
}

fn io(e: std::io::Error) -> ClientError {
    ClientError::Io(e.to_string())
}

/// How an exchange on one connection failed.
enum Exchange {
    /// Not one byte of a response arrived (a reused connection may have been closed).
    NoResponse(ClientError),
    /// Anything else.
    Failed(ClientError),
}

/// Sends `wire` and reads one response: the response and whether the connection can carry
/// another request (framed by length or chunks, read whole, no `connection: close`).
fn exchange(stream: &mut Stream, wire: &[u8]) -> Result<(Response, bool), Exchange> {
    if let Err(e) = stream.write_all(wire).and_then(|()| stream.flush()) {
        return Err(Exchange::NoResponse(io(e)));
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = complete(&raw)? {
            raw.truncate(end.len);
            let response = parse_response(&raw).map_err(Exchange::Failed)?;
            let close = response
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            return Ok((response, end.framed && !close));
        }
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            // A server that closes without close_notify after a whole response is tolerated.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => 0,
            Err(e) if raw.is_empty() => return Err(Exchange::NoResponse(io(e))),
            Err(e) => return Err(Exchange::Failed(io(e))),
        };
        if n == 0 {
            if raw.is_empty() {
                return Err(Exchange::NoResponse(ClientError::Io(
                    "connection closed before a response".into(),
                )));
            }
            // Headers promised a length or chunks that never came: a truncated response.
            if matches!(head_of(&raw), Ok(Some(h)) if h.framed()) {
                return Err(Exchange::Failed(ClientError::Malformed(
                    "connection closed inside the response".into(),
                )));
            }
            // Unframed (read to the end): the whole rest is the body.
            let response = parse_response(&raw).map_err(Exchange::Failed)?;
            return Ok((response, false));
        }
        raw.extend_from_slice(buf.get(..n).unwrap_or_default());
        if raw.len() > MAX_RESPONSE {
            return Err(Exchange::Failed(ClientError::Malformed(
                "response larger than the client reads".into(),
            )));
        }
    }
}

/// Where a response read so far ends, if it is complete.
struct End {
    len: usize,
    /// Length-framed or chunked (the connection can be reused).
    framed: bool,
}

/// `Some` once `raw` holds a whole length-framed or chunked response; `None` to read on (also
/// for an unframed response, which ends at end of stream).
fn complete(raw: &[u8]) -> Result<Option<End>, Exchange> {
    let Some(head) = head_of(raw)? else {
        return Ok(None);
    };
    let body_start = head.body_start;
    if head.chunked {
        let rest = raw.get(body_start..).unwrap_or_default();
        return Ok(chunked_len(rest).map(|n| End {
            len: body_start + n,
            framed: true,
        }));
    }
    match (head.length, head.no_body) {
        (_, true) => Ok(Some(End {
            len: body_start,
            framed: true,
        })),
        (Some(n), false) => {
            let total = body_start
                .checked_add(n)
                .ok_or_else(|| malformed("length"))?;
            if total > MAX_RESPONSE {
                return Err(malformed("response larger than the client reads"));
            }
            Ok((raw.len() >= total).then_some(End {
                len: total,
                framed: true,
            }))
        }
        (None, false) => Ok(None),
    }
}

/// What a response's head says about its body.
struct Head {
    /// Offset of the body in the raw response.
    body_start: usize,
    length: Option<usize>,
    chunked: bool,
    /// 1xx, 204 and 304 have no body whatever the headers say.
    no_body: bool,
}

impl Head {
    /// Framed by length or chunks (a connection closed inside it was cut short).
    fn framed(&self) -> bool {
        self.length.is_some() || self.chunked
    }
}

fn malformed(m: &str) -> Exchange {
    Exchange::Failed(ClientError::Malformed(m.to_owned()))
}

/// The head of the response in `raw`, once its end has arrived.
fn head_of(raw: &[u8]) -> Result<Option<Head>, Exchange> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(raw.get(..split).unwrap_or_default()).into_owned();
    let mut length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| malformed("bad content-length"))?,
            );
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
            chunked = true;
        }
    }
    let no_body = head
        .split(' ')
        .nth(1)
        .is_some_and(|c| c.starts_with('1') || c == "204" || c == "304");
    Ok(Some(Head {
        body_start: split + 4,
        length,
        chunked,
        no_body,
    }))
}

/// The length of a complete chunked body at the start of `b` (trailers ignored), if complete.
fn chunked_len(b: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let rest = b.get(at..)?;
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = String::from_utf8_lossy(rest.get(..eol)?).into_owned();
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at = at.checked_add(eol)?.checked_add(2)?;
        if size == 0 {
            // No trailers: the final CRLF.
            return (b.get(at..at.checked_add(2)?)? == b"\r\n").then_some(at + 2);
        }
        at = at.checked_add(size)?.checked_add(2)?;
        if at > b.len() {
            return None;
        }
    }
}

fn parse_response(raw: &[u8]) -> Result<Response, ClientError> {
    let bad = |m: &str| ClientError::Malformed(m.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(raw.get(..split).unwrap_or_default()).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = raw.get(split + 4..).unwrap_or_default();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked encoding"))?
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let line = String::from_utf8_lossy(b.get(..eol)?).into_owned();
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let start = eol.checked_add(2)?;
        let end = start.checked_add(size)?;
        out.extend_from_slice(b.get(start..end)?);
        b = b.get(end.checked_add(2)?..)?;
    }
}
