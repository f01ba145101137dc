//! The certificate rules of issue 30, each asserted by its named reason: extendedKeyUsage per
//! trust anchor (docSigning by default, no leaf without EKU unless the anchor allows it), one
//! organ binding, no keyCertSign on a leaf, a CA as end entity named as such. The certificates
//! are made here with rcgen (`tests/common`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Alg, Eku, LeafSpec, TestPki, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{
    ChainFailure, SigningPolicy, TrustStore, VerifyError, VerifyOptions, sign_document, verify,
};
use rcgen::{BasicConstraints, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType};

const FROM: &str = "HU.CHAUTHANH";
const EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";

fn signed_by(leaf: &common::Leaf) -> String {
    let mut doc = parse(
        sample_envelope(FROM, "TU.BENTRE", "thuong").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap();
    String::from_utf8(write_document(&doc)).unwrap()
}

fn check(leaf: &common::Leaf, trust: &TrustStore) -> Result<String, VerifyError> {
    verify(signed_by(leaf).as_bytes(), trust, &VerifyOptions::now())
        .map(|v| v.signer().eku_rule().to_owned())
}

fn no_eku_leaf(pki: &TestPki) -> common::Leaf {
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.eku = Eku::None;
    pki.leaf(spec)
}

fn email_leaf(pki: &TestPki) -> common::Leaf {
    pki.leaf_with(LeafSpec::new(Alg::P256, FROM), |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    })
}

fn trust_with(pki: &TestPki, policy: &SigningPolicy) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_anchors_pem_with_policy(pki.root_pem().as_bytes(), "test root", policy)
        .unwrap();
    t
}

#[test]
fn leaf_without_eku_is_refused_by_default() {
    let pki = TestPki::new("noeku");
    let e = check(&no_eku_leaf(&pki), &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::NoExtendedKeyUsage { .. }), "{e}");
}

#[test]
fn leaf_without_eku_is_accepted_where_the_anchor_allows_it() {
    let pki = TestPki::new("noeku-ok");
    let policy = SigningPolicy::new(&[], true, "test").unwrap();
    let rule = check(&no_eku_leaf(&pki), &trust_with(&pki, &policy)).unwrap();
    assert_eq!(rule, "eku 1.3.6.1.5.5.7.3.36; no-eku accepted");
}

#[test]
fn doc_signing_leaf_reports_the_default_rule() {
    let pki = TestPki::new("default");
    let rule = check(&pki.leaf(LeafSpec::new(Alg::P256, FROM)), &pki.trust()).unwrap();
    assert_eq!(rule, "eku 1.3.6.1.5.5.7.3.36; no-eku refused");
}

#[test]
fn other_eku_is_refused_by_default_and_accepted_only_under_its_own_anchor() {
    let national = TestPki::new("national");
    let ours = TestPki::new("ours");
    // By default an emailProtection leaf lacks docSigning (webpki's chain-wide check, which
    // takes the union of the store's policies, sees it first).
    let e = check(&email_leaf(&national), &national.trust()).unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Chain {
                reason: ChainFailure::Eku,
                ..
            }
        ),
        "{e}"
    );
    // One store: the national anchor accepts emailProtection, ours keeps the default.
    let mut trust = TrustStore::new();
    let policy = SigningPolicy::new(&[EMAIL_PROTECTION.into()], false, "test").unwrap();
    trust
        .add_anchors_pem_with_policy(national.root_pem().as_bytes(), "national", &policy)
        .unwrap();
    trust
        .add_anchors_pem(ours.root_pem().as_bytes(), "ours")
        .unwrap();
    let rule = check(&email_leaf(&national), &trust).unwrap();
    assert_eq!(rule, "eku 1.3.6.1.5.5.7.3.4; no-eku refused");
    // Under our anchor the union admits emailProtection chain-wide, and the leaf rule of the
    // anchor actually reached refuses it.
    let e = check(&email_leaf(&ours), &trust).unwrap_err();
    assert!(
        matches!(&e, VerifyError::ExtendedKeyUsage { required, .. } if required == "1.3.6.1.5.5.7.3.36"),
        "{e}"
    );
    // The national anchor's policy does not weaken ours on the no-EKU rule either.
    let e = check(&no_eku_leaf(&ours), &trust).unwrap_err();
    assert!(matches!(e, VerifyError::NoExtendedKeyUsage { .. }), "{e}");
}

