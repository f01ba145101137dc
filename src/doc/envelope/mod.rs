//! The typed edXML envelope (QCVN 102:2016) with lienthong's classification label.
//!
//! ```text
//! edXMLEnvelope
//! ├── edXMLHeader
//! │   ├── MessageHeader        From, To+, Code, PromulgationInfo, DocumentType, Subject, Content,
//! │   │                        SignerInfo, DueDate?, ToPlaces, OtherInfo, ResponseFor*,
//! │   │                        SteeringType?, DocumentId, BussinessDocType
//! │   ├── TraceHeaderList      TraceHeader* (OrganId, Timestamp)
//! │   ├── lt:Classification    lt:Level, lt:Procedure, lt:Public   (see `doc::label`)
//! │   └── ds:Signature?        XML-DSig, kept as an opaque element (the `sign` module's)
//! └── edXMLBody
//!     ├── edXMLManifest        Reference* (ContentId, FileName, ContentType, Digest, Size)
//!     └── Attachment*          @ContentId, base64 text
//! ```
//!
//! # The profile lienthong reads and writes
//! - Known elements must appear in the order above (the standard's `xs:sequence`); a known
//!   element out of order or repeated is refused, never reordered silently.
//! - **Extensions.** Elements in the edXML namespace that lienthong does not know are kept, in
//!   document order, where they are allowed: directly inside `edXMLHeader`, `MessageHeader`,
//!   `From`/`To`, `OtherInfo` and `edXMLBody`. Each remembers how many known siblings preceded
//!   it, so it is written back in the same place. Elsewhere an unknown edXML element is refused.
//! - Elements in any namespace other than edXML, the label namespace and XML-DSig are refused,
//!   except inside a kept element (an extension or the signature), which is never inspected.
//!   Attributes are refused everywhere except `Attachment/@ContentId`.
//! - Whitespace-only text between elements is layout and is dropped; any other text in
//!   element-only content is refused. Leaf text is kept exactly (no trimming).
//! - **Attachments.** `edXMLManifest` lists one `Reference` per attachment: `ContentId` (a
//!   token, 1-64 of `[A-Za-z0-9._-]`), `FileName` (no path separators or control characters),
//!   `ContentType` (a MIME type), `Digest` (base64 SHA-256 of the *decoded* attachment) and
//!   `Size` (decoded bytes). The attachments follow the manifest, in the same order, as
//!   `Attachment` elements whose `ContentId` attribute names their reference and whose text is
//!   the base64 (RFC 4648 §4, padded; whitespace ignored). Digest and size are checked on parse;
//!   lienthong computes them when writing, so the model holds only the decoded bytes.
//! - Dates are written `yyyy/MM/dd`; `dd/MM/yyyy` is accepted on input.
//!
//! # Layout and round trips
//! [`Envelope::to_document`] writes one fixed layout (two-space indentation, the edXML namespace
//! as default namespace, `lt` for the label). Parsing its output gives back an equal envelope,
//! and a document already in that layout (every example in `schemas/examples/`) is re-written
//! byte for byte. A received document in another layout (prefixes, indentation, `dd/MM/yyyy`
//! dates) gives an equal [`Envelope`] but not the same bytes: a received signature is therefore
//! always verified on the parsed [`Document`], never on a re-rendered one.
//!
//! Kept elements carry their own namespace declarations: when one is taken out of its parent,
//! the declarations it relied on from its ancestors are copied onto it, so it means the same
//! wherever it is written (and renders the same under exclusive c14n).

mod build;
pub mod field;
mod read;

use std::collections::BTreeSet;

use super::label::{Label, UnknownLevel};
use super::parse::{Limits, ParseError, parse};
use super::tree::{Document, Element};
use super::types::{BusinessDocType, EdxmlDate, EdxmlTimestamp, OrganId, Priority, ValueError};
use super::write::write_document;

/// The edXML namespace (QCVN 102:2016).
pub const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// The XML-DSig namespace; `ds:Signature` is the one element of it the header may hold.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// A parsed or newly built envelope.
///
/// `header` is the edXML `MessageHeader` (who sends what to whom); the other parts of
/// `edXMLHeader` are `trace`, `label`, `signature` and `header_ext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `edXMLHeader/MessageHeader`.
    pub header: MessageHeader,
    /// `edXMLHeader/TraceHeaderList/TraceHeader`, one per gateway hop, in order.
    pub trace: Vec<TraceHeader>,
    /// `edXMLHeader/lt:Classification`: required, see [`crate::doc::label`].
    pub label: Label,
    /// `edXMLHeader/ds:Signature`, kept opaque for the `sign` module (self-contained: it
    /// declares every namespace prefix it uses).
    pub signature: Option<Element>,
    /// Unknown edXML elements directly in `edXMLHeader`.
    pub header_ext: Extensions,
    /// `edXMLBody`.
    pub body: Body,
}

