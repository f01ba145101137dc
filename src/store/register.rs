//! The register: what the store keeps after a message is purged — its dedup tombstone
//! (id → digest), its filing record and its public-index entry — in sorted, immutable segment
//! files of its own (`segment`), under `<store>/register/`.
//!
//! Why not the main database: sled 0.34 reclaims a log segment only once *nothing* live is left
//! in it, and never relocates live pages out of a mostly-dead segment (its cleanup threshold is a
//! no-op; spacejam/sled#1333). With permanent entries written into the same log as the
//! documents, every segment kept a few live register bytes and ~64 KB of dead documents per
//! message stayed on disk forever (measured: 12.8 GB after 200,000 documents whose records were
//! all purged). Why not a second sled database (sessions 5–6): sled keeps per-page state in
//! memory for every page it holds, so a register that only grows made the gateway's memory grow
//! with every document it ever handled (~95 bytes per message), and its log cost ~1.9 KB of
//! disk per message for ~0.6 KB of entries. A segment keeps a sparse block index and a Bloom
//! filter in memory (a few bytes per entry) and its entries on disk, written once.
//!
//! # How segments come and go
//!
//! Each [`Register::archive`] writes one new segment (level 0) holding that batch's entries.
//! When the newest [`FANOUT`] segments share a level they are merged into one of the next level
//! (the "logarithmic method": at most `FANOUT - 1` segments per level, so a lookup tries a few
//! dozen Bloom filters for millions of entries, and every entry is rewritten once per level).
//! Segments are named by the range of archive generations they cover (`lo-hi-level.seg`); a
//! merged segment covers its inputs' ranges, so a crash after the merge was renamed into place
//! but before its inputs were deleted leaves inputs that the next open recognises as covered and
//! deletes.
//!
//! Durability contract: [`Register::archive`] returns after its segment is complete, `fsync`ed
//! and named in a synced directory. The purge archives *before* its transaction removes the same
//! entries from the main database, so at every instant an entry is in one place or the other (or
//! both, after a crash between the two: equal copies, and readers take the main one). Readers
//! look in the main database first and here second, which cannot miss an entry moving between
//! them. A merge never removes an entry: its inputs leave the list only once the merged segment
//! holding all of them is durable.
//!
//! A register written by earlier versions (a sled database in the same directory) is converted
//! into one segment at open; its files are removed once that segment is durable.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::StoreError;
use super::segment::{Entry, Kind, Probe, Segment, SegmentIter, SegmentWriter, sync_dir};
use super::sled::open_waiting_for_lock;
use super::types::hex_encode;

/// Names of the register's trees in `StoreError::Corrupt` (and of the earlier sled trees).
pub(super) const R_TOMBSTONES: &str = "tombstones";
pub(super) const R_FILING: &str = "filing";
pub(super) const R_PUBLIC: &str = "public";

/// Where the register lives inside the store's directory (sled ignores other subdirectories).
pub(super) const DIR: &str = "register";

/// Segments of one level merged at a time.
const FANOUT: usize = 8;

/// The level given to a register converted from an earlier sled database: high enough that it
/// is never merged again (it can be large; rewriting it would only cost time).
const CONVERTED_LEVEL: u32 = 32;

/// The generation of a converted register's segment (new segments start after it).
const CONVERTED_GENERATION: u64 = 0;

/// sled's files in a register written by earlier versions.
const SLED_FILES: [&str; 3] = ["conf", "db", "blobs"];

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

/// One segment and the archive generations it covers.
#[derive(Debug)]
struct Held {
    lo: u64,
    hi: u64,
    level: u32,
    segment: Arc<Segment>,
}

impl Held {
    fn name(lo: u64, hi: u64, level: u32) -> String {
        format!("{lo:016x}-{hi:016x}-{level:02x}.seg")
    }

