//! `lienthong pki …`: a small CA for staff and tests (init, issue, revoke, CRL), and
//! `check-chain`, one chain checked for one purpose by the gateway's own code.
//!
//! The passphrase that seals the CA keys (and, for `init`, every demo key) comes from
//! `LIENTHONG_PASSPHRASE` or `--passphrase-file`; the test/demo PBKDF2 knob of `keys` applies
//! here too (`LIENTHONG_INSECURE_PBKDF2_ITERATIONS`).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use time::{Duration, OffsetDateTime};

use lienthong::pki::ca::Issued;
use lienthong::pki::demo::{self, DemoLeaf, DemoOptions, DemoPki};
use lienthong::pki::{Ca, CaError, CrlUrl, PkiError, Profile, RevocationReason};

use super::CliError;
use super::keys::{ks_err, passphrase, pbkdf2_knob};

/// The demo organs (shared constants of the project): `--organ VPTW` picks up the name.
const KNOWN_ORGANS: [(&str, &str); 3] = [
    ("VPTW", "Văn phòng Trung ương Đảng"),
    ("TU.BENTRE", "Văn phòng Tỉnh ủy Bến Tre"),
    ("HU.CHAUTHANH", "Văn phòng Huyện ủy Châu Thành"),
];

/// `lienthong pki` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum PkiCommand {
    /// Check one certificate chain for one purpose, with the same code the gateway runs for it
    /// (document verification's certificate half; the TLS listeners' and peer clients'
    /// verifiers). Exit 0 valid, 1 refused (with the named reason), 2 usage error.
    CheckChain(CheckChainArgs),
    /// Create a CA plus a signing, a receipts, a TLS and an encryption certificate for each organ.
    Init(InitArgs),
    /// Issue a certificate for a CSR.
    Issue(IssueArgs),
    /// Revoke a certificate this CA issued (takes effect in the next CRL).
    Revoke(RevokeArgs),
    /// Sign a CRL with the intermediate.
    Crl(CrlArgs),
}

/// Arguments of `lienthong pki init`.
#[derive(clap::Args, Debug)]
pub(crate) struct InitArgs {
    /// The directory to create the PKI in.
    #[arg(long)]
    dir: PathBuf,
    /// Organ id, or ID=NAME; repeatable. Known ids get their official name.
    #[arg(long = "organ", required = true)]
    organs: Vec<String>,
    /// Leaf validity in days.
    #[arg(long, default_value_t = 397)]
    days: u32,
    /// CA validity in days.
    #[arg(long, default_value_t = 3650)]
    ca_days: u32,
    /// Validity of the initial (empty) CRL in days.
    #[arg(long, default_value_t = 7)]
    crl_days: u32,
    /// Start of validity, YYYY-MM-DD (default: now). Fixed dates make reproducible demos.
    #[arg(long)]
    not_before: Option<String>,
    /// Also write the organ keys as plain PKCS#8 PEM (DEMO FIXTURES ONLY).
    #[arg(long)]
    export_plain_keys: bool,
    /// Where the CRL will be published (http, https or ldap URL): recorded in the CA and
    /// written as CRL distribution point into every certificate it issues. Gateways never
    /// fetch it. Default: none, no extension.
    #[arg(long, value_name = "URL")]
    crl_url: Option<String>,
    /// File holding the passphrase (else LIENTHONG_PASSPHRASE).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Arguments of `lienthong pki issue`.
#[derive(clap::Args, Debug)]
pub(crate) struct IssueArgs {
    /// The CA directory.
    #[arg(long)]
    ca: PathBuf,
    /// The PEM CSR.
    #[arg(long)]
    csr: PathBuf,
    /// signing, tls or encryption.
    #[arg(long)]
    profile: String,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Write the chain (leaf + intermediate) here instead of stdout.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// File holding the passphrase (else LIENTHONG_PASSPHRASE).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Machine-readable summary on stderr-free stdout (needs -o).
    #[arg(long)]
    json: bool,
}

/// Arguments of `lienthong pki revoke`.
#[derive(clap::Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The CA directory.
    #[arg(long)]
    ca: PathBuf,
    /// Serial number, hexadecimal.
    #[arg(long)]
    serial: String,
    /// keyCompromise, superseded, cessationOfOperation, affiliationChanged, …
    #[arg(long)]
    reason: String,
}

