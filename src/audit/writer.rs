//! The writer: opening the log (with the recovery of its tail), appending with group commit
//! (one shared `fdatasync` for concurrent appends), and checkpoints.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::group_commit::GroupCommit;
use crate::sign::Signer;

use super::checkpoint::{CheckpointDetail, checkpoint_message};
use super::entry::{Entry, Kind};
use super::error::{AuditError, io_error};
use super::event::Event;
use super::recovery::{Recovery, check_entry, check_line, describe_last, read_tail};
use super::{GENESIS, LOG_DIR, LOG_FILE, MAX_LINE};

pub(super) struct Inner {
    /// Shared with the syncer, which flushes it without holding this mutex.
    pub(super) file: std::sync::Arc<File>,
    pub(super) len: u64,
    pub(super) seq: u64,
    pub(super) head: String,
    pub(super) broken: bool,
}

/// An open audit log. Appends are durable on return.
pub struct AuditLog {
    pub(super) path: PathBuf,
    pub(super) organ: String,
    pub(super) recovery: Option<Recovery>,
    pub(super) inner: Mutex<Inner>,
    /// Appends share `fdatasync`s through the one group-commit mechanism (the store's too):
    /// one sync runs at a time and covers every line written before it began, so the appends
    /// waiting behind it find their line already covered.
    pub(super) commit: GroupCommit,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("organ", &self.organ)
            .finish_non_exhaustive()
    }
}

/// The log file of a gateway data directory: `DIR/audit/audit.log`.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_DIR).join(LOG_FILE)
}

impl AuditLog {
    /// Opens (creating it if needed) the log of a gateway data directory, `DIR/audit/audit.log`,
    /// for `organ` (the gateway's own organ: the one that signs checkpoints).
    pub fn open(data_dir: &Path, organ: &str) -> Result<Self, AuditError> {
        let dir = data_dir.join(LOG_DIR);
        create_private_dir(&dir)?;
        Self::open_file(&dir.join(LOG_FILE), organ)
    }

