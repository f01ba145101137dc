//! What makes a response believable (RFC 6960 §3.2, §4.2.2.2): signed by the CA that issued the
//! certificate, or by a responder certificate that CA issued with id-kp-OCSPSigning, valid now;
//! our nonce echoed; an answer for our certID; thisUpdate not in the future beyond the skew,
//! nextUpdate not passed, and without nextUpdate not older than the freshness limit.

use ring::signature;
use sha1::Digest as _;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::der::{self, BIT_STRING, OID, Reader, SEQUENCE};
use super::request::{CertId, nonce_value};
use super::response::{BasicResponse, CertStatus, ResponderId};
use super::{OcspError, OcspSettings, rfc3339};

/// A single "good" answer that passed every check, with the instant it stops being used.
pub(super) struct Good {
    pub(super) this_update: u64,
    pub(super) next_update: Option<u64>,
    pub(super) until: u64,
}

/// Every check on a parsed response for certificate `id` issued by `issuer`, at `at`.
pub(super) fn check(
    response: &BasicResponse<'_>,
    id: &CertId,
    issuer: &X509Certificate<'_>,
    nonce: Option<&[u8]>,
    at: u64,
    settings: &OcspSettings,
) -> Result<Good, OcspError> {
    authorised_signer(response, issuer, at)?;
    // RFC 8954 §2.1: the extnValue is an OCTET STRING holding the nonce; some responders
    // echo the bare nonce. Either is the nonce we sent; anything else, or none, is refused.
    // A staple (RFC 6066 §8) answers no request of ours: `None`, and only its times count.
    if let Some(nonce) = nonce {
        match response.nonce {
            Some(n) if n == nonce_value(nonce).as_slice() || n == nonce => {}
            _ => return Err(OcspError::NonceMismatch),
        }
    }
    let single = response
        .responses
        .iter()
        .find(|s| {
            s.cert_id.alg == id.alg && s.cert_id == *id
                || s.cert_id.alg != id.alg && same_cert(&s.cert_id, id, issuer)
        })
        .ok_or(OcspError::CertIdMismatch)?;
    let skew = settings.clock_skew.as_secs();
    if single.this_update > at.saturating_add(skew) {
        return Err(OcspError::FromTheFuture {
            this_update: rfc3339(single.this_update),
        });
    }
    let until = match single.next_update {
        Some(next) => next,
        None => single
            .this_update
            .saturating_add(settings.max_age.as_secs()),
    };
    if at >= until {
        return Err(OcspError::Stale {
            this_update: rfc3339(single.this_update),
            next_update: single.next_update.map(rfc3339).unwrap_or_else(|| {
                format!("none (freshness limit {} s)", settings.max_age.as_secs())
            }),
        });
    }
    match single.status {
        CertStatus::Good => Ok(Good {
            this_update: single.this_update,
            next_update: single.next_update,
            until,
        }),
        CertStatus::Revoked { at, reason } => Err(OcspError::Revoked {
            at: rfc3339(at),
            reason,
        }),
        CertStatus::Unknown => Err(OcspError::Unknown),
    }
}

/// A certID made with another hash than ours names the same certificate when the serial is
/// ours and both hashes, recomputed with its algorithm over our issuer, match.
fn same_cert(theirs: &CertId, ours: &CertId, issuer: &X509Certificate<'_>) -> bool {
    theirs.serial == ours.serial
        && theirs.name_hash == theirs.alg.hash(issuer.subject().as_raw())
        && theirs.key_hash
            == theirs
                .alg
                .hash(&issuer.public_key().subject_public_key.data)
}

