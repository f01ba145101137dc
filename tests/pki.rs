#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! Keystore, CSR, CA, CRL and the `keys` / `pki` command lines.
//!
//! Every key here is written with 1,000 PBKDF2 iterations through the documented test knob
//! (`LIENTHONG_INSECURE_PBKDF2_ITERATIONS`, `Keystore::with_pbkdf2_iterations`), except in
//! `default_iteration_count_is_stored`, so the suite stays fast.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use lienthong::pki::cert;
use lienthong::pki::demo::{self, DemoOptions};
use lienthong::pki::keystore::{DEFAULT_PBKDF2_ITERATIONS, KeyAlgorithm, KeyStatus, Keystore};
use lienthong::pki::{KeystoreError, Passphrase, PkiError, load_signer};
use lienthong::sign::{SignatureAlgorithm, Signer};
use rustls_pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;

const PASS: &str = "correct horse battery staple 42";
const TEST_ITERATIONS: u32 = 1_000;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lienthong"));
    c.env("LIENTHONG_PASSPHRASE", PASS)
        .env(
            "LIENTHONG_INSECURE_PBKDF2_ITERATIONS",
            TEST_ITERATIONS.to_string(),
        )
        .env_remove("LIENTHONG_KEYSTORE");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn pass() -> Passphrase {
    Passphrase::new(PASS.to_owned()).unwrap()
}

fn keystore(dir: &Path) -> Keystore {
    Keystore::create(dir)
        .unwrap()
        .with_pbkdf2_iterations(TEST_ITERATIONS)
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Verifies `sig` over `msg` with ring, using the public key from a DER SPKI.
fn verify_with_spki(alg: SignatureAlgorithm, spki: &[u8], msg: &[u8], sig: &[u8]) {
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).unwrap();
    let raw = parsed.subject_public_key.data.to_vec();
    let ring_alg: &dyn ring::signature::VerificationAlgorithm = match alg {
        SignatureAlgorithm::RsaSha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_FIXED,
        SignatureAlgorithm::Ed25519 => &ring::signature::ED25519,
        _ => panic!("unexpected algorithm"),
    };
    ring::signature::UnparsedPublicKey::new(ring_alg, raw)
        .verify(msg, sig)
        .expect("signature verifies with the stored public key");
}

