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

use obup_proto::pb::orchestrator::v1::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use obup_proto::pb::packagestore::v1::package_store_client::PackageStoreClient;
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

/// Shared by every handler.
#[derive(Debug)]
pub struct AppState {
    pub security: security::Security,
    pub packages: PackageStoreClient<Channel>,
    pub orchestrator: UpgradeOrchestratorClient<Channel>,
    pub identity: Identity,
    pub started_at_ms: i64,
}

impl AppState {
    /// Clients that connect on first use to the services at `backend`.
    pub fn new(
        security: security::Security,
        backend: &str,
        identity: Identity,
    ) -> Result<Self, Error> {
        let channel = Channel::from_shared(backend.to_owned())
            .map_err(|e| Error::Config(format!("invalid backend URL {backend:?}: {e}")))?
            .connect_lazy();
        Ok(Self {
            security,
            packages: PackageStoreClient::new(channel.clone())
                .max_encoding_message_size(8 << 20)
                .max_decoding_message_size(8 << 20),
            orchestrator: UpgradeOrchestratorClient::new(channel)
                .max_encoding_message_size(8 << 20)
                .max_decoding_message_size(64 << 20),
            identity,
            started_at_ms: chrono::Utc::now().timestamp_millis(),
        })
    }
}
