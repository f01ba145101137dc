//! The certificate half of verification: leaf, webpki path to an anchor, CRL, key usage,
//! organ binding, and the window in which that answer may be cached.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{
    EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::super::cache::ChainKey;
use super::super::trust::{RevocationSource, SigningPolicy, TrustStore};
use super::{ChainFailure, RevocationStatus, SignerIdentity, VerifyError, VerifyOptions};

/// What the certificate half of verification established about one presented chain: the
/// leaf's key for the signature check, who it names, and the window of verification times in
/// which that answer holds. Made only by [`certify`]; cached per trust store.
pub(crate) struct VerifiedChain {
    pub(super) key: LeafKey,
    pub(super) organ: String,
    subject: String,
    serial: String,
    not_before: String,
    not_after: String,
    pub(super) revocation_checked: bool,
    /// Which source answered for the leaf.
    pub(super) revocation: RevocationStatus,
    /// The signing rule of the anchor the path reached (`SigningPolicy::describe`).
    rule: String,
    /// The latest notBefore on the path, seconds since the epoch (inclusive).
    valid_from: u64,
    /// The earliest notAfter on the path or nextUpdate of a CRL in the store (exclusive).
    valid_until: u64,
}

impl VerifiedChain {
    /// Whether a full check at `at` (seconds since the epoch) is known to give this answer.
    pub(crate) fn holds_at(&self, at: u64) -> bool {
        self.valid_from <= at && at < self.valid_until
    }

    /// Whether any instant lies in the window (an entry without one is never stored).
    pub(crate) fn has_window(&self) -> bool {
        self.valid_from < self.valid_until
    }

    pub(super) fn identity(&self, algorithm: &'static str) -> SignerIdentity {
        SignerIdentity {
            organ: self.organ.clone(),
            subject: self.subject.clone(),
            serial: self.serial.clone(),
            not_before: self.not_before.clone(),
            not_after: self.not_after.clone(),
            algorithm,
            eku_rule: self.rule.clone(),
        }
    }
}

/// The leaf's public key, as the signature check reads it from the certificate.
pub(super) struct LeafKey {
    /// `RSA`, `EC`, `Ed25519` or `unsupported` (named in `KeyMismatch`).
    pub(super) kind: &'static str,
    /// subjectPublicKey, the bytes ring verifies with.
    pub(super) bytes: Vec<u8>,
    /// RSA modulus length in bits (0 for other keys or an unreadable RSA key).
    pub(super) rsa_bits: usize,
}

impl LeafKey {
    fn of(cert: &X509Certificate<'_>) -> Self {
        let spki = cert.public_key();
        let kind = match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.113549.1.1.1" => "RSA",
            "1.2.840.10045.2.1" => "EC",
            "1.3.101.112" => "Ed25519",
            _ => "unsupported",
        };
        let rsa_bits = match (kind, spki.parsed()) {
            ("RSA", Ok(x509_parser::public_key::PublicKey::RSA(k))) => {
                k.modulus.iter().skip_while(|b| **b == 0).count() * 8
            }
            _ => 0,
        };
        Self {
            kind,
            bytes: spki.subject_public_key.data.to_vec(),
            rsa_bits,
        }
    }
}

