//! Configuration of the package store.

use std::path::Path;
use std::time::Duration;

use crate::storage::ObjectStoreConfig;
use crate::upload::UploadSettings;
use crate::{Error, Result};

/// Everything the package store needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `postgres://...` or `sqlite://path?mode=rwc`.
    pub database_url: String,
    /// Where package bytes live.
    pub object_store: ObjectStoreConfig,
    pub upload: UploadSettings,
    /// How often expired uploads and orphaned objects are swept.
    pub sweep_interval: Duration,
}

impl Config {
    /// The embedded defaults: SQLite and local files under `data_dir`.
    pub fn embedded(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::Config(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let data_dir = data_dir.canonicalize().map_err(|e| {
            Error::Config(format!(
                "cannot resolve data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        Ok(Self {
            database_url: format!("sqlite://{}?mode=rwc", data_dir.join("obup.db").display()),
            object_store: ObjectStoreConfig::Local {
                root: data_dir.join("objects"),
            },
            upload: UploadSettings::default(),
            sweep_interval: Duration::from_secs(60),
        })
    }

    /// Reads `DATABASE_URL` and `OBUP_OBJECT_STORE_URL` (`file:///dir` or
    /// `s3://bucket` with `AWS_*` settings), plus optional
    /// `OBUP_MAX_PACKAGE_BYTES` and, in seconds (fractions allowed),
    /// `OBUP_UPLOAD_TTL_SECS`, `OBUP_UPLOAD_CHECKPOINT_SECS`,
    /// `OBUP_SWEEP_INTERVAL_SECS` and `OBUP_ORPHAN_GRACE_SECS`. Without the
    /// first two, falls back to the embedded defaults under `OBUP_DATA_DIR`
    /// (default `./obup-data`).
    pub fn from_env() -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let data_dir = env("OBUP_DATA_DIR").unwrap_or_else(|| "./obup-data".into());
        let mut config = Self::embedded(Path::new(&data_dir))?;
        if let Some(url) = env("DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(url) = env("OBUP_OBJECT_STORE_URL") {
            config.object_store = ObjectStoreConfig::from_url(&url)?;
        }
        let number = |k: &str| -> Result<Option<u64>> {
            env(k)
                .map(|v| {
                    v.parse()
                        .map_err(|_| Error::Config(format!("{k} must be a number, got {v:?}")))
                })
                .transpose()
        };
        let seconds = |k: &str| -> Result<Option<Duration>> {
            env(k)
                .map(|v| {
                    Duration::try_from_secs_f64(v.parse().unwrap_or(f64::NAN)).map_err(|_| {
                        Error::Config(format!("{k} must be a number of seconds, got {v:?}"))
                    })
                })
                .transpose()
        };
        if let Some(d) = seconds("OBUP_UPLOAD_TTL_SECS")? {
            config.upload.ttl = d;
        }
        if let Some(d) = seconds("OBUP_UPLOAD_CHECKPOINT_SECS")? {
            config.upload.checkpoint = d;
        }
        if let Some(d) = seconds("OBUP_ORPHAN_GRACE_SECS")? {
            config.upload.orphan_grace = d;
        }
        if let Some(d) = seconds("OBUP_SWEEP_INTERVAL_SECS")? {
            if d.is_zero() {
                return Err(Error::Config(
                    "OBUP_SWEEP_INTERVAL_SECS must be above 0".into(),
                ));
            }
            config.sweep_interval = d;
        }
        if let Some(bytes) = number("OBUP_MAX_PACKAGE_BYTES")? {
            config.upload.max_file_size = bytes;
        }
        Ok(config)
    }
}
