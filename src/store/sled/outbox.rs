//! Each peer's outbox: the next due entries, delivery, failures with their retry time, dead
//! letters and the depth counters.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::store::types::hex_encode;
use crate::store::{
    Delivery, HopRecord, Lane, MessageId, OrganId, OutboxDepth, OutboxEntry, OutboxKey, StoreError,
    keys,
};

use super::records::{
    MessageRecord, OutboxRecord, abort, counter_sub, decode, encode, tx_decode, tx_error,
};
use super::{SledStore, T_COUNTERS, T_META, T_OUTBOX};

impl SledStore {
    /// Checks that an outbox handle belongs to `peer` and returns the peer's key prefix.
    fn entry_prefix(peer: &str, entry: &OutboxEntry) -> Result<Vec<u8>, StoreError> {
        let prefix = keys::string_prefix(peer, "peer")?;
        if entry.key.0.starts_with(&prefix) && entry.key.0.len() == prefix.len() + 9 {
            Ok(prefix)
        } else {
            Err(StoreError::Invalid {
                field: "outbox entry",
                reason: "the entry does not belong to this peer's outbox",
            })
        }
    }

    /// Removes an outbox entry and sets its delivery state, atomically; returns the record.
    fn finish_entry(
        &self,
        peer: &str,
        entry: &OutboxEntry,
        op: &'static str,
        state: impl Fn(&OutboxRecord) -> Delivery,
        hop: Option<HopRecord>,
    ) -> Result<(), StoreError> {
        let prefix = Self::entry_prefix(peer, entry)?;
        let lane = keys::queue_key_lane(&entry.key.0, prefix.len()).ok_or(StoreError::Invalid {
            field: "outbox entry",
            reason: "the entry key has no lane",
        })?;
        let counter = keys::outbox_counter_key(&prefix, lane);
        let t = self.t();
        let writer = self.inner.commit.begin();
        (&t.outbox, &t.deliveries, &t.meta, &t.counters)
            .transaction(|(outbox, deliveries, meta, counters)| {
                let key = entry.key.0.as_slice();
                let Some(v) = outbox.remove(key)? else {
                    return abort(StoreError::NotFound { id: entry.message });
                };
                let rec: OutboxRecord = tx_decode(T_OUTBOX, key, &v)?;
                counter_sub(counters, &counter, 1)?;
                let dkey = keys::delivery_key(&rec.message, &rec.recipient);
                let state = encode(&state(&rec)).map_err(ConflictableTransactionError::Abort)?;
                deliveries.insert(dkey, state)?;
                if let Some(hop) = &hop {
                    let id = rec.message.as_bytes();
                    let Some(v) = meta.get(id)? else {
                        return abort(StoreError::Corrupt {
                            what: T_META,
                            key: hex_encode(id),
                        });
                    };
                    let mut record: MessageRecord = tx_decode(T_META, id, &v)?;
                    record.meta.hops.push(hop.clone());
                    let v = encode(&record).map_err(ConflictableTransactionError::Abort)?;
                    meta.insert(id, v)?;
                }
                Ok(())
            })
            .map_err(tx_error(op))?;
        self.wait(writer.ticket())
    }

    pub(super) fn outbox_next(
        &self,
        peer: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let prefix = keys::string_prefix(peer, "peer")?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Key order is lane then sequence: top lane first, FIFO within a lane.
        for kv in self.t().outbox.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the outbox", e))?;
            let rec: OutboxRecord = decode(T_OUTBOX, &k, &v)?;
            if rec.next_attempt_ms > now_ms {
                continue;
            }
            out.push(OutboxEntry {
                key: OutboxKey(k.to_vec()),
                message: rec.message,
                recipient: rec.recipient,
                priority: rec.priority,
                attempts: rec.attempts,
                next_attempt_ms: rec.next_attempt_ms,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub(super) fn outbox_bytes(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        match self.read_record(id)? {
            Some(record) => self.bytes_of(&record),
            None => Ok(None),
        }
    }

    pub(super) fn mark_delivered(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        receipt: String,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let hop = HopRecord {
            organ: peer.clone(),
            at_ms,
            receipt: Some(receipt.clone()),
        };
        self.finish_entry(
            peer,
            entry,
            "mark a delivery",
            |_| Delivery::Delivered {
                via: peer.clone(),
                at_ms,
                receipt: receipt.clone(),
            },
            Some(hop),
        )
    }

    pub(super) fn record_failure(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        Self::entry_prefix(peer, entry)?;
        let t = self.t();
        (&t.outbox, &t.deliveries)
            .transaction(|(outbox, deliveries)| {
                let key = entry.key.0.as_slice();
                let Some(v) = outbox.get(key)? else {
                    return abort(StoreError::NotFound { id: entry.message });
                };
                let mut rec: OutboxRecord = tx_decode(T_OUTBOX, key, &v)?;
                rec.attempts = rec.attempts.saturating_add(1);
                rec.last_error = Some(error.to_owned());
                rec.next_attempt_ms = next_attempt_ms;
                let state = Delivery::InTransit {
                    next_hop: peer.clone(),
                    attempts: rec.attempts,
                    last_error: error.to_owned(),
                    next_attempt_ms,
                };
                let state = encode(&state).map_err(ConflictableTransactionError::Abort)?;
                deliveries.insert(keys::delivery_key(&rec.message, &rec.recipient), state)?;
                let rec = encode(&rec).map_err(ConflictableTransactionError::Abort)?;
                outbox.insert(key, rec)?;
                Ok(())
            })
            .map_err(tx_error("record a failed delivery"))
        // Not durable until flush, by contract: a lost failure only repeats an attempt.
    }

    pub(super) fn dead_letter(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        reason: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.finish_entry(
            peer,
            entry,
            "dead-letter a message",
            |_| Delivery::DeadLettered {
                reason: reason.to_owned(),
                at_ms,
            },
            None,
        )
    }

    pub(super) fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t().counters.scan_prefix(b"o") {
            let (k, v) = kv.map_err(|e| StoreError::engine("read counters", e))?;
            let corrupt = || StoreError::Corrupt {
                what: T_COUNTERS,
                key: hex_encode(&k),
            };
            // b'o' ‖ len(u16) ‖ peer ‖ lane
            let len = k
                .get(1..3)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(|b| usize::from(u16::from_be_bytes(b)))
                .ok_or_else(corrupt)?;
            let peer = k
                .get(3..3 + len)
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<OrganId>().ok())
                .ok_or_else(corrupt)?;
            let lane = k
                .get(3 + len)
                .copied()
                .and_then(Lane::from_rank)
                .ok_or_else(corrupt)?;
            let count = keys::counter_value(Some(&v));
            if count > 0 {
                out.push(OutboxDepth { peer, lane, count });
            }
        }
        Ok(out)
    }
}
