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

use rustls_pki_types::{CertificateDer, UnixTime};

use super::algorithm::SignatureAlgorithm;
use super::dsig::{DSIG_NS, EDXML_NS, SHA1, SHA256};
use super::trust::TrustStore;
use crate::doc::c14n::{self, Options};
use crate::doc::envelope::{Envelope, EnvelopeError, EnvelopeLimits};
use crate::doc::{Document, Element, Limits, NsDecl, ParseError};

mod chain;
mod field;
mod signature;
mod structure;

pub(crate) use chain::VerifiedChain;
use chain::certify;
pub use chain::check_encryption_chain;
pub(crate) use chain::classify as classify_webpki;
pub use field::{VerifiedField, verify_field};
use signature::verify_signature_value;
use structure::{SignatureParts, check_document_hygiene, count_signatures};

/// DER contents of the docSigning key purpose, id-kp 36 (RFC 9336): 1.3.6.1.5.5.7.3.36.
pub const DOC_SIGNING_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];
/// The SAN URI prefix binding a certificate to an organ id.
pub use crate::tls::ORGAN_URI_PREFIX;

/// Caps on the `Signature` structure (STYLE P7): lienthong's own shape needs 2 transforms and a
/// leaf plus two intermediates; anything larger is hostile.
pub(crate) const MAX_CERTS_IN_KEYINFO: usize = 8;

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
    /// A `Signature` (or `DigitalSignature`) in the edXML namespace, as the platform's SDKs
    /// write it: shaped like XML-DSig but not XML-DSig; the document is unsigned
    /// (docs/EDXML.md, `edxml-signature`).
    #[error(
        "{path} is in the edXML namespace, not XML-DSig's ({DSIG_NS}): it is not a \
         signature, and the document is unsigned"
    )]
    EdxmlSignature {
        /// Where it stands.
        path: String,
    },
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
    /// A comment anywhere in the signed document, before or after the root element included.
    #[error("comment in the signed document refused (comment injection guard)")]
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
    /// The leaf's extended key usage carries none of the purposes its anchor's policy requires.
    #[error("certificate {subject}: extended key usage lacks {required} (the trust anchor's rule)")]
    ExtendedKeyUsage {
        /// Subject.
        subject: String,
        /// The purposes the anchor's policy accepts, dotted OIDs.
        required: String,
    },
    /// The leaf has no extendedKeyUsage and its anchor's policy does not allow that.
    #[error(
        "certificate {subject} has no extended key usage (missing docSigning usage); \
         its trust anchor's rule refuses that"
    )]
    NoExtendedKeyUsage {
        /// Subject.
        subject: String,
    },
    /// The leaf asserts keyCertSign: a CA key used as an end entity (RFC 5280 §4.2.1.3).
    #[error("certificate {subject}: an end-entity certificate with keyCertSign is refused")]
    KeyCertSignOnLeaf {
        /// Subject.
        subject: String,
    },
    /// The certificate carries more than one organ binding.
    #[error("certificate {subject} carries {} organ bindings ({}); exactly one is allowed", organs.len(), organs.join(", "))]
    AmbiguousOrganBinding {
        /// Subject.
        subject: String,
        /// The organ ids found.
        organs: Vec<String>,
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
    /// A CA certificate was presented as the end entity (basicConstraints cA = TRUE).
    #[error("a CA certificate is used as the end entity")]
    CaUsedAsEndEntity,
    /// An end-entity certificate was used as an issuer in the path.
    #[error("an end-entity certificate is used as a CA")]
    EndEntityUsedAsCa,
    /// A name in the chain falls outside a CA's name constraints.
    #[error("a name violates the name constraints of a CA in the chain")]
    NameConstraint,
    /// The path is longer than a CA's pathLenConstraint or webpki's depth limit allow.
    #[error("the path is longer than a pathLenConstraint or the depth limit allows")]
    PathLength,
    /// A signature on a certificate or CRL of the chain does not verify.
    #[error("a signature on a certificate or CRL of the chain does not verify")]
    ChainSignature,
    /// A signature algorithm on the chain is not accepted.
    #[error("a signature algorithm on the chain is not accepted")]
    ChainAlgorithm,
    /// The certificate does not name the host or address it is checked for.
    #[error("the certificate is not valid for the expected name")]
    Name,
    /// The issuer of a CRL may not sign CRLs (keyUsage lacks cRLSign).
    #[error("the CRL's issuer is not allowed to sign CRLs")]
    CrlIssuer,
    /// A certificate, extension or CRL on the chain is not well-formed DER, or is of an
    /// unsupported version or critical extension.
    #[error("malformed or unsupported certificate content: {0}")]
    Malformed(String),
    /// OCSP gave no "good" answer (revoked, or could not answer and no later source did).
    #[error("{0}")]
    Ocsp(Box<crate::sign::ocsp::OcspError>),
    /// No revocation source could answer: the store asks CRLs only after OCSP (or the reverse)
    /// and has no CRL (the OCSP source, asked, says why in its own failure).
    #[error("no configured revocation source could answer ({0})")]
    NoRevocationSource(String),
    /// Anything else webpki reported.
    #[error("{0}")]
    Other(String),
}

