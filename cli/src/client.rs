//! Connecting to an obup server and reporting its errors.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use obup_kit::auth::{BearerInterceptor, Token};
use obup_kit::tls::ClientTls;
use obup_proto::pb::audit::v1::audit_client::AuditClient;
use obup_proto::pb::auth::v1::tokens_client::TokensClient;
use obup_proto::pb::orchestrator::v1::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use obup_proto::pb::packagestore::v1::package_store_client::PackageStoreClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry the CLI's token.
pub type Conn = InterceptedService<Channel, BearerInterceptor>;

/// The token given for this invocation (`--token`, `OBUP_TOKEN`); `None`
/// inside: none given. Unset: none chosen yet (a library caller).
static GIVEN: OnceLock<Option<Token>> = OnceLock::new();
/// Tokens a library caller (a test, `obup dev`'s own tools) chose per server.
static BY_SERVER: Mutex<Vec<(String, Token)>> = Mutex::new(Vec::new());
/// How `https://` servers are dialled, from the command line
/// (`--ca-file`, `--cert`, `--key`); `None` inside: nothing given.
static GIVEN_TLS: OnceLock<Option<ClientTls>> = OnceLock::new();
/// TLS settings a library caller chose per server.
static TLS_BY_SERVER: Mutex<Vec<(String, ClientTls)>> = Mutex::new(Vec::new());

/// Chooses how the CLI dials `https://` servers: the CA bundle to trust
/// and the client certificate to present, when given. Without a CA, the
/// one `obup dev --tls` published for the server's address is trusted if
/// there is one, else the system's roots.
pub fn use_tls(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> anyhow::Result<()> {
    let given = if ca.is_none() && cert.is_none() && key.is_none() {
        None
    } else {
        Some(ClientTls::from_files(ca, cert, key).context("--ca-file / --cert / --key")?)
    };
    let _ = GIVEN_TLS.set(given);
    Ok(())
}

/// Calls to `server` from this process use `tls` (for callers of the
/// library).
pub fn use_tls_for(server: &str, tls: ClientTls) {
    let mut all = TLS_BY_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(s, _)| s != server);
    all.push((server.to_owned(), tls));
}

/// The TLS settings calls to `server` use.
fn tls_for(server: &str) -> anyhow::Result<ClientTls> {
    if let Some(Some(t)) = GIVEN_TLS.get() {
        return Ok(t.clone());
    }
    let chosen = TLS_BY_SERVER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(s, _)| s == server)
        .map(|(_, t)| t.clone());
    if let Some(t) = chosen {
        return Ok(t);
    }
    match crate::token_files::find_ca(server)? {
        Some(ca) => Ok(ClientTls::new(Some(ca), None)?),
        None => Ok(ClientTls::default()),
    }
}

/// Chooses the token the CLI calls its server with: `--token`/`OBUP_TOKEN`,
/// else, per server, the file `obup dev` wrote for that address (see
/// `token_files`), else none (the server then says what it needs).
pub fn use_token(given: Option<&str>) -> anyhow::Result<()> {
    let token = given
        .map(|t| Token::parse(t).map_err(|e| anyhow::anyhow!("--token / OBUP_TOKEN: {e}")))
        .transpose()?;
    let _ = GIVEN.set(token);
    Ok(())
}

/// Calls to `server` from this process carry `token` (for callers of the
/// library, which has no command line).
pub fn use_token_for(server: &str, token: Token) {
    let mut all = BY_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(s, _)| s != server);
    all.push((server.to_owned(), token));
}

/// The token calls to `server` carry.
fn token_for(server: &str) -> anyhow::Result<Option<Token>> {
    if let Some(Some(t)) = GIVEN.get() {
        return Ok(Some(t.clone()));
    }
    let chosen = BY_SERVER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(s, _)| s == server)
        .map(|(_, t)| t.clone());
    // A client certificate given on the command line is the identity
    // chosen: no token file is looked for then.
    let certificate = matches!(GIVEN_TLS.get(), Some(Some(t)) if t.has_identity());
    match chosen {
        Some(t) => Ok(Some(t)),
        None if certificate => Ok(None),
        None => crate::token_files::find(server),
    }
}

fn bearer(server: &str) -> anyhow::Result<BearerInterceptor> {
    Ok(BearerInterceptor::new(token_for(server)?.as_ref()))
}

/// Largest message the CLI sends or accepts.
const MAX_MESSAGE: usize = 16 << 20;

pub async fn channel(server: &str) -> anyhow::Result<Channel> {
    tls_for(server)?
        .endpoint(server)?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server} (is `obup dev` running?)"))
}

pub async fn packages(server: &str) -> anyhow::Result<PackageStoreClient<Conn>> {
    Ok(
        PackageStoreClient::with_interceptor(channel(server).await?, bearer(server)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
}

pub async fn orchestrator(server: &str) -> anyhow::Result<UpgradeOrchestratorClient<Conn>> {
    Ok(
        UpgradeOrchestratorClient::with_interceptor(channel(server).await?, bearer(server)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
}

pub async fn tokens(server: &str) -> anyhow::Result<TokensClient<Conn>> {
    Ok(TokensClient::with_interceptor(
        channel(server).await?,
        bearer(server)?,
    ))
}

pub async fn audit(server: &str) -> anyhow::Result<AuditClient<Conn>> {
    Ok(AuditClient::with_interceptor(
        channel(server).await?,
        bearer(server)?,
    ))
}

/// An error with the server's stable code, e.g.
/// `OB.Package.Name.NotSupport: Unsupported name ...`.
pub fn describe(s: tonic::Status) -> anyhow::Error {
    if obup_kit::status::error_code(&s).as_deref() == Some("Auth.Token.Missing") {
        return anyhow::anyhow!(
            "Auth.Token.Missing: {} (none found: pass --token or set OBUP_TOKEN; `obup dev` keeps its admin token in <data dir>/tokens/admin.token)",
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
