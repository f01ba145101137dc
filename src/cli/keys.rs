//! `lienthong keys …`: the encrypted keystore for cryptography staff.
//!
//! The keystore is `--keystore DIR`, else `LIENTHONG_KEYSTORE`. The passphrase comes from
//! `LIENTHONG_PASSPHRASE` or `--passphrase-file FILE`, never from an argument (argv is readable
//! by every local user). Nothing here ever prints a private key or the passphrase.
//!
//! Test/demo knob: `LIENTHONG_INSECURE_PBKDF2_ITERATIONS=N` (N ≥ 1000) lowers the PBKDF2
//! iteration count for keys *written* by this process. It exists so test suites run fast;
//! never set it for real keys (the default, 600,000, is what slows down passphrase guessing).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use lienthong::pki::cert::CertSummary;
use lienthong::pki::csr::{self, CsrRequest};
use lienthong::pki::keystore::{KeyInfo, ListEntry};
use lienthong::pki::{KeyAlgorithm, Keystore, KeystoreError, Passphrase, PkiError};

use super::CliError;

/// The test/demo knob (see the module docs).
pub(crate) const ITERATIONS_ENV: &str = "LIENTHONG_INSECURE_PBKDF2_ITERATIONS";

/// Where the keystore is and how to unlock it.
#[derive(Args, Debug)]
pub(crate) struct KeystoreArgs {
    /// Keystore directory.
    #[arg(long, env = "LIENTHONG_KEYSTORE", global = true)]
    keystore: Option<PathBuf>,
    /// File holding the passphrase (else LIENTHONG_PASSPHRASE).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
}

