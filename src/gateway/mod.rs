//! The running gateway: shared state, start-up, and graceful shutdown.
//!
//! `start` opens the store, builds the TLS configurations, starts the API listener, the
//! exchange listener and one relay worker per peer. `Running::shutdown` stops accepting, lets
//! in-flight requests and deliveries finish, flushes the store and returns.

pub mod filing;
pub mod keys;
pub mod metrics;
pub mod recall;
pub mod receive;
pub mod reports;
pub mod status;
pub mod submit;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::api::auth::Authenticator;
use crate::api::server::{ListenerLimits, serve_tls};
use crate::config::Config;
use crate::policy::Catalog;
use crate::relay::client::PeerClient;
use crate::sign::{Signer, TrustStore};
use crate::store::{SledStore, Store, StoreLimits};
use crate::tls::TlsIdentity;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// TLS material was refused.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// Trust material was refused.
    #[error("trust: {0}")]
    Trust(#[from] crate::sign::TrustError),
    /// The audit log could not be opened (or its tail is damaged beyond a torn line).
    #[error("audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        reason: String,
    },
    /// A peer entry is unusable.
    #[error("peer: {0}")]
    Peer(#[from] crate::relay::client::ClientError),
}

/// The keys a gateway runs with. The signer never reveals its key; the TLS key is held by rustls.
pub struct GatewayKeys {
    /// The organ's document-signing key.
    pub signer: Arc<dyn Signer>,
    /// Its certificate chain, leaf first.
    pub signing_chain: Vec<CertificateDer<'static>>,
    /// The key for receipts and hop records (`keys.receipts`; the signing key when unset).
    pub receipt_signer: Arc<dyn Signer>,
    /// Its certificate chain, leaf first.
    pub receipt_chain: Vec<CertificateDer<'static>>,
    /// The gateway's TLS identity and the anchors/CRLs for peers.
    pub tls: TlsIdentity,
}

/// State shared by every handler and worker.
pub struct Shared {
    /// The validated configuration.
    pub config: Config,
    /// The durable store.
    pub store: Arc<dyn Store>,
    /// Keys.
    pub keys: GatewayKeys,
    /// Trust anchors and CRLs for document signatures and receipts; replaced on reload.
    trust: std::sync::RwLock<Arc<TrustStore>>,
    /// The TLS server configurations, replaced on reload (new connections use the new one).
    api_tls: std::sync::RwLock<Arc<rustls::ServerConfig>>,
    exchange_tls: std::sync::RwLock<Arc<rustls::ServerConfig>>,
    /// The procedure catalog.
    pub catalog: Catalog,
    /// API clients.
    pub auth: Authenticator,
    /// One client per peer.
    pub peers: HashMap<String, Arc<PeerClient>>,
    /// Wakes a peer's relay worker when its outbox grows.
    pub wake: HashMap<String, Arc<Notify>>,
    /// Bumped whenever any inbox here grows (long polls wait on it).
    pub inbox_events: watch::Sender<u64>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// The hash-chained audit log (every decision; fsynced on append).
    pub audit: Arc<crate::audit::AuditLog>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("organ", &self.config.organ)
            .finish_non_exhaustive()
    }
}

