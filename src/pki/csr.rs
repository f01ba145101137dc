//! PKCS#10 certificate signing requests (RFC 2986) made with a keystore key, and reading the
//! organ binding back out of one.
//!
//! A lienthong CSR asks for the SAN URI `urn:lienthong:organ:<ORGAN>` (the organ binding every
//! verifier checks), a subject `CN=<text>, O=<ORGAN>`, and for TLS keys DNS/IP SANs. Key usage
//! and EKU are *not* requested: the CA's profile decides them (and rcgen's CSR reader refuses
//! EKUs it does not know, such as docSigning).

use std::net::IpAddr;

use rcgen::{CertificateParams, DistinguishedName, DnType, SanType};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension};

use super::keystore::LoadedKey;
use super::{ORGAN_URI_PREFIX, check_organ_id};

/// Why a CSR could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The organ id is not acceptable.
    #[error("invalid organ id {organ:?}: use letters, digits, '.', '_' or '-' (e.g. TU.BENTRE)")]
    InvalidOrgan {
        /// The refused id.
        organ: String,
    },
    /// A DNS name is not acceptable.
    #[error("invalid DNS name {name:?} for a certificate request")]
    InvalidDnsName {
        /// The refused name.
        name: String,
    },
    /// rcgen could not build or sign the request.
    #[error("could not build the certificate request: {reason}")]
    Build {
        /// rcgen's reason.
        reason: String,
    },
    /// The request could not be parsed, or its self-signature is wrong.
    #[error("the certificate request is invalid: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// The request's RSA key is shorter than lienthong accepts (checked before the
    /// self-signature, which ring would refuse for a short key with a misleading reason).
    #[error(
        "the certificate request's RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
    )]
    KeyTooSmall {
        /// The modulus length.
        bits: usize,
    },
    /// The request does not name exactly one organ.
    #[error(
        "the certificate request must carry exactly one SAN URI {ORGAN_URI_PREFIX}<ORGAN>; it has {found}"
    )]
    OrganBinding {
        /// How many it has.
        found: usize,
    },
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrRequest {
    /// The organ id, e.g. `TU.BENTRE`.
    pub organ: String,
    /// The subject common name (the organ's name, or a person's).
    pub common_name: String,
    /// DNS names (TLS keys).
    pub dns_names: Vec<String>,
    /// IP addresses (TLS keys).
    pub ip_addresses: Vec<IpAddr>,
}

/// Makes a PEM CSR for `key`, signed by it (proof of possession).
pub fn create(key: &LoadedKey, request: &CsrRequest) -> Result<String, CsrError> {
    check_organ_id(&request.organ).map_err(|_| CsrError::InvalidOrgan {
        organ: request.organ.clone(),
    })?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, request.common_name.as_str());
    dn.push(DnType::OrganizationName, request.organ.as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = sans(request)?;
    let csr = params
        .serialize_request(&key.rcgen())
        .map_err(|e| CsrError::Build {
            reason: e.to_string(),
        })?;
    csr.pem().map_err(|e| CsrError::Build {
        reason: e.to_string(),
    })
}

pub(crate) fn sans(request: &CsrRequest) -> Result<Vec<SanType>, CsrError> {
    let uri = format!("{ORGAN_URI_PREFIX}{}", request.organ);
    let mut out = vec![SanType::URI(uri.as_str().try_into().map_err(|_| {
        CsrError::InvalidOrgan {
            organ: request.organ.clone(),
        }
    })?)];
    for d in &request.dns_names {
        out.push(SanType::DnsName(
            d.as_str()
                .try_into()
                .map_err(|_| CsrError::InvalidDnsName { name: d.clone() })?,
        ));
    }
    out.extend(
        request
            .ip_addresses
            .iter()
            .map(|ip| SanType::IpAddress(*ip)),
    );
    Ok(out)
}

/// A parsed, signature-checked request: what the CA may copy from it.
#[derive(Debug)]
pub struct ParsedCsr {
    /// The verified request as rcgen reads it (public key, requested parameters).
    pub(crate) rcgen: rcgen::CertificateSigningRequestParams,
    /// The request as [`CsrRequest`] (organ from the SAN URI, CN, DNS and IP SANs).
    pub request: CsrRequest,
}

/// The shortest RSA modulus a request may carry (NIST SP 800-131A: 2048 bits since 2014).
pub const MIN_RSA_BITS: usize = 2048;

/// Parses a PEM CSR, checks its key size and self-signature and reads its organ binding.
pub fn parse(pem: &str) -> Result<ParsedCsr, CsrError> {
    let invalid = |reason: String| CsrError::Invalid { reason };
    // Read with x509-parser first: the key size (a named refusal) and, later, the names
    // (rcgen's DistinguishedName has no string accessor).
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| invalid(e.to_string()))?
    };
    let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| invalid(e.to_string()))?;
    if let Ok(x509_parser::public_key::PublicKey::RSA(k)) =
        req.certification_request_info.subject_pki.parsed()
    {
        let modulus: Vec<u8> = k.modulus.iter().copied().skip_while(|b| *b == 0).collect();
        let lead = modulus.first().map_or(8, |b| b.leading_zeros());
        let bits = (modulus.len() * 8).saturating_sub(usize::try_from(lead).unwrap_or(8));
        if bits < MIN_RSA_BITS {
            return Err(CsrError::KeyTooSmall { bits });
        }
    }
    let rcgen = rcgen::CertificateSigningRequestParams::from_pem(pem)
        .map_err(|e| invalid(e.to_string()))?;
    let info = &req.certification_request_info;
    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned);
    let mut organs = Vec::new();
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Some(exts) = req.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for n in &san.general_names {
                    match n {
                        GeneralName::URI(u) => {
                            if let Some(o) = u.strip_prefix(ORGAN_URI_PREFIX) {
                                organs.push(o.to_owned());
                            }
                        }
                        GeneralName::DNSName(d) => dns_names.push((*d).to_owned()),
                        GeneralName::IPAddress(b) => {
                            if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                                ip_addresses.push(IpAddr::from(v4));
                            } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                                ip_addresses.push(IpAddr::from(v6));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let [organ] = organs.as_slice() else {
        return Err(CsrError::OrganBinding {
            found: organs.len(),
        });
    };
    check_organ_id(organ).map_err(|_| CsrError::InvalidOrgan {
        organ: organ.clone(),
    })?;
    Ok(ParsedCsr {
        rcgen,
        request: CsrRequest {
            common_name: common_name.unwrap_or_else(|| organ.clone()),
            organ: organ.clone(),
            dns_names,
            ip_addresses,
        },
    })
}