    fn parse_name(name: &str) -> Option<(u64, u64, u32)> {
        let stem = name.strip_suffix(".seg")?;
        let mut parts = stem.split('-');
        let lo = u64::from_str_radix(parts.next()?, 16).ok()?;
        let hi = u64::from_str_radix(parts.next()?, 16).ok()?;
        let level = u32::from_str_radix(parts.next()?, 16).ok()?;
        (parts.next().is_none() && lo <= hi).then_some((lo, hi, level))
    }
}

type List = Arc<Vec<Arc<Held>>>;

pub(super) struct Register {
    dir: PathBuf,
    /// Oldest first. Replaced whole (readers keep the list they started with).
    segments: RwLock<List>,
    /// Held by whoever adds or merges segments; the next archive generation.
    writer: Mutex<u64>,
    /// Tombstones held (kept up to date; entries are never written twice).
    tombstone_count: AtomicU64,
}

impl Register {
    pub(super) fn open(store_dir: &Path) -> Result<Self, StoreError> {
        let dir = store_dir.join(DIR);
        crate::pki::fsutil::create_private_dir(&dir)
            .map_err(|e| StoreError::io("create the register directory", e))?;
        let list_err = |e| StoreError::io("list the register directory", e);
        let mut found = Vec::new();
        let mut sled = false;
        for entry in fs::read_dir(&dir).map_err(list_err)? {
            let entry = entry.map_err(list_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(range) = Held::parse_name(name) {
                found.push(range);
            } else if name.ends_with(".tmp") {
                // A segment whose writer never finished: never part of the register.
                remove(&entry.path())?;
            } else if SLED_FILES.contains(&name) {
                sled = true;
            }
        }
        // A merge renamed into place before its inputs were deleted: the inputs are covered.
        found.sort_by_key(|&(lo, hi, _)| (lo, std::cmp::Reverse(hi)));
        let mut kept: Vec<(u64, u64, u32)> = Vec::new();
        for (lo, hi, level) in found {
            if kept.last().is_some_and(|&(_, khi, _)| hi <= khi) {
                remove(&dir.join(Held::name(lo, hi, level)))?;
            } else {
                kept.push((lo, hi, level));
            }
        }
        let mut held = Vec::new();
        for (lo, hi, level) in kept {
            let segment = Arc::new(Segment::open(&dir.join(Held::name(lo, hi, level)))?);
            held.push(Arc::new(Held {
                lo,
                hi,
                level,
                segment,
            }));
        }
        if sled {
            if !held.iter().any(|h| h.lo == CONVERTED_GENERATION) {
                held.insert(0, Arc::new(convert_sled(&dir)?));
            }
            remove_sled_files(&dir)?;
        }
        let next = held.iter().map(|h| h.hi + 1).max().unwrap_or(1);
        let count = held.iter().map(|h| h.segment.count(Kind::Tombstone)).sum();
        sync_dir(&dir)?;
        Ok(Self {
            dir,
            segments: RwLock::new(Arc::new(held)),
            writer: Mutex::new(next),
            tombstone_count: AtomicU64::new(count),
        })
    }

    fn list(&self) -> List {
        self.segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes every entry of `batch` not held yet into a new segment: on return they survive a
    /// crash. Then merges segments if a level is full.
    pub(super) fn archive(&self, batch: &[Archived]) -> Result<(), StoreError> {
        let mut next = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries: BTreeMap<(Kind, Vec<u8>), &[u8]> = BTreeMap::new();
        for a in batch {
            if let Some(d) = &a.digest {
                entries.insert((Kind::Tombstone, a.id.clone()), d);
            }
            if let Some(f) = &a.filing {
                entries.insert((Kind::Filing, a.id.clone()), f);
            }
            for (k, v) in &a.public {
                entries.insert((Kind::Public, k.clone()), v);
            }
        }
        // A purge repeated after a crash between its archive and its removal offers entries
        // held already: write each entry once, so counts stay exact and merges find no twins.
        // (Public entries are not in the Bloom filters; a twin there is merged away instead.)
        let list = self.list();
        let mut fresh = Vec::with_capacity(entries.len());
        for ((kind, key), value) in entries {
            if kind == Kind::Public || get(&list, kind, &key)?.is_none() {
                fresh.push((kind, key, value));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let generation = *next;
        let looked_up = fresh.iter().filter(|(k, _, _)| *k != Kind::Public).count();
        let mut w = SegmentWriter::create(
            &self.dir,
            &format!("{generation:016x}.tmp"),
            looked_up as u64,
        )?;
        for (kind, key, value) in &fresh {
            w.add(*kind, key, value)?;
        }
        let segment = w.finish(&self.dir, &Held::name(generation, generation, 0))?;
        *next = generation + 1;
        self.tombstone_count
            .fetch_add(segment.count(Kind::Tombstone), Ordering::Relaxed);
        let mut grown = (*list).clone();
        grown.push(Arc::new(Held {
            lo: generation,
            hi: generation,
            level: 0,
            segment: Arc::new(segment),
        }));
        *self
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(grown);
        self.merge_full_levels()
    }

    /// While the newest [`FANOUT`] segments share a level, replaces them with their merge.
    /// The caller holds the writer lock (the list only changes under it).
    fn merge_full_levels(&self) -> Result<(), StoreError> {
        loop {
            let list = self.list();
            let Some(start) = list.len().checked_sub(FANOUT) else {
                return Ok(());
            };
            let (older, inputs) = list.split_at(start);
            let Some(level) = inputs.first().map(|h| h.level) else {
                return Ok(());
            };
            if inputs.iter().any(|h| h.level != level) {
                return Ok(());
            }
            let merged = self.merge(inputs, level + 1)?;
            let mut shrunk: Vec<Arc<Held>> = older.to_vec();
            shrunk.push(Arc::new(merged));
            *self
                .segments
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Arc::new(shrunk);
            // The merge holds every input entry and is durable: the inputs can go. A crash
            // before this is mended at open (they are covered by the merge's range).
            for h in inputs {
                remove(h.segment.path())?;
            }
            sync_dir(&self.dir)?;
        }
    }

    /// Writes the merge of `inputs` (consecutive generations, oldest first) as one segment.
    fn merge(&self, inputs: &[Arc<Held>], level: u32) -> Result<Held, StoreError> {
        let lo = inputs.iter().map(|h| h.lo).min().unwrap_or(0);
        let hi = inputs.iter().map(|h| h.hi).max().unwrap_or(0);
        let looked_up = inputs
            .iter()
            .map(|h| h.segment.count(Kind::Tombstone) + h.segment.count(Kind::Filing))
            .sum();
        let mut w =
            SegmentWriter::create(&self.dir, &format!("{lo:016x}-{hi:016x}.tmp"), looked_up)?;
        let mut merged = Merge::new(
            inputs
                .iter()
                .map(|h| SegmentIter::all(h.segment.clone()))
                .collect(),
            false,
        );
        for entry in &mut merged {
            let (kind, key, value) = entry?;
            w.add(kind, &key, &value)?;
        }
        let segment = w.finish(&self.dir, &Held::name(lo, hi, level))?;
        Ok(Held {
            lo,
            hi,
            level,
            segment: Arc::new(segment),
        })
    }

    /// The digest a purged message was accepted with.
    pub(super) fn tombstone(&self, id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get(&self.list(), Kind::Tombstone, id)
    }

    pub(super) fn filing(&self, id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get(&self.list(), Kind::Filing, id)
    }

    /// Every archived filing record (each once, in no particular order).
    pub(super) fn filings(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        self.every(Kind::Filing)
    }

    /// Every tombstone (id, digest), each once (`store copy`).
    pub(super) fn tombstones(
        &self,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        self.every(Kind::Tombstone)
    }

    fn every(&self, kind: Kind) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        let list = self.list();
        let scans = list
            .iter()
            .map(|h| SegmentIter::of_kind(h.segment.clone(), kind, false))
            .collect();
        Merge::new(scans, false).map(|e| e.map(|(_, k, v)| (k, v)))
    }

    /// The archived public index, newest first.
    pub(super) fn public_newest_first(
        &self,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        let list = self.list();
        let scans = list
            .iter()
            .map(|h| SegmentIter::of_kind(h.segment.clone(), Kind::Public, true))
            .collect();
        Merge::new(scans, true).map(|e| e.map(|(_, k, v)| (k, v)))
    }

    /// Tombstones held.
    pub(super) fn tombstones_held(&self) -> u64 {
        self.tombstone_count.load(Ordering::Relaxed)
    }

    /// Bytes the register occupies on disk.
    pub(super) fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.list().iter().map(|h| h.segment.len_on_disk()).sum())
    }

    /// Segments held now.
    #[cfg(test)]
    fn segments(&self) -> usize {
        self.list().len()
    }
}

/// The value of `key` in the newest segment of `list` holding it.
fn get(list: &List, kind: Kind, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let probe = Probe::new(kind, key);
    for h in list.iter().rev() {
        if let Some(v) = h.segment.get(kind, key, &probe)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Entries of several sorted scans in one order (ascending, or descending for scans in reverse),
/// an entry present in several once (the one from the scan given last: the newest segment).
struct Merge {
    scans: Vec<std::iter::Peekable<SegmentIter>>,
    descending: bool,
}

impl Merge {
    fn new(scans: Vec<SegmentIter>, descending: bool) -> Self {
        Self {
            scans: scans.into_iter().map(Iterator::peekable).collect(),
            descending,
        }
    }
}

impl Iterator for Merge {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        // A handful of scans: a linear pick of the head is cheaper than a heap.
        let descending = self.descending;
        let mut best: Option<(usize, (Kind, &[u8]))> = None;
        let mut failed = None;
        for (i, scan) in self.scans.iter_mut().enumerate() {
            match scan.peek() {
                None => {}
                Some(Err(_)) => {
                    failed = Some(i);
                    break;
                }
                Some(Ok((kind, key, _))) => {
                    let here = (*kind, key.as_slice());
                    // Ties go to the later scan (the newer segment).
                    let better = best.is_none_or(|(_, current)| {
                        if descending {
                            here >= current
                        } else {
                            here <= current
                        }
                    });
                    if better {
                        best = Some((i, here));
                    }
                }
            }
        }
        if let Some(i) = failed {
            return self.scans.get_mut(i)?.next();
        }
        let b = best.map(|(i, _)| i)?;
        let entry = self.scans.get_mut(b)?.next()?;
        if let Ok((kind, key, _)) = &entry {
            // Its twins in older segments (equal by construction) are skipped.
            for (i, scan) in self.scans.iter_mut().enumerate() {
                if i != b {
                    while scan
                        .next_if(|e| matches!(e, Ok((k, kk, _)) if k == kind && kk == key))
                        .is_some()
                    {}
                }
            }
        }
        Some(entry)
    }
}

/// Reads a register written by earlier versions (a sled database in `dir`) into one segment.
fn convert_sled(dir: &Path) -> Result<Held, StoreError> {
    let db = open_waiting_for_lock(&sled::Config::new().path(dir))
        .map_err(|e| StoreError::engine("open the earlier register", e))?;
    let read = |e| StoreError::engine("read the earlier register", e);
    let trees = [
        (Kind::Tombstone, R_TOMBSTONES),
        (Kind::Filing, R_FILING),
        (Kind::Public, R_PUBLIC),
    ];
    let mut looked_up = 0u64;
    let mut opened = Vec::new();
    for (kind, name) in trees {
        let tree = db.open_tree(name).map_err(read)?;
        if kind != Kind::Public {
            looked_up += tree.len() as u64;
        }
        opened.push((kind, tree));
    }
    let g = CONVERTED_GENERATION;
    let mut w = SegmentWriter::create(dir, &format!("{g:016x}.tmp"), looked_up)?;
    // Tree by tree in key order: the segment's `(kind, key)` order.
    for (kind, tree) in &opened {
        for kv in tree.iter() {
            let (k, v) = kv.map_err(read)?;
            w.add(*kind, &k, &v)?;
        }
    }
    let segment = w.finish(dir, &Held::name(g, g, CONVERTED_LEVEL))?;
    Ok(Held {
        lo: g,
        hi: g,
        level: CONVERTED_LEVEL,
        segment: Arc::new(segment),
    })
}

/// Removes an earlier register's sled files (once its segment is durable).
fn remove_sled_files(dir: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::io("remove the earlier register", e);
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name == "blobs" {
            fs::remove_dir_all(&path).map_err(err)?;
        } else if SLED_FILES.contains(&name.as_ref()) || name.starts_with("snap.") {
            remove(&path)?;
        }
    }
    Ok(())
}

/// Removes a file; already gone is fine.
fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove a register segment", e)),
    }
}