fn read<T: Clone>(lock: &std::sync::RwLock<T>) -> T {
    match lock.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn write<T>(lock: &std::sync::RwLock<T>, value: T) {
    match lock.write() {
        Ok(mut g) => *g = value,
        Err(p) => *p.into_inner() = value,
    }
}

fn trust_store(config: &Config) -> Result<TrustStore, GatewayError> {
    let mut trust = TrustStore::new();
    for a in &config.trust.anchors {
        trust.add_anchors_pem_file(a)?;
    }
    for c in &config.trust.crls {
        trust.add_crl_file(c)?;
    }
    Ok(trust)
}

impl Shared {
    /// The current trust store (anchors and CRLs).
    pub fn trust(&self) -> Arc<TrustStore> {
        read(&self.trust)
    }

    /// Re-reads the CRL files named in the config (on SIGHUP): document verification, receipts,
    /// both TLS listeners and every peer client use the new lists from the next check on.
    /// On any error nothing is replaced.
    pub fn reload_crls(&self) -> Result<usize, GatewayError> {
        let trust = trust_store(&self.config)?;
        let mut crls = Vec::new();
        for c in &self.config.trust.crls {
            crls.push(crate::gateway::keys::read_crl(c).map_err(|e| {
                GatewayError::Trust(crate::sign::TrustError::BadCrl {
                    path: c.display().to_string(),
                    reason: e.to_string(),
                })
            })?);
        }
        let id = TlsIdentity {
            chain: self.keys.tls.chain.clone(),
            key: self.keys.tls.key.clone_key(),
            roots: self.keys.tls.roots.clone(),
            crls,
        };
        let api = crate::tls::api_server_config(&id)?;
        let exchange = crate::tls::exchange_server_config(&id)?;
        let client = crate::tls::exchange_client_config(&id)?;
        write(&self.trust, Arc::new(trust));
        write(&self.api_tls, api);
        write(&self.exchange_tls, exchange);
        for p in self.peers.values() {
            p.set_tls(client.clone());
        }
        Ok(self.config.trust.crls.len())
    }

    /// Wakes the relay worker of `peer`.
    pub fn wake_peer(&self, peer: &str) {
        if let Some(n) = self.wake.get(peer) {
            n.notify_one();
        }
    }

    /// Records an audit event. Blocking (fsync): call from a blocking task. A failed append is
    /// logged loudly; the decision it records has already been made durable in the store.
    pub fn audit(&self, event: crate::audit::Event) {
        if let Err(e) = self.audit.append(event) {
            tracing::error!(error = %e, "audit append failed");
        }
    }

    /// Tells long polls that an inbox grew.
    pub fn inbox_grew(&self) {
        self.inbox_events.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A started gateway.
pub struct Running {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    /// Where the office/inbox API listens.
    pub api_addr: std::net::SocketAddr,
    /// Where the exchange API listens.
    pub exchange_addr: std::net::SocketAddr,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("api", &self.api_addr)
            .field("exchange", &self.exchange_addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The shared state (tests and the demo read metrics from it).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, finishes in-flight requests and deliveries, flushes the store.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        let shared = self.shared.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = shared.store.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
            // Seal the log with a signed checkpoint over its head.
            if let Err(e) = shared
                .audit
                .checkpoint(shared.keys.signer.as_ref(), &shared.keys.signing_chain)
            {
                tracing::error!(error = %e, "audit checkpoint failed");
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "final flush did not run");
        }
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| GatewayError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// Starts a gateway.
pub async fn start(
    config: Config,
    keys: GatewayKeys,
    catalog: Catalog,
) -> Result<Running, GatewayError> {
    let store_dir = config.data_dir.join("store");
    let limits = StoreLimits {
        max_outbox_per_peer: u64::try_from(config.limits.max_outbox_per_peer).unwrap_or(u64::MAX),
        ..StoreLimits::default()
    };
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&store_dir, limits)?);

    let trust = trust_store(&config)?;

    let client_tls = crate::tls::exchange_client_config(&keys.tls)?;
    let exchange_tls = crate::tls::exchange_server_config(&keys.tls)?;
    let api_tls = crate::tls::api_server_config(&keys.tls)?;
    let connect_timeout = Duration::from_millis(config.retry.connect_timeout_ms);
    let mut peers = HashMap::new();
    let mut wake = HashMap::new();
    for p in &config.peers {
        let client = PeerClient::new(
            &p.organ,
            &p.url,
            client_tls.clone(),
            connect_timeout,
            config.retry.concurrency,
        )?;
        peers.insert(p.organ.clone(), Arc::new(client));
        wake.insert(p.organ.clone(), Arc::new(Notify::new()));
    }
    let auth = Authenticator::new(&config.clients);
    let audit = Arc::new(crate::audit::AuditLog::open(
        &config.data_dir,
        &config.organ,
    )?);
    if let Some(r) = audit.recovery() {
        tracing::warn!(recovery = %r, "audit log tail repaired at start");
    }
    let api_listener = bind(config.listen.api).await?;
    let exchange_listener = bind(config.listen.exchange).await?;
    let api_addr = api_listener.local_addr().map_err(|e| GatewayError::Bind {
        addr: config.listen.api.to_string(),
        reason: e.to_string(),
    })?;
    let exchange_addr = exchange_listener
        .local_addr()
        .map_err(|e| GatewayError::Bind {
            addr: config.listen.exchange.to_string(),
            reason: e.to_string(),
        })?;
    let listener_limits = ListenerLimits {
        max_connections: config.limits.max_connections,
        max_connections_per_ip: config.limits.max_connections_per_ip,
        handshake_timeout: Duration::from_secs(config.limits.header_timeout_secs),
        header_timeout: Duration::from_secs(config.limits.header_timeout_secs),
        // A body that stalls as long as headers may take is a slowloris, not a slow link.
        body_idle_timeout: Duration::from_secs(config.limits.header_timeout_secs),
    };

    let (inbox_events, _) = watch::channel(0u64);
    let shared = Arc::new(Shared {
        config,
        store,
        keys,
        trust: std::sync::RwLock::new(Arc::new(trust)),
        api_tls: std::sync::RwLock::new(api_tls),
        exchange_tls: std::sync::RwLock::new(exchange_tls),
        catalog,
        auth,
        peers,
        wake,
        inbox_events,
        metrics: metrics::Metrics::default(),
        audit,
    });

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let s = shared.clone();
    tasks.spawn(serve_tls(
        api_listener,
        Arc::new(move || read(&s.api_tls)),
        crate::api::routes::api_router(shared.clone()),
        listener_limits.clone(),
        shutdown_rx.clone(),
    ));
    let s = shared.clone();
    tasks.spawn(serve_tls(
        exchange_listener,
        Arc::new(move || read(&s.exchange_tls)),
        crate::api::routes::exchange_router(shared.clone()),
        listener_limits,
        shutdown_rx.clone(),
    ));
    for peer in shared.peers.keys() {
        tasks.spawn(crate::relay::worker::run(
            shared.clone(),
            peer.clone(),
            shutdown_rx.clone(),
        ));
    }
    tasks.spawn(retention_sweeps(shared.clone(), shutdown_rx.clone()));
    tracing::info!(organ = %shared.config.organ, api = %api_addr, exchange = %exchange_addr, "gateway started");
    Ok(Running {
        shared,
        shutdown,
        tasks,
        api_addr,
        exchange_addr,
    })
}

/// Removes finished documents older than `retention.keep_hours`, every `sweep_interval_secs`,
/// so that the store stays flat under a steady flow instead of growing with every document.
async fn retention_sweeps(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let r = shared.config.retention.clone();
    let keep_ms = i64::try_from(r.keep_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(r.sweep_interval_secs)) => {}
            _ = shutdown.changed() => return,
        }
        let store = shared.store.clone();
        let cutoff = now_ms().saturating_sub(keep_ms);
        match tokio::task::spawn_blocking(move || store.purge_acked_older_than(cutoff)).await {
            Ok(Ok(report)) => {
                shared
                    .metrics
                    .purged
                    .fetch_add(report.messages, std::sync::atomic::Ordering::Relaxed);
                if report.messages > 0 {
                    tracing::info!(
                        messages = report.messages,
                        bytes = report.bytes,
                        "retention sweep removed finished documents"
                    );
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "retention sweep failed"),
            Err(e) => tracing::error!(error = %e, "retention sweep task failed"),
        }
    }
}

/// Most threads a gateway's runtime runs blocking work on (store calls, signing, verifying).
///
/// tokio's default is 512: under a burst every store call waiting for its group-commit flush got
/// a thread of its own, and each thread keeps its own allocator caches — the 1,000,000-document
/// scale run had 60–97 such threads and an RSS that rose with their number. Work beyond this
/// limit queues (nothing blocking waits for other blocking work: a flush leader never waits for
/// queued writers), and 64 writers per flush is already far more than group commit needs on the
/// cores a gateway runs on.
pub const MAX_BLOCKING_THREADS: usize = 64;

/// The multi-threaded runtime gateways run on (`serve`, the benchmarks), with blocking work
/// bounded by [`MAX_BLOCKING_THREADS`].
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
}

/// Milliseconds since the Unix epoch (the store's time unit).
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 for a millisecond timestamp.
pub fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Runs blocking store or crypto work off the reactor, turning a panicked task into an error.
pub async fn blocking<T, F>(f: F) -> Result<T, crate::api::problem::Problem>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::api::problem::Problem::internal("blocking task", e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{MAX_BLOCKING_THREADS, runtime};

    #[test]
    fn blocking_work_beyond_the_limit_queues_instead_of_adding_threads() {
        let rt = runtime().expect("runtime");
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks = 3 * MAX_BLOCKING_THREADS;
        rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                    tokio::task::spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("task");
            }
        });
        let most = most.load(Ordering::SeqCst);
        assert!(most <= MAX_BLOCKING_THREADS, "{most} ran at once");
        // And the limit is reached, so the bound is what stopped it (not a slow spawner).
        assert!(most > MAX_BLOCKING_THREADS / 2, "only {most} ran at once");
    }
}
