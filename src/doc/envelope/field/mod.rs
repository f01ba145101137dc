//! edXML as the national platform's SDKs and the systems built on them write it ("the field
//! form"): read into a [`FieldDocument`], with every departure from the standard's text that
//! lienthong accepts named as a [`Leniency`] (listed, with its source, in `docs/EDXML.md`).
//!
//! ```text
//! edXML                                   (root; or a bare edXMLEnvelope)
//! ├── edXMLEnvelope
//! │   ├── edXMLHeader
//! │   │   ├── MessageHeader               a document, or (with StatusCode) a status message
//! │   │   ├── TraceHeaderList             TraceHeader*, Bussiness?
//! │   │   ├── lt:Classification?          lienthong's label, when a lienthong gateway wrote it
//! │   │   ├── ds:Signature? | Signature? | DigitalSignature?
//! │   │   └── (unknown edXML elements: kept)
//! │   └── edXMLBody
//! │       └── edXMLManifest               Reference* (ContentId cid:…, AttachmentName, …)
//! └── AttachmentEncoded
//!     └── Attachment*                     ContentId, AttachmentName, ContentType,
//!                                         ContentTransferEncoded (base64), …
//! ```
//!
//! # What this reader holds to (security, not shape)
//! - The XML itself goes through the one parser ([`crate::doc::parse()`]): no DTD, no entities,
//!   the same limits.
//! - A known element twice where the standard allows it once (two `MessageHeader`s) is refused;
//!   so is a known element out of the standard's order unless the pair is a listed inversion.
//! - Unknown edXML elements are kept where the SDKs put their own (the tree is kept whole; each
//!   one's path is in [`Reading::kept`]) and refused elsewhere; elements in a foreign namespace
//!   and attributes the SDKs do not write are refused by name.
//! - Every manifest `Reference` names one part and every part is named by one reference:
//!   a `cid:` without a part, a part no reference names, and a `cid` used twice are refused by
//!   name; a `Digest` in the manifest, when present, must match the part.
//! - A `Signature` element in the edXML namespace is not an XML-DSig signature: the document is
//!   read as **unsigned** ([`SignatureShape::Lookalike`]).
//! - A document without `lt:Classification` has no label: [`FieldDocument::label`] is `None`,
//!   never "unclassified". Who may give it one is the caller's decision (a peer's
//!   `external_default_level`).

mod body;
mod convert;
mod header;
mod walk;
mod write;

use std::collections::BTreeMap;

use serde::Serialize;

pub use convert::{ORIGINAL_CONTENT_ID, to_envelope};
pub use write::to_field_bytes;

use super::{EDXML_NS, EnvelopeError, EnvelopeLimits};
use crate::doc::label::Label;
use crate::doc::parse::parse;
use crate::doc::tree::{Document, Element};
use crate::doc::types::{BusinessDocType, EdxmlDate, OrganId, Priority, StatusCode};

/// A document or status message read in the field form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDocument {
    /// The root was `edXML` (the SDKs' packaging), not a bare `edXMLEnvelope`.
    pub wrapped: bool,
    /// What the header carries.
    pub message: FieldMessage,
    /// `TraceHeaderList/TraceHeader`: organ and time as written.
    pub trace: Vec<FieldTrace>,
    /// `Bussiness`, where written.
    pub business: Option<Business>,
    /// The attachments, in manifest order, tied to their parts.
    pub attachments: Vec<FieldAttachment>,
    /// What stands where a signature would.
    pub signature: SignatureShape,
    /// `lt:Classification`, when present. `None` is "no label", never "unclassified".
    pub label: Option<Label>,
    /// The leniencies used and the unknown elements kept.
    pub reading: Reading,
}

/// A document (`MessageHeader`) or a status message (`Status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldMessage {
    /// A document.
    Document(Box<FieldHeader>),
    /// A status message about a document.
    Status(Box<FieldStatus>),
}

