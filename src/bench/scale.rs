//! Scale: many documents through district → province at the maximum sustainable rate, with the
//! receiving system draining the inbox and retention sweeping what is finished, reported in
//! windows so that a trend (throughput falling, memory or disk growing) is visible.
//!
//! Unlike the end-to-end phases, nothing is held per document for the whole run: envelopes are
//! made as they are sent and each id is forgotten once acknowledged, so the load generator's own
//! memory stays flat and the RSS column is the gateways'. Retention runs with `keep_hours = 0`
//! and a short sweep interval, so a finished document (delivered with a verified receipt at the
//! district, acknowledged at the province) is removed within seconds: the store must level off
//! at the in-flight working set plus the dedup tombstones.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;
use super::e2e::{
    Gateway, Percentiles, TICKS_PER_SEC, ack_one, cpu_ticks, dir_size, poll_inbox, submit_one,
    thread_ticks, vm_rss_kb,
};
use crate::client::Client;
use crate::demo::DemoSetup;

/// Client threads submitting (as in the end-to-end phases).
const SUBMITTERS: usize = 6;
/// Threads acknowledging inbox documents.
const ACKERS: usize = 3;
/// Windows the run is reported in.
pub const WINDOWS: usize = 10;
/// Retention sweep interval during the run, seconds.
const SWEEP_SECS: u64 = 5;
/// How long an acknowledged id is remembered (longer than any long poll that could still list
/// it: `wait=2` plus the time to answer).
const FORGET_ACKED: Duration = Duration::from_secs(30);
/// First sequence number (apart from the end-to-end phases' documents).
const SEQ0: u64 = 10_000_000;

/// Steps of a load-generator thread between two reports of its CPU (a read of
/// `/proc/thread-self/stat` each).
const CPU_REPORT_EVERY: u32 = 64;

/// A load-generator thread's CPU, added to the shared total every [`CPU_REPORT_EVERY`] steps
/// and when the thread ends. Reported only at the end, every window but the last would count the
/// generator's CPU as the gateways', and the last would have the whole run's subtracted.
struct GeneratorCpu<'a> {
    total: &'a AtomicUsize,
    reported: f64,
    /// Steps until the next report.
    left: u32,
}

impl<'a> GeneratorCpu<'a> {
    fn new(total: &'a AtomicUsize) -> Self {
        Self {
            total,
            reported: thread_ticks(),
            left: CPU_REPORT_EVERY,
        }
    }

    fn step(&mut self) {
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            self.left = CPU_REPORT_EVERY;
            self.report();
        }
    }

    fn report(&mut self) {
        let now = thread_ticks();
        if now > self.reported {
            self.total
                .fetch_add((now - self.reported) as usize, Ordering::Relaxed);
            self.reported = now;
        }
    }
}

impl Drop for GeneratorCpu<'_> {
    fn drop(&mut self) {
        self.report();
    }
}

/// One window of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    /// Documents received in the inbox by the end of the window.
    pub delivered: usize,
    /// Seconds since the start at the end of the window.
    pub at_secs: f64,
    /// Documents per second within the window.
    pub docs_per_s: f64,
    /// Submit → inbox latency of the window's documents.
    pub latency_ms: Percentiles,
    /// Resident memory of the process at the end of the window, MB.
    pub rss_mb: f64,
    /// Both gateways' data directories at the end of the window (sled's files: they are
    /// reused after a purge rather than shrunk).
    pub disk: Disk,
    /// Messages held by both stores at the end of the window (what retention has not yet
    /// removed: in flight, awaiting an ack, or finished less than a sweep ago).
    pub stored_messages: u64,
    /// Gateway CPU per document within the window (load generator subtracted), ms.
    pub cpu_ms_per_doc: f64,
}

/// Both gateways' data directories, MB, by what fills them: the live store must level off,
/// the register and the audit log grow by what they keep per document.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Disk {
    /// The main sled databases (live messages and queues).
    pub store_mb: f64,
    /// The registers (tombstones, filing records, public index of purged messages).
    pub register_mb: f64,
    /// The audit logs.
    pub audit_mb: f64,
    /// Everything in the data directories.
    pub total_mb: f64,
}

impl Disk {
    fn of(gateways: &[Gateway]) -> Self {
        const MB: f64 = 1_048_576.0;
        let mut d = Disk::default();
        for g in gateways {
            let total = dir_size(&g.data_dir) as f64;
            let store = dir_size(&g.data_dir.join("store")) as f64;
            let register = dir_size(&g.data_dir.join("store").join("register")) as f64;
            let audit = dir_size(&g.data_dir.join("audit")) as f64;
            d.store_mb += (store - register) / MB;
            d.register_mb += register / MB;
            d.audit_mb += audit / MB;
            d.total_mb += total / MB;
        }
        d
    }
}

