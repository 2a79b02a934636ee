//! Logging set-up shared by every binary: `RUST_LOG` picks the levels (default `info`),
//! `LOG_FORMAT=json` switches to one JSON object per line for log shippers.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Logs to standard output.
pub fn init_tracing() {
    init(std::io::stdout, std::io::stdout().is_terminal(), "info");
}

/// Logs to standard output; without `RUST_LOG`, `default` picks the levels (for a binary whose
/// libraries say too much at `info`).
pub fn init_tracing_with_default(default: &str) {
    init(std::io::stdout, std::io::stdout().is_terminal(), default);
}

/// Logs to standard error, for a program whose standard output is read by a script.
pub fn init_tracing_on_stderr() {
    init(std::io::stderr, std::io::stderr().is_terminal(), "info");
}

fn init<W>(writer: W, ansi: bool, default: &str)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .with_ansi(ansi);
    // A second initialisation (several tests in one process) is harmless: keep the first.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
