//! `lienthong doc …` (being built).

use clap::Subcommand;

use super::CliError;

/// `lienthong doc` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum DocCommand {
    /// Placeholder until the subcommands land.
    Help,
}

pub(crate) fn run(_c: DocCommand) -> Result<(), CliError> {
    Err(CliError::usage("this command is not built yet"))
}
