//! Micro-benchmark: XML-DSig sign and verify documents/s for an 8 KB edXML envelope, per
//! algorithm, next to the raw ring sign/verify operations/s measured in the same run (the
//! ceiling), and SHA-256 MB/s. One core (a single thread).
//!
//! `cargo run --release --example sign_bench`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

use std::time::{Duration, Instant};

use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{Pkcs8Signer, Signer, TrustStore, VerifyOptions, sign_document, verify};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use ring::signature;

const BUDGET: Duration = Duration::from_millis(1500);

fn rate(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < BUDGET {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn envelope() -> String {
    let content = "Nội dung nghị quyết về chuyển đổi số trong các cơ quan Đảng. ".repeat(95);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edXMLEnvelope xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:lt="urn:lienthong:label:1">
  <edXMLHeader>
    <MessageHeader>
      <From><OrganId>HU.CHAUTHANH</OrganId><OrganName>Văn phòng Huyện ủy Châu Thành</OrganName></From>
      <To><OrganId>TU.BENTRE</OrganId><OrganName>Văn phòng Tỉnh ủy Bến Tre</OrganName></To>
      <Code><CodeNumber>07</CodeNumber><CodeNotation>NQ/HU</CodeNotation></Code>
      <PromulgationInfo><Place>Châu Thành</Place><PromulgationDate>2026/11/20</PromulgationDate></PromulgationInfo>
      <DocumentType><Type>1</Type><TypeName>Nghị quyết</TypeName></DocumentType>
      <Subject>Nghị quyết về chuyển đổi số</Subject>
      <Content>{content}</Content>
      <SignerInfo><Competence>TM. BAN THƯỜNG VỤ</Competence><Position>Bí thư</Position><FullName>Nguyễn Văn An</FullName></SignerInfo>
      <ToPlaces><Place>Văn phòng Tỉnh ủy Bến Tre</Place></ToPlaces>
      <OtherInfo><Priority>0</Priority></OtherInfo>
      <DocumentId>HU.CHAUTHANH,2026/11/20,07/NQ/HU</DocumentId>
      <BussinessDocType>0</BussinessDocType>
    </MessageHeader>
    <TraceHeaderList/>
    <lt:Classification><lt:Level>thuong</lt:Level><lt:Procedure>VB-01</lt:Procedure><lt:Public>true</lt:Public></lt:Classification>
  </edXMLHeader>
  <edXMLBody><edXMLManifest/></edXMLBody>
</edXMLEnvelope>
"#
    )
}

fn main() {
    let now = time::OffsetDateTime::now_utc();
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(30);
    let ca = CertifiedIssuer::self_signed(
        ca,
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
    )
    .unwrap();
    let mut trust = TrustStore::new();
    trust.add_anchor_der(ca.der(), "bench CA").unwrap();
    let xml = envelope();
    println!(
        "cores: {}  profile: {}  document: {} bytes unsigned",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        xml.len()
    );
    let data = vec![0x5au8; 1 << 20];
    let sha = rate(|| {
        std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &data));
    });
    println!("SHA-256: {:.0} MB/s", sha * 1.048576);
    println!(
        "{:<18} {:>12} {:>12} {:>12} {:>12} {:>8} {:>8}",
        "algorithm", "ring sign/s", "doc sign/s", "ring ver/s", "doc ver/s", "sign ×", "ver ×"
    );
    let rng = ring::rand::SystemRandom::new();
    for alg in ["rsa2048", "p256", "ed25519"] {
        let pkcs8: Vec<u8> = match alg {
            "rsa2048" => {
                use rsa::pkcs8::EncodePrivateKey;
                rsa::PrivateKey::new(&mut lienthong::seal::rng::RingRng::new(), 2048)
                    .unwrap()
                    .to_pkcs8_der()
                    .unwrap()
                    .as_bytes()
                    .to_vec()
            }
            "p256" => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .unwrap()
            .as_ref()
            .to_vec(),
            _ => signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .unwrap()
                .as_ref()
                .to_vec(),
        };
        let signer = Pkcs8Signer::from_der(alg, &pkcs8).unwrap();
        let sig_alg = match alg {
            "rsa2048" => &rcgen::PKCS_RSA_SHA256,
            "p256" => &rcgen::PKCS_ECDSA_P256_SHA256,
            _ => &rcgen::PKCS_ED25519,
        };
        let kp = KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.clone()),
            sig_alg,
        )
        .unwrap();
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name
            .push(DnType::CommonName, "Văn phòng Huyện ủy");
        leaf.subject_alt_names = vec![SanType::URI(
            "urn:lienthong:organ:HU.CHAUTHANH".try_into().unwrap(),
        )];
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 7, 3, 36,
        ])];
        leaf.not_before = now - time::Duration::days(1);
        leaf.not_after = now + time::Duration::days(30);
        let cert = leaf.signed_by(&kp, &ca).unwrap().der().clone();
        let chain = vec![cert];

        let msg = vec![7u8; 1024];
        let ring_sign = rate(|| {
            std::hint::black_box(signer.sign(&msg).unwrap());
        });
        let sig = signer.sign(&msg).unwrap();
        let (valg, public): (&dyn signature::VerificationAlgorithm, Vec<u8>) = match alg {
            "rsa2048" => (
                &signature::RSA_PKCS1_2048_8192_SHA256,
                signature::RsaKeyPair::from_pkcs8(&pkcs8)
                    .unwrap()
                    .public()
                    .as_ref()
                    .to_vec(),
            ),
            "p256" => (
                &signature::ECDSA_P256_SHA256_FIXED,
                signer.public_key().to_vec(),
            ),
            _ => (&signature::ED25519, signer.public_key().to_vec()),
        };
        let ring_verify = rate(|| {
            signature::UnparsedPublicKey::new(valg, &public)
                .verify(&msg, &sig)
                .unwrap();
        });
        let doc_sign = rate(|| {
            let mut d = parse(xml.as_bytes(), &Limits::default()).unwrap();
            sign_document(&mut d, &signer, &chain).unwrap();
            std::hint::black_box(write_document(&d));
        });
        let mut d = parse(xml.as_bytes(), &Limits::default()).unwrap();
        sign_document(&mut d, &signer, &chain).unwrap();
        let signed = write_document(&d);
        let opts = VerifyOptions::now();
        let doc_verify = rate(|| {
            std::hint::black_box(verify(&signed, &trust, &opts).unwrap());
        });
        println!(
            "{:<18} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>8.2} {:>8.2}",
            signer.algorithm().name(),
            ring_sign,
            doc_sign,
            ring_verify,
            doc_verify,
            doc_sign / ring_sign,
            doc_verify / ring_verify
        );
    }
}
