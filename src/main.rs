//! The `lienthong` command line: parses arguments, calls the library, maps errors to exit codes.
//!
//! Exit codes: 0 success; 1 the input is invalid or refused; 2 usage or configuration error.
//! Errors go to stderr as one plain sentence.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc. Measured in the 1,000,000-document scale run: after
/// 300,000 documents glibc held 912 MB in its 16 per-thread arenas for 208 MB in use
/// (`malloc_stats`), and the process's RSS had grown from 326 to 841 MB — freed buffers of
/// documents, TLS records and sled pages stranded across arenas. mimalloc returns freed pages
/// to the system (see `docs/PERFORMANCE.md`, "Scale (session 6)").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