/// The certificate half of every verification: the leaf's key must verify the signature
/// (`check_signature`, run on every call), then the chain must reach an anchor, pass the CRLs,
/// carry the right key usages and bind an organ. Answered from `trust`'s cache when these same
/// certificates verified before and `options.at` lies in the entry's window; a failure is
/// never remembered.
pub(super) fn certify(
    certificates: &[CertificateDer<'static>],
    trust: &TrustStore,
    options: &VerifyOptions,
    check_signature: impl FnOnce(&LeafKey, &str) -> Result<(), VerifyError>,
) -> Result<Arc<VerifiedChain>, VerifyError> {
    let key = ChainKey::of(certificates);
    if let Some(chain) = trust.cache().get(&key, options.at.as_secs()) {
        check_signature(&chain.key, &chain.subject)?;
        return Ok(chain);
    }

    // The leaf: the certificate that issued no other certificate in KeyInfo.
    let (leaf, intermediates) = pick_leaf(certificates)?;
    let leaf_cert = parse_cert(&leaf)?;
    let subject = leaf_cert.subject().to_string();
    let serial = leaf_cert.raw_serial_as_string().replace(':', "");
    let leaf_key = LeafKey::of(&leaf_cert);
    check_signature(&leaf_key, &subject)?;

    let ChainChecked {
        revocation,
        revocation_until,
        path,
        policy,
    } = check_chain(&leaf, &intermediates, trust, options, &subject, &serial)?;
    check_leaf_usage(&leaf_cert, &subject, &policy)?;
    let organ = organ_binding(&leaf_cert, &subject)?;

    // The window: webpki checks notBefore <= t <= notAfter on every certificate of the path
    // (not the anchor, which has no validity here) and t < nextUpdate on the CRL. notAfter is
    // taken as exclusive — a second early, never late.
    let validity = leaf_cert.validity();
    let mut valid_from = secs(validity.not_before.timestamp());
    let mut valid_until = secs(validity.not_after.timestamp())
        .min(trust.crls_until())
        .min(revocation_until);
    for der in &path {
        match parse_cert(der) {
            Ok(c) => {
                valid_from = valid_from.max(secs(c.validity().not_before.timestamp()));
                valid_until = valid_until.min(secs(c.validity().not_after.timestamp()));
            }
            // webpki read it, x509-parser cannot: no window, nothing cached.
            Err(_) => valid_until = 0,
        }
    }

    let chain = Arc::new(VerifiedChain {
        key: leaf_key,
        organ,
        subject,
        serial,
        not_before: rfc3339(validity.not_before.to_datetime()),
        not_after: rfc3339(validity.not_after.to_datetime()),
        revocation_checked: revocation != RevocationStatus::NotChecked,
        revocation,
        rule: policy.describe(),
        valid_from,
        valid_until,
    });
    trust.cache().insert(key, Arc::clone(&chain));
    Ok(chain)
}

/// The organ of the leaf's one SAN URI `urn:lienthong:organ:…`; none and several are two
/// different refusals.
fn organ_binding(cert: &X509Certificate<'_>, subject: &str) -> Result<String, VerifyError> {
    let organs = crate::tls::organs_of_parsed(cert);
    match organs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(VerifyError::NoOrganBinding {
            subject: subject.to_owned(),
        }),
        many => Err(VerifyError::AmbiguousOrganBinding {
            subject: subject.to_owned(),
            organs: many.to_vec(),
        }),
    }
}

/// Seconds since the epoch; instants before 1970 count as 0 (a window bound, never widened:
/// an early notBefore only matters as a lower bound, and a notAfter before 1970 is long past).
fn secs(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

pub(super) fn parse_cert<'a>(
    der: &'a CertificateDer<'_>,
) -> Result<X509Certificate<'a>, VerifyError> {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, c)| c)
        .map_err(|e| VerifyError::BadCertificate {
            reason: e.to_string(),
        })
}

/// The leaf is the certificate that is not the issuer of another one in the set (xmlsec1 and
/// other tools do not all put the leaf first).
pub(super) fn pick_leaf(
    certs: &[CertificateDer<'static>],
) -> Result<(CertificateDer<'static>, Vec<CertificateDer<'static>>), VerifyError> {
    let parsed = certs
        .iter()
        .map(parse_cert)
        .collect::<Result<Vec<_>, _>>()?;
    let index = parsed
        .iter()
        .position(|c| {
            !parsed.iter().any(|o| {
                !std::ptr::eq(o, c) && o.issuer() == c.subject() && o.subject() != c.subject()
            })
        })
        .unwrap_or(0);
    let mut rest = certs.to_vec();
    if index >= rest.len() {
        return Err(VerifyError::NoCertificate);
    }
    let leaf = rest.remove(index);
    Ok((leaf, rest))
}

/// Algorithms webpki may meet on the chain itself (the CA's signatures on certificates).
static CHAIN_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
];

/// What the chain check established: which revocation source answered (and until when an
/// OCSP answer holds), the intermediates webpki used and the policy of the anchor reached.
pub(super) struct ChainChecked {
    pub(super) revocation: RevocationStatus,
    /// An OCSP answer's end (exclusive), seconds since the epoch; `u64::MAX` otherwise.
    pub(super) revocation_until: u64,
    pub(super) path: Vec<CertificateDer<'static>>,
    pub(super) policy: SigningPolicy,
}

/// One webpki walk's result: intermediates used, the anchor's policy and certificate.
struct Walked {
    used: Vec<CertificateDer<'static>>,
    policy: SigningPolicy,
    anchor: Option<CertificateDer<'static>>,
}

