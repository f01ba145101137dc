//! The in-memory XML tree every other module works on.
//!
//! One tree serves three jobs: the typed envelope is read from it, exclusive c14n renders it, and
//! XML-DSig verification digests it. Keeping them on the *same* tree is what makes signature
//! wrapping impossible: what the caller gets is what was digested (see `sign::verify`).
//!
//! Names keep the prefix as written (c14n must reproduce it) and the namespace URI resolved at
//! parse time (everything that matches elements matches on the URI, never on the prefix).

/// A namespace declaration (`xmlns="…"` or `xmlns:p="…"`) exactly as it appears on an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsDecl {
    /// `None` for the default namespace.
    pub prefix: Option<String>,
    /// The namespace URI; empty only for `xmlns=""` (undeclaring the default namespace).
    pub uri: String,
}

/// A (non-namespace) attribute; its value is already unescaped and normalised as XML 1.0 §3.3.3
/// requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Prefix as written, `None` when unprefixed.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Namespace URI; unprefixed attributes are in no namespace (Namespaces in XML §6.2).
    pub ns: Option<String>,
    /// Value after entity and character reference resolution.
    pub value: String,
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Character data (CDATA sections are merged into text, as c14n treats them).
    Text(String),
    /// A comment; kept for round trips, never rendered by c14n without comments.
    Comment(String),
}

/// An element with its declarations, attributes and children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Prefix as written.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Namespace URI the prefix resolved to at parse time.
    pub ns: Option<String>,
    /// Namespace declarations made on this element, in document order.
    pub ns_decls: Vec<NsDecl>,
    /// Attributes in document order.
    pub attrs: Vec<Attr>,
    /// Children in document order.
    pub children: Vec<Node>,
}

/// A parsed document: its root element. The XML declaration, comments outside the root and
/// whitespace are not kept; they are not part of any canonical form lienthong signs. How many
/// such comments there were is kept: a signed document may hold none (`sign::verify`).
///
/// Equality is the tree's (the root): the comment count is a fact about the bytes parsed, which
/// writing the tree does not reproduce.
#[derive(Clone, Debug)]
pub struct Document {
    /// The document element.
    pub root: Element,
    /// Comments before or after the root element (prolog and epilog), counted, not kept.
    pub comments_outside_root: usize,
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Eq for Document {}

impl Element {
    /// A new element in namespace `ns` with the given prefix, declaring nothing.
    pub fn new(prefix: Option<&str>, local: &str, ns: Option<&str>) -> Self {
        Self {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns: ns.map(str::to_owned),
            ns_decls: Vec::new(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The qualified name as written (`p:local` or `local`).
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }

    /// True when this element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) | Node::Comment(_) => None,
        })
    }

    /// Child elements, mutable, in order.
    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) | Node::Comment(_) => None,
        })
    }

    /// The first child element `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, local))
    }

    /// All child elements `{ns}local`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, local))
    }

    /// The concatenated text of the direct text children (comments skipped).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// The value of the unqualified attribute `local`.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Appends a child element.
    pub fn push_element(&mut self, e: Element) {
        self.children.push(Node::Element(e));
    }

    /// Builder form of [`Element::push_element`].
    #[must_use]
    pub fn with_child(mut self, e: Element) -> Self {
        self.push_element(e);
        self
    }

    /// Builder form: appends a text child.
    #[must_use]
    pub fn with_text(mut self, t: impl Into<String>) -> Self {
        self.push_text(t);
        self
    }

    /// Appends a text child.
    pub fn push_text(&mut self, t: impl Into<String>) {
        self.children.push(Node::Text(t.into()));
    }

    /// Sets (or replaces) an unqualified attribute.
    pub fn set_attr(&mut self, local: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(a) = self
            .attrs
            .iter_mut()
            .find(|a| a.ns.is_none() && a.local == local)
        {
            a.value = value;
        } else {
            self.attrs.push(Attr {
                prefix: None,
                local: local.to_owned(),
                ns: None,
                value,
            });
        }
    }

    /// Number of elements in this subtree, this one included.
    pub fn count_elements(&self) -> usize {
        1 + self.elements().map(Element::count_elements).sum::<usize>()
    }
}
