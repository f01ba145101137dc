//! `mat` end to end on three real gateways (issue 22): district → province → central, real TLS,
//! real sled stores. The central receiving system gets the inner-signed document in clear; the
//! province carries and receipts what it cannot read; and no byte under any gateway's data
//! directory, nor in any log, holds the subject, the content or the attachment — in clear or
//! in base64.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::gateways::{Demo, bin, eventually, rand_suffix, submit};
use common::tls::edit_config;
use lienthong::sign::{TrustStore, VerifyOptions, verify};

struct Markers {
    subject: String,
    content: String,
    attachment: String,
}

impl Markers {
    fn new() -> Self {
        let n = rand_suffix();
        Self {
            subject: format!("DAU-MAT-TRICH-YEU-{n}"),
            content: format!("DAU-MAT-NOI-DUNG-{n}"),
            attachment: format!("DAU-MAT-TEP-DINH-KEM-{n}-bien-ban-hop"),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.subject, &self.content, &self.attachment]
    }
}

/// The byte strings a file holding `marker` would contain: the marker itself, and the core of
/// its base64 at each of the three alignments.
fn needles(marker: &str) -> Vec<Vec<u8>> {
    let mut out = vec![marker.as_bytes().to_vec()];
    for pad in 0..3usize {
        let mut bytes = vec![b'#'; pad];
        bytes.extend_from_slice(marker.as_bytes());
        let b64 = STANDARD.encode(&bytes);
        // Drop what depends on the neighbours: 4 chars each side.
        out.push(b64.as_bytes()[4..b64.len() - 4].to_vec());
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file under the three data directories and the three logs, and what each contains of
/// `markers`.
fn findings(demo: &Demo, markers: &Markers) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    for role in ["district", "province", "central"] {
        files_under(
            &demo.dir.path().join("demo").join(role).join("data"),
            &mut files,
        );
        files.push(demo.dir.path().join(format!("{role}.log")));
    }
    let mut found = Vec::new();
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        for m in markers.all() {
            for n in needles(m) {
                if bytes.windows(n.len()).any(|w| w == n.as_slice()) {
                    found.push(format!("{} holds {m:?}", f.display()));
                }
            }
        }
    }
    (files, found)
}

/// A `mat` envelope from the district with the markers in subject, content and attachment,
/// written outside the demo directory.
fn mat_envelope(scratch: &Path, to: &str, markers: &Markers) -> Vec<u8> {
    let att = scratch.join("bien-ban.txt");
    std::fs::write(&att, markers.attachment.as_bytes()).unwrap();
    let out = scratch.join(format!("mat-{}.xml", rand_suffix()));
    let o = Command::new(bin())
        .args(["doc", "new", "--from", "HU.CHAUTHANH", "--to", to])
        .args([
            "--code",
            &format!("{}", 10 + rand_suffix() % 80),
            "--notation",
            "BC/HU",
        ])
        .args(["--subject", &markers.subject, "--content", &markers.content])
        .args(["--level", "mat", "--procedure", "VB-01", "--attach"])
        .arg(&att)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "doc new: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}

fn trust(demo: &Demo) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_anchors_pem_file(demo.root()).unwrap();
    t
}

