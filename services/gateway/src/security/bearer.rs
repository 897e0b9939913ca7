//! `Authorization: Bearer <token>` on the REST routes: obup's tokens, with
//! the same roles as on gRPC, for clients other than obshell's SDKs.
//!
//! A bearer caller sends no AES key, so its bodies are plain JSON (TLS or
//! loopback protects them) and its uploads go to `POST /api/v1/package`
//! with `X-OCS-File-SHA256` as plain hex. The role a route needs follows
//! its method: reading (GET) viewer, deleting admin, anything else
//! operator. The gateway answers for one cluster: a token limited to
//! another is refused.

use axum::http::{Method, StatusCode};
use obup_kit::auth::{AuthError, Role, Verifier, bearer};

use super::{AuthHeader, Scheme};
use crate::envelope::ApiError;

/// Whether the request carries a bearer token (and no obshell header,
/// which takes precedence: obshell's SDKs may send both).
pub fn offered(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    if super::CARRIERS
        .iter()
        .any(|(name, ..)| headers.contains_key(*name))
    {
        return None;
    }
    let value = headers.get(axum::http::header::AUTHORIZATION)?;
    let is_bearer = value
        .as_bytes()
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "));
    is_bearer.then(|| value.as_bytes())
}

/// The role a REST request with `method` to `path` needs. The console's
/// plan is a read (as `PlanUpgrade` is on gRPC), its audit trail admins'.
pub fn needs(method: &Method, path: &str) -> Role {
    let path = path.split('?').next().unwrap_or(path);
    match (method, path) {
        (&Method::GET | &Method::HEAD, p) if p.starts_with("/api/v1/console/audit") => Role::Admin,
        (&Method::GET | &Method::HEAD, _) => Role::Viewer,
        (&Method::POST, "/api/v1/console/plan") => Role::Viewer,
        (&Method::DELETE, _) => Role::Admin,
        _ => Role::Operator,
    }
}

/// Admits a bearer caller of `target` on the gateway of `cluster` (empty:
/// the only one registered, which a cluster-limited token cannot prove).
pub async fn admit(
    verifier: &Verifier,
    authorization: &[u8],
    method: &Method,
    target: &str,
    cluster: &str,
    now_ms: i64,
) -> Result<AuthHeader, ApiError> {
    let token = bearer(Some(authorization)).map_err(refused)?;
    let principal = verifier.verify(&token, now_ms).await.map_err(refused)?;
    authorize(
        &principal.name,
        principal.role,
        principal.cluster.as_deref(),
        method,
        target,
        cluster,
    )?;
    Ok(AuthHeader {
        auth: principal.name,
        ts: String::new(),
        uri: target.to_owned(),
        keys: Vec::new(),
        agent: false,
        scheme: Scheme::Bearer,
    })
}

/// Whether a caller named `name` with `role` (limited to cluster `own`,
/// if any) may make this request on the gateway of `cluster`.
pub fn authorize(
    name: &str,
    role: Role,
    own: Option<&str>,
    method: &Method,
    target: &str,
    cluster: &str,
) -> Result<(), ApiError> {
    let need = needs(method, target);
    if role < need {
        return Err(refused(AuthError::Role {
            method: format!("{method} {}", target.split('?').next().unwrap_or(target)),
            need,
            have: role,
            name: name.to_owned(),
        }));
    }
    if let Some(own) = own
        && own != cluster
    {
        return Err(refused(AuthError::OtherCluster {
            own: own.to_owned(),
            requested: if cluster.is_empty() {
                "the gateway's (unnamed)".into()
            } else {
                cluster.to_owned()
            },
        }));
    }
    Ok(())
}

/// A token refusal in obshell's envelope: 401 (obshell's 10008) for who
/// are you, 403 for not you.
pub(crate) fn refused(e: AuthError) -> ApiError {
    let status = match e.grpc_code() {
        tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let api = ApiError::new(status, e.code(), format!("Unauthorized: {e}"));
    if status == StatusCode::UNAUTHORIZED {
        api.with_code(10008)
    } else {
        api
    }
}