/// All files in a directory with their bytes, to prove that nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = fs::read(&p).unwrap_or_default();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn generate_each_algorithm_list_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    let ks_dir = dir.path().join("ks");
    for alg in ["rsa2048", "rsa3072", "p256", "ed25519"] {
        let out = ok(&[
            "keys",
            "generate",
            "--alg",
            alg,
            "--name",
            alg,
            "--keystore",
            s(&ks_dir),
        ]);
        assert!(out.contains(alg), "{out}");
    }
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["keys", "list", "--json", "--keystore", s(&ks_dir)])).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_eq!(row["name"], row["algorithm"]);
        assert_eq!(row["status"], "active");
        assert_eq!(row["fingerprint_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(row["pbkdf2_iterations"], TEST_ITERATIONS);
        assert!(row["certificate"].is_null());
    }
    // Files are private (0600) and each key loads and signs verifiably.
    let ks = Keystore::open(&ks_dir).unwrap();
    for (name, expected) in [
        ("rsa2048", SignatureAlgorithm::RsaSha256),
        ("rsa3072", SignatureAlgorithm::RsaSha256),
        ("p256", SignatureAlgorithm::EcdsaP256Sha256),
        ("ed25519", SignatureAlgorithm::Ed25519),
    ] {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(ks_dir.join(format!("{name}.key.json")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let key = ks.load(name, &pass()).unwrap();
        assert_eq!(key.algorithm(), expected);
        let sig = key.sign(b"message").unwrap();
        verify_with_spki(expected, &key.info().spki_der, b"message", &sig);
        // The same key through the one door the sign CLI uses.
        let signer = load_signer(name, Some(&ks_dir), Some(&pass())).unwrap();
        let sig = signer.sign(b"other").unwrap();
        verify_with_spki(expected, &key.info().spki_der, b"other", &sig);
    }
    let rsa3072 = ks.info("rsa3072").unwrap();
    assert_eq!(rsa3072.algorithm, KeyAlgorithm::Rsa3072);
}

#[test]
fn default_iteration_count_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::create(dir.path()).unwrap();
    let info = ks
        .generate(
            "k",
            KeyAlgorithm::Ed25519,
            &pass(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(info.pbkdf2_iterations, 600_000);
    assert_eq!(DEFAULT_PBKDF2_ITERATIONS, 600_000);
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("k.key.json")).unwrap()).unwrap();
    assert_eq!(json["kdf"]["name"], "pbkdf2-hmac-sha256");
    assert_eq!(json["kdf"]["iterations"], 600_000);
    assert_eq!(json["aead"]["name"], "aes-256-gcm");
    assert_eq!(json["algorithm"], "ed25519");
    assert_eq!(json["status"], "active");
}

#[test]
fn wrong_passphrase_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore(dir.path());
    ks.generate("k", KeyAlgorithm::P256, &pass(), OffsetDateTime::now_utc())
        .unwrap();
    let before = snapshot(dir.path());

    let wrong = Passphrase::new("not the passphrase".to_owned()).unwrap();
    match ks.load("k", &wrong) {
        Err(KeystoreError::WrongPassphrase { key }) => assert_eq!(key, "k"),
        other => panic!("expected WrongPassphrase, got {other:?}"),
    }
    assert!(matches!(
        ks.rotate("k", &wrong, OffsetDateTime::now_utc()),
        Err(KeystoreError::WrongPassphrase { .. })
    ));
    for args in [
        vec!["keys", "rotate", "--name", "k"],
        vec!["keys", "csr", "--name", "k", "--organ", "VPTW", "--cn", "x"],
    ] {
        let mut full = args.clone();
        full.extend(["--keystore", s(dir.path())]);
        let out = bin()
            .env("LIENTHONG_PASSPHRASE", "not the passphrase")
            .args(&full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("wrong passphrase for key k"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        snapshot(dir.path()),
        before,
        "files unchanged byte for byte"
    );
}

#[test]
fn corrupted_key_file_is_reported_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore(dir.path());
    ks.generate(
        "k",
        KeyAlgorithm::Ed25519,
        &pass(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let path = dir.path().join("k.key.json");
    let good = fs::read(&path).unwrap();

    // Truncated JSON.
    fs::write(&path, &good[..good.len() / 2]).unwrap();
    let corrupt = fs::read(&path).unwrap();
    assert!(matches!(
        ks.load("k", &pass()),
        Err(KeystoreError::Corrupt { .. })
    ));
    assert!(matches!(
        ks.generate(
            "k",
            KeyAlgorithm::Ed25519,
            &pass(),
            OffsetDateTime::now_utc()
        ),
        Err(KeystoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        ks.rotate("k", &pass(), OffsetDateTime::now_utc()),
        Err(KeystoreError::Corrupt { .. })
    ));
    let out = run(&["keys", "rotate", "--name", "k", "--keystore", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is corrupted"), "{}", stderr(&out));
    let out = run(&[
        "keys",
        "generate",
        "--alg",
        "p256",
        "--name",
        "k",
        "--keystore",
        s(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    // `list` reports the bad file instead of failing or hiding it.
    let listed = ok(&["keys", "list", "--keystore", s(dir.path())]);
    assert!(listed.contains("UNREADABLE"), "{listed}");
    assert_eq!(
        fs::read(&path).unwrap(),
        corrupt,
        "corrupted file left as it was"
    );

    // A flipped ciphertext byte: AES-GCM refuses it (reported as a wrong passphrase/altered).
    let mut json: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let ct = json["ciphertext_b64"].as_str().unwrap().to_owned();
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(ct)
        .unwrap();
    bytes[5] ^= 1;
    json["ciphertext_b64"] = base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into();
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(matches!(
        ks.load("k", &pass()),
        Err(KeystoreError::WrongPassphrase { .. })
    ));
}

#[test]
fn renamed_or_relabelled_key_file_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore(dir.path());
    ks.generate("a", KeyAlgorithm::P256, &pass(), OffsetDateTime::now_utc())
        .unwrap();
    // Copied under another name: the name inside disagrees.
    fs::copy(dir.path().join("a.key.json"), dir.path().join("b.key.json")).unwrap();
    assert!(matches!(
        ks.load("b", &pass()),
        Err(KeystoreError::Corrupt { .. })
    ));
    // Name inside edited too: the AEAD associated data no longer matches.
    let mut json: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("b.key.json")).unwrap()).unwrap();
    json["name"] = "b".into();
    fs::write(
        dir.path().join("b.key.json"),
        serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        ks.load("b", &pass()),
        Err(KeystoreError::WrongPassphrase { .. })
    ));
    // Status flipped without the passphrase: also refused.
    let mut json: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("a.key.json")).unwrap()).unwrap();
    json["status"] = "verify-only".into();
    fs::write(
        dir.path().join("a.key.json"),
        serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        ks.load("a", &pass()),
        Err(KeystoreError::WrongPassphrase { .. })
    ));
}

/// A CA via `pki init` with one organ, to issue from.
fn init_ca(dir: &Path) {
    ok(&[
        "pki",
        "init",
        "--dir",
        s(dir),
        "--organ",
        "TU.BENTRE",
        "--not-before",
        "2026-01-01",
    ]);
}

#[test]
fn csr_issue_install_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    init_ca(&ca);
    let ks = dir.path().join("ks");
    ok(&[
        "keys",
        "generate",
        "--alg",
        "p256",
        "--name",
        "clerk",
        "--keystore",
        s(&ks),
    ]);
    let csr = dir.path().join("clerk.csr");
    ok(&[
        "keys",
        "csr",
        "--name",
        "clerk",
        "--organ",
        "TU.BENTRE",
        "--cn",
        "Nguyễn Văn A",
        "-o",
        s(&csr),
        "--keystore",
        s(&ks),
    ]);
    let parsed = lienthong::pki::csr::parse(&fs::read_to_string(&csr).unwrap()).unwrap();
    assert_eq!(parsed.request.organ, "TU.BENTRE");
    assert_eq!(parsed.request.common_name, "Nguyễn Văn A");

    let cert_path = dir.path().join("clerk.pem");
    let out = ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--csr",
        s(&csr),
        "--profile",
        "signing",
        "--days",
        "30",
        "-o",
        s(&cert_path),
        "--json",
    ]);
    let issued: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(issued["organ"], "TU.BENTRE");
    assert_eq!(issued["profile"], "signing");
    ok(&[
        "keys",
        "install-cert",
        "--name",
        "clerk",
        s(&cert_path),
        "--keystore",
        s(&ks),
    ]);

    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["keys", "list", "--json", "--keystore", s(&ks)])).unwrap();
    let c = &listed[0]["certificate"];
    assert_eq!(c["organ"], "TU.BENTRE");
    assert_eq!(c["serial"], issued["serial"]);
    assert!(c["subject"].as_str().unwrap().contains("O=TU.BENTRE"));
    // Leaf + intermediate were installed.
    let chain = fs::read(ks.join("clerk.cert.pem")).unwrap();
    assert_eq!(cert::parse_pem_chain("t", &chain).unwrap().len(), 2);
}

#[test]
fn install_cert_for_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    init_ca(&ca);
    let ks = dir.path().join("ks");
    for n in ["a", "b"] {
        ok(&[
            "keys",
            "generate",
            "--alg",
            "ed25519",
            "--name",
            n,
            "--keystore",
            s(&ks),
        ]);
    }
    let csr = dir.path().join("a.csr");
    ok(&[
        "keys",
        "csr",
        "--name",
        "a",
        "--organ",
        "TU.BENTRE",
        "--cn",
        "A",
        "-o",
        s(&csr),
        "--keystore",
        s(&ks),
    ]);
    let cert_path = dir.path().join("a.pem");
    ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--csr",
        s(&csr),
        "--profile",
        "signing",
        "-o",
        s(&cert_path),
    ]);
    let out = run(&[
        "keys",
        "install-cert",
        "--name",
        "b",
        s(&cert_path),
        "--keystore",
        s(&ks),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not match key b"),
        "{}",
        stderr(&out)
    );
    assert!(!ks.join("b.cert.pem").exists());
    let store = Keystore::open(&ks).unwrap();
    assert!(matches!(
        store.install_cert("b", &fs::read(&cert_path).unwrap()),
        Err(KeystoreError::CertificateMismatch { .. })
    ));
    // Its twin: the right key accepts it.
    ok(&[
        "keys",
        "install-cert",
        "--name",
        "a",
        s(&cert_path),
        "--keystore",
        s(&ks),
    ]);
}

