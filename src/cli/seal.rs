//! `lienthong encrypt` and `lienthong decrypt`: a file sealed for recipients' encryption
//! certificates as a standalone W3C XML Encryption 1.1 `EncryptedData` document, and opened
//! again — for staff checking a document by hand and for referees (xmlsec1) checking us.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use super::CliError;
use super::{read_file as read, write_output as write};
use lienthong::doc::Limits;
use lienthong::doc::write::write_element;
use lienthong::seal::{
    ContentKeyUnwrap, KeyTransport, Recipient, SealError, Sealed, SoftwareKey, pkcs8_from_pem,
};

/// How the content key is wrapped.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Oaep {
    /// `xmlenc11#rsa-oaep` with SHA-256 and MGF1-SHA256 (default).
    Sha256,
    /// `xmlenc#rsa-oaep-mgf1p` with SHA-1: what xmlsec1 1.2 (Debian 12) reads.
    Mgf1p,
}

/// Arguments of `lienthong encrypt`.
#[derive(Args, Debug)]
pub(crate) struct EncryptArgs {
    /// A recipient's encryption certificate (PEM, RSA ≥ 2048, keyEncipherment); repeat for
    /// each recipient. Each gets its own EncryptedKey; any one of them opens the result.
    #[arg(long = "to-cert", required = true)]
    to_cert: Vec<PathBuf>,
    /// Key transport.
    #[arg(long, value_enum, default_value = "sha256")]
    oaep: Oaep,
    /// `MimeType` written on EncryptedData.
    #[arg(long, default_value = "application/xml")]
    mime_type: String,
    /// The file to seal (any bytes; usually a signed edXML envelope).
    input: PathBuf,
    /// Where to write the EncryptedData document (stdout when absent).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Arguments of `lienthong decrypt`.
#[derive(Args, Debug)]
pub(crate) struct DecryptArgs {
    /// The decryption key: a PKCS#8 PEM file, a key name in the keystore (`--keystore`;
    /// passphrase from --passphrase-file or LIENTHONG_PASSPHRASE — never argv), or a token
    /// object `pkcs11:token=T;object=K` (module from LIENTHONG_PKCS11_MODULE, PIN from
    /// LIENTHONG_PKCS11_PIN or a PIN file; the key never leaves the token; needs --cert).
    #[arg(long)]
    key: String,
    /// The encryption certificate the key belongs to (PEM). Optional for a keystore key: the
    /// certificate installed with it is used.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Keystore directory (else LIENTHONG_KEYSTORE).
    #[arg(long, env = "LIENTHONG_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// File holding the keystore passphrase (else LIENTHONG_PASSPHRASE).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// The EncryptedData document.
    input: PathBuf,
    /// Where to write the plaintext (stdout when absent).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// The one certificate of a PEM file (the first, when a chain follows).
fn first_cert(path: &Path, pem: &[u8]) -> Result<CertificateDer<'static>, CliError> {
    CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| CliError::usage(format!("{}: no CERTIFICATE block", path.display())))?
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

fn recipient(path: &Path) -> Result<Recipient, CliError> {
    let der = first_cert(path, &read(path)?)?;
    let which = path.display().to_string();
    // The organ the certificate is bound to names the EncryptedKey; else its file.
    let name = lienthong::tls::organ_of_certificate(&der).unwrap_or_else(|| which.clone());
    Recipient::from_certificate(&which, &name, &der).map_err(refused)
}

fn refused(e: SealError) -> CliError {
    CliError::invalid(format!("refused ({}): {e}", e.reason()))
}

pub(crate) fn run_encrypt(a: EncryptArgs) -> Result<(), CliError> {
    let recipients = a
        .to_cert
        .iter()
        .map(|p| recipient(p))
        .collect::<Result<Vec<_>, _>>()?;
    let transport = match a.oaep {
        Oaep::Sha256 => KeyTransport::RSA_OAEP_SHA256,
        Oaep::Mgf1p => KeyTransport::RSA_OAEP_MGF1P_SHA1,
    };
    let plain = Zeroizing::new(read(&a.input)?);
    let sealed = lienthong::seal::seal(&plain, Some(&a.mime_type), &recipients, transport)
        .map_err(refused)?;
    let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
    write_element(&sealed, &mut out);
    out.push(b'\n');
    write(a.output.as_deref(), &out)
}

/// Resolves `--key` (and `--cert`) to a key bound to its certificate.
fn key_for(a: &DecryptArgs) -> Result<Box<dyn ContentKeyUnwrap>, CliError> {
    if a.key.starts_with("pkcs11:") {
        let cert = a
            .cert
            .as_ref()
            .ok_or_else(|| CliError::usage("--cert is required with a pkcs11: key"))?;
        let cert = first_cert(cert, &read(cert)?)?;
        let uri = lienthong::pki::Pkcs11Uri::parse(&a.key).map_err(CliError::usage)?;
        let key =
            lienthong::pki::pkcs11::Pkcs11Decrypter::open(&uri, &cert).map_err(CliError::usage)?;
        return Ok(Box::new(key));
    }
    let path = Path::new(&a.key);
    let (pkcs8, installed) = if path.is_file() {
        let pem = Zeroizing::new(read(path)?);
        (pkcs8_from_pem(&a.key, &pem).map_err(refused)?, None)
    } else {
        let dir = a.keystore.clone().ok_or_else(|| {
            CliError::usage(format!(
                "--key {}: not a file, and no --keystore (or LIENTHONG_KEYSTORE)",
                a.key
            ))
        })?;
        let pass = super::keys::passphrase(a.passphrase_file.as_deref())?;
        let ks = lienthong::pki::Keystore::open(&dir).map_err(CliError::usage)?;
        let der = ks.load_pkcs8(&a.key, &pass).map_err(CliError::usage)?;
        (der, ks.cert_chain_pem(&a.key).map_err(CliError::usage)?)
    };
    let cert = match (&a.cert, installed) {
        (Some(c), _) => first_cert(c, &read(c)?)?,
        (None, Some(pem)) => first_cert(Path::new(&a.key), pem.as_bytes())?,
        (None, None) => {
            return Err(CliError::usage(format!(
                "--cert is required: {} has no installed certificate",
                a.key
            )));
        }
    };
    let key = SoftwareKey::from_pkcs8_der(&a.key, &pkcs8, &cert).map_err(refused)?;
    Ok(Box::new(key))
}

pub(crate) fn run_decrypt(a: DecryptArgs) -> Result<(), CliError> {
    let key = key_for(&a)?;
    let bytes = read(&a.input)?;
    let sealed = Sealed::from_bytes(&bytes, &Limits::default())
        .map_err(|e| CliError::invalid(format!("{}: {}", a.input.display(), refused(e).message)))?;
    let plain = sealed
        .open(key.as_ref())
        .map_err(|e| CliError::invalid(format!("{}: {}", a.input.display(), refused(e).message)))?;
    write(a.output.as_deref(), &plain)
}
