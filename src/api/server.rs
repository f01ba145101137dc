//! The TLS listener every HTTP surface runs on: connection limits (overall, per source, and per
//! source for connections still in their handshake or headers — `connections`), one deadline for
//! the handshake and the first request head together (tokio-rustls has none of its own), the
//! peer's verified certificate turned into an identity, a header read timeout for later requests
//! and a body idle timeout (slowloris), a panic guard
//! (one request's bug answers 500, never takes the connection's task or the process down), and
//! graceful shutdown. Both listeners — the office API and the peer exchange — run on it, so each
//! defence here holds for both (`tests/hostile_http.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, TryAcquireError, watch};
use tokio_rustls::TlsAcceptor;
use tower_http::catch_panic::CatchPanicLayer;

use super::connections::{Book, Seat};
use super::problem::Problem;

/// The organ a TLS client proved it is (from its verified certificate), if it sent one.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity {
    /// Organ id bound to the client certificate.
    pub organ: Option<String>,
    /// The remote address (for per-client rate limiting of failed logins).
    pub remote: Option<std::net::SocketAddr>,
}

/// Listener limits.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    /// Concurrent connections. When they are all taken, a newcomer evicts the oldest connection
    /// still pending (in handshake or before its first request head); when none is pending, it
    /// waits in the kernel backlog.
    pub max_connections: usize,
    /// Concurrent connections from one source (an IPv4 address, an IPv6 /64); a connection beyond
    /// it is accepted and closed at once, so one flooding host cannot take every slot.
    pub max_connections_per_ip: usize,
    /// Of those, connections still in their handshake or before their first request head; beyond
    /// it a new connection from that source is closed at once.
    pub max_pending_per_ip: usize,
    /// One deadline for the TLS handshake and the first request head together, from accept.
    pub head_deadline: Duration,
    /// Deadline to receive the headers of each later request on a kept-alive connection, and
    /// how long such a connection may idle between requests (hyper closes it).
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body once a handler reads it; a body that
    /// stalls this long fails with [`BodyTimeout`] (answered 408). The whole request is bounded
    /// separately by `limits.request_timeout_secs` (`api::routes`).
    pub body_idle_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_ip: 64,
            max_pending_per_ip: 32,
            head_deadline: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// A request body stalled: no data for the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("no request body data arrived for {} s", idle.as_secs())]
pub struct BodyTimeout {
    /// The idle timeout that elapsed.
    pub idle: Duration,
}

/// Whether a body read error (at any depth of its source chain) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if x.is::<BodyTimeout>() {
            return true;
        }
        cur = x.source();
    }
    false
}

/// A request body that fails with [`BodyTimeout`] when the client stops sending: the timer runs
/// only while a handler waits for data, and restarts with every frame, so a slow but moving
/// upload is fine and a stalled one (slowloris on the body) is cut.
struct IdleTimeoutBody<B> {
    inner: B,
    idle: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> hyper::body::Body for IdleTimeoutBody<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                this.sleep = None;
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout { idle })))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a panicking handler: 500 problem+json with a fixed detail. The panic payload is
/// neither sent nor logged — it may carry whatever the failing code was holding.
fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; answered 500");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the gateway could not complete the request; nothing was stored",
    )
    .into_response()
}

/// Headers on every response, unless a handler set its own. The API carries classified
/// documents: no cache may keep them (`no-store`), no browser may sniff, frame or refer them; the
/// portal's one HTML page needs nothing beyond its inline style.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("strict-transport-security", "max-age=31536000"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in SECURITY_HEADERS {
        if !h.contains_key(k) {
            h.insert(k, axum::http::HeaderValue::from_static(v));
        }
    }
    r
}

/// The layers every listener adds around its routes: security headers and the panic guard
/// (outermost, so a panic's 500 gets the headers too).
pub fn harden(router: Router) -> Router {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::map_response(security_headers))
}

/// Largest request head (request line and headers) in bytes; larger heads get 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one request; more get 431.
pub const MAX_HEADERS: usize = 100;

/// Yields the TLS configuration for each new connection (it changes on CRL reload).
pub type TlsSource = Arc<dyn Fn() -> Arc<ServerConfig> + Send + Sync>;

