//! OCSP answers kept by certID until they stop being fresh (nextUpdate, or thisUpdate plus the
//! freshness limit). Only "good" answers that passed every check are kept; a revoked or
//! unusable answer is asked again next time (a responder that was down may be up).

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::OcspAnswer;
use super::request::CertId;

/// Entries held. A gateway sees the certificates of its peers' organs: tens. When full, the
/// answers past their time are dropped, and if none is, the cache is emptied and refills.
pub const OCSP_CACHE_CAPACITY: usize = 1024;

/// Hit and miss counts of the OCSP cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OcspCacheStats {
    /// Checks answered from the cache.
    pub hits: u64,
    /// Checks that asked the responder.
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

/// The cache. Locks ignore poisoning: only whole entries are ever written.
#[derive(Default)]
pub(super) struct OcspCache {
    map: RwLock<HashMap<CertId, OcspAnswer>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl OcspCache {
    /// The answer for `id` if it is fresh at `at`: never for an instant before its thisUpdate
    /// (an `--at` in the past asks again), never at or after its end.
    pub(super) fn get(&self, id: &CertId, at: u64) -> Option<OcspAnswer> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let hit = map
            .get(id)
            .filter(|a| a.this_update <= at && at < a.until)
            .map(|a| OcspAnswer {
                cached: true,
                ..a.clone()
            });
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    pub(super) fn insert(&self, id: CertId, answer: OcspAnswer) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= OCSP_CACHE_CAPACITY && !map.contains_key(&id) {
            let newest_this_update = answer.this_update;
            map.retain(|_, a| a.until > newest_this_update);
            if map.len() >= OCSP_CACHE_CAPACITY {
                map.clear();
            }
        }
        map.insert(id, answer);
    }

    pub(super) fn stats(&self) -> OcspCacheStats {
        OcspCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.map.read().unwrap_or_else(|e| e.into_inner()).len(),
        }
    }
}
