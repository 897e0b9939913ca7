//! Connecting to an obup server and reporting its errors.

use std::sync::OnceLock;

use anyhow::Context;
use obup_kit::auth::{BearerInterceptor, Token};
use obup_proto::pb::auth::v1::tokens_client::TokensClient;
use obup_proto::pb::orchestrator::v1::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use obup_proto::pb::packagestore::v1::package_store_client::PackageStoreClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry the CLI's token.
pub type Conn = InterceptedService<Channel, BearerInterceptor>;

/// The token of this invocation: one command, one identity.
static TOKEN: OnceLock<Option<Token>> = OnceLock::new();

/// Chooses the token the CLI calls `server` with: `--token`/`OBUP_TOKEN`,
/// else the file `obup dev` wrote for that address (see `token_files`),
/// else none (the server then says what it needs).
pub fn use_token(given: Option<&str>, server: &str) -> anyhow::Result<()> {
    let token = match given {
        Some(t) => Some(Token::parse(t).map_err(|e| anyhow::anyhow!("--token / OBUP_TOKEN: {e}"))?),
        None => crate::token_files::find(server)?,
    };
    let _ = TOKEN.set(token);
    Ok(())
}

fn bearer() -> BearerInterceptor {
    BearerInterceptor::new(TOKEN.get().and_then(Option::as_ref))
}

/// Largest message the CLI sends or accepts.
const MAX_MESSAGE: usize = 16 << 20;

pub async fn channel(server: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(server.to_owned())
        .with_context(|| format!("invalid server URL {server:?}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server} (is `obup dev` running?)"))
}

pub async fn packages(server: &str) -> anyhow::Result<PackageStoreClient<Conn>> {
    Ok(
        PackageStoreClient::with_interceptor(channel(server).await?, bearer())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
}

pub async fn orchestrator(server: &str) -> anyhow::Result<UpgradeOrchestratorClient<Conn>> {
    Ok(
        UpgradeOrchestratorClient::with_interceptor(channel(server).await?, bearer())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
}

pub async fn tokens(server: &str) -> anyhow::Result<TokensClient<Conn>> {
    Ok(TokensClient::with_interceptor(
        channel(server).await?,
        bearer(),
    ))
}

/// An error with the server's stable code, e.g.
/// `OB.Package.Name.NotSupport: Unsupported name ...`.
pub fn describe(s: tonic::Status) -> anyhow::Error {
    if s.code() == tonic::Code::Unauthenticated && TOKEN.get().is_some_and(Option::is_none) {
        return anyhow::anyhow!(
            "{}: {} (no token found: pass --token or set OBUP_TOKEN; `obup dev` keeps its admin token in <data dir>/tokens/admin.token)",
            obup_kit::status::error_code(&s).unwrap_or_default(),
            s.message()
        );
    }
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
