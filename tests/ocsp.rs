//! OCSP (RFC 6960) against a real referee: `openssl ocsp` as the responder, with an index file
//! made from the test CA, started by each test and killed when it ends. Each test is named for
//! the behaviour it asserts: a good certificate verifies (and says OCSP answered, with
//! thisUpdate/nextUpdate); a revoked one is refused `Revoked`; a responder without the
//! OCSP-signing EKU is `ResponderNotAuthorised`; a response past its nextUpdate is `Stale`; a
//! responder that is down is `Unreachable` and fails closed, unless a CRL is configured after it;
//! a replayed response is `NonceMismatch`, a tampered one `BadSignature`; ECDSA P-256 and RSA
//! PKCS#1 SHA-256 responders, the CA itself or a delegate; the AIA URL and `verify --ocsp`; the
//! gateway's `[trust]` wiring; and stapling between rustls server and client configs.
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
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Alg, LeafSpec, TestPki, free_port, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::relay::ocsp::HttpTransport;
use lienthong::sign::ocsp::{Ocsp, OcspError, OcspSettings, Transport};
use lienthong::sign::{
    ChainFailure, RevocationSource, RevocationStatus, TrustStore, VerifyError, VerifyOptions,
    sign_document, verify,
};
use rcgen::{
    CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

const FROM: &str = "HU.CHAUTHANH";
const TO: &str = "TU.BENTRE";

/// A running `openssl ocsp` responder; killed (and reaped) on drop.
struct Responder {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the responder signs with.
enum Signer {
    /// A delegated responder certificate issued by the CA, with or without id-kp-OCSPSigning.
    Delegated { ocsp_signing: bool },
    /// The CA (the intermediate) itself.
    Ca,
    /// A delegated responder with an RSA-2048 key (so the response is RSA PKCS#1 SHA-256).
    DelegatedRsa,
}

/// One line of openssl's index (`ca` database): `V` or `R` with the revocation time.
fn index_line(serial: u64, revoked: bool) -> String {
    let mut hex = format!("{serial:X}");
    if hex.len() % 2 == 1 {
        hex.insert(0, '0');
    }
    let revocation = if revoked {
        "260101000000Z,keyCompromise"
    } else {
        ""
    };
    let status = if revoked { "R" } else { "V" };
    format!("{status}\t351231000000Z\t{revocation}\t{hex}\tunknown\t/CN=test leaf {serial}\n")
}

/// A responder certificate for `pki`'s intermediate: P-256, digitalSignature, and the
/// OCSP-signing EKU or (the failing twin) serverAuth only.
fn responder_cert(pki: &TestPki, ocsp_signing: bool) -> (String, String) {
    responder_cert_with(
        pki,
        ocsp_signing,
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
    )
}

/// A fresh RSA-2048 key (the `rsa` crate; ring cannot generate RSA keys), for rcgen.
fn rsa_key() -> KeyPair {
    use rsa::pkcs8::EncodePrivateKey;
    let k = rsa::PrivateKey::new(&mut lienthong::seal::rng::RingRng::new(), 2048).unwrap();
    let der = k.to_pkcs8_der().unwrap().as_bytes().to_vec();
    KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap()
}

fn responder_cert_with(pki: &TestPki, ocsp_signing: bool, kp: KeyPair) -> (String, String) {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "lienthong test OCSP responder");
    p.extended_key_usages = if ocsp_signing {
        vec![ExtendedKeyUsagePurpose::OcspSigning]
    } else {
        vec![ExtendedKeyUsagePurpose::ServerAuth]
    };
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
    let cert = p.signed_by(&kp, &pki.inter).unwrap();
    (cert.pem(), kp.serialize_pem())
}

/// Starts `openssl ocsp` (3.0 takes a port only: it listens on every address) answering for `pki`'s intermediate from `index` (lines of
/// [`index_line`]), signing as `signer`, with `validity` (`-ndays 1`, `-nmin 1`…).
fn start(pki: &TestPki, index: &str, signer: Signer, validity: &[&str]) -> Responder {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("index.txt"), index).unwrap();
    std::fs::write(d.join("ca.pem"), pki.inter_pem()).unwrap();
    let (cert, key) = match signer {
        Signer::Delegated { ocsp_signing } => responder_cert(pki, ocsp_signing),
        Signer::Ca => (pki.inter_pem(), pki.inter.key().serialize_pem()),
        Signer::DelegatedRsa => responder_cert_with(pki, true, rsa_key()),
    };
    std::fs::write(d.join("rsigner.pem"), cert).unwrap();
    std::fs::write(d.join("rkey.pem"), key).unwrap();
    let port = free_port();
    let mut child = Command::new("openssl")
        .arg("ocsp")
        .arg("-index")
        .arg(d.join("index.txt"))
        .arg("-CA")
        .arg(d.join("ca.pem"))
        .arg("-rsigner")
        .arg(d.join("rsigner.pem"))
        .arg("-rkey")
        .arg(d.join("rkey.pem"))
        .arg("-port")
        .arg(port.to_string())
        .args(validity)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    // Ready when it says so: a probing connection that sends nothing wedges openssl 3.0's
    // single-threaded responder, so none is made. Its stderr is drained until it exits.
    let stderr = child.stderr.take().unwrap();
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("waiting for OCSP client connections") {
                let _ = ready.send(());
            }
        }
    });
    let responder = Responder {
        child,
        url: format!("http://127.0.0.1:{port}/"),
        _dir: dir,
    };
    listening
        .recv_timeout(Duration::from_secs(10))
        .expect("openssl ocsp did not listen");
    responder
}

