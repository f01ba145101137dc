#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::OnceLock;

use rcgen::{CertificateParams, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256};
use rsa::pkcs8::EncodePrivateKey;

use super::*;
use crate::doc::write::write_element;

/// (PKCS#8 DER, certificate DER) of an RSA-2048 encryption certificate.
fn party(n: usize) -> &'static (Vec<u8>, Vec<u8>) {
    static PARTIES: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    &PARTIES.get_or_init(|| {
        (0..3)
            .map(|i| {
                make(
                    &format!("ORGAN.{i}"),
                    Some(KeyUsagePurpose::KeyEncipherment),
                )
            })
            .collect()
    })[n]
}

fn make(cn: &str, usage: Option<KeyUsagePurpose>) -> (Vec<u8>, Vec<u8>) {
    let key = rsa::PrivateKey::new(&mut rng::RingRng::new(), 2048).unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap().as_bytes().to_vec();
    let kp =
        KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_slice().into(), &PKCS_RSA_SHA256).unwrap();
    let mut p = CertificateParams::new(vec![]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.key_usages = usage.into_iter().collect();
    // rcgen writes no extension at all unless one of a few others is set.
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = p.self_signed(&kp).unwrap();
    (pkcs8, cert.der().to_vec())
}

fn recipient(n: usize) -> Recipient {
    Recipient::from_certificate("test", &format!("ORGAN.{n}"), &party(n).1).unwrap()
}

fn key(n: usize) -> SoftwareKey {
    SoftwareKey::from_pkcs8_der("test", &party(n).0, &party(n).1).unwrap()
}

fn bytes(e: &Element) -> Vec<u8> {
    let mut out = Vec::new();
    write_element(e, &mut out);
    out
}

fn reread(e: &Element) -> Sealed {
    Sealed::from_bytes(&bytes(e), &Limits::default()).unwrap()
}

const PLAIN: &[u8] = b"<edXMLEnvelope>Mat: bao cao tinh hinh</edXMLEnvelope>";

#[test]
fn every_recipient_opens_and_nobody_else() {
    for t in [
        KeyTransport::RSA_OAEP_SHA256,
        KeyTransport::RSA_OAEP_MGF1P_SHA1,
    ] {
        let e = seal(
            PLAIN,
            Some("application/xml"),
            &[recipient(0), recipient(1)],
            t,
        )
        .unwrap();
        let s = reread(&e);
        assert_eq!(s.keys().len(), 2);
        assert_eq!(s.mime_type(), Some("application/xml"));
        assert_eq!(s.keys()[0].recipient.as_deref(), Some("ORGAN.0"));
        assert_eq!(s.keys()[0].transport, t);
        assert_eq!(s.open(&key(0)).unwrap().as_slice(), PLAIN);
        assert_eq!(s.open(&key(1)).unwrap().as_slice(), PLAIN);
        assert!(matches!(
            s.open(&key(2)),
            Err(SealError::NotARecipient { .. })
        ));
        let text = String::from_utf8(bytes(&e)).unwrap();
        assert!(!text.contains("bao cao"), "plaintext in the sealed bytes");
    }
}

#[test]
fn swapped_encrypted_keys_do_not_unwrap() {
    let e = seal(
        PLAIN,
        None,
        &[recipient(0), recipient(1)],
        KeyTransport::RSA_OAEP_SHA256,
    )
    .unwrap();
    let mut s = reread(&e);
    let (a, b) = (s.keys[0].wrapped.clone(), s.keys[1].wrapped.clone());
    s.keys[0].wrapped = b;
    s.keys[1].wrapped = a;
    assert!(matches!(s.open(&key(0)), Err(SealError::KeyUnwrap { .. })));
    assert!(matches!(s.open(&key(1)), Err(SealError::KeyUnwrap { .. })));
}

#[test]
fn altered_or_truncated_ciphertext_is_a_tag_failure() {
    let e = seal(PLAIN, None, &[recipient(0)], KeyTransport::RSA_OAEP_SHA256).unwrap();
    let s = reread(&e);
    for i in [0, 12, s.ciphertext.len() - 1] {
        let mut bad = s.clone();
        bad.ciphertext[i] ^= 0x80;
        assert!(matches!(bad.open(&key(0)), Err(SealError::Tag)), "byte {i}");
    }
    let mut short = s.clone();
    short.ciphertext.truncate(s.ciphertext.len() - 1);
    assert!(matches!(short.open(&key(0)), Err(SealError::Tag)));
    short.ciphertext.truncate(20);
    assert!(matches!(
        short.open(&key(0)),
        Err(SealError::Truncated { len: 20 })
    ));
    let mut flipped_key = s.clone();
    flipped_key.keys[0].wrapped[5] ^= 1;
    assert!(matches!(
        flipped_key.open(&key(0)),
        Err(SealError::KeyUnwrap { .. })
    ));
}

#[test]
fn certificates_that_are_not_for_encryption_are_refused() {
    assert!(matches!(
        seal(PLAIN, None, &[], KeyTransport::RSA_OAEP_SHA256),
        Err(SealError::NoRecipient)
    ));
    let (_, signing) = make("SIGNER", Some(KeyUsagePurpose::DigitalSignature));
    assert!(matches!(
        Recipient::from_certificate("signing.pem", "X", &signing),
        Err(SealError::NotForEncryption { .. })
    ));
    let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec = CertificateParams::new(vec![])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    assert!(matches!(
        Recipient::from_certificate("ec.pem", "X", ec.der()),
        Err(SealError::UnsupportedKey { .. })
    ));
    assert!(matches!(
        Recipient::from_certificate("junk", "X", b"not a certificate"),
        Err(SealError::BadCertificate { .. })
    ));
    // A key with another party's certificate.
    assert!(matches!(
        SoftwareKey::from_pkcs8_der("k", &party(0).0, &party(1).1),
        Err(SealError::KeyMismatch { .. })
    ));
}

#[test]
fn hostile_layouts_are_named() {
    let e = seal(PLAIN, None, &[recipient(0)], KeyTransport::RSA_OAEP_SHA256).unwrap();
    let good = String::from_utf8(bytes(&e)).unwrap();
    let read = |s: &str| Sealed::from_bytes(s.as_bytes(), &Limits::default());
    let cases: Vec<(String, &str)> = vec![
        (good.replace("xmlenc11#aes256-gcm", "xmlenc#aes256-cbc"), "unsupported_algorithm"),
        (good.replace("xmlenc11#rsa-oaep", "xmlenc#rsa-1_5"), "unsupported_algorithm"),
        (good.replacen("<xenc:CipherValue>", "<xenc:CipherValue>!!", 1), "base64"),
        (good.replace("EncryptedData", "EncryptedThing"), "layout"),
        (
            good.replacen("<xenc:CipherData>", "<xenc:CipherData><xenc:CipherReference URI=\"file:///etc/passwd\"/></xenc:CipherData><xenc:CipherData>", 1),
            "layout",
        ),
        ("<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/>".to_owned(), "layout"),
        ("not xml".to_owned(), "xml"),
    ];
    for (doc, reason) in cases {
        let err = read(&doc).expect_err(&doc);
        assert_eq!(err.reason(), reason, "{err}\n{doc}");
    }
}
