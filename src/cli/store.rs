//! `lienthong store copy`: a sled store into PostgreSQL, resumable and verified.
//! `lienthong store migrate`: a PostgreSQL store's schema brought to this binary's version.
//! `lienthong store check`: every stored document read back against its record (size and
//! SHA-256), every index entry's record looked up, and the audit chain verified — offline on
//! the store's directory, or online through the running gateway's admin API.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;
use lienthong::config::{Config, StoreEngine};
use lienthong::store::copy::copy_sled_to_postgres;
use lienthong::store::{PgStore, ScrubReport, SledStore, StoreLimits};

/// `lienthong store …`
#[derive(Subcommand, Debug)]
pub(crate) enum StoreCommand {
    /// Scrub the store: documents, indexes, audit chain. Exit 0 clean, 1 any fault (each
    /// named), 2 usage or a store that cannot be opened.
    Check(CheckArgs),
    /// Bring a PostgreSQL store's schema to this binary's version (idempotent; also done at
    /// every start). Exit 0 done, 2 usage, a sled store, or a database that cannot be reached.
    Migrate(MigrateArgs),
    /// Copy a sled store into a PostgreSQL one (both gateways stopped): resumable (run it
    /// again after an interruption), then every copied document read back and compared.
    /// Exit 0 complete, 1 incomplete (named), 2 usage or a store that cannot be opened.
    Copy(CopyArgs),
}

/// Arguments of `lienthong store copy`.
#[derive(Args, Debug)]
pub(crate) struct CopyArgs {
    /// The config of the gateway whose sled store is copied.
    #[arg(long, value_name = "CONFIG")]
    from: PathBuf,
    /// The config of the same organ's gateway on PostgreSQL (`[store] engine = "postgres"`).
    #[arg(long, value_name = "CONFIG")]
    to: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `lienthong store migrate`.
#[derive(Args, Debug)]
pub(crate) struct MigrateArgs {
    /// The gateway's config file (`[store] engine = "postgres"`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Arguments of `lienthong store check`.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The gateway's config file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Ask the running gateway to check (its API, admin role) instead of opening the store.
    #[arg(long)]
    online: bool,
    /// File holding an admin client's bearer token (with --online; or LIENTHONG_TOKEN).
    #[arg(long, value_name = "FILE", requires = "online")]
    token_file: Option<PathBuf>,
    /// The CA certificate (PEM) of the API's TLS certificate (with --online; default: the
    /// config's first trust anchor).
    #[arg(long, value_name = "FILE", requires = "online")]
    ca: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(c: StoreCommand) -> Result<(), CliError> {
    match c {
        StoreCommand::Check(a) => run_check(&a),
        StoreCommand::Migrate(a) => run_migrate(&a),
        StoreCommand::Copy(a) => run_copy(&a),
    }
}

fn run_copy(a: &CopyArgs) -> Result<(), CliError> {
    let from = Config::load(&a.from).map_err(CliError::usage)?;
    let to = Config::load(&a.to).map_err(CliError::usage)?;
    if from.store.engine != StoreEngine::Sled || to.store.engine != StoreEngine::Postgres {
        return Err(CliError::usage(
            "store copy copies a sled store (--from) into a PostgreSQL one (--to)",
        ));
    }
    if from.organ != to.organ {
        return Err(CliError::usage(format!(
            "--from is organ {} and --to is organ {}: a store is copied to the same organ",
            from.organ, to.organ
        )));
    }
    let dir = from.store_dir();
    if !dir.is_dir() {
        return Err(CliError::usage(format!("no store at {}", dir.display())));
    }
    let source = SledStore::open(&dir, StoreLimits::default()).map_err(|e| {
        CliError::usage(format!(
            "cannot open {} ({e}); stop its gateway first",
            dir.display()
        ))
    })?;
    let options = lienthong::app::pg_options(&to).map_err(CliError::usage)?;
    let target = PgStore::open(&options, StoreLimits::default()).map_err(CliError::usage)?;
    let report = copy_sled_to_postgres(&source, &target).map_err(CliError::usage)?;
    if a.json {
        println!("{}", serde_json::json!(report));
    } else {
        println!(
            "copied {} messages ({} were there already), {} outbox entries, {} queued status \
             events, {} archived records",
            report.messages_copied,
            report.messages_present,
            report.outbox_copied,
            report.statuses_queued_copied,
            report.archived_copied
        );
        println!(
            "verified {} of {} messages read back with the source's SHA-256; target holds {}",
            report.verified, report.source_messages, report.target_messages
        );
        for id in &report.altered {
            println!("not copied: {id}: its document is altered in the source (store check)");
        }
    }
    if report.is_complete() {
        Ok(())
    } else {
        Err(CliError::invalid("the copy is incomplete (see above)"))
    }
}

fn run_migrate(a: &MigrateArgs) -> Result<(), CliError> {
    let config = Config::load(&a.config).map_err(CliError::usage)?;
    if config.store.engine != StoreEngine::Postgres {
        return Err(CliError::usage(
            "this gateway's store is sled ([store] engine): it has no schema to migrate",
        ));
    }
    let options = lienthong::app::pg_options(&config).map_err(CliError::usage)?;
    let done = PgStore::migrate(&options).map_err(|e| {
        CliError::usage(format!("cannot migrate the store at {}: {e}", options.url))
    })?;
    if done.from == done.to {
        println!("schema at version {} already; nothing to do", done.to);
    } else {
        println!("schema migrated from version {} to {}", done.from, done.to);
    }
    Ok(())
}

fn run_check(a: &CheckArgs) -> Result<(), CliError> {
    let config = Config::load(&a.config).map_err(CliError::usage)?;
    let report = if a.online {
        online(&config, a)?
    } else {
        offline(&config)?
    };
    let audit = audit_chain(&config);
    if a.json {
        let value = serde_json::json!({ "store": &report, "audit": audit.as_ref().err() });
        println!("{value}");
    } else {
        print_report(&report, audit.as_ref().err());
    }
    if report.is_clean() && audit.is_ok() {
        Ok(())
    } else {
        Err(CliError::invalid(
            "the store check found faults (listed above)",
        ))
    }
}

/// Opens the store itself (the gateway must be stopped: sled holds a lock).
fn offline(config: &Config) -> Result<ScrubReport, CliError> {
    let dir = config.store_dir();
    if config.store.engine == StoreEngine::Sled && !dir.is_dir() {
        return Err(CliError::usage(format!("no store at {}", dir.display())));
    }
    let store = lienthong::app::open_store(config, StoreLimits::default()).map_err(|e| {
        CliError::usage(format!(
            "cannot open the store ({e}); if the gateway is running on sled, use --online"
        ))
    })?;
    store.scrub().map_err(CliError::usage)
}

/// Asks the running gateway (`POST /api/v1/admin/store/check`).
fn online(config: &Config, a: &CheckArgs) -> Result<ScrubReport, CliError> {
    let token = match &a.token_file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| CliError::usage(format!("{}: {e}", f.display())))?
            .trim()
            .to_owned(),
        None => std::env::var("LIENTHONG_TOKEN")
            .map_err(|_| CliError::usage("--online needs --token-file or LIENTHONG_TOKEN"))?,
    };
    let ca = match &a.ca {
        Some(c) => c.clone(),
        None => config
            .trust
            .anchors
            .first()
            .cloned()
            .ok_or_else(|| CliError::usage("no trust anchor in the config: give --ca"))?,
    };
    let mut addr = config.listen.api;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = lienthong::client::Client::new(&ca, &format!("https://{addr}"), Some(&token))
        .map_err(CliError::usage)?;
    let resp = client
        .post("/api/v1/admin/store/check", "application/json", b"")
        .map_err(|e| CliError::usage(format!("the gateway at {addr} did not answer: {e}")))?;
    if resp.status != 200 {
        return Err(CliError::usage(format!(
            "the gateway at {addr} answered {}: {}",
            resp.status,
            resp.text()
        )));
    }
    serde_json::from_slice(&resp.body).map_err(|e| CliError::usage(format!("the report: {e}")))
}

