//! What an operation's work gets: the host, the agent's settings, its log,
//! its stop signal, whether it runs through the continue path, its
//! checkpoint and (scripts only) the password.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::ClientTlsConfig;

use super::live::StopSignal;
use super::log::OpLog;
use crate::domain::{OpKey, Secret};
use crate::host::Host;
use crate::journal::Journal;
use crate::work::interpreter::Interpreters;

/// The agent's tunables the operations read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub svr_ip: String,
    pub rpc_port: u16,
    pub sql_port: u16,
    pub python: Option<PathBuf>,
    /// For `https://` package store URLs.
    pub store_tls: Option<ClientTlsConfig>,
    /// Sent with downloads, for a store that checks tokens.
    pub store_token: Option<obup_kit::auth::Token>,
    /// 0: unlimited.
    pub fetch_bytes_per_sec: u64,
    pub max_unpacked_bytes: u64,
    pub stop_timeout: Duration,
    pub start_timeout: Duration,
    pub script_grace: Duration,
    /// How often a stop or start looks at the process again.
    pub poll: Duration,
}

/// Everything one run of an operation's work may use.
#[derive(Debug, Clone)]
pub struct OpContext {
    pub key: OpKey,
    pub host: Arc<Host>,
    pub settings: Arc<Settings>,
    pub log: OpLog,
    pub stop: StopSignal,
    /// This run continues an interrupted one.
    pub continued: bool,
    pub checkpoint: Checkpoint,
    pub password: Secret,
    /// The agent's interpreters kept ready for scripts.
    pub interpreters: Arc<Interpreters>,
}

/// Progress an operation records for its continue path: JSON in the
/// journal, read back by the next run of the same key.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    journal: Journal,
    key: OpKey,
    /// What the journal held when this run started.
    previous: Option<String>,
}

impl Checkpoint {
    pub fn new(journal: Journal, key: OpKey, previous: Option<String>) -> Self {
        Self {
            journal,
            key,
            previous,
        }
    }

    /// What an earlier run of this key saved, if it was of this type.
    pub fn previous<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.previous.as_deref()?).ok()
    }

    /// Saves durably before returning: the next run may depend on it.
    pub async fn save<T: Serialize>(&self, value: &T) -> Result<(), crate::Error> {
        let json =
            serde_json::to_string(value).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.journal.save_checkpoint(&self.key, &json).await
    }
}
