//! The response (RFC 6960 §4.2.1), read into borrowed parts. Nothing here is trusted yet:
//! [`super::check`] verifies the signature before any field is believed.

use super::OcspError;
use super::der::{
    self, BIT_STRING, BOOLEAN, ENUMERATED, GENERALIZED_TIME, OCTET_STRING, OID, Reader, SEQUENCE,
    ctx, ctx_prim,
};
use super::request::{self, CertId, NONCE_OID};

/// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1.
const BASIC_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// Most SingleResponses and certificates one response may carry: we ask about one certificate;
/// a responder answering for a batch, or a chain of a few, stays well under this.
const MAX_ITEMS: usize = 16;

/// Who signed, as the response names it (RFC 6960 §4.2.1 ResponderID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResponderId<'a> {
    /// The responder's subject Name, DER.
    ByName(&'a [u8]),
    /// SHA-1 of the responder's subjectPublicKey bits.
    ByKey(&'a [u8]),
}

/// The status one SingleResponse gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CertStatus {
    Good,
    Revoked { at: u64, reason: Option<u8> },
    Unknown,
}

/// One SingleResponse.
#[derive(Debug, Clone)]
pub(super) struct SingleResponse {
    pub(super) cert_id: CertId,
    pub(super) status: CertStatus,
    pub(super) this_update: u64,
    pub(super) next_update: Option<u64>,
}

/// A BasicOCSPResponse, unverified.
#[derive(Debug, Clone)]
pub(super) struct BasicResponse<'a> {
    /// tbsResponseData, whole (what the signature covers).
    pub(super) tbs: &'a [u8],
    /// signatureAlgorithm's OID contents.
    pub(super) signature_alg: &'a [u8],
    /// The signature bits.
    pub(super) signature: &'a [u8],
    /// The certificates the responder sent (DER), for a delegated responder.
    pub(super) certs: Vec<&'a [u8]>,
    pub(super) responder: ResponderId<'a>,
    pub(super) responses: Vec<SingleResponse>,
    /// The nonce extension's extnValue contents, if present.
    pub(super) nonce: Option<&'a [u8]>,
}

fn malformed(what: &str) -> OcspError {
    OcspError::Malformed {
        reason: what.to_owned(),
    }
}

/// Reads an `OCSPResponse`; only a successful basic response is one.
pub(super) fn parse(bytes: &[u8]) -> Result<BasicResponse<'_>, OcspError> {
    let top = der::whole(bytes, SEQUENCE, "OCSPResponse")?;
    let mut r = Reader::new(top.value);
    let status = r.read(ENUMERATED, "responseStatus")?;
    match status.value {
        [0] => {}
        [n] => {
            let name = match n {
                1 => "malformedRequest".to_owned(),
                2 => "internalError".to_owned(),
                3 => "tryLater".to_owned(),
                5 => "sigRequired".to_owned(),
                6 => "unauthorized".to_owned(),
                other => format!("status {other}"),
            };
            return Err(OcspError::ResponderError { status: name });
        }
        _ => return Err(malformed("responseStatus")),
    }
    let bytes_tlv = r.read(ctx(0), "responseBytes")?;
    r.finish("OCSPResponse")?;
    let rb = der::whole(bytes_tlv.value, SEQUENCE, "ResponseBytes")?;
    let mut rb = Reader::new(rb.value);
    let kind = rb.read(OID, "responseType")?;
    if kind.value != BASIC_OID {
        return Err(malformed("responseType is not id-pkix-ocsp-basic"));
    }
    let inner = rb.read(OCTET_STRING, "response")?;
    rb.finish("ResponseBytes")?;
    parse_basic(inner.value)
}