#[test]
fn rotate_keeps_old_key_verify_only_and_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let ks_dir = dir.path();
    ok(&[
        "keys",
        "generate",
        "--alg",
        "p256",
        "--name",
        "sig",
        "--keystore",
        s(ks_dir),
    ]);
    let old_fp = Keystore::open(ks_dir)
        .unwrap()
        .info("sig")
        .unwrap()
        .fingerprint;
    let out: serde_json::Value = serde_json::from_str(&ok(&[
        "keys",
        "rotate",
        "--name",
        "sig",
        "--json",
        "--keystore",
        s(ks_dir),
    ]))
    .unwrap();
    let old_name = out["old"]["name"].as_str().unwrap().to_owned();
    assert!(old_name.starts_with("sig."), "{old_name}");
    assert_eq!(out["old"]["status"], "verify-only");
    assert_eq!(out["old"]["fingerprint_sha256"], old_fp.as_str());
    assert_eq!(out["new"]["status"], "active");
    assert_ne!(out["new"]["fingerprint_sha256"], old_fp.as_str());

    let ks = Keystore::open(ks_dir).unwrap();
    let old = ks.load(&old_name, &pass()).unwrap();
    assert_eq!(old.info().status, KeyStatus::VerifyOnly);
    assert_eq!(old.info().fingerprint, old_fp);
    // Verify-only keys never sign through the signing door.
    assert!(matches!(
        ks.load_active(&old_name, &pass()),
        Err(KeystoreError::NotActive { .. })
    ));
    assert!(matches!(
        load_signer(&old_name, Some(ks_dir), Some(&pass())),
        Err(PkiError::Keystore(KeystoreError::NotActive { .. }))
    ));
    let new = load_signer("sig", Some(ks_dir), Some(&pass())).unwrap();
    let sig = new.sign(b"m").unwrap();
    verify_with_spki(
        SignatureAlgorithm::EcdsaP256Sha256,
        &ks.info("sig").unwrap().spki_der,
        b"m",
        &sig,
    );
}

