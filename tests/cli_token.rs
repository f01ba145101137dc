//! `lienthong token new`: the token is printed once, the config gets only its hash, and a
//! gateway configured with that entry accepts the token (and nothing else).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::process::Command;

use lienthong::api::auth::authenticate;
use lienthong::gateway::caller::Authenticator;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs `token new` with `args`; returns the printed token and the `[[clients]]` entries.
fn new_token(args: &[&str]) -> (String, String, Vec<lienthong::config::Client>) {
    let mut all = vec!["token", "new"];
    all.extend_from_slice(args);
    let (code, out) = run(&all);
    assert_eq!(code, 0);
    let token = out
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let snippet: String = out
        .lines()
        .skip_while(|l| !l.starts_with("[[clients]]"))
        .collect::<Vec<_>>()
        .join("\n");
    #[derive(serde::Deserialize)]
    struct F {
        clients: Vec<lienthong::config::Client>,
    }
    let f: F = toml::from_str(&snippet).unwrap();
    (token, snippet, f.clients)
}

#[test]
fn new_token_authenticates_through_its_config_entry() {
    let (token, snippet, clients) = new_token(&[
        "--name",
        "dms",
        "--organ",
        "TU.BENTRE",
        "--role",
        "receive",
        "--clearance",
        "mat",
    ]);
    assert!(token.starts_with("lt_") && token.len() > 40);
    assert!(
        !snippet.contains(&token),
        "the config entry must not hold the token"
    );
    let auth = Authenticator::new(&clients);
    let mut h = axum::http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let caller = authenticate(&auth, &h, None).unwrap();
    assert_eq!(caller.organ, "TU.BENTRE");
    h.insert("authorization", "Bearer lt_other".parse().unwrap());
    assert!(authenticate(&auth, &h, None).is_err());
}

#[test]
fn bad_roles_and_organs_are_usage_errors() {
    assert_eq!(
        run(&[
            "token",
            "new",
            "--name",
            "x",
            "--organ",
            "TU.BENTRE",
            "--role",
            "root"
        ])
        .0,
        2
    );
    assert_eq!(
        run(&[
            "token",
            "new",
            "--name",
            "x",
            "--organ",
            "tu.bentre",
            "--role",
            "submit"
        ])
        .0,
        2
    );
    assert_eq!(
        run(&[
            "token",
            "new",
            "--name",
            "x",
            "--organ",
            "TU.BENTRE",
            "--role",
            "submit",
            "--clearance",
            "secret"
        ])
        .0,
        2
    );
}

#[test]
fn repeated_failures_are_rate_limited_per_address() {
    let (token, _, clients) = new_token(&["--name", "d", "--organ", "VPTW", "--role", "submit"]);
    let auth = Authenticator::new(&clients);
    let attacker: std::net::IpAddr = "127.0.0.9".parse().unwrap();
    let other: std::net::IpAddr = "127.0.0.10".parse().unwrap();
    let mut bad = axum::http::HeaderMap::new();
    bad.insert("authorization", "Bearer lt_guess".parse().unwrap());
    for _ in 0..10 {
        assert_eq!(
            authenticate(&auth, &bad, Some(attacker))
                .unwrap_err()
                .status,
            401
        );
    }
    let mut good = axum::http::HeaderMap::new();
    good.insert("authorization", format!("Bearer {token}").parse().unwrap());
    // The guessing address is now refused even with a good token; others are not affected.
    assert_eq!(
        authenticate(&auth, &good, Some(attacker))
            .unwrap_err()
            .status,
        429
    );
    assert!(authenticate(&auth, &good, Some(other)).is_ok());
}
