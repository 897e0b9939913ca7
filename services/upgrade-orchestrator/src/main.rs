//! `obup-orchestrator`: the upgrade orchestrator on its own, configured by
//! env. Until a real cluster driver exists it upgrades the simulated
//! cluster under `OBUP_DATA_DIR/sim`.
//!
//! - `OBUP_LISTEN` (default `127.0.0.1:2887`)
//! - `DATABASE_URL` (default SQLite `OBUP_DATA_DIR/orchestrator.db`)
//! - `OBUP_PACKAGE_STORE_URL` (default `http://127.0.0.1:2886`)
//! - `OBUP_DATA_DIR` (default `./obup-data`)
//! - `OBUP_ENGINE_ID`: unique per orchestrator sharing a database, stable
//!   across its restarts (default: the host name)
//! - `OBUP_ENGINE_LEASE_SECS` (default 15): how long a sub-task of an
//!   orchestrator that died stays its own before another takes it over
//! - `OBUP_ENGINE_CONCURRENCY` (default 64): sub-tasks run at once; 0 makes
//!   an API-only replica that serves calls and watchers but runs no work
//! - `OBUP_SIM_STEP_MS` (default 5): delay of each simulated cluster step

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use obup_upgrade_orchestrator::cluster::SimConfig;
use obup_upgrade_orchestrator::engine::EngineConfig;
use obup_upgrade_orchestrator::packages::GrpcPackages;
use obup_upgrade_orchestrator::startup;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let env = |k: &str, default: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.into())
    };
    let data_dir = PathBuf::from(env("OBUP_DATA_DIR", "./obup-data"));
    std::fs::create_dir_all(&data_dir)?;
    let data_dir = data_dir.canonicalize()?;
    let database = env(
        "DATABASE_URL",
        &format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("orchestrator.db").display()
        ),
    );
    let packages = Arc::new(GrpcPackages::lazy(&env(
        "OBUP_PACKAGE_STORE_URL",
        "http://127.0.0.1:2886",
    ))?);
    let owner = env(
        "OBUP_ENGINE_ID",
        &std::fs::read_to_string("/etc/hostname")
            .map_or_else(|_| "obup".into(), |h| h.trim().to_owned()),
    );
    let number = |k: &str, default: f64| -> anyhow::Result<f64> {
        let v = env(k, &default.to_string());
        v.parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| anyhow::anyhow!("{k} must be a number >= 0, got {v:?}"))
    };
    let defaults = EngineConfig::default();
    let engine = EngineConfig {
        owner,
        lease: Duration::from_secs_f64(number(
            "OBUP_ENGINE_LEASE_SECS",
            defaults.lease.as_secs_f64(),
        )?),
        concurrency: number("OBUP_ENGINE_CONCURRENCY", defaults.concurrency as f64)? as usize,
        ..defaults
    };
    let sim = SimConfig {
        step: Duration::from_secs_f64(
            number(
                "OBUP_SIM_STEP_MS",
                SimConfig::default().step.as_millis() as f64,
            )? / 1000.0,
        ),
        ..SimConfig::default()
    };
    let (stop, stopped) = watch::channel(false);
    let running =
        startup::start_simulated(&database, &data_dir, &sim, packages, engine, stopped).await?;
    let listener = tokio::net::TcpListener::bind(env("OBUP_LISTEN", "127.0.0.1:2887")).await?;
    let router = obup_kit::grpc::router(
        tonic::service::Routes::new(obup_upgrade_orchestrator::grpc::server(
            running.orchestrator,
        )),
        &[startup::SERVICE_NAME],
        &[obup_proto::FILE_DESCRIPTOR_SET],
    )
    .await;
    // Scripts wait for this line; a closed stdout must not stop the server.
    let _ = writeln!(
        std::io::stdout(),
        "obup-orchestrator listening on http://{}",
        listener.local_addr()?
    );
    obup_kit::grpc::serve(listener, router, obup_kit::shutdown::signal()).await?;
    let _ = stop.send(true);
    let _ = running.engine.await;
    Ok(())
}
