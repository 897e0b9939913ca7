//! The REST routes: obshell's paths, each answering with the envelope.
//!
//! One table of routes ([`router`]); a middleware that stamps each request
//! (trace id, arrival time) and turns anything that is not already an
//! envelope — axum's own 404/405/413, a panic — into one.

mod agent;
mod assets;
mod console;
mod events;
mod packages;
mod tasks;
mod upgrade;

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::envelope::{self, ApiError, RequestMeta};
use crate::security::AuthHeader;
use crate::{AppState, Error};

/// Largest non-upload request body (JSON).
const JSON_LIMIT: usize = 1 << 20;

/// Every REST route of the gateway.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/info", get(agent::info))
        .route("/api/v1/secret", get(agent::secret))
        .route("/api/v1/status", get(agent::status))
        .route(
            "/api/v1/upgrade/package",
            post(packages::upload_encrypted).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/package",
            post(packages::upload_plain).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/upgrade/package/info", get(packages::list))
        .route(
            "/api/v1/upgrade/package/{id}",
            axum::routing::delete(packages::delete),
        )
        .route("/api/v1/ob/upgrade", post(upgrade::upgrade))
        .route("/api/v1/ob/upgrade/check", post(upgrade::check))
        .route("/api/v1/task/dag/unfinish", get(tasks::unfinished))
        .route("/api/v1/task/dag/ob/unfinish", get(tasks::unfinished))
        .route("/api/v1/task/dag/maintain/ob", get(tasks::maintenance))
        .route(
            "/api/v1/task/node/{id}",
            get(tasks::get_node).post(tasks::operate_node),
        )
        .route("/api/v1/task/sub_task/{id}", get(tasks::get_sub_task))
        .route("/api/v1/task/sub_task/{id}/logs", get(tasks::sub_task_logs))
        .route(
            "/api/v1/task/dag/{id}",
            get(tasks::get_dag).post(tasks::operate_dag),
        )
        .route("/api/v1/task/dag/{id}/events", get(events::dag_events))
        .route(
            "/api/v1/console/session",
            get(console::session)
                .post(console::sign_in)
                .delete(console::sign_out),
        )
        .route("/api/v1/console/clusters", get(console::clusters))
        .route("/api/v1/console/plan", post(console::plan))
        .route("/api/v1/console/dags", get(console::dags))
        .route("/api/v1/console/audit", get(console::audit))
        .route("/", get(assets::index))
        .route("/console/app.js", get(assets::script))
        .route("/console/app.css", get(assets::style))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(middleware::from_fn(envelope_everything))
        .with_state(state)
}

/// For paths no route serves: gRPC callers get gRPC's "unimplemented",
/// everyone else obshell's envelope.
pub async fn fallback(headers: HeaderMap, uri: Uri) -> Response {
    let grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    if grpc {
        return tonic::Status::unimplemented(format!("no such method: {uri}")).into_http();
    }
    let meta = stamp(&headers);
    envelope::error(
        &meta,
        &ApiError::new(
            StatusCode::NOT_FOUND,
            "Common.NotFound",
            format!("no route for {}", uri.path()),
        ),
    )
}

fn stamp(headers: &HeaderMap) -> RequestMeta {
    let trace_id = headers
        .get("x-obshell-trace-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    RequestMeta {
        trace_id,
        received: Instant::now(),
        received_unix: chrono::Utc::now().timestamp(),
    }
}

/// Stamps the request, runs it, and makes sure the answer is an envelope.
async fn envelope_everything(mut request: Request, next: Next) -> Response {
    let meta = stamp(request.headers());
    request.extensions_mut().insert(meta.clone());
    let span = tracing::info_span!("rest", trace_id = %meta.trace_id, method = %request.method(), path = %request.uri().path());
    let response = std::panic::AssertUnwindSafe(crate::trace::scope(
        meta.trace_id.clone(),
        next.run(request).instrument(span.clone()),
    ))
    .catch_unwind()
    .await;
    let _enter = span.enter();
    let response = match response {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("a request handler panicked");
            return envelope::error(
                &meta,
                &ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Common.Unexpected",
                    "Unexpected error: Internal Server Error",
                ),
            );
        }
    };
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json || response.status().is_success() {
        return response;
    }
    // axum's own rejections (405, 413, 415, …) are plain text.
    let status = response.status();
    let err_code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "Common.MethodNotAllowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request.Body.TooLarge",
        StatusCode::NOT_FOUND => "Common.NotFound",
        _ => "Common.IllegalArgument",
    };
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    envelope::error(&meta, &ApiError::new(status, err_code, message))
}

