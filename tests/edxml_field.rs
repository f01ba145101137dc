#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! Real edXML, as the national platform's SDKs and the systems built on them write it
//! (`tests/data/edxml-field/`, origins in its `SOURCES.md`): every well-formed document and
//! status message is read by `lienthong doc validate` and `doc show --json`, and what lienthong
//! reads (From, To, code, notation, subject; a status's code and the document it answers) is
//! what an independent lxml reader of the same file reads (`tests/referee/edxml_read.py`, run by
//! `scripts/edxml-referee.sh`; it needs python3 with venv and PyPI once, and fails, never skips,
//! without them). The malformed and nonstandard files are refused by name; every leniency of
//! `docs/EDXML.md` is met in the sample it came from; hostile variants of real samples are
//! refused by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lienthong::doc::envelope::EnvelopeLimits;
use lienthong::doc::envelope::field::{FieldMessage, Leniency, SignatureShape, Written, parse_any};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/edxml-field")
}

fn file(name: &str) -> PathBuf {
    corpus().join(name)
}

/// The corpus files that are not edXML the standard allows, and the named reason each is
/// refused with.
const REFUSED: [(&str, &str); 5] = [
    (
        "truclienthong-example--edoc.edxml",
        "ill-formed document: expected `</edXML:From>`",
    ),
    (
        "tltvbqn--edoc.edxml",
        "prefix xlink: at byte 7543 is not bound",
    ),
    (
        "api-gateway-ioffice--edoc_new.edxml",
        "content outside the root element at byte 4",
    ),
    (
        "api-gateway-ioffice--1760427207626_b.txt.edxml",
        "element edXMLEnvelope/edXMLAttachments is not allowed here",
    ),
    (
        "api-gateway-ioffice--test_user_edxml.xml",
        "required element edXMLEnvelope/edXMLHeader/MessageHeader/Code is missing",
    ),
];

fn all_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "edxml" || x == "xml"))
        .collect();
    v.sort();
    v
}

fn readable() -> Vec<PathBuf> {
    all_files()
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            !REFUSED.iter().any(|(r, _)| *r == n)
        })
        .collect()
}

fn lienthong(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .output()
        .unwrap()
}

