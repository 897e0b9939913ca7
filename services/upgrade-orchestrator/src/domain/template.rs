//! The DAG layouts obshell builds for an OceanBase upgrade, stage by stage,
//! with the same node names, order and placement.
//!
//! Each template node is one stage. A *parallel* node has one sub-task per
//! agent it runs on; a *serial* node has one sub-task, run by the
//! coordinator (cluster-level SQL and scripts).

use super::params::NodeParams;
use super::route::RouteNode;

pub use obup_types::Edition;

/// How the cluster is taken through the upgrade (stored as obshell names
/// it in requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    #[serde(rename = "ROLLING")]
    /// Zone by zone; the cluster keeps serving.
    Rolling,
    /// Every server at once.
    #[serde(rename = "STOPSERVICE")]
    StopService,
}

/// The upgrade scripts a package's `etc/` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    Checker,
    Pre,
    HealthChecker,
    /// The health checker, run for one zone.
    ZoneHealthChecker,
    Post,
}

impl Script {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Checker => "upgrade_checker.py",
            Self::Pre => "upgrade_pre.py",
            Self::HealthChecker | Self::ZoneHealthChecker => "upgrade_health_checker.py",
            Self::Post => "upgrade_post.py",
        }
    }

    fn stage_name(self) -> &'static str {
        match self {
            Self::Checker => "Execute upgrade checker script",
            Self::Pre => "Execute upgrade pre script",
            Self::HealthChecker => "Execute upgrade health checker script",
            Self::ZoneHealthChecker => "Execute upgrade zone health checker script",
            Self::Post => "Execute upgrade post script",
        }
    }
}

/// What a sub-task does. One variant per task implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    CheckPythonEnv,
    CreateUpgradeDir,
    DownloadPackages,
    CheckPackages,
    UnpackPackages,
    BackupForUpgrade,
    InstallAgent,
    BackupParameters,
    ExecuteScript(Script),
    StopZone,
    MinorFreeze,
    ReinstallObserver,
    StartZone,
    RestoreParameters,
    RemoveUpgradeDir,
}

/// What may be done to a task after it ran or failed (obshell's `can_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub retry: bool,
    pub rollback: bool,
    pub pass: bool,
    pub cancel: bool,
    /// Whether an interrupted execution can be resumed (after a crash)
    /// instead of failing.
    pub resume: bool,
}

impl Capabilities {
    const ALL: Self = Self::new(true, true, true, true, true);

    const fn new(retry: bool, rollback: bool, pass: bool, cancel: bool, resume: bool) -> Self {
        Self {
            retry,
            rollback,
            pass,
            cancel,
            resume,
        }
    }
}

impl TaskKind {
    /// Every kind, in the order of [`TaskKind::index`].
    pub const ALL: [TaskKind; 19] = [
        Self::CheckPythonEnv,
        Self::CreateUpgradeDir,
        Self::DownloadPackages,
        Self::CheckPackages,
        Self::UnpackPackages,
        Self::BackupForUpgrade,
        Self::InstallAgent,
        Self::BackupParameters,
        Self::ExecuteScript(Script::Checker),
        Self::ExecuteScript(Script::Pre),
        Self::ExecuteScript(Script::HealthChecker),
        Self::ExecuteScript(Script::ZoneHealthChecker),
        Self::ExecuteScript(Script::Post),
        Self::StopZone,
        Self::MinorFreeze,
        Self::ReinstallObserver,
        Self::StartZone,
        Self::RestoreParameters,
        Self::RemoveUpgradeDir,
    ];

