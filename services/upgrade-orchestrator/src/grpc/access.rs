//! The role each method of the orchestrator's services needs (the gate in
//! front of the routes checks it; see `obup_kit::auth`). Every method is
//! listed: a test checks the table against the protos.

use obup_kit::auth::Role::{self, Admin, Operator, Viewer};

pub const ACCESS: &[(&str, Role)] = &[
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/PlanUpgrade",
        Viewer,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/CheckUpgrade",
        Operator,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/StartUpgrade",
        Operator,
    ),
    ("/obup.orchestrator.v1.UpgradeOrchestrator/GetDag", Viewer),
    ("/obup.orchestrator.v1.UpgradeOrchestrator/ListDags", Viewer),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/OperateDag",
        Operator,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/PassNode",
        Operator,
    ),
    ("/obup.orchestrator.v1.UpgradeOrchestrator/GetNode", Viewer),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/GetSubTask",
        Viewer,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/GetSubTaskLogs",
        Viewer,
    ),
    ("/obup.orchestrator.v1.UpgradeOrchestrator/WatchDag", Viewer),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/WatchDags",
        Viewer,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/RegisterCluster",
        Admin,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/ListClusters",
        Viewer,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/GetCluster",
        Viewer,
    ),
    (
        "/obup.orchestrator.v1.UpgradeOrchestrator/RemoveCluster",
        Admin,
    ),
    ("/obup.auth.v1.Tokens/CreateToken", Admin),
    ("/obup.auth.v1.Tokens/ListTokens", Admin),
    ("/obup.auth.v1.Tokens/RevokeToken", Admin),
    // A package store on its own asks this with its viewer token.
    ("/obup.auth.v1.Tokens/CheckToken", Viewer),
    // Each service keeps its own journal; both serve this method.
    ("/obup.audit.v1.Audit/ListAuditEvents", Admin),
];

/// The methods of the orchestrator's services that change something: each
/// leaves an audit event, refused or not. The protos mark every other
/// method `NO_SIDE_EFFECTS`; a test checks the two agree. `CheckUpgrade` is
/// here: it creates (and runs) a check DAG, which is a change.
pub const MUTATING: &[&str] = &[
    "/obup.orchestrator.v1.UpgradeOrchestrator/CheckUpgrade",
    "/obup.orchestrator.v1.UpgradeOrchestrator/StartUpgrade",
    "/obup.orchestrator.v1.UpgradeOrchestrator/OperateDag",
    "/obup.orchestrator.v1.UpgradeOrchestrator/PassNode",
    "/obup.orchestrator.v1.UpgradeOrchestrator/RegisterCluster",
    "/obup.orchestrator.v1.UpgradeOrchestrator/RemoveCluster",
    "/obup.auth.v1.Tokens/CreateToken",
    "/obup.auth.v1.Tokens/RevokeToken",
];
