//! End to end: the district and province gateways of the demo, started in this process, with
//! documents submitted through the district's HTTPS API (kept-alive connections, several
//! client threads) and collected by the province's receiving system (long-poll, ack).
//!
//! Two phases: `max` (closed loop, as fast as the chain delivers, at most [`MAX_IN_FLIGHT`]
//! documents between submit and inbox) and `paced` (open loop at
//! half the rate `max` delivered; latency counted from each document's scheduled send time, so
//! a stalled client does not hide queueing), then `2 hops` (district → province → central, max
//! rate) and the overload row (`overload`: twice the district's probed accept rate, open loop).
//!
//! CPU is read from `/proc/self/stat` over the phase, minus what the load generator's own
//! threads used (`/proc/thread-self/stat`), so it is the two gateways' cost.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{BenchError, BenchOptions};
use crate::app::Running;
use crate::client::Client;
use crate::config::Config;
use crate::demo::{DemoGateway, DemoSetup};
use crate::policy::Catalog;
use crate::store::StoreStats;

use super::overload::Overload;

/// Client threads submitting: enough to keep both cores busy while others wait on I/O.
const SUBMITTERS: usize = 6;
/// Closed loop: most documents submitted but not yet seen in the inbox. Without a bound the
/// district accepts faster than one relay link delivers, the outbox grows for the whole phase
/// and "latency" becomes the age of a backlog; with it, `max` is the rate the chain sustains.
pub const MAX_IN_FLIGHT: usize = 32;
/// Threads acknowledging inbox documents.
const ACKERS: usize = 3;
/// Linux reports process CPU in clock ticks of 1/100 s (`USER_HZ`, fixed at 100 on every
/// architecture the kernel exposes to user space via /proc).
pub(crate) const TICKS_PER_SEC: f64 = 100.0;

/// Percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    pub(crate) fn of(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| -> f64 {
            let idx = ((v.len() as f64 * q).ceil() as usize).saturating_sub(1);
            v.get(idx.min(v.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// Resident memory of the process (both gateways and the load generator) during a phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rss {
    /// At the start of the phase, MB.
    pub start: f64,
    /// Largest sample, MB.
    pub max: f64,
    /// At the end of the phase, MB.
    pub end: f64,
    /// `(seconds since the phase started, MB)` every sample.
    pub samples: Vec<(f64, f64)>,
}

/// One store's counters over a phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StoreDelta {
    /// `district` or `province`.
    pub gateway: String,
    /// Real sled flushes.
    pub flushes: u64,
    /// Durable writes acknowledged (each waited for a flush covering it).
    pub durable_writes: u64,
    /// Growth of the data directory (files' lengths), bytes.
    pub disk_bytes: i64,
}

/// One phase.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    /// `max` or `paced`.
    pub name: String,
    /// Documents submitted (and all delivered).
    pub documents: usize,
    /// Submitted document size, bytes (unsigned).
    pub document_bytes: usize,
    /// Most documents in flight (submitted, not yet in the inbox) for `max`; `None` for paced.
    pub max_in_flight: Option<usize>,
    /// Target rate of the paced phase, documents/s (`None` for `max`).
    pub target_per_s: Option<f64>,
    /// Submissions accepted per second (first send → last 202).
    pub accepted_per_s: f64,
    /// Deliveries per second (first send → last seen in the province inbox).
    pub delivered_per_s: f64,
    /// Submit → first seen in the province inbox.
    pub latency_ms: Percentiles,
    /// Submit → 202 from the district.
    pub submit_ms: Percentiles,
    /// CPU of the two gateways per document, ms (process CPU minus load generator threads).
    pub gateway_cpu_ms_per_doc: f64,
    /// CPU of the load generator (TLS client, polling, acks) per document, ms.
    pub generator_cpu_ms_per_doc: f64,
    /// Gateway CPU ÷ (wall time × cores): how busy the machine was with the gateways.
    pub gateway_cpu_utilisation: f64,
    /// Resident memory of the process.
    pub rss_mb: Rss,
    /// Data directory growth of both gateways per document, bytes.
    pub disk_bytes_per_doc: f64,
    /// sled flushes of both stores per 1,000 documents.
    pub flushes_per_1000_docs: f64,
    /// Per store.
    pub stores: Vec<StoreDelta>,
    /// `delivered_per_s` ÷ single-core RSA-2048 sign/s, filled in by the caller.
    pub delivered_vs_rsa_sign: f64,
    /// `delivered_per_s` ÷ the ceiling of the same cores doing one RSA-2048 sign and one verify
    /// per document (cores ÷ (1/sign + 1/verify)), filled in by the caller. Issue #10 aims ≥ 0.5.
    pub delivered_vs_ceiling: f64,
    /// Wall time of the phase, s.
    pub wall_secs: f64,
}

