//! The TLS listener every HTTP surface runs on: a connection limit, a handshake timeout
//! (tokio-rustls has none), the peer's verified certificate turned into an identity, a header
//! read timeout (slowloris), and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

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
    /// Concurrent connections; further connections wait in the kernel backlog.
    pub max_connections: usize,
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Deadline to receive the request headers.
    pub header_timeout: Duration,
}

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
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
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
        let acceptor = TlsAcceptor::from(tls());
        let router = router.clone();
        let limits = limits.clone();
        let mut conn_shutdown = shutdown.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let tls =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(%remote, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
            let organ = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|leaf| crate::tls::organ_of_certificate(leaf.as_ref()));
            let svc = router.layer(axum::Extension(PeerIdentity {
                organ,
                remote: Some(remote),
            }));
            let svc = TowerToHyperService::new(svc);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(64 * 1024);
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "connection ended with an error");
                    }
                }
                _ = conn_shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Reap finished connections so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    // Stop accepting; let in-flight connections drain.
    while tasks.join_next().await.is_some() {}
}
