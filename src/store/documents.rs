//! Document bytes in files of their own, one per stored message, beside the sled database.
//!
//! Why not in sled: sled 0.34 writes a page larger than 128 KB (a leaf of a dozen 8 KB documents,
//! or one 1 MB document) to a file under `blobs/` that it never `fsync`s, and — measured over a
//! 100,000-document run — never deletes once the page is rewritten: 241 MB of blob files for a
//! store holding no key at all. A file per document is reclaimed the moment the purge deletes
//! it, and is synced by us.
//!
//! # Durability contract
//!
//! [`DocumentFiles::write`] returns after the file's data and its directory entry are on stable
//! storage (`fsync` of the file, then of the directory; directory syncs are shared between
//! concurrent writers). The store writes the file *before* the transaction that refers to it
//! commits, so a record never names a file that a crash could take away. The converse leaves
//! orphans — a crash between the write and the commit, or a purge between its commit and the
//! delete — which [`DocumentFiles::open`] settles: a purge's leftover (its tombstone is in the
//! register) is removed; any other is moved to `orphans/`, never deleted, because a database
//! that lost its records (sled 0.34 opens a damaged log as empty) leaves exactly the same.
//!
//! # Integrity
//!
//! The record of every document holds its SHA-256 and size (written in the accept's
//! transaction); [`DocumentFiles::read`] checks both and answers [`StoreError::Altered`]
//! instead of bytes that differ.
//!
//! # Names
//!
//! `<message id, 32 hex>-<token, 16 hex>`, the token from sled's `generate_id` (unique across
//! restarts). The token makes every accept's file its own: two racing accepts of one id — a
//! duplicate, or a forged document reusing the id — can never overwrite each other's file, and
//! the loser deletes only what it wrote.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::types::hex_encode;
use super::{Fault, MessageId, StoreError};

/// Where the files live inside the store's directory (sled ignores other subdirectories).
pub(super) const DIR: &str = "documents";

/// A message id is 16 bytes: 32 hex digits, a dash, a 16-digit token.
const NAME_LEN: usize = 32 + 1 + 16;

/// Where document files named by no record are moved at open (inside the store's directory).
pub(super) const ORPHANS: &str = "orphans";

/// Unclaimed document files a crash can leave: one per accept in flight (bounded by the
/// blocking threads, `app::runtime`). More at one open means lost records.
pub(super) const MAX_UNCLAIMED_AT_OPEN: usize = 256;

/// What the store's records say of a document file found at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// A record names it.
    Named,
    /// Its message was purged (a tombstone in the register): the purge ended before its delete.
    Purged,
    /// Nothing names it.
    Unclaimed,
}

pub(super) struct DocumentFiles {
    dir: PathBuf,
    /// `orphans/`, beside `documents/`.
    orphans: PathBuf,
    /// Bytes held in document files (counted at open, then kept up to date).
    held: AtomicU64,
    /// Files created so far (a generation number for the shared directory sync).
    created: AtomicU64,
    /// Highest generation covered by a completed directory sync. Held across the sync so that
    /// writers queued behind it find their file covered and return without a sync of their own.
    synced: Mutex<u64>,
}

impl DocumentFiles {
    /// Opens (creating it if needed) the directory and settles every file whose record is
    /// gone, as `claim(id, token)` says: [`Claim::Named`] files are kept, [`Claim::Purged`]
    /// ones (their message's tombstone is in the register: a purge ended before its delete)
    /// are removed, and [`Claim::Unclaimed`] ones — a crash between a file's write and its
    /// transaction, which no one was told was stored, or records the database lost — are
    /// moved to `orphans/` for an operator to review, never deleted. More than
    /// [`MAX_UNCLAIMED_AT_OPEN`] unclaimed files is not a crash but a database that lost its
    /// records: [`StoreError::LostRecords`], and nothing is touched. Files whose name is not
    /// ours are left alone. Call before any other thread uses the store.
    pub(super) fn open(
        store_dir: &Path,
        mut claim: impl FnMut(&[u8], u64) -> Result<Claim, StoreError>,
    ) -> Result<Self, StoreError> {
        let dir = store_dir.join(DIR);
        // Classified documents: readable by the gateway's user only.
        crate::pki::fsutil::create_private_dir(&dir)
            .map_err(|e| StoreError::io("create the documents directory", e))?;
        sync_dir(store_dir)?;
        let mut held = 0u64;
        let mut purged = Vec::new();
        let mut unclaimed = Vec::new();
        let list = |e| StoreError::io("list the documents directory", e);
        for entry in fs::read_dir(&dir).map_err(list)? {
            let entry = entry.map_err(list)?;
            let Some((id, token)) = entry.file_name().to_str().and_then(parse_name) else {
                continue;
            };
            match claim(&id, token)? {
                Claim::Named => {
                    let meta = entry.metadata().map_err(list)?;
                    held = held.saturating_add(meta.len());
                }
                Claim::Purged => purged.push(entry.path()),
                Claim::Unclaimed => unclaimed.push(entry.file_name()),
            }
        }
        if unclaimed.len() > MAX_UNCLAIMED_AT_OPEN {
            return Err(StoreError::LostRecords {
                dir: dir.display().to_string(),
                files: unclaimed.len() as u64,
            });
        }
        for path in purged {
            remove(&path)?;
        }
        let orphans = store_dir.join(ORPHANS);
        if !unclaimed.is_empty() {
            crate::pki::fsutil::create_private_dir(&orphans)
                .map_err(|e| StoreError::io("create the orphans directory", e))?;
            for name in &unclaimed {
                fs::rename(dir.join(name), orphans.join(name))
                    .map_err(|e| StoreError::io("move an orphan document file", e))?;
            }
            sync_dir(&orphans)?;
            sync_dir(&dir)?;
            tracing::warn!(
                files = unclaimed.len(),
                dir = %orphans.display(),
                "document files named by no record moved aside for review"
            );
        }
        Ok(Self {
            dir,
            orphans,
            held: AtomicU64::new(held),
            created: AtomicU64::new(0),
            synced: Mutex::new(0),
        })
    }

