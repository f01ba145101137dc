//! Writing what `store copy` read from another engine (`store::copy`): each record in a
//! transaction of its own, recognising what an earlier, interrupted copy already wrote.

use postgres::Transaction;

use crate::store::copy::{Copied, CopiedMessage, CopiedOutbox, CopyReport};
use crate::store::documents::sha256_of;
use crate::store::{Filing, Lane, MessageId, PublicEntry, StoreError};

use super::{PgStore, enc, pg};

const OP: &str = "copy into the store";

impl PgStore {
    /// Writes one record of a copy; counts it in `report`.
    pub(crate) fn import(
        &self,
        record: &Copied,
        report: &mut CopyReport,
    ) -> Result<(), StoreError> {
        match record {
            Copied::Message(m) => {
                if self.in_transaction(OP, &mut |tx| import_message(tx, m))? {
                    report.messages_copied += 1;
                } else {
                    report.messages_present += 1;
                }
            }
            Copied::Outbox(o) => {
                if self.in_transaction(OP, &mut |tx| import_outbox(tx, o))? {
                    report.outbox_copied += 1;
                }
            }
            Copied::Pending { organ, message } => {
                // The queue position, in the source's order (re-done on a resumed copy).
                self.in_transaction(OP, &mut |tx| {
                    tx.execute(
                        "UPDATE inbox SET seq = nextval('queue_seq') WHERE organ = $1 AND id = $2",
                        &[&organ.as_str(), &message.as_bytes().as_slice()],
                    )
                    .map_err(pg(OP))
                })?;
            }
            Copied::StatusOut { peer, event } => {
                let value = enc(event)?;
                let fresh = self.in_transaction(OP, &mut |tx| {
                    let there = tx
                        .query_opt(
                            "SELECT 1 FROM status_out WHERE peer = $1 AND event = $2",
                            &[&peer.as_str(), &value],
                        )
                        .map_err(pg(OP))?;
                    if there.is_none() {
                        super::history::queue_status(tx, OP, peer, &value)?;
                    }
                    Ok(there.is_none())
                })?;
                report.statuses_queued_copied += u64::from(fresh);
            }
            Copied::Tombstone { id, digest_hex } => {
                let n = self.in_transaction(OP, &mut |tx| {
                    tx.execute(
                        "INSERT INTO dedup (id, digest_hex, purged) VALUES ($1, $2, true) \
                         ON CONFLICT (id) DO NOTHING",
                        &[&id.as_bytes().as_slice(), digest_hex],
                    )
                    .map_err(pg(OP))
                })?;
                report.archived_copied += n;
            }
            Copied::ArchivedFiling { id, filing } => {
                report.archived_copied +=
                    self.in_transaction(OP, &mut |tx| put_filing(tx, id, filing))?;
            }
            Copied::ArchivedPublic(p) => {
                report.archived_copied += self.in_transaction(OP, &mut |tx| put_public(tx, p))?;
            }
        }
        Ok(())
    }

    /// How many of `copied` (id, SHA-256 of the source's document) the target holds with that
    /// same SHA-256, read back in batches.
    pub(crate) fn verify_copied(
        &self,
        copied: &[(MessageId, [u8; 32])],
    ) -> Result<u64, StoreError> {
        let mut verified = 0;
        for chunk in copied.chunks(512) {
            let ids: Vec<&[u8]> = chunk
                .iter()
                .map(|(id, _)| id.as_bytes().as_slice())
                .collect();
            let rows = self.read(|c| {
                c.query(
                    "SELECT id, sha256, doc FROM messages WHERE id = ANY($1)",
                    &[&ids],
                )
                .map_err(pg("read copied documents back"))
            })?;
            for r in &rows {
                let (id, recorded, doc): (&[u8], &[u8], &[u8]) = (r.get(0), r.get(1), r.get(2));
                let source = chunk.iter().find(|(c, _)| c.as_bytes().as_slice() == id);
                if source.is_some_and(|(_, d)| d.as_slice() == recorded && sha256_of(doc) == *d) {
                    verified += 1;
                }
            }
        }
        Ok(verified)
    }
}