fn parse_basic(bytes: &[u8]) -> Result<BasicResponse<'_>, OcspError> {
    let basic = der::whole(bytes, SEQUENCE, "BasicOCSPResponse")?;
    let mut b = Reader::new(basic.value);
    let tbs = b.read(SEQUENCE, "tbsResponseData")?;
    let alg = b.read(SEQUENCE, "signatureAlgorithm")?;
    let signature_alg = Reader::new(alg.value)
        .read(OID, "signatureAlgorithm OID")?
        .value;
    let signature = der::bit_string_bytes(&b.read(BIT_STRING, "signature")?, "signature")?;
    let mut certs = Vec::new();
    if let Some(c) = b.optional(ctx(0), "certs")? {
        let list = der::whole(c.value, SEQUENCE, "certs")?;
        let mut l = Reader::new(list.value);
        while !l.is_empty() {
            if certs.len() == MAX_ITEMS {
                return Err(malformed("more certificates than a response needs"));
            }
            certs.push(l.read(SEQUENCE, "certificate")?.raw);
        }
    }
    b.finish("BasicOCSPResponse")?;
    let (responder, responses, nonce) = parse_tbs(tbs.value)?;
    Ok(BasicResponse {
        tbs: tbs.raw,
        signature_alg,
        signature,
        certs,
        responder,
        responses,
        nonce,
    })
}

type Tbs<'a> = (ResponderId<'a>, Vec<SingleResponse>, Option<&'a [u8]>);

fn parse_tbs(bytes: &[u8]) -> Result<Tbs<'_>, OcspError> {
    let mut t = Reader::new(bytes);
    if let Some(v) = t.optional(ctx(0), "version")? {
        // v1 (0) is the only version (RFC 6960 §4.2.1).
        if v.value != [0x02, 0x01, 0x00] {
            return Err(malformed("version is not v1"));
        }
    }
    let responder = match t.peek() {
        Some(tag) if tag == ctx(1) => {
            let n = t.read(ctx(1), "responderID byName")?;
            ResponderId::ByName(der::whole(n.value, SEQUENCE, "responderID Name")?.raw)
        }
        Some(tag) if tag == ctx(2) => {
            let k = t.read(ctx(2), "responderID byKey")?;
            ResponderId::ByKey(der::whole(k.value, OCTET_STRING, "responderID KeyHash")?.value)
        }
        _ => return Err(malformed("responderID")),
    };
    der::generalized_time(&t.read(GENERALIZED_TIME, "producedAt")?, "producedAt")?;
    let list = t.read(SEQUENCE, "responses")?;
    let mut l = Reader::new(list.value);
    let mut responses = Vec::new();
    while !l.is_empty() {
        if responses.len() == MAX_ITEMS {
            return Err(malformed("more SingleResponses than a response needs"));
        }
        responses.push(parse_single(&mut l)?);
    }
    let mut nonce = None;
    if let Some(e) = t.optional(ctx(1), "responseExtensions")? {
        nonce = find_nonce(e.value)?;
    }
    t.finish("tbsResponseData")?;
    Ok((responder, responses, nonce))
}

/// The nonce's extnValue contents among `Extensions`, refusing a second nonce.
fn find_nonce(bytes: &[u8]) -> Result<Option<&[u8]>, OcspError> {
    let list = der::whole(bytes, SEQUENCE, "Extensions")?;
    let mut l = Reader::new(list.value);
    let mut nonce = None;
    while !l.is_empty() {
        let ext = l.read(SEQUENCE, "Extension")?;
        let mut e = Reader::new(ext.value);
        let oid = e.read(OID, "extnID")?;
        e.optional(BOOLEAN, "critical")?;
        let value = e.read(OCTET_STRING, "extnValue")?;
        e.finish("Extension")?;
        if oid.value == NONCE_OID {
            if nonce.is_some() {
                return Err(malformed("two nonce extensions"));
            }
            nonce = Some(value.value);
        }
    }
    Ok(nonce)
}

