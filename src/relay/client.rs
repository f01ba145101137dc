//! One peer's exchange client: mutual TLS to the peer's exchange listener, the peer's organ
//! checked against its certificate, and a small pool of HTTP/1.1 connections reused while they
//! stay healthy.
//!
//! Why a pool: HTTP/1.1 carries one request at a time, and a delivery's round trip is mostly the
//! peer's work (verify, durable accept, signed receipt). With one connection the worker's
//! `retry.concurrency` deliveries took turns and the link, not the CPU, set the rate. Each
//! delivery now holds one connection of its own for its whole request and response, so a
//! response can never be read by another delivery, and at most `pool` connections are open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

use crate::doc::types::OrganId;

/// Largest response a peer may send (a receipt is < 8 KiB).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Why a delivery attempt failed. Every variant is retryable unless the peer said otherwise
/// (`Refused` with a 4xx status).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The peer URL is not `https://host:port`.
    #[error("peer {peer}: bad URL {url}")]
    BadUrl {
        /// Peer organ.
        peer: String,
        /// The URL.
        url: String,
    },
    /// TCP connect failed or timed out.
    #[error("peer {peer}: connect failed: {reason}")]
    Connect {
        /// Peer organ.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed or timed out (certificate refused, revoked, …).
    #[error("peer {peer}: TLS handshake failed: {reason}")]
    Handshake {
        /// Peer organ.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The server's certificate is valid but names another organ than the one we meant.
    #[error("peer {peer}: server certificate is bound to organ {found:?}")]
    WrongPeer {
        /// Peer organ we meant.
        peer: String,
        /// Organ in its certificate.
        found: Option<String>,
    },
    /// HTTP-level failure (reset, garbage, timeout).
    #[error("peer {peer}: {reason}")]
    Http {
        /// Peer organ.
        peer: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// True when the peer itself could not be reached or refused us at the door (TCP connect,
    /// TLS handshake, wrong certificate): nothing about the message was tried, and every other
    /// message to this peer would fail the same way.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::BadUrl { .. }
                | Self::Connect { .. }
                | Self::Handshake { .. }
                | Self::WrongPeer { .. }
        )
    }
}

