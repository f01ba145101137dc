//! Interop with the referee, `xmlsec1` (Debian package xmlsec1, installed by `.ci/run`):
//! documents lienthong signs verify with xmlsec1, and documents xmlsec1 signs verify with
//! lienthong — RSA and ECDSA — and one tampered byte makes both refuse.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Alg, LeafSpec, TestPki, run, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{VerifyError, VerifyOptions, sign_document, verify};

const FROM: &str = "HU.CHAUTHANH";

fn xmlsec_verify(dir: &Path, file: &Path) -> (bool, String) {
    let (ok, out, err) = run(Command::new("xmlsec1")
        .arg("--verify")
        .arg("--trusted-pem")
        .arg(dir.join("root.pem"))
        .arg("--enabled-reference-uris")
        .arg("empty")
        .arg(file));
    (ok, format!("{out}{err}"))
}

fn setup(alg: Alg) -> (tempfile::TempDir, TestPki, common::Leaf) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("interop");
    let leaf = pki.leaf(LeafSpec::new(alg, FROM));
    std::fs::write(dir.path().join("root.pem"), pki.root_pem()).unwrap();
    std::fs::write(dir.path().join("inter.pem"), pki.inter_pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), leaf.key_pem()).unwrap();
    std::fs::write(dir.path().join("cert.pem"), leaf.cert_pem()).unwrap();
    (dir, pki, leaf)
}

fn lienthong_signs_xmlsec_verifies(alg: Alg) {
    let (dir, _pki, leaf) = setup(alg);
    let mut doc = parse(
        sample_envelope(FROM, "TU.BENTRE", "thuong").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap();
    let signed = write_document(&doc);
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, &signed).unwrap();
    let (ok, log) = xmlsec_verify(dir.path(), &file);
    assert!(
        ok,
        "xmlsec1 refused a lienthong signature ({alg:?}):\n{log}"
    );

    let tampered = String::from_utf8(signed)
        .unwrap()
        .replacen("Toàn văn", "Toàn vǎn", 1);
    std::fs::write(&file, tampered).unwrap();
    let (ok, _) = xmlsec_verify(dir.path(), &file);
    assert!(!ok, "xmlsec1 accepted a tampered document ({alg:?})");
}

#[test]
fn lienthong_rsa_signature_verifies_with_xmlsec1() {
    lienthong_signs_xmlsec_verifies(Alg::Rsa2048);
}

#[test]
fn lienthong_ecdsa_signature_verifies_with_xmlsec1() {
    lienthong_signs_xmlsec_verifies(Alg::P256);
}

/// An empty xmlsec1 signature template: `c14n` for SignedInfo, enveloped-signature then
/// `transform` for the one `URI=""` Reference, `method` and `digest`.
fn signature_template(c14n: &str, transform: &str, method: &str, digest: &str) -> String {
    format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="{c14n}"/>
        <ds:SignatureMethod Algorithm="{method}"/>
        <ds:Reference URI="">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="{transform}"/>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="{digest}"/>
          <ds:DigestValue></ds:DigestValue>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue></ds:SignatureValue>
      <ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo>
    </ds:Signature>"#
    )
}

fn template(sig_method: &str, digest_method: &str) -> String {
    let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
    let sig = signature_template(exc, exc, sig_method, digest_method);
    sample_envelope(FROM, "TU.BENTRE", "thuong").replacen(
        "</edXMLHeader>",
        &format!("{sig}\n  </edXMLHeader>"),
        1,
    )
}

fn xmlsec_sign(dir: &Path, tpl: &str) -> Vec<u8> {
    let t = dir.join("template.xml");
    let out = dir.join("xmlsec-signed.xml");
    std::fs::write(&t, tpl).unwrap();
    let keyspec = format!(
        "{},{},{}",
        dir.join("key.pem").display(),
        dir.join("cert.pem").display(),
        dir.join("inter.pem").display()
    );
    let (ok, o, e) = run(Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(keyspec)
        .arg("--output")
        .arg(&out)
        .arg(&t));
    assert!(ok, "xmlsec1 --sign failed:\n{o}{e}");
    std::fs::read(out).unwrap()
}

fn xmlsec_signs_lienthong_verifies(alg: Alg, method: &str) {
    let name = xmlsec_signs_lienthong_verifies_named(alg, method);
    assert!(method.ends_with(name.rsplit('-').next().unwrap()), "{name}");
}

