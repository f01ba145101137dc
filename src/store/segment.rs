//! One register segment: an immutable file of register entries sorted by `(tree, key)`.
//!
//! Why a file format of our own rather than a sled tree: the register only ever grows (every
//! purged message leaves its tombstone, filing record and public entry there for good), and
//! sled 0.34 keeps per-page state in memory for every page of a database (measured: ~95 bytes
//! of RSS per message for register-like entries, so a gateway's memory grew with the number of
//! documents it ever handled) and wrote ~1.9 KB of log per message for ~0.6 KB of entries. A
//! segment holds what memory needs in a few bytes per entry (a sparse block index and a Bloom
//! filter) and everything else on disk, written once.
//!
//! # Layout
//!
//! ```text
//! MAGIC
//! block*        entries (tree u8, key length u16, value length u32, key, value)*, then the
//!               SHA-256 of those entry bytes (32)
//! index         per block: offset u64, length u32 (with its digest), first tree u8,
//!               first key length u16, first key
//! bloom         bit array over `tree ‖ key` of tombstones and filing records
//! footer        index offset, index length, bloom offset, bloom length, bloom probes,
//!               entries per tree ×3 (u64 each, big-endian), SHA-256 of index ‖ bloom ‖ those
//!               numbers, MAGIC
//! ```
//!
//! Every byte read is checked: the footer's digest covers the index and the Bloom filter (read
//! at open), each block's own digest covers its entries (read on demand), and every length is
//! bounded before anything is allocated for it. A file that fails a check is
//! `StoreError::Corrupt { what: "register", .. }`, never a panic or a wrong answer.
//!
//! # Durability
//!
//! [`SegmentWriter::finish`] writes the file under a temporary name, `fsync`s it, renames it to
//! its final name and `fsync`s the directory: a segment is either complete or absent, and
//! present once `finish` returned. Segments are never modified afterwards; the register
//! replaces several with their merge and deletes them (see `register`).

use std::cmp::Ordering as CmpOrdering;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::digest::{Context, SHA256, digest};

use super::StoreError;

/// First and last eight bytes of every segment file.
const MAGIC: &[u8; 8] = b"LTREGSG1";

/// A block is closed once it holds this many bytes of entries (an entry is never split, so a
/// block with one large entry is larger).
const BLOCK_TARGET: usize = 16 * 1024;

/// The longest key a segment holds (register keys are 16-byte ids or 24-byte public keys).
pub(super) const MAX_KEY: usize = 1024;

/// The longest value a segment holds (filing records and public entries are a few KB).
pub(super) const MAX_VALUE: usize = 1024 * 1024;

/// One block can hold one entry of the maximum size plus the block target before it.
const MAX_BLOCK: usize = BLOCK_TARGET + ENTRY_HEAD + MAX_KEY + MAX_VALUE + DIGEST;

/// Bloom filter bits per point-looked-up entry and probes: about 1 % false positives.
const BLOOM_BITS_PER_ENTRY: u64 = 10;
const BLOOM_PROBES: u32 = 7;

const ENTRY_HEAD: usize = 1 + 2 + 4;
const DIGEST: usize = 32;
const FOOTER: usize = 8 * 4 + 4 + 8 * 3 + DIGEST + MAGIC.len();

/// The trees a segment holds, in their sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// Dedup tombstone: id → digest (looked up on every accept that misses the live index).
    Tombstone = 0,
    /// Filing record: id → JSON.
    Filing = 1,
    /// Public index: `published_at ‖ id` → JSON (scanned newest first, never looked up).
    Public = 2,
}

impl Kind {
    pub(super) const ALL: [Kind; 3] = [Kind::Tombstone, Kind::Filing, Kind::Public];

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// Entries of this kind are found by key (and so are in the Bloom filter).
    fn looked_up(self) -> bool {
        self != Kind::Public
    }
}

/// An entry: kind, key, value.
pub(super) type Entry = (Kind, Vec<u8>, Vec<u8>);

/// The Bloom filter's hash of one key, computed once per lookup and tried against every segment.
pub(super) struct Probe {
    h1: u64,
    h2: u64,
}

