//! Writing the typed envelope back to a tree, in lienthong's one layout: the edXML namespace
//! as the default namespace, `lt` for the label, two-space indentation, leaf text inline.

use base64::Engine as _;

use super::{
    Attachment, Body, EDXML_NS, Envelope, Extensions, MessageHeader, Organization, OtherInfo,
    ResponseFor, TraceHeader,
};
use crate::doc::label::{LABEL_NS, LABEL_PREFIX, Label};
use crate::doc::tree::{Document, Element, Node, NsDecl};

pub(super) fn document(env: &Envelope) -> Document {
    let header = container(
        "edXMLHeader",
        vec![
            message_header(&env.header, 2),
            trace(&env.trace, 2),
            label(&env.label, 2),
        ]
        .into_iter()
        .chain(env.signature.clone())
        .collect(),
        &env.header_ext,
        1,
    );
    let mut root = container(
        "edXMLEnvelope",
        vec![header, body(&env.body, 1)],
        &Extensions::default(),
        0,
    );
    root.ns_decls = vec![
        NsDecl {
            prefix: None,
            uri: EDXML_NS.to_owned(),
        },
        NsDecl {
            prefix: Some(LABEL_PREFIX.to_owned()),
            uri: LABEL_NS.to_owned(),
        },
    ];
    Document {
        root,
        comments_outside_root: 0,
    }
}

fn indent(depth: usize) -> Node {
    Node::Text(format!("\n{}", "  ".repeat(depth)))
}

/// An edXML element holding `known` children (in order) and the kept extensions, each put
/// back before the known child it preceded when read.
fn container(local: &str, known: Vec<Element>, ext: &Extensions, depth: usize) -> Element {
    let mut e = Element::new(None, local, Some(EDXML_NS));
    let n = known.len();
    let push = |e: &mut Element, c: Element| {
        e.children.push(indent(depth + 1));
        e.children.push(Node::Element(c));
    };
    for (i, k) in known.into_iter().enumerate() {
        for x in ext.0.iter().filter(|x| x.position == i) {
            push(&mut e, x.element.clone());
        }
        push(&mut e, k);
    }
    for x in ext.0.iter().filter(|x| x.position >= n) {
        push(&mut e, x.element.clone());
    }
    if !e.children.is_empty() {
        e.children.push(indent(depth));
    }
    e
}

fn leaf(local: &str, text: &str) -> Element {
    let mut e = Element::new(None, local, Some(EDXML_NS));
    if !text.is_empty() {
        e.push_text(text);
    }
    e
}

fn opt_leaf(out: &mut Vec<Element>, local: &str, text: Option<&str>) {
    if let Some(t) = text {
        out.push(leaf(local, t));
    }
}

fn organization(local: &str, o: &Organization, depth: usize) -> Element {
    let mut k = vec![
        leaf("OrganId", o.organ_id.as_str()),
        leaf("OrganName", &o.organ_name),
    ];
    opt_leaf(&mut k, "OrganAdd", o.organ_add.as_deref());
    opt_leaf(&mut k, "Email", o.email.as_deref());
    opt_leaf(&mut k, "Telephone", o.telephone.as_deref());
    opt_leaf(&mut k, "Fax", o.fax.as_deref());
    opt_leaf(&mut k, "Website", o.website.as_deref());
    container(local, k, &o.ext, depth)
}

fn closed(local: &str, known: Vec<Element>, depth: usize) -> Element {
    container(local, known, &Extensions::default(), depth)
}