/// An organ as written (`From`, `To`, `ResponseFor`, `TraceHeader`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldOrgan {
    /// The id, normalised for comparison (ASCII upper case).
    pub id: OrganId,
    /// The id exactly as written.
    pub written: String,
    /// `OrganName`, when written and not empty.
    pub name: Option<String>,
}

/// `MessageHeader` of a document, as the field writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldHeader {
    /// `From`.
    pub from: FieldOrgan,
    /// `To`, one or more.
    pub to: Vec<FieldOrgan>,
    /// `Code/CodeNumber` as written (not always a number: `74fass22`).
    pub code_number: String,
    /// `Code/CodeNotation`.
    pub code_notation: String,
    /// `PromulgationInfo/Place`.
    pub place: Option<String>,
    /// `PromulgationInfo/PromulgationDate`.
    pub promulgation_date: Option<EdxmlDate>,
    /// `DocumentType/Type`.
    pub type_code: Option<String>,
    /// `DocumentType/TypeName`.
    pub type_name: Option<String>,
    /// `Subject`.
    pub subject: String,
    /// `Content`.
    pub content: Option<String>,
    /// `SignerInfo` (absent parts empty).
    pub signer: super::SignerInfo,
    /// `DueDate` (an empty element is no due date).
    pub due_date: Option<EdxmlDate>,
    /// `ToPlaces/Place` (nơi nhận as printed).
    pub to_places: Vec<String>,
    /// `OtherInfo/Priority`.
    pub priority: Option<Priority>,
    /// `ResponseFor`: the documents this one answers.
    pub response_for: Vec<FieldResponseFor>,
    /// `SteeringType`.
    pub steering_type: Option<String>,
    /// `DocumentId`, where written.
    pub document_id: Option<String>,
}

/// `ResponseFor`: the document a message answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldResponseFor {
    /// `OrganId` of the answered document's issuer.
    pub organ: Option<FieldOrgan>,
    /// `Code`, one string as written (`7816/VPCP-TTĐT`).
    pub code: Option<String>,
    /// `PromulgationDate`.
    pub promulgation_date: Option<EdxmlDate>,
    /// `DocumentId`.
    pub document_id: Option<String>,
}

/// `Status`: a status message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldStatus {
    /// The document it is about.
    pub response_for: FieldResponseFor,
    /// Who reports.
    pub from: FieldOrgan,
    /// `StatusCode`, two digits as written.
    pub code: String,
    /// The code in lienthong's status model, where it has one (01-06, 13, 15, 16).
    pub known: Option<StatusCode>,
    /// `Description`.
    pub description: Option<String>,
    /// `Timestamp`, as written.
    pub timestamp: Option<String>,
    /// `StaffInfo/Staff` (and `Department`), as written.
    pub staff: Option<String>,
}

/// `TraceHeader`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldTrace {
    /// `OrganId`, where written (not the text `null`).
    pub organ: Option<FieldOrgan>,
    /// `Timestamp`, as written.
    pub timestamp: Option<String>,
}

/// `Bussiness`: what the message does to a document sent before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Business {
    /// `BussinessDocType`: 0 new, 1 recall, 2 update, 3 replace.
    pub doc_type: BusinessDocType,
    /// `BussinessDocReason`.
    pub reason: Option<String>,
    /// `ReplacementInfoList/ReplacementInfo/DocumentId`: the documents updated or replaced.
    pub replaces: Vec<String>,
}

/// An attachment: its manifest entry and its decoded part.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldAttachment {
    /// The content id, without `cid:`.
    pub content_id: String,
    /// `AttachmentName`.
    pub name: String,
    /// `ContentType`, where written.
    pub content_type: Option<String>,
    /// `Description`, where written.
    pub description: Option<String>,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for FieldAttachment {
    // The bytes may be classified and are large: Debug shows their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldAttachment")
            .field("content_id", &self.content_id)
            .field("name", &self.name)
            .field("size", &self.data.len())
            .finish()
    }
}