    /// Opens (creating it if needed) the log at `path`. The chain continues from the last line,
    /// which is checked; an incomplete last line left by a crash is removed and reported in
    /// [`Self::recovery`]; anything else wrong with it is refused.
    pub fn open_file(path: &Path, organ: &str) -> Result<Self, AuditError> {
        let existed = path.exists();
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The log names organs and messages: readable by the gateway's user only.
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
        if !existed {
            sync_parent(path)?;
        }
        let len = file.metadata().map_err(|e| io_error(path, &e))?.len();
        let head_error = |reason: String| AuditError::Head {
            path: path.display().to_string(),
            reason,
        };
        let tail = read_tail(&mut file, len, path)?;
        let (mut seq, mut head) = (0, GENESIS.to_owned());
        if let Some((_, bytes)) = &tail.last {
            // Line numbers are unknown without reading the whole file: errors say "last".
            let entry = check_line(bytes, 0).map_err(|e| head_error(describe_last(&e)))?;
            seq = entry.seq;
            head = entry.hash;
        }
        let mut len = len;
        let mut recovery = None;
        if let Some((offset, bytes)) = tail.torn {
            match serde_json::from_slice::<Entry>(&bytes) {
                Err(e) if e.is_eof() => {
                    // A strict prefix of a JSON object: a write cut by a crash. It was never
                    // returned by append, so nothing it recorded was acknowledged.
                    file.set_len(offset)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io_error(path, &e))?;
                    tracing::warn!(
                        path = %path.display(),
                        offset,
                        bytes = len - offset,
                        after_seq = seq,
                        "audit log: removed an incomplete last line"
                    );
                    recovery = Some(Recovery::Truncated {
                        offset,
                        bytes: len - offset,
                        after_seq: seq,
                    });
                    len = offset;
                }
                Err(e) => return Err(head_error(format!("its last line is not an entry: {e}"))),
                Ok(entry) => {
                    let entry =
                        check_entry(entry, &bytes, 0).map_err(|e| head_error(describe_last(&e)))?;
                    if entry.seq != seq + 1 || entry.prev_hash != head {
                        return Err(head_error(format!(
                            "its last entry (seq {}) does not follow seq {seq}",
                            entry.seq
                        )));
                    }
                    file.write_all(b"\n")
                        .and_then(|()| file.sync_data())
                        .map_err(|e| io_error(path, &e))?;
                    len += 1;
                    seq = entry.seq;
                    head = entry.hash;
                    recovery = Some(Recovery::NewlineRestored { seq });
                }
            }
        }
        Ok(Self {
            path: path.to_owned(),
            organ: organ.to_owned(),
            recovery,
            inner: Mutex::new(Inner {
                file: std::sync::Arc::new(file),
                len,
                seq,
                head,
                broken: false,
            }),
            commit: GroupCommit::new(std::time::Duration::ZERO),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The organ whose log this is (and whose key signs checkpoints).
    pub fn organ(&self) -> &str {
        &self.organ
    }

    /// What opening repaired, if anything.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The seq and hash of the last entry (0 and [`GENESIS`] for an empty log).
    pub fn head(&self) -> Result<(u64, String), AuditError> {
        let inner = self.inner.lock().map_err(|_| AuditError::Unavailable)?;
        Ok((inner.seq, inner.head.clone()))
    }

    /// Appends an entry for `event` and returns it once it is written and `fdatasync`ed.
    /// Refuses [`Kind::Checkpoint`] (see [`Self::checkpoint`]).
    pub fn append(&self, event: Event) -> Result<Entry, AuditError> {
        if event.kind == Kind::Checkpoint {
            return Err(AuditError::ReservedKind);
        }
        let (entry, ticket, file) = {
            let mut inner = self.inner.lock().map_err(|_| AuditError::Unavailable)?;
            let entry = self.write_locked(&mut inner, event)?;
            // Taken once the line is written: a sync that starts after this covers it.
            (entry, self.commit.ticket(), inner.file.clone())
        };
        self.sync_through(ticket, &file)?;
        Ok(entry)
    }

    /// Returns once the line of `ticket` is on disk, syncing unless a sync that began after it
    /// was written already covered it (everything written before a sync begins is covered by
    /// it, not only the leader's own line).
    pub(super) fn sync_through(&self, ticket: u64, file: &File) -> Result<(), AuditError> {
        self.commit.wait_durable(ticket, || {
            file.sync_data().map_err(|e| {
                // Which of the unsynced lines reached the disk is unknown: refuse them all and
                // stop appending until a reopen checks the tail.
                if let Ok(mut inner) = self.inner.lock() {
                    inner.broken = true;
                }
                io_error(&self.path, &e)
            })
        })
    }

    /// Appends a checkpoint: a signature by `signer` over the current head (see
    /// [`checkpoint_message`]), with `chain` (signer's certificate first) and the algorithm URI.
    /// The head cannot move while it is signed (the lock is held); run it off the async reactor.
    pub fn checkpoint(
        &self,
        signer: &dyn Signer,
        chain: &[CertificateDer<'_>],
    ) -> Result<Entry, AuditError> {
        if chain.is_empty() {
            return Err(AuditError::NoCertificate);
        }
        let mut inner = self.inner.lock().map_err(|_| AuditError::Unavailable)?;
        if inner.broken {
            return Err(AuditError::Unavailable);
        }
        let covers_seq = inner.seq;
        let head = inner.head.clone();
        let sig = signer.sign(&checkpoint_message(&self.organ, covers_seq, &head))?;
        let detail = CheckpointDetail {
            covers_seq,
            head,
            alg: signer.algorithm().uri().to_owned(),
            sig: B64.encode(sig),
            certs: chain.iter().map(|c| B64.encode(c.as_ref())).collect(),
        };
        let detail =
            serde_json::to_string(&detail).map_err(|e| AuditError::Encode(e.to_string()))?;
        // Built directly: Event::detail would cut it.
        let event = Event {
            detail,
            ..Event::new(Kind::Checkpoint, &self.organ)
        };
        let entry = self.write_locked(&mut inner, event)?;
        let (ticket, file) = (self.commit.ticket(), inner.file.clone());
        drop(inner);
        self.sync_through(ticket, &file)?;
        Ok(entry)
    }

    /// Writes the entry's line (not yet synced: see [`Self::sync_through`]).
    pub(super) fn write_locked(
        &self,
        inner: &mut Inner,
        event: Event,
    ) -> Result<Entry, AuditError> {
        if inner.broken {
            return Err(AuditError::Unavailable);
        }
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .map_err(|e| AuditError::Encode(e.to_string()))?;
        let mut entry = Entry {
            seq: inner.seq + 1,
            at,
            kind: event.kind,
            organ: event.organ,
            message_id: event.message_id,
            document_id: event.document_id,
            rule: event.rule,
            detail: event.detail,
            prev_hash: inner.head.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash()?;
        let mut line = entry.to_line()?;
        if line.len() > MAX_LINE {
            return Err(AuditError::Encode(format!(
                "entry of {} bytes is longer than {MAX_LINE}",
                line.len()
            )));
        }
        line.push('\n');
        let written = (&*inner.file).write_all(line.as_bytes());
        if let Err(e) = written {
            // Undo a partial line so the next append does not land after garbage; if even
            // that fails, stop appending (fail closed) until a reopen recovers the tail.
            let undone = inner
                .file
                .set_len(inner.len)
                .and_then(|()| inner.file.sync_data());
            if undone.is_err() {
                inner.broken = true;
            }
            return Err(io_error(&self.path, &e));
        }
        inner.len += u64::try_from(line.len()).unwrap_or(u64::MAX);
        inner.seq = entry.seq;
        inner.head.clone_from(&entry.hash);
        Ok(entry)
    }
}

pub(super) fn create_private_dir(dir: &Path) -> Result<(), AuditError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io_error(dir, &e))
}

/// Makes a new file's directory entry durable.
pub(super) fn sync_parent(path: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(parent, &e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
