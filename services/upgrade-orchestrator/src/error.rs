//! The orchestrator's one error type. `grpc/status.rs` is the only place
//! that turns it into codes.

use crate::domain::dag::Refusal;
use crate::domain::route::RouteError;

/// Everything the orchestrator can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- planning ----
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("Upgrade mode '{0}' is not supported")]
    ModeNotSupported(String),
    #[error("Release format {0} is illegal")]
    ReleaseFormat(String),
    #[error("Unsupported OB version '{0}', the minimum supported version is '4.2.0.0'")]
    VersionNotSupported(String),
    #[error("Target version {target} is not greater than current version {current}")]
    ToLowerVersion { target: String, current: String },
    #[error("the package {0} has no upgrade dependency file (etc/oceanbase_upgrade_dep.yml)")]
    DepYamlMissing(String),
    #[error("Path '{path}' is not valid: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("rolling upgrade needs at least 3 zones, the cluster has {0}")]
    UnableToRollingUpgrade(usize),
    #[error("These packages are missing: '[{}]'", .0.join(" "))]
    PackagesMissing(Vec<String>),
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },

    // ---- DAGs ----
    #[error("Create task '{dag}' failed: OceanBase cluster is under maintenance{}", holder.as_ref().map(|h| format!(" by DAG: {h}, please try again later")).unwrap_or_default())]
    UnderMaintenance { dag: String, holder: Option<String> },
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("Task not found: DAG {0}")]
    DagNotFound(i64),
    #[error("Task not found: node {0}")]
    NodeNotFound(i64),
    #[error("Task not found: sub-task {0}")]
    TaskNotFound(i64),
    #[error("Cluster is not under maintenance")]
    NoMaintenanceDag,

    // ---- clusters ----
    #[error("cluster {0} is not registered")]
    ClusterNotFound(String),
    #[error("{0}")]
    ClusterUnspecified(String),
    #[error("cluster {cluster} has an unfinished DAG ({dag}); finish, roll back or pass it first")]
    ClusterBusy { cluster: String, dag: String },
    #[error("cluster {0} is already registered; register it again with replace to change it")]
    ClusterExists(String),

    // ---- tokens and callers ----
    #[error("a live token named {0} exists; revoke it first or choose another name")]
    TokenExists(String),
    #[error("no live token is named {0}")]
    TokenNotFound(String),
    #[error(transparent)]
    Auth(#[from] obup_kit::auth::AuthError),

    // ---- the cluster ----
    /// A pre-check of obshell's failed: `code` is obshell's error code.
    #[error("{message}")]
    Precheck { code: &'static str, message: String },
    /// The sys tenant refused a statement.
    #[error("{endpoint}: {statement} failed: {code} ({state}): {message}")]
    Sql {
        endpoint: String,
        statement: &'static str,
        code: u16,
        state: String,
        message: String,
    },
    /// No SQL endpoint of the cluster could be reached.
    #[error("no SQL endpoint of the cluster answered {statement}: {}", tried.join("; "))]
    SqlUnreachable {
        statement: &'static str,
        tried: Vec<String>,
    },
    /// A row of the sys tenant could not be read.
    #[error("unexpected answer from the sys tenant: {0}")]
    Decode(#[from] obup_ob_sql::DecodeError),
    /// An operation on a host failed; `code` is the agent's stable code.
    #[error("{agent}: {code}: {message}")]
    HostOp {
        agent: String,
        code: String,
        message: String,
    },
    /// A wait on the cluster ran out of rounds.
    #[error("timed out waiting for {what}; last seen: {last}")]
    WaitTimedOut { what: String, last: String },

    // ---- infrastructure ----
    #[error("the package store failed: {0}")]
    PackageStore(tonic::Status),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Db(#[from] obup_kit::db::DbError),
    #[error("cluster operation failed: {0}")]
    Cluster(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True for errors caused by the infrastructure rather than the request.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::PackageStore(_)
                | Self::SqlUnreachable { .. }
                | Self::Decode(_)
                | Self::Database(_)
                | Self::Db(_)
                | Self::Cluster(_)
                | Self::Io(_)
                | Self::Internal(_)
        )
    }
}

impl Error {
    /// True for failures that go away by themselves (the database
    /// restarting, a connection cut): worth retrying the same write.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(e) => obup_kit::db::is_transient(e),
            _ => false,
        }
    }
}

/// The orchestrator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
