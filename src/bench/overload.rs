//! Overload: the district offered twice the rate it accepts (probed closed loop first), open
//! loop, by more concurrent submitters than it has admission slots
//! (`limits.max_inflight_documents`). What a
//! gateway that sheds instead of swelling shows: only 202 and 503 `overload` come back, the 202s
//! it does give come about as fast as unloaded ones (the p99 multiple below), memory stays
//! bounded, and every 202 reaches the province inbox exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;
use super::e2e::{Percentiles, Route, ack_one, poll_inbox, vm_rss_kb};
use crate::client::Client;

/// Loopback addresses the submitters connect from, as that many offices would: each stays
/// within the gateway's per-source connection limits (64 open, 32 still in handshake).
const SOURCES: u8 = 8;
/// Submitters (each with its own kept-alive connection) per source address: together far
/// more than the district's 32 admission slots and the queue the admission wait allows.
const PER_SOURCE: usize = 40;
/// Threads acknowledging inbox documents.
const ACKERS: usize = 3;
/// Sequence numbers of this row's documents start here (other phases use lower ones).
const SEQ0: u64 = 5_000_000;

/// How long each step runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Durations {
    /// Closed loop, every submitter as fast as it is answered: the district's accept rate.
    pub(crate) probe: Duration,
    /// Open loop at twice that rate.
    pub(crate) offer: Duration,
}

/// The overload row.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overload {
    /// Concurrent submitters, each on its own kept-alive connection.
    pub submitters: usize,
    /// Source addresses they connect from.
    pub sources: usize,
    /// The district's accept rate with every submitter closed loop (the probe), documents/s.
    pub max_accept_per_s: f64,
    /// Offered rate, documents/s: twice `max_accept_per_s`, open loop.
    pub offered_per_s: f64,
    /// How long the load was offered, s.
    pub offered_secs: f64,
    /// Submissions sent in the offered time.
    pub sent: usize,
    /// Answered 202.
    pub accepted: usize,
    /// Answered 503 `overload` (shed before the body was read).
    pub shed: usize,
    /// Answered anything else (must be 0).
    pub other: usize,
    /// 202s per second over the offered time.
    pub accepted_per_s: f64,
    /// Send → 202, accepted submissions only.
    pub submit_ms: Percentiles,
    /// Send → 503, shed submissions only.
    pub shed_ms: Percentiles,
    /// The `paced` phase's (half rate, unloaded) submit p99, ms.
    pub unloaded_submit_p99_ms: f64,
    /// `submit_ms.p99` ÷ `unloaded_submit_p99_ms`.
    pub p99_multiple: f64,
    /// Send → first seen in the province inbox, accepted submissions.
    pub latency_ms: Percentiles,
    /// Largest resident memory of the process (both gateways and the generator), MB.
    pub rss_max_mb: f64,
    /// Every 202 (of the probe and the offered time) was seen in the inbox, none twice,
    /// nothing else.
    pub delivered_exactly_once: bool,
}

/// What the submitters recorded.
#[derive(Default)]
struct Answers {
    /// (send instant, message id, 202 instant).
    accepted: Vec<(Instant, String, Instant)>,
    shed_ms: Vec<f64>,
    other: usize,
}

/// One submission's answer.
enum Answer {
    Accepted(String),
    /// 503 `overload`, with its Retry-After.
    Shed(Duration),
    Other,
}

fn submit(client: &Client, doc: &[u8]) -> Answer {
    match client.post("/api/v1/documents", "application/xml", doc) {
        Ok(r) if r.status == 202 => Answer::Accepted(
            r.json()
                .get("message_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .unwrap_or_default(),
        ),
        Ok(r) if r.status == 503 && r.text().contains("urn:lienthong:problem:overload") => {
            let secs = r
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1);
            Answer::Shed(Duration::from_secs(secs))
        }
        _ => Answer::Other,
    }
}

/// What the submitters share.
struct Shared<'a> {
    client: &'a Client,
    to: (&'static str, &'static str),
    next: AtomicUsize,
    probe_accepted: Mutex<Vec<String>>,
    answers: Mutex<Answers>,
    /// Set by the barrier's leader once the probe is over.
    rate: Mutex<f64>,
    barrier: Barrier,
    /// One warm-up at a time per source: a burst of handshakes from one address would meet
    /// the gateway's per-source pending limit before the measurement starts.
    warm_up: Vec<Mutex<()>>,
}

