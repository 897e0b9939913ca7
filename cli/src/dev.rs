//! `obup dev`: the services of obup in one process, on embedded storage;
//! with `--demo`, also a simulated cluster on this machine (obsim and one
//! agent per simulated host), registered and upgraded through the same
//! driver and agents as a real cluster.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use obup_local_cluster::{LocalCluster, LocalConfig};
use obup_package_store::{Config, PackageStore};
use obup_upgrade_orchestrator::AgentTlsFiles;
use obup_upgrade_orchestrator::domain::template::Edition;
use obup_upgrade_orchestrator::driver::DriverConfig;
use obup_upgrade_orchestrator::engine::EngineConfig;
use obup_upgrade_orchestrator::startup::{self, Running};
use obup_upgrade_orchestrator::tokens::Tokens;

use crate::dev_tokens::DevTokens;
use obup_kit::audit::{AuditSink, ByService, Journal};
use obup_kit::auth::{Gate, Policy};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The name the demo cluster is registered under.
pub const DEMO_CLUSTER: &str = "demo";

#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Address to serve gRPC and REST on; port 0 picks a free one.
    #[arg(long, env = "OBUP_LISTEN", default_value = "127.0.0.1:2886")]
    pub listen: String,
    /// Where the databases, package files and the demo cluster live.
    #[arg(long, env = "OBUP_DATA_DIR", default_value = "./obup-data")]
    pub data_dir: PathBuf,
    /// Also run a simulated cluster on this machine (obsim, whose servers
    /// listen on 127.0.1.N, and an agent per simulated host), register it
    /// as `demo`, and store packages to upgrade it to 4.3.5.0.
    #[arg(long)]
    pub demo: bool,
    /// Zones of the demo cluster (used when it is first created).
    #[arg(long, default_value_t = 3)]
    pub demo_zones: usize,
    /// Servers per zone of the demo cluster.
    #[arg(long, default_value_t = 1)]
    pub demo_servers_per_zone: usize,
    /// Build the demo cluster runs at first.
    #[arg(long, default_value = "4.2.1.0-100000102023092807")]
    pub demo_version: String,
    /// Edition of the demo cluster: ce, business or standalone.
    #[arg(long, default_value = "ce", value_parser = ["ce", "business", "standalone"])]
    pub demo_edition: String,
    /// Fail the N-th execution (default: the first) of a statement the demo
    /// cluster receives: a catalogue id such as `start_zone` or a regex of
    /// its text, e.g. `--demo-fail start_zone@2` fails "Start zone2".
    /// Repeatable. The sys tenant answers 4179 (OB_OP_NOT_ALLOW).
    #[arg(long = "demo-fail", value_name = "STATEMENT[@N]", value_parser = parse_failure)]
    pub demo_fail: Vec<obup_obsim::FaultSpec>,
    /// Hold every statement of the demo cluster matching STATEMENT (a
    /// catalogue id or a regex of its text) for MS milliseconds, e.g.
    /// `--demo-delay 'begin upgrade=3000'` slows the pre script. Repeatable.
    #[arg(long = "demo-delay", value_name = "STATEMENT=MS", value_parser = parse_delay)]
    pub demo_delay: Vec<obup_obsim::FaultSpec>,
    /// The first three parts of the demo servers' addresses (`127.0.1`:
    /// servers on 127.0.1.1, 127.0.1.2, ...); `random`: a random `127.A.B`,
    /// another if it is taken (tests run many at once).
    #[arg(long, default_value = "127.0.1")]
    pub demo_ip_prefix: String,
    /// The port the demo agents listen on, on their server's address.
    #[arg(long, default_value_t = 2886)]
    pub demo_agent_port: u16,
    /// The demo cluster reacts at once (tests) instead of with its
    /// realistic small delays.
    #[arg(long, hide = true)]
    pub demo_instant: bool,
    /// A Python with mysql.connector for the upgrade scripts; default: a
    /// virtualenv made under --data-dir on first start (needs PyPI).
    #[arg(long)]
    pub demo_python: Option<PathBuf>,
    /// Store no demo packages (tests upload their own).
    #[arg(long, hide = true)]
    pub demo_no_packages: bool,
    /// Limit each demo agent's package downloads to this many bytes per
    /// second (0: no limit), to watch or interrupt a slow download.
    #[arg(long, default_value_t = 0)]
    pub demo_fetch_bytes_per_sec: u64,
    /// The root@sys password: REST clients authenticate with it
    /// (X-OCS-Header), and the demo cluster has it. Empty, as on a fresh
    /// cluster. A value on the command line is visible in the process list:
    /// prefer OBUP_ROOT_PASSWORD or --root-password-file.
    #[arg(
        long,
        env = "OBUP_ROOT_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub root_password: String,
    /// Reads the root@sys password from the first line of FILE instead.
    #[arg(long, value_name = "FILE", conflicts_with = "root_password")]
    pub root_password_file: Option<PathBuf>,
    /// The agent password (X-OCS-Agent-Header); none by default.
    #[arg(long, env = "OBUP_AGENT_PASSWORD", hide_env_values = true)]
    pub agent_password: Option<String>,
    /// Reads the agent password from the first line of FILE instead.
    #[arg(long, value_name = "FILE", conflicts_with = "agent_password")]
    pub agent_password_file: Option<PathBuf>,
    /// Size of the gateway's RSA key, made on first start (1024 or 2048).
    #[arg(long, default_value_t = 1024, value_parser = parse_bits)]
    pub rsa_bits: usize,
    /// Serve a non-loopback `--listen` in plaintext anyway: tokens and
    /// passwords then cross the network in clear.
    #[arg(long, conflicts_with = "tls")]
    pub insecure: bool,
    /// Serve gRPC and REST over TLS, with a development CA made under
    /// `<data-dir>/tls` on first start (client certificates it signs are
    /// accepted as an identity; the CLI on this machine finds the CA).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: accept client certificates signed by the CAs in this PEM
    /// file as an identity instead (default: the development CA). The
    /// certificate's O names its role, an OU `cluster:NAME` limits it.
    #[arg(long, requires = "tls", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Where to write the admin token for the CLI (a file named after the
    /// address); default the CLI's: `$OBUP_TOKEN_DIR`, else
    /// `$XDG_CONFIG_HOME/obup/tokens`, else `~/.config/obup/tokens`.
    #[arg(long, env = "OBUP_TOKEN_DIR")]
    pub token_dir: Option<PathBuf>,
}

fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "1024" => Ok(1024),
        "2048" => Ok(2048),
        _ => Err(format!("expected 1024 or 2048, got {s:?}")),
    }
}

/// `PATTERN` or `PATTERN@N`: fail the N-th matching statement with 4179.
pub fn parse_failure(s: &str) -> Result<obup_obsim::FaultSpec, String> {
    let (pattern, nth) = match s.rsplit_once('@') {
        Some((p, n)) => (
            p,
            n.parse::<u64>()
                .map_err(|_| format!("{n:?} is not a number"))?,
        ),
        None => (s, 1),
    };
    if pattern.is_empty() || nth == 0 {
        return Err(format!(
            "expected STATEMENT or STATEMENT@N (N >= 1), got {s:?}"
        ));
    }
    Ok(obup_obsim::FaultSpec {
        pattern: pattern.to_owned(),
        action: obup_obsim::FaultAction::Fail {
            nth,
            times: 1,
            code: 4179,
            state: "HY000".into(),
            message: format!("injected by obup dev --demo-fail {s}"),
        },
    })
}

/// `PATTERN=MS`: hold matching statements that long.
pub fn parse_delay(s: &str) -> Result<obup_obsim::FaultSpec, String> {
    let (pattern, ms) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected STATEMENT=MS, got {s:?}"))?;
    let ms: u64 = ms
        .parse()
        .map_err(|_| format!("{ms:?} is not a number of milliseconds"))?;
    if pattern.is_empty() {
        return Err(format!("expected STATEMENT=MS, got {s:?}"));
    }
    Ok(obup_obsim::FaultSpec {
        pattern: pattern.to_owned(),
        action: obup_obsim::FaultAction::Delay { ms },
    })
}

