//! The one XML door: bytes from anywhere become a [`Document`] only through [`parse`].
//!
//! quick-xml does the tokenising; everything XML 1.0 leaves to a validating parser and everything
//! an attacker reaches for is refused here, each with a named error: DOCTYPE (and so every entity
//! declaration, billion laughs, XXE), entities other than the five predefined, processing
//! instructions, non-UTF-8 encodings, unbound prefixes, duplicate attributes, content after the
//! root, and every size past [`Limits`]. Work is linear in the input: one pass, no backtracking,
//! no expansion.

use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::tree::{Attr, Document, Element, Node, NsDecl};

/// The namespace bound to the `xml` prefix by definition (Namespaces in XML 1.0 §3).
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Hard limits on what the parser accepts. Every default below is chosen for edXML: a real
/// envelope is a few KB of header plus base64 attachments, and nests about 6 levels deep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Whole document in bytes. Default 64 MiB: attachments travel base64 inside the envelope
    /// (≈ 48 MiB of files); the API's body limit sits below this.
    pub max_bytes: usize,
    /// Element nesting depth. Default 64: edXML needs < 10; XML-DSig adds 4.
    pub max_depth: usize,
    /// Attributes (namespace declarations included) on one element. Default 32.
    pub max_attrs: usize,
    /// Length of an element or attribute name in bytes. Default 256.
    pub max_name_len: usize,
    /// Length of one attribute value in bytes. Default 8 KiB (a long URI or organ name).
    pub max_attr_value_len: usize,
    /// Total number of elements. Default 100,000: bounds the tree's memory independently of size.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_attrs: 32,
            max_name_len: 256,
            max_attr_value_len: 8 * 1024,
            max_elements: 100_000,
        }
    }
}

/// Why a document was refused. Positions are byte offsets into the input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The input is larger than `Limits::max_bytes`.
    #[error("document is {size} bytes, over the limit max_bytes = {limit}")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Elements nest deeper than `Limits::max_depth`.
    #[error("element nesting at byte {pos} exceeds max_depth = {limit}")]
    TooDeep {
        /// Position.
        pos: u64,
        /// The limit.
        limit: usize,
    },
    /// Too many attributes on one element.
    #[error("element <{name}> has more than max_attrs = {limit} attributes")]
    TooManyAttributes {
        /// Element name.
        name: String,
        /// The limit.
        limit: usize,
    },
    /// A name longer than `Limits::max_name_len`.
    #[error("a name at byte {pos} is longer than max_name_len = {limit}")]
    NameTooLong {
        /// Position.
        pos: u64,
        /// The limit.
        limit: usize,
    },
    /// An attribute value longer than `Limits::max_attr_value_len`.
    #[error("attribute {name} is longer than max_attr_value_len = {limit}")]
    AttributeTooLong {
        /// Attribute name.
        name: String,
        /// The limit.
        limit: usize,
    },
    /// More elements than `Limits::max_elements`.
    #[error("document has more than max_elements = {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// A `<!DOCTYPE …>` declaration: refused outright, so no entity can ever be declared.
    #[error("DOCTYPE at byte {pos} refused: lienthong accepts no DTD, internal or external")]
    Doctype {
        /// Position.
        pos: u64,
    },
    /// An entity reference other than the five predefined ones.
    #[error(
        "entity &{name}; at byte {pos} refused: only &lt; &gt; &amp; &apos; &quot; are allowed"
    )]
    UnknownEntity {
        /// Entity name.
        name: String,
        /// Position.
        pos: u64,
    },
    /// A processing instruction other than the XML declaration.
    #[error("processing instruction <?{target} …?> at byte {pos} refused")]
    ProcessingInstruction {
        /// PI target.
        target: String,
        /// Position.
        pos: u64,
    },
    /// The input is not UTF-8, or declares another encoding.
    #[error("document is not UTF-8: {detail}")]
    NotUtf8 {
        /// What was found.
        detail: String,
    },
    /// A character XML 1.0 §2.2 does not allow (e.g. NUL), literal or by reference.
    #[error("character U+{code:04X} at byte {pos} is not allowed in XML")]
    InvalidChar {
        /// The code point.
        code: u32,
        /// Position.
        pos: u64,
    },
    /// A malformed character reference.
    #[error("malformed character reference &{text}; at byte {pos}")]
    BadCharRef {
        /// The reference text.
        text: String,
        /// Position.
        pos: u64,
    },
    /// A prefix used without a declaration in scope.
    #[error("prefix {prefix}: at byte {pos} is not bound to a namespace")]
    UnboundPrefix {
        /// The prefix.
        prefix: String,
        /// Position.
        pos: u64,
    },
    /// A namespace declaration that Namespaces in XML forbids (`xmlns:p=""`, rebinding `xml`
    /// or `xmlns`, binding the reserved URIs).
    #[error("namespace declaration {decl} at byte {pos} is not allowed")]
    BadNamespaceDecl {
        /// The declaration.
        decl: String,
        /// Position.
        pos: u64,
    },
    /// The same attribute twice on one element (by name or by expanded name).
    #[error("attribute {name} appears twice on <{element}>")]
    DuplicateAttribute {
        /// Attribute name.
        name: String,
        /// Element name.
        element: String,
    },
    /// Non-whitespace text, or a second element, outside the root element.
    #[error("content outside the root element at byte {pos}")]
    ContentOutsideRoot {
        /// Position.
        pos: u64,
    },
    /// No root element at all.
    #[error("document has no root element")]
    NoRoot,
    /// Any other well-formedness error reported by the tokenizer.
    #[error("malformed XML at byte {pos}: {detail}")]
    Malformed {
        /// Position.
        pos: u64,
        /// The tokenizer's message.
        detail: String,
    },
}

