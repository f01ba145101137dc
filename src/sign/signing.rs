//! Producing the enveloped signature.
//!
//! The signature covers the whole envelope: `Reference URI=""` with the enveloped-signature and
//! exclusive c14n transforms (XML-DSig §4.4.3.3, §6.6.4), SHA-256 digest; `SignedInfo` is
//! canonicalised with exclusive c14n and signed; `KeyInfo/X509Data` carries the signer's
//! certificate first, then its intermediates. The `Signature` is appended to `edXMLHeader`, where
//! QCVN 102:2016 puts it. Because the reference is the whole document, the classification label,
//! every header field and every attachment are inside what is signed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::CertificateDer;

use super::algorithm::{Signer, SignerError};
use super::dsig::{DS_PREFIX, DSIG_NS, EDXML_NS, ENVELOPED, EXC_C14N, SHA256};
use crate::doc::c14n::{self, Options};
use crate::doc::{Document, Element, NsDecl};

/// Why a document could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The root is not an edXML envelope with a header.
    #[error("not an edXML envelope: {0}")]
    NotAnEnvelope(&'static str),
    /// The document is already signed; lienthong never signs twice (a second Signature would be
    /// refused by every verifier).
    #[error(
        "the document already carries a Signature; an office-signed document is never re-signed"
    )]
    AlreadySigned,
    /// No certificate was given for KeyInfo.
    #[error("no signer certificate given")]
    NoCertificate,
    /// The key failed to sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Signs `doc` in place with `signer`, embedding `chain` (leaf first) in `KeyInfo`.
pub fn sign_document(
    doc: &mut Document,
    signer: &dyn Signer,
    chain: &[CertificateDer<'_>],
) -> Result<(), SignError> {
    if chain.is_empty() {
        return Err(SignError::NoCertificate);
    }
    if !doc.root.is(EDXML_NS, "edXMLEnvelope") {
        return Err(SignError::NotAnEnvelope("the root is not edXMLEnvelope"));
    }
    if contains_signature(&doc.root) {
        return Err(SignError::AlreadySigned);
    }

    // The digest of the document without the Signature equals the digest after the enveloped
    // transform removes it, so it can be computed before the Signature exists.
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        &c14n::canonicalize(&doc.root, &[], &Options::default()),
    );

    let mut signature = ds("Signature");
    signature.ns_decls.push(NsDecl {
        prefix: Some(DS_PREFIX.to_owned()),
        uri: DSIG_NS.to_owned(),
    });
    let signed_info = signed_info(signer.algorithm().uri(), &B64.encode(digest.as_ref()));

    // SignedInfo is canonicalised in its final context: the declarations of every ancestor.
    let header_decls = doc
        .root
        .child(EDXML_NS, "edXMLHeader")
        .map(|h| h.ns_decls.clone())
        .ok_or(SignError::NotAnEnvelope("edXMLHeader is missing"))?;
    let mut inherited = doc.root.ns_decls.clone();
    inherited.extend(header_decls);
    inherited.extend(signature.ns_decls.iter().cloned());
    let canonical_si = c14n::canonicalize(&signed_info, &inherited, &Options::default());
    let value = signer.sign(&canonical_si)?;

    let mut x509 = ds("X509Data");
    for cert in chain {
        x509.push_element(ds("X509Certificate").with_text(B64.encode(cert.as_ref())));
    }
    signature.push_element(signed_info);
    signature.push_element(ds("SignatureValue").with_text(B64.encode(&value)));
    signature.push_element(ds("KeyInfo").with_child(x509));

    let header = doc
        .root
        .elements_mut()
        .find(|e| e.is(EDXML_NS, "edXMLHeader"))
        .ok_or(SignError::NotAnEnvelope("edXMLHeader is missing"))?;
    header.push_element(signature);
    Ok(())
}

fn signed_info(signature_method: &str, digest_b64: &str) -> Element {
    let with_alg = |name: &str, alg: &str| {
        let mut e = ds(name);
        e.set_attr("Algorithm", alg);
        e
    };
    let mut reference = ds("Reference");
    reference.set_attr("URI", "");
    ds("SignedInfo")
        .with_child(with_alg("CanonicalizationMethod", EXC_C14N))
        .with_child(with_alg("SignatureMethod", signature_method))
        .with_child(
            reference
                .with_child(
                    ds("Transforms")
                        .with_child(with_alg("Transform", ENVELOPED))
                        .with_child(with_alg("Transform", EXC_C14N)),
                )
                .with_child(with_alg("DigestMethod", SHA256))
                .with_child(ds("DigestValue").with_text(digest_b64)),
        )
}

fn ds(local: &str) -> Element {
    Element::new(Some(DS_PREFIX), local, Some(DSIG_NS))
}

fn contains_signature(e: &Element) -> bool {
    e.is(DSIG_NS, "Signature") || e.elements().any(contains_signature)
}
