//! What a verifier trusts: anchors (root certificates) and certificate revocation lists, loaded
//! from PEM (or DER for CRLs) once and shared — and the cache of chains verified against them
//! (`super::cache`), which lives and dies with them.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor};
use webpki::OwnedCertRevocationList;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::cache::{CacheStats, ChainCache};
use super::ocsp::Ocsp;

/// A source of revocation status for a document signer's certificate (`[trust] revocation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationSource {
    /// The store's CRLs (webpki, end-entity depth).
    Crl,
    /// The CA's OCSP responder (`super::ocsp`).
    Ocsp,
}

impl RevocationSource {
    /// The source a config word names (`crl`, `ocsp`), `None` for any other word.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "crl" => Some(Self::Crl),
            "ocsp" => Some(Self::Ocsp),
            _ => None,
        }
    }

    /// The config word.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
        }
    }
}

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
    /// An extended key usage OID in a signing policy is not a dotted OID.
    #[error("{source_name}: {oid:?} is not a dotted object identifier (e.g. 1.3.6.1.5.5.7.3.36)")]
    BadOid {
        /// Where the policy came from.
        source_name: String,
        /// The text given.
        oid: String,
    },
    /// A CRL without the cRLNumber extension, which RFC 5280 §5.2.3 requires of every CRL
    /// issuer (x509-limbo `crl::crlnumber-missing`; webpki alone accepts it).
    #[error("{path}: the CRL has no cRLNumber (RFC 5280 §5.2.3 requires one)")]
    CrlWithoutNumber {
        /// The file.
        path: String,
    },
    /// A CRL whose cRLNumber extension is marked critical, which RFC 5280 §5.2.3 forbids
    /// (x509-limbo `crl::crlnumber-critical`; webpki alone accepts it).
    #[error("{path}: the CRL's cRLNumber is marked critical (RFC 5280 §5.2.3: non-critical)")]
    CrlNumberCritical {
        /// The file.
        path: String,
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

/// The docSigning key purpose, id-kp-documentSigning (RFC 9336 §3.1).
pub const DOC_SIGNING_EKU: &str = "1.3.6.1.5.5.7.3.36";

/// What a document-signing leaf must carry to be accepted under one trust anchor.
///
/// The README promises that a certificate "missing docSigning usage" is refused; RFC 5280
/// §4.2.1.12 would read a leaf without extendedKeyUsage as "any purpose", so whether that is
/// allowed is a rule of its own. A national CA's profile may use another OID (emailProtection,
/// or its own): the cryptography officer names it for that anchor only, without weakening the
/// others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningPolicy {
    /// The leaf must carry at least one of these key purposes (dotted OIDs). Default: docSigning.
    ekus: Vec<String>,
    /// Whether a leaf without the extendedKeyUsage extension is accepted. Default: no.
    allow_no_eku: bool,
    /// DER contents of each OID in `ekus`, for webpki.
    ders: Vec<Vec<u8>>,
}

impl Default for SigningPolicy {
    fn default() -> Self {
        Self {
            ekus: vec![DOC_SIGNING_EKU.to_owned()],
            allow_no_eku: false,
            ders: vec![oid_der(DOC_SIGNING_EKU).unwrap_or_default()],
        }
    }
}

