//! `lienthong sign` and `lienthong verify`.

use std::path::{Path, PathBuf};

use clap::Args;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::CliError;
use super::{pem_certs as certs, read_file as read, write_output};
use lienthong::doc::envelope::{EnvelopeLimits, parse_envelope};
use lienthong::doc::write::write_document;
use lienthong::sign::{Pkcs8Signer, Signer, TrustStore, VerifyOptions, sign_document, verify};

/// Arguments of `lienthong sign`.
#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// The signing key: a PKCS#8 PEM file, a key name in the keystore (`--keystore`), or a
    /// token object `pkcs11:token=T;object=K` (module from LIENTHONG_PKCS11_MODULE, PIN from
    /// LIENTHONG_PKCS11_PIN or a PIN file — never argv).
    #[arg(long)]
    key: String,
    /// The signer's certificate (PEM); further certificates in the file are its chain. Optional
    /// for a keystore key: the certificate installed with it is used.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Keystore directory (else LIENTHONG_KEYSTORE).
    #[arg(long, env = "LIENTHONG_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// File holding the keystore passphrase (else LIENTHONG_PASSPHRASE).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Intermediate certificates (PEM) to embed after the signer's certificate.
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The unsigned edXML envelope.
    input: PathBuf,
    /// Where to write the signed envelope (stdout when absent).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Arguments of `lienthong verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Trust anchors (PEM, one or more root certificates).
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Certificate revocation lists (PEM or DER); with any CRL, an uncovered certificate is refused.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Verify as of this instant (RFC 3339), for archives; default now.
    #[arg(long)]
    at: Option<String>,
    /// Accept SHA-1 and RSA < 2048 (verify-only, old edXML archives).
    #[arg(long)]
    allow_legacy: bool,
    /// Ask the signer's CA's OCSP responder (RFC 6960) for revocation, before the CRLs given
    /// with `--crl` (asked only if OCSP cannot answer); without `--crl`, OCSP alone.
    #[arg(long)]
    ocsp: bool,
    /// The OCSP responder URL (`http://…`); default: the certificate's authorityInfoAccess.
    #[arg(long, requires = "ocsp")]
    ocsp_url: Option<String>,
    /// How long the OCSP request may take, milliseconds.
    #[arg(long, default_value_t = lienthong::sign::ocsp::DEFAULT_TIMEOUT_MS, requires = "ocsp")]
    ocsp_timeout_ms: u64,
    /// Print one JSON object per file.
    #[arg(long)]
    json: bool,
    /// Signed envelopes.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Resolves `--key` to a signer, and the certificate chain installed with a keystore key.
fn signer_for(a: &SignArgs) -> Result<(Box<dyn Signer>, Option<String>), CliError> {
    if a.key.starts_with("pkcs11:") {
        let s = lienthong::pki::load_signer(&a.key, None, None).map_err(CliError::usage)?;
        return Ok((s, None));
    }
    let path = Path::new(&a.key);
    if path.is_file() {
        let key_pem = zeroize::Zeroizing::new(read(path)?);
        let s = Pkcs8Signer::from_pem(&a.key, &key_pem).map_err(CliError::usage)?;
        return Ok((Box::new(s), None));
    }
    let dir = a.keystore.clone().ok_or_else(|| {
        CliError::usage(format!(
            "--key {}: not a file, not pkcs11:, and no --keystore (or LIENTHONG_KEYSTORE)",
            a.key
        ))
    })?;
    let pass = super::keys::passphrase(a.passphrase_file.as_deref())?;
    let s =
        lienthong::pki::load_signer(&a.key, Some(&dir), Some(&pass)).map_err(CliError::usage)?;
    let ks = lienthong::pki::Keystore::open(&dir).map_err(CliError::usage)?;
    let chain = ks.cert_chain_pem(&a.key).map_err(CliError::usage)?;
    Ok((s, chain))
}

