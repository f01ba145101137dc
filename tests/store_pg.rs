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
