//! Each local organ's inbox: listing, fetching (membership is the authorisation) and the
//! acknowledgement, with its status event in the same transaction.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::store::types::hex_encode;
use crate::store::{
    AckOutcome, InboxEntry, InboxItem, MessageId, MessageMeta, StatusEvent, StoreError, keys,
};

use super::records::{Membership, abort, encode, tx_decode, tx_error};
use super::{SledStore, T_INBOX, T_MEMBERSHIP, T_META};

impl SledStore {
    /// The ack transaction, with the optional status event recorded and queued atomically.
    pub(super) fn ack(
        &self,
        organ: &str,
        id: &MessageId,
        report: Option<(&StatusEvent, Option<&str>)>,
    ) -> Result<AckOutcome, StoreError> {
        let prefix = keys::string_prefix(organ, "organ")?;
        let mkey = keys::membership_key(&prefix, id);
        let t = self.t();
        let report = match report {
            Some((event, forward_to)) => {
                let seq = self.status_seq()?;
                let status_key = keys::status_key(&event.message, event.at_ms, seq);
                let out_key = forward_to.map(|peer| keys::status_out_key(peer, seq));
                Some((encode(event)?, status_key, out_key))
            }
            None => None,
        };
        let writer = self.inner.commit.begin();
        let outcome = (&t.inbox, &t.membership, &t.status, &t.status_out)
            .transaction(|(inbox, membership, status, out)| {
                let Some(v) = membership.get(&mkey)? else {
                    return abort(StoreError::NotFound { id: *id });
                };
                let mut m: Membership = tx_decode(T_MEMBERSHIP, &mkey, &v)?;
                if m.acked {
                    return Ok(AckOutcome::AlreadyAcked);
                }
                inbox.remove(m.inbox_key.as_slice())?;
                m.acked = true;
                let m = encode(&m).map_err(ConflictableTransactionError::Abort)?;
                membership.insert(mkey.as_slice(), m)?;
                if let Some((value, status_key, out_key)) = &report {
                    status.insert(status_key.as_slice(), value.as_slice())?;
                    if let Some(k) = out_key {
                        out.insert(k.as_slice(), value.as_slice())?;
                    }
                }
                Ok(AckOutcome::Acked)
            })
            .map_err(tx_error("acknowledge an inbox item"))?;
        // AlreadyAcked too: the first ack may still be waiting for its flush.
        self.wait(writer.ticket())?;
        Ok(outcome)
    }

    pub(super) fn inbox_list_visible(
        &self,
        organ: &str,
        limit: usize,
        visible: &mut dyn FnMut(&InboxEntry) -> bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let prefix = keys::string_prefix(organ, "organ")?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for kv in self.t().inbox.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the inbox", e))?;
            let raw = <[u8; 16]>::try_from(v.as_ref()).map_err(|_| StoreError::Corrupt {
                what: T_INBOX,
                key: hex_encode(&k),
            })?;
            let id = MessageId::from_bytes(raw);
            let Some(record) = self.read_record(&id)? else {
                // The scan is not a snapshot: between reading the inbox entry and its record the
                // document may have been acknowledged (entry removed) and swept by retention
                // (record removed). That is not corruption; a record missing while its inbox
                // entry still exists is.
                let still_listed = self
                    .t()
                    .inbox
                    .contains_key(&k)
                    .map_err(|e| StoreError::engine("read the inbox", e))?;
                if still_listed {
                    return Err(StoreError::Corrupt {
                        what: T_META,
                        key: hex_encode(&raw),
                    });
                }
                continue;
            };
            // Found altered on disk: never listed (it could not be fetched), until a check
            // finds it whole again.
            if self.is_quarantined(&id)? {
                continue;
            }
            let entry = self.inbox_entry(InboxItem {
                id,
                meta: record.meta,
            })?;
            if visible(&entry) {
                out.push(entry);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// An item with its filing record and whether its sender asked for it back.
    fn inbox_entry(&self, item: InboxItem) -> Result<InboxEntry, StoreError> {
        let filing = SledStore::filing(self, &item.id)?;
        let recalled = self
            .statuses(&item.id)?
            .iter()
            .any(|s| s.is_recall_by(&item.meta.from));
        Ok(InboxEntry {
            item,
            filing,
            recalled,
        })
    }

    pub(super) fn inbox_get(
        &self,
        organ: &str,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError> {
        let prefix = keys::string_prefix(organ, "organ")?;
        let member = self
            .t()
            .membership
            .get(keys::membership_key(&prefix, id))
            .map_err(|e| StoreError::engine("read the inbox", e))?;
        // Membership is the authorisation: another organ's message is simply not there.
        if member.is_none() {
            return Ok(None);
        }
        let Some(record) = self.read_record(id)? else {
            return Ok(None);
        };
        let Some(bytes) = self.bytes_of(&record)? else {
            return Ok(None);
        };
        Ok(Some((record.meta, bytes)))
    }

    pub(super) fn inbox_ack_reporting(
        &self,
        organ: &str,
        id: &MessageId,
        accepted: &StatusEvent,
        forward_to: Option<&str>,
    ) -> Result<AckOutcome, StoreError> {
        crate::store::check_ack_report(id, accepted)?;
        self.ack(organ, id, Some((accepted, forward_to)))
    }
}
