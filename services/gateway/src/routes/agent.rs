//! What the SDK bootstraps with: `/info`, `/secret`, `/status` (no auth).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::reply;
use crate::AppState;
use crate::envelope::RequestMeta;

pub async fn info(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
) -> Response {
    let data = json!({
        "pid": std::process::id(),
        "state": 2,
        "startAt": s.started_at_ms,
        "homePath": "/home/admin/oceanbase",
        "architecture": std::env::consts::ARCH,
        "ip": s.identity.ip,
        "port": s.identity.port,
        "identity": "CLUSTER AGENT",
        "version": s.identity.version,
        "isObproxyAgent": false,
        "security": s.security.passwords.agent.is_some(),
        "supportedAuth": ["v2"],
        // Not in supportedAuth: SDK 0.0.9 fails on an entry it does not know.
        "obupSupportedAuth": [crate::security::GCM_SCHEME],
    });
    reply(&meta, Ok(Some(data)))
}

pub async fn secret(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
) -> Response {
    let data = json!({
        "ip": s.identity.ip,
        "port": s.identity.port,
        "public_key": s.security.keys.public_b64(),
    });
    reply(&meta, Ok(Some(data)))
}

pub async fn status(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
) -> Response {
    let data = json!({
        "agent": {"ip": s.identity.ip, "port": s.identity.port, "identity": "CLUSTER AGENT"},
        "state": 2,
        "version": s.identity.version,
        "pid": std::process::id(),
        "startAt": s.started_at_ms,
        "port": s.identity.port,
        "obState": 3,
        "underMaintenance": false,
    });
    reply(&meta, Ok(Some(data)))
}
