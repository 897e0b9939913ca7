//! The only place where orchestrator errors become gRPC codes and stable
//! error codes (obshell's, where obshell has one). Exhaustive on purpose.

use tonic::{Code, Status};

use crate::Error;
use crate::domain::route::RouteError;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let (code, error_code) = classify(&e);
        if e.is_internal() {
            tracing::error!(error = %e, error.debug = ?e, error_code, "internal error");
            return obup_kit::status::with_code(code, error_code, format!("internal error: {e}"));
        }
        obup_kit::status::with_code(code, error_code, e.to_string())
    }
}

fn classify(e: &Error) -> (Code, &'static str) {
    use Code::*;
    match e {
        Error::Route(r) => match r {
            RouteError::InvalidYaml(_) => (FailedPrecondition, "OB.Upgrade.DepYaml.Invalid"),
            RouteError::Duplicate(_) => (FailedPrecondition, "OB.Upgrade.DepYaml.Invalid"),
            RouteError::NoPath { .. } => (FailedPrecondition, "OB.Upgrade.Path.NotExist"),
            RouteError::Deprecated(_) => (InvalidArgument, "OB.Upgrade.ToDeprecatedVersion"),
        },
        Error::ModeNotSupported(_) => (InvalidArgument, "OB.Upgrade.Mode.NotSupported"),
        Error::ReleaseFormat(_) => (InvalidArgument, "Package.ReleaseFormat.Invalid"),
        Error::VersionNotSupported(_) => (InvalidArgument, "Agent.OBVersionNotSupported"),
        Error::ToLowerVersion { .. } => (InvalidArgument, "OB.Upgrade.ToLowerVersion"),
        Error::DepYamlMissing(_) => (FailedPrecondition, "OB.Upgrade.DepYamlMissing"),
        Error::InvalidPath { .. } => (InvalidArgument, "Common.InvalidPath"),
        Error::UnableToRollingUpgrade(_) => {
            (FailedPrecondition, "OB.Upgrade.UnableToRollingUpgrade")
        }
        Error::PackagesMissing(_) => (FailedPrecondition, "OB.Package.NotExist"),
        Error::InvalidArgument { .. } => (InvalidArgument, "Common.IllegalArgument"),
        Error::UnderMaintenance {
            holder: Some(_), ..
        } => (FailedPrecondition, "OB.Cluster.UnderMaintenanceWithDag"),
        Error::UnderMaintenance { holder: None, .. } => {
            (FailedPrecondition, "OB.Cluster.UnderMaintenance")
        }
        Error::Refused(r) => (
            if r.code == "Task.NotFound" {
                NotFound
            } else {
                FailedPrecondition
            },
            r.code,
        ),
        Error::DagNotFound(_) | Error::NodeNotFound(_) | Error::TaskNotFound(_) => {
            (NotFound, "Task.NotFound")
        }
        Error::NoMaintenanceDag => (NotFound, "Task.NotFound"),
        Error::ClusterNotFound(_) => (NotFound, "Cluster.NotFound"),
        Error::ClusterUnspecified(_) => (InvalidArgument, "Cluster.Unspecified"),
        Error::ClusterBusy { .. } => (FailedPrecondition, "Cluster.Busy"),
        Error::ClusterExists(_) => (AlreadyExists, "Cluster.AlreadyExists"),
        Error::TokenExists(_) => (AlreadyExists, "Token.AlreadyExists"),
        Error::TokenNotFound(_) => (NotFound, "Token.NotFound"),
        Error::Auth(a) => (a.grpc_code(), a.code()),
        Error::Precheck { code, .. } => (FailedPrecondition, code),
        Error::Sql { .. } => (FailedPrecondition, "OB.Sql.Failed"),
        Error::SqlUnreachable { .. } => (Unavailable, "OB.Server.Unavailable"),
        Error::Decode(_) => (Internal, "Common.Unexpected"),
        Error::WaitTimedOut { .. } => (DeadlineExceeded, "Task.Wait.Timeout"),
        Error::HostOp { .. } => (FailedPrecondition, "Agent.Operation.Failed"),
        Error::PackageStore(_) => (Unavailable, "Common.Unexpected"),
        Error::Database(_) | Error::Db(_) => (Unavailable, "Common.Unexpected"),
        Error::Cluster(_) | Error::Io(_) | Error::Internal(_) => (Internal, "Common.Unexpected"),
    }
}
