//! Reading the whole store out for `store copy` (`store::copy`): live messages first, then the
//! queues in their order, then the register.

use crate::store::copy::{Copied, CopiedMessage, CopiedOutbox};
use crate::store::register::{R_FILING, R_PUBLIC, R_TOMBSTONES};
use crate::store::types::hex_encode;
use crate::store::{MessageId, OrganId, StatusEvent, StoreError};

use super::records::{MessageRecord, OutboxRecord, decode};
use super::{SledStore, T_INBOX, T_META, T_OUTBOX, T_STATUS_OUT};

type Sink<'a> = &'a mut dyn FnMut(Copied) -> Result<(), StoreError>;

impl SledStore {
    /// Hands every record to `sink`, in the order a target writes them; returns the messages
    /// whose document was found altered (not handed over).
    pub(crate) fn export(&self, sink: Sink<'_>) -> Result<Vec<MessageId>, StoreError> {
        let altered = self.export_messages(sink)?;
        self.export_outbox(sink)?;
        self.export_pending(sink)?;
        self.export_status_out(sink)?;
        self.export_register(sink)?;
        Ok(altered)
    }

    fn export_messages(&self, sink: Sink<'_>) -> Result<Vec<MessageId>, StoreError> {
        let mut altered = Vec::new();
        for kv in self.t().meta.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read metadata", e))?;
            let record: MessageRecord = decode(T_META, &k, &v)?;
            let id = record.meta.id;
            let bytes = match self.bytes_of(&record) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue, // purged meanwhile
                Err(StoreError::Altered { .. }) => {
                    altered.push(id);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut inbox = Vec::new();
            for organ in &record.local {
                inbox.push((organ.clone(), self.acked(organ, &id)?.1));
            }
            let public = self.public_of(&record)?;
            sink(Copied::Message(Box::new(CopiedMessage {
                deliveries: self.deliveries_of(&id)?,
                statuses: self.statuses(&id)?,
                filing: self.filing(&id)?,
                public,
                inbox,
                bytes,
                meta: record.meta,
            })))?;
        }
        Ok(altered)
    }

    /// The message's live public entry, by the key its record names.
    fn public_of(
        &self,
        record: &MessageRecord,
    ) -> Result<Option<crate::store::PublicEntry>, StoreError> {
        let Some(hex) = &record.public_key else {
            return Ok(None);
        };
        let key = crate::store::types::hex_decode(hex).ok_or_else(|| StoreError::Corrupt {
            what: T_META,
            key: hex_encode(record.meta.id.as_bytes()),
        })?;
        match self.t().public.get(&key) {
            Ok(Some(v)) => decode(super::T_PUBLIC, &key, &v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(StoreError::engine("read the public index", e)),
        }
    }

    fn export_outbox(&self, sink: Sink<'_>) -> Result<(), StoreError> {
        for kv in self.t().outbox.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the outbox", e))?;
            let rec: OutboxRecord = decode(T_OUTBOX, &k, &v)?;
            let peer = owner_of(T_OUTBOX, &k)?;
            sink(Copied::Outbox(CopiedOutbox {
                peer,
                message: rec.message,
                recipient: rec.recipient,
                priority: rec.priority,
                attempts: rec.attempts,
                next_attempt_ms: rec.next_attempt_ms,
                last_error: rec.last_error,
            }))?;
        }
        Ok(())
    }

    fn export_pending(&self, sink: Sink<'_>) -> Result<(), StoreError> {
        for kv in self.t().inbox.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the inbox", e))?;
            sink(Copied::Pending {
                organ: owner_of(T_INBOX, &k)?,
                message: MessageId::from_stored(T_INBOX, &v)?,
            })?;
        }
        Ok(())
    }

    fn export_status_out(&self, sink: Sink<'_>) -> Result<(), StoreError> {
        for kv in self.t().status_out.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the status outbox", e))?;
            // Key: peer ‖ 0x00 ‖ sequence.
            let peer = k
                .split(|b| *b == 0)
                .next()
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<OrganId>().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    what: T_STATUS_OUT,
                    key: hex_encode(&k),
                })?;
            let event: StatusEvent = decode(T_STATUS_OUT, &k, &v)?;
            sink(Copied::StatusOut { peer, event })?;
        }
        Ok(())
    }

    fn export_register(&self, sink: Sink<'_>) -> Result<(), StoreError> {
        for kv in self.inner.register.tombstones() {
            let (k, v) = kv?;
            let digest_hex = String::from_utf8(v).map_err(|_| StoreError::Corrupt {
                what: R_TOMBSTONES,
                key: hex_encode(&k),
            })?;
            sink(Copied::Tombstone {
                id: MessageId::from_stored(R_TOMBSTONES, &k)?,
                digest_hex,
            })?;
        }
        for kv in self.inner.register.filings() {
            let (k, v) = kv?;
            sink(Copied::ArchivedFiling {
                id: MessageId::from_stored(R_FILING, &k)?,
                filing: decode(R_FILING, &k, &v)?,
            })?;
        }
        for kv in self.inner.register.public_newest_first() {
            let (k, v) = kv?;
            sink(Copied::ArchivedPublic(decode(R_PUBLIC, &k, &v)?))?;
        }
        Ok(())
    }
}

/// The owner (peer or organ) of a queue key `len ‖ owner ‖ lane ‖ seq`.
fn owner_of(what: &'static str, key: &[u8]) -> Result<OrganId, StoreError> {
    let corrupt = || StoreError::Corrupt {
        what,
        key: hex_encode(key),
    };
    let (len, rest) = key.split_first_chunk::<2>().ok_or_else(corrupt)?;
    let owner = rest
        .get(..usize::from(u16::from_be_bytes(*len)))
        .ok_or_else(corrupt)?;
    std::str::from_utf8(owner)
        .ok()
        .and_then(|o| o.parse().ok())
        .ok_or_else(corrupt)
}
