//! The peer comparison: `xmlsec1` (libxmlsec1 on OpenSSL, the XML-DSig referee the test suite
//! uses) signing and verifying the same 8 KB envelope with the same RSA-2048 key and chain.
//! One process per document, as an office script would call it; the process start-up cost is
//! measured separately (`xmlsec1 --version`) so it can be told apart.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use zeroize::Zeroizing;

use super::BenchOptions;
use super::pipeline::Material;
use crate::pki::{Keystore, Passphrase};

/// The peer section: measured, or why not.
#[derive(Clone, Debug, Serialize)]
pub struct Peers {
    /// `xmlsec1`, when it ran.
    pub xmlsec1: Option<Xmlsec1>,
    /// Why it was skipped, or notes on what was measured.
    pub note: String,
    /// python `signxml`, when `bench/peers.sh` set it up.
    pub signxml: Option<Signxml>,
    /// Why signxml was skipped, or what was measured.
    pub signxml_note: String,
}

/// python `signxml` numbers (in-process: no interpreter start-up per document).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Signxml {
    /// signxml version.
    pub version: String,
    /// Signatures per second (8 KB envelope, RSA-2048, chain in KeyInfo, exc-c14n).
    pub sign_docs_per_s: f64,
    /// Verifications per second of the lienthong-signed envelope against the demo root.
    pub verify_docs_per_s: f64,
}

/// The script `lienthong bench` hands to the signxml interpreter.
const SIGNXML_SCRIPT: &str = include_str!("../../bench/signxml_bench.py");

/// Where `bench/peers.sh` puts its interpreter (relative to the repository root), overridable
/// with `LIENTHONG_BENCH_PYTHON`.
const SIGNXML_PYTHON: &str = "bench/.venv/bin/python";

/// `xmlsec1` numbers.
#[derive(Clone, Debug, Serialize)]
pub struct Xmlsec1 {
    /// `xmlsec1 --version` output.
    pub version: String,
    /// `xmlsec1 --sign` processes per second (8 KB envelope, RSA-2048, chain in KeyInfo).
    pub sign_docs_per_s: f64,
    /// `xmlsec1 --verify` processes per second on a lienthong-signed envelope, against the root.
    pub verify_docs_per_s: f64,
    /// `xmlsec1 --version` processes per second: the start-up floor of one process.
    pub startup_per_s: f64,
}

impl Peers {
    /// Not measured, with the reason.
    pub fn skipped(why: &str) -> Self {
        Self {
            xmlsec1: None,
            note: why.to_owned(),
            signxml: None,
            signxml_note: why.to_owned(),
        }
    }
}

const SIGNATURE_TEMPLATE: &str = r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo></ds:Signature></edXMLHeader>"#;

/// Runs `xmlsec1` if installed; never fails the benchmark (a failure becomes the note).
pub fn measure(m: &Material, dir: &Path, options: &BenchOptions) -> Peers {
    let dir = dir.join("peers");
    let files = match prepare(m, &dir) {
        Ok(f) => f,
        Err(why) => return Peers::skipped(&why),
    };
    let (xmlsec1, note) = match try_measure(&files, options) {
        Ok(x) => (
            Some(x),
            "one xmlsec1 process per document (fork, exec, OpenSSL and key load included)"
                .to_owned(),
        ),
        Err(why) => (None, why),
    };
    let (signxml, signxml_note) = match try_signxml(&files, &dir, options) {
        Ok(x) => (
            Some(x),
            "in-process python signxml (lxml + cryptography on OpenSSL), same document, key and chain"
                .to_owned(),
        ),
        Err(why) => (None, why),
    };
    let _ = std::fs::remove_file(&files.key);
    Peers {
        xmlsec1,
        note,
        signxml,
        signxml_note,
    }
}

/// The files both peers work from. The key file is removed when the peers are done.
struct PeerFiles {
    key: std::path::PathBuf,
    certs: Vec<std::path::PathBuf>,
    root: std::path::PathBuf,
    unsigned: std::path::PathBuf,
    template: std::path::PathBuf,
    signed: std::path::PathBuf,
    out: std::path::PathBuf,
}