    /// Position in [`TaskKind::ALL`]. An exhaustive match: with a new kind
    /// the tests do not compile until it has a place, and the round-trip
    /// test checks that `ALL` holds it there.
    #[cfg(test)]
    const fn index(self) -> usize {
        match self {
            Self::CheckPythonEnv => 0,
            Self::CreateUpgradeDir => 1,
            Self::DownloadPackages => 2,
            Self::CheckPackages => 3,
            Self::UnpackPackages => 4,
            Self::BackupForUpgrade => 5,
            Self::InstallAgent => 6,
            Self::BackupParameters => 7,
            Self::ExecuteScript(Script::Checker) => 8,
            Self::ExecuteScript(Script::Pre) => 9,
            Self::ExecuteScript(Script::HealthChecker) => 10,
            Self::ExecuteScript(Script::ZoneHealthChecker) => 11,
            Self::ExecuteScript(Script::Post) => 12,
            Self::StopZone => 13,
            Self::MinorFreeze => 14,
            Self::ReinstallObserver => 15,
            Self::StartZone => 16,
            Self::RestoreParameters => 17,
            Self::RemoveUpgradeDir => 18,
        }
    }

    /// Stable name stored with each task (the analogue of obshell's
    /// `struct_name`), used to find its implementation again after a restart.
    pub fn key(self) -> &'static str {
        match self {
            Self::CheckPythonEnv => "CheckPythonEnv",
            Self::CreateUpgradeDir => "CreateUpgradeDir",
            Self::DownloadPackages => "DownloadPackages",
            Self::CheckPackages => "CheckPackages",
            Self::UnpackPackages => "UnpackPackages",
            Self::BackupForUpgrade => "BackupForUpgrade",
            Self::InstallAgent => "InstallAgent",
            Self::BackupParameters => "BackupParameters",
            Self::ExecuteScript(Script::Checker) => "ExecuteScript:Checker",
            Self::ExecuteScript(Script::Pre) => "ExecuteScript:Pre",
            Self::ExecuteScript(Script::HealthChecker) => "ExecuteScript:HealthChecker",
            Self::ExecuteScript(Script::ZoneHealthChecker) => "ExecuteScript:ZoneHealthChecker",
            Self::ExecuteScript(Script::Post) => "ExecuteScript:Post",
            Self::StopZone => "StopZone",
            Self::MinorFreeze => "MinorFreeze",
            Self::ReinstallObserver => "ReinstallObserver",
            Self::StartZone => "StartZone",
            Self::RestoreParameters => "RestoreParameters",
            Self::RemoveUpgradeDir => "RemoveUpgradeDir",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The capability flags of §3.4 of the spec.
    /// Whether this kind's work is one operation on an agent, journaled
    /// there by (sub-task, attempt): the upgrade scripts. Such a sub-task
    /// outlives the orchestrator running it even where its work cannot
    /// continue (the pre script): whoever takes it over re-attaches, and the
    /// agent, which kept the operation running (or holds its result),
    /// answers; only an agent that lost it answers "cannot continue"
    /// (real-driver.md §5.2, orchestrator loss). obshell, whose engine runs
    /// the script itself, can only fail it.
    pub fn reattaches(self) -> bool {
        matches!(self, Self::ExecuteScript(_))
    }

    pub fn capabilities(self) -> Capabilities {
        use Capabilities as C;
        match self {
            Self::CheckPythonEnv
            | Self::CreateUpgradeDir
            | Self::DownloadPackages
            | Self::CheckPackages
            | Self::UnpackPackages
            | Self::BackupForUpgrade
            | Self::InstallAgent
            | Self::MinorFreeze => C::ALL,
            Self::BackupParameters => C::new(true, false, false, true, true),
            Self::ExecuteScript(Script::Pre) => C::new(true, false, false, false, false),
            Self::ExecuteScript(_)
            | Self::StopZone
            | Self::ReinstallObserver
            | Self::StartZone
            | Self::RestoreParameters => C::new(true, false, false, false, true),
            Self::RemoveUpgradeDir => C::new(true, false, true, true, true),
        }
    }
}

/// Scope of a minor freeze. Stored as `{"scope": "GLOBAL"}` or
/// `{"scope": "ZONE", "zone": "zone1"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "FreezeRepr", try_from = "FreezeRepr")]
pub enum FreezeScope {
    Zone(String),
    Global,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FreezeRepr {
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
}

impl From<FreezeScope> for FreezeRepr {
    fn from(f: FreezeScope) -> Self {
        match f {
            FreezeScope::Global => Self {
                scope: "GLOBAL".into(),
                zone: None,
            },
            FreezeScope::Zone(z) => Self {
                scope: "ZONE".into(),
                zone: Some(z),
            },
        }
    }
}

impl TryFrom<FreezeRepr> for FreezeScope {
    type Error = String;