fn show_json(p: &Path) -> Value {
    let out = lienthong(&["doc", "show", "--json", "--content", p.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}: {}",
        p.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn corpus_is_whole_and_every_file_is_in_sources() {
    let sources = std::fs::read_to_string(corpus().join("SOURCES.md")).unwrap();
    let files = all_files();
    assert_eq!(files.len(), 30, "the corpus SOURCES.md describes");
    for f in &files {
        let n = f.file_name().unwrap().to_str().unwrap();
        assert!(
            sources.contains(&format!("| {n} |")),
            "{n} has no line in SOURCES.md"
        );
    }
}

#[test]
fn every_real_document_and_status_validates() {
    let files = readable();
    assert_eq!(files.len(), 25);
    let mut args = vec!["doc", "validate", "--json"];
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let out = lienthong(&args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["valid"], true, "{r}");
        assert_eq!(r["profile"], "field", "{r}");
    }
    assert!(out.status.success());
}

#[test]
fn malformed_and_nonstandard_files_are_refused_by_name() {
    for (name, reason) in REFUSED {
        let out = lienthong(&["doc", "validate", file(name).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(reason), "{name}: {stdout}");
    }
}

/// What the referee prints, by file.
fn referee(files: &[PathBuf]) -> BTreeMap<String, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/edxml-referee.sh");
    let out = Command::new(script)
        .args(files)
        .output()
        .expect("scripts/edxml-referee.sh (python3 with venv) is required");
    assert!(
        out.status.success(),
        "the lxml referee failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["file"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn organ_written(v: &Value) -> Value {
    serde_json::json!({ "organ_id": v["written"], "name": v["name"] })
}

#[test]
fn lienthong_reads_what_an_independent_lxml_reader_reads() {
    let files = readable();
    let theirs = referee(&files);
    assert_eq!(theirs.len(), files.len());
    let (mut documents, mut statuses) = (0, 0);
    for f in &files {
        let ours = show_json(f);
        let t = &theirs[&f.display().to_string()];
        let n = f.display();
        assert_eq!(ours["kind"], t["kind"], "{n}");
        assert_eq!(organ_written(&ours["from"]), t["from"], "{n}: From");
        if ours["kind"] == "status" {
            statuses += 1;
            assert_eq!(ours["status"]["code"], t["status_code"], "{n}");
            let rf = &ours["response_for"];
            assert_eq!(rf["organ"]["written"], t["response_for"]["organ_id"], "{n}");
            assert_eq!(rf["code"], t["response_for"]["code"], "{n}");
            assert_eq!(rf["document_id"], t["response_for"]["document_id"], "{n}");
        } else {
            documents += 1;
            let to: Vec<Value> = ours["to"]
                .as_array()
                .unwrap()
                .iter()
                .map(organ_written)
                .collect();
            assert_eq!(Value::from(to), t["to"], "{n}: To");
            assert_eq!(ours["code_number"], t["code_number"], "{n}");
            assert_eq!(ours["code_notation"], t["code_notation"], "{n}");
            assert_eq!(ours["subject"], t["subject"], "{n}");
        }
    }
    assert_eq!((documents, statuses), (14, 11));
}

#[test]
fn every_status_code_of_the_samples_maps_onto_lienthongs_model() {
    let want = [
        ("status_inbox__01", "01"),
        ("status_rejection_02", "02"),
        ("status_acceptance_03", "03"),
        ("status_assignment_04", "04"),
        ("status_processing_05", "05"),
        ("status_finish_06", "06"),
        ("status_cancellation_13", "13"),
        ("status_change-acceptance_15", "15"),
        ("status_change-rejection_16", "16"),
    ];
    for (name, code) in want {
        let v = show_json(&file(&format!("truclienthong-example--{name}.edxml")));
        assert_eq!(v["status"]["code"], code, "{name}");
        assert!(v["status"]["meaning"].is_string(), "{name}: {v}");
        assert_eq!(
            v["response_for"]["document_id"],
            "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
        );
    }
}

/// Each leniency of `docs/EDXML.md`, with the real sample it came from.
#[test]
fn every_leniency_is_used_by_the_sample_it_came_from() {
    let cases = [
        (
            Leniency::WrappedRoot,
            "truclienthong-example--edoc_new.edxml",
        ),
        (
            Leniency::DocumentIdEarly,
            "truclienthong-example--edoc_new.edxml",
        ),
        (
            Leniency::ToPlacesLate,
            "truclienthong-example--edoc_new.edxml",
        ),
        (
            Leniency::BussinessInTraceList,
            "truclienthong-example--edoc_new.edxml",
        ),
        (
            Leniency::EdxmlSignature,
            "truclienthong-example--edoc_new.edxml",
        ),
        (
            Leniency::ManifestVersion,
            "truclienthong-example--edoc_new.edxml",
        ),
        (Leniency::CidPrefix, "truclienthong-example--edoc_new.edxml"),
        (Leniency::NoDigest, "truclienthong-example--edoc_new.edxml"),
        (
            Leniency::ChildOrder,
            "truclienthong-example--edoc_new.edxml",
        ),
        (
            Leniency::ResponseForOrder,
            "truclienthong-example--edoc_revocation.edxml",
        ),
        (
            Leniency::OrganNameFirst,
            "truclienthong-example--status_inbox__01.edxml",
        ),
        (Leniency::DayFirstDate, "edoc-integrator--edoc_new.edxml"),
        (Leniency::EmptyOptional, "edoc-integrator--edoc_new.edxml"),
        (
            Leniency::LowercaseOrganId,
            "api-gateway-ioffice--bdb98a62-a2be-4c25-9075-8dcdbcdb1402.edxml",
        ),
        (
            Leniency::TraceWithoutOrgan,
            "api-gateway-ioffice--9e272474-0603-48a2-b525-9cd1af689612.edxml",
        ),
    ];
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/EDXML.md"))
        .unwrap();
    for (l, name) in cases {
        let v = show_json(&file(name));
        assert!(
            v["leniencies"].get(l.name()).is_some(),
            "{name} does not use {}: {}",
            l.name(),
            v["leniencies"]
        );
        assert!(
            docs.contains(&format!("`{}`", l.name())),
            "{} not in docs/EDXML.md",
            l.name()
        );
    }
}

fn read(bytes: &[u8]) -> Result<Written, String> {
    parse_any(bytes, &EnvelopeLimits::default())
        .map(|(_, w)| w)
        .map_err(|e| e.to_string())
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(file(name)).unwrap()
}

#[test]
fn the_sdk_signature_is_read_as_unsigned_and_values_keep_their_written_form() {
    let w =
        read(sample("api-gateway-ioffice--bdb98a62-a2be-4c25-9075-8dcdbcdb1402.edxml").as_bytes())
            .unwrap();
    let Written::Field(d) = w else {
        panic!("not the field form")
    };
    assert!(d.label.is_none(), "no label is none, never unclassified");
    let FieldMessage::Document(h) = &d.message else {
        panic!("a document")
    };
    assert_eq!(h.from.written, "vxp.saas.03");
    assert_eq!(h.from.id, "VXP.SAAS.03");
    assert_eq!(
        h.code_number, "20251017160055",
        "a code number kept as text"
    );
    assert_eq!(d.attachments.len(), 3);

    let w = read(sample("truclienthong-example--edoc_new.edxml").as_bytes()).unwrap();
    let Written::Field(d) = w else {
        panic!("not the field form")
    };
    assert_eq!(
        d.signature,
        SignatureShape::Lookalike {
            path: "edXMLEnvelope/edXMLHeader/Signature".to_owned()
        }
    );
    let FieldMessage::Document(h) = &d.message else {
        panic!("a document")
    };
    assert_eq!(h.code_number, "74fass22");
    let out = lienthong(&[
        "doc",
        "validate",
        file("truclienthong-example--edoc_new.edxml")
            .to_str()
            .unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("unsigned (its edXML-namespace Signature is not XML-DSig)"),
        "{said}"
    );
}

#[test]
fn an_unlabelled_document_shows_no_subject_without_content() {
    let p = file("truclienthong-example--edoc_new.edxml");
    let out = lienthong(&["doc", "show", "--json", p.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["label"], Value::Null);
    assert_eq!(v["withheld"], true);
    assert_eq!(v["subject"], Value::Null);
}

/// Hostile variants of real samples, each refused by its name.
#[test]
fn hostile_variants_of_real_samples_are_refused_by_name() {
    let new = sample("truclienthong-example--edoc_new.edxml");
    let header_close = "</edXML:MessageHeader>";
    let mh_start = new.find("<edXML:MessageHeader>").unwrap();
    let mh_end = new.find(header_close).unwrap() + header_close.len();
    let two_headers = format!("{}{}", &new[..mh_end], &new[mh_start..]);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "two MessageHeaders",
            two_headers,
            "element edXMLEnvelope/edXMLHeader/MessageHeader appears more than once",
        ),
        (
            "a cid: pointing to a missing part",
            new.replacen("<edXML:ContentId>cid:209", "<edXML:ContentId>cid:210", 1),
            "manifest reference cid:210 has no attachment part",
        ),
        (
            "a part not in the manifest",
            new.replacen(
                "</AttachmentEncoded>",
                "<Attachment><ContentId>cid:999</ContentId><ContentTransferEncoded>aGk=</ContentTransferEncoded></Attachment></AttachmentEncoded>",
                1,
            ),
            "attachment part 999 is not in the manifest",
        ),
        (
            "a manifest digest that does not match",
            new.replacen(
                "<edXML:ContentType>application/zip</edXML:ContentType>",
                "<edXML:ContentType>application/zip</edXML:ContentType><edXML:Digest>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</edXML:Digest>",
                1,
            ),
            "digest does not match the manifest",
        ),
        (
            "a cid used twice",
            new.replacen(
                "</AttachmentEncoded>",
                "<Attachment><ContentId>cid:209</ContentId><ContentTransferEncoded>aGk=</ContentTransferEncoded></Attachment></AttachmentEncoded>",
                1,
            ),
            "ContentId 209 is used twice",
        ),
        (
            "an element in a foreign namespace",
            new.replacen(
                "<edXML:Subject>",
                "<x:Note xmlns:x=\"urn:x\">hi</x:Note><edXML:Subject>",
                1,
            ),
            "element edXMLEnvelope/edXMLHeader/MessageHeader/Note is in foreign namespace",
        ),
        (
            "an attribute the SDKs do not write",
            new.replacen("<edXML:MessageHeader>", "<edXML:MessageHeader href=\"x\">", 1),
            "attribute href on edXMLEnvelope/edXMLHeader/MessageHeader is not allowed",
        ),
        (
            "Subject before From (not a listed inversion)",
            new.replacen(
                "<edXML:Subject>V/v kết nối, liên thông phần mềm quản lý văn bản</edXML:Subject>",
                "",
                1,
            )
            .replacen(
                "<edXML:MessageHeader>",
                "<edXML:MessageHeader><edXML:Subject>x</edXML:Subject>",
                1,
            ),
            "element edXMLEnvelope/edXMLHeader/MessageHeader/From is out of order",
        ),
        (
            "an organ id with a space",
            new.replacen("<edXML:OrganId>000.00.00.A80", "<edXML:OrganId>000 00", 1),
            "invalid organ id \"000 00",
        ),
    ];
    // Limits hold in the field form too: 1,001 recipients.
    let to_start = new.find("<edXML:To>").unwrap();
    let to_end = new.find("</edXML:To>").unwrap() + "</edXML:To>".len();
    let many_to = format!(
        "{}{}{}",
        &new[..to_start],
        new[to_start..to_end].repeat(1001),
        &new[to_end..]
    );
    let mut cases = cases;
    cases.push((
        "1,001 recipients",
        many_to,
        "is over the limit max_recipients = 1000",
    ));
    for (what, bytes, reason) in cases {
        let e = read(bytes.as_bytes()).expect_err(what);
        assert!(e.contains(reason), "{what}: {e}");
    }
    let status = sample("truclienthong-example--status_finish_06.edxml");
    let e = read(
        status
            .replacen("<edXML:StatusCode>06", "<edXML:StatusCode>6x", 1)
            .as_bytes(),
    )
    .expect_err("a bad status code");
    assert!(e.contains("a status code is two digits"), "{e}");
}

#[test]
fn lienthongs_own_documents_keep_the_strict_reader() {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples");
    let mut n = 0;
    for e in std::fs::read_dir(ours).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "xml") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        if let Ok(Written::Lienthong(_)) = read(&bytes) {
            n += 1;
        }
    }
    assert!(n >= 1, "the examples are read in lienthong's profile");
}

