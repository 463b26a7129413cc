//! Client commands: act on a running `vigil serve` through its REST API, as ONTAP's CLI
//! commands do for the actions its REST API offers.
//!
//! Exit status, the same for every client command (scripts may rely on it; also in
//! `docs/cli.md`):
//! - 0: done (for `vscan on-demand run --wait`: the run completed, nothing found);
//! - 1: refused by the server (an ONTAP error, a failed job) or the command could not
//!   go on (bad value, object not found);
//! - 2: the server could not be reached, or stopped answering;
//! - 3: `run --wait`: the run found threats;
//! - 4: `run --wait`: the run failed, or completed with errors;
//! - 5: `run --wait`: the run was canceled;
//! - 64: the command line itself is wrong (usage error).

mod client;
pub mod db;
mod events;
mod mav_keys;
mod on_demand;
mod progress;
mod quarantine;
mod s3_audit;
mod show;
mod sse;
mod table;

/// The exit statuses beyond 0, 1 and 2 (see the module doc).
pub mod exit {
    pub const THREATS: u8 = 3;
    pub const RUN_FAILED: u8 = 4;
    pub const RUN_CANCELED: u8 = 5;
    pub const USAGE: u8 = 64;
}

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use client::ClientArgs;
use client::{Client, Outcome};

#[derive(Args, Debug)]
pub struct VscanArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: VscanCommand,
}

#[derive(Subcommand, Debug)]
enum VscanCommand {
    /// Each SVM's Vscan state, scanner pools and policy counts (ONTAP: `vserver vscan show`).
    Show(OptionalSvm),
    /// Vscan events; `--follow` prints new ones as they happen, until Ctrl-C.
    Events(EventsArgs),
    /// On-demand policies: run one now, list the runs.
    #[command(subcommand)]
    OnDemand(on_demand::Command),
    /// Files on-demand runs quarantined: list, restore, delete.
    #[command(subcommand)]
    Quarantine(quarantine::Command),
}

#[derive(Args, Debug)]
pub struct MavKeyArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: mav_keys::Command,
}

#[derive(Args, Debug)]
pub struct S3AuditArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: S3AuditCommand,
}

#[derive(Subcommand, Debug)]
enum S3AuditCommand {
    /// The S3 audit configurations (ONTAP: `vserver object-store-server audit show`).
    Show(OptionalSvm),
}

/// The SVM a listing is limited to; all of them when absent.
#[derive(Args, Debug)]
struct OptionalSvm {
    /// Only this SVM, by name or uuid.
    #[arg(long, value_name = "NAME|UUID")]
    svm: Option<String>,
}

#[derive(Args, Debug)]
struct EventsArgs {
    #[command(flatten)]
    svm: OptionalSvm,
    /// Print events as they happen (only new ones) until interrupted; Ctrl-C exits 0.
    #[arg(long, short = 'f')]
    follow: bool,
}

/// The SVM a Vscan command acts on.
#[derive(Args, Debug)]
struct SvmArg {
    /// The SVM, by name or uuid.
    #[arg(long, value_name = "NAME|UUID")]
    svm: String,
}

pub async fn vscan(args: VscanArgs) -> ExitCode {
    finish(
        async {
            let client = Client::new(args.client)?;
            match args.command {
                VscanCommand::Show(a) => show::show(&client, a.svm).await,
                VscanCommand::Events(a) => events::events(&client, a.svm.svm, a.follow).await,
                VscanCommand::OnDemand(c) => on_demand::execute(&client, c).await,
                VscanCommand::Quarantine(c) => quarantine::execute(&client, c).await,
            }
        }
        .await,
    )
}

pub async fn s3_audit(args: S3AuditArgs) -> ExitCode {
    finish(
        async {
            let client = Client::new(args.client)?;
            match args.command {
                S3AuditCommand::Show(a) => s3_audit::show(&client, a.svm).await,
            }
        }
        .await,
    )
}

pub async fn mav_key(args: MavKeyArgs) -> ExitCode {
    finish(
        async {
            let client = Client::new(args.client)?;
            mav_keys::execute(&client, args.command).await
        }
        .await,
    )
}

fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_status())
        }
    }
}
