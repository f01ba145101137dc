//! The composition root: the only place that reads the configuration into running parts — it
//! opens the store and the audit log, builds the domain's [`Shared`] state, the TLS
//! configurations and one relay client per peer, starts the API and exchange listeners, the
//! relay workers and the retention sweeps, and wires reload (SIGHUP) and graceful shutdown.
//!
//! `api` and `relay` are adapters on the domain (`gateway`); they never start each other.
//! `Running::shutdown` stops accepting, lets in-flight requests and deliveries finish, flushes
//! the store, seals the audit log and returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::server::{ListenerLimits, serve_tls};
use crate::config::{Config, StoreEngine};
use crate::doc::types::OrganId;
use crate::gateway::{GatewayKeys, Parts, Shared};
use crate::policy::Catalog;
use crate::relay::client::PeerClient;
use crate::store::{PgOptions, PgStore, SledStore, Store, StoreError, StoreLimits};
use crate::swap::Swap;
use crate::tls::TlsIdentity;

/// Why the gateway could not start (or reload).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
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
    /// The encryption-certificate directory was refused.
    #[error("encryption: {0}")]
    Sealing(#[from] crate::gateway::sealing::SealingError),
    /// A peer entry is unusable.
    #[error("peer: {0}")]
    Peer(#[from] crate::relay::client::ClientError),
}

/// What TLS a running gateway uses, replaced together on a CRL reload.
struct Wiring {
    shared: Arc<Shared>,
    /// The TLS server configurations (new connections use the newest one).
    api_tls: Swap<rustls::ServerConfig>,
    exchange_tls: Swap<rustls::ServerConfig>,
    /// One client per peer.
    peers: HashMap<OrganId, Arc<PeerClient>>,
    /// The CRLs the listeners check client certificates against now (replaced on reload), so
    /// that a staple refresh rebuilds them with the current lists, never the boot-time ones.
    tls_crls: Swap<Vec<rustls_pki_types::CertificateRevocationListDer<'static>>>,
}

/// Reloads a running gateway's CRLs (on SIGHUP); cheap to clone.
#[derive(Clone)]
pub struct Reloader(Arc<Wiring>);

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// Re-reads the CRL files named in the config: document verification, receipts, both TLS
    /// listeners and every peer client use the new lists from the next check on; and re-reads
    /// the encryption certificates (`[encryption]`), checked against the new lists, so a new
    /// organ certificate is sealed for and a revoked one no longer is. On any error nothing is
    /// replaced. Returns how many CRL files were read.
    pub fn reload_crls(&self) -> Result<usize, StartError> {
        let w = &self.0;
        let config = &w.shared.config;
        // The OCSP client (and its cache) outlives the reload.
        let trust = crate::gateway::trust_store_with(config, w.shared.trust().ocsp().cloned())?;
        // The directory is re-checked against the new CRLs; a directory that cannot be read
        // keeps the one in use, and never holds the CRLs back.
        let directory = crate::gateway::sealing::Directory::load(
            crate::gateway::directory::Sources {
                files: &config.encryption.certificates,
                signed: config.encryption.signed_directory(),
                own: &w.shared.keys.encryption_chains,
                min_serial: w.shared.directory().serial(),
            },
            &trust,
            rustls_pki_types::UnixTime::now(),
        );
        let mut crls = Vec::new();
        for c in &config.trust.crls {
            crls.push(crate::gateway::keys::read_crl(c).map_err(|e| {
                StartError::Trust(crate::sign::TrustError::BadCrl {
                    path: c.display().to_string(),
                    reason: e.to_string(),
                })
            })?);
        }
        let tls = &w.shared.keys.tls;
        let id = TlsIdentity {
            chain: tls.chain.clone(),
            key: tls.key.clone_key(),
            roots: tls.roots.clone(),
            crls,
        };
        let staple = own_staple(&trust, &id.chain);
        let api = crate::tls::api_server_config_stapled(&id, staple.as_deref())?;
        let exchange = crate::tls::exchange_server_config_stapled(&id, staple.as_deref())?;
        let client = client_config(&id, &trust)?;
        w.shared.set_trust(trust);
        match directory {
            Ok(d) => {
                for s in d.skipped() {
                    tracing::warn!(reason = %s, "an encryption certificate is left out of the directory");
                }
                w.shared.set_directory(d);
            }
            Err(e) => {
                tracing::error!(error = %e, "organ directory refused; keeping the one in use");
            }
        }
        w.api_tls.set(api);
        w.exchange_tls.set(exchange);
        w.tls_crls.set(Arc::new(id.crls));
        for p in w.peers.values() {
            p.set_tls(client.clone());
        }
        Ok(config.trust.crls.len())
    }

    /// Asks the OCSP responder again for our TLS certificate's staple and serves the new one on
    /// both listeners (CRLs and everything else unchanged); blocking (one OCSP request). Returns
    /// whether a staple is now served: `false` without OCSP configured or when the responder did
    /// not answer, in which case the staple in use is kept (peers ignore it once stale).
    pub fn refresh_staple(&self) -> Result<bool, StartError> {
        let w = &self.0;
        let trust = w.shared.trust();
        let tls = &w.shared.keys.tls;
        let Some(staple) = own_staple(&trust, &tls.chain) else {
            return Ok(false);
        };
        let id = TlsIdentity {
            chain: tls.chain.clone(),
            key: tls.key.clone_key(),
            roots: tls.roots.clone(),
            crls: w.tls_crls.get().as_ref().clone(),
        };
        let api = crate::tls::api_server_config_stapled(&id, Some(&staple))?;
        let exchange = crate::tls::exchange_server_config_stapled(&id, Some(&staple))?;
        w.api_tls.set(api);
        w.exchange_tls.set(exchange);
        Ok(true)
    }

    /// Whether OCSP is configured (then `serve` refreshes the staple every
    /// [`STAPLE_REFRESH`]).
    pub fn staples(&self) -> bool {
        self.0.shared.trust().ocsp().is_some()
    }
}

