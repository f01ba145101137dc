//! Verifying an enveloped signature: one call checks structure, reference, digest, signature,
//! certificate chain, revocation, key usage and the organ binding — or says which failed.
//!
//! Signature wrapping cannot work because (1) exactly one `Signature` may exist in the whole
//! document, and only as a child of `edXMLHeader`; (2) exactly one `Reference`, with `URI=""`
//! (the whole document), and exactly the transforms enveloped-signature then exclusive c14n;
//! (3) the digest, `SignedInfo` and the envelope handed to the caller all come from one parsed
//! tree — nothing is ever re-parsed or looked up by id; (4) the key comes only from a
//! certificate that chains to a configured anchor, never from `KeyValue` or a fetched
//! `RetrievalMethod`.
//!
//! The certificate half (chain, CRL, key usage, organ binding) is remembered per trust store
//! for the exact certificates presented and the time window in which its answer holds
//! (`super::cache`); the signature and the document are checked on every call.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{self as rsig, UnparsedPublicKey};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{
    EndEntityCert, ExpirationPolicy, KeyUsage, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::algorithm::SignatureAlgorithm;
use super::cache::ChainKey;
use super::dsig::{
    DSIG_NS, EDXML_NS, ENVELOPED, EXC_C14N, EXC_C14N_NS, EXC_C14N_WITH_COMMENTS, RSA_SHA1, SHA1,
    SHA256,
};
use super::trust::TrustStore;
use crate::doc::c14n::{self, Options};
use crate::doc::envelope::{Envelope, EnvelopeError, EnvelopeLimits};
use crate::doc::{Document, Element, Limits, Node, NsDecl, ParseError};

/// DER contents of the docSigning key purpose, id-kp 36 (RFC 9336): 1.3.6.1.5.5.7.3.36.
pub const DOC_SIGNING_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];
/// The SAN URI prefix binding a certificate to an organ id.
pub use crate::tls::ORGAN_URI_PREFIX;

/// Caps on the `Signature` structure (STYLE P7): lienthong's own shape needs 2 transforms and a
/// leaf plus two intermediates; anything larger is hostile.
const MAX_CERTS_IN_KEYINFO: usize = 8;

