//! `lienthong demo`: the quickstart. Sets up three gateways (central, province, district) on
//! loopback, starts them as child processes, drives them through the real HTTPS API as the
//! district office and as the receiving systems, and prints a report — or exits non-zero with
//! the step that did not behave.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::CliError;
use lienthong::client::Client;
use lienthong::demo::{DemoSetup, SetupOptions};
use lienthong::sign::{TrustStore, VerifyOptions, verify};

/// Arguments of `lienthong demo` (the quickstart).
#[derive(Args, Debug)]
pub(crate) struct QuickstartArgs {
    /// Where to write the demo (default: a fresh directory under the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Leave the three gateways running and print how to reach them; stop with Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// Print the report as JSON (steps and documents).
    #[arg(long)]
    json: bool,
    /// PBKDF2 iterations for the demo keys (default 600,000; lower only for tests).
    #[arg(long, hide = true)]
    pbkdf2_iterations: Option<u32>,
}

#[derive(Serialize)]
struct Step {
    name: String,
    ok: bool,
    detail: String,
}

#[derive(Serialize, Default, Clone)]
struct DocRow {
    id: String,
    from: String,
    to: String,
    level: String,
    priority: u8,
    hops: Vec<String>,
    signer: String,
    delivered_ms: Option<u64>,
    status: String,
    refused_reason: Option<String>,
    #[serde(skip)]
    title: String,
}

#[derive(Serialize)]
struct Report {
    dir: PathBuf,
    steps: Vec<Step>,
    documents: Vec<DocRow>,
}

struct Gateways {
    children: Vec<(String, Child)>,
}

