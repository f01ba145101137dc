//! The algorithms of a sealed document, by their XML Encryption URIs: AES-256-GCM for the
//! content (ring), RSA-OAEP for the content key (the `rsa` crate: ring has no RSA encryption).
//!
//! What is read is exactly what is written, plus the one OAEP form xmlsec1 1.2 (Debian 12)
//! reads and writes: `xmlenc#rsa-oaep-mgf1p` with SHA-1 — OAEP's security does not rest on the
//! hash's collision resistance, so SHA-1 there is not the weakness it is in a signature.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::error::SealError;

/// XML Encryption 1.0 namespace (`EncryptedData`, `EncryptedKey`, `CipherData`, …).
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Encryption 1.1 namespace (`MGF`).
pub const XENC11_NS: &str = "http://www.w3.org/2009/xmlenc11#";
/// XML-DSig namespace (`KeyInfo`, `X509Data`, `DigestMethod`).
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML-DSig 1.1 namespace (`X509Digest`).
pub const DSIG11_NS: &str = "http://www.w3.org/2009/xmldsig11#";

/// AES-256-GCM, XML Encryption 1.1 §5.2.4: the cipher value is IV (12) ‖ ciphertext ‖ tag (16).
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
/// RSA-OAEP with explicit digest and MGF (XML Encryption 1.1 §5.5.2).
pub const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
/// RSA-OAEP with MGF1-SHA1 (XML Encryption 1.0 §5.4.2).
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// SHA-1 as an OAEP digest.
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
/// SHA-256 as an OAEP digest, and as the `X509Digest` algorithm.
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// MGF1 with SHA-1.
pub const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
/// MGF1 with SHA-256.
pub const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";

/// Length of the AES-256 content key.
pub const CONTENT_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// A hash inside OAEP (the label hash, or MGF1's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

/// Runs `$body` with `$p` bound to the OAEP padding of `$t`'s two hashes (the `rsa` crate takes
/// them as type parameters).
macro_rules! with_oaep {
    ($t:expr, |$p:ident| $body:expr) => {
        match ($t.digest, $t.mgf) {
            (OaepHash::Sha1, OaepHash::Sha1) => {
                let $p = oaep::<sha1::Sha1, sha1::Sha1>();
                $body
            }
            (OaepHash::Sha256, OaepHash::Sha256) => {
                let $p = oaep::<rsa::sha2::Sha256, rsa::sha2::Sha256>();
                $body
            }
            (OaepHash::Sha256, OaepHash::Sha1) => {
                let $p = oaep::<rsa::sha2::Sha256, sha1::Sha1>();
                $body
            }
            (OaepHash::Sha1, OaepHash::Sha256) => {
                let $p = oaep::<sha1::Sha1, rsa::sha2::Sha256>();
                $body
            }
        }
    };
}

/// How the content key is wrapped for one recipient: RSA-OAEP, with its URI form and hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyTransport {
    /// `true` for `xmlenc#rsa-oaep-mgf1p` (MGF1-SHA1 by definition), `false` for
    /// `xmlenc11#rsa-oaep`.
    pub mgf1p: bool,
    /// The OAEP digest (`DigestMethod`; SHA-1 when absent).
    pub digest: OaepHash,
    /// MGF1's hash (`MGF`; SHA-1 when absent).
    pub mgf: OaepHash,
}

impl KeyTransport {
    /// lienthong's default: `xmlenc11#rsa-oaep`, SHA-256 and MGF1-SHA256.
    pub const RSA_OAEP_SHA256: Self = Self {
        mgf1p: false,
        digest: OaepHash::Sha256,
        mgf: OaepHash::Sha256,
    };
    /// What xmlsec1 1.2 reads: `xmlenc#rsa-oaep-mgf1p` with SHA-1.
    pub const RSA_OAEP_MGF1P_SHA1: Self = Self {
        mgf1p: true,
        digest: OaepHash::Sha1,
        mgf: OaepHash::Sha1,
    };

    /// The `EncryptionMethod` URI.
    pub fn uri(self) -> &'static str {
        if self.mgf1p { RSA_OAEP_MGF1P } else { RSA_OAEP }
    }

    /// Reads the method from its URI and its `DigestMethod` / `MGF` children's URIs.
    pub fn from_uris(
        uri: &str,
        digest: Option<&str>,
        mgf: Option<&str>,
    ) -> Result<Self, SealError> {
        let unsupported = |what, uri: &str| SealError::UnsupportedAlgorithm {
            what,
            uri: uri.to_owned(),
        };
        let digest = match digest {
            None | Some(SHA1) => OaepHash::Sha1,
            Some(SHA256) => OaepHash::Sha256,
            Some(other) => return Err(unsupported("DigestMethod", other)),
        };
        match uri {
            RSA_OAEP_MGF1P => match mgf {
                None => Ok(Self {
                    mgf1p: true,
                    digest,
                    mgf: OaepHash::Sha1,
                }),
                Some(other) => Err(unsupported("MGF (rsa-oaep-mgf1p fixes MGF1-SHA1)", other)),
            },
            RSA_OAEP => {
                let mgf = match mgf {
                    None | Some(MGF1_SHA1) => OaepHash::Sha1,
                    Some(MGF1_SHA256) => OaepHash::Sha256,
                    Some(other) => return Err(unsupported("MGF", other)),
                };
                Ok(Self {
                    mgf1p: false,
                    digest,
                    mgf,
                })
            }
            other => Err(unsupported("key transport EncryptionMethod", other)),
        }
    }

    /// The `DigestMethod` URI to write (always written, even for the SHA-1 default).
    pub fn digest_uri(self) -> &'static str {
        match self.digest {
            OaepHash::Sha1 => SHA1,
            OaepHash::Sha256 => SHA256,
        }
    }

    /// The `MGF` URI to write; `None` for mgf1p, where it is fixed.
    pub fn mgf_uri(self) -> Option<&'static str> {
        match (self.mgf1p, self.mgf) {
            (true, _) => None,
            (false, OaepHash::Sha1) => Some(MGF1_SHA1),
            (false, OaepHash::Sha256) => Some(MGF1_SHA256),
        }
    }

    /// Wraps `content_key` for `public`.
    pub fn wrap(self, public: &rsa::PublicKey, content_key: &[u8]) -> Result<Vec<u8>, String> {
        let mut rng = super::rng::RingRng::new();
        with_oaep!(self, |p| public.encrypt(&mut rng, p, content_key)).map_err(|e| e.to_string())
    }

    /// Unwraps a content key with a software RSA key (blinded, constant-time in rsa 0.10).
    pub fn unwrap(
        self,
        private: &rsa::PrivateKey,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut rng = super::rng::RingRng::new();
        with_oaep!(self, |p| private.decrypt_blinded(&mut rng, p, wrapped))
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
    }
}

