//! Structured logs for the binary: `RUST_LOG` wins, else `--log-level`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to stderr so stdout stays machine-readable.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
