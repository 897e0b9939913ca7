//! What a DAG and each of its nodes were planned with, typed. Stored as
//! JSON beside the rows (so a DAG planned by one orchestrator runs on
//! another) and parsed once, when a DAG is loaded.

use serde::{Deserialize, Serialize};

use super::template::{FreezeScope, Mode};
use crate::packages::PackageRef;

/// The plan of a DAG, as stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagParams {
    pub version: String,
    /// The request's full release tag.
    pub release: String,
    pub mode: Mode,
    /// Empty: each host's `<observer home>/upgrade`.
    pub upgrade_dir: String,
    /// Creation time (ms): names the task directory, as obshell does.
    pub task_time: i64,
    pub target_build_version: String,
    pub hops: Vec<PlannedHop>,
}

impl DagParams {
    /// Params of DAGs that need none (tests of the engine's rules).
    pub fn empty() -> Self {
        Self {
            version: String::new(),
            release: String::new(),
            mode: Mode::Rolling,
            upgrade_dir: String::new(),
            task_time: 0,
            target_build_version: String::new(),
            hops: Vec::new(),
        }
    }
}

/// One hop with the packages serving it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedHop {
    pub version: String,
    pub build: Option<String>,
    pub require_from_binary: bool,
    pub deprecated_builds: Vec<String>,
    pub packages: Vec<PackageRef>,
}

impl PlannedHop {
    /// `<version>-<build>` (or the version alone) that a server runs once
    /// this hop is installed.
    pub fn build_version(&self) -> String {
        match &self.build {
            Some(b) => format!("{}-{b}", self.version),
            None => self.version.clone(),
        }
    }

    /// Whether a server reporting `running` (`<version>-<build>`) runs this
    /// hop's build.
    pub fn is_run_by(&self, running: &str) -> bool {
        let expected = self.build_version();
        running == expected || running.starts_with(&format!("{expected}-"))
    }
}

/// What one node needs beyond its kind: its hop, zone, freeze scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeParams {
    pub hop: Option<usize>,
    pub zone: Option<String>,
    pub freeze: Option<FreezeScope>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_params_keep_their_stored_shape() {
        let p = NodeParams {
            hop: Some(1),
            zone: Some("zone2".into()),
            freeze: Some(FreezeScope::Zone("zone2".into())),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"hop":1,"zone":"zone2","freeze":{"scope":"ZONE","zone":"zone2"}}"#
        );
        assert_eq!(serde_json::from_str::<NodeParams>(&json).unwrap(), p);
        let global: NodeParams =
            serde_json::from_str(r#"{"hop":0,"zone":null,"freeze":{"scope":"GLOBAL"}}"#).unwrap();
        assert_eq!(global.freeze, Some(FreezeScope::Global));
    }

    #[test]
    fn a_hop_is_run_by_its_build() {
        let hop = PlannedHop {
            version: "4.3.5.0".into(),
            build: Some("100000202024123117".into()),
            require_from_binary: false,
            deprecated_builds: vec![],
            packages: vec![],
        };
        assert!(hop.is_run_by("4.3.5.0-100000202024123117"));
        assert!(!hop.is_run_by("4.3.5.0-100000202024123118"));
        let any = PlannedHop { build: None, ..hop };
        assert!(any.is_run_by("4.3.5.0-1"));
        assert!(!any.is_run_by("4.3.5.1-1"));
    }
}
