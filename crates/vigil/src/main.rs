use std::process::ExitCode;

use clap::{Parser, Subcommand};

use vigil::{config, server};

mod cli;

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Storage-side antivirus and audit server with ONTAP's Vscan and S3-audit REST API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node: REST API, background workers, persistence.
    Serve(Box<config::ServeArgs>),
    /// Run the clamd-compatible scan server (YARA-X engine) on TCP and a unix socket.
    Scanner(Box<scan::ScannerArgs>),
    /// Vscan on a running server: configuration, events, on-demand runs, quarantine.
    Vscan(cli::VscanArgs),
    /// S3 audit configuration of a running server.
    S3Audit(cli::S3AuditArgs),
    /// API keys of the managed-antivirus reporting service on a running server.
    MavKey(cli::MavKeyArgs),
    /// The database: move an install into another (`migrate`).
    Db(cli::db::DbArgs),
    /// A scanner's worker process (started by the scanner itself, never by hand).
    #[command(hide = true)]
    ScanWorker(Box<scan::worker::WorkerArgs>),
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("VIGIL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors get their own status: 2 means "server unreachable" to scripts.
            return Ok(match e.use_stderr() {
                true => ExitCode::from(cli::exit::USAGE),
                false => ExitCode::SUCCESS,
            });
        }
    };
    // A client command's output is its answer: only warnings may join it on stderr.
    let client = matches!(
        cli.command,
        Command::Vscan(_)
            | Command::S3Audit(_)
            | Command::MavKey(_)
            | Command::Db(_)
            | Command::ScanWorker(_)
    );
    init_logging(if client { "warn" } else { "info" });
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Serve(args) => server::serve(args.resolve()?).await?,
        Command::Scanner(args) => scan::run(*args, scan::termination_signal()).await?,
        Command::Vscan(args) => return Ok(cli::vscan(args).await),
        Command::S3Audit(args) => return Ok(cli::s3_audit(args).await),
        Command::MavKey(args) => return Ok(cli::mav_key(args).await),
        Command::Db(args) => return Ok(cli::db::db(args).await),
        Command::ScanWorker(args) => scan::worker::run(*args)?,
    }
    Ok(ExitCode::SUCCESS)
}
