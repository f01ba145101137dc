//! Revocation sources side by side (issue 25): document verification with a CRL and with OCSP
//! once answered, and the certificate status alone — from the OCSP cache, over loopback HTTP to
//! `openssl ocsp` (request, responder, signature and every check), and a full chain + CRL check
//! with nothing cached. A P-256 leaf under a two-level rcgen CA of the benchmark's own (the
//! demo CA's key stays in its keystore); the OCSP rows are skipped, with the reason, when
//! `openssl` is not installed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use serde::Serialize;

use super::{BenchError, rate};
use crate::sign::ocsp::{Ocsp, OcspSettings};
use crate::sign::{
    Pkcs8Signer, RevocationSource, TrustStore, VerifyOptions, check_certificates, verify,
};

/// The figures; `None` where the run could not measure (see `note`).
#[derive(Clone, Debug, Serialize)]
pub struct Revocation {
    /// `sign::verify` of an 8 KB envelope, revocation by a CRL (chain cache warm), docs/s.
    pub verify_crl_docs_per_s: f64,
    /// The same with `revocation = ["ocsp"]`, the answer cached, docs/s.
    pub verify_ocsp_cached_docs_per_s: Option<f64>,
    /// `Ocsp::check` answered from its cache, checks/s.
    pub ocsp_status_cached_per_s: Option<f64>,
    /// `Ocsp::check` asking `openssl ocsp` over loopback each time, checks/s.
    pub ocsp_status_uncached_per_s: Option<f64>,
    /// `check_certificates` with a new trust store each time (chain, CRL parsed and checked),
    /// checks/s.
    pub chain_and_crl_uncached_per_s: f64,
    /// Why OCSP rows are missing, if they are.
    pub note: String,
}

/// A two-level CA, a docSigning leaf of `HU.CHAUTHANH` and a CRL.
struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    inter: CertifiedIssuer<'static, KeyPair>,
    leaf: Vec<CertificateDer<'static>>,
    leaf_key: Vec<u8>,
    crl: Vec<u8>,
}

fn setup_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(format!("revocation PKI: {e}"))
}

fn ca(cn: &str) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

fn pki() -> Result<Pki, BenchError> {
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let root = CertifiedIssuer::self_signed(
        ca("bench revocation Root"),
        KeyPair::generate_for(alg).map_err(setup_err)?,
    )
    .map_err(setup_err)?;
    let inter = CertifiedIssuer::signed_by(
        ca("bench revocation Intermediate"),
        KeyPair::generate_for(alg).map_err(setup_err)?,
        &root,
    )
    .map_err(setup_err)?;
    let key = KeyPair::generate_for(alg).map_err(setup_err)?;
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "Van phong HU.CHAUTHANH");
    let uri = "urn:lienthong:organ:HU.CHAUTHANH"
        .try_into()
        .map_err(setup_err)?;
    p.subject_alt_names = vec![SanType::URI(uri)];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![
        1, 3, 6, 1, 5, 5, 7, 3, 36,
    ])];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
    p.serial_number = Some(SerialNumber::from(4096u64));
    p.use_authority_key_identifier_extension = true;
    let leaf = p.signed_by(&key, &inter).map_err(setup_err)?;
    let crl = CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(7),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&inter)
    .map_err(setup_err)?;
    Ok(Pki {
        leaf: vec![leaf.der().clone(), inter.der().clone()],
        leaf_key: key.serialize_der(),
        crl: crl.der().to_vec(),
        root,
        inter,
    })
}

/// `openssl ocsp` answering "good" for the leaf, signing as the intermediate; killed on drop.
struct Responder(Child);

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn responder(pki: &Pki, dir: &Path) -> Result<(Responder, String), String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "index.txt",
        "V\t351231000000Z\t\t1000\tunknown\t/CN=bench\n",
    )?;
    write("ca.pem", &pki.inter.pem())?;
    write("key.pem", &pki.inter.key().serialize_pem())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut child = Command::new("openssl")
        .arg("ocsp")
        .arg("-index")
        .arg(dir.join("index.txt"))
        .arg("-CA")
        .arg(dir.join("ca.pem"))
        .arg("-rsigner")
        .arg(dir.join("ca.pem"))
        .arg("-rkey")
        .arg(dir.join("key.pem"))
        .args(["-port", &port.to_string(), "-ndays", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("openssl not run: {e}"))?;
    let stderr = child.stderr.take();
    let responder = Responder(child);
    // Ready when it says so (a probing connection would wedge openssl 3.0's responder).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let Some(stderr) = stderr else { return };
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("waiting for OCSP client connections") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "openssl ocsp did not start".to_owned())?;
    Ok((responder, format!("http://127.0.0.1:{port}/")))
}

