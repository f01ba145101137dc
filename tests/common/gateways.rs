//! Real gateways for tests: `demo setup` into a temp dir, then `lienthong serve` child processes
//! on loopback with real TLS and real sled stores on disk.
#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lienthong::client::{Client, Response};
use lienthong::demo::{DemoGateway, DemoSetup, SetupOptions, setup};

pub struct Demo {
    pub dir: tempfile::TempDir,
    pub setup: DemoSetup,
    children: Vec<(String, Child)>,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lienthong"))
}

impl Demo {
    /// A demo directory; no gateway started yet.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let setup = setup(
            &dir.path().join("demo"),
            &SetupOptions {
                base_port: None,
                // Demo keys in tests: fast KDF (documented test-only knob).
                pbkdf2_iterations: Some(1_000),
            },
        )
        .unwrap();
        Self {
            dir,
            setup,
            children: Vec::new(),
        }
    }

    pub fn gw(&self, role: &str) -> &DemoGateway {
        self.setup.gateway(role).unwrap()
    }

    /// Starts `lienthong serve` for `role` and waits for its ready line.
    pub fn start(&mut self, role: &str) {
        self.start_with_env(role, &[]);
    }

    /// [`Demo::start`] with environment variables set (`None`: removed).
    pub fn start_with_env(&mut self, role: &str, env: &[(&str, Option<&str>)]) {
        let config = self.gw(role).config.clone();
        self.start_config(role, &config, env);
    }

    /// Starts `lienthong serve --config CONFIG` under the name `name` (a second node of a
    /// gateway, say), logging to `<name>.log`; [`Demo::kill9`] and the others take that name.
    pub fn start_config(&mut self, role: &str, config: &Path, env: &[(&str, Option<&str>)]) {
        let log = self.dir.path().join(format!("{role}.log"));
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = Command::new(bin());
        for (k, v) in env {
            match v {
                Some(v) => command.env(k, v),
                None => command.env_remove(k),
            };
        }
        let mut child = command
            .args(["serve", "--config"])
            .arg(config)
            .env("LIENTHONG_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(logf)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{role} did not start; log:\n{}", self.log(role)));
        assert!(
            line.contains("\"ready\":true"),
            "{role} did not start: {line}\n{}",
            self.log(role)
        );
        self.children.push((role.to_owned(), child));
    }

    pub fn start_all(&mut self) {
        for r in ["central", "province", "district"] {
            self.start(r);
        }
    }

    /// The process id of a running gateway.
    pub fn pid(&self, role: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, c)| c.id())
    }

    /// SIGKILL (kill -9) a gateway.
    pub fn kill9(&mut self, role: &str) {
        if let Some(i) = self.children.iter().position(|(r, _)| r == role) {
            let (_, mut c) = self.children.remove(i);
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM a gateway and wait for a clean exit; returns its exit code.
    pub fn stop(&mut self, role: &str) -> Option<i32> {
        let i = self.children.iter().position(|(r, _)| r == role)?;
        let (_, mut c) = self.children.remove(i);
        let pid = c.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s.code();
            }
            if Instant::now() > deadline {
                c.kill().unwrap();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (e.g. `HUP`) to a running gateway.
    pub fn signal(&self, role: &str, sig: &str) {
        let (_, c) = self.children.iter().find(|(r, _)| r == role).unwrap();
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(c.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {role}");
    }

    pub fn log(&self, role: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{role}.log"))).unwrap_or_default()
    }

    /// Cryptography staff at the demo CA: `lienthong pki ARGS --ca <demo>/pki`.
    pub fn ca(&self, args: &[&str]) {
        let out = Command::new(bin())
            .arg("pki")
            .args(args)
            .arg("--ca")
            .arg(self.setup.dir.join("pki"))
            .env("LIENTHONG_PASSPHRASE", lienthong::demo::DEMO_PASSPHRASE)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn root(&self) -> &Path {
        &self.setup.root_pem
    }

    /// An API client of `role` with the token of `token_role` (`submit`, `receive`, `admin`).
    pub fn client(&self, role: &str, token_role: &str) -> Client {
        let g = self.gw(role);
        let token = match token_role {
            "submit" => Some(g.tokens.submit.as_str()),
            "receive" => Some(g.tokens.receive.as_str()),
            "admin" => Some(g.tokens.admin.as_str()),
            _ => None,
        };
        Client::new(self.root(), &g.api_url, token).unwrap()
    }

    /// A fresh unsigned envelope from the district, made with `lienthong doc new`.
    pub fn envelope(
        &self,
        to: &[&str],
        level: &str,
        procedure: &str,
        priority: u8,
        subject: &str,
    ) -> Vec<u8> {
        let out = self.dir.path().join(format!("doc-{}.xml", rand_suffix()));
        let mut cmd = Command::new(bin());
        cmd.args(["doc", "new", "--from", "HU.CHAUTHANH"]);
        for t in to {
            cmd.args(["--to", t]);
        }
        cmd.args([
            "--code",
            &format!("{}", 10 + rand_suffix() % 80),
            "--notation",
            "TB/HU",
        ])
        .args([
            "--subject",
            subject,
            "--level",
            level,
            "--procedure",
            procedure,
        ])
        .args(["--priority", &priority.to_string(), "--public", "-o"])
        .arg(&out);
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "doc new: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read(out).unwrap()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) + std::process::id() % 1000
}

/// Polls `f` until it returns Some or the deadline passes.
pub fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn submit(c: &Client, xml: &[u8]) -> Response {
    c.post("/api/v1/documents", "application/xml", xml).unwrap()
}
