//! What one audited call leaves behind.

use tonic::metadata::MetadataMap;

use crate::auth::{AuthError, Principal, Role};

/// Metadata key in which a trusted front end (the REST gateway, which calls
/// the services with its own token) names the caller it acts for, e.g.
/// `root password` or `token ci-bot`. It is recorded as that front end's
/// claim, next to the front end's own identity, never instead of it: any
/// caller may send it, so it proves nothing on its own.
pub const ON_BEHALF_HEADER: &str = "x-obup-on-behalf-of";

/// Longest `on behalf of` claim and trace id kept: both come from the
/// caller, and an audit row must stay small.
const MAX_CLAIM: usize = 128;

/// How an audited call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditResult {
    Ok,
    /// Refused or failed, with the stable code the caller was answered
    /// with (`Auth.Role.Insufficient`, `Task.Dag.Operator.NotSupport`...).
    Failed(String),
}

impl AuditResult {
    /// As stored and shown: `OK` or the error code.
    pub fn as_str(&self) -> &str {
        match self {
            AuditResult::Ok => "OK",
            AuditResult::Failed(code) => code,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "OK" => AuditResult::Ok,
            code => AuditResult::Failed(code.to_owned()),
        }
    }
}

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its place in the journal; 0 until stored.
    pub id: i64,
    pub at_ms: i64,
    /// The token's name, the certificate's subject, or `anonymous`.
    pub actor: String,
    /// How the actor proved who it is (see [`Principal::credential_kind`]).
    pub credential: String,
    /// `None`: refused before the caller's role was known.
    pub role: Option<Role>,
    /// The gRPC method's name (`StartUpgrade`), not its path: the journal
    /// already says which service.
    pub method: String,
    /// What the call acted on (`dag 12`, `cluster prod`); empty when it was
    /// refused before its request was read.
    pub target: String,
    pub result: AuditResult,
    pub trace_id: String,
    /// The connection's peer address; empty when the call did not come
    /// over a connection (a handler called in-process).
    pub source: String,
    /// See [`ON_BEHALF_HEADER`].
    pub on_behalf_of: Option<String>,
}

impl AuditEvent {
    /// The event of a call a handler admitted, about to act on `target`;
    /// `OK` until [`AuditEvent::failed`] says otherwise.
    pub fn of<T>(request: &tonic::Request<T>, method: &str, target: impl Into<String>) -> Self {
        let principal = Principal::of(request);
        let source = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        Self {
            id: 0,
            at_ms: now_ms(),
            // A certificate's caller by its whole subject (the issuer's
            // words), a token's by its name.
            actor: match &principal.credential {
                crate::auth::Credential::Certificate { subject } => subject.clone(),
                _ => principal.name.clone(),
            },
            credential: principal.credential_kind().to_owned(),
            role: Some(principal.role),
            method: method.to_owned(),
            target: target.into(),
            result: AuditResult::Ok,
            trace_id: text(request.metadata(), crate::grpc::TRACE_HEADER).unwrap_or_default(),
            source,
            on_behalf_of: text(request.metadata(), ON_BEHALF_HEADER),
        }
    }

