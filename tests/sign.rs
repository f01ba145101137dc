//! XML-DSig sign and verify: round trips for every algorithm and one refusal per rule, each
//! asserting its specific error, against a real PKI made in the test.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use common::{Alg, Eku, LeafSpec, TestPki, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{
    ChainFailure, Signer, TrustStore, VerifyError, VerifyOptions, sign_document, verify,
};
use rcgen::KeyUsagePurpose;
use time::{Duration, OffsetDateTime};

const FROM: &str = "HU.CHAUTHANH";
const TO: &str = "TU.BENTRE";

fn sign_xml(xml: &str, leaf: &common::Leaf) -> String {
    let mut doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap();
    String::from_utf8(write_document(&doc)).unwrap()
}

fn signed(pki: &TestPki, alg: Alg) -> (String, common::Leaf) {
    let leaf = pki.leaf(LeafSpec::new(alg, FROM));
    (sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf), leaf)
}

fn check(xml: &str, trust: &TrustStore) -> Result<lienthong::sign::VerifiedDocument, VerifyError> {
    verify(xml.as_bytes(), trust, &VerifyOptions::now())
}

#[test]
fn round_trip_every_algorithm() {
    let pki = TestPki::new("rt");
    for alg in [Alg::Rsa2048, Alg::P256, Alg::Ed25519] {
        let (xml, leaf) = signed(&pki, alg);
        let v = check(&xml, &pki.trust()).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(v.signer().organ(), FROM);
        assert_eq!(v.signer().algorithm(), leaf.signer().algorithm().name());
        assert_eq!(v.bytes(), xml.as_bytes());
        assert_eq!(v.digest().len(), 32);
        assert!(!v.revocation_checked());
    }
}

#[test]
fn signature_sits_in_edxml_header() {
    let pki = TestPki::new("place");
    let (xml, _) = signed(&pki, Alg::P256);
    let doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    let header = doc.root.elements().next().unwrap();
    assert_eq!(header.local, "edXMLHeader");
    assert!(
        header
            .elements()
            .any(|e| e.is("http://www.w3.org/2000/09/xmldsig#", "Signature"))
    );
}

#[test]
fn signing_twice_is_refused() {
    let pki = TestPki::new("twice");
    let (xml, leaf) = signed(&pki, Alg::P256);
    let mut doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    let e = sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap_err();
    assert!(
        matches!(e, lienthong::sign::SignError::AlreadySigned),
        "{e}"
    );
}

// === tampering ===

#[test]
fn tampered_body_subject_label_attachment_fail_digest() {
    let pki = TestPki::new("tamper");
    let (xml, _) = signed(&pki, Alg::Rsa2048);
    let cases = [
        ("Toàn văn nghị quyết", "Toàn văn nghị quyết!"),
        ("chuyển đổi số năm 2027", "chuyển đổi số năm 2028"),
        ("<lt:Level>thuong</lt:Level>", "<lt:Level>mat</lt:Level>"),
        (
            "<lt:Public>true</lt:Public>",
            "<lt:Public>false</lt:Public>",
        ),
        (
            "VOG7nSB0csOsbmggduG7gSB2aeG7h2MgcXV5IGhv4bqhY2g=",
            "VOG7nSB0csOsbmhhduG7gSB2aeG7h2MgcXV5IGhv4bqhY2g=",
        ),
        ("<Priority>0</Priority>", "<Priority>3</Priority>"),
        // Whitespace injected into signed text changes what was signed.
        (
            "<CodeNumber>07</CodeNumber>",
            "<CodeNumber>07 </CodeNumber>",
        ),
    ];
    for (from, to) in cases {
        assert!(xml.contains(from), "fixture lacks {from}");
        let bad = xml.replacen(from, to, 1);
        let e = check(&bad, &pki.trust()).unwrap_err();
        assert!(matches!(e, VerifyError::DigestMismatch), "{from}: {e}");
    }
}