/// Serves `router` on `listener` over TLS until `shutdown` turns true; then stops accepting,
/// lets in-flight requests finish, and returns.
pub async fn serve_tls(
    listener: TcpListener,
    tls: TlsSource,
    router: Router,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let book = Book::default();
    let router = harden(router);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::time::Instant::now();
        // Responses go out as small TLS records; without NODELAY, Nagle's algorithm holds the
        // last one until the client's delayed ACK (~40 ms) — the p99 step measured in
        // docs/PERFORMANCE.md.
        let _ = tcp.set_nodelay(true);
        let seat = match book.admit(
            remote.ip(),
            limits.max_connections_per_ip,
            limits.max_pending_per_ip,
        ) {
            Ok(seat) => seat,
            Err(why) => {
                // Refused cleanly: the client sees the connection closed before any TLS.
                tracing::info!(%remote, reason = %why, "connection closed at once");
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => {
                if book.evict_oldest_pending() {
                    tracing::info!("listener full: the oldest pending connection was evicted");
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                    _ = shutdown.changed() => break,
                }
            }
        };
        let conn = Connection {
            acceptor: TlsAcceptor::from(tls()),
            router: router.clone(),
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            remote,
            deadline: accepted + limits.head_deadline,
        };
        tasks.spawn(async move {
            let _permit = permit;
            conn.serve(tcp, seat).await;
        });
        // Reap finished connections so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    // Stop accepting; let in-flight connections drain.
    while tasks.join_next().await.is_some() {}
}

/// One accepted connection and what it is served with.
struct Connection {
    acceptor: TlsAcceptor,
    router: Router,
    limits: ListenerLimits,
    shutdown: watch::Receiver<bool>,
    remote: std::net::SocketAddr,
    /// When the handshake and the first request head must both be done.
    deadline: tokio::time::Instant,
}

impl Connection {
    /// Handshake, then HTTP/1.1 until the client or the shutdown ends it; cut at the deadline
    /// or on eviction while it has not yet sent a request head.
    async fn serve(self, tcp: tokio::net::TcpStream, seat: Seat) {
        let remote = self.remote;
        let seat = Arc::new(seat);
        let handshake = tokio::time::timeout_at(self.deadline, self.acceptor.accept(tcp));
        let tls = tokio::select! {
            r = handshake => match r {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%remote, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%remote, "TLS handshake not done by the deadline; closed");
                    return;
                }
            },
            _ = seat.evicted.notified() => {
                tracing::info!(%remote, "evicted during the TLS handshake");
                return;
            }
        };
        let organ = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|leaf| crate::tls::organ_of_certificate(leaf.as_ref()));
        let svc = self.service(organ, seat.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            // The read buffer bounds memory per connection, but one large read can carry a
            // whole oversize head past it: the head itself is bounded too (431 beyond).
            .max_buf_size(MAX_HEAD_BYTES)
            .max_header_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS);
        let conn = builder.serve_connection(TokioIo::new(tls), svc);
        tokio::pin!(conn);
        let deadline = self.deadline;
        let first_head_late = async {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    if seat.is_headed() {
                        std::future::pending::<()>().await;
                    }
                    "first request head not received by the deadline"
                }
                _ = seat.evicted.notified() => "evicted before its first request head",
            }
        };
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
            }
            why = first_head_late => tracing::info!(%remote, "{why}; closed"),
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }

    /// The router with the peer's identity, every body behind the idle timeout, and the seat
    /// marked headed (no longer pending) at the first request.
    fn service(
        &self,
        organ: Option<String>,
        seat: Arc<Seat>,
    ) -> TowerToHyperService<
        impl tower::Service<
            Request<Incoming>,
            Response = Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
    > {
        let svc = self.router.clone().layer(axum::Extension(PeerIdentity {
            organ,
            remote: Some(self.remote),
        }));
        let idle = self.limits.body_idle_timeout;
        let svc = tower::ServiceBuilder::new()
            .map_request(move |req: Request<Incoming>| {
                seat.headed();
                req.map(|b| {
                    Body::new(IdleTimeoutBody {
                        inner: b,
                        idle,
                        sleep: None,
                    })
                })
            })
            .service(svc);
        TowerToHyperService::new(svc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_problem_without_the_panic_text() {
        async fn boom() -> &'static str {
            panic!("secret-token-abc123 leaked through a panic");
        }
        let app = harden(
            Router::new()
                .route("/boom", get(boom))
                .route("/ok", get(|| async { "ok" })),
        );
        let r = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r_headers = r.headers().clone();
        assert_eq!(
            r.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("urn:lienthong:problem:internal"), "{text}");
        for (k, v) in SECURITY_HEADERS {
            assert_eq!(r_headers.get(k).unwrap(), v, "{k}");
        }
        assert!(!text.contains("secret-token"), "{text}");
        // The same service keeps answering.
        let r = app
            .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// A body that yields `frames` frames, one per poll, then stays pending for ever.
    struct Trickle {
        frames: usize,
    }

    impl hyper::body::Body for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.frames == 0 {
                return Poll::Pending;
            }
            self.frames -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"abc")))))
        }
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_after_the_idle_time() {
        let idle = Duration::from_millis(300);
        let body = IdleTimeoutBody {
            inner: Trickle { frames: 3 },
            idle,
            sleep: None,
        };
        let start = tokio::time::Instant::now();
        let e = Body::new(body).collect().await.unwrap_err();
        assert!(is_body_timeout(&e), "{e}");
        assert!(start.elapsed() >= idle && start.elapsed() < idle * 2);
        let e: axum::BoxError = Box::new(std::io::Error::other("x"));
        assert!(!is_body_timeout(&*e));
    }
}
