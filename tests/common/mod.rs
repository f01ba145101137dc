//! Test helpers: a real (in-test) PKI made with rcgen, and sample envelopes.
#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

pub mod gateways;
pub mod store;
pub mod tls;

use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

/// docSigning, 1.3.6.1.5.5.7.3.36.
pub const DOC_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 36];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rsa2048,
    P256,
    /// Verify-only in lienthong (xmlsec1 signs with it in `tests/xmlsec_interop.rs`).
    P384,
    Ed25519,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eku {
    DocSigning,
    ServerAuthOnly,
    None,
}

pub struct LeafSpec {
    pub alg: Alg,
    pub organ: Option<String>,
    pub eku: Eku,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial: u64,
    /// A key of its own (RSA keys are otherwise one per test process): for encryption tests,
    /// where two recipients sharing a key would open each other's documents.
    pub fresh_key: bool,
}

impl LeafSpec {
    pub fn new(alg: Alg, organ: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            alg,
            organ: Some(organ.to_owned()),
            eku: Eku::DocSigning,
            key_usages: vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ],
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            serial: 1000,
            fresh_key: false,
        }
    }
}

pub struct Leaf {
    pub cert: CertificateDer<'static>,
    pub key_pkcs8: Vec<u8>,
    /// Leaf first, then the intermediate.
    pub chain: Vec<CertificateDer<'static>>,
    pub serial: u64,
}

impl Leaf {
    pub fn signer(&self) -> lienthong::sign::Pkcs8Signer {
        lienthong::sign::Pkcs8Signer::from_der("test", &self.key_pkcs8).unwrap()
    }
    pub fn key_pem(&self) -> String {
        pem(&self.key_pkcs8, "PRIVATE KEY")
    }
    pub fn cert_pem(&self) -> String {
        pem(self.cert.as_ref(), "CERTIFICATE")
    }
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn pem(der: &[u8], label: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn fresh_rsa_pkcs8() -> Vec<u8> {
    use rsa::pkcs8::EncodePrivateKey;
    let k = rsa::PrivateKey::new(&mut lienthong::seal::rng::RingRng::new(), 2048).unwrap();
    k.to_pkcs8_der().unwrap().as_bytes().to_vec()
}

/// RSA generation is slow; one key per test process is enough.
fn rsa_pkcs8() -> Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(fresh_rsa_pkcs8).clone()
}

fn rsa_keypair(der: Vec<u8>) -> (KeyPair, Vec<u8>) {
    let kp = KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der.clone()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    (kp, der)
}

fn keypair(alg: Alg) -> (KeyPair, Vec<u8>) {
    match alg {
        Alg::Rsa2048 => rsa_keypair(rsa_pkcs8()),
        Alg::P256 => {
            let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let der = kp.serialize_der();
            (kp, der)
        }
        Alg::P384 => {
            let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
            let der = kp.serialize_der();
            (kp, der)
        }
        Alg::Ed25519 => {
            let kp = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
            let der = kp.serialize_der();
            (kp, der)
        }
    }
}

pub struct TestPki {
    pub root: CertifiedIssuer<'static, KeyPair>,
    pub inter: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "lienthong test CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::days(30);
    p.not_after = now + Duration::days(3650);
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let root =
            CertifiedIssuer::self_signed(ca_params(&format!("{name} Root")), root_key).unwrap();
        let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let inter = CertifiedIssuer::signed_by(
            ca_params(&format!("{name} Intermediate")),
            inter_key,
            &root,
        )
        .unwrap();
        Self { root, inter }
    }

    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    pub fn inter_pem(&self) -> String {
        self.inter.pem()
    }

    pub fn leaf(&self, spec: LeafSpec) -> Leaf {
        self.leaf_with(spec, |_| {})
    }

    /// As [`TestPki::leaf`], with `tweak` applied to the parameters last (extra SANs, other
    /// extended key usages, basic constraints…).
    pub fn leaf_with(&self, spec: LeafSpec, tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let (kp, der) = if spec.fresh_key && spec.alg == Alg::Rsa2048 {
            rsa_keypair(fresh_rsa_pkcs8())
        } else {
            keypair(spec.alg)
        };
        let mut p = CertificateParams::default();
        let cn = spec.organ.clone().unwrap_or_else(|| "no organ".into());
        p.distinguished_name
            .push(DnType::CommonName, format!("Van phong {cn}"));
        p.distinguished_name.push(DnType::OrganizationName, cn);
        if let Some(o) = &spec.organ {
            p.subject_alt_names = vec![SanType::URI(
                format!("urn:lienthong:organ:{o}").try_into().unwrap(),
            )];
        }
        p.extended_key_usages = match spec.eku {
            Eku::DocSigning => vec![ExtendedKeyUsagePurpose::Other(DOC_SIGNING.to_vec())],
            Eku::ServerAuthOnly => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Eku::None => vec![],
        };
        p.key_usages = spec.key_usages;
        p.not_before = spec.not_before;
        p.not_after = spec.not_after;
        p.serial_number = Some(SerialNumber::from(spec.serial));
        p.use_authority_key_identifier_extension = true;
        tweak(&mut p);
        let cert = p.signed_by(&kp, &self.inter).unwrap();
        let cert = cert.der().clone();
        Leaf {
            chain: vec![cert.clone(), self.inter.der().clone()],
            cert,
            key_pkcs8: der,
            serial: spec.serial,
        }
    }