impl SigningPolicy {
    /// A policy requiring one of `ekus` (dotted OIDs; empty means docSigning) and allowing a
    /// leaf without extendedKeyUsage only if `allow_no_eku`.
    pub fn new(ekus: &[String], allow_no_eku: bool, source: &str) -> Result<Self, TrustError> {
        let ekus: Vec<String> = if ekus.is_empty() {
            vec![DOC_SIGNING_EKU.to_owned()]
        } else {
            ekus.to_vec()
        };
        let ders = ekus
            .iter()
            .map(|o| {
                oid_der(o).ok_or_else(|| TrustError::BadOid {
                    source_name: source.to_owned(),
                    oid: o.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            ekus,
            allow_no_eku,
            ders,
        })
    }

    /// The key purposes of which the leaf must carry one (dotted OIDs).
    pub fn ekus(&self) -> &[String] {
        &self.ekus
    }

    /// Whether a leaf without extendedKeyUsage is accepted.
    pub fn allow_no_eku(&self) -> bool {
        self.allow_no_eku
    }

    /// DER contents of the OIDs (what webpki compares).
    pub(crate) fn ders(&self) -> &[Vec<u8>] {
        &self.ders
    }

    /// The rule in words, as `verify --json` reports it: `eku 1.3.6.1.5.5.7.3.36; no-eku refused`.
    pub fn describe(&self) -> String {
        let no_eku = if self.allow_no_eku {
            "accepted"
        } else {
            "refused"
        };
        format!("eku {}; no-eku {no_eku}", self.ekus.join("|"))
    }
}

/// DER contents (no tag, no length) of a dotted OID (X.690 §8.19), `None` if it is not one.
fn oid_der(dotted: &str) -> Option<Vec<u8>> {
    let arcs = dotted
        .split('.')
        .map(|a| {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                a.parse::<u64>().ok()
            }
        })
        .collect::<Option<Vec<u64>>>()?;
    let (first, second, rest) = match arcs.as_slice() {
        [f, s, rest @ ..] if *f <= 2 && (*f == 2 || *s < 40) => (*f, *s, rest),
        _ => return None,
    };
    let mut out = Vec::new();
    for arc in
        std::iter::once(first.checked_mul(40)?.checked_add(second)?).chain(rest.iter().copied())
    {
        let mut chunk = vec![u8::try_from(arc & 0x7f).ok()?];
        let mut v = arc >> 7;
        while v > 0 {
            chunk.push(u8::try_from(v & 0x7f).ok()? | 0x80);
            v >>= 7;
        }
        chunk.reverse();
        out.extend(chunk);
    }
    Some(out)
}

/// Trust anchors and CRLs. Without CRLs, revocation is not checked, and verification results say
/// so (`VerifiedDocument::revocation_checked`).
///
/// A store also caches the chains it verified (see [`TrustStore::cache_stats`]); a reload makes
/// a new store, so a new CRL is never answered from an entry made under the old one.
#[derive(Debug)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    /// The signing policy of each anchor, same index as `anchors`.
    policies: Vec<SigningPolicy>,
    crls: Vec<webpki::CertRevocationList<'static>>,
    /// The earliest nextUpdate of the CRLs, seconds since the epoch (`u64::MAX` without CRLs):
    /// no cached chain answers at or after it, since webpki then refuses the CRL as stale.
    crls_until: u64,
    cache: ChainCache,
    /// Each anchor's certificate, same index as `anchors` (the OCSP issuer of a leaf the
    /// anchor signed directly, and the key that signs or authorises that responder).
    anchor_certs: Vec<CertificateDer<'static>>,
    /// Where revocation is asked, in order (default: CRLs only).
    revocation: Vec<RevocationSource>,
    /// The OCSP client, shared across reloads; `None` makes the OCSP source unreachable.
    ocsp: Option<Arc<Ocsp>>,
}

impl Default for TrustStore {
    fn default() -> Self {
        Self {
            anchors: Vec::new(),
            policies: Vec::new(),
            crls: Vec::new(),
            crls_until: u64::MAX,
            cache: ChainCache::default(),
            anchor_certs: Vec::new(),
            revocation: vec![RevocationSource::Crl],
            ocsp: None,
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
        self.add_anchors_pem_with_policy(pem, source, &SigningPolicy::default())
    }

    /// As [`TrustStore::add_anchors_pem_file`], document-signing leaves under these anchors
    /// being held to `policy`.
    pub fn add_anchors_pem_file_with_policy(
        &mut self,
        path: &Path,
        policy: &SigningPolicy,
    ) -> Result<usize, TrustError> {
        let bytes = read(path)?;
        self.add_anchors_pem_with_policy(&bytes, &path.display().to_string(), policy)
    }

    /// As [`TrustStore::add_anchors_pem`], with a signing policy for these anchors.
    pub fn add_anchors_pem_with_policy(
        &mut self,
        pem: &[u8],
        source: &str,
        policy: &SigningPolicy,
    ) -> Result<usize, TrustError> {
        let mut added = 0;
        for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            // Name the position: "certificate #2" says which block of the file is wrong.
            let at = |reason: String| TrustError::BadAnchor {
                path: source.to_owned(),
                reason: format!("certificate #{}: {reason}", i + 1),
            };
            let cert = cert.map_err(|e| at(e.to_string()))?;
            self.add_anchor_der_with_policy(&cert, source, policy)
                .map_err(|e| match e {
                    TrustError::BadAnchor { reason, .. } => at(reason),
                    other => other,
                })?;
            added += 1;
        }
        if added == 0 {
            return Err(TrustError::NoCertificate {
                path: source.to_owned(),
            });
        }
        Ok(added)
    }

