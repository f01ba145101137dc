//! `lienthong audit verify` and `lienthong audit export`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::CliError;
use lienthong::audit::{self, VerifyReport};
use lienthong::sign::TrustStore;

/// `lienthong audit …`
#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Verify a hash-chained audit log: every line, the chain, and (with --trust) every signed
    /// checkpoint. Exit 0 valid, 1 tampered (the line and why), 2 usage.
    Verify(VerifyArgs),
    /// Export the audit log as JSON lines (with hashes and checkpoint signatures) for the
    /// organ's records office.
    Export(ExportArgs),
}

/// Arguments of `lienthong audit verify`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["data", "file"])))]
pub(crate) struct VerifyArgs {
    /// The gateway's data directory (the log is DIR/audit/audit.log; it must hold the whole chain).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// An exported log (it may start at a signed checkpoint; needs --trust).
    #[arg(long, value_name = "FILE", requires = "trust")]
    file: Option<PathBuf>,
    /// Trust anchors (PEM) for the checkpoint signatures.
    #[arg(long, value_name = "ANCHORS.pem")]
    trust: Vec<PathBuf>,
    /// Certificate revocation lists (PEM or DER) for the checkpoint certificates.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `lienthong audit export`.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The gateway's data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Export from this instant (RFC 3339); the export then starts at the checkpoint before it.
    #[arg(long, value_name = "RFC3339")]
    since: Option<String>,
    /// Where to write the export (stdout when absent).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn run(c: AuditCommand) -> Result<(), CliError> {
    match c {
        AuditCommand::Verify(a) => run_verify(a),
        AuditCommand::Export(a) => run_export(a),
    }
}

fn trust_store(anchors: &[PathBuf], crls: &[PathBuf]) -> Result<Option<TrustStore>, CliError> {
    if anchors.is_empty() {
        if !crls.is_empty() {
            return Err(CliError::usage("--crl needs --trust"));
        }
        return Ok(None);
    }
    let mut trust = TrustStore::new();
    for a in anchors {
        trust.add_anchors_pem_file(a).map_err(CliError::usage)?;
    }
    for c in crls {
        trust.add_crl_file(c).map_err(CliError::usage)?;
    }
    Ok(Some(trust))
}

fn run_verify(a: VerifyArgs) -> Result<(), CliError> {
    let trust = trust_store(&a.trust, &a.crl)?;
    let (shown, result) = match (&a.data, &a.file) {
        (Some(dir), None) => {
            let path = audit::log_path(dir);
            if !path.is_file() {
                return Err(CliError::usage(format!(
                    "no audit log at {}",
                    path.display()
                )));
            }
            (path, audit::verify_dir(dir, trust.as_ref()))
        }
        (None, Some(file)) => {
            if !file.is_file() {
                return Err(CliError::usage(format!("no file {}", file.display())));
            }
            (file.clone(), audit::verify_file(file, trust.as_ref()))
        }
        _ => return Err(CliError::usage("give one of --data DIR or --file FILE")),
    };
    let report = result.map_err(|e| match e {
        audit::AuditError::Io { .. } => CliError::usage(e),
        e => CliError::invalid(format!("{}: {e}", shown.display())),
    })?;
    print_report(&shown, &report, trust.is_some(), a.json)
}

fn print_report(
    path: &Path,
    report: &VerifyReport,
    trusted: bool,
    json: bool,
) -> Result<(), CliError> {
    if json {
        let text = serde_json::to_string(report).map_err(CliError::invalid)?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{}: valid, {} entries (seq {}..{}), head {}",
        path.display(),
        report.entries,
        report.first_seq,
        report.last_seq,
        report.head
    );
    if trusted {
        println!(
            "  {} checkpoints, {} signatures verified",
            report.checkpoints, report.checkpoints_verified
        );
    } else {
        println!(
            "  {} checkpoints, signatures not checked (no --trust)",
            report.checkpoints
        );
    }
    match report.last_checkpoint_seq {
        Some(seq) if seq < report.last_seq => println!(
            "  {} entries after the last checkpoint are chained but not yet signed",
            report.last_seq - seq
        ),
        Some(_) => {}
        None => println!("  no checkpoint: nothing in this log is signed yet"),
    }
    if !report.complete() {
        println!(
            "  starts at seq {} (an export from a checkpoint)",
            report.first_seq
        );
    }
    if report.torn_tail {
        println!("  the file ends in an incomplete line (a write in progress or a crash), ignored");
    }
    Ok(())
}

fn run_export(a: ExportArgs) -> Result<(), CliError> {
    let since = match &a.since {
        Some(s) => Some(
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| CliError::usage(format!("--since {s:?} is not RFC 3339: {e}")))?,
        ),
        None => None,
    };
    let path = audit::log_path(&a.data);
    if !path.is_file() {
        return Err(CliError::usage(format!(
            "no audit log at {}",
            path.display()
        )));
    }
    let to_cli = |e: audit::AuditError| match e {
        audit::AuditError::Io { .. } => CliError::usage(e),
        e => CliError::invalid(format!("{}: {e}", path.display())),
    };
    let report = match &a.output {
        Some(out) => {
            let file = std::fs::File::create(out)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", out.display())))?;
            let mut w = std::io::BufWriter::new(file);
            let report = audit::export(&a.data, since, &mut w).map_err(to_cli)?;
            let file = w
                .into_inner()
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
            // The records office gets a file that is on disk, not in a cache.
            file.sync_all()
                .map_err(|e| CliError::usage(format!("cannot sync {}: {e}", out.display())))?;
            report
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            let report = audit::export(&a.data, since, &mut lock).map_err(to_cli)?;
            lock.flush().map_err(CliError::usage)?;
            report
        }
    };
    eprintln!(
        "exported {} entries (seq {}..{})",
        report.lines, report.first_seq, report.last_seq
    );
    Ok(())
}
