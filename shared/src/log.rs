//! Minimal levelled logging to stderr (Spin collects component stderr).
//!
//! Callers log events and outcomes, never request parameters: those carry signatures,
//! tokens and, after decryption, file URLs.

use crate::settings::Settings;

/// Severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed that an operator must look at.
    Error,
    /// Something unusual that did not fail the request.
    Warn,
    /// One line per notable outcome.
    Info,
    /// Details for debugging.
    Debug,
}

impl Level {
    /// Parses a `log_level` value; anything unknown is `Info`.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" | "critical" => Self::Error,
            "warn" | "warning" => Self::Warn,
            "debug" | "trace" => Self::Debug,
            _ => Self::Info,
        }
    }
}

/// Writes `message` when `level` is enabled by the `log_level` variable (default info).
pub fn log(settings: &Settings<'_>, level: Level, component: &str, message: &str) {
    if level <= settings.log_level() {
        eprintln!("[{level:?}] {component}: {message}");
    }
}
