//! Who is calling: bearer tokens are random, stored only as SHA-256 hashes in the config,
//! compared in constant time. A valid token always authenticates, whatever failures came from
//! its address: an office behind one NAT with a misconfigured script must not be locked out
//! by it. Failed attempts are counted per source address and per token prefix (the first
//! characters of the token presented: one wrong token retried from many addresses) and, past a
//! few free ones in a window, answered only after a delay that doubles with each failure, up
//! to a limit ([`ThrottleLimits`], from `[limits]` in the config). No token ever reaches a log
//! line.
//!
//! The HTTP surface only finds the token in the `Authorization` header (`api::auth`) and waits
//! the delay before it answers; which caller it is, and what that caller may do, is decided
//! here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{Client, Limits, Role};
use crate::doc::label::{Label, Level};
use crate::doc::types::OrganId;

/// Sources tracked at most (an address flood cannot grow the table without limit).
const MAX_SOURCES: usize = 10_000;
/// The first delay past the free failures.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Characters of a presented token that name its prefix source (`lt_` and 8 more).
const PREFIX_CHARS: usize = 11;

/// How failed authentications are slowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failures per source answered at once in a window.
    pub free_failures: u32,
    /// The counting window.
    pub window: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl ThrottleLimits {
    /// The limits of a gateway's config.
    pub fn of(limits: &Limits) -> Self {
        Self {
            free_failures: limits.auth_free_failures,
            window: Duration::from_secs(limits.auth_failure_window_secs),
            max_delay: Duration::from_millis(limits.auth_max_delay_ms),
        }
    }

    /// The delay before answering the `n`th failure of a source in a window.
    pub fn delay(&self, n: u32) -> Duration {
        let Some(past) = n.checked_sub(self.free_failures + 1) else {
            return Duration::ZERO;
        };
        FIRST_DELAY
            .saturating_mul(1u32 << past.min(20))
            .min(self.max_delay)
    }
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self::of(&Limits::default())
    }
}

/// Why a caller was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no token (not counted as a failure: nothing was guessed).
    #[error("a valid bearer token is required")]
    NoToken,
    /// A token that matches no configured client. Answer only after `delay_ms` (zero while
    /// the source's failures are few).
    #[error("a valid bearer token is required")]
    Unauthenticated {
        /// Milliseconds to wait before answering.
        delay_ms: u64,
        /// Set once per source and window, on the failure that starts its delays (the first
        /// such source when two start at once): the source
        /// (`address 192.0.2.7`, `token prefix lt_abcdefgh`) and its failures, to audit.
        throttled: Option<(String, u32)>,
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
    pub organ: OrganId,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its clearance.
    pub clearance: Level,
    /// The label its unlabelled (field-form) documents get, when its config gives one
    /// (`external_default_level` and `_procedure`; never public).
    pub external_default: Option<Label>,
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

/// Where failures come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Source {
    Addr(IpAddr),
    Prefix(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Addr(ip) => write!(f, "address {ip}"),
            Self::Prefix(p) => write!(f, "token prefix {p}"),
        }
    }
}

/// One source's failures in its current window.
struct Failures {
    count: u32,
    since: Instant,
}

/// The token table and the failure counters.
pub struct Authenticator {
    entries: Vec<Entry>,
    limits: ThrottleLimits,
    failures: Mutex<HashMap<Source, Failures>>,
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
    /// Builds the table from the configured clients, with the default throttle.
    pub fn new(clients: &[Client]) -> Self {
        Self::with_limits(clients, ThrottleLimits::default())
    }

