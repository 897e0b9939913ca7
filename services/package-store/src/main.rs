//! `obup-package-store`: the package store on its own, configured by env
//! (`DATABASE_URL`, `OBUP_OBJECT_STORE_URL`, `OBUP_LISTEN`; see `Config`).

use std::io::Write;

use obup_package_store::Config;
use obup_package_store::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let config = Config::from_env()?;
    let listen = std::env::var("OBUP_LISTEN").unwrap_or_else(|_| "127.0.0.1:2886".into());
    let app = Application::build(config, &listen).await?;
    // Scripts and benchmarks wait for this line; a closed stdout must not
    // take the server down, so write errors are ignored.
    let _ = writeln!(
        std::io::stdout(),
        "obup-package-store listening on http://{}",
        app.local_addr()
    );
    app.run_until_stopped(obup_kit::shutdown::signal()).await?;
    Ok(())
}
