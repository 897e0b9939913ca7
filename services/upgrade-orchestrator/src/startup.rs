//! Wiring the orchestrator into a server: the same for its binary and for
//! `obup dev`.

use std::sync::Arc;

use obup_kit::db::Backend;
use tokio::sync::watch;

use crate::clusters::Clusters;
use crate::engine::Engine;
use crate::events::EventHub;
use crate::packages::{GrpcPackages, PackageSource};
use crate::storage::{DagRepository, SqlDagRepository};
use crate::{Config, Orchestrator, Result};

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "obup.orchestrator.v1.UpgradeOrchestrator";
/// The token service's, served beside it.
pub const TOKENS_SERVICE_NAME: &str = "obup.auth.v1.Tokens";
/// The audit trail's, served beside it.
pub const AUDIT_SERVICE_NAME: &str = "obup.audit.v1.Audit";
/// The name of the orchestrator's audit journal (`ListAuditEvents`).
pub const JOURNAL: &str = "orchestrator";

/// A running orchestrator: the service handle and its engine's task.
#[derive(Debug)]
pub struct Running {
    pub orchestrator: Orchestrator,
    /// API tokens, in the same database; their verifier guards every
    /// service of this deployment.
    pub tokens: crate::tokens::Tokens,
    /// The audit journal, in the same database: its gRPC listing and the
    /// gate's refusals use it.
    pub audit: obup_kit::audit::AuditStore,
    pub engine: tokio::task::JoinHandle<()>,
}

/// Connects the DAG database, loads the secret key and the agents' TLS
/// settings, starts the engine (and, on PostgreSQL, the relay of other
/// orchestrators' events).
pub async fn start(config: &Config, shutdown: watch::Receiver<bool>) -> Result<Running> {
    let sql = SqlDagRepository::connect(&config.database_url).await?;
    let origin = sql.origin().to_owned();
    let tokens = crate::tokens::Tokens::new(sql.pool(), sql.sqlite_writer());
    let audit = obup_kit::audit::AuditStore::new(sql.pool(), sql.sqlite_writer());
    let repo: Arc<dyn DagRepository> = Arc::new(sql);
    let clusters = Arc::new(Clusters::new(
        repo.clone(),
        config.secret_key.load()?,
        config.driver.clone(),
        config.agent_tls()?,
    ));
    let packages: Arc<dyn PackageSource> = Arc::new(GrpcPackages::lazy(
        &config.package_store_url,
        config.package_store_token.as_ref(),
        &config.package_store_tls,
    )?);
    let engine = Engine::new(
        repo,
        EventHub::default(),
        clusters.clone(),
        config.agent_store_url().to_owned(),
        config.engine.clone(),
    );
    let orchestrator = Orchestrator::new(engine.clone(), packages, clusters, audit.clone());
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
        tokens,
        audit,
        engine: task,
    })
}
