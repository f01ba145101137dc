//! Sealing: bytes encrypted for named recipients as W3C XML Encryption 1.1, so that only the
//! holders of the recipients' encryption keys read them, whatever carries or stores them
//! (issue 22, `mat` end to end). The layout is in `xml.rs` and `schemas/lienthong-seal.xsd`.
//!
//! - The content is encrypted once with a fresh AES-256-GCM key (ring).
//! - That content key is wrapped with RSA-OAEP for each recipient's encryption certificate
//!   (the `rsa` crate, 0.10: ring has no RSA encryption), one `EncryptedKey` each, naming the
//!   certificate by its SHA-256 (`dsig11:X509Digest`).
//! - Opening finds the `EncryptedKey` for the key at hand, unwraps, and authenticates the
//!   content with the GCM tag before returning a single byte; the plaintext is zeroized on
//!   drop.
//!
//! Sealing does not sign: what says who sealed it, and binds the label to the ciphertext, is the
//! XML-DSig signature of the document that carries the `EncryptedData`.

pub mod algorithm;
mod error;
mod key;
mod recipient;
pub mod rng;
mod xml;

use zeroize::Zeroizing;

pub use algorithm::{KeyTransport, OaepHash};
pub use error::SealError;
pub use key::{ContentKeyUnwrap, SoftwareKey, pkcs8_from_pem};

/// A key that opens sealed documents, shared by the gateway's threads (software or token).
pub type SharedKey = std::sync::Arc<dyn ContentKeyUnwrap + Send + Sync>;
pub use recipient::{MIN_RSA_BITS, Recipient, certificate_digest, hex};
pub use xml::{MAX_RECIPIENTS, WrappedKey};

use crate::doc::{Element, Limits};

/// Encrypts `plaintext` for every recipient: the `EncryptedData` element, ready to stand alone
/// or inside an envelope. `mime_type` is written as `@MimeType` (e.g. `application/xml`).
pub fn seal(
    plaintext: &[u8],
    mime_type: Option<&str>,
    recipients: &[Recipient],
    transport: KeyTransport,
) -> Result<Element, SealError> {
    if recipients.is_empty() {
        return Err(SealError::NoRecipient);
    }
    let content_key = algorithm::fresh_content_key()?;
    let ciphertext = algorithm::gcm_seal(content_key.as_ref(), plaintext)?;
    let keys = recipients
        .iter()
        .map(|r| {
            let wrapped = transport
                .wrap(r.public_key(), content_key.as_ref())
                .map_err(|reason| SealError::Wrap {
                    which: r.name().to_owned(),
                    reason,
                })?;
            Ok(xml::encrypted_key(r, transport, &wrapped))
        })
        .collect::<Result<Vec<_>, SealError>>()?;
    Ok(xml::encrypted_data(mime_type, keys, &ciphertext))
}

/// A sealed document as read: its wrapped keys and its ciphertext, not yet opened.
#[derive(Clone, Debug)]
pub struct Sealed {
    mime_type: Option<String>,
    keys: Vec<WrappedKey>,
    ciphertext: Vec<u8>,
}

impl Sealed {
    /// Reads an `EncryptedData` element (structure and algorithms only; nothing is decrypted).
    pub fn from_element(e: &Element) -> Result<Self, SealError> {
        let (method, key_info, cipher_data) = xml::parts(e)?;
        xml::content_method(method)?;
        let keys = xml::wrapped_keys(key_info)?;
        let ciphertext = xml::content(cipher_data)?;
        Ok(Self {
            mime_type: e.attr("MimeType").map(str::to_owned),
            keys,
            ciphertext,
        })
    }

    /// Parses a document whose root is `EncryptedData` (the output of `lienthong encrypt`).
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, SealError> {
        let doc = crate::doc::parse(bytes, limits)?;
        Self::from_element(&doc.root)
    }

    /// `@MimeType`, when given.
    pub fn mime_type(&self) -> Option<&str> {
        self.mime_type.as_deref()
    }

    /// The wrapped keys, one per recipient, in document order.
    pub fn keys(&self) -> &[WrappedKey] {
        &self.keys
    }

    /// Length of the content ciphertext (IV and tag included).
    pub fn ciphertext_len(&self) -> usize {
        self.ciphertext.len()
    }

    /// Decrypts with `key`: the `EncryptedKey` naming `key`'s certificate is unwrapped (or,
    /// when none names one, each that names no certificate is tried), then the content is
    /// authenticated and decrypted.
    pub fn open(&self, key: &dyn ContentKeyUnwrap) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let ours = key.certificate_sha256();
        let mut candidates: Vec<&WrappedKey> = self
            .keys
            .iter()
            .filter(|k| k.certificate_sha256 == Some(ours))
            .collect();
        if candidates.is_empty() {
            candidates = self
                .keys
                .iter()
                .filter(|k| k.certificate_sha256.is_none())
                .collect();
        }
        let mut last = SealError::NotARecipient {
            certificate: hex(&ours),
        };
        for k in candidates {
            match key.unwrap_content_key(k.transport, &k.wrapped) {
                Ok(content_key) => return algorithm::gcm_open(&content_key, &self.ciphertext),
                Err(reason) => {
                    last = SealError::KeyUnwrap {
                        certificate: hex(&ours),
                        reason,
                    }
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests;
