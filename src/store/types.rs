//! The records the store keeps and hands out: ids, priorities, message metadata, delivery
//! states, outbox/inbox entries and status events.
//!
//! Everything here is serde-serialisable: values are stored as JSON inside sled; keys are built
//! separately (binary, big-endian) in `keys.rs` so that sled's byte order is the order we want.

use std::fmt;
use std::str::FromStr;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::StoreError;
pub use crate::doc::label::Level;
pub use crate::doc::types::{OrganId, StatusCode};

// === impl MessageId ===

/// A message id: 128 random bits, written as 32 lowercase hex characters.
///
/// The HTTP layer parses ids from URLs with [`FromStr`]; anything that is not exactly 32
/// lowercase hex characters (a path such as `../x`, upper case, whitespace, a longer string) is
/// refused, so an id can never be used to walk out of a key space or a directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// Number of characters in the text form.
    pub const TEXT_LEN: usize = 32;

    /// A fresh random id from the operating system's CSPRNG (ring `SystemRandom`).
    pub fn random() -> Result<Self, StoreError> {
        let mut raw = [0u8; 16];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| StoreError::Random)?;
        Ok(Self(raw))
    }

    /// The id from its 16 raw bytes.
    pub const fn from_bytes(raw: [u8; 16]) -> Self {
        Self(raw)
    }

    /// The id read back from a store's record or column `what`: anything but 16 bytes is
    /// [`StoreError::Corrupt`].
    pub(crate) fn from_stored(what: &'static str, raw: &[u8]) -> Result<Self, StoreError> {
        <[u8; 16]>::try_from(raw)
            .map(Self)
            .map_err(|_| StoreError::Corrupt {
                what,
                key: hex_encode(raw),
            })
    }

    /// The 16 raw bytes (the binary key used inside the store).
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl FromStr for MessageId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.as_bytes();
        if text.len() != Self::TEXT_LEN {
            return Err(StoreError::InvalidId {
                reason: "a message id has exactly 32 characters",
            });
        }
        let mut raw = [0u8; 16];
        for (byte, pair) in raw.iter_mut().zip(text.chunks_exact(2)) {
            let (hi, lo) = match pair {
                [hi, lo] => (hex_value(*hi), hex_value(*lo)),
                _ => (None, None),
            };
            match (hi, lo) {
                (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
                _ => {
                    return Err(StoreError::InvalidId {
                        reason: "a message id is lowercase hexadecimal only",
                    });
                }
            }
        }
        Ok(Self(raw))
    }
}

/// Value of one lowercase hex digit; upper case is refused so that each id has one spelling.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

// === impl Priority ===

/// The document's priority ("độ khẩn"): one type, the envelope's, re-exported here because
/// the store queues by it. `MessageMeta::priority` keeps the raw code 0..=4 (the stored JSON).
pub use crate::doc::types::Priority;

/// The priority as its code 0..=4 in the stored JSON (a number, as the store has always kept it;
/// the envelope's own serde form is the text of the code).
pub(crate) mod priority_code {
    use super::Priority;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the code.
    pub(crate) fn serialize<S: Serializer>(p: &Priority, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(p.code())
    }

    /// Reads a code, refusing anything above 4.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
        let raw = u8::deserialize(d)?;
        Priority::from_code(raw).ok_or_else(|| serde::de::Error::custom("a priority is 0 to 4"))
    }
}

/// A delivery lane. Outbox and inbox are served top lane first, FIFO within a lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Priorities 3 (Hỏa tốc) and 4 (Hỏa tốc hẹn giờ).
    HoaToc,
    /// Priority 2 (Thượng khẩn).
    ThuongKhan,
    /// Priority 1 (Khẩn).
    Khan,
    /// Priority 0 (Thường).
    Thuong,
}

impl Lane {
    /// The lane `priority` is queued in: 3 and 4 share the top lane.
    pub const fn of(priority: Priority) -> Self {
        match priority {
            Priority::Normal => Self::Thuong,
            Priority::Urgent => Self::Khan,
            Priority::VeryUrgent => Self::ThuongKhan,
            Priority::Express | Priority::ExpressTimed => Self::HoaToc,
        }
    }

    /// All lanes, served in this order.
    pub const ALL: [Lane; 4] = [Lane::HoaToc, Lane::ThuongKhan, Lane::Khan, Lane::Thuong];

    /// The rank in serving order (0 served first); this byte is part of the queue keys.
    pub const fn rank(self) -> u8 {
        match self {
            Lane::HoaToc => 0,
            Lane::ThuongKhan => 1,
            Lane::Khan => 2,
            Lane::Thuong => 3,
        }
    }