pub(super) fn check_chain(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    trust: &TrustStore,
    options: &VerifyOptions,
    subject: &str,
    serial: &str,
) -> Result<ChainChecked, VerifyError> {
    let chain_err = |reason: ChainFailure| VerifyError::Chain {
        subject: subject.to_owned(),
        serial: serial.to_owned(),
        reason,
    };
    let ee = EndEntityCert::try_from(leaf).map_err(|e| VerifyError::BadCertificate {
        reason: e.to_string(),
    })?;
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = trust.crls().iter().collect();
    let crls = revocation_options(&crl_refs);
    let walk = |revocation: Option<webpki::RevocationOptions<'_>>| {
        walk(&ee, intermediates, trust, options, revocation)
    };
    if trust.revocation_order() == [RevocationSource::Crl] {
        // Today's check, unchanged: the CRLs (if any) inside the one webpki walk.
        let w = walk(crls).map_err(|e| chain_err(classify(e)))?;
        let revocation = if crls.is_some() {
            RevocationStatus::Crl
        } else {
            RevocationStatus::NotChecked
        };
        return Ok(ChainChecked {
            revocation,
            revocation_until: u64::MAX,
            path: w.used,
            policy: w.policy,
        });
    }
    // The path first, without revocation; then each source in the configured order.
    let w = walk(None).map_err(|e| chain_err(classify(e)))?;
    let mut first_failure = None;
    for source in trust.revocation_order() {
        let asked = match source {
            RevocationSource::Crl => ask_crl(crls.is_some(), || walk(crls).map(|_| ())),
            RevocationSource::Ocsp => ask_ocsp(leaf, &w, trust, options),
        };
        match asked {
            Asked::Answered(revocation, revocation_until) => {
                return Ok(ChainChecked {
                    revocation,
                    revocation_until,
                    path: w.used,
                    policy: w.policy,
                });
            }
            Asked::Final(reason) => return Err(chain_err(reason)),
            Asked::NoAnswer(reason) => {
                first_failure.get_or_insert(reason);
            }
        }
    }
    // Fail closed: the first source's reason is the one the operator configured first.
    Err(chain_err(first_failure.unwrap_or_else(|| {
        ChainFailure::NoRevocationSource("no source configured".to_owned())
    })))
}

