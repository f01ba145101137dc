//! Accepting a message: dedup, back-pressure and every write in one transaction.
//!
//! Dedup is the `dedup` row, inserted first: a concurrent accept of the same id waits on it
//! (`ON CONFLICT DO NOTHING` blocks until the first commits or rolls back), then reads what the
//! first stored. Back-pressure is the `peer_depth` row of each peer, updated in peer order (no
//! deadlock between accepts) and locked until commit, so two accepts never both take the last
//! place in an outbox.

use std::collections::BTreeMap;

use postgres::Transaction;

use crate::store::documents::sha256_of;
use crate::store::{
    Accept, AcceptOutcome, Delivery, Filed, Lane, MessageMeta, StoreError, check_accept,
};

use super::{PgStore, dec, enc, pg};

const OP: &str = "accept a message";

impl PgStore {
    pub(super) fn accept_filed(
        &self,
        a: &Accept,
        filed: &Filed,
    ) -> Result<AcceptOutcome, StoreError> {
        check_accept(a)?;
        // An answer that the message is already here is an acknowledgement too: every outcome
        // waits for the flush (a Conflict or a purged duplicate wrote nothing; waiting is cheap).
        self.durably(OP, |tx| {
            if let Some(known) = known(tx, a)? {
                return Ok(known);
            }
            self.check_room(tx, a)?;
            store_new(tx, a, filed)?;
            Ok(AcceptOutcome::Stored)
        })
    }

    /// Adds this message's entries to each peer's depth, refusing if one would pass the limit.
    fn check_room(&self, tx: &mut Transaction<'_>, a: &Accept) -> Result<(), StoreError> {
        let mut per_peer: BTreeMap<&str, i64> = BTreeMap::new();
        for (peer, _) in &a.forward {
            *per_peer.entry(peer.as_str()).or_insert(0) += 1;
        }
        let max = i64::try_from(self.inner.limits.max_outbox_per_peer).unwrap_or(i64::MAX);
        for (peer, adding) in per_peer {
            let depth: i64 = tx
                .query_one(
                    "INSERT INTO peer_depth (peer, n) VALUES ($1, $2) ON CONFLICT (peer) \
                     DO UPDATE SET n = peer_depth.n + EXCLUDED.n RETURNING n",
                    &[&peer, &adding],
                )
                .map_err(pg(OP))?
                .get(0);
            if depth > max {
                return Err(StoreError::OutboxFull {
                    peer: peer.to_owned(),
                    depth: u64::try_from(depth - adding).unwrap_or(0),
                });
            }
        }
        Ok(())
    }
}

/// Dedup: `None` for a new message (its dedup row is now taken by this transaction).
fn known(tx: &mut Transaction<'_>, a: &Accept) -> Result<Option<AcceptOutcome>, StoreError> {
    let id = a.meta.id;
    let idk = id.as_bytes().as_slice();
    let inserted = tx
        .execute(
            "INSERT INTO dedup (id, digest_hex) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[&idk, &a.meta.digest_hex],
        )
        .map_err(pg(OP))?;
    if inserted == 1 {
        return Ok(None);
    }
    let row = tx
        .query_one(
            "SELECT d.digest_hex, m.meta FROM dedup d LEFT JOIN messages m ON m.id = d.id \
             WHERE d.id = $1",
            &[&idk],
        )
        .map_err(pg(OP))?;
    let existing: String = row.get(0);
    if existing != a.meta.digest_hex {
        return Ok(Some(AcceptOutcome::Conflict {
            id,
            existing_digest_hex: existing,
        }));
    }
    Ok(Some(match row.get::<_, Option<String>>(1) {
        Some(meta) => AcceptOutcome::Duplicate {
            meta: Box::new(dec("messages", idk, &meta)?),
        },
        None => AcceptOutcome::DuplicatePurged { id },
    }))
}

fn next_seq(tx: &mut Transaction<'_>) -> Result<i64, StoreError> {
    Ok(tx
        .query_one("SELECT nextval('queue_seq')", &[])
        .map_err(pg(OP))?
        .get(0))
}

/// The message, its filing and public entry, its inbox entries and outbox entries, and a
/// delivery state per recipient.
fn store_new(tx: &mut Transaction<'_>, a: &Accept, filed: &Filed) -> Result<(), StoreError> {
    let idk = a.meta.id.as_bytes().as_slice();
    let seq = next_seq(tx)?;
    insert_message(tx, &a.meta, &a.bytes, seq)?;
    if let Some(f) = &filed.filing {
        tx.execute(
            "INSERT INTO filings (id, received_at_ms, filing) VALUES ($1, $2, $3)",
            &[&idk, &f.received_at_ms, &enc(f)?],
        )
        .map_err(pg(OP))?;
    }
    if let Some(p) = &filed.public {
        tx.execute(
            "INSERT INTO public_index (published_at_ms, id, entry) VALUES ($1, $2, $3)",
            &[&p.published_at_ms, &idk, &enc(p)?],
        )
        .map_err(pg(OP))?;
    }
    if !a.local.is_empty() {
        // Delivered at commit to every node listening (their long polls wake).
        tx.execute("SELECT pg_notify($1, '')", &[&super::ARRIVALS])
            .map_err(pg(OP))?;
    }
    let lane = i16::from(Lane::of(a.meta.priority).rank());
    let local = enc(&Delivery::Local)?;
    for organ in &a.local {
        tx.execute(
            "INSERT INTO inbox (organ, id, lane, seq) VALUES ($1, $2, $3, $4)",
            &[&organ.as_str(), &idk, &lane, &seq],
        )
        .map_err(pg(OP))?;
        put_delivery(tx, idk, organ.as_str(), &local)?;
    }
    let priority = i16::from(a.meta.priority.code());
    for (peer, recipient) in &a.forward {
        // A fresh sequence number per entry keeps FIFO across messages.
        let entry_seq = next_seq(tx)?;
        tx.execute(
            "INSERT INTO outbox (seq, peer, lane, id, recipient, priority) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &entry_seq,
                &peer.as_str(),
                &lane,
                &idk,
                &recipient.as_str(),
                &priority,
            ],
        )
        .map_err(pg(OP))?;
        let queued = enc(&Delivery::Queued {
            next_hop: peer.clone(),
        })?;
        put_delivery(tx, idk, recipient.as_str(), &queued)?;
    }
    Ok(())
}

/// The `messages` row: record, document and its SHA-256 (checked on every read).
pub(super) fn insert_message(
    tx: &mut Transaction<'_>,
    meta: &MessageMeta,
    bytes: &[u8],
    seq: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO messages (id, seq, sender, received_at_ms, meta, sha256, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &meta.id.as_bytes().as_slice(),
            &seq,
            &meta.from.as_str(),
            &meta.received_at_ms,
            &enc(meta)?,
            &sha256_of(bytes).as_slice(),
            &bytes,
        ],
    )
    .map_err(pg(OP))?;
    Ok(())
}

fn put_delivery(
    tx: &mut Transaction<'_>,
    idk: &[u8],
    recipient: &str,
    state: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO deliveries (id, recipient, state) VALUES ($1, $2, $3)",
        &[&idk, &recipient, &state],
    )
    .map_err(pg(OP))?;
    Ok(())
}
