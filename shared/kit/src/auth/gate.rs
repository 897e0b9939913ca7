//! The middleware in front of every gRPC route: which role a method needs,
//! and whether the caller (by its token, or its client certificate) has it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::token::bearer;
use super::verify::Verifier;
use super::{AuthError, Principal, Role};
use crate::audit::{AuditEvent, AuditSink};
use crate::tls::ClientCertificate;

/// Services anyone may call: load balancers probe health without a token,
/// and reflection describes the API, not its data.
const PUBLIC_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The role each method needs, by its path (`/package.Service/Method`),
/// and which methods change something (their refusals are audited).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: HashMap<&'static str, Role>,
    mutating: HashSet<&'static str>,
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
        Self {
            roles,
            mutating: HashSet::new(),
        }
    }

    /// The same policy, knowing which methods change something (see each
    /// service's `access::MUTATING`).
    pub fn mutating(mut self, sets: &[&[&'static str]]) -> Self {
        self.mutating
            .extend(sets.iter().flat_map(|set| set.iter().copied()));
        self
    }

    /// Whether the method at `path` changes something.
    pub fn mutates(&self, path: &str) -> bool {
        self.mutating.contains(path)
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
    /// Where refusals of mutating calls are recorded; `None`: they are
    /// only logged. Refused reads are never recorded: they change nothing,
    /// and a flood of them (a scanner, a misconfigured dashboard) would
    /// drown the changes the trail is for; the log has them.
    pub audit: Option<Arc<dyn AuditSink>>,
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
    let path = request.uri().path().to_owned();
    let admitted = gate
        .admit(
            &path,
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
            tracing::info!(method = %path, code = e.code(), "call refused: {e}");
            if let Some(sink) = gate.audit.as_ref().filter(|_| gate.policy.mutates(&path)) {
                let peer = request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0);
                let event = AuditEvent::refused(
                    &path,
                    request.headers(),
                    request.extensions().get::<ClientCertificate>(),
                    peer,
                    &e,
                );
                sink.record(&path, event).await;
            }
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
