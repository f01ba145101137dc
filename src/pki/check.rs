//! `lienthong pki check-chain`: one certificate chain checked for one purpose by the very code
//! the gateway runs for it — `sign::check_certificates` for document signing, the rustls
//! verifiers of `tls` for a peer's server or client certificate. No second implementation.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::sign::{ChainFailure, TrustStore, VerifyError, VerifyOptions};

/// What a chain is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// A document signer's certificate (`sign::verify`'s certificate half).
    DocSigning,
    /// A peer gateway's server certificate (the exchange client's verifier), checked for a name.
    TlsServer,
    /// A client certificate (the listeners' verifier).
    TlsClient,
}

impl Purpose {
    /// The purpose named on the command line (`doc-signing`, `tls-server`, `tls-client`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "doc-signing" => Some(Self::DocSigning),
            "tls-server" => Some(Self::TlsServer),
            "tls-client" => Some(Self::TlsClient),
            _ => None,
        }
    }
}

/// Why a chain check could not run, or refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A certificate in a PEM file is malformed (PEM or DER), named by file and position.
    #[error("{path}: certificate #{index} is malformed: {reason}")]
    BadCertificate {
        /// The file.
        path: String,
        /// 1-based position of the certificate in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A PEM file holds no certificate.
    #[error("{path}: no CERTIFICATE block")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// Trust material (anchor, CRL) was refused.
    #[error(transparent)]
    Trust(#[from] crate::sign::TrustError),
    /// `tls-server` needs a name, and it must be a DNS name or an IP address.
    #[error("--name {name:?} is not a DNS name or IP address (tls-server needs one)")]
    BadName {
        /// The name given.
        name: String,
    },
    /// The TLS verifier could not be built.
    #[error("cannot build the TLS verifier: {0}")]
    Verifier(String),
    /// The document-signing check refused the chain.
    #[error(transparent)]
    DocSigning(#[from] VerifyError),
    /// The TLS check refused the chain.
    #[error("certificate {subject} refused for {purpose}: {reason}")]
    Tls {
        /// The leaf's subject.
        subject: String,
        /// `tls-server` or `tls-client`.
        purpose: &'static str,
        /// The named reason.
        reason: ChainFailure,
    },
}

impl CheckError {
    /// Whether the chain was refused (exit 1), rather than the check unable to run (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::DocSigning(_) | Self::Tls { .. })
    }

    /// A stable name of the reason for `--json`: `VerifyError::kind`, `chain:<reason>`, or
    /// the input error's name.
    pub fn kind(&self) -> String {
        match self {
            Self::DocSigning(e) => e.kind(),
            Self::Tls { reason, .. } => format!("chain:{}", reason.kind()),
            Self::Read { .. } => "read".into(),
            Self::BadCertificate { .. } => "bad-certificate".into(),
            Self::NoCertificate { .. } => "no-certificate".into(),
            Self::Trust(_) => "trust".into(),
            Self::BadName { .. } => "bad-name".into(),
            Self::Verifier(_) => "verifier".into(),
        }
    }
}

/// One check: the inputs of `lienthong pki check-chain`, already read.
#[derive(Debug)]
pub struct ChainCheck {
    /// The trust anchors (DER).
    pub roots: Vec<CertificateDer<'static>>,
    /// The leaf.
    pub leaf: CertificateDer<'static>,
    /// Untrusted intermediates.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// CRLs (DER).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// The verification time.
    pub at: UnixTime,
    /// What for.
    pub purpose: Purpose,
    /// The expected DNS name or IP address (`tls-server`).
    pub name: Option<String>,
}

/// What an accepted chain was found to be.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChainAccepted {
    /// The leaf's subject.
    pub subject: String,
    /// The organ bound to a document-signing leaf.
    pub organ: Option<String>,
    /// The EKU rule applied (document signing).
    pub eku_rule: Option<String>,
}

/// Runs the check with the gateway's code for `check.purpose`.
pub fn check_chain(check: &ChainCheck) -> Result<ChainAccepted, CheckError> {
    let subject = subject_of(&check.leaf);
    match check.purpose {
        Purpose::DocSigning => {
            let mut trust = TrustStore::new();
            for r in &check.roots {
                trust.add_anchor_der(r, "--trust")?;
            }
            for c in &check.crls {
                trust.add_crl(c.as_ref(), "--crl")?;
            }
            let options = VerifyOptions {
                at: check.at,
                ..VerifyOptions::now()
            };
            let mut certs = vec![check.leaf.clone()];
            certs.extend(check.intermediates.iter().cloned());
            let id = crate::sign::check_certificates(&certs, &trust, &options)?;
            Ok(ChainAccepted {
                subject,
                organ: Some(id.organ().to_owned()),
                eku_rule: Some(id.eku_rule().to_owned()),
            })
        }
        Purpose::TlsServer | Purpose::TlsClient => check_tls(check, subject),
    }
}