pub(crate) struct Gateway {
    pub(crate) role: &'static str,
    pub(crate) running: Running,
    pub(crate) data_dir: std::path::PathBuf,
}

fn start(
    rt: &tokio::runtime::Runtime,
    setup: &DemoSetup,
    role: &'static str,
) -> Result<Gateway, BenchError> {
    start_with(rt, setup, role, |_| {})
}

/// Starts the demo gateway `role` in `rt`, with `tweak` applied to its loaded configuration.
pub(crate) fn start_with(
    rt: &tokio::runtime::Runtime,
    setup: &DemoSetup,
    role: &'static str,
    tweak: impl FnOnce(&mut Config),
) -> Result<Gateway, BenchError> {
    let fail = |reason: String| BenchError::Gateway { role, reason };
    let gw = setup
        .gateway(role)
        .ok_or_else(|| fail("not in the demo".into()))?;
    let mut config = Config::load(&gw.config).map_err(|e| fail(e.to_string()))?;
    tweak(&mut config);
    let catalog = Catalog::load(&config.catalog).map_err(|e| fail(e.to_string()))?;
    let keys = crate::gateway::keys::load(&config).map_err(|e| fail(e.to_string()))?;
    let data_dir = config.data_dir.clone();
    let running = rt
        .block_on(crate::app::start(config, keys, catalog))
        .map_err(|e| fail(e.to_string()))?;
    Ok(Gateway {
        role,
        running,
        data_dir,
    })
}

/// Runs both phases; `setup` is a fresh demo.
pub fn measure(
    setup: &DemoSetup,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Phase>, Overload), BenchError> {
    let rt = crate::app::runtime()
        .map_err(|e| BenchError::Setup(format!("cannot start the runtime: {e}")))?;
    let gateways = vec![
        start(&rt, setup, "central")?,
        start_with(&rt, setup, "province", |c| {
            if let Some(url) = &options.province_postgres {
                c.store.engine = crate::config::StoreEngine::Postgres;
                c.store.url = Some(url.clone());
            }
        })?,
        start(&rt, setup, "district")?,
    ];
    let clients = Clients::new(setup)?;
    let result = run_phases(&gateways, &clients, options, progress);
    for g in gateways {
        rt.block_on(g.running.shutdown());
    }
    result
}

/// The load generator's API clients: submitting at the district, receiving at the province
/// (one hop) and at central (two hops).
struct Clients {
    submit: Client,
    receive: Client,
    receive_central: Client,
}

impl Clients {
    /// All three, each with its role's token; every gateway is looked up before any client is
    /// made.
    fn new(setup: &DemoSetup) -> Result<Self, BenchError> {
        let district = demo_gateway(setup, "district")?;
        let province = demo_gateway(setup, "province")?;
        let central = demo_gateway(setup, "central")?;
        Ok(Self {
            submit: api_client(setup, "district", &district.tokens.submit)?,
            receive: api_client(setup, "province", &province.tokens.receive)?,
            receive_central: api_client(setup, "central", &central.tokens.receive)?,
        })
    }
}

/// The demo's gateway `role`, or the error naming it.
fn demo_gateway<'a>(
    setup: &'a DemoSetup,
    role: &'static str,
) -> Result<&'a DemoGateway, BenchError> {
    setup.gateway(role).ok_or(BenchError::Gateway {
        role,
        reason: "not in the demo".into(),
    })
}

/// A client of `role`'s API that trusts the demo root and sends `token`.
fn api_client(setup: &DemoSetup, role: &'static str, token: &str) -> Result<Client, BenchError> {
    let gw = demo_gateway(setup, role)?;
    Client::new(&setup.root_pem, &gw.api_url, Some(token)).map_err(|e| BenchError::Gateway {
        role,
        reason: e.to_string(),
    })
}