/// The response's signature verifies with the key of the responder it names, and that
/// responder is the CA (`issuer`) or a certificate the CA issued for OCSP signing, valid at `at`.
fn authorised_signer(
    response: &BasicResponse<'_>,
    issuer: &X509Certificate<'_>,
    at: u64,
) -> Result<(), OcspError> {
    if names(response.responder, issuer) {
        let key = issuer.public_key();
        return verify_signature(
            response.signature_alg,
            key.algorithm.algorithm.as_bytes(),
            &key.subject_public_key.data,
            response.tbs,
            response.signature,
        );
    }
    let not_authorised = |reason: &str| OcspError::ResponderNotAuthorised {
        reason: reason.to_owned(),
    };
    let (der, delegate) = response
        .certs
        .iter()
        .filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| (*d, c)))
        .find(|(_, c)| names(response.responder, c))
        .ok_or_else(|| {
            not_authorised("the responder it names is neither the CA nor a certificate it sent")
        })?;
    let key = delegate.public_key();
    verify_signature(
        response.signature_alg,
        key.algorithm.algorithm.as_bytes(),
        &key.subject_public_key.data,
        response.tbs,
        response.signature,
    )?;
    // RFC 6960 §4.2.2.2: "issued directly by the CA that is identified in the request".
    if delegate.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(not_authorised(
            "the responder certificate is not issued by the CA",
        ));
    }
    let (tbs, alg, sig) = signed_parts(der)?;
    let ca_key = issuer.public_key();
    verify_signature(
        alg,
        ca_key.algorithm.algorithm.as_bytes(),
        &ca_key.subject_public_key.data,
        tbs,
        sig,
    )
    .map_err(|_| {
        not_authorised("the CA's signature on the responder certificate does not verify")
    })?;
    let ocsp_signing = delegate
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|e| e.value.ocsp_signing);
    if !ocsp_signing {
        return Err(not_authorised(
            "the responder certificate lacks id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9)",
        ));
    }
    let validity = delegate.validity();
    let from = u64::try_from(validity.not_before.timestamp()).unwrap_or(0);
    let to = u64::try_from(validity.not_after.timestamp()).unwrap_or(0);
    if at < from || at > to {
        return Err(not_authorised(
            "the responder certificate is not valid at this time",
        ));
    }
    Ok(())
}

/// Whether `responder` names `cert` (by subject DER, or by the SHA-1 of its key bits).
fn names(responder: ResponderId<'_>, cert: &X509Certificate<'_>) -> bool {
    match responder {
        ResponderId::ByName(name) => name == cert.subject().as_raw(),
        ResponderId::ByKey(hash) => {
            hash == sha1::Sha1::digest(&cert.public_key().subject_public_key.data).as_slice()
        }
    }
}

/// tbsCertificate (whole), signature algorithm OID contents, signature bits.
type SignedParts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// A certificate's tbsCertificate (whole), signature algorithm OID and signature bits.
fn signed_parts(cert: &[u8]) -> Result<SignedParts<'_>, OcspError> {
    let top = der::whole(cert, SEQUENCE, "responder certificate")?;
    let mut r = Reader::new(top.value);
    let tbs = r.read(SEQUENCE, "tbsCertificate")?.raw;
    let alg = r.read(SEQUENCE, "certificate signatureAlgorithm")?;
    let alg = Reader::new(alg.value).read(OID, "signature OID")?.value;
    let sig = der::bit_string_bytes(&r.read(BIT_STRING, "certificate signature")?, "signature")?;
    r.finish("certificate")?;
    Ok((tbs, alg, sig))
}

const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const RSA_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// ring's algorithm for a signature OID and key: RSA PKCS#1 v1.5 (SHA-256/384/512, 2048 bits or
/// more), ECDSA P-256/P-384 (SHA-256/384), Ed25519. An uncompressed P-256 point is 65 bytes,
/// a P-384 one 97: the key's length names its curve.
fn algorithm(
    sig_alg: &[u8],
    key_alg: &[u8],
    key: &[u8],
) -> Option<&'static dyn signature::VerificationAlgorithm> {
    let p256 = key.len() == 65;
    Some(match (sig_alg, key_alg) {
        (RSA_SHA256, RSA_KEY) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RSA_SHA384, RSA_KEY) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RSA_SHA512, RSA_KEY) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (ECDSA_SHA256, EC_KEY) if p256 => &signature::ECDSA_P256_SHA256_ASN1,
        (ECDSA_SHA256, EC_KEY) => &signature::ECDSA_P384_SHA256_ASN1,
        (ECDSA_SHA384, EC_KEY) if p256 => &signature::ECDSA_P256_SHA384_ASN1,
        (ECDSA_SHA384, EC_KEY) => &signature::ECDSA_P384_SHA384_ASN1,
        (ED25519, ED25519) => &signature::ED25519,
        _ => return None,
    })
}

