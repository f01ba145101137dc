#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! XML-DSig wrapping families beyond the one-per-rule refusals of `tests/sign.rs`: the shapes
//! published signature-wrapping attacks take (XSW1–8 of Somorovsky et al., "On Breaking SAML",
//! USENIX Security 2012; CVE-2009-0217 for HMAC truncation), each built from a genuinely signed
//! envelope and refused by `sign::verify` with its own named error. The rule that makes all of
//! them impossible: one Signature, a child of `edXMLHeader`, one Reference `URI=""` digesting
//! the very tree the caller gets back (`docs/THREATS.md`).

mod common;

use base64::Engine;
use common::{Alg, LeafSpec, TestPki, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{
    ChainFailure, TrustStore, VerifiedDocument, VerifyError, VerifyOptions, sign_document, verify,
};

const FROM: &str = "HU.CHAUTHANH";
const TO: &str = "TU.BENTRE";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sign_xml(xml: &str, leaf: &common::Leaf) -> String {
    let mut doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap();
    String::from_utf8(write_document(&doc)).unwrap()
}

fn signed(pki: &TestPki, alg: Alg) -> (String, common::Leaf) {
    let leaf = pki.leaf(LeafSpec::new(alg, FROM));
    (sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf), leaf)
}

fn check(xml: &str, trust: &TrustStore) -> Result<VerifiedDocument, VerifyError> {
    verify(xml.as_bytes(), trust, &VerifyOptions::now())
}

fn refused(xml: &str, trust: &TrustStore) -> VerifyError {
    match check(xml, trust) {
        Ok(_) => panic!("a wrapped document was accepted:\n{xml}"),
        Err(e) => e,
    }
}

fn mutate(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "fixture lacks {from:?}");
    xml.replacen(from, to, 1)
}

fn between<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let s = xml.find(open).unwrap();
    let e = xml[s..].find(close).unwrap() + s + close.len();
    &xml[s..e]
}

fn signature_block(xml: &str) -> String {
    between(xml, "<ds:Signature", "</ds:Signature>").to_owned()
}

fn body_block(xml: &str) -> String {
    between(xml, "<edXMLBody>", "</edXMLBody>").to_owned()
}

const EVIL_BODY: &str = "<edXMLBody><edXMLManifest/></edXMLBody>";

// === signature moved (XSW: the verifier finds a signature, the reader reads other content) ===

#[test]
fn signature_wrapped_in_an_extra_element_is_misplaced() {
    let pki = TestPki::new("xsw-wrap");
    let (xml, _) = signed(&pki, Alg::P256);
    let sig = signature_block(&xml);
    // Still inside edXMLHeader, but one level down: QCVN 102 puts it directly under the header.
    let bad = mutate(&xml, &sig, &format!("<Extension>{sig}</Extension>"));
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::SignatureMisplaced), "{e}");
    // Into the body, or as a child of the root.
    for (anchor, place) in [
        ("<edXMLManifest>", "body"),
        ("<edXMLBody>", "root"),
        ("</edXMLEnvelope>", "end of root"),
    ] {
        let without = xml.replace(&sig, "");
        let bad = mutate(&without, anchor, &format!("{sig}{anchor}"));
        let e = refused(&bad, &pki.trust());
        assert!(matches!(e, VerifyError::SignatureMisplaced), "{place}: {e}");
    }
}

