//! Reading the typed envelope from the tree: one function per element of the profile, each
//! walking its children with [`children`], which enforces order, multiplicity, namespaces and
//! extension points in one place.

use std::collections::{BTreeSet, HashMap, HashSet};

use base64::Engine as _;

use super::{
    Attachment, Body, Code, DSIG_NS, DocumentType, EDXML_NS, Envelope, EnvelopeError,
    EnvelopeLimits, Extension, Extensions, MessageHeader, Organization, OtherInfo,
    PromulgationInfo, ResponseFor, SignerInfo, TraceHeader, XENC_NS, free_prefixes,
};
use crate::doc::label::{LABEL_NS, Label, Level};
use crate::doc::tree::{Element, Node, NsDecl};
use crate::doc::types::{EdxmlDate, EdxmlTimestamp, OrganId, Priority, ProcedureCode};

type Result<T> = std::result::Result<T, EnvelopeError>;

/// Namespace bindings in scope at an element (`None` = default namespace).
#[derive(Clone, Default)]
struct Scope(HashMap<Option<String>, String>);

impl Scope {
    fn enter(&self, e: &Element) -> Self {
        let mut s = self.clone();
        for d in &e.ns_decls {
            s.0.insert(d.prefix.clone(), d.uri.clone());
        }
        s
    }
}

/// One known child of a container: namespace, local name, multiplicity.
pub(super) struct Slot {
    pub(super) ns: &'static str,
    pub(super) local: &'static str,
    pub(super) required: bool,
    pub(super) many: bool,
}

pub(super) const fn one(local: &'static str) -> Slot {
    Slot {
        ns: EDXML_NS,
        local,
        required: true,
        many: false,
    }
}

pub(super) const fn opt(local: &'static str) -> Slot {
    Slot {
        ns: EDXML_NS,
        local,
        required: false,
        many: false,
    }
}

pub(super) const fn any(local: &'static str) -> Slot {
    Slot {
        ns: EDXML_NS,
        local,
        required: false,
        many: true,
    }
}

pub(super) const fn some(local: &'static str) -> Slot {
    Slot {
        ns: EDXML_NS,
        local,
        required: true,
        many: true,
    }
}

/// The children found for each slot.
pub(super) struct Found<'a> {
    pub(super) path: String,
    pub(super) slots: &'static [Slot],
    pub(super) found: Vec<Vec<&'a Element>>,
}

impl<'a> Found<'a> {
    pub(super) fn all(&self, local: &str) -> &[&'a Element] {
        self.slots
            .iter()
            .position(|s| s.local == local)
            .and_then(|i| self.found.get(i))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub(super) fn opt(&self, local: &str) -> Option<&'a Element> {
        self.all(local).first().copied()
    }

    /// The first child in slot `{ns}local` (two slots may share a local name).
    pub(super) fn opt_in(&self, ns: &str, local: &str) -> Option<&'a Element> {
        self.slots
            .iter()
            .position(|s| s.ns == ns && s.local == local)
            .and_then(|i| self.found.get(i))
            .and_then(|v| v.first().copied())
    }

    /// A required child; [`children`] already refused its absence, the error is a backstop.
    pub(super) fn req(&self, local: &str) -> Result<&'a Element> {
        self.opt(local).ok_or_else(|| EnvelopeError::Missing {
            path: format!("{}/{local}", self.path),
        })
    }

    pub(super) fn path(&self, local: &str) -> String {
        format!("{}/{local}", self.path)
    }
}