/// Arguments of `lienthong pki crl`.
#[derive(clap::Args, Debug)]
pub(crate) struct CrlArgs {
    /// The CA directory.
    #[arg(long)]
    ca: PathBuf,
    /// Days until nextUpdate.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Output file (default DIR/crl.pem).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// File holding the passphrase (else LIENTHONG_PASSPHRASE).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

/// Arguments of `lienthong pki check-chain`.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckChainArgs {
    /// Trust anchors (PEM, one or more certificates).
    #[arg(long, required = true)]
    trust: PathBuf,
    /// The end-entity certificate (PEM; the first certificate of the file).
    #[arg(long)]
    leaf: PathBuf,
    /// Untrusted intermediate certificates (PEM, any number in the file).
    #[arg(long)]
    intermediates: Option<PathBuf>,
    /// Certificate revocation lists (PEM or DER), repeatable; with any CRL, a leaf no CRL
    /// covers is refused.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Check as of this instant (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// doc-signing (a document signer), tls-server (a peer gateway's server certificate, with
    /// --name) or tls-client (a client certificate).
    #[arg(long, value_parser = ["doc-signing", "tls-server", "tls-client"])]
    purpose: String,
    /// The DNS name or IP address the server certificate must be valid for (tls-server).
    #[arg(long)]
    name: Option<String>,
    /// Print one JSON object: {"valid", "reason", "error", "subject", …}.
    #[arg(long)]
    json: bool,
}

fn check_err(e: lienthong::pki::check::CheckError) -> CliError {
    if e.is_refusal() {
        CliError::invalid(e)
    } else {
        CliError::usage(e)
    }
}

fn run_check_chain(a: &CheckChainArgs) -> Result<(), CliError> {
    use lienthong::pki::check::{self, ChainCheck, Purpose};
    let purpose = Purpose::from_name(&a.purpose)
        .ok_or_else(|| CliError::usage(format!("--purpose {}: unknown", a.purpose)))?;
    if purpose == Purpose::TlsServer && a.name.is_none() {
        return Err(CliError::usage("--purpose tls-server needs --name"));
    }
    let roots = check::certificates_pem_file(&a.trust).map_err(CliError::usage)?;
    let mut leaf = check::certificates_pem_file(&a.leaf).map_err(CliError::usage)?;
    let intermediates = match &a.intermediates {
        Some(p) => check::certificates_pem_file(p).map_err(CliError::usage)?,
        None => Vec::new(),
    };
    let mut crls = Vec::new();
    for c in &a.crl {
        crls.extend(check::crls_file(c).map_err(CliError::usage)?);
    }
    let at = match &a.at {
        Some(t) => super::sign::parse_at(t)?,
        None => rustls_pki_types::UnixTime::now(),
    };
    let request = ChainCheck {
        roots,
        leaf: leaf.remove(0),
        intermediates,
        crls,
        at,
        purpose,
        name: a.name.clone(),
    };
    match check::check_chain(&request) {
        Ok(ok) => {
            if a.json {
                let j = serde_json::json!({ "valid": true, "purpose": a.purpose, "accepted": ok });
                println!("{j}");
            } else {
                println!("valid for {}: {}", a.purpose, ok.subject);
            }
            Ok(())
        }
        Err(e) => {
            if a.json {
                let j = serde_json::json!({
                    "valid": false,
                    "purpose": a.purpose,
                    "reason": e.kind(),
                    "error": e.to_string(),
                });
                println!("{j}");
            }
            Err(check_err(e))
        }
    }
}

pub(crate) fn run(c: PkiCommand) -> Result<(), CliError> {
    let now = OffsetDateTime::now_utc();
    match c {
        PkiCommand::CheckChain(a) => run_check_chain(&a),
        PkiCommand::Init(a) => run_init(a, now),
        PkiCommand::Issue(a) => run_issue(a, now),
        PkiCommand::Revoke(a) => run_revoke(a, now),
        PkiCommand::Crl(a) => run_crl(a, now),
    }
}

