//! `edXMLBody/edXMLManifest` and the parts in `AttachmentEncoded`, tied one to one by content
//! id.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;

use super::walk::{Found, Rules, any, leaf, one, opt, walk};
use super::{Element, FieldAttachment, Leniency, Reading};
use crate::doc::envelope::read::decode_base64;
use crate::doc::envelope::{EnvelopeError, EnvelopeLimits, XENC_NS};

type Result<T> = std::result::Result<T, EnvelopeError>;

static BODY: Rules = Rules {
    slots: &[
        one("edXMLManifest"),
        super::walk::Slot {
            ns: XENC_NS,
            local: "EncryptedData",
            required: false,
            many: false,
        },
    ],
    inversions: &[],
    attrs: &[],
    keep_unknown: true,
    free_order: None,
};

static MANIFEST: Rules = Rules {
    slots: &[any("Reference")],
    inversions: &[],
    attrs: &[("", "version", Leniency::ManifestVersion)],
    keep_unknown: false,
    free_order: None,
};

/// A manifest `Reference`: the SDKs write its children in more than one order, and the
/// standard's text fixes none, so any order is accepted (each at most once).
static REFERENCE: Rules = Rules {
    slots: &[
        opt("ContentId"),
        opt("AttachmentName"),
        opt("Description"),
        opt("ContentType"),
        opt("Digest"),
    ],
    inversions: &[],
    attrs: &[],
    keep_unknown: true,
    free_order: Some(Leniency::ChildOrder),
};

static PARTS: Rules = Rules {
    slots: &[any("Attachment")],
    inversions: &[],
    attrs: &[],
    keep_unknown: false,
    free_order: None,
};

static PART: Rules = Rules {
    slots: &[
        one("ContentId"),
        opt("AttachmentName"),
        opt("Description"),
        opt("ContentType"),
        one("ContentTransferEncoded"),
    ],
    inversions: &[],
    attrs: &[],
    keep_unknown: true,
    free_order: Some(Leniency::ChildOrder),
};

/// One manifest entry.
struct Entry {
    cid: String,
    name: Option<String>,
    content_type: Option<String>,
    description: Option<String>,
    digest: Option<Vec<u8>>,
}

/// The attachments: the manifest's entries, in order, each with its part.
pub(super) fn attachments(
    envelope: &Element,
    parts: Option<&Element>,
    limits: &EnvelopeLimits,
    r: &mut Reading,
) -> Result<Vec<FieldAttachment>> {
    // No body (a status message): then no part may be there either.
    let Some(body) = envelope.child(crate::doc::envelope::EDXML_NS, "edXMLBody") else {
        let mut data = decoded_parts(parts, limits, r)?;
        return match data.drain().map(|(cid, _)| cid).min() {
            Some(content_id) => Err(EnvelopeError::UnlistedPart { content_id }),
            None => Ok(Vec::new()),
        };
    };
    let b = walk(body, "edXMLEnvelope/edXMLBody", &BODY, r)?;
    let m = walk(
        b.req("edXMLManifest")?,
        &b.path("edXMLManifest"),
        &MANIFEST,
        r,
    )?;
    let refs = m.all("Reference");
    if refs.len() > limits.max_attachments {
        return Err(EnvelopeError::LimitExceeded {
            what: "attachments".to_owned(),
            limit_name: "max_attachments",
            limit: limits.max_attachments,
            actual: refs.len(),
        });
    }
    let mut entries = Vec::with_capacity(refs.len());
    let mut seen = HashSet::new();
    for e in refs {
        let entry = reference(e, &m.path("Reference"), limits, r)?;
        if !seen.insert(entry.cid.clone()) {
            return Err(EnvelopeError::DuplicateContentId {
                content_id: entry.cid,
            });
        }
        entries.push(entry);
    }
    let mut data = decoded_parts(parts, limits, r)?;
    let out = tie(entries, &mut data, limits, r)?;
    if let Some(cid) = data.keys().min() {
        return Err(EnvelopeError::UnlistedPart {
            content_id: cid.clone(),
        });
    }
    Ok(out)
}

