//! The request (RFC 6960 §4.1.1): one certID and a nonce extension (RFC 8954), unsigned.

use ring::digest;
use sha1::Digest as _;
use x509_parser::prelude::X509Certificate;

use super::OcspError;
use super::der::{self, INTEGER, NULL, OCTET_STRING, OID, ctx, sequence, tlv};

/// id-sha1, 1.3.14.3.2.26.
pub(super) const SHA1_OID: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-sha256, 2.16.840.1.101.3.4.2.1.
pub(super) const SHA256_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2.
pub(super) const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// Nonce length: 32 bytes, RFC 8954 §2.1's recommendation and its maximum.
const NONCE_LEN: usize = 32;

/// The hash a certID is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum HashAlg {
    /// SHA-1: what every responder reads (RFC 6960 §4.3 still names it; only a name and a key
    /// are hashed, so a collision buys nothing the responder's signature does not).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl HashAlg {
    pub(super) fn from_oid(oid: &[u8]) -> Option<Self> {
        match oid {
            SHA1_OID => Some(Self::Sha1),
            SHA256_OID => Some(Self::Sha256),
            _ => None,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Self::Sha1 => SHA1_OID,
            Self::Sha256 => SHA256_OID,
        }
    }

    pub(super) fn hash(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(bytes).to_vec(),
            Self::Sha256 => digest::digest(&digest::SHA256, bytes).as_ref().to_vec(),
        }
    }
}

/// The certID (RFC 6960 §4.1.1): the hash of the issuer's name (its DER) and of its key (the
/// subjectPublicKey bits), and the certificate's serial (INTEGER contents). Also the cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct CertId {
    pub(super) alg: HashAlg,
    pub(super) name_hash: Vec<u8>,
    pub(super) key_hash: Vec<u8>,
    pub(super) serial: Vec<u8>,
}

impl CertId {
    /// The certID of `leaf` under `issuer`, hashed with `alg`.
    pub(super) fn new(
        alg: HashAlg,
        leaf: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
    ) -> Self {
        Self {
            alg,
            name_hash: alg.hash(issuer.subject().as_raw()),
            key_hash: alg.hash(&issuer.public_key().subject_public_key.data),
            serial: leaf.tbs_certificate.raw_serial().to_vec(),
        }
    }

    /// The certID lienthong asks with (SHA-1).
    pub(super) fn sha1(leaf: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Self {
        Self::new(HashAlg::Sha1, leaf, issuer)
    }

    fn encode(&self) -> Vec<u8> {
        let alg = sequence(&[&tlv(OID, self.alg.oid()), &tlv(NULL, &[])]);
        sequence(&[
            &alg,
            &tlv(OCTET_STRING, &self.name_hash),
            &tlv(OCTET_STRING, &self.key_hash),
            &tlv(INTEGER, &self.serial),
        ])
    }
}

/// A fresh random nonce (ring's system random source).
pub(super) fn nonce() -> Result<Vec<u8>, OcspError> {
    let mut n = vec![0u8; NONCE_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut n).map_err(|_| {
        OcspError::BadCertificate {
            reason: "no random source for the nonce".to_owned(),
        }
    })?;
    Ok(n)
}

/// The extnValue of the nonce extension: an OCTET STRING holding the nonce (RFC 8954 §2.1).
pub(super) fn nonce_value(nonce: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, nonce)
}

/// `OCSPRequest` DER for `id`, with `nonce` as a request extension.
pub(super) fn build(id: &CertId, nonce: &[u8]) -> Vec<u8> {
    let request = sequence(&[&id.encode()]);
    let request_list = sequence(&[&request]);
    let extension = sequence(&[
        &tlv(OID, NONCE_OID),
        &tlv(OCTET_STRING, &nonce_value(nonce)),
    ]);
    let extensions = tlv(ctx(2), &sequence(&[&extension]));
    let tbs = sequence(&[&request_list, &extensions]);
    sequence(&[&tbs])
}

/// Reads a certID back (as a response carries it): hash algorithm OID, both hashes, serial.
pub(super) fn read_cert_id(r: &mut der::Reader<'_>) -> Result<CertId, OcspError> {
    let id = r.read(der::SEQUENCE, "certID")?;
    let mut f = der::Reader::new(id.value);
    let alg = f.read(der::SEQUENCE, "certID hashAlgorithm")?;
    let mut a = der::Reader::new(alg.value);
    let oid = a.read(OID, "certID hashAlgorithm OID")?;
    let alg = HashAlg::from_oid(oid.value).ok_or_else(|| OcspError::UnsupportedAlgorithm {
        what: "certID hash (SHA-1 or SHA-256 only)".to_owned(),
    })?;
    let name_hash = f.read(OCTET_STRING, "issuerNameHash")?.value.to_vec();
    let key_hash = f.read(OCTET_STRING, "issuerKeyHash")?.value.to_vec();
    let serial = f.read(INTEGER, "serialNumber")?.value.to_vec();
    f.finish("certID")?;
    Ok(CertId {
        alg,
        name_hash,
        key_hash,
        serial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_back_its_cert_id_and_nonce() {
        let id = CertId {
            alg: HashAlg::Sha1,
            name_hash: vec![1; 20],
            key_hash: vec![2; 20],
            serial: vec![0x03, 0xe8],
        };
        let req = build(&id, &[9; 32]);
        let top = der::whole(&req, der::SEQUENCE, "OCSPRequest").unwrap();
        let tbs = der::whole(top.value, der::SEQUENCE, "tbs").unwrap();
        let mut t = der::Reader::new(tbs.value);
        let list = t.read(der::SEQUENCE, "requestList").unwrap();
        let one = der::whole(list.value, der::SEQUENCE, "Request").unwrap();
        let mut r = der::Reader::new(one.value);
        assert_eq!(read_cert_id(&mut r).unwrap(), id);
        let ext = t.read(ctx(2), "extensions").unwrap();
        assert!(ext.value.windows(32).any(|w| w == [9; 32]));
    }
}