/// Which source answered for the signer's certificate, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationStatus {
    /// No revocation source was configured (`[trust] revocation = ["crl"]` without CRLs).
    NotChecked,
    /// A configured CRL covers the certificate and does not list it.
    Crl,
    /// The CA's OCSP responder said "good".
    Ocsp {
        /// The responder URL.
        url: String,
        /// thisUpdate, seconds since the epoch.
        this_update: u64,
        /// nextUpdate, seconds since the epoch, when the responder gave one.
        next_update: Option<u64>,
    },
}

impl RevocationStatus {
    /// `none`, `crl` or `ocsp`.
    pub fn source(&self) -> &'static str {
        match self {
            Self::NotChecked => "none",
            Self::Crl => "crl",
            Self::Ocsp { .. } => "ocsp",
        }
    }
}

impl VerifyError {
    /// A stable name for the rule that refused, for `--json` and scripts (the variant's name in
    /// kebab case; a chain refusal names its `ChainFailure`, e.g. `chain:expired`).
    pub fn kind(&self) -> String {
        let name = match self {
            Self::Parse(_) => "parse",
            Self::Envelope(_) => "envelope",
            Self::NotAnEnvelope(_) => "not-an-envelope",
            Self::EdxmlSignature { .. } => "edxml-signature",
            Self::SignatureCount { .. } => "signature-count",
            Self::SignatureMisplaced => "signature-misplaced",
            Self::Structure(_) => "structure",
            Self::ReferenceCount { .. } => "reference-count",
            Self::ReferenceUri { .. } => "reference-uri",
            Self::Transform { .. } => "transform",
            Self::Algorithm { .. } => "algorithm",
            Self::Legacy { .. } => "legacy",
            Self::DuplicateId { .. } => "duplicate-id",
            Self::Comment => "comment",
            Self::KeyRetrieval { .. } => "key-retrieval",
            Self::DigestMismatch => "digest-mismatch",
            Self::Base64 { .. } => "base64",
            Self::BadSignature { .. } => "bad-signature",
            Self::KeyMismatch { .. } => "key-mismatch",
            Self::NoCertificate => "no-certificate",
            Self::BadCertificate { .. } => "bad-certificate",
            Self::KeyUsage { .. } => "key-usage",
            Self::ExtendedKeyUsage { .. } => "extended-key-usage",
            Self::NoExtendedKeyUsage { .. } => "no-extended-key-usage",
            Self::KeyCertSignOnLeaf { .. } => "key-cert-sign-on-leaf",
            Self::AmbiguousOrganBinding { .. } => "ambiguous-organ-binding",
            Self::NoOrganBinding { .. } => "no-organ-binding",
            Self::OrganMismatch { .. } => "organ-mismatch",
            Self::Chain { reason, .. } => return format!("chain:{}", reason.kind()),
        };
        name.to_owned()
    }
}

