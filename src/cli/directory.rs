//! `lienthong directory sign` and `lienthong directory show`: the signed organ directory the
//! central office issues (organ → encryption certificate), copied to every gateway
//! (`[encryption] directory`, `gateway::directory`).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::CliError;
use super::pem_certs as chain_of;
use lienthong::gateway::directory::{DirectoryBody, SignedDirectory, Sources};
use lienthong::gateway::sealing::Directory;
use lienthong::sign::{Signer, TrustStore, VerifyOptions};

/// `lienthong directory …`.
#[derive(Subcommand, Debug)]
pub(crate) enum DirectoryCommand {
    /// Sign a directory of organs' encryption certificates with the issuer's signing key.
    Sign {
        /// The issuer's document-signing key: a key name in the keystore (`--keystore`,
        /// passphrase from --passphrase-file or LIENTHONG_PASSPHRASE) or `pkcs11:…`.
        #[arg(long)]
        key: String,
        /// Keystore directory (else LIENTHONG_KEYSTORE).
        #[arg(long, env = "LIENTHONG_KEYSTORE")]
        keystore: Option<PathBuf>,
        /// File holding the keystore passphrase (else LIENTHONG_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// The issuer's certificate chain (PEM, leaf first). Optional for a keystore key.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Serial: must grow with every directory issued (gateways refuse to go back).
        #[arg(long)]
        serial: u64,
        /// An organ's encryption certificate (PEM, leaf then intermediates); repeatable.
        #[arg(long = "organ-cert", required = true)]
        organ_cert: Vec<PathBuf>,
        /// Where to write the signed directory (stdout when absent).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Verify a signed directory and list its organs, checking every certificate.
    Show {
        /// Trust anchors (PEM).
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// CRLs (PEM or DER).
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// The organ that must have signed it.
        #[arg(long)]
        issuer: String,
        /// The signed directory.
        file: PathBuf,
    },
}

pub(crate) fn run(c: DirectoryCommand) -> Result<(), CliError> {
    match c {
        DirectoryCommand::Sign {
            key,
            keystore,
            passphrase_file,
            cert,
            serial,
            organ_cert,
            output,
        } => {
            // The issuer's signer, and the chain installed with a keystore key.
            let (signer, installed) = issuer_signer(&key, keystore, passphrase_file.as_deref())?;
            // The chain to sign with: `--cert`, else the installed one.
            let chain = issuer_chain(cert.as_deref(), installed)?;
            // The signed directory of the organs' certificates, to `--output` or stdout.
            let text = sign_directory(signer.as_ref(), &chain, serial, &organ_cert)?;
            match output {
                Some(p) => std::fs::write(&p, text)
                    .map_err(|e| CliError::usage(format!("cannot write {}: {e}", p.display()))),
                None => {
                    println!("{text}");
                    Ok(())
                }
            }
        }
        DirectoryCommand::Show {
            trust,
            crl,
            issuer,
            file,
        } => show(&trust, &crl, &issuer, &file),
    }
}

/// The signer of `key` (a `pkcs11:` URI, or a keystore key unlocked with the passphrase), and
/// for a keystore key the certificate chain installed with it, if any.
fn issuer_signer(
    key: &str,
    keystore: Option<PathBuf>,
    passphrase_file: Option<&Path>,
) -> Result<(Box<dyn Signer>, Option<String>), CliError> {
    if key.starts_with("pkcs11:") {
        return Ok((
            lienthong::pki::load_signer(key, None, None).map_err(CliError::usage)?,
            None,
        ));
    }
    let dir = keystore
        .ok_or_else(|| CliError::usage("--keystore (or LIENTHONG_KEYSTORE) is required"))?;
    let pass = super::keys::passphrase(passphrase_file)?;
    let s = lienthong::pki::load_signer(key, Some(&dir), Some(&pass)).map_err(CliError::usage)?;
    let ks = lienthong::pki::Keystore::open(&dir).map_err(CliError::usage)?;
    Ok((s, ks.cert_chain_pem(key).map_err(CliError::usage)?))
}

/// The issuer's chain: the file `cert` when given, else the chain `installed` in the keystore.
fn issuer_chain(
    cert: Option<&Path>,
    installed: Option<String>,
) -> Result<Vec<CertificateDer<'static>>, CliError> {
    match (cert, installed) {
        (Some(c), _) => chain_of(c),
        (None, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::usage(format!("installed certificate: {e}"))),
        (None, None) => Err(CliError::usage("--cert is required for this key")),
    }
}

/// The directory of the chains in `organ_cert`, issued by the organ of `chain`'s leaf with
/// `serial`, signed and as pretty JSON.
fn sign_directory(
    signer: &dyn Signer,
    chain: &[CertificateDer<'static>],
    serial: u64,
    organ_cert: &[PathBuf],
) -> Result<String, CliError> {
    let issuer = chain
        .first()
        .and_then(|c| lienthong::tls::organ_of_certificate(c))
        .ok_or_else(|| CliError::usage("the issuer's certificate names no organ"))?;
    let chains = organ_cert
        .iter()
        .map(|p| Ok((p.display().to_string(), chain_of(p)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    let body = DirectoryBody::of_chains(&issuer, serial, &chains).map_err(CliError::invalid)?;
    let signed = SignedDirectory::sign(&body, signer, chain).map_err(CliError::invalid)?;
    serde_json::to_string_pretty(&signed).map_err(CliError::invalid)
}

/// `directory show`: verifies `file` as issued by `issuer` and lists its organs.
fn show(trust: &[PathBuf], crl: &[PathBuf], issuer: &str, file: &Path) -> Result<(), CliError> {
    let mut store = TrustStore::new();
    for t in trust {
        store.add_anchors_pem_file(t).map_err(CliError::usage)?;
    }
    for c in crl {
        store.add_crl_file(c).map_err(CliError::usage)?;
    }
    let body = SignedDirectory::read_file(file, issuer, &store, &VerifyOptions::now())
        .map_err(|e| CliError::invalid(format!("refused ({}): {e}", e.name())))?;
    let dir = Directory::load(
        Sources {
            files: &[],
            signed: Some((file, issuer)),
            own: &[],
            min_serial: 0,
        },
        &store,
        rustls_pki_types::UnixTime::now(),
    )
    .map_err(|e| CliError::invalid(format!("refused ({}): {e}", e.name())))?;
    println!(
        "{}: valid — issued by {} at {}, serial {}, {} organs",
        file.display(),
        body.issuer,
        body.issued_at,
        body.serial,
        dir.len()
    );
    for e in &body.organs {
        let r = dir
            .recipient(&e.organ)
            .map_err(|e| CliError::invalid(e.to_string()))?;
        println!(
            "  {:<14} certificate sha256:{}",
            e.organ,
            lienthong::seal::hex(r.certificate_sha256())
        );
    }
    Ok(())
}
