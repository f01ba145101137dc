//! A receiving system (the document-management software of a recipient office) in a page:
//! long-polls its gateway's inbox, fetches each document byte for byte, verifies it with
//! `lienthong verify`, acknowledges it (the gateway sends status 03 to the sender) and reports
//! status 06 "completed" — or, when the signature is refused, acknowledges and reports 02 with
//! the verifier's reason. One JSON line per document on stdout.
//!
//! ```sh
//! export LIENTHONG_API=https://127.0.0.1:7302 LIENTHONG_ROOT=/tmp/lt/pki/root.pem
//! export LIENTHONG_TOKEN=…            # a receive token; from the environment, never argv
//! cargo run --example receiving_system -- [--count N] [--wait SECONDS] [--lienthong PATH]
//! ```
//!
//! Delivery to pollers is at-least-once: a crash between fetch and ack means the document is
//! listed again, and the ack is idempotent, so handling must be idempotent too (here: verify
//! again, ack again).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use lienthong::client::{Client, Response};
use serde_json::{Value, json};

struct Options {
    api: String,
    root: PathBuf,
    token: String,
    lienthong: PathBuf,
    /// Stop after this many documents (default: run until killed).
    count: Option<usize>,
    /// Long-poll wait, seconds.
    wait: u64,
    /// Give up after this long without reaching `count` (default: never).
    deadline: Option<Duration>,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        api: env("LIENTHONG_API")?,
        root: PathBuf::from(env("LIENTHONG_ROOT")?),
        token: env("LIENTHONG_TOKEN")?,
        lienthong: PathBuf::from("lienthong"),
        count: None,
        wait: 30,
        deadline: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--count" => o.count = Some(value()?.parse().map_err(|_| "--count N")?),
            "--wait" => o.wait = value()?.parse().map_err(|_| "--wait SECONDS")?,
            "--deadline" => {
                o.deadline = Some(Duration::from_secs(
                    value()?.parse().map_err(|_| "--deadline SECONDS")?,
                ));
            }
            "--lienthong" => o.lienthong = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn ok(r: Result<Response, lienthong::client::ClientError>, what: &str) -> Result<Response, String> {
    let r = r.map_err(|e| format!("{what}: {e}"))?;
    if (200..300).contains(&r.status) {
        Ok(r)
    } else {
        Err(format!("{what}: HTTP {} {}", r.status, r.text()))
    }
}

/// `lienthong verify --trust ROOT FILE --json`: Ok(signer organ) or Err(the refusal).
fn verify(o: &Options, file: &Path) -> Result<String, String> {
    let out = Command::new(&o.lienthong)
        .arg("verify")
        .arg("--trust")
        .arg(&o.root)
        .arg("--json")
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", o.lienthong.display()))?;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if out.status.success() {
        Ok(report
            .pointer("/signer/organ")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned())
    } else {
        let reason = report
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_owned());
        Err(reason)
    }
}

fn handle(o: &Options, c: &Client, dir: &Path, item: &Value) -> Result<Value, String> {
    let id = item
        .get("message_id")
        .and_then(Value::as_str)
        .ok_or("an item without id")?;
    let doc = ok(c.get(&format!("/api/v1/inbox/{id}")), "fetch")?;
    let file = dir.join(format!("{id}.xml"));
    std::fs::write(&file, &doc.body).map_err(|e| format!("{}: {e}", file.display()))?;
    let verified = verify(o, &file);
    ok(
        c.post(&format!("/api/v1/inbox/{id}/ack"), "application/json", b""),
        "ack",
    )?;
    let (code, note) = match &verified {
        Ok(_) => ("06", "Đã xử lý xong".to_owned()),
        Err(reason) => ("02", format!("chữ ký không hợp lệ: {reason}")),
    };
    let body = json!({ "code": code, "note": note }).to_string();
    ok(
        c.post(
            &format!("/api/v1/inbox/{id}/status"),
            "application/json",
            body.as_bytes(),
        ),
        "status",
    )?;
    Ok(json!({
        "message_id": id,
        "document_id": item.get("document_id"),
        "from": item.get("from"),
        "bytes": doc.body.len(),
        "verified": verified.is_ok(),
        "signer": verified.as_ref().ok(),
        "refusal": verified.as_ref().err(),
        "acked": true,
        "status": code,
    }))
}

fn run(o: &Options) -> Result<(), String> {
    let c = Client::new(&o.root, &o.api, Some(&o.token)).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("receiving-system-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let started = Instant::now();
    let mut done = 0usize;
    while o.count.is_none_or(|n| done < n) {
        if o.deadline.is_some_and(|d| started.elapsed() > d) {
            return Err(format!("deadline passed after {done} documents"));
        }
        let list = ok(
            c.get(&format!("/api/v1/inbox?limit=20&wait={}", o.wait)),
            "poll",
        )?
        .json();
        let items = list.get("documents").and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            println!("{}", handle(o, &c, &dir, item)?);
            done += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> ExitCode {
    match options().and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("receiving_system: {e}");
            ExitCode::FAILURE
        }
    }
}
