//! The log output the example programs share: `RUST_LOG` picks what is logged (`info` by
//! default), `--log-format` how it is written to standard output.
//!
//! Text is for people: colours only when standard output is a terminal, so a log file or a
//! pipe gets no escape codes. JSON is one object per line for log shippers, each with its
//! `span` and `spans` (the `connection` and `request` spans of [`chanbind_engine::trace`]).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber for `format`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}
