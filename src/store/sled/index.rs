//! The filing records and the public index, read from the live database and the register
//! together (a purge moves entries from one to the other).

use std::collections::HashSet;

use crate::store::register::{R_FILING, R_PUBLIC};
use crate::store::types::hex_encode;
use crate::store::{Filing, MessageId, PublicEntry, StoreError};

use super::records::{decode, get_decoded};
use super::{SledStore, T_FILING, T_PUBLIC};

impl SledStore {
    pub(super) fn filing(&self, id: &MessageId) -> Result<Option<Filing>, StoreError> {
        // Main database first, register second: the order a purge cannot slip between.
        if let Some(f) = get_decoded(
            &self.t().filing,
            T_FILING,
            id.as_bytes(),
            "read a filing record",
        )? {
            return Ok(Some(f));
        }
        match self.inner.register.filing(id.as_bytes())? {
            Some(v) => decode(R_FILING, id.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn filings_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(MessageId, Filing)>, StoreError> {
        // A scan of every record: the report runs rarely, on an admin's request.
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let main = self.t().filing.iter().map(|kv| {
            (
                T_FILING,
                kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| StoreError::engine("read filing records", e)),
            )
        });
        let archived = self.inner.register.filings().map(|kv| (R_FILING, kv));
        // A record moving to the register during the scan may be seen twice: keep one.
        for (tree, kv) in main.chain(archived) {
            let (k, v) = kv?;
            let raw = <[u8; 16]>::try_from(&k[..]).map_err(|_| StoreError::Corrupt {
                what: tree,
                key: hex_encode(&k),
            })?;
            let f: Filing = decode(tree, &k, &v)?;
            if f.received_at_ms >= from_ms && f.received_at_ms < to_ms && seen.insert(raw) {
                out.push((MessageId::from_bytes(raw), f));
            }
        }
        out.sort_by_key(|(_, f)| f.received_at_ms);
        Ok(out)
    }

    pub(super) fn public_documents(&self, limit: usize) -> Result<Vec<PublicEntry>, StoreError> {
        // Two indexes, both ordered by `published_at ‖ id`: merge them newest first. An entry
        // in both (moving to the register right now) has the same key and is taken once.
        let mut main = self
            .t()
            .public
            .iter()
            .rev()
            .map(|kv| {
                kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| StoreError::engine("read the public index", e))
            })
            .peekable();
        let mut archived = self.inner.register.public_newest_first().peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            // (take the main index's entry, drop the register's equal one)
            let (take_main, same) = match (main.peek(), archived.peek()) {
                (None, None) => break,
                (Some(_), None) | (Some(Err(_)), _) => (true, false),
                (None, Some(_)) | (_, Some(Err(_))) => (false, false),
                (Some(Ok((a, _))), Some(Ok((b, _)))) => (a >= b, a == b),
            };
            if same {
                archived.next();
            }
            let (tree, next) = if take_main {
                (T_PUBLIC, main.next())
            } else {
                (R_PUBLIC, archived.next())
            };
            if let Some(kv) = next {
                let (k, v) = kv?;
                out.push(decode(tree, &k, &v)?);
            }
        }
        Ok(out)
    }
}