fn parse_prefix(s: &str) -> anyhow::Result<[u8; 3]> {
    let parts: Vec<u8> = s
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("--demo-ip-prefix {s:?} is not three numbers"))?;
    match parts.as_slice() {
        [127, b, c] => Ok([127, *b, *c]),
        _ => anyhow::bail!("--demo-ip-prefix {s:?} must be 127.A.B (a loopback /24)"),
    }
}

impl DevArgs {
    /// For tests: a free port, the given data dir, and a demo cluster on a
    /// random `127.A.B` with agents on free ports, reacting at once, using
    /// `python` for the scripts, without demo packages.
    pub fn for_tests(data_dir: PathBuf, python: PathBuf) -> Self {
        Self {
            demo: true,
            demo_ip_prefix: "random".into(),
            demo_agent_port: 0,
            demo_instant: true,
            demo_python: Some(python),
            demo_no_packages: true,
            ..Self::for_data_dir(data_dir)
        }
    }

    /// Defaults for tests: a free port and the given data dir.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.clone(),
            demo: false,
            demo_zones: 3,
            demo_servers_per_zone: 1,
            demo_version: "4.2.1.0-100000102023092807".into(),
            demo_edition: "ce".into(),
            demo_fail: Vec::new(),
            demo_delay: Vec::new(),
            demo_ip_prefix: "127.0.1".into(),
            demo_agent_port: 2886,
            demo_instant: false,
            demo_python: None,
            demo_no_packages: false,
            demo_fetch_bytes_per_sec: 0,
            root_password: String::new(),
            root_password_file: None,
            agent_password_file: None,
            agent_password: None,
            rsa_bits: 1024,
            insecure: false,
            tls: false,
            tls_client_ca: None,
            // Tests must not write into the user's config directory.
            token_dir: Some(data_dir.join("cli-tokens")),
        }
    }

    /// The passwords of `--root-password-file` and `--agent-password-file`
    /// read into the arguments (files keep them out of the process list).
    pub fn read_password_files(mut self) -> anyhow::Result<Self> {
        let first_line = |path: &std::path::Path| -> anyhow::Result<String> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(text.lines().next().unwrap_or("").to_owned())
        };
        if let Some(file) = &self.root_password_file {
            self.root_password = first_line(file)?;
        }
        if let Some(file) = &self.agent_password_file {
            self.agent_password = Some(first_line(file)?);
        }
        Ok(self)
    }

    /// The edition `--demo-edition` names (clap admits only the three words).
    pub fn edition(&self) -> Edition {
        Edition::from_word(&self.demo_edition).unwrap_or(Edition::Ce)
    }

    /// The demo cluster's configuration.
    fn local(
        &self,
        data_dir: &std::path::Path,
        python: PathBuf,
        store_token_file: PathBuf,
        store_ca: Option<PathBuf>,
    ) -> anyhow::Result<LocalConfig> {
        let mut obsim = obup_obsim::Config::new(data_dir.join("demo"));
        if self.demo_ip_prefix == "random" {
            obsim.ip_prefix = obup_obsim::config::random_prefix();
            obsim.retry_prefix = true;
        } else {
            obsim.ip_prefix = parse_prefix(&self.demo_ip_prefix)?;
        }
        obsim.zones = self.demo_zones;
        obsim.servers_per_zone = self.demo_servers_per_zone;
        obsim.version = self.demo_version.clone();
        obsim.edition = self.edition();
        obsim.root_password = self.root_password.clone();
        obsim.faults = self
            .demo_fail
            .iter()
            .chain(&self.demo_delay)
            .cloned()
            .collect();
        if self.demo_instant {
            obsim.timing = obup_obsim::Timing::instant();
            obsim.poll = std::time::Duration::from_millis(20);
        }
        Ok(LocalConfig {
            obsim,
            agents_dir: data_dir.join("demo/agents"),
            agent_port: self.demo_agent_port,
            python: Some(python),
            fetch_bytes_per_sec: self.demo_fetch_bytes_per_sec,
            tls_dir: Some(data_dir.join("demo/pki")),
            store_token_file: Some(store_token_file),
            store_ca,
        })
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
    /// The demo cluster, with `--demo`.
    demo: Option<LocalCluster>,
    tokens: DevTokens,
    /// Where the CLI finds the admin token, if written.
    cli_token_file: Option<PathBuf>,
    /// With `--tls`.
    tls: Option<crate::dev_tls::DevTls>,
}

