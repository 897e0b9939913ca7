//! Wiring the package store into a server.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;

use crate::{Config, PackageStore, Result, grpc};

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "obup.packagestore.v1.PackageStore";
/// The name of the store's audit journal (`ListAuditEvents`).
pub const JOURNAL: &str = "package-store";
/// Where the store's methods live: the gate sends refusals of paths under
/// it to the store's journal.
pub const PATH_PREFIX: &str = "/obup.packagestore.v1.";

/// The package store's gRPC routes, to be merged with other services'.
pub fn routes(store: PackageStore) -> Routes {
    Routes::new(grpc::server(store))
}

/// A standalone package-store server bound to a port.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    store: PackageStore,
    config: Config,
    /// Who may call what; `None`: nobody is checked.
    gate: Option<std::sync::Arc<obup_kit::auth::Gate>>,
    /// TLS on the listener; `None`: plaintext.
    tls: Option<std::sync::Arc<obup_kit::tls::ServerConfig>>,
}

impl Application {
    /// Opens storage and binds `listen` (port 0 picks a free port).
    pub async fn build(config: Config, listen: &str) -> Result<Self> {
        let store = PackageStore::open(&config).await?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| crate::Error::Config(format!("cannot listen on {listen}: {e}")))?;
        Ok(Self {
            listener,
            store,
            config,
            gate: None,
            tls: None,
        })
    }

    /// Every call (health and reflection excepted) admitted by `gate`.
    pub fn with_gate(mut self, gate: std::sync::Arc<obup_kit::auth::Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Serves TLS with `tls` (see `obup_kit::tls::ListenerTls`).
    pub fn with_tls(mut self, tls: std::sync::Arc<obup_kit::tls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener always has a local address")
    }

    pub fn store(&self) -> &PackageStore {
        &self.store
    }

    /// Where the gate records refused calls: the store's own journal.
    pub fn audit_sink(&self) -> std::sync::Arc<dyn obup_kit::audit::AuditSink> {
        std::sync::Arc::new(self.store.journal())
    }

    /// Serves until `shutdown` resolves, sweeping expired uploads meanwhile.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper = self
            .store
            .spawn_sweeper(self.config.sweep_interval, stop_rx);
        let journal = obup_kit::audit::Journal {
            name: JOURNAL,
            store: self.store.journal(),
        };
        let router = obup_kit::grpc::guarded_router(
            routes(self.store).add_service(obup_kit::audit::server(vec![journal])),
            &[SERVICE_NAME, "obup.audit.v1.Audit"],
            &[obup_proto::FILE_DESCRIPTOR_SET],
            self.gate,
        )
        .await;
        let result = obup_kit::grpc::serve_tls(self.listener, router, self.tls, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        result
    }
}
