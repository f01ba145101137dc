//! `lienthong token new`: makes an API bearer token, prints it once, and prints the `[[clients]]`
//! entry (with only the token's SHA-256) to paste into the gateway config. The token itself is
//! never stored by lienthong.

use clap::{Args, Subcommand};

use super::CliError;
use lienthong::gateway::caller::{new_token, token_hash_hex};

/// `lienthong token` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Make a new token for one organ and role.
    New(NewArgs),
}

/// Arguments of `token new`.
#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// A name for logs (e.g. `dms-province`).
    #[arg(long)]
    name: String,
    /// The organ the client acts for.
    #[arg(long)]
    organ: String,
    /// Roles: submit, receive, admin (repeatable).
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// Highest level the client may see: thuong or mat.
    #[arg(long, default_value = "thuong")]
    clearance: String,
}

pub(crate) fn run(c: TokenCommand) -> Result<(), CliError> {
    match c {
        TokenCommand::New(a) => {
            for r in &a.roles {
                if !matches!(r.as_str(), "submit" | "receive" | "admin") {
                    return Err(CliError::usage(format!(
                        "role {r:?} is not submit, receive or admin"
                    )));
                }
            }
            let level: lienthong::doc::label::Level =
                a.clearance.parse().map_err(CliError::usage)?;
            let organ: lienthong::doc::types::OrganId = a.organ.parse().map_err(CliError::usage)?;
            let token = new_token().map_err(|_| CliError::usage("the random source failed"))?;
            println!("token (shown once; give it to the client, keep no copy): {token}");
            println!();
            println!("[[clients]]");
            println!("name = \"{}\"", a.name);
            println!("organ = \"{}\"", organ.as_str());
            let roles: Vec<String> = a.roles.iter().map(|r| format!("\"{r}\"")).collect();
            println!("roles = [{}]", roles.join(", "));
            println!("token_sha256 = \"{}\"", token_hash_hex(&token));
            println!("clearance = \"{}\"", level.token());
            Ok(())
        }
    }
}