/// The architecture name RPM uses for this machine (the demo hosts are
/// this machine).
pub(crate) fn rpm_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64",
        _ => "x86_64",
    }
}

impl Dev {
    /// Opens the embedded storage under `--data-dir`, binds `--listen`,
    /// starts the orchestrator's engine and, with `--demo`, the demo
    /// cluster, registered as `demo`.
    pub async fn bind(args: &DevArgs) -> anyhow::Result<Self> {
        let config = Config::embedded(&args.data_dir)?;
        let store = PackageStore::open(&config)
            .await
            .context("opening the package store")?;
        if args.demo && !args.demo_no_packages {
            for name in crate::demo::seed(&store, args.edition(), rpm_arch()).await? {
                tracing::info!("demo package {name}");
            }
        }
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() && !args.insecure && !args.tls {
            anyhow::bail!(
                "obup dev serves plaintext, and {addr} is not a loopback address: tokens and \
                 passwords would cross the network in clear; listen on 127.0.0.1, pass --tls, \
                 or pass --insecure to serve it anyway"
            );
        }
        let data_dir = args.data_dir.canonicalize()?;
        let tls = if args.tls {
            Some(crate::dev_tls::DevTls::ensure(
                &data_dir,
                addr,
                args.tls_client_ca.as_deref(),
            )?)
        } else {
            None
        };
        let dial = tls.as_ref().map(|t| t.client.clone()).unwrap_or_default();
        let backend = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        // The orchestrator reaches the package store through its public
        // API, even in one process: the same path as when they are apart.
        let mut orchestrator_config =
            obup_upgrade_orchestrator::Config::embedded(&data_dir, &backend)?;
        orchestrator_config.package_store_tls = dial.clone();
        orchestrator_config.engine = EngineConfig {
            owner: "obup-dev".into(),
            ..EngineConfig::default()
        };
        // A simulated cluster answers in milliseconds: poll it often.
        orchestrator_config.driver = DriverConfig::polling_every(100);
        // Every gRPC call is checked, the services' own calls to each other
        // too: the tokens first (they live in the orchestrator's database).
        let tokens = Tokens::open(&orchestrator_config.database_url)
            .await
            .context("opening the token database")?;
        let dev_tokens = DevTokens::ensure(&tokens, &data_dir).await?;
        orchestrator_config.package_store_token = Some(dev_tokens.internal.clone());
        // The demo cluster before the orchestrator: after a restart, its
        // engine resumes interrupted sub-tasks at once, and they must find
        // the sys tenant and the agents answering.
        let demo = if args.demo {
            let store_ca = tls.as_ref().map(|t| t.files.ca_cert.clone());
            Some(start_demo(args, &data_dir, dev_tokens.agents_file.clone(), store_ca).await?)
        } else {
            None
        };
        // The orchestrator reaches the demo agents over mutual TLS.
        if let Some(files) = demo.as_ref().and_then(LocalCluster::tls) {
            orchestrator_config.agent_tls = Some(AgentTlsFiles {
                ca: files.ca_cert.clone(),
                cert: files.client_cert.clone(),
                key: files.client_key.clone(),
            });
        }
        let (stop, stopped) = watch::channel(false);
        let orchestrator = startup::start(&orchestrator_config, stopped)
            .await
            .context("starting the orchestrator")?;
        if let Some(cluster) = &demo {
            register_demo(args, cluster, &orchestrator).await?;
        }
        let passwords = obup_gateway::security::Passwords {
            root: args.root_password.clone(),
            agent: args.agent_password.clone(),
        };
        let backends = obup_gateway::Backends {
            packages: &backend,
            orchestrator: &backend,
            token: Some(&dev_tokens.internal),
            tls: &dial,
        };
        let gateway = Arc::new(
            obup_gateway::AppState::open(&data_dir, args.rsa_bits, passwords, addr, &backends)?
                .with_tokens(orchestrator.tokens.verifier())
                .over_tls(tls.is_some()),
        );
        let cli_token_file = if addr.ip().is_loopback() {
            if let Some(tls) = &tls {
                tls.publish_for_cli(args.token_dir.clone(), &backend)?;
            }
            dev_tokens.publish_for_cli(args.token_dir.clone(), &backend)?
        } else {
            None
        };
        Ok(Self {
            listener,
            store,
            gateway,
            config,
            orchestrator,
            stop,
            demo,
            tokens: dev_tokens,
            cli_token_file,
            tls,
        })
    }