/// Every phase in order on the started gateways: two warm-ups (one hop, two hops), then max,
/// paced at half what max delivered, 2 hops, max mat and the overload row.
fn run_phases(
    gateways: &[Gateway],
    clients: &Clients,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Phase>, Overload), BenchError> {
    let submit = &clients.submit;
    let one_hop = Route {
        to: super::pipeline::PROVINCE,
        receive: &clients.receive,
        level: crate::doc::label::Level::Thuong,
    };
    let one_hop_mat = Route {
        level: crate::doc::label::Level::Mat,
        ..one_hop
    };
    let two_hops = Route {
        to: super::pipeline::CENTRAL,
        receive: &clients.receive_central,
        level: crate::doc::label::Level::Thuong,
    };

    let n = options.docs_per_phase();
    // Warm up: TLS session caches, relay connection, sled segments, allocator.
    let warm = n.clamp(4, 20);
    let _ = run_phase(gateways, submit, &one_hop, "warm-up", warm, None, 1_000_000)?;
    let _ = run_phase(
        gateways, submit, &two_hops, "warm-up", warm, None, 1_500_000,
    )?;
    progress(&format!("end to end: max rate, {n} documents"));
    let max = run_phase(gateways, submit, &one_hop, "max", n, None, 2_000_000)?;
    let target = (max.delivered_per_s / 2.0).max(1.0);
    progress(&format!(
        "end to end: paced at {target:.0} documents/s, {n} documents"
    ));
    let paced = run_phase(
        gateways,
        submit,
        &one_hop,
        "paced",
        n,
        Some(target),
        3_000_000,
    )?;
    progress(&format!(
        "end to end: two hops (district → province → central), max rate, {n} documents"
    ));
    let chain = run_phase(gateways, submit, &two_hops, "2 hops", n, None, 4_000_000)?;
    progress(&format!(
        "end to end: mat, sealed end to end and opened by the receiving system, max rate, {n} documents"
    ));
    let mat = run_phase(
        gateways,
        submit,
        &one_hop_mat,
        "max mat",
        n,
        None,
        5_000_000,
    )?;
    let durations = options.overload_durations();
    progress(&format!(
        "end to end: overload, the district's accept rate probed for {:.1} s, then twice it offered for {:.0} s",
        durations.probe.as_secs_f64(),
        durations.offer.as_secs_f64()
    ));
    let overload = super::overload::run(submit, &one_hop, durations, paced.submit_ms.p99)?;
    Ok((vec![max, paced, chain, mat], overload))
}

pub(crate) fn store_stats(g: &Gateway) -> Result<StoreStats, BenchError> {
    g.running
        .shared()
        .store
        .stats()
        .map_err(|e| BenchError::Gateway {
            role: g.role,
            reason: e.to_string(),
        })
}

/// Where a phase's documents go and who receives them there.
pub(super) struct Route<'a> {
    /// Recipient organ (id, name).
    pub(super) to: (&'static str, &'static str),
    /// The receiving system's client at the recipient's gateway.
    pub(super) receive: &'a Client,
    /// The documents' level: `mat` ones are sealed end to end.
    pub(super) level: crate::doc::label::Level,
}

