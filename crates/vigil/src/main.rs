use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Storage-side antivirus and audit server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node: REST API, background workers, persistence.
    Serve,
    /// Run the clamd-compatible scan server (YARA-X engine) on TCP and a unix socket.
    Scanner(Box<scan::ScannerArgs>),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => Ok(()),
        Command::Scanner(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
                )
                .init();
            tokio::runtime::Runtime::new()?.block_on(scan::run(*args, scan::termination_signal()))
        }
    }
}