/// The id (last 16 bytes) of a public-index key `published_at ‖ id`.
pub(super) fn public_key_id(key: &[u8]) -> Result<&[u8], StoreError> {
    key.len()
        .checked_sub(16)
        .filter(|&start| start >= 8)
        .and_then(|start| key.get(start..))
        .ok_or_else(|| StoreError::Corrupt {
            what: R_PUBLIC,
            key: hex_encode(key),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Vec<u8> {
        let mut k = [0u8; 16];
        k[12..].copy_from_slice(&n.to_be_bytes());
        k.to_vec()
    }

    fn public_key(n: u32) -> Vec<u8> {
        let mut k = (1_700_000_000_000u64 + u64::from(n)).to_be_bytes().to_vec();
        k.extend(id(n));
        k
    }

    /// Message `n` as a purge archives it: every third one public.
    fn archived(n: u32) -> Archived {
        Archived {
            id: id(n),
            digest: Some(format!("{n:064x}").into_bytes()),
            filing: Some(format!("{{\"n\":{n}}}").into_bytes()),
            public: if n % 3 == 0 {
                vec![(public_key(n), format!("{{\"p\":{n}}}").into_bytes())]
            } else {
                Vec::new()
            },
        }
    }

    fn batch(range: std::ops::Range<u32>) -> Vec<Archived> {
        range.map(archived).collect()
    }

    fn seg_files(dir: &Path) -> usize {
        fs::read_dir(dir.join(DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count()
    }

    /// Everything of messages `0..n` is found, scans return each entry once, in order.
    fn assert_holds(r: &Register, n: u32) {
        for m in 0..n {
            assert_eq!(
                r.tombstone(&id(m)).unwrap(),
                archived(m).digest,
                "tombstone {m}"
            );
            assert_eq!(r.filing(&id(m)).unwrap(), archived(m).filing, "filing {m}");
        }
        assert_eq!(r.tombstone(&id(n)).unwrap(), None);
        assert_eq!(r.tombstones_held(), u64::from(n));
        let mut filings: Vec<Vec<u8>> = r.filings().map(|kv| kv.unwrap().0).collect();
        filings.sort();
        assert_eq!(filings, (0..n).map(id).collect::<Vec<_>>());
        let public: Vec<Vec<u8>> = r.public_newest_first().map(|kv| kv.unwrap().0).collect();
        let want: Vec<Vec<u8>> = (0..n)
            .rev()
            .filter(|m| m % 3 == 0)
            .map(public_key)
            .collect();
        assert_eq!(public, want);
    }

    #[test]
    fn archived_entries_are_found_across_merges_and_segments_stay_few() {
        let dir = tempfile::tempdir().unwrap();
        let r = Register::open(dir.path()).unwrap();
        // 150 batches of 20: level 0 fills and merges 18 times, level 1 twice.
        for b in 0..150u32 {
            r.archive(&batch(b * 20..b * 20 + 20)).unwrap();
        }
        assert_holds(&r, 3000);
        // 150 = 2·64 + 2·8 + 6: two level-2, two level-1 and six level-0 segments.
        assert_eq!(r.segments(), 10);
        assert_eq!(seg_files(dir.path()), 10);
        assert!(r.size_on_disk().unwrap() > 3000 * 64);
        drop(r);
        let r = Register::open(dir.path()).unwrap();
        assert_holds(&r, 3000);
        assert_eq!(r.segments(), 10);
    }

    #[test]
    fn archiving_again_writes_nothing_new() {
        let dir = tempfile::tempdir().unwrap();
        let r = Register::open(dir.path()).unwrap();
        r.archive(&batch(0..100)).unwrap();
        let size = r.size_on_disk().unwrap();
        // A purge repeated after a crash offers the same entries (public ones excepted: they
        // are written again and merged away).
        let again: Vec<Archived> = batch(0..100)
            .into_iter()
            .map(|a| Archived {
                public: Vec::new(),
                ..a
            })
            .collect();
        r.archive(&again).unwrap();
        assert_eq!(r.segments(), 1);
        assert_eq!(r.size_on_disk().unwrap(), size);
        r.archive(&batch(0..100)).unwrap();
        assert_eq!(r.segments(), 2);
        assert_holds(&r, 100);
        r.archive(&[]).unwrap();
        assert_eq!(r.segments(), 2);
    }

    #[test]
    fn a_crash_during_a_merge_or_a_write_is_mended_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join(DIR);
        let r = Register::open(dir.path()).unwrap();
        for b in 0..7u32 {
            r.archive(&batch(b * 10..b * 10 + 10)).unwrap();
        }
        let inputs: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&reg)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let bytes = fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        assert_eq!(inputs.len(), 7);
        r.archive(&batch(70..80)).unwrap(); // the eighth: merged, inputs deleted
        assert_eq!(r.segments(), 1);
        drop(r);
        // As if the process died after the merge was named but before its inputs were deleted,
        // and while another segment was half written.
        for (p, bytes) in &inputs {
            fs::write(p, bytes).unwrap();
        }
        fs::write(reg.join("0000000000000009.tmp"), b"half a segment").unwrap();
        assert_eq!(fs::read_dir(&reg).unwrap().count(), 9);
        let r = Register::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(&reg).unwrap().count(), 1);
        assert_holds(&r, 80);
        // Generations go on after the merge's range: a new segment does not collide with it.
        r.archive(&batch(80..90)).unwrap();
        assert_holds(&r, 90);
    }

    #[test]
    fn a_register_from_earlier_versions_is_converted_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join(DIR)).unwrap();
            let t = db.open_tree(R_TOMBSTONES).unwrap();
            let f = db.open_tree(R_FILING).unwrap();
            let p = db.open_tree(R_PUBLIC).unwrap();
            for a in batch(0..500) {
                t.insert(&a.id, a.digest.unwrap()).unwrap();
                f.insert(&a.id, a.filing.unwrap()).unwrap();
                for (k, v) in a.public {
                    p.insert(k, v).unwrap();
                }
            }
            db.flush().unwrap();
        }
        let r = Register::open(dir.path()).unwrap();
        assert_holds(&r, 500);
        let names: Vec<String> = fs::read_dir(dir.path().join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![Held::name(0, 0, CONVERTED_LEVEL)],
            "sled's files are gone"
        );
        r.archive(&batch(500..510)).unwrap();
        drop(r);
        let r = Register::open(dir.path()).unwrap();
        assert_holds(&r, 510);
        assert_eq!(r.segments(), 2);
    }
}