/// How often `serve` asks for a new staple for its own TLS certificate when OCSP is configured:
/// hourly, well inside the day or more a responder's nextUpdate usually gives, so a staple is
/// never served stale while the responder answers.
pub const STAPLE_REFRESH: Duration = Duration::from_secs(3600);

/// A started gateway.
pub struct Running {
    wiring: Arc<Wiring>,
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
        &self.wiring.shared
    }

    /// A handle that reloads the CRLs while the gateway runs.
    pub fn reloader(&self) -> Reloader {
        Reloader(self.wiring.clone())
    }

    /// Stops accepting, finishes in-flight requests and deliveries, flushes the store.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        let shared = self.wiring.shared.clone();
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

async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(TcpListener, std::net::SocketAddr), StartError> {
    let failed = |e: std::io::Error| StartError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

/// Opens the store the config names (`[store] engine`): sled in `<data_dir>/store`, or
/// PostgreSQL at `[store] url` (schema migrated, password from `[store] password_file` or
/// `LIENTHONG_STORE_PASSWORD`).
pub fn open_store(config: &Config, limits: StoreLimits) -> Result<Arc<dyn Store>, StoreError> {
    match config.store.engine {
        StoreEngine::Sled => Ok(Arc::new(SledStore::open(config.store_dir(), limits)?)),
        StoreEngine::Postgres => Ok(Arc::new(PgStore::open(&pg_options(config)?, limits)?)),
    }
}

/// How to reach the configured PostgreSQL database.
pub fn pg_options(config: &Config) -> Result<PgOptions, StoreError> {
    let s = &config.store;
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| StoreError::Open {
            path: p.display().to_string(),
            source: Box::new(StoreError::io("read a file [store] names", e)),
        })
    };
    let password = match &s.password_file {
        Some(p) => {
            let bytes = zeroize::Zeroizing::new(read(p)?);
            let text = String::from_utf8_lossy(&bytes);
            Some(zeroize::Zeroizing::new(
                text.trim_end_matches(['\r', '\n']).to_owned(),
            ))
        }
        None => std::env::var("LIENTHONG_STORE_PASSWORD")
            .ok()
            .map(zeroize::Zeroizing::new),
    };
    Ok(PgOptions {
        url: s.url.clone().unwrap_or_default(),
        password,
        ca_pem: s.ca.as_deref().map(read).transpose()?,
        pool_size: s.pool_size.unwrap_or(16),
        node: s.node.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}:{}", host.trim(), config.data_dir.display())
        }),
    })
}

