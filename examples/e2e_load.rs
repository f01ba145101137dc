//! End-to-end load between two real gateways on loopback (district → province, mutual TLS, sled
//! on disk, RSA-2048 signatures): documents/s, submit→inbox latency percentiles, CPU and disk
//! per document, store flushes per 1,000 documents — at the maximum rate, then at half of it.
//!
//! `cargo build --release && cargo run --release --example e2e_load -- [DOCS] [THREADS]`
//! (it starts `target/release/lienthong serve`, so build the binary first).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use lienthong::client::Client;
use lienthong::demo::{SetupOptions, setup};

fn bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("lienthong")
}

fn start(config: &Path, log: &Path) -> Child {
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(config)
        .env("LIENTHONG_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("ready"), "{line}");
    child
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn metric(c: &Client, name: &str) -> u64 {
    let text = c.get("/metrics").unwrap().text();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Phase {
    docs_per_s: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

fn run_phase(
    office: &Client,
    inbox: &Client,
    xml: &Arc<Vec<u8>>,
    docs: usize,
    threads: usize,
    rate: Option<f64>,
) -> Phase {
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let done = Arc::new(AtomicBool::new(false));
    // Poller: long-polls the province inbox, records first sight, hands ids to ackers.
    let (ack_tx, ack_rx) = mpsc::channel::<String>();
    let ack_rx = Arc::new(Mutex::new(ack_rx));
    let mut ackers = Vec::new();
    for _ in 0..2 {
        let (rx, c) = (ack_rx.clone(), inbox.clone());
        ackers.push(std::thread::spawn(move || {
            while let Ok(id) = { rx.lock().unwrap().recv() } {
                let _ = c.post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"");
            }
        }));
    }
    let poller = {
        let (c, arrived, done) = (inbox.clone(), arrived.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let r = c.get("/api/v1/inbox?limit=500&wait=2").unwrap().json();
                let now = Instant::now();
                let mut a = arrived.lock().unwrap();
                for d in r["documents"].as_array().unwrap() {
                    let id = d["message_id"].as_str().unwrap().to_owned();
                    if !a.contains_key(&id) {
                        a.insert(id.clone(), now);
                        let _ = ack_tx.send(id);
                    }
                }
            }
        })
    };
    let t0 = Instant::now();
    let per_thread = docs / threads;
    let interval = rate.map(|r| Duration::from_secs_f64(threads as f64 / r));
    let mut submitters = Vec::new();
    for _ in 0..threads {
        let (c, xml, sent) = (office.clone(), xml.clone(), sent.clone());
        submitters.push(std::thread::spawn(move || {
            let start = Instant::now();
            for i in 0..per_thread {
                if let Some(iv) = interval {
                    let due = start + iv * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                let t = Instant::now();
                let r = c
                    .post("/api/v1/documents", "application/xml", &xml)
                    .unwrap();
                assert_eq!(r.status, 202, "{}", r.text());
                let id = r.json()["message_id"].as_str().unwrap().to_owned();
                sent.lock().unwrap().insert(id, t);
            }
        }));
    }
    for s in submitters {
        s.join().unwrap();
    }
    let total = per_thread * threads;
    let deadline = Instant::now() + Duration::from_secs(300);
    // Done when every document this phase sent has been seen. Counting arrivals is not enough:
    // the inbox may still list documents of the phase before whose acks are in flight, and
    // counting those ended a phase while its own last documents were still on the way (the
    // "lost deliveries" of session 2 were this, not the gateways).
    let all_arrived = || {
        let a = arrived.lock().unwrap();
        sent.lock().unwrap().keys().all(|id| a.contains_key(id))
    };
    while !all_arrived() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    drop(ack_rx);
    let sent = sent.lock().unwrap();
    let arrived = arrived.lock().unwrap();
    let mut lat: Vec<f64> = sent
        .iter()
        .filter_map(|(id, t)| {
            arrived
                .get(id)
                .map(|a| a.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if lat.len() != total {
        for id in sent.keys().filter(|id| !arrived.contains_key(*id)) {
            let st = office
                .get(&format!("/api/v1/documents/{id}"))
                .unwrap()
                .text();
            let at_province = inbox.get(&format!("/api/v1/inbox/{id}")).unwrap();
            eprintln!(
                "missing {id}: district says {}; province inbox answers {}: {}",
                st.chars().take(300).collect::<String>(),
                at_province.status,
                at_province.text().chars().take(300).collect::<String>()
            );
        }
        panic!("{} of {total} documents arrived", lat.len());
    }
    Phase {
        docs_per_s: total as f64 / elapsed.as_secs_f64(),
        p50: pct(&lat, 0.50),
        p99: pct(&lat, 0.99),
        p999: pct(&lat, 0.999),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let docs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    eprintln!("e2e_load: working directory {}", dir.path().display());
    let demo = setup(
        &dir.path().join("demo"),
        &SetupOptions {
            base_port: None,
            pbkdf2_iterations: Some(1_000),
        },
    )
    .unwrap();
    let d = demo.gateway("district").unwrap();
    let p = demo.gateway("province").unwrap();
    let district = start(&d.config, &dir.path().join("district.log"));
    let province = start(&p.config, &dir.path().join("province.log"));
    let office = Client::new(&demo.root_pem, &d.api_url, Some(&d.tokens.submit)).unwrap();
    let inbox = Client::new(&demo.root_pem, &p.api_url, Some(&p.tokens.receive)).unwrap();
    let d_admin = Client::new(&demo.root_pem, &d.api_url, None).unwrap();
    let p_admin = Client::new(&demo.root_pem, &p.api_url, None).unwrap();

    // An 8 KB document once signed (about 5.5 KB of content + header + signature + 2 certs).
    let content = "Nội dung văn bản thử tải. ".repeat(190);
    let out = dir.path().join("doc.xml");
    let st = Command::new(bin())
        .args([
            "doc",
            "new",
            "--from",
            "HU.CHAUTHANH",
            "--to",
            "TU.BENTRE",
            "--code",
            "09",
        ])
        .args([
            "--notation",
            "CV/HU",
            "--subject",
            "Công văn thử tải",
            "--level",
            "thuong",
        ])
        .args([
            "--procedure",
            "VB-01",
            "--public",
            "--content",
            &content,
            "-o",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let xml = Arc::new(std::fs::read(&out).unwrap());

    // Warm up connections, caches and the sled files.
    run_phase(&office, &inbox, &xml, threads * 10, threads, None);
    let (cpu0, flush0) = (
        cpu_secs(district.id()) + cpu_secs(province.id()),
        metric(&d_admin, "lienthong_store_flushes_total")
            + metric(&p_admin, "lienthong_store_flushes_total"),
    );
    let disk0 = metric(&d_admin, "lienthong_store_bytes_on_disk")
        + metric(&p_admin, "lienthong_store_bytes_on_disk");
    let max = run_phase(&office, &inbox, &xml, docs, threads, None);
    let cpu = cpu_secs(district.id()) + cpu_secs(province.id()) - cpu0;
    let flushes = metric(&d_admin, "lienthong_store_flushes_total")
        + metric(&p_admin, "lienthong_store_flushes_total")
        - flush0;
    let disk = (metric(&d_admin, "lienthong_store_bytes_on_disk")
        + metric(&p_admin, "lienthong_store_bytes_on_disk"))
    .saturating_sub(disk0);
    let half = run_phase(
        &office,
        &inbox,
        &xml,
        docs / 2,
        threads,
        Some(max.docs_per_s / 2.0),
    );
    let signed_size = xml.len();
    println!(
        "cores: {}  profile: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "documents: {docs} of ~{} bytes unsigned, RSA-2048 signed at the district, {threads} client threads",
        signed_size
    );
    println!(
        "max rate : {:.0} docs/s   p50 {:.1} ms  p99 {:.1} ms  p99.9 {:.1} ms",
        max.docs_per_s, max.p50, max.p99, max.p999
    );
    println!(
        "half rate: {:.0} docs/s   p50 {:.1} ms  p99 {:.1} ms  p99.9 {:.1} ms",
        half.docs_per_s, half.p50, half.p99, half.p999
    );
    println!(
        "CPU per document (both gateways): {:.2} ms",
        cpu * 1000.0 / docs as f64
    );
    println!(
        "store flushes per 1,000 documents (both stores): {:.0}",
        flushes as f64 * 1000.0 / docs as f64
    );
    println!(
        "disk growth per document (both stores, sled): {:.0} bytes",
        disk as f64 / docs as f64
    );
    println!(
        "RSS: district {} KiB, province {} KiB",
        rss_kib(district.id()),
        rss_kib(province.id())
    );
    for mut c in [district, province] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
