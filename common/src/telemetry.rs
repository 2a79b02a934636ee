//! Logging set-up shared by every binary: `RUST_LOG` picks the levels, `LOG_FORMAT=json`
//! switches to one JSON object per line for log shippers. Both are in each binary's `--help`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How a binary logs; flattened into its configuration.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// Which log lines to show: a level (error, warn, info, debug, trace), or directives per
    /// module such as info,librdkafka=warn. Default: info (each binary may quiet a noisy
    /// library).
    #[arg(long = "log", env = "RUST_LOG")]
    pub directives: Option<String>,

    /// text, or json for one JSON object per line.
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

/// Logs to standard output as `args` say; without directives, `default` picks the levels.
pub fn init(args: &LogArgs, default: &str) {
    let ansi = std::io::stdout().is_terminal();
    install(std::io::stdout, ansi, args, default);
}

/// Logs to standard output with the defaults (`RUST_LOG` and `LOG_FORMAT` still apply), for
/// tests and small programs without a configuration.
pub fn init_tracing() {
    init(&from_environment(), "info");
}

/// Logs to standard error, for a program whose standard output is read by a script.
pub fn init_on_stderr(args: &LogArgs) {
    let ansi = std::io::stderr().is_terminal();
    install(std::io::stderr, ansi, args, "info");
}

fn from_environment() -> LogArgs {
    LogArgs {
        directives: std::env::var("RUST_LOG").ok(),
        format: std::env::var("LOG_FORMAT").unwrap_or_default(),
    }
}

fn install<W>(writer: W, ansi: bool, args: &LogArgs, default: &str)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = args
        .directives
        .as_deref()
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .with_ansi(ansi);
    // A second initialisation (several tests in one process) is harmless: keep the first.
    let _ = if args.format.eq_ignore_ascii_case("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