fn parse_single(l: &mut Reader<'_>) -> Result<SingleResponse, OcspError> {
    let single = l.read(SEQUENCE, "SingleResponse")?;
    let mut s = Reader::new(single.value);
    let cert_id = request::read_cert_id(&mut s)?;
    let status = s.any("certStatus")?;
    let status = match status.tag {
        t if t == ctx_prim(0) && status.value.is_empty() => CertStatus::Good,
        t if t == ctx_prim(2) && status.value.is_empty() => CertStatus::Unknown,
        t if t == ctx(1) => {
            let mut ri = Reader::new(status.value);
            let at = der::generalized_time(
                &ri.read(GENERALIZED_TIME, "revocationTime")?,
                "revocationTime",
            )?;
            let reason = match ri.optional(ctx(0), "revocationReason")? {
                Some(r) => {
                    let e = der::whole(r.value, ENUMERATED, "CRLReason")?;
                    e.value.first().copied()
                }
                None => None,
            };
            ri.finish("RevokedInfo")?;
            CertStatus::Revoked { at, reason }
        }
        _ => return Err(malformed("certStatus")),
    };
    let this_update =
        der::generalized_time(&s.read(GENERALIZED_TIME, "thisUpdate")?, "thisUpdate")?;
    let next_update = match s.optional(ctx(0), "nextUpdate")? {
        Some(n) => Some(der::generalized_time(
            &der::whole(n.value, GENERALIZED_TIME, "nextUpdate")?,
            "nextUpdate",
        )?),
        None => None,
    };
    // singleExtensions [1] are read past: none changes the status.
    s.optional(ctx(1), "singleExtensions")?;
    s.finish("SingleResponse")?;
    Ok(SingleResponse {
        cert_id,
        status,
        this_update,
        next_update,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::ocsp::der::{sequence, tlv};

    /// A syntactically complete successful response around `basic` (not signed).
    fn wrap(kind: &[u8], basic: &[u8]) -> Vec<u8> {
        let rb = sequence(&[&tlv(OID, kind), &tlv(OCTET_STRING, basic)]);
        sequence(&[&tlv(ENUMERATED, &[0]), &tlv(ctx(0), &rb)])
    }

    fn basic() -> Vec<u8> {
        let cert_id = sequence(&[
            &sequence(&[&tlv(OID, request::SHA1_OID), &tlv(der::NULL, &[])]),
            &tlv(OCTET_STRING, &[1; 20]),
            &tlv(OCTET_STRING, &[2; 20]),
            &tlv(der::INTEGER, &[5]),
        ]);
        let single = sequence(&[
            &cert_id,
            &tlv(ctx_prim(0), &[]),
            &tlv(GENERALIZED_TIME, b"20261208000000Z"),
        ]);
        let tbs = sequence(&[
            &tlv(ctx(2), &tlv(OCTET_STRING, &[3; 20])),
            &tlv(GENERALIZED_TIME, b"20261208000000Z"),
            &sequence(&[&single]),
        ]);
        let alg = sequence(&[&tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
        sequence(&[&tbs, &alg, &tlv(BIT_STRING, &[0, 1, 2, 3])])
    }

    #[test]
    fn a_well_formed_response_parses() {
        let bytes = wrap(BASIC_OID, &basic());
        let r = parse(&bytes).unwrap();
        assert_eq!(r.responses.len(), 1);
        assert_eq!(r.responses[0].status, CertStatus::Good);
        assert_eq!(r.responses[0].this_update, 1_796_688_000);
        assert!(r.nonce.is_none());
        assert!(matches!(r.responder, ResponderId::ByKey(k) if k == [3; 20]));
    }

    #[test]
    fn every_truncation_is_refused_as_malformed() {
        let bytes = wrap(BASIC_OID, &basic());
        for len in 0..bytes.len() {
            let e = parse(&bytes[..len]).unwrap_err();
            assert!(matches!(e, OcspError::Malformed { .. }), "{len}: {e:?}");
        }
    }

    #[test]
    fn a_response_type_other_than_basic_is_refused() {
        let mut other = BASIC_OID.to_vec();
        *other.last_mut().unwrap() = 0x02;
        let e = parse(&wrap(&other, &basic())).unwrap_err();
        assert!(matches!(&e, OcspError::Malformed { reason } if reason.contains("responseType")));
    }

    #[test]
    fn an_error_status_is_named() {
        let bytes = sequence(&[&tlv(ENUMERATED, &[3])]);
        assert_eq!(
            parse(&bytes).unwrap_err(),
            OcspError::ResponderError {
                status: "tryLater".into()
            }
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = wrap(BASIC_OID, &basic());
        bytes.push(0);
        assert!(matches!(parse(&bytes), Err(OcspError::Malformed { .. })));
    }
}