/// `lienthong keys` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Generate a key and store it encrypted.
    Generate {
        /// rsa2048, rsa3072, p256 or ed25519.
        #[arg(long)]
        alg: String,
        /// Key name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        ks: KeystoreArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List keys: name, algorithm, fingerprint, certificate, status.
    List {
        #[command(flatten)]
        ks: KeystoreArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Make a PKCS#10 request binding the key to an organ.
    Csr {
        /// Key name.
        #[arg(long)]
        name: String,
        /// Organ id (SAN URI urn:lienthong:organ:ORGAN).
        #[arg(long)]
        organ: String,
        /// Subject common name.
        #[arg(long)]
        cn: String,
        /// DNS name (TLS keys), repeatable.
        #[arg(long)]
        dns: Vec<String>,
        /// IP address (TLS keys), repeatable.
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// Write the CSR here instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        ks: KeystoreArgs,
    },
    /// Install a certificate (chain, leaf first) for a key; refuses one for another key.
    InstallCert {
        /// Key name.
        #[arg(long)]
        name: String,
        /// PEM certificate chain.
        cert: PathBuf,
        #[command(flatten)]
        ks: KeystoreArgs,
    },
    /// Replace a key; the old one is kept as NAME.<timestamp>, verify-only.
    Rotate {
        /// Key name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        ks: KeystoreArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key (SPKI PEM).
    ExportPublic {
        /// Key name.
        #[arg(long)]
        name: String,
        /// Write here instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        ks: KeystoreArgs,
    },
    /// Overwrite and remove a key and its certificate. Irreversible.
    Destroy {
        /// Key name.
        #[arg(long)]
        name: String,
        /// Confirms that the key is to be destroyed.
        #[arg(long)]
        yes_destroy: bool,
        #[command(flatten)]
        ks: KeystoreArgs,
    },
}

pub(crate) fn run(c: KeysCommand) -> Result<(), CliError> {
    let now = OffsetDateTime::now_utc();
    // One step per subcommand.
    match c {
        KeysCommand::Generate {
            alg,
            name,
            ks,
            json,
        } => generate(&alg, &name, &ks, json, now),
        KeysCommand::List { ks, json } => list(&ks, json),
        KeysCommand::Csr {
            name,
            organ,
            cn,
            dns,
            ip,
            output,
            ks,
        } => {
            let request = CsrRequest {
                organ,
                common_name: cn,
                dns_names: dns,
                ip_addresses: ip,
            };
            make_csr(&name, &request, output.as_deref(), &ks)
        }
        KeysCommand::InstallCert { name, cert, ks } => install_cert(&name, &cert, &ks),
        KeysCommand::Rotate { name, ks, json } => rotate(&name, &ks, json, now),
        KeysCommand::ExportPublic { name, output, ks } => {
            let store = ks.open()?;
            let pem = store.export_public_pem(&name).map_err(ks_err)?;
            emit(output.as_deref(), &pem)
        }
        KeysCommand::Destroy {
            name,
            yes_destroy,
            ks,
        } => destroy(&name, yes_destroy, &ks),
    }
}

/// `keys generate`: a new key of algorithm `alg`, sealed with the passphrase.
fn generate(
    alg: &str,
    name: &str,
    ks: &KeystoreArgs,
    json: bool,
    now: OffsetDateTime,
) -> Result<(), CliError> {
    let alg: KeyAlgorithm = alg.parse().map_err(|e: KeystoreError| CliError::usage(e))?;
    let store = ks.create()?;
    let pass = passphrase(ks.passphrase_file.as_deref())?;
    let info = store.generate(name, alg, &pass, now).map_err(ks_err)?;
    print_info(&info, json, "generated");
    Ok(())
}

/// `keys list`: one line (or JSON object) per key, unreadable ones included.
fn list(ks: &KeystoreArgs, json: bool) -> Result<(), CliError> {
    let store = ks.open()?;
    let entries = store.list().map_err(ks_err)?;
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| match e {
                ListEntry::Key(i) => info_json(i),
                ListEntry::Unreadable(err) => {
                    serde_json::json!({ "error": err.to_string() })
                }
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for e in &entries {
            match e {
                ListEntry::Key(i) => println!("{}", info_line(i)),
                ListEntry::Unreadable(err) => println!("UNREADABLE  {err}"),
            }
        }
    }
    Ok(())
}

/// `keys csr`: a PKCS#10 request for key `name`, to `output` or stdout.
fn make_csr(
    name: &str,
    request: &CsrRequest,
    output: Option<&Path>,
    ks: &KeystoreArgs,
) -> Result<(), CliError> {
    let store = ks.open()?;
    let pass = passphrase(ks.passphrase_file.as_deref())?;
    let key = store.load(name, &pass).map_err(ks_err)?;
    let pem = csr::create(&key, request).map_err(|e| CliError::invalid(PkiError::from(e)))?;
    emit(output, &pem)
}

/// `keys install-cert`: installs the chain in file `cert` for key `name`.
fn install_cert(name: &str, cert: &Path, ks: &KeystoreArgs) -> Result<(), CliError> {
    let store = ks.open()?;
    let pem = std::fs::read(cert)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", cert.display())))?;
    let s = store.install_cert(name, &pem).map_err(ks_err)?;
    println!(
        "installed certificate {} (serial {}, organ {}, expires {}) for key {name}",
        s.subject,
        s.serial_hex,
        s.organ.as_deref().unwrap_or("-"),
        date(s.not_after)
    );
    Ok(())
}

/// `keys rotate`: replaces key `name`, keeping the old one verify-only.
fn rotate(name: &str, ks: &KeystoreArgs, json: bool, now: OffsetDateTime) -> Result<(), CliError> {
    let store = ks.open()?;
    let pass = passphrase(ks.passphrase_file.as_deref())?;
    let (new, old) = store.rotate(name, &pass, now).map_err(ks_err)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "new": info_json(&new), "old": info_json(&old) })
        );
    } else {
        println!("rotated {name}: new {}", info_line(&new));
        println!("kept old key as {}", info_line(&old));
        println!("request and install a certificate for the new key (keys csr, keys install-cert)");
    }
    Ok(())
}

/// `keys destroy`: removes key `name`, only with `--yes-destroy`.
fn destroy(name: &str, yes_destroy: bool, ks: &KeystoreArgs) -> Result<(), CliError> {
    if !yes_destroy {
        return Err(CliError::usage(format!(
            "destroying key {name} cannot be undone: add --yes-destroy to confirm"
        )));
    }
    let store = ks.open()?;
    store.destroy(name).map_err(ks_err)?;
    println!("destroyed key {name}");
    Ok(())
}

