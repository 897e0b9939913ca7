//! `obup-orchestrator`: the upgrade orchestrator on its own, configured by
//! the environment (`Config::from_env`: `OBUP_DATA_DIR`, `DATABASE_URL`,
//! `OBUP_PACKAGE_STORE_URL`, `OBUP_PACKAGE_STORE_TOKEN_FILE`,
//! `OBUP_SECRET_KEY`/`OBUP_SECRET_KEY_FILE`, `OBUP_ENGINE_ID`,
//! `OBUP_ENGINE_LEASE_SECS`, `OBUP_ENGINE_CONCURRENCY`,
//! `OBUP_AGENT_STORE_URL`, `OBUP_AGENT_TLS_{CA,CERT,KEY}`), plus
//! `OBUP_LISTEN` (default `127.0.0.1:2887`) and:
//!
//! - `OBUP_AUTH`: `tokens` (default: every call but health and reflection
//!   needs a token, see `obup_kit::auth`) or `off` (loopback only);
//! - `OBUP_ADMIN_TOKEN_FILE` (default `<data dir>/tokens/admin.token`):
//!   where an admin token `admin-<engine id>` is kept (0600), made on first
//!   start, so that the first `obup token create` has a token to call with;
//! - `OBUP_SERVICE_TOKENS_DIR`: where the services' tokens are kept (made
//!   on first start): `orchestrator.token` (this one's, for the package
//!   store, unless `OBUP_PACKAGE_STORE_TOKEN_FILE` names another),
//!   `package-store.token` (for `OBUP_AUTH_TOKEN_FILE` of the store) and
//!   `gateway.token` (for `OBUP_SERVICE_TOKEN_FILE` of the gateway);
//! - `OBUP_TLS_CERT`, `OBUP_TLS_KEY` (reloaded when they change) and
//!   `OBUP_TLS_CLIENT_CA` (client certificates as an identity: see
//!   `obup_kit::tls::peer`): TLS on the listener.

use std::io::Write;
use std::sync::Arc;

use std::path::PathBuf;

use obup_kit::auth::{Gate, Policy, Role};
use obup_upgrade_orchestrator::grpc::access::{ACCESS, MUTATING};
use obup_upgrade_orchestrator::tokens::Tokens;
use obup_upgrade_orchestrator::{Config, startup};
use tokio::sync::watch;

/// The tokens `OBUP_SERVICE_TOKENS_DIR` receives, `<name>.token` each: the
/// orchestrator's own for the package store, the package store's for
/// checking its callers here, the gateway's for calling both (it
/// authenticates REST callers itself).
const SERVICE_TOKENS: [(&str, Role); 3] = [
    ("orchestrator", Role::Viewer),
    ("package-store", Role::Viewer),
    ("gateway", Role::Admin),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let config = Config::from_env()?;
    let listen = env("OBUP_LISTEN").unwrap_or_else(|| "127.0.0.1:2887".into());
    let checks_tokens = match env("OBUP_AUTH").as_deref() {
        None | Some("tokens") => true,
        Some("off") => false,
        Some(other) => anyhow::bail!("OBUP_AUTH must be tokens or off, got {other:?}"),
    };
    let tls = obup_kit::tls::ListenerTls::from_env()?
        .map(|t| t.server_config())
        .transpose()?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    if !checks_tokens && !addr.ip().is_loopback() {
        anyhow::bail!(
            "OBUP_AUTH=off on {addr}: anyone who reaches it could stop your zones; \
             listen on a loopback address or check tokens"
        );
    }
    let mut config = config;
    let gate = if checks_tokens {
        // Before the services: the orchestrator's own token for the package
        // store must be in its configuration when it starts.
        let tokens = Tokens::open(&config.database_url).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let file = env("OBUP_ADMIN_TOKEN_FILE").map_or_else(
            || {
                PathBuf::from(env("OBUP_DATA_DIR").unwrap_or_else(|| "./obup-data".into()))
                    .join("tokens/admin.token")
            },
            PathBuf::from,
        );
        let name = format!("admin-{}", config.engine.owner);
        tokens.keep_in_file(&name, Role::Admin, &file, now).await?;
        if let Some(dir) = env("OBUP_SERVICE_TOKENS_DIR").map(PathBuf::from) {
            for (service, role) in SERVICE_TOKENS {
                let token = tokens
                    .keep_in_file(service, role, &dir.join(format!("{service}.token")), now)
                    .await?;
                if service == "orchestrator" && config.package_store_token.is_none() {
                    config.package_store_token = Some(token);
                }
            }
        }
        true
    } else {
        tracing::warn!(%addr, "OBUP_AUTH=off: no call is checked");
        false
    };
    let (stop, stopped) = watch::channel(false);
    let running = startup::start(&config, stopped).await?;
    let gate = gate.then(|| {
        Arc::new(Gate {
            verifier: Some(running.tokens.verifier()),
            policy: Policy::of(&[ACCESS]).mutating(&[MUTATING]),
            audit: Some(Arc::new(running.audit.clone())),
        })
    });
    let router = obup_kit::grpc::guarded_router(
        tonic::service::Routes::new(obup_upgrade_orchestrator::grpc::server(
            running.orchestrator,
        ))
        .add_service(obup_upgrade_orchestrator::grpc::tokens_server(
            running.tokens,
        ))
        .add_service(obup_kit::audit::server(vec![obup_kit::audit::Journal {
            name: startup::JOURNAL,
            store: running.audit,
        }])),
        &[
            startup::SERVICE_NAME,
            startup::TOKENS_SERVICE_NAME,
            startup::AUDIT_SERVICE_NAME,
        ],
        &[obup_proto::FILE_DESCRIPTOR_SET],
        gate,
    )
    .await;
    // Scripts wait for this line; a closed stdout must not stop the server.
    let scheme = if tls.is_some() { "https" } else { "http" };
    let _ = writeln!(
        std::io::stdout(),
        "obup-orchestrator listening on {scheme}://{addr}"
    );
    obup_kit::grpc::serve_tls(listener, router, tls, obup_kit::shutdown::signal()).await?;
    let _ = stop.send(true);
    let _ = running.engine.await;
    Ok(())
}