/// Parses `bytes` into a [`Document`], refusing anything outside `limits` or outside the XML
/// subset lienthong accepts.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Document, ParseError> {
    if bytes.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    // A UTF-8 BOM is allowed by XML 1.0 §4.3.3; any other BOM means another encoding.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(ParseError::NotUtf8 {
            detail: "UTF-16 byte order mark".into(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8 {
        detail: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
    })?;
    Parser::new(text, limits).run()
}

/// One open element while parsing, plus the namespace bindings it introduced.
struct Open {
    element: Element,
    /// How many entries of `Parser::bindings` this element pushed.
    bindings_pushed: usize,
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    limits: &'a Limits,
    /// In-scope namespace bindings, innermost last: (prefix, uri). `None` prefix = default.
    bindings: Vec<(Option<String>, String)>,
    stack: Vec<Open>,
    root: Option<Element>,
    elements: usize,
    /// Text waiting to be attached (text and references arrive as separate events).
    pending_text: String,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, limits: &'a Limits) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.trim_text(false);
        config.expand_empty_elements = true;
        Self {
            reader,
            limits,
            bindings: Vec::new(),
            stack: Vec::new(),
            root: None,
            elements: 0,
            pending_text: String::new(),
        }
    }

    fn pos(&self) -> u64 {
        self.reader.buffer_position()
    }

    fn malformed(&self, e: impl std::fmt::Display) -> ParseError {
        ParseError::Malformed {
            pos: self.reader.error_position(),
            detail: e.to_string(),
        }
    }

    fn run(mut self) -> Result<Document, ParseError> {
        loop {
            let event = self.reader.read_event().map_err(|e| self.malformed(e))?;
            match event {
                Event::Decl(decl) => self.check_decl(&decl)?,
                Event::DocType(_) => return Err(ParseError::Doctype { pos: self.pos() }),
                Event::PI(pi) => {
                    let target = pi.target().to_owned();
                    return Err(ParseError::ProcessingInstruction {
                        target,
                        pos: self.pos(),
                    });
                }
                Event::Start(start) => self.open(&start)?,
                // `expand_empty_elements` turns `<a/>` into Start + End.
                Event::Empty(start) => {
                    self.open(&start)?;
                    self.close()?;
                }
                Event::End(_) => self.close()?,
                Event::Text(t) => {
                    let raw = &*t;
                    self.text(raw)?;
                }
                Event::CData(c) => {
                    let raw = &*c;
                    if self.stack.is_empty() {
                        return Err(ParseError::ContentOutsideRoot { pos: self.pos() });
                    }
                    check_chars(raw, self.pos())?;
                    self.pending_text.push_str(&normalize_eol(raw));
                }
                Event::GeneralRef(r) => {
                    let name = &*r;
                    let pos = self.pos();
                    if self.stack.is_empty() {
                        return Err(ParseError::ContentOutsideRoot { pos });
                    }
                    let resolved = resolve_reference(name, pos)?;
                    self.pending_text.push(resolved);
                }
                Event::Comment(c) => {
                    let raw = &*c;
                    check_chars(raw, self.pos())?;
                    if !self.stack.is_empty() {
                        self.flush_text();
                        self.push_node(Node::Comment(normalize_eol(raw)));
                    }
                }
                Event::Eof => break,
            }
        }
        if !self.stack.is_empty() {
            return Err(self.malformed("unexpected end of input inside an element"));
        }
        self.root
            .map(|root| Document { root })
            .ok_or(ParseError::NoRoot)
    }

    fn check_decl(&self, decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), ParseError> {
        if let Some(enc) = decl.encoding() {
            let enc = enc.map_err(|e| self.malformed(e))?;
            if !enc.eq_ignore_ascii_case("utf-8") {
                return Err(ParseError::NotUtf8 {
                    detail: format!("declared encoding {}", enc),
                });
            }
        }
        Ok(())
    }

    fn text(&mut self, raw: &str) -> Result<(), ParseError> {
        let pos = self.pos();
        if self.stack.is_empty() {
            if raw.chars().all(is_xml_space) {
                return Ok(());
            }
            return Err(ParseError::ContentOutsideRoot { pos });
        }
        check_chars(raw, pos)?;
        self.pending_text.push_str(&normalize_eol(raw));
        Ok(())
    }

    fn flush_text(&mut self) {
        if !self.pending_text.is_empty() {
            let t = std::mem::take(&mut self.pending_text);
            // Adjacent text nodes are merged: the tree never holds two in a row.
            if let Some(open) = self.stack.last_mut() {
                if let Some(Node::Text(prev)) = open.element.children.last_mut() {
                    prev.push_str(&t);
                } else {
                    open.element.children.push(Node::Text(t));
                }
            }
        }
    }

    fn push_node(&mut self, node: Node) {
        if let Some(open) = self.stack.last_mut() {
            open.element.children.push(node);
        }
    }

    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), ParseError> {
        let pos = self.pos();
        if self.root.is_some() {
            return Err(ParseError::ContentOutsideRoot { pos });
        }
        self.flush_text();
        if self.stack.len() >= self.limits.max_depth {
            return Err(ParseError::TooDeep {
                pos,
                limit: self.limits.max_depth,
            });
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(ParseError::TooManyElements {
                limit: self.limits.max_elements,
            });
        }
        let qname = start.name().as_ref().to_owned();
        if qname.len() > self.limits.max_name_len {
            return Err(ParseError::NameTooLong {
                pos,
                limit: self.limits.max_name_len,
            });
        }

        // First pass: collect raw attributes and namespace declarations.
        let mut decls: Vec<NsDecl> = Vec::new();
        let mut raw_attrs: Vec<(String, String)> = Vec::new();
        let mut seen_raw: HashSet<String> = HashSet::new();
        for (count, attr) in start.attributes().with_checks(true).enumerate() {
            if count >= self.limits.max_attrs {
                return Err(ParseError::TooManyAttributes {
                    name: qname,
                    limit: self.limits.max_attrs,
                });
            }
            let attr = attr.map_err(|e| match e {
                quick_xml::events::attributes::AttrError::Duplicated(_, _) => {
                    ParseError::DuplicateAttribute {
                        name: "(same name)".into(),
                        element: qname.clone(),
                    }
                }
                other => self.malformed(other),
            })?;
            let name = attr.key.as_ref().to_owned();
            if name.len() > self.limits.max_name_len {
                return Err(ParseError::NameTooLong {
                    pos,
                    limit: self.limits.max_name_len,
                });
            }
            if attr.value.len() > self.limits.max_attr_value_len {
                return Err(ParseError::AttributeTooLong {
                    name,
                    limit: self.limits.max_attr_value_len,
                });
            }
            if !seen_raw.insert(name.clone()) {
                return Err(ParseError::DuplicateAttribute {
                    name,
                    element: qname,
                });
            }
            let raw_value: &str = &attr.value;
            let value = unescape_attr(raw_value, pos)?;
            if name == "xmlns" {
                check_decl_uri(None, &value, pos)?;
                decls.push(NsDecl {
                    prefix: None,
                    uri: value,
                });
            } else if let Some(p) = name.strip_prefix("xmlns:") {
                check_decl_uri(Some(p), &value, pos)?;
                decls.push(NsDecl {
                    prefix: Some(p.to_owned()),
                    uri: value,
                });
            } else {
                raw_attrs.push((name, value));
            }
        }

        let pushed = decls.len();
        for d in &decls {
            self.bindings.push((d.prefix.clone(), d.uri.clone()));
        }

        let (prefix, local) = split_qname(&qname);
        let ns = self.resolve(prefix, true, pos)?;
        let mut element = Element::new(prefix, local, ns.as_deref());
        element.ns_decls = decls;

        let mut expanded: HashSet<(Option<String>, String)> = HashSet::new();
        for (name, value) in raw_attrs {
            let (aprefix, alocal) = split_qname(&name);
            // Unprefixed attributes are in no namespace (Namespaces in XML §6.2).
            let ans = match aprefix {
                Some(_) => self.resolve(aprefix, false, pos)?,
                None => None,
            };
            if !expanded.insert((ans.clone(), alocal.to_owned())) {
                return Err(ParseError::DuplicateAttribute {
                    name,
                    element: qname,
                });
            }
            element.attrs.push(Attr {
                prefix: aprefix.map(str::to_owned),
                local: alocal.to_owned(),
                ns: ans,
                value,
            });
        }

        self.stack.push(Open {
            element,
            bindings_pushed: pushed,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), ParseError> {
        self.flush_text();
        let Some(open) = self.stack.pop() else {
            return Err(self.malformed("end tag without a start tag"));
        };
        let keep = self.bindings.len().saturating_sub(open.bindings_pushed);
        self.bindings.truncate(keep);
        match self.stack.last_mut() {
            Some(parent) => parent.element.children.push(Node::Element(open.element)),
            None => self.root = Some(open.element),
        }
        Ok(())
    }

    /// Resolves a prefix against the bindings in scope. `for_element` selects whether the
    /// default namespace applies (it does to elements, never to attributes).
    fn resolve(
        &self,
        prefix: Option<&str>,
        for_element: bool,
        pos: u64,
    ) -> Result<Option<String>, ParseError> {
        match prefix {
            Some("xml") => Ok(Some(XML_NS.to_owned())),
            Some("xmlns") => Err(ParseError::BadNamespaceDecl {
                decl: "xmlns prefix used as a name".into(),
                pos,
            }),
            Some(p) => self
                .bindings
                .iter()
                .rev()
                .find(|(bp, _)| bp.as_deref() == Some(p))
                .map(|(_, uri)| Some(uri.clone()))
                .ok_or_else(|| ParseError::UnboundPrefix {
                    prefix: p.to_owned(),
                    pos,
                }),
            None if for_element => Ok(self
                .bindings
                .iter()
                .rev()
                .find(|(bp, _)| bp.is_none())
                .and_then(|(_, uri)| (!uri.is_empty()).then(|| uri.clone()))),
            None => Ok(None),
        }
    }
}

fn split_qname(name: &str) -> (Option<&str>, &str) {
    match name.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, name),
    }
}