/// One phase: `n` documents numbered from `seq0`, closed loop (`rate` None) or paced.
fn run_phase(
    gateways: &[Gateway],
    submit: &Client,
    route: &Route<'_>,
    name: &str,
    n: usize,
    rate: Option<f64>,
    seq0: u64,
) -> Result<Phase, BenchError> {
    let docs = documents(n, seq0, route)?;
    let document_bytes = docs.first().map_or(0, Vec::len);
    // The previous phase's tail (statuses relayed back after the last ack) is not this one's.
    settle(gateways)?;
    let before = Before::read(gateways)?;

    let load = Load::new(&docs, n, rate);
    load.drive(submit, route);
    let t0 = load.t0;
    let wall = t0.elapsed();
    let record = load.finish()?;

    let cpu_after = cpu_ticks(Path::new("/proc/self/stat"));
    let timings = Timings::of(&record.sent, &record.seen, t0, n);
    if timings.missing > 0 {
        return Err(BenchError::Undelivered {
            missing: timings.missing,
            total: n,
            secs: deadline_secs(n, rate),
        });
    }
    let stores = store_deltas(gateways, &before)?;
    let nf = n as f64;
    let generator_secs = record.generator_ticks as f64 / TICKS_PER_SEC;
    let process_secs = (cpu_after - before.cpu) / TICKS_PER_SEC;
    let gateway_secs = (process_secs - generator_secs).max(0.0);
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    Ok(Phase {
        name: name.to_owned(),
        documents: n,
        document_bytes,
        max_in_flight: rate.is_none().then_some(MAX_IN_FLIGHT),
        target_per_s: rate,
        accepted_per_s: nf
            / timings
                .last_accept
                .duration_since(t0)
                .as_secs_f64()
                .max(1e-9),
        delivered_per_s: nf / timings.last_seen.duration_since(t0).as_secs_f64().max(1e-9),
        latency_ms: Percentiles::of(timings.latency),
        submit_ms: Percentiles::of(timings.submit_ms),
        gateway_cpu_ms_per_doc: gateway_secs * 1e3 / nf,
        generator_cpu_ms_per_doc: generator_secs * 1e3 / nf,
        gateway_cpu_utilisation: gateway_secs / (wall.as_secs_f64() * cores),
        rss_mb: Rss::of(record.rss),
        disk_bytes_per_doc: stores.iter().map(|s| s.disk_bytes).sum::<i64>() as f64 / nf,
        flushes_per_1000_docs: stores.iter().map(|s| s.flushes).sum::<u64>() as f64 * 1000.0 / nf,
        stores,
        delivered_vs_rsa_sign: 0.0,
        delivered_vs_ceiling: 0.0,
        wall_secs: wall.as_secs_f64(),
    })
}

/// Waits until no store writes any more (the same durable-write counts 250 ms apart), at
/// most 10 s: what a phase measures starts from quiet stores.
fn settle(gateways: &[Gateway]) -> Result<(), BenchError> {
    let writes = || -> Result<Vec<u64>, BenchError> {
        gateways
            .iter()
            .map(|g| store_stats(g).map(|s| s.durable_writes))
            .collect()
    };
    let mut last = writes()?;
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let now = writes()?;
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

/// What a phase's deltas are taken from, read before its first document.
struct Before {
    /// Each store's counters.
    stats: Vec<StoreStats>,
    /// Each gateway's data directory size, bytes.
    disk: Vec<u64>,
    /// The process's CPU ticks.
    cpu: f64,
}

impl Before {
    /// Stores, then directories, then CPU last, so the reading itself stays out of the phase.
    fn read(gateways: &[Gateway]) -> Result<Self, BenchError> {
        let stats = gateways
            .iter()
            .map(store_stats)
            .collect::<Result<Vec<_>, _>>()?;
        let disk = gateways.iter().map(|g| dir_size(&g.data_dir)).collect();
        let cpu = cpu_ticks(Path::new("/proc/self/stat"));
        Ok(Self { stats, disk, cpu })
    }
}

/// Each store's flushes, durable writes and data directory growth since `before`.
fn store_deltas(gateways: &[Gateway], before: &Before) -> Result<Vec<StoreDelta>, BenchError> {
    let stats_after = gateways
        .iter()
        .map(store_stats)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(gateways
        .iter()
        .zip(before.stats.iter().zip(&stats_after))
        .zip(before.disk.iter())
        .map(|((g, (b, a)), d)| StoreDelta {
            gateway: g.role.to_owned(),
            flushes: a.flushes.saturating_sub(b.flushes),
            durable_writes: a.durable_writes.saturating_sub(b.durable_writes),
            disk_bytes: dir_size(&g.data_dir) as i64 - *d as i64,
        })
        .collect())
}

impl Rss {
    /// Start, largest and end of `samples` (0 where there are none), keeping the samples.
    fn of(samples: Vec<(f64, f64)>) -> Self {
        Self {
            start: samples.first().map_or(0.0, |s| s.1),
            max: samples.iter().map(|s| s.1).fold(0.0, f64::max),
            end: samples.last().map_or(0.0, |s| s.1),
            samples,
        }
    }
}

/// One accepted document: (scheduled or send instant, message id, 202 instant).
type Sent = (Instant, String, Instant);

/// What a phase's threads share: the documents and the next one to send, what each thread
/// recorded, and the first failure, which stops them all.
struct Load<'d> {
    docs: &'d [Vec<u8>],
    n: usize,
    /// Paced rate, documents/s; `None` for closed loop.
    rate: Option<f64>,
    /// The phase's start, which paced send times and the rates count from.
    t0: Instant,
    deadline: Instant,
    next: AtomicUsize,
    done: AtomicBool,
    generator_ticks: AtomicUsize,
    seen_count: AtomicUsize,
    /// By sequence number; `None` until accepted.
    sent: Mutex<Vec<Option<Sent>>>,
    /// Message id → first seen in the inbox.
    seen: Mutex<HashMap<String, Instant>>,
    failure: Mutex<Option<BenchError>>,
    /// `(seconds since t0, MB)`.
    rss: Mutex<Vec<(f64, f64)>>,
}

