//! Keystore file decoding (src/pki/keystore.rs): a `NAME.key.json` file and, optionally, the
//! `NAME.cert.pem` chain beside it, read through the public API as `keys list/info` and
//! `load` read them (size cap, JSON with unknown fields refused, version/KDF/AEAD names,
//! iteration range, name check, SPKI, certificate summary, then PBKDF2 + AES-GCM open and the
//! key/public-key match).
//!
//! Input: the key file; if it contains `-----BEGIN`, everything from there is the cert file.
//! Files are written into a private temporary keystore made once per process.
//!
//! `load` runs PBKDF2 with the file's own iteration count (up to the 100,000,000 the keystore
//! accepts by design); the harness only calls it for counts ≤ 2,000 so that a run measures
//! decoding, not PBKDF2. The seeds (fuzz/seeds/keystore_file) use 1,000 iterations.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lienthong::pki::keystore::{Keystore, Passphrase};

const NAME: &str = "fuzz";
const MAX_LOAD_ITERATIONS: u64 = 2_000;

struct Fixture {
    store: Keystore,
    key_path: PathBuf,
    cert_path: PathBuf,
    passphrase: Passphrase,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("lienthong-fuzz-keystore-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("harness: cannot create {}: {e}", dir.display());
        }
        let store = Keystore::open(&dir).unwrap_or_else(|e| panic!("harness: keystore: {e}"));
        let passphrase = Passphrase::new("lienthong-demo-only".to_owned())
            .unwrap_or_else(|e| panic!("harness: passphrase: {e}"));
        Fixture {
            key_path: store.dir().join(format!("{NAME}.key.json")),
            cert_path: store.cert_path(NAME),
            store,
            passphrase,
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let (key, cert) = match find(data, b"-----BEGIN") {
        Some(at) => (
            data.get(..at).unwrap_or_default(),
            Some(data.get(at..).unwrap_or_default()),
        ),
        None => (data, None),
    };
    let written = std::fs::write(&f.key_path, key).and_then(|()| match cert {
        Some(c) => std::fs::write(&f.cert_path, c),
        None => match std::fs::remove_file(&f.cert_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    });
    if let Err(e) = written {
        panic!("harness: cannot write the key file: {e}");
    }

    let info = f.store.info(NAME);
    let _ = f.store.list();

    let iterations = serde_json::from_slice::<serde_json::Value>(key)
        .ok()
        .and_then(|v| v.get("kdf")?.get("iterations")?.as_u64());
    if iterations.is_some_and(|n| n <= MAX_LOAD_ITERATIONS) {
        if let Ok(loaded) = f.store.load(NAME, &f.passphrase) {
            // A key that opens is the key the file's public part names.
            if let Ok(info) = info {
                assert!(
                    loaded.info().spki_der == info.spki_der,
                    "loaded key differs from the stored public key"
                );
            }
        }
    }
});
