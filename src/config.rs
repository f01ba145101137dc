//! The gateway's TOML configuration: typed, unknown keys refused, validated once at start.
//!
//! Relative paths are resolved against the directory of the config file, so a demo directory
//! can be moved as a whole.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::doc::label::Level;
use crate::doc::types::OrganId;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// TOML syntax or an unknown/missing key.
    #[error("config {path}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (names the key).
        reason: String,
    },
    /// A value is out of range or inconsistent.
    #[error("config {path}: {field}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The offending key.
        field: String,
        /// Why.
        reason: String,
    },
}

/// A gateway configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This gateway's organ id.
    pub organ: OrganId,
    /// Human name of the organ.
    #[serde(default)]
    pub organ_name: String,
    /// Where the sled store and audit log live.
    pub data_dir: PathBuf,
    /// The procedure catalog (`config/procedures.toml`).
    pub catalog: PathBuf,
    /// Listening addresses.
    pub listen: Listen,
    /// Keys.
    pub keys: Keys,
    /// Trust anchors and CRLs.
    pub trust: Trust,
    /// Peer gateways.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Routes: destination organ → next-hop peer organ; key `default` for everything else.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// API clients.
    #[serde(default)]
    pub clients: Vec<Client>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Retry policy of the relay.
    #[serde(default)]
    pub retry: Retry,
    /// How long finished documents stay in the store.
    #[serde(default)]
    pub retention: Retention,
    /// The organs' encryption certificates: whom `mat` documents are sealed for.
    #[serde(default)]
    pub encryption: Encryption,
    /// Which engine holds the store (sled by default, or PostgreSQL).
    #[serde(default)]
    pub store: StoreSection,
}

/// `[store]`: the engine behind the store (issue 23). `engine = "sled"` (the default: the
/// embedded store in `<data_dir>/store`) or `engine = "postgres"` with `url`; several gateway
/// processes of one organ on one PostgreSQL database are one gateway.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sled` or `postgres`.
    #[serde(default)]
    pub engine: StoreEngine,
    /// PostgreSQL only: `postgresql://user@host:port/database?sslmode=require` (no password:
    /// that comes from `password_file` or `LIENTHONG_STORE_PASSWORD`).
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL only: a file holding the database password (else `LIENTHONG_STORE_PASSWORD`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PostgreSQL only: the CA certificate (PEM) that signs the database server's certificate,
    /// for `sslmode=require`.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// PostgreSQL only: sessions each gateway process keeps open (default 16).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// PostgreSQL only: this process's name among the organ's nodes on the database, distinct
    /// per node (default: the host name and `data_dir`).
    #[serde(default)]
    pub node: Option<String>,
}

/// `[store] engine`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// sled 0.34, embedded, in `<data_dir>/store`.
    #[default]
    Sled,
    /// PostgreSQL (15 or later), at `[store] url`.
    Postgres,
}

/// `[encryption]`: the directory of encryption certificates (issue 22). A `mat` document is
/// sealed end to end for each of its recipient organs (and for this organ, the sender's copy):
/// each must have a valid certificate here, or the submission is refused. Every certificate
/// is checked at start-up and on reload (SIGHUP) against `[trust]`: chain, validity, CRL, key
/// usage keyEncipherment, one organ binding.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// PEM files, each an encryption certificate (leaf first, then its intermediates).
    #[serde(default)]
    pub certificates: Vec<PathBuf>,
    /// A signed organ directory (`lienthong directory sign`), issued by `directory_issuer`.
    #[serde(default)]
    pub directory: Option<PathBuf>,
    /// The organ whose document-signing certificate must have signed `directory`.
    #[serde(default)]
    pub directory_issuer: Option<String>,
    /// How content keys are wrapped: `rsa-oaep-sha256` (default: xmlenc11#rsa-oaep, SHA-256,
    /// MGF1-SHA256) or `rsa-oaep-mgf1p` (SHA-1 inside OAEP, for recipients whose token or
    /// reader does no better — SoftHSM2 2.6, xmlsec1 1.2).
    #[serde(default)]
    pub key_transport: KeyTransportChoice,
    /// Decryption keys on PKCS#11 tokens (the key never leaves the token), after
    /// `keys.encryption`; module and PIN as for a token signing key.
    #[serde(default)]
    pub tokens: Vec<TokenKey>,
}