/// As above, returning the algorithm name lienthong reports.
fn xmlsec_signs_lienthong_verifies_named(alg: Alg, method: &str) -> &'static str {
    let (dir, pki, _leaf) = setup(alg);
    let signed = xmlsec_sign(
        dir.path(),
        &template(method, "http://www.w3.org/2001/04/xmlenc#sha256"),
    );
    let v = verify(&signed, &pki.trust(), &VerifyOptions::now())
        .unwrap_or_else(|e| panic!("lienthong refused an xmlsec1 signature ({alg:?}): {e}"));
    assert_eq!(v.signer().organ(), FROM);

    let tampered = String::from_utf8(signed)
        .unwrap()
        .replacen("Toàn văn", "Toàn vǎn", 1);
    let e = verify(tampered.as_bytes(), &pki.trust(), &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::DigestMismatch), "{e}");
    v.signer().algorithm()
}

#[test]
fn xmlsec1_rsa_signature_verifies_with_lienthong() {
    xmlsec_signs_lienthong_verifies(
        Alg::Rsa2048,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    );
}

#[test]
fn xmlsec1_ecdsa_signature_verifies_with_lienthong() {
    xmlsec_signs_lienthong_verifies(
        Alg::P256,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    );
}

#[test]
fn legacy_rsa_sha1_archive_needs_allow_legacy() {
    let (dir, pki, _leaf) = setup(Alg::Rsa2048);
    let signed = xmlsec_sign(
        dir.path(),
        &template(
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    );
    let e = verify(&signed, &pki.trust(), &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::Legacy { .. }), "{e}");
    let legacy = VerifyOptions {
        allow_legacy: true,
        ..VerifyOptions::now()
    };
    let v = verify(&signed, &pki.trust(), &legacy).unwrap();
    assert_eq!(v.signer().algorithm(), "rsa-sha1");
}

// === verify-only algorithms deployed CAs' holders sign with (issue 30, item 5) ===

#[test]
fn xmlsec1_rsa_sha384_signature_verifies_with_lienthong() {
    let name = xmlsec_signs_lienthong_verifies_named(
        Alg::Rsa2048,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    );
    assert_eq!(name, "rsa-sha384");
}

#[test]
fn xmlsec1_rsa_sha512_signature_verifies_with_lienthong() {
    let name = xmlsec_signs_lienthong_verifies_named(
        Alg::Rsa2048,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    );
    assert_eq!(name, "rsa-sha512");
}

#[test]
fn xmlsec1_ecdsa_p384_sha384_signature_verifies_with_lienthong() {
    let name = xmlsec_signs_lienthong_verifies_named(
        Alg::P384,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    );
    assert_eq!(name, "ecdsa-sha384");
}

#[test]
fn ecdsa_sha384_with_a_p256_key_is_a_key_mismatch() {
    let (dir, pki, _leaf) = setup(Alg::P256);
    let signed = xmlsec_sign(
        dir.path(),
        &template(
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
    );
    let e = verify(&signed, &pki.trust(), &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::KeyMismatch { .. }), "{e}");
}

// === real XML-DSig on the SDKs' field form (issue 28, item 6) ===

/// A real SDK document (`tests/data/edxml-field/`, From the leaf's organ, the SDK's look-alike
/// `Signature` taken out) with an xmlsec1 template shaped as the SDK's signer shapes it:
/// `c14n_method` for SignedInfo, `transform` after enveloped-signature, `method`/`digest`.
fn field_template(c14n_method: &str, transform: &str, method: &str, digest: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/edxml-field/truclienthong-example--edoc_new.edxml");
    let doc = std::fs::read_to_string(path).unwrap().replacen(
        "<edXML:OrganId>000.00.00.A80",
        &format!("<edXML:OrganId>{FROM}"),
        1,
    );
    let start = doc.find("<Signature>").unwrap();
    let end = doc.find("</Signature>").unwrap() + "</Signature>".len();
    let sig = signature_template(c14n_method, transform, method, digest);
    format!("{}{sig}{}", &doc[..start], &doc[end..])
}

const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

