//! The middleware in front of every gRPC route: which role a method needs,
//! and whether the caller (by its token, or its client certificate) has it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::token::bearer;
use super::verify::Verifier;
use super::{AuthError, Principal, Role};
use crate::tls::ClientCertificate;

/// Services anyone may call: load balancers probe health without a token,
/// and reflection describes the API, not its data.
const PUBLIC_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The role each method needs, by its path (`/package.Service/Method`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: HashMap<&'static str, Role>,
}

impl Policy {
    /// A policy of the services' tables (see each service's `access`).
    pub fn of(tables: &[&[(&'static str, Role)]]) -> Self {
        let mut roles = HashMap::new();
        for table in tables {
            for (path, role) in table.iter() {
                roles.insert(*path, *role);
            }
        }
        Self { roles }
    }

    /// `None`: public. A method no table names needs the highest role
    /// (tonic then answers it is not implemented).
    pub fn needs(&self, path: &str) -> Option<Role> {
        if PUBLIC_SERVICES.iter().any(|p| path.starts_with(p)) {
            return None;
        }
        Some(self.roles.get(path).copied().unwrap_or(Role::Admin))
    }
}

/// What the middleware checks with.
#[derive(Debug)]
pub struct Gate {
    /// `None`: the service checks nobody (allowed on loopback only; see
    /// the services' configuration).
    pub verifier: Option<Arc<Verifier>>,
    pub policy: Policy,
}

impl Gate {
    /// The caller of a request to `path` with this `authorization` value
    /// and, over mutual TLS, this client certificate. A token sent wins:
    /// it is what the caller chose for this call.
    pub async fn admit(
        &self,
        path: &str,
        authorization: Option<&[u8]>,
        certificate: Option<&ClientCertificate>,
        now_ms: i64,
    ) -> Result<Option<Principal>, AuthError> {
        let Some(need) = self.policy.needs(path) else {
            return Ok(None);
        };
        let Some(verifier) = &self.verifier else {
            return Ok(Some(Principal::open()));
        };
        let principal = match (authorization, certificate) {
            (None, Some(c)) => super::certificate::principal(c)?,
            _ => verifier.verify(&bearer(authorization)?, now_ms).await?,
        };
        if principal.role < need {
            return Err(AuthError::Role {
                method: path.rsplit('/').next().unwrap_or(path).to_owned(),
                need,
                have: principal.role,
                name: principal.name,
            });
        }
        Ok(Some(principal))
    }
}

/// axum middleware: admits the call and puts its [`Principal`] into the
/// request's extensions (tonic hands them to the handler), or answers the
/// refusal as a gRPC status without calling the handler.
pub async fn authenticate(
    State(gate): State<Arc<Gate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let now_ms = now_ms();
    let admitted = gate
        .admit(
            request.uri().path(),
            request
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
            request.extensions().get::<ClientCertificate>(),
            now_ms,
        )
        .await;
    match admitted {
        Ok(principal) => {
            if let Some(p) = principal {
                request.extensions_mut().insert(p);
            }
            next.run(request).await
        }
        Err(e) => {
            tracing::info!(method = %request.uri().path(), code = e.code(), "call refused: {e}");
            tonic::Status::from(e)
                .into_http::<axum::body::Body>()
                .into_response()
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
