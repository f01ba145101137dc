//! Peers' outboxes and organs' inboxes: listing in lane and FIFO order, finishing an outbox
//! entry (delivered, dead-lettered) or counting a failed attempt, fetching (a row of the
//! organ's inbox is the authorisation) and acknowledging with the status event in the same
//! transaction.

use postgres::Transaction;

use crate::store::{
    AckOutcome, Delivery, HopRecord, InboxEntry, InboxItem, Lane, MessageId, MessageMeta, OrganId,
    OutboxDepth, OutboxEntry, OutboxKey, Priority, StatusCode, StatusEvent, StoreError,
};

use super::{PgStore, dec, enc, pg};

/// An outbox entry's key: its sequence number (big-endian) and its peer.
fn outbox_key(seq: i64, peer: &str) -> OutboxKey {
    let mut k = seq.to_be_bytes().to_vec();
    k.extend_from_slice(peer.as_bytes());
    OutboxKey(k)
}

/// The sequence number of `entry`, if its key belongs to `peer`'s outbox.
fn entry_seq(peer: &str, entry: &OutboxEntry) -> Result<i64, StoreError> {
    let key = entry.key.0.as_slice();
    match key.split_first_chunk::<8>() {
        Some((seq, rest)) if rest == peer.as_bytes() => Ok(i64::from_be_bytes(*seq)),
        _ => Err(StoreError::Invalid {
            field: "outbox entry",
            reason: "the entry does not belong to this peer's outbox",
        }),
    }
}

/// An outbox entry from a row `seq, id, recipient, priority, attempts, next_attempt_ms, …`.
fn entry_of(peer: &OrganId, r: &postgres::Row) -> Result<OutboxEntry, StoreError> {
    let seq: i64 = r.get(0);
    let corrupt = || StoreError::Corrupt {
        what: "outbox",
        key: seq.to_string(),
    };
    let priority = u8::try_from(r.get::<_, i16>(3))
        .ok()
        .and_then(Priority::from_code)
        .ok_or_else(corrupt)?;
    Ok(OutboxEntry {
        key: outbox_key(seq, peer.as_str()),
        message: MessageId::from_stored("outbox", r.get(1))?,
        recipient: r.get::<_, &str>(2).parse().map_err(|_| corrupt())?,
        priority,
        attempts: u32::try_from(r.get::<_, i32>(4)).map_err(|_| corrupt())?,
        next_attempt_ms: r.get(5),
    })
}

/// Page size of the inbox listing's query.
const INBOX_PAGE: i64 = 256;

impl PgStore {
    pub(super) fn outbox_next(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.read(|c| {
            c.query(
                "SELECT seq, id, recipient, priority, attempts, next_attempt_ms FROM outbox \
                 WHERE peer = $1 AND next_attempt_ms <= $2 ORDER BY lane, seq LIMIT $3",
                &[&peer.as_str(), &now_ms, &limit],
            )
            .map_err(pg("read the outbox"))
        })?;
        rows.iter().map(|r| entry_of(peer, r)).collect()
    }

    /// Leases due entries to this node (see [`Store::outbox_lease`](crate::store::Store)):
    /// those nobody holds, those whose lease ran out, and this node's own. Rows another
    /// transaction is leasing right now are skipped, not waited for.
    pub(super) fn outbox_lease(
        &self,
        peer: &OrganId,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let op = "lease outbox entries";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let node = self.inner.node;
        let until = now_ms.saturating_add(lease_ms);
        let rows = self.in_transaction(op, &mut |tx| {
            tx.query(
                "UPDATE outbox o SET leased_by = $4, leased_until_ms = $5 FROM ( \
                     SELECT seq, leased_by AS was FROM outbox WHERE peer = $1 \
                     AND next_attempt_ms <= $2 AND (leased_by = $4 OR leased_until_ms <= $2) \
                     ORDER BY lane, seq LIMIT $3 FOR UPDATE SKIP LOCKED) due \
                 WHERE o.seq = due.seq \
                 RETURNING o.seq, o.id, o.recipient, o.priority, o.attempts, o.next_attempt_ms, \
                     o.lane, due.was",
                &[&peer.as_str(), &now_ms, &limit, &node, &until],
            )
            .map_err(pg(op))
        })?;
        let taken_over = rows
            .iter()
            .filter(|r| r.get::<_, Option<i64>>(7).is_some_and(|was| was != node))
            .count();
        if taken_over > 0 {
            self.inner
                .take_overs
                .fetch_add(taken_over as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                peer = %peer,
                entries = taken_over,
                "took over outbox entries whose node's lease ran out"
            );
        }
        let mut rows = rows;
        rows.sort_by_key(|r| (r.get::<_, i16>(6), r.get::<_, i64>(0)));
        rows.iter().map(|r| entry_of(peer, r)).collect()
    }

