//! The names a key is known by: its algorithm, its status, and the passphrase that opens it.

use super::*;

// === Algorithms and status ===

/// The key algorithms the keystore generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA 2048-bit (signs RSA-SHA256).
    Rsa2048,
    /// RSA 3072-bit (signs RSA-SHA256).
    Rsa3072,
    /// ECDSA P-256 (signs ECDSA-SHA256).
    P256,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::P256 => "p256",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The signature algorithm a key of this kind signs with.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::Rsa2048 | Self::Rsa3072 => SignatureAlgorithm::RsaSha256,
            Self::P256 => SignatureAlgorithm::EcdsaP256Sha256,
            Self::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }

    /// Generates a fresh private key, PKCS#8 DER. RSA comes from the `rsa` crate (ring cannot
    /// generate RSA keys) and is only ever *used* through ring afterwards.
    pub fn generate_pkcs8(self) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let fail = |reason: String| KeystoreError::Generate {
            algorithm: self,
            reason,
        };
        let rng = SystemRandom::new();
        match self {
            Self::Rsa2048 | Self::Rsa3072 => {
                use rsa::pkcs8::EncodePrivateKey;
                let bits = if self == Self::Rsa2048 { 2048 } else { 3072 };
                let key = rsa::PrivateKey::new(&mut crate::seal::rng::RingRng::new(), bits)
                    .map_err(|e| fail(e.to_string()))?;
                let doc = key.to_pkcs8_der().map_err(|e| fail(e.to_string()))?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }
            Self::P256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &rng,
                )
                .map_err(|e| fail(e.to_string()))?;
                Ok(Zeroizing::new(doc.as_ref().to_vec()))
            }
            Self::Ed25519 => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| fail(e.to_string()))?;
                Ok(Zeroizing::new(doc.as_ref().to_vec()))
            }
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = KeystoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Rsa2048, Self::Rsa3072, Self::P256, Self::Ed25519]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| KeystoreError::UnknownAlgorithm { name: s.to_owned() })
    }
}

/// Whether a key may sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyStatus {
    /// Signs.
    Active,
    /// Rotated out: kept so old signatures can be checked against it, never signs again.
    VerifyOnly,
}

impl KeyStatus {
    /// `active` or `verify-only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::VerifyOnly => "verify-only",
        }
    }
}

// === Passphrase ===

/// A keystore passphrase. Zeroized on drop; its `Debug` shows nothing.
pub struct Passphrase(Zeroizing<String>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// Wraps a passphrase; refuses an empty one.
    pub fn new(passphrase: String) -> Result<Self, KeystoreError> {
        let p = Zeroizing::new(passphrase);
        if p.is_empty() {
            return Err(KeystoreError::BadPassphrase {
                reason: "it is empty".to_owned(),
            });
        }
        Ok(Self(p))
    }

    /// Reads [`PASSPHRASE_ENV`]; `None` if unset.
    pub fn from_env() -> Option<Result<Self, KeystoreError>> {
        let v = std::env::var_os(PASSPHRASE_ENV)?;
        Some(match v.into_string() {
            Ok(s) => Self::new(s),
            Err(_) => Err(KeystoreError::BadPassphrase {
                reason: format!("{PASSPHRASE_ENV} is not valid UTF-8"),
            }),
        })
    }

    /// Reads a passphrase file (UTF-8; one trailing newline is not part of the passphrase).
    pub fn from_file(path: &Path) -> Result<Self, KeystoreError> {
        let bytes =
            Zeroizing::new(fs::read(path).map_err(io_err("reading passphrase file", path))?);
        let text = std::str::from_utf8(&bytes).map_err(|_| KeystoreError::BadPassphrase {
            reason: format!("{} is not valid UTF-8", path.display()),
        })?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        Self::new(text.to_owned())
    }

    pub(super) fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