impl Drop for Gateways {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for (_, c) in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Progress {
    plain: bool,
    quiet: bool,
}

impl Progress {
    fn step(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.plain {
            eprintln!("- {text}");
        } else {
            eprintln!("\x1b[1m▸\x1b[0m {text}");
        }
    }
}

fn exe() -> Result<PathBuf, CliError> {
    std::env::current_exe().map_err(|e| CliError::usage(format!("cannot find myself: {e}")))
}

fn start_gateway(dir: &Path, role: &str, config: &Path) -> Result<Child, CliError> {
    let log = dir.join(format!("{role}.log"));
    let logf = std::fs::File::create(&log)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", log.display())))?;
    let mut child = Command::new(exe()?)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(logf)
        .spawn()
        .map_err(|e| CliError::usage(format!("cannot start the {role} gateway: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::usage("no stdout from the gateway"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = String::new();
        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(line) if line.contains("\"ready\":true") => Ok(child),
        _ => {
            let _ = child.kill();
            Err(CliError::invalid(format!(
                "the {role} gateway did not start; see {}",
                log.display()
            )))
        }
    }
}

/// One document the district office submits in the quickstart.
#[derive(Clone, Copy)]
struct Planned {
    name: &'static str,
    to: &'static str,
    level: &'static str,
    procedure: &'static str,
    priority: u8,
    code: &'static str,
    notation: &'static str,
    subject: &'static str,
    /// Whether the gateway should accept it.
    expect_ok: bool,
}

fn new_doc(dir: &Path, p: &Planned) -> Result<Vec<u8>, CliError> {
    let Planned {
        name,
        to,
        level,
        procedure,
        priority,
        code,
        notation,
        subject,
        ..
    } = *p;
    let out = dir.join("documents").join(format!("{name}.xml"));
    if let Some(p) = out.parent() {
        std::fs::create_dir_all(p).map_err(|e| CliError::usage(e.to_string()))?;
    }
    let mut cmd = Command::new(exe()?);
    cmd.args(["doc", "new", "--from", "HU.CHAUTHANH", "--to", to])
        .args(["--code", code, "--notation", notation, "--subject", subject])
        .args(["--level", level, "--procedure", procedure])
        .args(["--priority", &priority.to_string(), "-o"])
        .arg(&out);
    if level == "thuong" {
        cmd.arg("--public");
    }
    let o = cmd
        .output()
        .map_err(|e| CliError::usage(format!("doc new: {e}")))?;
    if !o.status.success() {
        return Err(CliError::invalid(format!(
            "doc new {name}: {}",
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    std::fs::read(&out).map_err(|e| CliError::usage(e.to_string()))
}

pub(crate) fn run(a: QuickstartArgs) -> Result<(), CliError> {
    let progress = Progress {
        plain: !std::io::stderr().is_terminal(),
        quiet: a.json,
    };
    let dir = match a.dir {
        Some(d) => d,
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            std::env::temp_dir().join(format!("lienthong-demo-{stamp}-{}", std::process::id()))
        }
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut docs: Vec<DocRow> = Vec::new();

    progress.step(&format!(
        "writing the demo PKI, keystores, tokens and configs to {}",
        dir.display()
    ));
    let setup = lienthong::demo::setup(
        &dir,
        &SetupOptions {
            base_port: None,
            pbkdf2_iterations: a.pbkdf2_iterations,
        },
    )
    .map_err(CliError::usage)?;
    steps.push(Step {
        name: "setup".into(),
        ok: true,
        detail: format!("demo PKI and three gateway configs in {}", dir.display()),
    });

    progress.step(
        "starting three gateways: central (VPTW), province (TU.BENTRE), district (HU.CHAUTHANH)",
    );
    let mut gateways = Gateways {
        children: Vec::new(),
    };
    for g in &setup.gateways {
        let child = start_gateway(&setup.dir, &g.role, &g.config)?;
        gateways.children.push((g.role.clone(), child));
    }
    steps.push(Step {
        name: "start".into(),
        ok: true,
        detail: setup
            .gateways
            .iter()
            .map(|g| format!("{} {}", g.organ, g.api_url))
            .collect::<Vec<_>>()
            .join(", "),
    });

    let result = drive(&setup, &progress, &mut steps, &mut docs);
    let report = Report {
        dir: setup.dir.clone(),
        steps,
        documents: docs,
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::usage(e.to_string()))?
        );
    } else {
        print_report(&report, &setup);
    }
    result?;
    if let Some(bad) = report.steps.iter().find(|s| !s.ok) {
        return Err(CliError::invalid(format!(
            "step {} failed: {}",
            bad.name, bad.detail
        )));
    }
    if a.keep_running {
        print_keep_running(&setup);
        wait_for_ctrl_c();
        eprintln!("stopping the gateways…");
    }
    drop(gateways);
    Ok(())
}

fn wait_for_ctrl_c() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(rt) = rt {
        rt.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
}

fn client(setup: &DemoSetup, role: &str, token_role: &str) -> Result<Client, CliError> {
    let g = setup
        .gateway(role)
        .ok_or_else(|| CliError::usage(format!("no {role} gateway")))?;
    let token = match token_role {
        "submit" => &g.tokens.submit,
        "receive" => &g.tokens.receive,
        _ => &g.tokens.admin,
    };
    Client::new(&setup.root_pem, &g.api_url, Some(token)).map_err(CliError::usage)
}

/// The five documents of the walk-through: four the policy lets through, one (tối mật) it
/// refuses.
const PLAN: [Planned; 5] = [
    Planned {
        name: "nghi-quyet",
        to: "TU.BENTRE",
        level: "thuong",
        procedure: "VB-01",
        priority: 0,
        code: "07",
        notation: "NQ/HU",
        subject: "Nghị quyết về đẩy mạnh chuyển đổi số trong các cơ quan Đảng",
        expect_ok: true,
    },
    Planned {
        name: "thong-bao-hoa-toc",
        to: "VPTW",
        level: "thuong",
        procedure: "VB-01",
        priority: 3,
        code: "12",
        notation: "TB/HU",
        subject: "Thông báo hỏa tốc về tình hình bão lũ",
        expect_ok: true,
    },
    Planned {
        name: "bao-cao-mat",
        to: "VPTW",
        level: "mat",
        procedure: "VB-01",
        priority: 1,
        code: "25",
        notation: "BC/HU",
        subject: "Báo cáo mật về công tác bảo vệ chính trị nội bộ",
        expect_ok: true,
    },
    Planned {
        name: "tai-lieu-toi-mat",
        to: "TU.BENTRE",
        level: "toi-mat",
        procedure: "VB-01",
        priority: 0,
        code: "03",
        notation: "BC/HU",
        subject: "Tài liệu tối mật",
        expect_ok: false,
    },
    Planned {
        name: "quy-hoach-can-bo",
        to: "TU.BENTRE",
        level: "thuong",
        procedure: "TCCB-05",
        priority: 0,
        code: "31",
        notation: "TTr/HU",
        subject: "Tờ trình quy hoạch cán bộ",
        expect_ok: true,
    },
];

/// A submitted document still to be seen: its message id, when it was submitted, its row.
type Pending = (String, Instant, usize);

/// The string at `key` of a JSON object, or "".
fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or_default()
}

/// The strings at `field` of each object of the array at `key`.
fn texts(v: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    v.get(key)
        .and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get(field).and_then(|c| c.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The walk-through: submit → receive (long poll, verify, ack, report 06) → follow the
/// statuses back at the sender → the portal.
fn drive(
    setup: &DemoSetup,
    progress: &Progress,
    steps: &mut Vec<Step>,
    docs: &mut Vec<DocRow>,
) -> Result<(), CliError> {
    let office = client(setup, "district", "submit")?;
    progress.step("the district office submits five documents through the HTTPS API");
    let submitted = submit_all(setup, &office, steps, docs)?;
    progress.step(
        "the receiving systems of the province and the central office long-poll their inboxes",
    );
    receive_all(setup, submitted, steps, docs)?;
    progress.step("the district office follows its documents: receipts and statuses 03, 06");
    for row in docs.iter_mut().filter(|r| !r.id.is_empty()) {
        follow(&office, row, steps)?;
    }
    progress
        .step("the province relayed the mat report sealed: no file of its own holds it in clear");
    check_province_blind(setup, steps)?;
    progress.step("the provincial portal lists its public procedures; no secret one is there");
    check_portal(setup, steps)
}

/// The `mat` report to the central office went through the province sealed (issue 22): its
/// subject is in none of the province's files, in clear or in base64.
fn check_province_blind(setup: &DemoSetup, steps: &mut Vec<Step>) -> Result<(), CliError> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let planned = PLAN
        .iter()
        .find(|p| p.name == "bao-cao-mat")
        .ok_or_else(|| CliError::usage("no mat report planned"))?;
    let province = setup
        .gateway("province")
        .ok_or_else(|| CliError::usage("no province gateway"))?;
    let data = province
        .config
        .parent()
        .map(|d| d.join("data"))
        .unwrap_or_default();
    let mut files = Vec::new();
    walk(&data, &mut files);
    let needles = sealed_needles(planned.subject);
    let holding: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|b| {
                needles
                    .iter()
                    .any(|n| b.windows(n.len()).any(|w| w == n.as_slice()))
            })
        })
        .map(|f| f.display().to_string())
        .collect();
    steps.push(Step {
        name: format!("{} sealed through the province", planned.name),
        ok: !files.is_empty() && holding.is_empty(),
        detail: if holding.is_empty() {
            format!(
                "encrypted for {} and the sender only: its subject is in none of the province's {} files",
                planned.to,
                files.len()
            )
        } else {
            format!("the subject is readable in {}", holding.join(", "))
        },
    });
    Ok(())
}

/// `text` and the core of its base64 at each of the three alignments.
fn sealed_needles(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let mut out = vec![text.as_bytes().to_vec()];
    for pad in 0..3usize {
        let mut bytes = vec![b'#'; pad];
        bytes.extend_from_slice(text.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        out.push(
            b64.as_bytes()
                .get(4..b64.len().saturating_sub(4))
                .unwrap_or_default()
                .to_vec(),
        );
    }
    out
}

/// Submits every planned document; a step each (a refusal is right only where planned).
fn submit_all(
    setup: &DemoSetup,
    office: &Client,
    steps: &mut Vec<Step>,
    docs: &mut Vec<DocRow>,
) -> Result<Vec<Pending>, CliError> {
    let mut submitted = Vec::new();
    for p in &PLAN {
        let xml = new_doc(&setup.dir, p)?;
        let t0 = Instant::now();
        let r = office
            .post("/api/v1/documents", "application/xml", &xml)
            .map_err(CliError::invalid)?;
        let j = r.json();
        let level = Some(text(&j, "level")).filter(|l| !l.is_empty());
        let mut row = DocRow {
            from: "HU.CHAUTHANH".into(),
            to: p.to.into(),
            level: level.unwrap_or(p.level).to_owned(),
            priority: p.priority,
            title: p.name.into(),
            ..DocRow::default()
        };
        if r.status == 202 {
            row.id = text(&j, "message_id").to_owned();
            row.status = "queued".into();
            submitted.push((row.id.clone(), t0, docs.len()));
            steps.push(Step {
                name: format!("submit {}", p.name),
                ok: p.expect_ok,
                detail: format!("202 accepted, effective level {}", row.level),
            });
        } else {
            let reason = text(&j, "detail").to_owned();
            row.status = format!("refused {}", r.status);
            row.refused_reason = Some(reason.clone());
            steps.push(Step {
                name: format!("submit {}", p.name),
                ok: !p.expect_ok && r.status == 422,
                detail: format!("{} {}: {reason}", r.status, text(&j, "type")),
            });
        }
        docs.push(row);
    }
    Ok(submitted)
}

/// Long-polls the province's and the central office's inboxes until every submitted document
/// arrived (or 60 s passed): each is fetched, verified, acknowledged and reported handled.
fn receive_all(
    setup: &DemoSetup,
    mut pending: Vec<Pending>,
    steps: &mut Vec<Step>,
    docs: &mut [DocRow],
) -> Result<(), CliError> {
    let mut trust = TrustStore::new();
    trust
        .add_anchors_pem_file(&setup.root_pem)
        .map_err(CliError::usage)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() && Instant::now() < deadline {
        for role in ["province", "central"] {
            let rcv = client(setup, role, "receive")?;
            let list = rcv
                .get("/api/v1/inbox?limit=100&wait=2")
                .map_err(CliError::invalid)?
                .json();
            for id in texts(&list, "documents", "message_id") {
                let Some(pos) = pending.iter().position(|(p, _, _)| *p == id) else {
                    continue;
                };
                let (_, t0, row) = pending.remove(pos);
                if let Some(r) = docs.get_mut(row) {
                    steps.push(receive_one(&rcv, &trust, role, &id, t0, r)?);
                }
            }
        }
    }
    for (id, _, row) in pending {
        steps.push(Step {
            name: format!(
                "receive {}",
                docs.get(row).map(|r| r.title.clone()).unwrap_or_default()
            ),
            ok: false,
            detail: format!("{id} did not arrive within 60 s"),
        });
    }
    Ok(())
}

/// One arrival at `role`'s receiving system: fetch, verify, acknowledge, report 06.
fn receive_one(
    rcv: &Client,
    trust: &TrustStore,
    role: &str,
    id: &str,
    t0: Instant,
    r: &mut DocRow,
) -> Result<Step, CliError> {
    let delivered_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    let fetched = rcv
        .get(&format!("/api/v1/inbox/{id}"))
        .map_err(CliError::invalid)?;
    let meta = rcv
        .get(&format!("/api/v1/inbox/{id}/meta"))
        .map_err(CliError::invalid)?
        .json();
    let verified = verify(&fetched.body, trust, &VerifyOptions::now());
    let ack = rcv
        .post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b"")
        .map_err(CliError::invalid)?;
    // The receiving system reports the document handled (06); 03 went with the ack.
    let _ = rcv
        .post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/json",
            r#"{"code":"06","note":"Đã xử lý xong"}"#.as_bytes(),
        )
        .map_err(CliError::invalid)?;
    r.delivered_ms = Some(delivered_ms);
    r.hops = texts(&meta, "trace", "organ");
    r.hops.push(role_organ(role));
    match &verified {
        Ok(v) => r.signer = v.signer().organ().to_owned(),
        Err(e) => r.signer = format!("INVALID: {e}"),
    }
    r.status = if ack.status == 200 {
        "received, verified, acknowledged".into()
    } else {
        format!("ack failed {}", ack.status)
    };
    Ok(Step {
        name: format!("receive {}", r.title),
        ok: verified.is_ok() && ack.status == 200,
        detail: format!(
            "{role} inbox after {delivered_ms} ms via {}; signature {}",
            r.hops.join(" → "),
            if verified.is_ok() { "valid" } else { "INVALID" }
        ),
    })
}

/// The sender's view of one document: statuses 03 and 06 back (they travel hop by hop: up to
/// 20 s), and every recipient delivered.
fn follow(office: &Client, row: &mut DocRow, steps: &mut Vec<Step>) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (st, codes, both) = loop {
        let st = office
            .get(&format!("/api/v1/documents/{}", row.id))
            .map_err(CliError::invalid)?
            .json();
        let codes = texts(&st, "statuses", "code");
        let both = codes.iter().any(|c| c == "03") && codes.iter().any(|c| c == "06");
        if both || Instant::now() > deadline {
            break (st, codes, both);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !codes.is_empty() {
        row.status = format!("delivered; statuses {} back at sender", codes.join(", "));
    }
    steps.push(Step {
        name: format!("statuses {}", row.title),
        ok: both,
        detail: format!("sender received statuses: {}", codes.join(", ")),
    });
    let states = texts(&st, "recipients", "state");
    steps.push(Step {
        name: format!("track {}", row.title),
        ok: states.iter().all(|s| s == "delivered"),
        detail: format!("sender sees: {}", states.join(", ")),
    });
    Ok(())
}

/// The province's public portal lists public procedures and none that is secret or unpublished.
fn check_portal(setup: &DemoSetup, steps: &mut Vec<Step>) -> Result<(), CliError> {
    let portal = Client::new(
        &setup.root_pem,
        &setup
            .gateway("province")
            .map(|g| g.api_url.clone())
            .unwrap_or_default(),
        None,
    )
    .map_err(CliError::usage)?;
    let listed = portal
        .get("/public/v1/procedures")
        .map_err(CliError::invalid)?;
    let page = portal.get("/portal").map_err(CliError::invalid)?.text();
    let catalog = lienthong::policy::Catalog::parse(lienthong::demo::CATALOG_TOML, "catalog")
        .map_err(CliError::usage)?;
    let codes = texts(&listed.json(), "procedures", "code");
    let secret: Vec<&lienthong::policy::Procedure> = catalog
        .all()
        .filter(|p| !p.public || p.level != lienthong::doc::label::Level::Thuong)
        .collect();
    let leaked: Vec<&str> = secret
        .iter()
        .filter(|p| codes.contains(&p.code) || page.contains(&p.name))
        .map(|p| p.code.as_str())
        .collect();
    steps.push(Step {
        name: "portal".into(),
        ok: listed.status == 200 && !codes.is_empty() && leaked.is_empty(),
        detail: format!(
            "{} public procedures listed; {} secret or unpublished ones absent{}",
            codes.len(),
            secret.len(),
            if leaked.is_empty() {
                String::new()
            } else {
                format!("; LEAKED: {}", leaked.join(", "))
            }
        ),
    });
    Ok(())
}

fn role_organ(role: &str) -> String {
    match role {
        "central" => "VPTW",
        "province" => "TU.BENTRE",
        _ => "HU.CHAUTHANH",
    }
    .to_owned()
}

fn print_report(report: &Report, setup: &DemoSetup) {
    println!();
    println!(
        "{:<20} {:<27} {:<8} {:<4} {:<32} {:<13} {:>6}  status",
        "document", "from → to", "level", "prio", "hops", "signed by", "ms"
    );
    for d in &report.documents {
        println!(
            "{:<20} {:<27} {:<8} {:<4} {:<32} {:<13} {:>6}  {}",
            d.title,
            format!("{} → {}", d.from, d.to),
            d.level,
            d.priority,
            if d.hops.is_empty() {
                "-".to_owned()
            } else {
                d.hops.join("→")
            },
            if d.signer.is_empty() {
                "-"
            } else {
                d.signer.as_str()
            },
            d.delivered_ms
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            match &d.refused_reason {
                Some(r) => format!("{}: {r}", d.status),
                None => d.status.clone(),
            }
        );
    }
    println!();
    let failed: Vec<_> = report.steps.iter().filter(|s| !s.ok).collect();
    if failed.is_empty() {
        println!("all {} steps behaved as expected.", report.steps.len());
    } else {
        for s in failed {
            println!("FAILED {}: {}", s.name, s.detail);
        }
    }
    println!();
    println!("where to look next:");
    println!("  demo directory : {}", setup.dir.display());
    println!("  tokens and URLs: {}/demo.json", setup.dir.display());
    println!(
        "  gateway logs   : {}/<central|province|district>.log",
        setup.dir.display()
    );
    println!(
        "  verify a file  : lienthong verify --trust {} FILE.xml",
        setup.root_pem.display()
    );
    println!(
        "  audit log      : lienthong audit verify --data {}/province/data --trust {}",
        setup.dir.display(),
        setup.root_pem.display()
    );
    if let Some(p) = setup.gateway("province") {
        println!(
            "  public portal  : {}/portal (with --keep-running)",
            p.api_url
        );
    }
    println!("  run it again   : lienthong demo --keep-running");
}

fn print_keep_running(setup: &DemoSetup) {
    println!();
    println!("the gateways keep running; Ctrl-C stops them.");
    for g in &setup.gateways {
        println!("{} ({}): {}", g.role, g.organ, g.api_url);
        println!(
            "  curl --cacert {} -H 'Authorization: Bearer {}' {}/api/v1/inbox?wait=30",
            setup.root_pem.display(),
            g.tokens.receive,
            g.api_url
        );
    }
    if let Some(d) = setup.gateway("district") {
        println!(
            "  submit: curl --cacert {} -H 'Authorization: Bearer {}' -H 'Content-Type: application/xml' --data-binary @{}/documents/nghi-quyet.xml {}/api/v1/documents",
            setup.root_pem.display(),
            d.tokens.submit,
            setup.dir.display(),
            d.api_url
        );
    }
}
