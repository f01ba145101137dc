//! Exclusive XML Canonicalization 1.0, without comments (W3C xml-exc-c14n, 2002) — the bytes
//! XML-DSig digests and signs.
//!
//! Works on the parsed tree: a whole document, or one subtree (SignedInfo) with the namespace
//! bindings of its ancestors, optionally leaving out one element (the enveloped-signature
//! transform, XML-DSig §6.6.4). The rules applied, by section of the Exclusive C14N spec:
//! - §3 namespace nodes are rendered only where *visibly utilised* (the element's own prefix, the
//!   prefixes of its attributes) or listed in the InclusiveNamespaces PrefixList, and only when
//!   the nearest rendered ancestor did not already render the same binding;
//! - attributes of the `xml` namespace are not inherited (unlike inclusive c14n);
//! - Canonical XML §2.3 ordering: namespace declarations by prefix (default first), attributes
//!   by (namespace URI, local name), unqualified first; empty elements as start/end pairs;
//!   escaping of `& < > \r` in text and `& < " \t \n \r` in attributes.

use std::collections::HashMap;

use super::tree::{Element, Node, NsDecl};

/// Options for one canonicalisation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// Prefixes from `InclusiveNamespaces/@PrefixList` (`#default` for the default namespace),
    /// treated by the inclusive rules.
    pub inclusive_prefixes: &'a [String],
    /// An element left out entirely (the enveloped Signature), compared by identity.
    pub exclude: Option<&'a Element>,
}

/// Canonicalises the subtree at `element`, whose ancestors declared `inherited` (outermost
/// first; pass `&[]` for a document root), into `out`.
pub fn canonicalize_into(
    element: &Element,
    inherited: &[NsDecl],
    options: &Options<'_>,
    out: &mut Vec<u8>,
) {
    let mut in_scope: HashMap<&str, &str> = HashMap::new();
    for d in inherited {
        in_scope.insert(d.prefix.as_deref().unwrap_or(""), d.uri.as_str());
    }
    let mut c = Canon {
        options,
        out,
        // Nothing has been rendered above the apex: the default namespace is empty.
        rendered: vec![HashMap::from([("", "")])],
        in_scope: vec![in_scope],
        inclusive: false,
    };
    c.element(element);
}

/// Canonicalises the subtree at `element` and returns the bytes.
pub fn canonicalize(element: &Element, inherited: &[NsDecl], options: &Options<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    canonicalize_into(element, inherited, options, &mut out);
    out
}

/// **Inclusive** Canonical XML 1.0 without comments (W3C REC-xml-c14n-20010315), verify-only:
/// legacy signatures (the platform's SDK signers) canonicalise `SignedInfo` so. Every namespace
/// in scope is rendered where the nearest rendered ancestor did not already render the same
/// binding (at a subtree's apex: all of them, the ancestors' included). Attributes of the `xml`
/// namespace that an apex inherits are **not** added: callers refuse such documents instead
/// (`sign::verify`), so this never renders a subset differently from the spec.
pub fn canonicalize_inclusive(
    element: &Element,
    inherited: &[NsDecl],
    exclude: Option<&Element>,
) -> Vec<u8> {
    let mut in_scope: HashMap<&str, &str> = HashMap::new();
    for d in inherited {
        in_scope.insert(d.prefix.as_deref().unwrap_or(""), d.uri.as_str());
    }
    let options = Options {
        inclusive_prefixes: &[],
        exclude,
    };
    let mut out = Vec::with_capacity(4096);
    let mut c = Canon {
        options: &options,
        out: &mut out,
        rendered: vec![HashMap::from([("", "")])],
        in_scope: vec![in_scope],
        inclusive: true,
    };
    c.element(element);
    out
}

struct Canon<'a, 'o> {
    options: &'a Options<'a>,
    out: &'o mut Vec<u8>,
    /// Bindings rendered by output ancestors, innermost last (each frame is a full copy-on-write
    /// view: we push a clone only when an element renders something).
    rendered: Vec<HashMap<&'a str, &'a str>>,
    /// Bindings in scope in the input tree, innermost last.
    in_scope: Vec<HashMap<&'a str, &'a str>>,
    /// Inclusive c14n 1.0: every binding in scope is wanted, not only the visibly used ones.
    inclusive: bool,
}