    fn try_from(r: FreezeRepr) -> Result<Self, String> {
        match (r.scope.as_str(), r.zone) {
            ("GLOBAL", _) => Ok(Self::Global),
            ("ZONE", Some(z)) => Ok(Self::Zone(z)),
            (scope, _) => Err(format!(
                "freeze scope {scope:?} is not GLOBAL or ZONE with a zone"
            )),
        }
    }
}

/// One stage of a DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub kind: TaskKind,
    /// Agents with one sub-task each; empty for a serial node (one
    /// sub-task, run by the coordinator).
    pub agents: Vec<String>,
    /// Index of the route hop this stage belongs to.
    pub hop: Option<usize>,
    pub zone: Option<String>,
    pub freeze: Option<FreezeScope>,
}

impl NodeSpec {
    fn parallel(name: &str, kind: TaskKind, agents: &[String]) -> Self {
        Self {
            name: name.into(),
            kind,
            agents: agents.to_vec(),
            hop: None,
            zone: None,
            freeze: None,
        }
    }

    fn serial(name: &str, kind: TaskKind, hop: usize) -> Self {
        Self {
            name: name.into(),
            kind,
            agents: Vec::new(),
            hop: Some(hop),
            zone: None,
            freeze: None,
        }
    }

    pub fn is_parallel(&self) -> bool {
        !self.agents.is_empty()
    }

    /// The parameters a task needs, as stored with its node.
    pub fn params(&self) -> NodeParams {
        NodeParams {
            hop: self.hop,
            zone: self.zone.clone(),
            freeze: self.freeze.clone(),
        }
    }
}

/// A DAG to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagSpec {
    pub name: String,
    /// Takes the cluster's maintenance lock.
    pub maintenance: bool,
    pub nodes: Vec<NodeSpec>,
}

/// A zone and the agents (`ip:port`) of its servers, in cluster order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneAgents {
    pub zone: String,
    pub agents: Vec<String>,
}

/// Everything an upgrade DAG is laid out from.
#[derive(Debug, Clone)]
pub struct UpgradeLayout<'a> {
    pub edition: Edition,
    pub mode: Mode,
    /// Target version and the request's full release tag, for the name.
    pub version: &'a str,
    pub release: &'a str,
    pub hops: &'a [RouteNode],
    pub zones: &'a [ZoneAgents],
    pub freeze_server: bool,
}

const PRELUDE: [(&str, TaskKind); 5] = [
    ("Check the python environment", TaskKind::CheckPythonEnv),
    ("Create upgrade dir", TaskKind::CreateUpgradeDir),
    ("Download all required packages", TaskKind::DownloadPackages),
    ("Check all required packages", TaskKind::CheckPackages),
    ("Unpack all required packages", TaskKind::UnpackPackages),
];
/// obshell's agent upgrade, less its last two stages: "Restart obshell"
/// restarts obshell's daemon (`obshell admin restart`) and "Upgrade post
/// table maintain" migrates obshell's own `ocs` tables. obup-agent is not
/// obshell and uses neither; a host that also runs an obshell daemon keeps
/// it on the old binary until it is restarted. The obshell binary bundled
/// with the target is still installed (backed up first), so that the host's
/// obshell matches its observer, as obshell's own upgrade leaves it.
const AGENT_UPGRADE: [(&str, TaskKind); 2] = [
    ("Backup for upgrade", TaskKind::BackupForUpgrade),
    ("Install new obshell", TaskKind::InstallAgent),
];
const REMOVE_DIR: (&str, TaskKind) = ("Remove upgrade check task dir", TaskKind::RemoveUpgradeDir);

