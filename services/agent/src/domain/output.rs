//! What a finished operation reports: a typed output per operation, or a
//! failure with a stable code.

use serde::{Deserialize, Serialize};

use super::failure::OpFailure;

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded { output: OpOutput },
    Failed { failure: OpFailure },
}

/// The result as journaled and streamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    pub finished_at_ms: i64,
    pub outcome: Outcome,
}

impl OpResult {
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Succeeded { .. })
    }

    /// The failure, if the operation failed.
    pub fn failure(&self) -> Option<&OpFailure> {
        match &self.outcome {
            Outcome::Failed { failure } => Some(failure),
            Outcome::Succeeded { .. } => None,
        }
    }

    /// The output, if the operation succeeded.
    pub fn output(&self) -> Option<&OpOutput> {
        match &self.outcome {
            Outcome::Succeeded { output } => Some(output),
            Outcome::Failed { .. } => None,
        }
    }
}

/// One output per operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpOutput {
    PrepareDir { created: bool },
    RemoveDir { existed: bool },
    FetchPackage(FetchOutput),
    VerifyPackage(VerifyOutput),
    Unpack(UnpackOutput),
    CheckBinary { build: ObserverBuild },
    Backup(BackupManifest),
    StopObserver(StopOutput),
    Install(InstallOutput),
    StartObserver(StartOutput),
    RunUpgradeScript(ScriptOutput),
    RestoreBackup(RestoreOutput),
    CheckPython { python: Python },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOutput {
    pub bytes: u64,
    pub sha256: String,
    /// Bytes kept from an earlier run's partial file.
    pub resumed_from: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyOutput {
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackOutput {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// What `observer -V` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserverBuild {
    pub version: String,
    pub build: String,
    pub revision: String,
    pub build_time: String,
    pub product: String,
}

impl From<&obup_types::ObserverVersion> for ObserverBuild {
    fn from(v: &obup_types::ObserverVersion) -> Self {
        Self {
            version: v.version.clone(),
            build: v.build().to_owned(),
            revision: v.revision.clone(),
            build_time: v.build_time.clone(),
            product: v.product.clone(),
        }
    }
}

/// One file of the home as it was before an install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// Relative to the home.
    pub path: String,
    /// Lower-case hex SHA-256; empty for a symlink.
    pub sha256: String,
    pub mode: u32,
    pub size: u64,
    /// For a symlink, its target.
    pub link_target: Option<String>,
}

/// A backup: what it holds and where. Also the manifest file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// Host path of the backup dir.
    pub backup_dir: String,
    /// Host path of `manifest.json`.
    pub manifest: String,
    pub entries: Vec<BackupEntry>,
    /// Files (relative to the home) the install creates.
    pub created: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOutput {
    /// `None` when no observer was running.
    pub killed_pid: Option<i32>,
    /// When SIGKILL was sent, or when no observer was found running.
    pub kill_time_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallOutput {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartOutput {
    pub pid: i32,
    pub start_time_ms: i64,
    pub build: ObserverBuild,
    pub already_running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptOutput {
    pub exit_code: i32,
    pub python: Python,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreOutput {
    pub restored: u64,
    pub removed: u64,
}

/// A Python interpreter found on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Python {
    /// What was asked for: a configured path, `python3`, `python2`, `python`.
    pub command: String,
    /// The executable found.
    pub path: String,
    /// e.g. `3.11.7`
    pub version: String,
    pub mysql_connector: bool,
}

impl Python {
    /// The major version (2 or 3), 0 if unreadable.
    pub fn major(&self) -> u32 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}