    /// Removes `entry` from `peer`'s outbox, sets its recipient's delivery state and, for a
    /// delivery, adds the hop to the message's record.
    fn finish_entry(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        op: &'static str,
        state: &Delivery,
        hop: Option<&HopRecord>,
    ) -> Result<(), StoreError> {
        let seq = entry_seq(peer, entry)?;
        let state = enc(state)?;
        self.durably(op, |tx| {
            let row = tx
                .query_opt(
                    "DELETE FROM outbox WHERE seq = $1 AND peer = $2 RETURNING id, recipient",
                    &[&seq, &peer.as_str()],
                )
                .map_err(pg(op))?
                .ok_or(StoreError::NotFound { id: entry.message })?;
            let idk: &[u8] = row.get(0);
            let recipient: &str = row.get(1);
            tx.execute(
                "UPDATE peer_depth SET n = n - 1 WHERE peer = $1",
                &[&peer.as_str()],
            )
            .map_err(pg(op))?;
            set_delivery(tx, op, idk, recipient, &state)?;
            if let Some(hop) = hop {
                add_hop(tx, op, idk, hop)?;
            }
            Ok(())
        })
    }

    pub(super) fn mark_delivered(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        receipt: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let hop = HopRecord {
            organ: peer.clone(),
            at_ms,
            receipt: Some(receipt.to_owned()),
        };
        let state = Delivery::Delivered {
            via: peer.clone(),
            at_ms,
            receipt: receipt.to_owned(),
        };
        self.finish_entry(peer, entry, "mark a delivery", &state, Some(&hop))
    }

    pub(super) fn dead_letter(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        reason: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let state = Delivery::DeadLettered {
            reason: reason.to_owned(),
            at_ms,
        };
        self.finish_entry(peer, entry, "dead-letter a message", &state, None)
    }

    pub(super) fn record_failure(
        &self,
        peer: &OrganId,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        let seq = entry_seq(peer, entry)?;
        let op = "record a failed delivery";
        // Not durable until flush (losing it only repeats an attempt early): no flush wait.
        self.in_transaction(op, &mut |tx| {
            let row = tx
                .query_opt(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $3, \
                     next_attempt_ms = $4 WHERE seq = $1 AND peer = $2 \
                     RETURNING id, recipient, attempts",
                    &[&seq, &peer.as_str(), &error, &next_attempt_ms],
                )
                .map_err(pg(op))?
                .ok_or(StoreError::NotFound { id: entry.message })?;
            let state = enc(&Delivery::InTransit {
                next_hop: peer.clone(),
                attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                last_error: error.to_owned(),
                next_attempt_ms,
            })?;
            set_delivery(tx, op, row.get(0), row.get(1), &state)
        })
    }

