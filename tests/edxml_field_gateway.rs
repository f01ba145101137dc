#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! A document written by the platform's SDK (a real corpus sample, `tests/data/edxml-field/`),
//! submitted to a real gateway: refused as unlabelled for a client without
//! `external_default_level` (422 `label/missing`, nothing stored), accepted for a client with
//! one, signed by the gateway (the SDK's edXML-namespace `Signature` is not XML-DSig), relayed
//! over mutual TLS, and fetched at the province with the assigned label, its attachment and the
//! original bytes intact; the assignment is in the audit log.

mod common;

use base64::Engine as _;
use common::gateways::{Demo, eventually, submit};
use lienthong::client::Client;
use lienthong::doc::envelope::field::ORIGINAL_CONTENT_ID;
use lienthong::gateway::caller::{new_token, token_hash_hex};
use lienthong::sign::{TrustStore, VerifyOptions, verify};

fn sample(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/edxml-field")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The SDK's sample, addressed to the demo's organs: `From` and `To` are the only bytes changed
/// (named here; the corpus file itself is untouched).
fn sdk_document() -> Vec<u8> {
    sample("truclienthong-example--edoc_new.edxml")
        .replacen(
            "<edXML:OrganId>000.00.00.A80",
            "<edXML:OrganId>HU.CHAUTHANH",
            1,
        )
        .replacen("<edXML:OrganId>28.22.H17", "<edXML:OrganId>TU.BENTRE", 1)
        .into_bytes()
}

/// Adds a submitting client for an SDK-based document-management system to the district's
/// config: its unlabelled documents get `thuong` / `VB-01`.
fn add_sdk_client(demo: &Demo) -> String {
    let token = new_token().unwrap();
    let config = &demo.gw("district").config;
    let mut toml = std::fs::read_to_string(config).unwrap();
    toml.push_str(&format!(
        "\n[[clients]]\nname = \"district-sdk-dms\"\norgan = \"HU.CHAUTHANH\"\n\
         roles = [\"submit\"]\ntoken_sha256 = \"{}\"\nclearance = \"mat\"\n\
         external_default_level = \"thuong\"\nexternal_default_procedure = \"VB-01\"\n",
        token_hash_hex(&token)
    ));
    std::fs::write(config, toml).unwrap();
    token
}

#[test]
fn an_sdk_document_is_labelled_by_its_clients_config_signed_relayed_and_kept_whole() {
    let mut demo = Demo::new();
    let token = add_sdk_client(&demo);
    demo.start("province");
    demo.start("district");
    let doc = sdk_document();

    // A client without external_default_level: refused by name, nothing stored.
    let plain = demo.client("district", "submit");
    let r = submit(&plain, &doc);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["type"], "urn:lienthong:problem:label/missing");
    let sent = plain.get("/api/v1/documents?limit=10").unwrap();
    assert_eq!(
        sent.json()["documents"].as_array().unwrap().len(),
        0,
        "{}",
        sent.text()
    );

    // The SDK system's client: accepted with the configured label.
    let g = demo.gw("district");
    let sdk = Client::new(demo.root(), &g.api_url, Some(&token)).unwrap();
    let r = submit(&sdk, &doc);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["level"], "thuong");
    let id = r.json()["message_id"].as_str().unwrap().to_owned();

    // The province receives it, signed by the district's gateway.
    let rcv = demo.client("province", "receive");
    let f = eventually("province inbox", 60, || {
        let f = rcv.get(&format!("/api/v1/inbox/{id}")).unwrap();
        (f.status == 200).then_some(f)
    });
    let mut trust = TrustStore::new();
    trust.add_anchors_pem_file(demo.root()).unwrap();
    let v = verify(&f.body, &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(v.signer().organ(), "HU.CHAUTHANH");
    let env = v.envelope();
    assert_eq!(env.label().level.token(), "thuong");
    assert_eq!(env.label().procedure.to_string(), "VB-01");
    assert!(!env.label().public, "an assigned label is never public");
    assert_eq!(env.header.code.number, "74fass22");
    assert_eq!(env.document_id(), "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT");
    let names: Vec<&str> = env
        .body
        .attachments
        .iter()
        .map(|a| a.file_name.as_str())
        .collect();
    assert_eq!(names, ["1896_QD-TTg_m_294779.doc", "original.edxml"]);
    let original = env
        .body
        .attachments
        .iter()
        .find(|a| a.content_id == ORIGINAL_CONTENT_ID)
        .unwrap();
    assert_eq!(original.data, doc, "the SDK's bytes are passed on whole");
    // The attachment is the SDK part's decoded bytes.
    let text = String::from_utf8(doc.clone()).unwrap();
    let start = text.find("<edXML:ContentTransferEncoded").unwrap();
    let b64_start = start + text[start..].find('>').unwrap() + 1;
    let b64_end = b64_start + text[b64_start..].find('<').unwrap();
    let part = base64::engine::general_purpose::STANDARD
        .decode(
            text[b64_start..b64_end]
                .split_whitespace()
                .collect::<String>(),
        )
        .unwrap();
    assert_eq!(env.body.attachments[0].data, part);

    // An SDK-based receiving system fetches the field form: the SDK's own bytes.
    let ff = rcv.get(&format!("/api/v1/inbox/{id}?form=field")).unwrap();
    assert_eq!(ff.status, 200, "{}", ff.text());
    assert_eq!(ff.body, doc, "given back as the SDK wrote it");
    let bad = rcv.get(&format!("/api/v1/inbox/{id}?form=pdf")).unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["type"], "urn:lienthong:problem:request/query");

    // The meta shows the label.
    let meta = rcv.get(&format!("/api/v1/inbox/{id}/meta")).unwrap().json();
    assert_eq!(meta["level"], "thuong", "{meta}");

    // The province's SDK-based system reports status 06 with the SDK's own status message
    // (the corpus sample, its From the province; its ResponseFor already names this document).
    let status = |xml: &str| {
        rcv.post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/xml",
            xml.as_bytes(),
        )
        .unwrap()
    };
    let finish = sample("truclienthong-example--status_finish_06.edxml").replacen(
        "<edXML:OrganId>000.00.00.H41",
        "<edXML:OrganId>TU.BENTRE",
        1,
    );
    // Hostile first: another organ's From, another document, a document instead of a status.
    let r = status(&sample("truclienthong-example--status_finish_06.edxml"));
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["type"], "urn:lienthong:problem:status/edxml");
    assert!(
        r.text().contains("not the reporting organ TU.BENTRE"),
        "{}",
        r.text()
    );
    let r = status(&finish.replace(
        "7816/VPCP-TTĐT</edXML:DocumentId>",
        "1/X</edXML:DocumentId>",
    ));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("not this document's"), "{}", r.text());
    let r = status(&sample(
        "api-gateway-ioffice--test_edxml_with_content.edxml",
    ));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("a document, not a status"),
        "{}",
        r.text()
    );
    let r = status(&finish);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["code"], "06");
    let office = demo.client("district", "submit");
    eventually("status 06 back at the district", 30, || {
        let st = sdk.get(&format!("/api/v1/documents/{id}")).unwrap().json();
        st["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["organ"] == "TU.BENTRE" && s["code"] == "06")
            .then_some(())
    });
    drop(office);

    // The SDK's revocation (BussinessDocType 1) of that DocumentId is the recall of the
    // document: the province's inbox shows it recalled, with the SDK's reason.
    let revocation = |from: &str, document_id: &str| {
        sample("truclienthong-example--edoc_revocation.edxml")
            .replacen(
                "<edXML:OrganId>000.00.00.G22",
                &format!("<edXML:OrganId>{from}"),
                1,
            )
            .replacen(
                "<edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
                &format!("<edXML:DocumentId>{document_id}"),
                1,
            )
            .into_bytes()
    };
    let r = submit(
        &sdk,
        &revocation("HU.CHAUTHANH", "HU.CHAUTHANH,2026/01/01,1/X"),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        r.json()["type"],
        "urn:lienthong:problem:recall/unknown-document"
    );
    let r = submit(
        &sdk,
        &revocation("TU.BENTRE", "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"),
    );
    assert_eq!(r.status, 403, "another organ's recall: {}", r.text());
    let r = submit(
        &sdk,
        &revocation("HU.CHAUTHANH", "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["code"], "13");
    assert_eq!(r.json()["message_id"], id.as_str());
    let meta = eventually("the recall at the province", 30, || {
        let m = rcv.get(&format!("/api/v1/inbox/{id}/meta")).unwrap().json();
        (m["recalled"] == true).then_some(m)
    });
    assert_eq!(meta["recall"]["note"], "Thu hồi văn bản điện tử", "{meta}");

    // The district's audit log records who assigned the label.
    assert_eq!(demo.stop("district"), Some(0));
    let log =
        std::fs::read_to_string(demo.setup.dir.join("district/data/audit/audit.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("\"label-assigned\""))
        .unwrap_or_else(|| panic!("no label-assigned entry:\n{log}"));
    assert!(line.contains(&id), "{line}");
    assert!(
        line.contains("level thuong, procedure VB-01, given by client district-sdk-dms"),
        "{line}"
    );
}