#[test]
fn mat_travels_sealed_through_the_province_and_rests_nowhere_in_clear() {
    let mut demo = Demo::new();
    demo.start_all();
    let scratch = tempfile::tempdir().unwrap();
    let markers = Markers::new();
    let xml = mat_envelope(scratch.path(), "VPTW", &markers);

    let r = submit(&demo.client("district", "submit"), &xml);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["level"], "mat");

    // The central receiving system: listed, fetched in clear, the office's signature intact.
    let central = demo.client("central", "receive");
    eventually("the document at the central inbox", 60, || {
        let l = central
            .get("/api/v1/inbox?limit=100&wait=2")
            .unwrap()
            .json();
        l["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["message_id"] == id.as_str())
            .then_some(())
    });
    let fetched = central.get(&format!("/api/v1/inbox/{id}")).unwrap();
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    let text = fetched.text();
    for m in markers.all() {
        if m != markers.attachment {
            assert!(text.contains(m), "the fetched document lacks {m}");
        }
    }
    assert!(text.contains(&STANDARD.encode(markers.attachment.as_bytes())));
    assert!(
        !text.contains("EncryptedData"),
        "the receiving system got the sealed form"
    );
    let v = verify(&fetched.body, &trust(&demo), &VerifyOptions::now()).unwrap();
    assert_eq!(v.signer().organ(), "HU.CHAUTHANH");
    assert_eq!(v.envelope().header.subject, markers.subject);
    // The digest the gateway announces is the document's it handed over.
    assert_eq!(
        fetched.header("x-lienthong-digest").unwrap(),
        lienthong::seal::hex(v.digest())
    );
    // /meta shows the outer signature and the wrapping, nothing of the plaintext.
    let meta = central.get(&format!("/api/v1/inbox/{id}/meta")).unwrap();
    assert_eq!(meta.status, 200, "{}", meta.text());
    let sealed = &meta.json()["sealed"];
    assert_eq!(sealed["outer_signer"], "HU.CHAUTHANH");
    assert_eq!(
        sealed["content_algorithm"],
        "http://www.w3.org/2009/xmlenc11#aes256-gcm"
    );
    let mut organs: Vec<String> = sealed["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organ"].as_str().unwrap().to_owned())
        .collect();
    organs.sort();
    assert_eq!(organs, ["HU.CHAUTHANH", "VPTW"]);
    for m in markers.all() {
        assert!(!meta.text().contains(m));
    }
    let ack = central
        .post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
        .unwrap();
    assert!(ack.status < 300, "{}", ack.text());

    // The province relayed and receipted it (its receipt is in the district's record of the
    // delivery), and status 03 came back through it.
    let office = demo.client("district", "submit");
    eventually("status 03 back at the district", 60, || {
        let s = office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json();
        let text = s.to_string();
        (text.contains("\"03\"") && text.contains("TU.BENTRE")).then_some(())
    });
    // The province holds no inbox entry and could not have opened it.
    let province = demo.client("province", "receive");
    let l = province.get("/api/v1/inbox?limit=100").unwrap().json();
    assert!(
        !l.to_string().contains(&id),
        "the province listed a document for the central office"
    );

    for role in ["district", "province", "central"] {
        demo.stop(role);
    }
    let (scanned, found) = findings(&demo, &markers);
    // Each gateway holds the sealed document's file (the district its sender's copy).
    for role in ["district", "province", "central"] {
        let docs = format!("{role}/data/store/documents/");
        assert!(
            scanned.iter().any(|p| p.to_string_lossy().contains(&docs)),
            "no document file at the {role}: {scanned:#?}"
        );
    }
    assert!(found.is_empty(), "plaintext at rest:\n{}", found.join("\n"));
}

#[test]
fn mat_for_an_organ_without_an_encryption_certificate_is_refused_at_the_door() {
    let mut demo = Demo::new();
    demo.start("district");
    let scratch = tempfile::tempdir().unwrap();
    let markers = Markers::new();
    let office = demo.client("district", "submit");
    let before = office.get("/api/v1/documents?limit=100").unwrap().text();

    // XA.TANTHACH is routable (the default route) but has no encryption certificate.
    let xml = mat_envelope(scratch.path(), "XA.TANTHACH", &markers);
    let r = submit(&office, &xml);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.json()["type"]
            .as_str()
            .unwrap()
            .ends_with("seal/no-encryption-certificate"),
        "{}",
        r.text()
    );

    // An office cannot submit a body already "sealed" (junk it encrypted itself).
    let text = String::from_utf8(mat_envelope(scratch.path(), "VPTW", &markers)).unwrap();
    let start = text.find("<edXMLManifest>").unwrap();
    let end = text.find("</edXMLBody>").unwrap();
    let junk = format!(
        "{}<edXMLManifest/><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/>{}",
        &text[..start],
        &text[end..]
    );
    let r = submit(&office, junk.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.json()["type"]
            .as_str()
            .unwrap()
            .ends_with("seal/submitted-sealed"),
        "{}",
        r.text()
    );

    // Nothing was stored or queued.
    assert_eq!(
        office.get("/api/v1/documents?limit=100").unwrap().text(),
        before
    );
    demo.stop("district");
    let (_, found) = findings(&demo, &markers);
    assert!(
        found.is_empty(),
        "a refused document left bytes:\n{}",
        found.join("\n")
    );
}

