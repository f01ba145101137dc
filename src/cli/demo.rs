//! `lienthong demo setup`: writes a ready three-gateway demo (see `lienthong::demo`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;

/// `lienthong demo` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum DemoCommand {
    /// Write a three-gateway setup (central, province, district) into a fresh directory.
    Setup(SetupArgs),
}

/// Arguments of `demo setup`.
#[derive(Args, Debug)]
pub(crate) struct SetupArgs {
    /// The directory to create (must be empty or absent).
    #[arg(long)]
    dir: PathBuf,
    /// Print the setup as JSON (organ ids, URLs, configs, tokens).
    #[arg(long)]
    json: bool,
    /// Use six consecutive ports from this one (default: free ports).
    #[arg(long)]
    base_port: Option<u16>,
    /// PBKDF2 iterations for the demo keys (default 600,000; lower only for tests).
    #[arg(long, hide = true)]
    pbkdf2_iterations: Option<u32>,
}

pub(crate) fn run(c: DemoCommand) -> Result<(), CliError> {
    match c {
        DemoCommand::Setup(a) => {
            let setup = lienthong::demo::setup(
                &a.dir,
                &lienthong::demo::SetupOptions {
                    base_port: a.base_port,
                    pbkdf2_iterations: a.pbkdf2_iterations,
                },
            )
            .map_err(CliError::usage)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&setup)
                        .map_err(|e| CliError::usage(e.to_string()))?
                );
            } else {
                println!("demo written to {}", setup.dir.display());
                for g in &setup.gateways {
                    println!(
                        "  {:<8} {:<13} api {}  exchange {}\n           lienthong serve --config {}",
                        g.role,
                        g.organ,
                        g.api_url,
                        g.exchange_url,
                        g.config.display()
                    );
                }
                println!("  trust anchor: {}", setup.root_pem.display());
                println!("  tokens: {}/demo.json", setup.dir.display());
            }
            Ok(())
        }
    }
}
