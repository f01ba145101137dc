//! API JSON bodies: every JSON the gateway deserialises from the network.
//! - `POST /api/v1/inbox/{id}/status`: `gateway::status::Report` (a receiving system);
//! - `POST /exchange/v1/status`: `exchange::RelayedStatus` (a peer gateway);
//! - a peer's answer to a delivery, and each hop of the trace: `sign::SignedReceipt`, then its
//!   `ReceiptBody` and its detached signature checked against the demo trust store.
//!
//! Properties: what deserialises serialises and deserialises back to the same value.
//! (Submit takes edXML, not JSON: the envelope_parse and verify_mutated targets cover it.)
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lienthong::exchange::RelayedStatus as Relayed;
use lienthong::gateway::status::Report;
use lienthong::sign::{ReceiptBody, SignedReceipt, TrustStore};

fn trust() -> &'static TrustStore {
    static T: OnceLock<TrustStore> = OnceLock::new();
    T.get_or_init(common::demo_trust)
}

fuzz_target!(|data: &[u8]| {
    // Report has no Serialize: deserialising is the whole of its decoding.
    let _ = serde_json::from_slice::<Report>(data);

    if let Ok(relayed) = serde_json::from_slice::<Relayed>(data) {
        let text = match serde_json::to_vec(&relayed) {
            Ok(t) => t,
            Err(e) => panic!("a decoded status event does not encode: {e}"),
        };
        match serde_json::from_slice::<Relayed>(&text) {
            Ok(back) => assert!(back.event == relayed.event, "status event round trip"),
            Err(e) => panic!("a re-encoded status event does not decode: {e}"),
        }
    }

    if let Ok(receipt) = serde_json::from_slice::<SignedReceipt>(data) {
        let text = serde_json::to_string(&receipt).unwrap_or_default();
        match serde_json::from_str::<SignedReceipt>(&text) {
            Ok(back) => assert!(back == receipt, "receipt round trip"),
            Err(e) => panic!("a re-encoded receipt does not decode: {e}"),
        }
        let _ = serde_json::from_str::<ReceiptBody>(&receipt.receipt);
        let body: Option<ReceiptBody> = serde_json::from_str(&receipt.receipt).ok();
        let (organ, id, digest) = body
            .as_ref()
            .map(|b| {
                (
                    b.organ.as_str(),
                    b.message_id.as_str(),
                    b.digest_sha256.as_str(),
                )
            })
            .unwrap_or(("TU.BENTRE", "00000000000000000000000000000000", ""));
        // Only a receipt really signed by a demo organ's key could pass; a forged one never.
        if receipt
            .verify(organ, id, digest, trust(), &common::verify_options())
            .is_ok()
        {
            panic!("FORGERY: a fuzzed receipt verified");
        }
    }
});
