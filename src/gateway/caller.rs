//! Who is calling: bearer tokens are random, stored only as SHA-256 hashes in the config,
//! compared in constant time; failed attempts are counted per remote address and refused
//! ([`AuthError::TooManyFailures`]) past a threshold. No token ever reaches a log line.
//!
//! The HTTP surface only finds the token in the `Authorization` header (`api::auth`); which
//! caller it is, and what that caller may do, is decided here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{Client, Role};
use crate::doc::label::Level;

/// Failed attempts allowed per address per window before 429.
const MAX_FAILURES: u32 = 10;
/// The failure-counting window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Why a caller was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token, or one that matches no configured client.
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// Too many failed attempts from this address in the window.
    #[error("too many failed authentication attempts; wait a minute")]
    TooManyFailures {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
    /// The caller is known but lacks the role the operation needs.
    #[error("client {client} lacks the {role:?} role")]
    MissingRole {
        /// The client's name.
        client: String,
        /// The role it lacks.
        role: Role,
    },
}

/// An authenticated API caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Client name (for logs).
    pub name: String,
    /// The organ it acts for.
    pub organ: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its clearance.
    pub clearance: Level,
}

impl Caller {
    /// Refuses unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), AuthError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(AuthError::MissingRole {
                client: self.name.clone(),
                role,
            })
        }
    }
}

struct Entry {
    hash: [u8; 32],
    caller: Caller,
}

/// The token table and the failure counters.
pub struct Authenticator {
    entries: Vec<Entry>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("clients", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// A new random token (`lt_` + 43 base64url characters = 256 bits).
pub fn new_token() -> Result<String, ring::error::Unspecified> {
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut raw)?;
    Ok(format!("lt_{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// SHA-256 of a token, hex (what the config stores).
pub fn token_hash_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let pair = s.get(2 * i..2 * i + 2)?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Constant-time equality of two 32-byte hashes.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Authenticator {
    /// Builds the table from the configured clients.
    pub fn new(clients: &[Client]) -> Self {
        let entries = clients
            .iter()
            .filter_map(|c| {
                Some(Entry {
                    hash: unhex32(&c.token_sha256.to_ascii_lowercase())?,
                    caller: Caller {
                        name: c.name.clone(),
                        organ: c.organ.clone(),
                        roles: c.roles.clone(),
                        clearance: c.clearance,
                    },
                })
            })
            .collect();
        Self {
            entries,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates a bearer token (`None`: the request carried none) from `remote`.
    pub fn authenticate(
        &self,
        token: Option<&str>,
        remote: Option<IpAddr>,
    ) -> Result<Caller, AuthError> {
        if let Some(ip) = remote {
            if self.blocked(ip) {
                return Err(AuthError::TooManyFailures {
                    retry_after_secs: FAILURE_WINDOW.as_secs(),
                });
            }
        }
        let Some(token) = token else {
            return Err(AuthError::Unauthenticated);
        };
        let hash: [u8; 32] = match ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
        {
            Ok(h) => h,
            Err(_) => return Err(AuthError::Unauthenticated),
        };
        // Scan every entry so the time taken does not depend on which one matched.
        let mut found: Option<&Caller> = None;
        for e in &self.entries {
            if ct_eq(&e.hash, &hash) {
                found = Some(&e.caller);
            }
        }
        match found {
            Some(c) => Ok(c.clone()),
            None => {
                if let Some(ip) = remote {
                    self.fail(ip);
                }
                tracing::info!(remote = ?remote, "authentication failed");
                Err(AuthError::Unauthenticated)
            }
        }
    }

    fn blocked(&self, ip: IpAddr) -> bool {
        let map = match self.failures.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(&ip)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    fn fail(&self, ip: IpAddr) {
        let mut map = match self.failures.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        // Bound the table: an address flood cannot grow it without limit.
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let e = map.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}