/// Walks the children of `e` (at `path`, with bindings `scope`) against `slots`, in order.
/// Unknown edXML elements become extensions when `ext` is true and are refused otherwise.
fn children<'a>(
    e: &'a Element,
    path: &str,
    scope: &Scope,
    slots: &'static [Slot],
    ext: bool,
) -> Result<(Found<'a>, Extensions)> {
    no_attrs(e, path)?;
    let mut found: Vec<Vec<&'a Element>> = slots.iter().map(|_| Vec::new()).collect();
    let mut extensions = Vec::new();
    let mut cursor = 0usize;
    let mut known = 0usize;
    for n in &e.children {
        let c = match n {
            Node::Element(c) => c,
            Node::Text(t) => {
                if !t.chars().all(|ch| matches!(ch, ' ' | '\t' | '\n' | '\r')) {
                    return Err(EnvelopeError::UnexpectedText {
                        path: path.to_owned(),
                    });
                }
                continue;
            }
            Node::Comment(_) => continue,
        };
        let cpath = format!("{path}/{}", c.qname());
        let ns = c.ns.as_deref().unwrap_or("");
        let slot = slots.iter().position(|s| s.ns == ns && s.local == c.local);
        match slot {
            Some(j) => {
                let taken = found.get(j).map_or(0, Vec::len);
                let many = slots.get(j).is_some_and(|s| s.many);
                if j < cursor {
                    return Err(EnvelopeError::OutOfOrder { path: cpath });
                }
                if taken > 0 && !many {
                    return Err(EnvelopeError::Duplicate { path: cpath });
                }
                if let Some(v) = found.get_mut(j) {
                    v.push(c);
                }
                cursor = j;
                known += 1;
            }
            None if ns == EDXML_NS && ext => extensions.push(Extension {
                position: known,
                element: self_contained(c, scope),
            }),
            None if ns == EDXML_NS || ns == LABEL_NS || ns == DSIG_NS => {
                return Err(EnvelopeError::UnexpectedElement { path: cpath });
            }
            None => {
                return Err(EnvelopeError::ForeignElement {
                    path: cpath,
                    ns: ns.to_owned(),
                });
            }
        }
    }
    for (s, f) in slots.iter().zip(&found) {
        // The label has its own error (MissingLabel), raised by the caller.
        if s.required && f.is_empty() {
            return Err(EnvelopeError::Missing {
                path: format!("{path}/{}", s.local),
            });
        }
    }
    Ok((
        Found {
            path: path.to_owned(),
            slots,
            found,
        },
        Extensions(extensions),
    ))
}

/// A copy of `e` that declares, on itself, every prefix its subtree uses but inherited from
/// `scope` (the bindings at its parent), so it keeps its meaning wherever it is written.
fn self_contained(e: &Element, scope: &Scope) -> Element {
    let mut free = BTreeSet::new();
    free_prefixes(e, &BTreeSet::new(), &mut free);
    let mut out = e.clone();
    for p in free {
        // An unbound default namespace is written `xmlns=""` (lienthong's output declares one).
        let uri = scope.0.get(&p).cloned().unwrap_or_default();
        out.ns_decls.push(NsDecl { prefix: p, uri });
    }
    out
}

fn no_attrs(e: &Element, path: &str) -> Result<()> {
    match e.attrs.first() {
        Some(a) => Err(EnvelopeError::UnexpectedAttribute {
            path: path.to_owned(),
            name: match &a.prefix {
                Some(p) => format!("{p}:{}", a.local),
                None => a.local.clone(),
            },
        }),
        None => Ok(()),
    }
}

/// Text of a leaf element, at most `max` characters.
pub(super) fn text(
    e: &Element,
    path: &str,
    max: usize,
    limit_name: &'static str,
) -> Result<String> {
    no_attrs(e, path)?;
    if e.elements().next().is_some() {
        return Err(EnvelopeError::NotText {
            path: path.to_owned(),
        });
    }
    let t = e.text();
    let n = t.chars().count();
    if n > max {
        return Err(EnvelopeError::LimitExceeded {
            what: path.to_owned(),
            limit_name,
            limit: max,
            actual: n,
        });
    }
    Ok(t)
}

struct Reader<'l> {
    limits: &'l EnvelopeLimits,
}