#[test]
fn truncated_or_altered_signature_value_is_refused() {
    let pki = TestPki::new("sigval");
    let (xml, _) = signed(&pki, Alg::Rsa2048);
    let start = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let end = xml.find("</ds:SignatureValue>").unwrap();
    let value = &xml[start..end];
    let truncated = format!(
        "{}{}{}",
        &xml[..start],
        &value[..value.len() - 8],
        &xml[end..]
    );
    let e = check(&truncated, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    // Flip one base64 character.
    let c = if value.starts_with('A') { "B" } else { "A" };
    let flipped = format!("{}{c}{}{}", &xml[..start], &value[1..], &xml[end..]);
    let e = check(&flipped, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
}

#[test]
fn swapped_certificate_is_refused() {
    // KeyInfo swap: another valid certificate of the same organ, whose key did not sign.
    let pki = TestPki::new("swap");
    let (xml, leaf) = signed(&pki, Alg::P256);
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.serial = 2000;
    let other = pki.leaf(spec);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = xml.replace(
        &b64.encode(leaf.cert.as_ref()),
        &b64.encode(other.cert.as_ref()),
    );
    assert_ne!(bad, xml);
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
}

// === certificates ===

fn leaf_error(pki: &TestPki, spec: LeafSpec, trust: &TrustStore) -> VerifyError {
    let leaf = pki.leaf(spec);
    let xml = sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf);
    check(&xml, trust).unwrap_err()
}

fn chain_reason(e: &VerifyError) -> ChainFailure {
    match e {
        VerifyError::Chain { reason, .. } => reason.clone(),
        other => panic!("expected a chain failure, got {other}"),
    }
}

#[test]
fn expired_certificate_is_refused() {
    let pki = TestPki::new("exp");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_before = OffsetDateTime::now_utc() - Duration::days(400);
    spec.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    assert_eq!(
        chain_reason(&leaf_error(&pki, spec, &pki.trust())),
        ChainFailure::Expired
    );
}

#[test]
fn not_yet_valid_certificate_is_refused_beyond_skew_and_accepted_within() {
    let pki = TestPki::new("nyv");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_before = OffsetDateTime::now_utc() + Duration::days(2);
    assert_eq!(
        chain_reason(&leaf_error(&pki, spec, &pki.trust())),
        ChainFailure::NotYetValid
    );
    // Two minutes ahead is inside the default five-minute skew allowance.
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_before = OffsetDateTime::now_utc() + Duration::minutes(2);
    let leaf = pki.leaf(spec);
    let xml = sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf);
    check(&xml, &pki.trust()).unwrap();
    // …and refused with no allowance.
    let opts = VerifyOptions {
        clock_skew: std::time::Duration::ZERO,
        ..VerifyOptions::now()
    };
    let e = verify(xml.as_bytes(), &pki.trust(), &opts).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::NotYetValid);
}

#[test]
fn verification_at_a_past_instant_for_archives() {
    let pki = TestPki::new("at");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_before = OffsetDateTime::now_utc() - Duration::days(400);
    spec.not_after = OffsetDateTime::now_utc() - Duration::days(10);
    let leaf = pki.leaf(spec);
    let xml = sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf);
    let at = OffsetDateTime::now_utc() - Duration::days(20);
    let opts = VerifyOptions {
        at: rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            at.unix_timestamp() as u64,
        )),
        ..VerifyOptions::now()
    };
    verify(xml.as_bytes(), &pki.trust(), &opts).unwrap();
}

#[test]
fn revoked_certificate_is_refused_and_unrevoked_passes() {
    let pki = TestPki::new("rev");
    let mut trust = pki.trust();
    trust
        .add_crl(&pki.crl(&[1000], Duration::days(7)), "crl")
        .unwrap();
    let e = leaf_error(&pki, LeafSpec::new(Alg::P256, FROM), &trust);
    assert_eq!(chain_reason(&e), ChainFailure::Revoked);

    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.serial = 1001;
    let leaf = pki.leaf(spec);
    let xml = sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf);
    let v = check(&xml, &trust).unwrap();
    assert!(v.revocation_checked());
}

#[test]
fn stale_crl_is_refused() {
    let pki = TestPki::new("stale");
    let mut trust = pki.trust();
    trust
        .add_crl(&pki.crl(&[], Duration::days(-1)), "crl")
        .unwrap();
    let e = leaf_error(&pki, LeafSpec::new(Alg::P256, FROM), &trust);
    assert_eq!(chain_reason(&e), ChainFailure::StaleCrl);
}