/// `lienthong directory sign` as the central office: VPTW's signing key signs the given organs'
/// encryption certificates under `serial`.
fn sign_directory(demo: &Demo, serial: u64, organs: &[&str], out: &Path) {
    let demo_dir = demo.dir.path().join("demo");
    let mut cmd = Command::new(bin());
    cmd.args(["directory", "sign", "--key", "signing", "--keystore"])
        .arg(demo_dir.join("pki/VPTW"))
        .arg("--passphrase-file")
        .arg(demo_dir.join("passphrase"))
        .args(["--serial", &serial.to_string(), "-o"])
        .arg(out);
    for o in organs {
        cmd.arg("--organ-cert")
            .arg(demo_dir.join(format!("pki/{o}/encryption.cert.pem")));
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "directory sign: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_new_signed_directory_is_taken_on_sighup_and_an_older_one_never() {
    let mut demo = Demo::new();
    let demo_dir = demo.dir.path().join("demo");
    // The district seals from a signed directory that, at first, lacks the central office.
    let file = demo_dir.join("directory-next.json");
    sign_directory(&demo, 2, &["TU.BENTRE", "HU.CHAUTHANH"], &file);
    edit_config(&demo, "district", |t| {
        t.replace("../organ-directory.json", "../directory-next.json")
    });
    demo.start("district");
    let scratch = tempfile::tempdir().unwrap();
    let office = demo.client("district", "submit");
    let xml = mat_envelope(scratch.path(), "VPTW", &Markers::new());
    let r = submit(&office, &xml);
    assert_eq!(r.status, 422, "{}", r.text());

    // The central office issues serial 3 with its own certificate: taken on SIGHUP.
    sign_directory(&demo, 3, &["VPTW", "TU.BENTRE", "HU.CHAUTHANH"], &file);
    demo.signal("district", "HUP");
    eventually("the reloaded directory seals for VPTW", 20, || {
        let xml = mat_envelope(scratch.path(), "VPTW", &Markers::new());
        (submit(&office, &xml).status == 202).then_some(())
    });

    // An older directory (serial 1, without VPTW) is refused on reload: the one in use stays.
    sign_directory(&demo, 1, &["TU.BENTRE", "HU.CHAUTHANH"], &file);
    demo.signal("district", "HUP");
    eventually("the refusal in the log", 20, || {
        demo.log("district")
            .contains("older than the directory in use")
            .then_some(())
    });
    let xml = mat_envelope(scratch.path(), "VPTW", &Markers::new());
    let r = submit(&office, &xml);
    assert_eq!(r.status, 202, "{}", r.text());

    // A directory signed by another organ than the configured issuer is refused at start.
    let forged = demo_dir.join("directory-forged.json");
    let o = Command::new(bin())
        .args(["directory", "sign", "--key", "signing", "--keystore"])
        .arg(demo_dir.join("pki/TU.BENTRE"))
        .arg("--passphrase-file")
        .arg(demo_dir.join("passphrase"))
        .args(["--serial", "9", "--organ-cert"])
        .arg(demo_dir.join("pki/VPTW/encryption.cert.pem"))
        .arg("-o")
        .arg(&forged)
        .output()
        .unwrap();
    assert!(o.status.success());
    let show = Command::new(bin())
        .args(["directory", "show", "--issuer", "VPTW", "--trust"])
        .arg(demo.root())
        .arg(&forged)
        .output()
        .unwrap();
    assert_eq!(show.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&show.stderr).contains("seal/bad-directory"));
    let show = Command::new(bin())
        .args(["directory", "show", "--issuer", "VPTW", "--trust"])
        .arg(demo.root())
        .arg(demo_dir.join("organ-directory.json"))
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains("3 organs"));
}