/// One webpki walk at `options.at`, retried at `at + clock_skew` when a certificate is not yet
/// valid (a CA whose clock runs ahead issued it moments ago).
fn walk(
    ee: &EndEntityCert<'_>,
    intermediates: &[CertificateDer<'_>],
    trust: &TrustStore,
    options: &VerifyOptions,
    revocation: Option<webpki::RevocationOptions<'_>>,
) -> Result<Walked, webpki::Error> {
    let run = |at: UnixTime| {
        ee.verify_for_usage(
            CHAIN_ALGS,
            trust.anchors(),
            intermediates,
            at,
            ChainEku(trust),
            revocation,
            None,
        )
        // The intermediates webpki actually used: their validity bounds the cache window.
        .map(|path| Walked {
            policy: trust.policy_of(path.anchor()).cloned().unwrap_or_default(),
            anchor: trust.anchor_cert(path.anchor()).cloned(),
            used: path
                .intermediate_certificates()
                .map(|c| c.der().into_owned())
                .collect::<Vec<_>>(),
        })
    };
    match run(options.at) {
        Err(webpki::Error::CertNotValidYet { .. }) => {
            let later =
                UnixTime::since_unix_epoch(options.at.as_secs_duration() + options.clock_skew);
            run(later)
        }
        other => other,
    }
}

/// What one revocation source said.
enum Asked {
    /// Not revoked, by this source, until the given instant (`u64::MAX`: the CRL's own window).
    Answered(RevocationStatus, u64),
    /// Revoked, or a chain failure no other source can mend.
    Final(ChainFailure),
    /// This source could not answer: the next is asked.
    NoAnswer(ChainFailure),
}

/// The CRL source: webpki again, this time with the CRLs.
fn ask_crl(has_crls: bool, walk: impl FnOnce() -> Result<(), webpki::Error>) -> Asked {
    if !has_crls {
        return Asked::NoAnswer(ChainFailure::NoRevocationSource(
            "no CRL is configured".to_owned(),
        ));
    }
    match walk() {
        Ok(()) => Asked::Answered(RevocationStatus::Crl, u64::MAX),
        Err(e @ (webpki::Error::CrlExpired { .. } | webpki::Error::UnknownRevocationStatus)) => {
            Asked::NoAnswer(classify(e))
        }
        Err(e) => Asked::Final(classify(e)),
    }
}

/// The OCSP source: the leaf's issuer is the intermediate (or anchor) on the walked path
/// whose subject is the leaf's issuer name.
fn ask_ocsp(
    leaf: &CertificateDer<'_>,
    walked: &Walked,
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Asked {
    use crate::sign::ocsp::OcspError;
    let Some(ocsp) = trust.ocsp() else {
        return Asked::NoAnswer(ChainFailure::Ocsp(Box::new(OcspError::Unreachable {
            url: "(none)".to_owned(),
            reason: "no OCSP client is wired into this trust store".to_owned(),
        })));
    };
    let issuer_name = parse_cert(leaf).map(|c| c.issuer().as_raw().to_vec());
    let issuer = walked.used.iter().chain(walked.anchor.iter()).find(|c| {
        let subject = parse_cert(c).map(|p| p.subject().as_raw().to_vec());
        matches!((&subject, &issuer_name), (Ok(a), Ok(b)) if a == b)
    });
    let Some(issuer) = issuer else {
        return Asked::NoAnswer(ChainFailure::Ocsp(Box::new(OcspError::BadCertificate {
            reason: "the leaf's issuer is not on the verified path".to_owned(),
        })));
    };
    match ocsp.check(leaf.as_ref(), issuer.as_ref(), options.at.as_secs()) {
        Ok(a) => Asked::Answered(
            RevocationStatus::Ocsp {
                url: a.url,
                this_update: a.this_update,
                next_update: a.next_update,
            },
            a.until,
        ),
        Err(e @ OcspError::Revoked { .. }) => Asked::Final(ChainFailure::Ocsp(Box::new(e))),
        Err(e) => Asked::NoAnswer(ChainFailure::Ocsp(Box::new(e))),
    }
}

/// webpki checks extendedKeyUsage on every certificate of the path (the CAs' included) before
/// it knows the anchor: there, a certificate without EKU passes, and one with EKU must carry a
/// purpose that some anchor's policy accepts. The leaf is then held to the policy of the
/// anchor the path actually reached (`check_leaf_usage`).
struct ChainEku<'a>(&'a TrustStore);

impl ExtendedKeyUsageValidator for ChainEku<'_> {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut empty = true;
        for id in iter {
            empty = false;
            let id = id?;
            let accepted = self
                .0
                .policies()
                .iter()
                .flat_map(|p| p.ders())
                .any(|der| KeyPurposeId::new(der) == id);
            if accepted {
                return Ok(());
            }
        }
        if empty {
            Ok(())
        } else {
            Err(webpki::Error::RequiredEkuNotFoundContext(
                webpki::RequiredEkuNotFoundContext {
                    required: webpki::KeyUsage::required(super::DOC_SIGNING_OID),
                    present: Vec::new(),
                },
            ))
        }
    }
}

/// The end-entity CRL check every chain here gets: an uncovered or stale status is refused.
/// `None` without CRLs.
fn revocation_options<'a>(
    crls: &'a [&'a webpki::CertRevocationList<'a>],
) -> Option<webpki::RevocationOptions<'a>> {
    RevocationOptionsBuilder::new(crls).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build()
    })
}

/// Checks an organ's *encryption* certificate (profile `encryption`, issue 22) the way a
/// document-signing chain is checked — path to an anchor, validity at `at`, revocation against
/// the store's CRLs at end-entity depth — except for purpose: a certificate of the path may carry
/// no EKU, or emailProtection (the S/MIME purpose other CAs give encryption certificates).
/// The key usage (keyEncipherment) and the organ binding are the caller's to check.
pub fn check_encryption_chain(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    trust: &TrustStore,
    at: UnixTime,
) -> Result<(), ChainFailure> {
    let ee = EndEntityCert::try_from(leaf).map_err(classify)?;
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = trust.crls().iter().collect();
    let revocation = revocation_options(&crl_refs);
    ee.verify_for_usage(
        CHAIN_ALGS,
        trust.anchors(),
        intermediates,
        at,
        EncryptionEku,
        revocation,
        None,
    )
    .map(|_| ())
    .map_err(classify)
}

/// 1.3.6.1.5.5.7.3.4, emailProtection, DER value bytes.
const EMAIL_PROTECTION: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];

struct EncryptionEku;

impl ExtendedKeyUsageValidator for EncryptionEku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut empty = true;
        for id in iter {
            empty = false;
            if id? == KeyPurposeId::new(EMAIL_PROTECTION) {
                return Ok(());
            }
        }
        if empty {
            Ok(())
        } else {
            Err(webpki::Error::RequiredEkuNotFoundContext(
                webpki::RequiredEkuNotFoundContext {
                    required: webpki::KeyUsage::required(EMAIL_PROTECTION),
                    present: Vec::new(),
                },
            ))
        }
    }
}

