//! A cache of successful certificate-chain verifications, owned by one [`TrustStore`].
//!
//! Verifying an 8 KB document costs ~360 µs, of which the RSA check is ~24 µs; most of the rest
//! is the certificate half (X.509 parsing, webpki path building, the chain's and the CRL's
//! signatures, key usage, organ binding), and a gateway sees the same few chains thousands of
//! times. This remembers what that half produced, for the exact certificate bytes presented,
//! for as long as the answer provably holds.
//!
//! What keeps it exactly as strict as the full check:
//! - it lives inside the [`TrustStore`] (anchors + CRLs). A CRL reload builds a new store with
//!   an empty cache, and adding an anchor or CRL to a store clears its cache, so no answer
//!   outlives the trust it was computed against;
//! - the key is SHA-256 over the policy of the check and every presented certificate's DER, in
//!   order, each length-prefixed: another certificate, order or policy is another key;
//! - an entry is used only when the verification time lies inside its window: from the latest
//!   notBefore to the earliest notAfter of the certificates on the verified path and nextUpdate
//!   of every CRL in the store. Outside it (an `--at` after notAfter, a time within the clock
//!   skew allowance, a stale CRL) the full check runs and gives its own answer;
//! - only successes are stored, and only the verification module (`super::verify`) makes a
//!   `VerifiedChain`;
//! - the signature over SignedInfo or the receipt, the digest and everything about the document
//!   are checked on every call, hit or miss.
//!
//! [`TrustStore`]: super::TrustStore

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls_pki_types::CertificateDer;

use super::verify::VerifiedChain;

/// Entries per trust store. A gateway verifies the chains of its peers' organs: tens, not
/// hundreds. When full the cache is emptied and refills from the next verifications; an entry
/// exists only for a chain that verified, so filling it takes that many valid certificates.
pub const CHAIN_CACHE_CAPACITY: usize = 256;

/// Names the certificate check an entry answers for. Changing any rule of `check_chain`,
/// `check_leaf_usage` or the organ binding must change this string, so no entry made under
/// the old rules can answer for the new ones.
const POLICY: &[u8] = b"lienthong chain v2: webpki path to anchor, chain EKU in the union of the \
    anchors' policies if present, CRL depth end-entity, unknown status deny, CRL expiry enforced; \
    leaf keyUsage digitalSignature|nonRepudiation and not keyCertSign, leaf EKU per the policy \
    of the anchor reached; one SAN organ binding";

/// Hit and miss counts of one trust store's chain cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Verifications answered from the cache (the certificate half skipped).
    pub hits: u64,
    /// Verifications that ran the full certificate check (no entry, or outside its window).
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

/// SHA-256 over [`POLICY`] and the presented certificates.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ChainKey([u8; 32]);

impl ChainKey {
    /// The key for `certificates` exactly as presented (leaf and intermediates, in order).
    pub(crate) fn of(certificates: &[CertificateDer<'_>]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut framed = |bytes: &[u8]| {
            // Length-prefixed so no two different lists hash the same input.
            let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(bytes);
        };
        framed(POLICY);
        let count = u64::try_from(certificates.len()).unwrap_or(u64::MAX);
        framed(&count.to_be_bytes());
        for c in certificates {
            framed(c.as_ref());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        Self(key)
    }
}

/// The cache itself: a bounded map behind a lock that never poisons anything (a poisoned map
/// is simply emptied: a cache can always be dropped).
#[derive(Default)]
pub(crate) struct ChainCache {
    entries: RwLock<HashMap<ChainKey, Arc<VerifiedChain>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counts only: the entries name organs and subjects nobody asked to log.
impl std::fmt::Debug for ChainCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ChainCache {
    /// The entry for `key` if it holds at `at` (seconds since the epoch); counts a hit or miss.
    pub(crate) fn get(&self, key: &ChainKey, at: u64) -> Option<Arc<VerifiedChain>> {
        let found = match self.entries.read() {
            Ok(map) => map.get(key).filter(|c| c.holds_at(at)).cloned(),
            Err(_) => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers a chain that just verified. Entries whose window is empty are not stored.
    pub(crate) fn insert(&self, key: ChainKey, chain: Arc<VerifiedChain>) {
        if !chain.has_window() {
            return;
        }
        let mut map = match self.entries.write() {
            Ok(map) => map,
            Err(poisoned) => {
                self.entries.clear_poison();
                let mut map = poisoned.into_inner();
                map.clear();
                map
            }
        };
        if map.len() >= CHAIN_CACHE_CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, chain);
    }

    /// Forgets every entry (the trust they were computed against changed).
    pub(crate) fn clear(&mut self) {
        match self.entries.get_mut() {
            Ok(map) => map.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
        self.entries.clear_poison();
    }

    /// Hits, misses and entries so far.
    pub(crate) fn stats(&self) -> CacheStats {
        let entries = match self.entries.read() {
            Ok(map) => map.len(),
            Err(p) => p.into_inner().len(),
        };
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_byte_order_and_boundary() {
        let a = CertificateDer::from(vec![1u8, 2, 3]);
        let b = CertificateDer::from(vec![4u8, 5]);
        let ab = ChainKey::of(&[a.clone(), b.clone()]);
        assert!(ab == ChainKey::of(&[a.clone(), b.clone()]));
        assert!(ab != ChainKey::of(&[b.clone(), a.clone()]));
        assert!(ab != ChainKey::of(std::slice::from_ref(&a)));
        // Same concatenated bytes, other split: another key.
        let a2 = CertificateDer::from(vec![1u8, 2]);
        let b2 = CertificateDer::from(vec![3u8, 4, 5]);
        assert!(ab != ChainKey::of(&[a2, b2]));
    }
}
