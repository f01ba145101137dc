//! `mat` end to end (issue 22): the triple wrap of RFC 2634 / STANAG 4778 on edXML.
//!
//! - **Inner**: the office's document, signed as for any level (who wrote it, over the
//!   plaintext) — the bytes the receiving system gets back, byte for byte.
//! - **Seal**: those bytes encrypted for every final recipient organ and for this organ (the
//!   sender's copy), `crate::seal`: AES-256-GCM, the content key RSA-OAEP-wrapped for each
//!   organ's encryption certificate from the [`Directory`].
//! - **Outer**: an envelope with the inner one's routing header (From, To, Code, dates,
//!   priority, the label) and nothing else readable — Subject, Content and SignerInfo empty,
//!   no attachments — whose body is the `xenc:EncryptedData`; signed by this gateway. Relays
//!   verify it, run `decide()` on its label and carry it; they hold no key that opens it.
//!
//! Only the outer envelope is ever written to a disk. The recipient's gateway opens it in memory
//! to check it at delivery ([`open`]: inner signature, and the inner header bound to the outer
//! one) and again when its receiving system fetches the document.

use std::collections::HashMap;

use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::doc::envelope::{Body, Envelope, SignerInfo};
use crate::doc::label::Level;
use crate::seal::{ContentKeyUnwrap, KeyTransport, Recipient, SealError, Sealed, SoftwareKey};
use crate::sign::{TrustStore, VerifyOptions, verify};

/// The effective level that travels sealed, and the only one.
pub const SEALED_LEVEL: Level = Level::Mat;

/// The MIME type written on the `EncryptedData` of a sealed envelope: its plaintext is an edXML
/// envelope.
pub const SEALED_MIME_TYPE: &str = "application/xml";

/// Why an encryption certificate, a seal or an opened document was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealingError {
    /// A recipient organ has no valid encryption certificate in the directory.
    #[error("no valid encryption certificate for {organ} in [encryption] certificates")]
    NoCertificate {
        /// The organ.
        organ: String,
    },
    /// A directory entry was refused at load.
    #[error("encryption certificate {path}: {reason}")]
    BadEntry {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A `mat` document arrived unsealed, or another level arrived sealed.
    #[error("a {level} document must {rule}")]
    LevelMismatch {
        /// The label's level.
        level: &'static str,
        /// What the rule says.
        rule: &'static str,
    },
    /// An office submitted a body that is already sealed: the gateway seals, from the clear
    /// document it signs (an office cannot prove what junk it encrypted).
    #[error(
        "a submitted document is never sealed: submit it in clear, the gateway seals mat documents"
    )]
    SubmittedSealed,
    /// Sealing or opening failed (named by the seal module).
    #[error("{0}")]
    Seal(#[from] SealError),
    /// No key of this gateway is a recipient of the document.
    #[error("this gateway holds no key the document is sealed for (keys.encryption)")]
    NoKey,
    /// The opened (inner) document does not verify.
    #[error("the sealed document's inner signature: {0}")]
    InnerSignature(String),
    /// The inner document's header differs from the outer one.
    #[error("the sealed document's inner {field} differs from the outer envelope's")]
    Mismatch {
        /// Which field.
        field: &'static str,
    },
}

impl SealingError {
    /// A short stable name (the problem type's last part, the audit's reason).
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoCertificate { .. } => "seal/no-encryption-certificate",
            Self::BadEntry { .. } => "seal/bad-certificate",
            Self::LevelMismatch { .. } => "seal/level",
            Self::SubmittedSealed => "seal/submitted-sealed",
            Self::Seal(_) => "seal/refused",
            Self::NoKey => "seal/not-a-recipient",
            Self::InnerSignature(_) => "seal/inner-signature",
            Self::Mismatch { .. } => "seal/mismatch",
        }
    }
}

/// Organ → encryption certificates, every one checked against the trust anchors at load.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    by_organ: HashMap<String, Recipient>,
}