fn message_header(h: &MessageHeader, depth: usize) -> Element {
    let d = depth + 1;
    let mut k = vec![organization("From", &h.from, d)];
    k.extend(h.to.iter().map(|t| organization("To", t, d)));
    k.push(closed(
        "Code",
        vec![
            leaf("CodeNumber", &h.code.number),
            leaf("CodeNotation", &h.code.notation),
        ],
        d,
    ));
    k.push(closed(
        "PromulgationInfo",
        vec![
            leaf("Place", &h.promulgation.place),
            leaf("PromulgationDate", &h.promulgation.date.to_string()),
        ],
        d,
    ));
    k.push(closed(
        "DocumentType",
        vec![
            leaf("Type", &h.document_type.kind),
            leaf("TypeName", &h.document_type.name),
        ],
        d,
    ));
    k.push(leaf("Subject", &h.subject));
    k.push(leaf("Content", &h.content));
    k.push(closed(
        "SignerInfo",
        vec![
            leaf("Competence", &h.signer.competence),
            leaf("Position", &h.signer.position),
            leaf("FullName", &h.signer.full_name),
        ],
        d,
    ));
    opt_leaf(
        &mut k,
        "DueDate",
        h.due_date.map(|x| x.to_string()).as_deref(),
    );
    k.push(closed(
        "ToPlaces",
        h.to_places.iter().map(|p| leaf("Place", p)).collect(),
        d,
    ));
    k.push(other_info(&h.other, d));
    k.extend(h.response_for.iter().map(|r| response_for(r, d)));
    opt_leaf(&mut k, "SteeringType", h.steering_type.as_deref());
    k.push(leaf("DocumentId", &h.document_id));
    k.push(leaf("BussinessDocType", &h.business_doc_type.to_string()));
    container("MessageHeader", k, &h.ext, depth)
}

fn other_info(o: &OtherInfo, depth: usize) -> Element {
    let mut k = vec![leaf("Priority", &o.priority.to_string())];
    opt_leaf(
        &mut k,
        "SphereOfPromulgation",
        o.sphere_of_promulgation.as_deref(),
    );
    opt_leaf(&mut k, "TyperNotation", o.typer_notation.as_deref());
    opt_leaf(
        &mut k,
        "PromulgationAmount",
        o.promulgation_amount.map(|n| n.to_string()).as_deref(),
    );
    opt_leaf(
        &mut k,
        "PageAmount",
        o.page_amount.map(|n| n.to_string()).as_deref(),
    );
    container("OtherInfo", k, &o.ext, depth)
}

fn response_for(r: &ResponseFor, depth: usize) -> Element {
    closed(
        "ResponseFor",
        vec![
            leaf("OrganId", r.organ_id.as_str()),
            leaf("Code", &r.code),
            leaf("PromulgationDate", &r.promulgation_date.to_string()),
            leaf("DocumentId", &r.document_id),
        ],
        depth,
    )
}

fn trace(t: &[TraceHeader], depth: usize) -> Element {
    closed(
        "TraceHeaderList",
        t.iter()
            .map(|h| {
                closed(
                    "TraceHeader",
                    vec![
                        leaf("OrganId", h.organ_id.as_str()),
                        leaf("Timestamp", &h.timestamp.to_string()),
                    ],
                    depth + 1,
                )
            })
            .collect(),
        depth,
    )
}

fn label(l: &Label, depth: usize) -> Element {
    let lt = |local: &str, text: &str| {
        Element::new(Some(LABEL_PREFIX), local, Some(LABEL_NS)).with_text(text)
    };
    let mut e = Element::new(Some(LABEL_PREFIX), "Classification", Some(LABEL_NS));
    for c in [
        lt("Level", l.level.token()),
        lt("Procedure", l.procedure.as_str()),
        lt("Public", if l.public { "true" } else { "false" }),
    ] {
        e.children.push(indent(depth + 1));
        e.children.push(Node::Element(c));
    }
    e.children.push(indent(depth));
    e
}

fn body(b: &Body, depth: usize) -> Element {
    let manifest = closed(
        "edXMLManifest",
        b.attachments
            .iter()
            .map(|a| reference(a, depth + 2))
            .collect(),
        depth + 1,
    );
    let mut k = vec![manifest];
    k.extend(b.attachments.iter().map(|a| {
        let mut e = leaf(
            "Attachment",
            &base64::engine::general_purpose::STANDARD.encode(&a.data),
        );
        e.set_attr("ContentId", a.content_id.clone());
        e
    }));
    k.extend(b.sealed.clone());
    container("edXMLBody", k, &b.ext, depth)
}

fn reference(a: &Attachment, depth: usize) -> Element {
    closed(
        "Reference",
        vec![
            leaf("ContentId", &a.content_id),
            leaf("FileName", &a.file_name),
            leaf("ContentType", &a.content_type),
            leaf("Digest", &a.digest_b64()),
            leaf("Size", &a.data.len().to_string()),
        ],
        depth,
    )
}