    /// The lane for a rank byte read back from a key.
    pub const fn from_rank(rank: u8) -> Option<Lane> {
        match rank {
            0 => Some(Lane::HoaToc),
            1 => Some(Lane::ThuongKhan),
            2 => Some(Lane::Khan),
            3 => Some(Lane::Thuong),
            _ => None,
        }
    }

    /// A stable ASCII label (metrics).
    pub const fn as_str(self) -> &'static str {
        match self {
            Lane::HoaToc => "hoa_toc",
            Lane::ThuongKhan => "thuong_khan",
            Lane::Khan => "khan",
            Lane::Thuong => "thuong",
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === message records ===

/// How a message reached this gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Submitted by an office of this gateway.
    Submitted,
    /// Relayed to us by a peer gateway.
    Relayed {
        /// The peer organ that sent it to us.
        from_peer: OrganId,
    },
}

/// One hop a message took (appended when a peer receipt comes back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopRecord {
    /// The organ (gateway) reached.
    pub organ: OrganId,
    /// When, in ms since the Unix epoch.
    pub at_ms: i64,
    /// The signed receipt text produced by the relay layer, opaque to the store.
    pub receipt: Option<String>,
}

/// What the store knows about a message besides its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// The message id (dedup key).
    pub id: MessageId,
    /// The edXML document id.
    pub document_id: String,
    /// The sending organ.
    pub from: OrganId,
    /// The final recipient organs.
    pub to: Vec<OrganId>,
    /// The priority (stored as its code 0..=4).
    #[serde(with = "priority_code")]
    pub priority: Priority,
    /// The effective classification level (stored as its token; a record with any other
    /// token does not decode: it is reported corrupt, never read as a lower level).
    pub level: Level,
    /// Digest of the bytes (hex); a re-sent id with another digest is a conflict.
    pub digest_hex: String,
    /// Size of the bytes.
    pub size: u64,
    /// When this gateway received it, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// Submitted here or relayed by a peer.
    pub origin: Origin,
    /// Hops recorded so far.
    pub hops: Vec<HopRecord>,
}

/// Delivery state of a message for one recipient organ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Waiting in the outbox of `next_hop`, never tried.
    Queued {
        /// The peer gateway it goes to next.
        next_hop: OrganId,
    },
    /// Tried and failed at least once; will be retried.
    InTransit {
        /// The peer gateway it goes to next.
        next_hop: OrganId,
        /// Attempts so far.
        attempts: u32,
        /// The last error, as text.
        last_error: String,
        /// Not retried before this time (ms since the Unix epoch).
        next_attempt_ms: i64,
    },
    /// Accepted by the next hop, which returned a receipt.
    Delivered {
        /// The peer that accepted it.
        via: OrganId,
        /// When.
        at_ms: i64,
        /// The receipt text.
        receipt: String,
    },
    /// Given up on.
    DeadLettered {
        /// Why.
        reason: String,
        /// When.
        at_ms: i64,
    },
    /// Placed in this gateway's inbox for that organ.
    Local,
}

impl Delivery {
    /// The state without its details (for filtering).
    pub const fn kind(&self) -> DeliveryKind {
        match self {
            Delivery::Queued { .. } => DeliveryKind::Queued,
            Delivery::InTransit { .. } => DeliveryKind::InTransit,
            Delivery::Delivered { .. } => DeliveryKind::Delivered,
            Delivery::DeadLettered { .. } => DeliveryKind::DeadLettered,
            Delivery::Local => DeliveryKind::Local,
        }
    }
}

/// The name of a [`Delivery`] state, used as a filter in [`Store::sent_list`](super::Store::sent_list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// [`Delivery::Queued`].
    Queued,
    /// [`Delivery::InTransit`].
    InTransit,
    /// [`Delivery::Delivered`].
    Delivered,
    /// [`Delivery::DeadLettered`].
    DeadLettered,
    /// [`Delivery::Local`].
    Local,
}

impl DeliveryKind {
    /// The snake_case name (as in JSON and query strings).
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Queued => "queued",
            DeliveryKind::InTransit => "in_transit",
            DeliveryKind::Delivered => "delivered",
            DeliveryKind::DeadLettered => "dead_lettered",
            DeliveryKind::Local => "local",
        }
    }
}

impl FromStr for DeliveryKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            DeliveryKind::Queued,
            DeliveryKind::InTransit,
            DeliveryKind::Delivered,
            DeliveryKind::DeadLettered,
            DeliveryKind::Local,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or(StoreError::Invalid {
            field: "state",
            reason: "a state is queued, in_transit, delivered, dead_lettered or local",
        })
    }
}