fn try_signxml(f: &PeerFiles, dir: &Path, options: &BenchOptions) -> Result<Signxml, String> {
    let python = std::env::var_os("LIENTHONG_BENCH_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(SIGNXML_PYTHON));
    if !python.exists() {
        return Err(format!(
            "signxml not set up ({} absent): run bench/peers.sh",
            python.display()
        ));
    }
    let script = dir.join("signxml_bench.py");
    std::fs::write(&script, SIGNXML_SCRIPT).map_err(|e| e.to_string())?;
    let certs = f
        .certs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&f.key)
        .arg(certs)
        .arg(&f.root)
        .arg(&f.unsigned)
        .arg(&f.signed)
        .arg(format!("{}", options.budget().as_secs_f64()))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("signxml could not run: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default();
        return Err(format!("signxml failed: {last}"));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("signxml output: {e}"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("xmlsec1 could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "xmlsec1 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn per_second(budget: Duration, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    f()?;
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget || n < 3 {
        f()?;
        n += 1;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

fn prepare(m: &Material, dir: &Path) -> Result<PeerFiles, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| e.to_string();

    // The same key and chain as the district gateway, as PEM files for the peers.
    let pass_file = m
        .config
        .keys
        .passphrase_file
        .as_ref()
        .ok_or("the demo config has no passphrase file")?;
    let pass = Passphrase::from_file(pass_file).map_err(|e| e.to_string())?;
    let ks = Keystore::open(&m.config.keys.keystore).map_err(|e| e.to_string())?;
    let der = ks
        .load_pkcs8(&m.config.keys.signing, &pass)
        .map_err(|e| e.to_string())?;
    let key_pem = Zeroizing::new(crate::pki::cert::pem_block("PRIVATE KEY", &der));
    let key = dir.join("key.pem");
    std::fs::write(&key, key_pem.as_bytes()).map_err(io)?;
    let mut certs = Vec::new();
    for (i, c) in m.chain.iter().enumerate() {
        let p = dir.join(format!("cert{i}.pem"));
        std::fs::write(&p, crate::pki::cert::pem_block("CERTIFICATE", c.as_ref())).map_err(io)?;
        certs.push(p);
    }
    let root = m
        .config
        .trust
        .anchors
        .first()
        .ok_or("the demo config has no trust anchor")?
        .clone();

    let unsigned = String::from_utf8(m.small.clone()).map_err(|e| e.to_string())?;
    if !unsigned.contains("</edXMLHeader>") {
        return Err("the envelope's header end tag is prefixed; no template made".to_owned());
    }
    let unsigned_path = dir.join("unsigned.xml");
    std::fs::write(&unsigned_path, &m.small).map_err(io)?;
    let template = dir.join("template.xml");
    std::fs::write(
        &template,
        unsigned.replacen("</edXMLHeader>", SIGNATURE_TEMPLATE, 1),
    )
    .map_err(io)?;
    let signed = dir.join("signed.xml");
    std::fs::write(&signed, m.sign(&m.small).map_err(|e| e.to_string())?).map_err(io)?;
    Ok(PeerFiles {
        key,
        certs,
        root,
        unsigned: unsigned_path,
        template,
        signed,
        out: dir.join("xmlsec-signed.xml"),
    })
}

fn try_measure(f: &PeerFiles, options: &BenchOptions) -> Result<Xmlsec1, String> {
    let version = match Command::new("xmlsec1").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => return Err("xmlsec1 is not installed (apt-get install xmlsec1)".to_owned()),
    };
    let keyspec = std::iter::once(&f.key)
        .chain(f.certs.iter())
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");

    let budget = options.budget();
    let startup_per_s = per_second(budget, || run(Command::new("xmlsec1").arg("--version")))?;
    let sign_docs_per_s = per_second(budget, || {
        run(Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(&keyspec)
            .arg("--output")
            .arg(&f.out)
            .arg(&f.template))
    })?;
    let verify_docs_per_s = per_second(budget, || {
        run(Command::new("xmlsec1")
            .arg("--verify")
            .arg("--trusted-pem")
            .arg(&f.root)
            .arg("--enabled-reference-uris")
            .arg("empty")
            .arg(&f.signed))
    })?;
    Ok(Xmlsec1 {
        version,
        sign_docs_per_s,
        verify_docs_per_s,
        startup_per_s,
    })
}