/// `MessageHeader`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    /// `From`: the issuing organ.
    pub from: Organization,
    /// `To`: one or more recipients.
    pub to: Vec<Organization>,
    /// `Code`: number and notation (số và ký hiệu).
    pub code: Code,
    /// `PromulgationInfo`: place and date of issue.
    pub promulgation: PromulgationInfo,
    /// `DocumentType`.
    pub document_type: DocumentType,
    /// `Subject` (trích yếu).
    pub subject: String,
    /// `Content`.
    pub content: String,
    /// `SignerInfo`.
    pub signer: SignerInfo,
    /// `DueDate`.
    pub due_date: Option<EdxmlDate>,
    /// `ToPlaces/Place` (nơi nhận, as printed on the document).
    pub to_places: Vec<String>,
    /// `OtherInfo`.
    pub other: OtherInfo,
    /// `ResponseFor`: documents this one answers.
    pub response_for: Vec<ResponseFor>,
    /// `SteeringType`.
    pub steering_type: Option<String>,
    /// `DocumentId`: `{OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}`.
    pub document_id: String,
    /// `BussinessDocType` (spelled so in the standard).
    pub business_doc_type: BusinessDocType,
    /// Unknown edXML elements in `MessageHeader`.
    pub ext: Extensions,
}

/// `From` or `To`: an organ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// `OrganId`.
    pub organ_id: OrganId,
    /// `OrganName`.
    pub organ_name: String,
    /// `OrganAdd`.
    pub organ_add: Option<String>,
    /// `Email`.
    pub email: Option<String>,
    /// `Telephone`.
    pub telephone: Option<String>,
    /// `Fax`.
    pub fax: Option<String>,
    /// `Website`.
    pub website: Option<String>,
    /// Unknown edXML elements in this organ.
    pub ext: Extensions,
}

impl Organization {
    /// An organ with only its id and name.
    pub fn new(organ_id: OrganId, organ_name: impl Into<String>) -> Self {
        Self {
            organ_id,
            organ_name: organ_name.into(),
            organ_add: None,
            email: None,
            telephone: None,
            fax: None,
            website: None,
            ext: Extensions::default(),
        }
    }
}

/// `Code`: the document's number and notation, e.g. `07` and `NQ/ĐUK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// `CodeNumber`.
    pub number: String,
    /// `CodeNotation`.
    pub notation: String,
}

/// `PromulgationInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromulgationInfo {
    /// `Place`.
    pub place: String,
    /// `PromulgationDate`.
    pub date: EdxmlDate,
}

/// `DocumentType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentType {
    /// `Type`: the code of the document type in the sender's catalogue.
    pub kind: String,
    /// `TypeName`, e.g. "Nghị quyết".
    pub name: String,
}

/// `SignerInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignerInfo {
    /// `Competence` (thẩm quyền), e.g. "TM. BAN THƯỜNG VỤ".
    pub competence: String,
    /// `Position`.
    pub position: String,
    /// `FullName`.
    pub full_name: String,
}

/// `OtherInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherInfo {
    /// `Priority`.
    pub priority: Priority,
    /// `SphereOfPromulgation`.
    pub sphere_of_promulgation: Option<String>,
    /// `TyperNotation`.
    pub typer_notation: Option<String>,
    /// `PromulgationAmount`.
    pub promulgation_amount: Option<u32>,
    /// `PageAmount`.
    pub page_amount: Option<u32>,
    /// Unknown edXML elements in `OtherInfo`.
    pub ext: Extensions,
}

impl OtherInfo {
    /// Only a priority.
    pub fn new(priority: Priority) -> Self {
        Self {
            priority,
            sphere_of_promulgation: None,
            typer_notation: None,
            promulgation_amount: None,
            page_amount: None,
            ext: Extensions::default(),
        }
    }
}

/// `ResponseFor`: a document this one answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFor {
    /// `OrganId` of the answered document's issuer.
    pub organ_id: OrganId,
    /// `Code` of the answered document, as one string (e.g. `07-NQ/ĐUK`).
    pub code: String,
    /// `PromulgationDate`.
    pub promulgation_date: EdxmlDate,
    /// `DocumentId`.
    pub document_id: String,
}