#[test]
fn wrong_extended_key_usage_is_refused() {
    let pki = TestPki::new("eku");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.eku = Eku::ServerAuthOnly;
    let e = leaf_error(&pki, spec, &pki.trust());
    assert!(
        matches!(
            e,
            VerifyError::ExtendedKeyUsage { .. }
                | VerifyError::Chain {
                    reason: ChainFailure::Eku,
                    ..
                }
        ),
        "{e}"
    );
}

#[test]
fn wrong_key_usage_is_refused() {
    let pki = TestPki::new("ku");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let e = leaf_error(&pki, spec, &pki.trust());
    assert!(matches!(e, VerifyError::KeyUsage { .. }), "{e}");
}

#[test]
fn unknown_anchor_is_refused() {
    let pki = TestPki::new("a");
    let stranger = TestPki::new("b");
    let e = leaf_error(&pki, LeafSpec::new(Alg::P256, FROM), &stranger.trust());
    assert_eq!(chain_reason(&e), ChainFailure::UnknownIssuer);
}

#[test]
fn organ_mismatch_and_missing_binding_are_refused() {
    let pki = TestPki::new("organ");
    let e = leaf_error(&pki, LeafSpec::new(Alg::P256, "TU.BENTRE"), &pki.trust());
    assert!(
        matches!(&e, VerifyError::OrganMismatch { certificate, from } if certificate == "TU.BENTRE" && from == FROM),
        "{e}"
    );
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.organ = None;
    let e = leaf_error(&pki, spec, &pki.trust());
    assert!(matches!(e, VerifyError::NoOrganBinding { .. }), "{e}");
}

// === signature wrapping and profile ===

fn mutate(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "fixture lacks {from:?}");
    xml.replacen(from, to, 1)
}

fn signature_block(xml: &str) -> String {
    let s = xml.find("<ds:Signature").unwrap();
    let e = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    xml[s..e].to_owned()
}

#[test]
fn wrapping_extra_signature_is_refused() {
    let pki = TestPki::new("xsw");
    let (xml, _) = signed(&pki, Alg::P256);
    let sig = signature_block(&xml);
    let bad = mutate(&xml, "<edXMLManifest>", &format!("{sig}<edXMLManifest>"));
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::SignatureCount { found: 2 }), "{e}");
}

#[test]
fn wrapping_signature_moved_is_refused() {
    let pki = TestPki::new("moved");
    let (xml, _) = signed(&pki, Alg::P256);
    let sig = signature_block(&xml);
    let without = xml.replace(&sig, "");
    let bad = mutate(
        &without,
        "<edXMLManifest>",
        &format!("{sig}<edXMLManifest>"),
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::SignatureMisplaced), "{e}");
    let e = check(&without, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::SignatureCount { found: 0 }), "{e}");
}

#[test]
fn wrapping_document_under_object_is_refused() {
    let pki = TestPki::new("object");
    let (xml, _) = signed(&pki, Alg::P256);
    let bad = mutate(
        &xml,
        "</ds:KeyInfo>",
        "</ds:KeyInfo><ds:Object><edXMLBody/></ds:Object>",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(
        matches!(e, VerifyError::Structure(ref m) if m.contains("Object")),
        "{e}"
    );
}

#[test]
fn wrapping_second_reference_is_refused() {
    let pki = TestPki::new("ref2");
    let (xml, _) = signed(&pki, Alg::P256);
    let s = xml.find("<ds:Reference").unwrap();
    let e = xml.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let reference = xml[s..e].to_owned();
    let bad = mutate(
        &xml,
        "</ds:SignedInfo>",
        &format!("{reference}</ds:SignedInfo>"),
    );
    let err = check(&bad, &pki.trust()).unwrap_err();
    assert!(
        matches!(err, VerifyError::ReferenceCount { found: 2 }),
        "{err}"
    );
}

#[test]
fn wrapping_reference_to_an_id_is_refused() {
    let pki = TestPki::new("refid");
    let (xml, _) = signed(&pki, Alg::P256);
    let bad = mutate(
        &xml,
        "<ds:Reference URI=\"\">",
        "<ds:Reference URI=\"#body\">",
    );
    let bad = mutate(&bad, "<edXMLBody>", "<edXMLBody Id=\"body\">");
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(
        matches!(e, VerifyError::ReferenceUri { ref uri } if uri == "#body"),
        "{e}"
    );
    let bad = mutate(&xml, "<ds:Reference URI=\"\">", "<ds:Reference>");
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::ReferenceUri { .. }), "{e}");
}

