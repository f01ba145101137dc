#![allow(clippy::string_slice)]

use super::*;
use crate::doc::c14n::{Options, canonicalize};
use crate::doc::label::Level;
use crate::doc::types::ProcedureCode;

fn organ(id: &str, name: &str) -> Organization {
    Organization::new(id.parse().unwrap(), name)
}

fn sample() -> Envelope {
    let from = organ("HU.CHAUTHANH", "Văn phòng Huyện ủy Châu Thành");
    let date: EdxmlDate = "2017/03/21".parse().unwrap();
    let code = Code {
        number: "07".into(),
        notation: "NQ/ĐUK".into(),
    };
    Envelope {
        header: MessageHeader {
            document_id: compute_document_id(&from.organ_id, date, &code),
            from,
            to: vec![organ("TU.BENTRE", "Văn phòng Tỉnh ủy Bến Tre")],
            code,
            promulgation: PromulgationInfo {
                place: "Châu Thành".into(),
                date,
            },
            document_type: DocumentType {
                kind: "NQ".into(),
                name: "Nghị quyết".into(),
            },
            subject: "Về ứng dụng CNTT".into(),
            content: "Nội dung".into(),
            signer: SignerInfo {
                competence: "TM. BAN THƯỜNG VỤ".into(),
                position: "Bí thư".into(),
                full_name: "Nguyễn Văn An".into(),
            },
            due_date: Some("2017/04/01".parse().unwrap()),
            to_places: vec!["Lưu VP".into()],
            other: OtherInfo::new(Priority::Normal),
            response_for: vec![],
            steering_type: None,
            business_doc_type: BusinessDocType::New,
            ext: Extensions::default(),
        },
        trace: vec![TraceHeader {
            organ_id: "HU.CHAUTHANH".parse().unwrap(),
            timestamp: "2017/03/21 08:00:00".parse().unwrap(),
        }],
        label: Label {
            level: Level::Thuong,
            procedure: "VB-01".parse::<ProcedureCode>().unwrap(),
            public: true,
        },
        signature: None,
        header_ext: Extensions::default(),
        body: Body {
            attachments: vec![Attachment {
                content_id: "att-1".into(),
                file_name: "a.txt".into(),
                content_type: "text/plain".into(),
                data: b"hello".to_vec(),
            }],
            ext: Extensions::default(),
            sealed: None,
        },
    }
}

fn text_of(env: &Envelope) -> String {
    String::from_utf8(env.to_bytes()).unwrap()
}

fn read(xml: &str) -> Result<Envelope, EnvelopeError> {
    parse_envelope(xml.as_bytes(), &EnvelopeLimits::default()).map(|(_, e)| e)
}

fn read_with(xml: &str, limits: &EnvelopeLimits) -> Result<Envelope, EnvelopeError> {
    parse_envelope(xml.as_bytes(), limits).map(|(_, e)| e)
}

/// The sample with one replacement made (which must apply).
fn mutated(from: &str, to: &str) -> String {
    let t = text_of(&sample());
    assert!(t.contains(from), "sample has no {from:?}");
    t.replacen(from, to, 1)
}

#[test]
fn round_trip_is_equal_and_byte_stable() {
    let env = sample();
    let bytes = env.to_bytes();
    let (doc, back) = parse_envelope(&bytes, &EnvelopeLimits::default()).unwrap();
    assert_eq!(back, env);
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(
        canonicalize(&doc.root, &[], &Options::default()),
        canonicalize(&back.to_document().root, &[], &Options::default())
    );
}

#[test]
fn accessors_read_the_header() {
    let env = sample();
    assert_eq!(env.sender().as_str(), "HU.CHAUTHANH");
    assert_eq!(env.header.from.organ_id.as_str(), "HU.CHAUTHANH");
    assert_eq!(env.document_id(), "HU.CHAUTHANH,2017/03/21,07/NQ/ĐUK");
    assert_eq!(
        env.recipients().map(OrganId::as_str).collect::<Vec<_>>(),
        ["TU.BENTRE"]
    );
    assert_eq!(env.priority(), Priority::Normal);
    assert_eq!(env.subject(), "Về ứng dụng CNTT");
    assert_eq!(env.label().level, Level::Thuong);
}

#[test]
fn missing_label_is_refused_not_unclassified() {
    let t = text_of(&sample());
    let start = t.find("<lt:Classification>").unwrap();
    let end = t.find("</lt:Classification>").unwrap() + "</lt:Classification>".len();
    let stripped = format!("{}{}", &t[..start], &t[end..]);
    assert_eq!(read(&stripped), Err(EnvelopeError::MissingLabel));
}