fn ocsp_at(url: &str) -> Arc<Ocsp> {
    ocsp_over(url, Arc::new(HttpTransport))
}

fn ocsp_over(url: &str, transport: Arc<dyn Transport>) -> Arc<Ocsp> {
    let settings = OcspSettings {
        responder: Some(url.to_owned()),
        timeout: Duration::from_secs(5),
        ..OcspSettings::default()
    };
    Arc::new(Ocsp::new(settings, transport))
}

fn trust(pki: &TestPki, order: &[RevocationSource], ocsp: Option<Arc<Ocsp>>) -> TrustStore {
    let mut t = pki.trust();
    t.set_revocation(order.to_vec(), ocsp);
    t
}

fn signed(leaf: &common::Leaf) -> Vec<u8> {
    let xml = sample_envelope(FROM, TO, "thuong");
    let mut doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap();
    write_document(&doc)
}

fn leaf(pki: &TestPki, serial: u64) -> common::Leaf {
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.serial = serial;
    pki.leaf(spec)
}

/// The OCSP reason of a chain refusal, or a panic naming what came instead.
fn ocsp_reason(r: Result<lienthong::sign::VerifiedDocument, VerifyError>) -> OcspError {
    match r {
        Err(VerifyError::Chain {
            reason: ChainFailure::Ocsp(e),
            ..
        }) => *e,
        Err(other) => panic!("refused, but not by OCSP: {other:?}"),
        Ok(v) => panic!("accepted: {:?}", v.revocation()),
    }
}

const OCSP: &[RevocationSource] = &[RevocationSource::Ocsp];
const OCSP_THEN_CRL: &[RevocationSource] = &[RevocationSource::Ocsp, RevocationSource::Crl];