impl Probe {
    pub(super) fn new(kind: Kind, key: &[u8]) -> Self {
        // SHA-256: stable across builds (the filter is on disk) and not steerable by whoever
        // chooses message ids into many false positives.
        let mut ctx = Context::new(&SHA256);
        ctx.update(&[kind as u8]);
        ctx.update(key);
        let d = ctx.finish();
        let mut r = Reader::new(d.as_ref());
        // A SHA-256 digest has 32 bytes: both words are there.
        let h1 = r.u64().unwrap_or(0);
        let h2 = r.u64().unwrap_or(0);
        Self { h1, h2: h2 | 1 }
    }

    fn bits(&self, m: u64, probes: u32) -> impl Iterator<Item = u64> + '_ {
        (0..u64::from(probes)).map(move |i| self.h1.wrapping_add(i.wrapping_mul(self.h2)) % m)
    }
}

/// Where one block is and the first key it holds.
struct BlockRef {
    offset: u64,
    len: u32,
    first_kind: Kind,
    first_key: Box<[u8]>,
}

/// An open segment: its index and Bloom filter in memory, its blocks on disk.
pub(super) struct Segment {
    path: PathBuf,
    file: File,
    blocks: Vec<BlockRef>,
    bloom: Vec<u8>,
    probes: u32,
    counts: [u64; 3],
    len_on_disk: u64,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("blocks", &self.blocks.len())
            .field("counts", &self.counts)
            .finish()
    }
}

impl Segment {
    /// Opens and checks a complete segment file.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let io = |e| StoreError::io("open a register segment", e);
        let file = File::open(path).map_err(io)?;
        let len_on_disk = file.metadata().map_err(io)?.len();
        let corrupt = || corrupt(path);
        let min = u64::try_from(MAGIC.len() + FOOTER).map_err(|_| corrupt())?;
        if len_on_disk < min {
            return Err(corrupt());
        }
        let mut head = [0u8; 8];
        read_at(&file, &mut head, 0)?;
        let mut foot = [0u8; FOOTER];
        read_at(&file, &mut foot, len_on_disk - FOOTER as u64)?;
        let (numbers_and_digest, tail) = foot.split_at(FOOTER - MAGIC.len());
        if &head != MAGIC || tail != MAGIC {
            return Err(corrupt());
        }
        let (numbers, _) = numbers_and_digest.split_at(FOOTER - DIGEST - MAGIC.len());
        let mut r = Reader::new(&foot);
        let index_off = r.u64().ok_or_else(corrupt)?;
        let index_len = r.u64().ok_or_else(corrupt)?;
        let bloom_off = r.u64().ok_or_else(corrupt)?;
        let bloom_len = r.u64().ok_or_else(corrupt)?;
        let probes = r.u32().ok_or_else(corrupt)?;
        let mut counts = [0u64; 3];
        for c in &mut counts {
            *c = r.u64().ok_or_else(corrupt)?;
        }
        let want = r.take(DIGEST).ok_or_else(corrupt)?;
        // The index and the filter lie between the blocks and the footer, in that order.
        let body_end = len_on_disk - FOOTER as u64;
        if index_off < MAGIC.len() as u64
            || index_off.checked_add(index_len) != Some(bloom_off)
            || bloom_off.checked_add(bloom_len) != Some(body_end)
            || bloom_len == 0
            || probes == 0
            || probes > 32
        {
            return Err(corrupt());
        }
        let mut index = vec![0u8; usize::try_from(index_len).map_err(|_| corrupt())?];
        read_at(&file, &mut index, index_off)?;
        let mut bloom = vec![0u8; usize::try_from(bloom_len).map_err(|_| corrupt())?];
        read_at(&file, &mut bloom, bloom_off)?;
        let mut ctx = Context::new(&SHA256);
        ctx.update(&index);
        ctx.update(&bloom);
        ctx.update(numbers);
        if ctx.finish().as_ref() != want {
            return Err(corrupt());
        }
        let blocks = parse_index(&index, index_off).ok_or_else(corrupt)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            blocks,
            bloom,
            probes,
            counts,
            len_on_disk,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Entries of `kind` held.
    pub(super) fn count(&self, kind: Kind) -> u64 {
        self.counts.get(kind as usize).copied().unwrap_or(0)
    }

    pub(super) fn len_on_disk(&self) -> u64 {
        self.len_on_disk
    }