    /// Builds the table from the configured clients.
    pub fn with_limits(clients: &[Client], limits: ThrottleLimits) -> Self {
        let entries = clients
            .iter()
            .filter_map(|c| {
                Some(Entry {
                    hash: unhex32(&c.token_sha256.to_ascii_lowercase())?,
                    caller: Caller {
                        name: c.name.clone(),
                        // The config refuses a client whose organ is not an organ id.
                        organ: c.organ.parse().ok()?,
                        roles: c.roles.clone(),
                        clearance: c.clearance,
                        external_default: match (
                            c.external_default_level,
                            &c.external_default_procedure,
                        ) {
                            (Some(level), Some(procedure)) => Some(Label {
                                level,
                                procedure: procedure.clone(),
                                public: false,
                            }),
                            _ => None,
                        },
                    },
                })
            })
            .collect();
        Self {
            entries,
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates a bearer token (`None`: the request carried none) from `remote`. A token
    /// that matches always succeeds; one that does not is counted against its sources.
    pub fn authenticate(
        &self,
        token: Option<&str>,
        remote: Option<IpAddr>,
    ) -> Result<Caller, AuthError> {
        let Some(token) = token else {
            return Err(AuthError::NoToken);
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let Ok(hash) = <[u8; 32]>::try_from(digest.as_ref()) else {
            return Err(AuthError::NoToken);
        };
        // Scan every entry so the time taken does not depend on which one matched.
        let mut found: Option<&Caller> = None;
        for e in &self.entries {
            if ct_eq(&e.hash, &hash) {
                found = Some(&e.caller);
            }
        }
        if let Some(c) = found {
            return Ok(c.clone());
        }
        let mut sources = Vec::with_capacity(2);
        if let Some(ip) = remote {
            sources.push(Source::Addr(ip));
        }
        if let Some(prefix) = token.get(..PREFIX_CHARS) {
            sources.push(Source::Prefix(prefix.to_owned()));
        }
        let (delay, throttled) = self.fail(&sources);
        tracing::info!(remote = ?remote, delay_ms = delay.as_millis(), "authentication failed");
        Err(AuthError::Unauthenticated {
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            throttled,
        })
    }

    /// Counts one failure against each source; the delay of the worst, and the source whose
    /// delays this failure starts, if any.
    fn fail(&self, sources: &[Source]) -> (Duration, Option<(String, u32)>) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.limits.window;
        if map.len() >= MAX_SOURCES {
            map.retain(|_, f| f.since.elapsed() < window);
            if map.len() >= MAX_SOURCES {
                map.clear();
            }
        }
        let mut delay = Duration::ZERO;
        let mut throttled = None;
        for source in sources {
            let f = map.entry(source.clone()).or_insert(Failures {
                count: 0,
                since: Instant::now(),
            });
            if f.since.elapsed() >= window {
                *f = Failures {
                    count: 0,
                    since: Instant::now(),
                };
            }
            f.count = f.count.saturating_add(1);
            delay = delay.max(self.limits.delay(f.count));
            if f.count == self.limits.free_failures + 1 && throttled.is_none() {
                throttled = Some((source.to_string(), f.count));
            }
        }
        (delay, throttled)
    }
}

impl super::Shared {
    /// The caller a bearer token from `remote` names — [`Authenticator::authenticate`], with
    /// each failure counted in the metrics and the one that starts a source's delays audited
    /// (in the background: an audit line is not worth holding the answer, slowed anyway).
    pub fn authenticate(
        &self,
        token: Option<&str>,
        remote: Option<IpAddr>,
    ) -> Result<Caller, AuthError> {
        self.auth.authenticate(token, remote).inspect_err(|e| {
            self.note_auth_failure(e);
        })
    }

    fn note_auth_failure(&self, e: &AuthError) {
        use std::sync::atomic::Ordering::Relaxed;
        let AuthError::Unauthenticated {
            delay_ms,
            throttled,
        } = e
        else {
            return;
        };
        self.metrics.auth_failures.fetch_add(1, Relaxed);
        if *delay_ms > 0 {
            self.metrics.auth_delayed.fetch_add(1, Relaxed);
        }
        if let Some((source, failures)) = throttled.clone() {
            let (audit, organ) = (self.audit.clone(), self.config.organ.clone());
            tokio::task::spawn_blocking(move || {
                let event = crate::audit::Event::auth_throttled(&organ, &source, failures);
                if let Err(e) = audit.append(event) {
                    tracing::error!(error = %e, "audit append failed");
                }
            });
        }
    }
}
