//! The example configs in `config/` stay valid: they parse, their keys unlock from the committed
//! demo keystores, their catalog loads, and their routes reach every demo organ.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::path::Path;

use lienthong::config::Config;
use lienthong::policy::Catalog;

#[test]
fn example_configs_load_with_their_keys_and_routes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for (role, organ) in [
        ("central", "VPTW"),
        ("province", "TU.BENTRE"),
        ("district", "HU.CHAUTHANH"),
    ] {
        let config = Config::load(&dir.join(format!("{role}.toml")))
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_eq!(config.organ, organ);
        let catalog = Catalog::load(&config.catalog).unwrap();
        assert_eq!(catalog.len(), 69);
        let keys =
            lienthong::gateway::keys::load(&config).unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_eq!(keys.signing_chain.len(), 2);
        for other in ["VPTW", "TU.BENTRE", "HU.CHAUTHANH"] {
            if other != organ {
                assert!(
                    config.next_hop(other).is_some(),
                    "{role} has no route to {other}"
                );
            }
        }
    }
}