impl Encryption {
    /// The signed directory and its issuer, when configured.
    pub fn signed_directory(&self) -> Option<(&std::path::Path, &str)> {
        match (&self.directory, &self.directory_issuer) {
            (Some(d), Some(i)) => Some((d.as_path(), i.as_str())),
            _ => None,
        }
    }
}

/// `[encryption] key_transport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyTransportChoice {
    /// xmlenc11#rsa-oaep with SHA-256 and MGF1-SHA256.
    #[default]
    RsaOaepSha256,
    /// xmlenc#rsa-oaep-mgf1p with SHA-1.
    RsaOaepMgf1p,
}

impl KeyTransportChoice {
    /// The seal module's transport.
    pub fn transport(self) -> crate::seal::KeyTransport {
        match self {
            Self::RsaOaepSha256 => crate::seal::KeyTransport::RSA_OAEP_SHA256,
            Self::RsaOaepMgf1p => crate::seal::KeyTransport::RSA_OAEP_MGF1P_SHA1,
        }
    }
}

/// `[[encryption.tokens]]`: one decryption key on a token and its encryption certificate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKey {
    /// `pkcs11:token=…;object=…`.
    pub uri: String,
    /// The key's encryption certificate (PEM, leaf first).
    pub certificate: PathBuf,
}

/// How long the gateway keeps a finished document — delivered to every next hop with a verified
/// receipt, and acknowledged by every local receiving system — before a sweep removes its bytes,
/// metadata, deliveries and statuses. The gateway is a transit, not the archive: the receiving
/// office's records system keeps the document. The dedup tombstone (id → digest) stays, so a late
/// duplicate is still recognised and never delivered twice. Queued, in-transit and dead-lettered
/// documents are never swept.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Hours a finished document is kept after it was received (default 720 = 30 days, long
    /// enough for status reports and operator questions; 0 = sweep as soon as finished).
    pub keep_hours: u64,
    /// Seconds between sweeps (default 3,600).
    pub sweep_interval_secs: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_hours: 720,
            sweep_interval_secs: 3_600,
        }
    }
}

/// Listening addresses.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Office and inbox API (HTTPS).
    pub api: SocketAddr,
    /// Exchange API for peers (mutual TLS).
    pub exchange: SocketAddr,
}

/// Keys, by keystore name or `pkcs11:` reference.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Keystore directory.
    pub keystore: PathBuf,
    /// The organ's document-signing key.
    pub signing: String,
    /// The gateway's TLS key.
    pub tls: String,
    /// The key that signs this gateway's receipts and hop records (default: `signing`).
    ///
    /// Why a separate key: every document costs one receipt and one hop record per hop, and
    /// with the RSA-2048 document key those were two of the three private-key operations a
    /// document paid per hop. An ECDSA P-256 key with a document-signing certificate of the
    /// same organ signs ~30× faster; the documents themselves keep the organ's document key.
    #[serde(default)]
    pub receipts: Option<String>,
    /// A file holding the keystore passphrase (else `LIENTHONG_PASSPHRASE`).
    #[serde(default)]
    pub passphrase_file: Option<PathBuf>,
    /// Keystore keys that open `mat` documents sealed for this organ, current first; older
    /// ones stay listed after a rotation so that documents sealed for them still open. Each
    /// must have its encryption certificate installed. Empty: this gateway cannot receive
    /// `mat` documents for its organ (they are refused at delivery, never stored unread).
    #[serde(default)]
    pub encryption: Vec<String>,
}

/// Trust material.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// PEM files of trust anchors.
    pub anchors: Vec<PathBuf>,
    /// CRL files (PEM or DER).
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// What a document-signing leaf under one of `anchors` must carry, where it differs from
    /// the default (the docSigning EKU, 1.3.6.1.5.5.7.3.36, and no leaf without EKU).
    #[serde(default)]
    pub signing_policy: Vec<AnchorSigningPolicy>,
    /// Where the revocation status of a document signer's certificate is asked, in order, for
    /// every anchor: `["crl"]` (the default: the CRL files above; without any, revocation is
    /// not checked and verification says so), `["ocsp"]`, `["ocsp", "crl"]` or
    /// `["crl", "ocsp"]`. The first source that answers decides (a revocation is final); when
    /// a source cannot answer (responder down, stale answer, no CRL covering), the next is
    /// asked, and when none answers, verification fails closed.
    #[serde(default = "default_revocation")]
    pub revocation: Vec<String>,
    /// An OCSP responder URL (`http://…`) asked instead of the one in each certificate's
    /// authorityInfoAccess. Default: none (the AIA URL).
    #[serde(default)]
    pub ocsp_responder: Option<String>,
    /// How long an OCSP answer without nextUpdate is fresh, seconds after its thisUpdate.
    /// Default 3600.
    #[serde(default = "default_ocsp_max_age")]
    pub ocsp_max_age_seconds: u64,
    /// How long one OCSP request may take, milliseconds. Default 5000.
    #[serde(default = "default_ocsp_timeout")]
    pub ocsp_timeout_ms: u64,
}

