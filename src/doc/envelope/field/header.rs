//! `edXMLHeader` in the field form: the message header or status, the trace, `Bussiness`, the
//! label and the signature's shape; and the value readers (organ ids, dates) with their
//! leniencies.

use super::walk::{Found, Rules, Slot, any, leaf, one, opt, some, walk};
use super::{
    Business, FieldHeader, FieldMessage, FieldOrgan, FieldResponseFor, FieldStatus, FieldTrace,
    Leniency, Reading, SignatureShape,
};
use crate::doc::envelope::{DSIG_NS, EDXML_NS, EnvelopeError, EnvelopeLimits, SignerInfo};
use crate::doc::label::{LABEL_NS, Label};
use crate::doc::types::{EdxmlDate, OrganId, Priority, StatusCode};

type Result<T> = std::result::Result<T, EnvelopeError>;

/// What `edXMLHeader` yields.
pub(super) struct Header {
    pub(super) message: FieldMessage,
    pub(super) trace: Vec<FieldTrace>,
    pub(super) business: Option<Business>,
    pub(super) signature: SignatureShape,
    pub(super) label: Option<Label>,
}

const fn slot(ns: &'static str, local: &'static str) -> Slot {
    Slot {
        ns,
        local,
        required: false,
        many: false,
    }
}

static ENVELOPE: Rules = Rules {
    slots: &[one("edXMLHeader"), opt("edXMLBody")],
    inversions: &[],
    attrs: &[],
    keep_unknown: false,
    free_order: None,
};

static HEADER: Rules = Rules {
    slots: &[
        one("MessageHeader"),
        opt("TraceHeaderList"),
        slot(LABEL_NS, "Classification"),
        slot(DSIG_NS, "Signature"),
        opt("Signature"),
        opt("DigitalSignature"),
    ],
    inversions: &[],
    attrs: &[],
    keep_unknown: true,
    free_order: None,
};

/// Reads values under one container: limits and the reading's record.
pub(super) struct Values<'l, 'r> {
    pub(super) limits: &'l EnvelopeLimits,
    pub(super) r: &'r mut Reading,
}

impl Header {
    pub(super) fn read(
        envelope: &super::Element,
        limits: &EnvelopeLimits,
        r: &mut Reading,
    ) -> Result<Self> {
        let e = walk(envelope, "edXMLEnvelope", &ENVELOPE, r)?;
        let hpath = e.path("edXMLHeader");
        let h = walk(e.req("edXMLHeader")?, &hpath, &HEADER, r)?;
        let mut v = Values { limits, r };
        // A status message is a MessageHeader with a StatusCode (the platform's form).
        let m = h.req("MessageHeader")?;
        let mpath = h.path("MessageHeader");
        let message = if m.child(EDXML_NS, "StatusCode").is_some() {
            FieldMessage::Status(Box::new(v.status(m, &mpath)?))
        } else {
            FieldMessage::Document(Box::new(v.message_header(m, &mpath)?))
        };
        if matches!(message, FieldMessage::Document(_)) && e.opt("edXMLBody").is_none() {
            return Err(EnvelopeError::Missing {
                path: e.path("edXMLBody"),
            });
        }
        let (trace, listed) = match h.opt("TraceHeaderList") {
            Some(t) => v.trace_list(t, &h.path("TraceHeaderList"))?,
            None => (Vec::new(), None),
        };
        let business = v.business_of(listed)?;
        let label = match h.opt("Classification") {
            Some(c) => Some(crate::doc::envelope::read::label_of(
                c,
                &h.path("lt:Classification"),
                limits,
            )?),
            None => None,
        };
        let signature = signature_shape(&h, v.r);
        Ok(Self {
            message,
            trace,
            business,
            signature,
            label,
        })
    }
}

/// A real `ds:Signature`, or the edXML-namespace look-alikes (unsigned).
fn signature_shape(h: &Found<'_>, r: &mut Reading) -> SignatureShape {
    if h.opt_in(DSIG_NS, "Signature").is_some() {
        return SignatureShape::XmlDsig;
    }
    for local in ["Signature", "DigitalSignature"] {
        if h.opt_in(EDXML_NS, local).is_some() {
            let path = h.path(local);
            r.lenient(Leniency::EdxmlSignature, &path);
            return SignatureShape::Lookalike { path };
        }
    }
    SignatureShape::None
}