    /// The development PKI, with `--tls`.
    pub fn tls(&self) -> Option<&crate::dev_tls::DevTls> {
        self.tls.as_ref()
    }

    /// The URL clients reach this server at.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr())
    }

    /// The admin token made on first start.
    pub fn admin_token(&self) -> &obup_kit::auth::Token {
        &self.tokens.admin
    }

    /// Where the admin token is kept: under the data dir, and where the
    /// CLI finds it.
    pub fn admin_token_files(&self) -> (PathBuf, Option<PathBuf>) {
        (self.tokens.admin_file.clone(), self.cli_token_file.clone())
    }

    /// The demo cluster, when there is one.
    pub fn demo(&self) -> Option<&LocalCluster> {
        self.demo.as_ref()
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
        // Two databases, two journals: refusals go to the journal of the
        // service whose method was called.
        let store_journal = self.store.journal();
        let orchestrator_journal = self.orchestrator.audit.clone();
        let gate = Arc::new(Gate {
            verifier: Some(self.orchestrator.tokens.verifier()),
            policy: Policy::of(&[
                obup_package_store::grpc::access::ACCESS,
                obup_upgrade_orchestrator::grpc::access::ACCESS,
            ])
            .mutating(&[
                obup_package_store::grpc::access::MUTATING,
                obup_upgrade_orchestrator::grpc::access::MUTATING,
            ]),
            audit: Some(Arc::new(ByService(vec![
                (
                    obup_package_store::startup::PATH_PREFIX,
                    Arc::new(store_journal.clone()) as Arc<dyn AuditSink>,
                ),
                ("/", Arc::new(orchestrator_journal.clone())),
            ]))),
        });
        let journals = vec![
            Journal {
                name: startup::JOURNAL,
                store: orchestrator_journal,
            },
            Journal {
                name: obup_package_store::startup::JOURNAL,
                store: store_journal,
            },
        ];
        let routes = obup_package_store::startup::routes(self.store)
            .add_service(obup_upgrade_orchestrator::grpc::server(
                self.orchestrator.orchestrator,
            ))
            .add_service(obup_upgrade_orchestrator::grpc::tokens_server(
                self.orchestrator.tokens,
            ))
            .add_service(obup_kit::audit::server(journals));
        let router = obup_kit::grpc::guarded_router(
            routes,
            &[
                obup_package_store::startup::SERVICE_NAME,
                startup::SERVICE_NAME,
                startup::TOKENS_SERVICE_NAME,
                startup::AUDIT_SERVICE_NAME,
            ],
            &[obup_proto::FILE_DESCRIPTOR_SET],
            Some(gate),
        )
        .await
        // obshell's REST paths on the same port.
        .merge(obup_gateway::routes::router(self.gateway))
        .fallback(obup_gateway::routes::fallback);
        let tls = self.tls.map(|t| t.server);
        obup_kit::grpc::serve_tls(self.listener, router, tls, shutdown).await?;
        let _ = self.stop.send(true);
        let _ = sweeper.await;
        let _ = self.orchestrator.engine.await;
        if let Some(demo) = self.demo {
            demo.stop().await.context("stopping the demo cluster")?;
        }
        Ok(())
    }
}