fn default_revocation() -> Vec<String> {
    vec!["crl".to_owned()]
}

fn default_ocsp_max_age() -> u64 {
    crate::sign::ocsp::DEFAULT_MAX_AGE_SECS
}

fn default_ocsp_timeout() -> u64 {
    crate::sign::ocsp::DEFAULT_TIMEOUT_MS
}

/// The revocation sources `[trust] revocation` may name.
pub const REVOCATION_SOURCES: [&str; 2] = ["crl", "ocsp"];

/// The signing rule for the document-signing leaves under one trust-anchor file
/// (`[[trust.signing_policy]]`), for a national CA that issues, e.g., emailProtection leaves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSigningPolicy {
    /// The anchor file this rule is for: one of `trust.anchors`, as written there.
    pub anchor: PathBuf,
    /// A leaf must carry at least one of these extended key usages (dotted OIDs).
    pub ekus: Vec<String>,
    /// Whether a leaf without the extendedKeyUsage extension is accepted (default: no).
    #[serde(default)]
    pub allow_no_eku: bool,
}

impl Trust {
    /// The signing rule configured for the anchor file `anchor`, if any.
    pub fn signing_policy_for(&self, anchor: &Path) -> Option<&AnchorSigningPolicy> {
        self.signing_policy.iter().find(|p| p.anchor == anchor)
    }
}

/// A peer gateway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's organ id (must match its TLS certificate's organ binding).
    pub organ: OrganId,
    /// Its exchange URL, `https://host:port`.
    pub url: String,
    /// Further exchange URLs of the same peer (the nodes of a gateway that runs as several),
    /// tried in order when the one in use cannot be reached.
    #[serde(default)]
    pub urls: Vec<String>,
    /// The highest level that may travel over this link.
    pub clearance: Level,
}

/// An API client credential.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// A name for logs.
    pub name: String,
    /// The organ the client acts for.
    pub organ: String,
    /// Roles: `submit`, `receive`, `admin`.
    pub roles: Vec<Role>,
    /// SHA-256 of the bearer token, hex (the token itself is never stored).
    pub token_sha256: String,
    /// The highest level this client may see.
    pub clearance: Level,
    /// The level a document this client submits **without a label** gets: an edXML document
    /// as the platform's SDKs write it carries no `lt:Classification` (docs/EDXML.md). No
    /// default: a client without it has its unlabelled documents refused (`label/missing`),
    /// never taken as unclassified. Set together with `external_default_procedure`.
    #[serde(default)]
    pub external_default_level: Option<Level>,
    /// The procedure (a code of the catalog) given with `external_default_level`; the
    /// catalog's level for it still raises the document's level.
    #[serde(default)]
    pub external_default_procedure: Option<crate::doc::types::ProcedureCode>,
}

/// What an API client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submit documents and follow them.
    Submit,
    /// Poll, fetch, acknowledge and report status.
    Receive,
    /// Operate the gateway.
    Admin,
}