/// What stands where a signature would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SignatureShape {
    /// Nothing.
    None,
    /// A `ds:Signature` in the XML-DSig namespace (checked by `sign::verify`, not here).
    XmlDsig,
    /// A `Signature` shaped like XML-DSig but in the edXML namespace, or an edXML
    /// `DigitalSignature`: not an XML-DSig signature; the document is unsigned.
    Lookalike {
        /// Where it stands.
        path: String,
    },
}

/// A documented departure from QCVN 102:2016's text that the field reader accepts.
/// `docs/EDXML.md` lists each with the sample it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Leniency {
    /// Root `edXML` holding the envelope and, beside it, `AttachmentEncoded`.
    WrappedRoot,
    /// `DocumentId` written before `Code` (or other `MessageHeader` elements).
    DocumentIdEarly,
    /// `Bussiness` inside `TraceHeaderList`, after the trace headers.
    BussinessInTraceList,
    /// `ResponseFor`'s children in another order than the standard's.
    ResponseForOrder,
    /// `OrganName` before `OrganizationInCharge` in `From`/`To`.
    OrganNameFirst,
    /// The children of `Bussiness`, `StaffInfo`, a manifest `Reference`, an attachment part or
    /// a status in another order (the SDKs disagree among themselves; the order carries no
    /// meaning there).
    ChildOrder,
    /// `ToPlaces` after `OtherInfo`/`SteeringType` (at the end of `MessageHeader`).
    ToPlacesLate,
    /// A `TraceHeader` without `OrganId`, or with the text `null` in it.
    TraceWithoutOrgan,
    /// `DueDate` (or another optional leaf) present but empty: read as absent.
    EmptyOptional,
    /// A date written `dd/MM/yyyy`.
    DayFirstDate,
    /// An organ id in lower case (`vxp.saas.03`, the platform's test organs).
    LowercaseOrganId,
    /// `version` on `edXMLManifest`.
    ManifestVersion,
    /// A manifest `ContentId` written `cid:…` where the part writes it bare (or the reverse).
    CidPrefix,
    /// A manifest without `Digest`: the parts are tied by `cid` only (nothing binds their
    /// bytes until a gateway signs the document).
    NoDigest,
    /// A `Signature` in the edXML namespace, or an (empty) `DigitalSignature`: read as unsigned.
    EdxmlSignature,
}

impl Leniency {
    /// The kebab-case name used in JSON and in `docs/EDXML.md`.
    pub fn name(self) -> &'static str {
        match self {
            Self::WrappedRoot => "wrapped-root",
            Self::DocumentIdEarly => "document-id-early",
            Self::BussinessInTraceList => "bussiness-in-trace-list",
            Self::ResponseForOrder => "response-for-order",
            Self::OrganNameFirst => "organ-name-first",
            Self::ChildOrder => "child-order",
            Self::ToPlacesLate => "to-places-late",
            Self::TraceWithoutOrgan => "trace-without-organ",
            Self::EmptyOptional => "empty-optional",
            Self::DayFirstDate => "day-first-date",
            Self::LowercaseOrganId => "lowercase-organ-id",
            Self::ManifestVersion => "manifest-version",
            Self::CidPrefix => "cid-prefix",
            Self::NoDigest => "no-digest",
            Self::EdxmlSignature => "edxml-signature",
        }
    }
}

/// What reading a document needed: each leniency with the first path it was used at, and the
/// unknown elements kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Leniency → first path.
    pub leniencies: BTreeMap<Leniency, String>,
    /// Paths of the unknown edXML elements kept (they stay in the tree, signed over and passed
    /// on with it).
    pub kept: Vec<String>,
}

impl Reading {
    fn lenient(&mut self, why: Leniency, path: &str) {
        self.leniencies
            .entry(why)
            .or_insert_with(|| path.to_owned());
    }
}