impl<'a> Canon<'a, '_> {
    fn element(&mut self, e: &'a Element) {
        if let Some(x) = self.options.exclude {
            if std::ptr::eq(x, e) {
                return;
            }
        }
        // Scope of the input tree at this element.
        let mut scope = self.in_scope.last().cloned().unwrap_or_default();
        for d in &e.ns_decls {
            scope.insert(d.prefix.as_deref().unwrap_or(""), d.uri.as_str());
        }

        let wanted = self.wanted(e, &scope);
        let rendered_above = self.rendered.last().cloned().unwrap_or_default();
        let mut emit: Vec<(&'a str, &'a str)> = Vec::new();
        for (p, uri) in wanted {
            // The `xml` prefix is bound by definition and its namespace node is never rendered
            // (Canonical XML 1.0 §2.3 / §4.5: it is "in every element's namespace axis" and
            // omitted), also when an element or the PrefixList uses it.
            if p == "xml" || emit.iter().any(|(ep, _)| *ep == p) {
                continue;
            }
            let already = rendered_above.get(p).copied();
            let needed = if p.is_empty() && uri.is_empty() {
                // xmlns="" only when an output ancestor rendered a non-empty default namespace.
                matches!(already, Some(u) if !u.is_empty())
            } else {
                already != Some(uri)
            };
            if needed {
                emit.push((p, uri));
            }
        }
        emit.sort_by(|a, b| a.0.cmp(b.0));

        self.out.push(b'<');
        self.name(e.prefix.as_deref(), &e.local);
        let mut rendered = rendered_above;
        for (p, uri) in &emit {
            if p.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(p.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            escape_attr(uri, self.out);
            self.out.push(b'"');
            rendered.insert(p, uri);
        }

        let mut attrs: Vec<_> = e.attrs.iter().collect();
        attrs.sort_by(|a, b| {
            (a.ns.as_deref().unwrap_or(""), a.local.as_str())
                .cmp(&(b.ns.as_deref().unwrap_or(""), b.local.as_str()))
        });
        for a in attrs {
            self.out.push(b' ');
            self.name(a.prefix.as_deref(), &a.local);
            self.out.extend_from_slice(b"=\"");
            escape_attr(&a.value, self.out);
            self.out.push(b'"');
        }
        self.out.push(b'>');

        self.rendered.push(rendered);
        self.in_scope.push(scope);
        for child in &e.children {
            match child {
                Node::Element(c) => self.element(c),
                Node::Text(t) => escape_text(t, self.out),
                Node::Comment(_) => {}
            }
        }
        self.in_scope.pop();
        self.rendered.pop();

        self.out.extend_from_slice(b"</");
        self.name(e.prefix.as_deref(), &e.local);
        self.out.push(b'>');
    }

    /// Namespace nodes to consider at `e` (in scope `scope`): the visibly utilised ones, then
    /// the PrefixList; in inclusive c14n, every binding in scope.
    fn wanted(&self, e: &'a Element, scope: &HashMap<&'a str, &'a str>) -> Vec<(&'a str, &'a str)> {
        let mut wanted: Vec<(&'a str, &'a str)> = Vec::new();
        let own_prefix = e.prefix.as_deref().unwrap_or("");
        wanted.push((own_prefix, e.ns.as_deref().unwrap_or("")));
        for a in &e.attrs {
            if let (Some(p), Some(ns)) = (a.prefix.as_deref(), a.ns.as_deref()) {
                wanted.push((p, ns));
            }
        }
        for p in self.options.inclusive_prefixes {
            let key = if p == "#default" { "" } else { p.as_str() };
            if let Some((k, uri)) = scope.get_key_value(key) {
                wanted.push((k, uri));
            }
        }
        if self.inclusive {
            wanted.extend(scope.iter().map(|(k, v)| (*k, *v)));
        }
        wanted
    }

    fn name(&mut self, prefix: Option<&str>, local: &str) {
        if let Some(p) = prefix {
            self.out.extend_from_slice(p.as_bytes());
            self.out.push(b':');
        }
        self.out.extend_from_slice(local.as_bytes());
    }
}

/// Canonical XML §2.3 text escaping (also used by the writer, so written documents are already
/// canonical in their text).
pub(crate) fn escape_text(s: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(s.as_bytes().get(last..i).unwrap_or_default());
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(s.as_bytes().get(last..).unwrap_or_default());
}

