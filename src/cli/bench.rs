//! `lienthong bench`: throughput and latency measured against the raw crypto ceiling, in one
//! run (see `docs/PERFORMANCE.md`). Prints a table; `--json FILE` writes every number.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use lienthong::bench::{BenchOptions, run, run_scale};

/// Arguments of `lienthong bench`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Short measurements and few documents (a smoke run, not a measurement).
    #[arg(long)]
    quick: bool,
    /// Write every number as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Documents per end-to-end phase (default 2000; 40 with --quick).
    #[arg(long, value_name = "N")]
    docs: Option<usize>,
    /// Where to put the demo PKI and the gateway stores (default: a temp dir, removed after).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Skip the xmlsec1 comparison.
    #[arg(long)]
    no_peers: bool,
    /// Run only the scale measurement: N documents district → province with the inbox drained
    /// and retention sweeping, reported in ten windows (throughput, latency, RSS, disk).
    #[arg(long, value_name = "N")]
    scale: Option<usize>,
    /// Put the province's store on this PostgreSQL database (a URL without a password;
    /// LIENTHONG_STORE_PASSWORD if one is needed); run once with and once without to compare
    /// the engines on this machine.
    #[arg(long, value_name = "URL")]
    province_postgres: Option<String>,
}

pub(crate) fn run_bench(a: BenchArgs) -> Result<(), CliError> {
    let options = BenchOptions {
        quick: a.quick,
        docs: a.docs,
        dir: a.dir,
        peers: !a.no_peers,
        province_postgres: a.province_postgres,
    };
    let progress = |step: &str| eprintln!("bench: {step}");
    if let Some(n) = a.scale {
        let report = run_scale(&options, n, progress).map_err(CliError::invalid)?;
        print!("{}", report.table());
        return write_json(a.json.as_deref(), &report);
    }
    let report = run(&options, progress).map_err(CliError::invalid)?;
    print!("{}", report.table());
    write_json(a.json.as_deref(), &report)
}

fn write_json(
    path: Option<&std::path::Path>,
    report: &impl serde::Serialize,
) -> Result<(), CliError> {
    if let Some(path) = path {
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| CliError::usage(format!("cannot encode the report: {e}")))?;
        std::fs::write(path, json)
            .map_err(|e| CliError::usage(format!("{}: cannot write: {e}", path.display())))?;
    }
    Ok(())
}