#[test]
fn unknown_level_is_refused() {
    let x = mutated("<lt:Level>thuong", "<lt:Level>Thuong");
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::UnknownLevel { value, .. }) if value == "Thuong"
    ));
}

#[test]
fn label_parts_are_all_required_and_checked() {
    let x = mutated("<lt:Public>true</lt:Public>", "");
    assert!(matches!(read(&x), Err(EnvelopeError::Missing { path }) if path.ends_with("Public")));
    let x = mutated("<lt:Public>true", "<lt:Public>1");
    assert!(matches!(read(&x), Err(EnvelopeError::InvalidValue { .. })));
    let x = mutated("<lt:Procedure>VB-01", "<lt:Procedure>vb-01");
    assert!(matches!(read(&x), Err(EnvelopeError::InvalidValue { .. })));
    let x = mutated(
        "<lt:Public>true</lt:Public>",
        "<lt:Public>true</lt:Public><lt:Extra/>",
    );
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::UnexpectedElement { .. })
    ));
}

#[test]
fn invalid_organ_id_names_path_and_value() {
    let x = mutated("<OrganId>TU.BENTRE", "<OrganId>tu.bentre");
    assert_eq!(
        read(&x),
        Err(EnvelopeError::InvalidOrganId {
            path: "edXMLEnvelope/edXMLHeader/MessageHeader/To/OrganId".into(),
            value: "tu.bentre".into(),
        })
    );
}

#[test]
fn dates_bad_refused_and_dmy_accepted() {
    let x = mutated(
        "<PromulgationDate>2017/03/21",
        "<PromulgationDate>2017-03-21",
    );
    assert!(matches!(read(&x), Err(EnvelopeError::BadDate { value, .. }) if value == "2017-03-21"));
    let x = mutated(
        "<PromulgationDate>2017/03/21",
        "<PromulgationDate>21/03/2017",
    );
    let env = read(&x).unwrap();
    assert_eq!(env, sample());
    assert!(text_of(&env).contains("<PromulgationDate>2017/03/21<"));
}

#[test]
fn bad_priority_is_refused() {
    let x = mutated("<Priority>0", "<Priority>5");
    assert!(matches!(read(&x), Err(EnvelopeError::BadPriority { value, .. }) if value == "5"));
}

#[test]
fn structure_errors_are_named() {
    let x = mutated("<Content>Nội dung</Content>", "");
    assert!(matches!(read(&x), Err(EnvelopeError::Missing { path }) if path.ends_with("/Content")));
    let x = mutated("<Content>", "<Subject>x</Subject><Content>");
    assert!(matches!(read(&x), Err(EnvelopeError::Duplicate { .. })));
    let x = mutated("<BussinessDocType>0</BussinessDocType>", "");
    let x = x.replacen(
        "<DocumentId>",
        "<BussinessDocType>0</BussinessDocType><DocumentId>",
        1,
    );
    assert!(matches!(read(&x), Err(EnvelopeError::OutOfOrder { .. })));
    let x = mutated("<Subject>", "<f:X xmlns:f=\"urn:f\"/><Subject>");
    assert!(matches!(read(&x), Err(EnvelopeError::ForeignElement { ns, .. }) if ns == "urn:f"));
    let x = mutated("<Subject>", "<X xmlns=\"\"/><Subject>");
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::ForeignElement { .. })
    ));
    let x = mutated("<CodeNumber>", "<Unknown/><CodeNumber>");
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::UnexpectedElement { .. })
    ));
    let x = mutated("<Subject>", "<Subject lang=\"vi\">");
    assert!(
        matches!(read(&x), Err(EnvelopeError::UnexpectedAttribute { name, .. }) if name == "lang")
    );
    let x = mutated("<Subject>", "stray<Subject>");
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::UnexpectedText { .. })
    ));
    let x = mutated("<Subject>Về", "<Subject><b/>Về");
    assert!(matches!(read(&x), Err(EnvelopeError::NotText { .. })));
    let x = mutated(
        "<DocumentId>HU.CHAUTHANH,2017/03/21,07/NQ/ĐUK<",
        "<DocumentId><",
    );
    assert!(matches!(read(&x), Err(EnvelopeError::InvalidValue { .. })));
    assert!(matches!(
        read("<edXMLEnvelope/>"),
        Err(EnvelopeError::NotEnvelope { .. })
    ));
    assert!(matches!(read("<a"), Err(EnvelopeError::Parse(_))));
}

