//! The gateway's one error type, and the only place where errors become
//! HTTP statuses and obshell error codes.

use axum::http::StatusCode;
use tonic::Code;

use crate::envelope::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Already in obshell's terms (authentication, request format).
    #[error("{}", .0.message)]
    Api(ApiError),
    /// A backend answered with an error.
    #[error("{}", .0.message())]
    Backend(tonic::Status),
    #[error("configuration error: {0}")]
    Config(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        Self::Backend(s)
    }
}

/// obshell's HTTP status for codes whose kind it fixes, where it differs
/// from what the gRPC code alone would give.
fn obshell_status(err_code: &str) -> Option<StatusCode> {
    Some(match err_code {
        "OB.Cluster.UnderMaintenanceWithDag"
        | "OB.Cluster.UnderMaintenance"
        | "OB.Upgrade.DepYamlMissing"
        | "OB.Package.MissingFile"
        | "OB.Package.Corrupted"
        | "Common.Unexpected" => StatusCode::INTERNAL_SERVER_ERROR,
        "OB.Package.NotExist"
        | "OB.Upgrade.Path.NotExist"
        | "OB.Upgrade.UnableToRollingUpgrade" => StatusCode::BAD_REQUEST,
        _ => return None,
    })
}

/// HTTP status of a gRPC code. One exhaustive match: a new code must be
/// mapped here.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Internal | Code::Unknown | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Error {
    pub fn to_api(&self) -> ApiError {
        match self {
            Self::Api(e) => e.clone(),
            Self::Backend(s) => match obup_kit::status::error_code(s) {
                Some(err_code) => {
                    let status = obshell_status(&err_code).unwrap_or_else(|| http_status(s.code()));
                    ApiError::new(status, &err_code, s.message())
                }
                // No code: the service was never reached (connection
                // refused, timed out) or failed outside its own errors.
                None => {
                    let (err_code, what) = match s.code() {
                        Code::Unavailable => ("Common.BackendUnavailable", "unreachable"),
                        Code::DeadlineExceeded => ("Common.BackendTimeout", "too slow to answer"),
                        _ => ("Common.Unexpected", "failed"),
                    };
                    ApiError::new(
                        http_status(s.code()),
                        err_code,
                        format!("a backend service is {what}: {}", s.message()),
                    )
                }
            },
            Self::Config(_) | Self::Io(_) => {
                tracing::error!(error = %self, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Common.Unexpected",
                    format!("Unexpected error: {self}"),
                )
            }
        }
    }
}