/// `TraceHeader`: one gateway hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    /// The organ whose gateway handled the document.
    pub organ_id: OrganId,
    /// When.
    pub timestamp: EdxmlTimestamp,
}

/// `edXMLBody`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The attachments, in manifest order.
    pub attachments: Vec<Attachment>,
    /// Unknown edXML elements directly in `edXMLBody`.
    pub ext: Extensions,
    /// `xenc:EncryptedData` after the manifest: a sealed `mat` document (issue 22, `crate::seal`)
    /// whose plaintext is the whole inner-signed envelope. Self-contained. When present the
    /// manifest is empty and nothing else is in the body.
    pub sealed: Option<Element>,
}

/// The XML Encryption namespace of `edXMLBody/xenc:EncryptedData`.
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";

/// An attachment: its manifest entry and its decoded bytes. Digest and size are not stored:
/// they are checked against the bytes on parse and computed from them on write.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `ContentId`: 1-64 of `[A-Za-z0-9._-]`, unique in the envelope.
    pub content_id: String,
    /// `FileName`: no `/`, `\`, or control characters.
    pub file_name: String,
    /// `ContentType`: a MIME type.
    pub content_type: String,
    /// The decoded content.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    // The bytes may be classified and are large: Debug shows their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("content_id", &self.content_id)
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("size", &self.data.len())
            .finish()
    }
}

impl Attachment {
    /// Base64 of the SHA-256 of the data, as written in `Reference/Digest`.
    pub fn digest_b64(&self) -> String {
        use base64::Engine as _;
        let d = ring::digest::digest(&ring::digest::SHA256, &self.data);
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    }
}

/// Unknown edXML elements kept from a container, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extensions(pub Vec<Extension>);

impl Extensions {
    /// True when nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One kept element and where it stood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// How many known sibling elements preceded it.
    pub position: usize,
    /// The element, self-contained (declares the prefixes it uses).
    pub element: Element,
}

/// Limits on what an envelope may hold, beyond the XML limits of [`Limits`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeLimits {
    /// Limits of the XML parser (used by [`parse_envelope`]).
    pub xml: Limits,
    /// `To` elements. Default 1,000: a provincial office writes to every district and commune
    /// committee of a province (a few hundred); more is a mistake or an attack.
    pub max_recipients: usize,
    /// Attachments. Default 100.
    pub max_attachments: usize,
    /// One decoded attachment, bytes. Default 32 MiB.
    pub max_attachment_bytes: usize,
    /// All decoded attachments together, bytes. Default 48 MiB: base64 makes that 64 MiB, the
    /// parser's `max_bytes`.
    pub max_total_attachment_bytes: usize,
    /// `Subject`, characters. Default 2,000: a trích yếu is one or two sentences.
    pub max_subject_chars: usize,
    /// `Content`, characters. Default 1,000,000 (the body text of a long report).
    pub max_content_chars: usize,
    /// Every other text field (names, codes, places, ids), characters. Default 1,000.
    pub max_field_chars: usize,
    /// Items of `ToPlaces`, `ResponseFor` and `TraceHeaderList`. Default 256 (a trace longer
    /// than that is a routing loop).
    pub max_list_items: usize,
}

impl Default for EnvelopeLimits {
    fn default() -> Self {
        Self {
            xml: Limits::default(),
            max_recipients: 1_000,
            max_attachments: 100,
            max_attachment_bytes: 32 * 1024 * 1024,
            max_total_attachment_bytes: 48 * 1024 * 1024,
            max_subject_chars: 2_000,
            max_content_chars: 1_000_000,
            max_field_chars: 1_000,
            max_list_items: 256,
        }
    }
}

