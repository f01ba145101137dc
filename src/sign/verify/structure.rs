//! The one `Signature` shape lienthong accepts, and the document-wide hygiene rules.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::CertificateDer;

use super::super::algorithm::SignatureAlgorithm;
use super::super::dsig::{
    C14N_10, DSIG_NS, ENVELOPED, EXC_C14N, EXC_C14N_NS, EXC_C14N_WITH_COMMENTS, RSA_SHA1,
};
use super::{MAX_CERTS_IN_KEYINFO, VerifyError};
use crate::doc::{Element, Node};

pub(super) fn count_signatures(e: &Element, found: &mut usize) {
    if e.is(DSIG_NS, "Signature") {
        *found += 1;
    }
    for c in e.elements() {
        count_signatures(c, found);
    }
}

/// Duplicate ids and comments are refused anywhere: lienthong references nothing by id, so a
/// duplicate can only be an attempt to confuse another verifier; a comment can split text that
/// a downstream reader might truncate (the SAML comment-injection family).
pub(super) fn check_document_hygiene(root: &Element) -> Result<(), VerifyError> {
    let mut ids = std::collections::HashSet::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        for a in &e.attrs {
            if a.ns.is_none()
                && matches!(a.local.as_str(), "Id" | "ID" | "id")
                && !ids.insert(a.value.clone())
            {
                return Err(VerifyError::DuplicateId {
                    id: a.value.clone(),
                });
            }
        }
        for c in &e.children {
            match c {
                Node::Element(c) => stack.push(c),
                Node::Comment(_) => return Err(VerifyError::Comment),
                Node::Text(_) => {}
            }
        }
    }
    Ok(())
}

/// The pieces of a `Signature`, checked against the one shape lienthong accepts.
pub(super) struct SignatureParts<'a> {
    pub(super) signed_info: &'a Element,
    pub(super) si_inclusive_prefixes: Vec<String>,
    /// SignedInfo is canonicalised with inclusive c14n 1.0 (legacy), not exclusive c14n.
    pub(super) si_c14n_10: bool,
    pub(super) inclusive_prefixes: Vec<String>,
    /// The Reference's c14n transform is inclusive c14n 1.0 (legacy).
    pub(super) ref_c14n_10: bool,
    pub(super) signature_method: String,
    pub(super) method_name: &'static str,
    pub(super) digest_method: String,
    pub(super) digest_value: Vec<u8>,
    pub(super) signature_value: Vec<u8>,
    pub(super) certificates: Vec<CertificateDer<'static>>,
}

impl<'a> SignatureParts<'a> {
    /// Reads `signature` in the order below, each step refusing what the one shape lacks or
    /// adds; the first refusal is the one reported.
    pub(super) fn read(signature: &'a Element) -> Result<Self, VerifyError> {
        let [signed_info, signature_value_el, key_info] = signature_children(signature)?;
        let ((si_inclusive_prefixes, si_c14n_10), signature_method, references) =
            signed_info_head(signed_info)?;
        let reference = the_reference(&references)?;
        let [transforms, digest_method_el, digest_value_el] = reference_children(reference)?;
        let (inclusive_prefixes, ref_c14n_10) = transforms_prefixes(transforms)?;
        let digest_method = algorithm(digest_method_el)?.to_owned();
        let digest_value = b64(digest_value_el, "DigestValue")?;
        let signature_value = b64(signature_value_el, "SignatureValue")?;
        let certificates = key_info_certificates(key_info)?;
        let method_name = signature_method_name(&signature_method)?;
        Ok(Self {
            signed_info,
            si_inclusive_prefixes,
            si_c14n_10,
            inclusive_prefixes,
            ref_c14n_10,
            signature_method,
            method_name,
            digest_method,
            digest_value,
            signature_value,
            certificates,
        })
    }
}

/// Step 1: `Signature` holds exactly `SignedInfo`, `SignatureValue`, `KeyInfo`, in order.
fn signature_children(signature: &Element) -> Result<[&Element; 3], VerifyError> {
    // Object and anything else after KeyInfo: where wrapped content hides (XSW "document moved
    // under an Object").
    exactly_three(
        signature,
        "Signature",
        ["SignedInfo", "SignatureValue", "KeyInfo"],
        "after KeyInfo",
    )
}

/// The element children of `parent` (named `name` in errors): exactly `names`, in order;
/// anything more is refused as "unexpected … {where_extra}".
fn exactly_three<'e>(
    parent: &'e Element,
    name: &str,
    names: [&str; 3],
    where_extra: &str,
) -> Result<[&'e Element; 3], VerifyError> {
    let children = only_elements(parent, name)?;
    let mut it = children.iter();
    let [first, second, third] = names;
    let found = [
        expect(it.next(), first)?,
        expect(it.next(), second)?,
        expect(it.next(), third)?,
    ];
    if let Some(extra) = it.next() {
        return Err(VerifyError::Structure(format!(
            "unexpected {} {where_extra}",
            extra.qname()
        )));
    }
    Ok(found)
}

