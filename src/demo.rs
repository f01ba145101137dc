//! `lienthong demo setup`: a ready three-gateway setup on loopback — a central, a provincial and
//! a district committee office — with a demo PKI, keystores, API tokens, routes district →
//! province → central, and one config per gateway. The tests, the benchmark and the quickstart
//! all build on it. **Demo keys and tokens only: the passphrase is written beside them.**

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::gateway::caller::{new_token, token_hash_hex};
use crate::pki::demo::{DemoOptions, generate};
use crate::pki::{Passphrase, PkiError};

/// The procedure catalog shipped with lienthong, written into every demo.
pub const CATALOG_TOML: &str = include_str!("../config/procedures.toml");

/// The signed organ directory every demo gateway seals `mat` documents by (issued by VPTW).
pub const DIRECTORY_FILE: &str = "organ-directory.json";

/// The demo passphrase (public: demo keys are never production keys).
pub const DEMO_PASSPHRASE: &str = "lienthong-demo-only";

/// One demo gateway.
#[derive(Clone, Copy, Debug)]
struct Office {
    role: &'static str,
    organ: &'static str,
    name: &'static str,
}

const OFFICES: [Office; 3] = [
    Office {
        role: "central",
        organ: "VPTW",
        name: "Văn phòng Trung ương Đảng",
    },
    Office {
        role: "province",
        organ: "TU.BENTRE",
        name: "Văn phòng Tỉnh ủy Bến Tre",
    },
    Office {
        role: "district",
        organ: "HU.CHAUTHANH",
        name: "Văn phòng Huyện ủy Châu Thành",
    },
];

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The directory already holds a demo.
    #[error("{0} is not empty: demo setup writes into a fresh directory")]
    NotEmpty(String),
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// No free loopback port.
    #[error("no free loopback port: {0}")]
    Port(String),
    /// The PKI could not be made.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The demo passphrase was refused.
    #[error(transparent)]
    Keystore(#[from] crate::pki::KeystoreError),
    /// The organ directory could not be signed.
    #[error("organ directory: {0}")]
    Directory(String),
    /// Randomness failed.
    #[error("the system random source failed")]
    Random,
}

/// Tokens of one gateway, per role.
#[derive(Clone, Debug, Serialize)]
pub struct Tokens {
    /// Submit documents and follow them.
    pub submit: String,
    /// Poll, fetch, acknowledge, report status.
    pub receive: String,
    /// Operate.
    pub admin: String,
}

/// One gateway of the demo, as `demo setup --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct DemoGateway {
    /// `central`, `province` or `district`.
    pub role: String,
    /// Organ id.
    pub organ: String,
    /// Organ name.
    pub name: String,
    /// `https://127.0.0.1:PORT` of the office/inbox API.
    pub api_url: String,
    /// `https://127.0.0.1:PORT` of the exchange.
    pub exchange_url: String,
    /// The config file.
    pub config: PathBuf,
    /// One token per role.
    pub tokens: Tokens,
}

/// The whole demo.
#[derive(Clone, Debug, Serialize)]
pub struct DemoSetup {
    /// The demo directory.
    pub dir: PathBuf,
    /// The trust anchor (for `verify --trust` and curl `--cacert`).
    pub root_pem: PathBuf,
    /// The gateways: central, province, district.
    pub gateways: Vec<DemoGateway>,
}

impl DemoSetup {
    /// The gateway of `role`.
    pub fn gateway(&self, role: &str) -> Option<&DemoGateway> {
        self.gateways.iter().find(|g| g.role == role)
    }
}

/// Options of [`setup`].
#[derive(Clone, Debug, Default)]
pub struct SetupOptions {
    /// First of six consecutive ports; `None` picks free ports.
    pub base_port: Option<u16>,
    /// PBKDF2 iterations for the demo keys (`None`: the production default, 600,000).
    /// Tests lower it to stay fast.
    pub pbkdf2_iterations: Option<u32>,
}