#[test]
fn destroy_needs_the_confirmation_flag() {
    let dir = tempfile::tempdir().unwrap();
    ok(&[
        "keys",
        "generate",
        "--alg",
        "ed25519",
        "--name",
        "k",
        "--keystore",
        s(dir.path()),
    ]);
    let path = dir.path().join("k.key.json");
    let out = run(&[
        "keys",
        "destroy",
        "--name",
        "k",
        "--keystore",
        s(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes-destroy"));
    assert!(path.exists());
    ok(&[
        "keys",
        "destroy",
        "--name",
        "k",
        "--yes-destroy",
        "--keystore",
        s(dir.path()),
    ]);
    assert!(!path.exists());
    assert!(
        fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no leftovers"
    );
    let out = run(&[
        "keys",
        "destroy",
        "--name",
        "k",
        "--yes-destroy",
        "--keystore",
        s(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

fn demo_pki(dir: &Path) -> demo::DemoPki {
    let mut opts = DemoOptions::new(pass(), OffsetDateTime::now_utc() - time::Duration::days(1));
    opts.pbkdf2_iterations = TEST_ITERATIONS;
    opts.crl_days = 30;
    demo::generate(
        dir,
        &[
            ("VPTW", "Văn phòng Trung ương Đảng"),
            ("HU.CHAUTHANH", "Văn phòng Huyện ủy Châu Thành"),
        ],
        &opts,
    )
    .unwrap()
}

fn der_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    cert::parse_pem_chain("t", &fs::read(path).unwrap()).unwrap()
}

#[test]
fn demo_chain_validates_with_webpki_for_doc_signing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = demo_pki(dir.path());
    let root = der_certs(&pki.root_pem).remove(0);
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    let now = UnixTime::now();
    for organ in &pki.organs {
        let chain = der_certs(&organ.signing.cert_pem);
        assert_eq!(chain.len(), 2, "leaf + intermediate");
        let ee = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &chain[1..],
            now,
            webpki::KeyUsage::required_if_present(lienthong::pki::DOC_SIGNING_EKU_DER),
            None,
            None,
        )
        .expect("signing certificate chains to the demo root");
        // Failing twin: a document-signing certificate is not a TLS server certificate.
        assert!(
            ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &chain[1..],
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .is_err()
        );
        let summary = cert::summarize("leaf", &chain[0]).unwrap();
        assert_eq!(summary.organ.as_deref(), Some(organ.id.as_str()));
        assert_eq!(summary.organization.as_deref(), Some(organ.id.as_str()));
        assert_eq!(summary.common_name.as_deref(), Some(organ.name.as_str()));

        // The TLS certificate: server and client auth, localhost.
        let tls = der_certs(&organ.tls.cert_pem);
        let ee = webpki::EndEntityCert::try_from(&tls[0]).unwrap();
        for usage in [
            webpki::KeyUsage::server_auth(),
            webpki::KeyUsage::client_auth(),
        ] {
            ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &tls[1..],
                now,
                usage,
                None,
                None,
            )
            .unwrap();
        }
        ee.verify_is_valid_for_subject_name(
            &rustls_pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();

        // Keys in the organ keystore are the certified ones, and sign.
        let ks = Keystore::open(&organ.dir).unwrap();
        let signing = ks.info("signing").unwrap();
        assert_eq!(signing.algorithm, KeyAlgorithm::Rsa2048);
        assert_eq!(
            signing.certificate.unwrap().serial_hex,
            organ.signing.serial_hex
        );
        assert_eq!(ks.info("tls").unwrap().algorithm, KeyAlgorithm::P256);
        // chain.pem = intermediate + root.
        assert_eq!(der_certs(&organ.chain_pem).len(), 2);
    }
}

#[test]
fn revoke_and_crl_list_the_serial_with_next_update() {
    let dir = tempfile::tempdir().unwrap();
    let pki = demo_pki(dir.path());
    let victim = &pki.organs[0].signing;
    let ca = s(&pki.dir);
    // Unknown serials are refused, so are unknown reasons.
    let out = run(&[
        "pki",
        "revoke",
        "--ca",
        ca,
        "--serial",
        "7fffff",
        "--reason",
        "keyCompromise",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("was not issued by this CA"));
    let out = run(&[
        "pki",
        "revoke",
        "--ca",
        ca,
        "--serial",
        &victim.serial_hex,
        "--reason",
        "oops",
    ]);
    assert_eq!(out.status.code(), Some(2));

    ok(&[
        "pki",
        "revoke",
        "--ca",
        ca,
        "--serial",
        &victim.serial_hex,
        "--reason",
        "keyCompromise",
    ]);
    let again = run(&[
        "pki",
        "revoke",
        "--ca",
        ca,
        "--serial",
        &victim.serial_hex,
        "--reason",
        "superseded",
    ]);
    assert_eq!(again.status.code(), Some(1));
    let crl_path = dir.path().join("new-crl.pem");
    ok(&["pki", "crl", "--ca", ca, "--days", "3", "-o", s(&crl_path)]);

    use rustls_pki_types::pem::PemObject;
    let crl_der = rustls_pki_types::CertificateRevocationListDer::from_pem_file(&crl_path).unwrap();
    use x509_parser::prelude::FromDer;
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&crl_der).unwrap();
    let next = crl.next_update().expect("nextUpdate present");
    let days = (next.timestamp() - crl.last_update().timestamp()) / 86_400;
    assert_eq!(days, 3);
    let revoked: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(cert::serial_hex(revoked[0].raw_serial()), victim.serial_hex);
    assert_eq!(
        revoked[0].reason_code().map(|(_, r)| r.0),
        Some(1),
        "keyCompromise"
    );
    // The CRL number went up from the demo's empty CRL (1) to 2.
    assert_eq!(
        crl.crl_number().map(|n| n.to_string()).as_deref(),
        Some("2")
    );

    // And webpki, given this CRL, refuses the revoked certificate but not the other organ's.
    let root = der_certs(&pki.root_pem).remove(0);
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    let owned = webpki::OwnedCertRevocationList::from_der(&crl_der).unwrap();
    let crl = webpki::CertRevocationList::from(owned);
    let crls = [&crl];
    let check = |path: &Path| {
        let chain = der_certs(path);
        let ee = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
        let revocation = webpki::RevocationOptionsBuilder::new(&crls)
            .unwrap()
            .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
            // The intermediate's CRL covers the leaves it issued (see `pki::ca` docs).
            .with_depth(webpki::RevocationCheckDepth::EndEntity)
            .build();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &chain[1..],
            UnixTime::now(),
            webpki::KeyUsage::required_if_present(lienthong::pki::DOC_SIGNING_EKU_DER),
            Some(revocation),
            None,
        )
        .map(|_| ())
    };
    let r = check(&victim.cert_pem);
    assert!(matches!(r, Err(webpki::Error::CertRevoked)), "{r:?}");
    check(&pki.organs[1].signing.cert_pem).unwrap();
}

#[test]
fn secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let ks_dir = dir.path().join("ks");
    let ks = keystore(&ks_dir);
    // A key whose private bytes we know.
    let der = KeyAlgorithm::P256.generate_pkcs8().unwrap();
    ks.import_pkcs8("k", &der, &pass(), OffsetDateTime::now_utc())
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&*der);
    let pem_lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
    let assert_clean = |what: &str, text: &str| {
        assert!(!text.contains(PASS), "{what}: passphrase printed");
        assert!(
            !text.contains("PRIVATE KEY"),
            "{what}: private key PEM printed"
        );
        for line in &pem_lines {
            assert!(
                line.len() < 16 || !text.contains(line.as_str()),
                "{what}: key base64 printed"
            );
        }
        // Any 16-byte window of the DER, in hex or base64-aligned chunks.
        for w in hex.as_bytes().chunks(32) {
            assert!(
                !text.contains(std::str::from_utf8(w).unwrap()),
                "{what}: key hex printed"
            );
        }
    };

    let ca = dir.path().join("ca");
    init_ca(&ca);
    let csr = dir.path().join("k.csr");
    let cert_path = dir.path().join("k.pem");
    let k = s(&ks_dir);
    let runs: Vec<Vec<&str>> = vec![
        vec!["keys", "list", "--keystore", k],
        vec!["keys", "list", "--json", "--keystore", k],
        vec![
            "keys",
            "csr",
            "--name",
            "k",
            "--organ",
            "VPTW",
            "--cn",
            "K",
            "-o",
            s(&csr),
            "--keystore",
            k,
        ],
        vec![
            "keys",
            "csr",
            "--name",
            "k",
            "--organ",
            "VPTW",
            "--cn",
            "K",
            "--keystore",
            k,
        ],
        vec![
            "keys",
            "csr",
            "--name",
            "k",
            "--organ",
            "bad organ!",
            "--cn",
            "K",
            "--keystore",
            k,
        ],
        vec!["keys", "export-public", "--name", "k", "--keystore", k],
        vec![
            "keys",
            "generate",
            "--alg",
            "p256",
            "--name",
            "k",
            "--keystore",
            k,
        ],
        vec![
            "keys",
            "generate",
            "--alg",
            "dsa",
            "--name",
            "z",
            "--keystore",
            k,
        ],
        vec![
            "keys",
            "install-cert",
            "--name",
            "k",
            "/nonexistent.pem",
            "--keystore",
            k,
        ],
        vec!["keys", "destroy", "--name", "k", "--keystore", k],
        vec!["keys", "rotate", "--name", "missing", "--keystore", k],
    ];
    for args in &runs {
        let out = run(args);
        assert_clean(
            &format!("{args:?} stdout"),
            &String::from_utf8_lossy(&out.stdout),
        );
        assert_clean(&format!("{args:?} stderr"), &stderr(&out));
    }
    ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--csr",
        s(&csr),
        "--profile",
        "signing",
        "-o",
        s(&cert_path),
    ]);
    // Wrong passphrase, from the environment and from a file.
    let pf = dir.path().join("pass.txt");
    fs::write(&pf, "wrong-passphrase-xyz\n").unwrap();
    for args in [
        vec![
            "keys",
            "csr",
            "--name",
            "k",
            "--organ",
            "VPTW",
            "--cn",
            "K",
            "--keystore",
            k,
        ],
        vec!["keys", "rotate", "--name", "k", "--keystore", k],
    ] {
        let out = bin()
            .env("LIENTHONG_PASSPHRASE", "wrong-passphrase-xyz")
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains("wrong-passphrase-xyz"));
        assert_clean("wrong passphrase", &all);
        let mut with_file = args.clone();
        with_file.extend(["--passphrase-file", s(&pf)]);
        let out = run(&with_file);
        assert!(!out.status.success());
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains("wrong-passphrase-xyz"));
    }
    for args in [
        vec![
            "keys",
            "install-cert",
            "--name",
            "k",
            s(&cert_path),
            "--keystore",
            k,
        ],
        vec!["keys", "rotate", "--name", "k", "--keystore", k],
        vec!["keys", "list", "--keystore", k],
        vec![
            "keys",
            "destroy",
            "--name",
            "k",
            "--yes-destroy",
            "--keystore",
            k,
        ],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_clean(&format!("{args:?}"), &String::from_utf8_lossy(&out.stdout));
        assert_clean(&format!("{args:?}"), &stderr(&out));
    }

    // Debug of loaded keys and passphrases shows no secret.
    ks.import_pkcs8("k2", &der, &pass(), OffsetDateTime::now_utc())
        .unwrap();
    let loaded = ks.load("k2", &pass()).unwrap();
    for dbg in [
        format!("{loaded:?}"),
        format!("{:?}", loaded.signer()),
        format!("{:?}", pass()),
        format!(
            "{:?}",
            ks.load("k2", &Passphrase::new("nope".into()).unwrap())
        ),
    ] {
        assert_clean("Debug", &dbg);
        assert!(
            !dbg.contains(&format!("{:?}", &der[..8])),
            "raw bytes in Debug: {dbg}"
        );
    }
}

