//! Wiring the orchestrator into a server.

use std::path::Path;
use std::sync::Arc;

use obup_kit::db::Backend;
use tokio::sync::watch;

use crate::cluster::{Cluster, SimCluster, SimConfig};
use crate::engine::{Engine, EngineConfig};
use crate::events::EventHub;
use crate::packages::PackageSource;
use crate::storage::{DagRepository, SqlDagRepository};
use crate::{Orchestrator, Result};

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "obup.orchestrator.v1.UpgradeOrchestrator";

/// A running orchestrator: the service handle and its engine's task.
#[derive(Debug)]
pub struct Running {
    pub orchestrator: Orchestrator,
    pub engine: tokio::task::JoinHandle<()>,
}

/// Connects the DAG database, opens the simulated cluster under
/// `data_dir/sim` and starts the engine (and, on PostgreSQL, the relay of
/// other orchestrators' events).
pub async fn start_simulated(
    database_url: &str,
    data_dir: &Path,
    sim: &SimConfig,
    packages: Arc<dyn PackageSource>,
    engine: EngineConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<Running> {
    let sql = SqlDagRepository::connect(database_url).await?;
    let origin = sql.origin().to_owned();
    let repo: Arc<dyn DagRepository> = Arc::new(sql);
    let cluster: Arc<dyn Cluster> = Arc::new(SimCluster::open(&data_dir.join("sim"), sim)?);
    let relay_shutdown = shutdown.clone();
    let running = start(repo, cluster, packages, engine, shutdown).await?;
    // Other orchestrators can share only a PostgreSQL database.
    if Backend::of(database_url) == Some(Backend::Postgres) {
        tokio::spawn(crate::relay::run(
            database_url.to_owned(),
            origin,
            running.orchestrator.engine().clone(),
            relay_shutdown,
        ));
    }
    Ok(running)
}

/// Starts the engine over the given parts.
pub async fn start(
    repo: Arc<dyn DagRepository>,
    cluster: Arc<dyn Cluster>,
    packages: Arc<dyn PackageSource>,
    engine: EngineConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<Running> {
    let engine = Engine::new(
        repo,
        EventHub::default(),
        cluster.clone(),
        packages.clone(),
        engine,
    );
    let orchestrator = Orchestrator::new(engine.clone(), cluster, packages).await?;
    let task = engine.spawn(shutdown);
    Ok(Running {
        orchestrator,
        engine: task,
    })
}
