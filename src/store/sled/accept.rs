//! Accepting a message: dedup (live index and register), back-pressure, the document file
//! and the one transaction that stores and queues it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::store::documents::DocumentFiles;
use crate::store::types::hex_encode;
use crate::store::{Accept, AcceptOutcome, Delivery, Filed, Lane, StoreError, keys};

use super::records::{
    Membership, MessageRecord, OutboxRecord, TxResult, abort, counter_add, encode, tx_decode,
    tx_error,
};
use super::{SledStore, T_META};

/// What one run of accept's transaction decided.
enum Attempt {
    Done(AcceptOutcome),
    /// A purge moved tombstones meanwhile: read the register again.
    Retry,
    /// The message is new but its document file was not written (the id looked known).
    NeedFile,
}

/// The document file an accept wrote, removed again unless the accept stored the message.
struct PendingFile<'a> {
    files: &'a DocumentFiles,
    id: &'a [u8],
    size: u64,
    token: Option<u64>,
}

impl<'a> PendingFile<'a> {
    fn new(files: &'a DocumentFiles, id: &'a [u8], size: u64) -> Self {
        Self {
            files,
            id,
            size,
            token: None,
        }
    }

    fn write(&mut self, token: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.files.write(self.id, token, bytes)?;
        self.token = Some(token);
        Ok(())
    }

    /// The message was stored: its record names the file now.
    fn keep(mut self) {
        self.token = None;
    }
}

impl Drop for PendingFile<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            // Named by no record: best effort now, and the next open removes it anyway.
            let _ = self.files.delete(self.id, token, self.size);
        }
    }
}

impl SledStore {
    /// Accepts `a` with its filing: check, encode, write the document file unless the id is
    /// known, run the transaction until it decides, and wait for the flush that covers it.
    pub(super) fn accept_filed(
        &self,
        a: Accept,
        filed: Filed,
    ) -> Result<AcceptOutcome, StoreError> {
        crate::store::check_accept(&a)?;
        let prep = Prepared::new(&a, &filed)?;
        let idk = a.meta.id.as_bytes();
        // The document's file first, durable before the transaction that names it (see
        // `documents`) — unless the id is known already: the transaction then answers without it.
        //
        // The register is read outside the transaction (a read may touch the disk, and sled
        // holds a process-wide lock while a transaction runs). The purge count is taken before
        // that read; the transaction compares it (below) and asks for a fresh read if a purge
        // ran in between. The same read answers "is it known?" here.
        let mut purges_before = self.inner.purges.load(Ordering::SeqCst);
        let mut tombstone = self.inner.register.tombstone(idk)?;
        let mut file = PendingFile::new(&self.inner.documents, idk, a.meta.size);
        if tombstone.is_none() && !self.is_live(idk)? {
            file.write(self.file_token()?, &a.bytes)?;
        }
        let writer = self.inner.commit.begin();
        let outcome = loop {
            let known = Known {
                purges_before,
                tombstone: tombstone.as_deref(),
            };
            match self.accept_transaction(&a, &prep, &known, file.token)? {
                Attempt::Done(outcome) => break outcome,
                Attempt::Retry => {
                    purges_before = self.inner.purges.load(Ordering::SeqCst);
                    tombstone = self.inner.register.tombstone(idk)?;
                }
                Attempt::NeedFile => file.write(self.file_token()?, &a.bytes)?,
            }
        };
        if outcome == AcceptOutcome::Stored {
            file.keep();
        }
        match outcome {
            // A duplicate's first write may still be waiting for its flush in another thread:
            // answering "already have it" is an acknowledgement too, so it waits as well.
            AcceptOutcome::Stored | AcceptOutcome::Duplicate { .. } => {
                self.wait(writer.ticket())?;
            }
            _ => drop(writer),
        }
        Ok(outcome)
    }