/// What a phase's threads recorded, once they have all stopped without a failure.
struct Record {
    sent: Vec<Option<Sent>>,
    seen: HashMap<String, Instant>,
    generator_ticks: usize,
    rss: Vec<(f64, f64)>,
}

impl<'d> Load<'d> {
    /// The shared state of a phase over `docs` (`n` of them), its clock started now.
    fn new(docs: &'d [Vec<u8>], n: usize, rate: Option<f64>) -> Self {
        let t0 = Instant::now();
        Self {
            docs,
            n,
            rate,
            t0,
            deadline: t0 + Duration::from_secs(deadline_secs(n, rate)),
            next: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            generator_ticks: AtomicUsize::new(0),
            seen_count: AtomicUsize::new(0),
            sent: Mutex::new(vec![None; n]),
            seen: Mutex::new(HashMap::with_capacity(n)),
            failure: Mutex::new(None),
            rss: Mutex::new(Vec::new()),
        }
    }

    /// Runs the phase's threads (an RSS sampler, the submitters, the receiving system) until
    /// every document is seen in the inbox, one of them fails or the deadline passes.
    fn drive(&self, submit: &Client, route: &Route<'_>) {
        let receive = route.receive;
        let sealed = route.level == crate::doc::label::Level::Mat;
        std::thread::scope(|s| {
            s.spawn(|| self.sample_rss());
            for _ in 0..SUBMITTERS {
                s.spawn(|| self.submit_all(submit));
            }
            s.spawn(|| self.receive_all(receive, sealed));
        });
    }

    /// The first failure, or everything the threads recorded.
    fn finish(self) -> Result<Record, BenchError> {
        if let Some(e) = self.failure.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(Record {
            sent: self.sent.into_inner().unwrap_or_default(),
            seen: self.seen.into_inner().unwrap_or_default(),
            generator_ticks: self.generator_ticks.into_inner(),
            rss: self.rss.into_inner().unwrap_or_default(),
        })
    }

