//! `spin-host up [-f spin.toml] [--listen ADDR] [--runtime-config-file FILE] [--state-dir DIR] [-c ID]...`

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "spin-host",
    version,
    about = "Run a Spin app (spin.toml) like `spin up`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the application.
    Up {
        /// The manifest (spin.toml) or the directory containing it.
        #[arg(short = 'f', long = "from", value_name = "PATH")]
        from: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
        listen: String,
        /// Spin runtime config file (key-value stores, outbound networking).
        #[arg(
            long = "runtime-config-file",
            env = "SPIN_RUNTIME_CONFIG_FILE",
            value_name = "FILE"
        )]
        runtime_config_file: Option<PathBuf>,
        /// State directory (default: `.spin` next to the manifest).
        #[arg(long = "state-dir", value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Do not log a line per request.
        #[arg(short, long)]
        quiet: bool,
        /// Set TCP_NODELAY on accepted connections (Spin does not; neither does this
        /// host by default, so Nagle/delayed-ACK stalls show up here as they do there).
        #[arg(long = "tcp-nodelay")]
        tcp_nodelay: bool,
        /// Serve only this component (repeatable), as `spin up -c`: one process per
        /// endpoint group behind path routing.
        #[arg(short = 'c', long = "component-id", value_name = "ID")]
        component_id: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Up {
        from,
        listen,
        runtime_config_file,
        state_dir,
        quiet,
        tcp_nodelay,
        component_id,
    } = cli.command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            spin_host::elog!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(spin_host::up(spin_host::UpOptions {
        from,
        listen,
        runtime_config: runtime_config_file,
        state_dir,
        quiet,
        tcp_nodelay,
        components: component_id,
    }));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, naming the thing (anyhow's alternate format joins the causes).
            spin_host::elog!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
