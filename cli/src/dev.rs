//! `obup dev`: the services of obup in one process, on embedded storage,
//! upgrading a simulated cluster.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use obup_package_store::{Config, PackageStore};
use obup_upgrade_orchestrator::cluster::SimConfig;
use obup_upgrade_orchestrator::domain::template::Edition;
use obup_upgrade_orchestrator::engine::{EngineConfig, FailureRule};
use obup_upgrade_orchestrator::startup::{self, Running};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Address to serve gRPC (and, later, REST) on; port 0 picks a free one.
    #[arg(long, env = "OBUP_LISTEN", default_value = "127.0.0.1:2886")]
    pub listen: String,
    /// Where the databases, package files and the simulated cluster live.
    #[arg(long, env = "OBUP_DATA_DIR", default_value = "./obup-data")]
    pub data_dir: PathBuf,
    /// Zones of the simulated cluster (used when it is first created).
    #[arg(long, default_value_t = 3)]
    pub sim_zones: usize,
    /// Servers per zone of the simulated cluster.
    #[arg(long, default_value_t = 1)]
    pub sim_servers_per_zone: usize,
    /// Build the simulated cluster runs at first.
    #[arg(long, default_value = "4.2.1.0-100000102023092807")]
    pub sim_version: String,
    /// Edition of the simulated cluster: ce, business or standalone.
    #[arg(long, default_value = "ce", value_parser = ["ce", "business", "standalone"])]
    pub sim_edition: String,
    /// Architecture of the simulated servers.
    #[arg(long, default_value = "x86_64")]
    pub sim_arch: String,
    /// Delay of each simulated cluster operation, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub sim_step_ms: u64,
    /// Fail the N-th execution (default: the first) of every sub-task with
    /// this name, e.g. `--sim-fail "Start zone2@1"`. Repeatable.
    #[arg(long = "sim-fail", value_name = "TASK_NAME[@N]", value_parser = parse_failure)]
    pub sim_fail: Vec<FailureRule>,
    /// Also store generated packages for upgrading the simulated cluster to
    /// 4.3.5.0, so that an upgrade can be started at once.
    #[arg(long)]
    pub demo: bool,
    /// The root@sys password REST clients authenticate with (X-OCS-Header);
    /// empty, as on a fresh cluster.
    #[arg(
        long,
        env = "OBUP_ROOT_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub root_password: String,
    /// The agent password (X-OCS-Agent-Header); none by default.
    #[arg(long, env = "OBUP_AGENT_PASSWORD", hide_env_values = true)]
    pub agent_password: Option<String>,
    /// Size of the gateway's RSA key, made on first start (1024 or 2048).
    #[arg(long, default_value_t = 1024, value_parser = parse_bits)]
    pub rsa_bits: usize,
}

fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "1024" => Ok(1024),
        "2048" => Ok(2048),
        _ => Err(format!("expected 1024 or 2048, got {s:?}")),
    }
}

fn parse_failure(s: &str) -> Result<FailureRule, String> {
    FailureRule::parse(s)
        .ok_or_else(|| format!("expected TASK_NAME or TASK_NAME@N (N >= 1), got {s:?}"))
}

impl DevArgs {
    /// Defaults for tests: a free port and the given data dir.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            data_dir,
            sim_zones: 3,
            sim_servers_per_zone: 1,
            sim_version: "4.2.1.0-100000102023092807".into(),
            sim_edition: "ce".into(),
            sim_arch: "x86_64".into(),
            sim_step_ms: 0,
            sim_fail: Vec::new(),
            demo: false,
            root_password: String::new(),
            agent_password: None,
            rsa_bits: 1024,
        }
    }

    /// The edition `--sim-edition` names (clap admits only the three words).
    fn edition(&self) -> Edition {
        Edition::from_word(&self.sim_edition).unwrap_or(Edition::Ce)
    }

    fn sim(&self) -> SimConfig {
        SimConfig {
            zones: self.sim_zones,
            servers_per_zone: self.sim_servers_per_zone,
            build_version: self.sim_version.clone(),
            edition: self.edition(),
            arch: self.sim_arch.clone(),
            step: Duration::from_millis(self.sim_step_ms),
            ..SimConfig::default()
        }
    }
}

/// A bound, not yet serving, all-in-one server.
#[derive(Debug)]
pub struct Dev {
    listener: TcpListener,
    store: PackageStore,
    gateway: Arc<obup_gateway::AppState>,
    config: Config,
    orchestrator: Running,
    stop: watch::Sender<bool>,
}