#[test]
fn original_document_under_object_with_evil_content_in_its_place_is_refused() {
    // XSW3/XSW4: the signed original travels inside ds:Object (where a naive verifier digests
    // it), while the reader sees the attacker's body at the usual place.
    let pki = TestPki::new("xsw-object");
    let (xml, _) = signed(&pki, Alg::Rsa2048);
    let body = body_block(&xml);
    let bad = mutate(&xml, &body, EVIL_BODY);
    let bad = mutate(
        &bad,
        "</ds:KeyInfo>",
        &format!("</ds:KeyInfo><ds:Object Id=\"orig\">{body}</ds:Object>"),
    );
    let e = refused(&bad, &pki.trust());
    assert!(
        matches!(e, VerifyError::Structure(ref m) if m.contains("Object")),
        "{e}"
    );
    // The whole original envelope under Object, with its own (nested) signature removed.
    let inner = xml
        .replace(&signature_block(&xml), "")
        .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    let bad = mutate(
        &xml,
        "</ds:KeyInfo>",
        &format!("</ds:KeyInfo><ds:Object>{}</ds:Object>", inner.trim()),
    );
    let e = refused(&bad, &pki.trust());
    assert!(
        matches!(e, VerifyError::Structure(ref m) if m.contains("Object")),
        "{e}"
    );
}

// === references: a second one, or one to a sibling carrying the signed copy ===

#[test]
fn reference_to_a_sibling_copy_of_the_signed_body_is_refused() {
    // XSW1/XSW2: the signed body is kept as a sibling with an Id and the Reference points at it;
    // the reader takes the first edXMLBody, the attacker's.
    let pki = TestPki::new("xsw-sibling");
    let (xml, _) = signed(&pki, Alg::P256);
    let body = body_block(&xml);
    let copy = body.replacen("<edXMLBody>", "<edXMLBody Id=\"signed\">", 1);
    let bad = mutate(&xml, &body, &format!("{EVIL_BODY}{copy}"));
    let bad = mutate(
        &bad,
        "<ds:Reference URI=\"\">",
        "<ds:Reference URI=\"#signed\">",
    );
    let e = refused(&bad, &pki.trust());
    assert!(
        matches!(e, VerifyError::ReferenceUri { ref uri } if uri == "#signed"),
        "{e}"
    );
    // With URI="" kept, any added sibling is inside what the digest covers.
    let bad = mutate(&xml, &body, &format!("{EVIL_BODY}{body}"));
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::DigestMismatch), "{e}");
    // XPointer forms of "the whole document" or of an element are references to an id too.
    for uri in ["#xpointer(/)", "#xpointer(id('signed'))", "doc.xml", " "] {
        let bad = mutate(
            &xml,
            "<ds:Reference URI=\"\">",
            &format!("<ds:Reference URI=\"{uri}\">"),
        );
        let e = refused(&bad, &pki.trust());
        assert!(
            matches!(e, VerifyError::ReferenceUri { uri: ref u } if u == uri),
            "{uri}: {e}"
        );
    }
}

#[test]
fn second_reference_to_evil_content_is_refused() {
    let pki = TestPki::new("xsw-ref2");
    let (xml, _) = signed(&pki, Alg::Ed25519);
    let reference = between(&xml, "<ds:Reference", "</ds:Reference>").to_owned();
    // A second Reference placed before the genuine one, pointing at an id in the body.
    let evil_ref = reference.replacen("URI=\"\"", "URI=\"#evil\"", 1);
    let bad = mutate(&xml, &reference, &format!("{evil_ref}{reference}"));
    let bad = mutate(&bad, "<edXMLBody>", "<edXMLBody Id=\"evil\">");
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::ReferenceCount { found: 2 }), "{e}");
    // Removing the Reference altogether.
    let bad = mutate(&xml, &reference, "");
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::ReferenceCount { found: 0 }), "{e}");
}

// === duplicated ids ===

#[test]
fn duplicated_ids_in_every_spelling_are_refused() {
    let pki = TestPki::new("xsw-ids");
    let (xml, _) = signed(&pki, Alg::P256);
    for (a, b) in [("Id", "Id"), ("ID", "id"), ("id", "Id")] {
        let bad = mutate(&xml, "<edXMLBody>", &format!("<edXMLBody {a}=\"dup\">"));
        let bad = mutate(
            &bad,
            "<edXMLManifest>",
            &format!("<edXMLManifest {b}=\"dup\">"),
        );
        let e = refused(&bad, &pki.trust());
        assert!(
            matches!(e, VerifyError::DuplicateId { ref id } if id == "dup"),
            "{a}/{b}: {e}"
        );
    }
    let bad = mutate(&xml, "<ds:Signature ", "<ds:Signature Id=\"s\" ");
    let bad = mutate(&bad, "<edXMLBody>", "<edXMLBody Id=\"s\">");
    let e = refused(&bad, &pki.trust());
    assert!(
        matches!(e, VerifyError::DuplicateId { ref id } if id == "s"),
        "{e}"
    );
}

