//! The `wasmgate` command line: `serve` runs the gateway, `check` validates a config, `plugins
//! compile` fills the plugin compile cache, `keys` and `usage` manage API keys and report usage
//! through a running gateway's admin API.

mod admin_client;
mod keys;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::config::load_file;
use crate::snapshot::compile;

/// A self-hosted API gateway with sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "wasmgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The admin API of the gateway that `keys` and `usage` talk to.
    #[arg(
        long,
        global = true,
        env = "WASMGATE_ADMIN",
        default_value = "http://127.0.0.1:9901"
    )]
    admin: String,
    /// The admin API's bearer token, when it has one.
    #[arg(
        long,
        global = true,
        env = "WASMGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Print JSON instead of tables (`keys`, `usage`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the APIs of a config file until SIGTERM (drains in-flight requests) or SIGINT.
    Serve {
        /// The TOML config file.
        config: PathBuf,
    },
    /// Validate a config file and print every mistake with its file, line and key.
    Check {
        /// The TOML config file.
        config: PathBuf,
    },
    /// Work with a config's plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Create, list, enable, disable, rotate and delete API keys of a running gateway.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// A usage plan's requests per key and day (UTC), with the quota left.
    Usage {
        /// The usage plan.
        plan: String,
        /// Only this key (its id).
        #[arg(long)]
        key: Option<String>,
        /// First day, e.g. 2026-11-01. Default: six days before `end`.
        #[arg(long)]
        start: Option<String>,
        /// Last day. Default: today.
        #[arg(long)]
        end: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Compile every plugin of a config into the compile cache (`server.plugin_cache_dir`), so
    /// that a gateway starting on it loads them in milliseconds (e.g. in a container build).
    Compile {
        /// The TOML config file.
        config: PathBuf,
    },
}

/// Parse the command line and run the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let admin = admin_client::AdminClient::new(&cli.admin, cli.admin_token.as_deref());
    match cli.command {
        Command::Serve { config } => report(crate::server::serve(&config)),
        Command::Check { config } => check(&config),
        Command::Plugins {
            command: PluginsCommand::Compile { config },
        } => compile_plugins(&config),
        Command::Keys { command } => report(keys::run(command, &admin, cli.json)),
        Command::Usage {
            plan,
            key,
            start,
            end,
        } => report(keys::usage(
            &admin,
            &plan,
            key.as_deref(),
            start.as_deref(),
            end.as_deref(),
            cli.json,
        )),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match load_file(path).and_then(|loaded| compile(&loaded)) {
        Ok(_) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            ExitCode::FAILURE
        }
    }
}

fn compile_plugins(path: &std::path::Path) -> ExitCode {
    let started = Instant::now();
    let loaded = match load_file(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(errors) = compile(&loaded) {
        eprintln!("{errors}");
        eprintln!("{}: {} error(s)", path.display(), errors.0.len());
        return ExitCode::FAILURE;
    }
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    let cache = match loaded.file.server.plugin_cache_dir.as_deref() {
        Some("off") => "nowhere (server.plugin_cache_dir = \"off\")".to_string(),
        Some(directory) => {
            let directory = base.join(directory);
            let shown = std::path::absolute(&directory).unwrap_or(directory);
            format!("`{}`", shown.display())
        }
        None => match crate::plugin::default_compile_directory() {
            Some(directory) => format!("`{}`", directory.display()),
            None => "nowhere (neither XDG_CACHE_HOME nor HOME is set)".to_string(),
        },
    };
    println!(
        "{}: {} plugin(s) compiled in {:.1?}, cached in {cache}",
        path.display(),
        loaded.file.plugins.len(),
        started.elapsed()
    );
    ExitCode::SUCCESS
}