/// Why a signed document was refused. Each variant names one rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bytes are not acceptable XML.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The signed document is not a valid edXML envelope (e.g. no classification label).
    #[error("signed document is not a valid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The root is not an edXML envelope, or a required envelope part is missing.
    #[error("not an edXML envelope: {0}")]
    NotAnEnvelope(String),
    /// No Signature, or more than one, anywhere in the document.
    #[error("expected exactly one Signature in the document, found {found}")]
    SignatureCount {
        /// How many were found.
        found: usize,
    },
    /// The Signature is not a child of edXMLHeader.
    #[error("the Signature is not where QCVN 102:2016 puts it (a child of edXMLHeader)")]
    SignatureMisplaced,
    /// An element where the XML-DSig profile has none, or one missing.
    #[error("Signature structure: {0}")]
    Structure(String),
    /// More than one Reference in SignedInfo.
    #[error("SignedInfo has {found} References; exactly one, to the whole document, is allowed")]
    ReferenceCount {
        /// How many.
        found: usize,
    },
    /// The Reference does not point at the whole document.
    #[error("Reference URI {uri:?} refused: only URI=\"\" (the whole document) is signed")]
    ReferenceUri {
        /// The URI found.
        uri: String,
    },
    /// A transform other than enveloped-signature then exclusive c14n.
    #[error("transform {algorithm} refused: only enveloped-signature then exclusive c14n")]
    Transform {
        /// The algorithm URI.
        algorithm: String,
    },
    /// A canonicalization, digest or signature algorithm lienthong does not accept.
    #[error("{role} algorithm {algorithm} is not accepted")]
    Algorithm {
        /// Which slot (CanonicalizationMethod, DigestMethod, SignatureMethod).
        role: &'static str,
        /// The URI.
        algorithm: String,
    },
    /// A legacy algorithm (SHA-1, RSA < 2048) without `allow_legacy`.
    #[error("{what} is a legacy algorithm, accepted only with --allow-legacy (verify-only)")]
    Legacy {
        /// Which algorithm.
        what: String,
    },
    /// Two elements carry the same Id.
    #[error("duplicate Id {id:?}: ids must be unique")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A comment inside the signed document.
    #[error("comment inside the signed document refused (comment injection guard)")]
    Comment,
    /// KeyInfo asks to fetch a key from elsewhere.
    #[error("KeyInfo {element} refused: lienthong never fetches keys")]
    KeyRetrieval {
        /// The element.
        element: String,
    },
    /// The digest of the document does not match DigestValue.
    #[error("document digest does not match the signed DigestValue: the document was altered")]
    DigestMismatch,
    /// Base64 in DigestValue, SignatureValue or X509Certificate is malformed.
    #[error("{element} is not valid base64")]
    Base64 {
        /// The element.
        element: &'static str,
    },
    /// The signature value does not verify with the certificate's key.
    #[error("signature value does not verify with the key of certificate {subject}")]
    BadSignature {
        /// Certificate subject.
        subject: String,
    },
    /// The signature method does not fit the certificate's key.
    #[error("SignatureMethod {method} does not match the certificate's {key} key")]
    KeyMismatch {
        /// Signature method.
        method: String,
        /// Key type.
        key: String,
    },
    /// No certificate in KeyInfo.
    #[error("KeyInfo carries no X509Certificate")]
    NoCertificate,
    /// A certificate could not be parsed.
    #[error("certificate in KeyInfo cannot be parsed: {reason}")]
    BadCertificate {
        /// The reason.
        reason: String,
    },
    /// The chain does not validate (unknown issuer, expired, not yet valid, revoked, …).
    #[error("certificate {subject} (serial {serial}) refused: {reason}")]
    Chain {
        /// Subject of the leaf.
        subject: String,
        /// Serial of the leaf, hex.
        serial: String,
        /// What webpki found.
        reason: ChainFailure,
    },
    /// The leaf's key usage allows no signing.
    #[error("certificate {subject}: key usage has neither digitalSignature nor nonRepudiation")]
    KeyUsage {
        /// Subject.
        subject: String,
    },
    /// The leaf's extended key usage does not include docSigning.
    #[error("certificate {subject}: extended key usage lacks docSigning (1.3.6.1.5.5.7.3.36)")]
    ExtendedKeyUsage {
        /// Subject.
        subject: String,
    },
    /// The certificate carries no organ binding.
    #[error("certificate {subject} carries no organ binding (SAN URI urn:lienthong:organ:…)")]
    NoOrganBinding {
        /// Subject.
        subject: String,
    },
    /// The certificate is bound to another organ than the envelope's sender.
    #[error("certificate is bound to organ {certificate}, but the document is From {from}")]
    OrganMismatch {
        /// Organ in the certificate.
        certificate: String,
        /// Organ in the envelope.
        from: String,
    },
}

/// The chain-level reasons, kept apart so callers can match on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainFailure {
    /// The certificate has expired.
    #[error("expired")]
    Expired,
    /// The certificate is not yet valid (beyond the allowed clock skew).
    #[error("not yet valid")]
    NotYetValid,
    /// The certificate is revoked by a configured CRL.
    #[error("revoked")]
    Revoked,
    /// A configured CRL is past its nextUpdate.
    #[error("the CRL is stale (past nextUpdate)")]
    StaleCrl,
    /// No CRL covers the certificate while CRLs are configured.
    #[error("revocation status unknown")]
    UnknownRevocation,
    /// No path to a configured trust anchor.
    #[error("unknown issuer (no path to a trust anchor)")]
    UnknownIssuer,
    /// An extended key usage in the chain forbids document signing.
    #[error("extended key usage of the chain does not allow document signing")]
    Eku,
    /// Anything else webpki reported.
    #[error("{0}")]
    Other(String),
}

/// Knobs for one verification.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The verification time (now, or a past instant for archives).
    pub at: UnixTime,
    /// How far in the future a certificate's notBefore may be and still be accepted.
    pub clock_skew: std::time::Duration,
    /// Accept SHA-1 and RSA < 2048 (verify-only, for old edXML archives).
    pub allow_legacy: bool,
    /// Parser limits.
    pub limits: Limits,
    /// Envelope limits.
    pub envelope_limits: EnvelopeLimits,
}

impl VerifyOptions {
    /// Options for verifying now, with a 5-minute skew allowance and no legacy algorithms.
    pub fn now() -> Self {
        Self {
            at: UnixTime::now(),
            clock_skew: std::time::Duration::from_secs(300),
            allow_legacy: false,
            limits: Limits::default(),
            envelope_limits: EnvelopeLimits::default(),
        }
    }
}

