//! Wiring the agent into a server: the journal, the operations, TLS, the
//! gRPC router (with health and reflection), and the in-process handle
//! tests and `obup dev` use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use obup_kit::tls::{self, KeyPairPem};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tonic::service::Routes;

use crate::host::Host;
use crate::journal::Journal;
use crate::ops::Ops;
use crate::ops::context::Settings;
use crate::{Config, Error, Result, grpc};

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "obup.agent.v1.HostAgent";

/// How often a stop or start looks at the process again.
const POLL: Duration = Duration::from_millis(50);

/// An agent bound to its port, not serving yet.
#[derive(Debug)]
pub struct Agent {
    listener: TcpListener,
    ops: Ops,
    tls: Option<Arc<ServerConfig>>,
}

impl Agent {
    /// Opens the journal and binds `--listen`.
    pub async fn build(config: &Config) -> Result<Self> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", config.listen)))?;
        Self::with_listener(config, listener).await
    }

    /// Opens the journal and takes a listener bound by the caller (tests
    /// and `obup dev` bind port 0 and read the address first).
    pub async fn with_listener(config: &Config, listener: TcpListener) -> Result<Self> {
        config.validate()?;
        let tls = match (&config.tls_cert, &config.tls_key, &config.tls_client_ca) {
            (Some(cert), Some(key), Some(ca)) => Some(tls::server_config(
                &KeyPairPem::read(cert, key)?,
                &tls::read_pem(ca)?,
            )?),
            _ => None,
        };
        let addr = listener.local_addr()?;
        if tls.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "serving without TLS on a non-loopback address");
        }
        let host = Host::new(&config.root, config.home()?, config.upgrade_dir()?)
            .map_err(|e| Error::Config(format!("--root {}: {e}", config.root.display())))?;
        let journal = Journal::open(&config.state_dir).await?;
        let ops = Ops::recover(journal, host, settings(config)?).await?;
        Ok(Self { listener, ops, tls })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener always has a local address")
    }

    /// `https://addr` with TLS, `http://addr` without.
    pub fn url(&self) -> String {
        url(self.local_addr(), self.tls.is_some())
    }

    /// Serves until `shutdown` resolves. Running operations are then
    /// aborted where they are; they stay `running` in the journal, and the
    /// next start finds them interrupted, as after a crash.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = obup_kit::grpc::router(
            Routes::new(grpc::server(self.ops.clone())),
            &[SERVICE_NAME],
            &[obup_proto::FILE_DESCRIPTOR_SET],
        )
        .await;
        let stopping = self.ops.clone();
        let shutdown = async move {
            shutdown.await;
            // First, so that open Run streams end and the drain is quick.
            stopping.shutdown().await;
        };
        let ops = self.ops.clone();
        let served = obup_kit::grpc::serve_tls(self.listener, router, self.tls, shutdown).await;
        ops.close().await;
        served
    }

    /// Serves in a background task; the handle stops it.
    pub fn spawn(self) -> AgentHandle {
        let (addr, tls) = (self.local_addr(), self.tls.is_some());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        AgentHandle {
            addr,
            tls,
            stop: Some(stop),
            task,
        }
    }
}

/// An agent serving in this process.
#[derive(Debug)]
pub struct AgentHandle {
    addr: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl AgentHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What a client dials.
    pub fn url(&self) -> String {
        url(self.addr, self.tls)
    }

    /// Stops serving (running operations are left interrupted) and waits
    /// until the server is down.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| std::io::Error::other(format!("the agent task failed: {e}")))?
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

fn settings(config: &Config) -> Result<Settings> {
    let store_tls = match &config.store_ca {
        Some(ca) => {
            let identity = match (&config.tls_cert, &config.tls_key) {
                (Some(cert), Some(key)) => Some(KeyPairPem::read(cert, key)?),
                _ => None,
            };
            Some(tls::client_config(
                &tls::read_pem(ca)?,
                identity.as_ref(),
                None,
            )?)
        }
        None => None,
    };
    let store_token = match &config.store_token_file {
        Some(file) => Some(
            obup_kit::auth::read_token_file(file)
                .map_err(|e| Error::Config(format!("--store-token-file {}: {e}", file.display())))?
                .ok_or_else(|| {
                    Error::Config(format!(
                        "--store-token-file {} holds no obup token",
                        file.display()
                    ))
                })?,
        ),
        None => None,
    };
    Ok(Settings {
        svr_ip: config.svr_ip.clone(),
        store_token,
        rpc_port: config.rpc_port,
        sql_port: config.sql_port,
        python: config.python.clone(),
        store_tls,
        fetch_bytes_per_sec: config.fetch_bytes_per_sec,
        max_unpacked_bytes: config.max_unpacked_bytes,
        stop_timeout: config.stop_timeout(),
        start_timeout: config.start_timeout(),
        script_grace: config.script_grace(),
        poll: POLL,
    })
}