fn oaep<D, M>() -> rsa::Oaep<D, M>
where
    D: rsa::sha2::Digest + rsa::sha2::digest::FixedOutputReset,
    M: rsa::sha2::Digest + rsa::sha2::digest::FixedOutputReset,
{
    rsa::Oaep::<D, M>::new_with_mgf_hash()
}

/// A fresh random AES-256 content key.
pub fn fresh_content_key() -> Result<Zeroizing<[u8; CONTENT_KEY_LEN]>, SealError> {
    let mut k = Zeroizing::new([0u8; CONTENT_KEY_LEN]);
    SystemRandom::new()
        .fill(k.as_mut())
        .map_err(|_| SealError::Random)?;
    Ok(k)
}

fn gcm_key(key: &[u8]) -> Result<LessSafeKey, SealError> {
    let unbound = UnboundKey::new(&AES_256_GCM, key)
        .map_err(|_| SealError::ContentKeyLength { len: key.len() })?;
    Ok(LessSafeKey::new(unbound))
}

/// AES-256-GCM with a fresh random IV: returns IV ‖ ciphertext ‖ tag, as XML Encryption 1.1
/// lays out the cipher value. A content key seals one document only, so a random IV never
/// repeats under it.
pub fn gcm_seal(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let key = gcm_key(key)?;
    let mut iv = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut iv)
        .map_err(|_| SealError::Random)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&iv);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::empty(),
            out.get_mut(NONCE_LEN..).unwrap_or_default(),
        )
        .map_err(|_| SealError::Random)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens IV ‖ ciphertext ‖ tag; the plaintext is zeroized when dropped.
pub fn gcm_open(key: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let key = gcm_key(key)?;
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated { len: sealed.len() });
    }
    let (iv, rest) = sealed.split_at(NONCE_LEN);
    let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| SealError::Tag)?;
    let mut buf = Zeroizing::new(rest.to_vec());
    let plain_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::empty(),
            buf.as_mut_slice(),
        )
        .map_err(|_| SealError::Tag)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_round_trip_and_every_altered_byte_fails() {
        let key = fresh_content_key().unwrap();
        let sealed = gcm_seal(key.as_ref(), b"Mat: ke hoach").unwrap();
        assert_eq!(sealed.len(), 12 + 13 + 16);
        assert_eq!(
            gcm_open(key.as_ref(), &sealed).unwrap().as_slice(),
            b"Mat: ke hoach"
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(matches!(gcm_open(key.as_ref(), &bad), Err(SealError::Tag)));
        }
        assert!(matches!(
            gcm_open(key.as_ref(), &sealed[..27]),
            Err(SealError::Truncated { len: 27 })
        ));
        let other = fresh_content_key().unwrap();
        assert!(matches!(
            gcm_open(other.as_ref(), &sealed),
            Err(SealError::Tag)
        ));
        assert!(matches!(
            gcm_open(&[0u8; 16], &sealed),
            Err(SealError::ContentKeyLength { len: 16 })
        ));
    }

    #[test]
    fn transports_read_back_from_their_uris() {
        for t in [
            KeyTransport::RSA_OAEP_SHA256,
            KeyTransport::RSA_OAEP_MGF1P_SHA1,
        ] {
            assert_eq!(
                KeyTransport::from_uris(t.uri(), Some(t.digest_uri()), t.mgf_uri()).unwrap(),
                t
            );
        }
        assert_eq!(
            KeyTransport::from_uris(RSA_OAEP_MGF1P, None, None).unwrap(),
            KeyTransport::RSA_OAEP_MGF1P_SHA1
        );
        assert!(matches!(
            KeyTransport::from_uris(RSA_OAEP_MGF1P, None, Some(MGF1_SHA256)),
            Err(SealError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            KeyTransport::from_uris("http://www.w3.org/2001/04/xmlenc#rsa-1_5", None, None),
            Err(SealError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            KeyTransport::from_uris(RSA_OAEP, Some("urn:md5"), None),
            Err(SealError::UnsupportedAlgorithm {
                what: "DigestMethod",
                ..
            })
        ));
    }
}
