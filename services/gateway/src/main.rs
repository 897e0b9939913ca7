//! `obup-gateway`: the REST gateway on its own, in front of the package
//! store and the orchestrator, configured by env:
//!
//! - `OBUP_LISTEN` (default `127.0.0.1:2888`)
//! - `OBUP_PACKAGE_STORE_URL` (default `http://127.0.0.1:2886`)
//! - `OBUP_ORCHESTRATOR_URL` (default `http://127.0.0.1:2887`)
//! - `OBUP_DATA_DIR` (default `./obup-data`): where the RSA key is kept
//! - `OBUP_ROOT_PASSWORD` (default empty), `OBUP_AGENT_PASSWORD` (unset)
//! - `OBUP_RSA_BITS` (1024 or 2048, default 1024; used when the key is made)
//! - `OBUP_GATEWAY_CLUSTER`: the registered cluster it answers for (default:
//!   the only one registered), as an obshell answers for its own
//! - `OBUP_SERVICE_TOKEN_FILE`: the token the gateway calls the services
//!   with (an admin token: the gateway authenticates REST callers itself);
//!   unset for services that check nobody. With it, REST callers may also
//!   send obup tokens (`Authorization: Bearer`), checked with the
//!   orchestrator
//! - `OBUP_TLS_CERT`, `OBUP_TLS_KEY` (reloaded when they change): TLS on
//!   the listener; `OBUP_TLS_CA`, `OBUP_TLS_CLIENT_CERT`,
//!   `OBUP_TLS_CLIENT_KEY`: how `https://` service URLs are dialled

use std::io::Write;
use std::sync::Arc;

use obup_gateway::security::Passwords;
use obup_gateway::{AppState, routes};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let listen = env("OBUP_LISTEN").unwrap_or_else(|| "127.0.0.1:2888".into());
    let data_dir =
        std::path::PathBuf::from(env("OBUP_DATA_DIR").unwrap_or_else(|| "./obup-data".into()));
    let bits = match env("OBUP_RSA_BITS").as_deref() {
        None | Some("1024") => 1024,
        Some("2048") => 2048,
        Some(other) => anyhow::bail!("OBUP_RSA_BITS must be 1024 or 2048, got {other:?}"),
    };
    let passwords = Passwords {
        root: env("OBUP_ROOT_PASSWORD").unwrap_or_default(),
        agent: env("OBUP_AGENT_PASSWORD"),
    };
    let token = match env("OBUP_SERVICE_TOKEN_FILE") {
        Some(file) => Some(
            obup_kit::auth::read_token_file(file.as_ref())?
                .ok_or_else(|| anyhow::anyhow!("{file} holds no obup token"))?,
        ),
        None => None,
    };
    let tls = obup_kit::tls::ListenerTls::from_env()?
        .map(|t| t.server_config())
        .transpose()?;
    let dial = obup_kit::tls::ClientTls::from_env()?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    let packages_url =
        env("OBUP_PACKAGE_STORE_URL").unwrap_or_else(|| "http://127.0.0.1:2886".into());
    let orchestrator_url =
        env("OBUP_ORCHESTRATOR_URL").unwrap_or_else(|| "http://127.0.0.1:2887".into());
    let backends = obup_gateway::Backends {
        packages: &packages_url,
        orchestrator: &orchestrator_url,
        token: token.as_ref(),
        tls: &dial,
    };
    let state = AppState::open(&data_dir, bits, passwords, addr, &backends)?
        .for_cluster(&env("OBUP_GATEWAY_CLUSTER").unwrap_or_default())
        .over_tls(tls.is_some());
    // With a token of its own, the gateway also takes callers' tokens
    // (`Authorization: Bearer`), checked with the orchestrator that keeps them.
    let state = match &token {
        Some(own) => {
            let lookup = obup_kit::auth::RemoteLookup::new(&orchestrator_url, own, &dial)
                .map_err(anyhow::Error::msg)?;
            state.with_tokens(Arc::new(obup_kit::auth::Verifier::new(Arc::new(lookup))))
        }
        None => state,
    };
    let router = routes::router(Arc::new(state)).fallback(routes::fallback);
    // Scripts wait for this line; a closed stdout must not stop the server.
    let scheme = if tls.is_some() { "https" } else { "http" };
    let _ = writeln!(
        std::io::stdout(),
        "obup-gateway listening on {scheme}://{addr}"
    );
    obup_kit::grpc::serve_tls(listener, router, tls, obup_kit::shutdown::signal()).await?;
    Ok(())
}
