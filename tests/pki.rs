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
    for organ in ["VPTW", "TU.BENTRE", "HU.CHAUTHANH"] {
        let dir = certs.join(organ);
        let chain = der_certs(&dir.join("signing.cert.pem"));
        let ee = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &chain[1..],
            at,
            webpki::KeyUsage::required_if_present(lienthong::pki::DOC_SIGNING_EKU_DER),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            cert::summarize("leaf", &chain[0]).unwrap().organ.as_deref(),
            Some(organ)
        );
        // The plain PEM copy is the certified key.
        let signer = lienthong::sign::Pkcs8Signer::from_pem(
            "signing",
            &fs::read(dir.join("signing.key.pem")).unwrap(),
        )
        .unwrap();
        let sig = signer.sign(b"demo").unwrap();
        use x509_parser::prelude::FromDer;
        let (_, x) = x509_parser::certificate::X509Certificate::from_der(&chain[0]).unwrap();
        verify_with_spki(signer.algorithm(), x.public_key().raw, b"demo", &sig);
        // The keystore lists without a passphrase, with the certificate installed.
        let info = Keystore::open(&dir).unwrap().info("signing").unwrap();
        assert_eq!(info.algorithm, KeyAlgorithm::Rsa2048);
        assert!(info.certificate.is_some());
        assert_eq!(der_certs(&dir.join("chain.pem")).len(), 2);
    }
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
