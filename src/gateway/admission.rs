//! Overload sheds, it does not swell: at most `limits.max_inflight_documents` submissions
//! are handled at once on the API listener, and as many deliveries from peers on the exchange
//! listener (separate budgets: an office flood never holds back the relay, nor the reverse). A
//! request that finds no slot within `limits.admission_wait_ms` is refused at once with
//! [`Overloaded`] (503 `overload`, Retry-After) — before its body is read, so memory is bounded
//! by the slots: each holds at most one body of `max_body_bytes` and what is made from it.
//!
//! The wait adapts, as CoDel and Facebook's "controlled delay" queues do: a door that has had
//! no free slot for [`CONGESTED_AFTER`], or has refused a request in the last
//! [`CONGESTED_FOR`], is *congested* — the load is above what it can make durable, not a
//! burst — and a request then waits at most [`CONGESTED_WAIT`]. A fixed wait
//! under sustained overload makes every accepted request wait it out (measured: accepted p50
//! 285 ms with 250 ms of wait, against an unloaded p99 of ~10 ms); the short one keeps accepted
//! requests near their unloaded latency, and sheds the excess at once. A burst on an idle door
//! still gets the whole `admission_wait_ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// A door that has had no free slot this long is congested.
pub const CONGESTED_AFTER: Duration = Duration::from_millis(100);
/// How long a request waits for a slot of a congested door.
pub const CONGESTED_WAIT: Duration = Duration::from_millis(10);
/// A door that has refused a request stays congested this long: under sustained overload a
/// slot comes free now and then, and without this memory each one would bring back the long
/// wait for the next [`CONGESTED_AFTER`] (measured: accepted p99 doubled).
pub const CONGESTED_FOR: Duration = Duration::from_secs(1);

/// One door's slots, and when it last had one free.
#[derive(Debug)]
struct Slots {
    sem: Arc<Semaphore>,
    /// Milliseconds since `Admission::epoch` when a request last found a slot free.
    last_free_ms: AtomicU64,
    /// Milliseconds since `Admission::epoch` when a request was last refused (0: never).
    last_refused_ms: AtomicU64,
}

/// Whole milliseconds of `d`, the unit the doors' clocks are kept in.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Slots {
    fn congested(&self, now_ms: u64) -> bool {
        let refused = self.last_refused_ms.load(Ordering::Relaxed);
        now_ms.saturating_sub(self.last_free_ms.load(Ordering::Relaxed)) >= millis(CONGESTED_AFTER)
            || (refused > 0 && now_ms.saturating_sub(refused) < millis(CONGESTED_FOR))
    }
}

/// The slots of both doors.
#[derive(Debug)]
pub struct Admission {
    submissions: Slots,
    deliveries: Slots,
    wait: Duration,
    epoch: Instant,
}

/// A held slot; the next request may take it when this is dropped (with the response).
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// The slots the config asks for.
    pub fn new(limits: &Limits) -> Self {
        let n = limits.max_inflight_documents.max(1);
        let slots = || Slots {
            sem: Arc::new(Semaphore::new(n)),
            last_free_ms: AtomicU64::new(0),
            last_refused_ms: AtomicU64::new(0),
        };
        Self {
            submissions: slots(),
            deliveries: slots(),
            wait: Duration::from_millis(limits.admission_wait_ms),
            epoch: Instant::now(),
        }
    }

    /// A slot for one document through `door`, waiting at most the admission wait — or
    /// [`CONGESTED_WAIT`] when the door is congested.
    pub async fn admit(&self, door: Door) -> Result<Slot, Overloaded> {
        let slots = match door {
            Door::Submission => &self.submissions,
            Door::Delivery => &self.deliveries,
        };
        let now_ms = millis(self.epoch.elapsed());
        if let Ok(p) = slots.sem.clone().try_acquire_owned() {
            // A free slot means no one is queued (tokio's semaphore hands released permits to
            // waiters first): the door is not congested.
            slots.last_free_ms.store(now_ms, Ordering::Relaxed);
            return Ok(Slot(p));
        }
        let wait = if slots.congested(now_ms) {
            CONGESTED_WAIT.min(self.wait)
        } else {
            self.wait
        };
        match tokio::time::timeout(wait, slots.sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(Slot(p)),
            _ => {
                let now_ms = millis(self.epoch.elapsed());
                slots
                    .last_refused_ms
                    .store(now_ms.max(1), Ordering::Relaxed);
                Err(Overloaded { door })
            }
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

    #[tokio::test]
    async fn a_door_full_for_long_sheds_after_the_short_wait_and_recovers_when_free() {
        let limits = Limits {
            max_inflight_documents: 1,
            admission_wait_ms: 250,
            ..Limits::default()
        };
        let a = Admission::new(&limits);
        // Fresh and momentarily full: a burst gets the whole wait.
        let held = a.admit(Door::Submission).await.unwrap();
        let t = Instant::now();
        assert!(a.admit(Door::Submission).await.is_err());
        assert!(t.elapsed() >= Duration::from_millis(250));
        // Full for longer than CONGESTED_AFTER: refused after CONGESTED_WAIT.
        let t = Instant::now();
        assert!(a.admit(Door::Submission).await.is_err());
        assert!(t.elapsed() >= CONGESTED_WAIT && t.elapsed() < Duration::from_millis(200));
        // The other door is not congested.
        let other = a.admit(Door::Delivery).await.unwrap();
        drop(other);
        // A slot comes free for a moment: the door that just refused stays congested.
        drop(held);
        let held = a.admit(Door::Submission).await.unwrap();
        let t = Instant::now();
        assert!(a.admit(Door::Submission).await.is_err());
        assert!(t.elapsed() < Duration::from_millis(200));
        drop(held);
        // Free, and no refusal for CONGESTED_FOR: a burst gets the whole wait again.
        tokio::time::sleep(CONGESTED_FOR).await;
        let held = a.admit(Door::Submission).await.unwrap();
        let t = Instant::now();
        assert!(a.admit(Door::Submission).await.is_err());
        assert!(t.elapsed() >= Duration::from_millis(250));
        drop(held);
    }
}