/// Step 2: `SignedInfo`'s c14n method (its inclusive prefixes) and signature method (its URI),
/// and the children after them, which should be the one `Reference`.
fn signed_info_head(
    signed_info: &Element,
) -> Result<(C14nChoice, String, Vec<&Element>), VerifyError> {
    let si = only_elements(signed_info, "SignedInfo")?;
    let mut si_it = si.iter();
    let c14n_method = expect(si_it.next(), "CanonicalizationMethod")?;
    let si_inclusive_prefixes = c14n_algorithm(c14n_method, "CanonicalizationMethod")?;
    let sig_method = expect(si_it.next(), "SignatureMethod")?;
    let signature_method = algorithm(sig_method)?.to_owned();
    if !only_elements(sig_method, "SignatureMethod")?.is_empty() {
        // HMACOutputLength and friends: HMAC is never accepted.
        return Err(VerifyError::Algorithm {
            role: "SignatureMethod",
            algorithm: signature_method,
        });
    }
    let references: Vec<&Element> = si_it.copied().collect();
    Ok((si_inclusive_prefixes, signature_method, references))
}

/// Step 3: exactly one `Reference`, with `URI=""`.
fn the_reference<'e>(references: &[&'e Element]) -> Result<&'e Element, VerifyError> {
    if references.len() != 1 || !references.iter().all(|r| r.is(DSIG_NS, "Reference")) {
        if let Some(other) = references.iter().find(|r| !r.is(DSIG_NS, "Reference")) {
            return Err(VerifyError::Structure(format!(
                "unexpected {} in SignedInfo",
                other.qname()
            )));
        }
        return Err(VerifyError::ReferenceCount {
            found: references.len(),
        });
    }
    let reference = references
        .first()
        .copied()
        .ok_or(VerifyError::ReferenceCount { found: 0 })?;
    match reference.attr("URI") {
        Some("") => {}
        Some(uri) => {
            return Err(VerifyError::ReferenceUri { uri: uri.into() });
        }
        // An absent URI means "the application knows": never for lienthong.
        None => {
            return Err(VerifyError::ReferenceUri {
                uri: "(absent)".into(),
            });
        }
    }
    Ok(reference)
}

/// Step 4: `Reference` holds exactly `Transforms`, `DigestMethod`, `DigestValue`, in order.
fn reference_children(reference: &Element) -> Result<[&Element; 3], VerifyError> {
    exactly_three(
        reference,
        "Reference",
        ["Transforms", "DigestMethod", "DigestValue"],
        "in Reference",
    )
}

/// A c14n method: exclusive c14n's PrefixList, and whether it is inclusive c14n 1.0 instead.
type C14nChoice = (Vec<String>, bool);

/// Step 5: exactly enveloped-signature then exclusive c14n (or, legacy, inclusive c14n 1.0);
/// the former's inclusive prefixes.
fn transforms_prefixes(transforms: &Element) -> Result<C14nChoice, VerifyError> {
    let t = only_elements(transforms, "Transforms")?;
    match t.as_slice() {
        [first, second] => {
            for tr in [first, second] {
                if !tr.is(DSIG_NS, "Transform") {
                    return Err(VerifyError::Structure(format!(
                        "unexpected {} in Transforms",
                        tr.qname()
                    )));
                }
            }
            let a1 = algorithm(first)?;
            if a1 != ENVELOPED {
                return Err(VerifyError::Transform {
                    algorithm: a1.into(),
                });
            }
            if !only_elements(first, "Transform")?.is_empty() {
                return Err(VerifyError::Structure(
                    "the enveloped-signature transform takes no parameters".into(),
                ));
            }
            c14n_transform(second)
        }
        other => {
            // Report the first offending algorithm when there is one.
            for tr in other {
                let a = algorithm(tr)?;
                if a != ENVELOPED && a != EXC_C14N && a != C14N_10 {
                    return Err(VerifyError::Transform {
                        algorithm: a.into(),
                    });
                }
            }
            Err(VerifyError::Structure(format!(
                "{} transforms; exactly enveloped-signature then exclusive c14n",
                other.len()
            )))
        }
    }
}

/// Last step: the signature method's name, known for signing or for verifying only (an
/// unknown method is refused here, after the rest of the shape).
fn signature_method_name(signature_method: &str) -> Result<&'static str, VerifyError> {
    let verify_only = super::super::dsig::verify_only_name(signature_method);
    Ok(match SignatureAlgorithm::from_uri(signature_method) {
        Some(a) => a.name(),
        None if signature_method == RSA_SHA1 => "rsa-sha1",
        None if verify_only.is_some() => verify_only.unwrap_or("unknown"),
        None => {
            return Err(VerifyError::Algorithm {
                role: "SignatureMethod",
                algorithm: signature_method.to_owned(),
            });
        }
    })
}

/// The element children of `e`; non-whitespace text between them is refused (whitespace is
/// layout; text would be content hidden in the signature structure).
fn only_elements<'a>(e: &'a Element, name: &str) -> Result<Vec<&'a Element>, VerifyError> {
    let mut out = Vec::new();
    for c in &e.children {
        match c {
            Node::Element(c) => out.push(c),
            Node::Text(t) if t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) => {}
            Node::Text(_) => {
                return Err(VerifyError::Structure(format!("text inside {name}")));
            }
            Node::Comment(_) => return Err(VerifyError::Comment),
        }
    }
    Ok(out)
}