impl KeystoreArgs {
    fn dir(&self) -> Result<&Path, CliError> {
        self.keystore.as_deref().ok_or_else(|| {
            CliError::usage("no keystore: use --keystore DIR or set LIENTHONG_KEYSTORE")
        })
    }

    fn open(&self) -> Result<Keystore, CliError> {
        with_knob(Keystore::open(self.dir()?).map_err(ks_err)?)
    }

    fn create(&self) -> Result<Keystore, CliError> {
        with_knob(Keystore::create(self.dir()?).map_err(ks_err)?)
    }
}

fn with_knob(store: Keystore) -> Result<Keystore, CliError> {
    match pbkdf2_knob()? {
        Some(n) => store.with_pbkdf2_iterations(n).map_err(ks_err),
        None => Ok(store),
    }
}

/// Reads the test/demo iteration knob, if set.
pub(crate) fn pbkdf2_knob() -> Result<Option<u32>, CliError> {
    match std::env::var(ITERATIONS_ENV) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| CliError::usage(format!("{ITERATIONS_ENV} must be a number"))),
        Err(_) => Ok(None),
    }
}

/// The passphrase from `--passphrase-file`, else `LIENTHONG_PASSPHRASE`.
pub(crate) fn passphrase(file: Option<&Path>) -> Result<Passphrase, CliError> {
    match file {
        Some(f) => Passphrase::from_file(f).map_err(CliError::usage),
        None => match Passphrase::from_env() {
            Some(p) => p.map_err(CliError::usage),
            None => Err(CliError::usage(
                "no passphrase: set LIENTHONG_PASSPHRASE or use --passphrase-file FILE",
            )),
        },
    }
}

/// Maps keystore errors to exit codes: refused input is 1, setup problems are 2.
pub(crate) fn ks_err(e: KeystoreError) -> CliError {
    match e {
        KeystoreError::WrongPassphrase { .. }
        | KeystoreError::Corrupt { .. }
        | KeystoreError::NotFound { .. }
        | KeystoreError::AlreadyExists { .. }
        | KeystoreError::BadKey { .. }
        | KeystoreError::CertificateMismatch { .. }
        | KeystoreError::Certificate(_)
        | KeystoreError::NotActive { .. }
        | KeystoreError::Generate { .. } => CliError::invalid(e),
        KeystoreError::NoDirectory { .. }
        | KeystoreError::InvalidName { .. }
        | KeystoreError::UnknownAlgorithm { .. }
        | KeystoreError::BadPassphrase { .. }
        | KeystoreError::IterationsTooLow { .. }
        | KeystoreError::Io { .. } => CliError::usage(e),
        _ => CliError::invalid(e),
    }
}

fn emit(output: Option<&Path>, text: &str) -> Result<(), CliError> {
    match output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", p.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn date(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn cert_json(c: &CertSummary) -> serde_json::Value {
    serde_json::json!({
        "subject": c.subject,
        "issuer": c.issuer,
        "organ": c.organ,
        "serial": c.serial_hex,
        "not_before": date(c.not_before),
        "not_after": date(c.not_after),
    })
}

fn info_json(i: &KeyInfo) -> serde_json::Value {
    serde_json::json!({
        "name": i.name,
        "algorithm": i.algorithm.as_str(),
        "fingerprint_sha256": i.fingerprint,
        "status": i.status.as_str(),
        "created": i.created,
        "pbkdf2_iterations": i.pbkdf2_iterations,
        "certificate": i.certificate.as_ref().map(cert_json),
    })
}

fn info_line(i: &KeyInfo) -> String {
    let cert = match &i.certificate {
        Some(c) => format!(
            "cert {} organ {} expires {}",
            c.subject,
            c.organ.as_deref().unwrap_or("-"),
            date(c.not_after)
        ),
        None => "no certificate".to_owned(),
    };
    format!(
        "{}  {}  sha256:{}  {}  {}",
        i.name,
        i.algorithm,
        i.fingerprint,
        i.status.as_str(),
        cert
    )
}

fn print_info(i: &KeyInfo, json: bool, verb: &str) {
    if json {
        println!("{}", info_json(i));
    } else {
        println!("{verb} {}", info_line(i));
    }
}