#[test]
fn unknown_edxml_elements_are_kept_in_place() {
    let x = mutated("<Subject>", "<Extra a=\"1\">x<Inner/></Extra><Subject>");
    let x = x.replacen("</edXMLBody>", "<Tail/></edXMLBody>", 1);
    let x = x.replacen(
        "<OrganName>Văn phòng Tỉnh",
        "<OrganCode>9</OrganCode><OrganName>Văn phòng Tỉnh",
        1,
    );
    let env = read(&x).unwrap();
    let ext = &env.header.ext.0;
    assert_eq!(ext.len(), 1);
    assert_eq!(ext[0].element.local, "Extra");
    // From, To, Code, PromulgationInfo, DocumentType precede Subject.
    assert_eq!(ext[0].position, 5);
    assert_eq!(env.body.ext.0[0].position, 2);
    assert_eq!(env.header.to[0].ext.0[0].position, 1);
    let again = read(&String::from_utf8(env.to_bytes()).unwrap()).unwrap();
    assert_eq!(again, env);
    assert_eq!(again.to_bytes(), env.to_bytes());
}

#[test]
fn kept_elements_carry_the_declarations_they_use() {
    // The received document uses prefixes declared on the root.
    let x = text_of(&sample())
        .replacen(
            "<edXMLEnvelope xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"",
            "<edXMLEnvelope xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\" \
             xmlns:e=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\" xmlns:f=\"urn:f\"",
            1,
        )
        .replacen(
            "<Subject>",
            "<e:Extra f:a=\"1\"><f:in/></e:Extra><Subject>",
            1,
        );
    let (doc, env) = parse_envelope(x.as_bytes(), &EnvelopeLimits::default()).unwrap();
    let kept = &env.header.ext.0[0].element;
    let prefixes: Vec<_> = kept.ns_decls.iter().map(|d| d.prefix.clone()).collect();
    assert_eq!(prefixes, [Some("e".to_owned()), Some("f".to_owned())]);
    // Same exclusive c14n of the kept element in the original and in the re-written document.
    let find = |d: &Document| {
        canonicalize(
            d.root
                .child(EDXML_NS, "edXMLHeader")
                .unwrap()
                .child(EDXML_NS, "MessageHeader")
                .unwrap()
                .child(EDXML_NS, "Extra")
                .unwrap(),
            &d.root.ns_decls,
            &Options::default(),
        )
    };
    let rewritten = crate::doc::parse(&env.to_bytes(), &Limits::default()).unwrap();
    assert_eq!(find(&doc), find(&rewritten));
}

#[test]
fn signature_is_kept_opaque() {
    let x = mutated(
        "</lt:Classification>",
        "</lt:Classification><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
         <ds:SignatureValue>AAAA</ds:SignatureValue><other xmlns=\"urn:x\"/></ds:Signature>",
    );
    let env = read(&x).unwrap();
    let sig = env.signature.as_ref().unwrap();
    assert!(sig.is(DSIG_NS, "Signature"));
    assert_eq!(read(&text_of(&env)).unwrap(), env);
    // A second signature is refused.
    let x = x.replacen(
        "</edXMLHeader>",
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></edXMLHeader>",
        1,
    );
    assert!(matches!(read(&x), Err(EnvelopeError::Duplicate { .. })));
}

#[test]
fn attachment_checks() {
    let x = mutated("<Size>5<", "<Size>6<");
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::SizeMismatch {
            declared: 6,
            actual: 5,
            ..
        })
    ));
    // "hellp" instead of "hello": same size, other digest.
    let x = mutated("aGVsbG8=", "aGVsbHA=");
    assert_eq!(
        read(&x),
        Err(EnvelopeError::DigestMismatch {
            content_id: "att-1".into(),
            file_name: "a.txt".into()
        })
    );
    let x = mutated("aGVsbG8=", "aGVs*G8=");
    assert!(matches!(read(&x), Err(EnvelopeError::BadBase64 { .. })));
    let x = mutated(
        "Attachment ContentId=\"att-1\"",
        "Attachment ContentId=\"att-2\"",
    );
    assert!(matches!(
        read(&x),
        Err(EnvelopeError::AttachmentMismatch { .. })
    ));
    let x = mutated("<FileName>a.txt", "<FileName>../a.txt");
    assert!(matches!(read(&x), Err(EnvelopeError::InvalidValue { .. })));
    let x = mutated("<ContentType>text/plain", "<ContentType>text");
    assert!(matches!(read(&x), Err(EnvelopeError::InvalidValue { .. })));
    // Whitespace inside the base64 is ignored.
    let x = mutated("aGVsbG8=", "aGVs\n  bG8=");
    assert_eq!(read(&x).unwrap(), sample());

    let mut two = sample();
    let again = two.body.attachments[0].clone();
    two.body.attachments.push(again);
    assert!(matches!(
        read(&text_of(&two)),
        Err(EnvelopeError::DuplicateContentId { .. })
    ));
    let mut none = sample();
    none.body.attachments.clear();
    let t = text_of(&none).replacen(
        "<edXMLManifest/>",
        "<edXMLManifest/><Attachment ContentId=\"x\"/>",
        1,
    );
    assert!(matches!(
        read(&t),
        Err(EnvelopeError::AttachmentMismatch { .. })
    ));
}