#[test]
fn good_certificate_verifies_and_says_ocsp_answered_with_its_times() {
    let pki = TestPki::new("ocsp-good");
    let leaf = leaf(&pki, 4001);
    let r = start(
        &pki,
        &index_line(4001, false),
        Signer::Delegated { ocsp_signing: true },
        &["-ndays", "1"],
    );
    let t = trust(&pki, OCSP, Some(ocsp_at(&r.url)));
    let v = verify(&signed(&leaf), &t, &VerifyOptions::now()).unwrap();
    assert!(v.revocation_checked());
    let RevocationStatus::Ocsp {
        url,
        this_update,
        next_update,
    } = v.revocation().clone()
    else {
        panic!("not answered by OCSP: {:?}", v.revocation());
    };
    assert_eq!(url, r.url);
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    assert!(
        this_update <= now + 5 && this_update + 600 > now,
        "{this_update} vs {now}"
    );
    let next = next_update.expect("openssl -ndays 1 gives nextUpdate");
    assert!(next >= this_update + 86_000 && next <= this_update + 86_800);
    // The next document from the same signer is answered by the chain cache (inside the OCSP
    // answer's window), the responder not asked again.
    let v = verify(&signed(&leaf), &t, &VerifyOptions::now()).unwrap();
    assert_eq!(v.revocation().source(), "ocsp");
    assert_eq!(t.cache_stats().hits, 1);
    assert_eq!(t.ocsp().unwrap().cache_stats().misses, 1);
}

#[test]
fn a_response_signed_with_rsa_pkcs1_sha256_by_a_delegated_responder_verifies() {
    let pki = TestPki::new("ocsp-rsa");
    let leaf = leaf(&pki, 4013);
    let r = start(
        &pki,
        &index_line(4013, false),
        Signer::DelegatedRsa,
        &["-ndays", "1"],
    );
    let recorder = Arc::new(Recorder {
        replay: false,
        seen: Mutex::new(Vec::new()),
    });
    let t = trust(&pki, OCSP, Some(ocsp_over(&r.url, recorder.clone())));
    let v = verify(&signed(&leaf), &t, &VerifyOptions::now()).unwrap();
    assert_eq!(v.revocation().source(), "ocsp");
    // sha256WithRSAEncryption (1.2.840.113549.1.1.11) signs the response.
    let body = recorder.seen.lock().unwrap()[0].clone();
    let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    assert!(body.windows(oid.len()).any(|w| w == oid));
}

#[test]
fn a_response_signed_by_the_ca_itself_is_accepted_and_then_answered_from_the_cache() {
    let pki = TestPki::new("ocsp-ca");
    let leaf = leaf(&pki, 4002);
    let r = start(&pki, &index_line(4002, false), Signer::Ca, &["-ndays", "1"]);
    let ocsp = ocsp_at(&r.url);
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let first = ocsp
        .check(leaf.cert.as_ref(), pki.inter.der().as_ref(), now)
        .unwrap();
    assert!(!first.cached);
    let second = ocsp
        .check(leaf.cert.as_ref(), pki.inter.der().as_ref(), now + 1)
        .unwrap();
    assert!(second.cached, "the second check asked the responder again");
    assert_eq!(second.this_update, first.this_update);
    let stats = ocsp.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
}

#[test]
fn revoked_certificate_is_refused_revoked_even_with_a_crl_after_it() {
    let pki = TestPki::new("ocsp-revoked");
    let leaf = leaf(&pki, 4003);
    let r = start(
        &pki,
        &index_line(4003, true),
        Signer::Delegated { ocsp_signing: true },
        &["-ndays", "1"],
    );
    let t = trust(&pki, OCSP, Some(ocsp_at(&r.url)));
    let e = ocsp_reason(verify(&signed(&leaf), &t, &VerifyOptions::now()));
    assert!(
        matches!(&e, OcspError::Revoked { at, reason: Some(1) } if at.starts_with("2026-01-01")),
        "{e:?}"
    );
    // OCSP's "revoked" is final: a CRL that does not list the certificate is not asked.
    let mut t = trust(&pki, OCSP_THEN_CRL, Some(ocsp_at(&r.url)));
    t.add_crl(&pki.crl(&[], time::Duration::days(7)), "crl")
        .unwrap();
    let e = ocsp_reason(verify(&signed(&leaf), &t, &VerifyOptions::now()));
    assert!(matches!(e, OcspError::Revoked { .. }), "{e:?}");
}

