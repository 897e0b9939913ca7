//! `obup dev`: the services of obup in one process, on embedded storage.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use obup_package_store::{Config, PackageStore};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Address to serve gRPC (and, later, REST) on; port 0 picks a free one.
    #[arg(long, env = "OBUP_LISTEN", default_value = "127.0.0.1:2886")]
    pub listen: String,
    /// Where the SQLite database and package files live.
    #[arg(long, env = "OBUP_DATA_DIR", default_value = "./obup-data")]
    pub data_dir: PathBuf,
}

/// A bound, not yet serving, all-in-one server.
#[derive(Debug)]
pub struct Dev {
    listener: TcpListener,
    store: PackageStore,
    config: Config,
}

impl Dev {
    /// Opens the embedded storage under `--data-dir` and binds `--listen`.
    pub async fn bind(args: &DevArgs) -> anyhow::Result<Self> {
        let config = Config::embedded(&args.data_dir)?;
        let store = PackageStore::open(&config)
            .await
            .context("opening the package store")?;
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        Ok(Self {
            listener,
            store,
            config,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener always has a local address")
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper = self
            .store
            .spawn_sweeper(self.config.sweep_interval, stop_rx);
        let router = obup_kit::grpc::router(
            obup_package_store::startup::routes(self.store),
            &[obup_package_store::startup::SERVICE_NAME],
            &[obup_proto::FILE_DESCRIPTOR_SET],
        )
        .await;
        obup_kit::grpc::serve(self.listener, router, shutdown).await?;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        Ok(())
    }
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let dev = Dev::bind(&args).await?;
    let addr = dev.local_addr();
    // Tests and scripts wait for this line.
    println!(
        "obup dev listening on http://{addr} (data in {})",
        args.data_dir.display()
    );
    println!("  upload a package:  obup upload --server http://{addr} FILE.rpm");
    dev.serve(obup_kit::shutdown::signal()).await
}
