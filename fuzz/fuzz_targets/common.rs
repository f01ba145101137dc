//! Shared by the fuzz targets: the demo PKI baked in at compile time (so a target runs the same
//! from any directory), and a fixed verification instant (so a run is reproducible).
#![allow(dead_code)]

use std::time::Duration;

use lienthong::sign::{TrustStore, VerifyOptions};
use rustls_pki_types::UnixTime;

/// certs/root.pem: the demo trust anchor.
pub const ROOT_PEM: &[u8] = include_bytes!("../../certs/root.pem");
/// certs/crl.pem: the intermediate's CRL (no revocations, nextUpdate 2030-12-31).
pub const CRL_PEM: &[u8] = include_bytes!("../../certs/crl.pem");
/// The district's document-signing key (RSA-2048, plain PKCS#8: a public demo key).
pub const SIGNING_KEY_PEM: &[u8] = include_bytes!("../../certs/HU.CHAUTHANH/signing.key.pem");
/// Its certificate followed by the intermediate (leaf first).
pub const SIGNING_CHAIN_PEM: &[u8] = include_bytes!("../../certs/HU.CHAUTHANH/signing.cert.pem");
/// The signed document's organ.
pub const SIGNING_ORGAN: &str = "HU.CHAUTHANH";

/// 2027-01-01T00:00:00Z: inside the demo certificates' validity (2026-01-01 → 2030-12-31) and
/// before the CRL's nextUpdate, whatever the machine's clock says.
pub const AT_UNIX_SECONDS: u64 = 1_798_761_600;

/// The demo trust store: root anchor and CRL. Panics only if the committed demo PKI is broken,
/// which is a harness bug, not a finding.
pub fn demo_trust() -> TrustStore {
    let mut trust = TrustStore::new();
    if let Err(e) = trust.add_anchors_pem(ROOT_PEM, "certs/root.pem") {
        panic!("harness: demo root does not load: {e}");
    }
    if let Err(e) = trust.add_crl(CRL_PEM, "certs/crl.pem") {
        panic!("harness: demo CRL does not load: {e}");
    }
    trust
}

/// Verification options at the fixed instant.
pub fn verify_options() -> VerifyOptions {
    VerifyOptions {
        at: UnixTime::since_unix_epoch(Duration::from_secs(AT_UNIX_SECONDS)),
        ..VerifyOptions::now()
    }
}

/// The district's document-encryption key (RSA-2048, plain PKCS#8: a public demo key).
pub const ENCRYPTION_KEY_PEM: &[u8] = include_bytes!("../../certs/HU.CHAUTHANH/encryption.key.pem");
/// Its certificate followed by the intermediate (leaf first).
pub const ENCRYPTION_CHAIN_PEM: &[u8] =
    include_bytes!("../../certs/HU.CHAUTHANH/encryption.cert.pem");
