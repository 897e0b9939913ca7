//! Stable error codes on gRPC statuses.
//!
//! Every error an obup service returns carries a `google.rpc.ErrorInfo`
//! detail whose `reason` is a stable code such as `OB.Package.Name.NotSupport`
//! (obshell's code where obshell has one), and the same code in the
//! `x-obup-error-code` metadata for clients that do not decode details.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of obup's errors.
pub const DOMAIN: &str = "obup";
/// Metadata key carrying the error code.
pub const CODE_METADATA: &str = "x-obup-error-code";

/// A status with a stable error code.
pub fn with_code(code: Code, error_code: &str, message: impl Into<String>) -> Status {
    let details =
        ErrorDetails::with_error_info(error_code, DOMAIN, std::collections::HashMap::new());
    let mut status = Status::with_error_details(code, message, details);
    if let Ok(v) = MetadataValue::try_from(error_code) {
        status.metadata_mut().insert(CODE_METADATA, v);
    }
    status
}

/// The stable error code of a status, if it has one.
pub fn error_code(status: &Status) -> Option<String> {
    if let Some(info) = status.get_details_error_info() {
        return Some(info.reason);
    }
    status
        .metadata()
        .get(CODE_METADATA)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_round_trips_through_details() {
        let s = with_code(Code::InvalidArgument, "Package.Md5.Mismatch", "bad md5");
        assert_eq!(error_code(&s).as_deref(), Some("Package.Md5.Mismatch"));
        assert_eq!(s.message(), "bad md5");
    }
}