// === comment and whitespace injection ===

#[test]
fn comments_anywhere_are_refused() {
    let pki = TestPki::new("xsw-comment");
    let (xml, _) = signed(&pki, Alg::Rsa2048);
    for (from, to) in [
        // In signed text (the classic SAML NameID truncation).
        ("<OrganId>TU.", "<OrganId>TU.<!--x-->"),
        ("<Subject>Nghị", "<Subject><!---->Nghị"),
        // Inside SignedInfo and inside the DigestValue text.
        ("<ds:SignedInfo>", "<ds:SignedInfo><!-- -->"),
        ("<ds:DigestValue>", "<ds:DigestValue><!---->"),
        // Between elements and inside KeyInfo (outside the digested content).
        ("</edXMLHeader>", "</edXMLHeader><!-- -->"),
        ("<ds:KeyInfo>", "<ds:KeyInfo><!-- -->"),
    ] {
        let bad = mutate(&xml, from, to);
        let e = refused(&bad, &pki.trust());
        assert!(matches!(e, VerifyError::Comment), "{to}: {e}");
    }
}

#[test]
fn whitespace_injection_in_signed_content_and_signed_info_is_refused() {
    let pki = TestPki::new("xsw-ws");
    let (xml, _) = signed(&pki, Alg::P256);
    // In the signed document: text, between elements, as a character reference, in attributes.
    for (from, to) in [
        ("<OrganId>TU.BENTRE", "<OrganId> TU.BENTRE"),
        ("<OrganId>TU.BENTRE", "<OrganId>TU.BENTRE&#13;"),
        ("<OrganId>TU.BENTRE", "<OrganId>TU.BENTRE&#x9;"),
        ("</edXMLHeader>", "</edXMLHeader>\n  \n"),
        ("ContentId=\"a1\"", "ContentId=\"a1 \""),
        ("ContentId=\"a1\"", "ContentId=\"&#10;a1\""),
    ] {
        let bad = mutate(&xml, from, to);
        let e = refused(&bad, &pki.trust());
        assert!(matches!(e, VerifyError::DigestMismatch), "{to:?}: {e}");
    }
    // In SignedInfo the digest still matches, but the signed bytes changed.
    let bad = mutate(&xml, "</ds:SignedInfo>", " </ds:SignedInfo>");
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
}

#[test]
fn prefix_and_namespace_games_are_refused() {
    let pki = TestPki::new("xsw-ns");
    let (xml, _) = signed(&pki, Alg::P256);
    // The ds prefix rebound to a look-alike namespace: no XML-DSig Signature remains.
    let bad = xml.replacen(
        "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
        "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#x\"",
        1,
    );
    assert_ne!(bad, xml);
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::SignatureCount { found: 0 }), "{e}");
    // The whole envelope moved into another default namespace: not an edXML envelope.
    let bad = mutate(
        &xml,
        "xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"",
        "xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016/evil\"",
    );
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::NotAnEnvelope(_)), "{e}");
    // A foreign-namespace element with the same local name beside the real one is digested
    // content like any other.
    let bad = mutate(
        &xml,
        "<edXMLBody>",
        "<edXMLBody><e:edXMLManifest xmlns:e=\"urn:evil\"/>",
    );
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::DigestMismatch), "{e}");
}

// === KeyInfo swap ===

