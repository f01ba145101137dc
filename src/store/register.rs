//! The register: what the store keeps after a message is purged — its dedup tombstone
//! (id → digest), its filing record and its public-index entry — in a sled database of its own.
//!
//! Why a second database: sled 0.34 reclaims a log segment only once *nothing* live is left in
//! it, and never relocates live pages out of a mostly-dead segment (its cleanup threshold is a
//! no-op; spacejam/sled#1333). With permanent entries written into the same log as the
//! documents, every segment kept a few live register bytes and ~64 KB of dead documents per
//! message stayed on disk forever (measured: 12.8 GB after 200,000 documents whose records were
//! all purged). Here the main database holds only what is live, so its segments empty out and
//! are reused; this one only grows by what is kept (~0.6 KB per message, measured in
//! `docs/PERFORMANCE.md`).
//!
//! Durability contract: [`Register::archive`] returns after its entries are flushed. The purge
//! archives *before* its transaction removes the same entries from the main database, so at
//! every instant an entry is in one database or the other (or both, after a crash between the
//! two: both copies are equal and readers take the main one). Readers look in the main database
//! first and here second, which cannot miss an entry moving between them.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;
use super::types::hex_encode;

/// Tree names (also used in `StoreError::Corrupt`).
pub(super) const R_TOMBSTONES: &str = "tombstones";
pub(super) const R_FILING: &str = "filing";
pub(super) const R_PUBLIC: &str = "public";

/// The register's page cache: it is read on a dedup miss and by reports, rarely hot.
const CACHE_CAPACITY: u64 = 8 * 1024 * 1024;

/// Where the register lives inside the store's directory (sled ignores other subdirectories).
pub(super) const DIR: &str = "register";

/// What one purged message leaves behind.
#[derive(Debug, Default)]
pub(super) struct Archived {
    /// Message id (16 bytes).
    pub id: Vec<u8>,
    /// Dedup tombstone value: the digest the message was accepted with.
    pub digest: Option<Vec<u8>>,
    /// Filing record (JSON), if the message had one.
    pub filing: Option<Vec<u8>>,
    /// Public-index entries (key, JSON value).
    pub public: Vec<(Vec<u8>, Vec<u8>)>,
}

pub(super) struct Register {
    db: sled::Db,
    tombstones: sled::Tree,
    filing: sled::Tree,
    public: sled::Tree,
    /// Tombstones held: counted once at open, then kept up to date (`Tree::len` is a scan).
    tombstone_count: AtomicU64,
}

impl Register {
    pub(super) fn open(store_dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(store_dir.join(DIR))
            .cache_capacity(CACHE_CAPACITY)
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError::sled("open the register", e))?;
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(|e| StoreError::sled("open a register tree", e))
        };
        let tombstones = tree(R_TOMBSTONES)?;
        let count = u64::try_from(tombstones.len()).unwrap_or(u64::MAX);
        Ok(Self {
            tombstone_count: AtomicU64::new(count),
            tombstones,
            filing: tree(R_FILING)?,
            public: tree(R_PUBLIC)?,
            db,
        })
    }

    /// Writes every entry of `batch` and flushes: on return they survive a crash.
    pub(super) fn archive(&self, batch: &[Archived]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let err = |e| StoreError::sled("write the register", e);
        for a in batch {
            if let Some(d) = &a.digest
                && self
                    .tombstones
                    .insert(&a.id, d.as_slice())
                    .map_err(err)?
                    .is_none()
            {
                self.tombstone_count.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(f) = &a.filing {
                self.filing.insert(&a.id, f.as_slice()).map_err(err)?;
            }
            for (k, v) in &a.public {
                self.public
                    .insert(k.as_slice(), v.as_slice())
                    .map_err(err)?;
            }
        }
        self.db
            .flush()
            .map_err(|e| StoreError::sled("flush the register", e))?;
        Ok(())
    }

    /// The digest a purged message was accepted with.
    pub(super) fn tombstone(&self, id: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.tombstones
            .get(id)
            .map_err(|e| StoreError::sled("read the register", e))
    }

    pub(super) fn filing(&self, id: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.filing
            .get(id)
            .map_err(|e| StoreError::sled("read the register", e))
    }

    /// Every archived filing record, in id order.
    pub(super) fn filings(
        &self,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> {
        self.filing
            .iter()
            .map(|kv| kv.map_err(|e| StoreError::sled("read the register", e)))
    }

    /// The archived public index, newest first.
    pub(super) fn public_newest_first(
        &self,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> {
        self.public
            .iter()
            .rev()
            .map(|kv| kv.map_err(|e| StoreError::sled("read the register", e)))
    }

    /// Tombstones held.
    pub(super) fn tombstones_held(&self) -> u64 {
        self.tombstone_count.load(Ordering::Relaxed)
    }

    /// Bytes the register occupies on disk.
    pub(super) fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db
            .size_on_disk()
            .map_err(|e| StoreError::sled("measure the register", e))
    }
}

/// The id (last 16 bytes) of a public-index key `published_at ‖ id`.
pub(super) fn public_key_id(key: &[u8]) -> Result<&[u8], StoreError> {
    key.len()
        .checked_sub(16)
        .filter(|&start| start >= 8)
        .and_then(|start| key.get(start..))
        .ok_or_else(|| StoreError::Corrupt {
            tree: R_PUBLIC,
            key: hex_encode(key),
        })
}
