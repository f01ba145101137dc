//! What a verifier trusts: anchors (root certificates) and certificate revocation lists, loaded
//! from PEM (or DER for CRLs) once and shared.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor};
use webpki::OwnedCertRevocationList;

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
#[derive(Debug, Default)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    crls: Vec<webpki::CertRevocationList<'static>>,
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
        self.crls.push(crl.into());
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
}

fn read(path: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|e| TrustError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
