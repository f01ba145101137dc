//! What happened to a message: the sent index, delivery states, status events recorded here
//! and the status events queued for relay to peers.

use std::ops::Bound;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::store::types::{hex_decode, hex_encode};
use crate::store::{
    DeliveryKind, Filing, MessageId, OrganId, SentCursor, SentItem, StatusCode, StatusEvent,
    StatusOutKey, StoreError, keys,
};

use super::records::{abort, decode, encode, tx_decode, tx_error};
use super::{SledStore, T_FILING, T_SENT, T_STATUS, T_STATUS_OUT};

impl SledStore {
    /// What every recorded status event must be: for a message this store knows (fail
    /// closed). Its code is one of the edXML codes by its type.
    fn check_status(&self, event: &StatusEvent) -> Result<(), StoreError> {
        if self.read_record(&event.message)?.is_none() {
            return Err(StoreError::NotFound { id: event.message });
        }
        Ok(())
    }

    pub(super) fn sent_list(
        &self,
        from: &str,
        state: Option<DeliveryKind>,
        since_ms: Option<i64>,
        limit: usize,
        cursor: Option<&SentCursor>,
    ) -> Result<(Vec<SentItem>, Option<SentCursor>), StoreError> {
        let prefix = keys::string_prefix(from, "from")?;
        let mut page = Vec::new();
        if limit == 0 {
            return Ok((page, None));
        }
        let start = match (cursor, since_ms) {
            (Some(c), _) => {
                let key = hex_decode(c.as_str())
                    .filter(|k| k.starts_with(&prefix))
                    .ok_or(StoreError::Invalid {
                        field: "cursor",
                        reason: "the cursor belongs to another listing",
                    })?;
                Bound::Excluded(key)
            }
            (None, Some(since)) => {
                let mut k = prefix.clone();
                k.extend_from_slice(&keys::time_key(since));
                Bound::Included(k)
            }
            (None, None) => Bound::Included(prefix.clone()),
        };
        for kv in self.t().sent.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the sent index", e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            let raw = <[u8; 16]>::try_from(v.as_ref()).map_err(|_| StoreError::Corrupt {
                what: T_SENT,
                key: hex_encode(&k),
            })?;
            let id = MessageId::from_bytes(raw);
            let Some(record) = self.read_record(&id)? else {
                continue; // purged between the index read and this one
            };
            let deliveries = self.deliveries_of(&id)?;
            if let Some(kind) = state {
                if !deliveries.iter().any(|(_, d)| d.kind() == kind) {
                    continue;
                }
            }
            page.push((record.meta, deliveries));
            if page.len() >= limit {
                return Ok((page, Some(SentCursor(hex_encode(&k)))));
            }
        }
        Ok((page, None))
    }

    pub(super) fn message(&self, id: &MessageId) -> Result<Option<SentItem>, StoreError> {
        let Some(record) = self.read_record(id)? else {
            return Ok(None);
        };
        Ok(Some((record.meta, self.deliveries_of(id)?)))
    }

    /// A fresh sequence number for a status event's keys (its record and its outbox entries).
    pub(super) fn status_seq(&self) -> Result<u64, StoreError> {
        self.inner
            .db
            .generate_id()
            .map_err(|e| StoreError::engine("number a status event", e))
    }

    pub(super) fn put_status(&self, event: StatusEvent) -> Result<(), StoreError> {
        self.check_status(&event)?;
        let value = encode(&event)?;
        let writer = self.inner.commit.begin();
        let seq = self.status_seq()?;
        let key = keys::status_key(&event.message, event.at_ms, seq);
        let idk = event.message.as_bytes();
        // The message is checked again inside the transaction: a purge may have removed it
        // since `check_status`, and an event recorded then would be kept forever.
        (&self.t().meta, &self.t().status)
            .transaction(|(meta, status)| {
                if meta.get(idk)?.is_none() {
                    return abort(StoreError::NotFound { id: event.message });
                }
                status.insert(key.as_slice(), value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error("record a status event"))?;
        self.wait(writer.ticket())
    }

    pub(super) fn statuses(&self, id: &MessageId) -> Result<Vec<StatusEvent>, StoreError> {
        self.t()
            .status
            .scan_prefix(id.as_bytes())
            .map(|kv| {
                let (k, v) = kv.map_err(|e| StoreError::engine("read status events", e))?;
                decode(T_STATUS, &k, &v)
            })
            .collect()
    }

    pub(super) fn relay_status(
        &self,
        event: StatusEvent,
        forward_to: &[OrganId],
    ) -> Result<(), StoreError> {
        self.check_status(&event)?;
        // A retried relay brings the same event again: recorded once, forwarded once.
        let seen = self
            .statuses(&event.message)?
            .iter()
            .any(|e| e.organ == event.organ && e.code == event.code && e.at_ms == event.at_ms);
        if seen {
            return self.durable();
        }
        let value = encode(&event)?;
        let writer = self.inner.commit.begin();
        let seq = self.status_seq()?;
        let status_key = keys::status_key(&event.message, event.at_ms, seq);
        let out_keys: Vec<Vec<u8>> = forward_to
            .iter()
            .map(|peer| keys::status_out_key(peer.as_str(), seq))
            .collect();
        let id_key = *event.message.as_bytes();
        let handled =
            (event.code == StatusCode::Completed).then(|| (event.organ.clone(), event.at_ms));
        let result: Result<(), TransactionError<StoreError>> = (
            &self.t().meta,
            &self.t().status,
            &self.t().status_out,
            &self.t().filing,
        )
            .transaction(|(meta, status, out, filing)| {
                // Checked again here: see `put_status`.
                if meta.get(id_key)?.is_none() {
                    return abort(StoreError::NotFound { id: event.message });
                }
                status.insert(status_key.as_slice(), value.as_slice())?;
                // The timeliness report reads the first 06 of each organ from the filing
                // record, which retention does not purge.
                if let Some((organ, at_ms)) = &handled
                    && let Some(v) = filing.get(id_key)?
                {
                    let mut f: Filing = tx_decode(T_FILING, &id_key, &v)?;
                    if !f.handled.contains_key(organ) {
                        f.handled.insert(organ.clone(), *at_ms);
                        let v = encode(&f).map_err(ConflictableTransactionError::Abort)?;
                        filing.insert(&id_key, v)?;
                    }
                }
                for k in &out_keys {
                    out.insert(k.as_slice(), value.as_slice())?;
                }
                Ok(())
            });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::engine("relay a status event", e),
        })?;
        self.wait(writer.ticket())
    }

    pub(super) fn status_outbox(
        &self,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<(StatusOutKey, StatusEvent)>, StoreError> {
        let mut prefix = peer.as_bytes().to_vec();
        prefix.push(0);
        self.t()
            .status_out
            .scan_prefix(&prefix)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| StoreError::engine("read the status outbox", e))?;
                Ok((StatusOutKey(k.to_vec()), decode(T_STATUS_OUT, &k, &v)?))
            })
            .collect()
    }

    pub(super) fn status_sent(&self, key: &[u8]) -> Result<(), StoreError> {
        let writer = self.inner.commit.begin();
        self.t()
            .status_out
            .remove(key)
            .map_err(|e| StoreError::engine("remove a relayed status event", e))?;
        self.wait(writer.ticket())
    }
}