/// The committed demo PKI (`certs/`, made by `certs/gen.sh`) is complete and consistent:
/// checked at a fixed time inside its validity, so it does not depend on today's date.
#[test]
fn committed_demo_pki_is_consistent() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    let root = der_certs(&certs.join("root.pem")).remove(0);
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    // 2027-06-01T00:00:00Z.
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_811_808_000));
    let chains_to_root = |chain: &[CertificateDer<'static>]| {
        webpki::EndEntityCert::try_from(&chain[0])
            .unwrap()
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &chain[1..],
                at,
                webpki::KeyUsage::required_if_present(lienthong::pki::DOC_SIGNING_EKU_DER),
                None,
                None,
            )
            .unwrap();
    };
    for organ in ["VPTW", "TU.BENTRE", "HU.CHAUTHANH"] {
        let dir = certs.join(organ);
        for (key, alg) in [
            ("signing", KeyAlgorithm::Rsa2048),
            ("receipts", KeyAlgorithm::P256),
        ] {
            let chain = der_certs(&dir.join(format!("{key}.cert.pem")));
            chains_to_root(&chain);
            assert_eq!(
                cert::summarize("leaf", &chain[0]).unwrap().organ.as_deref(),
                Some(organ)
            );
            // The plain PEM copy is the certified key.
            let signer = lienthong::sign::Pkcs8Signer::from_pem(
                key,
                &fs::read(dir.join(format!("{key}.key.pem"))).unwrap(),
            )
            .unwrap();
            let sig = signer.sign(b"demo").unwrap();
            use x509_parser::prelude::FromDer;
            let (_, x) = x509_parser::certificate::X509Certificate::from_der(&chain[0]).unwrap();
            verify_with_spki(signer.algorithm(), x.public_key().raw, b"demo", &sig);
            // The keystore lists without a passphrase, with the certificate installed.
            let info = Keystore::open(&dir).unwrap().info(key).unwrap();
            assert_eq!(info.algorithm, alg, "{organ} {key}");
            assert!(info.certificate.is_some());
        }
        // The encryption key (issue 22): a chain to the root, keyEncipherment, bound to the
        // organ, and its plain copy opens what is sealed for the certificate.
        let chain = der_certs(&dir.join("encryption.cert.pem"));
        chains_to_root(&chain);
        assert_eq!(
            cert::summarize("leaf", &chain[0]).unwrap().organ.as_deref(),
            Some(organ)
        );
        let recipient =
            lienthong::seal::Recipient::from_certificate("enc", organ, &chain[0]).unwrap();
        let sealed = lienthong::seal::seal(
            b"mat",
            None,
            &[recipient],
            lienthong::seal::KeyTransport::RSA_OAEP_SHA256,
        )
        .unwrap();
        let pkcs8 = lienthong::seal::pkcs8_from_pem(
            "enc",
            &fs::read(dir.join("encryption.key.pem")).unwrap(),
        )
        .unwrap();
        let key = lienthong::seal::SoftwareKey::from_pkcs8_der("enc", &pkcs8, &chain[0]).unwrap();
        let opened = lienthong::seal::Sealed::from_element(&sealed)
            .unwrap()
            .open(&key)
            .unwrap();
        assert_eq!(opened.as_slice(), b"mat");
        let info = Keystore::open(&dir).unwrap().info("encryption").unwrap();
        assert_eq!(info.algorithm, KeyAlgorithm::Rsa2048);
        // gen.sh passes the demo URL: every leaf names it.
        for key in ["signing", "receipts", "tls", "encryption"] {
            assert_eq!(
                crl_dp_uris(&leaf_der(&dir.join(format!("{key}.cert.pem")))),
                Some(vec![demo::DEMO_CRL_URL.to_owned()]),
                "{organ} {key}"
            );
            assert!(dir.join(format!("{key}.key.pem")).is_file());
        }
        assert_eq!(der_certs(&dir.join("chain.pem")).len(), 2);
    }
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(certs.join("ca-state.json")).unwrap()).unwrap();
    assert_eq!(state["crl_url"], demo::DEMO_CRL_URL);
    use rustls_pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    let crl_der =
        rustls_pki_types::CertificateRevocationListDer::from_pem_file(certs.join("crl.pem"))
            .unwrap();
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&crl_der).unwrap();
    assert_eq!(crl.iter_revoked_certificates().count(), 0);
    assert!(crl.next_update().unwrap().timestamp() > 1_900_000_000);
}

