//! Config parse: TOML text → `config::Config::parse` (serde, unknown keys refused, `validate`)
//! and the same text as a procedure catalog (`policy::Catalog::parse`, config/procedures.toml).
//! A config that parses is queried the way the gateway uses it (routing, backoff).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::config::Config;
use lienthong::policy::Catalog;

fuzz_target!(|data: &[u8]| {
    // Config files are read with read_to_string: non-UTF-8 never reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, "fuzz.toml") {
        for peer in &config.peers {
            assert!(
                config.next_hop(&peer.organ).is_some(),
                "a direct peer has no next hop"
            );
        }
        for (dest, hop) in &config.routes {
            if let Some(p) = config.next_hop(dest) {
                // A direct peer wins over a route; otherwise the route's hop is used.
                assert!(p.organ == *hop || p.organ == *dest || dest == "default");
            }
        }
        let _ = config.next_hop("NO.SUCH.ORGAN");
        for attempt in [0, 1, 2, 21, 64, u32::MAX] {
            for jitter in [0.0, 0.5, 1.0, f64::NAN, -1.0] {
                let d = config.retry.backoff(attempt, jitter);
                assert!(
                    d.as_millis() <= u128::from(config.retry.max_ms.max(config.retry.initial_ms)),
                    "backoff over its cap"
                );
            }
        }
    }
    if let Ok(catalog) = Catalog::parse(text, "fuzz-procedures.toml") {
        for p in catalog.all() {
            assert!(catalog.get(&p.code).is_some(), "listed procedure not found");
            let _ = catalog.field_name(&p.field);
        }
        assert_eq!(catalog.is_empty(), catalog.len() == 0);
    }
});
