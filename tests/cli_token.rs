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

use lienthong::api::auth::bearer;
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
    let caller = auth.authenticate(bearer(&h), None).unwrap();
    assert_eq!(caller.organ, "TU.BENTRE");
    h.insert("authorization", "Bearer lt_other".parse().unwrap());
    assert!(auth.authenticate(bearer(&h), None).is_err());
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
fn a_valid_token_always_authenticates_and_failures_are_slowed_per_source() {
    use lienthong::gateway::caller::{AuthError, ThrottleLimits};
    use std::time::Duration;
    let (token, _, clients) = new_token(&["--name", "d", "--organ", "VPTW", "--role", "submit"]);
    let limits = ThrottleLimits {
        free_failures: 5,
        window: Duration::from_secs(60),
        max_delay: Duration::from_millis(3_000),
    };
    let auth = Authenticator::with_limits(&clients, limits);
    let shared_nat: std::net::IpAddr = "127.0.0.9".parse().unwrap();
    let other: std::net::IpAddr = "127.0.0.10".parse().unwrap();
    let mut delays = Vec::new();
    let mut audited = Vec::new();
    for i in 0..30 {
        // Thirty wrong tokens, each of its own prefix: only the address is counted.
        let guess = format!("lt_{i:04}guessxxxxxxxx");
        match auth.authenticate(Some(&guess), Some(shared_nat)) {
            Err(AuthError::Unauthenticated {
                delay_ms,
                throttled,
            }) => {
                delays.push(delay_ms);
                audited.extend(throttled);
            }
            other => panic!("{other:?}"),
        }
    }
    // Five free, then 100 ms doubling, capped.
    assert_eq!(&delays[..9], &[0, 0, 0, 0, 0, 100, 200, 400, 800]);
    assert!(delays[9..].iter().all(|d| *d == 1_600 || *d == 3_000));
    assert_eq!(*delays.last().unwrap(), 3_000);
    // Said once, when the delays began.
    assert_eq!(audited, vec![("address 127.0.0.9".to_owned(), 6)]);
    // The right token from the same address: in, at once; and from another address.
    assert_eq!(
        auth.authenticate(Some(&token), Some(shared_nat))
            .unwrap()
            .organ,
        "VPTW"
    );
    assert!(auth.authenticate(Some(&token), Some(other)).is_ok());
    // One wrong token retried from many addresses is slowed by its prefix.
    let mut last = 0;
    for i in 0..8u8 {
        let ip = std::net::IpAddr::from([10, 0, 0, i]);
        if let Err(AuthError::Unauthenticated { delay_ms, .. }) =
            auth.authenticate(Some("lt_samewrongtoken"), Some(ip))
        {
            last = delay_ms;
        }
    }
    assert_eq!(last, 400);
    // A request without a token is refused but counts against nobody.
    assert_eq!(
        auth.authenticate(None, Some(other)).unwrap_err(),
        AuthError::NoToken
    );
}
