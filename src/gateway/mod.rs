//! The domain: what a gateway does with a document — submit, receive, the inbox's rules,
//! status events, recall, filing, reports, retention — on the state every operation shares.
//!
//! It uses the floors below it (`doc`, `sign`, `policy`, `store`, `audit`, `pki`, `config`) and
//! nothing above: no HTTP types, no relay. Each operation returns its own error enum; `api`
//! maps them to problems, `relay` drives the outbox, and `app` (the composition root) builds
//! [`Shared`] and starts everything.

pub mod admission;
pub mod caller;
pub mod directory;
pub mod error;
pub mod filing;
pub mod health;
pub mod inbox;
mod intake;
pub mod keys;
pub mod metrics;
pub mod recall;
pub mod receive;
pub mod reports;
pub mod sealing;
pub mod status;
pub mod submit;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::policy::Catalog;
use crate::sign::{Signer, TrustStore};
use crate::store::{OrganId, Store};
use crate::tls::TlsIdentity;

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
    /// The keys that open `mat` documents sealed for this organ (`keys.encryption`), current
    /// first; never printed.
    pub decryption: Vec<crate::seal::SharedKey>,
    /// Their certificate chains, leaf first, same order: this organ's directory entries.
    pub encryption_chains: Vec<Vec<CertificateDer<'static>>>,
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
    trust: crate::swap::Swap<TrustStore>,
    /// The procedure catalog.
    pub catalog: Catalog,
    /// API clients (tokens, organs, roles, clearances).
    pub auth: caller::Authenticator,
    /// Wakes a peer's relay worker when its outbox grows.
    pub wake: HashMap<OrganId, Arc<Notify>>,
    /// Bumped whenever any inbox here grows (long polls wait on it).
    pub inbox_events: watch::Sender<u64>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// The hash-chained audit log (every decision; fsynced on append).
    pub audit: Arc<crate::audit::AuditLog>,
    /// Slots for documents being handled (overload sheds, see `admission`).
    pub admission: admission::Admission,
    /// Organ → encryption certificate: whom `mat` documents are sealed for; replaced on
    /// reload (SIGHUP), with the trust store it was checked against.
    directory: crate::swap::Swap<sealing::Directory>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("organ", &self.config.organ)
            .finish_non_exhaustive()
    }
}

/// The parts of [`Shared`], as the composition root assembles them.
pub struct Parts {
    /// The validated configuration.
    pub config: Config,
    /// The opened store.
    pub store: Arc<dyn Store>,
    /// Keys.
    pub keys: GatewayKeys,
    /// Trust anchors and CRLs.
    pub trust: TrustStore,
    /// The procedure catalog.
    pub catalog: Catalog,
    /// The opened audit log.
    pub audit: Arc<crate::audit::AuditLog>,
    /// The encryption-certificate directory, checked against `trust`.
    pub directory: sealing::Directory,
}

/// The trust store the config names: its anchors, each with its signing rule
/// (`[[trust.signing_policy]]`, docSigning where none is given), and CRLs, with no OCSP client
/// (an `ocsp` source in `[trust] revocation` then never answers: see [`trust_store_with`]).
pub fn trust_store(config: &Config) -> Result<TrustStore, crate::sign::TrustError> {
    trust_store_with(config, None)
}

/// The OCSP client `[trust]` asks for, over `transport` (the composition root gives the HTTP
/// one); `None` when `ocsp` is not among `[trust] revocation`. Made once and shared by every
/// trust store built later (reloads keep its cache).
pub fn ocsp_client(
    config: &Config,
    transport: Arc<dyn crate::sign::ocsp::Transport>,
) -> Option<Arc<crate::sign::ocsp::Ocsp>> {
    let t = &config.trust;
    if !t.revocation.iter().any(|s| s == "ocsp") {
        return None;
    }
    let settings = crate::sign::ocsp::OcspSettings {
        responder: t.ocsp_responder.clone(),
        max_age: std::time::Duration::from_secs(t.ocsp_max_age_seconds),
        timeout: std::time::Duration::from_millis(t.ocsp_timeout_ms),
        ..crate::sign::ocsp::OcspSettings::default()
    };
    Some(Arc::new(crate::sign::ocsp::Ocsp::new(settings, transport)))
}