    /// Files kept in `orphans/` (see [`DocumentFiles::open`]).
    pub(super) fn orphans_held(&self) -> Result<u64, StoreError> {
        match fs::read_dir(&self.orphans) {
            Ok(entries) => Ok(entries.count() as u64),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::io("list the orphans directory", e)),
        }
    }

    /// Where orphans are kept.
    pub(super) fn orphans_dir(&self) -> &Path {
        &self.orphans
    }

    /// Writes `bytes` as the document of `id` under `token`; durable on return (see the module
    /// docs). Fails if the file exists (tokens are never reused).
    pub(super) fn write(&self, id: &[u8], token: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(id, token);
        let write = |e| StoreError::io("write a document file", e);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(write)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(write);
        if let Err(e) = written {
            drop(file);
            // Never referred to: best effort, and the next open removes it anyway.
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        let generation = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.held.fetch_add(size, Ordering::Relaxed);
        if let Err(e) = self.sync_dir_covering(generation) {
            // The caller sees a failed write and will not name the file: remove it now rather
            // than leave it for the next open (best effort; `open` still catches a failure here).
            let _ = self.delete(id, token, size);
            return Err(e);
        }
        Ok(())
    }

    /// The document of `id` stored under `token`, checked against the `size` and `sha256`
    /// its record holds (`sha256` is `None` only for records written before digests were
    /// kept); `None` if the file is gone (a purge removed the message while the caller was
    /// reading it: the caller tells that from a lost file). Another size or digest is
    /// [`StoreError::Altered`]: the bytes are never returned.
    pub(super) fn read(
        &self,
        id: &MessageId,
        token: u64,
        size: u64,
        sha256: Option<&[u8; 32]>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(id.as_bytes(), token);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read a document file", e)),
        };
        match fault_of(&bytes, size, sha256.map(|d| d.as_slice())) {
            Some(fault) => Err(StoreError::Altered { id: *id, fault }),
            None => Ok(Some(bytes)),
        }
    }

    /// Removes the document of `id` under `token` (after the transaction that dropped the last
    /// reference committed; a crash before this leaves an orphan that `open` removes). `size`
    /// is the record's, for the count of bytes held.
    pub(super) fn delete(&self, id: &[u8], token: u64, size: u64) -> Result<(), StoreError> {
        if remove(&self.path(id, token))? {
            let _ = self
                .held
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                    Some(h.saturating_sub(size))
                });
        }
        Ok(())
    }

    /// Bytes held in document files.
    pub(super) fn bytes_held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    fn path(&self, id: &[u8], token: u64) -> PathBuf {
        self.dir.join(name(id, token))
    }

    /// Returns once a directory sync that began after file number `generation` was created has
    /// completed. The first writer to get the lock syncs for everyone created so far; those
    /// queued behind it usually find themselves covered.
    fn sync_dir_covering(&self, generation: u64) -> Result<(), StoreError> {
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        if *synced >= generation {
            return Ok(());
        }
        // Every file numbered up to `target` was created before this load: the sync covers it.
        let target = self.created.load(Ordering::SeqCst);
        sync_dir(&self.dir)?;
        *synced = target;
        Ok(())
    }
}

/// SHA-256 of a document's bytes, as its record keeps it.
/// How a document read back differs from its record: another size, or (when the record keeps
/// one) another SHA-256. Every engine checks a read with this.
pub(super) fn fault_of(bytes: &[u8], size: u64, sha256: Option<&[u8]>) -> Option<Fault> {
    if u64::try_from(bytes.len()).ok() != Some(size) {
        Some(Fault::SizeMismatch)
    } else if sha256.is_some_and(|d| sha256_of(bytes).as_slice() != d) {
        Some(Fault::DigestMismatch)
    } else {
        None
    }
}

pub(super) fn sha256_of(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

fn name(id: &[u8], token: u64) -> String {
    format!("{}-{token:016x}", hex_encode(id))
}

/// `(id, token)` of a file name written by [`name`]; `None` for any other name.
fn parse_name(name: &str) -> Option<(Vec<u8>, u64)> {
    if name.len() != NAME_LEN {
        return None;
    }
    let (id, rest) = name.split_at(32);
    let token = rest.strip_prefix('-')?;
    let id = super::types::hex_decode(id)?;
    let token = u64::from_str_radix(token, 16).ok()?;
    Some((id, token))
}

/// Removes a file; `false` if it was already gone.
fn remove(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("remove a document file", e)),
    }
}

/// `fsync` of a directory: makes the entries created in it durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync the documents directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_not_ours() {
        let id = [0xabu8; 16];
        let n = name(&id, 0x0102_0304_0506_0708);
        assert_eq!(n.len(), NAME_LEN);
        assert_eq!(parse_name(&n), Some((id.to_vec(), 0x0102_0304_0506_0708)));
        assert_eq!(parse_name("notes.txt"), None);
        assert_eq!(parse_name(&n.replace('-', "_")), None);
        assert_eq!(parse_name(&format!("{n}.tmp")), None);
        let non_hex = format!("{}-{:016x}", "zz".repeat(16), 1);
        assert_eq!(parse_name(&non_hex), None);
    }
}
