//! `lienthong sign` and `lienthong verify` (being built).

use clap::Args;

use super::CliError;

/// Arguments of `lienthong sign`.
#[derive(Args, Debug)]
pub(crate) struct SignArgs {}

/// Arguments of `lienthong verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {}

pub(crate) fn run_sign(_a: SignArgs) -> Result<(), CliError> {
    Err(CliError::usage("this command is not built yet"))
}

pub(crate) fn run_verify(_a: VerifyArgs) -> Result<(), CliError> {
    Err(CliError::usage("this command is not built yet"))
}