/// Opens what the domain rests on: the store and the audit log, with the trust the config names.
fn domain(config: Config, keys: GatewayKeys, catalog: Catalog) -> Result<Shared, StartError> {
    let limits = StoreLimits {
        max_outbox_per_peer: u64::try_from(config.limits.max_outbox_per_peer).unwrap_or(u64::MAX),
        ..StoreLimits::default()
    };
    let store = open_store(&config, limits)?;
    // One OCSP client for the gateway's life: verification, receipts and reloads share its cache.
    let ocsp = crate::gateway::ocsp_client(&config, Arc::new(crate::relay::ocsp::HttpTransport));
    let trust = crate::gateway::trust_store_with(&config, ocsp)?;
    let directory = crate::gateway::sealing::Directory::load(
        crate::gateway::directory::Sources {
            files: &config.encryption.certificates,
            signed: config.encryption.signed_directory(),
            own: &keys.encryption_chains,
            min_serial: 0,
        },
        &trust,
        rustls_pki_types::UnixTime::now(),
    )?;
    for s in directory.skipped() {
        tracing::warn!(reason = %s, "an encryption certificate is left out of the directory");
    }
    let audit = Arc::new(crate::audit::AuditLog::open(
        &config.data_dir,
        &config.organ,
    )?);
    if let Some(r) = audit.recovery() {
        tracing::warn!(recovery = %r, "audit log tail repaired at start");
    }
    let shared = Shared::new(Parts {
        config,
        store,
        keys,
        trust,
        catalog,
        audit,
        directory,
    });
    // Arrivals on other nodes of this organ (PostgreSQL) wake this node's long polls too.
    shared.store.watch_arrivals(Arc::new(shared.inbox_waker()));
    Ok(shared)
}

/// The TLS configurations and one relay client per configured peer.
fn wiring(shared: Arc<Shared>) -> Result<Wiring, StartError> {
    let (config, tls) = (&shared.config, &shared.keys.tls);
    let trust = shared.trust();
    let client_tls = client_config(tls, &trust)?;
    let staple = own_staple(&trust, &tls.chain);
    let connect_timeout = Duration::from_millis(config.retry.connect_timeout_ms);
    let mut peers = HashMap::new();
    for p in &config.peers {
        let client = PeerClient::new(
            &p.organ,
            &p.url,
            client_tls.clone(),
            connect_timeout,
            config.retry.concurrency,
        )?
        .with_fallbacks(&p.urls)?;
        peers.insert(p.organ.clone(), Arc::new(client));
    }
    Ok(Wiring {
        api_tls: Swap::new(crate::tls::api_server_config_stapled(
            tls,
            staple.as_deref(),
        )?),
        exchange_tls: Swap::new(crate::tls::exchange_server_config_stapled(
            tls,
            staple.as_deref(),
        )?),
        tls_crls: Swap::new(Arc::new(tls.crls.clone())),
        peers,
        shared,
    })
}

/// The peer clients' TLS configuration: with OCSP configured (`[trust] revocation` names
/// `ocsp`), a peer's staple is checked too (`relay::ocsp::StapleCheck`: "revoked" refuses);
/// without, exactly the CRL-only verifier.
fn client_config(
    tls: &TlsIdentity,
    trust: &crate::sign::TrustStore,
) -> Result<Arc<rustls::ClientConfig>, crate::tls::TlsError> {
    match trust.ocsp() {
        Some(ocsp) => {
            let settings = ocsp.settings().clone();
            crate::tls::exchange_client_config_with(tls, |v| {
                Arc::new(crate::relay::ocsp::StapleCheck::new(v, settings))
            })
        }
        None => crate::tls::exchange_client_config(tls),
    }
}

