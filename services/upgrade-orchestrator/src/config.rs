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
    /// Until clusters are upgraded through agents: where the simulated
    /// cluster lives.
    pub data_dir: PathBuf,
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
            data_dir,
        })
    }

    /// Reads the environment:
    /// - `OBUP_DATA_DIR` (default `./obup-data`), `DATABASE_URL` (default
    ///   SQLite under it), `OBUP_PACKAGE_STORE_URL` (default
    ///   `http://127.0.0.1:2886`);
    /// - `OBUP_SECRET_KEY` (base64 of 32 bytes) or `OBUP_SECRET_KEY_FILE`
    ///   (default `<data dir>/secret.key`, created if missing): the key that
    ///   seals cluster passwords;
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
        if let Some(n) = number("OBUP_ENGINE_CONCURRENCY")? {
            config.engine.concurrency = n as usize;
        }
        Ok(config)
    }
}
