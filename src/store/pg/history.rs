//! What happened to a message: its document (read back against its digest), the sent list,
//! delivery states, status events recorded here and queued for peers, filing records and the
//! public index.

use postgres::Transaction;

use crate::store::documents::fault_of;
use crate::store::types::{hex_decode, hex_encode};
use crate::store::{
    Delivery, DeliveryKind, Filing, MessageId, MessageMeta, OrganId, PublicEntry, SentCursor,
    SentItem, StatusCode, StatusEvent, StatusOutKey, StoreError, keys,
};

use super::{PgStore, dec, enc, pg};

/// Records `event` (its message must be here: checked under a lock a purge waits for).
pub(super) fn insert_status(
    tx: &mut Transaction<'_>,
    op: &'static str,
    event: &StatusEvent,
    value: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO statuses (seq, id, organ, code, at_ms, event) \
         VALUES (nextval('queue_seq'), $1, $2, $3, $4, $5)",
        &[
            &event.message.as_bytes().as_slice(),
            &event.organ.as_str(),
            &event.code.code(),
            &event.at_ms,
            &value,
        ],
    )
    .map_err(pg(op))?;
    Ok(())
}

/// Queues an encoded status event for `peer`.
pub(super) fn queue_status(
    tx: &mut Transaction<'_>,
    op: &'static str,
    peer: &OrganId,
    value: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO status_out (seq, peer, event) VALUES (nextval('queue_seq'), $1, $2)",
        &[&peer.as_str(), &value],
    )
    .map_err(pg(op))?;
    Ok(())
}

/// A sent-list cursor: the sled store's sent key (`from ‖ time ‖ seq`), hex.
fn cursor_of(prefix: &[u8], received_at_ms: i64, seq: i64) -> SentCursor {
    let seq = u64::from_be_bytes(seq.to_be_bytes());
    SentCursor(hex_encode(&keys::sent_key(prefix, received_at_ms, seq)))
}

/// The position a cursor names, if it belongs to `prefix`'s listing.
fn position_of(prefix: &[u8], cursor: &SentCursor) -> Result<(i64, i64), StoreError> {
    let foreign = StoreError::Invalid {
        field: "cursor",
        reason: "the cursor belongs to another listing",
    };
    let key = hex_decode(cursor.as_str()).ok_or(foreign)?;
    let rest = key
        .strip_prefix(prefix)
        .and_then(|r| <&[u8; 16]>::try_from(r).ok());
    let Some(rest) = rest else {
        return Err(StoreError::Invalid {
            field: "cursor",
            reason: "the cursor belongs to another listing",
        });
    };
    let (time, seq) = rest.split_at(8);
    let time = u64::from_be_bytes(time.try_into().unwrap_or_default()) ^ (1 << 63);
    let seq = u64::from_be_bytes(seq.try_into().unwrap_or_default());
    Ok((
        i64::from_be_bytes(time.to_be_bytes()),
        i64::from_be_bytes(seq.to_be_bytes()),
    ))
}

