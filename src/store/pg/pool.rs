//! Connections to the database: a small pool of sessions for the store's transactions, one more
//! session for the group commit's flush, and TLS (rustls on ring) where the URL asks for it.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, NoTls};

use crate::store::StoreError;

/// How to reach the database.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) config: postgres::Config,
    /// Set when the URL's `sslmode` is not `disable`: TLS with these roots only.
    pub(super) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Target {
    /// A new session, set up for the store: every transaction READ COMMITTED; commits that
    /// return before their WAL is flushed (durability comes from the group commit's flush,
    /// [`super::PgStore::wait`], never from a commit alone).
    pub(super) fn connect(&self) -> Result<Client, StoreError> {
        let mut client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
        .map_err(|e| StoreError::engine("connect to the database", e))?;
        client
            .batch_execute(
                "SET synchronous_commit = off; \
                 SET default_transaction_isolation = 'read committed'; \
                 SET statement_timeout = '60s'",
            )
            .map_err(|e| StoreError::engine("set up a database session", e))?;
        Ok(client)
    }
}

/// Builds the TLS connector for `config` (`None` for `sslmode=disable`, and for libpq's default
/// `prefer` over a unix socket): server certificates are checked against `roots` only (PEM),
/// never the system's; `prefer` towards a network host is refused (a gateway never falls back
/// to a clear connection silently).
pub(super) fn tls_for(
    config: &postgres::Config,
    roots: Option<&[u8]>,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, StoreError> {
    let invalid = |reason| StoreError::Invalid {
        field: "store.ca",
        reason,
    };
    let unix_only = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, postgres::config::Host::Unix(_)));
    match config.get_ssl_mode() {
        SslMode::Disable => return Ok(None),
        // libpq's default: TLS if the server offers it. Over a unix socket there is nothing
        // to protect; over the network a gateway does not guess.
        SslMode::Prefer if unix_only => return Ok(None),
        SslMode::Prefer => {
            return Err(StoreError::Invalid {
                field: "store.url",
                reason: "say sslmode=require (TLS, with [store] ca) or sslmode=disable (a \
                         database on a trusted network) in the URL",
            });
        }
        _ => {}
    }
    let pem = roots.ok_or(invalid(
        "the database URL asks for TLS (sslmode is not disable): name the CA certificate that \
         signs the database server's certificate in [store] ca",
    ))?;
    let mut store = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(pem) {
        let cert: rustls_pki_types::CertificateDer<'static> =
            cert.map_err(|_| invalid("[store] ca is not a PEM certificate file"))?;
        store
            .add(cert)
            .map_err(|_| invalid("[store] ca holds a certificate rustls cannot use"))?;
    }
    if store.is_empty() {
        return Err(invalid("[store] ca holds no certificate"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::engine("set up TLS to the database", e))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls)))
}

/// A fixed number of sessions shared by threads; a thread waits for a free one.
pub(super) struct Pool {
    target: Target,
    size: usize,
    idle: Mutex<Idle>,
    freed: Condvar,
}

struct Idle {
    clients: Vec<Client>,
    /// Sessions that may still be opened.
    room: usize,
}

/// A session taken from the pool, given back when dropped (unless it broke).
pub(super) struct Session<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Pool {
    pub(super) fn new(target: Target, size: usize) -> Self {
        Self {
            target,
            size: size.max(1),
            idle: Mutex::new(Idle {
                clients: Vec::new(),
                room: size.max(1),
            }),
            freed: Condvar::new(),
        }
    }

    /// Sessions open now (idle or in use).
    pub(super) fn sessions_open(&self) -> u64 {
        u64::try_from(self.size.saturating_sub(self.lock().room)).unwrap_or(0)
    }

    /// Every idle session, taken out of the pool (to be closed off the async threads).
    pub(super) fn take_all(&self) -> Vec<Client> {
        std::mem::take(&mut self.lock().clients)
    }

    pub(super) fn target(&self) -> &Target {
        &self.target
    }

    // Plain counters and a list updated in single statements: sound to continue after a panic.
    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A session: an idle one, a new one while there is room, else the next one given back.
    pub(super) fn get(&self) -> Result<Session<'_>, StoreError> {
        let mut idle = self.lock();
        loop {
            if let Some(client) = idle.clients.pop() {
                return Ok(Session {
                    pool: self,
                    client: Some(client),
                });
            }
            if idle.room > 0 {
                idle.room -= 1;
                drop(idle);
                return match self.target.connect() {
                    Ok(client) => Ok(Session {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.lock().room += 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            idle = self
                .freed
                .wait_timeout(idle, Duration::from_secs(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Session<'_> {
    pub(super) fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.client.as_mut().ok_or(StoreError::Invalid {
            field: "session",
            reason: "a database session was used after it was given back",
        })
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let mut idle = self.pool.lock();
        match self.client.take() {
            Some(client) if !client.is_closed() => idle.clients.push(client),
            // Broken (the server went away): a new one is opened when needed.
            _ => idle.room += 1,
        }
        drop(idle);
        self.pool.freed.notify_one();
    }
}
