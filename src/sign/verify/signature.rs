//! The signature value over canonical SignedInfo (or a detached message), with the leaf's key.

use ring::signature::{self as rsig, UnparsedPublicKey};

use super::super::algorithm::SignatureAlgorithm;
use super::super::dsig::RSA_SHA1;
use super::chain::LeafKey;
use super::{VerifyError, VerifyOptions};

pub(super) fn verify_signature_value(
    method: &str,
    signature: &[u8],
    key: &LeafKey,
    message: &[u8],
    options: &VerifyOptions,
    subject: &str,
) -> Result<(), VerifyError> {
    let key_kind = key.kind;
    let key_bytes: &[u8] = &key.bytes;
    let mismatch = || VerifyError::KeyMismatch {
        method: method.to_owned(),
        key: key_kind.to_owned(),
    };
    let rsa_bits = || key.rsa_bits;
    let alg: &'static dyn ring::signature::VerificationAlgorithm = match (method, key_kind) {
        (m, "RSA") if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::RsaSha256) => {
            if rsa_bits() < 2048 {
                if !options.allow_legacy {
                    return Err(VerifyError::Legacy {
                        what: format!("RSA-{}", rsa_bits()),
                    });
                }
                &rsig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &rsig::RSA_PKCS1_2048_8192_SHA256
            }
        }
        (RSA_SHA1, "RSA") => {
            if !options.allow_legacy {
                return Err(VerifyError::Legacy {
                    what: "RSA-SHA1".into(),
                });
            }
            &rsig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (m, "EC")
            if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::EcdsaP256Sha256) =>
        {
            // XML-DSig 1.1 §6.4.3: the value is r || s, not DER.
            &rsig::ECDSA_P256_SHA256_FIXED
        }
        (m, "Ed25519") if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::Ed25519) => {
            &rsig::ED25519
        }
        _ => return Err(mismatch()),
    };
    UnparsedPublicKey::new(alg, key_bytes)
        .verify(message, signature)
        .map_err(|_| VerifyError::BadSignature {
            subject: subject.to_owned(),
        })
}