/// A status event reported for a message by an organ (edXML status codes "01".."16").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// The message.
    pub message: MessageId,
    /// The organ reporting.
    pub organ: OrganId,
    /// The status code (stored and sent as its two digits, "01".."16").
    pub code: StatusCode,
    /// Free text.
    pub note: Option<String>,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
}

impl StatusEvent {
    /// Whether this is a recall request (13) made by `sender`, the document's sending organ: a
    /// 13 from any other organ recalls nothing.
    pub fn is_recall_by(&self, sender: &str) -> bool {
        self.code == StatusCode::RecallRequested && self.organ == sender
    }
}

// === inputs and outputs of the Store trait ===

/// A message to accept: bytes, metadata and where it goes.
#[derive(Clone, Debug)]
pub struct Accept {
    /// Metadata (its `id` is the dedup key).
    pub meta: MessageMeta,
    /// The document bytes as signed.
    pub bytes: Vec<u8>,
    /// Organs whose inbox on this gateway receives it.
    pub local: Vec<OrganId>,
    /// `(next hop peer organ, final recipient organ)` pairs queued for relay.
    pub forward: Vec<(OrganId, OrganId)>,
}

/// What [`Store::accept`](super::Store::accept) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptOutcome {
    /// Stored, queued and durable.
    Stored,
    /// This id was already stored with the same digest; nothing changed. Durable: the earlier
    /// write is covered by a flush before this is returned.
    Duplicate {
        /// The metadata stored the first time.
        meta: Box<MessageMeta>,
    },
    /// This id was stored with the same digest and has since been purged (retention); only its
    /// dedup tombstone remains. Nothing changed.
    DuplicatePurged {
        /// The id.
        id: MessageId,
    },
    /// This id is already stored with a different digest; nothing changed.
    Conflict {
        /// The id.
        id: MessageId,
        /// The digest stored for it.
        existing_digest_hex: String,
    },
}

/// Opaque handle of an outbox entry (its key), given back to `mark_delivered` and friends.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OutboxKey(pub(super) Vec<u8>);

impl fmt::Debug for OutboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutboxKey(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Opaque handle of a queued status event (its queue key), given back to
/// [`Store::status_sent`](super::Store::status_sent).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StatusOutKey(pub(super) Vec<u8>);

impl fmt::Debug for StatusOutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusOutKey({})", hex_encode(&self.0))
    }
}

/// One message waiting for one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The handle to pass back.
    pub key: OutboxKey,
    /// The message.
    pub message: MessageId,
    /// The final recipient organ this entry delivers to.
    pub recipient: OrganId,
    /// Its priority.
    pub priority: Priority,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not retried before this time (ms since the Unix epoch; 0 = at once).
    pub next_attempt_ms: i64,
}

/// Depth of one lane of one peer's outbox (metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxDepth {
    /// The peer organ.
    pub peer: OrganId,
    /// The lane.
    pub lane: Lane,
    /// Entries waiting.
    pub count: u64,
}

/// A pending (not yet acknowledged) inbox item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxItem {
    /// The message id.
    pub id: MessageId,
    /// Its metadata.
    pub meta: MessageMeta,
}

/// A pending inbox item with what the floor above needs to decide on it and to list it, read
/// by the engine in the same pass as the item (one call, not one call per item and fact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// The item.
    pub item: InboxItem,
    /// Its filing record (the signed label `decide()` reads), if one was written.
    pub filing: Option<super::Filing>,
    /// Whether its sender's organ has asked for it back (status 13 from `item.meta.from`).
    pub recalled: bool,
}

/// What [`Store::inbox_ack`](super::Store::inbox_ack) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// Acknowledged now.
    Acked,
    /// Was already acknowledged; nothing changed.
    AlreadyAcked,
}

/// A message as the sender sees it: metadata and per-recipient delivery states.
pub type SentItem = (MessageMeta, Vec<(OrganId, Delivery)>);

/// Opaque position in a [`Store::sent_list`](super::Store::sent_list) listing, safe to put in
/// a URL (lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SentCursor(pub(super) String);

impl SentCursor {
    /// A cursor from its text form, as a client sends it back (`?cursor=`). An invalid cursor
    /// only makes a page start elsewhere; it never reaches another organ's documents, because
    /// `sent_list` filters by sender.
    pub fn from_query(text: String) -> Self {
        Self(text)
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SentCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SentCursor {
    type Err = StoreError;

    /// Checks the form only (even-length lowercase hex, bounded); the store checks the content.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 1024
            && s.len() % 2 == 0
            && s.bytes().all(|c| hex_value(c).is_some());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(StoreError::Invalid {
                field: "cursor",
                reason: "a cursor is the text a previous listing returned",
            })
        }
    }
}

