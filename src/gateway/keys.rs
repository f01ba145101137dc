//! Loads the keys a gateway runs with from its keystore (or a PKCS#11 token for signing).

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use super::GatewayKeys;
use crate::config::Config;
use crate::pki::{Keystore, Passphrase};
use crate::tls::{TlsIdentity, certs_from_pem};

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// No passphrase: neither `keys.passphrase_file` nor `LIENTHONG_PASSPHRASE`.
    #[error("no keystore passphrase: set keys.passphrase_file or LIENTHONG_PASSPHRASE")]
    NoPassphrase,
    /// The keystore refused.
    #[error(transparent)]
    Keystore(#[from] crate::pki::KeystoreError),
    /// PKI error (PKCS#11 and friends).
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// A key has no certificate installed.
    #[error("key {0} has no certificate installed (keys install-cert)")]
    NoCertificate(String),
    /// Certificates or anchors are malformed.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// An encryption key does not open with its certificate.
    #[error("encryption key: {0}")]
    Seal(#[from] crate::seal::SealError),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
}

fn passphrase(config: &Config) -> Result<Passphrase, KeysError> {
    if let Some(f) = &config.keys.passphrase_file {
        return Ok(Passphrase::from_file(f)?);
    }
    match Passphrase::from_env() {
        Some(p) => Ok(p?),
        None => Err(KeysError::NoPassphrase),
    }
}

/// Loads the signing key, the TLS key, their chains, and the anchors and CRLs for TLS.
pub fn load(config: &Config) -> Result<GatewayKeys, KeysError> {
    let pass = passphrase(config)?;
    let ks = Keystore::open(&config.keys.keystore)?;
    let signer: Arc<dyn crate::sign::Signer> = Arc::from(crate::pki::load_signer(
        &config.keys.signing,
        Some(&config.keys.keystore),
        Some(&pass),
    )?);
    let chain_pem = ks
        .cert_chain_pem(&config.keys.signing)?
        .ok_or_else(|| KeysError::NoCertificate(config.keys.signing.clone()))?;
    let signing_chain = certs_from_pem(chain_pem.as_bytes(), "signing certificate")?;
    let (receipt_signer, receipt_chain): (Arc<dyn crate::sign::Signer>, _) =
        match &config.keys.receipts {
            Some(name) if *name != config.keys.signing => {
                let signer =
                    crate::pki::load_signer(name, Some(&config.keys.keystore), Some(&pass))?;
                let pem = ks
                    .cert_chain_pem(name)?
                    .ok_or_else(|| KeysError::NoCertificate(name.clone()))?;
                (
                    Arc::from(signer),
                    certs_from_pem(pem.as_bytes(), "receipt certificate")?,
                )
            }
            _ => (signer.clone(), signing_chain.clone()),
        };

    let tls_der = ks.load_pkcs8(&config.keys.tls, &pass)?;
    let tls_chain_pem = ks
        .cert_chain_pem(&config.keys.tls)?
        .ok_or_else(|| KeysError::NoCertificate(config.keys.tls.clone()))?;
    let chain = certs_from_pem(tls_chain_pem.as_bytes(), "TLS certificate")?;
    let mut roots = Vec::new();
    for a in &config.trust.anchors {
        let pem = std::fs::read(a).map_err(|e| KeysError::Read {
            path: a.display().to_string(),
            reason: e.to_string(),
        })?;
        roots.extend(certs_from_pem(&pem, &a.display().to_string())?);
    }
    let mut crls = Vec::new();
    for c in &config.trust.crls {
        let bytes = std::fs::read(c).map_err(|e| KeysError::Read {
            path: c.display().to_string(),
            reason: e.to_string(),
        })?;
        use rustls_pki_types::pem::PemObject;
        let der = if bytes.starts_with(b"-----") {
            rustls_pki_types::CertificateRevocationListDer::from_pem_slice(&bytes).map_err(|e| {
                KeysError::Read {
                    path: c.display().to_string(),
                    reason: e.to_string(),
                }
            })?
        } else {
            rustls_pki_types::CertificateRevocationListDer::from(bytes)
        };
        crls.push(der);
    }
    let (decryption, encryption_chains) = encryption_keys(config, &ks, &pass)?;
    Ok(GatewayKeys {
        decryption,
        encryption_chains,
        signer,
        signing_chain,
        receipt_signer,
        receipt_chain,
        tls: TlsIdentity {
            chain,
            key: PrivatePkcs8KeyDer::from(tls_der.to_vec()),
            roots,
            crls,
        },
    })
}

/// The chains of the decryption keys, leaf first, same order as the keys.
type Chains = Vec<Vec<CertificateDer<'static>>>;

/// The keys of `keys.encryption` (keystore, each with its installed certificate chain), then
/// those of `[[encryption.tokens]]` (PKCS#11, each with its certificate file).
fn encryption_keys(
    config: &Config,
    ks: &Keystore,
    pass: &Passphrase,
) -> Result<(Vec<crate::seal::SharedKey>, Chains), KeysError> {
    let mut keys: Vec<crate::seal::SharedKey> = Vec::new();
    let mut chains = Vec::new();
    for name in &config.keys.encryption {
        let der = ks.load_pkcs8(name, pass)?;
        let pem = ks
            .cert_chain_pem(name)?
            .ok_or_else(|| KeysError::NoCertificate(name.clone()))?;
        let chain = certs_from_pem(pem.as_bytes(), "encryption certificate")?;
        let leaf = chain
            .first()
            .ok_or_else(|| KeysError::NoCertificate(name.clone()))?;
        let key = crate::seal::SoftwareKey::from_pkcs8_der(name, &der, leaf)?;
        keys.push(Arc::new(key));
        chains.push(chain);
    }
    for t in &config.encryption.tokens {
        let pem = std::fs::read(&t.certificate).map_err(|e| KeysError::Read {
            path: t.certificate.display().to_string(),
            reason: e.to_string(),
        })?;
        let chain = certs_from_pem(&pem, &t.certificate.display().to_string())?;
        let leaf = chain
            .first()
            .ok_or_else(|| KeysError::NoCertificate(t.uri.clone()))?;
        let uri = crate::pki::Pkcs11Uri::parse(&t.uri).map_err(crate::pki::PkiError::from)?;
        let key = crate::pki::pkcs11::Pkcs11Decrypter::open(&uri, leaf)
            .map_err(crate::pki::PkiError::from)?;
        keys.push(Arc::new(key));
        chains.push(chain);
    }
    Ok((keys, chains))
}

/// Reads one CRL file, PEM or DER.
pub fn read_crl(
    path: &std::path::Path,
) -> Result<rustls_pki_types::CertificateRevocationListDer<'static>, KeysError> {
    use rustls_pki_types::pem::PemObject;
    let read_err = |reason: String| KeysError::Read {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    if bytes.starts_with(b"-----") {
        rustls_pki_types::CertificateRevocationListDer::from_pem_slice(&bytes)
            .map_err(|e| read_err(e.to_string()))
    } else {
        Ok(rustls_pki_types::CertificateRevocationListDer::from(bytes))
    }
}