/// Probes the district's accept rate, offers twice that open loop, then waits for every 202 to
/// reach `route`'s inbox.
pub(super) fn run(
    submit_client: &Client,
    route: &Route<'_>,
    durations: Durations,
    unloaded_submit_p99_ms: f64,
) -> Result<Overload, BenchError> {
    let submitters = usize::from(SOURCES) * PER_SOURCE;
    let shared = Shared {
        client: submit_client,
        to: route.to,
        next: AtomicUsize::new(0),
        probe_accepted: Mutex::new(Vec::new()),
        answers: Mutex::new(Answers::default()),
        rate: Mutex::new(1.0),
        barrier: Barrier::new(submitters + 1),
        warm_up: (0..SOURCES).map(|_| Mutex::new(())).collect(),
    };
    let rss_max = Mutex::new(0.0f64);
    let sending = AtomicBool::new(true);
    let mut offered_secs = 0.0;
    std::thread::scope(|s| {
        s.spawn(|| sample_rss(&sending, &rss_max));
        for k in 0..submitters {
            let shared = &shared;
            s.spawn(move || submitter(shared, k, durations));
        }
        // Warm-ups done; then the probe; then the offered time.
        shared.barrier.wait();
        shared.barrier.wait();
        shared.barrier.wait();
        let t1 = Instant::now();
        shared.barrier.wait();
        offered_secs = t1.elapsed().as_secs_f64();
        sending.store(false, Ordering::Relaxed);
    });
    let probe_accepted = shared.probe_accepted.into_inner().unwrap_or_default();
    let rate = shared.rate.into_inner().unwrap_or(1.0);
    let answers = shared.answers.into_inner().unwrap_or_default();
    let expected: HashSet<&str> = answers
        .accepted
        .iter()
        .map(|a| a.1.as_str())
        .chain(probe_accepted.iter().map(String::as_str))
        .collect();
    let seen = collect(route.receive, &expected)?;
    let delivered_exactly_once =
        seen.len() == expected.len() && seen.iter().all(|(id, _)| expected.contains(id.as_str()));
    let seen_at: std::collections::HashMap<&str, Instant> =
        seen.iter().map(|(id, at)| (id.as_str(), *at)).collect();
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
    let submit_ms = Percentiles::of(answers.accepted.iter().map(|a| ms(a.0, a.2)).collect());
    let latency_ms = Percentiles::of(
        answers
            .accepted
            .iter()
            .filter_map(|a| seen_at.get(a.1.as_str()).map(|s| ms(a.0, *s)))
            .collect(),
    );
    let sent = answers.accepted.len() + answers.shed_ms.len() + answers.other;
    Ok(Overload {
        submitters,
        sources: usize::from(SOURCES),
        max_accept_per_s: rate / 2.0,
        offered_per_s: rate,
        offered_secs,
        sent,
        accepted: answers.accepted.len(),
        shed: answers.shed_ms.len(),
        other: answers.other,
        accepted_per_s: answers.accepted.len() as f64 / offered_secs.max(1e-9),
        p99_multiple: submit_ms.p99 / unloaded_submit_p99_ms.max(1e-9),
        submit_ms,
        shed_ms: Percentiles::of(answers.shed_ms),
        unloaded_submit_p99_ms,
        latency_ms,
        rss_max_mb: rss_max.into_inner().unwrap_or_default(),
        delivered_exactly_once,
    })
}