    /// The value of `key` in `kind`, if this segment holds it.
    pub(super) fn get(
        &self,
        kind: Kind,
        key: &[u8],
        probe: &Probe,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if kind.looked_up() && !self.may_hold(probe) {
            return Ok(None);
        }
        // The last block whose first key is not after the key.
        let after = self
            .blocks
            .partition_point(|b| cmp_first(b, kind, key) != CmpOrdering::Greater);
        let Some(i) = after.checked_sub(1) else {
            return Ok(None);
        };
        for (k, ek, ev) in self.block(i)? {
            match (k, ek.as_slice()).cmp(&(kind, key)) {
                CmpOrdering::Less => {}
                CmpOrdering::Equal => return Ok(Some(ev)),
                CmpOrdering::Greater => break,
            }
        }
        Ok(None)
    }

    fn may_hold(&self, probe: &Probe) -> bool {
        let m = (self.bloom.len() as u64) * 8;
        probe
            .bits(m, self.probes)
            .all(|bit| bit_set(&self.bloom, bit))
    }

    /// The entries of block `i`, checked against its digest.
    fn block(&self, i: usize) -> Result<Vec<Entry>, StoreError> {
        let b = self.blocks.get(i).ok_or_else(|| corrupt(&self.path))?;
        let mut buf = vec![0u8; b.len as usize];
        read_at(&self.file, &mut buf, b.offset)?;
        let corrupt = || corrupt(&self.path);
        let body_len = buf.len().checked_sub(DIGEST).ok_or_else(corrupt)?;
        let (body, want) = buf.split_at(body_len);
        if digest(&SHA256, body).as_ref() != want {
            return Err(corrupt());
        }
        let mut r = Reader::new(body);
        let mut out = Vec::new();
        while !r.is_empty() {
            let (kind, key, value) = read_entry(&mut r).ok_or_else(corrupt)?;
            out.push((kind, key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    /// The indexes of the blocks that may hold entries of `kind`, in order.
    fn blocks_of(&self, kind: Kind) -> std::ops::Range<usize> {
        let start = self
            .blocks
            .partition_point(|b| b.first_kind < kind)
            .saturating_sub(1);
        let end = self.blocks.partition_point(|b| b.first_kind <= kind);
        start..end.max(start)
    }
}

/// Entries of a segment, one block in memory at a time. Owns its segment, so a scan can outlive
/// the register's lock and a merge that deletes the file (an open file stays readable).
pub(super) struct SegmentIter {
    segment: Arc<Segment>,
    kind: Option<Kind>,
    blocks: std::ops::Range<usize>,
    pending: std::vec::IntoIter<Entry>,
    reverse: bool,
}

impl SegmentIter {
    /// Every entry of `kind` in `segment`, in key order (`reverse`: the opposite).
    pub(super) fn of_kind(segment: Arc<Segment>, kind: Kind, reverse: bool) -> Self {
        Self {
            blocks: segment.blocks_of(kind),
            segment,
            kind: Some(kind),
            pending: Vec::new().into_iter(),
            reverse,
        }
    }

    /// Every entry of every kind in `segment`, in order (for merging).
    pub(super) fn all(segment: Arc<Segment>) -> Self {
        Self {
            blocks: 0..segment.blocks.len(),
            segment,
            kind: None,
            pending: Vec::new().into_iter(),
            reverse: false,
        }
    }
}

impl Iterator for SegmentIter {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.next() {
                return Some(Ok(e));
            }
            let i = if self.reverse {
                self.blocks.next_back()?
            } else {
                self.blocks.next()?
            };
            let mut entries = match self.segment.block(i) {
                Ok(e) => e,
                Err(e) => {
                    self.blocks = 0..0;
                    return Some(Err(e));
                }
            };
            if let Some(kind) = self.kind {
                entries.retain(|(k, _, _)| *k == kind);
            }
            if self.reverse {
                entries.reverse();
            }
            self.pending = entries.into_iter();
        }
    }
}

/// Writes one segment, entries in strictly increasing `(kind, key)` order.
pub(super) struct SegmentWriter {
    tmp: PathBuf,
    out: BufWriter<File>,
    offset: u64,
    block: Vec<u8>,
    block_first: Option<(Kind, Vec<u8>)>,
    index: Vec<u8>,
    bloom: Vec<u8>,
    counts: [u64; 3],
    last: Option<(Kind, Vec<u8>)>,
}

impl SegmentWriter {
    /// Starts a segment in `dir` sized for at most `expected` looked-up entries (the Bloom
    /// filter's size; more entries only raise its false-positive rate).
    pub(super) fn create(dir: &Path, tmp_name: &str, expected: u64) -> Result<Self, StoreError> {
        let tmp = dir.join(tmp_name);
        let io = |e| StoreError::io("create a register segment", e);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&tmp).map_err(io)?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(MAGIC).map_err(io)?;
        let bits = expected
            .saturating_mul(BLOOM_BITS_PER_ENTRY)
            .clamp(64, 1 << 36)
            .next_multiple_of(64);
        Ok(Self {
            tmp,
            out,
            offset: MAGIC.len() as u64,
            block: Vec::with_capacity(BLOCK_TARGET + 1024),
            block_first: None,
            index: Vec::new(),
            bloom: vec![0u8; usize::try_from(bits / 8).unwrap_or(usize::MAX)],
            counts: [0; 3],
            last: None,
        })
    }

    /// Appends an entry; refuses one out of order or over the size limits.
    pub(super) fn add(&mut self, kind: Kind, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return Err(StoreError::Invalid {
                field: "register entry",
                reason: "key or value over the register's size limits",
            });
        }
        if let Some((lk, lkey)) = &self.last
            && (*lk, lkey.as_slice()) >= (kind, key)
        {
            return Err(StoreError::Invalid {
                field: "register entry",
                reason: "entries must be written in increasing order",
            });
        }
        if kind.looked_up() {
            let probe = Probe::new(kind, key);
            let m = (self.bloom.len() as u64) * 8;
            for bit in probe.bits(m, BLOOM_PROBES) {
                if let Some(byte) = self.bloom.get_mut((bit / 8) as usize) {
                    *byte |= 1 << (bit % 8);
                }
            }
        }
        if self.block_first.is_none() {
            self.block_first = Some((kind, key.to_vec()));
        }
        self.block.push(kind as u8);
        self.block
            .extend_from_slice(&u16::try_from(key.len()).unwrap_or(0).to_be_bytes());
        self.block
            .extend_from_slice(&u32::try_from(value.len()).unwrap_or(0).to_be_bytes());
        self.block.extend_from_slice(key);
        self.block.extend_from_slice(value);
        if let Some(c) = self.counts.get_mut(kind as usize) {
            *c += 1;
        }
        self.last = Some((kind, key.to_vec()));
        if self.block.len() >= BLOCK_TARGET {
            self.close_block()?;
        }
        Ok(())
    }

