//! The ceiling: raw ring operations, one thread, the same signer type the gateway uses
//! ([`Pkcs8Signer`]) and ring's `UnparsedPublicKey` for verification.

use std::time::Duration;

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::Serialize;

use super::{BenchError, rate};
use crate::pki::KeyAlgorithm;
use crate::sign::{Pkcs8Signer, Signer};

/// Raw operations per second on one core.
#[derive(Clone, Debug, Serialize)]
pub struct Ceiling {
    /// RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second.
    pub rsa2048_sign_per_s: f64,
    /// RSA-2048 verifications per second.
    pub rsa2048_verify_per_s: f64,
    /// ECDSA P-256 SHA-256 signatures per second.
    pub p256_sign_per_s: f64,
    /// ECDSA P-256 verifications per second.
    pub p256_verify_per_s: f64,
    /// Ed25519 signatures per second.
    pub ed25519_sign_per_s: f64,
    /// Ed25519 verifications per second.
    pub ed25519_verify_per_s: f64,
    /// SHA-256 throughput over 1 MiB buffers, MB/s (10^6 bytes).
    pub sha256_mb_per_s: f64,
}

/// What is signed: about the size of a canonical `SignedInfo` (the message a document signature
/// really covers), so hashing costs what it costs in a document signature.
const MESSAGE_LEN: usize = 800;

fn signer(what: &'static str, alg: KeyAlgorithm) -> Result<Pkcs8Signer, BenchError> {
    let key = |reason: String| BenchError::Key { what, reason };
    let der = alg.generate_pkcs8().map_err(|e| key(e.to_string()))?;
    Pkcs8Signer::from_der(what, &der).map_err(|e| key(e.to_string()))
}

fn sign_verify(
    budget: Duration,
    what: &'static str,
    alg: KeyAlgorithm,
    verify_alg: &'static dyn VerificationAlgorithm,
) -> Result<(f64, f64), BenchError> {
    let s = signer(what, alg)?;
    let msg = vec![0x5a_u8; MESSAGE_LEN];
    let failed = |reason: String| BenchError::Operation { what, reason };
    let sign = rate(budget, || {
        s.sign(&msg).map(drop).map_err(|e| failed(e.to_string()))
    })?;
    let sig = s.sign(&msg).map_err(|e| failed(e.to_string()))?;
    let public = UnparsedPublicKey::new(verify_alg, s.public_key().to_vec());
    let verify = rate(budget, || {
        public
            .verify(&msg, &sig)
            .map_err(|_| failed("a fresh signature did not verify".to_owned()))
    })?;
    Ok((sign, verify))
}

/// Measures every raw operation for about `budget` each.
pub fn measure(budget: Duration) -> Result<Ceiling, BenchError> {
    let (rsa_s, rsa_v) = sign_verify(
        budget,
        "RSA-2048",
        KeyAlgorithm::Rsa2048,
        &signature::RSA_PKCS1_2048_8192_SHA256,
    )?;
    let (p_s, p_v) = sign_verify(
        budget,
        "ECDSA P-256",
        KeyAlgorithm::P256,
        &signature::ECDSA_P256_SHA256_FIXED,
    )?;
    let (e_s, e_v) = sign_verify(
        budget,
        "Ed25519",
        KeyAlgorithm::Ed25519,
        &signature::ED25519,
    )?;
    let buf = vec![0xa5_u8; 1 << 20];
    let per_s = rate(budget, || {
        std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &buf));
        Ok(())
    })?;
    Ok(Ceiling {
        rsa2048_sign_per_s: rsa_s,
        rsa2048_verify_per_s: rsa_v,
        p256_sign_per_s: p_s,
        p256_verify_per_s: p_v,
        ed25519_sign_per_s: e_s,
        ed25519_verify_per_s: e_v,
        sha256_mb_per_s: per_s * (buf.len() as f64) / 1e6,
    })
}