/// Canonical XML §2.3 attribute-value escaping.
pub(crate) fn escape_attr(s: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'"' => b"&quot;",
            b'\t' => b"&#x9;",
            b'\n' => b"&#xA;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(s.as_bytes().get(last..i).unwrap_or_default());
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(s.as_bytes().get(last..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::parse::{Limits, parse};

    fn c14n(s: &str) -> String {
        let d = parse(s.as_bytes(), &Limits::default()).unwrap();
        String::from_utf8(canonicalize(&d.root, &[], &Options::default())).unwrap()
    }

    #[test]
    fn renders_only_visibly_utilised_namespaces() {
        assert_eq!(
            c14n(r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b"><c/></a:r>"#),
            r#"<a:r xmlns:a="urn:a"><c></c></a:r>"#
        );
        assert_eq!(
            c14n(r#"<r xmlns:b="urn:b"><c b:x="1"/><b:d/></r>"#),
            r#"<r><c xmlns:b="urn:b" b:x="1"></c><b:d xmlns:b="urn:b"></b:d></r>"#
        );
    }

    #[test]
    fn default_namespace_undeclared_only_when_needed() {
        assert_eq!(
            c14n(r#"<r xmlns="urn:d"><c xmlns=""/></r>"#),
            r#"<r xmlns="urn:d"><c xmlns=""></c></r>"#
        );
        assert_eq!(c14n(r#"<r><c xmlns=""/></r>"#), r#"<r><c></c></r>"#);
    }

    #[test]
    fn sorts_attributes_and_escapes() {
        assert_eq!(
            c14n(
                "<r xmlns:z=\"urn:a\" b=\"&quot;\t\" z:a=\"1\" a=\"&lt;&amp;>\">&amp;&lt;&gt;&#13;<!--c--></r>"
            ),
            "<r xmlns:z=\"urn:a\" a=\"&lt;&amp;>\" b=\"&quot; \" z:a=\"1\">&amp;&lt;&gt;&#xD;</r>"
        );
    }

    #[test]
    fn excludes_the_enveloped_element() {
        let d = parse(br#"<r><s/><t/></r>"#, &Limits::default()).unwrap();
        let s = d.root.elements().next().unwrap();
        let out = canonicalize(
            &d.root,
            &[],
            &Options {
                exclude: Some(s),
                ..Options::default()
            },
        );
        assert_eq!(out, b"<r><t></t></r>");
    }

    #[test]
    fn inclusive_prefix_list_renders_unused_bindings() {
        let d = parse(
            br#"<r xmlns:p="urn:p" xmlns="urn:d"><s/></r>"#,
            &Limits::default(),
        )
        .unwrap();
        let prefixes = vec!["p".to_owned()];
        let out = canonicalize(
            &d.root,
            &[],
            &Options {
                inclusive_prefixes: &prefixes,
                exclude: None,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"<r xmlns="urn:d" xmlns:p="urn:p"><s></s></r>"#
        );
    }

    /// Bug found against xmllint: an element in the `xml` namespace (`<xml:r/>`) rendered
    /// `xmlns:xml="…"`; so did an explicit `xmlns:xml` declaration listed in the PrefixList.
    #[test]
    fn never_renders_the_xml_namespace() {
        assert_eq!(
            c14n(r#"<xml:r xml:lang="vi"/>"#),
            r#"<xml:r xml:lang="vi"></xml:r>"#
        );
        let d = parse(
            br#"<r xmlns:xml="http://www.w3.org/XML/1998/namespace"><xml:s/></r>"#,
            &Limits::default(),
        )
        .unwrap();
        let prefixes = vec!["xml".to_owned()];
        let out = canonicalize(
            &d.root,
            &[],
            &Options {
                inclusive_prefixes: &prefixes,
                exclude: None,
            },
        );
        assert_eq!(out, b"<r><xml:s></xml:s></r>");
    }

    #[test]
    fn subtree_takes_ancestor_bindings() {
        let d = parse(
            br#"<ds:a xmlns:ds="urn:ds"><ds:b><ds:c/></ds:b></ds:a>"#,
            &Limits::default(),
        )
        .unwrap();
        let b = d.root.elements().next().unwrap();
        let out = canonicalize(b, &d.root.ns_decls, &Options::default());
        assert_eq!(out, br#"<ds:b xmlns:ds="urn:ds"><ds:c></ds:c></ds:b>"#);
    }
}
