//! Subcommands, one module per group. Each returns `Result<(), CliError>`; `main` prints the
//! message and exits with its code.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod demo;
pub(crate) mod directory;
pub(crate) mod doc;
pub(crate) mod doc_field;
pub(crate) mod keys;
pub(crate) mod pki;
pub(crate) mod quickstart;
pub(crate) mod seal;
pub(crate) mod serve;
pub(crate) mod sign;
pub(crate) mod store;
pub(crate) mod token;

use clap::{Parser, Subcommand};

/// A failure the CLI reports: a sentence and an exit code (1 invalid/refused, 2 usage/config).
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl CliError {
    /// The input was invalid or refused (exit 1).
    pub(crate) fn invalid(message: impl std::fmt::Display) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }

    /// Usage or configuration error (exit 2).
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }
}

/// Reads a file named on the command line (a usage error when it cannot be read).
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

/// The certificates of a PEM file, in order; none is a usage error.
pub(crate) fn pem_certs(
    path: &std::path::Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, CliError> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&read_file(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(CliError::usage(format!(
            "{}: no CERTIFICATE block",
            path.display()
        )));
    }
    Ok(certs)
}

/// Writes `bytes` to `output`, or to stdout when absent.
pub(crate) fn write_output(output: Option<&std::path::Path>, bytes: &[u8]) -> Result<(), CliError> {
    match output {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display()))),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(bytes)
                .map_err(|e| CliError::usage(format!("cannot write to stdout: {e}")))
        }
    }
}

/// lienthong: secure edXML document exchange gateway.
#[derive(Parser, Debug)]
#[command(name = "lienthong", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create, validate, canonicalise and show edXML envelopes.
    #[command(subcommand)]
    Doc(doc::DocCommand),
    /// Sign an envelope (XML-DSig, enveloped).
    Sign(sign::SignArgs),
    /// Verify signed envelopes: signature, chain, revocation, organ binding.
    Verify(sign::VerifyArgs),
    /// Encrypt a file for recipients' encryption certificates (XML Encryption 1.1).
    Encrypt(seal::EncryptArgs),
    /// Decrypt an EncryptedData document with a recipient's key.
    Decrypt(seal::DecryptArgs),
    /// The signed organ directory: whom mat documents are sealed for.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Manage keys in the encrypted keystore.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// A small CA for staff and tests: init, issue, revoke, CRL.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Verify and export the hash-chained audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run a gateway.
    Serve(serve::ServeArgs),
    /// Check the store: every document against its digest, every index, the audit chain.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Make API bearer tokens (printed once; only their hash goes in the config).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Measure throughput and latency against the raw crypto ceiling.
    Bench(bench::BenchArgs),
    /// The quickstart (three gateways, documents relayed end to end), or `demo setup`.
    Demo(DemoArgs),
}

/// `lienthong demo [setup …]`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct DemoArgs {
    #[command(subcommand)]
    command: Option<demo::DemoCommand>,
    #[command(flatten)]
    run: quickstart::QuickstartArgs,
}

pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Doc(c) => doc::run(c),
        Command::Sign(a) => sign::run_sign(a),
        Command::Verify(a) => sign::run_verify(a),
        Command::Encrypt(a) => seal::run_encrypt(a),
        Command::Decrypt(a) => seal::run_decrypt(a),
        Command::Directory(c) => directory::run(c),
        Command::Keys(c) => keys::run(c),
        Command::Pki(c) => pki::run(c),
        Command::Audit(c) => audit::run(c),
        Command::Serve(a) => serve::run(a),
        Command::Store(c) => store::run(c),
        Command::Token(c) => token::run(c),
        Command::Bench(a) => bench::run_bench(a),
        Command::Demo(DemoArgs {
            command: Some(c), ..
        }) => demo::run(c),
        Command::Demo(DemoArgs { command: None, run }) => quickstart::run(run),
    }
}