/// Who signed: read from the certificate that chained to an anchor. Made only by [`verify`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignerIdentity {
    organ: String,
    subject: String,
    serial: String,
    not_before: String,
    not_after: String,
    algorithm: &'static str,
}

impl SignerIdentity {
    /// The organ id bound to the certificate (equal to the envelope's From).
    pub fn organ(&self) -> &str {
        &self.organ
    }
    /// The certificate subject, RFC 4514 string.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// The certificate serial, hex.
    pub fn serial(&self) -> &str {
        &self.serial
    }
    /// notBefore, RFC 3339.
    pub fn not_before(&self) -> &str {
        &self.not_before
    }
    /// notAfter, RFC 3339.
    pub fn not_after(&self) -> &str {
        &self.not_after
    }
    /// The signature algorithm name.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }
}

/// A document whose signature, chain, revocation and organ binding were all checked. Made only
/// by [`verify`]; it holds the exact bytes that were verified and the tree that was digested.
pub struct VerifiedDocument {
    bytes: Vec<u8>,
    document: Document,
    envelope: Envelope,
    signer: SignerIdentity,
    digest: Vec<u8>,
    revocation_checked: bool,
}

/// `Debug` shows who signed and the digest, never the content: a classified subject must not
/// reach a log line through `{:?}`.
impl std::fmt::Debug for VerifiedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedDocument")
            .field("len", &self.bytes.len())
            .field("signer", &self.signer)
            .field("revocation_checked", &self.revocation_checked)
            .finish_non_exhaustive()
    }
}

impl VerifiedDocument {
    /// The signed bytes exactly as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The tree that was digested (the Signature included).
    pub fn document(&self) -> &Document {
        &self.document
    }
    /// The typed envelope read from the very tree that was digested.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
    /// Who signed.
    pub fn signer(&self) -> &SignerIdentity {
        &self.signer
    }
    /// The SHA-256 digest of the canonical document (the Reference digest).
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
    /// Whether a CRL was consulted for the signer's certificate.
    pub fn revocation_checked(&self) -> bool {
        self.revocation_checked
    }
    /// Consumes the document, returning the verified bytes and tree.
    pub fn into_parts(self) -> (Vec<u8>, Document) {
        (self.bytes, self.document)
    }
}

