//! Writes a tree back to bytes: declarations and attributes in their original order, text
//! escaped as Canonical XML escapes it, so a received document round-trips without loss of
//! anything c14n can see.

use super::c14n::{escape_attr, escape_text};
use super::tree::{Document, Element, Node};

/// Serialises `doc` with an XML declaration.
pub fn write_document(doc: &Document) -> Vec<u8> {
    let mut out = Vec::with_capacity(8192);
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_element(&doc.root, &mut out);
    out.push(b'\n');
    out
}

/// Serialises one element and its subtree into `out`.
pub fn write_element(e: &Element, out: &mut Vec<u8>) {
    out.push(b'<');
    name(e.prefix.as_deref(), &e.local, out);
    for d in &e.ns_decls {
        match &d.prefix {
            Some(p) => {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
            }
            None => out.extend_from_slice(b" xmlns"),
        }
        out.extend_from_slice(b"=\"");
        escape_attr(&d.uri, out);
        out.push(b'"');
    }
    for a in &e.attrs {
        out.push(b' ');
        name(a.prefix.as_deref(), &a.local, out);
        out.extend_from_slice(b"=\"");
        escape_attr(&a.value, out);
        out.push(b'"');
    }
    if e.children.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for c in &e.children {
        match c {
            Node::Element(c) => write_element(c, out),
            Node::Text(t) => escape_text(t, out),
            Node::Comment(t) => {
                out.extend_from_slice(b"<!--");
                out.extend_from_slice(t.as_bytes());
                out.extend_from_slice(b"-->");
            }
        }
    }
    out.extend_from_slice(b"</");
    name(e.prefix.as_deref(), &e.local, out);
    out.push(b'>');
}

fn name(prefix: Option<&str>, local: &str, out: &mut Vec<u8>) {
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(local.as_bytes());
}
