//! obshell's response envelope: every answer, success or error, is
//!
//! ```json
//! {"successful":…,"timestamp":"…","duration":…,"status":…,"traceId":"…","data":…,"error":{…}}
//! ```
//!
//! with the HTTP status equal to `status`. The SDK parses every response as
//! this JSON (a plain-text error crashes it), so this module is the only way
//! a gateway response is built.

use std::time::Instant;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// Request facts every response needs, recorded when the headers arrive.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub trace_id: String,
    pub received: Instant,
    /// Unix seconds when the headers arrived: what expiry is checked against.
    pub received_unix: i64,
}

/// An error as the envelope carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// obshell's old numeric code (1: header undecryptable, 10008:
    /// unauthorized); 0 is omitted.
    pub code: i64,
    pub err_code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.err_code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, err_code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: 0,
            err_code: err_code.into(),
            message: message.into(),
        }
    }

    pub fn with_code(mut self, code: i64) -> Self {
        self.code = code;
        self
    }
}

#[derive(Serialize)]
struct Body<'a> {
    successful: bool,
    timestamp: String,
    duration: u64,
    status: u16,
    #[serde(rename = "traceId")]
    trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(skip_serializing_if = "is_zero")]
    code: i64,
    #[serde(rename = "errCode")]
    err_code: &'a str,
    message: &'a str,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A successful answer: status 200, with `data` (lists must already be
/// wrapped in `{"contents": […]}`) or without.
pub fn ok(meta: &RequestMeta, data: Option<Value>) -> Response {
    render(meta, StatusCode::OK, data, None)
}

/// An error answer.
pub fn error(meta: &RequestMeta, e: &ApiError) -> Response {
    render(meta, e.status, None, Some(e))
}

fn render(
    meta: &RequestMeta,
    status: StatusCode,
    data: Option<Value>,
    e: Option<&ApiError>,
) -> Response {
    let body = Body {
        successful: e.is_none(),
        timestamp: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
        duration: meta.received.elapsed().as_millis() as u64,
        status: status.as_u16(),
        trace_id: &meta.trace_id,
        data,
        error: e.map(|e| ErrorBody {
            code: e.code,
            err_code: &e.err_code,
            message: &e.message,
        }),
    };
    let json = serde_json::to_vec(&body).expect("the envelope always serializes");
    let mut response = (status, json).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Wraps a list as obshell does: `{"contents": […]}`.
pub fn contents(items: Vec<Value>) -> Value {
    serde_json::json!({ "contents": items })
}
