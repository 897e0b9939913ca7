//! `obup-package-store`: the package store on its own, configured by env
//! (`DATABASE_URL`, `OBUP_OBJECT_STORE_URL`, `OBUP_LISTEN`; see `Config`)
//! and, for who may call it:
//!
//! - `OBUP_AUTH_URL` and `OBUP_AUTH_TOKEN_FILE`: callers' tokens are checked
//!   with the orchestrator at that URL (`obup.auth.v1.Tokens/CheckToken`),
//!   which the store calls with the token in that file (a viewer's);
//! - neither: nobody is checked, which is refused unless the store listens
//!   on a loopback address or `OBUP_AUTH=off` says so;
//! - `OBUP_TLS_CERT`, `OBUP_TLS_KEY` (reloaded when they change) and
//!   `OBUP_TLS_CLIENT_CA` (client certificates as an identity): TLS on the
//!   listener; `OBUP_TLS_CA` (and `OBUP_TLS_CLIENT_CERT`/`_KEY`): how it
//!   dials an `https://` `OBUP_AUTH_URL`.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use obup_kit::auth::{Gate, Policy, RemoteLookup, Verifier};
use obup_package_store::Config;
use obup_package_store::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let config = Config::from_env()?;
    let listen = env("OBUP_LISTEN").unwrap_or_else(|| "127.0.0.1:2886".into());
    let listener_tls = obup_kit::tls::ListenerTls::from_env()?;
    let dial = obup_kit::tls::ClientTls::from_env()?;
    let mut app = Application::build(config, &listen).await?;
    let addr = app.local_addr();
    let scheme = match &listener_tls {
        Some(tls) => {
            app = app.with_tls(tls.server_config()?);
            "https"
        }
        None => "http",
    };
    match (env("OBUP_AUTH_URL"), env("OBUP_AUTH_TOKEN_FILE")) {
        (Some(url), Some(file)) => {
            let own = obup_kit::auth::read_token_file(file.as_ref())
                .with_context(|| format!("reading {file}"))?
                .ok_or_else(|| anyhow::anyhow!("{file} holds no obup token"))?;
            let lookup = RemoteLookup::new(&url, &own, &dial).map_err(anyhow::Error::msg)?;
            let audit = Some(app.audit_sink());
            app = app.with_gate(Arc::new(Gate {
                verifier: Some(Arc::new(Verifier::new(Arc::new(lookup)))),
                policy: Policy::of(&[obup_package_store::grpc::access::ACCESS])
                    .mutating(&[obup_package_store::grpc::access::MUTATING]),
                audit,
            }));
        }
        (None, None) => {
            let off = env("OBUP_AUTH").as_deref() == Some("off");
            if !off && !addr.ip().is_loopback() {
                anyhow::bail!(
                    "{addr} is not a loopback address and no token check is set up: set \
                     OBUP_AUTH_URL and OBUP_AUTH_TOKEN_FILE, or OBUP_AUTH=off on a private network"
                );
            }
            tracing::warn!(%addr, "no token check: every caller may upload and delete packages");
        }
        _ => anyhow::bail!("set both OBUP_AUTH_URL and OBUP_AUTH_TOKEN_FILE, or neither"),
    }
    // Scripts and benchmarks wait for this line; a closed stdout must not
    // take the server down, so write errors are ignored.
    let _ = writeln!(
        std::io::stdout(),
        "obup-package-store listening on {scheme}://{addr}"
    );
    app.run_until_stopped(obup_kit::shutdown::signal()).await?;
    Ok(())
}