/// An error with its causes: hyper's Display alone says only "connection error", which would
/// leave an operator reading a dead letter without the cause (reset, EOF, …).
fn with_sources(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A client for one peer.
pub struct PeerClient {
    peer: OrganId,
    /// The peer's addresses (its `url`, then its `urls`: several nodes of one gateway), tried
    /// in turn when one cannot be reached.
    targets: Vec<(SocketAddr, ServerName<'static>)>,
    /// The target that answered last: where a new connection goes first.
    current: std::sync::atomic::AtomicUsize,
    connector: std::sync::RwLock<TlsConnector>,
    connect_timeout: Duration,
    /// Connections waiting for their next request, each with the TLS generation it was opened
    /// under.
    idle: std::sync::Mutex<Vec<(u64, SendRequest<Full<Bytes>>)>>,
    /// One permit per connection that may be open; a delivery holds one for its whole attempt.
    slots: Semaphore,
    /// Bumped by [`PeerClient::set_tls`]: connections opened under an older TLS configuration
    /// (an older CRL) are closed instead of reused.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("peer", &self.peer)
            .field(
                "targets",
                &self.targets.iter().map(|t| t.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The answer of a peer.
#[derive(Debug)]
pub struct PeerResponse {
    /// HTTP status.
    pub status: u16,
    /// Body (bounded).
    pub body: Bytes,
}

impl PeerClient {
    /// A client for `peer` at `url` (`https://IP:port` or `https://localhost:port`) with at
    /// most `pool` connections open at once (at least one).
    pub fn new(
        peer: &OrganId,
        url: &str,
        tls: Arc<ClientConfig>,
        connect_timeout: Duration,
        pool: usize,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            peer: peer.clone(),
            targets: vec![target(peer, url)?],
            current: std::sync::atomic::AtomicUsize::new(0),
            connector: std::sync::RwLock::new(TlsConnector::from(tls)),
            connect_timeout,
            idle: std::sync::Mutex::new(Vec::new()),
            slots: Semaphore::new(pool.clamp(1, Semaphore::MAX_PERMITS)),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Adds further addresses of the same peer (`[[peers]] urls`: the nodes of a gateway that
    /// runs as several), tried in order when the one in use cannot be reached.
    pub fn with_fallbacks(mut self, urls: &[String]) -> Result<Self, ClientError> {
        for url in urls {
            self.targets.push(target(&self.peer, url)?);
        }
        Ok(self)
    }

    /// Replaces the TLS configuration (CRL reload). Idle connections are closed and those in
    /// use are not returned to the pool, so every later request handshakes under the new lists.
    pub fn set_tls(&self, tls: Arc<ClientConfig>) {
        match self.connector.write() {
            Ok(mut c) => *c = TlsConnector::from(tls),
            Err(p) => *p.into_inner() = TlsConnector::from(tls),
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.idle_list().clear();
    }

    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<(u64, SendRequest<Full<Bytes>>)>> {
        // The list holds no invariant a panic could break half-way: a poisoned lock is usable.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection of the current generation that is still open, if any.
    async fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let current = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            let (generation, mut send) = self.idle_list().pop()?;
            if generation != current {
                continue;
            }
            // `ready` fails at once on a connection the peer closed while it was idle.
            if send.ready().await.is_ok() {
                return Some(send);
            }
        }
    }

    /// Connections open and waiting for a request (for metrics and tests).
    pub fn idle_connections(&self) -> usize {
        self.idle_list().len()
    }

    /// The address requests go to now (the `Host` header).
    fn host(&self) -> String {
        let i = self.current.load(std::sync::atomic::Ordering::Relaxed);
        self.targets
            .get(i)
            .map(|(addr, _)| addr.to_string())
            .unwrap_or_default()
    }

    /// The peer organ.
    pub fn peer(&self) -> &OrganId {
        &self.peer
    }

    fn current_connector(&self) -> TlsConnector {
        match self.connector.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A new connection: to the target that answered last, else to each other one in turn
    /// (a node of the peer is down: its other nodes take the traffic). A certificate of the
    /// wrong organ is never "unreachable": it ends the attempt.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.targets.len();
        let first = self.current.load(Relaxed) % n.max(1);
        let mut last = None;
        for i in (0..n).map(|k| (first + k) % n) {
            let Some((addr, name)) = self.targets.get(i) else {
                continue;
            };
            match self.connect_to(*addr, name).await {
                Ok(send) => {
                    if i != first {
                        tracing::warn!(peer = %self.peer, addr = %addr, "peer address unreachable; using its next one");
                        self.current.store(i, Relaxed);
                    }
                    return Ok(send);
                }
                Err(e) if e.is_unreachable() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ClientError::Connect {
            peer: self.peer.to_string(),
            reason: "no address".into(),
        }))
    }

    async fn connect_to(
        &self,
        addr: SocketAddr,
        name: &ServerName<'static>,
    ) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let peer = || self.peer.to_string();
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Connect {
                peer: peer(),
                reason: "timed out".into(),
            })?
            .map_err(|e| ClientError::Connect {
                peer: peer(),
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(
            self.connect_timeout,
            self.current_connector().connect(name.clone(), tcp),
        )
        .await
        .map_err(|_| ClientError::Handshake {
            peer: peer(),
            reason: "timed out".into(),
        })?
        .map_err(|e| ClientError::Handshake {
            peer: peer(),
            reason: e.to_string(),
        })?;
        // The chain and name were verified by rustls; the organ binding is ours to check.
        let found = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|leaf| crate::tls::organ_of_certificate(leaf.as_ref()));
        if found.as_deref() != Some(self.peer.as_str()) {
            return Err(ClientError::WrongPeer {
                peer: peer(),
                found,
            });
        }
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| ClientError::Http {
                peer: peer(),
                reason: with_sources(&e),
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    /// POSTs `body` to `path` with `headers`, reusing the connection when it is still ready.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<PeerResponse, ClientError> {
        // Waiting for a free connection slot is not part of this attempt's deadline: otherwise
        // one stalled delivery would time out every delivery queued behind it, unsent, and push
        // them towards the dead letter. The semaphore is never closed; if it were, going on
        // without a permit would only open one connection more than the bound.
        let _slot = self.slots.acquire().await.ok();
        let attempt = async {
            let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
            let mut send = match self.take_idle().await {
                Some(s) => s,
                None => self.connect().await?,
            };
            let mut req = hyper::Request::post(path).header("host", self.host());
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            let req = req.body(Full::new(body)).map_err(|e| ClientError::Http {
                peer: self.peer.to_string(),
                reason: e.to_string(),
            })?;
            let resp = send
                .send_request(req)
                .await
                .map_err(|e| ClientError::Http {
                    peer: self.peer.to_string(),
                    reason: with_sources(&e),
                })?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::Http {
                    peer: self.peer.to_string(),
                    reason: format!("reading the response: {}", with_sources(&*e)),
                })?
                .to_bytes();
            // Only a connection whose exchange ended cleanly goes back; one that failed or timed
            // out is dropped (closed) with this future.
            if generation == self.generation.load(std::sync::atomic::Ordering::SeqCst) {
                self.idle_list().push((generation, send));
            }
            Ok(PeerResponse { status, body })
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| ClientError::Http {
                peer: self.peer.to_string(),
                reason: format!("no answer within {} ms", timeout.as_millis()),
            })?
    }
}

/// One address of a peer: `https://IP:port` or `https://localhost:port`.
fn target(peer: &OrganId, url: &str) -> Result<(SocketAddr, ServerName<'static>), ClientError> {
    let bad = || ClientError::BadUrl {
        peer: peer.to_string(),
        url: url.to_owned(),
    };
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let hostport = rest.trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        h => h.parse().map_err(|_| bad())?,
    };
    let name = if host == "localhost" {
        ServerName::try_from("localhost".to_owned()).map_err(|_| bad())?
    } else {
        ServerName::IpAddress(ip.into())
    };
    Ok((SocketAddr::new(ip, port), name))
}
