//! Durable, private file writes for keys, certificates and CA state.
//!
//! Every write goes to a temporary file in the same directory (so the rename cannot cross a file
//! system), is flushed with `fsync`, renamed over the target and the directory is flushed too:
//! after a crash the target holds either the old or the new bytes, never a torn mix (POSIX
//! `rename(2)` is atomic). Files are created with mode 0600: private keys, even encrypted, are
//! nobody else's business.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically with mode 0600 (see the module docs). Durable on return.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = temp_path(&dir, file_name)?;
    let result = (|| {
        let mut f = create_private(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        // Best effort: leave no temporary file behind; the target is untouched.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` with mode 0600, failing if it exists (`O_EXCL`).
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)
}

/// Overwrites a file with zeros, flushes, then removes it and flushes the directory.
///
/// On journaling or copy-on-write file systems and SSDs the old blocks may survive; this is a
/// best effort against casual recovery, and the key file was encrypted anyway.
pub(crate) fn overwrite_and_remove(path: &Path) -> io::Result<()> {
    let len = fs::metadata(path)?.len();
    {
        let mut f = OpenOptions::new().write(true).open(path)?;
        let zeros = [0u8; 4096];
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(4096)).unwrap_or(4096);
            f.write_all(zeros.get(..n).unwrap_or(&zeros))?;
            left = left.saturating_sub(4096);
        }
        f.sync_all()?;
    }
    fs::remove_file(path)?;
    sync_dir(&parent_dir(path))
}

/// Flushes a directory so a rename or removal in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates a directory (and parents) readable only by its owner.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_path(dir: &Path, file_name: &str) -> io::Result<PathBuf> {
    let mut rnd = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
        .map_err(|_| io::Error::other("no randomness for a temporary file name"))?;
    let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(format!(".{file_name}.{suffix}.tmp")))
}