/// The CA's refusals, each with its specific error: a forged request, a request without an
/// organ binding, a TLS request without host names, a leaf outliving its issuer.
#[test]
fn ca_refuses_bad_requests() {
    use lienthong::pki::csr::{self, CsrError, CsrRequest};
    use lienthong::pki::{Ca, CaError, Profile};
    let dir = tempfile::tempdir().unwrap();
    let pki = demo_pki(&dir.path().join("ca"));
    let mut ca = Ca::open(&pki.dir).unwrap();
    let ks = keystore(&dir.path().join("ks"));
    ks.generate("k", KeyAlgorithm::P256, &pass(), OffsetDateTime::now_utc())
        .unwrap();
    let key = ks.load("k", &pass()).unwrap();
    let request = CsrRequest {
        organ: "VPTW".to_owned(),
        common_name: "K".to_owned(),
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
    };
    let good = csr::create(&key, &request).unwrap();
    let now = OffsetDateTime::now_utc();
    let later = now + time::Duration::days(30);

    // Forged: one bit of the signed content changed.
    use rustls_pki_types::CertificateSigningRequestDer;
    use rustls_pki_types::pem::PemObject;
    let mut der = CertificateSigningRequestDer::from_pem_slice(good.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec();
    let pos = der.windows(4).position(|w| w == b"VPTW").unwrap();
    der[pos] = b'X';
    let forged = lienthong::pki::cert::pem_block("CERTIFICATE REQUEST", &der);
    let r = ca.issue(&forged, Profile::Signing, now, later, &pass());
    assert!(
        matches!(r, Err(CaError::Csr(CsrError::Invalid { .. }))),
        "{r:?}"
    );

    // No organ SAN: a request made by another tool.
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let plain = rcgen::KeyPair::generate().unwrap();
    let no_organ = params.serialize_request(&plain).unwrap().pem().unwrap();
    let r = ca.issue(&no_organ, Profile::Signing, now, later, &pass());
    assert!(
        matches!(r, Err(CaError::Csr(CsrError::OrganBinding { found: 0 }))),
        "{r:?}"
    );

    // TLS without DNS/IP names.
    let r = ca.issue(&good, Profile::Tls, now, later, &pass());
    assert!(matches!(r, Err(CaError::TlsWithoutNames)), "{r:?}");

    // Outliving the intermediate (demo CA: 10 years).
    let r = ca.issue(
        &good,
        Profile::Signing,
        now,
        now + time::Duration::days(20 * 365),
        &pass(),
    );
    assert!(matches!(r, Err(CaError::OutlivesIssuer { .. })), "{r:?}");

    // Wrong CA passphrase.
    let r = ca.issue(
        &good,
        Profile::Signing,
        now,
        later,
        &Passphrase::new("x".into()).unwrap(),
    );
    assert!(
        matches!(
            r,
            Err(CaError::Keystore(KeystoreError::WrongPassphrase { .. }))
        ),
        "{r:?}"
    );

    // And the twin: the good request is issued, with a fresh serial recorded in the state.
    let before = ca.issued().len();
    let issued = ca
        .issue(&good, Profile::Signing, now, later, &pass())
        .unwrap();
    assert_eq!(ca.issued().len(), before + 1);
    assert_eq!(
        Ca::open(&pki.dir).unwrap().issued().last().unwrap().serial,
        issued.summary.serial_hex
    );
    assert_eq!(issued.summary.organ.as_deref(), Some("VPTW"));
}

// === CRL distribution point (issue #11) ===

/// The CRL distribution point URIs of a certificate (RFC 5280 §4.2.1.13), `None` without the
/// extension. Fails the test on any form this CA never writes (a second extension, a critical
/// one, reasons, cRLIssuer, a relative name, a non-URI general name).
fn crl_dp_uris(der: &[u8]) -> Option<Vec<String>> {
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    let mut found = None;
    for ext in x.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            assert!(found.is_none(), "one CRL distribution points extension");
            assert!(!ext.critical, "RFC 5280 §4.2.1.13: SHOULD be non-critical");
            let mut uris = Vec::new();
            for p in points.iter() {
                assert!(p.reasons.is_none() && p.crl_issuer.is_none(), "{p:?}");
                match &p.distribution_point {
                    Some(DistributionPointName::FullName(names)) => {
                        for n in names {
                            match n {
                                GeneralName::URI(u) => uris.push((*u).to_owned()),
                                other => panic!("not a URI: {other:?}"),
                            }
                        }
                    }
                    other => panic!("not a fullName: {other:?}"),
                }
            }
            found = Some(uris);
        }
    }
    found
}

fn leaf_der(chain_pem: &Path) -> CertificateDer<'static> {
    der_certs(chain_pem).remove(0)
}

/// Every leaf the demo CA issues names the demo CRL URL, exactly once as a fullName URI; the
/// root and intermediate name none (the root publishes no CRL). The URL is in the CA state.
/// And the revocation check is unchanged by it: the CRL has no issuing distribution point, so
/// it stays authoritative (`revoke_and_crl_list_the_serial_with_next_update` revokes such a
/// leaf).
#[test]
fn demo_leaves_name_the_crl_distribution_point() {
    let dir = tempfile::tempdir().unwrap();
    let pki = demo_pki(dir.path());
    assert_eq!(
        pki.crl_url.as_ref().map(|u| u.as_str()),
        Some(demo::DEMO_CRL_URL)
    );
    let want = Some(vec![demo::DEMO_CRL_URL.to_owned()]);
    for organ in &pki.organs {
        for leaf in [&organ.signing, &organ.tls, &organ.receipts] {
            assert_eq!(
                crl_dp_uris(&leaf_der(&leaf.cert_pem)),
                want,
                "{} {}",
                organ.id,
                leaf.key_name
            );
        }
        // Chain order: the intermediate behind each leaf carries none.
        let chain = der_certs(&organ.signing.cert_pem);
        assert_eq!(crl_dp_uris(&chain[1]), None);
    }
    assert_eq!(crl_dp_uris(&der_certs(&pki.root_pem)[0]), None);
    assert_eq!(crl_dp_uris(&der_certs(&pki.intermediate_pem)[0]), None);
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(pki.dir.join("ca-state.json")).unwrap()).unwrap();
    assert_eq!(state["crl_url"], demo::DEMO_CRL_URL);
}

/// `pki init --crl-url` records the URL; `pki issue` later writes it into the leaf it issues.
#[test]
fn pki_issue_writes_the_crl_url_recorded_at_init() {
    let url = "https://pki.example.gov.vn/crl/issuing-ca.crl";
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    ok(&[
        "pki",
        "init",
        "--dir",
        s(&ca),
        "--organ",
        "TU.BENTRE",
        "--not-before",
        "2026-01-01",
        "--crl-url",
        url,
    ]);
    assert_eq!(
        lienthong::pki::Ca::open(&ca)
            .unwrap()
            .crl_url()
            .map(|u| u.as_str()),
        Some(url)
    );
    let want = Some(vec![url.to_owned()]);
    for key in ["signing", "tls", "receipts"] {
        let path = ca.join("TU.BENTRE").join(format!("{key}.cert.pem"));
        assert_eq!(crl_dp_uris(&leaf_der(&path)), want, "{key}");
    }

    let issued = issue_via_cli(dir.path(), &ca);
    assert_eq!(crl_dp_uris(&issued), want);
}

