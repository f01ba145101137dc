//! Keeping the store: counters, retention, the quarantine and the scrub.
//!
//! Retention deletes a finished message's row (its delivery states, inbox rows and status
//! events go with it, `ON DELETE CASCADE`) and marks its dedup row purged: the tombstone that
//! still recognises a late duplicate. Filing records and the public index are kept (the
//! timeliness report and the portal outlive retention). Altered documents are found by reading
//! them back against the SHA-256 written with them (a change made behind the store's back, by
//! hand or by a damaged restore; damage to the database's own pages is PostgreSQL's to find:
//! initialise clusters with `--data-checksums`).

use crate::store::documents::fault_of;
use crate::store::types::hex_encode;
use crate::store::{
    Dangling, Fault, MessageId, MessageMeta, PurgeReport, Quarantined, ScrubReport, StoreError,
    StoreStats,
};

use super::{PgStore, dec, enc, pg};

/// Messages purged per transaction.
const PURGE_CHUNK: i64 = 256;
/// Documents read back per query of the scrub.
const SCRUB_PAGE: i64 = 64;

/// Finished: every recipient delivered or local and acknowledged, nothing queued.
const FINISHED: &str = "EXISTS (SELECT 1 FROM deliveries d WHERE d.id = m.id) \
     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = m.id \
         AND (d.state::jsonb ->> 'state') NOT IN ('delivered', 'local')) \
     AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.id = m.id AND NOT i.acked) \
     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = m.id)";

impl PgStore {
    pub(super) fn stats(&self) -> Result<StoreStats, StoreError> {
        let row = self.read(|c| {
            c.query_one(
                "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM dedup WHERE purged), \
                 (SELECT count(*) FROM quarantine), pg_database_size(current_database())",
                &[],
            )
            .map_err(pg("read counters"))
        })?;
        let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        let (flushes, durable_writes) = self.inner.commit.counts();
        Ok(StoreStats {
            messages: n(0),
            tombstones: n(1),
            quarantined: n(2),
            bytes_on_disk: n(3),
            flushes,
            durable_writes,
            lease_take_overs: self
                .inner
                .take_overs
                .load(std::sync::atomic::Ordering::Relaxed),
            sessions_open: self.inner.pool.sessions_open(),
        })
    }

    pub(super) fn purge_acked_older_than(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError> {
        let op = "purge finished messages";
        let mut report = PurgeReport::default();
        loop {
            let (messages, bytes) = self.durably(op, |tx| {
                let rows = tx
                    .query(
                        &format!(
                            "SELECT m.id FROM messages m WHERE m.received_at_ms < $1 AND {FINISHED} \
                             ORDER BY m.id LIMIT $2 FOR UPDATE SKIP LOCKED"
                        ),
                        &[&cutoff_ms, &PURGE_CHUNK],
                    )
                    .map_err(pg(op))?;
                let ids: Vec<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
                if ids.is_empty() {
                    return Ok((0, 0));
                }
                tx.execute("UPDATE dedup SET purged = true WHERE id = ANY($1)", &[&ids])
                    .map_err(pg(op))?;
                tx.execute("DELETE FROM quarantine WHERE id = ANY($1)", &[&ids])
                    .map_err(pg(op))?;
                let deleted = tx
                    .query(
                        "DELETE FROM messages WHERE id = ANY($1) RETURNING octet_length(doc)",
                        &[&ids],
                    )
                    .map_err(pg(op))?;
                let bytes: i64 = deleted.iter().map(|r| i64::from(r.get::<_, i32>(0))).sum();
                Ok((deleted.len() as u64, u64::try_from(bytes).unwrap_or(0)))
            })?;
            report.messages += messages;
            report.bytes = report.bytes.saturating_add(bytes);
            if messages < PURGE_CHUNK as u64 {
                return Ok(report);
            }
        }
    }

    /// Records that `id`'s document was found altered. Not durable until flush: a lost record
    /// is found again by the next read.
    pub(super) fn quarantine(&self, id: &MessageId, fault: Fault) -> Result<(), StoreError> {
        let op = "quarantine a message";
        let fault = enc(&fault)?;
        let idk = id.as_bytes().as_slice();
        self.in_transaction(op, &mut |tx| {
            tx.execute(
                "INSERT INTO quarantine (id, fault, at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET fault = EXCLUDED.fault",
                &[&idk, &fault, &crate::store::now_ms()],
            )
            .map_err(pg(op))?;
            Ok(())
        })
    }

    /// A quarantined document found whole again (restored): released.
    pub(super) fn release(&self, id: &MessageId) -> Result<(), StoreError> {
        let op = "release a message";
        let idk = id.as_bytes().as_slice();
        self.in_transaction(op, &mut |tx| {
            tx.execute("DELETE FROM quarantine WHERE id = $1", &[&idk])
                .map_err(pg(op))?;
            Ok(())
        })
    }

    pub(super) fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let rows = self.read(|c| {
            c.query(
                "SELECT id, fault, at_ms FROM quarantine ORDER BY at_ms, id",
                &[],
            )
            .map_err(pg("read the quarantine"))
        })?;
        rows.iter()
            .map(|r| {
                let idk: &[u8] = r.get(0);
                Ok(Quarantined {
                    id: MessageId::from_stored("quarantine", idk)?,
                    fault: dec("quarantine", idk, r.get(1))?,
                    at_ms: r.get(2),
                })
            })
            .collect()
    }

    /// Reads back every document against its SHA-256 and size, page by page.
    pub(super) fn scrub(&self) -> Result<ScrubReport, StoreError> {
        let mut report = ScrubReport::default();
        let mut after: Vec<u8> = Vec::new();
        loop {
            let rows = self.read(|c| {
                c.query(
                    "SELECT id, meta, sha256, doc, EXISTS (SELECT 1 FROM quarantine q \
                     WHERE q.id = m.id) FROM messages m WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&after, &SCRUB_PAGE],
                )
                .map_err(pg("read documents back"))
            })?;
            for r in &rows {
                let idk: Vec<u8> = r.get(0);
                after.clone_from(&idk);
                self.scrub_one(&idk, r, &mut report)?;
            }
            if rows.len() < usize::try_from(SCRUB_PAGE).unwrap_or(0) {
                return Ok(report);
            }
        }
    }

    fn scrub_one(
        &self,
        idk: &[u8],
        r: &postgres::Row,
        report: &mut ScrubReport,
    ) -> Result<(), StoreError> {
        let id = MessageId::from_stored("messages", idk)?;
        let Ok(meta) = dec::<MessageMeta>("messages", idk, r.get(1)) else {
            report.unreadable.push(Dangling {
                index: "messages".to_owned(),
                key: hex_encode(idk),
            });
            return Ok(());
        };
        let sha256: &[u8] = r.get(2);
        let doc: &[u8] = r.get(3);
        let was_quarantined: bool = r.get(4);
        report.documents += 1;
        report.bytes = report.bytes.saturating_add(doc.len() as u64);
        let fault = fault_of(doc, meta.size, Some(sha256));
        match fault {
            Some(fault) => {
                self.quarantine(&id, fault)?;
                report.altered.push(Quarantined {
                    id,
                    fault,
                    at_ms: crate::store::now_ms(),
                });
            }
            None if was_quarantined => {
                self.release(&id)?;
                report.released += 1;
            }
            None => {}
        }
        Ok(())
    }
}