impl Reader<'_> {
    fn field(&self, f: &Found<'_>, local: &str) -> Result<String> {
        text(
            f.req(local)?,
            &f.path(local),
            self.limits.max_field_chars,
            "max_field_chars",
        )
    }

    fn opt_field(&self, f: &Found<'_>, local: &str) -> Result<Option<String>> {
        f.opt(local)
            .map(|e| {
                text(
                    e,
                    &f.path(local),
                    self.limits.max_field_chars,
                    "max_field_chars",
                )
            })
            .transpose()
    }

    fn value<T>(&self, f: &Found<'_>, local: &str) -> Result<T>
    where
        T: std::str::FromStr<Err = crate::doc::types::ValueError>,
    {
        let path = f.path(local);
        let t = self.field(f, local)?;
        t.parse().map_err(|e| EnvelopeError::value(&path, e))
    }

    fn opt_value<T>(&self, f: &Found<'_>, local: &str) -> Result<Option<T>>
    where
        T: std::str::FromStr<Err = crate::doc::types::ValueError>,
    {
        let path = f.path(local);
        self.opt_field(f, local)?
            .map(|t| t.parse().map_err(|e| EnvelopeError::value(&path, e)))
            .transpose()
    }

    fn count(&self, n: usize, what: String, limit_name: &'static str, limit: usize) -> Result<()> {
        if n > limit {
            return Err(EnvelopeError::LimitExceeded {
                what,
                limit_name,
                limit,
                actual: n,
            });
        }
        Ok(())
    }
}

/// A decimal number: ASCII digits only (Rust's parser would also take a leading `+`).
fn number<T: std::str::FromStr>(t: &str, path: &str) -> Result<T> {
    let bad = || EnvelopeError::InvalidValue {
        path: path.to_owned(),
        value: t.to_owned(),
        reason: "expected a decimal number".to_owned(),
    };
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    t.parse().map_err(|_| bad())
}

pub(super) fn envelope(root: &Element, limits: &EnvelopeLimits) -> Result<Envelope> {
    if !root.is(EDXML_NS, "edXMLEnvelope") {
        return Err(EnvelopeError::NotEnvelope {
            found: format!(
                "{{{}}}{}",
                root.ns.as_deref().unwrap_or_default(),
                root.local
            ),
        });
    }
    let r = Reader { limits };
    let path = "edXMLEnvelope";
    let scope = Scope::default().enter(root);
    static ROOT: [Slot; 2] = [one("edXMLHeader"), one("edXMLBody")];
    let (f, _) = children(root, path, &scope, &ROOT, false)?;

    static HEADER: [Slot; 4] = [
        one("MessageHeader"),
        one("TraceHeaderList"),
        Slot {
            ns: LABEL_NS,
            local: "Classification",
            required: false,
            many: false,
        },
        Slot {
            ns: DSIG_NS,
            local: "Signature",
            required: false,
            many: false,
        },
    ];
    let h = f.req("edXMLHeader")?;
    let hscope = scope.enter(h);
    let (hf, header_ext) = children(h, &f.path("edXMLHeader"), &hscope, &HEADER, true)?;
    let mh = hf.req("MessageHeader")?;
    let header = r.message_header(mh, &hf.path("MessageHeader"), &hscope.enter(mh))?;
    let tl = hf.req("TraceHeaderList")?;
    let trace = r.trace(tl, &hf.path("TraceHeaderList"), &hscope.enter(tl))?;
    let label = match hf.opt("Classification") {
        Some(c) => r.label(c, &hf.path("lt:Classification"), &hscope.enter(c))?,
        None => return Err(EnvelopeError::MissingLabel),
    };
    let signature = hf.opt("Signature").map(|s| self_contained(s, &hscope));

    let b = f.req("edXMLBody")?;
    let body = r.body(b, &f.path("edXMLBody"), &scope.enter(b))?;
    Ok(Envelope {
        header,
        trace,
        label,
        signature,
        header_ext,
        body,
    })
}

impl Reader<'_> {
    fn message_header(&self, e: &Element, path: &str, scope: &Scope) -> Result<MessageHeader> {
        static SLOTS: [Slot; 15] = [
            one("From"),
            some("To"),
            one("Code"),
            one("PromulgationInfo"),
            one("DocumentType"),
            one("Subject"),
            one("Content"),
            one("SignerInfo"),
            opt("DueDate"),
            one("ToPlaces"),
            one("OtherInfo"),
            any("ResponseFor"),
            opt("SteeringType"),
            one("DocumentId"),
            one("BussinessDocType"),
        ];
        let (f, ext) = children(e, path, scope, &SLOTS, true)?;
        let (from, to) = self.parties(&f, scope)?;
        let code = self.code(&f, scope)?;
        let promulgation = self.promulgation(&f, scope)?;
        let document_type = self.document_type(&f, scope)?;
        let (subject, content) = self.subject_and_content(&f)?;
        let signer = self.signer(&f, scope)?;
        let due_date = self.opt_value::<EdxmlDate>(&f, "DueDate")?;
        let to_places = self.to_places(&f, scope)?;
        let oe = f.req("OtherInfo")?;
        let other = self.other_info(oe, &f.path("OtherInfo"), &scope.enter(oe))?;
        let response_for = self.responses_for(&f, scope)?;
        let steering_type = self.opt_field(&f, "SteeringType")?;
        let document_id = self.document_id(&f)?;
        let business_doc_type = self.value(&f, "BussinessDocType")?;
        Ok(MessageHeader {
            from,
            to,
            code,
            promulgation,
            document_type,
            subject,
            content,
            signer,
            due_date,
            to_places,
            other,
            response_for,
            steering_type,
            document_id,
            business_doc_type,
            ext,
        })
    }

    /// MessageHeader step: the sender and the recipients (their count bounded first).
    fn parties(&self, f: &Found<'_>, scope: &Scope) -> Result<(Organization, Vec<Organization>)> {
        let to_elems = f.all("To");
        self.count(
            to_elems.len(),
            f.path("To"),
            "max_recipients",
            self.limits.max_recipients,
        )?;
        let from_e = f.req("From")?;
        let from = self.organization(from_e, &f.path("From"), &scope.enter(from_e))?;
        let to = to_elems
            .iter()
            .map(|t| self.organization(t, &f.path("To"), &scope.enter(t)))
            .collect::<Result<Vec<_>>>()?;
        Ok((from, to))
    }

    /// MessageHeader step: the document's `Code`.
    fn code(&self, f: &Found<'_>, scope: &Scope) -> Result<Code> {
        static S: [Slot; 2] = [one("CodeNumber"), one("CodeNotation")];
        let (c, _) = children(f.req("Code")?, &f.path("Code"), scope, &S, false)?;
        Ok(Code {
            number: self.field(&c, "CodeNumber")?,
            notation: self.field(&c, "CodeNotation")?,
        })
    }

    /// MessageHeader step: `PromulgationInfo`.
    fn promulgation(&self, f: &Found<'_>, scope: &Scope) -> Result<PromulgationInfo> {
        static S: [Slot; 2] = [one("Place"), one("PromulgationDate")];
        let p = f.path("PromulgationInfo");
        let (c, _) = children(f.req("PromulgationInfo")?, &p, scope, &S, false)?;
        Ok(PromulgationInfo {
            place: self.field(&c, "Place")?,
            date: self.value::<EdxmlDate>(&c, "PromulgationDate")?,
        })
    }

    /// MessageHeader step: `DocumentType`.
    fn document_type(&self, f: &Found<'_>, scope: &Scope) -> Result<DocumentType> {
        static S: [Slot; 2] = [one("Type"), one("TypeName")];
        let p = f.path("DocumentType");
        let (c, _) = children(f.req("DocumentType")?, &p, scope, &S, false)?;
        Ok(DocumentType {
            kind: self.field(&c, "Type")?,
            name: self.field(&c, "TypeName")?,
        })
    }

    /// MessageHeader step: `Subject` then `Content`, each under its own limit.
    fn subject_and_content(&self, f: &Found<'_>) -> Result<(String, String)> {
        let subject = text(
            f.req("Subject")?,
            &f.path("Subject"),
            self.limits.max_subject_chars,
            "max_subject_chars",
        )?;
        let content = text(
            f.req("Content")?,
            &f.path("Content"),
            self.limits.max_content_chars,
            "max_content_chars",
        )?;
        Ok((subject, content))
    }

    /// MessageHeader step: `SignerInfo`.
    fn signer(&self, f: &Found<'_>, scope: &Scope) -> Result<SignerInfo> {
        static S: [Slot; 3] = [one("Competence"), one("Position"), one("FullName")];
        let p = f.path("SignerInfo");
        let (c, _) = children(f.req("SignerInfo")?, &p, scope, &S, false)?;
        Ok(SignerInfo {
            competence: self.field(&c, "Competence")?,
            position: self.field(&c, "Position")?,
            full_name: self.field(&c, "FullName")?,
        })
    }

    /// MessageHeader step: the `ToPlaces` list (its length bounded first).
    fn to_places(&self, f: &Found<'_>, scope: &Scope) -> Result<Vec<String>> {
        static S: [Slot; 1] = [any("Place")];
        let p = f.path("ToPlaces");
        let (c, _) = children(f.req("ToPlaces")?, &p, scope, &S, false)?;
        let places = c.all("Place");
        self.count(
            places.len(),
            c.path("Place"),
            "max_list_items",
            self.limits.max_list_items,
        )?;
        places
            .iter()
            .map(|pl| {
                text(
                    pl,
                    &c.path("Place"),
                    self.limits.max_field_chars,
                    "max_field_chars",
                )
            })
            .collect()
    }

    /// MessageHeader step: the `ResponseFor` list (its length bounded first).
    fn responses_for(&self, f: &Found<'_>, scope: &Scope) -> Result<Vec<ResponseFor>> {
        let rf = f.all("ResponseFor");
        self.count(
            rf.len(),
            f.path("ResponseFor"),
            "max_list_items",
            self.limits.max_list_items,
        )?;
        rf.iter()
            .map(|e| self.response_for(e, &f.path("ResponseFor"), scope))
            .collect()
    }

    /// MessageHeader step: `DocumentId`, which must not be empty.
    fn document_id(&self, f: &Found<'_>) -> Result<String> {
        let document_id = self.field(f, "DocumentId")?;
        if document_id.is_empty() {
            return Err(EnvelopeError::InvalidValue {
                path: f.path("DocumentId"),
                value: document_id,
                reason: "DocumentId is empty".to_owned(),
            });
        }
        Ok(document_id)
    }

    fn organization(&self, e: &Element, path: &str, scope: &Scope) -> Result<Organization> {
        static S: [Slot; 7] = [
            one("OrganId"),
            one("OrganName"),
            opt("OrganAdd"),
            opt("Email"),
            opt("Telephone"),
            opt("Fax"),
            opt("Website"),
        ];
        let (f, ext) = children(e, path, scope, &S, true)?;
        Ok(Organization {
            organ_id: self.value::<OrganId>(&f, "OrganId")?,
            organ_name: self.field(&f, "OrganName")?,
            organ_add: self.opt_field(&f, "OrganAdd")?,
            email: self.opt_field(&f, "Email")?,
            telephone: self.opt_field(&f, "Telephone")?,
            fax: self.opt_field(&f, "Fax")?,
            website: self.opt_field(&f, "Website")?,
            ext,
        })
    }

    fn other_info(&self, e: &Element, path: &str, scope: &Scope) -> Result<OtherInfo> {
        static S: [Slot; 5] = [
            one("Priority"),
            opt("SphereOfPromulgation"),
            opt("TyperNotation"),
            opt("PromulgationAmount"),
            opt("PageAmount"),
        ];
        let (f, ext) = children(e, path, scope, &S, true)?;
        let amount = |local: &str| -> Result<Option<u32>> {
            self.opt_field(&f, local)?
                .map(|t| number(&t, &f.path(local)))
                .transpose()
        };
        Ok(OtherInfo {
            priority: self.value::<Priority>(&f, "Priority")?,
            sphere_of_promulgation: self.opt_field(&f, "SphereOfPromulgation")?,
            typer_notation: self.opt_field(&f, "TyperNotation")?,
            promulgation_amount: amount("PromulgationAmount")?,
            page_amount: amount("PageAmount")?,
            ext,
        })
    }

    fn response_for(&self, e: &Element, path: &str, scope: &Scope) -> Result<ResponseFor> {
        static S: [Slot; 4] = [
            one("OrganId"),
            one("Code"),
            one("PromulgationDate"),
            one("DocumentId"),
        ];
        let (f, _) = children(e, path, scope, &S, false)?;
        Ok(ResponseFor {
            organ_id: self.value(&f, "OrganId")?,
            code: self.field(&f, "Code")?,
            promulgation_date: self.value(&f, "PromulgationDate")?,
            document_id: self.field(&f, "DocumentId")?,
        })
    }

    fn trace(&self, e: &Element, path: &str, scope: &Scope) -> Result<Vec<TraceHeader>> {
        static S: [Slot; 1] = [any("TraceHeader")];
        let (f, _) = children(e, path, scope, &S, false)?;
        let all = f.all("TraceHeader");
        self.count(
            all.len(),
            f.path("TraceHeader"),
            "max_list_items",
            self.limits.max_list_items,
        )?;
        all.iter()
            .map(|t| {
                static T: [Slot; 2] = [one("OrganId"), one("Timestamp")];
                let (tf, _) = children(t, &f.path("TraceHeader"), scope, &T, false)?;
                Ok(TraceHeader {
                    organ_id: self.value(&tf, "OrganId")?,
                    timestamp: self.value::<EdxmlTimestamp>(&tf, "Timestamp")?,
                })
            })
            .collect()
    }

    fn label(&self, e: &Element, path: &str, scope: &Scope) -> Result<Label> {
        static S: [Slot; 3] = [
            Slot {
                ns: LABEL_NS,
                local: "Level",
                required: true,
                many: false,
            },
            Slot {
                ns: LABEL_NS,
                local: "Procedure",
                required: true,
                many: false,
            },
            Slot {
                ns: LABEL_NS,
                local: "Public",
                required: true,
                many: false,
            },
        ];
        let (f, _) = children(e, path, scope, &S, false)?;
        let level_path = f.path("lt:Level");
        let level: Level = self
            .field(&f, "Level")?
            .parse()
            .map_err(|u| EnvelopeError::level(&level_path, u))?;
        let procedure_path = f.path("lt:Procedure");
        let procedure: ProcedureCode = self
            .field(&f, "Procedure")?
            .parse()
            .map_err(|v| EnvelopeError::value(&procedure_path, v))?;
        // xs:boolean also allows 1/0; the profile takes only the words, so that a label reads
        // the same to a person as to the gateway.
        let public = match self.field(&f, "Public")?.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(EnvelopeError::InvalidValue {
                    path: f.path("lt:Public"),
                    value: other.to_owned(),
                    reason: "expected true or false".to_owned(),
                });
            }
        };
        Ok(Label {
            level,
            procedure,
            public,
        })
    }

    fn body(&self, e: &Element, path: &str, scope: &Scope) -> Result<Body> {
        static S: [Slot; 3] = [
            one("edXMLManifest"),
            any("Attachment"),
            Slot {
                ns: XENC_NS,
                local: "EncryptedData",
                required: false,
                many: false,
            },
        ];
        let (f, ext) = children(e, path, scope, &S, true)?;
        let sealed = f.opt("EncryptedData").map(|d| self_contained(d, scope));
        let mpath = f.path("edXMLManifest");
        static M: [Slot; 1] = [any("Reference")];
        let (m, _) = children(f.req("edXMLManifest")?, &mpath, scope, &M, false)?;
        let refs = m.all("Reference");
        let atts = f.all("Attachment");
        self.count(
            refs.len().max(atts.len()),
            "attachments".to_owned(),
            "max_attachments",
            self.limits.max_attachments,
        )?;
        if refs.len() != atts.len() {
            return Err(EnvelopeError::AttachmentMismatch {
                detail: format!(
                    "{} references in the manifest, {} attachments",
                    refs.len(),
                    atts.len()
                ),
            });
        }
        let mut seen = HashSet::new();
        let mut total = 0usize;
        let mut attachments = Vec::with_capacity(refs.len());
        for (re, ae) in refs.iter().zip(atts) {
            let a = self.attachment(re, ae, &m.path("Reference"), &f.path("Attachment"), scope)?;
            if !seen.insert(a.content_id.clone()) {
                return Err(EnvelopeError::DuplicateContentId {
                    content_id: a.content_id,
                });
            }
            total = total.saturating_add(a.data.len());
            self.count(
                total,
                "attachments (decoded, together)".to_owned(),
                "max_total_attachment_bytes",
                self.limits.max_total_attachment_bytes,
            )?;
            attachments.push(a);
        }
        if sealed.is_some() && !(attachments.is_empty() && ext.is_empty()) {
            return Err(EnvelopeError::SealedWithContent {
                detail: format!(
                    "{} attachments and {} extensions beside it",
                    attachments.len(),
                    ext.0.len()
                ),
            });
        }
        Ok(Body {
            attachments,
            ext,
            sealed,
        })
    }

    fn attachment(
        &self,
        re: &Element,
        ae: &Element,
        rpath: &str,
        apath: &str,
        scope: &Scope,
    ) -> Result<Attachment> {
        static S: [Slot; 5] = [
            one("ContentId"),
            one("FileName"),
            one("ContentType"),
            one("Digest"),
            one("Size"),
        ];
        let (f, _) = children(re, rpath, scope, &S, false)?;
        let content_id = self.field(&f, "ContentId")?;
        check_content_id(&content_id, &f.path("ContentId"))?;
        let file_name = self.field(&f, "FileName")?;
        check_file_name(&file_name, &f.path("FileName"))?;
        let content_type = self.field(&f, "ContentType")?;
        check_content_type(&content_type, &f.path("ContentType"))?;
        let digest_text = self.field(&f, "Digest")?;
        let declared_digest = base64::engine::general_purpose::STANDARD
            .decode(digest_text.as_bytes())
            .ok()
            .filter(|d| d.len() == 32)
            .ok_or_else(|| EnvelopeError::InvalidValue {
                path: f.path("Digest"),
                value: digest_text.clone(),
                reason: "expected the base64 of a 32-byte SHA-256 digest".to_owned(),
            })?;
        let size_path = f.path("Size");
        let declared_size: u64 = number(&self.field(&f, "Size")?, &size_path)?;

        // The Attachment element: ContentId attribute only, base64 text only.
        let att_id = ae.attr("ContentId");
        if let Some(a) = ae
            .attrs
            .iter()
            .find(|a| !(a.ns.is_none() && a.local == "ContentId"))
        {
            return Err(EnvelopeError::UnexpectedAttribute {
                path: apath.to_owned(),
                name: a.local.clone(),
            });
        }
        if att_id != Some(content_id.as_str()) {
            return Err(EnvelopeError::AttachmentMismatch {
                detail: format!(
                    "reference {content_id} is followed by attachment {}",
                    att_id.unwrap_or("(no ContentId)")
                ),
            });
        }
        if ae.elements().next().is_some() {
            return Err(EnvelopeError::NotText {
                path: apath.to_owned(),
            });
        }
        let data = decode_base64(&ae.text(), &content_id, self.limits)?;
        let actual = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if actual != declared_size {
            return Err(EnvelopeError::SizeMismatch {
                content_id,
                file_name,
                declared: declared_size,
                actual,
            });
        }
        let a = Attachment {
            content_id,
            file_name,
            content_type,
            data,
        };
        let computed = ring::digest::digest(&ring::digest::SHA256, &a.data);
        if computed.as_ref() != declared_digest.as_slice() {
            return Err(EnvelopeError::DigestMismatch {
                content_id: a.content_id,
                file_name: a.file_name,
            });
        }
        Ok(a)
    }
}