static MESSAGE_HEADER: Rules = Rules {
    slots: &[
        one("From"),
        some("To"),
        one("Code"),
        opt("PromulgationInfo"),
        opt("DocumentType"),
        one("Subject"),
        opt("Content"),
        opt("SignerInfo"),
        opt("DueDate"),
        opt("ToPlaces"),
        opt("OtherInfo"),
        any("ResponseFor"),
        opt("SteeringType"),
        opt("DocumentId"),
        opt("BussinessDocType"),
    ],
    inversions: &[
        ("DocumentId", "Code", Leniency::DocumentIdEarly),
        ("DocumentId", "PromulgationInfo", Leniency::DocumentIdEarly),
        ("DocumentId", "DocumentType", Leniency::DocumentIdEarly),
        ("DocumentId", "Subject", Leniency::DocumentIdEarly),
        ("DocumentId", "Content", Leniency::DocumentIdEarly),
        ("DocumentId", "SignerInfo", Leniency::DocumentIdEarly),
        ("DocumentId", "DueDate", Leniency::DocumentIdEarly),
        ("DocumentId", "ToPlaces", Leniency::DocumentIdEarly),
        ("DocumentId", "OtherInfo", Leniency::DocumentIdEarly),
        ("DocumentId", "ResponseFor", Leniency::DocumentIdEarly),
        ("DocumentId", "SteeringType", Leniency::DocumentIdEarly),
        ("OtherInfo", "ToPlaces", Leniency::ToPlacesLate),
        ("ResponseFor", "ToPlaces", Leniency::ToPlacesLate),
        ("SteeringType", "ToPlaces", Leniency::ToPlacesLate),
    ],
    attrs: &[],
    keep_unknown: true,
    free_order: None,
};

static ORGAN: Rules = Rules {
    slots: &[
        one("OrganId"),
        opt("OrganizationInCharge"),
        opt("OrganName"),
        opt("OrganAdd"),
        opt("Email"),
        opt("Telephone"),
        opt("Fax"),
        opt("Website"),
    ],
    inversions: &[(
        "OrganName",
        "OrganizationInCharge",
        Leniency::OrganNameFirst,
    )],
    attrs: &[],
    keep_unknown: true,
    free_order: None,
};

const fn leaves(slots: &'static [Slot]) -> Rules {
    Rules {
        slots,
        inversions: &[],
        attrs: &[],
        keep_unknown: true,
        free_order: None,
    }
}

static CODE: Rules = leaves(&[one("CodeNumber"), one("CodeNotation")]);
static PROMULGATION: Rules = leaves(&[opt("Place"), opt("PromulgationDate")]);
static DOCUMENT_TYPE: Rules = leaves(&[opt("Type"), opt("TypeDetail"), opt("TypeName")]);
static TO_PLACES: Rules = leaves(&[any("Place")]);
static SIGNER: Rules = leaves(&[opt("Competence"), opt("Position"), opt("FullName")]);
static OTHER_INFO: Rules = leaves(&[
    opt("Priority"),
    opt("SphereOfPromulgation"),
    opt("TyperNotation"),
    opt("PromulgationAmount"),
    opt("PageAmount"),
]);

static RESPONSE_FOR: Rules = Rules {
    slots: &[
        opt("OrganId"),
        opt("Code"),
        opt("PromulgationDate"),
        opt("DocumentId"),
    ],
    inversions: &[
        ("Code", "OrganId", Leniency::ResponseForOrder),
        ("PromulgationDate", "OrganId", Leniency::ResponseForOrder),
        ("DocumentId", "OrganId", Leniency::ResponseForOrder),
        ("PromulgationDate", "Code", Leniency::ResponseForOrder),
        ("DocumentId", "Code", Leniency::ResponseForOrder),
        ("DocumentId", "PromulgationDate", Leniency::ResponseForOrder),
    ],
    attrs: &[],
    keep_unknown: true,
    free_order: None,
};