/// The audit log's hash chain (checkpoint signatures are `lienthong audit verify --trust`'s).
fn audit_chain(config: &Config) -> Result<(), String> {
    let path = lienthong::audit::log_path(&config.data_dir);
    if !path.is_file() {
        return Ok(());
    }
    lienthong::audit::verify_dir(&config.data_dir, None)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn print_report(r: &ScrubReport, audit: Option<&String>) {
    println!(
        "documents checked: {} ({} bytes; {} from before digests, size only)",
        r.documents, r.bytes, r.without_digest
    );
    for q in &r.altered {
        println!(
            "ALTERED  message {}: {} (quarantined)",
            q.id,
            q.fault.as_str()
        );
    }
    for d in &r.unreadable {
        println!("UNREADABLE  {} record {}", d.index, d.key);
    }
    for d in &r.dangling {
        println!("DANGLING  {} entry {} names no record", d.index, d.key);
    }
    if r.orphans > 0 {
        println!(
            "ORPHANS  {} document files named by no record, kept for review in {}",
            r.orphans, r.orphans_dir
        );
    }
    if r.released > 0 {
        println!(
            "released from quarantine (found whole again): {}",
            r.released
        );
    }
    match audit {
        Some(e) => println!("AUDIT  {e}"),
        None => println!("audit chain: intact"),
    }
    if r.is_clean() && audit.is_none() {
        println!("store check: clean");
    }
}
