//! Keys that open a sealed document: anything that can unwrap a content key wrapped for one
//! certificate. A software RSA key lives here; a PKCS#11 token (the key never leaves it) is
//! another implementation of the same trait, in `pki`.

use rsa::pkcs8::DecodePrivateKey;
use zeroize::Zeroizing;

use super::algorithm::KeyTransport;
use super::error::SealError;
use super::recipient::{certificate_digest, hex};

/// A decryption key bound to one encryption certificate.
pub trait ContentKeyUnwrap {
    /// SHA-256 of the certificate whose key this is: which `EncryptedKey` is ours.
    fn certificate_sha256(&self) -> [u8; 32];
    /// RSA-OAEP-decrypts a wrapped content key. The error is the key's own words; it is never
    /// more precise than "did not unwrap" (no padding oracle).
    fn unwrap_content_key(
        &self,
        transport: KeyTransport,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String>;
}

/// An RSA private key held in memory (from a PKCS#8 file or the keystore), with the digest of
/// its certificate. Never printed.
pub struct SoftwareKey {
    private: rsa::PrivateKey,
    certificate_sha256: [u8; 32],
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("certificate", &hex(&self.certificate_sha256))
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Reads a PKCS#8 DER RSA key and the DER certificate it belongs to; refused when the
    /// certificate's key is not this key's public half.
    pub fn from_pkcs8_der(
        which: &str,
        pkcs8: &[u8],
        certificate: &[u8],
    ) -> Result<Self, SealError> {
        let private = rsa::PrivateKey::from_pkcs8_der(pkcs8).map_err(|e| SealError::BadKey {
            which: which.to_owned(),
            reason: format!("not an RSA PKCS#8 key ({e})"),
        })?;
        let recipient = super::Recipient::from_certificate(which, "", certificate)?;
        if private.as_public_key() != recipient.public_key() {
            return Err(SealError::KeyMismatch {
                certificate: hex(&certificate_digest(certificate)),
            });
        }
        Ok(Self {
            private,
            certificate_sha256: certificate_digest(certificate),
        })
    }
}

impl ContentKeyUnwrap for SoftwareKey {
    fn certificate_sha256(&self) -> [u8; 32] {
        self.certificate_sha256
    }

    fn unwrap_content_key(
        &self,
        transport: KeyTransport,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        transport.unwrap(&self.private, wrapped)
    }
}

/// Reads a PEM `PRIVATE KEY` (PKCS#8) block.
pub fn pkcs8_from_pem(which: &str, pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;
    let key = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| SealError::BadKey {
        which: which.to_owned(),
        reason: format!("no PKCS#8 PRIVATE KEY block ({e})"),
    })?;
    Ok(Zeroizing::new(key.secret_pkcs8_der().to_vec()))
}