/// The upgrade DAG: prelude, one block per hop, tail.
pub fn upgrade_dag(l: &UpgradeLayout<'_>) -> DagSpec {
    let all: Vec<String> = l
        .zones
        .iter()
        .flat_map(|z| z.agents.iter().cloned())
        .collect();
    let mut nodes: Vec<NodeSpec> = PRELUDE
        .iter()
        .map(|(n, k)| NodeSpec::parallel(n, *k, &all))
        .collect();
    if l.edition.upgrades_agent() {
        nodes.extend(
            AGENT_UPGRADE
                .iter()
                .map(|(n, k)| NodeSpec::parallel(n, *k, &all)),
        );
    }
    for hop in 0..l.hops.len() {
        match l.mode {
            Mode::Rolling => rolling_hop(&mut nodes, hop, l.zones, l.freeze_server),
            Mode::StopService => stop_service_hop(&mut nodes, hop, &all, l.freeze_server),
        }
    }
    nodes.push(NodeSpec::parallel(REMOVE_DIR.0, REMOVE_DIR.1, &all));
    let kind = match l.mode {
        Mode::Rolling => "OB rolling upgrade",
        Mode::StopService => "OB stop service upgrade",
    };
    DagSpec {
        name: format!("{kind} {}-{}", l.version, l.release),
        maintenance: true,
        nodes,
    }
}

fn script(hop: usize, s: Script) -> NodeSpec {
    NodeSpec::serial(s.stage_name(), TaskKind::ExecuteScript(s), hop)
}

fn rolling_hop(nodes: &mut Vec<NodeSpec>, hop: usize, zones: &[ZoneAgents], freeze: bool) {
    nodes.push(NodeSpec::serial(
        "Backup parameters",
        TaskKind::BackupParameters,
        hop,
    ));
    nodes.push(script(hop, Script::Checker));
    nodes.push(script(hop, Script::Pre));
    for z in zones {
        nodes.push(script(hop, Script::HealthChecker));
        let mut stop = NodeSpec::serial(&format!("Stop {}", z.zone), TaskKind::StopZone, hop);
        stop.zone = Some(z.zone.clone());
        nodes.push(stop);
        if freeze {
            let mut f = NodeSpec::serial(
                "Minor freeze before stop server",
                TaskKind::MinorFreeze,
                hop,
            );
            f.freeze = Some(FreezeScope::Zone(z.zone.clone()));
            nodes.push(f);
        }
        let mut reinstall = NodeSpec::parallel(
            "Reinstall and restart observer",
            TaskKind::ReinstallObserver,
            &z.agents,
        );
        reinstall.hop = Some(hop);
        reinstall.zone = Some(z.zone.clone());
        nodes.push(reinstall);
        let mut health = script(hop, Script::ZoneHealthChecker);
        health.zone = Some(z.zone.clone());
        nodes.push(health);
        let mut start = NodeSpec::serial(&format!("Start {}", z.zone), TaskKind::StartZone, hop);
        start.zone = Some(z.zone.clone());
        nodes.push(start);
    }
    nodes.push(script(hop, Script::Post));
    nodes.push(NodeSpec::serial(
        "Restore parameters",
        TaskKind::RestoreParameters,
        hop,
    ));
}

fn stop_service_hop(nodes: &mut Vec<NodeSpec>, hop: usize, all: &[String], freeze: bool) {
    nodes.push(NodeSpec::serial(
        "Backup parameters",
        TaskKind::BackupParameters,
        hop,
    ));
    nodes.push(script(hop, Script::Checker));
    if freeze {
        let mut f = NodeSpec::serial(
            "Minor freeze before stop server",
            TaskKind::MinorFreeze,
            hop,
        );
        f.freeze = Some(FreezeScope::Global);
        nodes.push(f);
    }
    nodes.push(script(hop, Script::Pre));
    nodes.push(script(hop, Script::HealthChecker));
    let mut reinstall = NodeSpec::parallel(
        "Reinstall and restart observer",
        TaskKind::ReinstallObserver,
        all,
    );
    reinstall.hop = Some(hop);
    nodes.push(reinstall);
    nodes.push(script(hop, Script::HealthChecker));
    nodes.push(script(hop, Script::Post));
    nodes.push(NodeSpec::serial(
        "Restore parameters",
        TaskKind::RestoreParameters,
        hop,
    ));
}