#[test]
fn duplicate_ids_are_refused() {
    let pki = TestPki::new("dupid");
    let (xml, _) = signed(&pki, Alg::P256);
    let bad = mutate(&xml, "<edXMLBody>", "<edXMLBody Id=\"x\">");
    let bad = mutate(&bad, "<edXMLManifest>", "<edXMLManifest Id=\"x\">");
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(
        matches!(e, VerifyError::DuplicateId { ref id } if id == "x"),
        "{e}"
    );
}

#[test]
fn unknown_transforms_are_refused() {
    let pki = TestPki::new("tr");
    let (xml, _) = signed(&pki, Alg::P256);
    for alg in [
        "http://www.w3.org/TR/1999/REC-xpath-19991116",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
        "http://www.w3.org/2000/09/xmldsig#base64",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    ] {
        let bad = mutate(
            &xml,
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            &format!("<ds:Transform Algorithm=\"{alg}\"/>"),
        );
        let e = check(&bad, &pki.trust()).unwrap_err();
        assert!(
            matches!(e, VerifyError::Transform { ref algorithm } if algorithm == alg),
            "{e}"
        );
    }
    // A third transform, even an allowed one.
    let bad = mutate(
        &xml,
        "</ds:Transforms>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/></ds:Transforms>",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Transform { .. }), "{e}");
}

#[test]
fn weak_and_unknown_algorithms_are_refused() {
    let pki = TestPki::new("alg");
    let (xml, _) = signed(&pki, Alg::Rsa2048);
    let bad = mutate(
        &xml,
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Legacy { .. }), "{e}");
    // Algorithm downgrade of the signature method.
    let bad = mutate(
        &xml,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Legacy { .. }), "{e}");
    // HMAC instead of RSA: never accepted.
    let bad = mutate(
        &xml,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Algorithm {
                role: "SignatureMethod",
                ..
            }
        ),
        "{e}"
    );
    // Inclusive c14n for SignedInfo: legacy (the platform's SDK signers), refused by name
    // without --allow-legacy; with it, this signature (made over exclusive c14n) is bad.
    let bad = mutate(
        &xml,
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Legacy { .. }), "{e}");
    let legacy = VerifyOptions {
        allow_legacy: true,
        ..VerifyOptions::now()
    };
    let e = verify(bad.as_bytes(), &pki.trust(), &legacy).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    // Any other c14n method stays an unknown algorithm.
    let bad = mutate(
        &xml,
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/>",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Algorithm {
                role: "CanonicalizationMethod",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn method_that_does_not_fit_the_key_is_refused() {
    let pki = TestPki::new("mismatch");
    let (xml, _) = signed(&pki, Alg::P256);
    let bad = mutate(
        &xml,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::KeyMismatch { .. }), "{e}");
}

#[test]
fn comments_outside_the_root_are_refused() {
    let pki = TestPki::new("comment-outside");
    let (xml, _) = signed(&pki, Alg::P256);
    assert!(check(&xml, &pki.trust()).is_ok());
    let root = xml.find("<edXMLEnvelope").unwrap();
    let before = format!("{}<!-- before -->\n{}", &xml[..root], &xml[root..]);
    let after = format!("{xml}<!-- after -->\n");
    for bad in [before, after] {
        let e = check(&bad, &pki.trust()).unwrap_err();
        assert!(matches!(e, VerifyError::Comment), "{e}");
        assert_eq!(e.kind(), "comment");
    }
}

#[test]
fn comment_injection_is_refused() {
    let pki = TestPki::new("comment");
    let (xml, _) = signed(&pki, Alg::P256);
    // c14n without comments would digest the same bytes: refusing comments stops a reader that
    // truncates at the comment from seeing a different sender.
    let bad = mutate(&xml, "<OrganId>HU.CHAU", "<OrganId>HU.<!-- -->CHAU");
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Comment), "{e}");
}

