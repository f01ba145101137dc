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
//! Whom a document is sealed for comes from the [`Directory`] (`gateway/directory.rs`).
//!
//! Only the outer envelope is ever written to a disk. The recipient's gateway opens it in memory
//! to check it at delivery ([`open`]: inner signature, and the inner header bound to the outer
//! one) and again when its receiving system fetches the document.

use zeroize::Zeroizing;

pub use super::directory::Directory;
use crate::doc::envelope::{Body, Envelope, SignerInfo};
use crate::doc::label::Level;
use crate::seal::{KeyTransport, Recipient, SealError, Sealed, SharedKey};
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
    /// The signed directory was refused (signature, issuer, format, or older than the one in
    /// use).
    #[error("organ directory {path}: {reason}")]
    BadDirectory {
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
    /// The stored (outer) envelope does not verify any more.
    #[error("the sealed document's outer signature: {0}")]
    OuterSignature(String),
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
            Self::BadDirectory { .. } => "seal/bad-directory",
            Self::LevelMismatch { .. } => "seal/level",
            Self::SubmittedSealed => "seal/submitted-sealed",
            Self::Seal(_) => "seal/refused",
            Self::NoKey => "seal/not-a-recipient",
            Self::InnerSignature(_) => "seal/inner-signature",
            Self::OuterSignature(_) => "seal/outer-signature",
            Self::Mismatch { .. } => "seal/mismatch",
        }
    }
}

/// What `/meta` shows of a sealed document as stored: the outer signature and the wrapping —
/// never anything of the plaintext.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SealedView {
    /// The outer envelope's signer (the sending gateway's organ) and its certificate subject.
    pub outer_signer: String,
    /// Its certificate's subject.
    pub outer_signer_subject: String,
    /// Digest of the outer envelope's signed content, hex.
    pub outer_digest_sha256: String,
    /// The content cipher.
    pub content_algorithm: &'static str,
    /// Bytes of IV, ciphertext and tag.
    pub ciphertext_bytes: usize,
    /// One per wrapped key: the `Recipient` hint, the certificate's SHA-256, the transport.
    pub recipients: Vec<SealedRecipient>,
}

/// One wrapped key as `/meta` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SealedRecipient {
    /// `EncryptedKey/@Recipient` (the organ id lienthong writes).
    pub organ: Option<String>,
    /// SHA-256 of the encryption certificate, hex.
    pub certificate_sha256: Option<String>,
    /// The key transport's URI.
    pub key_transport: &'static str,
}

