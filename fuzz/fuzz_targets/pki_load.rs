//! PEM/DER certificate and CRL loading: every door through which certificate material enters.
//! - trust anchors (`sign::TrustStore::add_anchors_pem`, `add_anchor_der`) and CRLs
//!   (`TrustStore::add_crl`, PEM or DER) — src/sign/trust.rs;
//! - TLS certificate chains (`tls::certs_from_pem`) and the organ binding
//!   (`tls::organ_of_certificate`) — src/tls.rs;
//! - `pki::cert` (chains to install in a keystore, summaries) and `pki::csr::parse` — src/pki.
//!
//! The input is tried both as PEM text and as raw DER.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::pki::{cert, csr};
use lienthong::sign::TrustStore;
use rustls_pki_types::CertificateDer;

fuzz_target!(|data: &[u8]| {
    let mut trust = TrustStore::new();
    let _ = trust.add_anchors_pem(data, "fuzz.pem");
    let _ = trust.add_anchor_der(&CertificateDer::from(data), "fuzz.der");
    let _ = trust.add_crl(data, "fuzz.crl");

    if let Ok(chain) = lienthong::tls::certs_from_pem(data, "fuzz chain") {
        for c in &chain {
            let _ = lienthong::tls::organ_of_certificate(c.as_ref());
            let _ = cert::summarize("fuzz", c.as_ref());
        }
    }
    let _ = lienthong::tls::organ_of_certificate(data);
    let _ = cert::summarize("fuzz", data);

    if let Ok(chain) = cert::parse_pem_chain("fuzz", data) {
        // A chain that loads writes back to PEM that loads to the same certificates.
        let pem = cert::chain_to_pem(&chain);
        match cert::parse_pem_chain("fuzz again", pem.as_bytes()) {
            Ok(again) => assert!(again == chain, "PEM chain round trip changed it"),
            Err(e) => panic!("a chain written by chain_to_pem does not load: {e}"),
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = csr::parse(text);
        let _ = cert::normalize_serial(text);
    }
});