fn check_decl_uri(prefix: Option<&str>, uri: &str, pos: u64) -> Result<(), ParseError> {
    let bad = |what: &str| ParseError::BadNamespaceDecl {
        decl: what.to_owned(),
        pos,
    };
    match prefix {
        Some("xmlns") => Err(bad("xmlns:xmlns")),
        Some("xml") if uri != XML_NS => Err(bad("xmlns:xml bound to another URI")),
        Some(p) if uri.is_empty() => Err(bad(&format!("xmlns:{p}=\"\""))),
        Some(p) if p != "xml" && (uri == XML_NS || uri == XMLNS_NS) => {
            Err(bad(&format!("xmlns:{p} bound to a reserved URI")))
        }
        None if uri == XML_NS || uri == XMLNS_NS => Err(bad("default namespace is reserved URI")),
        Some(_) | None => Ok(()),
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XML 1.0 §2.2 Char production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn check_chars(s: &str, pos: u64) -> Result<(), ParseError> {
    match s.chars().find(|c| !is_xml_char(*c)) {
        Some(c) => Err(ParseError::InvalidChar {
            code: u32::from(c),
            pos,
        }),
        None => Ok(()),
    }
}

/// XML 1.0 §2.11: `\r\n` and lone `\r` become `\n`.
fn normalize_eol(s: &str) -> String {
    if !s.contains('\r') {
        return s.to_owned();
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Resolves one reference (`lt`, `#x41`, …) to its character.
fn resolve_reference(name: &str, pos: u64) -> Result<char, ParseError> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => {
            let Some(num) = name.strip_prefix('#') else {
                return Err(ParseError::UnknownEntity {
                    name: name.to_owned(),
                    pos,
                });
            };
            let bad = || ParseError::BadCharRef {
                text: name.to_owned(),
                pos,
            };
            let code = match num.strip_prefix('x') {
                Some(hex) if !hex.is_empty() && hex.len() <= 6 => {
                    u32::from_str_radix(hex, 16).map_err(|_| bad())?
                }
                Some(_) => return Err(bad()),
                None if !num.is_empty()
                    && num.len() <= 7
                    && num.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    num.parse::<u32>().map_err(|_| bad())?
                }
                None => return Err(bad()),
            };
            let c = char::from_u32(code).ok_or_else(bad)?;
            if !is_xml_char(c) {
                return Err(ParseError::InvalidChar { code, pos });
            }
            Ok(c)
        }
    }
}

/// Attribute-value normalisation (XML 1.0 §3.3.3) for CDATA attributes: line ends normalised,
/// each literal whitespace character becomes a space, references resolved (a `&#10;` stays a
/// newline: that is how c14n can round-trip one).
fn unescape_attr(raw: &str, pos: u64) -> Result<String, ParseError> {
    check_chars(raw, pos)?;
    let raw = normalize_eol(raw);
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw.as_str();
    while let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let mut chars = tail.chars();
        match chars.next() {
            Some('&') => {
                let after = chars.as_str();
                let end = after.find(';').ok_or_else(|| ParseError::BadCharRef {
                    text: after.chars().take(16).collect(),
                    pos,
                })?;
                let (name, tail) = after.split_at(end);
                out.push(resolve_reference(name, pos)?);
                rest = tail.strip_prefix(';').unwrap_or(tail);
                continue;
            }
            Some('<') => {
                return Err(ParseError::Malformed {
                    pos,
                    detail: "'<' in an attribute value".into(),
                });
            }
            Some(_) => out.push(' '),
            None => {}
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Document, ParseError> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn parses_namespaces_and_entities() {
        let d = p(r#"<?xml version="1.0" encoding="UTF-8"?><a:r xmlns:a="urn:a" x="1&amp;&#x41;"><b>t&lt;&#65;</b></a:r>"#)
            .unwrap();
        assert_eq!(d.root.ns.as_deref(), Some("urn:a"));
        assert_eq!(d.root.attr("x"), Some("1&A"));
        let b = d.root.elements().next().unwrap();
        assert_eq!(b.ns, None);
        assert_eq!(b.text(), "t<A");
    }

    #[test]
    fn refuses_doctype() {
        let e = p(r#"<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>"#).unwrap_err();
        assert!(matches!(e, ParseError::Doctype { .. }), "{e}");
    }

    #[test]
    fn refuses_unknown_entity() {
        let e = p("<r>&x;</r>").unwrap_err();
        assert!(matches!(e, ParseError::UnknownEntity { .. }), "{e}");
    }

    #[test]
    fn refuses_pi() {
        let e = p(r#"<r><?xml-stylesheet href="x"?></r>"#).unwrap_err();
        assert!(matches!(e, ParseError::ProcessingInstruction { .. }), "{e}");
    }

    #[test]
    fn refuses_other_encodings() {
        let e = p(r#"<?xml version="1.0" encoding="ISO-8859-1"?><r/>"#).unwrap_err();
        assert!(matches!(e, ParseError::NotUtf8 { .. }), "{e}");
        let e = parse(b"<r>\xff</r>", &Limits::default()).unwrap_err();
        assert!(matches!(e, ParseError::NotUtf8 { .. }), "{e}");
        let e = parse(b"\xFF\xFE<\0r\0/\0>\0", &Limits::default()).unwrap_err();
        assert!(matches!(e, ParseError::NotUtf8 { .. }), "{e}");
    }

    #[test]
    fn accepts_utf8_bom() {
        assert!(parse(b"\xEF\xBB\xBF<r/>", &Limits::default()).is_ok());
    }

    #[test]
    fn refuses_nul_and_bad_char_refs() {
        assert!(matches!(
            p("<r>\0</r>").unwrap_err(),
            ParseError::InvalidChar { .. }
        ));
        assert!(matches!(
            p("<r>&#0;</r>").unwrap_err(),
            ParseError::InvalidChar { .. }
        ));
        assert!(matches!(
            p("<r>&#xZZ;</r>").unwrap_err(),
            ParseError::BadCharRef { .. }
        ));
        assert!(matches!(
            p("<r a='&#1;'/>").unwrap_err(),
            ParseError::InvalidChar { .. }
        ));
    }

    #[test]
    fn refuses_duplicate_attributes() {
        let e = p(r#"<r a="1" a="2"/>"#).unwrap_err();
        assert!(matches!(e, ParseError::DuplicateAttribute { .. }), "{e}");
        let e = p(r#"<r xmlns:x="urn:x" xmlns:y="urn:x" x:a="1" y:a="2"/>"#).unwrap_err();
        assert!(matches!(e, ParseError::DuplicateAttribute { .. }), "{e}");
    }

    #[test]
    fn refuses_unbound_prefix_and_bad_decls() {
        assert!(matches!(
            p("<x:r/>").unwrap_err(),
            ParseError::UnboundPrefix { .. }
        ));
        assert!(matches!(
            p(r#"<r xmlns:x=""/>"#).unwrap_err(),
            ParseError::BadNamespaceDecl { .. }
        ));
        assert!(matches!(
            p(r#"<r xmlns:xml="urn:other"/>"#).unwrap_err(),
            ParseError::BadNamespaceDecl { .. }
        ));
    }

    #[test]
    fn refuses_content_outside_root() {
        assert!(matches!(
            p("<r/><s/>").unwrap_err(),
            ParseError::ContentOutsideRoot { .. }
        ));
        assert!(matches!(
            p("<r/>text").unwrap_err(),
            ParseError::ContentOutsideRoot { .. }
        ));
        assert!(matches!(p("  ").unwrap_err(), ParseError::NoRoot));
    }

    #[test]
    fn depth_limit_at_n_and_n_plus_one() {
        let limits = Limits {
            max_depth: 10,
            ..Limits::default()
        };
        let doc = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(parse(doc(10).as_bytes(), &limits).is_ok());
        assert!(matches!(
            parse(doc(11).as_bytes(), &limits).unwrap_err(),
            ParseError::TooDeep { limit: 10, .. }
        ));
    }

    #[test]
    fn attribute_limits_at_n_and_n_plus_one() {
        let limits = Limits {
            max_attrs: 3,
            max_attr_value_len: 5,
            ..Limits::default()
        };
        assert!(parse(br#"<r a="1" b="2" c="12345"/>"#, &limits).is_ok());
        assert!(matches!(
            parse(br#"<r a="1" b="2" c="3" d="4"/>"#, &limits).unwrap_err(),
            ParseError::TooManyAttributes { limit: 3, .. }
        ));
        assert!(matches!(
            parse(br#"<r a="123456"/>"#, &limits).unwrap_err(),
            ParseError::AttributeTooLong { limit: 5, .. }
        ));
    }

    #[test]
    fn size_and_element_limits() {
        let limits = Limits {
            max_bytes: 10,
            max_elements: 2,
            ..Limits::default()
        };
        assert!(
            parse(
                b"<r><a/></r>",
                &Limits {
                    max_bytes: 11,
                    ..limits.clone()
                }
            )
            .is_ok()
        );
        assert!(matches!(
            parse(b"<r><a/></r>", &limits).unwrap_err(),
            ParseError::TooLarge { limit: 10, .. }
        ));
        assert!(matches!(
            parse(
                b"<r><a/><b/></r>",
                &Limits {
                    max_bytes: 100,
                    ..limits
                }
            )
            .unwrap_err(),
            ParseError::TooManyElements { limit: 2 }
        ));
    }

    #[test]
    fn name_limit() {
        let limits = Limits {
            max_name_len: 4,
            ..Limits::default()
        };
        assert!(parse(b"<abcd/>", &limits).is_ok());
        assert!(matches!(
            parse(b"<abcde/>", &limits).unwrap_err(),
            ParseError::NameTooLong { limit: 4, .. }
        ));
    }

    #[test]
    fn normalises_line_ends_and_attribute_whitespace() {
        let d = p("<r a=\"x\ty\r\nz&#10;\">l1\r\nl2\rl3</r>").unwrap();
        assert_eq!(d.root.attr("a"), Some("x y z\n"));
        assert_eq!(d.root.text(), "l1\nl2\nl3");
    }

    #[test]
    fn malformed_is_refused() {
        assert!(matches!(
            p("<r><a></r>").unwrap_err(),
            ParseError::Malformed { .. }
        ));
        assert!(matches!(
            p("<r>").unwrap_err(),
            ParseError::Malformed { .. }
        ));
    }
}