impl Values<'_, '_> {
    fn message_header(&mut self, e: &super::Element, path: &str) -> Result<FieldHeader> {
        let f = walk(e, path, &MESSAGE_HEADER, self.r)?;
        self.bounded(f.all("To").len(), &f.path("To"), true)?;
        let from = self.organ_element(f.req("From")?, &f.path("From"))?;
        let to = f
            .all("To")
            .iter()
            .map(|t| self.organ_element(t, &f.path("To")))
            .collect::<Result<Vec<_>>>()?;
        let c = walk(f.req("Code")?, &f.path("Code"), &CODE, self.r)?;
        let (place, promulgation_date) = self.promulgation(&f)?;
        let (type_code, type_name) = self.document_type(&f)?;
        let subject = self.subject(&f)?;
        let content = self.content(&f)?;
        let signer = self.signer(&f)?;
        let to_places = self.places(&f)?;
        let due_date = self.opt_date(&f, "DueDate")?;
        let priority = self.priority(&f)?;
        self.bounded(f.all("ResponseFor").len(), &f.path("ResponseFor"), false)?;
        let response_for = f
            .all("ResponseFor")
            .iter()
            .map(|x| self.response_for(x, &f.path("ResponseFor")))
            .collect::<Result<Vec<_>>>()?;
        Ok(FieldHeader {
            from,
            to,
            code_number: self.text(&c, "CodeNumber")?,
            code_notation: self.text(&c, "CodeNotation")?,
            place,
            promulgation_date,
            type_code,
            type_name,
            subject,
            content,
            signer,
            due_date,
            to_places,
            priority,
            response_for,
            steering_type: self.opt_text(&f, "SteeringType")?,
            document_id: self.opt_text(&f, "DocumentId")?,
        })
    }

    fn promulgation(&mut self, f: &Found<'_>) -> Result<(Option<String>, Option<EdxmlDate>)> {
        match f.opt("PromulgationInfo") {
            Some(p) => {
                let p = walk(p, &f.path("PromulgationInfo"), &PROMULGATION, self.r)?;
                Ok((
                    self.opt_text(&p, "Place")?,
                    self.opt_date(&p, "PromulgationDate")?,
                ))
            }
            None => Ok((None, None)),
        }
    }

    fn document_type(&mut self, f: &Found<'_>) -> Result<(Option<String>, Option<String>)> {
        match f.opt("DocumentType") {
            Some(d) => {
                let d = walk(d, &f.path("DocumentType"), &DOCUMENT_TYPE, self.r)?;
                Ok((self.opt_text(&d, "Type")?, self.opt_text(&d, "TypeName")?))
            }
            None => Ok((None, None)),
        }
    }

    fn signer(&mut self, f: &Found<'_>) -> Result<SignerInfo> {
        let Some(s) = f.opt("SignerInfo") else {
            return Ok(SignerInfo::default());
        };
        let s = walk(s, &f.path("SignerInfo"), &SIGNER, self.r)?;
        Ok(SignerInfo {
            competence: self.opt_text(&s, "Competence")?.unwrap_or_default(),
            position: self.opt_text(&s, "Position")?.unwrap_or_default(),
            full_name: self.opt_text(&s, "FullName")?.unwrap_or_default(),
        })
    }

    fn places(&mut self, f: &Found<'_>) -> Result<Vec<String>> {
        let Some(t) = f.opt("ToPlaces") else {
            return Ok(Vec::new());
        };
        let t = walk(t, &f.path("ToPlaces"), &TO_PLACES, self.r)?;
        let all = t.all("Place");
        self.bounded(all.len(), &t.path("Place"), false)?;
        let mut out = Vec::with_capacity(all.len());
        for p in all {
            out.push(leaf(
                p,
                &t.path("Place"),
                self.limits.max_field_chars,
                "max_field_chars",
            )?);
        }
        Ok(out)
    }

    fn subject(&mut self, f: &Found<'_>) -> Result<String> {
        leaf(
            f.req("Subject")?,
            &f.path("Subject"),
            self.limits.max_subject_chars,
            "max_subject_chars",
        )
    }

    fn content(&mut self, f: &Found<'_>) -> Result<Option<String>> {
        f.opt("Content")
            .map(|c| {
                leaf(
                    c,
                    &f.path("Content"),
                    self.limits.max_content_chars,
                    "max_content_chars",
                )
            })
            .transpose()
    }

    fn priority(&mut self, f: &Found<'_>) -> Result<Option<Priority>> {
        let Some(o) = f.opt("OtherInfo") else {
            return Ok(None);
        };
        let o = walk(o, &f.path("OtherInfo"), &OTHER_INFO, self.r)?;
        let path = o.path("Priority");
        self.opt_text(&o, "Priority")?
            .map(|t| t.trim().parse().map_err(|e| EnvelopeError::value(&path, e)))
            .transpose()
    }

    fn response_for(&mut self, e: &super::Element, path: &str) -> Result<FieldResponseFor> {
        let f = walk(e, path, &RESPONSE_FOR, self.r)?;
        let organ = match self.opt_text(&f, "OrganId")? {
            Some(t) => Some(self.organ(&t, &f.path("OrganId"), None)?),
            None => None,
        };
        Ok(FieldResponseFor {
            organ,
            code: self.opt_text(&f, "Code")?,
            promulgation_date: self.opt_date(&f, "PromulgationDate")?,
            document_id: self.opt_text(&f, "DocumentId")?,
        })
    }
}