impl Dev {
    /// Opens the embedded storage under `--data-dir`, binds `--listen` and
    /// starts the orchestrator's engine.
    pub async fn bind(args: &DevArgs) -> anyhow::Result<Self> {
        let config = Config::embedded(&args.data_dir)?;
        let store = PackageStore::open(&config)
            .await
            .context("opening the package store")?;
        if args.demo {
            for name in crate::demo::seed(&store, args.edition(), &args.sim_arch).await? {
                tracing::info!("demo package {name}");
            }
        }
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let data_dir = args.data_dir.canonicalize()?;
        // The orchestrator reaches the package store through its public
        // API, even in one process: the same path as when they are apart.
        let mut orchestrator_config =
            obup_upgrade_orchestrator::Config::embedded(&data_dir, &format!("http://{addr}"))?;
        orchestrator_config.engine = EngineConfig {
            owner: "obup-dev".into(),
            failures: args.sim_fail.clone(),
            ..EngineConfig::default()
        };
        let (stop, stopped) = watch::channel(false);
        let orchestrator = startup::start(&orchestrator_config, &args.sim(), stopped)
            .await
            .context("starting the orchestrator")?;
        let passwords = obup_gateway::security::Passwords {
            root: args.root_password.clone(),
            agent: args.agent_password.clone(),
        };
        let backend = format!("http://{addr}");
        let gateway = Arc::new(obup_gateway::AppState::open(
            &data_dir,
            args.rsa_bits,
            passwords,
            addr,
            &backend,
            &backend,
        )?);
        Ok(Self {
            listener,
            store,
            gateway,
            config,
            orchestrator,
            stop,
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
        let sweeper = self
            .store
            .spawn_sweeper(self.config.sweep_interval, self.stop.subscribe());
        let routes = obup_package_store::startup::routes(self.store).add_service(
            obup_upgrade_orchestrator::grpc::server(self.orchestrator.orchestrator),
        );
        let router = obup_kit::grpc::router(
            routes,
            &[
                obup_package_store::startup::SERVICE_NAME,
                startup::SERVICE_NAME,
            ],
            &[obup_proto::FILE_DESCRIPTOR_SET],
        )
        .await
        // obshell's REST paths on the same port.
        .merge(obup_gateway::routes::router(self.gateway))
        .fallback(obup_gateway::routes::fallback);
        obup_kit::grpc::serve(self.listener, router, shutdown).await?;
        let _ = self.stop.send(true);
        let _ = sweeper.await;
        let _ = self.orchestrator.engine.await;
        Ok(())
    }
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let dev = Dev::bind(&args).await?;
    let addr = dev.local_addr();
    // Tests and scripts wait for the first line. A closed stdout must not
    // take the server down, so write errors are ignored.
    let _ = writeln!(std::io::stdout().lock(), "{}", quickstart(addr, &args));
    dev.serve(obup_kit::shutdown::signal()).await
}

/// What `obup dev` prints when it is ready.
fn quickstart(addr: SocketAddr, args: &DevArgs) -> String {
    let server = if addr.to_string() == "127.0.0.1:2886" {
        String::new()
    } else {
        format!(" --server http://{addr}")
    };
    let upload = if args.demo {
        format!(
            "  # demo packages for {} {} are stored; see them with\n  obup packages{server}",
            crate::demo::VERSION,
            crate::demo::RELEASE
        )
    } else {
        format!("  obup upload{server} oceanbase-ce-*.rpm oceanbase-ce-libs-*.rpm")
    };
    let target = format!(
        "--version {} --release {}",
        crate::demo::VERSION,
        crate::demo::RELEASE
    );
    let sdk_target = format!(
        "{}-{}",
        crate::demo::VERSION,
        crate::demo::RELEASE.trim_end_matches(".el7")
    );
    let sdk_args = format!("\"{}\", \"{}\"", crate::demo::VERSION, crate::demo::RELEASE);
    format!(
        "obup dev listening on http://{addr} (data in {data})\n\
         simulated {edition} cluster: {zones} zones x {per} server(s), {version}\n\
         \n\
         quickstart:\n\
         {upload}\n\
         \x20 obup upgrade plan{server} {target}\n\
         \x20 obup upgrade start{server} {target} --watch\n\
         \x20 obup dag ls{server}\n\
         \n\
         the same with the obshell SDK (pip install obshell==0.0.9):\n\
         \x20 from obshell import ClientV1\n\
         \x20 from obshell.auth.password import PasswordAuth\n\
         \x20 c = ClientV1(\"{ip}\", {port}, PasswordAuth({password}))\n\
         \x20 c.upload_pkg(\"oceanbase-ce-{sdk_target}.el7.x86_64.rpm\")\n\
         \x20 dag = c.upgrade_ob({sdk_args}, \"ROLLING\")\n\
         \x20 c.wait_dag_succeed(dag.generic_id)\n\
         \n\
         over REST: curl -s http://{addr}/api/v1/info\n\
         over gRPC: grpcurl -plaintext {addr} list",
        ip = addr.ip(),
        port = addr.port(),
        // Never print the password itself.
        password = if args.root_password.is_empty() {
            "\"\""
        } else {
            "\"<root password>\""
        },
        data = args.data_dir.display(),
        edition = args.sim_edition,
        zones = args.sim_zones,
        per = args.sim_servers_per_zone,
        version = args.sim_version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quickstart_shows_the_sdk_and_curl_but_never_the_password() {
        let mut args = DevArgs::for_data_dir("/tmp/d".into());
        args.root_password = "S3cret!".into();
        let text = quickstart("127.0.0.1:2999".parse().unwrap(), &args);
        assert!(text.starts_with("obup dev listening on http://127.0.0.1:2999 "));
        assert!(text.contains("obup upgrade start --server http://127.0.0.1:2999 "));
        assert!(text.contains(r#"ClientV1("127.0.0.1", 2999, PasswordAuth("<root password>"))"#));
        assert!(text.contains("curl -s http://127.0.0.1:2999/api/v1/info"));
        assert!(!text.contains("S3cret!"));
        // On the default address no --server is needed.
        args.root_password.clear();
        let text = quickstart("127.0.0.1:2886".parse().unwrap(), &args);
        assert!(!text.contains("--server"));
        assert!(text.contains(r#"PasswordAuth("")"#));
    }
}