#[test]
fn an_sdk_shaped_legacy_signature_on_the_field_form_verifies_only_with_allow_legacy() {
    let (dir, pki, _leaf) = setup(Alg::Rsa2048);
    let signed = xmlsec_sign(
        dir.path(),
        &field_template(
            C14N_10,
            EXC,
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    );
    // The referee accepts what it made.
    let file = dir.path().join("field-signed.edxml");
    std::fs::write(&file, &signed).unwrap();
    let (ok, log) = xmlsec_verify(dir.path(), &file);
    assert!(ok, "xmlsec1 refused its own field signature:\n{log}");

    let e =
        lienthong::sign::verify_field(&signed, &pki.trust(), &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::Legacy { .. }), "{e}");
    let legacy = VerifyOptions {
        allow_legacy: true,
        ..VerifyOptions::now()
    };
    let v = lienthong::sign::verify_field(&signed, &pki.trust(), &legacy).unwrap();
    assert_eq!(v.signer().organ(), FROM);
    assert_eq!(
        v.legacy(),
        ["c14n-1.0 (SignedInfo)", "rsa-sha1", "sha1 digest"]
    );
    assert_eq!(v.field().attachments.len(), 1);

    // One byte of the attachment part (outside the envelope, inside the signed document).
    let text = String::from_utf8(signed.clone()).unwrap();
    let at = text.find("<edXML:ContentTransferEncoded").unwrap();
    let at = at + text[at..].find('>').unwrap() + 10;
    let mut tampered = text.clone().into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let e = lienthong::sign::verify_field(&tampered, &pki.trust(), &legacy).unwrap_err();
    assert!(matches!(e, VerifyError::DigestMismatch), "{e}");
    std::fs::write(&file, &tampered).unwrap();
    assert!(
        !xmlsec_verify(dir.path(), &file).0,
        "xmlsec1 accepted a tampered part"
    );

    // The CLI says it too.
    std::fs::write(&file, &signed).unwrap();
    let root = dir.path().join("root.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["verify", "--json", "--allow-legacy", "--trust"])
        .arg(&root)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["profile"], "field");
    assert_eq!(j["legacy"][1], "rsa-sha1");
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["verify", "--json", "--trust"])
        .arg(&root)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["reason"], "legacy", "{j}");
}

#[test]
fn a_modern_signature_on_the_field_form_verifies_without_legacy_and_inclusive_c14n_references_too()
{
    let (dir, pki, _leaf) = setup(Alg::Rsa2048);
    let modern = xmlsec_sign(
        dir.path(),
        &field_template(
            EXC,
            EXC,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
    );
    let v = lienthong::sign::verify_field(&modern, &pki.trust(), &VerifyOptions::now()).unwrap();
    assert!(v.legacy().is_empty());
    // Inclusive c14n as the Reference transform too (legacy).
    let both = xmlsec_sign(
        dir.path(),
        &field_template(
            C14N_10,
            C14N_10,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
    );
    let legacy = VerifyOptions {
        allow_legacy: true,
        ..VerifyOptions::now()
    };
    let v = lienthong::sign::verify_field(&both, &pki.trust(), &legacy).unwrap();
    assert_eq!(
        v.legacy(),
        ["c14n-1.0 (SignedInfo)", "c14n-1.0 (Reference)"]
    );
    // A document whose From is another organ, signed with this organ's certificate: the
    // organ binding refuses it (the signature itself is good).
    let other = xmlsec_sign(
        dir.path(),
        &field_template(
            EXC,
            EXC,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        )
        .replacen(
            &format!("<edXML:OrganId>{FROM}"),
            "<edXML:OrganId>TU.BENTRE",
            1,
        ),
    );
    let e = lienthong::sign::verify_field(&other, &pki.trust(), &legacy).unwrap_err();
    assert!(matches!(e, VerifyError::OrganMismatch { .. }), "{e}");
    // xml:* attributes above an inclusive-c14n SignedInfo would be inherited onto it, which
    // lienthong's c14n does not render: refused by name rather than misread.
    let xml_lang = xmlsec_sign(
        dir.path(),
        &field_template(
            C14N_10,
            EXC,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        )
        .replacen(
            "<edXML:edXMLHeader>",
            "<edXML:edXMLHeader xml:lang=\"vi\">",
            1,
        ),
    );
    let e = lienthong::sign::verify_field(&xml_lang, &pki.trust(), &legacy).unwrap_err();
    assert!(
        matches!(&e, VerifyError::Structure(m) if m.contains("xml:* attributes")),
        "{e}"
    );
}
