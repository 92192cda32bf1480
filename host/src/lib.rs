//! `spin-host`: a small Spin-compatible host for this project's `spin.toml`.
//!
//! It runs the manifest the way `spin up` does (HTTP trigger, WASI p2, wasi:http,
//! Spin variables and key-value), so the README's run command and the end-to-end tests
//! work on machines without the Spin CLI. Production runs on real Spin.
//!
//! Deliberate differences from Spin are documented where they live; the main ones:
//! outbound connections to non-global addresses are blocked by default
//! ([`netblock`]), and compare-and-swap on a missing key is a real CAS ([`kv`]).

/// Like `eprintln!`, but a closed or broken stderr is ignored instead of panicking.
#[macro_export]
macro_rules! elog {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod allowed_hosts;
pub mod app;
pub mod compile;
pub mod instance;
pub mod kv;
pub mod kv_redis;
pub mod manifest;
pub mod netblock;
pub mod outbound_http;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod variables;

use anyhow::{Context, Result};
use std::path::PathBuf;

/// Options of `spin-host up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// `-f/--from`: the manifest or its directory.
    pub from: Option<PathBuf>,
    /// `--listen`.
    pub listen: String,
    /// `--runtime-config-file`.
    pub runtime_config: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--quiet`: no per-request log lines.
    pub quiet: bool,
    /// `--tcp-nodelay`: set `TCP_NODELAY` on accepted connections. Off by default,
    /// as in Spin 4.0.2, so that what stalls under Spin stalls here too.
    pub tcp_nodelay: bool,
    /// `-c/--component-id`: serve only these components (empty: all).
    pub components: Vec<String>,
}

/// Installs the SIGINT/SIGTERM handlers now (before anything is loaded or printed, so
/// no signal is lost to the default disposition) and returns a future that resolves on
/// the first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// `spin-host up`: load the app, print the routes, serve until SIGINT/SIGTERM.
pub async fn up(opts: UpOptions) -> Result<()> {
    let shutdown = shutdown_signal()?;
    let manifest = app::manifest_path(opts.from.as_deref())?;
    let load = app::LoadOptions {
        manifest,
        runtime_config: opts.runtime_config.clone(),
        state_dir: opts.state_dir.clone(),
        components: opts.components.clone(),
    };
    let (loaded, took) =
        app::timed(|| app::App::load(&load, &mut |w| crate::elog!("spin-host: warning: {w}")));
    let app = loaded?;
    let listener = tokio::net::TcpListener::bind(opts.listen.as_str())
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let local = listener.local_addr()?;

    if !opts.quiet {
        crate::elog!(
            "spin-host: loaded {} component(s) in {} ms ({} from cache, {} compiled)",
            app.components.len(),
            took.as_millis(),
            app.cache_stats.0,
            app.cache_stats.1
        );
    }
    let mut out = format!("Serving http://{local}\nAvailable Routes:\n");
    for route in app.router.in_manifest_order() {
        let wildcard = if route.pattern.is_wildcard() {
            " (wildcard)"
        } else {
            ""
        };
        let shown = match &route.pattern {
            routes::RoutePattern::Exact(p) if p.is_empty() => "/",
            p => p.prefix(),
        };
        out.push_str(&format!(
            "  {}: http://{local}{shown}{wildcard}\n",
            route.component
        ));
    }
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    server::serve(
        app,
        listener,
        server::ServeOptions {
            quiet: opts.quiet,
            tcp_nodelay: opts.tcp_nodelay,
        },
        shutdown,
    )
    .await
}