/// The check DAG of `POST /ob/upgrade/check`: fetch, verify and unpack every
/// package the upgrade would need, then clean up. No maintenance lock.
pub fn check_dag(version: &str, release: &str, agents: &[String]) -> DagSpec {
    let mut nodes: Vec<NodeSpec> = PRELUDE
        .iter()
        .map(|(n, k)| NodeSpec::parallel(n, *k, agents))
        .collect();
    nodes.push(NodeSpec::parallel(REMOVE_DIR.0, REMOVE_DIR.1, agents));
    DagSpec {
        name: format!("Upgrade check OB {version}-{release}"),
        maintenance: false,
        nodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(n: usize, per_zone: usize) -> Vec<ZoneAgents> {
        (1..=n)
            .map(|z| ZoneAgents {
                zone: format!("zone{z}"),
                agents: (0..per_zone)
                    .map(|s| format!("10.0.{z}.{s}:2886"))
                    .collect(),
            })
            .collect()
    }

    fn hop(v: &str) -> RouteNode {
        RouteNode {
            version: v.into(),
            build: None,
            require_from_binary: true,
            deprecated_builds: vec![],
        }
    }

    fn layout<'a>(
        edition: Edition,
        mode: Mode,
        hops: &'a [RouteNode],
        zones: &'a [ZoneAgents],
    ) -> UpgradeLayout<'a> {
        UpgradeLayout {
            edition,
            mode,
            version: "4.2.1.1",
            release: "101000062023110109.el7",
            hops,
            zones,
            freeze_server: false,
        }
    }

    fn names(d: &DagSpec) -> Vec<&str> {
        d.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// obshell's CE rolling DAG is 30 stages; obup's is 28: it leaves out
    /// "Restart obshell" and "Upgrade post table maintain" (see
    /// `AGENT_UPGRADE`), and nothing else.
    #[test]
    fn ce_rolling_three_zones_is_obshells_30_stages_less_two() {
        let (hops, zones) = ([hop("4.2.1.1")], zones(3, 1));
        let d = upgrade_dag(&layout(Edition::Ce, Mode::Rolling, &hops, &zones));
        assert_eq!(d.name, "OB rolling upgrade 4.2.1.1-101000062023110109.el7");
        assert!(d.maintenance);
        assert_eq!(d.nodes.len(), 28);
        assert!(!names(&d).contains(&"Restart obshell"));
        assert!(!names(&d).contains(&"Upgrade post table maintain"));
        assert_eq!(
            names(&d)[..12],
            [
                "Check the python environment",
                "Create upgrade dir",
                "Download all required packages",
                "Check all required packages",
                "Unpack all required packages",
                "Backup for upgrade",
                "Install new obshell",
                "Backup parameters",
                "Execute upgrade checker script",
                "Execute upgrade pre script",
                "Execute upgrade health checker script",
                "Stop zone1",
            ]
        );
        assert_eq!(
            names(&d)[12..17],
            [
                "Reinstall and restart observer",
                "Execute upgrade zone health checker script",
                "Start zone1",
                "Execute upgrade health checker script",
                "Stop zone2",
            ]
        );
        assert_eq!(
            names(&d)[25..],
            [
                "Execute upgrade post script",
                "Restore parameters",
                "Remove upgrade check task dir"
            ]
        );
        // Placement: host work is parallel on every agent, the reinstall on
        // the zone's agents only, cluster work serial.
        assert_eq!(d.nodes[0].agents.len(), 3);
        assert_eq!(d.nodes[12].agents, ["10.0.1.0:2886"]);
        assert!(!d.nodes[11].is_parallel());
        assert_eq!(d.nodes[11].zone.as_deref(), Some("zone1"));
    }

    #[test]
    fn ce_stop_service_is_16_stages() {
        let (hops, zones) = ([hop("4.2.1.1")], zones(3, 2));
        let d = upgrade_dag(&layout(Edition::Ce, Mode::StopService, &hops, &zones));
        assert_eq!(
            d.name,
            "OB stop service upgrade 4.2.1.1-101000062023110109.el7"
        );
        assert_eq!(d.nodes.len(), 16);
        assert_eq!(
            names(&d)[7..],
            [
                "Backup parameters",
                "Execute upgrade checker script",
                "Execute upgrade pre script",
                "Execute upgrade health checker script",
                "Reinstall and restart observer",
                "Execute upgrade health checker script",
                "Execute upgrade post script",
                "Restore parameters",
                "Remove upgrade check task dir",
            ]
        );
        assert_eq!(d.nodes[11].agents.len(), 6, "every agent at once");
    }

    #[test]
    fn business_rolling_three_zones_is_26_stages() {
        let (hops, zones) = ([hop("4.2.1.1")], zones(3, 1));
        let d = upgrade_dag(&layout(Edition::Business, Mode::Rolling, &hops, &zones));
        assert_eq!(
            d.nodes.len(),
            26,
            "as obshell: Business has no agent upgrade"
        );
        assert!(!names(&d).contains(&"Install new obshell"));
    }

    #[test]
    fn hops_repeat_the_block_and_freeze_adds_its_stages() {
        let (hops, zones) = (
            [hop("4.1.0.2"), hop("4.2.1.2"), hop("4.3.0.0")],
            zones(3, 1),
        );
        let d = upgrade_dag(&layout(Edition::Ce, Mode::Rolling, &hops, &zones));
        assert_eq!(d.nodes.len(), 7 + 3 * 20 + 1);
        assert_eq!(d.nodes[7 + 20].hop, Some(1));
        assert_eq!(d.nodes[7 + 40].hop, Some(2));

        let mut l = layout(Edition::Ce, Mode::Rolling, &hops[..1], &zones);
        l.freeze_server = true;
        let d = upgrade_dag(&l);
        assert_eq!(d.nodes.len(), 7 + 5 + 3 * 6 + 1);
        assert_eq!(d.nodes[12].name, "Minor freeze before stop server");
        assert_eq!(d.nodes[12].freeze, Some(FreezeScope::Zone("zone1".into())));

        l.mode = Mode::StopService;
        let d = upgrade_dag(&l);
        assert_eq!(d.nodes.len(), 17);
        assert_eq!(d.nodes[9].freeze, Some(FreezeScope::Global));
    }

    #[test]
    fn check_dag_has_six_parallel_stages() {
        let agents = vec!["a:1".to_owned(), "b:1".to_owned()];
        let d = check_dag("4.2.1.1", "1.el7", &agents);
        assert_eq!(d.name, "Upgrade check OB 4.2.1.1-1.el7");
        assert!(!d.maintenance);
        assert_eq!(d.nodes.len(), 6);
        assert!(d.nodes.iter().all(|n| n.agents == agents));
    }

    #[test]
    fn task_keys_round_trip() {
        for (i, k) in TaskKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?} is in its place in ALL");
            assert_eq!(TaskKind::from_key(k.key()), Some(k));
        }
        let mut keys: Vec<&str> = TaskKind::ALL.iter().map(|k| k.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), TaskKind::ALL.len(), "keys are unique");
        assert_eq!(TaskKind::from_key("Unknown"), None);
    }

    #[test]
    fn capabilities_follow_obshell() {
        let c = TaskKind::ExecuteScript(Script::Pre).capabilities();
        assert!(c.retry && !c.rollback && !c.pass && !c.cancel && !c.resume);
        let c = TaskKind::RemoveUpgradeDir.capabilities();
        assert!(c.retry && !c.rollback && c.pass && c.cancel && c.resume);
        assert!(TaskKind::InstallAgent.capabilities().rollback);
        assert!(!TaskKind::BackupParameters.capabilities().rollback);
    }
}