fn check_tls(check: &ChainCheck, subject: String) -> Result<ChainAccepted, CheckError> {
    // The CRL profile rules lienthong applies on load (the gateway loads every CRL file into
    // its TrustStore too, so a CRL refused there never reaches the TLS verifiers).
    let mut profile = TrustStore::new();
    for c in &check.crls {
        profile.add_crl(c.as_ref(), "--crl")?;
    }
    let mut roots = RootCertStore::empty();
    for r in &check.roots {
        roots
            .add(r.clone())
            .map_err(|e| CheckError::Verifier(format!("trust anchor: {e}")))?;
    }
    let roots = Arc::new(roots);
    let (purpose, result) = if check.purpose == Purpose::TlsServer {
        let name = check.name.clone().unwrap_or_default();
        let server_name =
            ServerName::try_from(name.clone()).map_err(|_| CheckError::BadName { name })?;
        let verifier = crate::tls::server_verifier(roots, &check.crls)
            .map_err(|e| CheckError::Verifier(e.to_string()))?;
        let r = verifier
            .verify_server_cert(
                &check.leaf,
                &check.intermediates,
                &server_name,
                &[],
                check.at,
            )
            .map(|_| ());
        ("tls-server", r)
    } else {
        let verifier = crate::tls::client_verifier(roots, &check.crls, true)
            .map_err(|e| CheckError::Verifier(e.to_string()))?;
        let r = verifier
            .verify_client_cert(&check.leaf, &check.intermediates, check.at)
            .map(|_| ());
        ("tls-client", r)
    };
    result.map_err(|e| CheckError::Tls {
        subject: subject.clone(),
        purpose,
        reason: classify_rustls(e),
    })?;
    Ok(ChainAccepted {
        subject,
        organ: None,
        eku_rule: None,
    })
}

/// rustls's certificate errors as the named reasons of `ChainFailure`; a webpki error rustls
/// passes through as `Other` is classified as document verification classifies it.
fn classify_rustls(e: rustls::Error) -> ChainFailure {
    use CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = e else {
        return ChainFailure::Other(e.to_string());
    };
    match c {
        C::Expired | C::ExpiredContext { .. } => ChainFailure::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => ChainFailure::NotYetValid,
        C::Revoked => ChainFailure::Revoked,
        C::UnknownIssuer => ChainFailure::UnknownIssuer,
        C::UnknownRevocationStatus => ChainFailure::UnknownRevocation,
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => ChainFailure::StaleCrl,
        C::BadSignature => ChainFailure::ChainSignature,
        C::NotValidForName | C::NotValidForNameContext { .. } => ChainFailure::Name,
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => ChainFailure::Eku,
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(w) => crate::sign::verify::classify_webpki(w.clone()),
            None if other.0.is::<crate::tls::KeyCertSignOnLeaf>() => {
                ChainFailure::CaUsedAsEndEntity
            }
            None => ChainFailure::Other(other.to_string()),
        },
        C::BadEncoding | C::UnhandledCriticalExtension => ChainFailure::Malformed(c.to_string()),
        other => ChainFailure::Other(other.to_string()),
    }
}

fn subject_of(der: &CertificateDer<'_>) -> String {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, c)| c.subject().to_string())
        .unwrap_or_else(|_| "(unparsable certificate)".into())
}

/// Every certificate of a PEM file, each checked to be well-formed X.509; a bad one is named
/// by file and 1-based position (a raw DER error says neither).
pub fn certificates_pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CheckError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CheckError::Read {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let bad = |reason: String| CheckError::BadCertificate {
            path: name.clone(),
            index: i + 1,
            reason,
        };
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        match X509Certificate::from_der(cert.as_ref()) {
            Ok(([], _)) => {}
            Ok(_) => return Err(bad("trailing data after the certificate".into())),
            Err(e) => return Err(bad(e.to_string())),
        }
        out.push(cert);
    }
    if out.is_empty() {
        return Err(CheckError::NoCertificate { path: name });
    }
    Ok(out)
}

/// Every CRL of a PEM file (`X509 CRL` blocks) or one DER CRL.
pub fn crls_file(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, CheckError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CheckError::Read {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    if !bytes.starts_with(b"-----") {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    CertificateRevocationListDer::pem_slice_iter(&bytes)
        .enumerate()
        .map(|(i, c)| {
            c.map_err(|e| CheckError::BadCertificate {
                path: name.clone(),
                index: i + 1,
                reason: format!("CRL: {e}"),
            })
        })
        .collect()
}