#[test]
fn keyinfo_swapped_to_an_attackers_own_key_is_refused() {
    let pki = TestPki::new("xsw-keyinfo");
    let (xml, _) = signed(&pki, Alg::P256);
    let tampered = mutate(
        &xml,
        "<CodeNumber>07</CodeNumber>",
        "<CodeNumber>99</CodeNumber>",
    );
    let unsigned = tampered.replace(&signature_block(&tampered), "");

    // The attacker re-signs with a key from a CA of their own, claiming the same organ.
    let rogue = TestPki::new("rogue");
    let rogue_leaf = rogue.leaf(LeafSpec::new(Alg::P256, FROM));
    let resigned = sign_xml(&unsigned, &rogue_leaf);
    let e = refused(&resigned, &pki.trust());
    assert!(
        matches!(
            e,
            VerifyError::Chain {
                reason: ChainFailure::UnknownIssuer,
                ..
            }
        ),
        "{e}"
    );

    // … or with a genuine certificate of another committee from the trusted CA.
    let other = pki.leaf(LeafSpec::new(Alg::P256, "TU.BENTRE"));
    let resigned = sign_xml(&unsigned, &other);
    let e = refused(&resigned, &pki.trust());
    assert!(matches!(e, VerifyError::OrganMismatch { .. }), "{e}");

    // … or keeps the genuine signature and puts its own certificate first in X509Data: the
    // first certificate is the leaf, and the genuine signature does not verify with its key.
    let rogue_b64 = B64.encode(rogue_leaf.cert.as_ref());
    let bad = mutate(
        &xml,
        "<ds:X509Data>",
        &format!("<ds:X509Data><ds:X509Certificate>{rogue_b64}</ds:X509Certificate>"),
    );
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");

    // A KeyName or a bare KeyValue beside the certificate (a key the verifier might prefer).
    for extra in [
        "<ds:KeyName>VPTW</ds:KeyName>",
        "<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus><ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>",
    ] {
        let bad = mutate(&xml, "</ds:KeyInfo>", &format!("{extra}</ds:KeyInfo>"));
        let e = refused(&bad, &pki.trust());
        assert!(matches!(e, VerifyError::Structure(_)), "{extra}: {e}");
    }
    // No certificate at all.
    let x509 = between(&xml, "<ds:X509Data>", "</ds:X509Data>").to_owned();
    let bad = mutate(&xml, &x509, "<ds:X509Data/>");
    let e = refused(&bad, &pki.trust());
    assert!(matches!(e, VerifyError::NoCertificate), "{e}");
}

// === algorithm downgrade and HMAC confusion ===