/// Why an envelope was refused. `path` is the element path from the root, e.g.
/// `edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes are not acceptable XML.
    #[error("not an acceptable XML document: {0}")]
    Parse(#[from] ParseError),
    /// The root is not `{edXML}edXMLEnvelope`.
    #[error("root element is {found}, not an edXML edXMLEnvelope")]
    NotEnvelope {
        /// `{ns}local` of the root found.
        found: String,
    },
    /// A required element is absent.
    #[error("required element {path} is missing")]
    Missing {
        /// Path of the missing element.
        path: String,
    },
    /// A known element that may appear once appears again.
    #[error("element {path} appears more than once")]
    Duplicate {
        /// Path of the repeated element.
        path: String,
    },
    /// A known element after one that must follow it.
    #[error("element {path} is out of order (QCVN 102:2016 fixes the order)")]
    OutOfOrder {
        /// Path of the misplaced element.
        path: String,
    },
    /// An element lienthong's profile does not allow here (an unknown edXML element outside an
    /// extension point, an unknown label element, a second signature…).
    #[error("element {path} is not allowed here")]
    UnexpectedElement {
        /// Path of the element.
        path: String,
    },
    /// An element in a namespace other than edXML, label or XML-DSig.
    #[error("element {path} is in foreign namespace {ns:?}")]
    ForeignElement {
        /// Path of the element.
        path: String,
        /// Its namespace (empty when none).
        ns: String,
    },
    /// An attribute the profile does not define.
    #[error("attribute {name} on {path} is not allowed")]
    UnexpectedAttribute {
        /// The element's path.
        path: String,
        /// The attribute's qualified name.
        name: String,
    },
    /// Non-whitespace text where only elements may be.
    #[error("text is not allowed directly in {path}")]
    UnexpectedText {
        /// The element's path.
        path: String,
    },
    /// A text field that contains elements.
    #[error("{path} must contain text only")]
    NotText {
        /// The element's path.
        path: String,
    },
    /// An `OrganId` that is not 1-35 of `[0-9A-Z.]`.
    #[error("{path}: invalid organ id {value:?} (1 to 35 characters of 0-9, A-Z, '.')")]
    InvalidOrganId {
        /// Where.
        path: String,
        /// The value found.
        value: String,
    },
    /// A date that is not `yyyy/MM/dd` or `dd/MM/yyyy`.
    #[error("{path}: bad date {value:?} (expected yyyy/MM/dd)")]
    BadDate {
        /// Where.
        path: String,
        /// The value found.
        value: String,
    },
    /// A priority that is not 0-4.
    #[error("{path}: bad priority {value:?} (expected 0, 1, 2, 3 or 4)")]
    BadPriority {
        /// Where.
        path: String,
        /// The value found.
        value: String,
    },
    /// A classification level that is not one of the four tokens.
    #[error("{path}: unknown classification level {value:?}; the document is refused")]
    UnknownLevel {
        /// Where.
        path: String,
        /// The value found.
        value: String,
    },
    /// Any other value that does not parse (procedure code, number, boolean, timestamp, MIME
    /// type, content id, file name…).
    #[error("{path}: invalid value {value:?}: {reason}")]
    InvalidValue {
        /// Where.
        path: String,
        /// The value found.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// No `lt:Classification`: the document is refused, never taken as unclassified.
    #[error("the envelope has no classification label (lt:Classification); refused")]
    MissingLabel,
    /// An attachment's SHA-256 differs from its manifest `Digest`.
    #[error("attachment {file_name:?} ({content_id}): digest does not match the manifest")]
    DigestMismatch {
        /// `ContentId`.
        content_id: String,
        /// `FileName`.
        file_name: String,
    },
    /// An attachment's decoded size differs from its manifest `Size`.
    #[error("attachment {file_name:?} ({content_id}): {actual} bytes, manifest says {declared}")]
    SizeMismatch {
        /// `ContentId`.
        content_id: String,
        /// `FileName`.
        file_name: String,
        /// `Size` in the manifest.
        declared: u64,
        /// Decoded size.
        actual: u64,
    },
    /// An attachment whose text is not base64.
    #[error("attachment {content_id}: content is not valid base64")]
    BadBase64 {
        /// `ContentId`.
        content_id: String,
    },
    /// Manifest and attachments do not correspond one to one, in order.
    #[error("manifest and attachments do not match: {detail}")]
    AttachmentMismatch {
        /// What does not match.
        detail: String,
    },
    /// A sealed body (`xenc:EncryptedData`) beside attachments or extensions.
    #[error("a sealed body holds only xenc:EncryptedData: {detail}")]
    SealedWithContent {
        /// What else is there.
        detail: String,
    },
    /// A manifest reference whose content id names no part (field form: `cid:` references to
    /// `AttachmentEncoded/Attachment`).
    #[error("manifest reference cid:{content_id} has no attachment part")]
    MissingPart {
        /// The content id, without `cid:`.
        content_id: String,
    },
    /// An attachment part that no manifest reference names.
    #[error("attachment part {content_id} is not in the manifest")]
    UnlistedPart {
        /// The part's content id.
        content_id: String,
    },
    /// Two references with the same `ContentId`.
    #[error("ContentId {content_id} is used twice in the manifest")]
    DuplicateContentId {
        /// The repeated id.
        content_id: String,
    },
    /// A limit of [`EnvelopeLimits`] was exceeded.
    #[error("{what}: {actual} is over the limit {limit_name} = {limit}")]
    LimitExceeded {
        /// What was counted (a path, or "attachments").
        what: String,
        /// The `EnvelopeLimits` field.
        limit_name: &'static str,
        /// The limit.
        limit: usize,
        /// The value found (at least `limit + 1`; counting may stop there).
        actual: usize,
    },
}

impl EnvelopeError {
    /// Maps a value error found at `path` to the named variant.
    fn value(path: &str, e: ValueError) -> Self {
        let path = path.to_owned();
        match e {
            ValueError::OrganId { value } => Self::InvalidOrganId { path, value },
            ValueError::Date { value } => Self::BadDate { path, value },
            ValueError::Priority { value } => Self::BadPriority { path, value },
            other => {
                let value = match &other {
                    ValueError::Timestamp { value }
                    | ValueError::BusinessDocType { value }
                    | ValueError::ProcedureCode { value }
                    | ValueError::StatusCode { value }
                    | ValueError::OrganId { value }
                    | ValueError::Date { value }
                    | ValueError::Priority { value } => value.clone(),
                };
                Self::InvalidValue {
                    path,
                    value,
                    reason: other.to_string(),
                }
            }
        }
    }

    fn level(path: &str, e: UnknownLevel) -> Self {
        Self::UnknownLevel {
            path: path.to_owned(),
            value: e.value,
        }
    }
}

impl Envelope {
    /// Reads the typed envelope from a parsed document, checking everything this module's
    /// documentation lists (order, namespaces, values, label, manifest digests, limits).
    pub fn from_document(doc: &Document, limits: &EnvelopeLimits) -> Result<Self, EnvelopeError> {
        read::envelope(&doc.root, limits)
    }

    /// Builds the document in lienthong's layout (see the module documentation).
    pub fn to_document(&self) -> Document {
        build::document(self)
    }

    /// [`Envelope::to_document`], serialised with an XML declaration.
    pub fn to_bytes(&self) -> Vec<u8> {
        write_document(&self.to_document())
    }

    /// The label (always present: an envelope without one cannot be built from a document).
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The issuing organ.
    pub fn sender(&self) -> &OrganId {
        &self.header.from.organ_id
    }

    /// `DocumentId`.
    pub fn document_id(&self) -> &str {
        &self.header.document_id
    }

    /// The recipients' organ ids, in order.
    pub fn recipients(&self) -> impl Iterator<Item = &OrganId> {
        self.header.to.iter().map(|o| &o.organ_id)
    }

    /// `OtherInfo/Priority`.
    pub fn priority(&self) -> Priority {
        self.header.other.priority
    }

    /// `Subject`. May be classified: callers showing it must respect the label.
    pub fn subject(&self) -> &str {
        &self.header.subject
    }
}

/// The `DocumentId` QCVN 102:2016 defines: `{OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}`.
pub fn compute_document_id(from: &OrganId, date: EdxmlDate, code: &Code) -> String {
    format!("{from},{date},{}/{}", code.number, code.notation)
}

/// Parses bytes (with `limits.xml`) and reads the envelope; returns both, so that signatures
/// are checked on the very tree the envelope was read from.
pub fn parse_envelope(
    bytes: &[u8],
    limits: &EnvelopeLimits,
) -> Result<(Document, Envelope), EnvelopeError> {
    let doc = parse(bytes, &limits.xml)?;
    let env = Envelope::from_document(&doc, limits)?;
    Ok((doc, env))
}

/// Prefixes (`None` for the default namespace) used in `e`'s subtree but declared outside it.
fn free_prefixes(
    e: &Element,
    declared: &BTreeSet<Option<String>>,
    out: &mut BTreeSet<Option<String>>,
) {
    let mut here = declared.clone();
    for d in &e.ns_decls {
        here.insert(d.prefix.clone());
    }
    if e.prefix.as_deref() != Some("xml") && !here.contains(&e.prefix) {
        out.insert(e.prefix.clone());
    }
    for a in &e.attrs {
        if a.prefix.is_some() && a.prefix.as_deref() != Some("xml") && !here.contains(&a.prefix) {
            out.insert(a.prefix.clone());
        }
    }
    for c in e.elements() {
        free_prefixes(c, &here, out);
    }
}

#[cfg(test)]
mod tests;