    /// One run of accept's transaction: dedup, register, back-pressure, then the writes.
    fn accept_transaction(
        &self,
        a: &Accept,
        prep: &Prepared<'_>,
        known: &Known<'_>,
        token: Option<u64>,
    ) -> Result<Attempt, StoreError> {
        let t = self.t();
        let max = self.inner.limits.max_outbox_per_peer;
        (
            &t.meta,
            &t.dedup,
            &t.deliveries,
            &t.outbox,
            &t.inbox,
            &t.membership,
            &t.sent,
            &t.counters,
            &t.filing,
            &t.public,
        )
            .transaction(
                |(
                    meta,
                    dedup,
                    deliveries,
                    outbox,
                    inbox,
                    membership,
                    sent,
                    counters,
                    filing,
                    public,
                )| {
                    let tx = AcceptTx {
                        meta,
                        dedup,
                        deliveries,
                        outbox,
                        inbox,
                        membership,
                        sent,
                        counters,
                        filing,
                        public,
                    };
                    // Dedup first, before any write: exactly-once in the inbox.
                    if let Some(outcome) = known_live(&tx, a)? {
                        return Ok(Attempt::Done(outcome));
                    }
                    // Then the register, read before the transaction. A purge archives its
                    // tombstones there *before* it removes them here and counts itself in
                    // between, so if no purge was counted since that read, a message missing
                    // here was either in that read or never accepted. Otherwise read again.
                    if self.inner.purges.load(Ordering::SeqCst) != known.purges_before {
                        return Ok(Attempt::Retry);
                    }
                    if let Some(existing) = known.tombstone {
                        return Ok(Attempt::Done(known_purged(a, existing)));
                    }
                    check_room(counters, &prep.per_peer, max)?;
                    // Known before the transaction, unknown inside it: not possible today (a
                    // dedup entry leaves only for a tombstone), handled rather than assumed.
                    let Some(token) = token else {
                        return Ok(Attempt::NeedFile);
                    };
                    store_new(&tx, a, prep, token)?;
                    Ok(Attempt::Done(AcceptOutcome::Stored))
                },
            )
            .map_err(tx_error("accept a message"))
    }
}

/// What an accept writes, encoded once before its transaction (which may run several times).
struct Prepared<'a> {
    filing: Option<Vec<u8>>,
    /// Public index key and value.
    public: Option<(Vec<u8>, Vec<u8>)>,
    lane: Lane,
    from_prefix: Vec<u8>,
    /// Per peer: key prefix and number of entries this accept adds.
    per_peer: BTreeMap<&'a str, (Vec<u8>, u64)>,
    local_prefixes: Vec<Vec<u8>>,
    /// The `Queued` state of each forward pair, in order.
    queued: Vec<Vec<u8>>,
    local_state: Vec<u8>,
    /// SHA-256 of the document's bytes, hex (checked on every read).
    sha256: String,
}

impl<'a> Prepared<'a> {
    fn new(a: &'a Accept, filed: &Filed) -> Result<Self, StoreError> {
        let filing = filed.filing.as_ref().map(encode).transpose()?;
        let public = match &filed.public {
            Some(p) => {
                let mut k = keys::time_key(p.published_at_ms).to_vec();
                k.extend_from_slice(a.meta.id.as_bytes());
                Some((k, encode(p)?))
            }
            None => None,
        };
        let mut per_peer: BTreeMap<&str, (Vec<u8>, u64)> = BTreeMap::new();
        for (peer, _) in &a.forward {
            let prefix = keys::string_prefix(peer, "peer")?;
            per_peer.entry(peer.as_str()).or_insert((prefix, 0)).1 += 1;
        }
        let local_prefixes = a
            .local
            .iter()
            .map(|o| keys::string_prefix(o, "organ"))
            .collect::<Result<Vec<_>, _>>()?;
        let queued = a
            .forward
            .iter()
            .map(|(peer, _)| {
                encode(&Delivery::Queued {
                    next_hop: peer.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            filing,
            public,
            lane: Lane::of(a.meta.priority),
            from_prefix: keys::string_prefix(&a.meta.from, "from")?,
            per_peer,
            local_prefixes,
            queued,
            local_state: encode(&Delivery::Local)?,
            sha256: hex_encode(&crate::store::documents::sha256_of(&a.bytes)),
        })
    }
}

/// What was known of the id before the transaction: the register's answer and the purge count
/// it was read at.
struct Known<'a> {
    purges_before: u64,
    tombstone: Option<&'a [u8]>,
}

/// The trees accept's transaction uses.
struct AcceptTx<'t> {
    meta: &'t TransactionalTree,
    dedup: &'t TransactionalTree,
    deliveries: &'t TransactionalTree,
    outbox: &'t TransactionalTree,
    inbox: &'t TransactionalTree,
    membership: &'t TransactionalTree,
    sent: &'t TransactionalTree,
    counters: &'t TransactionalTree,
    filing: &'t TransactionalTree,
    public: &'t TransactionalTree,
}

/// The answer for an id in the live dedup index: a duplicate (its metadata, or purged) or a
/// conflict; `None` for an id not there.
fn known_live(tx: &AcceptTx<'_>, a: &Accept) -> TxResult<Option<AcceptOutcome>> {
    let id = a.meta.id;
    let idk = id.as_bytes();
    let Some(existing) = tx.dedup.get(idk)? else {
        return Ok(None);
    };
    if existing.as_ref() != a.meta.digest_hex.as_bytes() {
        return Ok(Some(AcceptOutcome::Conflict {
            id,
            existing_digest_hex: String::from_utf8_lossy(&existing).into_owned(),
        }));
    }
    match tx.meta.get(idk)? {
        Some(v) => {
            let record: MessageRecord = tx_decode(T_META, idk, &v)?;
            Ok(Some(AcceptOutcome::Duplicate {
                meta: Box::new(record.meta),
            }))
        }
        None => Ok(Some(AcceptOutcome::DuplicatePurged { id })),
    }
}

