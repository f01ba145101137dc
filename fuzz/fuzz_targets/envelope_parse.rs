//! Envelope parse: bytes → `doc::parse` → typed `Envelope` (every check of doc/envelope).
//!
//! Property (doc/envelope/mod.rs, "Layout and round trips"): an envelope that parses is written
//! by `to_bytes` into a document that parses back to an equal envelope, and writing that again
//! gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::doc::envelope::{EnvelopeLimits, parse_envelope};

fuzz_target!(|data: &[u8]| {
    let limits = EnvelopeLimits::default();
    let Ok((_doc, envelope)) = parse_envelope(data, &limits) else {
        return;
    };
    let written = envelope.to_bytes();
    let again = match parse_envelope(&written, &limits) {
        Ok((_, again)) => again,
        Err(e) => panic!("the written form of a parsed envelope is refused: {e}"),
    };
    assert!(
        again == envelope,
        "envelope changed in a write/parse round trip"
    );
    assert!(
        again.to_bytes() == written,
        "writing a re-parsed envelope gives other bytes"
    );
});