    fn close_block(&mut self) -> Result<(), StoreError> {
        let Some((kind, first)) = self.block_first.take() else {
            return Ok(());
        };
        let io = |e| StoreError::io("write a register segment", e);
        let d = digest(&SHA256, &self.block);
        self.out.write_all(&self.block).map_err(io)?;
        self.out.write_all(d.as_ref()).map_err(io)?;
        let len = self.block.len() + DIGEST;
        self.index.extend_from_slice(&self.offset.to_be_bytes());
        self.index
            .extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        self.index.push(kind as u8);
        self.index
            .extend_from_slice(&u16::try_from(first.len()).unwrap_or(0).to_be_bytes());
        self.index.extend_from_slice(&first);
        self.offset += len as u64;
        self.block.clear();
        Ok(())
    }

    /// Completes the segment: durable under `final_name` in the same directory on return.
    pub(super) fn finish(mut self, dir: &Path, final_name: &str) -> Result<Segment, StoreError> {
        self.close_block()?;
        let io = |e| StoreError::io("write a register segment", e);
        let index_off = self.offset;
        let index_len = self.index.len() as u64;
        let bloom_off = index_off + index_len;
        let bloom_len = self.bloom.len() as u64;
        let mut numbers = Vec::with_capacity(FOOTER);
        for n in [index_off, index_len, bloom_off, bloom_len] {
            numbers.extend_from_slice(&n.to_be_bytes());
        }
        numbers.extend_from_slice(&BLOOM_PROBES.to_be_bytes());
        for c in self.counts {
            numbers.extend_from_slice(&c.to_be_bytes());
        }
        let mut ctx = Context::new(&SHA256);
        ctx.update(&self.index);
        ctx.update(&self.bloom);
        ctx.update(&numbers);
        let d = ctx.finish();
        self.out.write_all(&self.index).map_err(io)?;
        self.out.write_all(&self.bloom).map_err(io)?;
        self.out.write_all(&numbers).map_err(io)?;
        self.out.write_all(d.as_ref()).map_err(io)?;
        self.out.write_all(MAGIC).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        let path = dir.join(final_name);
        fs::rename(&self.tmp, &path).map_err(io)?;
        sync_dir(dir)?;
        Segment::open(&path)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        // Unfinished (an error, or `finish` renamed it away already): never a segment.
        let _ = fs::remove_file(&self.tmp);
    }
}