trait AsSecs {
    fn as_secs_duration(&self) -> std::time::Duration;
}

impl AsSecs for UnixTime {
    fn as_secs_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.as_secs())
    }
}

pub(crate) fn classify(e: webpki::Error) -> ChainFailure {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => ChainFailure::Expired,
        E::CertNotValidYet { .. } => ChainFailure::NotYetValid,
        E::CertRevoked => ChainFailure::Revoked,
        E::CrlExpired { .. } => ChainFailure::StaleCrl,
        E::UnknownRevocationStatus => ChainFailure::UnknownRevocation,
        E::UnknownIssuer => ChainFailure::UnknownIssuer,
        E::RequiredEkuNotFoundContext(_) => ChainFailure::Eku,
        E::CaUsedAsEndEntity => ChainFailure::CaUsedAsEndEntity,
        E::EndEntityUsedAsCa => ChainFailure::EndEntityUsedAsCa,
        E::NameConstraintViolation => ChainFailure::NameConstraint,
        E::PathLenConstraintViolated | E::MaximumPathDepthExceeded => ChainFailure::PathLength,
        E::InvalidSignatureForPublicKey | E::InvalidCrlSignatureForPublicKey => {
            ChainFailure::ChainSignature
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedCrlSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => ChainFailure::ChainAlgorithm,
        E::CertNotValidForName(_) => ChainFailure::Name,
        E::IssuerNotCrlSigner => ChainFailure::CrlIssuer,
        E::BadDer
        | E::BadDerTime
        | E::UnsupportedCertVersion
        | E::UnsupportedCriticalExtension
        | E::ExtensionValueInvalid
        | E::TrailingData(_)
        | E::MalformedExtensions => ChainFailure::Malformed(e.to_string()),
        other => ChainFailure::Other(other.to_string()),
    }
}

/// RFC 5280 §4.2.1.3 / §4.2.1.12 on the leaf itself, with x509-parser on the same certificate:
/// webpki's EKU check is chain-wide and "if present", and it does not refuse a leaf asserting
/// keyCertSign (x509-limbo `rfc5280::leaf-ku-keycertsign`). The EKU rule is the policy of the
/// anchor the path reached (`SigningPolicy`).
pub(super) fn check_leaf_usage(
    cert: &X509Certificate<'_>,
    subject: &str,
    policy: &SigningPolicy,
) -> Result<(), VerifyError> {
    let bad = |e: x509_parser::error::X509Error| VerifyError::BadCertificate {
        reason: e.to_string(),
    };
    match cert.key_usage().map_err(bad)? {
        // §4.2.1.3: keyCertSign only with cA = TRUE; a leaf asserting it is mis-issued.
        Some(ku) if ku.value.key_cert_sign() => {
            return Err(VerifyError::KeyCertSignOnLeaf {
                subject: subject.to_owned(),
            });
        }
        Some(ku) if ku.value.digital_signature() || ku.value.non_repudiation() => {}
        // Neither signing bit, or (the national CA always sets it) no keyUsage at all.
        Some(_) | None => {
            return Err(VerifyError::KeyUsage {
                subject: subject.to_owned(),
            });
        }
    }
    match cert.extended_key_usage().map_err(bad)? {
        Some(eku) => {
            let present = eku_oids(eku.value);
            if policy.ekus().iter().any(|want| present.contains(want)) {
                Ok(())
            } else {
                Err(VerifyError::ExtendedKeyUsage {
                    subject: subject.to_owned(),
                    required: policy.ekus().join(" or "),
                })
            }
        }
        None if policy.allow_no_eku() => Ok(()),
        None => Err(VerifyError::NoExtendedKeyUsage {
            subject: subject.to_owned(),
        }),
    }
}

/// The key purposes of an extendedKeyUsage extension, as dotted OIDs (RFC 5280 §4.2.1.12).
fn eku_oids(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<String> {
    let named = [
        (eku.any, "2.5.29.37.0"),
        (eku.server_auth, "1.3.6.1.5.5.7.3.1"),
        (eku.client_auth, "1.3.6.1.5.5.7.3.2"),
        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
    ];
    named
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, oid)| (*oid).to_owned())
        .chain(eku.other.iter().map(|o| o.to_id_string()))
        .collect()
}
