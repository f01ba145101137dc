//! `lienthong keys …` (being built).

use clap::Subcommand;

use super::CliError;

/// `lienthong keys` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Placeholder until the subcommands land.
    Help,
}

pub(crate) fn run(_c: KeysCommand) -> Result<(), CliError> {
    Err(CliError::usage("this command is not built yet"))
}
