//! Signature algorithms lienthong signs with, their XML-DSig URIs, and the [`Signer`] trait every
//! key source (PKCS#8 file, encrypted keystore, PKCS#11 token) implements.

/// The signature algorithms lienthong produces and accepts by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256 (RFC 6931 §2.3.2); 2048–4096-bit moduli.
    RsaSha256,
    /// ECDSA on P-256 with SHA-256 (RFC 6931 §2.3.6); the value is `r || s`, 64 bytes
    /// (XML-DSig 1.1 §6.4.3), not DER.
    EcdsaP256Sha256,
    /// Ed25519 (RFC 9231 §2.3.12).
    Ed25519,
}

impl SignatureAlgorithm {
    /// The `SignatureMethod/@Algorithm` URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::EcdsaP256Sha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            Self::Ed25519 => "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519",
        }
    }

    /// The algorithm for a `SignatureMethod/@Algorithm` URI, if lienthong accepts it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::RsaSha256, Self::EcdsaP256Sha256, Self::Ed25519]
            .into_iter()
            .find(|a| a.uri() == uri)
    }

    /// A short name for people and JSON (`rsa-sha256`, `ecdsa-p256-sha256`, `ed25519`).
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa-sha256",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::Ed25519 => "ed25519",
        }
    }
}

/// Why a signer could not produce a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The key could not sign (ring or the token refused). Never carries key material.
    #[error("the signing key {key} could not sign: {reason}")]
    Failed {
        /// Which key (a name or a `pkcs11:` reference, never secret).
        key: String,
        /// What went wrong.
        reason: String,
    },
}

/// Something that signs bytes with a private key it never reveals.
///
/// Implementations: `sign::Pkcs8Signer` (a PKCS#8 key in memory), the keystore's keys and
/// PKCS#11 token objects (`pki`).
pub trait Signer: Send + Sync {
    /// The algorithm this key signs with.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Signs `message` (the canonical SignedInfo). ECDSA returns `r || s`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
}