/// `fsync` of a directory: makes the names created or removed in it durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync the register directory", e))
}

fn corrupt(path: &Path) -> StoreError {
    StoreError::Corrupt {
        what: "register",
        key: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Bit `bit` of a Bloom filter (`bit` is below its length in bits by construction).
fn bit_set(bloom: &[u8], bit: u64) -> bool {
    bloom
        .get((bit / 8) as usize)
        .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> Result<(), StoreError> {
    file.read_exact_at(buf, offset)
        .map_err(|e| StoreError::io("read a register segment", e))
}

fn cmp_first(b: &BlockRef, kind: Kind, key: &[u8]) -> CmpOrdering {
    (b.first_kind, &*b.first_key).cmp(&(kind, key))
}

fn parse_index(index: &[u8], index_off: u64) -> Option<Vec<BlockRef>> {
    let mut r = Reader::new(index);
    let mut blocks: Vec<BlockRef> = Vec::new();
    let mut next_offset = MAGIC.len() as u64;
    while !r.is_empty() {
        let offset = r.u64()?;
        let len = r.u32()?;
        let first_kind = Kind::from_byte(r.u8()?)?;
        let klen = usize::from(r.u16()?);
        if klen > MAX_KEY {
            return None;
        }
        let first_key: Box<[u8]> = r.take(klen)?.into();
        // Blocks are contiguous, in key order, bounded in size, and end where the index begins.
        let in_order = blocks
            .last()
            .is_none_or(|p| (p.first_kind, &*p.first_key) < (first_kind, &*first_key));
        if offset != next_offset
            || (len as usize) > MAX_BLOCK
            || (len as usize) <= DIGEST
            || !in_order
        {
            return None;
        }
        next_offset = offset.checked_add(u64::from(len))?;
        blocks.push(BlockRef {
            offset,
            len,
            first_kind,
            first_key,
        });
    }
    (next_offset == index_off).then_some(blocks)
}

fn read_entry<'a>(r: &mut Reader<'a>) -> Option<(Kind, &'a [u8], &'a [u8])> {
    let kind = Kind::from_byte(r.u8()?)?;
    let klen = usize::from(r.u16()?);
    let vlen = usize::try_from(r.u32()?).ok()?;
    if klen > MAX_KEY || vlen > MAX_VALUE {
        return None;
    }
    Some((kind, r.take(klen)?, r.take(vlen)?))
}

/// Big-endian reads from a byte slice; `None` past its end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Vec<u8> {
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&n.to_be_bytes());
        k.to_vec()
    }

    /// 3,000 tombstones, 3,000 filing records of ~300 bytes, 50 public entries: many blocks.
    fn entries() -> Vec<Entry> {
        let mut out = Vec::new();
        for n in 0..3000u32 {
            out.push((Kind::Tombstone, id(n * 2), format!("{n:064x}").into_bytes()));
        }
        for n in 0..3000u32 {
            out.push((
                Kind::Filing,
                id(n * 2),
                vec![b'f'; 250 + (n % 100) as usize],
            ));
        }
        for n in 0..50u32 {
            let mut k = (1_700_000_000_000u64 + u64::from(n)).to_be_bytes().to_vec();
            k.extend(id(n));
            out.push((Kind::Public, k, format!("{{\"n\":{n}}}").into_bytes()));
        }
        out
    }

    fn write(dir: &Path, entries: &[Entry]) -> Arc<Segment> {
        let mut w = SegmentWriter::create(dir, "t.tmp", entries.len() as u64).unwrap();
        for (k, key, v) in entries {
            w.add(*k, key, v).unwrap();
        }
        Arc::new(w.finish(dir, "t.seg").unwrap())
    }

    fn get(s: &Segment, kind: Kind, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        s.get(kind, key, &Probe::new(kind, key))
    }

    #[test]
    fn every_entry_is_found_and_absent_keys_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries();
        let s = write(dir.path(), &all);
        assert!(s.blocks.len() > 10, "spans many blocks: {}", s.blocks.len());
        assert!(!dir.path().join("t.tmp").exists());
        for (k, key, v) in &all {
            assert_eq!(get(&s, *k, key).unwrap().as_ref(), Some(v), "{k:?}");
        }
        // Odd ids fall between stored ones; before the first and after the last too.
        for n in [1u32, 777, 5999, 6001, u32::MAX] {
            assert_eq!(get(&s, Kind::Tombstone, &id(n)).unwrap(), None);
            assert_eq!(get(&s, Kind::Filing, &id(n)).unwrap(), None);
        }
        assert_eq!(get(&s, Kind::Public, &id(0)).unwrap(), None);
        assert_eq!(s.count(Kind::Tombstone), 3000);
        assert_eq!(s.count(Kind::Filing), 3000);
        assert_eq!(s.count(Kind::Public), 50);
        // The Bloom filter answers most misses without reading a block: at ~1 % false
        // positives, far fewer than 1,000 of 10,000 absent ids get past it.
        let passed = (0..10_000u32)
            .filter(|n| s.may_hold(&Probe::new(Kind::Tombstone, &id(n * 2 + 1))))
            .count();
        assert!(passed < 1000, "{passed} false positives of 10,000");
    }

    #[test]
    fn scans_return_each_kind_in_order_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries();
        let s = write(dir.path(), &all);
        for kind in Kind::ALL {
            let want: Vec<&Entry> = all.iter().filter(|e| e.0 == kind).collect();
            let got: Vec<Entry> = SegmentIter::of_kind(s.clone(), kind, false)
                .map(Result::unwrap)
                .collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "{kind:?}");
            let mut back: Vec<Entry> = SegmentIter::of_kind(s.clone(), kind, true)
                .map(Result::unwrap)
                .collect();
            back.reverse();
            assert_eq!(back, got, "{kind:?} reversed");
        }
        let every: Vec<Entry> = SegmentIter::all(s).map(Result::unwrap).collect();
        assert_eq!(every, all);
    }

    #[test]
    fn out_of_order_and_oversized_entries_are_refused_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = SegmentWriter::create(dir.path(), "x.tmp", 4).unwrap();
            w.add(Kind::Filing, &id(5), b"v").unwrap();
            for (kind, key) in [
                (Kind::Filing, id(5)),
                (Kind::Filing, id(4)),
                (Kind::Tombstone, id(9)),
            ] {
                assert!(matches!(
                    w.add(kind, &key, b"v"),
                    Err(StoreError::Invalid { .. })
                ));
            }
            let big = vec![0u8; MAX_VALUE + 1];
            assert!(w.add(Kind::Public, &id(1), &big).is_err());
            assert!(w.add(Kind::Public, &vec![1u8; MAX_KEY + 1], b"v").is_err());
            // dropped unfinished
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_file_is_reported_as_corrupt_never_read_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries();
        let path = write(dir.path(), &all).path().to_path_buf();
        let good = std::fs::read(&path).unwrap();
        let damaged = dir.path().join("d.seg");
        // A flipped byte in a block: open succeeds, reading that block does not.
        let mut bytes = good.clone();
        bytes[100] ^= 0x40;
        std::fs::write(&damaged, &bytes).unwrap();
        let s = Segment::open(&damaged).unwrap();
        let first = &all[0];
        assert!(matches!(
            get(&s, first.0, &first.1),
            Err(StoreError::Corrupt {
                what: "register",
                ..
            })
        ));
        // Everywhere else: in the index, the filter, the footer, or cut short.
        let len = good.len();
        for at in [len - 10, len - 50, len - FOOTER - 3, len - FOOTER - 2000, 3] {
            let mut bytes = good.clone();
            bytes[at] ^= 0x01;
            std::fs::write(&damaged, &bytes).unwrap();
            assert!(
                matches!(Segment::open(&damaged), Err(StoreError::Corrupt { .. })),
                "byte {at} of {len}"
            );
        }
        for cut in [0, 7, FOOTER, len / 2, len - 1] {
            std::fs::write(&damaged, &good[..cut]).unwrap();
            assert!(Segment::open(&damaged).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.seg");
        let rng = ring::rand::SystemRandom::new();
        for len in [0usize, 8, 16, 200, FOOTER + 16, 5000] {
            let mut bytes = vec![0u8; len];
            ring::rand::SecureRandom::fill(&rng, &mut bytes).unwrap();
            if len >= 16 {
                bytes[..8].copy_from_slice(MAGIC);
                bytes[len - 8..].copy_from_slice(MAGIC);
            }
            std::fs::write(&path, &bytes).unwrap();
            assert!(Segment::open(&path).is_err(), "{len} random bytes");
        }
    }
}
