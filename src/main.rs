//! # tidings
//!
//! The one binary of Tidings. Each subcommand is a role or a tool:
//! - `dev`: the whole product in one process on the embedded store.
//! - `api` / `gateway`: separate nodes joined by the QUIC bus.
//! - `loadtest`: load scenarios against a running Tidings.
//! - `migrate`: create or upgrade the store's schema.
//! - `check`: verify every cross-row invariant of a store and print violations.
//! - `crashtest`: SIGKILL a writer at random moments, then prove nothing is
//!   half-written and nothing acknowledged was lost.
//!
//! Configuration comes from flags, each with an environment-variable twin.

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;

mod commands;
mod crashtest;
mod roles;
mod store_args;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "tidings", version, about = "Tidings: live social backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the api, the gateway and SQLite in one process.
    Dev(roles::dev::Args),
    /// Run an api node publishing to gateways over the QUIC bus.
    Api(roles::api::Args),
    /// Run a gateway node fed by the QUIC bus.
    Gateway(roles::gateway::Args),
    /// Load scenarios against a running Tidings.
    Loadtest(commands::loadtest::Args),
    /// Create or upgrade the store's schema (idempotent).
    Migrate(commands::migrate::Args),
    /// Check every cross-row invariant and print each violation.
    Check(commands::check::Args),
    /// Kill a writer process at random moments, then verify the store.
    Crashtest(crashtest::Args),
    /// The child process `crashtest` kills (runs random operations).
    #[command(hide = true)]
    CrashtestWorker(crashtest::worker::Args),
    /// Post messages to one chat and print each offset (offset tests).
    #[command(hide = true)]
    WriteBurst(crashtest::burst::Args),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,scylla=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Dev(args) => roles::dev::run(&args),
        Command::Api(args) => roles::api::run(&args),
        Command::Gateway(args) => roles::gateway::run(&args),
        Command::Loadtest(args) => commands::loadtest::run(&args),
        Command::Migrate(args) => commands::migrate::run(&args),
        Command::Check(args) => commands::check::run(&args),
        Command::Crashtest(args) => crashtest::run(&args),
        Command::CrashtestWorker(args) => crashtest::worker::run(&args),
        Command::WriteBurst(args) => crashtest::burst::run(&args),
    }
}
