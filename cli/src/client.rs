//! Connecting to an obup server and reporting its errors.

use anyhow::Context;
use obup_proto::pb::orchestrator::v1::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use obup_proto::pb::packagestore::v1::package_store_client::PackageStoreClient;
use tonic::transport::Channel;

/// Largest message the CLI sends or accepts.
const MAX_MESSAGE: usize = 16 << 20;

pub async fn channel(server: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(server.to_owned())
        .with_context(|| format!("invalid server URL {server:?}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server} (is `obup dev` running?)"))
}

pub async fn packages(server: &str) -> anyhow::Result<PackageStoreClient<Channel>> {
    Ok(PackageStoreClient::new(channel(server).await?)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

pub async fn orchestrator(server: &str) -> anyhow::Result<UpgradeOrchestratorClient<Channel>> {
    Ok(UpgradeOrchestratorClient::new(channel(server).await?)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// An error with the server's stable code, e.g.
/// `OB.Package.Name.NotSupport: Unsupported name ...`.
pub fn describe(s: tonic::Status) -> anyhow::Error {
    match obup_kit::status::error_code(&s) {
        Some(code) => anyhow::anyhow!("{code}: {}", s.message()),
        None => anyhow::anyhow!("{}: {}", s.code(), s.message()),
    }
}

/// Human-readable bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