/// Limits, each with its default's reason.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body in bytes (default 16 MiB: an envelope with a few scanned pages).
    /// The exchange listener accepts 4/3 of it plus 256 KiB: a sealed `mat` document carries
    /// the signed submission base64-encoded ([`Limits::max_exchange_body_bytes`]).
    pub max_body_bytes: usize,
    /// Longest a client may take, in seconds, from connecting to having sent its first request
    /// head (TLS handshake included), and to send each later request's head on a kept-alive
    /// connection (default 10: slowloris).
    pub header_timeout_secs: u64,
    /// Longest one request may take, in seconds (default 60; long polls are capped below it).
    pub request_timeout_secs: u64,
    /// Concurrent connections per listener (default 512). Sized for a small server: a
    /// connection costs at most ~150 KiB (64 KiB request-head buffer, rustls' 64 KiB send and
    /// 16 KiB record buffers, the task) and one file descriptor, so both listeners full hold
    /// ~150 MiB and 1,024 descriptors;
    /// start-up warns when the process may open fewer files than that.
    pub max_connections: usize,
    /// Concurrent connections per listener from one source — an IPv4 address or an IPv6 /64
    /// (default 64).
    pub max_connections_per_ip: usize,
    /// Of those, connections still in their TLS handshake or before their first request head
    /// (default 32, half of them; at most `max_connections_per_ip`): what one source can hold in
    /// the state a slowloris lives in — enough for an office system that opens its whole pool of
    /// connections at once.
    pub max_pending_per_ip: usize,
    /// Most hops a document may take (default 8: commune → central is 4).
    pub max_hops: usize,
    /// Longest long-poll wait, in seconds (default 30).
    pub max_wait_secs: u64,
    /// Outbox depth per peer before submissions get 503 (default 100,000).
    pub max_outbox_per_peer: usize,
    /// Free space kept on the data directory's file system for the work that frees space
    /// (relay, acks, receipts, purges), in percent of the file system (default 5; at most
    /// `disk_reserve_max_bytes`): below it new documents get 507 and `/readyz` is not ready.
    pub disk_reserve_percent: f64,
    /// Upper bound of that reserve in bytes (default 512 MiB).
    pub disk_reserve_max_bytes: u64,
    /// Failed authentications from one source (or for one token prefix) answered at once in a
    /// window; later ones are slowed (default 5).
    pub auth_free_failures: u32,
    /// The window failures are counted in, in seconds (default 60).
    pub auth_failure_window_secs: u64,
    /// Longest delay before a failed authentication is answered, in milliseconds (default
    /// 5,000; the delay doubles from 100 ms with each failure past the free ones).
    pub auth_max_delay_ms: u64,
    /// Submissions handled at once (and, separately, deliveries from peers); more wait up to
    /// `admission_wait_ms`, then get 503 `overload` (default 32: the blocking pool's share
    /// that keeps group commit fed on two cores; memory ≤ this × `max_body_bytes` × ~4).
    pub max_inflight_documents: usize,
    /// How long a document waits for a slot before 503, in milliseconds (default 250).
    pub admission_wait_ms: u64,
}

impl Limits {
    /// Largest delivery body on the exchange: a sealed `mat` document carries the signed
    /// submission base64-encoded inside its outer envelope (4/3 of it, plus the signatures and
    /// the wrapped keys), so a peer must accept that much for every document its offices may
    /// submit (`max_body_bytes`).
    pub fn max_exchange_body_bytes(&self) -> usize {
        self.max_body_bytes
            .saturating_div(3)
            .saturating_mul(4)
            .saturating_add(256 * 1024)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            header_timeout_secs: 10,
            request_timeout_secs: 60,
            max_connections: 512,
            max_connections_per_ip: 64,
            max_pending_per_ip: 32,
            max_hops: 8,
            max_wait_secs: 30,
            max_outbox_per_peer: 100_000,
            disk_reserve_percent: 5.0,
            disk_reserve_max_bytes: 512 * 1024 * 1024,
            auth_free_failures: 5,
            auth_failure_window_secs: 60,
            auth_max_delay_ms: 5_000,
            max_inflight_documents: 32,
            admission_wait_ms: 250,
        }
    }
}

/// Relay retry policy: exponential backoff with jitter, then dead letter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// First retry delay in milliseconds (default 200).
    pub initial_ms: u64,
    /// Largest delay in milliseconds (default 60,000).
    pub max_ms: u64,
    /// Attempts before dead-lettering (default 20).
    pub max_attempts: u32,
    /// Connect + TLS handshake timeout in milliseconds (default 5,000).
    pub connect_timeout_ms: u64,
    /// Whole-attempt timeout in milliseconds (default 30,000).
    pub attempt_timeout_ms: u64,
    /// Concurrent deliveries per peer (default 8).
    pub concurrency: usize,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            initial_ms: 200,
            max_ms: 60_000,
            max_attempts: 20,
            connect_timeout_ms: 5_000,
            attempt_timeout_ms: 30_000,
            concurrency: 8,
        }
    }
}

