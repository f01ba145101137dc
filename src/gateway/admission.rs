//! Overload sheds, it does not swell: at most `limits.max_inflight_documents` submissions
//! are handled at once on the API listener, and as many deliveries from peers on the exchange
//! listener (separate budgets: an office flood never holds back the relay, nor the reverse). A
//! request that finds no slot within `limits.admission_wait_ms` is refused at once with
//! [`Overloaded`] (503 `overload`, Retry-After) — before its body is read, so memory is bounded
//! by the slots: each holds at most one body of `max_body_bytes` and what is made from it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// Which door a document comes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// An office's submission (API listener).
    Submission,
    /// A peer's delivery (exchange listener).
    Delivery,
}

impl Door {
    /// Its name in metrics and problems.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submission => "submission",
            Self::Delivery => "delivery",
        }
    }
}

/// No slot for another document through `door` now: try again shortly.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the gateway is handling as many {} documents as it can make durable; try again in a moment", door.as_str())]
pub struct Overloaded {
    /// The door.
    pub door: Door,
}

/// The slots of both doors.
#[derive(Debug)]
pub struct Admission {
    submissions: Arc<Semaphore>,
    deliveries: Arc<Semaphore>,
    wait: Duration,
}

/// A held slot; the next request may take it when this is dropped (with the response).
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// The slots the config asks for.
    pub fn new(limits: &Limits) -> Self {
        let n = limits.max_inflight_documents.max(1);
        Self {
            submissions: Arc::new(Semaphore::new(n)),
            deliveries: Arc::new(Semaphore::new(n)),
            wait: Duration::from_millis(limits.admission_wait_ms),
        }
    }

    /// A slot for one document through `door`, waiting at most the admission wait.
    pub async fn admit(&self, door: Door) -> Result<Slot, Overloaded> {
        let sem = match door {
            Door::Submission => &self.submissions,
            Door::Delivery => &self.deliveries,
        };
        if let Ok(p) = sem.clone().try_acquire_owned() {
            return Ok(Slot(p));
        }
        match tokio::time::timeout(self.wait, sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(Slot(p)),
            _ => Err(Overloaded { door }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_door_refuses_after_the_wait_and_the_other_door_is_free() {
        let limits = Limits {
            max_inflight_documents: 1,
            admission_wait_ms: 20,
            ..Limits::default()
        };
        let a = Admission::new(&limits);
        let held = a.admit(Door::Submission).await.unwrap();
        assert!(a.admit(Door::Submission).await.is_err());
        assert!(a.admit(Door::Delivery).await.is_ok());
        drop(held);
        assert!(a.admit(Door::Submission).await.is_ok());
    }
}