    pub(super) fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        let rows = self.read(|c| {
            c.query(
                "SELECT peer, lane, count(*) FROM outbox GROUP BY peer, lane ORDER BY peer, lane",
                &[],
            )
            .map_err(pg("count the outboxes"))
        })?;
        rows.iter()
            .map(|r| {
                let peer: &str = r.get(0);
                let corrupt = || StoreError::Corrupt {
                    what: "outbox",
                    key: peer.to_owned(),
                };
                Ok(OutboxDepth {
                    peer: peer.parse().map_err(|_| corrupt())?,
                    lane: u8::try_from(r.get::<_, i16>(1))
                        .ok()
                        .and_then(Lane::from_rank)
                        .ok_or_else(corrupt)?,
                    count: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                })
            })
            .collect()
    }

    /// One query per page, each entry with its record, filing and whether its sender recalled
    /// it; quarantined messages are never listed.
    pub(super) fn inbox_list_visible(
        &self,
        organ: &OrganId,
        limit: usize,
        visible: &mut dyn FnMut(&InboxEntry) -> bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let mut out = Vec::new();
        let mut after: (i16, i64) = (-1, i64::MIN);
        while out.len() < limit {
            let rows = self.read(|c| {
                c.query(
                    "SELECT i.lane, i.seq, m.id, m.meta, f.filing, EXISTS ( \
                         SELECT 1 FROM statuses s WHERE s.id = i.id AND s.code = $4 \
                         AND s.organ = m.sender) \
                     FROM inbox i JOIN messages m ON m.id = i.id \
                     LEFT JOIN filings f ON f.id = i.id \
                     WHERE i.organ = $1 AND NOT i.acked AND (i.lane, i.seq) > ($2, $3) \
                     AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.id = i.id) \
                     ORDER BY i.lane, i.seq LIMIT $5",
                    &[
                        &organ.as_str(),
                        &after.0,
                        &after.1,
                        &StatusCode::RecallRequested.code(),
                        &INBOX_PAGE,
                    ],
                )
                .map_err(pg("read the inbox"))
            })?;
            let full_page = rows.len() == usize::try_from(INBOX_PAGE).unwrap_or(usize::MAX);
            for r in &rows {
                after = (r.get(0), r.get(1));
                let idk: &[u8] = r.get(2);
                let meta: MessageMeta = dec("messages", idk, r.get(3))?;
                let filing = r
                    .get::<_, Option<&str>>(4)
                    .map(|f| dec("filings", idk, f))
                    .transpose()?;
                let entry = InboxEntry {
                    item: InboxItem { id: meta.id, meta },
                    filing,
                    recalled: r.get(5),
                };
                if visible(&entry) {
                    out.push(entry);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            if !full_page {
                break;
            }
        }
        self.still_pending(organ, out)
    }

    /// The entries of a listing still pending once it is read: a page is a snapshot, and an
    /// entry acknowledged (and perhaps swept by retention) meanwhile is left out, as the sled
    /// store's live scan leaves it out. One query for the whole listing.
    fn still_pending(
        &self,
        organ: &OrganId,
        entries: Vec<InboxEntry>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let ids: Vec<&[u8]> = entries
            .iter()
            .map(|e| e.item.id.as_bytes().as_slice())
            .collect();
        let rows = self.read(|c| {
            c.query(
                "SELECT id FROM inbox WHERE organ = $1 AND id = ANY($2) AND NOT acked",
                &[&organ.as_str(), &ids],
            )
            .map_err(pg("read the inbox"))
        })?;
        let pending: std::collections::HashSet<&[u8]> = rows.iter().map(|r| r.get(0)).collect();
        Ok(entries
            .into_iter()
            .filter(|e| pending.contains(e.item.id.as_bytes().as_slice()))
            .collect())
    }

    pub(super) fn inbox_get(
        &self,
        organ: &OrganId,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError> {
        let idk = id.as_bytes().as_slice();
        let member = self.read(|c| {
            c.query_opt(
                "SELECT 1 FROM inbox WHERE organ = $1 AND id = $2",
                &[&organ.as_str(), &idk],
            )
            .map_err(pg("read the inbox"))
        })?;
        // The inbox row is the authorisation: another organ's message is simply not there.
        if member.is_none() {
            return Ok(None);
        }
        self.document(id)
    }

    pub(super) fn ack(
        &self,
        organ: &OrganId,
        id: &MessageId,
        report: Option<(&StatusEvent, Option<&OrganId>)>,
    ) -> Result<AckOutcome, StoreError> {
        let op = "acknowledge an inbox item";
        let report = report
            .map(|(event, to)| enc(event).map(|v| (event, v, to)))
            .transpose()?;
        let idk = id.as_bytes().as_slice();
        // AlreadyAcked waits too: the first ack may still be waiting for its flush.
        self.durably(op, |tx| {
            let acked: bool = tx
                .query_opt(
                    "SELECT acked FROM inbox WHERE organ = $1 AND id = $2 FOR UPDATE",
                    &[&organ.as_str(), &idk],
                )
                .map_err(pg(op))?
                .ok_or(StoreError::NotFound { id: *id })?
                .get(0);
            if acked {
                return Ok(AckOutcome::AlreadyAcked);
            }
            tx.execute(
                "UPDATE inbox SET acked = true WHERE organ = $1 AND id = $2",
                &[&organ.as_str(), &idk],
            )
            .map_err(pg(op))?;
            if let Some((event, value, forward_to)) = &report {
                super::history::insert_status(tx, op, event, value)?;
                if let Some(peer) = forward_to {
                    super::history::queue_status(tx, op, peer, value)?;
                }
            }
            Ok(AckOutcome::Acked)
        })
    }
}

fn set_delivery(
    tx: &mut Transaction<'_>,
    op: &'static str,
    idk: &[u8],
    recipient: &str,
    state: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE deliveries SET state = $3 WHERE id = $1 AND recipient = $2",
        &[&idk, &recipient, &state],
    )
    .map_err(pg(op))?;
    Ok(())
}

fn add_hop(
    tx: &mut Transaction<'_>,
    op: &'static str,
    idk: &[u8],
    hop: &HopRecord,
) -> Result<(), StoreError> {
    let row = tx
        .query_one(
            "SELECT meta FROM messages WHERE id = $1 FOR UPDATE",
            &[&idk],
        )
        .map_err(pg(op))?;
    let mut meta: MessageMeta = dec("messages", idk, row.get(0))?;
    meta.hops.push(hop.clone());
    tx.execute(
        "UPDATE messages SET meta = $2 WHERE id = $1",
        &[&idk, &enc(&meta)?],
    )
    .map_err(pg(op))?;
    Ok(())
}