fn expect<'a>(e: Option<&&'a Element>, local: &str) -> Result<&'a Element, VerifyError> {
    match e {
        Some(e) if e.is(DSIG_NS, local) => Ok(e),
        Some(e) => Err(VerifyError::Structure(format!(
            "expected ds:{local}, found {}",
            e.qname()
        ))),
        None => Err(VerifyError::Structure(format!("ds:{local} is missing"))),
    }
}

fn algorithm(e: &Element) -> Result<&str, VerifyError> {
    e.attr("Algorithm")
        .ok_or_else(|| VerifyError::Structure(format!("{} has no Algorithm", e.qname())))
}

fn c14n_algorithm(e: &Element, role: &'static str) -> Result<C14nChoice, VerifyError> {
    let a = algorithm(e)?;
    if a == C14N_10 {
        return c14n_10(e);
    }
    if a != EXC_C14N {
        return Err(VerifyError::Algorithm {
            role,
            algorithm: a.to_owned(),
        });
    }
    Ok((inclusive_namespaces(e)?, false))
}

fn c14n_transform(e: &Element) -> Result<C14nChoice, VerifyError> {
    let a = algorithm(e)?;
    if a == C14N_10 {
        return c14n_10(e);
    }
    if a == EXC_C14N_WITH_COMMENTS || a != EXC_C14N {
        return Err(VerifyError::Transform {
            algorithm: a.to_owned(),
        });
    }
    Ok((inclusive_namespaces(e)?, false))
}

/// Inclusive c14n 1.0 (legacy): no parameters. Whether legacy is allowed is the verifier's
/// decision, made with the options.
fn c14n_10(e: &Element) -> Result<C14nChoice, VerifyError> {
    if !only_elements(e, "c14n method")?.is_empty() {
        return Err(VerifyError::Structure(
            "Canonical XML 1.0 takes no parameters".into(),
        ));
    }
    Ok((Vec::new(), true))
}

/// The optional `InclusiveNamespaces PrefixList` parameter (xml-exc-c14n §3); nothing else.
fn inclusive_namespaces(e: &Element) -> Result<Vec<String>, VerifyError> {
    let children = only_elements(e, "c14n method")?;
    match children.as_slice() {
        [] => Ok(Vec::new()),
        [inc] if inc.is(EXC_C14N_NS, "InclusiveNamespaces") => Ok(inc
            .attr("PrefixList")
            .unwrap_or("")
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect()),
        _ => Err(VerifyError::Structure(
            "unexpected parameters of the c14n method".into(),
        )),
    }
}

fn b64(e: &Element, element: &'static str) -> Result<Vec<u8>, VerifyError> {
    let mut text = e.text();
    // XML-DSig base64 may be wrapped over lines.
    text.retain(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'));
    if e.children.iter().any(|c| !matches!(c, Node::Text(_))) {
        return Err(VerifyError::Structure(format!(
            "{element} holds more than base64 text"
        )));
    }
    B64.decode(text.as_bytes())
        .map_err(|_| VerifyError::Base64 { element })
}

fn key_info_certificates(key_info: &Element) -> Result<Vec<CertificateDer<'static>>, VerifyError> {
    let mut certs = Vec::new();
    for child in only_elements(key_info, "KeyInfo")? {
        if child.ns.as_deref() != Some(DSIG_NS) {
            return Err(VerifyError::Structure(format!(
                "unexpected {} in KeyInfo",
                child.qname()
            )));
        }
        match child.local.as_str() {
            "X509Data" => {
                for x in only_elements(child, "X509Data")? {
                    match x.local.as_str() {
                        "X509Certificate" if x.ns.as_deref() == Some(DSIG_NS) => {
                            certs.push(CertificateDer::from(b64(x, "X509Certificate")?));
                        }
                        // Identifying hints; the key always comes from a chained certificate.
                        "X509IssuerSerial" | "X509SubjectName" | "X509SKI" | "X509Digest"
                            if x.ns.as_deref() == Some(DSIG_NS) => {}
                        _ => {
                            return Err(VerifyError::Structure(format!(
                                "unexpected {} in X509Data",
                                x.qname()
                            )));
                        }
                    }
                }
            }
            "RetrievalMethod" => {
                return Err(VerifyError::KeyRetrieval {
                    element: "RetrievalMethod".into(),
                });
            }
            // A bare key would let anyone sign: only the certificate's key is ever used, so
            // KeyValue and KeyName are refused rather than silently ignored.
            other => {
                return Err(VerifyError::Structure(format!(
                    "KeyInfo/{other} refused: only X509Data is accepted"
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(VerifyError::NoCertificate);
    }
    if certs.len() > MAX_CERTS_IN_KEYINFO {
        return Err(VerifyError::Structure(format!(
            "{} certificates in KeyInfo, over the limit of {MAX_CERTS_IN_KEYINFO}",
            certs.len()
        )));
    }
    Ok(certs)
}
