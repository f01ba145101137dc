//! `lienthong bench`: how fast lienthong is, measured against the physical limit, in one run on
//! one machine.
//!
//! Three layers, each measured in the same process so the numbers compare:
//!
//! 1. [`ceiling`]: the raw ring operations every document pays for (RSA-2048 sign/verify, P-256,
//!    Ed25519, SHA-256). Nothing that signs RSA documents can beat the RSA sign rate.
//! 2. [`pipeline`]: the document pipeline on ~8 KB and ~1 MB envelopes — parse, exclusive c14n,
//!    sign (+ write), verify (with a real chain and CRL) — and its ratio to the raw RSA op.
//! 3. [`e2e`]: two real gateways on loopback (district → province), documents submitted over
//!    the HTTPS API and collected from the province inbox by a receiving system that long-polls
//!    and acknowledges; throughput, latency percentiles, CPU, memory, disk and flushes per
//!    document.
//!
//! Optionally [`peers`]: `xmlsec1 --sign/--verify` per document on the same document and key.
//!
//! Nothing here is a test: the test suite only checks that `bench --quick` produces every
//! section (`tests/bench_smoke.rs`), never how fast.

pub mod ceiling;
pub mod e2e;
pub mod overload;
pub mod peers;
pub mod pipeline;
pub mod revocation;
pub mod scale;
pub mod sealing;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Why the benchmark could not run to the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A key could not be generated or loaded.
    #[error("benchmark key {what}: {reason}")]
    Key {
        /// Which key.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A measured operation failed (it must succeed for its timing to mean anything).
    #[error("{what} failed during the benchmark: {reason}")]
    Operation {
        /// The operation.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The demo setup (PKI, configs) or the temporary directory could not be made.
    #[error("benchmark setup: {0}")]
    Setup(String),
    /// A gateway could not be started or stopped.
    #[error("gateway {role}: {reason}")]
    Gateway {
        /// `district` or `province`.
        role: &'static str,
        /// Why.
        reason: String,
    },
    /// A submission was refused by the gateway.
    #[error("submission {seq} refused with HTTP {status}: {detail}")]
    Refused {
        /// The document's sequence number.
        seq: usize,
        /// HTTP status.
        status: u16,
        /// The problem detail.
        detail: String,
    },
    /// Documents did not all reach the province inbox in time.
    #[error("{missing} of {total} documents did not reach the inbox within {secs} s")]
    Undelivered {
        /// Not delivered.
        missing: usize,
        /// Submitted.
        total: usize,
        /// The deadline.
        secs: u64,
    },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Short measurements and few documents (the smoke test; ~20 s in a debug build).
    pub quick: bool,
    /// Documents per end-to-end phase (default 2,000; quick 40).
    pub docs: Option<usize>,
    /// Where to put the demo setup and the stores (default: a fresh temp directory, removed at
    /// the end).
    pub dir: Option<PathBuf>,
    /// Also run `xmlsec1` on the same document and key, if it is installed (skipped with a
    /// note otherwise).
    pub peers: bool,
    /// The province's store on this PostgreSQL database (`postgresql://…`) instead of sled: the
    /// end-to-end rows then measure one gateway on each engine in the same run.
    pub province_postgres: Option<String>,
}

impl BenchOptions {
    /// How long each micro measurement runs.
    pub(crate) fn budget(&self) -> Duration {
        if self.quick {
            Duration::from_millis(150)
        } else {
            Duration::from_millis(1500)
        }
    }

    /// How long the overload row probes and offers.
    pub(crate) fn overload_durations(&self) -> overload::Durations {
        if self.quick {
            overload::Durations {
                probe: Duration::from_millis(500),
                offer: Duration::from_secs(1),
            }
        } else {
            overload::Durations {
                probe: Duration::from_secs(2),
                offer: Duration::from_secs(10),
            }
        }
    }

    /// Documents per end-to-end phase.
    pub fn docs_per_phase(&self) -> usize {
        self.docs
            .unwrap_or(if self.quick { 40 } else { 2000 })
            .max(1)
    }
}

/// The machine and build the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Logical cores available to this process.
    pub cores: usize,
    /// `debug` or `release` (`cfg!(debug_assertions)`).
    pub profile: &'static str,
    /// CPU model, from `/proc/cpuinfo` when readable.
    pub cpu: String,
    /// `--quick` was given.
    pub quick: bool,
    /// lienthong's version.
    pub version: &'static str,
}