/// `pki init`: the demo PKI generated under `a.dir`, then what was made printed.
fn run_init(a: InitArgs, now: OffsetDateTime) -> Result<(), CliError> {
    // Checked before the passphrase is read: a typo is a usage error, not a prompt.
    let crl_url = a
        .crl_url
        .as_deref()
        .map(CrlUrl::parse)
        .transpose()
        .map_err(CliError::usage)?;
    let pass = passphrase(a.passphrase_file.as_deref())?;
    let not_before = match a.not_before {
        Some(d) => parse_date(&d)?,
        None => now,
    };
    let organs: Vec<(String, String)> = a.organs.iter().map(|o| organ_arg(o)).collect();
    let pairs: Vec<(&str, &str)> = organs
        .iter()
        .map(|(i, n)| (i.as_str(), n.as_str()))
        .collect();
    let mut opts = DemoOptions::new(pass, not_before);
    if let Some(n) = pbkdf2_knob()? {
        opts.pbkdf2_iterations = n;
    }
    opts.ca_days = a.ca_days;
    opts.leaf_days = a.days;
    opts.crl_days = a.crl_days;
    opts.export_plain_keys = a.export_plain_keys;
    opts.crl_url = crl_url;
    let made = demo::generate(&a.dir, &pairs, &opts).map_err(pki_err)?;
    if a.json {
        print_init_json(&made);
    } else {
        print_init_text(&made, a.export_plain_keys);
    }
    Ok(())
}

/// `pki init --json`: one object naming every file made and each leaf's details.
fn print_init_json(made: &DemoPki) {
    let leaf = |l: &DemoLeaf| {
        serde_json::json!({
            "key": l.key_name,
            "algorithm": l.algorithm.as_str(),
            "cert": l.cert_pem,
            "plain_key": l.plain_key_pem,
            "serial": l.serial_hex,
            "subject": l.subject,
            "not_after": date(l.not_after),
            "fingerprint_sha256": l.fingerprint,
        })
    };
    let organs: Vec<_> = made
        .organs
        .iter()
        .map(|o| {
            serde_json::json!({
                "id": o.id, "name": o.name, "dir": o.dir, "chain": o.chain_pem,
                "signing": leaf(&o.signing), "tls": leaf(&o.tls),
                "receipts": leaf(&o.receipts), "encryption": leaf(&o.encryption),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "dir": made.dir, "root": made.root_pem,
            "intermediate": made.intermediate_pem, "crl": made.crl_pem,
            "crl_url": made.crl_url.as_ref().map(CrlUrl::as_str),
            "organs": organs,
        })
    );
}

/// `pki init` for people: the CA files, then one line per leaf certificate, and a warning
/// when plain keys were written.
fn print_init_text(made: &DemoPki, export_plain_keys: bool) {
    println!("trust anchor   {}", made.root_pem.display());
    println!("intermediate   {}", made.intermediate_pem.display());
    println!("CRL (empty)    {}", made.crl_pem.display());
    if let Some(u) = &made.crl_url {
        println!("CRL published  {u} (named in every certificate; never fetched)");
    }
    for o in &made.organs {
        for l in [&o.signing, &o.tls, &o.receipts, &o.encryption] {
            println!(
                "{:<14} {:<8} {:<8} serial {}  expires {}  {}",
                o.id,
                l.key_name,
                l.algorithm.as_str(),
                l.serial_hex,
                date(l.not_after),
                l.cert_pem.display()
            );
        }
    }
    if export_plain_keys {
        println!("plain PKCS#8 key files were written: DEMO ONLY, never production");
    }
}

/// `pki issue`: a certificate for the CSR, valid from `now` for `a.days`; the chain goes to
/// `-o` (with a summary line or JSON) or to stdout.
fn run_issue(a: IssueArgs, now: OffsetDateTime) -> Result<(), CliError> {
    let profile: Profile = a.profile.parse().map_err(|e: CaError| CliError::usage(e))?;
    let csr_pem = std::fs::read_to_string(&a.csr)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", a.csr.display())))?;
    let pass = passphrase(a.passphrase_file.as_deref())?;
    let mut ca = Ca::open(&a.ca).map_err(ca_err)?;
    let issued: Issued = ca
        .issue(
            &csr_pem,
            profile,
            now,
            now + Duration::days(i64::from(a.days)),
            &pass,
        )
        .map_err(ca_err)?;
    let s = &issued.summary;
    match a.output {
        Some(p) => {
            write(&p, &issued.chain_pem)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "serial": s.serial_hex, "subject": s.subject, "organ": s.organ,
                        "profile": profile.as_str(), "not_after": date(s.not_after),
                        "cert": p,
                    })
                );
            } else {
                println!(
                    "issued {} certificate serial {} for {} (organ {}), expires {}: {}",
                    profile.as_str(),
                    s.serial_hex,
                    s.subject,
                    s.organ.as_deref().unwrap_or("-"),
                    date(s.not_after),
                    p.display()
                );
            }
        }
        None => print!("{}", issued.chain_pem),
    }
    Ok(())
}