/// Each entry takes its part out of `data`; what is left was named by no entry.
fn tie(
    entries: Vec<Entry>,
    data: &mut HashMap<String, Vec<u8>>,
    limits: &EnvelopeLimits,
    r: &mut Reading,
) -> Result<Vec<FieldAttachment>> {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let bytes = data
            .remove(&e.cid)
            .ok_or_else(|| EnvelopeError::MissingPart {
                content_id: e.cid.clone(),
            })?;
        let name = e.name.clone().unwrap_or_else(|| e.cid.clone());
        match &e.digest {
            Some(d) => {
                let computed = ring::digest::digest(&ring::digest::SHA256, &bytes);
                if computed.as_ref() != d.as_slice() {
                    return Err(EnvelopeError::DigestMismatch {
                        content_id: e.cid,
                        file_name: name,
                    });
                }
            }
            None => r.lenient(Leniency::NoDigest, &format!("cid:{}", e.cid)),
        }
        total = total.saturating_add(bytes.len());
        if total > limits.max_total_attachment_bytes {
            return Err(EnvelopeError::LimitExceeded {
                what: "attachments (decoded, together)".to_owned(),
                limit_name: "max_total_attachment_bytes",
                limit: limits.max_total_attachment_bytes,
                actual: total,
            });
        }
        out.push(FieldAttachment {
            content_id: e.cid,
            name,
            content_type: e.content_type,
            description: e.description,
            data: bytes,
        });
    }
    Ok(out)
}

fn reference(e: &Element, path: &str, limits: &EnvelopeLimits, r: &mut Reading) -> Result<Entry> {
    let f = walk(e, path, &REFERENCE, r)?;
    let Some(written) = opt_leaf(&f, "ContentId", limits)? else {
        return Err(EnvelopeError::Missing {
            path: f.path("ContentId"),
        });
    };
    let cid = bare_cid(&written, &f.path("ContentId"), r)?;
    let digest = match opt_leaf(&f, "Digest", limits)? {
        Some(t) => Some(sha256_digest(&t, &f.path("Digest"))?),
        None => None,
    };
    Ok(Entry {
        cid,
        name: opt_leaf(&f, "AttachmentName", limits)?,
        content_type: opt_leaf(&f, "ContentType", limits)?,
        description: opt_leaf(&f, "Description", limits)?,
        digest,
    })
}

/// A manifest `Digest`: the base64 of a SHA-256 digest.
fn sha256_digest(t: &str, path: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(t.trim().as_bytes())
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| EnvelopeError::InvalidValue {
            path: path.to_owned(),
            value: t.to_owned(),
            reason: "expected the base64 of a 32-byte SHA-256 digest".to_owned(),
        })
}

/// The parts, decoded, by bare content id.
fn decoded_parts(
    parts: Option<&Element>,
    limits: &EnvelopeLimits,
    r: &mut Reading,
) -> Result<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    let Some(parts) = parts else {
        return Ok(out);
    };
    let p = walk(parts, "edXML/AttachmentEncoded", &PARTS, r)?;
    let all = p.all("Attachment");
    if all.len() > limits.max_attachments {
        return Err(EnvelopeError::LimitExceeded {
            what: "attachments".to_owned(),
            limit_name: "max_attachments",
            limit: limits.max_attachments,
            actual: all.len(),
        });
    }
    for a in all {
        let f = walk(a, &p.path("Attachment"), &PART, r)?;
        let path = f.path("ContentId");
        let written = leaf(
            f.req("ContentId")?,
            &path,
            limits.max_field_chars,
            "max_field_chars",
        )?;
        let cid = bare_cid(&written, &path, r)?;
        let enc = f.req("ContentTransferEncoded")?;
        let data = decode_base64(&enc.text(), &cid, limits)?;
        if out.insert(cid.clone(), data).is_some() {
            return Err(EnvelopeError::DuplicateContentId { content_id: cid });
        }
    }
    Ok(out)
}

fn opt_leaf(f: &Found<'_>, local: &str, limits: &EnvelopeLimits) -> Result<Option<String>> {
    f.opt(local)
        .map(|e| leaf(e, &f.path(local), limits.max_field_chars, "max_field_chars"))
        .transpose()
        .map(|t| t.filter(|s| !s.trim().is_empty()))
}

/// A content id without its `cid:` scheme (RFC 2392), checked to be a token a log line and a
/// URI can carry.
fn bare_cid(written: &str, path: &str, r: &mut Reading) -> Result<String> {
    let t = written.trim();
    let bare = match t.strip_prefix("cid:") {
        Some(b) => {
            r.lenient(Leniency::CidPrefix, path);
            b
        }
        None => t,
    };
    crate::doc::envelope::read::check_content_id(bare, path)?;
    Ok(bare.to_owned())
}
