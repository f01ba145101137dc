//! The exchange protocol between gateways, in one place: the paths, the headers beside a
//! delivery's signed body, the hop trace, the status-event body and the protocol version. The
//! relay client (`relay::worker`) writes with it and the exchange listener (`api::routes`) reads
//! with it, so the two cannot drift apart.
//!
//! A delivery is `POST` [`EXCHANGE_PATH`] with the signed edXML envelope as `application/xml`
//! and the headers of [`DeliveryHeaders`]; the peer answers 200 with a `sign::SignedReceipt`
//! (JSON), signed only once the document is durable there. A status event is `POST`
//! [`STATUS_PATH`] with a [`RelayedStatus`] as `application/json`, answered 200 once recorded.
//! Both carry [`H_VERSION`]; a peer that sends none speaks version 1 (gateways from before the
//! header), one that sends a version this gateway does not speak is refused
//! ([`ProtocolError::UnsupportedVersion`]) before anything is read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::store::{HopRecord, MessageId, StatusEvent};

/// The exchange path for deliveries.
pub const EXCHANGE_PATH: &str = "/exchange/v1/messages";
/// The exchange path for status events.
pub const STATUS_PATH: &str = "/exchange/v1/status";

/// The protocol version this gateway speaks (and sends in [`H_VERSION`]).
pub const VERSION: &str = "1";
/// Header carrying the protocol version.
pub const H_VERSION: &str = "x-lienthong-exchange";
/// Header carrying the message id.
pub const H_MESSAGE_ID: &str = "x-lienthong-message-id";
/// Header carrying the final recipients this delivery is for (comma-separated organ ids).
pub const H_FOR: &str = "x-lienthong-for";
/// Header carrying the hop trace: base64url of the JSON list of hop records.
pub const H_TRACE: &str = "x-lienthong-trace";
/// Largest trace header we decode.
pub const MAX_TRACE_BYTES: usize = 16 * 1024;

/// Why a request on the exchange does not follow the protocol (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A required header is absent (or not visible ASCII).
    #[error("{name} is required")]
    MissingHeader {
        /// The header.
        name: &'static str,
    },
    /// The message id is not 32 lowercase hex digits.
    #[error("message id is not 32 hex digits")]
    BadId,
    /// [`H_FOR`] names no organ.
    #[error("no recipient named")]
    NoRecipient,
    /// The trace is too large, not base64url, or not a JSON list of hop records.
    #[error("{0}")]
    BadTrace(String),
    /// The peer speaks a version of the protocol this gateway does not.
    #[error("exchange protocol version {got} is not spoken here (this gateway speaks {VERSION})")]
    UnsupportedVersion {
        /// What the peer sent.
        got: String,
    },
}

impl ProtocolError {
    /// The stable name of the refusal (the metrics label and the problem type).
    pub fn name(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "exchange/missing-header",
            Self::BadId => "exchange/bad-id",
            Self::NoRecipient => "exchange/no-recipient",
            Self::BadTrace(_) => "exchange/bad-trace",
            Self::UnsupportedVersion { .. } => "exchange/unsupported-version",
        }
    }
}

/// The headers of a delivery, beside its signed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryHeaders {
    /// The gateway message id (the same on every hop).
    pub message_id: MessageId,
    /// The final recipients this copy is for (a subset of the signed `To`).
    pub for_organs: Vec<String>,
    /// The hops it passed, each signed by its gateway, the sender's first.
    pub trace: Vec<HopRecord>,
}

impl DeliveryHeaders {
    /// The headers to send, version and content type included.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/xml".to_owned()),
            (H_VERSION, VERSION.to_owned()),
            (H_MESSAGE_ID, self.message_id.to_string()),
            (H_FOR, self.for_organs.join(",")),
            (H_TRACE, encode_trace(&self.trace)),
        ]
    }

    /// Reads the headers of a delivery; `get` answers a header's value by its lowercase name.
    pub fn from_headers<'a>(
        get: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ProtocolError> {
        check_version(get(H_VERSION))?;
        let required = |name: &'static str| get(name).ok_or(ProtocolError::MissingHeader { name });
        let message_id = required(H_MESSAGE_ID)?
            .parse()
            .map_err(|_| ProtocolError::BadId)?;
        let for_organs: Vec<String> = required(H_FOR)?
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if for_organs.is_empty() {
            return Err(ProtocolError::NoRecipient);
        }
        let trace = decode_trace(required(H_TRACE)?)?;
        Ok(Self {
            message_id,
            for_organs,
            trace,
        })
    }
}

/// Refuses a version other than [`VERSION`]; none is version 1.
pub fn check_version(sent: Option<&str>) -> Result<(), ProtocolError> {
    match sent.map(str::trim) {
        None => Ok(()),
        Some(v) if v == VERSION => Ok(()),
        Some(v) => Err(ProtocolError::UnsupportedVersion {
            got: v.chars().take(32).collect(),
        }),
    }
}