/// The scale run.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// Documents sent.
    pub documents: usize,
    /// Signed size of one document is about this plus the signature (unsigned envelope bytes).
    pub document_bytes: usize,
    /// The windows, in order.
    pub windows: Vec<Window>,
    /// Whole run, documents/s.
    pub docs_per_s: f64,
    /// Whole run, seconds.
    pub total_secs: f64,
    /// Data directories after the run and one more retention sweep.
    pub disk_after_sweep: Disk,
    /// Messages both stores still hold after that sweep.
    pub stored_after_sweep: u64,
    /// Retention used: (`keep_hours`, sweep interval s).
    pub retention: (u64, u64),
}

/// Runs `n` documents; `progress` gets a line per window.
pub fn measure(
    setup: &DemoSetup,
    n: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Scale, BenchError> {
    let rt = crate::app::runtime()
        .map_err(|e| BenchError::Setup(format!("cannot start the runtime: {e}")))?;
    let tweak = |c: &mut crate::config::Config| {
        c.retention.keep_hours = 0;
        c.retention.sweep_interval_secs = SWEEP_SECS;
    };
    let gateways = vec![
        super::e2e::start_with(&rt, setup, "province", tweak)?,
        super::e2e::start_with(&rt, setup, "district", tweak)?,
    ];
    let client = |role: &'static str, receive: bool| -> Result<Client, BenchError> {
        let gw = setup.gateway(role).ok_or(BenchError::Gateway {
            role,
            reason: "not in the demo".into(),
        })?;
        let token = if receive {
            &gw.tokens.receive
        } else {
            &gw.tokens.submit
        };
        Client::new(&setup.root_pem, &gw.api_url, Some(token)).map_err(|e| BenchError::Gateway {
            role,
            reason: e.to_string(),
        })
    };
    let submit = client("district", false)?;
    let receive = client("province", true)?;
    let result = run(&gateways, &submit, &receive, n.max(WINDOWS), progress);
    for g in gateways {
        rt.block_on(g.running.shutdown());
    }
    result
}

/// Ids between submit and inbox, from whichever side saw them first.
#[derive(Default)]
struct Pending {
    /// Accepted (202) but not yet seen in the inbox: when it was sent.
    sent: HashMap<String, Instant>,
    /// Seen in the inbox before its submitter recorded the 202: when it was seen.
    early: HashMap<String, Instant>,
}

/// What the threads of one scale run share.
struct Run<'a> {
    submit: &'a Client,
    receive: &'a Client,
    n: usize,
    t0: Instant,
    /// The next document index to submit.
    next: AtomicUsize,
    /// Documents seen in the inbox.
    seen: AtomicUsize,
    acked: AtomicUsize,
    done: AtomicBool,
    generator_ticks: AtomicUsize,
    pending: Mutex<Pending>,
    latencies: Mutex<Vec<f64>>,
    failure: Mutex<Option<BenchError>>,
}

