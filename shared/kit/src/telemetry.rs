//! Tracing set-up: human-readable lines by default, JSON with
//! `OBUP_LOG_FORMAT=json`; filter from `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (later calls
/// are ignored), so tests and binaries can share it.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("OBUP_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
