//! The quarantine and the scrub: every stored document read back against its record, every
//! index entry's record looked up (`lienthong store check`, and the gateway's own online check).

use crate::store::types::hex_encode;
use crate::store::{Dangling, MessageId, Quarantined, ScrubReport, StoreError};

use super::records::{MessageRecord, OutboxRecord, Quarantine, decode};
use super::{SledStore, T_DEDUP, T_INBOX, T_MEMBERSHIP, T_META, T_OUTBOX, T_QUARANTINE, T_SENT};

/// How an index entry names its message.
type Target = fn(&[u8], &[u8]) -> Option<[u8; 16]>;

fn id_in_value(_key: &[u8], value: &[u8]) -> Option<[u8; 16]> {
    value.try_into().ok()
}

fn id_is_key(key: &[u8], _value: &[u8]) -> Option<[u8; 16]> {
    key.try_into().ok()
}

fn id_ends_key(key: &[u8], _value: &[u8]) -> Option<[u8; 16]> {
    key.len()
        .checked_sub(16)
        .and_then(|start| key.get(start..))
        .and_then(|id| id.try_into().ok())
}

fn id_in_outbox_record(_key: &[u8], value: &[u8]) -> Option<[u8; 16]> {
    serde_json::from_slice::<OutboxRecord>(value)
        .ok()
        .map(|r| *r.message.as_bytes())
}

impl SledStore {
    pub(super) fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t().quarantine.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read the quarantine", e))?;
            let raw = <[u8; 16]>::try_from(k.as_ref()).map_err(|_| StoreError::Corrupt {
                what: T_QUARANTINE,
                key: hex_encode(&k),
            })?;
            let q: Quarantine = decode(T_QUARANTINE, &k, &v)?;
            out.push(Quarantined {
                id: MessageId::from_bytes(raw),
                fault: q.fault,
                at_ms: q.at_ms,
            });
        }
        out.sort_by_key(|q| q.at_ms);
        Ok(out)
    }

    /// Every document, then every index.
    pub(super) fn scrub(&self) -> Result<ScrubReport, StoreError> {
        let mut report = ScrubReport::default();
        self.scrub_documents(&mut report)?;
        report.orphans = self.inner.documents.orphans_held()?;
        report.orphans_dir = self.inner.documents.orphans_dir().display().to_string();
        let t = self.t();
        let indexes: [(&sled::Tree, &'static str, Target); 5] = [
            (&t.inbox, T_INBOX, id_in_value),
            (&t.sent, T_SENT, id_in_value),
            (&t.dedup, T_DEDUP, id_is_key),
            (&t.membership, T_MEMBERSHIP, id_ends_key),
            (&t.outbox, T_OUTBOX, id_in_outbox_record),
        ];
        for (tree, name, target) in indexes {
            self.scrub_index(tree, name, target, &mut report)?;
        }
        Ok(report)
    }

    /// Reads every record's document through the one checked read (`bytes_of`), which
    /// quarantines what is altered and releases what is whole again.
    fn scrub_documents(&self, report: &mut ScrubReport) -> Result<(), StoreError> {
        for kv in self.t().meta.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read records", e))?;
            let Ok(record) = decode::<MessageRecord>(T_META, &k, &v) else {
                report.unreadable.push(Dangling {
                    index: T_META.to_owned(),
                    key: hex_encode(&k),
                });
                continue;
            };
            let id = record.meta.id;
            let was_quarantined = self.is_quarantined(&id)?;
            match self.bytes_of(&record) {
                Ok(Some(bytes)) => {
                    report.documents += 1;
                    report.bytes = report.bytes.saturating_add(bytes.len() as u64);
                    if record.sha256.is_none() {
                        report.without_digest += 1;
                    }
                    if was_quarantined {
                        report.released += 1;
                    }
                }
                // Purged while the scrub ran.
                Ok(None) => {}
                Err(StoreError::Altered { id, fault }) => report.altered.push(Quarantined {
                    id,
                    fault,
                    at_ms: crate::store::now_ms(),
                }),
                Err(StoreError::Corrupt { what, key }) => {
                    report.unreadable.push(Dangling {
                        index: what.to_owned(),
                        key,
                    });
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// Each entry of `tree` must name a record; one whose record is missing while the entry is
    /// still there (not a purge racing the scrub) is dangling.
    fn scrub_index(
        &self,
        tree: &sled::Tree,
        name: &'static str,
        target: Target,
        report: &mut ScrubReport,
    ) -> Result<(), StoreError> {
        for kv in tree.iter() {
            let (k, v) = kv.map_err(|e| StoreError::engine("read an index", e))?;
            let entry = || Dangling {
                index: name.to_owned(),
                key: hex_encode(&k),
            };
            let Some(raw) = target(&k, &v) else {
                report.unreadable.push(entry());
                continue;
            };
            if self.read_record(&MessageId::from_bytes(raw))?.is_some() {
                continue;
            }
            let still_there = tree
                .contains_key(&k)
                .map_err(|e| StoreError::engine("read an index", e))?;
            if still_there {
                report.dangling.push(entry());
            }
        }
        Ok(())
    }
}