/// Verifies signed edXML bytes against `trust`.
pub fn verify(
    bytes: &[u8],
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<VerifiedDocument, VerifyError> {
    let document = crate::doc::parse(bytes, &options.limits)?;
    let root = &document.root;
    if !root.is(EDXML_NS, "edXMLEnvelope") {
        return Err(VerifyError::NotAnEnvelope(
            "the root is not edXMLEnvelope".into(),
        ));
    }

    // Rule (1): exactly one Signature in the whole tree, as a child of edXMLHeader.
    let mut found = 0;
    count_signatures(root, &mut found);
    if found != 1 {
        return Err(VerifyError::SignatureCount { found });
    }
    let header = root
        .child(EDXML_NS, "edXMLHeader")
        .ok_or_else(|| VerifyError::NotAnEnvelope("edXMLHeader is missing".into()))?;
    let signature = header
        .child(DSIG_NS, "Signature")
        .ok_or(VerifyError::SignatureMisplaced)?;
    check_document_hygiene(root)?;

    let parts = SignatureParts::read(signature)?;
    let legacy = |what: &str| -> Result<(), VerifyError> {
        if options.allow_legacy {
            Ok(())
        } else {
            Err(VerifyError::Legacy { what: what.into() })
        }
    };

    // Rule (3): the digest over the very tree we return, with the Signature left out.
    let inclusive = parts.inclusive_prefixes.clone();
    let canonical = c14n::canonicalize(
        root,
        &[],
        &Options {
            inclusive_prefixes: &inclusive,
            exclude: Some(signature),
        },
    );
    let digest_alg = match parts.digest_method.as_str() {
        SHA256 => &ring::digest::SHA256,
        SHA1 => {
            legacy("SHA-1 digest")?;
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY
        }
        other => {
            return Err(VerifyError::Algorithm {
                role: "DigestMethod",
                algorithm: other.to_owned(),
            });
        }
    };
    let digest = ring::digest::digest(digest_alg, &canonical);
    // The digest is public (it is in the document); a plain comparison leaks nothing.
    if digest.as_ref() != parts.digest_value.as_slice() {
        return Err(VerifyError::DigestMismatch);
    }

    // SignedInfo canonicalised in its context: the declarations of all its ancestors.
    let mut inherited: Vec<NsDecl> = root.ns_decls.clone();
    inherited.extend(header.ns_decls.iter().cloned());
    inherited.extend(signature.ns_decls.iter().cloned());
    let si_prefixes = parts.si_inclusive_prefixes.clone();
    let canonical_si = c14n::canonicalize(
        parts.signed_info,
        &inherited,
        &Options {
            inclusive_prefixes: &si_prefixes,
            exclude: None,
        },
    );

    // The signature with the leaf's key, then (unless cached) chain, CRL, usage and binding.
    let chain = certify(&parts.certificates, trust, options, |key, subject| {
        verify_signature_value(
            &parts.signature_method,
            &parts.signature_value,
            key,
            &canonical_si,
            options,
            subject,
        )
    })?;
    // The typed envelope comes from the same tree: nothing is re-parsed (rule 3).
    let envelope = Envelope::from_document(&document, &options.envelope_limits)?;
    let from = envelope.header.from.organ_id.as_str().to_owned();
    if chain.organ != from {
        return Err(VerifyError::OrganMismatch {
            certificate: chain.organ.clone(),
            from,
        });
    }

    let signer = chain.identity(parts.method_name);
    let revocation_checked = chain.revocation_checked;
    let digest = digest.as_ref().to_vec();
    drop(parts);
    Ok(VerifiedDocument {
        bytes: bytes.to_vec(),
        document,
        envelope,
        signer,
        digest,
        revocation_checked,
    })
}

/// Verifies a detached signature (a receipt, an audit checkpoint) made by a certificate in
/// `certificates` that chains to `trust` and is bound to `organ`.
pub fn verify_detached(
    message: &[u8],
    method_uri: &str,
    signature: &[u8],
    certificates: &[CertificateDer<'static>],
    organ: &str,
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<SignerIdentity, VerifyError> {
    if certificates.is_empty() || certificates.len() > MAX_CERTS_IN_KEYINFO {
        return Err(VerifyError::NoCertificate);
    }
    let mut algorithm = None;
    let chain = certify(certificates, trust, options, |key, subject| {
        let a = SignatureAlgorithm::from_uri(method_uri).ok_or_else(|| VerifyError::Algorithm {
            role: "SignatureMethod",
            algorithm: method_uri.to_owned(),
        })?;
        algorithm = Some(a);
        verify_signature_value(method_uri, signature, key, message, options, subject)
    })?;
    let algorithm = algorithm.ok_or_else(|| VerifyError::Algorithm {
        role: "SignatureMethod",
        algorithm: method_uri.to_owned(),
    })?;
    if chain.organ != organ {
        return Err(VerifyError::OrganMismatch {
            certificate: chain.organ.clone(),
            from: organ.to_owned(),
        });
    }
    Ok(chain.identity(algorithm.name()))
}

/// What the certificate half of verification established about one presented chain: the
/// leaf's key for the signature check, who it names, and the window of verification times in
/// which that answer holds. Made only by [`certify`]; cached per trust store.
pub(crate) struct VerifiedChain {
    key: LeafKey,
    organ: String,
    subject: String,
    serial: String,
    not_before: String,
    not_after: String,
    revocation_checked: bool,
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

    fn identity(&self, algorithm: &'static str) -> SignerIdentity {
        SignerIdentity {
            organ: self.organ.clone(),
            subject: self.subject.clone(),
            serial: self.serial.clone(),
            not_before: self.not_before.clone(),
            not_after: self.not_after.clone(),
            algorithm,
        }
    }
}

/// The leaf's public key, as the signature check reads it from the certificate.
struct LeafKey {
    /// `RSA`, `EC`, `Ed25519` or `unsupported` (named in `KeyMismatch`).
    kind: &'static str,
    /// subjectPublicKey, the bytes ring verifies with.
    bytes: Vec<u8>,
    /// RSA modulus length in bits (0 for other keys or an unreadable RSA key).
    rsa_bits: usize,
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
fn certify(
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

    let (revocation_checked, path) =
        check_chain(&leaf, &intermediates, trust, options, &subject, &serial)?;
    check_leaf_usage(&leaf_cert, &subject)?;
    let organ =
        crate::tls::organ_of_parsed(&leaf_cert).ok_or_else(|| VerifyError::NoOrganBinding {
            subject: subject.clone(),
        })?;

    // The window: webpki checks notBefore <= t <= notAfter on every certificate of the path
    // (not the anchor, which has no validity here) and t < nextUpdate on the CRL. notAfter is
    // taken as exclusive — a second early, never late.
    let validity = leaf_cert.validity();
    let mut valid_from = secs(validity.not_before.timestamp());
    let mut valid_until = secs(validity.not_after.timestamp()).min(trust.crls_until());
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
        revocation_checked,
        valid_from,
        valid_until,
    });
    trust.cache().insert(key, Arc::clone(&chain));
    Ok(chain)
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

fn count_signatures(e: &Element, found: &mut usize) {
    if e.is(DSIG_NS, "Signature") {
        *found += 1;
    }
    for c in e.elements() {
        count_signatures(c, found);
    }
}

/// Duplicate ids and comments are refused anywhere: lienthong references nothing by id, so a
/// duplicate can only be an attempt to confuse another verifier; a comment can split text that
/// a downstream reader might truncate (the SAML comment-injection family).
fn check_document_hygiene(root: &Element) -> Result<(), VerifyError> {
    let mut ids = std::collections::HashSet::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        for a in &e.attrs {
            if a.ns.is_none()
                && matches!(a.local.as_str(), "Id" | "ID" | "id")
                && !ids.insert(a.value.clone())
            {
                return Err(VerifyError::DuplicateId {
                    id: a.value.clone(),
                });
            }
        }
        for c in &e.children {
            match c {
                Node::Element(c) => stack.push(c),
                Node::Comment(_) => return Err(VerifyError::Comment),
                Node::Text(_) => {}
            }
        }
    }
    Ok(())
}

/// The pieces of a `Signature`, checked against the one shape lienthong accepts.
struct SignatureParts<'a> {
    signed_info: &'a Element,
    si_inclusive_prefixes: Vec<String>,
    inclusive_prefixes: Vec<String>,
    signature_method: String,
    method_name: &'static str,
    digest_method: String,
    digest_value: Vec<u8>,
    signature_value: Vec<u8>,
    certificates: Vec<CertificateDer<'static>>,
}

impl<'a> SignatureParts<'a> {
    fn read(signature: &'a Element) -> Result<Self, VerifyError> {
        let children = only_elements(signature, "Signature")?;
        let mut it = children.iter();
        let signed_info = expect(it.next(), "SignedInfo")?;
        let signature_value_el = expect(it.next(), "SignatureValue")?;
        let key_info = expect(it.next(), "KeyInfo")?;
        if let Some(extra) = it.next() {
            // Object and anything else: where wrapped content hides (XSW "document moved under
            // an Object").
            return Err(VerifyError::Structure(format!(
                "unexpected {} after KeyInfo",
                extra.qname()
            )));
        }

        let si = only_elements(signed_info, "SignedInfo")?;
        let mut si_it = si.iter();
        let c14n_method = expect(si_it.next(), "CanonicalizationMethod")?;
        let si_inclusive_prefixes = c14n_algorithm(c14n_method, "CanonicalizationMethod")?;
        let sig_method = expect(si_it.next(), "SignatureMethod")?;
        let signature_method = algorithm(sig_method)?.to_owned();
        if !only_elements(sig_method, "SignatureMethod")?.is_empty() {
            // HMACOutputLength and friends: HMAC is never accepted.
            return Err(VerifyError::Algorithm {
                role: "SignatureMethod",
                algorithm: signature_method,
            });
        }
        let references: Vec<&Element> = si_it.copied().collect();
        if references.len() != 1 || !references.iter().all(|r| r.is(DSIG_NS, "Reference")) {
            if let Some(other) = references.iter().find(|r| !r.is(DSIG_NS, "Reference")) {
                return Err(VerifyError::Structure(format!(
                    "unexpected {} in SignedInfo",
                    other.qname()
                )));
            }
            return Err(VerifyError::ReferenceCount {
                found: references.len(),
            });
        }
        let reference = references
            .first()
            .copied()
            .ok_or(VerifyError::ReferenceCount { found: 0 })?;
        match reference.attr("URI") {
            Some("") => {}
            Some(uri) => {
                return Err(VerifyError::ReferenceUri { uri: uri.into() });
            }
            // An absent URI means "the application knows": never for lienthong.
            None => {
                return Err(VerifyError::ReferenceUri {
                    uri: "(absent)".into(),
                });
            }
        }
        let r = only_elements(reference, "Reference")?;
        let mut r_it = r.iter();
        let transforms = expect(r_it.next(), "Transforms")?;
        let digest_method_el = expect(r_it.next(), "DigestMethod")?;
        let digest_value_el = expect(r_it.next(), "DigestValue")?;
        if let Some(extra) = r_it.next() {
            return Err(VerifyError::Structure(format!(
                "unexpected {} in Reference",
                extra.qname()
            )));
        }
        let t = only_elements(transforms, "Transforms")?;
        let inclusive_prefixes = match t.as_slice() {
            [first, second] => {
                for tr in [first, second] {
                    if !tr.is(DSIG_NS, "Transform") {
                        return Err(VerifyError::Structure(format!(
                            "unexpected {} in Transforms",
                            tr.qname()
                        )));
                    }
                }
                let a1 = algorithm(first)?;
                if a1 != ENVELOPED {
                    return Err(VerifyError::Transform {
                        algorithm: a1.into(),
                    });
                }
                if !only_elements(first, "Transform")?.is_empty() {
                    return Err(VerifyError::Structure(
                        "the enveloped-signature transform takes no parameters".into(),
                    ));
                }
                c14n_transform(second)?
            }
            other => {
                // Report the first offending algorithm when there is one.
                for tr in other {
                    let a = algorithm(tr)?;
                    if a != ENVELOPED && a != EXC_C14N {
                        return Err(VerifyError::Transform {
                            algorithm: a.into(),
                        });
                    }
                }
                return Err(VerifyError::Structure(format!(
                    "{} transforms; exactly enveloped-signature then exclusive c14n",
                    other.len()
                )));
            }
        };
        let digest_method = algorithm(digest_method_el)?.to_owned();
        let digest_value = b64(digest_value_el, "DigestValue")?;
        let signature_value = b64(signature_value_el, "SignatureValue")?;
        let certificates = key_info_certificates(key_info)?;
        let method_name = match SignatureAlgorithm::from_uri(&signature_method) {
            Some(a) => a.name(),
            None if signature_method == RSA_SHA1 => "rsa-sha1",
            None => {
                return Err(VerifyError::Algorithm {
                    role: "SignatureMethod",
                    algorithm: signature_method,
                });
            }
        };
        Ok(Self {
            signed_info,
            si_inclusive_prefixes,
            inclusive_prefixes,
            signature_method,
            method_name,
            digest_method,
            digest_value,
            signature_value,
            certificates,
        })
    }
}

/// The element children of `e`; non-whitespace text between them is refused (whitespace is
/// layout; text would be content hidden in the signature structure).
fn only_elements<'a>(e: &'a Element, name: &str) -> Result<Vec<&'a Element>, VerifyError> {
    let mut out = Vec::new();
    for c in &e.children {
        match c {
            Node::Element(c) => out.push(c),
            Node::Text(t) if t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) => {}
            Node::Text(_) => {
                return Err(VerifyError::Structure(format!("text inside {name}")));
            }
            Node::Comment(_) => return Err(VerifyError::Comment),
        }
    }
    Ok(out)
}