pub(crate) fn run_sign(a: SignArgs) -> Result<(), CliError> {
    let (signer, installed) = signer_for(&a)?;
    let mut chain = match (&a.cert, installed) {
        (Some(c), _) => certs(c)?,
        (None, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::usage(format!("installed certificate of {}: {e}", a.key)))?,
        (None, None) => {
            return Err(CliError::usage(format!(
                "--cert is required: {} has no installed certificate",
                a.key
            )));
        }
    };
    if let Some(c) = &a.chain {
        chain.extend(certs(c)?);
    }
    let input = read(&a.input)?;
    // The same validation as `lienthong doc validate`: never sign an envelope it rejects.
    let (mut doc, _) = parse_envelope(&input, &EnvelopeLimits::default())
        .map_err(|e| CliError::invalid(format!("{}: {e}", a.input.display())))?;
    sign_document(&mut doc, signer.as_ref(), &chain)
        .map_err(|e| CliError::invalid(format!("{}: {e}", a.input.display())))?;
    write_output(a.output.as_deref(), &write_document(&doc))
}

pub(crate) fn parse_at(at: &str) -> Result<rustls_pki_types::UnixTime, CliError> {
    let t = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| CliError::usage(format!("--at {at:?} is not RFC 3339: {e}")))?;
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CliError::usage(format!("--at {at:?} is before 1970")))?;
    Ok(rustls_pki_types::UnixTime::since_unix_epoch(
        std::time::Duration::from_secs(secs),
    ))
}

pub(crate) fn run_verify(a: VerifyArgs) -> Result<(), CliError> {
    let mut trust = TrustStore::new();
    for t in &a.trust {
        trust.add_anchors_pem_file(t).map_err(CliError::usage)?;
    }
    for c in &a.crl {
        trust.add_crl_file(c).map_err(CliError::usage)?;
    }
    let mut options = VerifyOptions::now();
    if let Some(at) = &a.at {
        options.at = parse_at(at)?;
    }
    options.allow_legacy = a.allow_legacy;
    if a.ocsp {
        wire_ocsp(&mut trust, &a, &options)?;
    }

    let mut failed = 0usize;
    for file in &a.files {
        let bytes = read(file)?;
        if in_field_form(&bytes) {
            if let Err(e) = verify_field_file(file, &bytes, &trust, &options, a.json) {
                failed += 1;
                report_refusal(file, &e, a.json);
            }
            continue;
        }
        match verify(&bytes, &trust, &options) {
            Ok(v) => {
                let label = label_of(v.document());
                if a.json {
                    let j = serde_json::json!({
                        "file": file.display().to_string(),
                        "valid": true,
                        "signer": v.signer(),
                        "level": label,
                        "revocation_checked": v.revocation_checked(),
                        "revocation": revocation_json(v.revocation()),
                        "digest_sha256": hex(v.digest()),
                    });
                    println!("{j}");
                } else {
                    println!(
                        "{}: valid — signed by {} ({}), level {}, {}, {}",
                        file.display(),
                        v.signer().organ(),
                        v.signer().subject(),
                        label.as_deref().unwrap_or("(none)"),
                        v.signer().algorithm(),
                        revocation_words(v.revocation()),
                    );
                }
            }
            Err(e) => {
                failed += 1;
                report_refusal(file, &e, a.json);
            }
        }
    }
    if failed > 0 {
        return Err(CliError::invalid(format!(
            "{failed} of {} document(s) refused",
            a.files.len()
        )));
    }
    Ok(())
}

/// `--ocsp`: OCSP first, then the CRLs if any were given; over HTTP (the relay's transport).
fn wire_ocsp(
    trust: &mut TrustStore,
    a: &VerifyArgs,
    options: &VerifyOptions,
) -> Result<(), CliError> {
    use lienthong::sign::RevocationSource;
    use lienthong::sign::ocsp::{Ocsp, OcspSettings};
    if let Some(url) = &a.ocsp_url {
        if !url.starts_with("http://") {
            return Err(CliError::usage(format!(
                "--ocsp-url {url:?}: not an http:// URL"
            )));
        }
    }
    if a.ocsp_timeout_ms == 0 {
        return Err(CliError::usage("--ocsp-timeout-ms must be positive"));
    }
    let settings = OcspSettings {
        responder: a.ocsp_url.clone(),
        timeout: std::time::Duration::from_millis(a.ocsp_timeout_ms),
        clock_skew: options.clock_skew,
        ..OcspSettings::default()
    };
    let ocsp = Ocsp::new(
        settings,
        std::sync::Arc::new(lienthong::relay::ocsp::HttpTransport),
    );
    let mut order = vec![RevocationSource::Ocsp];
    if !a.crl.is_empty() {
        order.push(RevocationSource::Crl);
    }
    trust.set_revocation(order, Some(std::sync::Arc::new(ocsp)));
    Ok(())
}

