//! Wiring the orchestrator into a server.

use std::sync::Arc;

use obup_kit::db::Backend;
use tokio::sync::watch;

use crate::cluster::{Cluster, SimCluster, SimConfig};
use crate::clusters::Clusters;
use crate::engine::Engine;
use crate::events::EventHub;
use crate::packages::{GrpcPackages, PackageSource};
use crate::storage::{DagRepository, SqlDagRepository};
use crate::{Config, Orchestrator, Result};

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "obup.orchestrator.v1.UpgradeOrchestrator";

/// A running orchestrator: the service handle and its engine's task.
#[derive(Debug)]
pub struct Running {
    pub orchestrator: Orchestrator,
    pub engine: tokio::task::JoinHandle<()>,
}

/// Connects the DAG database, loads the secret key, opens the simulated
/// cluster under `<data dir>/sim` and starts the engine (and, on
/// PostgreSQL, the relay of other orchestrators' events). The binary and
/// `obup dev` both start here.
pub async fn start(
    config: &Config,
    sim: &SimConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<Running> {
    let sql = SqlDagRepository::connect(&config.database_url).await?;
    let origin = sql.origin().to_owned();
    let repo: Arc<dyn DagRepository> = Arc::new(sql);
    let key = config.secret_key.load()?;
    let clusters = Arc::new(Clusters::new(repo.clone(), key, config.driver.clone()));
    let packages: Arc<dyn PackageSource> = Arc::new(GrpcPackages::lazy(&config.package_store_url)?);
    let cluster: Arc<dyn Cluster> = Arc::new(SimCluster::open(&config.data_dir.join("sim"), sim)?);
    let engine = Engine::new(
        repo,
        EventHub::default(),
        cluster.clone(),
        packages.clone(),
        config.engine.clone(),
    );
    let orchestrator = Orchestrator::new(engine.clone(), cluster, packages, clusters).await?;
    let task = engine.spawn(shutdown.clone());
    // Other orchestrators can share only a PostgreSQL database.
    if Backend::of(&config.database_url) == Some(Backend::Postgres) {
        tokio::spawn(crate::relay::run(
            config.database_url.clone(),
            origin,
            engine,
            shutdown,
        ));
    }
    Ok(Running {
        orchestrator,
        engine: task,
    })
}

/// Starts the engine over parts a test or benchmark brings itself. Cluster
/// passwords registered through it are sealed with a key that lives only
/// as long as the process.
pub async fn start_with(
    repo: Arc<dyn DagRepository>,
    cluster: Arc<dyn Cluster>,
    packages: Arc<dyn PackageSource>,
    engine: crate::engine::EngineConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<Running> {
    let key = crate::clusters::SecretKey::from_bytes(&rand::random::<[u8; 32]>())?;
    let clusters = Arc::new(Clusters::new(
        repo.clone(),
        key,
        crate::driver::DriverConfig::default(),
    ));
    let engine = Engine::new(
        repo,
        EventHub::default(),
        cluster.clone(),
        packages.clone(),
        engine,
    );
    let orchestrator = Orchestrator::new(engine.clone(), cluster, packages, clusters).await?;
    let task = engine.spawn(shutdown);
    Ok(Running {
        orchestrator,
        engine: task,
    })
}
