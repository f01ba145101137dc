#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! Behaviour of the sled store: the store's contract (`tests/store_contract/`) on `SledStore`.

mod store_contract;

use std::path::Path;
use std::sync::Arc;

use lienthong::store::{SledStore, Store, StoreLimits};

/// sled in `dir/db`.
fn open_sled(dir: &Path, limits: StoreLimits) -> Arc<dyn Store> {
    Arc::new(SledStore::open(dir.join("db"), limits).unwrap())
}

const SLED: store_contract::Engine = store_contract::Engine { open: open_sled };

store_contract::store_contract!(SLED);
