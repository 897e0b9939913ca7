//! `obup-obsim`: an OceanBase cluster over the MySQL protocol, with real
//! (stand-in) observer processes.
//!
//! ```text
//! obup-obsim serve --data-dir D [--zones 3] [--servers-per-zone 1] [--version V] [--edition ce]
//!                  [--root-password P] [--package FILE]... [timing, scenario and fault flags]
//! obup-obsim status --data-dir D [--json]
//! ```
//!
//! `serve` prints `obup-obsim listening on <control url>` once the cluster
//! is up, and stops it (and the observers in its homes) on SIGTERM or
//! Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use obup_obsim::sql::matcher::SqlxRefusal;
use obup_obsim::{Config, FaultSpec, Info, Scenario, Simulator, Status, Timing};
use obup_types::Edition;

#[derive(Parser)]
#[command(
    name = "obup-obsim",
    version,
    about = "An OceanBase cluster over the MySQL protocol, for tests and the demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Brings a running cluster up and serves it until SIGTERM.
    Serve(Box<Serve>),
    /// Prints a running simulator's state.
    Status {
        #[arg(long)]
        data_dir: PathBuf,
        /// The whole snapshot as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// State, `obsim.json` and (by default) the hosts.
    #[arg(long)]
    data_dir: PathBuf,
    /// Host roots `H/<ip>` (default `<data-dir>/hosts`).
    #[arg(long)]
    hosts_dir: Option<PathBuf>,
    /// `127.A.B`: server n listens on `127.A.B.n`.
    #[arg(long, default_value = "127.0.1")]
    ip_prefix: String,
    #[arg(long, default_value_t = 3)]
    zones: usize,
    #[arg(long, default_value_t = 1)]
    servers_per_zone: usize,
    #[arg(long, default_value_t = 2881)]
    sql_port: u16,
    #[arg(long, default_value_t = 2882)]
    rpc_port: u16,
    #[arg(long, default_value = "obcluster")]
    cluster: String,
    /// `ce`, `business` or `standalone`.
    #[arg(long, default_value = "ce")]
    edition: String,
    /// `<version>-<build>` of the built-in stand-in observer.
    #[arg(long, default_value = "4.2.1.0-100000102023092807")]
    version: String,
    /// Lay the homes out from these packages (server package, CE libs)
    /// instead of the built-in stand-in.
    #[arg(long = "package")]
    packages: Vec<PathBuf>,
    #[arg(long, default_value = "")]
    root_password: String,
    /// Control API address (default: `OBUP_LISTEN`, else any free port).
    #[arg(long, env = "OBUP_LISTEN", default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Do not start the observers (someone else will).
    #[arg(long)]
    no_start: bool,
    #[arg(long, default_value_t = 1)]
    user_tenants: usize,
    #[arg(long, default_value_t = 100)]
    poll_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    transcript: usize,
    // ---- timing ----
    #[arg(long, default_value_t = 1000)]
    lease_ms: i64,
    #[arg(long, default_value_t = 200)]
    start_service_ms: i64,
    #[arg(long, default_value_t = 200)]
    catchup_ms: i64,
    #[arg(long, default_value_t = 100)]
    zone_ms: i64,
    #[arg(long, default_value_t = 200)]
    job_ms: i64,
    #[arg(long, default_value_t = 0)]
    param_ms: i64,
    #[arg(long, default_value_t = 100)]
    freeze_ms: i64,
    // ---- scenarios ----
    /// The last server's home from a stand-in of this `<version>-<build>`.
    #[arg(long)]
    mixed_version: Option<String>,
    /// `tenant1` starts with this status (e.g. RESTORE).
    #[arg(long)]
    tenant_status: Option<String>,
    #[arg(long, default_value_t = 0)]
    backup_jobs: i64,
    #[arg(long)]
    major_compaction: bool,
    // ---- faults ----
    /// Freeze a transition: start_service, lease, log_sync, zone_inactive,
    /// zone_active, job_in_progress, job_failed, param_sync, checkpoint.
    #[arg(long = "freeze")]
    frozen: Vec<String>,
    /// `in_sync` stays NO (= `--freeze log_sync`).
    #[arg(long)]
    in_sync_stuck: bool,
    /// A statement fault as JSON, e.g.
    /// `{"pattern":"stop_zone","action":{"kind":"fail","nth":1,"code":4179}}`.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// How a connect-time SET naming `utf8mb4_unicode_ci` is refused:
    /// `unknown_collation` (1273, the PyPI kernel's answer) or `syntax`
    /// (1064).
    #[arg(long, default_value = "unknown_collation")]
    sqlx_refusal: String,
}

