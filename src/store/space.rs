//! Free space under the data directory, and the reserve kept for the work that frees it.
//!
//! A gateway whose disk fills must still deliver, acknowledge, receipt and purge: those are
//! what give the space back. So new documents (submissions and deliveries from peers) are
//! refused while the file system's free space is below a reserve, and the writes that drain
//! the outbox keep the reserve for themselves. sled 0.34 must never meet `ENOSPC` itself: a
//! failed write there sets its global error, after which every operation fails until restart.

use std::path::Path;

/// Free and total bytes of the file system holding a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes available to this (unprivileged) process.
    pub available: u64,
    /// Size of the file system.
    pub total: u64,
}

impl DiskSpace {
    /// The space of the file system holding `dir`.
    pub fn of(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            available: fs2::available_space(dir)?,
            total: fs2::total_space(dir)?,
        })
    }
}

/// How much free space new documents may not use: `percent` of the file system, at most
/// `max_bytes` (default 5 % or 512 MiB, whichever is smaller).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reserve {
    /// Share of the file system kept free, in percent (0–50).
    pub percent: f64,
    /// Upper bound of the reserve in bytes.
    pub max_bytes: u64,
}

impl Reserve {
    /// The reserve in bytes on a file system of `total` bytes.
    pub fn bytes(&self, total: u64) -> u64 {
        // f64 holds any realistic disk size to well under a byte per terabyte.
        let share = (total as f64 * self.percent / 100.0).max(0.0) as u64;
        share.min(self.max_bytes)
    }

    /// `Some(reserve in bytes)` when `space` is below it: no new documents.
    pub fn shortfall(&self, space: DiskSpace) -> Option<u64> {
        let reserve = self.bytes(space.total);
        (space.available < reserve).then_some(reserve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_share_of_the_disk_capped() {
        let r = Reserve {
            percent: 5.0,
            max_bytes: 512 << 20,
        };
        assert_eq!(r.bytes(24 << 20), 1_258_291);
        assert_eq!(r.bytes(1 << 40), 512 << 20);
        let space = |available| DiskSpace {
            available,
            total: 24 << 20,
        };
        assert_eq!(r.shortfall(space(1_258_290)), Some(1_258_291));
        assert_eq!(r.shortfall(space(1_258_291)), None);
    }

    #[test]
    fn a_real_directory_has_space() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskSpace::of(dir.path()).unwrap();
        assert!(s.total > 0 && s.available <= s.total);
    }
}