impl Directory {
    /// Reads `[encryption] certificates` (and this gateway's own installed encryption
    /// certificates, `own`), checking each: chain to an anchor, validity at `at`, CRL, key
    /// usage keyEncipherment present, exactly one organ binding. Of two valid certificates of
    /// one organ the later-issued (later notBefore) is used.
    pub fn load(
        files: &[std::path::PathBuf],
        own: &[Vec<CertificateDer<'static>>],
        trust: &TrustStore,
        at: UnixTime,
    ) -> Result<Self, SealingError> {
        let mut chains: Vec<(String, Vec<CertificateDer<'static>>)> = Vec::new();
        for f in files {
            let path = f.display().to_string();
            let pem = std::fs::read(f).map_err(|e| SealingError::BadEntry {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let chain =
                crate::tls::certs_from_pem(&pem, &path).map_err(|e| SealingError::BadEntry {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            chains.push((path, chain));
        }
        chains.extend(
            own.iter()
                .map(|c| ("keys.encryption".to_owned(), c.clone())),
        );
        let mut by_organ: HashMap<String, (i64, Recipient)> = HashMap::new();
        for (path, chain) in chains {
            let (organ, not_before, r) = entry(&path, &chain, trust, at)?;
            match by_organ.get(&organ) {
                Some((nb, _)) if *nb >= not_before => {}
                _ => {
                    by_organ.insert(organ, (not_before, r));
                }
            }
        }
        Ok(Self {
            by_organ: by_organ.into_iter().map(|(o, (_, r))| (o, r)).collect(),
        })
    }

    /// The certificate `organ`'s documents are sealed for.
    pub fn recipient(&self, organ: &str) -> Result<&Recipient, SealingError> {
        self.by_organ
            .get(organ)
            .ok_or_else(|| SealingError::NoCertificate {
                organ: organ.to_owned(),
            })
    }

    /// How many organs have a certificate.
    pub fn len(&self) -> usize {
        self.by_organ.len()
    }

    /// True when no organ has one.
    pub fn is_empty(&self) -> bool {
        self.by_organ.is_empty()
    }
}

/// One directory entry: (organ, notBefore, recipient).
fn entry(
    path: &str,
    chain: &[CertificateDer<'static>],
    trust: &TrustStore,
    at: UnixTime,
) -> Result<(String, i64, Recipient), SealingError> {
    let bad = |reason: String| SealingError::BadEntry {
        path: path.to_owned(),
        reason,
    };
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| bad("no certificate".to_owned()))?;
    crate::sign::verify::check_encryption_chain(leaf, intermediates, trust, at)
        .map_err(|e| bad(format!("chain: {e}")))?;
    let (_, x) = X509Certificate::from_der(leaf).map_err(|e| bad(e.to_string()))?;
    let ku = x.key_usage().map_err(|e| bad(e.to_string()))?;
    if !ku.is_some_and(|k| k.value.key_encipherment()) {
        return Err(bad(
            "not an encryption certificate: key usage keyEncipherment is missing".to_owned(),
        ));
    }
    let organ = crate::tls::organ_of_parsed(&x)
        .ok_or_else(|| bad("not bound to exactly one organ (SAN urn:lienthong:organ:…)".into()))?;
    let not_before = x.validity().not_before.timestamp();
    let r = Recipient::from_certificate(path, &organ, leaf)?;
    Ok((organ, not_before, r))
}

/// Seals the inner-signed `inner` bytes of `envelope` for `recipients`: the outer envelope,
/// unsigned (the caller signs it as any other).
pub fn seal_envelope(
    envelope: &Envelope,
    inner: &[u8],
    recipients: &[Recipient],
) -> Result<Envelope, SealingError> {
    let sealed = crate::seal::seal(
        inner,
        Some(SEALED_MIME_TYPE),
        recipients,
        KeyTransport::RSA_OAEP_SHA256,
    )?;
    let mut outer = envelope.clone();
    outer.header.subject.clear();
    outer.header.content.clear();
    outer.header.signer = SignerInfo::default();
    outer.header.ext = Default::default();
    outer.header.other.ext = Default::default();
    outer.header_ext = Default::default();
    outer.signature = None;
    outer.body = Body {
        attachments: Vec::new(),
        ext: Default::default(),
        sealed: Some(sealed),
    };
    Ok(outer)
}

/// The level rule every hop applies to a verified envelope, on its *effective* level (the
/// label's, raised by its procedure's minimum: `policy::decide`): `mat` travels sealed, and
/// only `mat` does.
pub fn check_level(envelope: &Envelope, level: Level) -> Result<(), SealingError> {
    match (level == SEALED_LEVEL, envelope.body.sealed.is_some()) {
        (true, false) => Err(SealingError::LevelMismatch {
            level: level.token(),
            rule: "travel sealed (encrypted for its recipients)",
        }),
        (false, true) => Err(SealingError::LevelMismatch {
            level: level.token(),
            rule: "not be sealed (only mat documents are)",
        }),
        _ => Ok(()),
    }
}

/// An opened sealed document: the inner bytes (zeroized on drop) and their signed digest.
pub struct Opened {
    /// The inner-signed envelope, byte for byte as the sender's gateway sealed it.
    pub bytes: Zeroizing<Vec<u8>>,
    /// SHA-256 of its signed content (as `VerifiedDocument::digest`), hex.
    pub digest_hex: String,
}

/// Opens a verified outer envelope with one of `keys`: the inner bytes, after checking that
/// they verify and that their header is the outer one's (From, To, DocumentId, Code, label).
pub fn open(
    outer: &Envelope,
    keys: &[SoftwareKey],
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<Opened, SealingError> {
    let element = outer
        .body
        .sealed
        .as_ref()
        .ok_or(SealingError::LevelMismatch {
            level: outer.label().level.token(),
            rule: "be sealed to be opened",
        })?;
    let sealed = Sealed::from_element(element)?;
    let inner = open_with_any(&sealed, keys)?;
    let verified =
        verify(&inner, trust, options).map_err(|e| SealingError::InnerSignature(e.to_string()))?;
    bound(outer, verified.envelope())?;
    let digest_hex = crate::seal::hex(verified.digest());
    Ok(Opened {
        bytes: inner,
        digest_hex,
    })
}

fn open_with_any(
    sealed: &Sealed,
    keys: &[SoftwareKey],
) -> Result<Zeroizing<Vec<u8>>, SealingError> {
    let ours = |k: &SoftwareKey| {
        sealed
            .keys()
            .iter()
            .any(|w| w.certificate_sha256 == Some(k.certificate_sha256()))
    };
    let key = keys.iter().find(|k| ours(k)).ok_or(SealingError::NoKey)?;
    Ok(sealed.open(key)?)
}

/// The inner header must be the outer one's: a gateway cannot relabel, readdress or rename
/// what it sealed.
fn bound(outer: &Envelope, inner: &Envelope) -> Result<(), SealingError> {
    let (o, i) = (&outer.header, &inner.header);
    let checks: [(&'static str, bool); 6] = [
        ("From", o.from.organ_id == i.from.organ_id),
        (
            "To",
            o.to.iter()
                .map(|t| &t.organ_id)
                .eq(i.to.iter().map(|t| &t.organ_id)),
        ),
        ("DocumentId", o.document_id == i.document_id),
        ("Code", o.code == i.code),
        ("PromulgationInfo", o.promulgation == i.promulgation),
        ("label", outer.label == inner.label),
    ];
    match checks.iter().find(|(_, same)| !same) {
        Some((field, _)) => Err(SealingError::Mismatch { field }),
        None if inner.body.sealed.is_some() => Err(SealingError::LevelMismatch {
            level: inner.label().level.token(),
            rule: "not be sealed twice",
        }),
        None => Ok(()),
    }
}