#[test]
fn algorithm_downgrades_are_refused() {
    let pki = TestPki::new("xsw-alg");
    let (rsa, _) = signed(&pki, Alg::Rsa2048);
    let (ec, _) = signed(&pki, Alg::P256);
    // SHA-1 family: legacy, verify-only behind --allow-legacy.
    for (xml, from, to) in [
        (
            &ec,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        ),
        (
            &rsa,
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    ] {
        let bad = mutate(xml, from, to);
        let e = refused(&bad, &pki.trust());
        assert!(
            matches!(
                e,
                VerifyError::Legacy { .. } | VerifyError::Algorithm { .. }
            ),
            "{to}: {e}"
        );
    }
    // Never accepted at all: MD5, RSA-MD5, SHA-224, DSA.
    for (from, to, role) in [
        (
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2001/04/xmldsig-more#md5",
            "DigestMethod",
        ),
        (
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2001/04/xmldsig-more#sha224",
            "DigestMethod",
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
            "SignatureMethod",
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            "SignatureMethod",
        ),
    ] {
        let bad = mutate(&rsa, from, to);
        let e = refused(&bad, &pki.trust());
        assert!(
            matches!(e, VerifyError::Algorithm { role: r, .. } if r == role),
            "{to}: {e}"
        );
    }
}

#[test]
fn hmac_instead_of_a_public_key_signature_is_refused() {
    // Key confusion: with HMAC the "key" would be the public certificate bytes, which anyone
    // has; CVE-2009-0217 adds HMACOutputLength truncation to zero bits.
    let pki = TestPki::new("xsw-hmac");
    let (rsa, _) = signed(&pki, Alg::Rsa2048);
    let (ec, _) = signed(&pki, Alg::P256);
    for (xml, method) in [
        (&rsa, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        (&ec, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
    ] {
        for hmac in [
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512",
        ] {
            let bad = mutate(xml, method, hmac);
            let e = refused(&bad, &pki.trust());
            assert!(
                matches!(
                    e,
                    VerifyError::Algorithm {
                        role: "SignatureMethod",
                        ..
                    }
                ),
                "{hmac}: {e}"
            );
        }
        let sm = between(xml, "<ds:SignatureMethod", "/>").to_owned();
        let truncated = "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#hmac-sha1\"><ds:HMACOutputLength>0</ds:HMACOutputLength></ds:SignatureMethod>";
        let bad = mutate(xml, &sm, truncated);
        let e = refused(&bad, &pki.trust());
        assert!(matches!(e, VerifyError::Algorithm { .. }), "{e}");
    }
}

// === truncated and malformed signature values ===

fn with_signature_value(xml: &str, value: &str) -> String {
    let old = between(xml, "<ds:SignatureValue>", "</ds:SignatureValue>");
    xml.replacen(
        old,
        &format!("<ds:SignatureValue>{value}</ds:SignatureValue>"),
        1,
    )
}

fn signature_value(xml: &str) -> Vec<u8> {
    let v = between(xml, "<ds:SignatureValue>", "</ds:SignatureValue>");
    let v = v
        .trim_start_matches("<ds:SignatureValue>")
        .trim_end_matches("</ds:SignatureValue>");
    let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(v).unwrap()
}

#[test]
fn truncated_extended_and_empty_signature_values_are_refused() {
    let pki = TestPki::new("xsw-trunc");
    for alg in [Alg::Rsa2048, Alg::P256, Alg::Ed25519] {
        let (xml, _) = signed(&pki, alg);
        let sig = signature_value(&xml);
        let cases = [
            ("empty", Vec::new()),
            ("one byte", sig[..1].to_vec()),
            ("half", sig[..sig.len() / 2].to_vec()),
            ("last byte dropped", sig[..sig.len() - 1].to_vec()),
            ("a byte appended", [sig.as_slice(), &[0]].concat()),
            ("zeros", vec![0; sig.len()]),
            ("doubled", [sig.as_slice(), sig.as_slice()].concat()),
        ];
        for (what, value) in cases {
            let bad = with_signature_value(&xml, &B64.encode(&value));
            let e = refused(&bad, &pki.trust());
            assert!(
                matches!(e, VerifyError::BadSignature { .. }),
                "{alg:?} {what}: {e}"
            );
        }
        // Not base64 at all, or base64 with a truncated final quantum.
        let b = B64.encode(&sig);
        for value in ["!!!!", "A", &b[..b.len() - 1]] {
            let bad = with_signature_value(&xml, value);
            let e = refused(&bad, &pki.trust());
            assert!(
                matches!(
                    e,
                    VerifyError::Base64 { .. } | VerifyError::BadSignature { .. }
                ),
                "{alg:?} {value:?}: {e}"
            );
        }
        let bad = with_signature_value(&xml, "!!!!");
        let e = refused(&bad, &pki.trust());
        assert!(matches!(e, VerifyError::Base64 { .. }), "{alg:?}: {e}");
    }
}

#[test]
fn the_genuine_document_still_verifies() {
    // The twin of every refusal above: the unmodified fixture passes, so each refusal is due
    // to the mutation alone.
    let pki = TestPki::new("xsw-ok");
    for alg in [Alg::Rsa2048, Alg::P256, Alg::Ed25519] {
        let (xml, _) = signed(&pki, alg);
        let v = check(&xml, &pki.trust()).unwrap();
        assert_eq!(v.signer().organ(), FROM);
    }
}