#[test]
fn key_retrieval_and_key_value_are_refused() {
    let pki = TestPki::new("keyinfo");
    let (xml, _) = signed(&pki, Alg::P256);
    let bad = mutate(
        &xml,
        "<ds:KeyInfo>",
        "<ds:KeyInfo><ds:RetrievalMethod URI=\"http://127.0.0.1:1/key\"/>",
    );
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::KeyRetrieval { .. }), "{e}");
    let bad = mutate(&xml, "<ds:KeyInfo>", "<ds:KeyInfo><ds:KeyValue/>");
    let e = check(&bad, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Structure(_)), "{e}");
}

#[test]
fn hostile_xml_is_refused_before_any_crypto() {
    let pki = TestPki::new("xml");
    let e = check(
        "<!DOCTYPE x [<!ENTITY a \"b\">]><edXMLEnvelope/>",
        &pki.trust(),
    )
    .unwrap_err();
    assert!(matches!(e, VerifyError::Parse(_)), "{e}");
    let e = check("<other xmlns=\"urn:x\"/>", &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::NotAnEnvelope(_)), "{e}");
}

#[test]
fn whitespace_and_line_breaks_in_base64_are_accepted() {
    let pki = TestPki::new("b64");
    let (xml, _) = signed(&pki, Alg::Rsa2048);
    let start = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let wrapped = format!(
        "{}\n{}\n{}",
        &xml[..start + 10],
        &xml[start + 10..start + 40],
        &xml[start + 40..]
    );
    check(&wrapped, &pki.trust()).unwrap();
}

// === receipts ===

#[test]
fn signed_receipts_verify_and_refuse_tampering() {
    use lienthong::sign::{ReceiptBody, ReceiptError, SignedReceipt};
    let pki = TestPki::new("receipt");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, "TU.BENTRE"));
    let body = ReceiptBody {
        message_id: "0123456789abcdef0123456789abcdef".into(),
        digest_sha256: "ab".repeat(32),
        organ: "TU.BENTRE".into(),
        status: "01".into(),
        at: "2026-11-23T08:00:00Z".into(),
    };
    let r = SignedReceipt::sign(&body, &leaf.signer(), &leaf.chain).unwrap();
    let opts = VerifyOptions::now();
    let (got, signer) = r
        .verify(
            "TU.BENTRE",
            &body.message_id,
            &body.digest_sha256,
            &pki.trust(),
            &opts,
        )
        .unwrap();
    assert_eq!(got, body);
    assert_eq!(signer.organ(), "TU.BENTRE");

    // Another organ's receipt is not this peer's.
    let e = r
        .verify(
            "VPTW",
            &body.message_id,
            &body.digest_sha256,
            &pki.trust(),
            &opts,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            ReceiptError::Signature(VerifyError::OrganMismatch { .. })
        ),
        "{e}"
    );
    // A receipt for another message.
    let e = r
        .verify(
            "TU.BENTRE",
            &"f".repeat(32),
            &body.digest_sha256,
            &pki.trust(),
            &opts,
        )
        .unwrap_err();
    assert!(matches!(e, ReceiptError::Mismatch(_)), "{e}");
    // The text altered after signing.
    let mut t = r.clone();
    t.receipt = t.receipt.replace("\"01\"", "\"02\"");
    let e = t
        .verify(
            "TU.BENTRE",
            &body.message_id,
            &body.digest_sha256,
            &pki.trust(),
            &opts,
        )
        .unwrap_err();
    assert!(
        matches!(e, ReceiptError::Signature(VerifyError::BadSignature { .. })),
        "{e}"
    );
}

#[test]
fn validly_signed_document_without_label_is_refused() {
    // A missing label is never read as "thuong" (MISSION rule 1), even under a good signature.
    let pki = TestPki::new("nolabel");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, FROM));
    let xml = sample_envelope(FROM, TO, "thuong");
    let start = xml.find("<lt:Classification>").unwrap();
    let end = xml.find("</lt:Classification>").unwrap() + "</lt:Classification>".len();
    let unlabelled = format!("{}{}", &xml[..start], &xml[end..]);
    let signed = sign_xml(&unlabelled, &leaf);
    let e = check(&signed, &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::Envelope(_)), "{e}");
    assert!(e.to_string().contains("Classification"), "{e}");
}
