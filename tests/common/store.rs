//! Store fixtures shared by the `store_*` suites: a message for one local inbox, its digest,
//! and a store opened with the default limits.

use std::path::Path;

use lienthong::store::{
    Accept, Level, MessageId, MessageMeta, OrganId, Origin, Priority, SledStore, StoreLimits,
};

/// The local organ every fixture message is for.
pub const BENTRE: &str = "TU.BENTRE";

/// An organ id from its text (a test's own constant: always well formed).
pub fn org(text: &str) -> OrganId {
    text.parse().unwrap()
}

/// A message from HU.CHAUTHANH for BENTRE's inbox, received at `at_ms`, whose bytes wrap `body`
/// (so different bodies have different digests).
pub fn accept(id: MessageId, body: &str, at_ms: i64) -> Accept {
    accept_bytes(
        id,
        format!("<edXMLEnvelope>{body}</edXMLEnvelope>").into_bytes(),
        at_ms,
    )
}

/// Like [`accept`], with the document bytes given.
pub fn accept_bytes(id: MessageId, bytes: Vec<u8>, at_ms: i64) -> Accept {
    Accept {
        meta: MessageMeta {
            id,
            document_id: format!("{id}"),
            from: org("HU.CHAUTHANH"),
            to: vec![org(BENTRE)],
            priority: Priority::Normal,
            level: Level::Thuong,
            digest_hex: digest(&bytes),
            size: bytes.len() as u64,
            received_at_ms: at_ms,
            origin: Origin::Submitted,
            hops: vec![],
        },
        bytes,
        local: vec![org(BENTRE)],
        forward: vec![],
    }
}

/// SHA-256 of `bytes`, lower-case hex (what the gateway records as the digest).
pub fn digest(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The store in `path`, default limits.
pub fn open(path: &Path) -> SledStore {
    SledStore::open(path, StoreLimits::default()).unwrap()
}

/// The sled database in `path`, opened directly (to read or rebuild what the store wrote).
/// Dropping a store does not wait for sled's I/O threads, which release its file lock a moment
/// later (spacejam/sled#1234): retry that one error (sled says it only in text) for a few
/// seconds, as the store's own open does.
pub fn raw_sled(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(e))
                if e.to_string().starts_with("could not acquire lock on")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}