fn verify_signature(
    sig_alg: &[u8],
    key_alg: &[u8],
    key: &[u8],
    message: &[u8],
    sig: &[u8],
) -> Result<(), OcspError> {
    let alg = algorithm(sig_alg, key_alg, key).ok_or_else(|| OcspError::UnsupportedAlgorithm {
        what: "response signature (RSA PKCS#1 SHA-2, ECDSA P-256/P-384, Ed25519)".to_owned(),
    })?;
    signature::UnparsedPublicKey::new(alg, key)
        .verify(message, sig)
        .map_err(|_| OcspError::BadSignature)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    use super::*;
    use crate::sign::ocsp::der::{GENERALIZED_TIME, INTEGER, NULL, OCTET_STRING, ctx, tlv};
    use crate::sign::ocsp::request::{HashAlg, NONCE_OID};
    use crate::sign::ocsp::response;

    /// A CA (self-signed, P-256), a leaf it issued, and the CA's signing key for ring.
    struct Ca {
        ca: Vec<u8>,
        leaf: Vec<u8>,
        key: EcdsaKeyPair,
    }

    fn ca() -> Ca {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "unit CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::CertifiedIssuer::self_signed(p, kp).unwrap();
        let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut lp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        lp.serial_number = Some(rcgen::SerialNumber::from(77u64));
        let leaf = lp.signed_by(&leaf_key, &issuer).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &issuer.key().serialize_der(),
            &rng,
        )
        .unwrap();
        Ca {
            ca: issuer.der().to_vec(),
            leaf: leaf.der().to_vec(),
            key,
        }
    }

    fn time(secs: u64) -> Vec<u8> {
        let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap()).unwrap();
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        tlv(GENERALIZED_TIME, s.as_bytes())
    }

    /// What one signed response says.
    struct Says<'a> {
        id: &'a CertId,
        nonce: Option<&'a [u8]>,
        this_update: u64,
        next_update: Option<u64>,
    }

    /// A successful basic response for `says`, signed by the CA and naming it by name.
    fn response(ca: &Ca, says: &Says<'_>) -> Vec<u8> {
        let (_, cert) = X509Certificate::from_der(&ca.ca).unwrap();
        let alg = match says.id.alg {
            HashAlg::Sha1 => crate::sign::ocsp::request::SHA1_OID,
            HashAlg::Sha256 => crate::sign::ocsp::request::SHA256_OID,
        };
        let cert_id = der::sequence(&[
            &der::sequence(&[&tlv(OID, alg), &tlv(NULL, &[])]),
            &tlv(OCTET_STRING, &says.id.name_hash),
            &tlv(OCTET_STRING, &says.id.key_hash),
            &tlv(INTEGER, &says.id.serial),
        ]);
        let next = says
            .next_update
            .map(|n| tlv(ctx(0), &time(n)))
            .unwrap_or_default();
        let single = der::sequence(&[&cert_id, &tlv(0x80, &[]), &time(says.this_update), &next]);
        let exts = says
            .nonce
            .map(|n| {
                let ext = der::sequence(&[&tlv(OID, NONCE_OID), &tlv(OCTET_STRING, n)]);
                tlv(ctx(1), &der::sequence(&[&ext]))
            })
            .unwrap_or_default();
        let tbs = der::sequence(&[
            &tlv(ctx(1), cert.subject().as_raw()),
            &time(says.this_update),
            &der::sequence(&[&single]),
            &exts,
        ]);
        let rng = ring::rand::SystemRandom::new();
        let sig = ca.key.sign(&rng, &tbs).unwrap();
        let alg = der::sequence(&[&tlv(OID, ECDSA_SHA256)]);
        let sig = tlv(BIT_STRING, &[&[0u8][..], sig.as_ref()].concat());
        let basic = der::sequence(&[&tbs, &alg, &sig]);
        let rb = der::sequence(&[
            &tlv(OID, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]),
            &tlv(OCTET_STRING, &basic),
        ]);
        der::sequence(&[&tlv(der::ENUMERATED, &[0]), &tlv(ctx(0), &rb)])
    }

    const NOW: u64 = 1_796_688_000;
    const NONCE: &[u8] = &[7; 32];

    fn run(ca: &Ca, says: &Says<'_>, id: &CertId, at: u64) -> Result<Good, OcspError> {
        let (_, issuer) = X509Certificate::from_der(&ca.ca).unwrap();
        let bytes = response(ca, says);
        let parsed = response::parse(&bytes)?;
        let settings = OcspSettings {
            max_age: Duration::from_secs(600),
            ..OcspSettings::default()
        };
        check(&parsed, id, &issuer, Some(NONCE), at, &settings)
    }

    fn ids(ca: &Ca) -> (CertId, CertId) {
        let (_, issuer) = X509Certificate::from_der(&ca.ca).unwrap();
        let (_, leaf) = X509Certificate::from_der(&ca.leaf).unwrap();
        (
            CertId::sha1(&leaf, &issuer),
            CertId::new(HashAlg::Sha256, &leaf, &issuer),
        )
    }

    #[test]
    fn a_good_answer_with_our_nonce_passes_and_any_other_nonce_is_refused() {
        let ca = ca();
        let (id, _) = ids(&ca);
        let nonce = nonce_value(NONCE);
        let mut says = Says {
            id: &id,
            nonce: Some(&nonce),
            this_update: NOW,
            next_update: Some(NOW + 3600),
        };
        let good = run(&ca, &says, &id, NOW + 10).unwrap();
        assert_eq!((good.this_update, good.until), (NOW, NOW + 3600));
        // The bare nonce (as some responders echo it) is the same nonce.
        says.nonce = Some(NONCE);
        assert!(run(&ca, &says, &id, NOW + 10).is_ok());
        let other = nonce_value(&[8; 32]);
        says.nonce = Some(&other);
        assert_eq!(
            run(&ca, &says, &id, NOW).err(),
            Some(OcspError::NonceMismatch)
        );
        says.nonce = None;
        assert_eq!(
            run(&ca, &says, &id, NOW).err(),
            Some(OcspError::NonceMismatch)
        );
    }

    #[test]
    fn cert_id_times_and_freshness_are_each_enforced() {
        let ca = ca();
        let (id, id256) = ids(&ca);
        let nonce = nonce_value(NONCE);
        let says = |id, this_update, next_update| Says {
            id,
            nonce: Some(&nonce),
            this_update,
            next_update,
        };
        // A SHA-256 certID names the same certificate.
        assert!(run(&ca, &says(&id256, NOW, None), &id, NOW).is_ok());
        // Another serial: no answer for ours.
        let mut other = id.clone();
        other.serial = vec![78];
        let e = run(&ca, &says(&other, NOW, None), &id, NOW).err();
        assert_eq!(e, Some(OcspError::CertIdMismatch));
        // thisUpdate beyond the 300 s skew: refused; within it: accepted.
        let e = run(&ca, &says(&id, NOW + 301, None), &id, NOW).err();
        assert!(matches!(e, Some(OcspError::FromTheFuture { .. })), "{e:?}");
        assert!(run(&ca, &says(&id, NOW + 299, None), &id, NOW).is_ok());
        // nextUpdate passed: stale at N, fresh at N - 1.
        let e = run(&ca, &says(&id, NOW, Some(NOW + 60)), &id, NOW + 60).err();
        assert!(matches!(e, Some(OcspError::Stale { .. })), "{e:?}");
        assert!(run(&ca, &says(&id, NOW, Some(NOW + 60)), &id, NOW + 59).is_ok());
        // No nextUpdate: the 600 s freshness limit, N and N - 1.
        let e = run(&ca, &says(&id, NOW, None), &id, NOW + 600).err();
        assert!(matches!(e, Some(OcspError::Stale { .. })), "{e:?}");
        assert_eq!(
            run(&ca, &says(&id, NOW, None), &id, NOW + 599)
                .unwrap()
                .until,
            NOW + 600
        );
    }

    #[test]
    fn a_response_signed_by_another_key_is_a_bad_signature() {
        let ca = ca();
        let impostor = self::ca();
        let (id, _) = ids(&ca);
        let nonce = nonce_value(NONCE);
        let says = Says {
            id: &id,
            nonce: Some(&nonce),
            this_update: NOW,
            next_update: None,
        };
        // The impostor names the real CA (same subject) but signs with its own key.
        let forged = Ca {
            ca: impostor.ca.clone(),
            leaf: impostor.leaf.clone(),
            key: impostor.key,
        };
        let (_, issuer) = X509Certificate::from_der(&ca.ca).unwrap();
        let bytes = response(&forged, &says);
        let parsed = response::parse(&bytes).unwrap();
        let e = check(
            &parsed,
            &id,
            &issuer,
            Some(NONCE),
            NOW,
            &OcspSettings::default(),
        )
        .err();
        assert_eq!(e, Some(OcspError::BadSignature));
    }
}