impl Run<'_> {
    /// Ends the run with the first failure.
    fn fail(&self, e: BenchError) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(e);
        }
        self.done.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    fn latency(&self, from: Instant, to: Instant) {
        if let Ok(mut l) = self.latencies.lock() {
            l.push(to.saturating_duration_since(from).as_secs_f64() * 1e3);
        }
    }

    /// A submitter: takes the next index, keeps at most `MAX_IN_FLIGHT` documents between
    /// submission and inbox, and records when each was accepted.
    fn submitter(&self) {
        let mut cpu = GeneratorCpu::new(&self.generator_ticks);
        loop {
            cpu.step();
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n || self.stopped() {
                break;
            }
            while i >= self.seen.load(Ordering::Relaxed) + super::e2e::MAX_IN_FLIGHT
                && !self.stopped()
            {
                std::thread::sleep(Duration::from_micros(500));
            }
            let doc = match super::pipeline::envelope_to(
                SEQ0 + i as u64,
                super::pipeline::SMALL,
                PROVINCE,
            ) {
                Ok(d) => d,
                Err(e) => return self.fail(e),
            };
            let at = Instant::now();
            match submit_one(self.submit, i, &doc) {
                Ok(id) => {
                    let early = self.pending.lock().ok().and_then(|mut p| {
                        p.early.remove(&id).or_else(|| {
                            p.sent.insert(id, at);
                            None
                        })
                    });
                    if let Some(seen) = early {
                        self.latency(at, seen);
                    }
                }
                Err(e) => return self.fail(e),
            }
        }
    }

    /// The receiving system: long-polls the inbox and hands each new id to `ACKERS` ackers.
    fn receiver(&self) {
        let mut cpu = GeneratorCpu::new(&self.generator_ticks);
        // Ids handed to the ackers: `None` while the ack is pending, then when it succeeded.
        // An acked id is kept for a while because a long poll that began before the ack
        // returned may still list it; acking it again would be refused (404).
        let handed: Mutex<HashMap<String, Option<Instant>>> = Mutex::new(HashMap::new());
        let (tx, rx) = mpsc::channel::<String>();
        let rx = Mutex::new(rx);
        std::thread::scope(|acks| {
            for _ in 0..ACKERS {
                acks.spawn(|| self.acker(&rx, &handed));
            }
            let mut last_progress = Instant::now();
            while !self.stopped() && self.seen.load(Ordering::Relaxed) < self.n {
                cpu.step();
                let got = match poll_inbox(self.receive) {
                    Ok(ids) => ids,
                    Err(e) => return self.fail(e),
                };
                let fresh = self.arrived(got, &handed, &tx);
                if let Ok(mut h) = handed.lock() {
                    h.retain(|_, acked| acked.is_none_or(|t| t.elapsed() < FORGET_ACKED));
                }
                if fresh == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                } else {
                    last_progress = Instant::now();
                }
                if last_progress.elapsed() > Duration::from_secs(600) {
                    // A stalled run must end, not hang: nothing new for ten minutes.
                    return self.fail(BenchError::Undelivered {
                        missing: self.n.saturating_sub(self.seen.load(Ordering::Relaxed)),
                        total: self.n,
                        secs: self.t0.elapsed().as_secs(),
                    });
                }
            }
            drop(tx);
        });
        drop(cpu);
        self.done.store(true, Ordering::Relaxed);
    }

    /// Notes the ids of one listing not seen before (their latency, when their submitter has
    /// recorded the 202) and hands them to the ackers; returns how many were new.
    fn arrived(
        &self,
        got: Vec<String>,
        handed: &Mutex<HashMap<String, Option<Instant>>>,
        tx: &mpsc::Sender<String>,
    ) -> usize {
        let now = Instant::now();
        let mut fresh = 0usize;
        for id in got {
            let new = handed.lock().is_ok_and(|mut h| {
                if h.contains_key(&id) {
                    return false;
                }
                h.insert(id.clone(), None);
                true
            });
            if !new {
                continue;
            }
            fresh += 1;
            let sent = self.pending.lock().ok().and_then(|mut p| {
                p.sent.remove(&id).or_else(|| {
                    p.early.insert(id.clone(), now);
                    None
                })
            });
            if let Some(at) = sent {
                self.latency(at, now);
            }
            self.seen.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(id);
        }
        fresh
    }

    /// One acker: acknowledges the ids it is handed.
    fn acker(
        &self,
        rx: &Mutex<mpsc::Receiver<String>>,
        handed: &Mutex<HashMap<String, Option<Instant>>>,
    ) {
        let mut cpu = GeneratorCpu::new(&self.generator_ticks);
        while let Ok(Ok(id)) = rx.lock().map(|r| r.recv()) {
            cpu.step();
            if let Err(e) = ack_one(self.receive, &id) {
                return self.fail(e);
            }
            if let Ok(mut h) = handed.lock() {
                h.insert(id, Some(Instant::now()));
            }
            self.acked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The window recorder: one [`Window`] each time another tenth of the documents arrived.
    fn windows(&self, gateways: &[Gateway], progress: &mut dyn FnMut(&str)) -> Vec<Window> {
        let mut windows = Vec::with_capacity(WINDOWS);
        let mut start = (
            self.t0,
            0usize,
            cpu_ticks(Path::new("/proc/self/stat")),
            0usize,
        );
        for w in 1..=WINDOWS {
            let boundary = self.n * w / WINDOWS;
            while self.seen.load(Ordering::Relaxed) < boundary && !self.stopped() {
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.seen.load(Ordering::Relaxed) < boundary {
                break;
            }
            let now = Instant::now();
            let cpu = cpu_ticks(Path::new("/proc/self/stat"));
            let gen_ticks = self.generator_ticks.load(Ordering::Relaxed);
            let docs = boundary.saturating_sub(start.1).max(1) as f64;
            let secs = now.duration_since(start.0).as_secs_f64().max(1e-9);
            // Generator threads report their CPU as they go (`GeneratorCpu`): each window
            // subtracts the generator's share of that window, to within its last few steps.
            let gateway_ticks = (cpu - start.2) - gen_ticks.saturating_sub(start.3) as f64;
            let window = Window {
                delivered: boundary,
                at_secs: now.duration_since(self.t0).as_secs_f64(),
                docs_per_s: docs / secs,
                latency_ms: Percentiles::of(
                    self.latencies
                        .lock()
                        .map(|mut l| std::mem::take(&mut *l))
                        .unwrap_or_default(),
                ),
                rss_mb: vm_rss_kb().unwrap_or_default() as f64 / 1024.0,
                disk: Disk::of(gateways),
                stored_messages: stored(gateways),
                cpu_ms_per_doc: gateway_ticks.max(0.0) / TICKS_PER_SEC * 1e3 / docs,
            };
            progress(&window.line());
            windows.push(window);
            start = (now, boundary, cpu, gen_ticks);
        }
        windows
    }
}

/// Documents stored on all the gateways.
fn stored(gateways: &[Gateway]) -> u64 {
    gateways
        .iter()
        .filter_map(|g| super::e2e::store_stats(g).ok())
        .map(|st| st.messages)
        .sum()
}

impl Window {
    /// The progress line of a window.
    fn line(&self) -> String {
        format!(
            "scale: {:>9} documents, {:7.1} s: {:6.1} docs/s, p50 {:6.1} ms, p99 {:6.1} ms, RSS {:6.1} MB, store {:7.1} MB, register {:6.1} MB, audit {:6.1} MB, {} stored",
            self.delivered,
            self.at_secs,
            self.docs_per_s,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.rss_mb,
            self.disk.store_mb,
            self.disk.register_mb,
            self.disk.audit_mb,
            self.stored_messages
        )
    }
}

/// `n` documents through the gateways: submitters, a receiving system with its ackers, and
/// the window recorder on this thread.
fn run(
    gateways: &[Gateway],
    submit: &Client,
    receive: &Client,
    n: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Scale, BenchError> {
    let document_bytes =
        super::pipeline::envelope_to(SEQ0, super::pipeline::SMALL, PROVINCE).map(|d| d.len())?;
    let run = Run {
        submit,
        receive,
        n,
        t0: Instant::now(),
        next: AtomicUsize::new(0),
        seen: AtomicUsize::new(0),
        acked: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        generator_ticks: AtomicUsize::new(0),
        pending: Mutex::new(Pending::default()),
        latencies: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
    };
    let windows = std::thread::scope(|s| {
        for _ in 0..SUBMITTERS {
            s.spawn(|| run.submitter());
        }
        s.spawn(|| run.receiver());
        run.windows(gateways, progress)
    });
    let total_secs = run.t0.elapsed().as_secs_f64();
    if let Some(e) = run.failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let acked = run.acked.into_inner();
    if acked < n {
        return Err(BenchError::Operation {
            what: "scale run",
            reason: format!("only {acked} of {n} documents were acknowledged"),
        });
    }
    // One more sweep after the last acknowledgement, so the figure shows what retention leaves.
    std::thread::sleep(Duration::from_secs(SWEEP_SECS + 1));
    Ok(Scale {
        documents: n,
        document_bytes,
        windows,
        docs_per_s: n as f64 / total_secs.max(1e-9),
        total_secs,
        disk_after_sweep: Disk::of(gateways),
        stored_after_sweep: stored(gateways),
        retention: (0, SWEEP_SECS),
    })
}

const PROVINCE: (&str, &str) = super::pipeline::PROVINCE;

impl Scale {
    /// The human table.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Scale: {} documents of 8 KB, district → province, inbox drained (long-poll + ack), retention keep {} h / sweep {} s",
            self.documents, self.retention.0, self.retention.1
        );
        let _ = writeln!(
            s,
            "   {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>10}",
            "delivered",
            "at s",
            "docs/s",
            "p50 ms",
            "p99 ms",
            "RSS MB",
            "store MB",
            "reg. MB",
            "audit MB",
            "stored",
            "CPU ms/doc"
        );
        for w in &self.windows {
            let _ = writeln!(
                s,
                "   {:>9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1} {:>8.1} {:>7} {:>10.2}",
                w.delivered,
                w.at_secs,
                w.docs_per_s,
                w.latency_ms.p50,
                w.latency_ms.p99,
                w.rss_mb,
                w.disk.store_mb,
                w.disk.register_mb,
                w.disk.audit_mb,
                w.stored_messages,
                w.cpu_ms_per_doc
            );
        }
        let _ = writeln!(
            s,
            "   whole run: {:.1} docs/s over {:.0} s; after a final sweep: {} messages stored, store {:.1} MB, register {:.1} MB, audit {:.1} MB (data directories {:.1} MB)",
            self.docs_per_s,
            self.total_secs,
            self.stored_after_sweep,
            self.disk_after_sweep.store_mb,
            self.disk_after_sweep.register_mb,
            self.disk_after_sweep.audit_mb,
            self.disk_after_sweep.total_mb
        );
        s
    }
}
