//! `lienthong pki …` (being built).

use clap::Subcommand;

use super::CliError;

/// `lienthong pki` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum PkiCommand {
    /// Placeholder until the subcommands land.
    Help,
}

pub(crate) fn run(_c: PkiCommand) -> Result<(), CliError> {
    Err(CliError::usage("this command is not built yet"))
}
