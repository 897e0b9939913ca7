//! Stable error codes on gRPC statuses.
//!
//! Every error an obup service returns carries a `google.rpc.ErrorInfo`
//! detail whose `reason` is a stable code such as `OB.Package.Name.NotSupport`
//! (obshell's code where obshell has one), and the same code in the
//! `x-obup-error-code` metadata for clients that do not decode details.

use axum::http::{HeaderMap, HeaderValue};
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

/// Gives a stable error code to the errors tonic raises itself, before any
/// handler runs (request too large, request not protobuf, no such method),
/// so that every error of an obup service has one. Such errors answer
/// "trailers-only", in the response headers, which is where this looks.
pub fn code_framework_error(headers: &mut HeaderMap) {
    if headers.contains_key(CODE_METADATA) {
        return;
    }
    let Some(status) = headers.get("grpc-status").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let message = headers
        .get("grpc-message")
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    let error_code = match status {
        // OUT_OF_RANGE: "Error, decoded message length too large: ..."
        "11" if message.contains("message length too large") => "Common.Request.TooLarge",
        // INTERNAL, as gRPC prescribes: "failed to decode Protobuf message"
        "13" if message.contains("failed to decode") => "Common.Request.Malformed",
        // UNIMPLEMENTED: no such service or method.
        "12" => "Common.Method.NotFound",
        _ => return,
    };
    headers.insert(CODE_METADATA, HeaderValue::from_static(error_code));
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec).
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (raw[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_errors_get_a_code_and_handler_errors_keep_theirs() {
        let headers = |status: &'static str, message: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-status", HeaderValue::from_static(status));
            h.insert("grpc-message", HeaderValue::from_static(message));
            h
        };
        let coded = |mut h: HeaderMap| {
            code_framework_error(&mut h);
            h.get(CODE_METADATA).map(|v| v.to_str().unwrap().to_owned())
        };
        let too_large = headers(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%205242885%20bytes",
        );
        assert_eq!(coded(too_large).as_deref(), Some("Common.Request.TooLarge"));
        let malformed = headers("13", "failed%20to%20decode%20Protobuf%20message");
        assert_eq!(
            coded(malformed).as_deref(),
            Some("Common.Request.Malformed")
        );
        assert_eq!(
            coded(headers("12", "")).as_deref(),
            Some("Common.Method.NotFound")
        );
        // A handler's own error is left alone.
        let mut own = headers("11", "offset%20past%20the%20end");
        assert_eq!(coded(own.clone()), None);
        own.insert(
            CODE_METADATA,
            HeaderValue::from_static("Package.Download.OffsetOutOfRange"),
        );
        assert_eq!(
            coded(own).as_deref(),
            Some("Package.Download.OffsetOutOfRange")
        );
    }

    #[test]
    fn code_round_trips_through_details() {
        let s = with_code(Code::InvalidArgument, "Package.Md5.Mismatch", "bad md5");
        assert_eq!(error_code(&s).as_deref(), Some("Package.Md5.Mismatch"));
        assert_eq!(s.message(), "bad md5");
    }
}
