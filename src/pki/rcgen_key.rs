//! Lets rcgen sign CSRs, certificates and CRLs with any [`Signer`] (a keystore key, a PKCS#11
//! token object), so a CA key never has to exist as a plain rcgen `KeyPair`.

use crate::sign::{SignatureAlgorithm, Signer};

/// A [`Signer`] plus its raw public key, as rcgen's `SigningKey`.
pub(crate) struct RcgenKey<'a> {
    signer: &'a dyn Signer,
    public_key: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
}

impl<'a> RcgenKey<'a> {
    /// `public_key` is the raw key as ring encodes it (RSA: PKCS#1 RSAPublicKey; EC: the
    /// uncompressed point; Ed25519: 32 bytes), i.e. the SPKI's BIT STRING contents.
    pub(crate) fn new(signer: &'a dyn Signer, public_key: Vec<u8>) -> Self {
        Self {
            alg: rcgen_alg(signer.algorithm()),
            signer,
            public_key,
        }
    }
}

/// The rcgen algorithm for a lienthong signature algorithm.
pub(crate) fn rcgen_alg(alg: SignatureAlgorithm) -> &'static rcgen::SignatureAlgorithm {
    match alg {
        SignatureAlgorithm::RsaSha256 => &rcgen::PKCS_RSA_SHA256,
        SignatureAlgorithm::EcdsaP256Sha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        SignatureAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
    }
}

/// DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) for a raw public key.
pub(crate) fn spki_der(alg: SignatureAlgorithm, public_key: &[u8]) -> Vec<u8> {
    struct Raw<'k>(&'k [u8], &'static rcgen::SignatureAlgorithm);
    impl rcgen::PublicKeyData for Raw<'_> {
        fn der_bytes(&self) -> &[u8] {
            self.0
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            self.1
        }
    }
    rcgen::PublicKeyData::subject_public_key_info(&Raw(public_key, rcgen_alg(alg)))
}

impl rcgen::PublicKeyData for RcgenKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

impl rcgen::SigningKey for RcgenKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig = self
            .signer
            .sign(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        match self.signer.algorithm() {
            // X.509 carries ECDSA signatures as DER ECDSA-Sig-Value (RFC 3279 §2.2.3); our
            // signers return r || s (XML-DSig 1.1 §6.4.3).
            SignatureAlgorithm::EcdsaP256Sha256 => {
                ecdsa_fixed_to_der(&sig).ok_or(rcgen::Error::RemoteKeyError)
            }
            _ => Ok(sig),
        }
    }
}

/// `r || s` (64 bytes) → DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub(crate) fn ecdsa_fixed_to_der(sig: &[u8]) -> Option<Vec<u8>> {
    if sig.len() != 64 {
        return None;
    }
    let (r, s) = sig.split_at(32);
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = Vec::with_capacity(34);
        // A DER INTEGER is signed: a set high bit needs a 0x00 in front; zero is one 0x00.
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            body.push(0);
        }
        body.extend_from_slice(&v);
        let mut out = vec![0x02, u8::try_from(body.len()).unwrap_or(0)];
        out.extend_from_slice(&body);
        out
    };
    let mut content = int(r);
    content.extend(int(s));
    // At most 2 × 35 = 70 bytes: the short length form always fits.
    let mut out = vec![0x30, u8::try_from(content.len()).ok()?];
    out.extend(content);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_der_pads_high_bit_and_strips_zeros() {
        let mut sig = [0u8; 64];
        sig[0] = 0x80;
        sig[32] = 0;
        sig[33] = 0x01;
        let der = ecdsa_fixed_to_der(&sig).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 33, 0x00]);
        // s: leading zero stripped: 31 bytes starting 0x01.
        assert_eq!(&der[2 + 35..2 + 37], &[0x02, 31]);
        assert_eq!(der[2 + 37], 0x01);
        assert!(ecdsa_fixed_to_der(&[0; 63]).is_none());
    }
}
