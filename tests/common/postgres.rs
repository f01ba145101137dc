//! A real PostgreSQL 15 cluster for the tests, started once per test binary by
//! `scripts/pg-cluster.sh` (initdb as the `postgres` user in a temp dir, unix socket only) and
//! stopped by the script's watchdog when the test process exits. Each store gets a database of
//! its own. Without the binaries (package postgresql-15) the tests fail, naming what is missing.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use lienthong::store::PgOptions;

/// The running cluster: its base URL (`…/lienthong?host=DIR`) and socket directory.
pub struct Cluster {
    pub dir: PathBuf,
    url: String,
    databases: Mutex<HashMap<PathBuf, String>>,
}

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start)
}

fn start() -> Cluster {
    own("pg")
}

/// A cluster of the test's own (say, one it stops and starts again), in `<base>/<name>`.
pub fn own(name: &str) -> Cluster {
    let base = std::env::temp_dir().join(format!("lienthong-pg-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    // The server runs as `postgres`: it must reach its directory.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = base.join(name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster.sh");
    let out = std::process::Command::new(&script)
        .arg("start")
        .arg(&dir)
        .arg(std::process::id().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PostgreSQL is needed for this test and did not start ({}): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    Cluster {
        dir,
        url,
        databases: Mutex::new(HashMap::new()),
    }
}

impl Cluster {
    /// The URL of database `name` (created if new).
    pub fn database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .unwrap()
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .unwrap();
        }
        self.url.replacen("/lienthong?", &format!("/{name}?"), 1)
    }

    /// The database that belongs to a test's directory: the same one whenever the test
    /// reopens the store in that directory.
    pub fn database_for(&self, dir: &Path) -> String {
        let mut known = self.databases.lock().unwrap();
        let n = known.len();
        let name = known
            .entry(dir.to_path_buf())
            .or_insert_with(|| format!("store_{n}"))
            .clone();
        drop(known);
        self.database(&name)
    }

    /// Options for a store on database `url`.
    pub fn options(url: String) -> PgOptions {
        PgOptions {
            url,
            password: None,
            ca_pem: None,
            pool_size: 16,
            node: "test".to_owned(),
        }
    }
}
