//! Keys and certificates for cryptography staff: the encrypted keystore, CSRs, a small CA with
//! revocation and CRLs, the demo PKI, and PKCS#11 tokens.
//!
//! - [`keystore`]: private keys at rest, sealed with AES-256-GCM under a PBKDF2 passphrase key.
//! - [`csr`]: PKCS#10 requests binding a key to an organ (SAN URI `urn:lienthong:organ:<ID>`).
//! - [`ca`]: root + intermediate CA; issues document-signing and TLS certificates, revokes,
//!   signs CRLs.
//! - [`demo`]: one call that makes the whole demo PKI (`lienthong pki init`).
//! - [`check`]: one chain checked for one purpose by the gateway's own code (`pki check-chain`).
//! - [`pkcs11`]: signing keys that never leave a token.
//! - [`load_signer`]: the one door from a key reference (keystore name or `pkcs11:` URI) to a
//!   [`Signer`].

pub mod ca;
pub mod cert;
pub mod check;
pub mod csr;
pub mod demo;
pub(crate) mod fsutil;
pub mod keystore;
pub mod pkcs11;
mod rcgen_key;

use std::path::Path;

use crate::sign::Signer;

pub use ca::{Ca, CaError, CrlUrl, Profile, RevocationReason};
pub use cert::{CertError, CertSummary};
pub use keystore::{
    KeyAlgorithm, KeyInfo, KeyStatus, Keystore, KeystoreError, LoadedKey, Passphrase,
};
pub use pkcs11::{Pkcs11Error, Pkcs11Uri};

/// The SAN URI prefix binding a certificate to an organ: `urn:lienthong:organ:<ORGAN_ID>`.
pub const ORGAN_URI_PREFIX: &str = "urn:lienthong:organ:";

/// The docSigning extended key usage, id-kp-documentSigning (RFC 9336 §3.1): 1.3.6.1.5.5.7.3.36.
pub const DOC_SIGNING_EKU: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 36];

/// The same OID, DER-encoded content octets (what rustls-webpki's `KeyUsage` takes).
pub const DOC_SIGNING_EKU_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

/// Why `pki` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A keystore operation failed.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// A CA operation failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A PKCS#11 operation failed.
    #[error(transparent)]
    Pkcs11(#[from] Pkcs11Error),
    /// A certificate could not be read.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// A certificate request could not be made or read.
    #[error(transparent)]
    Csr(#[from] csr::CsrError),
    /// An organ id is not acceptable.
    #[error(
        "invalid organ id {organ:?}: use 1–64 letters, digits, '.', '_' or '-' (e.g. TU.BENTRE)"
    )]
    InvalidOrgan {
        /// The refused id.
        organ: String,
    },
    /// A keystore key was named but no keystore directory is known.
    #[error(
        "key {key} is a keystore name but no keystore was given (use --keystore or LIENTHONG_KEYSTORE)"
    )]
    NoKeystore {
        /// The key reference.
        key: String,
    },
    /// A keystore key was named but no passphrase is known.
    #[error("key {key} needs a passphrase (set LIENTHONG_PASSPHRASE or use --passphrase-file)")]
    NoPassphrase {
        /// The key reference.
        key: String,
    },
}

/// Checks an organ id: 1–64 ASCII letters, digits, `.`, `_`, `-` (it goes into a URI and a
/// directory name, so nothing else).
pub fn check_organ_id(organ: &str) -> Result<(), PkiError> {
    let ok = !organ.is_empty()
        && organ.len() <= 64
        && !organ.starts_with('.')
        && organ
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidOrgan {
            organ: organ.to_owned(),
        })
    }
}

/// Resolves a key reference to a [`Signer`]: a `pkcs11:` URI (RFC 7512) signs on the token, any
/// other reference is the name of an active key in the keystore.
///
/// - `keystore`: the keystore directory; `None` reads [`keystore::KEYSTORE_ENV`].
/// - `passphrase`: for keystore keys; `None` reads [`keystore::PASSPHRASE_ENV`].
/// - PKCS#11: module from the URI's `module-path` or `LIENTHONG_PKCS11_MODULE`; PIN from
///   `LIENTHONG_PKCS11_PIN`, the URI's `pin-source=file:…`, or `LIENTHONG_PKCS11_PIN_FILE`
///   (see [`pkcs11::Pkcs11Signer::from_env`]). Never from argv.
///
/// Verify-only (rotated) keys are refused: they must not sign.
pub fn load_signer(
    key_ref: &str,
    keystore: Option<&Path>,
    passphrase: Option<&Passphrase>,
) -> Result<Box<dyn Signer>, PkiError> {
    if key_ref.starts_with("pkcs11:") {
        let uri = Pkcs11Uri::parse(key_ref)?;
        return Ok(Box::new(pkcs11::Pkcs11Signer::from_env(&uri)?));
    }
    let dir = match keystore {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os(keystore::KEYSTORE_ENV)
            .map(std::path::PathBuf::from)
            .ok_or_else(|| PkiError::NoKeystore {
                key: key_ref.to_owned(),
            })?,
    };
    let owned;
    let passphrase = match passphrase {
        Some(p) => p,
        None => {
            owned = Passphrase::from_env().ok_or_else(|| PkiError::NoPassphrase {
                key: key_ref.to_owned(),
            })??;
            &owned
        }
    };
    let ks = Keystore::open(&dir)?;
    Ok(Box::new(ks.load_active(key_ref, passphrase)?.into_signer()))
}
