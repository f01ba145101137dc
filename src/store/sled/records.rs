//! What the sled trees hold (the metadata, outbox and membership records), how records are
//! encoded, decoded and counted inside and outside transactions, and the reads every concern
//! shares.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::store::types::hex_encode;
use crate::store::{Delivery, Fault, MessageId, MessageMeta, OrganId, Priority, StoreError, keys};

use super::{SledStore, T_DELIVERIES, T_META};

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The metadata record: the public metadata plus what purging needs to find every index entry.
#[derive(Serialize, Deserialize)]
pub(super) struct MessageRecord {
    pub(super) meta: MessageMeta,
    /// Key of this message in the sent index.
    pub(super) sent_key: Vec<u8>,
    /// Local recipient organs (inbox/membership entries).
    pub(super) local: Vec<OrganId>,
    /// Key of this message in the public index (hex), if it has an entry; records written
    /// before the register existed lack it and are found by a scan when purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) public_key: Option<String>,
    /// Token of the document's file (see `documents`); records written before document files
    /// existed lack it and keep their bytes in the `bytes` tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) file: Option<u64>,
    /// SHA-256 of the document's bytes (hex), written in the accept's transaction and checked
    /// on every read; records written before it existed lack it (their size is still checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sha256: Option<String>,
}

impl MessageRecord {
    /// The recorded SHA-256 of the document; a value that is not 64 hex digits is corruption.
    pub(super) fn sha256(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let Some(hex) = &self.sha256 else {
            return Ok(None);
        };
        crate::store::types::hex_decode(hex)
            .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                what: T_META,
                key: hex_encode(self.meta.id.as_bytes()),
            })
    }
}

/// Why a message is quarantined: what was found, and when.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Quarantine {
    pub(super) fault: Fault,
    pub(super) at_ms: i64,
}

/// One outbox entry's value.
#[derive(Serialize, Deserialize)]
pub(super) struct OutboxRecord {
    pub(super) message: MessageId,
    pub(super) recipient: OrganId,
    #[serde(with = "crate::store::types::priority_code")]
    pub(super) priority: Priority,
    pub(super) attempts: u32,
    pub(super) next_attempt_ms: i64,
    pub(super) last_error: Option<String>,
}

/// Inbox membership of (organ, message): where its pending entry is and whether it was acked.
/// This is also the authorisation record of `inbox_get`: no membership, no access.
#[derive(Serialize, Deserialize)]
pub(super) struct Membership {
    pub(super) inbox_key: Vec<u8>,
    pub(super) acked: bool,
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::engine("encode a record", e))
}

/// Reads and decodes one record of `tree` (named `name` in errors); `what` says what was read.
pub(super) fn get_decoded<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    match tree.get(key).map_err(|e| StoreError::engine(what, e))? {
        Some(v) => decode(name, key, &v).map(Some),
        None => Ok(None),
    }
}

pub(super) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|_| StoreError::Corrupt {
        what: tree,
        key: hex_encode(key),
    })
}

pub(super) fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Decoding inside a transaction: a corrupt record aborts it.
pub(super) fn tx_decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &[u8],
) -> TxResult<T> {
    decode(tree, key, v).map_err(ConflictableTransactionError::Abort)
}

pub(super) fn tx_error(op: &'static str) -> impl Fn(TransactionError<StoreError>) -> StoreError {
    move |e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::engine(op, e),
    }
}

pub(super) fn counter_add(t: &TransactionalTree, key: &[u8], n: u64) -> TxResult<()> {
    let v = keys::counter_value(t.get(key)?.as_deref()).saturating_add(n);
    t.insert(key, &v.to_be_bytes())?;
    Ok(())
}

pub(super) fn counter_sub(t: &TransactionalTree, key: &[u8], n: u64) -> TxResult<()> {
    let v = keys::counter_value(t.get(key)?.as_deref()).saturating_sub(n);
    if v == 0 {
        t.remove(key)?;
    } else {
        t.insert(key, &v.to_be_bytes())?;
    }
    Ok(())
}

