//! A real XML-DSig signature on a document in the field form (docs/EDXML.md): the SDKs' root
//! `edXML`, the `ds:Signature` in `edXMLEnvelope/edXMLHeader`, `URI=""` (the whole document,
//! `AttachmentEncoded` included), as a deployed SDK signer makes it — inclusive c14n 1.0 and
//! rsa-sha1 are accepted only with `allow_legacy`, and named in [`VerifiedField::legacy`].
//! lienthong never signs so. The same rules as [`super::verify`] otherwise: one signature where
//! QCVN 102:2016 puts it, the one Reference shape, the digest over the very tree read, the chain,
//! revocation, usages and the organ binding against the document's `From`.

use super::structure::{check_document_hygiene, count_signatures};
use super::{SignerIdentity, VerifyError, VerifyOptions, check_signed, edxml_signature};
use crate::doc::Document;
use crate::doc::envelope::EDXML_NS;
use crate::doc::envelope::field::{FieldDocument, is_lienthong_profile, read_field};
use crate::sign::dsig::DSIG_NS;
use crate::sign::trust::TrustStore;

/// A field-form document whose signature verified.
#[derive(Debug)]
pub struct VerifiedField {
    document: Document,
    field: FieldDocument,
    signer: SignerIdentity,
    digest: Vec<u8>,
    revocation_checked: bool,
    revocation: super::RevocationStatus,
    legacy: Vec<&'static str>,
}

impl VerifiedField {
    /// The parsed tree the digest was computed over.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The document as read in the field form, from that same tree.
    pub fn field(&self) -> &FieldDocument {
        &self.field
    }

    /// Who signed.
    pub fn signer(&self) -> &SignerIdentity {
        &self.signer
    }

    /// The Reference digest.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Whether a CRL covered the chain.
    pub fn revocation_checked(&self) -> bool {
        self.revocation_checked
    }

    /// Which revocation source answered for the signer's certificate.
    pub fn revocation(&self) -> &super::RevocationStatus {
        &self.revocation
    }

    /// The legacy algorithms the signature uses (each allowed only by `allow_legacy`).
    pub fn legacy(&self) -> &[&'static str] {
        &self.legacy
    }
}

/// Verifies a signed document in the field form.
pub fn verify_field(
    bytes: &[u8],
    trust: &TrustStore,
    options: &VerifyOptions,
) -> Result<VerifiedField, VerifyError> {
    let document = crate::doc::parse(bytes, &options.limits)?;
    let signature = field_signature(&document)?;
    let signed = check_signed(&document, signature, trust, options)?;
    let field = read_field(&document.root, &options.envelope_limits)?;
    let from = field.sender().id.to_string();
    if signed.chain.organ != from {
        return Err(VerifyError::OrganMismatch {
            certificate: signed.chain.organ.clone(),
            from,
        });
    }
    Ok(VerifiedField {
        document,
        field,
        signer: signed.chain.identity(signed.method_name),
        digest: signed.digest,
        revocation_checked: signed.chain.revocation_checked,
        revocation: signed.chain.revocation.clone(),
        legacy: signed.legacy,
    })
}

/// The one `ds:Signature`, a child of the envelope's `edXMLHeader` (under the SDKs' `edXML`
/// root or a bare envelope without lienthong's label); the document-wide hygiene.
fn field_signature(document: &Document) -> Result<&crate::doc::Element, VerifyError> {
    if document.comments_outside_root > 0 {
        return Err(VerifyError::Comment);
    }
    let root = &document.root;
    if let Some(path) = edxml_signature(root) {
        return Err(VerifyError::EdxmlSignature { path });
    }
    let envelope = if root.is(EDXML_NS, "edXML") {
        root.child(EDXML_NS, "edXMLEnvelope")
    } else if root.is(EDXML_NS, "edXMLEnvelope") && !is_lienthong_profile(root) {
        Some(root)
    } else {
        None
    }
    .ok_or_else(|| {
        VerifyError::NotAnEnvelope("not a document in the field form (docs/EDXML.md)".into())
    })?;
    let mut found = 0;
    count_signatures(root, &mut found);
    if found != 1 {
        return Err(VerifyError::SignatureCount { found });
    }
    let signature = envelope
        .child(EDXML_NS, "edXMLHeader")
        .and_then(|h| h.child(DSIG_NS, "Signature"))
        .ok_or(VerifyError::SignatureMisplaced)?;
    check_document_hygiene(root)?;
    Ok(signature)
}