impl FieldDocument {
    /// The sender: `From` of the document or of the status message.
    pub fn sender(&self) -> &FieldOrgan {
        match &self.message {
            FieldMessage::Document(h) => &h.from,
            FieldMessage::Status(s) => &s.from,
        }
    }
}

/// Parses bytes and reads them in the field form; returns the tree too (it is what a gateway
/// keeps, signs and passes on).
pub fn parse_field(
    bytes: &[u8],
    limits: &EnvelopeLimits,
) -> Result<(Document, FieldDocument), EnvelopeError> {
    let doc = parse(bytes, &limits.xml)?;
    let field = read_field(&doc.root, limits)?;
    Ok((doc, field))
}

/// Reads a parsed document in the field form.
pub fn read_field(root: &Element, limits: &EnvelopeLimits) -> Result<FieldDocument, EnvelopeError> {
    let mut r = Reading::default();
    let (envelope, parts, wrapped) = unwrap_root(root, &mut r)?;
    let h = header::Header::read(envelope, limits, &mut r)?;
    let attachments = body::attachments(envelope, parts, limits, &mut r)?;
    Ok(FieldDocument {
        wrapped,
        message: h.message,
        trace: h.trace,
        business: h.business,
        attachments,
        signature: h.signature,
        label: h.label,
        reading: r,
    })
}

/// The envelope and the `AttachmentEncoded` element (when the root is `edXML`).
fn unwrap_root<'a>(
    root: &'a Element,
    r: &mut Reading,
) -> Result<(&'a Element, Option<&'a Element>, bool), EnvelopeError> {
    if root.is(EDXML_NS, "edXMLEnvelope") {
        return Ok((root, None, false));
    }
    if !root.is(EDXML_NS, "edXML") {
        return Err(EnvelopeError::NotEnvelope {
            found: format!(
                "{{{}}}{}",
                root.ns.as_deref().unwrap_or_default(),
                root.local
            ),
        });
    }
    r.lenient(Leniency::WrappedRoot, "edXML");
    static ROOT: [walk::Slot; 2] = [walk::one("edXMLEnvelope"), walk::opt("AttachmentEncoded")];
    static RULES: walk::Rules = walk::Rules {
        slots: &ROOT,
        inversions: &[],
        attrs: &[],
        keep_unknown: false,
        free_order: None,
    };
    let f = walk::walk(root, "edXML", &RULES, r)?;
    Ok((f.req("edXMLEnvelope")?, f.opt("AttachmentEncoded"), true))
}

/// A document read in the profile it is written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// lienthong's profile: a bare `edXMLEnvelope` whose header carries `lt:Classification`.
    Lienthong(Box<super::Envelope>),
    /// Anything else in the edXML namespace: the field form.
    Field(Box<FieldDocument>),
}

/// True when `root` is in lienthong's profile (a bare `edXMLEnvelope` whose `edXMLHeader`
/// carries `lt:Classification`); such a document is read by the strict reader only, so that
/// a lienthong document is never accepted under the field form's leniencies.
pub fn is_lienthong_profile(root: &Element) -> bool {
    root.is(EDXML_NS, "edXMLEnvelope")
        && root.child(EDXML_NS, "edXMLHeader").is_some_and(|h| {
            h.child(crate::doc::label::LABEL_NS, "Classification")
                .is_some()
        })
}

/// Parses bytes and reads them in the profile they are written in.
pub fn parse_any(
    bytes: &[u8],
    limits: &EnvelopeLimits,
) -> Result<(Document, Written), EnvelopeError> {
    let doc = parse(bytes, &limits.xml)?;
    let written = if is_lienthong_profile(&doc.root) {
        Written::Lienthong(Box::new(super::Envelope::from_document(&doc, limits)?))
    } else {
        Written::Field(Box::new(read_field(&doc.root, limits)?))
    };
    Ok((doc, written))
}
