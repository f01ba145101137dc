//! The binary caps glibc's malloc arenas (`src/main.rs`, `limit_malloc_arenas`): a gateway runs
//! with `MALLOC_ARENA_MAX` set to its core count (at least 2) unless the operator chose a value,
//! which is kept. Checked on a real `lienthong serve` through `/proc/<pid>/environ` — the
//! re-executed process keeps its process id, so the id the test spawned is the gateway.
#![cfg(all(target_os = "linux", target_env = "gnu"))]
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use common::gateways::Demo;

/// The value of `MALLOC_ARENA_MAX` in the environment of process `pid`.
fn arena_max(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("MALLOC_ARENA_MAX=").map(str::to_owned))
}

#[test]
fn a_gateway_runs_with_one_arena_per_core_and_an_operators_choice_is_kept() {
    let cores = std::thread::available_parallelism()
        .map_or(2, |n| n.get().max(2))
        .to_string();
    let mut demo = Demo::new();
    demo.start_with_env("province", &[("MALLOC_ARENA_MAX", None)]);
    let pid = demo.pid("province").unwrap();
    assert_eq!(arena_max(pid), Some(cores));
    // Still the gateway that answers (the exec kept its process id and arguments).
    let health = demo.client("province", "office").get("/healthz").unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(demo.stop("province"), Some(0));

    demo.start_with_env("district", &[("MALLOC_ARENA_MAX", Some("7"))]);
    let pid = demo.pid("district").unwrap();
    assert_eq!(arena_max(pid).as_deref(), Some("7"));
    assert_eq!(demo.stop("district"), Some(0));
}