#[test]
fn a_responder_without_the_ocsp_signing_eku_is_not_authorised() {
    let pki = TestPki::new("ocsp-noeku");
    let leaf = leaf(&pki, 4004);
    let r = start(
        &pki,
        &index_line(4004, false),
        Signer::Delegated {
            ocsp_signing: false,
        },
        &["-ndays", "1"],
    );
    let t = trust(&pki, OCSP, Some(ocsp_at(&r.url)));
    let e = ocsp_reason(verify(&signed(&leaf), &t, &VerifyOptions::now()));
    assert!(
        matches!(&e, OcspError::ResponderNotAuthorised { reason } if reason.contains("OCSPSigning")),
        "{e:?}"
    );
}

#[test]
fn a_response_past_its_next_update_is_stale() {
    let pki = TestPki::new("ocsp-stale");
    let leaf = leaf(&pki, 4005);
    // nextUpdate one minute after thisUpdate; verified two hours later.
    let r = start(
        &pki,
        &index_line(4005, false),
        Signer::Delegated { ocsp_signing: true },
        &["-nmin", "1"],
    );
    let t = trust(&pki, OCSP, Some(ocsp_at(&r.url)));
    let mut options = VerifyOptions::now();
    options.at = rustls_pki_types::UnixTime::since_unix_epoch(
        options.at.as_secs_duration_for_test() + Duration::from_secs(7200),
    );
    let e = ocsp_reason(verify(&signed(&leaf), &t, &options));
    assert!(matches!(e, OcspError::Stale { .. }), "{e:?}");
    // The same answer one second after it was made is fresh.
    let v = verify(&signed(&leaf), &t, &VerifyOptions::now()).unwrap();
    assert_eq!(v.revocation().source(), "ocsp");
}