impl Serve {
    fn config(self) -> anyhow::Result<Config> {
        let prefix: Vec<u8> = self
            .ip_prefix
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .context("--ip-prefix is three numbers, e.g. 127.0.1")?;
        let ip_prefix: [u8; 3] = prefix
            .try_into()
            .map_err(|_| anyhow::anyhow!("--ip-prefix is three numbers, e.g. 127.0.1"))?;
        let edition = Edition::from_word(&self.edition)
            .with_context(|| format!("--edition {}: ce, business or standalone", self.edition))?;
        let mut frozen = self.frozen;
        if self.in_sync_stuck {
            frozen.push("log_sync".into());
        }
        let faults = self
            .faults
            .iter()
            .map(|f| serde_json::from_str::<FaultSpec>(f).with_context(|| format!("--fault {f}")))
            .collect::<anyhow::Result<_>>()?;
        let sqlx_refusal = match self.sqlx_refusal.as_str() {
            "syntax" => SqlxRefusal::Syntax,
            "unknown_collation" => SqlxRefusal::UnknownCollation,
            other => anyhow::bail!("--sqlx-refusal {other}: syntax or unknown_collation"),
        };
        Ok(Config {
            hosts_dir: self.hosts_dir,
            ip_prefix,
            zones: self.zones,
            servers_per_zone: self.servers_per_zone,
            sql_port: self.sql_port,
            rpc_port: self.rpc_port,
            cluster_name: self.cluster,
            edition,
            version: self.version,
            packages: self.packages,
            mixed_version: self.mixed_version,
            root_password: self.root_password,
            timing: Timing {
                lease_ms: self.lease_ms,
                start_service_ms: self.start_service_ms,
                catchup_ms: self.catchup_ms,
                zone_ms: self.zone_ms,
                job_ms: self.job_ms,
                param_ms: self.param_ms,
                freeze_ms: self.freeze_ms,
            },
            poll: Duration::from_millis(self.poll_ms),
            transcript_capacity: self.transcript,
            control_listen: self.control,
            start_observers: !self.no_start,
            user_tenants: self.user_tenants,
            scenario: Scenario {
                tenant_status: self.tenant_status,
                backup_jobs: self.backup_jobs,
                major_compaction: self.major_compaction,
                frozen,
            },
            faults,
            sqlx_refusal,
            ..Config::new(self.data_dir)
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    match Cli::parse().command {
        Cmd::Serve(s) => {
            let sim = Simulator::start(s.config()?).await?;
            println!("obup-obsim listening on {}", sim.control_url());
            for (i, e) in sim.sql_endpoints().iter().enumerate() {
                println!("server {} SQL on {e}", i + 1);
            }
            obup_kit::shutdown::signal().await;
            sim.stop().await
        }
        Cmd::Status { data_dir, json } => status(&data_dir, json).await,
    }
}

async fn status(data_dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let path = data_dir.join("obsim.json");
    let info: Info = serde_json::from_slice(
        &std::fs::read(&path)
            .with_context(|| format!("no simulator runs here ({})", path.display()))?,
    )?;
    let body = http_get(&info.control, "/status").await?;
    if json {
        println!("{body}");
        return Ok(());
    }
    let s: Status = serde_json::from_str(&body)?;
    println!(
        "cluster {} ({}), control {}",
        s.cluster, s.edition, s.control
    );
    println!(
        "upgrade mode {}, stage {}, min_observer_version {}",
        s.upgrade.enable_upgrade_mode, s.upgrade.stage, s.upgrade.min_observer_version
    );
    for z in &s.zones {
        println!("zone {:<8} {:<8} ({})", z.name, z.status, z.admin);
    }
    for v in &s.servers {
        println!(
            "server {:<3} {:<8} {:<22} rpc {:<5} {:<8} serving {:<5} pid {:<8} {}",
            v.id,
            v.zone,
            v.sql_endpoint,
            v.rpc_port,
            v.status,
            v.serving,
            v.pid.map_or("-".into(), |p| p.to_string()),
            v.build
        );
    }
    for t in &s.tenants {
        println!(
            "tenant {:<5} {:<12} {:<8} compatible {}",
            t.id, t.name, t.status, t.compatible
        );
    }
    println!(
        "statements {} (errors {}, unsupported {}), invariant violations {}",
        s.statements.statements,
        s.statements.errors,
        s.statements.unsupported,
        s.invariant.violations.len()
    );
    Ok(())
}

/// A plain HTTP/1.1 GET on the loopback control API.
async fn http_get(base: &str, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to the simulator at {base}"))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("a malformed HTTP answer")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{}",
        head.lines().next().unwrap_or("")
    );
    // axum answers small bodies with a Content-Length, never chunked here.
    Ok(body.to_owned())
}
