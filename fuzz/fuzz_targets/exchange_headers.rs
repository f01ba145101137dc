//! The exchange endpoint's request decoding (`POST /exchange/v1/messages`, docs/ARCHITECTURE.md
//! "The exchange protocol"): the three headers a peer sends beside the signed body.
//! - `x-lienthong-message-id`: `store::MessageId` (32 lowercase hex);
//! - `x-lienthong-for`: comma-separated organ ids;
//! - `x-lienthong-trace`: `exchange::decode_trace` (base64url JSON of hop records), then
//!   each hop's receipt JSON (`sign::SignedReceipt`) as `check_trace` reads it.
//!
//! The input is split on `\n` into the three raw header values; a value reaches the decoders only
//! if `http::HeaderValue` accepts it and `to_str` succeeds, as in `receive`.
//! Properties: a message id that parses prints back to the same text; a trace that decodes
//! re-encodes (`encode_trace`) to a value that decodes to the same hops.
#![no_main]

use axum::http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use lienthong::exchange::{decode_trace, encode_trace};
use lienthong::sign::SignedReceipt;
use lienthong::store::MessageId;

fn header_str(raw: &[u8]) -> Option<String> {
    let v = HeaderValue::from_bytes(raw).ok()?;
    v.to_str().ok().map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let id_raw = parts.next().unwrap_or_default();
    let for_raw = parts.next().unwrap_or_default();
    let trace_raw = parts.next().unwrap_or_default();

    if let Some(id) = header_str(id_raw) {
        if let Ok(parsed) = id.parse::<MessageId>() {
            assert!(
                parsed.to_string() == id,
                "message id {id:?} prints as {parsed}"
            );
        }
    }

    if let Some(value) = header_str(for_raw) {
        // The same split as gateway::receive::receive.
        let organs: Vec<String> = value
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        for o in &organs {
            let _ = o.parse::<lienthong::doc::types::OrganId>();
        }
    }

    if let Some(value) = header_str(trace_raw) {
        if let Ok(hops) = decode_trace(&value) {
            let encoded = encode_trace(&hops);
            match decode_trace(&encoded) {
                Ok(again) => assert!(again == hops, "trace round trip changed the hops"),
                // The encoded form may exceed the 16 KiB cap only if the input was near it.
                Err(p) => assert!(
                    encoded.len() > 16 * 1024,
                    "a re-encoded trace does not decode: {}",
                    p
                ),
            }
            for hop in &hops {
                if let Some(r) = hop.receipt.as_deref() {
                    let _ = serde_json::from_str::<SignedReceipt>(r);
                }
            }
        }
    }
});