/// One submitter: warm up its connection, run the probe closed loop, then send its share of
/// the offered load at the scheduled times (open loop: a shed document is not retried, it
/// is offered load the district refused). Meets the main thread at four barriers.
fn submitter(shared: &Shared<'_>, k: usize, durations: Durations) {
    let source = k % usize::from(SOURCES);
    let ip = std::net::IpAddr::from([127, 0, 0, 11 + source as u8]);
    let client = shared.client.with_source(ip);
    if let Some(lock) = shared.warm_up.get(source) {
        let _one = lock.lock();
        let _ = client.get("/healthz");
    }
    shared.barrier.wait();
    let probe_end = Instant::now() + durations.probe;
    let mut accepted = Vec::new();
    while Instant::now() < probe_end {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Ok(doc) = document(shared.to, i) else {
            continue;
        };
        match submit(&client, &doc) {
            Answer::Accepted(id) => accepted.push(id),
            // A closed loop honours Retry-After, as a well-behaved office system does:
            // otherwise the probe measures how fast refusals can be answered.
            Answer::Shed(after) => {
                std::thread::sleep(after.min(probe_end.saturating_duration_since(Instant::now())))
            }
            Answer::Other => {}
        }
    }
    if let Ok(mut p) = shared.probe_accepted.lock() {
        p.append(&mut accepted);
    }
    if shared.barrier.wait().is_leader() {
        let total = shared.probe_accepted.lock().map_or(0, |p| p.len());
        let rate = 2.0 * (total as f64 / durations.probe.as_secs_f64()).max(1.0);
        if let Ok(mut r) = shared.rate.lock() {
            *r = rate;
        }
        shared.next.store(0, Ordering::Relaxed);
    }
    shared.barrier.wait();
    let rate = shared.rate.lock().map_or(1.0, |r| *r);
    let total = (rate * durations.offer.as_secs_f64()) as usize;
    let t1 = Instant::now();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let at = t1 + Duration::from_secs_f64(i as f64 / rate);
        offer(&client, shared, i, at);
    }
    shared.barrier.wait();
}

/// The `i`th document of the offered load (after the probe's).
fn document(to: (&'static str, &'static str), i: usize) -> Result<Vec<u8>, BenchError> {
    super::pipeline::envelope_to(SEQ0 + i as u64, super::pipeline::SMALL, to)
}

/// Sends document `i` at its scheduled time `at` (open loop: late if every submitter is busy)
/// and records the answer.
fn offer(client: &Client, shared: &Shared<'_>, i: usize, at: Instant) {
    let doc = document(shared.to, 1_000_000 + i);
    if let Some(wait) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    let sent = Instant::now();
    let answer = match doc {
        Ok(doc) => submit(client, &doc),
        Err(_) => Answer::Other,
    };
    let Ok(mut a) = shared.answers.lock() else {
        return;
    };
    match answer {
        Answer::Accepted(id) => a.accepted.push((sent, id, Instant::now())),
        Answer::Shed(_) => a.shed_ms.push(sent.elapsed().as_secs_f64() * 1e3),
        Answer::Other => a.other += 1,
    }
}

fn sample_rss(sending: &AtomicBool, max: &Mutex<f64>) {
    while sending.load(Ordering::Relaxed) {
        if let (Some(kb), Ok(mut m)) = (vm_rss_kb(), max.lock()) {
            *m = m.max(kb as f64 / 1024.0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls and acknowledges the inbox until every expected id has been seen (or the deadline):
/// each id listed, with when it was first seen, once.
fn collect(
    receive: &Client,
    expected: &HashSet<&str>,
) -> Result<Vec<(String, Instant)>, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(60 + expected.len() as u64 / 10);
    let mut seen: Vec<(String, Instant)> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let (tx, rx) = mpsc::channel::<String>();
    let rx = Mutex::new(rx);
    let failure: Mutex<Option<BenchError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..ACKERS {
            s.spawn(|| {
                while let Ok(Ok(id)) = rx.lock().map(|r| r.recv()) {
                    if let Err(e) = ack_one(receive, &id) {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            });
        }
        while expected.iter().any(|id| !known.contains(*id)) && Instant::now() < deadline {
            match poll_inbox(receive) {
                Ok(ids) => {
                    let now = Instant::now();
                    for id in ids {
                        if known.insert(id.clone()) {
                            seen.push((id.clone(), now));
                            let _ = tx.send(id);
                        }
                    }
                }
                Err(e) => {
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(e);
                    }
                    break;
                }
            }
        }
        drop(tx);
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let missing = expected.iter().filter(|id| !known.contains(**id)).count();
    if missing > 0 {
        return Err(BenchError::Undelivered {
            missing,
            total: expected.len(),
            secs: 60 + expected.len() as u64 / 10,
        });
    }
    Ok(seen)
}
