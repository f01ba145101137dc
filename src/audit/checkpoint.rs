//! Signed checkpoints: the message an organ signs over the chain's head, and its check.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sign::{TrustStore, VerifyOptions, verify_detached};

use super::CHECKPOINT_CONTEXT;
use super::entry::Entry;
use super::error::AuditError;

/// The detail of a [`Kind::Checkpoint`](super::Kind::Checkpoint) entry (as JSON text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointDetail {
    /// Seq of the last entry covered (the entry before the checkpoint; 0 for an empty log).
    pub covers_seq: u64,
    /// Hash of that entry ([`GENESIS`](super::GENESIS) for an empty log): the checkpoint's `prev_hash`.
    pub head: String,
    /// Signature algorithm URI ([`crate::sign::SignatureAlgorithm::uri`]).
    pub alg: String,
    /// Signature over [`checkpoint_message`], base64.
    pub sig: String,
    /// The signer's certificate then its intermediates, base64 DER.
    pub certs: Vec<String>,
}

/// The bytes a checkpoint signs: the context line, the organ, the covered seq and head hash.
pub fn checkpoint_message(organ: &str, covers_seq: u64, head: &str) -> Vec<u8> {
    format!("{CHECKPOINT_CONTEXT}\n{organ}\n{covers_seq}\n{head}").into_bytes()
}

/// Checks a checkpoint's shape, and with a trust store its signature; true when verified.
pub(super) fn check_checkpoint(
    entry: &Entry,
    line: u64,
    trust: Option<&TrustStore>,
) -> Result<bool, AuditError> {
    let malformed = |reason: &str| AuditError::CheckpointMalformed {
        line,
        reason: reason.to_owned(),
    };
    let cp: CheckpointDetail = serde_json::from_str(&entry.detail)
        .map_err(|e| malformed(&format!("its detail is not a checkpoint: {e}")))?;
    if cp.covers_seq.checked_add(1) != Some(entry.seq) || cp.head != entry.prev_hash {
        return Err(malformed("it does not cover the entry before it"));
    }
    let Some(trust) = trust else {
        return Ok(false);
    };
    let sig = B64
        .decode(&cp.sig)
        .map_err(|_| malformed("its signature is not base64"))?;
    let certs = cp
        .certs
        .iter()
        .map(|c| B64.decode(c).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| malformed("a certificate is not base64"))?;
    // Verified as of the checkpoint's own time: an archive is checked long after its
    // certificates expire, as XAdES/X-Road archives are.
    let at = OffsetDateTime::parse(&entry.at, &Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
        .ok_or_else(|| malformed("its time is not a valid RFC 3339 instant after 1970"))?;
    let options = VerifyOptions {
        at: UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
        ..VerifyOptions::now()
    };
    verify_detached(
        &checkpoint_message(&entry.organ, cp.covers_seq, &cp.head),
        &cp.alg,
        &sig,
        &certs,
        &entry.organ,
        trust,
        &options,
    )
    .map_err(|source| AuditError::CheckpointRefused {
        line,
        seq: entry.seq,
        organ: entry.organ.clone(),
        source,
    })?;
    Ok(true)
}