impl Machine {
    fn detect(quick: bool) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            cpu,
            quick,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// Raw ring operations.
    pub ceiling: ceiling::Ceiling,
    /// Document pipeline, one row per size.
    pub pipeline: Vec<pipeline::PipelineRow>,
    /// Sealing `mat` documents (encrypt, decrypt, the gateway's seal and open), one row per size.
    pub seal: Vec<sealing::SealRow>,
    /// Revocation by CRL and by OCSP (cached, over loopback), side by side.
    pub revocation: revocation::Revocation,
    /// End to end through real gateways, one row per phase (max, paced, 2 hops).
    pub e2e: Vec<e2e::Phase>,
    /// Twice the district's probed accept rate offered, open loop: shed, accepted, their
    /// latency against unloaded.
    pub overload: overload::Overload,
    /// `xmlsec1` and signxml on the same document, when run.
    pub peers: peers::Peers,
    /// Wall time of the whole run, seconds.
    pub total_secs: f64,
}

/// Runs every section; `progress` gets one line as each starts.
pub fn run(
    options: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<BenchReport, BenchError> {
    let started = Instant::now();
    let machine = Machine::detect(options.quick);
    progress("ceiling: raw ring operations");
    let ceiling = ceiling::measure(options.budget())?;

    let dir = WorkDir::new(options.dir.as_deref())?;
    progress("setup: demo PKI and two gateway configs");
    let setup = lienthong_demo(dir.path())?;

    progress("pipeline: parse, c14n, sign, verify on 8 KB and 1 MB envelopes");
    let material = pipeline::Material::load(&setup)?;
    let pipeline = pipeline::measure(&material, &ceiling, options.budget())?;
    progress("seal: encrypt and decrypt mat envelopes of 8 KB and 1 MB (AES-256-GCM, RSA-OAEP)");
    let seal = sealing::measure(&material, options.budget())?;
    progress("revocation: verification with a CRL and with OCSP (openssl ocsp, when installed)");
    let revocation = revocation::measure(dir.path(), options.budget())?;

    let peers = if options.peers {
        progress("peers: xmlsec1 on the same 8 KB document");
        peers::measure(&material, dir.path(), options)
    } else {
        peers::Peers::skipped("not requested (--no-peers)")
    };

    progress("end to end: district → province (→ central) over HTTPS and mTLS");
    let (mut e2e, overload) = e2e::measure(&setup, options, &mut progress)?;
    let ceiling_docs = sign_verify_ceiling(&ceiling, machine.cores);
    for p in &mut e2e {
        p.delivered_vs_rsa_sign = p.delivered_per_s / ceiling.rsa2048_sign_per_s;
        p.delivered_vs_ceiling = p.delivered_per_s / ceiling_docs;
    }

    Ok(BenchReport {
        machine,
        ceiling,
        pipeline,
        seal,
        revocation,
        e2e,
        overload,
        peers,
        total_secs: started.elapsed().as_secs_f64(),
    })
}

/// The scale run and where it ran.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleReport {
    /// Where it ran.
    pub machine: Machine,
    /// The run.
    pub scale: scale::Scale,
}

impl ScaleReport {
    /// The human table.
    pub fn table(&self) -> String {
        let m = &self.machine;
        format!(
            "lienthong {} bench --scale — {} cores ({}), {} build\n{}",
            m.version,
            m.cores,
            m.cpu,
            m.profile,
            self.scale.table()
        )
    }
}

/// Runs only the scale measurement with `n` documents (see [`scale`]).
pub fn run_scale(
    options: &BenchOptions,
    n: usize,
    mut progress: impl FnMut(&str),
) -> Result<ScaleReport, BenchError> {
    let machine = Machine::detect(options.quick);
    let dir = WorkDir::new(options.dir.as_deref())?;
    progress("setup: demo PKI and gateway configs");
    let setup = lienthong_demo(dir.path())?;
    progress(&format!("scale: {n} documents, district → province"));
    let scale = scale::measure(&setup, n, &mut progress)?;
    Ok(ScaleReport { machine, scale })
}

/// Documents/s the machine's cores could do if each document cost exactly one RSA-2048 sign and
/// one verify and nothing else: the physical limit the end-to-end figures are held against.
fn sign_verify_ceiling(c: &ceiling::Ceiling, cores: usize) -> f64 {
    let per_doc = 1.0 / c.rsa2048_sign_per_s.max(1e-9) + 1.0 / c.rsa2048_verify_per_s.max(1e-9);
    cores.max(1) as f64 / per_doc
}

fn lienthong_demo(dir: &Path) -> Result<crate::demo::DemoSetup, BenchError> {
    crate::demo::setup(
        &dir.join("demo"),
        &crate::demo::SetupOptions {
            base_port: None,
            // The keys are thrown away at the end: the production count only slows setup.
            pbkdf2_iterations: Some(crate::pki::keystore::MIN_PBKDF2_ITERATIONS),
        },
    )
    .map_err(|e| BenchError::Setup(e.to_string()))
}