impl PgStore {
    /// A message's record and document, the document checked against the size and SHA-256
    /// written with it: an altered one is quarantined and never returned.
    pub(super) fn document(
        &self,
        id: &MessageId,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>, StoreError> {
        let idk = id.as_bytes().as_slice();
        let row = self.read(|c| {
            c.query_opt(
                "SELECT meta, sha256, doc, EXISTS (SELECT 1 FROM quarantine q WHERE q.id = m.id) \
                 FROM messages m WHERE id = $1",
                &[&idk],
            )
            .map_err(pg("read a document"))
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let meta: MessageMeta = dec("messages", idk, row.get(0))?;
        let sha256: &[u8] = row.get(1);
        let doc: Vec<u8> = row.get(2);
        let fault = fault_of(&doc, meta.size, Some(sha256));
        let quarantined: bool = row.get(3);
        match fault {
            None if quarantined => self.release(id)?,
            None => {}
            Some(fault) => {
                self.quarantine(id, fault)?;
                return Err(StoreError::Altered { id: *id, fault });
            }
        }
        Ok(Some((meta, doc)))
    }

    fn deliveries_of(
        c: &mut postgres::Client,
        idk: &[u8],
    ) -> Result<Vec<(OrganId, Delivery)>, StoreError> {
        let rows = c
            .query(
                "SELECT recipient, state FROM deliveries WHERE id = $1 ORDER BY recipient",
                &[&idk],
            )
            .map_err(pg("read delivery states"))?;
        rows.iter()
            .map(|r| {
                let recipient: &str = r.get(0);
                let key = || [idk, recipient.as_bytes()].concat();
                let organ = recipient.parse().map_err(|_| StoreError::Corrupt {
                    what: "deliveries",
                    key: hex_encode(&key()),
                })?;
                Ok((organ, dec("deliveries", &key(), r.get(1))?))
            })
            .collect()
    }

    pub(super) fn message(&self, id: &MessageId) -> Result<Option<SentItem>, StoreError> {
        let idk = id.as_bytes().as_slice();
        self.read(|c| {
            let row = c
                .query_opt("SELECT meta FROM messages WHERE id = $1", &[&idk])
                .map_err(pg("read a message"))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let meta: MessageMeta = dec("messages", idk, row.get(0))?;
            Ok(Some((meta, Self::deliveries_of(c, idk)?)))
        })
    }

    pub(super) fn sent_list(
        &self,
        from: &OrganId,
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
        let mut after = match (cursor, since_ms) {
            (Some(c), _) => position_of(&prefix, c)?,
            (None, Some(since)) => (since, i64::MIN),
            (None, None) => (i64::MIN, i64::MIN),
        };
        let inclusive = cursor.is_none();
        self.read(|c| {
            let mut first = true;
            loop {
                // The first page includes `since` itself; later pages start after the last row.
                let op = if first && inclusive { ">=" } else { ">" };
                first = false;
                let rows = c
                    .query(
                        &format!(
                            "SELECT id, meta, received_at_ms, seq FROM messages WHERE sender = $1 \
                             AND (received_at_ms, seq) {op} ($2, $3) \
                             ORDER BY received_at_ms, seq LIMIT 256"
                        ),
                        &[&from.as_str(), &after.0, &after.1],
                    )
                    .map_err(pg("read the sent list"))?;
                let full = rows.len() == 256;
                for r in &rows {
                    after = (r.get(2), r.get(3));
                    let idk: &[u8] = r.get(0);
                    let meta: MessageMeta = dec("messages", idk, r.get(1))?;
                    let deliveries = Self::deliveries_of(c, idk)?;
                    if state.is_some_and(|k| !deliveries.iter().any(|(_, d)| d.kind() == k)) {
                        continue;
                    }
                    page.push((meta, deliveries));
                    if page.len() >= limit {
                        return Ok((page, Some(cursor_of(&prefix, after.0, after.1))));
                    }
                }
                if !full {
                    return Ok((page, None));
                }
            }
        })
    }

    pub(super) fn statuses(&self, id: &MessageId) -> Result<Vec<StatusEvent>, StoreError> {
        let idk = id.as_bytes().as_slice();
        let rows = self.read(|c| {
            c.query(
                "SELECT seq, event FROM statuses WHERE id = $1 ORDER BY at_ms, seq",
                &[&idk],
            )
            .map_err(pg("read status events"))
        })?;
        rows.iter()
            .map(|r| dec("statuses", &r.get::<_, i64>(0).to_be_bytes(), r.get(1)))
            .collect()
    }

    /// `put_status` (`relay` false) and `relay_status` (`relay` true: a repeated event is
    /// recorded once, queued for `forward_to`, and a first 06 is noted in the filing record).
    pub(super) fn record_status(
        &self,
        event: &StatusEvent,
        forward_to: &[OrganId],
        relay: bool,
    ) -> Result<(), StoreError> {
        let op = if relay {
            "relay a status event"
        } else {
            "record a status event"
        };
        let value = enc(event)?;
        let idk = event.message.as_bytes().as_slice();
        self.durably(op, |tx| {
            // The message must be here, and stays while this transaction runs (a purge's delete
            // waits for this lock): an event recorded for a purged message would stay forever.
            tx.query_opt(
                "SELECT 1 FROM messages WHERE id = $1 FOR KEY SHARE",
                &[&idk],
            )
            .map_err(pg(op))?
            .ok_or(StoreError::NotFound { id: event.message })?;
            if relay && seen(tx, op, event)? {
                return Ok(());
            }
            insert_status(tx, op, event, &value)?;
            if relay && event.code == StatusCode::Completed {
                note_handled(tx, op, event)?;
            }
            for peer in forward_to {
                queue_status(tx, op, peer, &value)?;
            }
            Ok(())
        })
    }

    pub(super) fn status_outbox(
        &self,
        peer: &OrganId,
        limit: usize,
    ) -> Result<Vec<(StatusOutKey, StatusEvent)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.read(|c| {
            c.query(
                "SELECT seq, event FROM status_out WHERE peer = $1 ORDER BY seq LIMIT $2",
                &[&peer.as_str(), &limit],
            )
            .map_err(pg("read the status outbox"))
        })?;
        rows.iter()
            .map(|r| {
                let key = r.get::<_, i64>(0).to_be_bytes();
                Ok((
                    StatusOutKey(key.to_vec()),
                    dec("status_out", &key, r.get(1))?,
                ))
            })
            .collect()
    }

    pub(super) fn status_sent(&self, key: &StatusOutKey) -> Result<(), StoreError> {
        let seq = <[u8; 8]>::try_from(key.0.as_slice())
            .map(i64::from_be_bytes)
            .map_err(|_| StoreError::Invalid {
                field: "status key",
                reason: "the key is not one this store handed out",
            })?;
        let op = "remove a relayed status event";
        self.durably(op, |tx| {
            tx.execute("DELETE FROM status_out WHERE seq = $1", &[&seq])
                .map_err(pg(op))?;
            Ok(())
        })
    }

    pub(super) fn filing(&self, id: &MessageId) -> Result<Option<Filing>, StoreError> {
        let idk = id.as_bytes().as_slice();
        let row = self.read(|c| {
            c.query_opt("SELECT filing FROM filings WHERE id = $1", &[&idk])
                .map_err(pg("read a filing record"))
        })?;
        row.map(|r| dec("filings", idk, r.get(0))).transpose()
    }

    pub(super) fn filings_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(MessageId, Filing)>, StoreError> {
        let rows = self.read(|c| {
            c.query(
                "SELECT id, filing FROM filings WHERE received_at_ms >= $1 AND received_at_ms < $2 \
                 ORDER BY received_at_ms, id",
                &[&from_ms, &to_ms],
            )
            .map_err(pg("read filing records"))
        })?;
        rows.iter()
            .map(|r| {
                let idk: &[u8] = r.get(0);
                Ok((
                    MessageId::from_stored("filings", idk)?,
                    dec("filings", idk, r.get(1))?,
                ))
            })
            .collect()
    }

    pub(super) fn public_documents(&self, limit: usize) -> Result<Vec<PublicEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.read(|c| {
            c.query(
                "SELECT id, entry FROM public_index ORDER BY published_at_ms DESC, id DESC LIMIT $1",
                &[&limit],
            )
            .map_err(pg("read the public index"))
        })?;
        rows.iter()
            .map(|r| dec("public_index", r.get(0), r.get(1)))
            .collect()
    }
}

/// Whether the same event (message, organ, code, time) is already recorded: a retried relay.
fn seen(
    tx: &mut Transaction<'_>,
    op: &'static str,
    event: &StatusEvent,
) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM statuses WHERE id = $1 AND organ = $2 AND code = $3 AND at_ms = $4",
            &[
                &event.message.as_bytes().as_slice(),
                &event.organ.as_str(),
                &event.code.code(),
                &event.at_ms,
            ],
        )
        .map_err(pg(op))?
        .is_some())
}

/// The first 06 of each organ, noted in the filing record (which retention keeps).
fn note_handled(
    tx: &mut Transaction<'_>,
    op: &'static str,
    event: &StatusEvent,
) -> Result<(), StoreError> {
    let idk = event.message.as_bytes().as_slice();
    let row = tx
        .query_opt(
            "SELECT filing FROM filings WHERE id = $1 FOR UPDATE",
            &[&idk],
        )
        .map_err(pg(op))?;
    let Some(row) = row else {
        return Ok(());
    };
    let mut f: Filing = dec("filings", idk, row.get(0))?;
    if f.handled.contains_key(&event.organ) {
        return Ok(());
    }
    f.handled.insert(event.organ.clone(), event.at_ms);
    tx.execute(
        "UPDATE filings SET filing = $2 WHERE id = $1",
        &[&idk, &enc(&f)?],
    )
    .map_err(pg(op))?;
    Ok(())
}
