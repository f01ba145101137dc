//! `lienthong doc show` of a document in the field form (edXML as the national platform's SDKs
//! write it): what was read, which leniencies it needed, and why it counts as unsigned.

use lienthong::doc::envelope::field::{
    FieldDocument, FieldHeader, FieldMessage, FieldOrgan, FieldStatus, SignatureShape,
};
use lienthong::doc::label::Level;
use serde_json::{Value, json};

/// What may be shown: a document without a label is withheld like a classified one (no label
/// is never "unclassified"), unless `--content`.
fn withheld(d: &FieldDocument, reveal: bool) -> bool {
    !reveal && d.label.as_ref().is_none_or(|l| l.level > Level::Thuong)
}

fn organ(o: &FieldOrgan) -> Value {
    json!({ "organ_id": o.id, "written": o.written, "name": o.name })
}

/// `doc show --json` of a field document.
pub(crate) fn json(d: &FieldDocument, reveal: bool) -> Value {
    let hide = withheld(d, reveal);
    let mut v = json!({
        "profile": "field",
        "wrapped": d.wrapped,
        "from": organ(d.sender()),
        "label": d.label,
        "withheld": hide,
        "signed": matches!(d.signature, SignatureShape::XmlDsig),
        "signature": d.signature,
        "attachments": d.attachments.iter().map(|a| json!({
            "content_id": a.content_id, "file_name": a.name,
            "content_type": a.content_type, "size": a.data.len(),
        })).collect::<Vec<_>>(),
        "trace": d.trace,
        "business": d.business.as_ref().map(|b| json!({
            "doc_type": b.doc_type.code(), "name": b.doc_type.name_en(),
            "reason": b.reason, "replaces": b.replaces,
        })),
        "leniencies": d.reading.leniencies.iter()
            .map(|(l, p)| (l.name().to_owned(), Value::from(p.as_str())))
            .collect::<serde_json::Map<_, _>>(),
        "kept": d.reading.kept,
    });
    let extra = match &d.message {
        FieldMessage::Document(h) => document(h, hide, reveal),
        FieldMessage::Status(s) => status(s),
    };
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn document(h: &FieldHeader, hide: bool, reveal: bool) -> Value {
    json!({
        "kind": "document",
        "document_id": h.document_id,
        "to": h.to.iter().map(organ).collect::<Vec<_>>(),
        "code_number": h.code_number,
        "code_notation": h.code_notation,
        "date": h.promulgation_date,
        "type": h.type_name,
        "subject": (!hide).then_some(&h.subject),
        "content": reveal.then_some(&h.content),
        "due_date": h.due_date,
        "priority": h.priority.map(|p| p.code()),
        "response_for": h.response_for,
    })
}

fn status(s: &FieldStatus) -> Value {
    json!({
        "kind": "status",
        "status": {
            "code": s.code,
            "meaning": s.known.map(|k| k.meaning_en()),
            "description": s.description,
            "timestamp": s.timestamp,
            "staff": s.staff,
        },
        "response_for": s.response_for,
    })
}

/// `doc show` (text) of a field document.
pub(crate) fn text(d: &FieldDocument, reveal: bool) -> String {
    let hide = withheld(d, reveal);
    let mut s = String::new();
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<12}{v}\n"));
    line(
        "Profile:",
        "field form (edXML as the platform's SDKs write it)",
    );
    let o = d.sender();
    line(
        "From:",
        &format!("{} ({})", o.written, o.name.as_deref().unwrap_or("")),
    );
    match &d.message {
        FieldMessage::Document(h) => {
            for t in &h.to {
                line(
                    "To:",
                    &format!("{} ({})", t.written, t.name.as_deref().unwrap_or("")),
                );
            }
            line("Number:", &format!("{}/{}", h.code_number, h.code_notation));
            if let Some(id) = &h.document_id {
                line("Document:", id);
            }
            let subject = if hide {
                "(no label or classified: use --content)"
            } else {
                &h.subject
            };
            line("Subject:", subject);
        }
        FieldMessage::Status(st) => {
            let meaning = st
                .known
                .map_or("(not in lienthong's model)", |k| k.meaning_en());
            line("Status:", &format!("{} {meaning}", st.code));
            let about = st
                .response_for
                .document_id
                .as_deref()
                .or(st.response_for.code.as_deref());
            line("About:", about.unwrap_or("(not named)"));
        }
    }
    line(
        "Label:",
        d.label
            .as_ref()
            .map_or("none (never taken as unclassified)".to_owned(), |l| {
                l.level.token().to_owned()
            })
            .as_str(),
    );
    line(
        "Signed:",
        match &d.signature {
            SignatureShape::XmlDsig => "XML-DSig signature present (verify with lienthong verify)",
            SignatureShape::Lookalike { .. } => "no: an edXML-namespace Signature is not XML-DSig",
            SignatureShape::None => "no",
        },
    );
    line("Attachments:", &d.attachments.len().to_string());
    for (l, p) in &d.reading.leniencies {
        line("Leniency:", &format!("{} at {p}", l.name()));
    }
    s
}
