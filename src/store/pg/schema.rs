//! The store's tables, as versioned migrations: applied in order, each once, in one
//! transaction under a lock, so that several nodes starting together migrate once
//! (`lienthong store migrate`, and at every start).
//!
//! Records are the same JSON the sled store writes (`MessageMeta`, `Delivery`, `StatusEvent`,
//! `Filing`, `PublicEntry`); the columns beside them are what queries select and order by.
//! Document bytes live in the database (`messages.doc`, `bytea`, stored uncompressed:
//! `STORAGE EXTERNAL`), so several nodes need no shared file system.

use postgres::Client;

use crate::store::StoreError;

/// Migrations, oldest first: (version, SQL). Never edit one that has shipped; add the next.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE dedup (
        id bytea PRIMARY KEY,
        digest_hex text NOT NULL,
        purged boolean NOT NULL DEFAULT false
    );
    CREATE SEQUENCE queue_seq;
    CREATE TABLE messages (
        id bytea PRIMARY KEY REFERENCES dedup (id),
        seq bigint NOT NULL,
        sender text NOT NULL,
        received_at_ms bigint NOT NULL,
        meta text NOT NULL,
        sha256 bytea NOT NULL,
        doc bytea NOT NULL
    );
    ALTER TABLE messages ALTER COLUMN doc SET STORAGE EXTERNAL;
    CREATE INDEX messages_sent ON messages (sender, received_at_ms, seq);
    CREATE INDEX messages_received ON messages (received_at_ms);
    CREATE TABLE deliveries (
        id bytea NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        recipient text NOT NULL,
        state text NOT NULL,
        PRIMARY KEY (id, recipient)
    );
    CREATE TABLE outbox (
        seq bigint PRIMARY KEY,
        peer text NOT NULL,
        lane smallint NOT NULL,
        id bytea NOT NULL REFERENCES messages (id),
        recipient text NOT NULL,
        priority smallint NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_ms bigint NOT NULL DEFAULT 0,
        last_error text
    );
    CREATE INDEX outbox_order ON outbox (peer, lane, seq);
    CREATE TABLE peer_depth (
        peer text PRIMARY KEY,
        n bigint NOT NULL
    );
    CREATE TABLE inbox (
        organ text NOT NULL,
        id bytea NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        lane smallint NOT NULL,
        seq bigint NOT NULL,
        acked boolean NOT NULL DEFAULT false,
        PRIMARY KEY (organ, id)
    );
    CREATE INDEX inbox_pending ON inbox (organ, lane, seq) WHERE NOT acked;
    CREATE TABLE statuses (
        seq bigint PRIMARY KEY,
        id bytea NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        organ text NOT NULL,
        code text NOT NULL,
        at_ms bigint NOT NULL,
        event text NOT NULL
    );
    CREATE INDEX statuses_of ON statuses (id, at_ms, seq);
    CREATE TABLE status_out (
        seq bigint PRIMARY KEY,
        peer text NOT NULL,
        event text NOT NULL
    );
    CREATE INDEX status_out_peer ON status_out (peer, seq);
    CREATE TABLE filings (
        id bytea PRIMARY KEY,
        received_at_ms bigint NOT NULL,
        filing text NOT NULL
    );
    CREATE INDEX filings_received ON filings (received_at_ms);
    CREATE TABLE public_index (
        published_at_ms bigint NOT NULL,
        id bytea NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (published_at_ms, id)
    );
    CREATE TABLE quarantine (
        id bytea PRIMARY KEY,
        fault text NOT NULL,
        at_ms bigint NOT NULL
    );
    CREATE TABLE flush_marks (
        node bigint PRIMARY KEY,
        n bigint NOT NULL
    );",
    ),
    (
        2,
        // Leases: which node sends an outbox entry now, and until when (Store::outbox_lease).
        "ALTER TABLE outbox ADD COLUMN leased_by bigint,
             ADD COLUMN leased_until_ms bigint NOT NULL DEFAULT 0;",
    ),
];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i32 = 2;

/// What a migration did ([`PgStore::migrate`](super::PgStore::migrate), and every open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The version found before (0: an empty database).
    pub from: i32,
    /// The version now.
    pub to: i32,
}

/// Brings the database to [`SCHEMA_VERSION`]; idempotent. A database newer than this binary is
/// refused, unchanged ([`StoreError::Invalid`], field `schema`).
pub(super) fn migrate(client: &mut Client) -> Result<Migrated, StoreError> {
    let err = |e| StoreError::engine("migrate the database schema", e);
    let mut tx = client.transaction().map_err(err)?;
    tx.batch_execute(
        "SET LOCAL synchronous_commit = on;
         SELECT pg_advisory_xact_lock(7254616826110411);
         CREATE TABLE IF NOT EXISTS lienthong_schema (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );
         LOCK TABLE lienthong_schema IN EXCLUSIVE MODE",
    )
    .map_err(err)?;
    let from: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM lienthong_schema",
            &[],
        )
        .map_err(err)?
        .get(0);
    if from > SCHEMA_VERSION {
        return Err(StoreError::Invalid {
            field: "schema",
            reason: "the database's schema is newer than this lienthong: upgrade the binary",
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from) {
        tx.batch_execute(sql).map_err(err)?;
        tx.execute(
            "INSERT INTO lienthong_schema (version) VALUES ($1)",
            &[version],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(Migrated {
        from,
        to: SCHEMA_VERSION,
    })
}