/// An OCSP response for this gateway's own TLS certificate, to staple on both listeners
/// (RFC 6066 §8), when OCSP is configured and the chain names the issuer (leaf, then its CA).
/// Asked at start and on every reload (SIGHUP); a responder that does not answer means no
/// staple, never a listener that does not start.
fn own_staple(
    trust: &crate::sign::TrustStore,
    chain: &[rustls_pki_types::CertificateDer<'static>],
) -> Option<Vec<u8>> {
    let ocsp = trust.ocsp()?;
    let (leaf, issuer) = (chain.first()?, chain.get(1)?);
    let now = rustls_pki_types::UnixTime::now().as_secs();
    match ocsp.fetch_staple(leaf.as_ref(), issuer.as_ref(), now) {
        Ok((der, answer)) => {
            tracing::info!(
                next_update = ?answer.next_update.map(crate::sign::ocsp::rfc3339),
                "stapling an OCSP response for our TLS certificate"
            );
            Some(der)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no OCSP staple for our TLS certificate");
            None
        }
    }
}

fn listener_limits(config: &Config) -> ListenerLimits {
    ListenerLimits {
        max_connections: config.limits.max_connections,
        max_connections_per_ip: config.limits.max_connections_per_ip,
        max_pending_per_ip: config
            .limits
            .max_pending_per_ip
            .min(config.limits.max_connections_per_ip),
        head_deadline: Duration::from_secs(config.limits.header_timeout_secs),
        header_timeout: Duration::from_secs(config.limits.header_timeout_secs),
        // A body that stalls as long as headers may take is a slowloris, not a slow link.
        body_idle_timeout: Duration::from_secs(config.limits.header_timeout_secs),
    }
}

/// File descriptors the gateway may need: both listeners full, plus the store, the audit log,
/// relay connections and the rest (a margin of 256).
fn descriptors_needed(limits: &ListenerLimits) -> u64 {
    (2 * limits.max_connections as u64).saturating_add(256)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); None where it is unknown or
/// unlimited.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Warns when the process may open fewer files than full listeners need: past that, accepts
/// fail with EMFILE instead of the connection limits deciding who waits.
fn warn_if_few_descriptors(limits: &ListenerLimits) {
    let needed = descriptors_needed(limits);
    if let Some(limit) = open_files_limit().filter(|l| *l < needed) {
        tracing::warn!(
            limit,
            needed,
            "the open-files limit (ulimit -n) is below what both listeners full need; \
             raise it (LimitNOFILE= in the systemd unit) or lower limits.max_connections"
        );
    }
}

/// Starts a gateway: the domain, its listeners, one relay worker per peer, retention sweeps.
pub async fn start(
    config: Config,
    keys: GatewayKeys,
    catalog: Catalog,
) -> Result<Running, StartError> {
    let (api_listener, api_addr) = bind(config.listen.api).await?;
    let (exchange_listener, exchange_addr) = bind(config.listen.exchange).await?;
    let limits = listener_limits(&config);
    warn_if_few_descriptors(&limits);
    // Off the async threads: opening a store may block (a PostgreSQL client runs its own
    // runtime, which may not start inside this one).
    let shared = tokio::task::spawn_blocking(move || domain(config, keys, catalog))
        .await
        .map_err(|e| StartError::Store(StoreError::engine("open the store", e)))??;
    let shared = Arc::new(shared);
    let wiring = Arc::new(wiring(shared.clone())?);

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let w = wiring.clone();
    tasks.spawn(serve_tls(
        api_listener,
        Arc::new(move || w.api_tls.get()),
        crate::api::routes::api_router(shared.clone()),
        limits.clone(),
        shutdown_rx.clone(),
    ));
    let w = wiring.clone();
    tasks.spawn(serve_tls(
        exchange_listener,
        Arc::new(move || w.exchange_tls.get()),
        crate::api::routes::exchange_router(shared.clone()),
        limits,
        shutdown_rx.clone(),
    ));
    for client in wiring.peers.values() {
        tasks.spawn(crate::relay::worker::run(
            shared.clone(),
            client.clone(),
            shutdown_rx.clone(),
        ));
    }
    tasks.spawn(crate::gateway::retention_sweeps(
        shared.clone(),
        shutdown_rx.clone(),
    ));
    tracing::info!(organ = %shared.config.organ, api = %api_addr, exchange = %exchange_addr, "gateway started");
    Ok(Running {
        wiring,
        shutdown,
        tasks,
        api_addr,
        exchange_addr,
    })
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