/// `pki revoke`: the serial recorded as revoked; it shows in the next CRL, not before.
fn run_revoke(a: RevokeArgs, now: OffsetDateTime) -> Result<(), CliError> {
    let reason: RevocationReason = a.reason.parse().map_err(|e: CaError| CliError::usage(e))?;
    let mut ca = Ca::open(&a.ca).map_err(ca_err)?;
    let r = ca.revoke(&a.serial, reason, now).map_err(ca_err)?;
    println!(
        "revoked serial {} ({}); publish a new CRL with `lienthong pki crl`",
        r.serial, r.reason
    );
    Ok(())
}

/// `pki crl`: a CRL signed now with nextUpdate `a.days` ahead, written to `-o` or DIR/crl.pem.
fn run_crl(a: CrlArgs, now: OffsetDateTime) -> Result<(), CliError> {
    let pass = passphrase(a.passphrase_file.as_deref())?;
    let mut ca = Ca::open(&a.ca).map_err(ca_err)?;
    let next = now + Duration::days(i64::from(a.days));
    let pem = ca.crl(now, next, &pass).map_err(ca_err)?;
    let out = a.output.unwrap_or_else(|| ca.dir().join("crl.pem"));
    write(&out, &pem)?;
    println!(
        "CRL with {} revoked certificate(s), next update {}: {}",
        ca.revoked().len(),
        date(next),
        out.display()
    );
    Ok(())
}

fn organ_arg(o: &str) -> (String, String) {
    if let Some((id, name)) = o.split_once('=') {
        return (id.to_owned(), name.to_owned());
    }
    let name = KNOWN_ORGANS
        .iter()
        .find(|(id, _)| *id == o)
        .map_or(o, |(_, n)| n);
    (o.to_owned(), name.to_owned())
}

fn parse_date(d: &str) -> Result<OffsetDateTime, CliError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(d, &fmt)
        .map(|d| d.midnight().assume_utc())
        .map_err(|e| CliError::usage(format!("--not-before {d:?}: expected YYYY-MM-DD ({e})")))
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

fn date(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn ca_err(e: CaError) -> CliError {
    match e {
        CaError::Keystore(k) => ks_err(k),
        CaError::NotInitialised { .. }
        | CaError::AlreadyInitialised { .. }
        | CaError::UnknownProfile { .. }
        | CaError::UnknownReason { .. }
        | CaError::BadSerial { .. }
        | CaError::BadCrlUrl { .. }
        | CaError::Io { .. } => CliError::usage(e),
        other => CliError::invalid(other),
    }
}

fn pki_err(e: PkiError) -> CliError {
    match e {
        PkiError::Keystore(k) => ks_err(k),
        PkiError::Ca(c) => ca_err(c),
        PkiError::InvalidOrgan { .. }
        | PkiError::NoKeystore { .. }
        | PkiError::NoPassphrase { .. } => CliError::usage(e),
        other => CliError::invalid(other),
    }
}