/// Makes a P-256 key and CSR for TU.BENTRE and has `pki issue --ca CA` certify it (signing
/// profile); returns the leaf.
fn issue_via_cli(dir: &Path, ca: &Path) -> CertificateDer<'static> {
    use lienthong::pki::csr::{self, CsrRequest};
    let ks = keystore(&dir.join("ks"));
    ks.generate(
        "clerk",
        KeyAlgorithm::P256,
        &pass(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let key = ks.load("clerk", &pass()).unwrap();
    let request = CsrRequest {
        organ: "TU.BENTRE".to_owned(),
        common_name: "Clerk".to_owned(),
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
    };
    let csr_path = dir.join("clerk.csr");
    fs::write(&csr_path, csr::create(&key, &request).unwrap()).unwrap();
    let out = dir.join("clerk.pem");
    ok(&[
        "pki",
        "issue",
        "--ca",
        s(ca),
        "--csr",
        s(&csr_path),
        "--profile",
        "signing",
        "--days",
        "30",
        "-o",
        s(&out),
    ]);
    leaf_der(&out)
}

/// A CA initialised without a URL writes no CRL distribution points extension at all (not an
/// empty one), and its state file has no `crl_url` key, so older versions still read it.
#[test]
fn ca_without_crl_url_issues_no_distribution_point() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    init_ca(&ca);
    let state = fs::read_to_string(ca.join("ca-state.json")).unwrap();
    assert!(!state.contains("crl_url"), "{state}");
    assert!(lienthong::pki::Ca::open(&ca).unwrap().crl_url().is_none());
    for key in ["signing", "tls", "receipts"] {
        let path = ca.join("TU.BENTRE").join(format!("{key}.cert.pem"));
        assert_eq!(crl_dp_uris(&leaf_der(&path)), None, "{key}");
    }
    assert_eq!(crl_dp_uris(&issue_via_cli(dir.path(), &ca)), None);

    // The library default of the demo is the demo URL; `None` switches it off there too.
    let mut opts = DemoOptions::new(pass(), OffsetDateTime::now_utc() - time::Duration::days(1));
    opts.pbkdf2_iterations = TEST_ITERATIONS;
    opts.crl_url = None;
    let pki = demo::generate(&dir.path().join("demo"), &[("VPTW", "V")], &opts).unwrap();
    assert!(pki.crl_url.is_none());
    assert_eq!(
        crl_dp_uris(&leaf_der(&pki.organs[0].signing.cert_pem)),
        None
    );
}

/// URLs outside http/https/ldap, with whitespace, controls, non-ASCII, user information or no
/// host are refused, each naming its rule; the length limit holds at N and refuses N+1.
#[test]
fn bad_crl_url_is_refused() {
    use lienthong::pki::ca::MAX_CRL_URL_LEN;
    use lienthong::pki::{CaError, CrlUrl};
    let refused = [
        ("", "empty"),
        ("ftp://pki.example/crl/ca.crl", "scheme"),
        ("file:///etc/ca.crl", "scheme"),
        ("javascript://pki.example/x", "scheme"),
        ("pki.example/crl/ca.crl", "no scheme"),
        ("http://pki.example/crl/a b.crl", "whitespace"),
        ("http://pki.example/crl/ca.crl\n", "whitespace"),
        (" http://pki.example/crl/ca.crl", "whitespace"),
        (
            "http://pki.example/crl/\u{7f}ca.crl",
            "control or non-ASCII",
        ),
        ("http://pki.bếntre.example/ca.crl", "control or non-ASCII"),
        ("http:///crl/ca.crl", "no host"),
        ("http://:80/crl/ca.crl", "no host"),
        ("http://admin:secret@pki.example/ca.crl", "user information"),
    ];
    for (url, why) in refused {
        match CrlUrl::parse(url) {
            Err(CaError::BadCrlUrl { url: u, reason }) => {
                assert_eq!(u, url);
                assert!(reason.contains(why), "{url:?}: {reason}");
            }
            other => panic!("{url:?} should be refused ({why}): {other:?}"),
        }
    }
    for url in [
        "http://pki.lienthong.invalid/crl/intermediate.crl",
        "HTTPS://PKI.EXAMPLE:8443/crl/ca.crl",
        "http://[2001:db8::1]/ca.crl",
        "ldap://ldap.example/cn=Issuing%20CA,o=Example?certificateRevocationList;binary",
    ] {
        assert_eq!(CrlUrl::parse(url).unwrap().as_str(), url);
    }
    let prefix = "http://pki.example/";
    let at_limit = format!("{prefix}{}", "a".repeat(MAX_CRL_URL_LEN - prefix.len()));
    assert!(CrlUrl::parse(&at_limit).is_ok());
    let over = format!("{at_limit}a");
    assert!(
        matches!(CrlUrl::parse(&over), Err(CaError::BadCrlUrl { reason, .. }) if reason.contains("too long"))
    );

    // The command line refuses before it makes anything: exit 2, the rule in the message.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let out = run(&[
        "pki",
        "init",
        "--dir",
        s(&ca),
        "--organ",
        "VPTW",
        "--crl-url",
        "ftp://pki.example/crl/ca.crl",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("ftp://pki.example/crl/ca.crl") && err.contains("scheme is not http"),
        "{err}"
    );
    assert!(!ca.exists());
}

/// A `ca-state.json` written before the CRL URL existed (no `crl_url` key) still opens, and
/// the CA issues without the extension. Its failing twin: a state naming a URL the CA would
/// refuse is reported as corrupted, not carried into certificates.
#[test]
fn old_ca_state_without_crl_url_loads() {
    use lienthong::pki::csr::{self, CsrRequest};
    use lienthong::pki::{Ca, CaError, Profile};
    let dir = tempfile::tempdir().unwrap();
    let pki = demo_pki(&dir.path().join("ca"));
    let state_path = pki.dir.join("ca-state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&fs::read(&state_path).unwrap()).unwrap();
    assert!(state.as_object_mut().unwrap().remove("crl_url").is_some());
    // Exactly the keys of a version-1 state from before the field.
    let mut keys: Vec<_> = state.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["crl_number", "issued", "next_serial", "revoked", "version"]
    );
    fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();

    let mut ca = Ca::open(&pki.dir).unwrap();
    assert!(ca.crl_url().is_none());
    let before = ca.issued().len();
    let ks = keystore(&dir.path().join("ks"));
    ks.generate("k", KeyAlgorithm::P256, &pass(), OffsetDateTime::now_utc())
        .unwrap();
    let request = CsrRequest {
        organ: "VPTW".to_owned(),
        common_name: "K".to_owned(),
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
    };
    let csr_pem = csr::create(&ks.load("k", &pass()).unwrap(), &request).unwrap();
    let now = OffsetDateTime::now_utc();
    let issued = ca
        .issue(
            &csr_pem,
            Profile::Signing,
            now,
            now + time::Duration::days(30),
            &pass(),
        )
        .unwrap();
    assert_eq!(crl_dp_uris(&issued.leaf), None);
    assert_eq!(Ca::open(&pki.dir).unwrap().issued().len(), before + 1);

    state["crl_url"] = serde_json::Value::from("ftp://pki.example/ca.crl");
    fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let r = Ca::open(&pki.dir);
    assert!(
        matches!(&r, Err(CaError::CorruptState { reason, .. }) if reason.contains("scheme")),
        "{r:?}"
    );
}

