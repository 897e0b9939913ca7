//! `TestAgent`: an agent in this process on a host root of its own (a
//! temporary directory standing for the host's filesystem), with a typed
//! client; `TestStore`: a package store in this process (SQLite and local
//! files) holding real packages; a stand-in observer home; Pythons.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use obup_agent::client::{AgentClient, ClientError, Finished};
use obup_agent::domain::{OpKey, RunSpec, Secret, Work};
use obup_agent::{Agent, AgentHandle, Config};
use obup_proto::pb::packagestore::v1 as store;
use obup_rpm_build::{observer_standin, standin_version};
use obup_types::Edition;
use tokio::net::TcpListener;

pub const HOME: &str = "/home/admin/oceanbase";
pub const UPGRADE: &str = "/home/admin/oceanbase/upgrade";

/// An agent serving in this process.
pub struct TestAgent {
    pub config: Config,
    pub client: AgentClient,
    handle: Option<AgentHandle>,
    dir: tempfile::TempDir,
}

impl TestAgent {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("obup-agent-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join(&HOME[1..])).unwrap();
        let mut config = Config::local(root, dir.path().join("state"));
        // Tests wait for stops and starts in milliseconds, not minutes.
        config.stop_timeout_secs = 20;
        config.start_timeout_secs = 20;
        config.script_grace_secs = 2;
        tweak(&mut config);
        let (handle, client) = serve(&config).await;
        Self {
            config,
            client,
            handle: Some(handle),
            dir,
        }
    }

    /// Stops the agent (its running operations stay interrupted in the
    /// journal) and starts a new one on the same state dir and root.
    pub async fn restart(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop().await.unwrap();
        }
        let (handle, client) = serve(&self.config).await;
        self.handle = Some(handle);
        self.client = client;
    }

    pub fn url(&self) -> String {
        self.handle.as_ref().unwrap().url()
    }

    /// Where a host path is on this machine.
    pub fn real(&self, host_path: &str) -> PathBuf {
        self.config.root.join(host_path.trim_start_matches('/'))
    }

    pub fn home(&self) -> PathBuf {
        self.real(HOME)
    }

    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    /// A directory outside the host root, for escape attempts.
    pub fn outside(&self) -> PathBuf {
        let p = self.dir.path().join("outside");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub async fn run(&mut self, op: &str, attempt: u32, work: Work) -> Finished {
        self.try_run(spec(op, attempt, work)).await.unwrap()
    }

    pub async fn try_run(&mut self, spec: RunSpec) -> Result<Finished, ClientError> {
        tokio::time::timeout(Duration::from_secs(60), self.client.run_to_end(&spec))
            .await
            .expect("an operation of the tests ends within a minute")
    }
}

async fn serve(config: &Config) -> (AgentHandle, AgentClient) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = Agent::with_listener(config, listener)
        .await
        .unwrap()
        .spawn();
    // Lazy: a TLS agent refuses this plaintext client, and its tests make
    // their own.
    let client = AgentClient::connect_lazy(&handle.url(), None).unwrap();
    (handle, client)
}

pub fn spec(op: &str, attempt: u32, work: Work) -> RunSpec {
    RunSpec {
        key: OpKey::new(op, attempt).unwrap(),
        continue_: false,
        deadline_ms: None,
        after_log_seq: 0,
        work,
        password: Secret::default(),
    }
}

pub fn hp(s: &str) -> obup_agent::domain::HostPath {
    obup_agent::domain::HostPath::parse(s).unwrap()
}

/// The stable error code of a refused call.
pub fn code(e: &ClientError) -> String {
    e.error_code().unwrap_or_else(|| format!("<no code: {e}>"))
}

/// A package store in this process, on SQLite and local files.
pub struct TestStore {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestStore {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = obup_package_store::Config::embedded(dir.path()).unwrap();
        let app = obup_package_store::startup::Application::build(config, "127.0.0.1:0")
            .await
            .unwrap();
        let url = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        Self { url, _dir: dir }
    }

    pub async fn upload(&self, name: &str, bytes: &[u8]) -> store::Package {
        let mut client = store::package_store_client::PackageStoreClient::connect(self.url.clone())
            .await
            .unwrap();
        use store::upload_request::Kind;
        let mut messages = vec![store::UploadRequest {
            kind: Some(Kind::Start(store::UploadStart {
                file_name: name.into(),
                ..Default::default()
            })),
        }];
        let mut offset = 0u64;
        for chunk in bytes.chunks(1 << 20) {
            messages.push(store::UploadRequest {
                kind: Some(Kind::Data(store::UploadData {
                    offset,
                    data: Bytes::copy_from_slice(chunk),
                })),
            });
            offset += chunk.len() as u64;
        }
        client
            .upload(futures::stream::iter(messages))
            .await
            .unwrap()
            .into_inner()
    }
}

/// Writes a stand-in observer of `version`-`build` (CE) and a lib into
/// `home`, as an installed observer home looks.
pub fn install_standin(home: &Path, version: &str, build: &str) {
    use std::os::unix::fs::PermissionsExt;
    for d in ["bin", "lib", "etc"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    let observer = home.join("bin/observer");
    let _ = std::fs::remove_file(&observer);
    std::fs::write(
        &observer,
        observer_standin(&standin_version(Edition::Ce, version, build)),
    )
    .unwrap();
    std::fs::set_permissions(&observer, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Waits until `cond` holds (polling), failing after `secs`.
pub async fn eventually(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Python 3 virtualenv (no pip, no system site-packages) in `dir`, with a
/// stand-in `mysql.connector` module when `with_connector`: what the
/// agent's `--python` points at in dev mode, without a download. `None`
/// when this machine has no python3 with venv.
pub fn venv(dir: &Path, with_connector: bool) -> Option<PathBuf> {
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("no python3 venv on this machine; skipped");
        return None;
    }
    let python = dir.join("bin/python3");
    if with_connector {
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output()
            .unwrap();
        let site = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        let pkg = site.join("mysql/connector");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(site.join("mysql/__init__.py"), "").unwrap();
        std::fs::write(pkg.join("__init__.py"), "# obup test stand-in\n").unwrap();
    }
    Some(python)
}
