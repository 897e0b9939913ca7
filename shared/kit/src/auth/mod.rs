//! Who may call what: bearer tokens with roles, checked on every gRPC call
//! before any handler runs.
//!
//! - `token`: the token format, its hash (what is stored) and the
//!   `authorization` header.
//! - `verify`: looking a token up (in whatever stores tokens) behind a
//!   short cache, so that a call costs one SHA-256 and a map lookup.
//! - `remote`: the lookup of a service that stores no tokens itself.
//! - `certificate`: a client certificate (mutual TLS) as the caller's
//!   identity, instead of a token;
//! - `gate`: the axum middleware in front of the gRPC routes: method to
//!   required role, the caller's [`Principal`] put into the request for the
//!   handlers (cluster-limited tokens are checked there).
//!
//! Refusals are `Unauthenticated` (who are you?) or `PermissionDenied`
//! (not you), each with a stable code from [`AuthError::code`].

mod certificate;
mod gate;
mod remote;
mod token;
mod verify;

pub use gate::{Gate, Policy, authenticate};
pub use remote::RemoteLookup;
pub use token::{BearerInterceptor, MAX_TOKEN_LEN, Token, TokenHash, bearer};
pub use verify::{TokenLookup, TokenRecord, Verifier};

use tonic::{Code, Status};

/// What a caller may do; each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Get, list, watch, plan.
    Viewer,
    /// Also upload, check, start and operate DAGs.
    Operator,
    /// Also delete packages, manage clusters and tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token, by the id of its record.
    Token { id: i64 },
    /// A client certificate (mutual TLS) signed by the configured client
    /// CA, by its subject.
    Certificate { subject: String },
    /// No check: the service runs without authentication (loopback only).
    Open,
}

/// The authenticated caller of one request, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (or "anonymous" on an open service).
    pub name: String,
    pub role: Role,
    /// The one cluster this caller may act on; `None`: any.
    pub cluster: Option<String>,
    pub credential: Credential,
}

impl Principal {
    /// How the caller proved who it is, in words for an audit trail or a
    /// log line: `token`, `certificate` or `none`.
    pub fn credential_kind(&self) -> &'static str {
        match self.credential {
            Credential::Token { .. } => "token",
            Credential::Certificate { .. } => "certificate",
            Credential::Open => "none",
        }
    }

    /// The caller of a service that checks nobody.
    pub fn open() -> Self {
        Self {
            name: "anonymous".into(),
            role: Role::Admin,
            cluster: None,
            credential: Credential::Open,
        }
    }

    /// The caller of `request` (set by [`authenticate`]); a request that
    /// did not pass the gate (a handler called directly, in-process) is
    /// treated as the service's own.
    pub fn of<T>(request: &tonic::Request<T>) -> Principal {
        request
            .extensions()
            .get::<Principal>()
            .cloned()
            .unwrap_or_else(Principal::open)
    }

    /// The cluster a call of this caller acts on: `requested`, or the
    /// caller's own cluster when none is named. Refused when the caller is
    /// limited to another cluster.
    pub fn cluster_for(&self, requested: &str) -> Result<String, AuthError> {
        match &self.cluster {
            None => Ok(requested.to_owned()),
            Some(own) if requested.is_empty() || requested == own => Ok(own.clone()),
            Some(own) => Err(AuthError::OtherCluster {
                own: own.clone(),
                requested: requested.to_owned(),
            }),
        }
    }

    /// Refused unless this caller may act on every cluster.
    pub fn require_all_clusters(&self, what: &str) -> Result<(), AuthError> {
        match &self.cluster {
            None => Ok(()),
            Some(own) => Err(AuthError::ClusterLimited {
                own: own.clone(),
                what: what.to_owned(),
            }),
        }
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this call needs a token: send `authorization: Bearer <token>`")]
    Missing,
    #[error("the authorization header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token is not valid")]
    Unknown,
    #[error("the token expired")]
    Expired,
    #[error("the token was revoked")]
    Revoked,
    #[error("{method} needs the {need} role; the caller {name:?} has {have}")]
    Role {
        method: String,
        need: Role,
        have: Role,
        name: String,
    },
    #[error("the token is limited to cluster {own:?}, not {requested:?}")]
    OtherCluster { own: String, requested: String },
    #[error("the token is limited to cluster {own:?}; {what} concerns every cluster")]
    ClusterLimited { own: String, what: String },
    #[error("tokens cannot be checked now: {0}")]
    Unavailable(String),
    #[error(
        "the client certificate {subject:?} names no role: its organization (O) must be one of viewer, operator, admin"
    )]
    CertificateRole { subject: String },
}

impl AuthError {
    /// The stable code clients and the attack table match on.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "Auth.Token.Missing",
            AuthError::Malformed(_) => "Auth.Token.Malformed",
            AuthError::Unknown => "Auth.Token.Invalid",
            AuthError::Expired => "Auth.Token.Expired",
            AuthError::Revoked => "Auth.Token.Revoked",
            AuthError::Role { .. } => "Auth.Role.Insufficient",
            AuthError::OtherCluster { .. } | AuthError::ClusterLimited { .. } => {
                "Auth.Cluster.Forbidden"
            }
            AuthError::Unavailable(_) => "Auth.Backend.Unavailable",
            AuthError::CertificateRole { .. } => "Auth.Certificate.NoRole",
        }
    }

    pub fn grpc_code(&self) -> Code {
        match self {
            AuthError::Missing
            | AuthError::Malformed(_)
            | AuthError::Unknown
            | AuthError::Expired
            | AuthError::Revoked => Code::Unauthenticated,
            AuthError::Role { .. }
            | AuthError::CertificateRole { .. }
            | AuthError::OtherCluster { .. }
            | AuthError::ClusterLimited { .. } => Code::PermissionDenied,
            AuthError::Unavailable(_) => Code::Unavailable,
        }
    }
}

impl From<AuthError> for Status {
    fn from(e: AuthError) -> Self {
        crate::status::with_code(e.grpc_code(), e.code(), e.to_string())
    }
}

/// Reads a token file (`obup dev`'s, a service's): its first line.
pub fn read_token_file(path: &std::path::Path) -> std::io::Result<Option<Token>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Token::parse(text.lines().next().unwrap_or("")).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a token file readable by its owner only (0600), atomically.
pub fn write_token_file(path: &std::path::Path, token: &Token) -> std::io::Result<()> {
    crate::fs::replace_private(path, format!("{}\n", token.secret()).as_bytes())
}
