//! Opening the sled database: its trees, the register, the document files, and the one-off
//! move of purged entries to the register; plus the wait for a lock still being released.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::group_commit::GroupCommit;
use crate::store::documents::{Claim, DocumentFiles};
use crate::store::register::{Archived, Register};
use crate::store::{StoreError, StoreLimits, register};

use super::records::{MessageRecord, get_decoded};
use super::{
    Inner, SledStore, T_BYTES, T_COUNTERS, T_DEDUP, T_DELIVERIES, T_FILING, T_INBOX, T_MEMBERSHIP,
    T_META, T_OUTBOX, T_PUBLIC, T_QUARANTINE, T_SENT, T_STATUS, T_STATUS_OUT, Trees,
};

/// sled's page cache size. Modest: the gateway's working set is the queue heads, and the OS page
/// cache holds the rest of the log.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// How long an open waits for a sled database's lock to be released.
///
/// Dropping a `sled::Db` does not wait for its I/O threads: the file lock goes when the last of
/// them ends, a moment later (spacejam/sled#1234, #1289). A store closed and opened again in
/// one process (tests, the benchmark, the register's conversion) would otherwise fail at random
/// under load. A database held by another process still fails, after this wait.
const LOCK_RELEASE_WAIT: Duration = Duration::from_secs(3);

/// Whether sled could not take its database's file lock. sled 0.34 reports that as an
/// `ErrorKind::Other` error whose text carries the `WouldBlock` it got from `flock`, so the text
/// is all there is to recognise it by.
fn is_lock_held(e: &std::io::Error) -> bool {
    e.to_string().starts_with(LOCK_ERROR_PREFIX)
}

/// How sled 0.34 (`config.rs`) begins the text of a failed lock.
const LOCK_ERROR_PREFIX: &str = "could not acquire lock on";

/// Opens `config`'s database, waiting up to [`LOCK_RELEASE_WAIT`] for a lock being released.
pub(in crate::store) fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + LOCK_RELEASE_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_held(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The register entry of message `id` in `batch`, made empty if new.
fn slot<'a>(batch: &'a mut BTreeMap<Vec<u8>, Archived>, id: &[u8]) -> &'a mut Archived {
    batch.entry(id.to_vec()).or_insert_with(|| Archived {
        id: id.to_vec(),
        ..Archived::default()
    })
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`.
    ///
    /// sled's own periodic flush is switched off (`flush_every_ms(None)`): the store flushes
    /// itself, so that durability is a property of the methods, not of a timer.
    pub fn open(path: impl AsRef<Path>, limits: StoreLimits) -> Result<Self, StoreError> {
        let path = path.as_ref();
        Self::open_in(path, limits).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            source: Box::new(e),
        })
    }

    fn open_in(path: &Path, limits: StoreLimits) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None);
        let db = open_waiting_for_lock(&config)
            .map_err(|e| StoreError::engine("open the database", e))?;
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(|e| StoreError::engine("open a tree", e))
        };
        let t = Trees {
            meta: tree(T_META)?,
            bytes: tree(T_BYTES)?,
            dedup: tree(T_DEDUP)?,
            deliveries: tree(T_DELIVERIES)?,
            outbox: tree(T_OUTBOX)?,
            inbox: tree(T_INBOX)?,
            membership: tree(T_MEMBERSHIP)?,
            sent: tree(T_SENT)?,
            status: tree(T_STATUS)?,
            counters: tree(T_COUNTERS)?,
            status_out: tree(T_STATUS_OUT)?,
            filing: tree(T_FILING)?,
            public: tree(T_PUBLIC)?,
            quarantine: tree(T_QUARANTINE)?,
        };
        let register = Register::open(path)?;
        // At open, before anything else can use the store: a file is kept only if its record
        // names it (orphans come from crashes between a file's write and its transaction, and
        // between a purge's commit and its delete).
        let documents = DocumentFiles::open(path, |id, token| {
            let record: Option<MessageRecord> = get_decoded(&t.meta, T_META, id, "read")?;
            Ok(match record {
                Some(r) if r.file == Some(token) => Claim::Named,
                None if register.tombstone(id)?.is_some() => Claim::Purged,
                _ => Claim::Unclaimed,
            })
        })?;
        let commit = GroupCommit::new(limits.flush_window);
        let store = Self {
            inner: Arc::new(Inner {
                db,
                t,
                register,
                documents,
                purges: AtomicU64::new(0),
                limits,
                commit,
            }),
        };
        store.move_purged_to_register()?;
        Ok(store)
    }

    /// Stores written before the register kept tombstones, filing records and public entries
    /// of purged messages in the main database, pinning its segments: move them once, at open
    /// (no other thread holds the store yet). Entries of live messages stay.
    pub(super) fn move_purged_to_register(&self) -> Result<(), StoreError> {
        let t = self.t();
        let read = |e| StoreError::engine("read the store at open", e);
        let purged =
            |id: &[u8]| -> Result<bool, StoreError> { Ok(!t.meta.contains_key(id).map_err(read)?) };
        let mut batch: BTreeMap<Vec<u8>, Archived> = BTreeMap::new();
        for kv in t.dedup.iter() {
            let (k, v) = kv.map_err(read)?;
            if purged(&k)? {
                slot(&mut batch, &k).digest = Some(v.to_vec());
            }
        }
        for kv in t.filing.iter() {
            let (k, v) = kv.map_err(read)?;
            if purged(&k)? {
                slot(&mut batch, &k).filing = Some(v.to_vec());
            }
        }
        for kv in t.public.iter() {
            let (k, v) = kv.map_err(read)?;
            let id = register::public_key_id(&k)?;
            if purged(id)? {
                slot(&mut batch, id).public.push((k.to_vec(), v.to_vec()));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let batch: Vec<Archived> = batch.into_values().collect();
        self.inner.register.archive(&batch)?;
        let write = |e| StoreError::engine("move entries to the register", e);
        for a in &batch {
            t.dedup.remove(&a.id).map_err(write)?;
            t.filing.remove(&a.id).map_err(write)?;
            for (k, _) in &a.public {
                t.public.remove(k.as_slice()).map_err(write)?;
            }
        }
        self.durable()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn an_open_waits_for_a_lock_being_released_and_not_for_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let config = sled::Config::new().path(dir.path().join("db"));
        let first = config.open().unwrap();
        // Released while the second open waits: it succeeds.
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let second = open_waiting_for_lock(&config).unwrap();
        dropper.join().unwrap();
        // Kept longer than the wait: the lock error, not a hang.
        match open_waiting_for_lock(&config) {
            Err(sled::Error::Io(e)) => assert!(is_lock_held(&e), "{e}"),
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("opened a database another handle holds"),
        }
        drop(second);
    }
}
