//! `lienthong sign` with keys that never leave protection: a keystore key (the committed demo
//! PKI in `certs/`) and a PKCS#11 token object (SoftHSM2). Each signature verifies with
//! `lienthong verify` and with the referee, `xmlsec1`.
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

use common::{TestPki, pem, sample_envelope};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn xmlsec_verifies(root: &Path, file: &Path) -> bool {
    Command::new("xmlsec1")
        .arg("--verify")
        .arg("--trusted-pem")
        .arg(root)
        .args(["--enabled-reference-uris", "empty"])
        .arg(file)
        .output()
        .expect("xmlsec1 is needed (apt install xmlsec1)")
        .status
        .success()
}

#[test]
fn keystore_key_signs_with_its_installed_certificate() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("doc.xml");
    std::fs::write(&doc, sample_envelope("HU.CHAUTHANH", "TU.BENTRE", "thuong")).unwrap();
    let signed = dir.path().join("signed.xml");
    // No --cert: the certificate installed with the key is used.
    ok(bin()
        .arg("sign")
        .arg("--keystore")
        .arg(certs.join("HU.CHAUTHANH"))
        .args(["--key", "signing"])
        .arg(&doc)
        .arg("-o")
        .arg(&signed)
        .env("LIENTHONG_PASSPHRASE", "lienthong-demo-only"));
    let out = ok(bin()
        .arg("verify")
        .arg("--trust")
        .arg(certs.join("root.pem"))
        .arg("--crl")
        .arg(certs.join("crl.pem"))
        .arg(&signed));
    assert!(
        out.contains("HU.CHAUTHANH") && out.contains("not revoked"),
        "{out}"
    );
    assert!(xmlsec_verifies(&certs.join("root.pem"), &signed));

    // A wrong passphrase is refused with exit 1 and nothing is written.
    let again = dir.path().join("again.xml");
    let out = bin()
        .arg("sign")
        .arg("--keystore")
        .arg(certs.join("HU.CHAUTHANH"))
        .args(["--key", "signing"])
        .arg(&doc)
        .arg("-o")
        .arg(&again)
        .env("LIENTHONG_PASSPHRASE", "Xq7-not-the-demo-secret")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!again.exists());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Xq7-not-the-demo-secret"));
}

fn tool(conf: &Path, prog: &str, args: &[&str]) {
    let out = Command::new(prog)
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap_or_else(|e| panic!("{prog} is needed (apt install softhsm2 opensc): {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn token_key_signs_and_xmlsec1_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    tool(
        &conf,
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            "T",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ],
    );
    let pki = TestPki::new("token");
    std::fs::write(dir.path().join("root.pem"), pki.root_pem()).unwrap();
    for (label, id, key_type) in [("K", "01", "rsa:2048"), ("E", "02", "EC:prime256v1")] {
        tool(
            &conf,
            "pkcs11-tool",
            &[
                "--module",
                MODULE,
                "--login",
                "--pin",
                "1234",
                "--keypairgen",
                "--key-type",
                key_type,
                "--label",
                label,
                "--id",
                id,
            ],
        );
        let spki = dir.path().join(format!("{label}.spki.der"));
        tool(
            &conf,
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
                spki.to_str().unwrap(),
            ],
        );
        // The CA certifies the token's public key; the private key never leaves the token.
        let chain = pki.leaf_for_spki(&std::fs::read(&spki).unwrap(), "HU.CHAUTHANH");
        let cert_pem: String = chain
            .iter()
            .map(|c| pem(c.as_ref(), "CERTIFICATE"))
            .collect();
        let cert = dir.path().join(format!("{label}.cert.pem"));
        std::fs::write(&cert, cert_pem).unwrap();
        let doc = dir.path().join("doc.xml");
        std::fs::write(&doc, sample_envelope("HU.CHAUTHANH", "TU.BENTRE", "thuong")).unwrap();
        let signed = dir.path().join(format!("{label}.signed.xml"));
        ok(bin()
            .arg("sign")
            .args(["--key", &format!("pkcs11:token=T;object={label}")])
            .arg("--cert")
            .arg(&cert)
            .arg(&doc)
            .arg("-o")
            .arg(&signed)
            .env("SOFTHSM2_CONF", &conf)
            .env("LIENTHONG_PKCS11_MODULE", MODULE)
            .env("LIENTHONG_PKCS11_PIN", "1234")
            .env_remove("LIENTHONG_PKCS11_PIN_FILE"));
        let out = ok(bin()
            .arg("verify")
            .arg("--trust")
            .arg(dir.path().join("root.pem"))
            .arg(&signed));
        assert!(out.contains("valid"), "{out}");
        assert!(
            xmlsec_verifies(&dir.path().join("root.pem"), &signed),
            "xmlsec1 refused the {label} token signature"
        );
    }
}