/// Decodes base64 (whitespace ignored), refusing before allocation anything over
/// `max_attachment_bytes`.
pub(super) fn decode_base64(t: &str, content_id: &str, limits: &EnvelopeLimits) -> Result<Vec<u8>> {
    let compact: Vec<u8> = t
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .collect();
    let bad = || EnvelopeError::BadBase64 {
        content_id: content_id.to_owned(),
    };
    if compact.len() % 4 != 0 {
        return Err(bad());
    }
    let pad = compact.iter().rev().take_while(|b| **b == b'=').count();
    let size = (compact.len() / 4 * 3).saturating_sub(pad);
    if size > limits.max_attachment_bytes {
        return Err(EnvelopeError::LimitExceeded {
            what: format!("attachment {content_id}"),
            limit_name: "max_attachment_bytes",
            limit: limits.max_attachment_bytes,
            actual: size,
        });
    }
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| bad())
}

/// `lt:Classification` read on its own (the field reader's door to the one label rule).
pub(super) fn label_of(e: &Element, path: &str, limits: &EnvelopeLimits) -> Result<Label> {
    Reader { limits }.label(e, path, &Scope::default().enter(e))
}

/// `ContentId`: 1-64 of `[A-Za-z0-9._-]`, so it is safe in an attribute, a URI and a log line.
pub(super) fn check_content_id(v: &str, path: &str) -> Result<()> {
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidValue {
            path: path.to_owned(),
            value: v.to_owned(),
            reason: "a ContentId is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'".to_owned(),
        })
    }
}

/// `FileName`: a bare name a receiving system can write without surprises: 1-255 characters,
/// no path separator, no control character, not `.` or `..`.
pub(super) fn check_file_name(v: &str, path: &str) -> Result<()> {
    let ok = (1..=255).contains(&v.chars().count())
        && v != "."
        && v != ".."
        && !v.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidValue {
            path: path.to_owned(),
            value: v.to_owned(),
            reason: "a FileName is 1 to 255 characters without '/', '\\' or control characters"
                .to_owned(),
        })
    }
}

/// `ContentType`: `type/subtype` with optional parameters, printable ASCII, at most 255.
pub(super) fn check_content_type(v: &str, path: &str) -> Result<()> {
    let essence = v.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let ok = v.len() <= 255
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence
            .split_once('/')
            .is_some_and(|(t, s)| token(t) && token(s));
    if ok {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidValue {
            path: path.to_owned(),
            value: v.to_owned(),
            reason: "a ContentType is a MIME type such as application/pdf".to_owned(),
        })
    }
}
