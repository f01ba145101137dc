//! Binary keys. Big-endian integers and length-prefixed strings so that sled's lexicographic
//! byte order is the order we serve in, and one organ's key prefix never matches another's
//! (`"VPTW"` vs `"VPTW2"`).

use super::StoreError;
use super::types::{Lane, MessageId};

/// `len (u16 BE) ‖ bytes`.
pub(super) fn string_prefix(s: &str, field: &'static str) -> Result<Vec<u8>, StoreError> {
    let len = u16::try_from(s.len()).map_err(|_| StoreError::Invalid {
        field,
        reason: "an organ id is at most 65535 bytes",
    })?;
    if s.is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "an organ id is not empty",
        });
    }
    let mut out = Vec::with_capacity(2 + s.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(out)
}

/// Time as a key: the sign bit flipped so that negative times sort before positive ones.
pub(super) fn time_key(ms: i64) -> [u8; 8] {
    (u64::from_be_bytes(ms.to_be_bytes()) ^ (1 << 63)).to_be_bytes()
}

/// Queue key `owner ‖ lane ‖ seq` (outbox per peer, inbox per organ).
pub(super) fn queue_key(owner_prefix: &[u8], lane: Lane, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner_prefix.len() + 9);
    k.extend_from_slice(owner_prefix);
    k.push(lane.rank());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The lane byte of a queue key whose owner prefix is `owner_len` long.
pub(super) fn queue_key_lane(key: &[u8], owner_len: usize) -> Option<Lane> {
    key.get(owner_len).copied().and_then(Lane::from_rank)
}

/// `id ‖ recipient` (delivery states).
pub(super) fn delivery_key(id: &MessageId, recipient: &str) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.extend_from_slice(recipient.as_bytes());
    k
}

/// `organ ‖ id` (inbox membership and ack state).
pub(super) fn membership_key(organ_prefix: &[u8], id: &MessageId) -> Vec<u8> {
    let mut k = organ_prefix.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

/// `from ‖ received_at ‖ seq` (sent index).
pub(super) fn sent_key(from_prefix: &[u8], received_at_ms: i64, seq: u64) -> Vec<u8> {
    let mut k = from_prefix.to_vec();
    k.extend_from_slice(&time_key(received_at_ms));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// `id ‖ at ‖ seq` (status events).
pub(super) fn status_key(id: &MessageId, at_ms: i64, seq: u64) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.extend_from_slice(&time_key(at_ms));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Counter key of one peer's lane: `b'o' ‖ peer ‖ lane`.
pub(super) fn outbox_counter_key(peer_prefix: &[u8], lane: Lane) -> Vec<u8> {
    let mut k = Vec::with_capacity(peer_prefix.len() + 2);
    k.push(b'o');
    k.extend_from_slice(peer_prefix);
    k.push(lane.rank());
    k
}

/// Counter key of the number of stored messages.
pub(super) const MESSAGES_COUNTER: &[u8] = b"m";

/// Reads a big-endian u64 counter value (absent = 0).
pub(super) fn counter_value(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// A status-outbox key: `peer 0x00 seq` — FIFO per peer.
pub(super) fn status_out_key(peer: &str, seq: u64) -> Vec<u8> {
    let mut k = peer.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        let keys: Vec<_> = times.iter().map(|t| time_key(*t)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn organ_prefixes_do_not_nest() {
        let a = string_prefix("VPTW", "organ").unwrap();
        let b = string_prefix("VPTW2", "organ").unwrap();
        assert!(!b.starts_with(&a));
        assert!(string_prefix("", "organ").is_err());
    }
}
