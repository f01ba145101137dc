#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! Signing on a PKCS#11 token (SoftHSM2), through `pki::load_signer` and `Pkcs11Signer`.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when the module initialises, and the token PIN and module path
//! come from the environment too; a test cannot set its own environment without `unsafe`
//! (forbidden here). So each test prepares a private token directory, then re-runs itself in a
//! child process (this same test binary, filtered to this one test) with that environment; the
//! child does the checks and the parent asserts it succeeded.
//!
//! Needs `softhsm2-util` and `pkcs11-tool` (Debian: `softhsm2`, `opensc`; CI installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use lienthong::pki::pkcs11::{Pkcs11Pin, Pkcs11Signer};
use lienthong::pki::{Pkcs11Error, Pkcs11Uri, PkiError, load_signer};
use lienthong::sign::{SignatureAlgorithm, Signer};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CHILD: &str = "LIENTHONG_TEST_SOFTHSM_DIR";
const PIN: &str = "1234";

fn tool(dir: &Path, prog: &str, args: &[&str]) {
    let out = Command::new(prog)
        .args(args)
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .output()
        .unwrap_or_else(|e| {
            panic!("{prog} is needed for PKCS#11 tests (apt install softhsm2 opensc): {e}")
        });
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `body` in a child process that sees a fresh SoftHSM token `T` (user PIN 1234) holding
/// an RSA-2048 key `K` (id 01) and a P-256 key `E` (id 02), with `LIENTHONG_PKCS11_MODULE` and
/// `LIENTHONG_PKCS11_PIN` set. `body` gets the directory holding `K.spki.der` / `E.spki.der`,
/// the public keys as exported by pkcs11-tool (an independent reading of the token).
fn with_token(test_name: &str, body: impl FnOnce(&Path)) {
    if let Some(dir) = std::env::var_os(CHILD) {
        body(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tokens = dir.join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    std::fs::write(
        dir.join("softhsm2.conf"),
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    tool(
        dir,
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            "T",
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ],
    );
    for (label, id, key_type) in [("K", "01", "rsa:2048"), ("E", "02", "EC:prime256v1")] {
        let mut args = vec![
            "--module",
            MODULE,
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
            "--id",
            id,
        ];
        if label == "K" {
            // The RSA key also decrypts: the sealing test wraps content keys for it.
            args.extend(["--usage-sign", "--usage-decrypt"]);
        }
        tool(dir, "pkcs11-tool", &args);
        let out = dir.join(format!("{label}.spki.der"));
        tool(
            dir,
            "pkcs11-tool",
            &[
                "--module",
                MODULE,
                "--read-object",
                "--type",
                "pubkey",
                "--label",
                label,
                "-o",
                out.to_str().unwrap(),
            ],
        );
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .env("LIENTHONG_PKCS11_MODULE", MODULE)
        .env("LIENTHONG_PKCS11_PIN", PIN)
        .env_remove("LIENTHONG_PKCS11_PIN_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
}

fn verify(alg: SignatureAlgorithm, spki_der: &[u8], msg: &[u8], sig: &[u8]) {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).unwrap();
    let ring_alg: &dyn ring::signature::VerificationAlgorithm = match alg {
        SignatureAlgorithm::RsaSha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_FIXED,
        _ => panic!("unexpected algorithm {alg:?}"),
    };
    ring::signature::UnparsedPublicKey::new(ring_alg, spki.subject_public_key.data.to_vec())
        .verify(msg, sig)
        .expect("the token's signature verifies with ring");
}

#[test]
fn rsa_and_p256_keys_sign_on_the_token_and_verify_with_ring() {
    with_token(
        "rsa_and_p256_keys_sign_on_the_token_and_verify_with_ring",
        |dir| {
            let msg = b"<SignedInfo>canonical bytes</SignedInfo>";
            for (uri, label, alg) in [
                (
                    "pkcs11:token=T;object=K",
                    "K",
                    SignatureAlgorithm::RsaSha256,
                ),
                (
                    "pkcs11:token=T;id=%02;type=private",
                    "E",
                    SignatureAlgorithm::EcdsaP256Sha256,
                ),
            ] {
                let signer = load_signer(uri, None, None).unwrap();
                assert_eq!(signer.algorithm(), alg);
                let sig = signer.sign(msg).unwrap();
                if alg == SignatureAlgorithm::EcdsaP256Sha256 {
                    assert_eq!(sig.len(), 64, "ECDSA is r || s");
                }
                let exported = std::fs::read(dir.join(format!("{label}.spki.der"))).unwrap();
                verify(alg, &exported, msg, &sig);
                // A changed message does not verify (the check can fail).
                let mut bad = msg.to_vec();
                bad[0] ^= 1;
                use x509_parser::prelude::FromDer;
                let (_, spki) =
                    x509_parser::x509::SubjectPublicKeyInfo::from_der(&exported).unwrap();
                let ring_alg: &dyn ring::signature::VerificationAlgorithm = match alg {
                    SignatureAlgorithm::RsaSha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    _ => &ring::signature::ECDSA_P256_SHA256_FIXED,
                };
                assert!(
                    ring::signature::UnparsedPublicKey::new(
                        ring_alg,
                        spki.subject_public_key.data.to_vec()
                    )
                    .verify(&bad, &sig)
                    .is_err()
                );
                // The signer's own reading of the public key agrees with pkcs11-tool's.
                let direct = Pkcs11Signer::open(
                    &Pkcs11Uri::parse(uri).unwrap(),
                    Path::new(MODULE),
                    &Pkcs11Pin::new(PIN.to_owned()),
                )
                .unwrap();
                let mine_der = direct.spki_der();
                let (_, mine) =
                    x509_parser::x509::SubjectPublicKeyInfo::from_der(&mine_der).unwrap();
                assert_eq!(mine.subject_public_key.data, spki.subject_public_key.data);
                assert!(!format!("{direct:?}").contains(PIN));
            }
        },
    );
}

#[test]
fn token_refusals_are_specific() {
    with_token("token_refusals_are_specific", |dir| {
        let uri = |s: &str| Pkcs11Uri::parse(s).unwrap();
        let pin = Pkcs11Pin::new(PIN.to_owned());
        let module = Path::new(MODULE);
        assert!(matches!(
            Pkcs11Signer::open(
                &uri("pkcs11:token=T;object=K"),
                module,
                &Pkcs11Pin::new("0000".into())
            ),
            Err(Pkcs11Error::WrongPin { .. })
        ));
        assert!(matches!(
            Pkcs11Signer::open(&uri("pkcs11:token=T;object=nope"), module, &pin),
            Err(Pkcs11Error::KeyNotFound { .. })
        ));
        assert!(matches!(
            Pkcs11Signer::open(&uri("pkcs11:token=nope;object=K"), module, &pin),
            Err(Pkcs11Error::TokenNotFound { .. })
        ));
        assert!(matches!(
            Pkcs11Signer::open(
                &uri("pkcs11:object=K"),
                Path::new("/nonexistent/module.so"),
                &pin
            ),
            Err(Pkcs11Error::Module { .. })
        ));
        assert!(matches!(
            load_signer("pkcs11:token=T;object=K?pin-value=1234", None, None),
            Err(PkiError::Pkcs11(Pkcs11Error::PinInUri))
        ));
        assert!(matches!(
            load_signer("pkcs11:token=T;object=K;colour=red", None, None),
            Err(PkiError::Pkcs11(Pkcs11Error::Uri { .. }))
        ));
        // The PIN can come from a file named in the URI (RFC 7512 pin-source), not only the env.
        let pin_file: PathBuf = dir.join("pin.txt");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        let with_source = uri(&format!(
            "pkcs11:token=T;object=K?module-path={MODULE}&pin-source=file:{}",
            pin_file.display()
        ));
        assert_eq!(with_source.pin_source.as_deref(), Some(pin_file.as_path()));
        let signer = Pkcs11Signer::open(
            &with_source,
            with_source.module_path.as_deref().unwrap(),
            &Pkcs11Pin::from_file(&pin_file).unwrap(),
        )
        .unwrap();
        assert_eq!(signer.sign(b"x").unwrap().len(), 256);
    });
}

/// The central office's decryption key on a token (issue 22): a document sealed for the token
/// key's encryption certificate opens through `lienthong decrypt --key pkcs11:…` — the key never
/// leaves the token. SoftHSM2 2.6 does RSA-OAEP with SHA-1 only (CKR_ARGUMENTS_BAD for SHA-256,
/// checked below), so the token test seals with `--oaep mgf1p`; the SHA-256 form is refereed
/// by openssl in `tests/seal_interop.rs`.
#[test]
fn a_sealed_document_opens_with_a_key_on_the_token() {
    with_token("a_sealed_document_opens_with_a_key_on_the_token", |dir| {
        let pki = common::TestPki::new("token-seal");
        let spki = std::fs::read(dir.join("K.spki.der")).unwrap();
        let chain = pki.encryption_leaf_for_spki(&spki, "VPTW");
        let cert = dir.join("enc.cert.pem");
        std::fs::write(&cert, common::pem(&chain[0], "CERTIFICATE")).unwrap();
        let plain = dir.join("plain.xml");
        std::fs::write(&plain, b"<doc>mat: ke hoach nam 2027</doc>").unwrap();
        let bin = env!("CARGO_BIN_EXE_lienthong");
        let run = |args: &[&std::ffi::OsStr]| {
            let o = Command::new(bin).args(args).output().unwrap();
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        let os = std::ffi::OsStr::new;
        for (oaep, opens) in [("mgf1p", true), ("sha256", false)] {
            let sealed = dir.join(format!("sealed-{oaep}.xml"));
            let out = dir.join(format!("opened-{oaep}.xml"));
            let (ok, err) = run(&[
                os("encrypt"),
                os("--oaep"),
                os(oaep),
                os("--to-cert"),
                cert.as_os_str(),
                plain.as_os_str(),
                os("-o"),
                sealed.as_os_str(),
            ]);
            assert!(ok, "{err}");
            let (ok, err) = run(&[
                os("decrypt"),
                os("--key"),
                os("pkcs11:token=T;object=K"),
                os("--cert"),
                cert.as_os_str(),
                sealed.as_os_str(),
                os("-o"),
                out.as_os_str(),
            ]);
            if opens {
                assert!(ok, "the token did not open it: {err}");
                assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap());
            } else {
                // What SoftHSM cannot do is a named refusal, not a crash or junk.
                assert!(!ok && err.contains("refused (key_unwrap)"), "{err}");
                assert!(!out.exists());
            }
        }
        // A certificate of another key is refused before anything is decrypted.
        let other =
            pki.encryption_leaf_for_spki(&std::fs::read(dir.join("E.spki.der")).unwrap(), "VPTW");
        let other_cert = dir.join("other.cert.pem");
        std::fs::write(&other_cert, common::pem(&other[0], "CERTIFICATE")).unwrap();
        let (ok, err) = run(&[
            os("decrypt"),
            os("--key"),
            os("pkcs11:token=T;object=K"),
            os("--cert"),
            other_cert.as_os_str(),
            dir.join("sealed-mgf1p.xml").as_os_str(),
        ]);
        assert!(!ok, "{err}");
    });
}

/// The central office's decryption key on a token, in a running gateway (issue 22): the key is
/// moved onto the token, the central gateway opens `mat` documents only through it
/// (`[[encryption.tokens]]`, no keystore key), and a document the district seals for it is
/// delivered through the province and fetched in clear. The district wraps with rsa-oaep-mgf1p
/// (`[encryption] key_transport`), the one OAEP SoftHSM2 2.6 performs.
#[test]
fn a_gateway_opens_delivered_mat_documents_with_its_token_key() {
    with_token(
        "a_gateway_opens_delivered_mat_documents_with_its_token_key",
        |dir| {
            use common::gateways::{Demo, eventually, submit};
            use common::tls::edit_config;
            let mut demo = Demo::new();
            let pki = demo.root().parent().unwrap().to_path_buf();
            let pass =
                lienthong::pki::Passphrase::new(lienthong::demo::DEMO_PASSPHRASE.into()).unwrap();
            let der = lienthong::pki::Keystore::open(&pki.join("VPTW"))
                .unwrap()
                .load_pkcs8("encryption", &pass)
                .unwrap();
            let key_file = dir.join("central-encryption.der");
            std::fs::write(&key_file, der.as_slice()).unwrap();
            tool(
                dir,
                "pkcs11-tool",
                &[
                    "--module",
                    MODULE,
                    "--login",
                    "--pin",
                    PIN,
                    "--write-object",
                    key_file.to_str().unwrap(),
                    "--type",
                    "privkey",
                    "--id",
                    "10",
                    "--label",
                    "C",
                    "--usage-decrypt",
                ],
            );
            std::fs::remove_file(&key_file).unwrap();
            edit_config(&demo, "central", |t| {
                t.replace("encryption = [\"encryption\"]", "encryption = []")
                    + "\n[[encryption.tokens]]\nuri = \"pkcs11:token=T;object=C\"\n\
                       certificate = \"../pki/VPTW/encryption.cert.pem\"\n"
            });
            edit_config(&demo, "district", |t| {
                t.replace(
                    "[encryption]\n",
                    "[encryption]\nkey_transport = \"rsa-oaep-mgf1p\"\n",
                )
            });
            demo.start_all();
            let xml = demo.envelope(&["VPTW"], "mat", "VB-01", 1, "Báo cáo mật qua token");
            let r = submit(&demo.client("district", "submit"), &xml);
            assert_eq!(r.status, 202, "{}", r.text());
            let id = r.json()["message_id"].as_str().unwrap().to_owned();
            let central = demo.client("central", "receive");
            let fetched = eventually("the document opened at the central office", 60, || {
                let f = central.get(&format!("/api/v1/inbox/{id}")).unwrap();
                (f.status == 200).then_some(f)
            });
            assert!(fetched.text().contains("Báo cáo mật qua token"));
            let meta = central
                .get(&format!("/api/v1/inbox/{id}/meta"))
                .unwrap()
                .json();
            assert!(
                meta["sealed"]["recipients"].as_array().unwrap().iter().all(
                    |r| r["key_transport"] == "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
                ),
                "{meta}"
            );
        },
    );
}
