//! The one XML door: bytes from anywhere become a [`Document`] only through [`parse`].
//!
//! quick-xml does the tokenising; everything XML 1.0 leaves to a validating parser and everything
//! an attacker reaches for is refused here, each with a named error: DOCTYPE (and so every entity
//! declaration, billion laughs, XXE), entities other than the five predefined, processing
//! instructions, non-UTF-8 encodings, unbound prefixes, duplicate attributes, content after the
//! root, and every size past [`Limits`]. Where quick-xml is lenient (names, start-tag syntax, the
//! XML declaration, `]]>` in text) the checks here make the accepted language match libxml2's,
//! and namespace names must be plain absolute URIs so exclusive c14n has one answer
//! (`tests/c14n_xmllint.rs` compares against `xmllint --exc-c14n`). Work is linear in the input: one pass, no backtracking,
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
    // quick-xml would silently drop a second BOM as well; it is a character before the root
    // (not well-formed), and dropping it would let two byte strings parse to one tree.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(ParseError::ContentOutsideRoot { pos: 3 });
    }
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

/// A start tag's namespace declarations and its other attributes (raw name, value), in order.
type TagAttributes = (Vec<NsDecl>, Vec<(String, String)>);

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
    /// Comments seen before or after the root element.
    outside_comments: usize,
    /// True until the first event: the XML declaration is only allowed there (XML 1.0 §2.8).
    at_start: bool,
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
            outside_comments: 0,
            at_start: true,
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
            let first = std::mem::replace(&mut self.at_start, false);
            match event {
                Event::Decl(_) if !first => {
                    return Err(self.malformed("XML declaration not at the start of the document"));
                }
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
                    if self.stack.is_empty() {
                        self.outside_comments += 1;
                    } else {
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
        let comments_outside_root = self.outside_comments;
        self.root
            .map(|root| Document {
                root,
                comments_outside_root,
            })
            .ok_or(ParseError::NoRoot)
    }

    /// XML 1.0 §2.8 `XMLDecl`, strictly: `version` (only "1.0"), then optional `encoding` (only
    /// UTF-8), then optional `standalone` ("yes"/"no"), nothing else. quick-xml hands over the
    /// raw declaration without checking it; libxml2 refuses every deviation, and so do we.
    /// XML 1.1 is refused: it changes the allowed characters and line-end normalisation.
    fn check_decl(&self, decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), ParseError> {
        let raw: &str = decl;
        let rest = raw.strip_prefix("xml").unwrap_or(raw);
        let pseudo = parse_pseudo_attrs(rest).map_err(|e| self.malformed(e))?;
        let mut names = pseudo.iter().map(|(n, _)| *n);
        let mut next = names.next();
        let mut expect = |want: &str, required: bool| -> Result<(), ParseError> {
            if next == Some(want) {
                next = names.next();
                Ok(())
            } else if required {
                Err(self.malformed(format!("XML declaration lacks {want}")))
            } else {
                Ok(())
            }
        };
        expect("version", true)?;
        expect("encoding", false)?;
        expect("standalone", false)?;
        if let Some(n) = next {
            return Err(self.malformed(format!("unexpected {n} in the XML declaration")));
        }
        for (name, value) in pseudo {
            match name {
                "version" if value != "1.0" => {
                    return Err(self.malformed(format!("XML version {value} is not supported")));
                }
                "encoding" if !value.eq_ignore_ascii_case("utf-8") => {
                    return Err(ParseError::NotUtf8 {
                        detail: format!("declared encoding {value}"),
                    });
                }
                "standalone" if value != "yes" && value != "no" => {
                    return Err(self.malformed("standalone must be yes or no"));
                }
                _ => {}
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
        // XML 1.0 §2.4: `]]>` must not appear literally in content (quick-xml lets it through).
        if raw.contains("]]>") {
            return Err(self.malformed("']]>' in character data"));
        }
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

    /// A start tag: admitted, its name and syntax checked, its attributes read, then its element
    /// (named with its own declarations in scope) opened.
    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), ParseError> {
        let pos = self.pos();
        self.admit_element(pos)?;
        let qname = start.name().as_ref().to_owned();
        if qname.len() > self.limits.max_name_len {
            return Err(ParseError::NameTooLong {
                pos,
                limit: self.limits.max_name_len,
            });
        }
        let raw_tag: &str = start;
        check_start_tag(raw_tag).map_err(|e| self.malformed(e))?;

        let (decls, raw_attrs) = self.read_attributes(start, &qname, pos)?;
        let pushed = decls.len();
        for d in &decls {
            self.bindings.push((d.prefix.clone(), d.uri.clone()));
        }
        let element = self.named_element(qname, decls, raw_attrs, pos)?;
        self.stack.push(Open {
            element,
            bindings_pushed: pushed,
        });
        Ok(())
    }

    /// Start-tag step: one more element is allowed here (inside the root, within
    /// `max_depth` and `max_elements`); pending text is attached first.
    fn admit_element(&mut self, pos: u64) -> Result<(), ParseError> {
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
        Ok(())
    }

    /// Start-tag step, the first pass: collect raw attributes and namespace declarations, each
    /// checked against the limits and for a raw duplicate.
    fn read_attributes(
        &self,
        start: &BytesStart<'_>,
        qname: &str,
        pos: u64,
    ) -> Result<TagAttributes, ParseError> {
        let mut decls: Vec<NsDecl> = Vec::new();
        let mut raw_attrs: Vec<(String, String)> = Vec::new();
        let mut seen_raw: HashSet<String> = HashSet::new();
        for (count, attr) in start.attributes().with_checks(true).enumerate() {
            if count >= self.limits.max_attrs {
                return Err(ParseError::TooManyAttributes {
                    name: qname.to_owned(),
                    limit: self.limits.max_attrs,
                });
            }
            let attr = attr.map_err(|e| match e {
                quick_xml::events::attributes::AttrError::Duplicated(_, _) => {
                    ParseError::DuplicateAttribute {
                        name: "(same name)".into(),
                        element: qname.to_owned(),
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
                    element: qname.to_owned(),
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
        Ok((decls, raw_attrs))
    }

    /// Start-tag step, with the element's declarations in scope: its namespace, then its
    /// attributes' (a duplicate by expanded name refused).
    fn named_element(
        &self,
        qname: String,
        decls: Vec<NsDecl>,
        raw_attrs: Vec<(String, String)>,
        pos: u64,
    ) -> Result<Element, ParseError> {
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
        Ok(element)
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

/// Checks a start tag (the text between `<` and `>` or `/>`) against XML 1.0 §3.1 `STag`
/// with Namespaces in XML 1.0 §4 `QName`s. quick-xml splits the name at the first whitespace and
/// reads attributes leniently: it takes `<1a>`, `<a:b:c>`, `xmlns:=""` and `a="1"b="2"`, all of
/// which libxml2 refuses. Attribute values themselves are checked by `unescape_attr`.
fn check_start_tag(raw: &str) -> Result<(), String> {
    let mut rest = raw;
    let name_end = rest.find(is_xml_space).unwrap_or(rest.len());
    let (name, tail) = rest.split_at(name_end);
    if !is_qname(name) {
        return Err(format!("invalid element name {name:?}"));
    }
    rest = tail;
    loop {
        let trimmed = rest.trim_start_matches(is_xml_space);
        if trimmed.is_empty() {
            return Ok(());
        }
        if trimmed.len() == rest.len() {
            return Err("attributes must be separated by whitespace".into());
        }
        let name_end = trimmed
            .find(|c: char| c == '=' || is_xml_space(c))
            .unwrap_or(trimmed.len());
        let (name, tail) = trimmed.split_at(name_end);
        if !is_qname(name) {
            return Err(format!("invalid attribute name {name:?}"));
        }
        let tail = tail.trim_start_matches(is_xml_space);
        let Some(tail) = tail.strip_prefix('=') else {
            return Err(format!("attribute {name} has no value"));
        };
        let tail = tail.trim_start_matches(is_xml_space);
        let mut chars = tail.chars();
        let quote = chars.next().filter(|q| *q == '"' || *q == '\'');
        let Some(quote) = quote else {
            return Err(format!("value of attribute {name} is not quoted"));
        };
        let value_and_rest = chars.as_str();
        let Some(end) = value_and_rest.find(quote) else {
            return Err(format!("value of attribute {name} is not terminated"));
        };
        let (_, after) = value_and_rest.split_at(end);
        rest = after.get(1..).unwrap_or_default();
    }
}

/// Pseudo-attributes of the XML declaration (after `xml`): `S name Eq quoted` repeated, then
/// optional whitespace.
fn parse_pseudo_attrs(mut rest: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    loop {
        let trimmed = rest.trim_start_matches(is_xml_space);
        if trimmed.is_empty() {
            return Ok(out);
        }
        if trimmed.len() == rest.len() {
            return Err("malformed XML declaration".into());
        }
        let name_end = trimmed
            .find(|c: char| c == '=' || is_xml_space(c))
            .unwrap_or(trimmed.len());
        let (name, tail) = trimmed.split_at(name_end);
        let tail = tail.trim_start_matches(is_xml_space);
        let tail = tail
            .strip_prefix('=')
            .ok_or("malformed XML declaration")?
            .trim_start_matches(is_xml_space);
        let mut chars = tail.chars();
        let quote = chars
            .next()
            .filter(|q| *q == '"' || *q == '\'')
            .ok_or("malformed XML declaration")?;
        let value_and_rest = chars.as_str();
        let end = value_and_rest
            .find(quote)
            .ok_or("malformed XML declaration")?;
        let (value, after) = value_and_rest.split_at(end);
        out.push((name, value));
        rest = after.get(1..).unwrap_or_default();
    }
}

/// Namespaces in XML 1.0 §4: `QName ::= (NCName ':')? NCName`.
fn is_qname(name: &str) -> bool {
    match name.split_once(':') {
        Some((p, l)) => is_ncname(p) && is_ncname(l),
        None => is_ncname(name),
    }
}

/// XML 1.0 (5th ed.) §2.3 `Name` without colons.
fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
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
        // `xmlns=""` undeclares the default namespace (Namespaces in XML 1.0 §6.2).
        None if uri.is_empty() => Ok(()),
        Some(_) | None if !is_plain_absolute_uri(uri) => {
            let name = prefix.map_or_else(|| "xmlns".to_owned(), |p| format!("xmlns:{p}"));
            Err(bad(&format!(
                "{name}=\"{uri}\" (namespace names must be absolute URIs of plain characters)"
            )))
        }
        Some(_) | None => Ok(()),
    }
}

/// True for an absolute URI (RFC 3986 §4.3: a scheme, then `:`) made only of unreserved and
/// reserved characters and valid `%XX` escapes, with at most one `#`, and without `&`, `[`, `]`.
///
/// Why so strict: Canonical XML 1.0 §2.1 requires canonicalisation to fail on relative namespace
/// URIs (their meaning is undefined, NE04 erratum), and a signature must not depend on which
/// implementation canonicalised it. libxml2 (xmlsec1) refuses to canonicalise any namespace
/// name that is not a parseable URI, and it writes `&` in a namespace value unescaped where the
/// spec (and so Java and .NET) escape it as `&amp;`; `[`/`]` are valid only in an IPv6 host.
/// Refusing these at the one door keeps every canonical form lienthong computes identical to
/// the referee's. No real namespace (edXML, XML-DSig, lienthong's own) comes near these cases.
fn is_plain_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.matches('#').count() > 1 {
        return false;
    }
    let mut bytes = rest.bytes();
    while let Some(b) = bytes.next() {
        let ok = match b {
            b'%' => {
                let hex = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_hexdigit());
                hex(bytes.next()) && hex(bytes.next())
            }
            b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b'?' | b'#' | b'@' => true,
            b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => true,
            _ => b.is_ascii_alphanumeric(),
        };
        if !ok {
            return false;
        }
    }
    true
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XML 1.0 §2.2 Char production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Refuses the first character of `s` outside XML 1.0 §2.2 `Char`.
///
/// Scans bytes, not chars: every document passes through here whole (text, attributes,
/// comments), and decoding each char was ~5 % of a verification. In UTF-8 (which `s` is) the
/// non-characters are exactly the control bytes below 0x20 other than tab, newline and carriage
/// return, and U+FFFE / U+FFFF (`EF BF BE`, `EF BF BF`): surrogates cannot be encoded, and
/// every other multi-byte sequence is a `Char`. `every_char_is_judged_as_the_production_says`
/// checks this against [`is_xml_char`] for all of Unicode.
fn check_chars(s: &str, pos: u64) -> Result<(), ParseError> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(at) = bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b < 0x20 || b == 0xEF))
        .map(|rel| from + rel)
    {
        let refused = match bytes.get(at..) {
            Some([b'\t' | b'\n' | b'\r', ..]) => false,
            Some([0xEF, 0xBF, 0xBE | 0xBF, ..]) => true,
            Some([0xEF, ..]) => false,
            _ => true,
        };
        if refused {
            let c = s.get(at..).and_then(|t| t.chars().next()).unwrap_or('\0');
            return Err(ParseError::InvalidChar {
                code: u32::from(c),
                pos,
            });
        }
        from = at + 1;
    }
    Ok(())
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
            // Only digits (`from_str_radix` would also take a sign: `&#x+41;`). Leading zeros
            // are allowed (XML 1.0 §4.1 `CharRef`; libxml2 reads them); the significant digits
            // are bounded so the number cannot overflow.
            let (digits, radix, max_len) = match num.strip_prefix('x') {
                Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => (hex, 16, 6),
                None if num.bytes().all(|b| b.is_ascii_digit()) => (num, 10, 7),
                Some(_) | None => return Err(bad()),
            };
            if digits.is_empty() {
                return Err(bad());
            }
            let significant = match digits.trim_start_matches('0') {
                "" => "0",
                s => s,
            };
            if significant.len() > max_len {
                return Err(bad());
            }
            let code = u32::from_str_radix(significant, radix).map_err(|_| bad())?;
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

    /// `check_chars` scans bytes; the production is stated on chars. Every Unicode scalar value,
    /// alone and between ASCII and multi-byte neighbours, is judged as `is_xml_char` judges it,
    /// with its code and the position reported.
    #[test]
    fn every_char_is_judged_as_the_production_says() {
        let mut buf = String::new();
        for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            buf.clear();
            buf.push_str("ab\u{e9}\u{FFFD}");
            buf.push(c);
            buf.push_str("\u{F8FF}\u{10000}z");
            match check_chars(&buf, 7) {
                Ok(()) => assert!(is_xml_char(c), "U+{:04X} accepted", u32::from(c)),
                Err(ParseError::InvalidChar { code, pos }) => {
                    assert!(!is_xml_char(c), "U+{:04X} refused", u32::from(c));
                    assert_eq!((code, pos), (u32::from(c), 7));
                }
                Err(e) => panic!("U+{:04X}: {e}", u32::from(c)),
            }
        }
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

    /// Bug found against xmllint: relative or unparseable namespace URIs were accepted, which
    /// Canonical XML 1.0 §2.1 says must fail, and `&` in a namespace URI canonicalised
    /// differently from libxml2.
    #[test]
    fn refuses_namespace_names_that_are_not_plain_absolute_uris() {
        for uri in [
            "rel",
            "../x",
            "#f",
            "1a:b",
            "urn:a b",
            "urn:ü",
            "urn:a&amp;b",
            "urn:%zz",
            "urn:x[1]",
            "urn:a#b#c",
            "urn:x{y}",
            "urn:x&quot;",
        ] {
            for decl in [format!("xmlns:p=\"{uri}\""), format!("xmlns=\"{uri}\"")] {
                let e = p(&format!("<r {decl}/>")).unwrap_err();
                assert!(
                    matches!(e, ParseError::BadNamespaceDecl { .. }),
                    "{decl}: {e}"
                );
            }
        }
        for uri in [
            "urn:a",
            "a:",
            "http://www.w3.org/2000/09/xmldsig#",
            "http://e.example/p?q=1;r=%2F#frag",
            "urn:x'y:~!$()*+,;=@",
            "a+b.c-d:e",
        ] {
            assert!(
                p(&format!("<p:r xmlns:p=\"{uri}\" xmlns=\"{uri}\"/>")).is_ok(),
                "{uri}"
            );
        }
        assert!(p(r#"<r xmlns=""/>"#).is_ok());
    }

    /// Bugs found against xmllint: quick-xml accepts these start tags; libxml2 (and XML 1.0
    /// §3.1 with Namespaces §4) refuse them.
    #[test]
    fn refuses_malformed_names_and_tags() {
        for doc in [
            "<1a/>",
            "<-r/>",
            "<.r/>",
            "<\u{B7}r/>",
            "<a:b:c xmlns:a=\"urn:a\"/>",
            "<a xmlns:=\"urn:a\"/>",
            "<r xmlns:a=\"urn:a\" a:=\"2\"/>",
            "<r :a=\"2\"/>",
            "<r a=\"1\"b=\"2\"/>",
            "<r a/>",
            "<r a=1/>",
            "<r a=\"1/>",
        ] {
            assert!(
                matches!(p(doc).unwrap_err(), ParseError::Malformed { .. }),
                "{doc}"
            );
        }
        for doc in [
            "<r\u{B7}/>",
            "<r-.\u{300}_9 a = '1'\n\tb=\"2\" />",
            "<t\u{EA}n/>",
            "<r xmlns:a=\"urn:a\" a:b-c.d=\"1\"/>",
        ] {
            assert!(p(doc).is_ok(), "{doc}");
        }
    }

    /// Bug found against xmllint: the XML declaration was not checked beyond its encoding.
    #[test]
    fn refuses_malformed_or_misplaced_xml_declarations() {
        for doc in [
            " <?xml version=\"1.0\"?><r/>",
            "<r/><?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><r/>",
            "<?xml version=\"1.1\"?><r/>",
            "<?xml version=\"2.0\"?><r/>",
            "<?xml encoding=\"UTF-8\"?><r/>",
            "<?xml?><r/>",
            "<?xml version=\"1.0\" standalone=\"maybe\"?><r/>",
            "<?xml version=\"1.0\" foo=\"bar\"?><r/>",
            "<?xml version=\"1.0\" standalone=\"yes\" encoding=\"UTF-8\"?><r/>",
            "<?xml version=\"1.0\"encoding=\"UTF-8\"?><r/>",
        ] {
            assert!(
                matches!(p(doc).unwrap_err(), ParseError::Malformed { .. }),
                "{doc}"
            );
        }
        for doc in [
            "<?xml version=\"1.0\"?><r/>",
            "<?xml version='1.0' encoding='utf-8' standalone='no' ?>\n<r/>",
            "\u{FEFF}<?xml version = \"1.0\" standalone=\"yes\"?><r/>",
        ] {
            assert!(p(doc).is_ok(), "{doc}");
        }
    }

    /// Bug found against xmllint: `]]>` in character data was accepted (XML 1.0 §2.4).
    #[test]
    fn refuses_cdata_end_in_text() {
        assert!(matches!(
            p("<r>a]]>b</r>").unwrap_err(),
            ParseError::Malformed { .. }
        ));
        assert_eq!(
            p("<r>]]&gt;]]<![CDATA[]]]]><![CDATA[>]]></r>")
                .unwrap()
                .root
                .text(),
            "]]>]]]]>"
        );
    }

    /// Bugs found: `&#x+41;` was accepted (`from_str_radix` takes a sign) and `&#00000065;`
    /// refused (libxml2 and XML 1.0 §4.1 allow leading zeros).
    #[test]
    fn char_refs_signs_and_leading_zeros() {
        assert!(matches!(
            p("<r>&#x+41;</r>").unwrap_err(),
            ParseError::BadCharRef { .. }
        ));
        assert!(matches!(
            p("<r a='&#+65;'/>").unwrap_err(),
            ParseError::BadCharRef { .. }
        ));
        assert_eq!(
            p("<r>&#00000065;&#x0000000041;</r>").unwrap().root.text(),
            "AA"
        );
        assert!(matches!(
            p("<r>&#x0110000;</r>").unwrap_err(),
            ParseError::BadCharRef { .. }
        ));
        assert!(matches!(
            p("<r>&#99999999;</r>").unwrap_err(),
            ParseError::BadCharRef { .. }
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