/// Encodes a hop trace for [`H_TRACE`].
pub fn encode_trace(hops: &[HopRecord]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(hops).unwrap_or_default())
}

/// Decodes an [`H_TRACE`] value (base64url JSON of hop records, at most [`MAX_TRACE_BYTES`]).
/// Public for the fuzz target `exchange_headers` (fuzz/).
pub fn decode_trace(s: &str) -> Result<Vec<HopRecord>, ProtocolError> {
    if s.len() > MAX_TRACE_BYTES {
        return Err(ProtocolError::BadTrace("trace header too large".into()));
    }
    let raw = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| ProtocolError::BadTrace("trace is not base64url".into()))?;
    serde_json::from_slice(&raw).map_err(|e| ProtocolError::BadTrace(format!("trace: {e}")))
}

/// A status event as it travels between gateways (the body of [`STATUS_PATH`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayedStatus {
    /// The event.
    pub event: StatusEvent,
}

/// The headers of a status event.
pub fn status_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_owned()),
        (H_VERSION, VERSION.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn hop(organ: &str) -> HopRecord {
        HopRecord {
            organ: organ.parse().unwrap(),
            at_ms: 1_700_000_000_000,
            receipt: Some("{\"r\":1}".into()),
        }
    }

    fn sample() -> DeliveryHeaders {
        DeliveryHeaders {
            message_id: MessageId::from_bytes([0xab; 16]),
            for_organs: vec!["TU.BENTRE".into(), "HU.CHAUTHANH".into()],
            trace: vec![hop("HU.GIONGTROM"), hop("TU.BENTRE")],
        }
    }

    fn read(headers: &[(&'static str, String)]) -> Result<DeliveryHeaders, ProtocolError> {
        let map: HashMap<&str, &str> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        DeliveryHeaders::from_headers(|n| map.get(n).copied())
    }

    #[test]
    fn every_delivery_header_round_trips() {
        let h = sample();
        let sent = h.to_headers();
        for name in [H_VERSION, H_MESSAGE_ID, H_FOR, H_TRACE] {
            assert!(sent.iter().any(|(k, _)| *k == name), "{name} not sent");
        }
        assert_eq!(read(&sent).unwrap(), h);
    }

    #[test]
    fn an_unknown_version_is_refused_and_none_is_version_one() {
        let mut sent = sample().to_headers();
        sent.retain(|(k, _)| *k != H_VERSION);
        assert_eq!(read(&sent).unwrap(), sample());
        sent.push((H_VERSION, "2".into()));
        let e = read(&sent).unwrap_err();
        assert_eq!(e, ProtocolError::UnsupportedVersion { got: "2".into() });
        assert_eq!(e.name(), "exchange/unsupported-version");
        assert!(check_version(Some(VERSION)).is_ok());
    }

    #[test]
    fn each_missing_or_bad_header_is_named() {
        for (drop, want) in [
            (H_MESSAGE_ID, "exchange/missing-header"),
            (H_FOR, "exchange/missing-header"),
            (H_TRACE, "exchange/missing-header"),
        ] {
            let mut sent = sample().to_headers();
            sent.retain(|(k, _)| *k != drop);
            let e = read(&sent).unwrap_err();
            assert_eq!(e.name(), want);
            assert_eq!(e, ProtocolError::MissingHeader { name: drop });
        }
        let replace = |name: &'static str, value: &str| {
            let mut sent = sample().to_headers();
            for (k, v) in &mut sent {
                if *k == name {
                    *v = value.to_owned();
                }
            }
            read(&sent).unwrap_err()
        };
        assert_eq!(replace(H_MESSAGE_ID, "ABAB").name(), "exchange/bad-id");
        assert_eq!(replace(H_FOR, " , ,").name(), "exchange/no-recipient");
        assert_eq!(replace(H_TRACE, "!!").name(), "exchange/bad-trace");
        let big = "A".repeat(MAX_TRACE_BYTES + 1);
        assert_eq!(
            replace(H_TRACE, &big),
            ProtocolError::BadTrace("trace header too large".into())
        );
    }

    #[test]
    fn a_status_event_round_trips_as_json() {
        let event = StatusEvent {
            message: MessageId::from_bytes([1; 16]),
            organ: "TU.BENTRE".parse().unwrap(),
            code: "06".parse().unwrap(),
            note: Some("xong".into()),
            at_ms: 5,
        };
        let json = serde_json::to_vec(&RelayedStatus {
            event: event.clone(),
        })
        .unwrap();
        let back: RelayedStatus = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.event, event);
        assert!(serde_json::from_slice::<RelayedStatus>(b"{\"event\":{},\"x\":1}").is_err());
        assert!(status_headers().contains(&(H_VERSION, VERSION.to_owned())));
    }
}
