//! A recipient of a sealed document: an encryption certificate, read once, its RSA key and the
//! digest that names it in the `EncryptedKey` wrapped for it.

use ring::digest::{SHA256, digest};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::SealError;

/// The smallest RSA modulus lienthong wraps a content key for.
pub const MIN_RSA_BITS: usize = 2048;

/// One recipient: who (a name for `EncryptedKey/@Recipient`, usually the organ id), which
/// certificate (its SHA-256, written as `dsig11:X509Digest`), and its public key.
#[derive(Clone)]
pub struct Recipient {
    name: String,
    certificate_sha256: [u8; 32],
    public: rsa::PublicKey,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("name", &self.name)
            .field("certificate", &hex(&self.certificate_sha256))
            .finish_non_exhaustive()
    }
}

impl Recipient {
    /// Reads an encryption certificate (DER). `which` names it in errors; `name` is written as
    /// the `Recipient` hint. Refused: not X.509, not RSA, RSA below 2048 bits, and a key usage
    /// that is present without keyEncipherment.
    pub fn from_certificate(which: &str, name: &str, der: &[u8]) -> Result<Self, SealError> {
        let bad = |reason: String| SealError::BadCertificate {
            which: which.to_owned(),
            reason,
        };
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the certificate", rest.len())));
        }
        let ku = cert.key_usage().map_err(|e| bad(e.to_string()))?;
        if ku.is_some_and(|k| !k.value.key_encipherment()) {
            return Err(SealError::NotForEncryption {
                which: which.to_owned(),
            });
        }
        let public = rsa::PublicKey::from_public_key_der(cert.public_key().raw).map_err(|e| {
            SealError::UnsupportedKey {
                which: which.to_owned(),
                reason: format!("not an RSA key lienthong encrypts to ({e})"),
            }
        })?;
        let bits = public.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(SealError::UnsupportedKey {
                which: which.to_owned(),
                reason: format!("RSA-{bits} is below RSA-{MIN_RSA_BITS}"),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            certificate_sha256: certificate_digest(der),
            public,
        })
    }

    /// The name written as `EncryptedKey/@Recipient`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the certificate's DER.
    pub fn certificate_sha256(&self) -> &[u8; 32] {
        &self.certificate_sha256
    }

    /// The RSA public key (for comparing with a token's).
    pub fn public_key(&self) -> &rsa::PublicKey {
        &self.public
    }
}

/// SHA-256 of a certificate's DER: how an `EncryptedKey` names the certificate it is for.
pub fn certificate_digest(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, der).as_ref());
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