    /// Adds one DER certificate as a trust anchor (default signing policy: docSigning, no
    /// leaf without extendedKeyUsage).
    pub fn add_anchor_der(
        &mut self,
        cert: &CertificateDer<'_>,
        source: &str,
    ) -> Result<(), TrustError> {
        self.add_anchor_der_with_policy(cert, source, &SigningPolicy::default())
    }

    /// Adds one DER certificate as a trust anchor with its signing policy.
    pub fn add_anchor_der_with_policy(
        &mut self,
        cert: &CertificateDer<'_>,
        source: &str,
        policy: &SigningPolicy,
    ) -> Result<(), TrustError> {
        let anchor = webpki::anchor_from_trusted_cert(cert).map_err(|e| TrustError::BadAnchor {
            path: source.to_owned(),
            reason: e.to_string(),
        })?;
        self.anchors.push(anchor.to_owned());
        self.anchor_certs.push(cert.clone().into_owned());
        self.policies.push(policy.clone());
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
        let parsed = CertificateRevocationList::from_der(&der)
            .ok()
            .map(|(_, c)| c);
        if parsed.as_ref().is_some_and(|c| c.crl_number().is_none()) {
            return Err(TrustError::CrlWithoutNumber {
                path: source.to_owned(),
            });
        }
        let number_critical = |c: &CertificateRevocationList<'_>| {
            c.extensions()
                .iter()
                .any(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_CRL_NUMBER && e.critical)
        };
        if parsed.as_ref().is_some_and(number_critical) {
            return Err(TrustError::CrlNumberCritical {
                path: source.to_owned(),
            });
        }
        let next_update = parsed
            .and_then(|c| c.next_update())
            .and_then(|t| u64::try_from(t.timestamp()).ok())
            .unwrap_or(0);
        self.crls.push(crl.into());
        self.crls_until = self.crls_until.min(next_update);
        // A new CRL may revoke a certificate whose chain is cached.
        self.cache.clear();
        Ok(())
    }

    /// Asks revocation of `order`'s sources, first to last (see `[trust] revocation` in the
    /// config: a revocation is final; a source that cannot answer passes to the next; none
    /// answering fails closed). `ocsp` is the client the `Ocsp` source uses; without one that
    /// source never answers. An empty `order` keeps CRLs only.
    pub fn set_revocation(&mut self, order: Vec<RevocationSource>, ocsp: Option<Arc<Ocsp>>) {
        self.revocation = if order.is_empty() {
            vec![RevocationSource::Crl]
        } else {
            order
        };
        self.ocsp = ocsp;
        self.cache.clear();
    }

    /// Where revocation is asked, in order.
    pub fn revocation_order(&self) -> &[RevocationSource] {
        &self.revocation
    }

    /// The OCSP client, if one is wired.
    pub fn ocsp(&self) -> Option<&Arc<Ocsp>> {
        self.ocsp.as_ref()
    }

    /// The certificate of an anchor (matched by subject and key).
    pub(crate) fn anchor_cert(&self, anchor: &TrustAnchor<'_>) -> Option<&CertificateDer<'static>> {
        self.anchors
            .iter()
            .position(|a| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .and_then(|i| self.anchor_certs.get(i))
    }

    /// The anchors.
    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The signing policy of the anchor a path ended at (matched by subject and key).
    pub(crate) fn policy_of(&self, anchor: &TrustAnchor<'_>) -> Option<&SigningPolicy> {
        self.anchors
            .iter()
            .position(|a| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .and_then(|i| self.policies.get(i))
    }

    /// Every signing policy of the store (webpki's chain-wide EKU check takes their union).
    pub(crate) fn policies(&self) -> &[SigningPolicy] {
        &self.policies
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_der_encodes_doc_signing_and_refuses_non_oids() {
        assert_eq!(
            oid_der(DOC_SIGNING_EKU),
            Some(vec![0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24])
        );
        // 1.2.840.113549 has a multi-byte arc (840 = 0x86 0x48).
        assert_eq!(
            oid_der("1.2.840.113549"),
            Some(vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d])
        );
        for bad in ["", "1", "1..2", "3.1", "1.40", "a.b", "1.2.-3"] {
            assert_eq!(oid_der(bad), None, "{bad}");
        }
        assert!(matches!(
            SigningPolicy::new(&["x.y".into()], false, "t"),
            Err(TrustError::BadOid { .. })
        ));
    }
}