/// The message, unless its dedup row is there already (then `false`; a different digest is
/// refused: the target holds another document under this id).
fn import_message(tx: &mut Transaction<'_>, m: &CopiedMessage) -> Result<bool, StoreError> {
    let idk = m.meta.id.as_bytes().as_slice();
    let inserted = tx
        .execute(
            "INSERT INTO dedup (id, digest_hex) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[&idk, &m.meta.digest_hex],
        )
        .map_err(pg(OP))?;
    if inserted == 0 {
        let existing: String = tx
            .query_one("SELECT digest_hex FROM dedup WHERE id = $1", &[&idk])
            .map_err(pg(OP))?
            .get(0);
        if existing != m.meta.digest_hex {
            return Err(StoreError::Invalid {
                field: "copy",
                reason: "the target already holds another document under a copied message's id",
            });
        }
        return Ok(false);
    }
    let seq: i64 = tx
        .query_one("SELECT nextval('queue_seq')", &[])
        .map_err(pg(OP))?
        .get(0);
    super::accept::insert_message(tx, &m.meta, &m.bytes, seq)?;
    for (recipient, state) in &m.deliveries {
        tx.execute(
            "INSERT INTO deliveries (id, recipient, state) VALUES ($1, $2, $3)",
            &[&idk, &recipient.as_str(), &enc(state)?],
        )
        .map_err(pg(OP))?;
    }
    let lane = i16::from(Lane::of(m.meta.priority).rank());
    for (organ, acked) in &m.inbox {
        tx.execute(
            "INSERT INTO inbox (organ, id, lane, seq, acked) VALUES ($1, $2, $3, $4, $5)",
            &[&organ.as_str(), &idk, &lane, &seq, acked],
        )
        .map_err(pg(OP))?;
    }
    for event in &m.statuses {
        super::history::insert_status(tx, OP, event, &enc(event)?)?;
    }
    if let Some(f) = &m.filing {
        put_filing(tx, &m.meta.id, f)?;
    }
    if let Some(p) = &m.public {
        put_public(tx, p)?;
    }
    Ok(true)
}

/// The outbox entry, unless one for its message and recipient is there already.
fn import_outbox(tx: &mut Transaction<'_>, o: &CopiedOutbox) -> Result<bool, StoreError> {
    let idk = o.message.as_bytes().as_slice();
    let there = tx
        .query_opt(
            "SELECT 1 FROM outbox WHERE id = $1 AND recipient = $2",
            &[&idk, &o.recipient.as_str()],
        )
        .map_err(pg(OP))?;
    if there.is_some() {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO outbox (seq, peer, lane, id, recipient, priority, attempts, next_attempt_ms, \
         last_error) VALUES (nextval('queue_seq'), $1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &o.peer.as_str(),
            &i16::from(Lane::of(o.priority).rank()),
            &idk,
            &o.recipient.as_str(),
            &i16::from(o.priority.code()),
            &i32::try_from(o.attempts).unwrap_or(i32::MAX),
            &o.next_attempt_ms,
            &o.last_error,
        ],
    )
    .map_err(pg(OP))?;
    tx.execute(
        "INSERT INTO peer_depth (peer, n) VALUES ($1, 1) ON CONFLICT (peer) \
         DO UPDATE SET n = peer_depth.n + 1",
        &[&o.peer.as_str()],
    )
    .map_err(pg(OP))?;
    Ok(true)
}

fn put_filing(tx: &mut Transaction<'_>, id: &MessageId, f: &Filing) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO filings (id, received_at_ms, filing) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
        &[&id.as_bytes().as_slice(), &f.received_at_ms, &enc(f)?],
    )
    .map_err(pg(OP))
}

fn put_public(tx: &mut Transaction<'_>, p: &PublicEntry) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO public_index (published_at_ms, id, entry) VALUES ($1, $2, $3) \
         ON CONFLICT (published_at_ms, id) DO NOTHING",
        &[
            &p.published_at_ms,
            &p.message_id.as_bytes().as_slice(),
            &enc(p)?,
        ],
    )
    .map_err(pg(OP))
}