/// Which source answered, in words: `not revoked (OCSP http://…, thisUpdate …, nextUpdate …)`.
fn revocation_words(r: &lienthong::sign::RevocationStatus) -> String {
    use lienthong::sign::RevocationStatus as R;
    use lienthong::sign::ocsp::rfc3339;
    match r {
        R::NotChecked => "revocation not checked (no --crl, no --ocsp)".to_owned(),
        R::Crl => "not revoked (CRL)".to_owned(),
        R::Ocsp {
            url,
            this_update,
            next_update,
        } => format!(
            "not revoked (OCSP {url}, thisUpdate {}, nextUpdate {})",
            rfc3339(*this_update),
            next_update
                .map(rfc3339)
                .unwrap_or_else(|| "none".to_owned())
        ),
        _ => "not revoked".to_owned(),
    }
}

fn revocation_json(r: &lienthong::sign::RevocationStatus) -> serde_json::Value {
    use lienthong::sign::RevocationStatus as R;
    use lienthong::sign::ocsp::rfc3339;
    match r {
        R::Ocsp {
            url,
            this_update,
            next_update,
        } => serde_json::json!({
            "source": "ocsp",
            "url": url,
            "this_update": rfc3339(*this_update),
            "next_update": next_update.map(rfc3339),
        }),
        other => serde_json::json!({ "source": other.source() }),
    }
}

/// One refused file, on stdout (`--json`) or stderr.
fn report_refusal(file: &std::path::Path, e: &lienthong::sign::VerifyError, json: bool) {
    if json {
        let j = serde_json::json!({
            "file": file.display().to_string(),
            "valid": false,
            "reason": e.kind(),
            "error": e.to_string(),
        });
        println!("{j}");
    } else {
        eprintln!("{}: refused — {e}", file.display());
    }
}

/// A document in the SDKs' field form (root `edXML`, or an envelope without lienthong's
/// label): verified by `sign::verify_field` (docs/EDXML.md).
fn in_field_form(bytes: &[u8]) -> bool {
    use lienthong::doc::envelope::EDXML_NS;
    lienthong::doc::parse(bytes, &lienthong::doc::Limits::default()).is_ok_and(|d| {
        d.root.is(EDXML_NS, "edXML")
            || (d.root.is(EDXML_NS, "edXMLEnvelope")
                && !lienthong::doc::envelope::field::is_lienthong_profile(&d.root))
    })
}

fn verify_field_file(
    file: &std::path::Path,
    bytes: &[u8],
    trust: &TrustStore,
    options: &VerifyOptions,
    json: bool,
) -> Result<(), lienthong::sign::VerifyError> {
    let v = lienthong::sign::verify_field(bytes, trust, options)?;
    let from = &v.field().sender().written;
    if json {
        let j = serde_json::json!({
            "file": file.display().to_string(),
            "valid": true,
            "profile": "field",
            "signer": v.signer(),
            "from": from,
            "level": v.field().label.as_ref().map(|l| l.level.token()),
            "legacy": v.legacy(),
            "revocation_checked": v.revocation_checked(),
            "revocation": revocation_json(v.revocation()),
            "digest_sha256": hex(v.digest()),
        });
        println!("{j}");
    } else {
        println!(
            "{}: valid (field form) — signed by {} ({}), From {from}, {}{}, {}",
            file.display(),
            v.signer().organ(),
            v.signer().subject(),
            v.signer().algorithm(),
            if v.legacy().is_empty() {
                String::new()
            } else {
                format!(", legacy: {}", v.legacy().join(", "))
            },
            revocation_words(v.revocation()),
        );
    }
    Ok(())
}

/// The classification level as written in the signed label (lienthong namespace).
fn label_of(doc: &lienthong::doc::Document) -> Option<String> {
    const LT: &str = "urn:lienthong:label:1";
    doc.root
        .child(lienthong::sign::dsig::EDXML_NS, "edXMLHeader")?
        .child(LT, "Classification")?
        .child(LT, "Level")
        .map(|l| l.text().trim().to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