    /// The event of a call the gate refused: the request was not read, so
    /// there is no target, and the caller is named only when its token was
    /// valid (a role refusal). An `on behalf of` claim of a caller who did
    /// not get in is worth nothing, so none is kept.
    pub fn refused(
        path: &str,
        headers: &axum::http::HeaderMap,
        certificate: Option<&crate::tls::ClientCertificate>,
        source: Option<std::net::SocketAddr>,
        error: &AuthError,
    ) -> Self {
        // A token sent is what the gate checked; else a certificate
        // presented (verified in the handshake, so its subject is known
        // even when it grants nothing).
        let token = headers.contains_key(axum::http::header::AUTHORIZATION);
        let (actor, role) = match (error, certificate) {
            (AuthError::Role { have, .. }, Some(c)) if !token => (c.subject.clone(), Some(*have)),
            (AuthError::Role { name, have, .. }, _) => (name.clone(), Some(*have)),
            (_, Some(c)) if !token => (c.subject.clone(), None),
            _ => ("anonymous".to_owned(), None),
        };
        let credential = match (token, certificate) {
            (true, _) => "token",
            (false, Some(_)) => "certificate",
            (false, None) => "none",
        };
        let trace_id = headers
            .get(crate::grpc::TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(clip)
            .unwrap_or_default();
        Self {
            id: 0,
            at_ms: now_ms(),
            actor,
            credential: credential.to_owned(),
            role,
            method: path.rsplit('/').next().unwrap_or(path).to_owned(),
            target: String::new(),
            result: AuditResult::Failed(error.code().to_owned()),
            trace_id,
            source: source.map(|s| s.to_string()).unwrap_or_default(),
            on_behalf_of: None,
        }
    }

    /// The same call, acting on `target` (known only once the change is
    /// made, e.g. the id of a new DAG).
    pub fn on(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// The same call, failed with `status` (its stable code, or the gRPC
    /// code's name when it has none).
    pub fn failed(mut self, status: &tonic::Status) -> Self {
        let code =
            crate::status::error_code(status).unwrap_or_else(|| format!("{:?}", status.code()));
        self.result = AuditResult::Failed(code);
        self
    }
}

fn text(metadata: &MetadataMap, key: &str) -> Option<String> {
    metadata
        .get(key)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(clip)
}

fn clip(s: &str) -> String {
    s.chars().take(MAX_CLAIM).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credential;

    #[test]
    fn a_handlers_event_names_the_caller_and_never_the_token() {
        let mut request = tonic::Request::new(());
        request.extensions_mut().insert(Principal {
            name: "ci-bot".into(),
            role: Role::Operator,
            cluster: None,
            credential: Credential::Token { id: 7 },
        });
        request.extensions_mut().insert(axum::extract::ConnectInfo(
            "10.0.0.9:40000".parse::<std::net::SocketAddr>().unwrap(),
        ));
        request
            .metadata_mut()
            .insert(crate::grpc::TRACE_HEADER, "abc".parse().unwrap());
        request
            .metadata_mut()
            .insert(ON_BEHALF_HEADER, "root password".parse().unwrap());
        let e = AuditEvent::of(&request, "StartUpgrade", "cluster prod");
        assert_eq!(
            (
                e.actor.as_str(),
                e.credential.as_str(),
                e.role,
                e.source.as_str(),
                e.trace_id.as_str(),
                e.on_behalf_of.as_deref(),
                e.result.as_str()
            ),
            (
                "ci-bot",
                "token",
                Some(Role::Operator),
                "10.0.0.9:40000",
                "abc",
                Some("root password"),
                "OK"
            )
        );
        let failed = e.failed(&crate::status::with_code(
            tonic::Code::NotFound,
            "Cluster.NotFound",
            "no",
        ));
        assert_eq!(
            failed.result,
            AuditResult::Failed("Cluster.NotFound".into())
        );
    }

    #[test]
    fn a_refusal_names_only_what_the_gate_knew() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", "Bearer obup_secret".parse().unwrap());
        let e = AuditEvent::refused(
            "/obup.packagestore.v1.PackageStore/DeletePackage",
            &headers,
            None,
            None,
            &AuthError::Unknown,
        );
        assert_eq!(e.method, "DeletePackage");
        assert_eq!(e.actor, "anonymous");
        assert_eq!(e.credential, "token");
        assert_eq!(e.role, None);
        assert_eq!(e.result.as_str(), "Auth.Token.Invalid");
        assert!(!format!("{e:?}").contains("obup_secret"));
    }

    #[test]
    fn a_refused_certificate_is_named_by_its_subject() {
        let cert = crate::tls::ClientCertificate {
            subject: "CN=svc, O=ops".into(),
            common_name: Some("svc".into()),
            organizations: vec!["ops".into()],
            units: vec![],
        };
        let e = AuditEvent::refused(
            "/obup.packagestore.v1.PackageStore/DeletePackage",
            &axum::http::HeaderMap::new(),
            Some(&cert),
            None,
            &AuthError::CertificateRole {
                subject: cert.subject.clone(),
            },
        );
        assert_eq!(e.actor, "CN=svc, O=ops");
        assert_eq!(e.credential, "certificate");
        assert_eq!(e.result.as_str(), "Auth.Certificate.NoRole");
    }
}
