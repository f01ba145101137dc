//! A [`Signer`] over a PKCS#8 private key held in memory (ring). The key bytes are zeroized on
//! drop and never printed.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use super::algorithm::{SignatureAlgorithm, Signer, SignerError};

/// Why a PKCS#8 key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// PEM armour missing or malformed.
    #[error("key {name}: not a PKCS#8 PEM private key ({reason})")]
    Pem {
        /// Key name or path.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// ring refused the key for every supported algorithm.
    #[error("key {name}: not an RSA (2048–4096 bit), ECDSA P-256 or Ed25519 PKCS#8 key ({reason})")]
    Unsupported {
        /// Key name or path.
        name: String,
        /// ring's reason for the last attempt.
        reason: String,
    },
}

enum Pair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A PKCS#8 key loaded into ring.
pub struct Pkcs8Signer {
    name: String,
    pair: Pair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Pkcs8Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs8Signer")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl Pkcs8Signer {
    /// Loads a DER PKCS#8 key; the algorithm is found from the key itself.
    pub fn from_der(name: &str, der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pair = match RsaKeyPair::from_pkcs8(der) {
            Ok(k) => Pair::Rsa(k),
            Err(rsa_err) => match EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &rng,
            ) {
                Ok(k) => Pair::Ecdsa(k),
                Err(_) => match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    Ok(k) => Pair::Ed25519(k),
                    Err(_) => {
                        return Err(KeyError::Unsupported {
                            name: name.to_owned(),
                            reason: rsa_err.to_string(),
                        });
                    }
                },
            },
        };
        Ok(Self {
            name: name.to_owned(),
            pair,
            rng,
        })
    }

    /// Loads a PEM `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(name: &str, pem: &[u8]) -> Result<Self, KeyError> {
        use rustls_pki_types::PrivatePkcs8KeyDer;
        use rustls_pki_types::pem::PemObject;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| KeyError::Pem {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        let bytes = Zeroizing::new(der.secret_pkcs8_der().to_vec());
        Self::from_der(name, &bytes)
    }

    /// The public key as ring encodes it (RSA: PKCS#1 RSAPublicKey; EC: uncompressed point;
    /// Ed25519: 32 bytes), used to match a certificate to its key.
    pub fn public_key(&self) -> &[u8] {
        match &self.pair {
            Pair::Rsa(k) => k.public().as_ref(),
            Pair::Ecdsa(k) => k.public_key().as_ref(),
            Pair::Ed25519(k) => k.public_key().as_ref(),
        }
    }
}

impl Signer for Pkcs8Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        match self.pair {
            Pair::Rsa(_) => SignatureAlgorithm::RsaSha256,
            Pair::Ecdsa(_) => SignatureAlgorithm::EcdsaP256Sha256,
            Pair::Ed25519(_) => SignatureAlgorithm::Ed25519,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let failed = |reason: String| SignerError::Failed {
            key: self.name.clone(),
            reason,
        };
        match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|e| failed(e.to_string()))?;
                Ok(sig)
            }
            Pair::Ecdsa(k) => Ok(k
                .sign(&self.rng, message)
                .map_err(|e| failed(e.to_string()))?
                .as_ref()
                .to_vec()),
            Pair::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}
