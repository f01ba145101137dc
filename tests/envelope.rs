#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! The edXML envelope end to end: the examples, the XSD (checked with xmllint), the
//! `lienthong doc` commands, and property tests of the round trip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lienthong::doc::c14n::{Options, canonicalize};
use lienthong::doc::envelope::{
    Attachment, Body, Code, DocumentType, EDXML_NS, Envelope, EnvelopeLimits, Extension,
    Extensions, MessageHeader, Organization, OtherInfo, PromulgationInfo, ResponseFor, SignerInfo,
    TraceHeader, compute_document_id, parse_envelope,
};
use lienthong::doc::label::{Label, Level};
use lienthong::doc::types::{BusinessDocType, EdxmlDate, EdxmlTimestamp, Priority};
use lienthong::doc::{Element, NsDecl, parse};
use proptest::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("schemas/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    assert!(v.len() >= 3, "expected at least 3 examples, found {v:?}");
    v
}

/// Validates `file` against the XSD with xmllint. A missing xmllint fails the test: the schema
/// check is part of what this file promises (install libxml2-utils).
fn xmllint(file: &Path) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(root().join("schemas/edxml-envelope.xsd"))
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is required for these tests (apt-get install libxml2-utils): {e}")
        });
    assert!(
        out.status.success(),
        "{} does not validate against the XSD:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn xmllint_bytes(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("doc.xml");
    std::fs::write(&p, bytes).unwrap();
    xmllint(&p);
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn c14n_of(bytes: &[u8]) -> Vec<u8> {
    let doc = parse(bytes, &Default::default()).unwrap();
    canonicalize(&doc.root, &[], &Options::default())
}

// === examples and schema ===

#[test]
fn every_example_validates_with_xsd_and_reader() {
    for p in examples() {
        xmllint(&p);
        let bytes = std::fs::read(&p).unwrap();
        parse_envelope(&bytes, &EnvelopeLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn examples_are_in_lienthong_layout_byte_for_byte() {
    for p in examples() {
        let bytes = std::fs::read(&p).unwrap();
        let (doc, env) = parse_envelope(&bytes, &EnvelopeLimits::default()).unwrap();
        assert_eq!(env.to_bytes(), bytes, "{}", p.display());
        assert_eq!(
            canonicalize(&env.to_document().root, &[], &Options::default()),
            canonicalize(&doc.root, &[], &Options::default())
        );
    }
}

#[test]
fn examples_say_what_their_names_say() {
    let read = |name: &str| {
        let bytes = std::fs::read(root().join("schemas/examples").join(name)).unwrap();
        parse_envelope(&bytes, &EnvelopeLimits::default())
            .unwrap()
            .1
    };
    let nq = read("nghi-quyet-07-NQ-DUK.xml");
    assert_eq!(nq.sender().as_str(), "HU.CHAUTHANH");
    assert_eq!(nq.recipients().next().unwrap().as_str(), "TU.BENTRE");
    assert_eq!(
        (
            nq.header.code.number.as_str(),
            nq.header.code.notation.as_str()
        ),
        ("07", "NQ/ĐUK")
    );
    assert_eq!(nq.label().level, Level::Thuong);
    assert!(nq.label().public);
    assert_eq!(nq.label().procedure.as_str(), "VB-01");
    assert_eq!(nq.document_id(), "HU.CHAUTHANH,2017/03/21,07/NQ/ĐUK");

    let tb = read("thong-bao-hoa-toc.xml");
    assert_eq!(tb.priority(), Priority::Express);
    assert_eq!(tb.recipients().next().unwrap().as_str(), "VPTW");

    let bc = read("bao-cao-mat.xml");
    assert_eq!(bc.label().level, Level::Mat);
    assert!(!bc.label().public);
    assert_eq!(bc.label().procedure.as_str(), "TCCB-05");
    assert_eq!(bc.body.attachments.len(), 1);
    let want =
        std::fs::read(root().join("schemas/examples/attachments/danh-sach-quy-hoach.txt")).unwrap();
    assert_eq!(bc.body.attachments[0].data, want);
}

#[test]
fn examples_are_remade_identically_by_their_script() {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new("sh")
        .arg(root().join("schemas/examples/make-examples.sh"))
        .arg(BIN)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    for p in examples() {
        let made = std::fs::read(dir.path().join(p.file_name().unwrap())).unwrap();
        assert_eq!(made, std::fs::read(&p).unwrap(), "{} differs", p.display());
    }
}

#[test]
fn xsd_refuses_what_the_reader_refuses() {
    let bytes = std::fs::read(root().join("schemas/examples/thong-bao-hoa-toc.xml")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    for (from, to) in [
        ("<Priority>3", "<Priority>7"),
        ("<lt:Level>thuong", "<lt:Level>secret"),
        ("<OrganId>VPTW", "<OrganId>vptw"),
    ] {
        let bad = text.replacen(from, to, 1);
        assert!(parse_envelope(bad.as_bytes(), &EnvelopeLimits::default()).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.xml");
        std::fs::write(&p, &bad).unwrap();
        let out = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(root().join("schemas/edxml-envelope.xsd"))
            .arg(&p)
            .output()
            .expect("xmllint is required (apt-get install libxml2-utils)");
        assert!(!out.status.success(), "XSD accepted {to}");
    }
}

// === CLI ===

#[test]
fn cli_new_writes_a_valid_envelope_to_stdout_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let att = dir.path().join("phu-luc.pdf");
    std::fs::write(&att, b"%PDF-1.4 demo").unwrap();
    let args = [
        "doc",
        "new",
        "--from",
        "HU.CHAUTHANH",
        "--to",
        "TU.BENTRE",
        "--to",
        "VPTW",
        "--code",
        "07",
        "--notation",
        "NQ/ĐUK",
        "--subject",
        "Thử & <kiểm> \"tra\"",
        "--level",
        "mat",
        "--procedure",
        "VB-01",
        "--priority",
        "2",
        "--date",
        "2024/01/02",
        "--attach",
        att.to_str().unwrap(),
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, env) = parse_envelope(&o.stdout, &EnvelopeLimits::default()).unwrap();
    assert_eq!(env.document_id(), "HU.CHAUTHANH,2024/01/02,07/NQ/ĐUK");
    assert_eq!(env.recipients().count(), 2);
    assert_eq!(env.priority(), Priority::VeryUrgent);
    assert_eq!(env.subject(), "Thử & <kiểm> \"tra\"");
    assert_eq!(env.body.attachments[0].file_name, "phu-luc.pdf");
    assert_eq!(env.body.attachments[0].content_type, "application/pdf");
    xmllint_bytes(&o.stdout);

    let out = dir.path().join("out.xml");
    let mut with_o: Vec<&str> = args.to_vec();
    with_o.extend(["-o", out.to_str().unwrap()]);
    let o2 = run(&with_o);
    assert!(o2.status.success());
    assert!(o2.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), o.stdout);
}

#[test]
fn cli_new_refuses_bad_arguments_as_usage_errors() {
    let base = |from: &str, level: &str, procedure: &str| {
        run(&[
            "doc",
            "new",
            "--from",
            from,
            "--to",
            "VPTW",
            "--code",
            "1",
            "--notation",
            "TB",
            "--subject",
            "s",
            "--level",
            level,
            "--procedure",
            procedure,
        ])
    };
    assert_eq!(
        base("hu.chauthanh", "thuong", "VB-01").status.code(),
        Some(2)
    );
    assert_eq!(
        base(&"A".repeat(36), "thuong", "VB-01").status.code(),
        Some(2)
    );
    assert_eq!(
        base("HU.CHAUTHANH", "secret", "VB-01").status.code(),
        Some(2)
    );
    assert_eq!(base("HU.CHAUTHANH", "thuong", "vb1").status.code(), Some(2));
    assert_eq!(
        base("HU.CHAUTHANH", "thuong", "VB-01").status.code(),
        Some(0)
    );
    let missing = run(&[
        "doc",
        "new",
        "--from",
        "VPTW",
        "--to",
        "VPTW",
        "--code",
        "1",
        "--notation",
        "TB",
        "--subject",
        "s",
        "--level",
        "thuong",
        "--procedure",
        "VB-01",
        "--attach",
        "/nonexistent/file.pdf",
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn cli_validate_reports_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = root().join("schemas/examples/bao-cao-mat.xml");
    let text = std::fs::read_to_string(&good).unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, text.replacen("<Size>165<", "<Size>166<", 1)).unwrap();
    let nolabel = dir.path().join("nolabel.xml");
    let start = text.find("<lt:Classification>").unwrap();
    let end = text.find("</lt:Classification>").unwrap() + "</lt:Classification>".len();
    std::fs::write(&nolabel, format!("{}{}", &text[..start], &text[end..])).unwrap();

    let all: Vec<String> = examples().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["doc", "validate"];
    args.extend(all.iter().map(String::as_str));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    let o = run(&[
        "doc",
        "validate",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        nolabel.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with(&format!("{}: ", bad.display())) && lines[0].contains("166"));
    assert!(
        lines[1].starts_with(&format!("{}: ", nolabel.display())) && lines[1].contains("label")
    );

    let o = run(&[
        "doc",
        "validate",
        "--json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"][0]["valid"], true);
    assert_eq!(v["results"][1]["valid"], false);
    assert!(v["results"][1]["error"].as_str().unwrap().contains("166"));

    let o = run(&["doc", "validate", "/nonexistent/x.xml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn cli_c14n_prints_the_exclusive_canonical_form() {
    let p = root().join("schemas/examples/nghi-quyet-07-NQ-DUK.xml");
    let o = run(&["doc", "c14n", p.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(o.stdout, c14n_of(&std::fs::read(&p).unwrap()));
    assert!(o.stdout.starts_with(b"<edXMLEnvelope xmlns="));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<!DOCTYPE x><x/>").unwrap();
    assert_eq!(
        run(&["doc", "c14n", bad.to_str().unwrap()]).status.code(),
        Some(1)
    );
    assert_eq!(run(&["doc", "c14n", "/nonexistent"]).status.code(), Some(2));
}

#[test]
fn cli_show_hides_classified_subject_unless_asked() {
    let mat = root().join("schemas/examples/bao-cao-mat.xml");
    let o = run(&["doc", "show", mat.to_str().unwrap()]);
    assert!(o.status.success());
    let s = stdout(&o);
    assert!(s.contains("(classified: use --content)"), "{s}");
    assert!(!s.contains("quy hoạch cán bộ"), "{s}");
    assert!(s.contains("HU.CHAUTHANH") && s.contains("TU.BENTRE") && s.contains("42-BC/HU"));
    assert!(s.contains("Mật (mat)") && s.contains("Khẩn (1)"));
    assert!(s.contains("danh-sach-quy-hoach.txt"));

    let o = run(&["doc", "show", "--content", mat.to_str().unwrap()]);
    let s = stdout(&o);
    assert!(s.contains("Báo cáo kết quả rà soát") && !s.contains("(classified"));

    let o = run(&["doc", "show", "--json", mat.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["subject"].is_null());
    assert_eq!(v["withheld"], true);
    assert_eq!(v["label"]["level"], "mat");
    assert_eq!(v["attachments"][0]["size"], 165);

    let tb = root().join("schemas/examples/thong-bao-hoa-toc.xml");
    let s = stdout(&run(&["doc", "show", tb.to_str().unwrap()]));
    assert!(
        s.contains("Thông báo hỏa tốc") && s.contains("Hỏa tốc (3)"),
        "{s}"
    );
    assert!(!s.contains("(classified"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<x/>").unwrap();
    assert_eq!(
        run(&["doc", "show", bad.to_str().unwrap()]).status.code(),
        Some(1)
    );
}

// === property tests ===

fn text(max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵĐƯ 0123456789&<>\"'\r\t\n;/-.,"
        .chars()
        .collect();
    prop::collection::vec(prop::sample::select(chars), 0..max).prop_map(|v| v.into_iter().collect())
}

fn organ_id() -> impl Strategy<Value = lienthong::doc::types::OrganId> {
    "[0-9A-Z.]{1,35}".prop_map(|s| s.parse().unwrap())
}

fn date() -> impl Strategy<Value = EdxmlDate> {
    (1900i32..2100, 1u8..=12, 1u8..=28)
        .prop_map(|(y, m, d)| format!("{y:04}/{m:02}/{d:02}").parse().unwrap())
}

fn organization() -> impl Strategy<Value = Organization> {
    (
        organ_id(),
        text(30),
        proptest::option::of(text(20)),
        proptest::option::of(text(10)),
    )
        .prop_map(|(id, name, add, email)| {
            let mut o = Organization::new(id, name);
            o.organ_add = add;
            o.email = email;
            o
        })
}

fn extension(max_pos: usize) -> impl Strategy<Value = Extension> {
    (0..=max_pos, 0u8..20, text(12)).prop_map(|(position, n, t)| {
        let mut element = Element::new(None, &format!("Ext{n}"), Some(EDXML_NS));
        // What the reader makes of it: self-contained, declaring the default namespace.
        element.ns_decls.push(NsDecl {
            prefix: None,
            uri: EDXML_NS.to_owned(),
        });
        if !t.is_empty() {
            element.push_text(t);
        }
        Extension { position, element }
    })
}

fn extensions(max_pos: usize) -> impl Strategy<Value = Extensions> {
    prop::collection::vec(extension(max_pos), 0..3).prop_map(|mut v| {
        // Read back in document order.
        v.sort_by_key(|x| x.position);
        Extensions(v)
    })
}

fn attachments() -> impl Strategy<Value = Vec<Attachment>> {
    prop::collection::vec(
        (
            "[a-zA-Z0-9àáạđ ._-]{0,20}",
            prop::sample::select(vec!["application/pdf", "text/plain; charset=utf-8"]),
            prop::collection::vec(any::<u8>(), 0..200),
        ),
        0..4,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (name, ct, data))| Attachment {
                content_id: format!("att-{}", i + 1),
                file_name: format!("f{name}"),
                content_type: ct.to_owned(),
                data,
            })
            .collect()
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let parties = (
        organization(),
        prop::collection::vec(organization(), 1..4),
        text(8),
        text(12),
        date(),
        text(60),
        text(200),
        proptest::option::of(date()),
        prop::collection::vec(text(20), 0..3),
        prop::sample::select(Priority::ALL.to_vec()),
        prop::collection::vec((organ_id(), text(10), date(), text(20)), 0..2),
        proptest::option::of(text(5)),
    );
    let rest = (
        prop::sample::select(Level::ALL.to_vec()),
        "[A-Z]{1,8}-[0-9]{2}",
        any::<bool>(),
        attachments(),
        prop::collection::vec((organ_id(), date(), 0u8..24), 0..3),
        extensions(3),
        extensions(12),
        extensions(2),
        (proptest::option::of(0u32..1000), text(10), text(10)),
    );
    (parties, rest).prop_map(
        |(
            (from, to, number, notation, pdate, subject, content, due, places, prio, rf, steer),
            (level, procedure, public, attachments, trace, hext, mext, bext, (pages, pos, name)),
        )| {
            let code = Code { number, notation };
            // A position past the known children is read back as "at the end".
            let mut bext = bext;
            for x in &mut bext.0 {
                x.position = x.position.min(1 + attachments.len());
            }
            let mut other = OtherInfo::new(prio);
            other.page_amount = pages;
            Envelope {
                header: MessageHeader {
                    document_id: compute_document_id(&from.organ_id, pdate, &code),
                    from,
                    to,
                    code,
                    promulgation: PromulgationInfo {
                        place: "Châu Thành".into(),
                        date: pdate,
                    },
                    document_type: DocumentType {
                        kind: "NQ".into(),
                        name: "Nghị quyết".into(),
                    },
                    subject,
                    content,
                    signer: SignerInfo {
                        competence: "TM. BAN THƯỜNG VỤ".into(),
                        position: pos,
                        full_name: name,
                    },
                    due_date: due,
                    to_places: places,
                    other,
                    response_for: rf
                        .into_iter()
                        .map(
                            |(organ_id, code, promulgation_date, document_id)| ResponseFor {
                                organ_id,
                                code,
                                promulgation_date,
                                document_id,
                            },
                        )
                        .collect(),
                    steering_type: steer,
                    business_doc_type: BusinessDocType::New,
                    ext: mext,
                },
                trace: trace
                    .into_iter()
                    .map(|(organ_id, d, h)| TraceHeader {
                        organ_id,
                        timestamp: format!("{d} {h:02}:30:00")
                            .parse::<EdxmlTimestamp>()
                            .unwrap(),
                    })
                    .collect(),
                label: Label {
                    level,
                    procedure: procedure.parse().unwrap(),
                    public,
                },
                signature: None,
                header_ext: hext,
                body: Body {
                    attachments,
                    ext: bext,
                    sealed: None,
                },
            }
        },
    )
}

proptest! {
    // Each case also runs xmllint (a process): 128 cases keep the file within seconds.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_envelopes_round_trip_and_validate(env in envelope()) {
        let bytes = env.to_bytes();
        let (doc, back) = parse_envelope(&bytes, &EnvelopeLimits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(&back, &env);
        // Written again: the same bytes, hence the same canonical form.
        let again = back.to_bytes();
        prop_assert_eq!(&again, &bytes);
        prop_assert_eq!(
            canonicalize(&doc.root, &[], &Options::default()),
            canonicalize(&back.to_document().root, &[], &Options::default())
        );
        prop_assert_eq!(c14n_of(&again), c14n_of(&bytes));
        xmllint_bytes(&bytes);
    }
}