/// The province cannot read a sealed document but still decides on it: with its link to the
/// central office cleared only for thuong, it refuses the mat report on policy (the outer
/// label is what `decide()` reads), and the district records the refusal with its reason.
#[test]
fn the_province_still_refuses_a_sealed_document_on_policy() {
    let mut demo = Demo::new();
    edit_config(&demo, "province", |t| {
        let at = t.find("organ = \"VPTW\"").unwrap();
        let clearance = t[at..].find("clearance = \"mat\"").unwrap() + at;
        format!(
            "{}clearance = \"thuong\"{}",
            &t[..clearance],
            &t[clearance + "clearance = \"mat\"".len()..]
        )
    });
    demo.start_all();
    let scratch = tempfile::tempdir().unwrap();
    let markers = Markers::new();
    let office = demo.client("district", "submit");
    let r = submit(&office, &mat_envelope(scratch.path(), "VPTW", &markers));
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["message_id"].as_str().unwrap().to_owned();
    let st = eventually("the province's refusal at the district", 60, || {
        let st = office
            .get(&format!("/api/v1/documents/{id}"))
            .unwrap()
            .json();
        (st["recipients"][0]["state"] == "dead_lettered").then_some(st)
    });
    let reason = st["recipients"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("policy") || reason.contains("clear"),
        "{reason}"
    );
    for role in ["district", "province", "central"] {
        demo.stop(role);
    }
    let (_, found) = findings(&demo, &markers);
    assert!(found.is_empty(), "plaintext at rest:\n{}", found.join("\n"));
}

/// Cryptography staff revoke the central office's encryption certificate: after the CRL reload
/// (SIGHUP) the district no longer seals for it — a mat document to VPTW is refused at the door
/// — and the reload itself went through (a revoked directory entry never holds CRLs back).
#[test]
fn a_revoked_encryption_certificate_is_no_longer_sealed_for() {
    let mut demo = Demo::new();
    demo.start("district");
    let pki = demo.setup.dir.join("pki");
    let scratch = tempfile::tempdir().unwrap();
    let office = demo.client("district", "submit");
    let r = submit(
        &office,
        &mat_envelope(scratch.path(), "VPTW", &Markers::new()),
    );
    assert_eq!(r.status, 202, "{}", r.text());

    let cert = std::fs::read(pki.join("VPTW/encryption.cert.pem")).unwrap();
    let der = lienthong::tls::certs_from_pem(&cert, "encryption").unwrap();
    let serial = lienthong::pki::cert::summarize("encryption", der[0].as_ref())
        .unwrap()
        .serial_hex;
    demo.ca(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]);
    demo.ca(&["crl"]);
    demo.signal("district", "HUP");
    eventually("the reload in the district log", 20, || {
        demo.log("district").contains("CRLs reloaded").then_some(())
    });
    assert!(demo.log("district").contains("left out of the directory"));
    let r = submit(
        &office,
        &mat_envelope(scratch.path(), "VPTW", &Markers::new()),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("seal/no-encryption-certificate"),
        "{}",
        r.text()
    );
    // Other organs are still sealed for.
    let r = submit(
        &office,
        &mat_envelope(scratch.path(), "TU.BENTRE", &Markers::new()),
    );
    assert_eq!(r.status, 202, "{}", r.text());
}
