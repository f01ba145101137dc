//! OCSP responses (RFC 6960) as a responder, or anyone between it and us, may send them:
//! `sign::ocsp`'s DER reader and response parser (src/sign/ocsp/der.rs, response.rs), then the
//! whole check through `Ocsp::check` with a transport that answers with the fuzz input (the
//! certificates: one self-signed P-256 certificate as leaf and issuer, made with
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x -days 2`
//! and `openssl x509 -outform DER`; `openssl-good.der` is `openssl ocsp`'s answer for it).
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lienthong::sign::ocsp::{Ocsp, OcspSettings, Transport, parse_response_for_fuzzing};

struct Echo(Vec<u8>);

impl Transport for Echo {
    fn post(&self, _: &str, _: &[u8], _: Duration) -> Result<Vec<u8>, String> {
        Ok(self.0.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_response_for_fuzzing(data);
    let settings = OcspSettings {
        responder: Some("http://fuzz.invalid/".to_owned()),
        ..OcspSettings::default()
    };
    let ocsp = Ocsp::new(settings, Arc::new(Echo(data.to_vec())));
    // Any leaf/issuer pair that parses will do: the input is the response.
    let leaf = include_bytes!("../seeds/ocsp_response/leaf.der");
    let issuer = include_bytes!("../seeds/ocsp_response/issuer.der");
    // The nonce is 32 fresh random bytes per request: no input can carry it.
    assert!(
        ocsp.check(leaf, issuer, 1_796_688_000).is_err(),
        "a fuzzed response was accepted as good"
    );
});
