//! Configuration of the orchestrator: one `Config` for its binary and for
//! `obup dev`, read from the environment or made with embedded defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clusters::SecretKey;
use crate::driver::DriverConfig;
use crate::engine::EngineConfig;
use crate::{Error, Result};

/// Where the key that seals cluster passwords comes from. Never the
/// database.
#[derive(Clone)]
pub enum SecretKeySource {
    /// A file holding 32 bytes or their base64; created (0600) if missing.
    File(PathBuf),
    /// The base64 itself (`OBUP_SECRET_KEY`).
    Value(String),
}

impl std::fmt::Debug for SecretKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Value(_) => f.write_str("Value(<secret>)"),
        }
    }
}

impl SecretKeySource {
    pub fn load(&self) -> Result<SecretKey> {
        match self {
            Self::File(path) => SecretKey::load_or_create(path),
            Self::Value(v) => SecretKey::from_bytes(v.as_bytes()),
        }
    }
}

/// Everything the orchestrator needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `postgres://...` or `sqlite://path?mode=rwc`.
    pub database_url: String,
    /// The package store's gRPC URL (also handed to agents to pull from).
    pub package_store_url: String,
    pub engine: EngineConfig,
    pub secret_key: SecretKeySource,
    pub driver: DriverConfig,
    /// The package store's URL as agents reach it (they pull packages
    /// themselves); `None`: `package_store_url`.
    pub agent_store_url: Option<String>,
    /// Mutual TLS to the agents; `None`: plaintext (loopback only).
    pub agent_tls: Option<AgentTlsFiles>,
    /// The token the orchestrator calls the package store with (a viewer
    /// token suffices); `None` for a store that checks nobody.
    pub package_store_token: Option<obup_kit::auth::Token>,
    /// How it dials an `https://` package store (trusted CAs, its client
    /// certificate).
    pub package_store_tls: obup_kit::tls::ClientTls,
}