#[test]
fn a_responder_that_is_down_is_unreachable_and_fails_closed_unless_a_crl_follows() {
    let pki = TestPki::new("ocsp-down");
    let leaf = leaf(&pki, 4006);
    let url = format!("http://127.0.0.1:{}/", free_port());
    let t = trust(&pki, OCSP, Some(ocsp_at(&url)));
    let e = ocsp_reason(verify(&signed(&leaf), &t, &VerifyOptions::now()));
    assert!(
        matches!(&e, OcspError::Unreachable { url: u, .. } if *u == url),
        "{e:?}"
    );

    // ["ocsp", "crl"]: the CRL answers when OCSP cannot.
    let mut t = trust(&pki, OCSP_THEN_CRL, Some(ocsp_at(&url)));
    t.add_crl(&pki.crl(&[], time::Duration::days(7)), "crl")
        .unwrap();
    let v = verify(&signed(&leaf), &t, &VerifyOptions::now()).unwrap();
    assert_eq!(v.revocation(), &RevocationStatus::Crl);
    // …and refuses what the CRL lists.
    let mut t = trust(&pki, OCSP_THEN_CRL, Some(ocsp_at(&url)));
    t.add_crl(&pki.crl(&[4006], time::Duration::days(7)), "crl")
        .unwrap();
    match verify(&signed(&leaf), &t, &VerifyOptions::now()) {
        Err(VerifyError::Chain {
            reason: ChainFailure::Revoked,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // ["ocsp", "crl"] without any CRL: nothing answers, refused with OCSP's reason.
    let t = trust(&pki, OCSP_THEN_CRL, Some(ocsp_at(&url)));
    let e = ocsp_reason(verify(&signed(&leaf), &t, &VerifyOptions::now()));
    assert!(matches!(e, OcspError::Unreachable { .. }), "{e:?}");
}

/// Records the bodies the responder sent, and can replay the first one instead of asking.
struct Recorder {
    replay: bool,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl Transport for Recorder {
    fn post(&self, url: &str, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let mut seen = self.seen.lock().unwrap();
        if self.replay {
            return Ok(seen.first().cloned().unwrap());
        }
        let body = HttpTransport.post(url, request, timeout)?;
        seen.push(body.clone());
        Ok(body)
    }
}

#[test]
fn a_replayed_response_is_refused_for_its_nonce_and_a_flipped_byte_for_its_signature() {
    let pki = TestPki::new("ocsp-replay");
    let leaf = leaf(&pki, 4007);
    let r = start(
        &pki,
        &index_line(4007, false),
        Signer::Delegated { ocsp_signing: true },
        &["-ndays", "1"],
    );
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let recorder = Arc::new(Recorder {
        replay: false,
        seen: Mutex::new(Vec::new()),
    });
    let ocsp = ocsp_over(&r.url, recorder.clone());
    ocsp.check(leaf.cert.as_ref(), pki.inter.der().as_ref(), now)
        .unwrap();
    let recorded = recorder.seen.lock().unwrap()[0].clone();

    // The same response, answering a new request (another nonce): a replay.
    let replayer = Arc::new(Recorder {
        replay: true,
        seen: Mutex::new(vec![recorded.clone()]),
    });
    let e = ocsp_over(&r.url, replayer)
        .check(leaf.cert.as_ref(), pki.inter.der().as_ref(), now)
        .unwrap_err();
    assert_eq!(e, OcspError::NonceMismatch);

    // One byte of producedAt changed (a digit for another digit): the signature fails.
    let at = recorded
        .windows(2)
        .position(|w| w == [0x18, 0x0f])
        .expect("producedAt");
    let mut tampered = recorded;
    let digit = &mut tampered[at + 2 + 13];
    *digit = if *digit == b'0' { b'1' } else { b'0' };
    let forger = Arc::new(Recorder {
        replay: true,
        seen: Mutex::new(vec![tampered]),
    });
    let e = ocsp_over(&r.url, forger)
        .check(leaf.cert.as_ref(), pki.inter.der().as_ref(), now)
        .unwrap_err();
    assert_eq!(e, OcspError::BadSignature);
}

/// authorityInfoAccess with one id-ad-ocsp URI (RFC 5280 §4.2.2.1), DER.
fn aia(url: &str) -> CustomExtension {
    let uri = [
        &[0x86, u8::try_from(url.len()).unwrap()][..],
        url.as_bytes(),
    ]
    .concat();
    let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let desc = [
        &[0x30, u8::try_from(oid.len() + uri.len()).unwrap()][..],
        &oid,
        &uri,
    ]
    .concat();
    let seq = [&[0x30, u8::try_from(desc.len()).unwrap()][..], &desc].concat();
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], seq)
}

#[test]
fn the_responder_is_found_in_the_certificates_aia_and_lienthong_verify_ocsp_reports_it() {
    let pki = TestPki::new("ocsp-aia");
    let r = start(
        &pki,
        &index_line(4008, false),
        Signer::Delegated { ocsp_signing: true },
        &["-ndays", "1"],
    );
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.serial = 4008;
    let leaf = pki.leaf_with(spec, |p| p.custom_extensions.push(aia(&r.url)));
    let settings = OcspSettings::default();
    let t = trust(
        &pki,
        OCSP,
        Some(Arc::new(Ocsp::new(settings, Arc::new(HttpTransport)))),
    );
    let v = verify(&signed(&leaf), &t, &VerifyOptions::now()).unwrap();
    assert!(matches!(v.revocation(), RevocationStatus::Ocsp { url, .. } if *url == r.url));

    // Staff: `lienthong verify --ocsp` names the source and both times.
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("doc.xml");
    let root = dir.path().join("root.pem");
    std::fs::write(&doc, signed(&leaf)).unwrap();
    std::fs::write(&root, pki.root_pem()).unwrap();
    let (ok, out, err) = common::run(cli(&root, &doc, &[]));
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("not revoked (OCSP {}", r.url)),
        "{out}"
    );
    assert!(
        out.contains("thisUpdate 20") && out.contains("nextUpdate 20"),
        "{out}"
    );
    // --ocsp-url to a closed port: refused (exit 1), the reason named.
    let down = format!("http://127.0.0.1:{}/", free_port());
    let (ok, out, err) = common::run(cli(&root, &doc, &["--ocsp-url", &down]));
    assert!(!ok);
    assert!(err.contains("unreachable"), "{out}{err}");
}