/// The benchmark's working directory; a temporary one is removed on drop.
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn new(given: Option<&Path>) -> Result<Self, BenchError> {
        let (path, remove) = match given {
            Some(p) => (p.to_path_buf(), false),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or_default();
                let name = format!("lienthong-bench-{}-{nanos}", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        std::fs::create_dir_all(&path)
            .map_err(|e| BenchError::Setup(format!("{}: {e}", path.display())))?;
        Ok(Self { path, remove })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs `f` repeatedly for `budget` (after one warm-up call) and returns calls per second.
pub(crate) fn rate(
    budget: Duration,
    mut f: impl FnMut() -> Result<(), BenchError>,
) -> Result<f64, BenchError> {
    f()?;
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        f()?;
        n += 1;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return Ok(n as f64 / elapsed.as_secs_f64());
        }
    }
}

impl BenchReport {
    /// The human table: the header line, then one section per layer of the run.
    pub fn table(&self) -> String {
        let mut s = String::new();
        self.write_header(&mut s);
        self.write_ceiling(&mut s);
        self.write_pipeline(&mut s);
        s.push_str(&sealing::table(&self.seal));
        s.push_str(&revocation::table(&self.revocation));
        self.write_e2e(&mut s);
        self.write_overload(&mut s);
        self.write_peers(&mut s);
        let _ = writeln!(s, "\ntotal {:.1} s", self.total_secs);
        s
    }

    /// The first line: version, machine and build, so a pasted table says where it came from.
    fn write_header(&self, s: &mut String) {
        let m = &self.machine;
        let _ = writeln!(
            s,
            "lienthong {} bench — {} cores ({}), {} build{}",
            m.version,
            m.cores,
            m.cpu,
            m.profile,
            if m.quick { ", --quick" } else { "" }
        );
    }

    /// Section 1: the raw ring operations, the limit everything below is held against.
    fn write_ceiling(&self, s: &mut String) {
        let c = &self.ceiling;
        let _ = writeln!(s, "\n1. Ceiling: ring, this process");
        let _ = writeln!(
            s,
            "   {:<28} {:>12} {:>12}",
            "operation", "sign/s", "verify/s"
        );
        for (name, sign, verify) in [
            (
                "RSA-2048 PKCS#1 SHA-256",
                c.rsa2048_sign_per_s,
                c.rsa2048_verify_per_s,
            ),
            (
                "ECDSA P-256 SHA-256",
                c.p256_sign_per_s,
                c.p256_verify_per_s,
            ),
            ("Ed25519", c.ed25519_sign_per_s, c.ed25519_verify_per_s),
        ] {
            let _ = writeln!(s, "   {name:<28} {sign:>12.0} {verify:>12.0}");
        }
        let _ = writeln!(s, "   {:<28} {:>12.0} MB/s", "SHA-256", c.sha256_mb_per_s);
    }

    /// Section 2: the document pipeline, one row per envelope size.
    fn write_pipeline(&self, s: &mut String) {
        let _ = writeln!(s, "\n2. Document pipeline (RSA-2048 key, real chain + CRL)");
        let _ = writeln!(
            s,
            "   {:<6} {:>11} {:>10} {:>12} {:>8} {:>13} {:>8}",
            "size", "parse MB/s", "c14n MB/s", "sign docs/s", "of RSA", "verify docs/s", "of RSA"
        );
        for r in &self.pipeline {
            let _ = writeln!(
                s,
                "   {:<6} {:>11.1} {:>10.1} {:>12.0} {:>7.1}% {:>13.0} {:>7.1}%",
                r.label,
                r.parse_mb_per_s,
                r.c14n_mb_per_s,
                r.sign_docs_per_s,
                r.sign_vs_rsa_sign * 100.0,
                r.verify_docs_per_s,
                r.verify_vs_rsa_verify * 100.0,
            );
        }
    }

    /// Section 3: the end-to-end phases through real gateways, one row each, and the footnote
    /// saying what their CPU and ratio columns count.
    fn write_e2e(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n3. End to end: 8 KB RSA-2048 documents, HTTPS submit + mTLS relay + inbox long-poll/ack\n   (max, paced: district → province; 2 hops: district → province → central;\n   max mat: district → province, sealed end to end, each fetched (opened) before its ack)"
        );
        let _ = writeln!(
            s,
            "   {:<7} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>13} {:>8} {:>9} {:>8} {:>8}",
            "phase",
            "docs",
            "docs/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "CPU ms/doc",
            "RSS MB start→max",
            "disk/doc",
            "flush/1k",
            "of RSA",
            "of ceil."
        );
        for p in &self.e2e {
            let _ = writeln!(
                s,
                "   {:<7} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>10.2} {:>6.0}→{:<6.0} {:>7.1}K {:>9.0} {:>7.1}% {:>7.1}%",
                p.name,
                p.documents,
                p.delivered_per_s,
                p.latency_ms.p50,
                p.latency_ms.p99,
                p.latency_ms.p999,
                p.gateway_cpu_ms_per_doc,
                p.rss_mb.start,
                p.rss_mb.max,
                p.disk_bytes_per_doc / 1024.0,
                p.flushes_per_1000_docs,
                p.delivered_vs_rsa_sign * 100.0,
                p.delivered_vs_ceiling * 100.0,
            );
        }
        let _ = writeln!(
            s,
            "   (CPU: all gateways, the load generator's own threads subtracted; flushes: all stores;\n    \"of RSA\": docs/s ÷ one core's RSA-2048 sign/s; \"of ceil.\": docs/s ÷ all cores doing one RSA-2048 sign + verify per document)"
        );
    }

    /// The overload row closing section 3: what the district shed and accepted at twice its
    /// accept rate, and whether every accepted document still arrived exactly once.
    fn write_overload(&self, s: &mut String) {
        let o = &self.overload;
        let _ = writeln!(
            s,
            "   overload: {} submitters from {} addresses; the district accepts {:.0} docs/s closed loop; twice that offered:\n     {:.0} docs/s for {:.1} s: {} sent, {} accepted ({:.0}/s), {} shed 503, {} other;\n     accepted submit p50/p99 {:.1}/{:.1} ms = {:.1}× the unloaded p99 ({:.1} ms), shed in p99 {:.1} ms;\n     to inbox p99 {:.0} ms; RSS max {:.0} MB; every 202 delivered exactly once: {}",
            o.submitters,
            o.sources,
            o.max_accept_per_s,
            o.offered_per_s,
            o.offered_secs,
            o.sent,
            o.accepted,
            o.accepted_per_s,
            o.shed,
            o.other,
            o.submit_ms.p50,
            o.submit_ms.p99,
            o.p99_multiple,
            o.unloaded_submit_p99_ms,
            o.shed_ms.p99,
            o.latency_ms.p99,
            o.rss_max_mb,
            if o.delivered_exactly_once {
                "yes"
            } else {
                "NO"
            },
        );
    }

    /// Section 4: xmlsec1 and signxml on the same document (or why each was skipped), then
    /// lienthong's small-document rates as multiples of theirs.
    fn write_peers(&self, s: &mut String) {
        let _ = writeln!(s, "\n4. Peers");
        match &self.peers.xmlsec1 {
            Some(x) => {
                let _ = writeln!(
                    s,
                    "   {} (one process per document): sign {:.0}/s, verify {:.0}/s; bare process start {:.0}/s",
                    x.version, x.sign_docs_per_s, x.verify_docs_per_s, x.startup_per_s
                );
            }
            None => {
                let _ = writeln!(s, "   xmlsec1 skipped: {}", self.peers.note);
            }
        }
        match &self.peers.signxml {
            Some(x) => {
                let _ = writeln!(
                    s,
                    "   {} (in-process): sign {:.0}/s, verify {:.0}/s",
                    x.version, x.sign_docs_per_s, x.verify_docs_per_s
                );
            }
            None => {
                let _ = writeln!(s, "   signxml skipped: {}", self.peers.signxml_note);
            }
        }
        self.write_peer_ratios(s);
    }

    /// The last line of section 4: lienthong's sign and verify rates on the small document as
    /// multiples of each peer's (`-` for a peer that did not run); nothing without a pipeline row.
    fn write_peer_ratios(&self, s: &mut String) {
        let Some(small) = self.pipeline.first() else {
            return;
        };
        let ratio = |ours: f64, theirs: Option<f64>| {
            theirs.map_or_else(|| "-".to_owned(), |t| format!("{:.1}×", ours / t.max(1e-9)))
        };
        let _ = writeln!(
            s,
            "   lienthong {} (this run, one core): sign {:.0}/s = {} signxml, {} xmlsec1; verify {:.0}/s = {} signxml, {} xmlsec1",
            small.label,
            small.sign_docs_per_s,
            ratio(
                small.sign_docs_per_s,
                self.peers.signxml.as_ref().map(|x| x.sign_docs_per_s)
            ),
            ratio(
                small.sign_docs_per_s,
                self.peers.xmlsec1.as_ref().map(|x| x.sign_docs_per_s)
            ),
            small.verify_docs_per_s,
            ratio(
                small.verify_docs_per_s,
                self.peers.signxml.as_ref().map(|x| x.verify_docs_per_s)
            ),
            ratio(
                small.verify_docs_per_s,
                self.peers.xmlsec1.as_ref().map(|x| x.verify_docs_per_s)
            ),
        );
    }
}