#[test]
fn two_organ_bindings_are_named_as_such() {
    let pki = TestPki::new("two-organs");
    let leaf = pki.leaf_with(LeafSpec::new(Alg::P256, FROM), |p| {
        p.subject_alt_names.push(SanType::URI(
            "urn:lienthong:organ:TU.BENTRE".try_into().unwrap(),
        ));
    });
    let e = check(&leaf, &pki.trust()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::AmbiguousOrganBinding { organs, .. } if organs.len() == 2),
        "{e}"
    );
}

#[test]
fn key_cert_sign_on_a_leaf_is_refused() {
    let pki = TestPki::new("kcs");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let e = check(&pki.leaf(spec), &pki.trust()).unwrap_err();
    assert!(matches!(e, VerifyError::KeyCertSignOnLeaf { .. }), "{e}");
}

#[test]
fn ca_used_as_end_entity_is_named() {
    let pki = TestPki::new("ca-ee");
    let leaf = pki.leaf_with(LeafSpec::new(Alg::P256, FROM), |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    });
    let e = check(&leaf, &pki.trust()).unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Chain {
                reason: ChainFailure::CaUsedAsEndEntity,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn malformed_policy_oid_is_a_named_error() {
    let e = SigningPolicy::new(&["docSigning".into()], false, "config").unwrap_err();
    assert!(
        matches!(e, lienthong::sign::TrustError::BadOid { .. }),
        "{e}"
    );
}

#[test]
fn malformed_second_anchor_names_its_position() {
    let pki = TestPki::new("anchor-pos");
    let pem = format!(
        "{}-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
        pki.root_pem()
    );
    let e = TrustStore::new()
        .add_anchors_pem(pem.as_bytes(), "roots.pem")
        .unwrap_err();
    assert!(
        matches!(&e, lienthong::sign::TrustError::BadAnchor { path, reason }
            if path == "roots.pem" && reason.starts_with("certificate #2:")),
        "{e}"
    );
}

/// The rule per anchor reaches the gateway from its config: `[[trust.signing_policy]]` for the
/// national anchor file, none for ours (docSigning by default).
#[test]
fn signing_policy_from_the_gateway_config_applies_per_anchor_file() {
    let national = TestPki::new("national");
    let ours = TestPki::new("ours");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("national.pem"), national.root_pem()).unwrap();
    std::fs::write(dir.path().join("ours.pem"), ours.root_pem()).unwrap();
    let toml = format!(
        r#"organ = "TU.BENTRE"
data_dir = "data"
catalog = "procedures.toml"
[listen]
api = "127.0.0.1:7401"
exchange = "127.0.0.1:7402"
[keys]
keystore = "keystore"
signing = "signing"
tls = "tls"
[trust]
anchors = ["national.pem", "ours.pem"]
[[trust.signing_policy]]
anchor = "national.pem"
ekus = ["{EMAIL_PROTECTION}"]
"#
    );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    let config = lienthong::config::Config::load(&path).unwrap();
    let trust = lienthong::gateway::trust_store(&config).unwrap();
    let rule = check(&email_leaf(&national), &trust).unwrap();
    assert_eq!(rule, "eku 1.3.6.1.5.5.7.3.4; no-eku refused");
    let e = check(&email_leaf(&ours), &trust).unwrap_err();
    assert!(
        matches!(&e, VerifyError::ExtendedKeyUsage { required, .. } if required == "1.3.6.1.5.5.7.3.36"),
        "{e}"
    );
    // A rule with a malformed OID stops the gateway at start-up, naming the anchor file.
    let bad = std::fs::read_to_string(&path)
        .unwrap()
        .replace(EMAIL_PROTECTION, "emailProtection");
    std::fs::write(&path, bad).unwrap();
    let config = lienthong::config::Config::load(&path).unwrap();
    let e = lienthong::gateway::trust_store(&config).unwrap_err();
    assert!(
        matches!(&e, lienthong::sign::TrustError::BadOid { source_name, .. } if source_name.ends_with("national.pem")),
        "{e}"
    );
}