/// The envelope for a handler's result.
pub(crate) fn reply(meta: &RequestMeta, result: Result<Option<Value>, Error>) -> Response {
    match result {
        Ok(data) => envelope::ok(meta, data),
        Err(e) => {
            let api = e.to_api();
            tracing::info!(trace_id = %meta.trace_id, err_code = %api.err_code, "{}", api.message);
            envelope::error(meta, &api)
        }
    }
}

/// An authenticated request: its header checked (headers only) against the
/// raw request target before the handler runs. Handlers take it after their
/// path and query extractors, so those are judged first, as before; a
/// failure is answered with the envelope, as every error is.
pub(crate) struct Authed {
    pub meta: RequestMeta,
    pub auth: AuthHeader,
}

impl Authed {
    /// An admitted request; the services' audit trails will name its caller
    /// (see [`crate::trace::acting_for`]).
    fn admitted(meta: RequestMeta, auth: AuthHeader) -> Self {
        // The scheme says how the caller proved itself; `auth.auth` is a
        // token's name only for bearer tokens, so nothing else is copied.
        let who = match (auth.scheme, auth.agent) {
            (crate::security::Scheme::Bearer, _) => format!("token {}", auth.auth),
            (crate::security::Scheme::Session, _) => format!("console, {}", auth.auth),
            (_, true) => "agent password".to_owned(),
            (_, false) => "root password".to_owned(),
        };
        crate::trace::acting_for(who);
        Self { meta, auth }
    }
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let Extension(meta) = Extension::<RequestMeta>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(parts, state).await;
        let target = uri
            .path_and_query()
            .map_or_else(|| uri.path(), |pq| pq.as_str());
        if let (Some(verifier), Some(value)) = (
            &state.tokens,
            crate::security::bearer::offered(&parts.headers),
        ) {
            let now_ms = chrono::Utc::now().timestamp_millis();
            return match crate::security::bearer::admit(
                verifier,
                value,
                &parts.method,
                target,
                &state.cluster,
                now_ms,
            )
            .await
            {
                Ok(auth) => Ok(Self::admitted(meta, auth)),
                Err(e) => Err(reply(&meta, Err(e.into()))),
            };
        }
        // The console's session cookie, where no other scheme is offered.
        let sealed_header = crate::security::CARRIERS
            .iter()
            .any(|(name, ..)| parts.headers.contains_key(*name));
        if !sealed_header {
            let now_ms = chrono::Utc::now().timestamp_millis();
            match crate::security::signed_in::admit(
                state,
                &parts.headers,
                &parts.method,
                target,
                now_ms,
            )
            .await
            {
                Ok(Some((auth, signed_in))) => {
                    parts.extensions.insert(signed_in);
                    return Ok(Self::admitted(meta, auth));
                }
                Ok(None) => {}
                Err(e) => return Err(reply(&meta, Err(e.into()))),
            }
        }
        // Set by the server for every connection (obup_kit::grpc::serve).
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        match state
            .security
            .authenticate(&parts.headers, target, &meta, peer)
        {
            Ok(auth) => Ok(Self::admitted(meta, auth)),
            Err(e) => Err(reply(&meta, Err(e.into()))),
        }
    }
}

/// A JSON body decrypted with the header's key. An empty body is `{}`.
pub(crate) async fn decrypted_json<T: DeserializeOwned>(
    auth: &AuthHeader,
    body: Body,
) -> Result<T, Error> {
    let bytes = axum::body::to_bytes(body, JSON_LIMIT).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request.Body.TooLarge",
            format!("the request body is too large: {e}"),
        )
    })?;
    let plain = if bytes.is_empty() {
        b"{}".to_vec()
    } else {
        auth.decrypt_body(&bytes)?
    };
    bind_json(&plain)
}

/// A request's JSON, as obshell binds it: a blank body is `{}`, and a
/// body that does not fit is `Common.BindJsonFailed`.
pub(crate) fn bind_json<T: DeserializeOwned>(plain: &[u8]) -> Result<T, Error> {
    let plain: &[u8] = if plain.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        plain
    };
    serde_json::from_slice(plain).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Common.BindJsonFailed",
            format!("Bind JSON failed: {e}"),
        )
        .into()
    })
}
