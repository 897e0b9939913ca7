//! `obup-orchestrator`: the upgrade orchestrator on its own, configured by
//! the environment (`Config::from_env`: `OBUP_DATA_DIR`, `DATABASE_URL`,
//! `OBUP_PACKAGE_STORE_URL`, `OBUP_SECRET_KEY`/`OBUP_SECRET_KEY_FILE`,
//! `OBUP_ENGINE_ID`, `OBUP_ENGINE_LEASE_SECS`, `OBUP_ENGINE_CONCURRENCY`,
//! `OBUP_AGENT_STORE_URL`, `OBUP_AGENT_TLS_{CA,CERT,KEY}`), plus
//! `OBUP_LISTEN` (default `127.0.0.1:2887`).

use std::io::Write;

use obup_upgrade_orchestrator::{Config, startup};
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let config = Config::from_env()?;
    let (stop, stopped) = watch::channel(false);
    let running = startup::start(&config, stopped).await?;
    let listen = std::env::var("OBUP_LISTEN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "127.0.0.1:2887".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
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