/// Starts the demo cluster (making its Python on first start) and
/// registers it, replacing an earlier registration of the same name.
/// Starts the demo cluster: obsim and an agent per simulated host.
async fn start_demo(
    args: &DevArgs,
    data_dir: &std::path::Path,
    store_token_file: PathBuf,
    store_ca: Option<PathBuf>,
) -> anyhow::Result<LocalCluster> {
    let python = match &args.demo_python {
        Some(p) => p.clone(),
        None => {
            let dir = data_dir.join("python");
            if !dir.join(".obup-complete").exists() {
                let _ = writeln!(
                    std::io::stderr(),
                    "preparing {} with {} for the upgrade scripts (first start only)",
                    dir.display(),
                    obup_local_cluster::python::MYSQL_CONNECTOR
                );
            }
            tokio::task::spawn_blocking(move || obup_local_cluster::python::mysql_connector(&dir))
                .await?
                .context("preparing Python for the upgrade scripts")?
        }
    };
    LocalCluster::start(args.local(data_dir, python, store_token_file, store_ca)?)
        .await
        .context("starting the demo cluster")
}

/// Registers the demo cluster (again: its agents' addresses are the same
/// across restarts, its SQL endpoints too).
async fn register_demo(
    args: &DevArgs,
    cluster: &LocalCluster,
    orchestrator: &Running,
) -> anyhow::Result<()> {
    let registration = obup_upgrade_orchestrator::clusters::Registration {
        name: DEMO_CLUSTER.into(),
        sql_endpoints: cluster.sql_endpoints(),
        sys_user: "root".into(),
        password: obup_upgrade_orchestrator::clusters::Password::new(args.root_password.clone()),
        agents: cluster.agents(),
        ssl_mode: obup_upgrade_orchestrator::clusters::SslMode::Disabled,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    orchestrator
        .orchestrator
        .clusters()
        // `obup dev`'s own start-up, not a call anyone made: not audited.
        .register(registration, true, now, None)
        .await
        .context("registering the demo cluster")?;
    Ok(())
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let args = args.read_password_files()?;
    let dev = Dev::bind(&args).await?;
    let addr = dev.local_addr();
    // Tests and scripts wait for the first line. A closed stdout must not
    // take the server down, so write errors are ignored.
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        quickstart(
            addr,
            &args,
            &dev.admin_token_files(),
            dev.tls().map(|t| t.files.ca_cert.as_path())
        )
    );
    dev.serve(obup_kit::shutdown::signal()).await
}

