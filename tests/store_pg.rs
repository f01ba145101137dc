#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! The store's contract (`tests/store_contract/`) on `PgStore`, against a real PostgreSQL 15
//! cluster (`tests/common/postgres.rs`), and what only the PostgreSQL engine has: migrations,
//! refusals at open.

#[path = "common/postgres.rs"]
mod postgres_cluster;
mod store_contract;

use std::path::Path;
use std::sync::Arc;

use lienthong::store::{PgStore, Store, StoreLimits};
use postgres_cluster::{Cluster, cluster};

/// PostgreSQL, one database per test directory.
fn open_pg(dir: &Path, limits: StoreLimits) -> Arc<dyn Store> {
    let url = cluster().database_for(dir);
    Arc::new(PgStore::open(&Cluster::options(url), limits).unwrap())
}

const POSTGRES: store_contract::Engine = store_contract::Engine { open: open_pg };

store_contract::store_contract!(POSTGRES);

fn accept_for(peer: &str, body: &str) -> lienthong::store::Accept {
    use lienthong::store::{Accept, Level, MessageId, MessageMeta, Origin, Priority};
    let id = MessageId::random().unwrap();
    let bytes = format!("<edXMLEnvelope id=\"{id}\">{body}</edXMLEnvelope>").into_bytes();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let to: lienthong::store::OrganId = peer.parse().unwrap();
    Accept {
        meta: MessageMeta {
            id,
            document_id: format!("{body}/VPTW"),
            from: "VPTW".parse().unwrap(),
            to: vec![to.clone()],
            priority: Priority::from_code(0).unwrap(),
            level: Level::Thuong,
            digest_hex: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            size: bytes.len() as u64,
            received_at_ms: 1,
            origin: Origin::Submitted,
            hops: vec![],
        },
        bytes,
        local: vec![],
        forward: vec![(to.clone(), to)],
    }
}

fn node(url: &str, name: &str) -> PgStore {
    let mut options = Cluster::options(url.to_owned());
    options.node = name.to_owned();
    PgStore::open(&options, StoreLimits::default()).unwrap()
}

/// Two nodes on one database: an entry leased by one is not given to the other until the lease
/// runs out; the holder gets its own entries again; a take-over moves the lease.
#[test]
fn two_nodes_share_the_outbox_by_leases() {
    let url = cluster().database("leases");
    let (a, b) = (node(&url, "node-a"), node(&url, "node-b"));
    let peer: lienthong::store::OrganId = "TU.BENTRE".parse().unwrap();
    for i in 0..3 {
        a.accept(accept_for("TU.BENTRE", &format!("l{i}"))).unwrap();
    }
    let ids = |v: Vec<lienthong::store::OutboxEntry>| {
        v.into_iter().map(|e| e.message).collect::<Vec<_>>()
    };
    let first = ids(a.outbox_lease(&peer, 10, 100, 1_000).unwrap());
    assert_eq!(first.len(), 3);
    assert!(b.outbox_lease(&peer, 10, 100, 1_000).unwrap().is_empty());
    // Read-only listing still sees them (metrics, the outage probe).
    assert_eq!(b.outbox_next(&peer, 10, 100).unwrap().len(), 3);
    // The holder renews its own, in queue order.
    assert_eq!(ids(a.outbox_lease(&peer, 10, 500, 1_000).unwrap()), first);
    // Expired (500 + 1000): the other node takes them over, and then holds them.
    assert!(b.outbox_lease(&peer, 10, 1_499, 1_000).unwrap().is_empty());
    assert_eq!(ids(b.outbox_lease(&peer, 10, 1_500, 1_000).unwrap()), first);
    assert!(a.outbox_lease(&peer, 10, 1_600, 1_000).unwrap().is_empty());
    // Delivered by b: gone for both.
    for e in b.outbox_lease(&peer, 10, 1_700, 1_000).unwrap() {
        b.mark_delivered(&peer, &e, "r".to_owned(), 1_700).unwrap();
    }
    assert!(a.outbox_lease(&peer, 10, 9_999, 1_000).unwrap().is_empty());
    assert!(b.outbox_next(&peer, 10, 9_999).unwrap().is_empty());
}

/// `store migrate` is idempotent; a database migrated by a newer binary is refused, unchanged.
#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let url = cluster().database("migrations");
    let options = Cluster::options(url.clone());
    let first = PgStore::migrate(&options).unwrap();
    assert_eq!(
        (first.from, first.to),
        (0, lienthong::store::SCHEMA_VERSION)
    );
    let again = PgStore::migrate(&options).unwrap();
    assert_eq!(again.from, again.to);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.execute("INSERT INTO lienthong_schema (version) VALUES (999)", &[])
        .unwrap();
    match PgStore::open(&options, StoreLimits::default()) {
        Err(lienthong::store::StoreError::Open { source, .. }) => assert!(
            matches!(
                *source,
                lienthong::store::StoreError::Invalid {
                    field: "schema",
                    ..
                }
            ),
            "{source:?}"
        ),
        other => panic!("expected the newer schema refused, got {other:?}"),
    }
}
