//! The gateway's health as the domain sees it: room on the disk for new documents (the
//! reserve of `store::space`), a stored document found altered (audited, counted, quarantined
//! by the store), and what `/readyz` answers from both.

use std::sync::atomic::Ordering;

use super::Shared;
use super::error::Internal;
use crate::audit::Event;
use crate::store::space::{DiskSpace, Reserve};
use crate::store::{MessageId, ScrubReport, StoreError};

/// What `/readyz` should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Accepting documents; `degraded` names what an operator should look at.
    Ready {
        /// E.g. quarantined documents.
        degraded: Option<String>,
    },
    /// Not accepting new documents (the relay, acks and purges still run).
    DiskLow {
        /// Why, in one sentence with the numbers.
        reason: String,
    },
    /// The store cannot be read.
    StoreUnavailable,
}

impl Shared {
    /// The reserve the config asks for.
    fn reserve(&self) -> Reserve {
        Reserve {
            percent: self.config.limits.disk_reserve_percent,
            max_bytes: self.config.limits.disk_reserve_max_bytes,
        }
    }

    /// `Some(reason)` while the data directory's file system is below its reserve. A file
    /// system that cannot be measured is logged and not refused for (the store's own writes
    /// still fail by name if it is really full).
    pub fn disk_shortfall(&self) -> Option<String> {
        let space = match DiskSpace::of(&self.config.data_dir) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not measure the data directory's free space");
                return None;
            }
        };
        let reserve = self.reserve().shortfall(space)?;
        Some(format!(
            "{} bytes free on the data directory's file system, below the reserve of {reserve} \
             kept for delivering and purging",
            space.available
        ))
    }

    /// Refuses a new document (a submission, a delivery from a peer) while the disk is below
    /// its reserve: [`StoreFault::Full`](super::error::StoreFault::Full), answered 507.
    pub fn room_for_documents(&self) -> Result<(), Internal> {
        match self.disk_shortfall() {
            Some(reason) => Err(Internal::full("disk reserve", reason)),
            None => Ok(()),
        }
    }

    /// Records what a store error says about the disk: an altered document is audited and
    /// counted (the store has quarantined it). Blocking (audit fsync): call from a blocking
    /// task. `reader` says who found it (`inbox fetch`, `relay to X`, `store check`).
    pub fn note_store_error(&self, e: &StoreError, reader: &str) {
        if let StoreError::Altered { id, fault } = e {
            self.note_altered(id, fault.as_str(), reader);
        }
    }

    /// Audits and counts a document found altered.
    pub fn note_altered(&self, id: &MessageId, fault: &str, reader: &str) {
        tracing::error!(message = %id, fault, reader, "stored document altered on disk; quarantined");
        self.metrics.store_faults.fetch_add(1, Ordering::Relaxed);
        self.audit(Event::store_fault(
            &self.config.organ,
            &id.to_string(),
            fault,
            reader,
        ));
    }

    /// What `/readyz` answers. Blocking (store read, statvfs).
    pub fn readiness(&self) -> Readiness {
        let stats = match self.store.stats() {
            Ok(s) => s,
            Err(_) => return Readiness::StoreUnavailable,
        };
        if let Some(reason) = self.disk_shortfall() {
            return Readiness::DiskLow { reason };
        }
        let degraded = (stats.quarantined > 0).then(|| {
            format!(
                "store degraded: {} documents quarantined (altered on disk); run lienthong store check",
                stats.quarantined
            )
        });
        Readiness::Ready { degraded }
    }
}

/// The online check (`POST /api/v1/admin/store/check`, `lienthong store check --online`):
/// every document read back, every index entry looked up, each altered document audited.
pub async fn check_store(shared: &std::sync::Arc<Shared>) -> Result<ScrubReport, Internal> {
    let s = shared.clone();
    super::blocking(move || {
        let report = s
            .store
            .scrub()
            .map_err(|e| Internal::store("store check", &e))?;
        for q in &report.altered {
            s.note_altered(&q.id, q.fault.as_str(), "store check");
        }
        Ok(report)
    })
    .await?
}