/// PEM files of the orchestrator's side of the agents' mutual TLS.
#[derive(Debug, Clone)]
pub struct AgentTlsFiles {
    /// The CA that signed the agents' certificates.
    pub ca: PathBuf,
    /// The orchestrator's client certificate and key (signed by a CA the
    /// agents trust).
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// The embedded defaults under `data_dir`: SQLite, the package store on
    /// `package_store_url`, a secret key file beside the database.
    pub fn embedded(data_dir: &Path, package_store_url: &str) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        Ok(Self {
            database_url: format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("orchestrator.db").display()
            ),
            package_store_url: package_store_url.to_owned(),
            engine: EngineConfig::default(),
            secret_key: SecretKeySource::File(data_dir.join("secret.key")),
            driver: DriverConfig::default(),
            agent_store_url: None,
            agent_tls: None,
            package_store_token: None,
            package_store_tls: obup_kit::tls::ClientTls::default(),
        })
    }

    pub fn agent_store_url(&self) -> &str {
        self.agent_store_url
            .as_deref()
            .unwrap_or(&self.package_store_url)
    }

    /// The tonic TLS settings for agents, read from the configured files.
    pub fn agent_tls(&self) -> Result<Option<tonic::transport::ClientTlsConfig>> {
        let Some(files) = &self.agent_tls else {
            return Ok(None);
        };
        let tls = |e: obup_kit::tls::TlsError| Error::InvalidArgument {
            field: "agent TLS",
            reason: e.to_string(),
        };
        let ca = obup_kit::tls::read_pem(&files.ca).map_err(tls)?;
        let identity = obup_kit::tls::KeyPairPem::read(&files.cert, &files.key).map_err(tls)?;
        obup_kit::tls::client_config(&ca, Some(&identity), None)
            .map(Some)
            .map_err(tls)
    }

    /// Reads the environment:
    /// - `OBUP_DATA_DIR` (default `./obup-data`), `DATABASE_URL` (default
    ///   SQLite under it), `OBUP_PACKAGE_STORE_URL` (default
    ///   `http://127.0.0.1:2886`);
    /// - `OBUP_SECRET_KEY` (base64 of 32 bytes) or `OBUP_SECRET_KEY_FILE`
    ///   (default `<data dir>/secret.key`, created if missing): the key that
    ///   seals cluster passwords;
    /// - `OBUP_AGENT_STORE_URL`: the package store as agents reach it
    ///   (default `OBUP_PACKAGE_STORE_URL`);
    /// - `OBUP_PACKAGE_STORE_TOKEN_FILE`: the token to call the store with;
    /// - `OBUP_TLS_CA` (default the system's roots), `OBUP_TLS_CLIENT_CERT`
    ///   and `OBUP_TLS_CLIENT_KEY`: how an `https://` store is dialled;
    /// - `OBUP_AGENT_TLS_CA`, `OBUP_AGENT_TLS_CERT`, `OBUP_AGENT_TLS_KEY`:
    ///   mutual TLS to the agents (all three, or none for plaintext);
    /// - `OBUP_DRIVER_POLL_MS`: how often waits on a cluster ask (default
    ///   200; obshell asks every 5 s, 10 s for freezes); the limits stay
    ///   obshell's;
    /// - `OBUP_ENGINE_ID` (unique per orchestrator sharing a database,
    ///   stable across restarts; default the host name),
    ///   `OBUP_ENGINE_LEASE_SECS` (15), `OBUP_ENGINE_CONCURRENCY` (64; 0 makes
    ///   an API-only replica).
    pub fn from_env() -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let data_dir = PathBuf::from(env("OBUP_DATA_DIR").unwrap_or_else(|| "./obup-data".into()));
        let store = env("OBUP_PACKAGE_STORE_URL").unwrap_or_else(|| "http://127.0.0.1:2886".into());
        let mut config = Self::embedded(&data_dir, &store)?;
        if let Some(url) = env("DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(key) = env("OBUP_SECRET_KEY") {
            config.secret_key = SecretKeySource::Value(key);
        } else if let Some(file) = env("OBUP_SECRET_KEY_FILE") {
            config.secret_key = SecretKeySource::File(file.into());
        }
        config.agent_store_url = env("OBUP_AGENT_STORE_URL");
        if let Some(file) = env("OBUP_PACKAGE_STORE_TOKEN_FILE") {
            let token = obup_kit::auth::read_token_file(file.as_ref())?.ok_or_else(|| {
                Error::InvalidArgument {
                    field: "OBUP_PACKAGE_STORE_TOKEN_FILE",
                    reason: format!("{file} holds no obup token"),
                }
            })?;
            config.package_store_token = Some(token);
        }
        config.package_store_tls =
            obup_kit::tls::ClientTls::from_env().map_err(|e| Error::InvalidArgument {
                field: "OBUP_TLS_CA",
                reason: e.to_string(),
            })?;
        match (
            env("OBUP_AGENT_TLS_CA"),
            env("OBUP_AGENT_TLS_CERT"),
            env("OBUP_AGENT_TLS_KEY"),
        ) {
            (Some(ca), Some(cert), Some(key)) => {
                config.agent_tls = Some(AgentTlsFiles {
                    ca: ca.into(),
                    cert: cert.into(),
                    key: key.into(),
                });
            }
            (None, None, None) => {}
            _ => {
                return Err(Error::InvalidArgument {
                    field: "environment",
                    reason: "set all of OBUP_AGENT_TLS_CA, OBUP_AGENT_TLS_CERT and OBUP_AGENT_TLS_KEY, or none"
                        .into(),
                });
            }
        }
        config.engine.owner = env("OBUP_ENGINE_ID").unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map_or_else(|_| "obup".into(), |h| h.trim().to_owned())
        });
        let number = |k: &str| -> Result<Option<f64>> {
            env(k)
                .map(|v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n >= 0.0)
                        .ok_or_else(|| Error::InvalidArgument {
                            field: "environment",
                            reason: format!("{k} must be a number >= 0, got {v:?}"),
                        })
                })
                .transpose()
        };
        if let Some(secs) = number("OBUP_ENGINE_LEASE_SECS")? {
            config.engine.lease = Duration::from_secs_f64(secs);
        }
        if let Some(ms) = number("OBUP_DRIVER_POLL_MS")? {
            config.driver = DriverConfig::polling_every(ms.max(1.0) as u64);
        }
        if let Some(n) = number("OBUP_ENGINE_CONCURRENCY")? {
            config.engine.concurrency = n as usize;
        }
        Ok(config)
    }
}
