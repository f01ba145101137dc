//! What a verifier trusts: anchors (root certificates) and certificate revocation lists, loaded
//! from PEM (or DER for CRLs) once and shared — and the cache of chains verified against them
//! (`super::cache`), which lives and dies with them.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor};
use webpki::OwnedCertRevocationList;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::cache::{CacheStats, ChainCache};

/// Why trust material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A PEM file held no certificate.
    #[error("{path}: no CERTIFICATE block found")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// A certificate is not usable as a trust anchor.
    #[error("{path}: certificate is not a usable trust anchor: {reason}")]
    BadAnchor {
        /// The file.
        path: String,
        /// webpki's reason.
        reason: String,
    },
    /// A CRL could not be parsed.
    #[error("{path}: not a valid CRL: {reason}")]
    BadCrl {
        /// The file.
        path: String,
        /// The reason.
        reason: String,
    },
}

/// Trust anchors and CRLs. Without CRLs, revocation is not checked, and verification results say
/// so (`VerifiedDocument::revocation_checked`).
///
/// A store also caches the chains it verified (see [`TrustStore::cache_stats`]); a reload makes
/// a new store, so a new CRL is never answered from an entry made under the old one.
#[derive(Debug)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    crls: Vec<webpki::CertRevocationList<'static>>,
    /// The earliest nextUpdate of the CRLs, seconds since the epoch (`u64::MAX` without CRLs):
    /// no cached chain answers at or after it, since webpki then refuses the CRL as stale.
    crls_until: u64,
    cache: ChainCache,
}

impl Default for TrustStore {
    fn default() -> Self {
        Self {
            anchors: Vec::new(),
            crls: Vec::new(),
            crls_until: u64::MAX,
            cache: ChainCache::default(),
        }
    }
}

impl TrustStore {
    /// An empty store (verifies nothing until anchors are added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every certificate in a PEM file as a trust anchor.
    pub fn add_anchors_pem_file(&mut self, path: &Path) -> Result<usize, TrustError> {
        let bytes = read(path)?;
        self.add_anchors_pem(&bytes, &path.display().to_string())
    }

    /// Adds every certificate in PEM bytes as a trust anchor; `source` names them in errors.
    pub fn add_anchors_pem(&mut self, pem: &[u8], source: &str) -> Result<usize, TrustError> {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TrustError::BadAnchor {
                path: source.to_owned(),
                reason: e.to_string(),
            })?;
            self.add_anchor_der(&cert, source)?;
            added += 1;
        }
        if added == 0 {
            return Err(TrustError::NoCertificate {
                path: source.to_owned(),
            });
        }
        Ok(added)
    }

    /// Adds one DER certificate as a trust anchor.
    pub fn add_anchor_der(
        &mut self,
        cert: &CertificateDer<'_>,
        source: &str,
    ) -> Result<(), TrustError> {
        let anchor = webpki::anchor_from_trusted_cert(cert).map_err(|e| TrustError::BadAnchor {
            path: source.to_owned(),
            reason: e.to_string(),
        })?;
        self.anchors.push(anchor.to_owned());
        // Another anchor can make a chain verify that did not: nothing cached may stand.
        self.cache.clear();
        Ok(())
    }

    /// Adds a CRL file, PEM (`X509 CRL`) or DER.
    pub fn add_crl_file(&mut self, path: &Path) -> Result<(), TrustError> {
        let bytes = read(path)?;
        self.add_crl(&bytes, &path.display().to_string())
    }

    /// Adds CRL bytes, PEM or DER.
    pub fn add_crl(&mut self, bytes: &[u8], source: &str) -> Result<(), TrustError> {
        let bad = |reason: String| TrustError::BadCrl {
            path: source.to_owned(),
            reason,
        };
        let der: Vec<u8> = if bytes.starts_with(b"-----") {
            CertificateRevocationListDer::from_pem_slice(bytes)
                .map_err(|e| bad(e.to_string()))?
                .as_ref()
                .to_vec()
        } else {
            bytes.to_vec()
        };
        let crl = OwnedCertRevocationList::from_der(&der).map_err(|e| bad(e.to_string()))?;
        // webpki keeps nextUpdate to itself; read it here for the cache windows. A CRL webpki
        // accepted but x509-parser cannot date gives 0: no cached answer is then ever used.
        let next_update = CertificateRevocationList::from_der(&der)
            .ok()
            .and_then(|(_, c)| c.next_update())
            .and_then(|t| u64::try_from(t.timestamp()).ok())
            .unwrap_or(0);
        self.crls.push(crl.into());
        self.crls_until = self.crls_until.min(next_update);
        // A new CRL may revoke a certificate whose chain is cached.
        self.cache.clear();
        Ok(())
    }

    /// The anchors.
    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The CRLs.
    pub(crate) fn crls(&self) -> &[webpki::CertRevocationList<'static>] {
        &self.crls
    }

    /// The earliest nextUpdate of the CRLs (`u64::MAX` without CRLs), seconds since the epoch.
    pub(crate) fn crls_until(&self) -> u64 {
        self.crls_until
    }

    /// The chains verified against this store.
    pub(crate) fn cache(&self) -> &ChainCache {
        &self.cache
    }

    /// How often verification against this store was answered from its chain cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|e| TrustError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