/// Counters for health and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Messages whose metadata is held (purged ones are not counted).
    pub messages: u64,
    /// sled's `size_on_disk` of both databases (live messages and register) plus the document
    /// files.
    pub bytes_on_disk: u64,
    /// Dedup tombstones of purged messages kept in the register.
    pub tombstones: u64,
    /// Real sled flushes performed by this process since open.
    pub flushes: u64,
    /// Durable writes acknowledged since open (each waited for a flush covering it); the
    /// ratio `flushes / durable_writes` shows how well group commit batches.
    pub durable_writes: u64,
    /// Messages quarantined because their document was found altered on disk.
    pub quarantined: u64,
    /// Outbox entries this process took over from another node whose lease ran out
    /// (PostgreSQL with several nodes; always 0 on sled).
    pub lease_take_overs: u64,
    /// Database sessions this process holds open (PostgreSQL; 0 on sled).
    pub sessions_open: u64,
}

/// A message quarantined because its document was found altered on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The message.
    pub id: MessageId,
    /// What was found.
    pub fault: super::Fault,
    /// When it was found (ms since the epoch).
    pub at_ms: i64,
}

/// An index entry that names a record the store does not hold (or a record that cannot be
/// read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dangling {
    /// Which index or tree (`inbox`, `outbox`, `dedup`, `membership`, `sent`, `meta`…).
    pub index: String,
    /// Its key, hex.
    pub key: String,
}

/// What [`Store::scrub`](super::Store::scrub) found: every stored document read back and
/// checked, every index entry's target looked up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubReport {
    /// Documents read and checked.
    pub documents: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Documents stored before digests were kept: only their size could be checked.
    pub without_digest: u64,
    /// Documents found altered (now quarantined).
    pub altered: Vec<Quarantined>,
    /// Quarantined documents found whole again (restored from a backup): released.
    pub released: u64,
    /// Records that could not be decoded, by tree and key.
    pub unreadable: Vec<Dangling>,
    /// Index entries whose record is missing.
    pub dangling: Vec<Dangling>,
    /// Document files named by no record, moved aside at open (`orphans/`) for review: from a
    /// crash during an accept no one was told of, or records the database lost.
    #[serde(default)]
    pub orphans: u64,
    /// Where they are.
    #[serde(default)]
    pub orphans_dir: String,
}

impl ScrubReport {
    /// Whether anything was wrong.
    pub fn is_clean(&self) -> bool {
        self.altered.is_empty()
            && self.unreadable.is_empty()
            && self.dangling.is_empty()
            && self.orphans == 0
    }
}

/// What [`Store::purge_acked_older_than`](super::Store::purge_acked_older_than) removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Messages whose bytes, metadata and indexes were removed (dedup tombstone kept).
    pub messages: u64,
    /// Bytes of documents removed.
    pub bytes: u64,
}

pub(super) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((hex_value(*hi)? << 4) | hex_value(*lo)?),
            _ => None,
        })
        .collect()
}

pub(super) fn hex_encode(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Milliseconds since the Unix epoch, the store's time unit (0 before it). The one clock the
/// floors above read too (`gateway::now_ms` is this).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_and_refuses_other_text() {
        let id = MessageId::random().unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<MessageId>().unwrap(), id);
        for bad in [
            "",
            "../../../../etc/passwd",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef/123456789abcdef",
            "0123456789abcdef 123456789abcdef",
            "0123456789abcdeé123456789abcdef",
        ] {
            assert!(
                matches!(bad.parse::<MessageId>(), Err(StoreError::InvalidId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lanes_put_flash_first() {
        assert_eq!(
            Lane::of(Priority::Express),
            Lane::of(Priority::ExpressTimed)
        );
        let ranks: Vec<u8> = (0..=4)
            .map(|p| Lane::of(Priority::from_code(p).unwrap()).rank())
            .collect();
        assert_eq!(ranks, vec![3, 2, 1, 0, 0]);
        assert!(Priority::from_code(5).is_none());
    }

    #[test]
    fn cursor_hex_round_trip() {
        let raw = vec![0u8, 1, 0xab, 0xff];
        let c: SentCursor = hex_encode(&raw).parse().unwrap();
        assert_eq!(hex_decode(c.as_str()).unwrap(), raw);
        assert!("zz".parse::<SentCursor>().is_err());
        assert!("abc".parse::<SentCursor>().is_err());
    }
}
