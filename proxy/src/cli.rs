//! The `wasmgate` command line: `serve` runs the gateway, `check` validates a config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::load_file;
use crate::snapshot::compile;

/// A self-hosted API gateway with sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "wasmgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

/// Parse the command line and run the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match cli.command {
        Command::Serve { config } => match crate::server::serve(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Check { config } => check(&config),
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