/// The answer for an id with a tombstone in the register: a purged duplicate or a conflict.
fn known_purged(a: &Accept, existing: &[u8]) -> AcceptOutcome {
    let id = a.meta.id;
    if existing != a.meta.digest_hex.as_bytes() {
        return AcceptOutcome::Conflict {
            id,
            existing_digest_hex: String::from_utf8_lossy(existing).into_owned(),
        };
    }
    AcceptOutcome::DuplicatePurged { id }
}

/// Back-pressure, before any write (the transaction sees the counters it reads consistently,
/// so two racing accepts cannot both squeeze in).
fn check_room(
    counters: &TransactionalTree,
    per_peer: &BTreeMap<&str, (Vec<u8>, u64)>,
    max: u64,
) -> TxResult<()> {
    for (peer, (prefix, adding)) in per_peer {
        let mut depth = 0u64;
        for l in Lane::ALL {
            let c = counters.get(keys::outbox_counter_key(prefix, l))?;
            depth = depth.saturating_add(keys::counter_value(c.as_deref()));
        }
        if depth.saturating_add(*adding) > max {
            return abort(StoreError::OutboxFull {
                peer: (*peer).to_owned(),
                depth,
            });
        }
    }
    Ok(())
}

/// Writes a new message: its record, dedup and sent entries, filing and public entry, then
/// its inbox and outbox entries.
fn store_new(tx: &AcceptTx<'_>, a: &Accept, prep: &Prepared<'_>, token: u64) -> TxResult<()> {
    let idk = a.meta.id.as_bytes();
    let seq = tx.meta.generate_id()?;
    let sent_key = keys::sent_key(&prep.from_prefix, a.meta.received_at_ms, seq);
    let record = MessageRecord {
        meta: a.meta.clone(),
        sent_key: sent_key.clone(),
        local: a.local.clone(),
        public_key: prep.public.as_ref().map(|(k, _)| hex_encode(k)),
        file: Some(token),
        sha256: Some(prep.sha256.clone()),
    };
    let record = encode(&record).map_err(ConflictableTransactionError::Abort)?;
    tx.dedup.insert(idk, a.meta.digest_hex.as_bytes())?;
    tx.meta.insert(idk, record)?;
    tx.sent.insert(sent_key, idk)?;
    counter_add(tx.counters, keys::MESSAGES_COUNTER, 1)?;
    if let Some(f) = &prep.filing {
        tx.filing.insert(idk, f.as_slice())?;
    }
    if let Some((k, v)) = &prep.public {
        tx.public.insert(k.as_slice(), v.as_slice())?;
    }
    queue_local(tx, a, prep, seq)?;
    queue_forward(tx, a, prep)
}

/// An inbox entry, membership and `Local` delivery state per local organ.
fn queue_local(tx: &AcceptTx<'_>, a: &Accept, prep: &Prepared<'_>, seq: u64) -> TxResult<()> {
    let id = a.meta.id;
    let idk = id.as_bytes();
    for (organ, prefix) in a.local.iter().zip(&prep.local_prefixes) {
        let inbox_key = keys::queue_key(prefix, prep.lane, seq);
        tx.inbox.insert(inbox_key.clone(), idk)?;
        let m = encode(&Membership {
            inbox_key,
            acked: false,
        })
        .map_err(ConflictableTransactionError::Abort)?;
        tx.membership.insert(keys::membership_key(prefix, &id), m)?;
        tx.deliveries
            .insert(keys::delivery_key(&id, organ), prep.local_state.as_slice())?;
    }
    Ok(())
}

/// An outbox entry, its lane counter and the `Queued` delivery state per forward pair.
fn queue_forward(tx: &AcceptTx<'_>, a: &Accept, prep: &Prepared<'_>) -> TxResult<()> {
    let id = a.meta.id;
    for ((peer, recipient), state) in a.forward.iter().zip(&prep.queued) {
        let prefix = prep.per_peer.get(peer.as_str()).map(|(p, _)| p);
        let Some(prefix) = prefix else {
            continue; // unreachable: every forward peer is in per_peer
        };
        let entry = OutboxRecord {
            message: id,
            recipient: recipient.clone(),
            priority: a.meta.priority,
            attempts: 0,
            next_attempt_ms: 0,
            last_error: None,
        };
        let entry = encode(&entry).map_err(ConflictableTransactionError::Abort)?;
        // A fresh sequence number per entry keeps FIFO across messages.
        let entry_seq = tx.meta.generate_id()?;
        tx.outbox
            .insert(keys::queue_key(prefix, prep.lane, entry_seq), entry)?;
        counter_add(tx.counters, &keys::outbox_counter_key(prefix, prep.lane), 1)?;
        tx.deliveries
            .insert(keys::delivery_key(&id, recipient), state.as_slice())?;
    }
    Ok(())
}
