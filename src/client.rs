//! A small blocking HTTPS/1.1 client (rustls on ring, one request per connection) for receiving
//! systems, the quickstart and the tests: it trusts only the given anchor, sends a bearer token,
//! and reads one bounded response.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Largest response read (a fetched document is below the gateway's body limit).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

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
        })
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
        let io = |e: std::io::Error| ClientError::Io(e.to_string());
        let tcp = TcpStream::connect(&self.hostport).map_err(io)?;
        // One request, one flight: no Nagle delay between the head and the body records.
        tcp.set_nodelay(true).map_err(io)?;
        tcp.set_read_timeout(Some(Duration::from_secs(90)))
            .map_err(io)?;
        let host = self
            .hostport
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or("localhost")
            .to_owned();
        let name = ServerName::try_from(host).map_err(|e| ClientError::Url(e.to_string()))?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.hostport
        );
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
        tls.write_all(&wire).map_err(io)?;
        tls.flush().map_err(io)?;
        let mut raw = Vec::new();
        match (&mut tls).take(MAX_RESPONSE).read_to_end(&mut raw) {
            Ok(_) => {}
            // A server that closes without close_notify after a whole response is tolerated.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(io(e)),
        }
        parse_response(&raw)
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
