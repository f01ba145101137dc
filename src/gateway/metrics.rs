//! Counters behind `GET /metrics` (Prometheus text format). Labels carry only ids, peers, rules
//! and levels — never a subject or content.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency buckets in milliseconds.
const BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_ms: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, ms: u64) {
        for (b, limit) in self.buckets.iter().zip(BUCKETS_MS) {
            if ms <= limit {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    fn render(&self, name: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (b, limit) in self.buckets.iter().zip(BUCKETS_MS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {}",
                limit as f64 / 1000.0,
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Every counter the gateway keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Documents accepted from offices.
    pub submitted: AtomicU64,
    /// Documents received from peers.
    pub received: AtomicU64,
    /// Deliveries confirmed by a verified receipt.
    pub delivered: AtomicU64,
    /// Failed delivery attempts that will be retried.
    pub retries: AtomicU64,
    /// Entries given up on.
    pub dead_letters: AtomicU64,
    /// Acknowledgements by receiving systems.
    pub acked: AtomicU64,
    /// Finished documents removed by the retention sweep.
    pub purged: AtomicU64,
    /// Stored documents found altered on disk (each then quarantined).
    pub store_faults: AtomicU64,
    /// Failed authentication attempts.
    pub auth_failures: AtomicU64,
    /// Failed authentication attempts answered after a delay.
    pub auth_delayed: AtomicU64,
    /// Refusals by reason (a problem type or a policy rule).
    refusals: Mutex<BTreeMap<String, u64>>,
    /// Relay latency: first queued → receipt verified.
    pub relay_latency: Histogram,
}

impl Metrics {
    /// Counts a refusal under `reason` (a stable machine name).
    pub fn refused(&self, reason: &str) {
        let mut map = match self.refusals.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        *map.entry(reason.to_owned()).or_insert(0) += 1;
    }

    /// Renders the text exposition; `depths` are (peer, lane, count) from the store.
    pub fn render(&self, organ: &str, depths: &[(String, String, u64)]) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let counters = [
            ("lienthong_submitted_total", &self.submitted),
            ("lienthong_received_total", &self.received),
            ("lienthong_delivered_total", &self.delivered),
            ("lienthong_retries_total", &self.retries),
            ("lienthong_dead_letters_total", &self.dead_letters),
            ("lienthong_acked_total", &self.acked),
            ("lienthong_purged_total", &self.purged),
            ("lienthong_store_faults_total", &self.store_faults),
            ("lienthong_auth_failures_total", &self.auth_failures),
            ("lienthong_auth_delayed_total", &self.auth_delayed),
        ];
        for (name, c) in counters {
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(
                out,
                "{name}{{organ=\"{organ}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE lienthong_refusals_total counter");
        let map = match self.refusals.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for (reason, n) in map.iter() {
            let _ = writeln!(
                out,
                "lienthong_refusals_total{{organ=\"{organ}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# TYPE lienthong_outbox_depth gauge");
        for (peer, lane, n) in depths {
            let _ = writeln!(
                out,
                "lienthong_outbox_depth{{organ=\"{organ}\",peer=\"{peer}\",lane=\"{lane}\"}} {n}"
            );
        }
        self.relay_latency
            .render("lienthong_relay_latency_seconds", &mut out);
        out
    }
}
