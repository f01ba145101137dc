//! Why sealing or opening failed: one variant per named reason, so that a GCM tag failure is
//! never reported as invalid XML and a missing recipient never as a broken key.

use crate::doc::ParseError;

/// Why a document could not be sealed for its recipients or opened by one of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Sealing needs at least one recipient.
    #[error("no recipient: a sealed document must be readable by at least one organ")]
    NoRecipient,
    /// A recipient certificate cannot be read as X.509.
    #[error("recipient certificate {which}: {reason}")]
    BadCertificate {
        /// Which certificate (its position or file).
        which: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A recipient certificate holds a key lienthong does not encrypt to (not RSA, or RSA
    /// below 2048 bits).
    #[error("recipient certificate {which}: {reason}")]
    UnsupportedKey {
        /// Which certificate.
        which: String,
        /// Why the key is refused.
        reason: String,
    },
    /// A recipient certificate's key usage does not allow key encipherment.
    #[error(
        "recipient certificate {which} is not an encryption certificate: its key usage lacks keyEncipherment"
    )]
    NotForEncryption {
        /// Which certificate.
        which: String,
    },
    /// A private key does not belong to the certificate given with it.
    #[error("the decryption key does not belong to the certificate {certificate}")]
    KeyMismatch {
        /// SHA-256 of the certificate, hex.
        certificate: String,
    },
    /// A private key cannot be read (not PKCS#8, not RSA).
    #[error("decryption key {which}: {reason}")]
    BadKey {
        /// Which key.
        which: String,
        /// Why.
        reason: String,
    },
    /// The input is not well-formed XML within the limits.
    #[error("sealed document: {0}")]
    Xml(#[from] ParseError),
    /// The XML is well formed but not an `EncryptedData` of the layout in
    /// `schemas/lienthong-seal.xsd`.
    #[error("sealed document: {0}")]
    Layout(String),
    /// An algorithm URI (or parameter) outside what lienthong reads.
    #[error("sealed document: unsupported {what} {uri:?}")]
    UnsupportedAlgorithm {
        /// `EncryptionMethod`, `DigestMethod`, `MGF`, …
        what: &'static str,
        /// The URI found.
        uri: String,
    },
    /// A `CipherValue` is not base64.
    #[error("sealed document: {what} is not base64")]
    Base64 {
        /// Which value.
        what: &'static str,
    },
    /// No `EncryptedKey` is addressed to the key at hand.
    #[error("not a recipient: no EncryptedKey is wrapped for the certificate {certificate}")]
    NotARecipient {
        /// SHA-256 of the key's certificate, hex.
        certificate: String,
    },
    /// The wrapped content key did not unwrap (wrong key, swapped or altered `EncryptedKey`).
    #[error("the content key wrapped for {certificate} does not unwrap with this key ({reason})")]
    KeyUnwrap {
        /// SHA-256 of the key's certificate, hex.
        certificate: String,
        /// What the key (software or token) said.
        reason: String,
    },
    /// The content key unwrapped but is not an AES-256 key.
    #[error("the unwrapped content key is {len} bytes, not 32 (AES-256)")]
    ContentKeyLength {
        /// Its length.
        len: usize,
    },
    /// The ciphertext is shorter than an IV and a tag.
    #[error("ciphertext is {len} bytes, shorter than a 12-byte IV and a 16-byte tag")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// AES-GCM authentication failed: the ciphertext, IV or tag was altered, or the content
    /// key is not the one it was sealed with.
    #[error("AES-GCM authentication failed: the ciphertext, its IV or its tag was altered")]
    Tag,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// An RSA operation failed while sealing.
    #[error("RSA-OAEP wrapping failed for {which}: {reason}")]
    Wrap {
        /// Which recipient.
        which: String,
        /// Why.
        reason: String,
    },
}

impl SealError {
    /// A short stable name for the reason (metrics, audit, `--json`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoRecipient => "no_recipient",
            Self::BadCertificate { .. } => "bad_certificate",
            Self::UnsupportedKey { .. } => "unsupported_key",
            Self::NotForEncryption { .. } => "not_for_encryption",
            Self::KeyMismatch { .. } => "key_mismatch",
            Self::BadKey { .. } => "bad_key",
            Self::Xml(_) => "xml",
            Self::Layout(_) => "layout",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::Base64 { .. } => "base64",
            Self::NotARecipient { .. } => "not_a_recipient",
            Self::KeyUnwrap { .. } => "key_unwrap",
            Self::ContentKeyLength { .. } => "content_key_length",
            Self::Truncated { .. } => "truncated",
            Self::Tag => "tag",
            Self::Random => "random",
            Self::Wrap { .. } => "wrap",
        }
    }
}