impl SledStore {
    /// Whether message `id` is in the live dedup index (not purged).
    pub(super) fn is_live(&self, id: &[u8]) -> Result<bool, StoreError> {
        self.t()
            .dedup
            .contains_key(id)
            .map_err(|e| StoreError::engine("read the dedup index", e))
    }

    /// The document bytes of `record`: its file, checked against the recorded size and
    /// SHA-256, or the `bytes` tree for records written before document files. `None` if a
    /// purge removed them meanwhile. A document found altered is quarantined, and
    /// [`StoreError::Altered`] returned instead of its bytes.
    pub(super) fn bytes_of(&self, record: &MessageRecord) -> Result<Option<Vec<u8>>, StoreError> {
        let id = &record.meta.id;
        let Some(token) = record.file else {
            return self
                .t()
                .bytes
                .get(id.as_bytes())
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(|e| StoreError::engine("read message bytes", e));
        };
        let read =
            self.inner
                .documents
                .read(id, token, record.meta.size, record.sha256()?.as_ref());
        let fault = match read {
            Ok(Some(bytes)) => {
                // Whole again (restored from a backup): released.
                if self.is_quarantined(id)? {
                    self.t()
                        .quarantine
                        .remove(id.as_bytes())
                        .map_err(|e| StoreError::engine("release a message", e))?;
                }
                return Ok(Some(bytes));
            }
            // Gone: a purge deleted it after the caller read the record — unless the record
            // is still there, in which case the file was lost.
            Ok(None) if self.read_record(id)?.is_none() => return Ok(None),
            Ok(None) => Fault::Missing,
            Err(StoreError::Altered { fault, .. }) => fault,
            Err(other) => return Err(other),
        };
        self.quarantine(id, fault)?;
        Err(StoreError::Altered { id: *id, fault })
    }

    /// Records that `id`'s document was found altered (kept until the message is purged or a
    /// check finds it whole again). Not durable until flush: a lost record is found again by
    /// the next read.
    pub(super) fn quarantine(&self, id: &MessageId, fault: Fault) -> Result<(), StoreError> {
        let value = encode(&Quarantine {
            fault,
            at_ms: crate::store::now_ms(),
        })?;
        self.t()
            .quarantine
            .insert(id.as_bytes(), value)
            .map_err(|e| StoreError::engine("quarantine a message", e))?;
        Ok(())
    }

    /// Whether `id` is quarantined.
    pub(super) fn is_quarantined(&self, id: &MessageId) -> Result<bool, StoreError> {
        let q = &self.t().quarantine;
        if q.is_empty() {
            return Ok(false);
        }
        q.contains_key(id.as_bytes())
            .map_err(|e| StoreError::engine("read the quarantine", e))
    }

    /// The membership key of (`organ`, `id`) and whether `organ` acknowledged it (`false`
    /// without a membership).
    pub(super) fn acked(&self, organ: &str, id: &MessageId) -> Result<(Vec<u8>, bool), StoreError> {
        let mkey = keys::membership_key(&keys::string_prefix(organ, "organ")?, id);
        let acked = match self
            .t()
            .membership
            .get(&mkey)
            .map_err(|e| StoreError::engine("read the inbox", e))?
        {
            Some(v) => decode::<Membership>(super::T_MEMBERSHIP, &mkey, &v)?.acked,
            None => false,
        };
        Ok((mkey, acked))
    }

    pub(super) fn read_record(&self, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        get_decoded(&self.t().meta, T_META, id.as_bytes(), "read")
    }

    pub(super) fn deliveries_of(
        &self,
        id: &MessageId,
    ) -> Result<Vec<(OrganId, Delivery)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t().deliveries.scan_prefix(id.as_bytes()) {
            let (k, v) = kv.map_err(|e| StoreError::engine("read", e))?;
            let recipient = k
                .get(16..)
                .and_then(|r| std::str::from_utf8(r).ok())
                .and_then(|r| r.parse::<OrganId>().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    what: T_DELIVERIES,
                    key: hex_encode(&k),
                })?;
            out.push((recipient, decode(T_DELIVERIES, &k, &v)?));
        }
        Ok(out)
    }
}
