//! The work items: what an orchestrator may ask a host to do. Typed, never
//! a command line. Journaled as JSON (without the password, which is not
//! part of a work item).

use serde::{Deserialize, Serialize};

use super::paths::HostPath;

/// One operation's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    PrepareDir(PrepareDir),
    RemoveDir(RemoveDir),
    FetchPackage(FetchPackage),
    VerifyPackage(VerifyPackage),
    Unpack(Unpack),
    CheckBinary(CheckBinary),
    Backup(Backup),
    StopObserver,
    Install(Install),
    StartObserver(StartObserver),
    RunUpgradeScript(RunUpgradeScript),
    RestoreBackup(RestoreBackup),
    CheckPython(CheckPython),
}

impl Work {
    /// A short name for logs and the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PrepareDir(_) => "prepare_dir",
            Self::RemoveDir(_) => "remove_dir",
            Self::FetchPackage(_) => "fetch_package",
            Self::VerifyPackage(_) => "verify_package",
            Self::Unpack(_) => "unpack",
            Self::CheckBinary(_) => "check_binary",
            Self::Backup(_) => "backup",
            Self::StopObserver => "stop_observer",
            Self::Install(_) => "install",
            Self::StartObserver(_) => "start_observer",
            Self::RunUpgradeScript(_) => "run_upgrade_script",
            Self::RestoreBackup(_) => "restore_backup",
            Self::CheckPython(_) => "check_python",
        }
    }

    /// Whether an interrupted run may be run again through the continue
    /// path. Every host operation is written to be re-run safely (it checks
    /// what is done instead of assuming a clean slate); a script is the
    /// orchestrator's call (obshell's flag: not the pre script).
    pub fn can_continue(&self) -> bool {
        match self {
            Self::RunUpgradeScript(s) => s.can_continue,
            Self::PrepareDir(_)
            | Self::RemoveDir(_)
            | Self::FetchPackage(_)
            | Self::VerifyPackage(_)
            | Self::Unpack(_)
            | Self::CheckBinary(_)
            | Self::Backup(_)
            | Self::StopObserver
            | Self::Install(_)
            | Self::StartObserver(_)
            | Self::RestoreBackup(_)
            | Self::CheckPython(_) => true,
        }
    }

    /// Whether `other` is the same work as `self`: equal but for where a
    /// package is fetched from. The package store's address is not part of
    /// what the operation is: an orchestrator restarted on another port (or
    /// a store moved behind a new address) still asks for the same bytes
    /// into the same file, and the continued run fetches from the new one.
    pub fn same_work(&self, other: &Work) -> bool {
        match (self, other) {
            (Self::FetchPackage(a), Self::FetchPackage(b)) => {
                FetchPackage {
                    store_url: b.store_url.clone(),
                    ..a.clone()
                } == *b
            }
            (a, b) => a == b,
        }
    }

    /// Whether the work needs the password.
    pub fn takes_password(&self) -> bool {
        matches!(self, Self::RunUpgradeScript(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareDir {
    pub path: HostPath,
    pub require_empty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveDir {
    pub path: HostPath,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchPackage {
    pub store_url: String,
    pub package_id: i64,
    /// Lower-case hex.
    pub sha256: String,
    pub size: u64,
    pub dest: HostPath,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyPackage {
    pub path: HostPath,
    pub sha256: String,
    pub md5: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpack {
    pub rpm: HostPath,
    pub dest: HostPath,
}

/// What a binary must report; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedBuild {
    pub version: Option<String>,
    pub build: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckBinary {
    /// The unpacked observer home.
    pub home: HostPath,
    pub expect: ExpectedBuild,
}

/// Which part of an unpacked home an install copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallScope {
    /// Everything but entries whose name contains `obshell`.
    Observer,
    /// Only `bin/obshell`.
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// The unpacked homes that will be installed, in order.
    pub sources: Vec<HostPath>,
    pub scope: InstallScope,
    pub backup_dir: HostPath,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    pub source: HostPath,
    pub scope: InstallScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartObserver {
    pub expect: ExpectedBuild,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunUpgradeScript {
    pub script: HostPath,
    pub work_dir: HostPath,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub zone: Option<String>,
    /// Seconds; `None`: until the deadline.
    pub timeout_secs: Option<u32>,
    pub can_continue: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreBackup {
    pub backup_dir: HostPath,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckPython {
    pub script: Option<HostPath>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(store_url: &str, sha256: &str) -> Work {
        Work::FetchPackage(FetchPackage {
            store_url: store_url.into(),
            package_id: 7,
            sha256: sha256.into(),
            size: 10,
            dest: HostPath::parse("/u/pkg.rpm").unwrap(),
        })
    }

    #[test]
    fn a_fetch_from_a_new_store_address_is_the_same_work() {
        let before = fetch("http://127.0.0.1:4000", "ab");
        assert!(before.same_work(&fetch("http://127.0.0.1:5000", "ab")));
        // Other bytes are other work, wherever they come from.
        assert!(!before.same_work(&fetch("http://127.0.0.1:4000", "cd")));
        assert!(!before.same_work(&Work::StopObserver));
    }
}
