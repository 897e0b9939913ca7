//! The REST gateway: obshell's REST paths, response envelope, error codes
//! and "hybrid encryption" over obup's gRPC services, so that the obshell
//! Python SDK and scripts written for obshell work unchanged.
//!
//! # Layout
//! - `envelope`: obshell's response envelope; every answer is one.
//! - `security`: RSA header authentication and AES body decryption
//!   (streaming for uploads).
//! - `routes`: the route table and the handlers, one file per resource.
//! - `dto`: obshell's JSON shapes. `error`: the one mapping to HTTP.

pub mod dto;
pub mod envelope;
mod error;
pub mod routes;
pub mod security;
mod trace;

use obup_proto::pb::audit::v1::audit_client::AuditClient;
use obup_proto::pb::orchestrator::v1::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use obup_proto::pb::packagestore::v1::package_store_client::PackageStoreClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use error::Error;

/// Who the gateway says it is in `/info`, `/secret` and `/status`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub ip: String,
    pub port: u16,
    /// The agent version reported (v2 authentication needs >= 4.2.3.0).
    pub version: String,
}

/// A channel to a service whose calls carry the request's trace id.
pub type Backend = InterceptedService<Channel, trace::Interceptor>;

/// Shared by every handler.
#[derive(Debug)]
pub struct AppState {
    pub security: security::Security,
    pub packages: PackageStoreClient<Backend>,
    pub orchestrator: UpgradeOrchestratorClient<Backend>,
    /// The services' audit journals (the console's audit page).
    pub audit: AuditClients,
    pub identity: Identity,
    pub started_at_ms: i64,
    /// The registered cluster this gateway answers for, as an obshell
    /// answers for its own; empty: the only one registered.
    pub cluster: String,
    /// Checks `Authorization: Bearer` tokens; `None`: only obshell's
    /// password scheme is taken.
    pub tokens: Option<std::sync::Arc<obup_kit::auth::Verifier>>,
}

/// Where each journal of the audit trail is kept.
#[derive(Debug, Clone)]
pub struct AuditClients {
    pub orchestrator: AuditClient<Backend>,
    pub packages: AuditClient<Backend>,
}

/// The agent version the gateway reports (v2 authentication needs an
/// obshell of 4.2.3.0 or later).
pub const AGENT_VERSION: &str = "4.5.0.0-obup";

impl AppState {
    /// The gateway as deployed: its RSA key kept under `data_dir` (made
    /// with `rsa_bits` bits on first start), answering as `addr`, in front
    /// of the `backends`.
    pub fn open(
        data_dir: &std::path::Path,
        rsa_bits: usize,
        passwords: security::Passwords,
        addr: std::net::SocketAddr,
        backends: &Backends<'_>,
    ) -> Result<Self, Error> {
        let keys = security::Keys::load_or_create(&data_dir.join("gateway/rsa_key.der"), rsa_bits)?;
        let sessions = security::Sessions::load_or_create(&data_dir.join("gateway/session.key"))?;
        let identity = Identity {
            ip: addr.ip().to_string(),
            port: addr.port(),
            version: AGENT_VERSION.into(),
        };
        let security = security::Security::new(keys, passwords).with_sessions(sessions);
        Self::new(security, backends, identity)
    }

    /// Clients that connect on first use to the `backends`.
    pub fn new(
        security: security::Security,
        backends: &Backends<'_>,
        identity: Identity,
    ) -> Result<Self, Error> {
        let token = backends.token;
        let packages = lazy_channel(backends.packages, backends.tls)?;
        let orchestrator = lazy_channel(backends.orchestrator, backends.tls)?;
        let with = |channel: &Channel| {
            InterceptedService::new(channel.clone(), trace::Interceptor::new(token))
        };
        Ok(Self {
            security,
            packages: PackageStoreClient::new(with(&packages))
                .max_encoding_message_size(8 << 20)
                .max_decoding_message_size(8 << 20),
            orchestrator: UpgradeOrchestratorClient::new(with(&orchestrator))
                .max_encoding_message_size(8 << 20)
                .max_decoding_message_size(64 << 20),
            audit: AuditClients {
                orchestrator: AuditClient::new(with(&orchestrator)),
                packages: AuditClient::new(with(&packages)),
            },
            identity,
            started_at_ms: chrono::Utc::now().timestamp_millis(),
            cluster: String::new(),
            tokens: None,
        })
    }

    /// Takes obup's API tokens too (`Authorization: Bearer`), checked by
    /// `verifier`.
    pub fn with_tokens(mut self, verifier: std::sync::Arc<obup_kit::auth::Verifier>) -> Self {
        self.tokens = Some(verifier);
        self
    }

    /// Served over TLS: the console's cookies are marked `Secure`.
    pub fn over_tls(mut self, tls: bool) -> Self {
        self.security.sessions.set_secure(tls);
        self
    }

    /// Answers for the registered cluster `name` (empty: the only one).
    pub fn for_cluster(mut self, name: &str) -> Self {
        self.cluster = name.to_owned();
        self
    }
}

/// The services the gateway fronts, and how it calls them.
#[derive(Debug, Clone, Copy)]
pub struct Backends<'a> {
    /// The package store's and the orchestrator's URLs (the same one when
    /// both run in one process, as in `obup dev`).
    pub packages: &'a str,
    pub orchestrator: &'a str,
    /// What the gateway calls them with when they check tokens.
    pub token: Option<&'a obup_kit::auth::Token>,
    /// How `https://` URLs are dialled.
    pub tls: &'a obup_kit::tls::ClientTls,
}

/// A channel that connects on first use, so the gateway can start before
/// the services it fronts.
fn lazy_channel(url: &str, tls: &obup_kit::tls::ClientTls) -> Result<Channel, Error> {
    Ok(tls
        .endpoint(url)
        .map_err(|e| Error::Config(format!("backend: {e}")))?
        .connect_lazy())
}