/// As [`trust_store`], the `ocsp` revocation source asking `ocsp`.
pub fn trust_store_with(
    config: &Config,
    ocsp: Option<Arc<crate::sign::ocsp::Ocsp>>,
) -> Result<TrustStore, crate::sign::TrustError> {
    let mut trust = TrustStore::new();
    for a in &config.trust.anchors {
        let policy = match config.trust.signing_policy_for(a) {
            Some(p) => {
                crate::sign::SigningPolicy::new(&p.ekus, p.allow_no_eku, &a.display().to_string())?
            }
            None => crate::sign::SigningPolicy::default(),
        };
        trust.add_anchors_pem_file_with_policy(a, &policy)?;
    }
    for c in &config.trust.crls {
        trust.add_crl_file(c)?;
    }
    // The config validated every word: none is dropped here.
    let order = config
        .trust
        .revocation
        .iter()
        .filter_map(|s| crate::sign::RevocationSource::from_name(s))
        .collect();
    trust.set_revocation(order, ocsp);
    Ok(trust)
}

impl Shared {
    /// The shared state of a gateway with one wake-up per configured peer.
    pub fn new(parts: Parts) -> Self {
        let Parts {
            config,
            store,
            keys,
            trust,
            catalog,
            audit,
            directory,
        } = parts;
        let wake = config
            .peers
            .iter()
            .map(|p| (p.organ.clone(), Arc::new(Notify::new())))
            .collect();
        let (inbox_events, _) = watch::channel(0u64);
        let config_limits = config.limits.clone();
        Self {
            auth: caller::Authenticator::with_limits(
                &config.clients,
                caller::ThrottleLimits::of(&config.limits),
            ),
            config,
            store,
            keys,
            trust: crate::swap::Swap::new(Arc::new(trust)),
            catalog,
            wake,
            inbox_events,
            metrics: metrics::Metrics::default(),
            audit,
            admission: admission::Admission::new(&config_limits),
            directory: crate::swap::Swap::new(Arc::new(directory)),
        }
    }

    /// The current trust store (anchors and CRLs).
    pub fn trust(&self) -> Arc<TrustStore> {
        self.trust.get()
    }

    /// Replaces the trust store (a CRL reload): the next check uses the new one.
    pub fn set_trust(&self, trust: TrustStore) {
        self.trust.set(Arc::new(trust));
    }

    /// The current encryption-certificate directory.
    pub fn directory(&self) -> Arc<sealing::Directory> {
        self.directory.get()
    }

    /// Replaces the directory (a reload): the next `mat` submission seals with the new one.
    pub fn set_directory(&self, directory: sealing::Directory) {
        self.directory.set(Arc::new(directory));
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
        grew(&self.inbox_events);
    }

    /// [`inbox_grew`](Self::inbox_grew) for a caller that must not hold `Shared` (the store's
    /// watch of arrivals on other nodes: the store is part of `Shared`).
    pub fn inbox_waker(&self) -> impl Fn() + Send + Sync + 'static {
        let events = self.inbox_events.clone();
        move || grew(&events)
    }
}

/// Bumps the inbox-events counter long polls watch.
fn grew(events: &watch::Sender<u64>) {
    events.send_modify(|n| *n = n.wrapping_add(1));
}

/// Removes finished documents older than `retention.keep_hours`, every `sweep_interval_secs`,
/// so that the store stays flat under a steady flow instead of growing with every document.
pub async fn retention_sweeps(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
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

/// Milliseconds since the Unix epoch (the store's time unit).
pub use crate::store::now_ms;

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
pub async fn blocking<T, F>(f: F) -> Result<T, error::Internal>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error::Internal::new("blocking task", e))
}