/// A status message, in the order of the platform's samples; the .NET integrations write
/// `ResponseFor` first and `StaffInfo` last, hence the free order.
static STATUS: Rules = Rules {
    slots: &[
        one("From"),
        one("ResponseFor"),
        opt("StaffInfo"),
        one("StatusCode"),
        opt("Description"),
        opt("Timestamp"),
    ],
    inversions: &[],
    attrs: &[],
    keep_unknown: true,
    free_order: Some(Leniency::ChildOrder),
};

static STAFF: Rules = Rules {
    free_order: Some(Leniency::ChildOrder),
    ..leaves(&[opt("Department"), opt("Staff"), opt("Mobile"), opt("Email")])
};

impl Values<'_, '_> {
    fn status(&mut self, e: &super::Element, path: &str) -> Result<FieldStatus> {
        let f = walk(e, path, &STATUS, self.r)?;
        let response_for = self.response_for(f.req("ResponseFor")?, &f.path("ResponseFor"))?;
        let from = self.organ_element(f.req("From")?, &f.path("From"))?;
        let code = self.text(&f, "StatusCode")?.trim().to_owned();
        let two_digits = code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit());
        if !two_digits || !("01"..="16").contains(&code.as_str()) {
            return Err(EnvelopeError::InvalidValue {
                path: f.path("StatusCode"),
                value: code,
                reason: "a status code is two digits, 01 to 16 (QCVN 102:2016)".to_owned(),
            });
        }
        let staff = match f.opt("StaffInfo") {
            Some(s) => {
                let s = walk(s, &f.path("StaffInfo"), &STAFF, self.r)?;
                self.opt_text(&s, "Staff")?
            }
            None => None,
        };
        Ok(FieldStatus {
            response_for,
            from,
            known: code.parse::<StatusCode>().ok(),
            code,
            description: self.opt_text(&f, "Description")?,
            timestamp: self.opt_text(&f, "Timestamp")?,
            staff,
        })
    }
}

/// An element and its path.
type Placed<'a> = (&'a super::Element, String);

static TRACE_LIST: Rules = Rules {
    slots: &[any("TraceHeader"), opt("Bussiness")],
    inversions: &[("Bussiness", "TraceHeader", Leniency::BussinessInTraceList)],
    attrs: &[],
    keep_unknown: false,
    free_order: None,
};

static TRACE: Rules = leaves(&[opt("OrganId"), opt("Timestamp")]);

static BUSINESS: Rules = Rules {
    free_order: Some(Leniency::ChildOrder),
    ..leaves(&[
        opt("DocumentId"),
        one("BussinessDocType"),
        opt("BussinessDocReason"),
        opt("BussinessDocumentInfo"),
        opt("ReplacementInfoList"),
        opt("StaffInfo"),
        opt("Paper"),
    ])
};

static REPLACEMENTS: Rules = leaves(&[any("ReplacementInfo")]);
static REPLACEMENT: Rules = leaves(&[opt("DocumentId"), opt("ToPlaces")]);

