//! `lienthong encrypt` / `lienthong decrypt` against referees (issue 22): xmlsec1 (Debian's
//! 1.2.37) and openssl, both ways, and every hostile case refused with its named reason and
//! nothing written.
//!
//! What xmlsec1 1.2.37 cannot do: it knows `xmlenc#rsa-oaep-mgf1p` with SHA-1 only (neither
//! `xmlenc11#rsa-oaep` nor a SHA-256 OAEP digest). So xmlsec1 referees lienthong's
//! `--oaep mgf1p` end to end, and the default (`xmlenc11#rsa-oaep`, SHA-256, MGF1-SHA256) is
//! refereed in two halves: `openssl pkeyutl` unwraps (or wraps) the content key with OAEP
//! SHA-256, and xmlsec1 decrypts (or encrypts) the AES-256-GCM content with that key.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Alg, Eku, LeafSpec, TestPki, run, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{VerifyOptions, sign_document, verify};
use rcgen::KeyUsagePurpose;

const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

struct Party {
    key: PathBuf,
    cert: PathBuf,
}

struct Fixture {
    dir: tempfile::TempDir,
    pki: TestPki,
    central: Party,
    province: Party,
    /// A signed `mat` envelope: the plaintext every case seals.
    plain: PathBuf,
}

fn encryption_leaf(pki: &TestPki, dir: &Path, organ: &str, serial: u64) -> Party {
    let mut spec = LeafSpec::new(Alg::Rsa2048, organ);
    spec.eku = Eku::None;
    spec.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    spec.serial = serial;
    spec.fresh_key = true;
    let leaf = pki.leaf(spec);
    let key = dir.join(format!("{organ}.key.pem"));
    let cert = dir.join(format!("{organ}.cert.pem"));
    std::fs::write(&key, leaf.key_pem()).unwrap();
    std::fs::write(&cert, leaf.cert_pem()).unwrap();
    Party { key, cert }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("seal");
    let central = encryption_leaf(&pki, dir.path(), "TW.VPTW", 7001);
    let province = encryption_leaf(&pki, dir.path(), "TU.BENTRE", 7002);
    let signer = pki.leaf(LeafSpec::new(Alg::Rsa2048, "HU.CHAUTHANH"));
    let mut doc = parse(
        sample_envelope("HU.CHAUTHANH", "TW.VPTW", "mat").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    sign_document(&mut doc, &signer.signer(), &signer.chain).unwrap();
    let plain = dir.path().join("signed.xml");
    std::fs::write(&plain, write_document(&doc)).unwrap();
    Fixture {
        dir,
        pki,
        central,
        province,
        plain,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn encrypt(&self, oaep: &str, to: &[&Party], out: &str) -> PathBuf {
        let out = self.path(out);
        let mut cmd = Command::new(BIN);
        cmd.arg("encrypt").arg("--oaep").arg(oaep);
        for p in to {
            cmd.arg("--to-cert").arg(&p.cert);
        }
        let (ok, _, err) = run(cmd.arg(&self.plain).arg("-o").arg(&out));
        assert!(ok, "lienthong encrypt failed: {err}");
        out
    }

    /// `lienthong decrypt` with `party`'s key: (ok, stderr, output path).
    fn decrypt(&self, party: &Party, input: &Path) -> (bool, String, PathBuf) {
        let out = self.path("decrypted.out");
        let _ = std::fs::remove_file(&out);
        let (ok, _, err) = run(Command::new(BIN)
            .arg("decrypt")
            .arg("--key")
            .arg(&party.key)
            .arg("--cert")
            .arg(&party.cert)
            .arg(input)
            .arg("-o")
            .arg(&out));
        (ok, err, out)
    }

    fn plaintext(&self) -> Vec<u8> {
        std::fs::read(&self.plain).unwrap()
    }

    /// The refusal of a hostile input: exit 1, the reason named, no output file.
    fn refused(&self, party: &Party, input: &Path, reason: &str) {
        let (ok, err, out) = self.decrypt(party, input);
        assert!(!ok, "decrypt accepted a hostile input ({reason})");
        assert!(
            err.contains(&format!("refused ({reason})")),
            "expected reason {reason}, got: {err}"
        );
        assert!(!out.exists(), "a refused decryption wrote output");
    }
}

/// `openssl pkeyutl` with RSA-OAEP, SHA-256 and MGF1-SHA256: `op` (decrypt or encrypt, and how
/// `key` is given) on `input` into `output`. (ok, stderr).
fn openssl_oaep_sha256(op: &[&str], key: &Path, input: &Path, output: &Path) -> (bool, String) {
    let (ok, _, err) = run(Command::new("openssl")
        .arg("pkeyutl")
        .args(op)
        .arg(key)
        .args([
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
        ])
        .args(["-pkeyopt", "rsa_mgf1_md:sha256", "-in"])
        .arg(input)
        .arg("-out")
        .arg(output));
    (ok, err)
}

fn xmlsec(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let (ok, out, err) = run(Command::new("xmlsec1").args(args));
    (ok, format!("{out}{err}"))
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// The base64 inside the first `<tag>…</tag>` after `after`.
fn first_value(xml: &str, after: &str, tag: &str) -> Vec<u8> {
    let from = xml.find(after).unwrap();
    let open = format!("<{tag}>");
    let start = xml[from..].find(&open).unwrap() + from + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    let text: String = xml[start..end].split_whitespace().collect();
    STANDARD.decode(text).unwrap()
}

/// Replaces `EncryptedData`'s whole `ds:KeyInfo` (the `EncryptedKey`s) with `replacement`.
fn replace_key_info(xml: &str, replacement: &str) -> String {
    let start = xml.find("<ds:KeyInfo>").unwrap();
    let close = "</xenc:EncryptedKey></ds:KeyInfo>";
    let end = xml.rfind(close).unwrap() + close.len();
    format!("{}{replacement}{}", &xml[..start], &xml[end..])
}

#[test]
fn xmlsec1_decrypts_what_lienthong_encrypts_and_the_result_still_verifies() {
    let f = fixture();
    let sealed = f.encrypt("mgf1p", &[&f.central, &f.province], "sealed.xml");
    let text = std::fs::read_to_string(&sealed).unwrap();
    assert!(!text.contains("HU.CHAUTHANH") && !text.contains("Attachment"));
    for party in [&f.central, &f.province] {
        let out = f.path("by-xmlsec.out");
        let (ok, log) = xmlsec(&[
            os("--decrypt"),
            os("--privkey-pem"),
            party.key.as_os_str(),
            os("--output"),
            out.as_os_str(),
            sealed.as_os_str(),
        ]);
        assert!(ok, "xmlsec1 could not decrypt lienthong's output:\n{log}");
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got, f.plaintext(), "xmlsec1 decrypted other bytes");
        verify(&got, &f.pki.trust(), &VerifyOptions::now()).unwrap();
    }
}

#[test]
fn lienthong_decrypts_what_xmlsec1_encrypts() {
    let f = fixture();
    let template = f.path("template.xml");
    std::fs::write(
        &template,
        r#"<?xml version="1.0"?>
<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#" MimeType="application/xml">
<EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">
<EncryptedKey xmlns="http://www.w3.org/2001/04/xmlenc#">
<EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate/></X509Data></KeyInfo>
<CipherData><CipherValue/></CipherData>
</EncryptedKey>
</KeyInfo>
<CipherData><CipherValue/></CipherData>
</EncryptedData>
"#,
    )
    .unwrap();
    let sealed = f.path("by-xmlsec.xml");
    let (ok, log) = xmlsec(&[
        os("--encrypt"),
        os("--pubkey-cert-pem"),
        f.central.cert.as_os_str(),
        os("--session-key"),
        os("aes-256"),
        os("--binary-data"),
        f.plain.as_os_str(),
        os("--output"),
        sealed.as_os_str(),
        template.as_os_str(),
    ]);
    assert!(ok, "xmlsec1 --encrypt failed:\n{log}");
    let (ok, err, out) = f.decrypt(&f.central, &sealed);
    assert!(ok, "lienthong could not decrypt xmlsec1's output: {err}");
    assert_eq!(std::fs::read(&out).unwrap(), f.plaintext());
    // xmlsec1 named the certificate with X509Certificate: another key is not a recipient.
    f.refused(&f.province, &sealed, "not_a_recipient");
}

#[test]
fn oaep_sha256_is_refereed_by_openssl_and_the_content_by_xmlsec1() {
    let f = fixture();
    let sealed = f.encrypt("sha256", &[&f.central], "sealed-sha256.xml");
    let text = std::fs::read_to_string(&sealed).unwrap();
    assert!(text.contains("xmlenc11#rsa-oaep") && text.contains("mgf1sha256"));
    // openssl unwraps the content key with OAEP SHA-256 / MGF1-SHA256.
    let wrapped = f.path("wrapped.bin");
    std::fs::write(
        &wrapped,
        first_value(&text, "<xenc:EncryptedKey", "xenc:CipherValue"),
    )
    .unwrap();
    let cek = f.path("cek.bin");
    let (ok, err) = openssl_oaep_sha256(&["-decrypt", "-inkey"], &f.central.key, &wrapped, &cek);
    assert!(
        ok,
        "openssl could not unwrap lienthong's OAEP-SHA256 key: {err}"
    );
    assert_eq!(std::fs::metadata(&cek).unwrap().len(), 32);
    // xmlsec1 decrypts the AES-256-GCM content with that key.
    let named = f.path("keyname.xml");
    std::fs::write(
        &named,
        replace_key_info(
            &text,
            "<ds:KeyInfo><ds:KeyName>cek</ds:KeyName></ds:KeyInfo>",
        ),
    )
    .unwrap();
    let out = f.path("content.out");
    let (ok, log) = xmlsec(&[
        os("--decrypt"),
        os("--aeskey:cek"),
        cek.as_os_str(),
        os("--output"),
        out.as_os_str(),
        named.as_os_str(),
    ]);
    assert!(ok, "xmlsec1 could not decrypt the content:\n{log}");
    assert_eq!(std::fs::read(&out).unwrap(), f.plaintext());
}

#[test]
fn lienthong_decrypts_an_openssl_oaep_sha256_key_around_xmlsec1_content() {
    let f = fixture();
    let cek = f.path("cek.bin");
    std::fs::write(&cek, [0x5au8; 32].map(|b| b ^ 0x33)).unwrap();
    let template = f.path("template.xml");
    std::fs::write(
        &template,
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" MimeType="application/xml"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo><ds:KeyName>cek</ds:KeyName></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#,
    )
    .unwrap();
    let content = f.path("content.xml");
    let (ok, log) = xmlsec(&[
        os("--encrypt"),
        os("--aeskey:cek"),
        cek.as_os_str(),
        os("--binary-data"),
        f.plain.as_os_str(),
        os("--output"),
        content.as_os_str(),
        template.as_os_str(),
    ]);
    assert!(ok, "xmlsec1 --encrypt failed:\n{log}");
    let wrapped = f.path("wrapped.bin");
    let (ok, err) = openssl_oaep_sha256(
        &["-encrypt", "-certin", "-inkey"],
        &f.central.cert,
        &cek,
        &wrapped,
    );
    assert!(ok, "openssl could not wrap: {err}");
    let encrypted_key = format!(
        r#"<ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"#,
        STANDARD.encode(std::fs::read(&wrapped).unwrap())
    );
    let text = std::fs::read_to_string(&content).unwrap();
    let start = text.find("<ds:KeyInfo>").unwrap();
    let end = text.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
    let sealed = f.path("mixed.xml");
    std::fs::write(
        &sealed,
        format!("{}{encrypted_key}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    let (ok, err, out) = f.decrypt(&f.central, &sealed);
    assert!(ok, "lienthong could not decrypt: {err}");
    assert_eq!(std::fs::read(&out).unwrap(), f.plaintext());
}

#[test]
fn hostile_inputs_are_refused_by_name_and_nothing_is_written() {
    let f = fixture();
    let sealed = f.encrypt("sha256", &[&f.central, &f.province], "two.xml");
    let text = std::fs::read_to_string(&sealed).unwrap();
    let write = |name: &str, body: &str| {
        let p = f.path(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    // A third party's key: not a recipient.
    let outsider = encryption_leaf(&f.pki, f.dir.path(), "HU.GIONGTROM", 7003);
    f.refused(&outsider, &sealed, "not_a_recipient");

    // The two EncryptedKeys' wrapped values swapped (each still names its certificate).
    let a = STANDARD.encode(first_value(&text, "<xenc:EncryptedKey", "xenc:CipherValue"));
    let second = text.match_indices("<xenc:EncryptedKey").nth(1).unwrap().0;
    let b = STANDARD.encode(first_value(
        &text[second..],
        "<xenc:EncryptedKey",
        "xenc:CipherValue",
    ));
    let swapped = text
        .replacen(&a, "@A@", 1)
        .replacen(&b, &a, 1)
        .replacen("@A@", &b, 1);
    let swapped = write("swapped.xml", &swapped);
    f.refused(&f.central, &swapped, "key_unwrap");
    f.refused(&f.province, &swapped, "key_unwrap");

    // The content: a flipped tag bit, a flipped ciphertext bit, a truncated ciphertext.
    let content_b64 = STANDARD.encode(first_value(
        &text,
        "</xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData>",
        "xenc:CipherValue",
    ));
    let mut content = STANDARD.decode(&content_b64).unwrap();
    let n = content.len();
    content[n - 1] ^= 1;
    let tag = write(
        "tag.xml",
        &text.replace(&content_b64, &STANDARD.encode(&content)),
    );
    f.refused(&f.central, &tag, "tag");
    content[n - 1] ^= 1;
    content[20] ^= 0x40;
    let body = write(
        "body.xml",
        &text.replace(&content_b64, &STANDARD.encode(&content)),
    );
    f.refused(&f.central, &body, "tag");
    let cut = write(
        "cut.xml",
        &text.replace(&content_b64, &STANDARD.encode(&content[..20])),
    );
    f.refused(&f.central, &cut, "truncated");

    // Junk posing as a sealed document; an algorithm we do not read; not base64.
    let junk = write(
        "junk.xml",
        "<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\">junk</xenc:EncryptedData>",
    );
    f.refused(&f.central, &junk, "layout");
    let cbc = write(
        "cbc.xml",
        &text.replace("xmlenc11#aes256-gcm", "xmlenc#aes256-cbc"),
    );
    f.refused(&f.central, &cbc, "unsupported_algorithm");
    let b64 = write("b64.xml", &text.replace(&content_b64, "%%%%"));
    f.refused(&f.central, &b64, "base64");

    // Encrypting to a signing certificate (no keyEncipherment) is refused before anything.
    let signer = f.pki.leaf(LeafSpec::new(Alg::Rsa2048, "HU.CHAUTHANH"));
    let signing_cert = write("signing.pem", &signer.cert_pem());
    let out = f.path("never.xml");
    let (ok, _, err) = run(Command::new(BIN)
        .arg("encrypt")
        .arg("--to-cert")
        .arg(&signing_cert)
        .arg(&f.plain)
        .arg("-o")
        .arg(&out));
    assert!(!ok && err.contains("refused (not_for_encryption)"), "{err}");
    assert!(!out.exists());

    // A key with someone else's certificate.
    let (ok, _, err) = run(Command::new(BIN)
        .arg("decrypt")
        .arg("--key")
        .arg(&f.central.key)
        .arg("--cert")
        .arg(&f.province.cert)
        .arg(&sealed));
    assert!(!ok && err.contains("refused (key_mismatch)"), "{err}");
}
