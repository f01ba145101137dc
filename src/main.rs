//! The `lienthong` command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Exit codes: 0 success; 1 the input is invalid or refused; 2 usage or configuration error.
//! Errors go to stderr as one plain sentence.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lienthong: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Caps glibc's malloc arenas at one per core, by re-executing this program once with
/// `MALLOC_ARENA_MAX` set (an operator's own value is kept).
///
/// Why: glibc gives threads arenas of their own, up to eight per core, and keeps what is freed
/// in each. In the scale runs (`docs/PERFORMANCE.md`, "Scale (session 7)") that held two thirds
/// of the gateway's resident memory as free memory (`malloc_stats` at 210,000 documents: 558 MB
/// held, 169 MB in use across 16 arenas) and RSS rose with the number of documents; with two
/// arenas on the same two cores RSS stayed flat at half the size. glibc reads the variable only
/// when the process starts, and setting the limit from inside (`mallopt`) needs unsafe FFI, which
/// this crate forbids; `exec` keeps the process id, arguments and the rest of the environment.
/// If it fails, the program simply runs on with glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;

    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(argv0) = args.next() {
        command.arg0(argv0);
    }
    // Returns only if the exec failed.
    let _failed = command.args(args).env(VAR, cores.to_string()).exec();
}