fn expect<'a>(e: Option<&&'a Element>, local: &str) -> Result<&'a Element, VerifyError> {
    match e {
        Some(e) if e.is(DSIG_NS, local) => Ok(e),
        Some(e) => Err(VerifyError::Structure(format!(
            "expected ds:{local}, found {}",
            e.qname()
        ))),
        None => Err(VerifyError::Structure(format!("ds:{local} is missing"))),
    }
}

fn algorithm(e: &Element) -> Result<&str, VerifyError> {
    e.attr("Algorithm")
        .ok_or_else(|| VerifyError::Structure(format!("{} has no Algorithm", e.qname())))
}

fn c14n_algorithm(e: &Element, role: &'static str) -> Result<Vec<String>, VerifyError> {
    let a = algorithm(e)?;
    if a != EXC_C14N {
        return Err(VerifyError::Algorithm {
            role,
            algorithm: a.to_owned(),
        });
    }
    inclusive_namespaces(e)
}

fn c14n_transform(e: &Element) -> Result<Vec<String>, VerifyError> {
    let a = algorithm(e)?;
    if a == EXC_C14N_WITH_COMMENTS || a != EXC_C14N {
        return Err(VerifyError::Transform {
            algorithm: a.to_owned(),
        });
    }
    inclusive_namespaces(e)
}