/// Measures every row for `budget` each; `dir` holds the responder's files.
pub fn measure(dir: &Path, budget: Duration) -> Result<Revocation, BenchError> {
    let pki = pki()?;
    let op = |what: &'static str| {
        move |e: &dyn std::fmt::Display| BenchError::Operation {
            what,
            reason: e.to_string(),
        }
    };
    let signer = Pkcs8Signer::from_der("bench revocation", &pki.leaf_key).map_err(setup_err)?;
    let mut doc = crate::doc::parse(
        &super::pipeline::envelope(7, super::pipeline::SMALL)?,
        &crate::doc::Limits::default(),
    )
    .map_err(setup_err)?;
    crate::sign::sign_document(&mut doc, &signer, &pki.leaf).map_err(setup_err)?;
    let signed = crate::doc::write::write_document(&doc);
    let with_crl = || -> Result<TrustStore, BenchError> {
        let mut t = TrustStore::new();
        t.add_anchor_der(pki.root.der(), "bench root")
            .map_err(setup_err)?;
        t.add_crl(&pki.crl, "bench crl").map_err(setup_err)?;
        Ok(t)
    };
    let crl = with_crl()?;
    let verify_crl = rate(budget, || {
        verify(&signed, &crl, &VerifyOptions::now())
            .map(drop)
            .map_err(|e| op("verify (CRL)")(&e))
    })?;
    let chain_crl = rate(budget, || {
        let t = with_crl()?;
        check_certificates(&pki.leaf, &t, &VerifyOptions::now())
            .map(drop)
            .map_err(|e| op("chain + CRL")(&e))
    })?;
    let mut out = Revocation {
        verify_crl_docs_per_s: verify_crl,
        verify_ocsp_cached_docs_per_s: None,
        ocsp_status_cached_per_s: None,
        ocsp_status_uncached_per_s: None,
        chain_and_crl_uncached_per_s: chain_crl,
        note: String::new(),
    };
    let (_responder, url) = match responder(&pki, dir) {
        Ok(r) => r,
        Err(why) => {
            out.note = format!("OCSP rows skipped: {why}");
            return Ok(out);
        }
    };
    let new_ocsp = || {
        let settings = OcspSettings {
            responder: Some(url.clone()),
            ..OcspSettings::default()
        };
        Arc::new(Ocsp::new(
            settings,
            Arc::new(crate::relay::ocsp::HttpTransport),
        ))
    };
    let ocsp = new_ocsp();
    let mut by_ocsp = TrustStore::new();
    by_ocsp
        .add_anchor_der(pki.root.der(), "bench root")
        .map_err(setup_err)?;
    by_ocsp.set_revocation(vec![RevocationSource::Ocsp], Some(ocsp.clone()));
    out.verify_ocsp_cached_docs_per_s = Some(rate(budget, || {
        verify(&signed, &by_ocsp, &VerifyOptions::now())
            .map(drop)
            .map_err(|e| op("verify (OCSP)")(&e))
    })?);
    let leaf = pki
        .leaf
        .first()
        .map(|c| c.as_ref())
        .ok_or_else(|| setup_err("no leaf"))?;
    let issuer = pki.inter.der().as_ref();
    let now = || rustls_pki_types::UnixTime::now().as_secs();
    out.ocsp_status_cached_per_s = Some(rate(budget, || {
        ocsp.check(leaf, issuer, now())
            .map(drop)
            .map_err(|e| op("OCSP (cached)")(&e))
    })?);
    out.ocsp_status_uncached_per_s = Some(rate(budget, || {
        new_ocsp()
            .check(leaf, issuer, now())
            .map(drop)
            .map_err(|e| op("OCSP (uncached)")(&e))
    })?);
    Ok(out)
}

/// The table section.
pub fn table(r: &Revocation) -> String {
    let mut s = String::new();
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0}"));
    let _ = writeln!(s, "\n2c. Revocation: CRL and OCSP (P-256 leaf, one thread)");
    let _ = writeln!(
        s,
        "   verify 8 KB docs/s: CRL {:.0}, OCSP cached {}",
        r.verify_crl_docs_per_s,
        opt(r.verify_ocsp_cached_docs_per_s)
    );
    let _ = writeln!(
        s,
        "   status checks/s: OCSP cached {}, OCSP to openssl over loopback {}, chain + CRL uncached {:.0}",
        opt(r.ocsp_status_cached_per_s),
        opt(r.ocsp_status_uncached_per_s),
        r.chain_and_crl_uncached_per_s
    );
    if !r.note.is_empty() {
        let _ = writeln!(s, "   {}", r.note);
    }
    s
}
