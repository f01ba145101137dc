//! `lienthong serve --config FILE`: runs a gateway until SIGTERM or SIGINT, then shuts down
//! gracefully (stop accepting, finish in-flight work, flush) and exits 0.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use lienthong::config::Config;
use lienthong::policy::Catalog;

/// Arguments of `lienthong serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The gateway configuration (TOML).
    #[arg(long)]
    config: PathBuf,
}

/// Logs go to stderr; `LIENTHONG_LOG` sets the filter (default `info`).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIENTHONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

pub(crate) fn run(a: ServeArgs) -> Result<(), CliError> {
    init_logging();
    let config = Config::load(&a.config).map_err(CliError::usage)?;
    let catalog = Catalog::load(&config.catalog).map_err(CliError::usage)?;
    let keys = lienthong::gateway::keys::load(&config).map_err(CliError::usage)?;
    let rt = lienthong::app::runtime()
        .map_err(|e| CliError::usage(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let running = lienthong::app::start(config, keys, catalog)
            .await
            .map_err(CliError::usage)?;
        // One machine-readable line on stdout: tests, the demo and supervisors wait for it.
        println!(
            "{}",
            serde_json::json!({
                "ready": true,
                "api": format!("https://{}", running.api_addr),
                "exchange": format!("https://{}", running.exchange_addr),
            })
        );
        wait_for_signal(running.reloader()).await;
        tracing::info!("shutting down");
        running.shutdown().await;
        Ok(())
    })
}

/// Waits for SIGTERM or SIGINT; on SIGHUP re-reads the CRL files and the encryption
/// certificates, and keeps running.
async fn wait_for_signal(reloader: lienthong::app::Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    let mut staple = tokio::time::interval(lienthong::app::STAPLE_REFRESH);
    staple.tick().await; // the first tick is now: the staple was fetched at start
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = staple.tick(), if reloader.staples() => {
                let r = reloader.clone();
                match tokio::task::spawn_blocking(move || r.refresh_staple()).await {
                    Ok(Ok(true)) => tracing::info!("OCSP staple refreshed"),
                    Ok(Ok(false)) => tracing::warn!("OCSP staple not refreshed; keeping the one in use"),
                    Ok(Err(e)) => tracing::error!(error = %e, "OCSP staple refresh refused"),
                    Err(e) => tracing::error!(error = %e, "OCSP staple refresh failed"),
                }
            }
            _ = hup.recv() => match reloader.reload_crls() {
                Ok(n) => tracing::info!(crls = n, "CRLs reloaded, encryption certificates re-checked"),
                Err(e) => tracing::error!(error = %e, "CRL reload refused; keeping the previous lists"),
            },
        }
    }
}