impl Retry {
    /// The delay before attempt `n` (1-based), jittered into [d/2, d].
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .initial_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        let d = exp.min(self.max_ms);
        let j = jitter.clamp(0.0, 1.0);
        // d/2 + j·d/2 in integer milliseconds.
        let half = d / 2;
        let extra = (half as f64 * j) as u64;
        Duration::from_millis(half + extra)
    }
}

impl Config {
    /// Where the store lives: `<data_dir>/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// Reads, parses and validates a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut config = Self::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            path: origin.to_owned(),
            reason: e.to_string(),
        };
        check_organ_ids(&toml::from_str(text).map_err(syntax)?, origin)?;
        let config: Self = toml::from_str(text).map_err(syntax)?;
        config.validate(origin)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.catalog);
        if let Some(p) = &mut self.store.password_file {
            fix(p);
        }
        if let Some(p) = &mut self.store.ca {
            fix(p);
        }
        fix(&mut self.keys.keystore);
        if let Some(p) = &mut self.keys.passphrase_file {
            fix(p);
        }
        self.trust.anchors.iter_mut().for_each(fix);
        self.trust.crls.iter_mut().for_each(fix);
        self.encryption.certificates.iter_mut().for_each(fix);
        if let Some(d) = &mut self.encryption.directory {
            fix(d);
        }
        for t in &mut self.encryption.tokens {
            fix(&mut t.certificate);
        }
        for p in &mut self.trust.signing_policy {
            fix(&mut p.anchor);
        }
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        // This gateway's organ id, and the trust anchors it needs.
        self.validate_identity(origin)?;
        self.validate_signing_policies(origin)?;
        self.validate_revocation(origin)?;
        // The peers, the routes through them, and the API clients.
        self.validate_peers(origin)?;
        self.validate_routes(origin)?;
        self.validate_clients(origin)?;
        // The limits, the retry schedule and the retention sweep.
        self.validate_limits(origin)?;
        self.validate_retry_and_retention(origin)?;
        self.validate_store(origin)
    }

    /// `[store]`: PostgreSQL needs a URL and a pool of at least one session; sled takes none
    /// of PostgreSQL's settings (a setting that would be ignored is refused, not ignored).
    fn validate_store(&self, origin: &str) -> Result<(), ConfigError> {
        let s = &self.store;
        match s.engine {
            StoreEngine::Postgres if s.url.is_none() => Err(invalid(
                origin,
                "store.url",
                "engine = \"postgres\" needs url = \"postgresql://user@host/database\"".into(),
            )),
            StoreEngine::Postgres if s.pool_size == Some(0) => Err(invalid(
                origin,
                "store.pool_size",
                "must be positive".into(),
            )),
            StoreEngine::Sled
                if s.url.is_some()
                    || s.password_file.is_some()
                    || s.ca.is_some()
                    || s.pool_size.is_some()
                    || s.node.is_some() =>
            {
                Err(invalid(
                    origin,
                    "store",
                    "url, password_file, ca, pool_size and node are for engine = \"postgres\""
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// `organ` is an organ id and `trust.anchors` names at least one anchor.
    fn validate_identity(&self, origin: &str) -> Result<(), ConfigError> {
        // The organ is an `OrganId` (its form checked by `check_organ_ids`, before typing).
        if self.trust.anchors.is_empty() {
            return Err(invalid(
                origin,
                "trust.anchors",
                "at least one trust anchor is required".into(),
            ));
        }
        Ok(())
    }

    /// Each `[[peers]]`: an organ id other than ours, listed once, over https, cleared for no
    /// more than `mat`.
    fn validate_peers(&self, origin: &str) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.peers.iter().enumerate() {
            if p.organ == self.organ {
                return Err(invalid(
                    origin,
                    &format!("peers[{i}].organ"),
                    "a gateway is not its own peer".into(),
                ));
            }
            if !seen.insert(p.organ.as_str()) {
                return Err(invalid(
                    origin,
                    &format!("peers[{i}].organ"),
                    format!("{} listed twice", p.organ),
                ));
            }
            if !p.url.starts_with("https://") {
                return Err(invalid(
                    origin,
                    &format!("peers[{i}].url"),
                    "must be https://".into(),
                ));
            }
            if let Some(j) = p.urls.iter().position(|u| !u.starts_with("https://")) {
                return Err(invalid(
                    origin,
                    &format!("peers[{i}].urls[{j}]"),
                    "must be https://".into(),
                ));
            }
            if p.clearance > Level::Mat {
                return Err(invalid(
                    origin,
                    &format!("peers[{i}].clearance"),
                    "toi-mat and tuyet-mat never travel over the network".into(),
                ));
            }
        }
        Ok(())
    }

    /// Each `[routes]` entry: `default` or an organ id, whose next hop is a configured peer.
    fn validate_routes(&self, origin: &str) -> Result<(), ConfigError> {
        for (dest, hop) in &self.routes {
            if dest != "default" && !organ_ok(dest) {
                return Err(invalid(
                    origin,
                    &format!("routes.{dest}"),
                    "not an organ id".into(),
                ));
            }
            if !self.peers.iter().any(|p| &p.organ == hop) {
                return Err(invalid(
                    origin,
                    &format!("routes.{dest}"),
                    format!("next hop {hop} is not a configured peer"),
                ));
            }
        }
        Ok(())
    }

    /// Each `[[clients]]`: a SHA-256 token hash in hex, at least one role, an organ id.
    fn validate_clients(&self, origin: &str) -> Result<(), ConfigError> {
        for (i, c) in self.clients.iter().enumerate() {
            if c.token_sha256.len() != 64 || !c.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(invalid(
                    origin,
                    &format!("clients[{i}].token_sha256"),
                    "must be 64 hex digits".into(),
                ));
            }
            if c.roles.is_empty() {
                return Err(invalid(
                    origin,
                    &format!("clients[{i}].roles"),
                    "at least one role".into(),
                ));
            }
            if !organ_ok(&c.organ) {
                return Err(invalid(
                    origin,
                    &format!("clients[{i}].organ"),
                    "not an organ id".into(),
                ));
            }
            if c.external_default_level.is_some() != c.external_default_procedure.is_some() {
                return Err(invalid(
                    origin,
                    &format!("clients[{i}].external_default_level"),
                    "external_default_level and external_default_procedure go together".into(),
                ));
            }
        }
        Ok(())
    }

    /// `[limits]`: hops 1..=32, positive connection limits, a disk reserve of 0..=50 %, a
    /// positive authentication-failure window.
    fn validate_limits(&self, origin: &str) -> Result<(), ConfigError> {
        if self.limits.max_hops == 0 || self.limits.max_hops > 32 {
            return Err(invalid(origin, "limits.max_hops", "must be 1..=32".into()));
        }
        if self.limits.max_connections == 0
            || self.limits.max_connections_per_ip == 0
            || self.limits.max_pending_per_ip == 0
        {
            return Err(invalid(
                origin,
                "limits",
                "max_connections, max_connections_per_ip and max_pending_per_ip must be positive"
                    .into(),
            ));
        }
        let pct = self.limits.disk_reserve_percent;
        if !(0.0..=50.0).contains(&pct) {
            return Err(invalid(
                origin,
                "limits.disk_reserve_percent",
                "must be 0..=50".into(),
            ));
        }
        if self.limits.auth_failure_window_secs == 0 {
            return Err(invalid(
                origin,
                "limits.auth_failure_window_secs",
                "must be positive".into(),
            ));
        }
        Ok(())
    }

    /// `[retry]` and `[retention]`: positive attempts, first delay and sweep interval.
    fn validate_retry_and_retention(&self, origin: &str) -> Result<(), ConfigError> {
        if self.retry.max_attempts == 0 || self.retry.initial_ms == 0 {
            return Err(invalid(
                origin,
                "retry",
                "max_attempts and initial_ms must be positive".into(),
            ));
        }
        if self.retention.sweep_interval_secs == 0 {
            return Err(invalid(
                origin,
                "retention.sweep_interval_secs",
                "must be positive".into(),
            ));
        }
        Ok(())
    }

    /// `trust.revocation` names known sources, each once; the OCSP settings are usable.
    fn validate_revocation(&self, origin: &str) -> Result<(), ConfigError> {
        let t = &self.trust;
        if t.revocation.is_empty() {
            return Err(invalid(
                origin,
                "trust.revocation",
                "empty: name \"crl\", \"ocsp\" or both".into(),
            ));
        }
        for (i, source) in t.revocation.iter().enumerate() {
            let field = format!("trust.revocation[{i}]");
            if !REVOCATION_SOURCES.contains(&source.as_str()) {
                let reason = format!("unknown revocation source {source:?}: \"crl\" or \"ocsp\"");
                return Err(invalid(origin, &field, reason));
            }
            if t.revocation.iter().take(i).any(|s| s == source) {
                return Err(invalid(
                    origin,
                    &field,
                    format!("{source:?} is named twice"),
                ));
            }
        }
        if let Some(url) = &t.ocsp_responder {
            if !url.starts_with("http://") || url.len() <= "http://".len() {
                let reason = format!("{url:?} is not an http:// URL (OCSP responses are signed)");
                return Err(invalid(origin, "trust.ocsp_responder", reason));
            }
        }
        if t.ocsp_timeout_ms == 0 {
            return Err(invalid(
                origin,
                "trust.ocsp_timeout_ms",
                "must be positive".into(),
            ));
        }
        if t.ocsp_max_age_seconds == 0 {
            return Err(invalid(
                origin,
                "trust.ocsp_max_age_seconds",
                "must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Each `[[trust.signing_policy]]` names a listed anchor file, once, with at least one EKU.
    fn validate_signing_policies(&self, origin: &str) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.trust.signing_policy.iter().enumerate() {
            let reason = if !self.trust.anchors.contains(&p.anchor) {
                Some(format!(
                    "{} is not one of trust.anchors",
                    p.anchor.display()
                ))
            } else if !seen.insert(&p.anchor) {
                Some(format!("a second rule for {}", p.anchor.display()))
            } else if p.ekus.is_empty() {
                Some("ekus is empty: name at least one extended key usage".to_owned())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ConfigError::Invalid {
                    path: origin.to_owned(),
                    field: format!("trust.signing_policy[{i}]"),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The next-hop peer for a destination organ: a direct peer, an explicit route, or the
    /// default route; `None` when there is no way.
    pub fn next_hop(&self, destination: &str) -> Option<&Peer> {
        if let Some(p) = self.peers.iter().find(|p| p.organ == destination) {
            return Some(p);
        }
        let hop = self
            .routes
            .get(destination)
            .or_else(|| self.routes.get("default"))?;
        self.peers.iter().find(|p| &p.organ == hop)
    }
}

/// An invalid value of `field` in the config read from `origin`.
fn invalid(origin: &str, field: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        path: origin.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

/// Whether `o` has the form of an organ id (`OrganId`'s rule: `[0-9A-Z.]{1,35}`).
fn organ_ok(o: &str) -> bool {
    o.parse::<OrganId>().is_ok()
}

/// The organ ids of the file (this gateway's and each peer's) are typed [`OrganId`]s in the
/// config; one that is not an organ id is named as an invalid value of its field, as every
/// other inconsistent value is, before the typed reading would call it a syntax error.
fn check_organ_ids(table: &toml::Table, origin: &str) -> Result<(), ConfigError> {
    // The reasons are the ones `validate` gave before these fields were typed.
    if let Some(toml::Value::String(o)) = table.get("organ") {
        if !organ_ok(o) {
            return Err(invalid(
                origin,
                "organ",
                format!("{o:?} is not [0-9A-Z.]{{1,35}}"),
            ));
        }
    }
    let peers = match table.get("peers") {
        Some(toml::Value::Array(peers)) => peers.as_slice(),
        _ => &[],
    };
    for (i, peer) in peers.iter().enumerate() {
        if let Some(toml::Value::String(o)) = peer.get("organ") {
            if !organ_ok(o) {
                let field = format!("peers[{i}].organ");
                return Err(invalid(origin, &field, format!("{o:?} is not an organ id")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
organ = "TU.BENTRE"
data_dir = "data"
catalog = "procedures.toml"
[listen]
api = "127.0.0.1:7401"
exchange = "127.0.0.1:7402"
[keys]
keystore = "keystore"
signing = "signing"
tls = "tls"
[trust]
anchors = ["root.pem"]
[[peers]]
organ = "VPTW"
url = "https://127.0.0.1:7302"
clearance = "mat"
[[peers]]
organ = "HU.CHAUTHANH"
url = "https://127.0.0.1:7502"
clearance = "thuong"
[routes]
default = "VPTW"
"#;

    #[test]
    fn parses_and_routes() {
        let c = Config::parse(GOOD, "t").unwrap();
        assert_eq!(c.next_hop("HU.CHAUTHANH").unwrap().organ, "HU.CHAUTHANH");
        assert_eq!(c.next_hop("TU.OTHER").unwrap().organ, "VPTW");
        assert_eq!(c.limits.max_hops, 8);
    }

    #[test]
    fn revocation_defaults_to_crls_and_refuses_unknown_sources_by_field() {
        let c = Config::parse(GOOD, "t").unwrap();
        assert_eq!(c.trust.revocation, vec!["crl".to_owned()]);
        assert_eq!(c.trust.ocsp_timeout_ms, 5000);
        let with = |extra: &str| {
            GOOD.replace(
                "anchors = [\"root.pem\"]",
                &format!("anchors = [\"root.pem\"]\n{extra}"),
            )
        };
        let c = Config::parse(
            &with("revocation = [\"ocsp\", \"crl\"]\nocsp_responder = \"http://127.0.0.1:1/\""),
            "t",
        )
        .unwrap();
        assert_eq!(
            c.trust.revocation,
            vec!["ocsp".to_owned(), "crl".to_owned()]
        );
        for (extra, field) in [
            ("revocation = [\"ocsp\", \"ldap\"]", "trust.revocation[1]"),
            ("revocation = [\"crl\", \"crl\"]", "trust.revocation[1]"),
            ("revocation = []", "trust.revocation"),
            ("ocsp_responder = \"https://x\"", "trust.ocsp_responder"),
            ("ocsp_timeout_ms = 0", "trust.ocsp_timeout_ms"),
            ("ocsp_max_age_seconds = 0", "trust.ocsp_max_age_seconds"),
        ] {
            let e = Config::parse(&with(extra), "t").unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { field: f, .. } if f == field),
                "{extra}: {e}"
            );
        }
    }

    #[test]
    fn refuses_unknown_keys() {
        let e = Config::parse(&format!("{GOOD}\n[extra]\nx=1\n"), "t").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
        let e = Config::parse(&GOOD.replace("data_dir", "datadir"), "t").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    }

    #[test]
    fn refuses_inconsistent_values() {
        let bad = GOOD.replace("default = \"VPTW\"", "default = \"NOPE\"");
        assert!(matches!(
            Config::parse(&bad, "t").unwrap_err(),
            ConfigError::Invalid { .. }
        ));
        let bad = GOOD.replace("clearance = \"mat\"", "clearance = \"toi-mat\"");
        assert!(matches!(
            Config::parse(&bad, "t").unwrap_err(),
            ConfigError::Invalid { .. }
        ));
        let bad = GOOD.replace("organ = \"TU.BENTRE\"", "organ = \"tu.bentre\"");
        assert!(matches!(
            Config::parse(&bad, "t").unwrap_err(),
            ConfigError::Invalid { .. }
        ));
        let bad = GOOD.replace("https://127.0.0.1:7302", "http://127.0.0.1:7302");
        assert!(matches!(
            Config::parse(&bad, "t").unwrap_err(),
            ConfigError::Invalid { .. }
        ));
    }

    #[test]
    fn signing_policy_names_a_listed_anchor_once() {
        let rule = |anchor: &str, ekus: &str| {
            GOOD.replace(
                "[[peers]]\norgan = \"VPTW\"",
                &format!(
                    "[[trust.signing_policy]]\nanchor = \"{anchor}\"\nekus = [{ekus}]\n\n[[peers]]\norgan = \"VPTW\""
                ),
            )
        };
        let c = Config::parse(&rule("root.pem", "\"1.3.6.1.5.5.7.3.4\""), "t").unwrap();
        let p = c.trust.signing_policy_for(&c.trust.anchors[0]).unwrap();
        assert_eq!(p.ekus, ["1.3.6.1.5.5.7.3.4"]);
        assert!(!p.allow_no_eku);
        for bad in [
            rule("other.pem", "\"1.3.6.1.5.5.7.3.4\""),
            rule("root.pem", ""),
        ] {
            let e = Config::parse(&bad, "t").unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { field, .. } if field == "trust.signing_policy[0]"),
                "{e}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = Retry::default();
        assert_eq!(r.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(r.backoff(2, 1.0), Duration::from_millis(400));
        assert_eq!(r.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(r.backoff(30, 1.0), Duration::from_millis(60_000));
    }
}