/// Reads the stored (outer) bytes of a sealed document for `/meta`; `None` when not sealed.
pub fn view(
    stored: &[u8],
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<Option<SealedView>, SealingError> {
    let v =
        verify(stored, trust, options).map_err(|e| SealingError::OuterSignature(e.to_string()))?;
    let Some(element) = v.envelope().body.sealed.as_ref() else {
        return Ok(None);
    };
    let sealed = Sealed::from_element(element)?;
    Ok(Some(SealedView {
        outer_signer: v.signer().organ().to_owned(),
        outer_signer_subject: v.signer().subject().to_owned(),
        outer_digest_sha256: crate::seal::hex(v.digest()),
        content_algorithm: crate::seal::algorithm::AES256_GCM,
        ciphertext_bytes: sealed.ciphertext_len(),
        recipients: sealed
            .keys()
            .iter()
            .map(|k| SealedRecipient {
                organ: k.recipient.clone(),
                certificate_sha256: k.certificate_sha256.map(|d| crate::seal::hex(&d)),
                key_transport: k.transport.uri(),
            })
            .collect(),
    }))
}

/// Seals the inner-signed `inner` bytes of `envelope` for `recipients`: the outer envelope,
/// unsigned (the caller signs it as any other).
pub fn seal_envelope(
    envelope: &Envelope,
    inner: &[u8],
    recipients: &[Recipient],
    transport: KeyTransport,
) -> Result<Envelope, SealingError> {
    let sealed = crate::seal::seal(inner, Some(SEALED_MIME_TYPE), recipients, transport)?;
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
    keys: &[SharedKey],
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

/// [`open`] with this gateway's keys and trust, now; a refusal is audited as a signature
/// refusal of `organ`'s document (`context` says where). Blocking (RSA, audit fsync).
pub fn open_audited(
    shared: &super::Shared,
    outer: &Envelope,
    message_id: &str,
    organ: &str,
    context: &str,
) -> Result<Opened, SealingError> {
    let r = open(
        outer,
        &shared.keys.decryption,
        &shared.trust(),
        &VerifyOptions::now(),
    );
    if let Err(e) = &r {
        shared.audit(crate::audit::Event::signature_refused(
            organ,
            Some(message_id),
            &format!("{context}: {}: {e}", e.name()),
        ));
    }
    r
}

fn open_with_any(sealed: &Sealed, keys: &[SharedKey]) -> Result<Zeroizing<Vec<u8>>, SealingError> {
    let ours = |k: &SharedKey| {
        sealed
            .keys()
            .iter()
            .any(|w| w.certificate_sha256 == Some(k.certificate_sha256()))
    };
    let key = keys.iter().find(|k| ours(k)).ok_or(SealingError::NoKey)?;
    Ok(sealed.open(key.as_ref())?)
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

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::path::{Path, PathBuf};

    use proptest::prelude::*;
    use rustls_pki_types::UnixTime;

    use super::*;
    use crate::doc::envelope::{EnvelopeLimits, parse_envelope};
    use crate::doc::label::Level;
    use crate::doc::write::write_document;
    use crate::seal::pkcs8_from_pem;
    use crate::sign::{Pkcs8Signer, sign_document};
    use crate::tls::certs_from_pem;

    fn certs() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("certs")
    }

    fn trust() -> TrustStore {
        let mut t = TrustStore::new();
        t.add_anchors_pem_file(&certs().join("root.pem")).unwrap();
        t.add_crl_file(&certs().join("crl.pem")).unwrap();
        t
    }

    /// Inside the demo PKI's validity whatever the clock says.
    fn at() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_811_808_000))
    }

    fn options() -> VerifyOptions {
        VerifyOptions {
            at: at(),
            ..VerifyOptions::now()
        }
    }

    fn sources(files: &[PathBuf]) -> crate::gateway::directory::Sources<'_> {
        crate::gateway::directory::Sources {
            files,
            signed: None,
            own: &[],
            min_serial: 0,
        }
    }

    fn directory() -> Directory {
        let files: Vec<PathBuf> = ["VPTW", "TU.BENTRE", "HU.CHAUTHANH"]
            .iter()
            .map(|o| certs().join(o).join("encryption.cert.pem"))
            .collect();
        Directory::load(sources(&files), &trust(), at()).unwrap()
    }

    fn key(organ: &str) -> SharedKey {
        let dir = certs().join(organ);
        let pkcs8 = pkcs8_from_pem(
            organ,
            &std::fs::read(dir.join("encryption.key.pem")).unwrap(),
        )
        .unwrap();
        let chain = certs_from_pem(
            &std::fs::read(dir.join("encryption.cert.pem")).unwrap(),
            "test",
        )
        .unwrap();
        std::sync::Arc::new(
            crate::seal::SoftwareKey::from_pkcs8_der(organ, &pkcs8, &chain[0]).unwrap(),
        )
    }

    /// The district's signed document (its envelope and bytes), with `edit` applied first.
    fn signed(edit: impl FnOnce(&mut Envelope)) -> (Envelope, Vec<u8>) {
        let xml = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples/bao-cao-mat.xml"),
        )
        .unwrap();
        let (_, mut env) = parse_envelope(&xml, &EnvelopeLimits::default()).unwrap();
        env.signature = None;
        edit(&mut env);
        (env.clone(), sign(&env))
    }

    fn sign(env: &Envelope) -> Vec<u8> {
        let dir = certs().join("HU.CHAUTHANH");
        let signer =
            Pkcs8Signer::from_pem("s", &std::fs::read(dir.join("signing.key.pem")).unwrap())
                .unwrap();
        let chain =
            certs_from_pem(&std::fs::read(dir.join("signing.cert.pem")).unwrap(), "s").unwrap();
        let mut doc = env.to_document();
        sign_document(&mut doc, &signer, &chain).unwrap();
        write_document(&doc)
    }

    /// Seals `inner` under `header`'s outer envelope for `organs`, signs it, and reads it back
    /// as a relay would.
    fn outer(header: &Envelope, inner: &[u8], organs: &[&str]) -> (Envelope, Vec<u8>) {
        let dir = directory();
        let recipients: Vec<Recipient> = organs
            .iter()
            .map(|o| dir.recipient(o).unwrap().clone())
            .collect();
        let outer =
            seal_envelope(header, inner, &recipients, KeyTransport::RSA_OAEP_SHA256).unwrap();
        let bytes = sign(&outer);
        let v = verify(&bytes, &trust(), &options()).unwrap();
        (v.envelope().clone(), bytes)
    }

    #[test]
    fn a_recipient_opens_the_inner_document_byte_for_byte() {
        let (env, inner) = signed(|_| {});
        let (out, bytes) = outer(&env, &inner, &["TU.BENTRE", "HU.CHAUTHANH"]);
        assert!(out.header.subject.is_empty() && out.header.content.is_empty());
        assert!(out.body.attachments.is_empty() && out.body.sealed.is_some());
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains(&env.header.subject));
        for organ in ["TU.BENTRE", "HU.CHAUTHANH"] {
            let opened = open(&out, &[key(organ)], &trust(), &options()).unwrap();
            assert_eq!(opened.bytes.as_slice(), inner.as_slice());
        }
        assert!(matches!(
            open(&out, &[key("VPTW")], &trust(), &options()),
            Err(SealingError::NoKey)
        ));
        // An old key listed first does not hide the current one (rotation).
        let opened = open(&out, &[key("VPTW"), key("TU.BENTRE")], &trust(), &options()).unwrap();
        assert_eq!(opened.bytes.as_slice(), inner.as_slice());
    }

    #[test]
    fn mat_travels_sealed_and_only_mat() {
        let (env, inner) = signed(|_| {});
        let (out, _) = outer(&env, &inner, &["TU.BENTRE"]);
        check_level(&out, Level::Mat).unwrap();
        assert!(matches!(
            check_level(&out, Level::Thuong),
            Err(SealingError::LevelMismatch { .. })
        ));
        assert!(matches!(
            check_level(&env, Level::Mat),
            Err(SealingError::LevelMismatch { .. })
        ));
    }

    #[test]
    fn the_inner_header_is_bound_to_the_outer_one() {
        let (env, inner) = signed(|_| {});
        // A downgrade: the outer label says thuong over a mat inner document.
        let mut relabelled = env.clone();
        relabelled.label.level = Level::Thuong;
        let (out, _) = outer(&relabelled, &inner, &["TU.BENTRE"]);
        assert!(matches!(
            open(&out, &[key("TU.BENTRE")], &trust(), &options()),
            Err(SealingError::Mismatch { field: "label" })
        ));
        // Another document of the same sender sealed under this outer header.
        let (_, other) = signed(|e| e.header.document_id.push('X'));
        let (out, _) = outer(&env, &other, &["TU.BENTRE"]);
        assert!(matches!(
            open(&out, &[key("TU.BENTRE")], &trust(), &options()),
            Err(SealingError::Mismatch { .. })
        ));
        // Readdressed: the outer To names another organ.
        let mut readdressed = env.clone();
        readdressed.header.to[0].organ_id = "VPTW".parse().unwrap();
        let (out, _) = outer(&readdressed, &inner, &["TU.BENTRE"]);
        assert!(matches!(
            open(&out, &[key("TU.BENTRE")], &trust(), &options()),
            Err(SealingError::Mismatch { field: "To" })
        ));
        // Junk sealed: it opens but is not a signed envelope.
        let (out, _) = outer(&env, b"<junk/>", &["TU.BENTRE"]);
        assert!(matches!(
            open(&out, &[key("TU.BENTRE")], &trust(), &options()),
            Err(SealingError::InnerSignature(_))
        ));
    }

    #[test]
    fn the_directory_takes_only_encryption_certificates() {
        let dir = directory();
        assert_eq!(dir.len(), 3);
        assert!(matches!(
            dir.recipient("XA.TANTHACH"),
            Err(SealingError::NoCertificate { .. })
        ));
        for (file, why) in [
            ("signing.cert.pem", "not for encryption"),
            ("tls.cert.pem", "not for encryption"),
        ] {
            let path = certs().join("TU.BENTRE").join(file);
            let dir = Directory::load(sources(&[path]), &trust(), at()).unwrap();
            assert!(dir.is_empty(), "{file}");
            assert!(
                matches!(dir.skipped(), [reason] if reason.contains(why)),
                "{file}: {:?}",
                dir.skipped()
            );
        }
        // Past the certificates' validity.
        let late = UnixTime::since_unix_epoch(std::time::Duration::from_secs(2_000_000_000));
        let path = certs().join("VPTW").join("encryption.cert.pem");
        let dir = Directory::load(sources(&[path]), &trust(), late).unwrap();
        assert!(dir.recipient("VPTW").is_err() && dir.skipped().len() == 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Whatever the recipients and the text, the sealed bytes never hold the plaintext.
        #[test]
        fn the_plaintext_never_appears_in_the_sealed_bytes(
            subject in "[A-Za-z]{12,40}",
            content in "[A-Za-z ]{12,80}",
            mask in 1u8..8,
        ) {
            let organs: Vec<&str> = ["VPTW", "TU.BENTRE", "HU.CHAUTHANH"]
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, o)| *o)
                .collect();
            let (env, inner) = signed(|e| {
                e.header.subject = subject.clone();
                e.header.content = content.clone();
            });
            let (_, bytes) = outer(&env, &inner, &organs);
            let find = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            prop_assert!(!find(&subject));
            prop_assert!(!find(&content));
        }
    }
}
