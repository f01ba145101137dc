//! rustls configurations for the exchange (peer ↔ peer, mutual TLS) and the API listener, on the
//! ring provider only, and the binding from a verified certificate to an organ id.
//!
//! Protocols: TLS 1.3, and TLS 1.2 only with the ECDHE + AEAD suites ring's provider offers (no
//! RSA key exchange, no CBC, no renegotiation — rustls implements none of those).

mod leaf;

use std::sync::Arc;

pub use leaf::KeyCertSignOnLeaf;
use leaf::LeafRules;
use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The SAN URI prefix that binds a certificate to an organ (shared with document signing).
pub const ORGAN_URI_PREFIX: &str = "urn:lienthong:organ:";

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// PEM material is malformed or empty.
    #[error("{what}: {reason}")]
    Pem {
        /// Which input.
        what: String,
        /// The reason.
        reason: String,
    },
    /// rustls refused the configuration (bad key, no anchors, …).
    #[error("TLS configuration refused: {0}")]
    Rustls(String),
}

/// The key and certificate chain this gateway presents, plus what it trusts.
pub struct TlsIdentity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// PKCS#8 private key (zeroized by rustls' own types on drop).
    pub key: PrivatePkcs8KeyDer<'static>,
    /// Trust anchors for peers.
    pub roots: Vec<CertificateDer<'static>>,
    /// CRLs for peers' certificates.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("chain_len", &self.chain.len())
            .field("roots", &self.roots.len())
            .field("crls", &self.crls.len())
            .finish_non_exhaustive()
    }
}

/// The one crypto provider: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn roots(id: &TlsIdentity) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for r in &id.roots {
        store
            .add(r.clone())
            .map_err(|e| TlsError::Rustls(format!("trust anchor: {e}")))?;
    }
    Ok(Arc::new(store))
}

fn key(id: &TlsIdentity) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(id.key.clone_key())
}

/// How every listener checks a client certificate: chain to `roots`, the CRLs (the issuing CA's,
/// covering leaf certificates; an intermediate is trusted through its anchor), stale CRLs
/// refused (nextUpdate enforced), no keyCertSign on the leaf (`leaf.rs`); without
/// `required`, a client may present none. `lienthong pki check-chain --purpose tls-client` runs
/// this.
pub fn client_verifier(
    roots: Arc<RootCertStore>,
    crls: &[CertificateRevocationListDer<'static>],
    required: bool,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let builder = WebPkiClientVerifier::builder_with_provider(roots, provider())
        .with_crls(crls.iter().cloned())
        .only_check_end_entity_revocation()
        .enforce_revocation_expiration();
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    let inner = builder
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Arc::new(LeafRules(inner)))
}

/// How every peer client checks a server certificate (same CRL and leaf rules as
/// [`client_verifier`]). `lienthong pki check-chain --purpose tls-server` runs this.
pub fn server_verifier(
    roots: Arc<RootCertStore>,
    crls: &[CertificateRevocationListDer<'static>],
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .with_crls(crls.iter().cloned())
        .only_check_end_entity_revocation()
        .enforce_revocation_expiration()
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Arc::new(LeafRules(inner)))
}

/// Server side of the exchange: a client certificate chaining to the anchors (and not revoked)
/// is required.
pub fn exchange_server_config(id: &TlsIdentity) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(id, true, None)
}

/// [`exchange_server_config`] serving `staple` (a DER OCSP response for our certificate,
/// RFC 6066 §8) to clients that ask for it.
pub fn exchange_server_config_stapled(
    id: &TlsIdentity,
    staple: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(id, true, staple)
}

/// [`api_server_config`] serving `staple`.
pub fn api_server_config_stapled(
    id: &TlsIdentity,
    staple: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(id, false, staple)
}

/// Server side of the office/inbox API: a client certificate is optional (bearer tokens are the
/// usual credential) but, if presented, must verify.
pub fn api_server_config(id: &TlsIdentity) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(id, false, None)
}

fn server_config(
    id: &TlsIdentity,
    client_cert_required: bool,
    staple: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = client_verifier(roots(id)?, &id.crls, client_cert_required)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert_with_ocsp(
            id.chain.clone(),
            key(id),
            staple.map(<[u8]>::to_vec).unwrap_or_default(),
        )
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The server's order (ring's: AES-256-GCM, then AES-128-GCM, then ChaCha20-Poly1305; ECDHE
    // only), not the client's: a client cannot steer the choice to its weakest offer.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Client side of the exchange: presents our certificate, verifies the peer's chain and name.
/// The caller then checks that the peer's certificate names the organ it meant
/// ([`organ_of_certificate`]).
pub fn exchange_client_config(id: &TlsIdentity) -> Result<Arc<ClientConfig>, TlsError> {
    exchange_client_config_with(id, |v| v)
}

/// [`exchange_client_config`] with the server verifier wrapped by `wrap` — the relay adds
/// its check of a peer's OCSP staple (`relay::ocsp::StapleCheck`) this way, on top of every
/// check of [`server_verifier`].
pub fn exchange_client_config_with(
    id: &TlsIdentity,
    wrap: impl FnOnce(Arc<dyn ServerCertVerifier>) -> Arc<dyn ServerCertVerifier>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = wrap(server_verifier(roots(id)?, &id.crls)?);
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(id.chain.clone(), key(id))
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The organ a certificate is bound to: its one SAN URI `urn:lienthong:organ:<ID>`. Call only on
/// a certificate that rustls/webpki already verified.
pub fn organ_of_certificate(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    organ_of_parsed(&cert)
}

/// As [`organ_of_certificate`], on a parsed certificate.
pub fn organ_of_parsed(cert: &X509Certificate<'_>) -> Option<String> {
    match organs_of_parsed(cert).as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Every organ id bound by a SAN URI `urn:lienthong:organ:<ID>` (a valid certificate has one).
pub fn organs_of_parsed(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => u.strip_prefix(ORGAN_URI_PREFIX).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// Reads every certificate of a PEM file.
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}
