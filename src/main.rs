//! The `lienthong` command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Exit codes: 0 success; 1 the input is invalid or refused; 2 usage or configuration error.
//! Errors go to stderr as one plain sentence.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lienthong: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
