//! `obup-agent`: the host agent on its own (see `Config` for its flags).

use std::io::Write;

use clap::Parser;
use obup_agent::{Agent, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obup_kit::telemetry::init("info");
    let config = Config::parse();
    let agent = Agent::build(&config).await?;
    // Scripts and tests wait for this line; a closed stdout must not take
    // the agent down, so write errors are ignored.
    let _ = writeln!(std::io::stdout(), "obup-agent listening on {}", agent.url());
    agent
        .run_until_stopped(obup_kit::shutdown::signal())
        .await?;
    Ok(())
}