/// What `obup dev` prints when it is ready; `ca`: the CA it serves TLS
/// with.
fn quickstart(
    addr: SocketAddr,
    args: &DevArgs,
    tokens: &(PathBuf, Option<PathBuf>),
    ca: Option<&std::path::Path>,
) -> String {
    let scheme = if ca.is_some() { "https" } else { "http" };
    let server = if addr.to_string() == "127.0.0.1:2886" && ca.is_none() {
        String::new()
    } else {
        format!(" --server {scheme}://{addr}")
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
    let sdk = format!(
        "the same with the obshell SDK (pip install obshell==0.0.9):\n\
         \x20 from obshell import ClientV1\n\
         \x20 from obshell.auth.password import PasswordAuth\n\
         \x20 c = ClientV1(\"{ip}\", {port}, PasswordAuth({password}))\n\
         \x20 c.upload_pkg(\"oceanbase-ce-{sdk_target}.el7.x86_64.rpm\")\n\
         \x20 dag = c.upgrade_ob({sdk_args}, \"ROLLING\")\n\
         \x20 c.wait_dag_succeed(dag.generic_id)\n",
        ip = addr.ip(),
        port = addr.port(),
        // Never print the password itself.
        password = if args.root_password.is_empty() {
            "\"\""
        } else {
            "\"<root password>\""
        },
    );
    let (sdk, curl, grpcurl) = match ca {
        // obshell's SDKs speak plain HTTP only.
        Some(ca) => (
            String::new(),
            format!(
                "curl -s --cacert {} https://{addr}/api/v1/info",
                ca.display()
            ),
            format!("grpcurl -cacert {}", ca.display()),
        ),
        None => (
            format!("{sdk}\n"),
            format!("curl -s http://{addr}/api/v1/info"),
            "grpcurl -plaintext".to_owned(),
        ),
    };
    format!(
        "obup dev listening on {scheme}://{addr} (data in {data})\n\
         web console: {scheme}://{addr}/ (sign in with the admin token)\n\
         {token}\n\
         {cluster}\n\
         \n\
         quickstart:\n\
         {upload}\n\
         \x20 obup upgrade plan{server} {target}\n\
         \x20 obup upgrade start{server} {target} --watch\n\
         \x20 obup dag ls{server}\n\
         \n\
         {sdk}\
         over REST: {curl}\n\
         over gRPC: {grpcurl} -H \"authorization: Bearer $(cat {admin})\" {addr} list",
        admin = tokens.0.display(),
        token = match &tokens.1 {
            Some(cli) => format!(
                "admin token in {} (0600), and in {} where obup on this machine finds it",
                tokens.0.display(),
                cli.display()
            ),
            None => format!(
                "admin token in {} (0600): give it to obup with --token or OBUP_TOKEN",
                tokens.0.display()
            ),
        },
        data = args.data_dir.display(),
        cluster = if args.demo {
            format!(
                "demo cluster `{DEMO_CLUSTER}`: {} {} zones x {} server(s) on {}.N, {}",
                args.demo_edition,
                args.demo_zones,
                args.demo_servers_per_zone,
                args.demo_ip_prefix,
                args.demo_version
            )
        } else {
            "no demo cluster: register yours with `obup cluster add` (or run with --demo)".into()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quickstart_shows_the_sdk_and_curl_but_never_the_password() {
        let mut args = DevArgs::for_data_dir("/tmp/d".into());
        args.root_password = "S3cret!".into();
        let files = (PathBuf::from("/tmp/d/tokens/admin.token"), None);
        let text = quickstart("127.0.0.1:2999".parse().unwrap(), &args, &files, None);
        assert!(text.starts_with("obup dev listening on http://127.0.0.1:2999 "));
        assert!(text.contains("obup upgrade start --server http://127.0.0.1:2999 "));
        assert!(text.contains(r#"ClientV1("127.0.0.1", 2999, PasswordAuth("<root password>"))"#));
        assert!(text.contains("curl -s http://127.0.0.1:2999/api/v1/info"));
        assert!(!text.contains("S3cret!"));
        assert!(text.contains(
            "admin token in /tmp/d/tokens/admin.token (0600): give it to obup with --token"
        ));
        // On the default address no --server is needed.
        args.root_password.clear();
        let files = (
            PathBuf::from("/tmp/d/tokens/admin.token"),
            Some(PathBuf::from("/home/u/.config/obup/tokens/127.0.0.1_2886")),
        );
        let text = quickstart("127.0.0.1:2886".parse().unwrap(), &args, &files, None);
        assert!(text.contains("and in /home/u/.config/obup/tokens/127.0.0.1_2886 where obup"));
        assert!(!text.contains("--server"));
        assert!(text.contains(r#"PasswordAuth("")"#));
        // Over TLS: https everywhere, the CA named, no plaintext SDK.
        let ca = std::path::Path::new("/tmp/d/tls/ca.pem");
        let text = quickstart("127.0.0.1:2886".parse().unwrap(), &args, &files, Some(ca));
        assert!(text.starts_with("obup dev listening on https://127.0.0.1:2886 "));
        assert!(text.contains("obup upgrade start --server https://127.0.0.1:2886 "));
        assert!(text.contains("curl -s --cacert /tmp/d/tls/ca.pem https://127.0.0.1:2886/"));
        assert!(text.contains("grpcurl -cacert /tmp/d/tls/ca.pem -H"));
        assert!(!text.contains("-plaintext"));
        assert!(!text.contains("ClientV1"));
    }
}
