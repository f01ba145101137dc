//! Reading certificates: PEM chains, the fields a cryptography officer looks at (subject, organ,
//! serial, validity) and whether a certificate belongs to a key.
//!
//! These are *descriptions* of certificates, not verdicts: nothing here checks a chain. Chain,
//! revocation and EKU checks belong to the verifier (rustls-webpki first, then x509-parser reads
//! the same certificate).

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::ORGAN_URI_PREFIX;

/// Why a certificate could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The PEM held no `CERTIFICATE` block, or a block was malformed.
    #[error("{what}: not a PEM certificate chain ({reason})")]
    Pem {
        /// What was being read (a path or a role).
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// x509-parser refused the DER.
    #[error("{what}: not a valid X.509 certificate ({reason})")]
    Der {
        /// What was being read.
        what: String,
        /// x509-parser's reason.
        reason: String,
    },
    /// A SubjectPublicKeyInfo could not be parsed.
    #[error("{what}: not a valid SubjectPublicKeyInfo")]
    Spki {
        /// What was being read.
        what: String,
    },
}

/// What a certificate says about itself (not verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject DN as text (RFC 4514 style).
    pub subject: String,
    /// The issuer DN as text.
    pub issuer: String,
    /// The subject common name, if any.
    pub common_name: Option<String>,
    /// The subject organization (O), if any: lienthong puts the organ id there.
    pub organization: Option<String>,
    /// The organ id from the SAN URI `urn:lienthong:organ:<ID>`, if present.
    pub organ: Option<String>,
    /// The serial number, lowercase hex without leading zero bytes.
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// Splits a PEM file into its `CERTIFICATE` blocks, leaf first (as written).
pub fn parse_pem_chain(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CertError::Pem {
            what: what.to_owned(),
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(certs)
}

/// Encodes DER certificates as one PEM string, in order.
pub fn chain_to_pem(chain: &[CertificateDer<'_>]) -> String {
    chain.iter().map(|c| pem_block("CERTIFICATE", c)).collect()
}

/// One PEM block with 64-column base64 (RFC 7468 §2).
pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn parse<'a>(what: &str, der: &'a [u8]) -> Result<X509Certificate<'a>, CertError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Der {
        what: what.to_owned(),
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CertError::Der {
            what: what.to_owned(),
            reason: "trailing bytes after the certificate".to_owned(),
        });
    }
    Ok(cert)
}

/// Reads the fields of one DER certificate.
pub fn summarize(what: &str, der: &[u8]) -> Result<CertSummary, CertError> {
    let cert = parse(what, der)?;
    let first_str = |mut it: Box<
        dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>> + '_,
    >| { it.next().and_then(|a| a.as_str().ok()).map(str::to_owned) };
    let common_name = first_str(Box::new(cert.subject().iter_common_name()));
    let organization = first_str(Box::new(cert.subject().iter_organization()));
    let organ = organ_from_cert(&cert);
    Ok(CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        common_name,
        organization,
        organ,
        serial_hex: serial_hex(cert.raw_serial()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
    })
}

/// The organ id in the first SAN URI with the lienthong organ prefix.
fn organ_from_cert(cert: &X509Certificate<'_>) -> Option<String> {
    let san = cert.subject_alternative_name().ok().flatten()?;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::URI(u) => u.strip_prefix(ORGAN_URI_PREFIX).map(str::to_owned),
        _ => None,
    })
}

/// Serial bytes as lowercase hex without leading zero bytes (a DER INTEGER may carry a 0x00
/// sign byte; people compare the number, not its encoding).
pub fn serial_hex(raw: &[u8]) -> String {
    let trimmed: Vec<u8> = raw.iter().copied().skip_while(|b| *b == 0).collect();
    if trimmed.is_empty() {
        return "00".to_owned();
    }
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

/// Normalises a serial typed by a person (`0A`, `0a`, `0a:1b`, `0x0a1b`) to [`serial_hex`] form.
pub fn normalize_serial(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: String = t.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let digits = digits.to_ascii_lowercase();
    let digits = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes: Option<Vec<u8>> = digits
        .as_bytes()
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        })
        .collect();
    Some(serial_hex(&bytes?))
}

/// The (algorithm OID, subject public key bits) of a certificate.
pub(crate) fn cert_public_key(what: &str, der: &[u8]) -> Result<(String, Vec<u8>), CertError> {
    let cert = parse(what, der)?;
    let spki = cert.public_key();
    Ok((
        spki.algorithm.algorithm.to_id_string(),
        spki.subject_public_key.data.to_vec(),
    ))
}

/// The (algorithm OID, subject public key bits) of a DER SubjectPublicKeyInfo.
pub(crate) fn spki_public_key(what: &str, spki: &[u8]) -> Result<(String, Vec<u8>), CertError> {
    let (rest, parsed) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).map_err(|_| CertError::Spki {
            what: what.to_owned(),
        })?;
    if !rest.is_empty() {
        return Err(CertError::Spki {
            what: what.to_owned(),
        });
    }
    Ok((
        parsed.algorithm.algorithm.to_id_string(),
        parsed.subject_public_key.data.to_vec(),
    ))
}

/// SHA-256 of a DER SubjectPublicKeyInfo, lowercase hex: the key's fingerprint.
pub fn spki_fingerprint(spki: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, spki)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_normalise() {
        assert_eq!(serial_hex(&[0, 0x8a]), "8a");
        assert_eq!(normalize_serial("0x0A:1B").as_deref(), Some("0a1b"));
        assert_eq!(normalize_serial("a1b").as_deref(), Some("0a1b"));
        assert_eq!(normalize_serial("00").as_deref(), Some("00"));
        assert_eq!(normalize_serial("zz"), None);
        assert_eq!(normalize_serial(""), None);
    }
}