impl ChainFailure {
    /// A stable name for the reason (kebab case), as `lienthong pki check-chain --json` prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::Revoked => "revoked",
            Self::StaleCrl => "stale-crl",
            Self::UnknownRevocation => "unknown-revocation",
            Self::UnknownIssuer => "unknown-issuer",
            Self::Eku => "eku",
            Self::CaUsedAsEndEntity => "ca-used-as-end-entity",
            Self::EndEntityUsedAsCa => "end-entity-used-as-ca",
            Self::NameConstraint => "name-constraint",
            Self::PathLength => "path-length",
            Self::ChainSignature => "chain-signature",
            Self::ChainAlgorithm => "chain-algorithm",
            Self::Name => "name",
            Self::CrlIssuer => "crl-issuer",
            Self::Malformed(_) => "malformed",
            Self::Ocsp(e) => e.chain_kind(),
            Self::NoRevocationSource(_) => "no-revocation-source",
            Self::Other(_) => "other",
        }
    }
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
    eku_rule: String,
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
    /// The extended-key-usage rule of the trust anchor the chain reached
    /// (`SigningPolicy::describe`).
    pub fn eku_rule(&self) -> &str {
        &self.eku_rule
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
    revocation: RevocationStatus,
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
    /// Which revocation source answered for the signer's certificate.
    pub fn revocation(&self) -> &RevocationStatus {
        &self.revocation
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
    let (_header, signature) = the_signature(&document)?;
    let signed = check_signed(&document, signature, trust, options)?;
    let envelope = signed_envelope(&document, &signed.chain, options)?;
    Ok(VerifiedDocument {
        bytes: bytes.to_vec(),
        document,
        envelope,
        signer: signed.chain.identity(signed.method_name),
        digest: signed.digest,
        revocation_checked: signed.chain.revocation_checked,
        revocation: signed.chain.revocation.clone(),
    })
}

/// What the signature checks establish, in either profile (lienthong's, the field form).
pub(super) struct Signed {
    /// The verified chain (organ binding, revocation).
    pub(super) chain: std::sync::Arc<VerifiedChain>,
    /// The signature method's name.
    pub(super) method_name: &'static str,
    /// The Reference digest.
    pub(super) digest: Vec<u8>,
    /// The legacy algorithms used (each allowed only by `allow_legacy`).
    pub(super) legacy: Vec<&'static str>,
}

/// The shape of `signature` → the digest over the document → `SignedInfo` canonicalised →
/// the signature value with the leaf's key, then (unless cached) chain, CRL, usage, binding.
pub(super) fn check_signed(
    document: &Document,
    signature: &Element,
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<Signed, VerifyError> {
    let parts = SignatureParts::read(signature)?;
    let digest = check_digest(&document.root, signature, &parts, options)?;
    let canonical_si = canonical_signed_info(&document.root, signature, &parts, options)?;
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
    Ok(Signed {
        chain,
        method_name: parts.method_name,
        digest: digest.as_ref().to_vec(),
        legacy: legacy_used(&parts),
    })
}

/// The legacy algorithms `parts` uses, by name.
fn legacy_used(parts: &SignatureParts<'_>) -> Vec<&'static str> {
    let mut out = Vec::new();
    if parts.si_c14n_10 {
        out.push("c14n-1.0 (SignedInfo)");
    }
    if parts.ref_c14n_10 {
        out.push("c14n-1.0 (Reference)");
    }
    if parts.signature_method == super::dsig::RSA_SHA1 {
        out.push("rsa-sha1");
    }
    if parts.digest_method == SHA1 {
        out.push("sha1 digest");
    }
    out
}

/// [`verify`] step: no comment outside the root, an edXML root, and the document's one
/// `Signature` where it belongs; then the document-wide hygiene. Returns the header and the
/// signature.
fn the_signature(document: &Document) -> Result<(&Element, &Element), VerifyError> {
    // Comments are refused everywhere in a signed document, before and after the root too:
    // c14n without comments drops them, so they are text the signature does not cover, read
    // differently by different parsers (the comment-injection family).
    if document.comments_outside_root > 0 {
        return Err(VerifyError::Comment);
    }
    let root = &document.root;
    if let Some(path) = edxml_signature(root) {
        return Err(VerifyError::EdxmlSignature { path });
    }
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
    Ok((header, signature))
}

/// Where an SDK's look-alike signature stands (`edXMLHeader/Signature` in the edXML
/// namespace, or `edXMLHeader/DigitalSignature`), under a bare envelope or the SDK's `edXML`
/// root, when there is no XML-DSig signature beside it.
fn edxml_signature(root: &Element) -> Option<String> {
    let (envelope, prefix) = if root.is(EDXML_NS, "edXML") {
        (root.child(EDXML_NS, "edXMLEnvelope")?, "edXML/")
    } else {
        (root, "")
    };
    let header = envelope.child(EDXML_NS, "edXMLHeader")?;
    if header.child(DSIG_NS, "Signature").is_some() {
        return None;
    }
    ["Signature", "DigitalSignature"]
        .into_iter()
        .find(|l| header.child(EDXML_NS, l).is_some())
        .map(|l| format!("{prefix}edXMLEnvelope/edXMLHeader/{l}"))
}

/// [`verify`] step: the Reference digest, recomputed over `root` and compared.
fn check_digest(
    root: &Element,
    signature: &Element,
    parts: &SignatureParts<'_>,
    options: &VerifyOptions,
) -> Result<ring::digest::Digest, VerifyError> {
    let legacy = |what: &str| -> Result<(), VerifyError> {
        if options.allow_legacy {
            Ok(())
        } else {
            Err(VerifyError::Legacy { what: what.into() })
        }
    };

    // Rule (3): the digest over the very tree we return, with the Signature left out.
    let canonical = if parts.ref_c14n_10 {
        legacy("Canonical XML 1.0 (inclusive) transform")?;
        c14n::canonicalize_inclusive(root, &[], Some(signature))
    } else {
        let inclusive = parts.inclusive_prefixes.clone();
        c14n::canonicalize(
            root,
            &[],
            &Options {
                inclusive_prefixes: &inclusive,
                exclude: Some(signature),
            },
        )
    };
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
    Ok(digest)
}

/// [`verify`] step: the bytes the signature value covers: `SignedInfo` canonicalised in its
/// context (the declarations of all its ancestors), exclusive c14n or — legacy — inclusive
/// c14n 1.0.
fn canonical_signed_info(
    root: &Element,
    signature: &Element,
    parts: &SignatureParts<'_>,
    options: &VerifyOptions,
) -> Result<Vec<u8>, VerifyError> {
    let mut path = Vec::new();
    ancestors(root, signature, &mut path);
    let inherited: Vec<NsDecl> = path
        .iter()
        .flat_map(|e| e.ns_decls.iter().cloned())
        .collect();
    if !parts.si_c14n_10 {
        let si_prefixes = parts.si_inclusive_prefixes.clone();
        return Ok(c14n::canonicalize(
            parts.signed_info,
            &inherited,
            &Options {
                inclusive_prefixes: &si_prefixes,
                exclude: None,
            },
        ));
    }
    if !options.allow_legacy {
        return Err(VerifyError::Legacy {
            what: "Canonical XML 1.0 (inclusive) CanonicalizationMethod".into(),
        });
    }
    // Inclusive c14n would carry the ancestors' xml:* attributes onto SignedInfo; lienthong's
    // c14n does not render them, so such a document is refused rather than misread.
    if path
        .iter()
        .any(|e| e.attrs.iter().any(|a| a.prefix.as_deref() == Some("xml")))
    {
        return Err(VerifyError::Structure(
            "xml:* attributes above an inclusive-c14n SignedInfo".into(),
        ));
    }
    Ok(c14n::canonicalize_inclusive(
        parts.signed_info,
        &inherited,
        None,
    ))
}

/// The elements from `root` down to `target` itself (outermost first), when `target` is in
/// the tree (compared by identity).
fn ancestors<'a>(root: &'a Element, target: &Element, path: &mut Vec<&'a Element>) -> bool {
    path.push(root);
    if std::ptr::eq(root, target) || root.elements().any(|c| ancestors(c, target, path)) {
        return true;
    }
    path.pop();
    false
}

/// [`verify`] step: the typed envelope, whose sender must be the certificate's organ.
fn signed_envelope(
    document: &Document,
    chain: &VerifiedChain,
    options: &VerifyOptions,
) -> Result<Envelope, VerifyError> {
    // The typed envelope comes from the same tree: nothing is re-parsed (rule 3).
    let envelope = Envelope::from_document(document, &options.envelope_limits)?;
    let from = envelope.header.from.organ_id.as_str().to_owned();
    if chain.organ != from {
        return Err(VerifyError::OrganMismatch {
            certificate: chain.organ.clone(),
            from,
        });
    }
    Ok(envelope)
}

/// The certificate half of [`verify`] alone — leaf, path to an anchor, CRL, key usages, the
/// anchor's EKU rule, organ binding — for `lienthong pki check-chain --purpose doc-signing`.
/// `certificates` is the leaf and any intermediates, as KeyInfo would carry them.
pub fn check_certificates(
    certificates: &[CertificateDer<'static>],
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<SignerIdentity, VerifyError> {
    if certificates.is_empty() || certificates.len() > MAX_CERTS_IN_KEYINFO {
        return Err(VerifyError::NoCertificate);
    }
    // No signature to check: the leaf's key is not used.
    let chain = certify(certificates, trust, options, |_, _| Ok(()))?;
    Ok(chain.identity("none"))
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