    /// A docSigning certificate for a public key held elsewhere (a PKCS#11 token): `spki_der`
    /// is its SubjectPublicKeyInfo. Returns leaf then intermediate.
    pub fn leaf_for_spki(&self, spki_der: &[u8], organ: &str) -> Vec<CertificateDer<'static>> {
        self.leaf_for_spki_with(spki_der, organ, |_| {})
    }

    /// An encryption certificate (keyEncipherment, no EKU: the `encryption` profile) for a
    /// public key held elsewhere. Returns leaf then intermediate.
    pub fn encryption_leaf_for_spki(
        &self,
        spki_der: &[u8],
        organ: &str,
    ) -> Vec<CertificateDer<'static>> {
        self.leaf_for_spki_with(spki_der, organ, |p| {
            p.extended_key_usages = vec![];
            p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
            p.is_ca = rcgen::IsCa::ExplicitNoCa;
        })
    }

    fn leaf_for_spki_with(
        &self,
        spki_der: &[u8],
        organ: &str,
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> Vec<CertificateDer<'static>> {
        let key = rcgen::SubjectPublicKeyInfo::from_der(spki_der).unwrap();
        let now = OffsetDateTime::now_utc();
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, format!("Token key of {organ}"));
        p.subject_alt_names = vec![SanType::URI(
            format!("urn:lienthong:organ:{organ}").try_into().unwrap(),
        )];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(DOC_SIGNING.to_vec())];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = now - Duration::days(1);
        p.not_after = now + Duration::days(30);
        p.serial_number = Some(SerialNumber::from(77u64));
        tweak(&mut p);
        let cert = p.signed_by(&key, &self.inter).unwrap();
        vec![cert.der().clone(), self.inter.der().clone()]
    }

    /// A CRL from the intermediate revoking `serials`.
    pub fn crl(&self, serials: &[u64], next_update_in: Duration) -> Vec<u8> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::days(2),
            next_update: now + next_update_in,
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now - Duration::hours(1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.inter).unwrap().der().to_vec()
    }

    pub fn trust(&self) -> lienthong::sign::TrustStore {
        let mut t = lienthong::sign::TrustStore::new();
        t.add_anchors_pem(self.root_pem().as_bytes(), "test root")
            .unwrap();
        t
    }
}

/// A realistic unsigned edXML envelope from `from`, with a label and an attachment-like body.
pub fn sample_envelope(from: &str, to: &str, level: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edXMLEnvelope xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:lt="urn:lienthong:label:1">
  <edXMLHeader>
    <MessageHeader>
      <From><OrganId>{from}</OrganId><OrganName>Văn phòng Huyện ủy Châu Thành</OrganName></From>
      <To><OrganId>{to}</OrganId><OrganName>Văn phòng Tỉnh ủy Bến Tre</OrganName></To>
      <Code><CodeNumber>07</CodeNumber><CodeNotation>NQ/ĐUK</CodeNotation></Code>
      <PromulgationInfo><Place>Châu Thành</Place><PromulgationDate>2026/11/20</PromulgationDate></PromulgationInfo>
      <DocumentType><Type>1</Type><TypeName>Nghị quyết</TypeName></DocumentType>
      <Subject>Nghị quyết về công tác chuyển đổi số năm 2027 &amp; các nhiệm vụ &lt;trọng tâm&gt;</Subject>
      <Content>Toàn văn nghị quyết…</Content>
      <SignerInfo><Competence>TM. BAN THƯỜNG VỤ</Competence><Position>Bí thư</Position><FullName>Nguyễn Văn An</FullName></SignerInfo>
      <ToPlaces><Place>Văn phòng Tỉnh ủy Bến Tre</Place></ToPlaces>
      <OtherInfo><Priority>0</Priority></OtherInfo>
      <DocumentId>{from},2026/11/20,07/NQ/ĐUK</DocumentId>
      <BussinessDocType>0</BussinessDocType>
    </MessageHeader>
    <TraceHeaderList/>
    <lt:Classification><lt:Level>{level}</lt:Level><lt:Procedure>VB-01</lt:Procedure><lt:Public>true</lt:Public></lt:Classification>
  </edXMLHeader>
  <edXMLBody>
    <edXMLManifest><Reference><ContentId>a1</ContentId><FileName>to-trinh.txt</FileName><ContentType>text/plain</ContentType><Digest>6EtZuGOpjkPr2J+1npsn/mS9iaCW9O7Q/NE+ZQAEvGE=</Digest><Size>35</Size></Reference></edXMLManifest>
    <Attachment ContentId="a1">VOG7nSB0csOsbmggduG7gSB2aeG7h2MgcXV5IGhv4bqhY2g=</Attachment>
  </edXMLBody>
</edXMLEnvelope>
"#
    )
}

/// Runs a command, returning (status ok, stdout, stderr).
pub fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (is it installed? .ci/run installs it)")
    });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
