//! The signature value over canonical SignedInfo (or a detached message), with the leaf's key.
//!
//! Accepted: what lienthong signs with (rsa-sha256, ecdsa-sha256 on P-256, Ed25519), and for
//! verification only what deployed CAs' holders sign with: rsa-sha384, rsa-sha512 and
//! ecdsa-sha384 on P-384 (RFC 6931 §2.3.2, §2.3.6). ECDSA values are `r || s` (XML-DSig 1.1 §6.4.3);
//! the curve is the certificate key's, told by its uncompressed point length.

use ring::signature::{self as rsig, UnparsedPublicKey, VerificationAlgorithm};

use super::super::algorithm::SignatureAlgorithm;
use super::super::dsig::{ECDSA_SHA384, RSA_SHA1, RSA_SHA384, RSA_SHA512};
use super::chain::LeafKey;
use super::{VerifyError, VerifyOptions};

/// Uncompressed SEC1 points: 0x04 || x || y.
const P256_POINT: usize = 65;
const P384_POINT: usize = 97;

type Alg = &'static dyn VerificationAlgorithm;

pub(super) fn verify_signature_value(
    method: &str,
    signature: &[u8],
    key: &LeafKey,
    message: &[u8],
    options: &VerifyOptions,
    subject: &str,
) -> Result<(), VerifyError> {
    let alg = match key.kind {
        "RSA" => rsa(method, key.rsa_bits, options),
        "EC" => ecdsa(method, key.bytes.len()),
        "Ed25519" if SignatureAlgorithm::from_uri(method) == Some(SignatureAlgorithm::Ed25519) => {
            Ok(Some(&rsig::ED25519 as Alg))
        }
        _ => Ok(None),
    }?;
    let alg = alg.ok_or_else(|| VerifyError::KeyMismatch {
        method: method.to_owned(),
        key: key.kind.to_owned(),
    })?;
    UnparsedPublicKey::new(alg, &key.bytes)
        .verify(message, signature)
        .map_err(|_| VerifyError::BadSignature {
            subject: subject.to_owned(),
        })
}

/// The ring algorithm for an RSA key of `bits`; `None` when `method` is not an RSA method.
fn rsa(method: &str, bits: usize, options: &VerifyOptions) -> Result<Option<Alg>, VerifyError> {
    let legacy = |what: String| -> Result<(), VerifyError> {
        if options.allow_legacy {
            Ok(())
        } else {
            Err(VerifyError::Legacy { what })
        }
    };
    let small = bits < 2048;
    let alg: Alg = match method {
        m if SignatureAlgorithm::from_uri(m) == Some(SignatureAlgorithm::RsaSha256) => {
            if small {
                legacy(format!("RSA-{bits}"))?;
                &rsig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &rsig::RSA_PKCS1_2048_8192_SHA256
            }
        }
        // ring has no legacy (< 2048) variant for SHA-384: such a key is refused as legacy.
        RSA_SHA384 if small => {
            return Err(VerifyError::Legacy {
                what: format!("RSA-{bits}"),
            });
        }
        RSA_SHA384 => &rsig::RSA_PKCS1_2048_8192_SHA384,
        RSA_SHA512 if small => {
            legacy(format!("RSA-{bits}"))?;
            &rsig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        RSA_SHA512 => &rsig::RSA_PKCS1_2048_8192_SHA512,
        RSA_SHA1 => {
            legacy("RSA-SHA1".into())?;
            &rsig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        _ => return Ok(None),
    };
    Ok(Some(alg))
}

/// The ring algorithm for an EC key whose point is `point_len` bytes; `None` on a mismatch
/// (ring verifies fixed-width ECDSA only with the curve's own hash: P-256/SHA-256, P-384/SHA-384).
fn ecdsa(method: &str, point_len: usize) -> Result<Option<Alg>, VerifyError> {
    let sha256 = SignatureAlgorithm::from_uri(method) == Some(SignatureAlgorithm::EcdsaP256Sha256);
    let sha384 = method == ECDSA_SHA384;
    Ok(match (point_len, sha256, sha384) {
        (P256_POINT, true, _) => Some(&rsig::ECDSA_P256_SHA256_FIXED),
        (P384_POINT, _, true) => Some(&rsig::ECDSA_P384_SHA384_FIXED),
        _ => None,
    })
}