/// The optional `InclusiveNamespaces PrefixList` parameter (xml-exc-c14n §3); nothing else.
fn inclusive_namespaces(e: &Element) -> Result<Vec<String>, VerifyError> {
    let children = only_elements(e, "c14n method")?;
    match children.as_slice() {
        [] => Ok(Vec::new()),
        [inc] if inc.is(EXC_C14N_NS, "InclusiveNamespaces") => Ok(inc
            .attr("PrefixList")
            .unwrap_or("")
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect()),
        _ => Err(VerifyError::Structure(
            "unexpected parameters of the c14n method".into(),
        )),
    }
}

fn b64(e: &Element, element: &'static str) -> Result<Vec<u8>, VerifyError> {
    let mut text = e.text();
    // XML-DSig base64 may be wrapped over lines.
    text.retain(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'));
    if e.children.iter().any(|c| !matches!(c, Node::Text(_))) {
        return Err(VerifyError::Structure(format!(
            "{element} holds more than base64 text"
        )));
    }
    B64.decode(text.as_bytes())
        .map_err(|_| VerifyError::Base64 { element })
}

fn key_info_certificates(key_info: &Element) -> Result<Vec<CertificateDer<'static>>, VerifyError> {
    let mut certs = Vec::new();
    for child in only_elements(key_info, "KeyInfo")? {
        if child.ns.as_deref() != Some(DSIG_NS) {
            return Err(VerifyError::Structure(format!(
                "unexpected {} in KeyInfo",
                child.qname()
            )));
        }
        match child.local.as_str() {
            "X509Data" => {
                for x in only_elements(child, "X509Data")? {
                    match x.local.as_str() {
                        "X509Certificate" if x.ns.as_deref() == Some(DSIG_NS) => {
                            certs.push(CertificateDer::from(b64(x, "X509Certificate")?));
                        }
                        // Identifying hints; the key always comes from a chained certificate.
                        "X509IssuerSerial" | "X509SubjectName" | "X509SKI" | "X509Digest"
                            if x.ns.as_deref() == Some(DSIG_NS) => {}
                        _ => {
                            return Err(VerifyError::Structure(format!(
                                "unexpected {} in X509Data",
                                x.qname()
                            )));
                        }
                    }
                }
            }
            "RetrievalMethod" => {
                return Err(VerifyError::KeyRetrieval {
                    element: "RetrievalMethod".into(),
                });
            }
            // A bare key would let anyone sign: only the certificate's key is ever used, so
            // KeyValue and KeyName are refused rather than silently ignored.
            other => {
                return Err(VerifyError::Structure(format!(
                    "KeyInfo/{other} refused: only X509Data is accepted"
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(VerifyError::NoCertificate);
    }
    if certs.len() > MAX_CERTS_IN_KEYINFO {
        return Err(VerifyError::Structure(format!(
            "{} certificates in KeyInfo, over the limit of {MAX_CERTS_IN_KEYINFO}",
            certs.len()
        )));
    }
    Ok(certs)
}

fn parse_cert<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, VerifyError> {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, c)| c)
        .map_err(|e| VerifyError::BadCertificate {
            reason: e.to_string(),
        })
}

/// The leaf is the certificate that is not the issuer of another one in the set (xmlsec1 and
/// other tools do not all put the leaf first).
fn pick_leaf(
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

fn verify_signature_value(
    method: &str,
    signature: &[u8],
    key: &LeafKey,
    message: &[u8],
    options: &VerifyOptions,
    subject: &str,
) -> Result<(), VerifyError> {
    let key_kind = key.kind;
    let key_bytes: &[u8] = &key.bytes;
    let mismatch = || VerifyError::KeyMismatch {
        method: method.to_owned(),
        key: key_kind.to_owned(),
    };
    let rsa_bits = || key.rsa_bits;
    let alg: &'static dyn ring::signature::VerificationAlgorithm = match (method, key_kind) {
        (m, "RSA") if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::RsaSha256) => {
            if rsa_bits() < 2048 {
                if !options.allow_legacy {
                    return Err(VerifyError::Legacy {
                        what: format!("RSA-{}", rsa_bits()),
                    });
                }
                &rsig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &rsig::RSA_PKCS1_2048_8192_SHA256
            }
        }
        (RSA_SHA1, "RSA") => {
            if !options.allow_legacy {
                return Err(VerifyError::Legacy {
                    what: "RSA-SHA1".into(),
                });
            }
            &rsig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (m, "EC")
            if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::EcdsaP256Sha256) =>
        {
            // XML-DSig 1.1 §6.4.3: the value is r || s, not DER.
            &rsig::ECDSA_P256_SHA256_FIXED
        }
        (m, "Ed25519") if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::Ed25519) => {
            &rsig::ED25519
        }
        _ => return Err(mismatch()),
    };
    UnparsedPublicKey::new(alg, key_bytes)
        .verify(message, signature)
        .map_err(|_| VerifyError::BadSignature {
            subject: subject.to_owned(),
        })
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

fn check_chain(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    trust: &TrustStore,
    options: &VerifyOptions,
    subject: &str,
    serial: &str,
) -> Result<(bool, Vec<CertificateDer<'static>>), VerifyError> {
    let chain_err = |reason: ChainFailure| VerifyError::Chain {
        subject: subject.to_owned(),
        serial: serial.to_owned(),
        reason,
    };
    let ee = EndEntityCert::try_from(leaf).map_err(|e| VerifyError::BadCertificate {
        reason: e.to_string(),
    })?;
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = trust.crls().iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build()
    });
    let checked = revocation.is_some();
    let run = |at: UnixTime| {
        ee.verify_for_usage(
            CHAIN_ALGS,
            trust.anchors(),
            intermediates,
            at,
            KeyUsage::required_if_present(DOC_SIGNING_OID),
            revocation,
            None,
        )
        // The intermediates webpki actually used: their validity bounds the cache window.
        .map(|path| {
            path.intermediate_certificates()
                .map(|c| c.der().into_owned())
                .collect::<Vec<_>>()
        })
    };
    let result = match run(options.at) {
        // Clock skew: a certificate issued moments ago by a CA whose clock runs ahead is accepted
        // if it is valid within the allowance.
        Err(webpki::Error::CertNotValidYet { .. }) => {
            let later =
                UnixTime::since_unix_epoch(options.at.as_secs_duration() + options.clock_skew);
            run(later)
        }
        other => other,
    };
    let path = result.map_err(|e| chain_err(classify(e)))?;
    Ok((checked, path))
}