fn limited(env: &Envelope, limits: &EnvelopeLimits) -> Result<Envelope, EnvelopeError> {
    read_with(&text_of(env), limits)
}

fn is_limit(r: Result<Envelope, EnvelopeError>, name: &str) -> bool {
    matches!(r, Err(EnvelopeError::LimitExceeded { limit_name, .. }) if limit_name == name)
}

#[test]
fn limits_hold_at_n_and_refuse_n_plus_1() {
    let base = EnvelopeLimits::default();

    let mut env = sample();
    env.header.to = (0..3).map(|i| organ(&format!("X{i}"), "x")).collect();
    let l = EnvelopeLimits {
        max_recipients: 3,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_recipients: 2,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_recipients"));

    let mut env = sample();
    env.body.attachments = (0..3)
        .map(|i| Attachment {
            content_id: format!("a{i}"),
            file_name: "f".into(),
            content_type: "a/b".into(),
            data: vec![7; 10],
        })
        .collect();
    let l = EnvelopeLimits {
        max_attachments: 3,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_attachments: 2,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_attachments"));
    let l = EnvelopeLimits {
        max_attachment_bytes: 10,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_attachment_bytes: 9,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_attachment_bytes"));
    let l = EnvelopeLimits {
        max_total_attachment_bytes: 30,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_total_attachment_bytes: 29,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_total_attachment_bytes"));

    let mut env = sample();
    env.header.subject = "ạ".repeat(10);
    env.header.content = "ư".repeat(20);
    env.header.to_places = vec!["p".into(); 4];
    let l = EnvelopeLimits {
        max_subject_chars: 10,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_subject_chars: 9,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_subject_chars"));
    let l = EnvelopeLimits {
        max_content_chars: 20,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_content_chars: 19,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_content_chars"));
    let l = EnvelopeLimits {
        max_list_items: 4,
        ..base.clone()
    };
    assert!(limited(&env, &l).is_ok());
    let l = EnvelopeLimits {
        max_list_items: 3,
        ..base.clone()
    };
    assert!(is_limit(limited(&env, &l), "max_list_items"));

    // The longest field of the sample is the manifest Digest: 44 characters of base64.
    let longest = sample().body.attachments[0].digest_b64().len();
    assert_eq!(longest, 44);
    let l = EnvelopeLimits {
        max_field_chars: longest,
        ..base.clone()
    };
    assert!(limited(&sample(), &l).is_ok());
    let l = EnvelopeLimits {
        max_field_chars: longest - 1,
        ..base
    };
    assert!(is_limit(limited(&sample(), &l), "max_field_chars"));
}

#[test]
fn attachment_debug_hides_bytes() {
    let a = &sample().body.attachments[0];
    let d = format!("{a:?}");
    assert!(d.contains("size: 5") && !d.contains("104"), "{d}");
}

#[test]
fn another_layout_reads_the_same_and_is_rewritten_in_ours() {
    let ours = text_of(&sample());
    // No indentation, comments, a prefixed label namespace of another name, dd/MM/yyyy.
    let theirs = ours
        .replace("\n", "")
        .replace("  ", "")
        .replacen("<Subject>", "<!-- trích yếu --><Subject>", 1)
        .replace("lt:", "nhan:")
        .replace("xmlns:lt=", "xmlns:nhan=")
        .replacen(
            "<PromulgationDate>2017/03/21",
            "<PromulgationDate>21/03/2017",
            1,
        );
    assert_ne!(theirs, ours);
    let env = read(&theirs).unwrap();
    assert_eq!(env, sample());
    assert_eq!(text_of(&env), ours);
}