fn cli<'a>(root: &Path, doc: &Path, extra: &[&str]) -> &'a mut Command {
    let cmd = Box::leak(Box::new(Command::new(env!("CARGO_BIN_EXE_lienthong"))));
    cmd.arg("verify")
        .arg("--trust")
        .arg(root)
        .arg("--ocsp")
        .args(extra)
        .arg(doc)
}

/// Seconds of a `UnixTime` as a `Duration` (the test's own; the library's is private).
trait AsSecs {
    fn as_secs_duration_for_test(&self) -> Duration;
}

impl AsSecs for rustls_pki_types::UnixTime {
    fn as_secs_duration_for_test(&self) -> Duration {
        Duration::from_secs(self.as_secs())
    }
}

/// A gateway config with `[trust]` as given (the rest as small as the parser allows).
fn config(trust: &str) -> lienthong::config::Config {
    let text = format!(
        r#"
organ = "TU.BENTRE"
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
{trust}
[[peers]]
organ = "HU.CHAUTHANH"
url = "https://127.0.0.1:7502"
clearance = "thuong"
"#
    );
    lienthong::config::Config::parse(&text, "test").unwrap()
}

#[test]
fn the_gateways_trust_store_asks_the_configured_sources_in_order() {
    let pki = TestPki::new("ocsp-config");
    let leaf = leaf(&pki, 4009);
    let r = start(
        &pki,
        &index_line(4009, true),
        Signer::Delegated { ocsp_signing: true },
        &["-ndays", "1"],
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    let crl = dir.path().join("ca.crl");
    std::fs::write(&root, pki.root_pem()).unwrap();
    std::fs::write(&crl, pki.crl(&[], time::Duration::days(7))).unwrap();
    let (root, crl) = (root.display(), crl.display());
    let doc = signed(&leaf);

    // The default: CRLs only, exactly as before — the CRL does not list 4009.
    let c = config(&format!("anchors = [\"{root}\"]\ncrls = [\"{crl}\"]"));
    let http: Arc<dyn Transport> = Arc::new(HttpTransport);
    assert!(lienthong::gateway::ocsp_client(&c, http.clone()).is_none());
    let t = lienthong::gateway::trust_store(&c).unwrap();
    let v = verify(&doc, &t, &VerifyOptions::now()).unwrap();
    assert_eq!(v.revocation(), &RevocationStatus::Crl);

    // ["ocsp", "crl"]: the responder (which has 4009 revoked) is asked first and decides.
    let c = config(&format!(
        "anchors = [\"{root}\"]\ncrls = [\"{crl}\"]\nrevocation = [\"ocsp\", \"crl\"]\n\
         ocsp_responder = \"{}\"\nocsp_timeout_ms = 3000",
        r.url
    ));
    let ocsp = lienthong::gateway::ocsp_client(&c, http).unwrap();
    assert_eq!(ocsp.settings().timeout, Duration::from_millis(3000));
    let t = lienthong::gateway::trust_store_with(&c, Some(ocsp)).unwrap();
    let e = ocsp_reason(verify(&doc, &t, &VerifyOptions::now()));
    assert!(matches!(e, OcspError::Revoked { .. }), "{e:?}");
    // Without a transport wired, the OCSP source never answers and the CRL does.
    let t = lienthong::gateway::trust_store(&c).unwrap();
    let v = verify(&doc, &t, &VerifyOptions::now()).unwrap();
    assert_eq!(v.revocation(), &RevocationStatus::Crl);
}

/// Records the staple each handshake's verifier was given, then asks the inner verifier.
#[derive(Debug)]
struct SeenStaple {
    inner: Arc<dyn rustls::client::danger::ServerCertVerifier>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl rustls::client::danger::ServerCertVerifier for SeenStaple {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.seen.lock().unwrap().push(ocsp_response.to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A gateway TLS identity from `pki`: P-256, serverAuth + clientAuth, SAN `localhost` and the
/// organ URI, chain leaf then intermediate.
fn tls_identity(pki: &TestPki, serial: u64) -> lienthong::tls::TlsIdentity {
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.serial = serial;
    spec.eku = common::Eku::ServerAuthOnly;
    spec.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf = pki.leaf_with(spec, |p| {
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.subject_alt_names
            .push(rcgen::SanType::DnsName("localhost".try_into().unwrap()));
    });
    lienthong::tls::TlsIdentity {
        chain: leaf.chain.clone(),
        key: rustls_pki_types::PrivatePkcs8KeyDer::from(leaf.key_pkcs8.clone()),
        roots: vec![pki.root.der().clone()],
        crls: Vec::new(),
    }
}

/// One mTLS handshake between the gateway's stapling exchange listener config and its relay
/// client config (with the staple check), over a socket pair; the client's result and the
/// staples its verifier saw.
fn handshake(
    id: &lienthong::tls::TlsIdentity,
    staple: Option<&[u8]>,
) -> (Result<(), rustls::Error>, Vec<Vec<u8>>) {
    let server = lienthong::tls::exchange_server_config_stapled(id, staple).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let client = lienthong::tls::exchange_client_config_with(id, |v| {
        Arc::new(SeenStaple {
            inner: Arc::new(lienthong::relay::ocsp::StapleCheck::new(
                v,
                OcspSettings::default(),
            )),
            seen: seen2,
        })
    })
    .unwrap();
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let server_side = std::thread::spawn(move || {
        let mut conn = rustls::ServerConnection::new(server).unwrap();
        while conn.is_handshaking() {
            if conn.complete_io(&mut b).is_err() {
                break;
            }
        }
    });
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(client, name).unwrap();
    let mut result = Ok(());
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut a) {
            result = Err(e
                .into_inner()
                .and_then(|i| i.downcast::<rustls::Error>().ok())
                .map(|b| *b)
                .unwrap_or(rustls::Error::General("io".into())));
            break;
        }
    }
    drop(a);
    server_side.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

#[test]
fn listeners_staple_our_ocsp_response_and_the_relay_client_refuses_a_revoked_staple() {
    let pki = TestPki::new("ocsp-staple");
    let good = tls_identity(&pki, 4011);
    let revoked = tls_identity(&pki, 4012);
    let r = start(
        &pki,
        &(index_line(4011, false) + &index_line(4012, true)),
        Signer::Delegated { ocsp_signing: true },
        &["-ndays", "1"],
    );
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let inter = pki.inter.der().as_ref();
    let (staple, answer) = ocsp_at(&r.url)
        .fetch_staple(good.chain[0].as_ref(), inter, now)
        .unwrap();
    assert!(answer.next_update.is_some());

    // Good staple: served, seen by the client's verifier byte for byte, handshake completes.
    let (result, seen) = handshake(&good, Some(&staple));
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(seen, vec![staple.clone()]);

    // No staple: the CRL-only rules decide, as before.
    let (result, seen) = handshake(&good, None);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(seen, vec![Vec::<u8>::new()]);

    // A revoked staple (as the responder really answered for 4012): the handshake is refused.
    let recorder = Arc::new(Recorder {
        replay: false,
        seen: Mutex::new(Vec::new()),
    });
    let e = ocsp_over(&r.url, recorder.clone())
        .fetch_staple(revoked.chain[0].as_ref(), inter, now)
        .unwrap_err();
    assert!(matches!(e, OcspError::Revoked { .. }), "{e:?}");
    let revoked_staple = recorder.seen.lock().unwrap()[0].clone();
    let (result, _) = handshake(&revoked, Some(&revoked_staple));
    assert_eq!(
        result.err(),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Revoked
        ))
    );
}