impl Values<'_, '_> {
    /// The trace headers, and `Bussiness` when it stands inside the list.
    fn trace_list<'a>(
        &mut self,
        e: &'a super::Element,
        path: &str,
    ) -> Result<(Vec<FieldTrace>, Option<Placed<'a>>)> {
        let f = walk(e, path, &TRACE_LIST, self.r)?;
        let all = f.all("TraceHeader");
        self.bounded(all.len(), &f.path("TraceHeader"), false)?;
        let mut trace = Vec::with_capacity(all.len());
        for t in all {
            let tf = walk(t, &f.path("TraceHeader"), &TRACE, self.r)?;
            let opath = tf.path("OrganId");
            // Some platform hops write no organ, or the text `null`: a trace header is a
            // record of the way, not an address, so it is kept without one.
            let organ = match self.opt_text(&tf, "OrganId")? {
                Some(w) if !w.trim().eq_ignore_ascii_case("null") => {
                    Some(self.organ(&w, &opath, None)?)
                }
                _ => {
                    self.r.lenient(Leniency::TraceWithoutOrgan, &opath);
                    None
                }
            };
            trace.push(FieldTrace {
                organ,
                timestamp: self.opt_text(&tf, "Timestamp")?,
            });
        }
        let listed = f.opt("Bussiness").map(|b| (b, f.path("Bussiness")));
        if let Some((_, p)) = &listed {
            self.r.lenient(Leniency::BussinessInTraceList, p);
        }
        Ok((trace, listed))
    }

    /// `Bussiness` (inside `TraceHeaderList`, where the SDKs write it).
    fn business_of(&mut self, listed: Option<Placed<'_>>) -> Result<Option<Business>> {
        let Some((b, path)) = listed else {
            return Ok(None);
        };
        let f = walk(b, &path, &BUSINESS, self.r)?;
        let dpath = f.path("BussinessDocType");
        let doc_type = self
            .text(&f, "BussinessDocType")?
            .trim()
            .parse()
            .map_err(|e| EnvelopeError::value(&dpath, e))?;
        let mut replaces = Vec::new();
        if let Some(l) = f.opt("ReplacementInfoList") {
            let lf = walk(l, &f.path("ReplacementInfoList"), &REPLACEMENTS, self.r)?;
            for ri in lf.all("ReplacementInfo") {
                let rf = walk(ri, &lf.path("ReplacementInfo"), &REPLACEMENT, self.r)?;
                replaces.extend(self.opt_text(&rf, "DocumentId")?);
            }
        }
        Ok(Some(Business {
            doc_type,
            reason: self.opt_text(&f, "BussinessDocReason")?,
            replaces,
        }))
    }
}

// The value readers.
impl Values<'_, '_> {
    /// `n` items of `what` against `limit` (recipients or list items).
    fn bounded(&self, n: usize, what: &str, recipients: bool) -> Result<()> {
        let (limit_name, limit) = if recipients {
            ("max_recipients", self.limits.max_recipients)
        } else {
            ("max_list_items", self.limits.max_list_items)
        };
        if n > limit {
            return Err(EnvelopeError::LimitExceeded {
                what: what.to_owned(),
                limit_name,
                limit,
                actual: n,
            });
        }
        Ok(())
    }

    /// A required leaf's text.
    pub(super) fn text(&mut self, f: &Found<'_>, local: &str) -> Result<String> {
        leaf(
            f.req(local)?,
            &f.path(local),
            self.limits.max_field_chars,
            "max_field_chars",
        )
    }

    /// An optional leaf's text; an empty (or blank) element is absent.
    pub(super) fn opt_text(&mut self, f: &Found<'_>, local: &str) -> Result<Option<String>> {
        let Some(e) = f.opt(local) else {
            return Ok(None);
        };
        let path = f.path(local);
        let t = leaf(e, &path, self.limits.max_field_chars, "max_field_chars")?;
        if t.trim().is_empty() {
            self.r.lenient(Leniency::EmptyOptional, &path);
            return Ok(None);
        }
        Ok(Some(t))
    }

    /// An optional date in any of the forms the field writes.
    fn opt_date(&mut self, f: &Found<'_>, local: &str) -> Result<Option<EdxmlDate>> {
        let path = f.path(local);
        match self.opt_text(f, local)? {
            Some(t) => self.date(t.trim(), &path).map(Some),
            None => Ok(None),
        }
    }

    /// `yyyy/MM/dd` (the standard's) or `dd/MM/yyyy`.
    fn date(&mut self, t: &str, path: &str) -> Result<EdxmlDate> {
        if t.get(2..3) == Some("/") {
            self.r.lenient(Leniency::DayFirstDate, path);
        }
        t.parse::<EdxmlDate>()
            .map_err(|e| EnvelopeError::value(path, e))
    }

    /// `From`/`To`: the organ element.
    fn organ_element(&mut self, e: &super::Element, path: &str) -> Result<FieldOrgan> {
        let f = walk(e, path, &ORGAN, self.r)?;
        let written = self.text(&f, "OrganId")?;
        let name = self.opt_text(&f, "OrganName")?;
        self.organ(&written, &f.path("OrganId"), name)
    }

    /// An organ id as written: the standard's characters, and lower-case letters (normalised
    /// to upper case for comparison; the written form is kept).
    fn organ(&mut self, written: &str, path: &str, name: Option<String>) -> Result<FieldOrgan> {
        let upper = written.to_ascii_uppercase();
        let id: OrganId = upper.parse().map_err(|e| EnvelopeError::value(path, e))?;
        if upper != written {
            self.r.lenient(Leniency::LowercaseOrganId, path);
        }
        Ok(FieldOrgan {
            id,
            written: written.to_owned(),
            name,
        })
    }
}
