//! Writing an envelope in the field form, for systems built on the platform's SDKs: root
//! `edXML` (default namespace the standard's) holding the `edXML:`-prefixed envelope, the
//! manifest referencing each attachment by `cid:`, and the attachments beside the envelope in
//! `AttachmentEncoded` (base64), as the SDKs read them. `BussinessDocType` moves to
//! `TraceHeaderList/Bussiness`, where the SDKs keep it. The label stays (`lt:Classification`:
//! the SDKs' readers pass over it, and a document never loses its level on the way out). The
//! XML-DSig signature cannot survive the change of form and is left out: the field form that
//! lienthong writes is unsigned, and is served only over the authenticated API.
//!
//! A document that came in the field form (it carries the attachment
//! [`ORIGINAL_CONTENT_ID`](super::ORIGINAL_CONTENT_ID)) is given back as its original bytes.

use base64::Engine as _;

use super::ORIGINAL_CONTENT_ID;
use crate::doc::envelope::{EDXML_NS, Envelope, EnvelopeError};
use crate::doc::tree::{Document, Element, Node, NsDecl};
use crate::doc::write::write_document;

/// The prefix the SDKs write for the edXML namespace inside the envelope.
const PREFIX: &str = "edXML";

/// The field form of `env` (see the module documentation). A sealed (`mat`) envelope has no
/// field form: its content is for its recipients' keys only.
pub fn to_field_bytes(env: &Envelope) -> Result<Vec<u8>, EnvelopeError> {
    if env.body.sealed.is_some() {
        return Err(EnvelopeError::SealedWithContent {
            detail: "a sealed document has no field form".to_owned(),
        });
    }
    if let Some(original) = env
        .body
        .attachments
        .iter()
        .find(|a| a.content_id == ORIGINAL_CONTENT_ID)
    {
        return Ok(original.data.clone());
    }
    Ok(write_document(&field_document(env)))
}

fn field_document(env: &Envelope) -> Document {
    let mut envelope = crate::doc::envelope::build::document(&Envelope {
        signature: None,
        ..env.clone()
    })
    .root;
    // The default namespace moves to the `edXML` root; the label keeps its `lt` prefix.
    envelope.ns_decls.retain(|d| d.prefix.is_some());
    envelope.ns_decls.insert(
        0,
        NsDecl {
            prefix: Some(PREFIX.to_owned()),
            uri: EDXML_NS.to_owned(),
        },
    );
    if let Some(h) = child_mut(&mut envelope, "edXMLHeader") {
        move_business(h, env);
    }
    if let Some(b) = child_mut(&mut envelope, "edXMLBody") {
        remove_children(b, "Attachment");
        if let Some(m) = child_mut(b, "edXMLManifest") {
            m.set_attr("version", "1.0");
            for r in m.elements_mut() {
                rewrite_reference(r);
            }
        }
    }
    prefix_edxml(&mut envelope);
    indent_once(&mut envelope);
    let mut root = Element::new(None, "edXML", Some(EDXML_NS));
    root.ns_decls = vec![NsDecl {
        prefix: None,
        uri: EDXML_NS.to_owned(),
    }];
    root.push_text("\n  ");
    root.push_element(envelope);
    if !env.body.attachments.is_empty() {
        root.push_text("\n  ");
        root.push_element(parts(env));
    }
    root.push_text("\n");
    Document {
        root,
        comments_outside_root: 0,
    }
}

/// Removes the edXML children named `local`, each with the layout text before it.
fn remove_children(e: &mut Element, local: &str) {
    let mut out: Vec<Node> = Vec::with_capacity(e.children.len());
    for n in std::mem::take(&mut e.children) {
        if matches!(&n, Node::Element(c) if c.is(EDXML_NS, local)) {
            if matches!(out.last(), Some(Node::Text(t)) if t.trim().is_empty()) {
                out.pop();
            }
            continue;
        }
        out.push(n);
    }
    e.children = out;
}

/// One level deeper: the envelope now stands inside the `edXML` root.
fn indent_once(e: &mut Element) {
    for n in &mut e.children {
        match n {
            Node::Text(t) if t.starts_with('\n') && t.trim().is_empty() => t.push_str("  "),
            Node::Element(c) => indent_once(c),
            _ => {}
        }
    }
}

fn child_mut<'a>(e: &'a mut Element, local: &str) -> Option<&'a mut Element> {
    e.elements_mut().find(|c| c.is(EDXML_NS, local))
}

/// `MessageHeader/BussinessDocType` (lienthong's place) → `TraceHeaderList/Bussiness`.
fn move_business(header: &mut Element, env: &Envelope) {
    if let Some(m) = child_mut(header, "MessageHeader") {
        remove_children(m, "BussinessDocType");
    }
    if let Some(t) = child_mut(header, "TraceHeaderList") {
        let code = Element::new(None, "BussinessDocType", Some(EDXML_NS))
            .with_text(env.header.business_doc_type.to_string());
        let business = Element::new(None, "Bussiness", Some(EDXML_NS))
            .with_text("\n        ")
            .with_child(code)
            .with_text("\n      ");
        // After the trace headers, as the SDK samples write it.
        if matches!(t.children.last(), Some(Node::Text(_))) {
            t.children.pop();
        }
        t.push_text("\n      ");
        t.push_element(business);
        t.push_text("\n    ");
    }
}

/// lienthong's `Reference` (ContentId, FileName, ContentType, Digest, Size) → the SDKs'
/// (ContentId `cid:…`, AttachmentName, ContentType, Digest).
fn rewrite_reference(r: &mut Element) {
    remove_children(r, "Size");
    for c in r.elements_mut() {
        if c.local == "ContentId" {
            let cid = format!("cid:{}", c.text());
            c.children = vec![Node::Text(cid)];
        } else if c.local == "FileName" {
            c.local = "AttachmentName".to_owned();
        }
    }
}

/// Every element of the edXML namespace written with the `edXML:` prefix, as the SDKs write
/// the envelope (some of their readers look elements up by that qualified name).
fn prefix_edxml(e: &mut Element) {
    if e.ns.as_deref() == Some(EDXML_NS) {
        e.prefix = Some(PREFIX.to_owned());
    }
    for c in e.elements_mut() {
        prefix_edxml(c);
    }
}

/// `AttachmentEncoded`: one `Attachment` per manifest entry, in the default namespace.
fn parts(env: &Envelope) -> Element {
    let leaf =
        |local: &str, text: String| Element::new(None, local, Some(EDXML_NS)).with_text(text);
    let mut out = Element::new(None, "AttachmentEncoded", Some(EDXML_NS));
    for a in &env.body.attachments {
        let mut p = Element::new(None, "Attachment", Some(EDXML_NS));
        for c in [
            leaf("ContentId", format!("cid:{}", a.content_id)),
            leaf("AttachmentName", a.file_name.clone()),
            leaf("ContentType", a.content_type.clone()),
            leaf(
                "ContentTransferEncoded",
                base64::engine::general_purpose::STANDARD.encode(&a.data),
            ),
        ] {
            p.push_text("\n      ");
            p.push_element(c);
        }
        p.push_text("\n    ");
        out.push_text("\n    ");
        out.push_element(p);
    }
    out.push_text("\n  ");
    out
}