// === The receipts key ===

/// The demo's third key per organ: P-256, with the signing profile (docSigning EKU, organ SAN
/// URI, digitalSignature + nonRepudiation), in the organ keystore with its certificate, and it
/// signs what its certificate verifies.
#[test]
fn demo_receipts_key_is_p256_with_the_signing_profile() {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;
    let dir = tempfile::tempdir().unwrap();
    let pki = demo_pki(dir.path());
    let root = der_certs(&pki.root_pem).remove(0);
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    // (key usage bits, EKU OIDs, SANs) of a certificate.
    let profile = |der: &[u8]| {
        let (_, x) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
        let ku = x.key_usage().unwrap().unwrap().value;
        let eku = x.extended_key_usage().unwrap().unwrap().value;
        let mut sans = Vec::new();
        for ext in x.extensions() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
                for n in &san.general_names {
                    match n {
                        GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                        other => sans.push(format!("{other:?}")),
                    }
                }
            }
        }
        (
            (ku.digital_signature(), ku.non_repudiation(), ku.flags),
            (
                eku.server_auth,
                eku.client_auth,
                eku.other
                    .iter()
                    .map(|o| o.to_id_string())
                    .collect::<Vec<_>>(),
            ),
            sans,
        )
    };
    for organ in &pki.organs {
        let r = &organ.receipts;
        assert_eq!(r.key_name, "receipts");
        assert_eq!(r.algorithm, KeyAlgorithm::P256);
        let chain = der_certs(&r.cert_pem);
        assert_eq!(chain.len(), 2, "leaf + intermediate");
        let ee = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
        let verify = |usage| {
            ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &chain[1..],
                UnixTime::now(),
                usage,
                None,
                None,
            )
            .map(|_| ())
        };
        // `required_if_present`: webpki applies the EKU check to the intermediate too, which has
        // no EKU extension; the leaf's EKU is asserted exactly below.
        verify(webpki::KeyUsage::required_if_present(
            lienthong::pki::DOC_SIGNING_EKU_DER,
        ))
        .unwrap();
        assert!(verify(webpki::KeyUsage::server_auth()).is_err());
        assert!(verify(webpki::KeyUsage::client_auth()).is_err());

        let (ku, eku, sans) = profile(&chain[0]);
        assert!(ku.0 && ku.1, "digitalSignature + nonRepudiation");
        assert_eq!(eku, (false, false, vec!["1.3.6.1.5.5.7.3.36".to_owned()]));
        assert_eq!(sans, [format!("URI:urn:lienthong:organ:{}", organ.id)]);
        // The same profile as the document-signing certificate, bit for bit.
        assert_eq!(
            profile(&chain[0]),
            profile(&leaf_der(&organ.signing.cert_pem))
        );
        let summary = cert::summarize("receipts", &chain[0]).unwrap();
        assert_eq!(summary.subject, organ.signing.subject);
        assert_ne!(summary.serial_hex, organ.signing.serial_hex);

        // In the keystore, certified, and the certified key signs.
        let ks = Keystore::open(&organ.dir).unwrap();
        let info = ks.info("receipts").unwrap();
        assert_eq!(info.algorithm, KeyAlgorithm::P256);
        assert_eq!(info.certificate.unwrap().serial_hex, r.serial_hex);
        assert_eq!(info.fingerprint, r.fingerprint);
        let signer = ks.load("receipts", &pass()).unwrap().into_signer();
        let sig = signer.sign(b"receipt").unwrap();
        let (_, x) = x509_parser::certificate::X509Certificate::from_der(&chain[0]).unwrap();
        verify_with_spki(signer.algorithm(), x.public_key().raw, b"receipt", &sig);
    }
}

/// A request with an RSA-1024 key (made by openssl, as another tool would) is refused as "key
/// too small", not as an invalid signature.
#[test]
fn csr_with_a_small_rsa_key_is_refused_as_key_too_small() {
    use lienthong::pki::csr::{self, CsrError};
    let dir = tempfile::tempdir().unwrap();
    let csr_path = dir.path().join("small.csr");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-subj",
            "/CN=small",
        ])
        .args(["-addext", "subjectAltName=URI:urn:lienthong:organ:VPTW"])
        .arg("-keyout")
        .arg(dir.path().join("small.key"))
        .arg("-out")
        .arg(&csr_path)
        .output()
        .expect("openssl is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = fs::read_to_string(&csr_path).unwrap();
    let e = csr::parse(&pem).unwrap_err();
    assert!(matches!(e, CsrError::KeyTooSmall { bits: 1024 }), "{e}");

    // Its 2048-bit twin passes the key check (and its signature verifies).
    let out = Command::new("openssl")
        .args([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ok",
        ])
        .args(["-addext", "subjectAltName=URI:urn:lienthong:organ:VPTW"])
        .arg("-keyout")
        .arg(dir.path().join("ok.key"))
        .arg("-out")
        .arg(&csr_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let parsed = csr::parse(&fs::read_to_string(&csr_path).unwrap()).unwrap();
    assert_eq!(parsed.request.organ, "VPTW");
}

/// A CSR with an RSA-1024 key is refused as too small, by name (before its signature or names
/// are looked at), not as an invalid request; the request is made by the `openssl` referee.
#[test]
fn a_csr_with_an_rsa_1024_key_is_refused_as_too_small() {
    let dir = tempfile::tempdir().unwrap();
    let csr = dir.path().join("small.csr");
    let out = Command::new("openssl")
        .args(["req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout"])
        .arg(dir.path().join("small.key"))
        .args(["-subj", "/CN=small", "-out"])
        .arg(&csr)
        .output()
        .expect("openssl (apt: openssl) is needed by this test");
    assert!(out.status.success(), "{}", stderr(&out));
    let e = lienthong::pki::csr::parse(&fs::read_to_string(&csr).unwrap()).unwrap_err();
    assert!(
        matches!(e, lienthong::pki::csr::CsrError::KeyTooSmall { bits: 1024 }),
        "{e}"
    );
}