trait AsSecs {
    fn as_secs_duration(&self) -> std::time::Duration;
}

impl AsSecs for UnixTime {
    fn as_secs_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.as_secs())
    }
}

fn classify(e: webpki::Error) -> ChainFailure {
    match e {
        webpki::Error::CertExpired { .. } => ChainFailure::Expired,
        webpki::Error::CertNotValidYet { .. } => ChainFailure::NotYetValid,
        webpki::Error::CertRevoked => ChainFailure::Revoked,
        webpki::Error::CrlExpired { .. } => ChainFailure::StaleCrl,
        webpki::Error::UnknownRevocationStatus => ChainFailure::UnknownRevocation,
        webpki::Error::UnknownIssuer => ChainFailure::UnknownIssuer,
        webpki::Error::RequiredEkuNotFoundContext(_) => ChainFailure::Eku,
        other => ChainFailure::Other(other.to_string()),
    }
}

/// RFC 5280 §4.2.1.3 / §4.2.1.12 on the leaf itself: webpki checks EKU across the chain only
/// "if present", so the leaf's own usages are read here from the same certificate.
fn check_leaf_usage(cert: &X509Certificate<'_>, subject: &str) -> Result<(), VerifyError> {
    match cert.key_usage() {
        Ok(Some(ku)) => {
            if !(ku.value.digital_signature() || ku.value.non_repudiation()) {
                return Err(VerifyError::KeyUsage {
                    subject: subject.to_owned(),
                });
            }
        }
        // A signing certificate without keyUsage is refused: the national CA always sets it.
        Ok(None) => {
            return Err(VerifyError::KeyUsage {
                subject: subject.to_owned(),
            });
        }
        Err(e) => {
            return Err(VerifyError::BadCertificate {
                reason: e.to_string(),
            });
        }
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let doc_signing = eku
                .value
                .other
                .iter()
                .any(|oid| oid.to_id_string() == "1.3.6.1.5.5.7.3.36");
            if !doc_signing {
                return Err(VerifyError::ExtendedKeyUsage {
                    subject: subject.to_owned(),
                });
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(VerifyError::BadCertificate {
            reason: e.to_string(),
        }),
    }
}