    /// The RSS sampler: resident memory every 100 ms until the phase is done.
    fn sample_rss(&self) {
        while !self.done.load(Ordering::Relaxed) {
            if let Some(kb) = vm_rss_kb() {
                if let Ok(mut r) = self.rss.lock() {
                    r.push((self.t0.elapsed().as_secs_f64(), kb as f64 / 1024.0));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One submitter: takes the next document until none is left or the phase is done, and
    /// records each accepted one.
    fn submit_all(&self, submit: &Client) {
        let start_ticks = thread_ticks();
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(doc) = self.docs.get(i) else { break };
            if self.done.load(Ordering::Relaxed) {
                break;
            }
            self.wait_for_room(i);
            let at = self.due(i);
            match submit_one(submit, i, doc) {
                Ok(id) => self.record_sent(i, at, id),
                Err(e) => {
                    self.fail(e);
                    break;
                }
            }
        }
        self.generator_ticks
            .fetch_add(ticks_since(start_ticks), Ordering::Relaxed);
    }

    /// Closed loop: waits while document `i` would put more than [`MAX_IN_FLIGHT`] between
    /// submit and inbox.
    fn wait_for_room(&self, i: usize) {
        while self.rate.is_none()
            && i >= self.seen_count.load(Ordering::Relaxed) + MAX_IN_FLIGHT
            && !self.done.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// When document `i` counts as sent: paced, its scheduled instant (slept until, so a
    /// stalled client does not hide queueing); closed loop, now.
    fn due(&self, i: usize) -> Instant {
        match self.rate {
            Some(r) => {
                let at = self.t0 + Duration::from_secs_f64(i as f64 / r);
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                at
            }
            None => Instant::now(),
        }
    }

    /// Document `i` accepted as `id`: its due instant, id and the 202 instant (now).
    fn record_sent(&self, i: usize, at: Instant, id: String) {
        if let Ok(mut v) = self.sent.lock() {
            if let Some(slot) = v.get_mut(i) {
                *slot = Some((at, id, Instant::now()));
            }
        }
    }

    /// The receiving system: long-poll, record first sight, hand ids to [`ACKERS`] ackers;
    /// the phase is done when polling stops.
    fn receive_all(&self, receive: &Client, sealed: bool) {
        let start_ticks = thread_ticks();
        let (tx, rx) = mpsc::channel::<String>();
        let rx = Mutex::new(rx);
        std::thread::scope(|acks| {
            for _ in 0..ACKERS {
                acks.spawn(|| self.ack_all(&rx, receive, sealed));
            }
            self.poll_until_seen(receive, &tx);
            drop(tx);
        });
        self.done.store(true, Ordering::Relaxed);
        self.generator_ticks
            .fetch_add(ticks_since(start_ticks), Ordering::Relaxed);
    }

    /// One acker: acknowledges each id handed over until the channel closes or one fails.
    fn ack_all(&self, rx: &Mutex<mpsc::Receiver<String>>, receive: &Client, sealed: bool) {
        let start_ticks = thread_ticks();
        loop {
            let id = match rx.lock().map(|r| r.recv()) {
                Ok(Ok(id)) => id,
                _ => break,
            };
            // A sealed document is fetched (opened by the gateway) as its
            // receiving system would, before the ack.
            let fetched = if sealed {
                fetch_one(receive, &id)
            } else {
                Ok(())
            };
            if let Err(e) = fetched.and_then(|()| ack_one(receive, &id)) {
                self.fail(e);
                break;
            }
        }
        self.generator_ticks
            .fetch_add(ticks_since(start_ticks), Ordering::Relaxed);
    }

    /// Long-polls the inbox until all `n` documents are seen, the phase is done or the
    /// deadline passes.
    fn poll_until_seen(&self, receive: &Client, tx: &mpsc::Sender<String>) {
        loop {
            if self.done.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
                break;
            }
            let got = match poll_inbox(receive) {
                Ok(ids) => ids,
                Err(e) => {
                    self.fail(e);
                    break;
                }
            };
            let (fresh, total) = self.record_seen(&got, tx);
            self.seen_count.store(total, Ordering::Relaxed);
            if total >= self.n {
                break;
            }
            if fresh == 0 {
                // Everything listed is already seen and waiting for its ack: do not
                // spin on the API while the ackers catch up.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// Records the first sight (now) of each id in `got` not seen before and hands it to the
    /// ackers: (how many were new, how many are seen in all).
    fn record_seen(&self, got: &[String], tx: &mpsc::Sender<String>) -> (usize, usize) {
        let now = Instant::now();
        let mut fresh = 0usize;
        let total = if let Ok(mut seen) = self.seen.lock() {
            for id in got {
                if !seen.contains_key(id) {
                    seen.insert(id.to_owned(), now);
                    let _ = tx.send(id.to_owned());
                    fresh += 1;
                }
            }
            seen.len()
        } else {
            0
        };
        (fresh, total)
    }

    /// Keeps the first failure and stops every thread of the phase.
    fn fail(&self, e: BenchError) {
        if let Ok(mut s) = self.failure.lock() {
            if s.is_none() {
                *s = Some(e);
            }
        }
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Per-document timings of a phase, from the submitters' and the receiving system's records.
struct Timings {
    /// Due instant → first seen in the inbox, ms.
    latency: Vec<f64>,
    /// Due instant → 202, ms.
    submit_ms: Vec<f64>,
    /// The last 202 (the phase start if none).
    last_accept: Instant,
    /// The last first sight in the inbox (the phase start if none).
    last_seen: Instant,
    /// Documents not accepted or not seen.
    missing: usize,
}

impl Timings {
    /// Matches each sent document to its first sight by message id.
    fn of(sent: &[Option<Sent>], seen: &HashMap<String, Instant>, t0: Instant, n: usize) -> Self {
        let mut t = Self {
            latency: Vec::with_capacity(n),
            submit_ms: Vec::with_capacity(n),
            last_accept: t0,
            last_seen: t0,
            missing: 0,
        };
        for slot in sent {
            match slot
                .as_ref()
                .and_then(|(at, id, ok)| seen.get(id).map(|s| (at, s, ok)))
            {
                Some((at, s, ok)) => {
                    t.latency
                        .push(s.saturating_duration_since(*at).as_secs_f64() * 1e3);
                    t.submit_ms
                        .push(ok.saturating_duration_since(*at).as_secs_f64() * 1e3);
                    t.last_accept = t.last_accept.max(*ok);
                    t.last_seen = t.last_seen.max(*s);
                }
                None => t.missing += 1,
            }
        }
        t
    }
}

/// `n` signed-ready 8 KB envelopes for `route` (recipient and level), numbered from `seq0`.
fn documents(n: usize, seq0: u64, route: &Route<'_>) -> Result<Vec<Vec<u8>>, BenchError> {
    (0..n)
        .map(|i| {
            super::pipeline::envelope_at(
                seq0 + i as u64,
                super::pipeline::SMALL,
                route.to,
                route.level,
            )
        })
        .collect()
}

/// Generous: a debug build on a busy machine, or a paced run, must still finish.
fn deadline_secs(n: usize, rate: Option<f64>) -> u64 {
    let paced = rate.map_or(0.0, |r| n as f64 / r);
    60 + paced as u64 + (n as u64) / 10
}

/// The load generator's requests, shared by the end-to-end phases and the scale run.
/// Submits one document (`seq` names it in a refusal); its message id on 202.
pub(crate) fn submit_one(submit: &Client, seq: usize, doc: &[u8]) -> Result<String, BenchError> {
    match submit.post("/api/v1/documents", "application/xml", doc) {
        Ok(r) if r.status == 202 => Ok(r
            .json()
            .get("message_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_default()),
        Ok(r) => Err(BenchError::Refused {
            seq,
            status: r.status,
            detail: r.text(),
        }),
        Err(e) => Err(BenchError::Refused {
            seq,
            status: 0,
            detail: e.to_string(),
        }),
    }
}

/// Fetches one inbox document (a sealed one is opened by the gateway).
pub(crate) fn fetch_one(receive: &Client, id: &str) -> Result<(), BenchError> {
    let reason = match receive.get(&format!("/api/v1/inbox/{id}")) {
        Ok(r) if r.status == 200 && !r.body.is_empty() => return Ok(()),
        Ok(r) => format!("fetch HTTP {}: {}", r.status, r.text()),
        Err(e) => format!("fetch: {e}"),
    };
    Err(BenchError::Operation {
        what: "inbox fetch",
        reason,
    })
}

/// Acknowledges one inbox document.
pub(crate) fn ack_one(receive: &Client, id: &str) -> Result<(), BenchError> {
    let reason = match receive.post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"") {
        Ok(r) if r.status == 200 => return Ok(()),
        Ok(r) => format!("ack HTTP {}: {}", r.status, r.text()),
        Err(e) => format!("ack: {e}"),
    };
    Err(BenchError::Operation {
        what: "inbox ack",
        reason,
    })
}

/// One long poll of the inbox (up to 500 documents, waiting up to 2 s): the listed ids.
pub(crate) fn poll_inbox(receive: &Client) -> Result<Vec<String>, BenchError> {
    let reason = match receive.get("/api/v1/inbox?limit=500&wait=2") {
        Ok(r) if r.status == 200 => {
            return Ok(r
                .json()
                .get("documents")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("message_id").and_then(|v| v.as_str()))
                .map(str::to_owned)
                .collect());
        }
        Ok(r) => format!("inbox HTTP {}: {}", r.status, r.text()),
        Err(e) => format!("inbox: {e}"),
    };
    Err(BenchError::Operation {
        what: "inbox poll",
        reason,
    })
}

/// CPU ticks this thread used since `start` (a [`thread_ticks`] reading), for the load
/// generator's share that is subtracted from the process's.
pub(crate) fn ticks_since(start: f64) -> usize {
    (thread_ticks() - start).max(0.0) as usize
}

/// CPU ticks this thread has used so far.
pub(crate) fn thread_ticks() -> f64 {
    cpu_ticks(Path::new("/proc/thread-self/stat"))
}

/// utime + stime in clock ticks from a `/proc/.../stat` file (0 if unreadable).
pub(crate) fn cpu_ticks(path: &Path) -> f64 {
    let Ok(s) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis,
    // where field 3 (state) comes first; utime and stime are fields 14 and 15 (proc(5)).
    let Some((_, rest)) = s.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_default()
    };
    (num(11) + num(12)) as f64
}

pub(crate) fn vm_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