fn free_port() -> Result<u16, DemoError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| DemoError::Port(e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| DemoError::Port(e.to_string()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DemoError::Write {
            path: parent.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    std::fs::write(path, bytes).map_err(|e| DemoError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// Writes a fresh demo into `dir`.
pub fn setup(dir: &Path, options: &SetupOptions) -> Result<DemoSetup, DemoError> {
    // An empty demo directory, by its canonical path.
    let dir = fresh_dir(dir)?;
    // The demo PKI, the passphrase, the signed organ directory and the catalog.
    let pki = write_pki(&dir, options)?;
    // Two loopback ports per office: its API, then its exchange.
    let ports = pick_ports(options.base_port)?;
    // One config with its tokens per office.
    let mut gateways = Vec::new();
    for (i, office) in OFFICES.iter().enumerate() {
        gateways.push(write_gateway(&dir, &ports, i, office)?);
    }
    // The whole demo, also written as demo.json.
    let setup = DemoSetup {
        dir: dir.clone(),
        root_pem: pki.root_pem.clone(),
        gateways,
    };
    let json = serde_json::to_vec_pretty(&setup).unwrap_or_default();
    write(&dir.join("demo.json"), &json)?;
    Ok(setup)
}

/// Creates `dir`, refusing one that holds anything, and returns its canonical path.
fn fresh_dir(dir: &Path) -> Result<PathBuf, DemoError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Err(DemoError::NotEmpty(dir.display().to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|e| DemoError::Write {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    dir.canonicalize().map_err(|e| DemoError::Write {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })
}

/// Generates the demo PKI under `dir/pki` and writes the passphrase, the organ directory
/// signed by the central office and the procedure catalog beside it.
fn write_pki(dir: &Path, options: &SetupOptions) -> Result<crate::pki::demo::DemoPki, DemoError> {
    let passphrase = Passphrase::new(DEMO_PASSPHRASE.to_owned())?;
    let mut opts = DemoOptions::new(
        passphrase,
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
    );
    if let Some(i) = options.pbkdf2_iterations {
        opts.pbkdf2_iterations = i;
    }
    let organs: Vec<(&str, &str)> = OFFICES.iter().map(|o| (o.organ, o.name)).collect();
    let pki = generate(&dir.join("pki"), &organs, &opts)?;
    write(&dir.join("passphrase"), DEMO_PASSPHRASE.as_bytes())?;
    sign_directory(&pki, &opts.passphrase, &dir.join(DIRECTORY_FILE))?;
    write(&dir.join("procedures.toml"), CATALOG_TOML.as_bytes())?;
    Ok(pki)
}

/// Six consecutive ports from `base`, or six free ones.
fn pick_ports(base: Option<u16>) -> Result<Vec<u16>, DemoError> {
    let mut ports = Vec::new();
    for i in 0..6u16 {
        ports.push(match base {
            Some(b) => b.saturating_add(i),
            None => free_port()?,
        });
    }
    Ok(ports)
}

/// The loopback address of port number `i` of `ports`.
fn loopback(ports: &[u16], i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ports.get(i).copied().unwrap_or(0)))
}

/// Makes the tokens of office number `i` and writes its `gateway.toml`.
fn write_gateway(
    dir: &Path,
    ports: &[u16],
    i: usize,
    office: &Office,
) -> Result<DemoGateway, DemoError> {
    let api = loopback(ports, 2 * i);
    let exchange = loopback(ports, 2 * i + 1);
    let tokens = Tokens {
        submit: new_token().map_err(|_| DemoError::Random)?,
        receive: new_token().map_err(|_| DemoError::Random)?,
        admin: new_token().map_err(|_| DemoError::Random)?,
    };
    let toml = gateway_toml(office, api, exchange, ports, &tokens);
    let config = dir.join(office.role).join("gateway.toml");
    write(&config, toml.as_bytes())?;
    Ok(DemoGateway {
        role: office.role.to_owned(),
        organ: office.organ.to_owned(),
        name: office.name.to_owned(),
        api_url: format!("https://{api}"),
        exchange_url: format!("https://{exchange}"),
        config,
        tokens,
    })
}

/// The `gateway.toml` of `office`: its listeners, keys, trust, peers, routes and clients.
fn gateway_toml(
    office: &Office,
    api: SocketAddr,
    exchange: SocketAddr,
    ports: &[u16],
    tokens: &Tokens,
) -> String {
    let exchange_of = |organ: &str| {
        OFFICES
            .iter()
            .position(|o| o.organ == organ)
            .map(|j| format!("https://{}", loopback(ports, 2 * j + 1)))
            .unwrap_or_default()
    };
    // district ↔ province ↔ central; every link cleared for mat.
    let (peers, routes): (Vec<&str>, Vec<(&str, &str)>) = match office.role {
        "central" => (vec!["TU.BENTRE"], vec![("default", "TU.BENTRE")]),
        "province" => (vec!["VPTW", "HU.CHAUTHANH"], vec![("default", "VPTW")]),
        _ => (vec!["TU.BENTRE"], vec![("default", "TU.BENTRE")]),
    };
    let mut toml = format!(
        "# lienthong demo gateway: {name}. Demo keys only.\n\
         organ = \"{organ}\"\norgan_name = \"{name}\"\ndata_dir = \"data\"\n\
         catalog = \"../procedures.toml\"\n\n\
         [listen]\napi = \"{api}\"\nexchange = \"{exchange}\"\n\n\
         [keys]\nkeystore = \"../pki/{organ}\"\nsigning = \"signing\"\ntls = \"tls\"\nreceipts = \"receipts\"\n\
         encryption = [\"encryption\"]\npassphrase_file = \"../passphrase\"\n\n\
         [trust]\nanchors = [\"../pki/root.pem\"]\ncrls = [\"../pki/crl.pem\"]\n\n\
         [encryption]\ndirectory = \"../{DIRECTORY_FILE}\"\ndirectory_issuer = \"VPTW\"\n\n\
         [retry]\ninitial_ms = 100\nmax_ms = 5000\nmax_attempts = 30\n",
        name = office.name,
        organ = office.organ,
    );
    for p in &peers {
        toml.push_str(&format!(
            "\n[[peers]]\norgan = \"{p}\"\nurl = \"{}\"\nclearance = \"mat\"\n",
            exchange_of(p)
        ));
    }
    toml.push_str("\n[routes]\n");
    for (dest, hop) in &routes {
        toml.push_str(&format!("\"{dest}\" = \"{hop}\"\n"));
    }
    for (role, token) in [
        ("submit", &tokens.submit),
        ("receive", &tokens.receive),
        ("admin", &tokens.admin),
    ] {
        toml.push_str(&format!(
            "\n[[clients]]\nname = \"{}-{role}\"\norgan = \"{}\"\nroles = [\"{role}\"]\n\
             token_sha256 = \"{}\"\nclearance = \"mat\"\n",
            office.role,
            office.organ,
            token_hash_hex(token)
        ));
    }
    toml
}

/// Signs the demo's organ directory as the central office (VPTW) would: every organ's
/// encryption certificate, serial 1.
fn sign_directory(
    pki: &crate::pki::demo::DemoPki,
    passphrase: &Passphrase,
    out: &Path,
) -> Result<(), DemoError> {
    use crate::gateway::directory::{DirectoryBody, SignedDirectory};
    let fail = |e: &dyn std::fmt::Display| DemoError::Directory(e.to_string());
    let central = pki
        .organs
        .iter()
        .find(|o| o.id == "VPTW")
        .ok_or_else(|| DemoError::Directory("no VPTW organ".into()))?;
    let signer = crate::pki::load_signer("signing", Some(&central.dir), Some(passphrase))?;
    let chain_of = |p: &Path| -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, DemoError> {
        let pem = std::fs::read(p).map_err(|e| fail(&e))?;
        crate::tls::certs_from_pem(&pem, &p.display().to_string()).map_err(|e| fail(&e))
    };
    let chain = chain_of(&central.signing.cert_pem)?;
    let chains = pki
        .organs
        .iter()
        .map(|o| Ok((o.id.clone(), chain_of(&o.encryption.cert_pem)?)))
        .collect::<Result<Vec<_>, DemoError>>()?;
    let body = DirectoryBody::of_chains(&central.id, 1, &chains).map_err(|e| fail(&e))?;
    let signed = SignedDirectory::sign(&body, signer.as_ref(), &chain).map_err(|e| fail(&e))?;
    let text = serde_json::to_vec_pretty(&signed).map_err(|e| fail(&e))?;
    write(out, &text)
}
