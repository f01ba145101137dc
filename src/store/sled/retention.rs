//! Retention: finding finished messages, archiving what they leave behind in the register,
//! removing them, and deleting their document files once the removal is durable.

use std::sync::atomic::Ordering;

use sled::Transactional;

use crate::store::register::Archived;
use crate::store::types::{hex_decode, hex_encode};
use crate::store::{Delivery, PurgeReport, StoreError, keys, register};

use super::records::{MessageRecord, counter_sub, decode, tx_error};
use super::{SledStore, T_META};

/// Messages archived to the register with one flush, then purged one transaction each.
const PURGE_CHUNK: usize = 256;

/// One message the purge will remove: what it removes and what it leaves in the register.
struct PurgePlan {
    record: MessageRecord,
    delivery_keys: Vec<Vec<u8>>,
    memberships: Vec<Vec<u8>>,
    status_keys: Vec<sled::IVec>,
    archived: Archived,
}

impl SledStore {
    /// The purge of `record` if every delivery of it is finished (delivered, or acked in the
    /// inbox); `None` while anything is queued, in transit, dead-lettered or unacknowledged.
    fn purge_plan(&self, record: MessageRecord) -> Result<Option<PurgePlan>, StoreError> {
        let t = self.t();
        let id = record.meta.id;
        let deliveries = self.deliveries_of(&id)?;
        let mut memberships = Vec::new();
        let mut finished = !deliveries.is_empty();
        for (recipient, d) in &deliveries {
            match d {
                Delivery::Delivered { .. } => {}
                Delivery::Local => {
                    let (mkey, acked) = self.acked(recipient, &id)?;
                    finished &= acked;
                    memberships.push(mkey);
                }
                // Queued, in transit, or dead-lettered (kept for operators).
                _ => finished = false,
            }
        }
        if !finished {
            return Ok(None);
        }
        let delivery_keys = deliveries
            .iter()
            .map(|(r, _)| keys::delivery_key(&id, r))
            .collect();
        let status_keys = t
            .status
            .scan_prefix(id.as_bytes())
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::engine("read status events", e))?;
        let archived = self.archived_of(&record)?;
        Ok(Some(PurgePlan {
            record,
            delivery_keys,
            memberships,
            status_keys,
            archived,
        }))
    }

    /// Archives what `plans` leave behind (one register flush), then removes each message in
    /// a transaction of its own, makes the removals durable and deletes the document files.
    fn purge_chunk(
        &self,
        plans: Vec<PurgePlan>,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        if plans.is_empty() {
            return Ok(());
        }
        let (archived, plans): (Vec<Archived>, Vec<PurgePlan>) = plans
            .into_iter()
            .map(|mut p| (std::mem::take(&mut p.archived), p))
            .unzip();
        // Register first, durable: from here the tombstones are found there. Then count this
        // purge, before any entry leaves the main database (`accept_filed` relies on it).
        self.inner.register.archive(&archived)?;
        self.inner.purges.fetch_add(1, Ordering::SeqCst);
        let t = self.t();
        let mut files = Vec::new();
        for (plan, archived) in plans.iter().zip(&archived) {
            let size = self.remove_message(plan, archived)?;
            if let Some(size) = size {
                // Status events recorded after the plan was read: none can be added any more
                // (recording one checks the message inside its transaction), remove them.
                for k in t.status.scan_prefix(plan.record.meta.id.as_bytes()).keys() {
                    let k = k.map_err(|e| StoreError::engine("read status events", e))?;
                    t.status
                        .remove(k)
                        .map_err(|e| StoreError::engine("purge status events", e))?;
                }
                // A quarantined message leaves nothing to serve once purged.
                t.quarantine
                    .remove(plan.record.meta.id.as_bytes())
                    .map_err(|e| StoreError::engine("purge the quarantine", e))?;
                report.messages += 1;
                report.bytes = report.bytes.saturating_add(size);
                if let Some(token) = plan.record.file {
                    files.push((plan.record.meta.id, token, size));
                }
            }
        }
        // Files go only once the removals are durable: a crash before that brings the records
        // back, and they must still find their documents.
        self.durable()?;
        for (id, token, size) in files {
            self.inner.documents.delete(id.as_bytes(), token, size)?;
        }
        Ok(())
    }

    /// Removes one planned message in a transaction of its own; its stored size, or `None` if
    /// it is gone already or its filing changed since it was archived (left to the next sweep).
    fn remove_message(
        &self,
        plan: &PurgePlan,
        archived: &Archived,
    ) -> Result<Option<u64>, StoreError> {
        let t = self.t();
        (
            &t.meta,
            &t.bytes,
            &t.deliveries,
            &t.membership,
            &t.sent,
            &t.status,
            &t.counters,
            &t.dedup,
            &t.filing,
            &t.public,
        )
            .transaction(
                |(
                    meta,
                    bytes,
                    deliveries,
                    membership,
                    sent,
                    status,
                    counters,
                    dedup,
                    filing,
                    public,
                )| {
                    let idk = plan.record.meta.id.as_bytes();
                    // A filing record changed since it was archived (a status 06 landed):
                    // leave this message to the next sweep, which archives the new one.
                    if filing.get(idk)?.as_deref() != archived.filing.as_deref() {
                        return Ok(None);
                    }
                    // Gone already (a concurrent purge): nothing to do, nothing to count.
                    if meta.remove(idk)?.is_none() {
                        return Ok(None);
                    }
                    let in_tree = bytes.remove(idk)?.map_or(0, |b| b.len());
                    let size = match plan.record.file {
                        Some(_) => plan.record.meta.size,
                        None => u64::try_from(in_tree).unwrap_or(u64::MAX),
                    };
                    sent.remove(plan.record.sent_key.as_slice())?;
                    for k in &plan.delivery_keys {
                        deliveries.remove(k.as_slice())?;
                    }
                    for k in &plan.memberships {
                        membership.remove(k.as_slice())?;
                    }
                    for k in &plan.status_keys {
                        status.remove(k)?;
                    }
                    // Archived above: a late duplicate is still recognised (register),
                    // reports and the portal still see the message.
                    dedup.remove(idk)?;
                    filing.remove(idk)?;
                    for (k, _) in &archived.public {
                        public.remove(k.as_slice())?;
                    }
                    counter_sub(counters, keys::MESSAGES_COUNTER, 1)?;
                    Ok(Some(size))
                },
            )
            .map_err(tx_error("purge a message"))
    }

    /// What purging `record` leaves in the register, read from the main database.
    fn archived_of(&self, record: &MessageRecord) -> Result<Archived, StoreError> {
        let t = self.t();
        let idk = record.meta.id.as_bytes();
        let read = |e| StoreError::engine("read for the register", e);
        let mut public = Vec::new();
        match &record.public_key {
            Some(hex) => {
                let k = hex_decode(hex).ok_or_else(|| StoreError::Corrupt {
                    what: T_META,
                    key: hex_encode(idk),
                })?;
                if let Some(v) = t.public.get(&k).map_err(read)? {
                    public.push((k, v.to_vec()));
                }
            }
            // A record from before the register: its public entry (if any) by a scan.
            None => {
                for kv in t.public.iter() {
                    let (k, v) = kv.map_err(read)?;
                    if register::public_key_id(&k)? == idk {
                        public.push((k.to_vec(), v.to_vec()));
                    }
                }
            }
        }
        Ok(Archived {
            id: idk.to_vec(),
            digest: t.dedup.get(idk).map_err(read)?.map(|v| v.to_vec()),
            filing: t.filing.get(idk).map_err(read)?.map(|v| v.to_vec()),
            public,
        })
    }

    pub(super) fn purge_acked_older_than(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport::default();
        let mut chunk = Vec::with_capacity(PURGE_CHUNK);
        for kv in self.t().meta.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read metadata", e))?;
            let record: MessageRecord = decode(T_META, &k, &v)?;
            if record.meta.received_at_ms >= cutoff_ms {
                continue;
            }
            if let Some(p) = self.purge_plan(record)? {
                chunk.push(p);
            }
            if chunk.len() == PURGE_CHUNK {
                self.purge_chunk(std::mem::take(&mut chunk), &mut report)?;
            }
        }
        // Each chunk made its removals durable before deleting its files.
        self.purge_chunk(chunk, &mut report)?;
        Ok(report)
    }
}