#[test]
fn verify_refuses_the_sdk_lookalike_signature_by_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/root.pem");
    for name in [
        "truclienthong-example--edoc_new.edxml",
        "api-gateway-ioffice--852e179c-8eca-4502-ac38-0b97321f29c3.edxml",
    ] {
        let out = lienthong(&[
            "verify",
            "--json",
            "--trust",
            root.to_str().unwrap(),
            file(name).to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["reason"], "edxml-signature", "{name}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("the document is unsigned"),
            "{v}"
        );
    }
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    v.sort();
    v
}

/// The other direction: what lienthong writes for SDK-based systems validates against
/// `schemas/edxml-field.xsd` (xmllint), is read back by lienthong's field reader and by the
/// independent lxml reader with the same header, and carries the same attachments.
#[test]
fn the_field_form_lienthong_writes_validates_and_reads_the_same_everywhere() {
    let out_dir = tempfile::tempdir().unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/edxml-field.xsd");
    let mut written = Vec::new();
    for ex in examples() {
        let out = out_dir
            .path()
            .join(ex.file_name().unwrap())
            .with_extension("edxml");
        let o = lienthong(&[
            "doc",
            "to-field",
            ex.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let x = Command::new("xmllint")
            .args(["--noout", "--nonet", "--schema"])
            .arg(&xsd)
            .arg(&out)
            .output()
            .expect("xmllint is required (apt-get install libxml2-utils)");
        assert!(
            x.status.success(),
            "{}: {}",
            out.display(),
            String::from_utf8_lossy(&x.stderr)
        );
        let (ours, back) = (show_json(&ex), show_json(&out));
        assert_eq!(back["profile"], "field");
        assert_eq!(back["from"]["organ_id"], ours["from"]["organ_id"]);
        let ids = |v: &Value| -> Vec<Value> {
            v["to"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["organ_id"].clone())
                .collect()
        };
        assert_eq!(ids(&back), ids(&ours));
        assert_eq!(
            format!(
                "{}-{}",
                back["code_number"].as_str().unwrap(),
                back["code_notation"].as_str().unwrap()
            ),
            ours["number"].as_str().unwrap()
        );
        assert_eq!(back["subject"], ours["subject"]);
        assert_eq!(back["document_id"], ours["document_id"]);
        assert_eq!(back["label"], ours["label"], "the label travels");
        assert_eq!(back["signed"], false, "the field form is unsigned");
        let atts = |v: &Value| -> Vec<(Value, Value)> {
            v["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["file_name"].clone(), a["size"].clone()))
                .collect()
        };
        assert_eq!(atts(&back), atts(&ours));
        assert!(
            back["leniencies"].get("no-digest").is_none(),
            "lienthong's field form binds each part with a SHA-256 digest"
        );
        written.push((out, back));
    }
    assert!(written.len() >= 3);
    let files: Vec<PathBuf> = written.iter().map(|(p, _)| p.clone()).collect();
    let theirs = referee(&files);
    for (p, back) in &written {
        let t = &theirs[&p.display().to_string()];
        assert_eq!(organ_written(&back["from"]), t["from"]);
        assert_eq!(back["code_number"], t["code_number"]);
        assert_eq!(back["code_notation"], t["code_notation"]);
        assert_eq!(back["subject"], t["subject"]);
    }
}

/// A document that came in the field form is given back as the SDK wrote it.
#[test]
fn an_sdk_document_carried_by_lienthong_is_given_back_byte_for_byte() {
    use lienthong::doc::envelope::field::{to_envelope, to_field_bytes};
    use lienthong::doc::label::{Label, Level};
    let original = std::fs::read(file("edoc-integrator--edoc_new.edxml")).unwrap();
    let Written::Field(d) = read(&original).unwrap() else {
        panic!("field form")
    };
    let label = Label {
        level: Level::Thuong,
        procedure: "VB-01".parse().unwrap(),
        public: false,
    };
    let env = to_envelope(&d, &original, label).unwrap();
    // Carried in lienthong's profile, it passes the strict reader.
    let bytes = env.to_bytes();
    let Written::Lienthong(again) = read(&bytes).unwrap() else {
        panic!("lienthong profile")
    };
    assert_eq!(
        again.header.promulgation.date.to_string(),
        "2020/10/30",
        "dd/MM/yyyy read"
    );
    assert_eq!(to_field_bytes(&again).unwrap(), original);
    // A status message is not a document.
    let status = std::fs::read(file("truclienthong-example--status_finish_06.edxml")).unwrap();
    let Written::Field(s) = read(&status).unwrap() else {
        panic!("field form")
    };
    let e = to_envelope(&s, &status, again.label().clone()).unwrap_err();
    assert!(e.to_string().contains("StatusCode"), "{e}");
}
